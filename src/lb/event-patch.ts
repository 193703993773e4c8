// What a task's status and health events change in the lb's copy of its app, as a pure
// function, so that a new instance takes traffic (and a dead one stops) without waiting for the
// app to be read again. The patch only moves tasks and their health: routes() still decides
// everything from the patched copy, and the read that follows every event replaces the copy, so
// that a patch wrong in any way lasts only until that read answers. Where an event does not say
// enough (an app with more than one health check, a task the copy does not have), nothing is
// patched and the read decides alone.
import type { LbApp, LbTask } from './routes.js'

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

/**
 * Whether a task belongs to an instance: Marathon's task ids are the instance id with
 * `._app.<attempt>` after it, or, in the legacy form dromos uses, the instance id with
 * `.instance-` made `.`.
 */
export function taskOfInstance(taskId: string, instanceId: string): boolean {
  return taskId === instanceId || taskId.startsWith(`${instanceId}.`) || taskId === instanceId.replace('.instance-', '.')
}

const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x))

function withTasks(app: LbApp, tasks: LbTask[]): LbApp {
  return { ...app, tasks }
}

/** A status_update_event: the task takes the event's state; one that ended leaves the app. */
function applyStatus(app: LbApp, e: Record<string, unknown>): LbApp | undefined {
  const { taskId, taskStatus } = e
  if (typeof taskId !== 'string' || typeof taskStatus !== 'string' || !taskStatus.startsWith('TASK_')) return undefined
  const tasks = app.tasks ?? []
  const i = tasks.findIndex((t) => t.id === taskId)
  if (TERMINAL.has(taskStatus)) return i < 0 ? undefined : withTasks(app, tasks.filter((_, j) => j !== i))
  const ips = Array.isArray(e.ipAddresses) ? (e.ipAddresses as Array<{ ipAddress?: unknown }>).flatMap((a) => (typeof a?.ipAddress === 'string' ? [{ ipAddress: a.ipAddress }] : [])) : []
  if (i < 0) {
    // A task the copy does not know yet: the event names where it runs. It has no health
    // results, so where the app checks health it waits for its first healthy one.
    if (typeof e.host !== 'string' || !numbers(e.ports)) return undefined
    const task: LbTask = {
      id: taskId,
      state: taskStatus,
      host: e.host,
      ports: e.ports,
      ...(ips.length > 0 ? { ipAddresses: ips } : {}),
      ...(typeof e.version === 'string' ? { version: e.version } : {}),
    }
    return withTasks(app, [...tasks, task])
  }
  const before = tasks[i]!
  // Being killed stays so, as Marathon keeps it, even if a late update still says running.
  const state = before.state === 'TASK_KILLING' && taskStatus === 'TASK_RUNNING' ? before.state : taskStatus
  const task: LbTask = { ...before, state, ...(ips.length > 0 && !before.ipAddresses?.length ? { ipAddresses: ips } : {}) }
  return withTasks(app, tasks.map((t, j) => (j === i ? task : t)))
}

/**
 * A health_status_changed_event: a failed check takes the task out at once. A passing one
 * lets it in only where the app has that one check; with more, the event does not say
 * whether the others pass.
 */
function applyHealth(app: LbApp, e: Record<string, unknown>): LbApp | undefined {
  const instanceId = typeof e.instanceId === 'string' ? e.instanceId : typeof e.taskId === 'string' ? e.taskId : undefined
  if (instanceId === undefined || typeof e.alive !== 'boolean') return undefined
  const checks = app.healthChecks?.length ?? 0
  if (checks === 0 || (e.alive && checks > 1)) return undefined
  const tasks = app.tasks ?? []
  if (!tasks.some((t) => taskOfInstance(t.id, instanceId))) return undefined
  // One failing result is enough for routes() to leave the task out, whatever the others say.
  const results = [{ alive: e.alive }]
  return withTasks(app, tasks.map((t) => (taskOfInstance(t.id, instanceId) ? { ...t, healthCheckResults: results } : t)))
}

/**
 * Whether an event may let a task take traffic. Readiness is known only from a read (its
 * results, and whether a deployment runs), so an app with readiness checks gets only the
 * patches that take traffic away.
 */
function letsIn(e: Record<string, unknown>): boolean {
  return e.eventType === 'status_update_event' ? e.taskStatus === 'TASK_RUNNING' : e.alive === true
}

/** The copy of an app with one event applied, or undefined when only a read can tell. */
export function applyEvent(app: LbApp, e: Record<string, unknown>): LbApp | undefined {
  if (e.appId !== app.id) return undefined
  if ((app.readinessChecks?.length ?? 0) > 0 && letsIn(e)) return undefined
  if (e.eventType === 'status_update_event') return applyStatus(app, e)
  if (e.eventType === 'health_status_changed_event') return applyHealth(app, e)
  return undefined
}
