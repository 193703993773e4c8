// The internal HTTP calls between the master and its agents, which no framework sees. The
// receiving side parses each body with the schema here; the sending side builds it as the
// schema's input type, so both ends agree on one shape.
import { z } from 'zod'
import type { TaskStatusWire } from './mesos.js'
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
export const AgentStatusSchema = z.object({
  agent_id: z.string(),
  framework_id: z.string(),
  status: ReportedStatusSchema.extend({ uuid: z.string().optional() }),
  /**
   * The task's state on the agent now, when it is ahead of the update sent (Mesos's
   * StatusUpdate.latest_state): a task that ended frees its resources before the framework
   * has acknowledged the updates before its end.
   */
  latest_state: z.string().optional(),
})
export type AgentStatusWire = Omit<z.input<typeof AgentStatusSchema>, 'status'> & { status: TaskStatusWire }

// ---- master -> agent ----

/** The ping's query names the agent it is meant for and the master that sends it. */
export function pingPath(agentId: string, masterId: string): string {
  return `${AgentInternalPath.ping}?agent_id=${encodeURIComponent(agentId)}&master_id=${encodeURIComponent(masterId)}`
}

export const LaunchTaskSchema = z.object({ framework_id: z.string(), framework_info: FrameworkInfoSchema.optional(), task_info: TaskInfoSchema })
export const KillTaskSchema = z.object({ framework_id: z.string(), task_id: z.string(), grace_period_ms: z.number().int().nonnegative().default(3000) })
export const AcknowledgeSchema = z.object({ framework_id: z.string(), task_id: z.string(), uuid: z.string() })
export const ShutdownFrameworkSchema = z.object({ framework_id: z.string() })
export const FrameworkMessageSchema = z.object({ framework_id: z.string(), executor_id: z.string(), data: z.string() })

/** The body of each POST the master sends an agent, by path. */
export interface AgentCalls {
  [AgentInternalPath.launch]: z.input<typeof LaunchTaskSchema>
  [AgentInternalPath.kill]: z.input<typeof KillTaskSchema>
  [AgentInternalPath.ack]: z.input<typeof AcknowledgeSchema>
  [AgentInternalPath.shutdownFramework]: z.input<typeof ShutdownFrameworkSchema>
  [AgentInternalPath.message]: z.input<typeof FrameworkMessageSchema>
}
