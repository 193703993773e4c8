// What each event on the bus carries besides eventType and timestamp: exactly the keys
// Marathon 1.10 writes for it (the case classes of core/event/Events.scala, serialized by the
// Writes of EventFormats), so that a client that builds objects from every key of a Marathon
// event, and refuses unknown ones, reads dromos's events too. docs/marathon-api.md lists them.
import { healthCheckJson } from './app-json.js'
import { isTerminalCondition } from './reconcile.js'
import { appIdFromTaskId } from './task-ids.js'
import type { AppDefinition, AppHealthCheck, Condition, DeploymentPlan, DeploymentStep } from './types.js'

/** raml.DeploymentStep. */
export interface StepJson {
  actions: Array<{ action: string; app: string }>
}

/** raml.DeploymentPlan: the "light" plan, the only one since Marathon 1.8 (no original or target groups). */
export interface PlanJson {
  id: string
  steps: StepJson[]
  version: string
}

interface PlanEvent {
  plan: PlanJson
  currentStep: StepJson
}

/** Marathon's fields of every event dromos publishes, by eventType. */
export interface MarathonEventFields {
  api_post_event: { clientIp: string; uri: string; appDefinition: AppDefinition }
  scheduler_registered_event: { frameworkId: string; master: string }
  scheduler_reregistered_event: { master: string }
  scheduler_disconnected_event: Record<string, never>
  subscribe_event: { clientIp: string; callbackUrl: string }
  /** null when the DELETE named no callbackUrl, which Marathon passes on as it gets it. */
  unsubscribe_event: { clientIp: string; callbackUrl: string | null }
  event_stream_attached: { remoteAddress: string }
  event_stream_detached: { remoteAddress: string }
  add_health_check_event: { appId: string; version: string; healthCheck: AppHealthCheck }
  remove_health_check_event: { appId: string }
  /** Marathon's FailedHealthCheckWrites writes the instance id under "taskId". */
  failed_health_check_event: { appId: string; taskId: string; healthCheck: AppHealthCheck }
  health_status_changed_event: { appId: string; instanceId: string; version: string; alive: boolean }
  /** slaveId is an Option that Json.writes leaves out when unknown. */
  unhealthy_instance_kill_event: { appId: string; taskId: string; instanceId: string; version: string; reason: string; host: string; slaveId?: string }
  group_change_success: { groupId: string; version: string }
  group_change_failed: { groupId: string; version: string; reason: string }
  deployment_success: { id: string; plan: PlanJson }
  deployment_failed: { id: string; plan: PlanJson; reason?: string }
  deployment_info: PlanEvent
  deployment_step_success: PlanEvent
  app_terminated_event: { appId: string }
  status_update_event: {
    slaveId: string
    taskId: string
    taskStatus: string
    message: string
    appId: string
    host: string
    ipAddresses: Array<{ ipAddress: string; protocol: 'IPv4' | 'IPv6' }>
    ports: number[]
    version: string
  }
  /** agentId and host are Options that Json.obj writes as null when unknown. */
  instance_changed_event: { instanceId: string; condition: Condition; runSpecId: string; agentId: string | null; host: string | null; runSpecVersion: string }
  unknown_instance_terminated_event: { instanceId: string; runSpecId: string; condition: Condition }
  instance_health_changed_event: { instanceId: string; runSpecId: string; healthy: boolean | null; runSpecVersion: string }
  /** The message's bytes as signed numbers, as Marathon's ByteArrayFormat writes an Array[Byte]. */
  framework_message_event: { executorId: string; slaveId: string; message: number[] }
}

export type MarathonEventType = keyof MarathonEventFields

export function stepJson(step: DeploymentStep): StepJson {
  return { actions: step.actions.map((a) => ({ action: a.action, app: a.app })) }
}

export function planJson(plan: Pick<DeploymentPlan, 'id' | 'steps' | 'version'>): PlanJson {
  return { id: plan.id, steps: plan.steps.map(stepJson), version: plan.version }
}

/** Mesos sends a framework message's data in base64; Marathon writes the bytes, each as a signed number. */
export function frameworkMessageBytes(base64: string): number[] {
  return [...Buffer.from(base64, 'base64')].map((b) => (b > 127 ? b - 256 : b))
}

/** The host Marathon names in the scheduler events: MasterInfo.hostname, else the host of the master's URL. */
export function masterHostname(masterInfo: unknown, masterUrl: string): string {
  const hostname = (masterInfo as { hostname?: unknown } | undefined)?.hostname
  if (typeof hostname === 'string' && hostname !== '') return hostname
  const first = masterUrl.split(',')[0]?.trim() ?? ''
  try {
    return new URL(first.includes('://') ? first : `http://${first}`).hostname
  } catch {
    return first
  }
}

/** The health checks Marathon keeps active for one version of an app. */
export interface ActiveChecks {
  appId: string
  version: string
  healthChecks: readonly AppHealthCheck[]
}

const checksKey = (c: Pick<ActiveChecks, 'appId' | 'version'>): string => `${c.appId} ${c.version}`

/**
 * The health checks of each version Marathon's MarathonHealthCheckManager keeps active: the
 * app's current version, and every version an instance still runs. It publishes an
 * add_health_check_event for each check of a version as it starts checking it, and a
 * remove_health_check_event (only the appId) for each check it stops.
 */
export function activeChecks(apps: Iterable<AppDefinition>, instances: Iterable<{ appId: string; version: string; definition: AppDefinition | undefined }>): ActiveChecks[] {
  const out = new Map<string, ActiveChecks>()
  for (const app of apps) if (app.healthChecks.length > 0) out.set(checksKey({ appId: app.id, version: app.version }), { appId: app.id, version: app.version, healthChecks: app.healthChecks })
  for (const i of instances) {
    const checks = i.definition?.healthChecks ?? []
    const key = checksKey(i)
    if (checks.length > 0 && !out.has(key)) out.set(key, { appId: i.appId, version: i.version, healthChecks: checks })
  }
  return [...out.values()]
}

/** What changed between the checks published before and the ones active now, as Marathon's events. */
export function healthCheckEvents(
  before: readonly ActiveChecks[],
  now: readonly ActiveChecks[],
): Array<{ eventType: 'add_health_check_event'; fields: MarathonEventFields['add_health_check_event'] } | { eventType: 'remove_health_check_event'; fields: MarathonEventFields['remove_health_check_event'] }> {
  const had = new Set(before.map(checksKey))
  const has = new Set(now.map(checksKey))
  return [
    ...before.filter((c) => !has.has(checksKey(c))).flatMap((c) => c.healthChecks.map(() => ({ eventType: 'remove_health_check_event' as const, fields: { appId: c.appId } }))),
    ...now
      .filter((c) => !had.has(checksKey(c)))
      .flatMap((c) => c.healthChecks.map((h) => ({ eventType: 'add_health_check_event' as const, fields: { appId: c.appId, version: c.version, healthCheck: healthCheckJson(h) } }))),
  ]
}

const INSTANCE_OF_TASK = /^(.+\.(?:instance|marathon)-[^_.]+)[._][^.]+(?:\.\d+)?$/
const LEGACY_TASK = /^(.+)[._]([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/

/**
 * Marathon's UnknownInstanceTerminated, for a terminal (or unreachable) update of a task no
 * instance has: undefined for other updates and for task ids that are not Marathon's. The
 * instance of a `<app>.<uuid>` task is `<app>.instance-<uuid>`, as dromos names them.
 */
export function unknownInstanceTerminated(taskId: string, condition: Condition): MarathonEventFields['unknown_instance_terminated_event'] | undefined {
  if (!isTerminalCondition(condition) && condition !== 'Unreachable') return undefined
  const runSpecId = appIdFromTaskId(taskId)
  const withInstance = INSTANCE_OF_TASK.exec(taskId)
  const legacy = LEGACY_TASK.exec(taskId)
  const instanceId = withInstance?.[1] ?? (legacy ? `${legacy[1]}.instance-${legacy[2]}` : undefined)
  return runSpecId && instanceId ? { instanceId, runSpecId, condition } : undefined
}
