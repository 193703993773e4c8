// The agent's records and the commands that change them. Records are readonly outside
// state.ts: everything else reads them, and changes them only through `apply`.
import type { Logger } from 'pino'
import type { AttributeWire, FrameworkInfo, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import type { Clock } from '../core/clock.js'
import type { Resources } from '../core/resources.js'
import type { Store } from '../store/store.js'
import type { Containerizer } from './containerizers/types.js'

export const AGENT_VERSION = '1.11.0'

export interface AgentOptions {
  /** The masters' base URLs (`--master h1:5050,h2:5050`); the agent finds the leader among them. */
  readonly masters: readonly string[]
  /** Address the master uses to reach this agent. */
  readonly ip: string
  readonly port: number
  readonly hostname: string
  readonly workDir: string
  readonly resources: Resources
  readonly attributes: AttributeWire[]
  readonly containerizers: readonly Containerizer[]
  readonly store: Store
  readonly log: Logger
  readonly clock: Clock
  readonly statusUpdateRetryMs: number
  readonly statusUpdateMaxRetryMs: number
  /** The agent's command-line flags as `/flags` and `/state` show them (Mesos' snake_case names, string values). */
  readonly flags?: Readonly<Record<string, string>>
}

export interface AgentTask {
  readonly frameworkId: string
  readonly info: Readonly<TaskInfo>
  readonly frameworkCapabilities: readonly string[]
  readonly sandbox: string
  readonly containerizer: Containerizer['name']
  readonly hostPorts: readonly number[]
  readonly state: string
  readonly latest?: Readonly<TaskStatusWire>
  /**
   * How many status updates the agent has made for this task: the last one's `seq`. Agent-internal
   * (Mesos' TaskStatus has no such field), checkpointed so that it goes on counting after a restart.
   */
  readonly updateSeq: number
  readonly containerId?: string
  /** The container's addresses, as it reported them when it started (not checkpointed). */
  readonly ipAddresses?: readonly string[]
  /** Not checkpointed: a kill in flight is not resumed after a restart. */
  readonly killRequested: boolean
}

/** A task the agent no longer tracks: it ended and its terminal update was acknowledged. */
export interface CompletedTask {
  readonly frameworkId: string
  readonly info: Readonly<TaskInfo>
  readonly sandbox: string
  readonly state: string
  readonly latest?: Readonly<TaskStatusWire>
}

export interface PendingUpdate {
  readonly frameworkId: string
  readonly status: Readonly<TaskStatusWire>
  /**
   * The update's place among its task's updates, 1 for the first. Never sent (the wire has only
   * the uuid); logged with the uuid, so that a test can tell whether a framework missed one.
   * 0 for an update queued before updates were numbered.
   */
  readonly seq: number
}

/** A task's unacknowledged status updates, oldest first: only the head is in flight. */
export interface UpdateQueue {
  readonly updates: readonly PendingUpdate[]
  /** Sends of the head so far, which sets the backoff of the next one. */
  readonly attempt: number
}

/** As Mesos' agent: completed executors kept per framework, and frameworks kept once idle. */
export const MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK = 150
export const MAX_COMPLETED_FRAMEWORKS = 50

// ---- the checkpoint, as the store holds it ----
// Keys: `agent`, `frameworks/<fid>`, `tasks/<fid>/<tid>` (as launched), `task-progress/<fid>/<tid>`
// (what the task reached since, over the launch's, with its updates awaiting acknowledgement),
// `completed/<fid>`. Earlier agents kept a task's awaited updates under `updates/<fid>/<tid>`;
// they are read from there, and moved into the task's progress when they next change.
// Work directories outlive upgrades: change these shapes only compatibly.

export interface TaskCheckpoint {
  readonly frameworkId: string
  readonly info: TaskInfo
  readonly frameworkCapabilities: readonly string[]
  readonly sandbox: string
  readonly containerizer: Containerizer['name']
  readonly hostPorts: readonly number[]
  readonly state: string
  readonly latest?: TaskStatusWire
  /** Missing in a checkpoint written before updates were numbered: counting starts over. */
  readonly updateSeq?: number
  readonly containerId?: string
}

/**
 * What a task reached since its launch; a task's checkpoint is its launch's with this over it.
 * `pending`: its updates awaiting acknowledgement, oldest first (none: none).
 */
export type TaskProgressCheckpoint = Pick<TaskCheckpoint, 'state' | 'latest' | 'updateSeq' | 'containerId'> & { readonly pending?: readonly PendingUpdateCheckpoint[] }

/** A queued update as checkpointed: one written before updates were numbered has no seq. */
export type PendingUpdateCheckpoint = Omit<PendingUpdate, 'seq'> & { readonly seq?: number }

export interface CompletedCheckpoint {
  /** Orders the frameworks' lists by when they last changed. */
  readonly seq: number
  readonly tasks: readonly CompletedTask[]
}

/** Everything the store holds for the agent, as `load` reads it. */
export interface AgentCheckpoint {
  readonly agentId?: string
  readonly frameworks: ReadonlyArray<readonly [string, FrameworkInfo]>
  readonly tasks: readonly TaskCheckpoint[]
  readonly completed: readonly CompletedCheckpoint[]
  readonly updates: ReadonlyArray<readonly [string, readonly PendingUpdateCheckpoint[]]>
}

export type AgentCommand =
  /** The checkpoint read at start; nothing is written back. */
  | {
      readonly type: 'checkpoint-loaded'
      readonly checkpoint: AgentCheckpoint
      /** The task keys whose queues were read from `updates/<key>`, the layout of earlier agents: that key goes when the queue next changes. */
      readonly legacyQueues?: readonly string[]
    }
  /** The master accepted a (re-)registration. */
  | { readonly type: 'registered'; readonly agentId: string; readonly masterId: string; readonly pingIntervalMs: number }
  | { readonly type: 'master-pinged' }
  /** The FrameworkInfo a framework launched a task with. */
  | { readonly type: 'framework-info'; readonly frameworkId: string; readonly info: FrameworkInfo }
  /** The master removed the framework: its updates are dropped, as nobody will acknowledge them. */
  | { readonly type: 'framework-removed'; readonly frameworkId: string }
  | { readonly type: 'task-launched'; readonly task: Omit<AgentTask, 'killRequested' | 'state' | 'latest' | 'updateSeq' | 'containerId' | 'ipAddresses'> }
  | { readonly type: 'container-started'; readonly frameworkId: string; readonly taskId: string; readonly containerId: string; readonly ipAddresses: readonly string[] }
  /** A container found again after a restart. */
  | { readonly type: 'container-recovered'; readonly frameworkId: string; readonly taskId: string; readonly containerId: string }
  /**
   * A new status of a task. It is queued for the master unless the framework was removed,
   * in which case a terminal task is completed at once.
   */
  | { readonly type: 'task-status'; readonly frameworkId: string; readonly status: TaskStatusWire }
  /** The task failed its health check: its latest status says unhealthy until the next one. */
  | { readonly type: 'task-unhealthy'; readonly frameworkId: string; readonly taskId: string }
  | { readonly type: 'task-kill-requested'; readonly frameworkId: string; readonly taskId: string }
  /** Acknowledges the head of the task's queue if uuid is its; a terminal task then completes once its queue is empty. */
  | { readonly type: 'update-acknowledged'; readonly frameworkId: string; readonly taskId: string; readonly uuid: string }
  | { readonly type: 'update-sent'; readonly frameworkId: string; readonly taskId: string }
  /** Every queue's backoff starts over (after re-registration, when the heads are sent again). */
  | { readonly type: 'update-backoff-reset' }

export const taskKey = (frameworkId: string, taskId: string): string => `${frameworkId}/${taskId}`
