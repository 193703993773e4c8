import { describe, expect, it } from 'vitest'
import { agentMetrics, commandExecutorName } from './endpoints.js'
import type { TaskInfo } from '../api/mesos.js'

const task = (command: Record<string, unknown>) => ({ name: 't', task_id: { value: 't1' }, agent_id: { value: 'a' }, resources: [], command }) as unknown as TaskInfo

describe('agent endpoints', () => {
  it('names command executors as Mesos does, cutting the command at 15 characters', () => {
    expect(commandExecutorName(task({ shell: true, value: 'sleep 10' }))).toBe("Command Executor (Task: t1) (Command: sh -c 'sleep 10')")
    expect(commandExecutorName(task({ shell: true, value: 'python3 -m http.server' }))).toBe("Command Executor (Task: t1) (Command: sh -c 'python3 -m h...')")
    expect(commandExecutorName(task({ shell: false, value: '/bin/ls', arguments: ['ls', '-l', '/tmp'] }))).toBe('Command Executor (Task: t1) (Command: [/bin/ls, ls,...])')
    expect(commandExecutorName(task({ shell: false, value: '/bin/ls', arguments: ['ls', '-l'] }))).toBe('Command Executor (Task: t1) (Command: [/bin/ls, ls, -l])')
    expect(commandExecutorName(task({ shell: false, value: 'ls', arguments: [] }))).toBe('Command Executor (Task: t1) (Command: [ls, ])')
  })

  it('counts tasks by state and what live tasks use', () => {
    const r = (cpus: number) => ({ scalars: { cpus, mem: 10 }, ranges: {} })
    const m = agentMetrics({
      nowMs: 5000,
      startedAtMs: 1000,
      registered: true,
      total: { scalars: { cpus: 4, mem: 100, disk: 50 }, ranges: {} },
      tasks: [
        { frameworkId: 'f', state: 'TASK_RUNNING', resources: r(1) },
        { frameworkId: 'f', state: 'TASK_STAGING', resources: r(0.5) },
        { frameworkId: 'g', state: 'TASK_FINISHED', resources: r(2) },
      ],
      terminalCounts: new Map([['TASK_FINISHED', 3]]),
    })
    expect(m).toMatchObject({
      'slave/uptime_secs': 4,
      'slave/registered': 1,
      'slave/tasks_running': 1,
      'slave/tasks_staging': 1,
      'slave/tasks_finished': 3,
      'slave/tasks_failed': 0,
      'slave/frameworks_active': 1,
      'slave/cpus_used': 1.5,
      'slave/cpus_percent': 0.375,
      'slave/mem_used': 20,
      'slave/disk_total': 50,
      'slave/gpus_total': 0,
    })
  })
})
