import { describe, expect, it } from 'vitest'
import { agentUrlFromPid, AgentStateSchema, sandboxOf } from './mesos-client.js'

describe('agentUrlFromPid', () => {
  it('reads the address of a libprocess pid', () => {
    expect(agentUrlFromPid('slave(1)@10.0.0.5:5051')).toBe('http://10.0.0.5:5051')
    expect(agentUrlFromPid('')).toBeUndefined()
  })
})

describe('sandboxOf', () => {
  const state = AgentStateSchema.parse({
    frameworks: [{ id: 'f', executors: [{ id: 'live', directory: '/w/live', tasks: [{ id: 'live', state: 'TASK_RUNNING' }] }], completed_executors: [{ id: 'done', directory: '/w/done', completed_tasks: [{ id: 'done', state: 'TASK_KILLED' }] }] }],
    completed_frameworks: [{ id: 'g', completed_executors: [{ id: 'e', directory: '/w/other', completed_tasks: [{ id: 'gone', state: 'TASK_FINISHED' }] }] }],
  })
  it("finds a task's executor directory among live and completed executors and frameworks", () => {
    expect(sandboxOf(state, 'live')).toEqual({ directory: '/w/live', state: 'TASK_RUNNING' })
    expect(sandboxOf(state, 'done')).toEqual({ directory: '/w/done', state: 'TASK_KILLED' })
    expect(sandboxOf(state, 'gone')).toEqual({ directory: '/w/other', state: 'TASK_FINISHED' })
    expect(sandboxOf(state, 'nope')).toBeUndefined()
  })
})
