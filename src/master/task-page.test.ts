import { describe, expect, it } from 'vitest'
import { taskPage } from './http.js'
import type { FrameworkRecord, Master, TaskRecord } from './types.js'

// taskPage reads four views of the master: the frameworks, the completed ones, each one's tasks and the completed tasks.
const task = (frameworkId: string, taskId: string, state: string, firstAt?: number): TaskRecord =>
  ({ frameworkId, taskId, state, statuses: firstAt === undefined ? [] : [{ task_id: { value: taskId }, state, timestamp: firstAt }, { task_id: { value: taskId }, state, timestamp: 10_000 - firstAt }] }) as unknown as TaskRecord
const framework = (id: string): FrameworkRecord => ({ id }) as FrameworkRecord
const tasks = [task('f1', 'a', 'TASK_RUNNING', 5), task('f1', 'b', 'TASK_UNREACHABLE', 3), task('f1', 'c', 'TASK_FINISHED', 9), task('f1', 'none', 'TASK_STAGING'), task('f2', 'a', 'TASK_RUNNING', 7)]
const master = {
  frameworks: new Map([['f1', framework('f1')]]),
  completedFrameworks: [framework('f2')],
  tasksOfFramework: (id: string) => tasks.filter((t) => t.frameworkId === id),
  completedTasks: [task('f1', 'd', 'TASK_KILLED', 1), task('f2', 'e', 'TASK_FAILED', 8), task('gone', 'x', 'TASK_FAILED', 2)],
} as unknown as Master

const page = (query: string): string[] => taskPage(master, new URLSearchParams(query)).map((t) => `${t.frameworkId}/${t.taskId}`)

describe('/master/tasks', () => {
  it("lists the tasks, unreachable and completed ones of the registered and completed frameworks, newest first status first, then those with none", () => {
    expect(page('')).toEqual(['f1/c', 'f2/e', 'f2/a', 'f1/a', 'f1/b', 'f1/d', 'f1/none'])
    expect(page('order=asc')).toEqual(['f1/none', 'f1/d', 'f1/b', 'f1/a', 'f2/a', 'f2/e', 'f1/c'])
    // Anything but asc is descending, as in Mesos.
    expect(page('order=ASC')).toEqual(page(''))
  })

  it('keeps the tasks of framework_id, and of task_id, each alone or together', () => {
    expect(page('framework_id=f2')).toEqual(['f2/e', 'f2/a'])
    expect(page('task_id=a')).toEqual(['f2/a', 'f1/a'])
    expect(page('framework_id=f1&task_id=a')).toEqual(['f1/a'])
    expect(page('framework_id=nobody')).toEqual([])
  })

  it('gives limit tasks (100 unless told) from offset, reading both as Mesos does', () => {
    expect(page('limit=2')).toEqual(['f1/c', 'f2/e'])
    expect(page('limit=2&offset=2')).toEqual(['f2/a', 'f1/a'])
    expect(page('limit=0x2&offset=0x5')).toEqual(['f1/d', 'f1/none'])
    expect(page('limit=0')).toEqual([])
    expect(page('offset=7')).toEqual([])
    // What is not an int counts as not given; a negative limit as no limit, a negative offset as past the end.
    expect(page('limit=abc&offset=1.5')).toEqual(page(''))
    expect(page('limit=99999999999')).toEqual(page(''))
    expect(page('limit=-1')).toHaveLength(7)
    expect(page('limit=-1&offset=1')).toHaveLength(6)
    expect(page('offset=-1')).toEqual([])
  })

  it('lists at most 100 tasks unless given a limit', () => {
    const many = Array.from({ length: 150 }, (_, i) => task('f1', `t${i}`, 'TASK_RUNNING', i))
    const big = { ...master, tasksOfFramework: (id: string) => (id === 'f1' ? many : []), completedTasks: [] } as unknown as Master
    const listed = taskPage(big, new URLSearchParams()).map((t) => t.taskId)
    expect(listed).toHaveLength(100)
    expect(listed[0]).toBe('t149')
    expect(taskPage(big, new URLSearchParams('limit=200'))).toHaveLength(150)
  })
})
