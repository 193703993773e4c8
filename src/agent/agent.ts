// The agent: registers with the master, runs tasks through its containerizers, reports
// their status reliably and checkpoints what it needs to recover after a restart. Its state
// changes only through the state's `apply` (state.ts); this wires the parts that do the I/O.
import type { FrameworkInfo, TaskInfo } from '../api/mesos.js'
import type { AgentStatusUpdatesWire } from '../api/internal.js'
import { MasterInternalPath, TaskResultsSchema } from '../api/internal.js'
import { createTickBatcher } from '../core/batches.js'
import { createMasters, postLeader } from '../api/masters.js'
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
  /** The base URL of the master the agent believes leads. */
  master(): string
  /** True while the agent is registered with a master (not re-registering). */
  registered(): boolean
  start(): Promise<void>
  stop(opts?: { destroyTasks?: boolean }): Promise<void>
  /** A ping from the master. One from a master other than the one the agent registered with makes it re-register. */
  ping(agentId: string | null, masterId?: string | null, masterAddress?: string | null): boolean
  launch(frameworkId: string, framework: FrameworkInfo | undefined, task: TaskInfo): Promise<void>
  kill(frameworkId: string, taskId: string, gracePeriodMs: number): Promise<void>
  acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<void>
  shutdownFramework(frameworkId: string): Promise<void>
}

export function createAgent(opts: AgentOptions): Agent {
  const { log, store, clock } = opts
  const state = createAgentState({ store, log: log.child({ component: 'agent-state' }) })
  const startedAt = clock.now()
  const masters = createMasters(opts.masters)

  // The updates of different tasks that are due in the same turn go to the master in one
  // request; each task still has only its oldest unacknowledged update out (status-updates.ts).
  const toMaster = createTickBatcher<PendingUpdate, boolean>({
    send: async (_master, updates) => {
      const agentId = state.agentId
      if (!agentId) return updates.map(() => false)
      // One acknowledged since it was queued has nothing left to deliver; one queued twice goes once.
      const due = [...new Set(updates)].filter((u) => state.updates.get(taskKey(u.frameworkId, u.status.task_id.value))?.updates[0] === u)
      if (due.length === 0) return updates.map(() => true)
      const body: AgentStatusUpdatesWire = {
        agent_id: agentId,
        updates: due.map((u) => {
          const latest = state.tasks.get(taskKey(u.frameworkId, u.status.task_id.value))?.state
          return { framework_id: u.frameworkId, status: u.status, ...(latest && latest !== u.status.state ? { latest_state: latest } : {}) }
        }),
      }
      const r = await postLeader(masters, MasterInternalPath.status, JSON.stringify(body))
      if (!r.ok) {
        await r.arrayBuffer()
        if (r.status === 404) void registration.register()
        return updates.map(() => false)
      }
      const { results } = TaskResultsSchema.parse(await r.json())
      const delivered = new Map(due.map((u, i) => [u, results[i] !== undefined && results[i].error === undefined]))
      return updates.map((u) => delivered.get(u) ?? true)
    },
  })

  const sender = createStatusUpdateSender({
    state,
    clock,
    log: log.child({ component: 'status-updates' }),
    retryMs: opts.statusUpdateRetryMs,
    maxRetryMs: opts.statusUpdateMaxRetryMs,
    send: (u) => toMaster.add('master', u),
  })
  const registration = createRegistration({ opts, masters, state, sender, log })
  const runner = createTaskRunner({ opts, state, sender, log, clock })

  return {
    opts,
    agentId: () => state.agentId,
    master: () => masters.current(),
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
