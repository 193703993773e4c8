// The agent: registers with the master, runs tasks through its containerizers, reports
// their status reliably and checkpoints what it needs to recover after a restart. Its state
// changes only through the state's `apply` (state.ts); this wires the parts that do the I/O.
import type { FrameworkInfo, TaskInfo } from '../api/mesos.js'
import type { AgentStatusWire } from '../api/internal.js'
import { MasterInternalPath } from '../api/internal.js'
import type { AgentState } from './state.js'
import { createAgentState } from './state.js'
import { createRegistration } from './registration.js'
import { recoverAgent } from './recovery.js'
import { createStatusUpdateSender } from './status-updates.js'
import { createTaskRunner } from './tasks.js'
import type { AgentOptions, AgentTask, CompletedTask, PendingUpdate } from './types.js'
import { taskKey } from './types.js'

export type { AgentOptions, AgentTask, CompletedTask } from './types.js'
export { AGENT_VERSION, MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK, MAX_COMPLETED_FRAMEWORKS } from './types.js'

export interface Agent {
  readonly opts: AgentOptions
  agentId(): string | undefined
  /** Everything the agent knows, read-only. */
  readonly state: AgentState
  readonly tasks: ReadonlyMap<string, AgentTask>
  /** Completed tasks by framework (oldest first), bounded; frameworks in the order they last completed a task. */
  readonly completed: ReadonlyMap<string, readonly CompletedTask[]>
  /** The FrameworkInfo each framework last launched a task with (checkpointed). */
  readonly frameworks: ReadonlyMap<string, Readonly<FrameworkInfo>>
  /** Terminal transitions by state since the agent started, as Mesos' slave/tasks_finished, … counters. */
  readonly terminalCounts: ReadonlyMap<string, number>
  readonly startedAt: number
  /** True while the agent is registered with a master (not re-registering). */
  registered(): boolean
  start(): Promise<void>
  stop(opts?: { destroyTasks?: boolean }): Promise<void>
  /** A ping from the master. One from a master other than the one the agent registered with makes it re-register. */
  ping(agentId: string | null, masterId?: string | null): boolean
  launch(frameworkId: string, framework: FrameworkInfo | undefined, task: TaskInfo): Promise<void>
  kill(frameworkId: string, taskId: string, gracePeriodMs: number): Promise<void>
  acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<void>
  shutdownFramework(frameworkId: string): Promise<void>
}

export function createAgent(opts: AgentOptions): Agent {
  const { log, store, clock } = opts
  const state = createAgentState({ store, log: log.child({ component: 'agent-state' }) })
  const startedAt = clock.now()

  async function sendToMaster(u: PendingUpdate): Promise<boolean> {
    if (!state.agentId) return false
    const latest = state.tasks.get(taskKey(u.frameworkId, u.status.task_id.value))?.state
    const body: AgentStatusWire = { agent_id: state.agentId, framework_id: u.frameworkId, status: u.status, ...(latest && latest !== u.status.state ? { latest_state: latest } : {}) }
    const r = await fetch(`${opts.masterUrl}${MasterInternalPath.status}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    })
    await r.arrayBuffer()
    if (r.status === 404) void registration.register()
    return r.ok
  }

  const sender = createStatusUpdateSender({
    state,
    clock,
    log: log.child({ component: 'status-updates' }),
    retryMs: opts.statusUpdateRetryMs,
    maxRetryMs: opts.statusUpdateMaxRetryMs,
    send: sendToMaster,
  })
  const registration = createRegistration({ opts, state, sender, log })
  const runner = createTaskRunner({ opts, state, sender, log, clock })

  return {
    opts,
    agentId: () => state.agentId,
    state,
    tasks: state.tasks,
    completed: state.completed,
    frameworks: state.frameworks,
    terminalCounts: state.terminalCounts,
    startedAt,
    registered: () => state.masterId !== undefined && !registration.registering(),
    async start() {
      await recoverAgent({ state, containerizers: opts.containerizers, runner, log, clock })
      await registration.register()
      registration.watch()
    },
    async stop(stopOpts = {}) {
      registration.stop()
      sender.stop()
      runner.stopHealthChecks()
      if (stopOpts.destroyTasks && state.agentId) {
        for (const c of opts.containerizers) await c.destroyAll(state.agentId)
      }
    },
    ping: registration.ping,
    launch: runner.launch,
    kill: runner.kill,
    acknowledge: runner.acknowledge,
    shutdownFramework: runner.shutdownFramework,
  }
}
