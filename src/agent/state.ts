// The agent's state: its registration, the frameworks it has run tasks for, its tasks, the
// tasks it completed and the status updates awaiting acknowledgement. It changes only
// through `apply(cmd, at)`, which reads no clock and is the only writer of the checkpoint:
// it writes what changed to the store, in the order the commands were applied.
// A task's record keeps its identity for the whole run (apply updates it in place, a relaunch
// makes a new one), so the shell can tell events of the current run from an earlier one's.
import type { Logger } from 'pino'
import type { FrameworkInfo } from '../api/mesos.js'
import { assertNever } from '../core/errors.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { BatchStore, Store, StoreWrite } from '../store/store.js'
import { createWriteQueue } from '../store/write-queue.js'
import type { AgentCheckpoint, AgentCommand, AgentTask, CompletedCheckpoint, CompletedTask, PendingUpdate, PendingUpdateCheckpoint, TaskCheckpoint, TaskProgressCheckpoint, UpdateQueue } from './types.js'
import { MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK, MAX_COMPLETED_FRAMEWORKS, taskKey } from './types.js'

export interface AgentState {
  readonly agentId: string | undefined
  /** The run id of the master the agent registered with last. */
  readonly masterId: string | undefined
  readonly pingIntervalMs: number
  /** When the master last answered a registration or pinged. */
  readonly lastPingAt: number
  /** The FrameworkInfo each framework last launched a task with. */
  readonly frameworks: ReadonlyMap<string, Readonly<FrameworkInfo>>
  /** Frameworks the master removed since the agent started. */
  readonly removedFrameworks: ReadonlySet<string>
  readonly tasks: ReadonlyMap<string, AgentTask>
  /** Completed tasks by framework (oldest first), bounded; frameworks in the order they last completed a task. */
  readonly completed: ReadonlyMap<string, readonly CompletedTask[]>
  readonly completedSeq: number
  /** Terminal transitions by state since the agent started, as Mesos' slave/tasks_finished, … counters. */
  readonly terminalCounts: ReadonlyMap<string, number>
  /** Unacknowledged status updates by task key. */
  readonly updates: ReadonlyMap<string, UpdateQueue>
  task(frameworkId: string, taskId: string): AgentTask | undefined
  pending(frameworkId: string, taskId: string): readonly PendingUpdate[]
  apply(cmd: AgentCommand, at: number): void
  /** Settles when the store writes of the commands applied so far are done; rejects if the last failed. */
  written(): Promise<void>
  /** Reads the checkpoint from the store, through `apply`. */
  load(at: number): Promise<void>
  /** What the store holds once the writes are done, read from memory, in key order. */
  checkpoint(): AgentCheckpoint
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const toCheckpoint = (t: AgentTask): TaskCheckpoint => ({ ...launchedOf(t), ...progressOf(t) })

/** What a task was launched with, which never changes: written once, at the launch. */
const launchedOf = (t: AgentTask): TaskCheckpoint => ({
  frameworkId: t.frameworkId,
  info: t.info,
  frameworkCapabilities: [...t.frameworkCapabilities],
  sandbox: t.sandbox,
  containerizer: t.containerizer,
  hostPorts: [...t.hostPorts],
  state: t.state,
})

/**
 * What changes as a task runs: written at each change, without the TaskInfo (most of a task's
 * bytes), with the updates awaiting acknowledgement when given them, so that an update and its
 * acknowledgement each write one key.
 */
const progressOf = (t: AgentTask, pending?: readonly PendingUpdate[]): TaskProgressCheckpoint => ({
  state: t.state,
  ...(t.latest ? { latest: t.latest } : {}),
  ...(t.updateSeq > 0 ? { updateSeq: t.updateSeq } : {}),
  ...(t.containerId ? { containerId: t.containerId } : {}),
  ...(pending && pending.length > 0 ? { pending: [...pending] } : {}),
})

const fromCheckpoint = (cp: TaskCheckpoint): AgentTask => ({
  frameworkId: cp.frameworkId,
  info: cp.info,
  frameworkCapabilities: cp.frameworkCapabilities,
  sandbox: cp.sandbox,
  containerizer: cp.containerizer,
  hostPorts: cp.hostPorts,
  state: cp.state,
  updateSeq: cp.updateSeq ?? 0,
  killRequested: false,
  ...(cp.latest ? { latest: cp.latest } : {}),
  ...(cp.containerId ? { containerId: cp.containerId } : {}),
})

const byKey = <T>(entries: Iterable<readonly [string, T]>): Array<[string, T]> => [...entries].map(([k, v]): [string, T] => [k, v]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/**
 * The tasks a store holds, each as launched with what it reached since (a checkpoint of earlier
 * agents has it all under `tasks/`), and the updates they await, by task key: those kept in
 * their progress, and those under `updates/` (earlier agents'), whose keys are `legacy`.
 */
async function tasksIn(store: Store): Promise<{ tasks: TaskCheckpoint[]; updates: Array<readonly [string, readonly PendingUpdateCheckpoint[]]>; legacy: string[] }> {
  const progress = new Map((await store.list<TaskProgressCheckpoint>('task-progress/')).map(([k, p]) => [k.slice('task-progress/'.length), p]))
  const updates: Array<readonly [string, readonly PendingUpdateCheckpoint[]]> = []
  const tasks = (await store.list<TaskCheckpoint>('tasks/')).map(([key, t]) => {
    const k = key.slice('tasks/'.length)
    const p = progress.get(k)
    if (!p) return t
    const { pending, ...reached } = p
    if (pending && pending.length > 0) updates.push([k, pending])
    return { ...t, ...reached }
  })
  const legacy = (await store.list<PendingUpdateCheckpoint[]>('updates/')).map(([key, list]) => [key.slice('updates/'.length), list] as const)
  return { tasks, updates: [...updates, ...legacy], legacy: legacy.map(([k]) => k) }
}

export function createAgentState(opts: { store: Store; log: Logger }): AgentState {
  const { store, log } = opts
  let agentId: string | undefined
  let masterId: string | undefined
  let pingIntervalMs = 15_000
  let lastPingAt = 0
  let completedSeq = 0
  const frameworks = new Map<string, FrameworkInfo>()
  const removedFrameworks = new Set<string>()
  const tasks = new Map<string, Mutable<AgentTask>>()
  const completed = new Map<string, CompletedTask[]>()
  /** The seq each framework's completed list was last checkpointed with. */
  const completedSeqs = new Map<string, number>()
  const terminalCounts = new Map<string, number>()
  const updates = new Map<string, Mutable<UpdateQueue>>()

  // Writes reach the store in the order the commands were applied, those of one turn of the
  // event loop together: in one SQLite transaction where the store has batches, rather than a
  // commit for each task's each change (a launch of ten tasks changes them thirty times).
  const writes = createWriteQueue((e: unknown) => log.error({ err: e }, 'agent checkpoint write failed'))
  const canBatch = (s: Store): s is BatchStore => typeof (s as Partial<BatchStore>).batch === 'function'
  // A key written more than once in a turn is written once, with its last value (a task's
  // progress, when its container starts and its TASK_RUNNING follows at once).
  let turn: Map<string, StoreWrite> | undefined
  const record = (w: StoreWrite): void => {
    if (turn) {
      turn.delete(w.key)
      turn.set(w.key, w)
      return
    }
    const mine = (turn = new Map([[w.key, w]]))
    void writes
      .persist(async () => {
        await new Promise<void>((resolve) => setImmediate(resolve))
        if (turn === mine) turn = undefined
        const all = [...mine.values()]
        if (all.length > 1 && canBatch(store)) return store.batch(all)
        for (const x of all) await (x.op === 'put' ? store.put(x.key, x.value) : store.delete(x.key))
      })
      .catch(() => undefined)
  }
  const put = (key: string, value: unknown): void => record({ op: 'put', key, value })
  const del = (key: string): void => record({ op: 'delete', key })
  /** The queues read from `updates/<key>` (earlier agents' layout) whose key is still there. */
  const legacyQueues = new Set<string>()
  const putTask = (t: AgentTask): void => {
    const k = taskKey(t.frameworkId, t.info.task_id.value)
    put(`task-progress/${k}`, progressOf(t, updates.get(k)?.updates))
  }
  /** Writes a task's queue: into its progress, or under `updates/` for a queue without its task (only read from an earlier checkpoint). */
  const putQueue = (k: string, q: UpdateQueue): void => {
    const t = tasks.get(k)
    if (t) {
      if (legacyQueues.delete(k)) del(`updates/${k}`)
      putTask(t)
    } else if (q.updates.length === 0) del(`updates/${k}`)
    else put(`updates/${k}`, [...q.updates])
  }

  /** Stops tracking a task that ended, keeping it among its framework's completed tasks. */
  function complete(k: string, t: AgentTask): void {
    tasks.delete(k)
    const fid = t.frameworkId
    const list = [...(completed.get(fid) ?? []), { frameworkId: fid, info: t.info, sandbox: t.sandbox, state: t.state, ...(t.latest ? { latest: t.latest } : {}) }]
    if (list.length > MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK) list.shift()
    // Most recently completed last: the oldest framework is the first to go.
    completed.delete(fid)
    completed.set(fid, list)
    // Checkpointed too, so that /state shows them after a restart, as a Mesos agent recovers its completed executors.
    const cp: CompletedCheckpoint = { seq: ++completedSeq, tasks: list }
    completedSeqs.set(fid, cp.seq)
    put(`completed/${fid}`, cp)
    if (completed.size > MAX_COMPLETED_FRAMEWORKS) {
      const oldest = completed.keys().next().value!
      completed.delete(oldest)
      completedSeqs.delete(oldest)
      del(`completed/${oldest}`)
    }
    del(`tasks/${k}`)
    del(`task-progress/${k}`)
    if (legacyQueues.delete(k)) del(`updates/${k}`)
  }

  function apply(cmd: AgentCommand, at: number): void {
    switch (cmd.type) {
      case 'checkpoint-loaded': {
        const cp = cmd.checkpoint
        if (cp.agentId !== undefined) agentId = cp.agentId
        for (const [fid, info] of cp.frameworks) frameworks.set(fid, info)
        for (const list of [...cp.completed].sort((a, b) => a.seq - b.seq)) {
          const fid = list.tasks[0]?.frameworkId
          if (fid) {
            completed.delete(fid)
            completed.set(fid, [...list.tasks])
            completedSeqs.set(fid, list.seq)
          }
          completedSeq = Math.max(completedSeq, list.seq)
        }
        for (const t of cp.tasks) tasks.set(taskKey(t.frameworkId, t.info.task_id.value), fromCheckpoint(t))
        for (const [k, list] of cp.updates) updates.set(k, { updates: list.map((u) => ({ ...u, seq: u.seq ?? 0 })), attempt: 0 })
        for (const k of cmd.legacyQueues ?? []) legacyQueues.add(k)
        return
      }
      case 'registered': {
        masterId = cmd.masterId
        pingIntervalMs = cmd.pingIntervalMs
        lastPingAt = at
        if (agentId === cmd.agentId) return
        agentId = cmd.agentId
        const saved = { agentId }
        put('agent', saved)
        return
      }
      case 'master-pinged':
        lastPingAt = at
        return
      case 'framework-info': {
        frameworks.set(cmd.frameworkId, cmd.info)
        const { frameworkId, info } = cmd
        put(`frameworks/${frameworkId}`, info)
        return
      }
      case 'framework-removed': {
        removedFrameworks.add(cmd.frameworkId)
        for (const [k, q] of [...updates]) {
          if (!k.startsWith(`${cmd.frameworkId}/`)) continue
          updates.delete(k)
          putQueue(k, { ...q, updates: [] })
        }
        return
      }
      case 'task-launched': {
        const t: AgentTask = { ...cmd.task, state: TaskState.STAGING, updateSeq: 0, killRequested: false }
        const k = taskKey(t.frameworkId, t.info.task_id.value)
        tasks.set(k, t)
        put(`tasks/${k}`, launchedOf(t))
        return
      }
      case 'container-started':
      case 'container-recovered': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (!t) return
        t.containerId = cmd.containerId
        // Addresses are not checkpointed: a container recovered after a restart has none.
        if (cmd.type === 'container-started') t.ipAddresses = cmd.ipAddresses
        putTask(t)
        return
      }
      case 'task-status': {
        const k = taskKey(cmd.frameworkId, cmd.status.task_id.value)
        const t = tasks.get(k)
        if (!t || isTerminal(t.state)) return
        const { status } = cmd
        const terminal = isTerminal(status.state)
        t.state = status.state
        t.latest = status
        t.updateSeq += 1
        if (terminal) terminalCounts.set(status.state, (terminalCounts.get(status.state) ?? 0) + 1)
        if (removedFrameworks.has(t.frameworkId)) {
          // Nobody will acknowledge updates of a removed framework: forget the task once it ends.
          if (terminal) complete(k, t)
          else putTask(t)
          return
        }
        const q = updates.get(k) ?? { updates: [], attempt: 0 }
        q.updates = [...q.updates, { frameworkId: t.frameworkId, status, seq: t.updateSeq }]
        updates.set(k, q)
        putQueue(k, q)
        return
      }
      case 'task-unhealthy': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (!t?.latest) return
        t.latest = { ...t.latest, healthy: false }
        putTask(t)
        return
      }
      case 'task-kill-requested': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (t) t.killRequested = true
        return
      }
      case 'update-acknowledged': {
        const k = taskKey(cmd.frameworkId, cmd.taskId)
        const q = updates.get(k)
        if (q?.updates[0]?.status.uuid !== cmd.uuid) return
        q.updates = q.updates.slice(1)
        q.attempt = 0
        if (q.updates.length === 0) updates.delete(k)
        const t = tasks.get(k)
        // A task that ended and has nothing more to be acknowledged goes; its progress with it.
        if (q.updates.length === 0 && t && isTerminal(t.state)) complete(k, t)
        else putQueue(k, q)
        return
      }
      case 'update-sent': {
        const q = updates.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (q) q.attempt++
        return
      }
      case 'update-backoff-reset':
        for (const q of updates.values()) q.attempt = 0
        return
      default:
        assertNever(cmd)
    }
  }

  return {
    get agentId() {
      return agentId
    },
    get masterId() {
      return masterId
    },
    get pingIntervalMs() {
      return pingIntervalMs
    },
    get lastPingAt() {
      return lastPingAt
    },
    get completedSeq() {
      return completedSeq
    },
    frameworks,
    removedFrameworks,
    tasks,
    completed,
    terminalCounts,
    updates,
    task: (fid, tid) => tasks.get(taskKey(fid, tid)),
    pending: (fid, tid) => updates.get(taskKey(fid, tid))?.updates ?? [],
    apply,
    written: writes.written,
    async load(at) {
      const saved = await store.get<{ agentId: string }>('agent')
      const { tasks: taskList, updates: queues, legacy } = await tasksIn(store)
      const checkpoint: AgentCheckpoint = {
        ...(saved ? { agentId: saved.agentId } : {}),
        frameworks: (await store.list<FrameworkInfo>('frameworks/')).map(([k, info]) => [k.slice('frameworks/'.length), info] as const),
        tasks: taskList,
        completed: (await store.list<CompletedCheckpoint>('completed/')).map(([, c]) => c),
        updates: queues,
      }
      apply({ type: 'checkpoint-loaded', checkpoint, ...(legacy.length > 0 ? { legacyQueues: legacy } : {}) }, at)
    },
    checkpoint() {
      return {
        ...(agentId !== undefined ? { agentId } : {}),
        frameworks: byKey(frameworks),
        tasks: byKey([...tasks].map(([k, t]) => [k, toCheckpoint(t)] as const)).map(([, t]) => t),
        completed: byKey(completed).map(([fid, list]) => ({ seq: completedSeqs.get(fid) ?? 0, tasks: list })),
        updates: byKey([...updates].map(([k, q]) => [k, q.updates] as const)),
      }
    },
  }
}
