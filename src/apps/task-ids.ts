// Marathon's ids of instances and tasks, and the app id a task id names.

/** `/prod/web` -> `prod_web` (PathId.safePath). */
export function safeAppId(appId: string): string {
  return appId.split('/').filter((s) => s !== '').join('_')
}

/** `/prod/web` -> `web.prod`: the task name and discovery name (PathId.toHostname). */
export function appHostname(appId: string): string {
  return appId
    .split('/')
    .filter((s) => s !== '')
    .reverse()
    .join('.')
}

/** `prod_web.instance-<uuid>` (Instance.Id.idString). */
export function instanceIdFor(appId: string, uuid: string): string {
  return `${safeAppId(appId)}.instance-${uuid}`
}

/** `prod_web.<uuid>`: Marathon's task id format before instances (Task.LegacyId), which it still parses. */
export function taskIdFor(appId: string, uuid: string): string {
  return `${safeAppId(appId)}.${uuid}`
}

/** `prod_web.instance-<uuid>._app.<n>`: Marathon 1.6+ task ids (Task.TaskIdWithIncarnation). */
export function taskIdForInstance(instanceId: string, incarnation = 1): string {
  return `${instanceId}._app.${incarnation}`
}

const TASK_ID_WITH_INSTANCE = /^(.+)\.(?:instance-|marathon-)[^_.]+[._][^.]+(?:\.\d+)?$/
const LEGACY_TASK_ID = /^(.+)[._][^_.]+(?:\.\d+)?$/

/** The app id a Marathon-format task id belongs to, or undefined when it is not one. */
export function appIdFromTaskId(taskId: string): string | undefined {
  const m = TASK_ID_WITH_INSTANCE.exec(taskId) ?? LEGACY_TASK_ID.exec(taskId)
  return m?.[1] ? `/${m[1].split('_').join('/')}` : undefined
}
