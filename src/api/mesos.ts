// Wire schemas for the Mesos v1 JSON APIs. Incoming JSON is parsed here once; unknown
// fields are ignored and explicit nulls are treated as absent, as the protobuf JSON mapping does.
import { z } from 'zod'
import type { Range, Resources } from '../core/resources.js'
import { normalizeRanges } from '../core/resources.js'

/** Removes `null` members recursively: protobuf-generated clients send every unset field as null. */
export function stripNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== null).map(stripNulls)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = stripNulls(v)
    return out
  }
  return value
}

export const Value = z.object({ value: z.string().min(1) })
export type Value = z.infer<typeof Value>

const RangeSchema = z.object({ begin: z.coerce.number().int().nonnegative(), end: z.coerce.number().int().nonnegative() })

export const ResourceSchema = z.looseObject({
  name: z.string().min(1),
  type: z.enum(['SCALAR', 'RANGES', 'SET']).default('SCALAR'),
  scalar: z.object({ value: z.number().nonnegative() }).optional(),
  ranges: z.object({ range: z.array(RangeSchema).default([]) }).optional(),
  set: z.object({ item: z.array(z.string()).default([]) }).optional(),
  role: z.string().optional(),
})
export type ResourceWire = z.infer<typeof ResourceSchema>

export const AttributeSchema = z.looseObject({
  name: z.string(),
  type: z.enum(['SCALAR', 'RANGES', 'SET', 'TEXT']),
  scalar: z.object({ value: z.number() }).optional(),
  text: z.object({ value: z.string() }).optional(),
  ranges: z.object({ range: z.array(RangeSchema) }).optional(),
  set: z.object({ item: z.array(z.string()) }).optional(),
})
export type AttributeWire = z.infer<typeof AttributeSchema>

const Label = z.object({ key: z.string(), value: z.string().optional() })
const Labels = z.object({ labels: z.array(Label).default([]) })

const EnvVariable = z.looseObject({ name: z.string(), value: z.string().default(''), type: z.string().optional() })

export const CommandInfoSchema = z.looseObject({
  value: z.string().optional(),
  shell: z.boolean().default(true),
  arguments: z.array(z.string()).default([]),
  environment: z.object({ variables: z.array(EnvVariable).default([]) }).optional(),
  uris: z
    .array(
      z.looseObject({
        value: z.string().min(1),
        extract: z.boolean().default(true),
        executable: z.boolean().default(false),
        cache: z.boolean().default(false),
        output_file: z.string().optional(),
      }),
    )
    .default([]),
  user: z.string().optional(),
})
export type CommandInfo = z.infer<typeof CommandInfoSchema>

const PortMapping = z.looseObject({
  host_port: z.number().int().min(0).max(65535),
  container_port: z.number().int().min(0).max(65535),
  protocol: z.string().default('tcp'),
})

export const ContainerInfoSchema = z.looseObject({
  type: z.enum(['DOCKER', 'MESOS']).default('MESOS'),
  docker: z
    .looseObject({
      image: z.string().min(1),
      network: z.enum(['HOST', 'BRIDGE', 'NONE', 'USER']).default('HOST'),
      port_mappings: z.array(PortMapping).default([]),
      privileged: z.boolean().default(false),
      parameters: z.array(z.object({ key: z.string(), value: z.string() })).default([]),
      force_pull_image: z.boolean().default(false),
    })
    .optional(),
  volumes: z
    .array(z.looseObject({ container_path: z.string(), host_path: z.string().optional(), mode: z.enum(['RW', 'RO']).default('RW') }))
    .default([]),
  hostname: z.string().optional(),
})
export type ContainerInfo = z.infer<typeof ContainerInfoSchema>

export const HealthCheckSchema = z.looseObject({
  type: z.enum(['HTTP', 'TCP', 'COMMAND']).optional(),
  http: z.object({ port: z.number().int(), path: z.string().default('/'), scheme: z.string().default('http') }).optional(),
  tcp: z.object({ port: z.number().int() }).optional(),
  command: CommandInfoSchema.optional(),
  // Any number here: a negative one fails that task with TASK_ERROR (master/validation.ts), as
  // Mesos's validation does, rather than the whole call.
  delay_seconds: z.number().default(15),
  interval_seconds: z.number().default(10),
  timeout_seconds: z.number().default(20),
  // uint32 in the proto: 0 is valid, and Mesos then kills at the first counted failure.
  consecutive_failures: z.number().int().nonnegative().default(3),
  grace_period_seconds: z.number().default(10),
})
export type HealthCheck = z.infer<typeof HealthCheckSchema>

const Duration = z.object({ nanoseconds: z.coerce.number().int().nonnegative() })
export const KillPolicySchema = z.object({ grace_period: Duration.optional() })
export type KillPolicy = z.infer<typeof KillPolicySchema>

export const TaskInfoSchema = z.looseObject({
  name: z.string(),
  task_id: Value,
  agent_id: Value,
  resources: z.array(ResourceSchema).default([]),
  command: CommandInfoSchema.optional(),
  container: ContainerInfoSchema.optional(),
  health_check: HealthCheckSchema.optional(),
  kill_policy: KillPolicySchema.optional(),
  labels: Labels.optional(),
  executor: z.unknown().optional(),
})
export type TaskInfo = z.infer<typeof TaskInfoSchema>

// Any number: Mesos treats a negative refuse_seconds as the default.
const Filters = z.object({ refuse_seconds: z.number().optional() })

const OperationSchema = z.looseObject({
  type: z.string(),
  launch: z.object({ task_infos: z.array(TaskInfoSchema).default([]) }).optional(),
  // Only read to answer each of its tasks: dromos has no task groups.
  launch_group: z.looseObject({ task_group: z.looseObject({ tasks: z.array(z.looseObject({ task_id: Value, agent_id: Value.optional() })).default([]) }) }).optional(),
})

const Capability = z.looseObject({ type: z.string().optional() })

export const FrameworkInfoSchema = z.looseObject({
  user: z.string().default(''),
  name: z.string().min(1),
  id: Value.optional(),
  failover_timeout: z.number().nonnegative().default(0),
  checkpoint: z.boolean().default(false),
  role: z.string().optional(),
  roles: z.array(z.string()).optional(),
  hostname: z.string().optional(),
  principal: z.string().optional(),
  webui_url: z.string().optional(),
  capabilities: z.array(Capability).default([]),
  labels: Labels.optional(),
})
export type FrameworkInfo = z.infer<typeof FrameworkInfoSchema>

const TaskRef = z.object({ task_id: Value, agent_id: Value.optional() })

/** A scheduler call. Each call type's body sits under the call's lower-case name. */
export const SchedulerCallSchema = z.looseObject({
  framework_id: Value.optional(),
  type: z.enum([
    'SUBSCRIBE',
    'TEARDOWN',
    'ACCEPT',
    'DECLINE',
    'ACCEPT_INVERSE_OFFERS',
    'DECLINE_INVERSE_OFFERS',
    'REVIVE',
    'KILL',
    'SHUTDOWN',
    'ACKNOWLEDGE',
    'ACKNOWLEDGE_OPERATION_STATUS',
    'RECONCILE',
    'RECONCILE_OPERATIONS',
    'MESSAGE',
    'REQUEST',
    'SUPPRESS',
    'UPDATE_FRAMEWORK',
  ]),
  subscribe: z.looseObject({ framework_info: FrameworkInfoSchema, suppressed_roles: z.array(z.string()).optional() }).optional(),
  accept: z.object({ offer_ids: z.array(Value).default([]), operations: z.array(OperationSchema).default([]), filters: Filters.optional() }).optional(),
  decline: z.object({ offer_ids: z.array(Value).default([]), filters: Filters.optional() }).optional(),
  revive: z.object({ roles: z.array(z.string()).optional(), role: z.string().optional() }).optional(),
  suppress: z.object({ roles: z.array(z.string()).optional(), role: z.string().optional() }).optional(),
  kill: z.object({ task_id: Value, agent_id: Value.optional(), kill_policy: KillPolicySchema.optional() }).optional(),
  shutdown: z.object({ executor_id: Value, agent_id: Value }).optional(),
  acknowledge: z.object({ agent_id: Value, task_id: Value, uuid: z.string().min(1) }).optional(),
  reconcile: z.object({ tasks: z.array(TaskRef).default([]) }).optional(),
  message: z.object({ agent_id: Value, executor_id: Value, data: z.string() }).optional(),
  update_framework: z.looseObject({ framework_info: FrameworkInfoSchema }).optional(),
})
export type SchedulerCall = z.infer<typeof SchedulerCallSchema>

/**
 * A dromos extension of the v1 scheduler API, for a framework that acknowledges updates by the
 * thousand: a JSON array of ACKNOWLEDGE calls in one POST, taken in order and answered 202 as
 * one call alone would be. A master that takes them names the call types on its SUBSCRIBE
 * answer in this header; Mesos sends no such header, and a client that does not see it sends a
 * call a request, as the Mesos API has it.
 */
export const BATCHED_CALLS_HEADER = 'Dromos-Batched-Calls'
/** The most calls one batch holds. */
export const MAX_BATCHED_CALLS = 10_000
export const AcknowledgeBatchSchema = z
  .array(z.object({ framework_id: Value, type: z.literal('ACKNOWLEDGE'), acknowledge: z.object({ agent_id: Value, task_id: Value, uuid: z.string().min(1) }) }))
  .min(1)
  .max(MAX_BATCHED_CALLS)

export interface TaskStatusWire {
  task_id: Value
  state: string
  message?: string
  source?: 'SOURCE_MASTER' | 'SOURCE_AGENT' | 'SOURCE_EXECUTOR'
  reason?: string
  agent_id?: Value
  executor_id?: Value
  timestamp: number
  uuid?: string
  healthy?: boolean
  container_status?: unknown
  unreachable_time?: { nanoseconds: number }
  labels?: unknown
  data?: string
}

export interface OfferWire {
  id: Value
  framework_id: Value
  agent_id: Value
  hostname: string
  resources: ResourceWire[]
  attributes: AttributeWire[]
  allocation_info: { role: string }
  url: { scheme: string; address: { hostname: string; ip: string; port: number }; path: string }
}

// ---- conversions between the wire and the domain ----

export function resourcesFromWire(list: readonly ResourceWire[]): Resources {
  const scalars: Record<string, number> = {}
  const ranges: Record<string, Range[]> = {}
  for (const r of list) {
    if (r.type === 'SCALAR' || (r.scalar && r.type !== 'RANGES')) {
      scalars[r.name] = Math.round(((scalars[r.name] ?? 0) + (r.scalar?.value ?? 0)) * 1000) / 1000
    } else if (r.type === 'RANGES') {
      ranges[r.name] = normalizeRanges([...(ranges[r.name] ?? []), ...(r.ranges?.range ?? [])])
    }
  }
  return { scalars, ranges }
}

export function resourcesToWire(r: Resources, role?: string): ResourceWire[] {
  const out: ResourceWire[] = []
  const extra = role ? { role: '*', allocation_info: { role } } : {}
  for (const [name, value] of Object.entries(r.scalars)) {
    if (value > 0) out.push({ name, type: 'SCALAR', scalar: { value }, ...extra })
  }
  for (const [name, list] of Object.entries(r.ranges)) {
    if (list.length > 0) out.push({ name, type: 'RANGES', ranges: { range: list.map((x) => ({ begin: x.begin, end: x.end })) }, ...extra })
  }
  return out
}

/** v0 JSON shows resources as a flat object: {"cpus":1,"mem":128,"ports":"[31000-31001]"}. */
export function v0Resources(r: Resources): Record<string, number | string> {
  const out: Record<string, number | string> = { cpus: 0, mem: 0, disk: 0, gpus: 0 }
  for (const [k, v] of Object.entries(r.scalars)) out[k] = v
  for (const [k, v] of Object.entries(r.ranges)) out[k] = `[${v.map((x) => `${x.begin}-${x.end}`).join(', ')}]`
  return out
}


/** `os:linux;rack:r1;level:3` -> Mesos attributes (numbers become SCALAR, others TEXT). */
export function parseAttributeString(text: string): AttributeWire[] {
  const out: AttributeWire[] = []
  for (const raw of text.split(';')) {
    const part = raw.trim()
    if (!part) continue
    const i = part.indexOf(':')
    if (i <= 0) throw new Error(`Invalid attribute '${part}': expected NAME:VALUE`)
    const name = part.slice(0, i).trim()
    const value = part.slice(i + 1).trim()
    const n = Number(value)
    if (value !== '' && Number.isFinite(n)) out.push({ name, type: 'SCALAR', scalar: { value: n } })
    else out.push({ name, type: 'TEXT', text: { value } })
  }
  return out
}
