// What a status_update_event changes in a follower's copy of its app (src/api/apps-follower.ts),
// as a pure function: the task takes the event's state, a task the copy does not know yet comes
// in where the event says it runs, and one that ended leaves. The load balancer and the dns
// both apply it, so that a task's route or record follows its event without waiting for a read
// of the app; the read that follows has the last word. Where the event does not say enough,
// nothing is patched and the read decides alone.

/** What a patch reads and writes of a task of Marathon's app JSON. */
export interface StatusTask {
  id: string
  state: string
  host: string
  ports: number[]
  ipAddresses?: Array<{ ipAddress: string }>
  version?: string
}

/** Mesos states after which a task is gone from Marathon's view of its app. */
const TERMINAL: ReadonlySet<string> = new Set([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
])

const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x))

/** The copy of an app with a status_update_event applied, or undefined when only a read can tell. */
export function applyStatusEvent<A extends { tasks?: StatusTask[] }>(app: A, e: Record<string, unknown>): A | undefined {
  const { taskId, taskStatus } = e
  if (typeof taskId !== 'string' || typeof taskStatus !== 'string' || !taskStatus.startsWith('TASK_')) return undefined
  const tasks = app.tasks ?? []
  const withTasks = (list: StatusTask[]): A => ({ ...app, tasks: list })
  const i = tasks.findIndex((t) => t.id === taskId)
  if (TERMINAL.has(taskStatus)) return i < 0 ? undefined : withTasks(tasks.filter((_, j) => j !== i))
  const ips = Array.isArray(e.ipAddresses) ? (e.ipAddresses as Array<{ ipAddress?: unknown }>).flatMap((a) => (typeof a?.ipAddress === 'string' ? [{ ipAddress: a.ipAddress }] : [])) : []
  if (i < 0) {
    // A task the copy does not know yet: the event names where it runs. It has no health
    // results, so where the lb checks health it waits for its first healthy one.
    if (typeof e.host !== 'string' || !numbers(e.ports)) return undefined
    const task: StatusTask = {
      id: taskId,
      state: taskStatus,
      host: e.host,
      ports: e.ports,
      ...(ips.length > 0 ? { ipAddresses: ips } : {}),
      ...(typeof e.version === 'string' ? { version: e.version } : {}),
    }
    return withTasks([...tasks, task])
  }
  const before = tasks[i]!
  // Being killed stays so, as Marathon keeps it, even if a late update still says running.
  const state = before.state === 'TASK_KILLING' && taskStatus === 'TASK_RUNNING' ? before.state : taskStatus
  const task: StatusTask = { ...before, state, ...(ips.length > 0 && !before.ipAddresses?.length ? { ipAddresses: ips } : {}) }
  return withTasks(tasks.map((t, j) => (j === i ? task : t)))
}
