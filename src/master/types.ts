// The master's state as records, the commands that change it, and the interface the HTTP
// layer and the views read it through.
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { AgentRegisteredWire, StatusUpdateWire, TaskResultWire } from '../api/internal.js'
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
  readonly id: string
  readonly hostname: string
  readonly ip: string
  readonly port: number
  readonly registeredAt: number
  /** The agent's total resources and attributes when it last registered (wire shapes). */
  readonly resources?: ResourceWire[]
  readonly attributes?: AttributeWire[]
  /** When a master marked it unreachable (ms): a new leader takes it for unreachable at once. */
  readonly unreachableAt?: number
}

// The records are read-only outside src/master/state.ts: only its `apply` changes them.

export interface AgentRecord {
  readonly id: string
  readonly hostname: string
  readonly ip: string
  readonly port: number
  readonly total: Resources
  readonly attributes: readonly AttributeWire[]
  readonly registeredAt: number
  readonly reregisteredAt?: number
  readonly unreachableSince?: number
  readonly missedPings: number
  readonly version: string
}

/**
 * A framework refused these resources of an agent for a role (a DECLINE, or what an ACCEPT left
 * unused). As Mesos's RefusedOfferFilter, it holds until `until` only while the refused resources
 * still contain everything the agent has free: resources freed since are offered at once.
 */
export interface Refusal {
  readonly role: string
  readonly resources: Resources
  /** Epoch ms. */
  readonly until: number
}

export interface FrameworkRecord {
  readonly id: string
  readonly info: FrameworkInfo
  readonly roles: readonly string[]
  readonly suppressedRoles: ReadonlySet<string>
  /** Agent id → what the framework refused of that agent, per role (Mesos's offer filters). */
  readonly refusals: ReadonlyMap<string, readonly Refusal[]>
  /** Set while the framework has a SUBSCRIBE stream open; the socket itself is the shell's. */
  readonly stream?: { readonly streamId: string }
  readonly registeredAt: number
  readonly reregisteredAt?: number
  readonly unregisteredAt?: number
}

export interface TaskRecord {
  readonly taskId: string
  readonly frameworkId: string
  readonly agentId: string
  readonly role: string
  readonly info: TaskInfo
  readonly resources: Resources
  readonly state: string
  readonly statuses: readonly TaskStatusWire[]
  /** The uuid of the latest update not yet acknowledged by the framework. */
  readonly pendingUuid?: string
  /**
   * The task's state on its agent when that is ahead of `state` (the state of the updates the
   * framework has been sent, which reconciliation reports). Resources follow this one.
   */
  readonly latestState?: string
}

export interface OfferRecord {
  readonly id: string
  readonly frameworkId: string
  readonly agentId: string
  readonly role: string
  readonly resources: Resources
  readonly createdAt: number
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
  /** The agent process and its attempt number (see AgentRegistrationSchema): older attempts are refused. */
  attempt?: { run: string; seq: number }
}

/**
 * Everything that changes the master's state. Commands are plain data; the time of a change
 * is not in the command but passed to `apply` beside it, so that applying the same commands
 * at the same times gives the same state.
 */
export type MasterCommand =
  /** Agents of the registry, read from the store when the master starts. */
  | { type: 'agents-recovered'; agents: readonly RecoveredAgent[] }
  /** A recovered agent that did not re-register in time: marked unreachable in the registry, as Mesos does. */
  | { type: 'recovered-agent-expired'; agentId: string }
  /** An agent registered (no agent_id) or re-registered: it is active again, with these resources. */
  | {
      type: 'agent-registered'
      agentId: string
      reregistered: boolean
      hostname: string
      ip: string
      port: number
      total: Resources
      attributes: readonly AttributeWire[]
      version: string
    }
  | { type: 'agent-ping-answered'; agentId: string }
  | { type: 'agent-ping-missed'; agentId: string }
  | { type: 'agent-unreachable'; agentId: string }
  /** A framework of the store, known again after a master restart but not connected. */
  | { type: 'framework-recovered'; frameworkId: string; info: FrameworkInfo }
  /** A SUBSCRIBE: a new framework, a re-subscription or a failover to a new stream. */
  | { type: 'framework-subscribed'; frameworkId: string; info: FrameworkInfo; resubscribed: boolean; suppressedRoles: readonly string[] }
  /** The framework's SUBSCRIBE stream is open: offers and updates can reach it. */
  | { type: 'framework-connected'; frameworkId: string; streamId: string }
  | { type: 'framework-disconnected'; frameworkId: string }
  | { type: 'framework-updated'; frameworkId: string; info: FrameworkInfo }
  | { type: 'framework-removed'; frameworkId: string }
  | { type: 'refusal-added'; frameworkId: string; agentId: string; role: string; resources: Resources; refuseSeconds: number }
  | { type: 'roles-suppressed'; frameworkId: string; roles: readonly string[] }
  /** Unsuppresses the roles and, as Mesos' REVIVE, clears the framework's refusals for those roles. */
  | { type: 'roles-revived'; frameworkId: string; roles: readonly string[] }
  | { type: 'offer-created'; offer: Omit<OfferRecord, 'createdAt'> }
  | { type: 'offer-removed'; offerId: string }
  | { type: 'task-added'; task: TaskRecord }
  | { type: 'task-status'; taskId: string; frameworkId: string; status: TaskStatusWire; latestState?: string }
  /** The state an agent reports for a task when it re-registers, without a status of it. */
  | { type: 'task-state-reported'; taskId: string; frameworkId: string; state: string }
  | { type: 'task-acknowledged'; taskId: string; frameworkId: string; uuid: string }
  | { type: 'task-removed'; taskId: string; frameworkId: string }

export type OperatorEvent = { type: string; [k: string]: unknown }

/** The master's state as readers see it. */
export interface MasterViews {
  readonly agents: ReadonlyMap<string, AgentRecord>
  readonly frameworks: ReadonlyMap<string, FrameworkRecord>
  readonly completedFrameworks: ReadonlyArray<FrameworkRecord>
  /** Keyed by taskKey(frameworkId, taskId). */
  readonly tasks: ReadonlyMap<string, TaskRecord>
  readonly completedTasks: ReadonlyArray<TaskRecord>
  readonly offers: ReadonlyMap<string, OfferRecord>
  /** Agents of the registry that have not re-registered since this master started. */
  readonly recoveredAgents: ReadonlyMap<string, RecoveredAgent>
  /**
   * Agents of the registry marked unreachable and not registered with this master: those that
   * did not re-register in time, and those an earlier master had marked so.
   */
  readonly unreachableAgents: ReadonlyMap<string, RecoveredAgent>
  // What follows is kept up to date as the state changes: each costs what the one agent or
  // framework holds, never a scan of the cluster's tasks or offers.
  /** What the agent's tasks that have not ended (on the agent) use. */
  agentUsed(agentId: string): Resources
  /** What the outstanding offers of the agent hold. */
  agentOffered(agentId: string): Resources
  /** What the framework's tasks that have not ended use, per role. */
  frameworkUsed(frameworkId: string): ReadonlyMap<string, Resources>
  /** What the framework's outstanding offers hold, per role. */
  frameworkOffered(frameworkId: string): ReadonlyMap<string, Resources>
  /** The tasks on the agent, ended or not, as long as the master keeps them. */
  tasksOnAgent(agentId: string): TaskRecord[]
  offersOnAgent(agentId: string): OfferRecord[]
  tasksOfFramework(frameworkId: string): TaskRecord[]
  offersOfFramework(frameworkId: string): OfferRecord[]
  /** How many of the tasks the master keeps are in this state. */
  taskCount(state: string): number
}

export interface Master extends MasterViews {
  readonly id: string
  readonly startedAt: number
  readonly opts: MasterOptions
  start(): Promise<void>
  stop(): Promise<void>
  subscribe(call: SchedulerCall, res: ServerResponse, acceptsRecordIo: boolean): Promise<void>
  handleCall(call: SchedulerCall, streamId: string | undefined): Promise<void>
  registerAgent(reg: AgentRegistration): Promise<AgentRegisteredWire>
  agentStatusUpdates(agentId: string, updates: readonly StatusUpdateWire[]): TaskResultWire[]
  masterInfo(): Record<string, unknown>
  onOperatorEvent(listener: (e: OperatorEvent) => void): () => void
  metrics(): Record<string, number>
}
