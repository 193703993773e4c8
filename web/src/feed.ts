// The cluster page's event feed: one line for each event of the live stream, newest first.
// Marathon's events (apps) and the master's operator events (master) say what they concern
// in their own fields; this picks them out.

export interface FeedEntry {
  readonly seq: number
  readonly at: Date
  readonly type: string
  readonly what: string
}

type Json = Record<string, unknown>
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '')
const obj = (v: unknown): Json => (v && typeof v === 'object' ? (v as Json) : {})
const join = (...parts: string[]): string => parts.filter((p) => p !== '').join(' ')

/** What a Marathon event (of /v2/events) concerns, in a few words. */
export function describeAppsEvent(e: Json): string {
  switch (e.eventType) {
    case 'status_update_event':
      return join(str(e.appId), str(e.taskId), str(e.taskStatus))
    case 'instance_changed_event':
      return join(str(e.runSpecId), str(e.instanceId), str(e.condition))
    case 'health_status_changed_event':
      return join(str(e.appId), str(e.instanceId), e.alive === true ? 'healthy' : 'unhealthy')
    case 'instance_health_changed_event':
      return join(str(e.runSpecId), str(e.instanceId), e.healthy === true ? 'healthy' : e.healthy === false ? 'unhealthy' : 'health unknown')
    case 'failed_health_check_event':
    case 'unhealthy_instance_kill_event':
      return join(str(e.appId), str(e.taskId), str(e.reason))
    case 'deployment_info':
    case 'deployment_step_success':
    case 'deployment_step_failure': {
      const actions = (obj(e.currentStep).actions as Json[] | undefined) ?? []
      return join(`deployment ${str(obj(e.plan).id)}`, actions.map((a) => `${str(a.action)} ${str(a.app)}`).join(', '))
    }
    case 'deployment_success':
    case 'deployment_failed':
      return join(`deployment ${str(e.id)}`, str(e.reason))
    case 'api_post_event':
      return join(str(e.uri), str(e.clientIp) && `from ${str(e.clientIp)}`)
    case 'group_change_success':
      return join(str(e.groupId), str(e.version))
    case 'group_change_failed':
      return join(str(e.groupId), str(e.version), str(e.reason))
    case 'app_terminated_event':
      return str(e.appId)
    case 'scheduler_registered_event':
    case 'scheduler_reregistered_event':
      return join(str(e.frameworkId), str(e.master) && `with ${str(e.master)}`)
    default:
      return str(e.appId ?? e.runSpecId)
  }
}

/** What a master operator event (SUBSCRIBE on /api/v1) concerns. */
export function describeMasterEvent(e: Json): string {
  switch (e.type) {
    case 'TASK_ADDED': {
      const task = obj(obj(e.task_added).task)
      return join(str(obj(task.task_id).value), str(task.state))
    }
    case 'TASK_UPDATED': {
      const u = obj(e.task_updated)
      return join(str(obj(obj(u.status).task_id).value), str(u.state))
    }
    case 'AGENT_ADDED': {
      const info = obj(obj(obj(e.agent_added).agent).agent_info)
      return join(str(info.hostname), str(obj(info.id).value))
    }
    case 'AGENT_REMOVED':
      return str(obj(obj(e.agent_removed).agent_id).value)
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED': {
      const info = obj(obj(obj(e.framework_added ?? e.framework_updated).framework).framework_info)
      return join(str(info.name), str(obj(info.id).value))
    }
    case 'FRAMEWORK_REMOVED': {
      const info = obj(obj(e.framework_removed).framework_info)
      return join(str(info.name), str(obj(info.id).value))
    }
    default:
      return ''
  }
}
