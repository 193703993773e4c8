// The internal HTTP calls between the master and its agents, which no framework sees. The
// receiving side parses each body with the schema here; the sending side builds it as the
// schema's input type, so both ends agree on one shape.
import { z } from 'zod'
import { zodMessage } from './http.js'
import type { TaskInfo, TaskStatusWire } from './mesos.js'
import { AttributeSchema, FrameworkInfoSchema, ResourceSchema, TaskInfoSchema } from './mesos.js'

/** Endpoints the master serves to agents. */
export const MasterInternalPath = {
  register: '/internal/agent/register',
  status: '/internal/agent/status',
} as const

/** Endpoints an agent serves to the master. */
export const AgentInternalPath = {
  ping: '/internal/ping',
  launch: '/internal/tasks/launch',
  kill: '/internal/tasks/kill',
  ack: '/internal/ack',
  shutdownFramework: '/internal/framework/shutdown',
  message: '/internal/message',
} as const

// ---- agent -> master ----

// Statuses travel whole; the master checks only the fields it relies on.
const ReportedStatusSchema = z.looseObject({ task_id: z.object({ value: z.string() }), state: z.string(), timestamp: z.number() })
const ReportedTaskSchema = z.object({ framework_id: z.string(), task_info: TaskInfoSchema, state: z.string(), status: ReportedStatusSchema.optional() })

/** An agent (re-)registering, with the tasks it still runs or has unacknowledged updates for. */
export const AgentRegistrationSchema = z.object({
  agent_id: z.string().optional(),
  hostname: z.string().min(1),
  ip: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  resources: z.array(ResourceSchema),
  attributes: z.array(AttributeSchema).default([]),
  version: z.string().optional(),
  tasks: z.array(ReportedTaskSchema).default([]),
  /**
   * Which attempt this is: the agent process's own id and a number it counts up with every
   * attempt. A request that gets through after the agent gave up on it (TCP delivers what it
   * holds once a partition heals, long after the agent timed out and registered again) is older
   * than the registration the master took, and is refused.
   */
  attempt: z.object({ run: z.string().min(1), seq: z.number().int().min(0) }).optional(),
})
export type ReportedTaskWire = Omit<z.input<typeof ReportedTaskSchema>, 'status'> & { status?: TaskStatusWire }
export type AgentRegistrationWire = Omit<z.input<typeof AgentRegistrationSchema>, 'tasks'> & { tasks: ReportedTaskWire[] }

/** The master's answer to a registration. */
export interface AgentRegisteredWire {
  agent_id: string
  ping_interval_ms: number
  master_id: string
}

/** A status update the agent forwards to the master until the framework acknowledges it. */
const StatusUpdateSchema = z.object({
  framework_id: z.string(),
  status: ReportedStatusSchema.extend({ uuid: z.string().optional() }),
  /**
   * The task's state on the agent now, when it is ahead of the update sent (Mesos's
   * StatusUpdate.latest_state): a task that ended frees its resources before the framework
   * has acknowledged the updates before its end.
   */
  latest_state: z.string().optional(),
})
export type StatusUpdateWire = Omit<z.input<typeof StatusUpdateSchema>, 'status'> & { status: TaskStatusWire }

/** One status update alone, as agents sent each before they sent lists. */
export type AgentStatusWire = StatusUpdateWire & { agent_id: string }

/**
 * The status updates of an agent's tasks that are ready at once, each the oldest unacknowledged
 * update of its task; the master answers one `TaskResultsWire` result each, in order. One
 * update alone (`AgentStatusWire`) is still taken, and answered 202 without a body as it was.
 */
export const AgentStatusUpdatesSchema = z.union([
  z.object({ agent_id: z.string(), updates: z.array(StatusUpdateSchema).min(1) }),
  StatusUpdateSchema.extend({ agent_id: z.string() }).transform(({ agent_id, ...update }) => ({ agent_id, updates: [update], single: true as const })),
])
export interface AgentStatusUpdatesWire {
  agent_id: string
  updates: StatusUpdateWire[]
}

/** The answer to a call that carries a list (tasks to launch, status updates): one result per entry, in order. */
export const TaskResultsSchema = z.object({
  results: z.array(z.object({ task_id: z.string(), error: z.string().optional() })),
})
export type TaskResultsWire = z.input<typeof TaskResultsSchema>
export type TaskResultWire = TaskResultsWire['results'][number]

// ---- master -> agent ----

/**
 * The ping's query names the agent it is meant for and the master that sends it: its id, and
 * where it answers (host:port), so that an agent pinged by a newly elected master registers
 * with it first.
 */
export function pingPath(agentId: string, masterId: string, masterAddress: string): string {
  return `${AgentInternalPath.ping}?agent_id=${encodeURIComponent(agentId)}&master_id=${encodeURIComponent(masterId)}&master=${encodeURIComponent(masterAddress)}`
}

/**
 * The tasks of one ACCEPT, all for the agent the offers were of. Each TaskInfo is parsed on its
 * own (`parseLaunchedTasks`), so that one the agent cannot take fails alone; the agent answers
 * one `TaskResultsWire` result each, in order.
 */
export const LaunchTasksSchema = z.object({ framework_id: z.string(), framework_info: FrameworkInfoSchema.optional(), task_infos: z.array(z.unknown()).min(1) })
export type LaunchTasksWire = Omit<z.input<typeof LaunchTasksSchema>, 'task_infos'> & { task_infos: Array<z.input<typeof TaskInfoSchema>> }

/** Each TaskInfo of a launch, parsed, or why it cannot be. */
export function parseLaunchedTasks(taskInfos: readonly unknown[]): Array<{ readonly task: TaskInfo } | { readonly taskId: string; readonly error: string }> {
  return taskInfos.map((raw) => {
    const parsed = TaskInfoSchema.safeParse(raw)
    if (parsed.success) return { task: parsed.data }
    const id = (raw as { task_id?: { value?: unknown } } | null)?.task_id?.value
    return { taskId: typeof id === 'string' ? id : '', error: `Invalid TaskInfo: ${zodMessage(parsed.error)}` }
  })
}

export const KillTaskSchema = z.object({ framework_id: z.string(), task_id: z.string(), grace_period_ms: z.number().int().nonnegative().default(3000) })
const AcknowledgeSchema = z.object({ framework_id: z.string(), task_id: z.string(), uuid: z.string() })
export type AcknowledgementWire = z.input<typeof AcknowledgeSchema>
/** The acknowledgements the master forwards to one agent in one turn of its event loop, applied in order. */
export const AcknowledgementsSchema = z.object({ acks: z.array(AcknowledgeSchema).min(1) })
export const ShutdownFrameworkSchema = z.object({ framework_id: z.string() })
export const FrameworkMessageSchema = z.object({ framework_id: z.string(), executor_id: z.string(), data: z.string() })

/** The body of each POST the master sends an agent, by path. */
export interface AgentCalls {
  [AgentInternalPath.launch]: LaunchTasksWire
  [AgentInternalPath.kill]: z.input<typeof KillTaskSchema>
  [AgentInternalPath.ack]: z.input<typeof AcknowledgementsSchema>
  [AgentInternalPath.shutdownFramework]: z.input<typeof ShutdownFrameworkSchema>
  [AgentInternalPath.message]: z.input<typeof FrameworkMessageSchema>
}
