// What a task's status and health events change in the lb's copy of its app, as a pure
// function, so that a new instance takes traffic (and a dead one stops) without waiting for the
// app to be read again. The patch only moves tasks and their health: routes() still decides
// everything from the patched copy, and the read that follows every event replaces the copy, so
// that a patch wrong in any way lasts only until that read answers. Where an event does not say
// enough (an app with more than one health check, a task the copy does not have), nothing is
// patched and the read decides alone.
import { applyStatusEvent } from '../api/status-patch.js'
import type { LbApp, LbTask } from './routes.js'

/**
 * Whether a task belongs to an instance: Marathon's task ids are the instance id with
 * `._app.<attempt>` after it, or, in the legacy form dromos uses, the instance id with
 * `.instance-` made `.`.
 */
export function taskOfInstance(taskId: string, instanceId: string): boolean {
  return taskId === instanceId || taskId.startsWith(`${instanceId}.`) || taskId === instanceId.replace('.instance-', '.')
}

function withTasks(app: LbApp, tasks: LbTask[]): LbApp {
  return { ...app, tasks }
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
  if (e.eventType === 'status_update_event') return applyStatusEvent(app, e)
  if (e.eventType === 'health_status_changed_event') return applyHealth(app, e)
  return undefined
}
