// The master's state as records, the commands that change it, and the interface the HTTP
// layer and the views read it through.
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { AgentRegisteredWire } from '../api/internal.js'
import type { AttributeWire, FrameworkInfo, ResourceWire, SchedulerCall, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import type { Clock } from '../core/clock.js'
import type { Resources } from '../core/resources.js'
import type { Store } from '../store/store.js'

export interface MasterOptions {
  readonly store: Store
  readonly log: Logger
  readonly clock: Clock
  readonly hostname: string
  readonly ip: string
  readonly port: number
  readonly allocationIntervalMs: number
  /** 0 means offers never time out, as in Mesos without --offer_timeout. */
  readonly offerTimeoutMs: number
  readonly agentPingTimeoutMs: number
  readonly maxAgentPingTimeouts: number
  readonly heartbeatIntervalSeconds: number
  readonly roleWeights: Readonly<Record<string, number>>
  readonly flags: Readonly<Record<string, string>>
  /**
   * How long an agent of the registry has to re-register after a master restart, as Mesos'
   * --agent_reregister_timeout (default 10 minutes). Until then it is "recovered".
   */
  readonly agentReregisterTimeoutMs?: number
}

/** An agent of the registry that has not re-registered with this master (yet). */
export interface RecoveredAgent {
  id: string
  hostname: string
  ip: string
  port: number
  registeredAt: number
  /** The agent's total resources and attributes when it last registered (wire shapes). */
  resources?: ResourceWire[]
  attributes?: AttributeWire[]
}

export interface AgentRecord {
  id: string
  hostname: string
  ip: string
  port: number
  total: Resources
  attributes: AttributeWire[]
  registeredAt: number
  reregisteredAt?: number
  unreachableSince?: number
  missedPings: number
  version: string
}

export interface FrameworkRecord {
  id: string
  info: FrameworkInfo
  roles: string[]
  suppressedRoles: Set<string>
  refusals: Map<string, number>
  stream?: { res: ServerResponse; streamId: string; heartbeat: NodeJS.Timeout }
  failoverTimer?: NodeJS.Timeout
  registeredAt: number
  reregisteredAt?: number
  unregisteredAt?: number
}

export interface TaskRecord {
  taskId: string
  frameworkId: string
  agentId: string
  role: string
  info: TaskInfo
  resources: Resources
  state: string
  statuses: TaskStatusWire[]
  /** The uuid of the latest update not yet acknowledged by the framework. */
  pendingUuid?: string
}

export interface OfferRecord {
  id: string
  frameworkId: string
  agentId: string
  role: string
  resources: Resources
  createdAt: number
  timer?: NodeJS.Timeout
}

export interface AgentRegistration {
  agent_id?: string
  hostname: string
  ip: string
  port: number
  resources: Resources
  attributes: AttributeWire[]
  version?: string
  tasks: Array<{ framework_id: string; task_info: TaskInfo; state: string; status?: TaskStatusWire }>
}

/** Everything that changes the master's state. */
export type MasterCommand =
  | { type: 'agent-registered'; agent: AgentRecord }
  | { type: 'agent-unreachable'; agentId: string; at: number }
  | { type: 'framework-added'; framework: FrameworkRecord }
  | { type: 'framework-removed'; frameworkId: string }
  | { type: 'offer-created'; offer: OfferRecord }
  | { type: 'offer-removed'; offerId: string }
  | { type: 'task-added'; task: TaskRecord }
  | { type: 'task-status'; taskId: string; frameworkId: string; status: TaskStatusWire }
  | { type: 'task-removed'; taskId: string; frameworkId: string }

export type OperatorEvent = { type: string; [k: string]: unknown }

export interface Master {
  readonly id: string
  readonly startedAt: number
  readonly opts: MasterOptions
  readonly agents: ReadonlyMap<string, AgentRecord>
  readonly frameworks: ReadonlyMap<string, FrameworkRecord>
  readonly completedFrameworks: ReadonlyArray<FrameworkRecord>
  readonly tasks: ReadonlyMap<string, TaskRecord>
  readonly completedTasks: ReadonlyArray<TaskRecord>
  readonly offers: ReadonlyMap<string, OfferRecord>
  /** Agents of the registry that have not re-registered since this master started. */
  readonly recoveredAgents: ReadonlyMap<string, RecoveredAgent>
  start(): Promise<void>
  stop(): Promise<void>
  subscribe(call: SchedulerCall, res: ServerResponse, acceptsRecordIo: boolean): Promise<void>
  handleCall(call: SchedulerCall, streamId: string | undefined): Promise<void>
  registerAgent(reg: AgentRegistration): Promise<AgentRegisteredWire>
  agentStatusUpdate(agentId: string, frameworkId: string, status: TaskStatusWire): void
  agentUsed(agentId: string): Resources
  agentOffered(agentId: string): Resources
  masterInfo(): Record<string, unknown>
  onOperatorEvent(listener: (e: OperatorEvent) => void): () => void
  metrics(): Record<string, number>
}
