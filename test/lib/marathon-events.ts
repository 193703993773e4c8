// The events of Marathon's bus, as /v2/events streams them and http_callback subscribers get
// them, as strict zod schemas: one per eventType, with exactly the keys Marathon 1.10/1.11
// writes (the case classes of core/event/Events.scala and the Writes of EventFormats in
// api/v2/json/Formats.scala, the plan and step as raml.DeploymentPlan and raml.DeploymentStep).
// A client that builds typed objects from every key of an event, and refuses unknown ones,
// must be able to read whatever dromos sends.
//
// Where Marathon writes an Option with Json.writes, None leaves the key out (optional here);
// where it writes one into Json.obj, None is null (nullable here).
import { z } from 'zod'
import { App, AppHealthCheck } from './marathon-raml.js'

const str = z.string()
const int = z.number().int()
/** Timestamp.toString: always UTC with milliseconds, `2026-12-01T14:48:46.000Z`. */
const timestamp = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'not a Marathon timestamp (yyyy-MM-ddTHH:mm:ss.SSSZ)')
/** AbsolutePathId.toString. */
const pathId = z.string().regex(/^\/([a-z0-9]([a-z0-9.-]*[a-z0-9])?(\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?)*)?$/, 'not an absolute path id')
/** Instance.Id.idString: `<app path with _>.instance-<uuid>` (or `.marathon-<uuid>` of old tasks). */
const instanceId = z.string().regex(/^[a-z0-9_.-]+\.(instance|marathon)-[0-9a-f-]+$/, 'not an instance id')
/** Task.Id.idString: `<app path with _>.<uuid>` or `<instance id>.<container>`, with an optional `.<incarnation>`. */
const taskId = z.string().regex(/^[a-z0-9_.-]+\.[0-9a-f-]{36}(\.\d+)?$|^[a-z0-9_.-]+\.instance-[0-9a-f-]+\.[a-z0-9_-]+(\.\d+)?$/, 'not a task id')
const taskState = z.enum([
  'TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR',
  'TASK_LOST', 'TASK_DROPPED', 'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN',
])
/** core.condition.Condition, written with toString. */
const condition = z.enum([
  'Scheduled', 'Provisioned', 'Error', 'Failed', 'Finished', 'Killed', 'Killing', 'Running', 'Staging', 'Starting', 'Unreachable',
  'UnreachableInactive', 'Gone', 'Dropped', 'Unknown',
])

/** deploymentAction.raml DeploymentAction: an app or a pod. */
const deploymentAction = z
  .strictObject({
    action: z.enum(['StartApplication', 'StopApplication', 'ScaleApplication', 'RestartApplication', 'StartPod', 'StopPod', 'ScalePod', 'RestartPod', 'ResolveArtifacts']),
    app: pathId.optional(),
    pod: pathId.optional(),
  })
  .refine((a) => (a.app === undefined) !== (a.pod === undefined), 'an action names an app or a pod')
/** deploymentSteps.raml DeploymentStep. */
export const DeploymentStep = z.strictObject({ actions: z.array(deploymentAction) })
/** deploymentPlan.raml DeploymentPlan: the "light" plan, the only one since Marathon 1.8 (no original, no target). */
export const DeploymentPlan = z.strictObject({ id: z.uuid(), steps: z.array(DeploymentStep), version: timestamp })

/** mesos NetworkInfo.IPAddress as Formats.ipAddressFormat writes it. */
const ipAddress = z.strictObject({ ipAddress: str, protocol: z.enum(['IPv4', 'IPv6']) })

const event = <T extends string, S extends z.ZodRawShape>(eventType: T, shape: S) =>
  z.strictObject({ eventType: z.literal(eventType), timestamp, ...shape })

const planAndStep = { plan: DeploymentPlan, currentStep: DeploymentStep }

/** Every event Marathon's eventToJson can write, by eventType. */
export const EVENT_SCHEMAS = {
  api_post_event: event('api_post_event', { clientIp: str, uri: str, appDefinition: App }),
  pod_created_event: event('pod_created_event', { clientIp: str, uri: str }),
  pod_updated_event: event('pod_updated_event', { clientIp: str, uri: str }),
  pod_deleted_event: event('pod_deleted_event', { clientIp: str, uri: str }),
  scheduler_registered_event: event('scheduler_registered_event', { frameworkId: str, master: str }),
  scheduler_reregistered_event: event('scheduler_reregistered_event', { master: str }),
  scheduler_disconnected_event: event('scheduler_disconnected_event', {}),
  subscribe_event: event('subscribe_event', { clientIp: str, callbackUrl: str }),
  unsubscribe_event: event('unsubscribe_event', { clientIp: str, callbackUrl: str }),
  event_stream_attached: event('event_stream_attached', { remoteAddress: str }),
  event_stream_detached: event('event_stream_detached', { remoteAddress: str }),
  add_health_check_event: event('add_health_check_event', { appId: pathId, version: timestamp, healthCheck: AppHealthCheck }),
  remove_health_check_event: event('remove_health_check_event', { appId: pathId }),
  // FailedHealthCheckWrites names the instance id "taskId".
  failed_health_check_event: event('failed_health_check_event', { appId: pathId, taskId: instanceId, healthCheck: AppHealthCheck }),
  health_status_changed_event: event('health_status_changed_event', { appId: pathId, instanceId, version: timestamp, alive: z.boolean() }),
  unhealthy_instance_kill_event: event('unhealthy_instance_kill_event', {
    appId: pathId,
    taskId,
    instanceId,
    version: timestamp,
    reason: str,
    host: str,
    slaveId: str.optional(),
  }),
  group_change_success: event('group_change_success', { groupId: pathId, version: timestamp }),
  group_change_failed: event('group_change_failed', { groupId: pathId, version: timestamp, reason: str }),
  deployment_success: event('deployment_success', { id: z.uuid(), plan: DeploymentPlan }),
  deployment_failed: event('deployment_failed', { id: z.uuid(), plan: DeploymentPlan, reason: str.optional() }),
  deployment_info: event('deployment_info', planAndStep),
  deployment_step_success: event('deployment_step_success', planAndStep),
  deployment_step_failure: event('deployment_step_failure', planAndStep),
  app_terminated_event: event('app_terminated_event', { appId: pathId }),
  status_update_event: event('status_update_event', {
    slaveId: str,
    taskId,
    taskStatus: taskState,
    message: str,
    appId: pathId,
    host: str,
    ipAddresses: z.array(ipAddress),
    ports: z.array(int),
    version: timestamp,
  }),
  instance_changed_event: event('instance_changed_event', {
    instanceId,
    condition,
    runSpecId: pathId,
    agentId: str.nullable(),
    host: str.nullable(),
    runSpecVersion: timestamp,
  }),
  unknown_instance_terminated_event: event('unknown_instance_terminated_event', { instanceId, runSpecId: pathId, condition }),
  instance_health_changed_event: event('instance_health_changed_event', { instanceId, runSpecId: pathId, healthy: z.boolean().nullable(), runSpecVersion: timestamp }),
  // The message's bytes, each as a signed number (ByteArrayFormat writes b.toInt).
  framework_message_event: event('framework_message_event', { executorId: str, slaveId: str, message: z.array(int.min(-128).max(127)) }),
} as const

export type MarathonEventType = keyof typeof EVENT_SCHEMAS
export const MARATHON_EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as MarathonEventType[]

/** The problems of one event against Marathon's shape for its eventType; empty when it matches. */
export function eventProblems(e: unknown): string[] {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return ['(root): not an object']
  const type = (e as { eventType?: unknown }).eventType
  if (typeof type !== 'string') return ['eventType: missing or not a string']
  if (!Object.hasOwn(EVENT_SCHEMAS, type)) return [`eventType: ${type} is not an event Marathon emits`]
  const r = EVENT_SCHEMAS[type as MarathonEventType].safeParse(e)
  if (r.success) return []
  return r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}${i.code === 'unrecognized_keys' ? ` ${JSON.stringify(i.keys)}` : ''}`)
}

/** Throws an error naming the event and every offending path unless it is exactly Marathon's. */
export function expectMarathonEvent(e: unknown, where: string): void {
  const problems = eventProblems(e)
  if (problems.length > 0) throw new Error(`${where}: ${JSON.stringify(e)}\ndoes not match Marathon's event:\n  ${problems.join('\n  ')}`)
}
