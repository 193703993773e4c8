// Containerizers run one task each and report what happens to it. The agent owns task
// state and status updates; a containerizer only starts, watches and stops containers.
import type { TaskInfo } from '../../api/mesos.js'
import type { ContainerUsage } from './usage.js'

export interface LaunchRequest {
  readonly agentId: string
  readonly frameworkId: string
  readonly taskInfo: TaskInfo
  /** Absolute path of the task's sandbox directory; it exists when launch is called. */
  readonly sandboxDir: string
  /** Environment for the task: CommandInfo's variables plus what the agent injects (PORT0, HOST, …). */
  readonly env: Readonly<Record<string, string>>
  /** Host ports the task was given, in the order of its port resources. */
  readonly hostPorts: readonly number[]
  /** Limits derived from the task's resources. */
  readonly cpus: number
  readonly memMb: number
}

/** What a containerizer reports about a launched task. */
export type ContainerEvent =
  | { readonly type: 'running'; readonly containerId: string; readonly ipAddresses: readonly string[] }
  | {
      readonly type: 'exited'
      readonly exitCode: number | null
      readonly signal: string | null
      /** True when the task was stopped by kill(). */
      readonly killed: boolean
      /** Set when the container was stopped for exceeding its memory limit. */
      readonly oomKilled: boolean
      readonly message: string
    }

/** A launch that could not get as far as a running container (bad image, pull failure…). */
export class LaunchFailedError extends Error {
  constructor(
    message: string,
    readonly reason: string = 'REASON_CONTAINER_LAUNCH_FAILED',
  ) {
    super(message)
  }
}

export interface RecoveredContainer {
  readonly taskId: string
  readonly frameworkId: string
  readonly containerId: string
  readonly running: boolean
}

export interface Containerizer {
  readonly name: 'docker' | 'process' | 'hollow'
  /** True if this containerizer runs the task (DOCKER containers for docker, the rest for process). */
  supports(task: TaskInfo): boolean
  /**
   * Prepares and starts the task. Resolves once it runs (after emitting 'running'), or
   * rejects with LaunchFailedError. 'exited' is emitted exactly once, later.
   */
  launch(req: LaunchRequest, onEvent: (e: ContainerEvent) => void): Promise<void>
  /** SIGTERM, then SIGKILL after gracePeriodMs. Resolves when the task is gone. Idempotent. */
  kill(taskId: string, gracePeriodMs: number): Promise<void>
  /** Finds containers that this agent started before it restarted, and re-attaches watchers. */
  recover(agentId: string, onEvent: (taskId: string, e: ContainerEvent) => void): Promise<RecoveredContainer[]>
  /** Stops every container this agent runs (used by `dromos up` on exit unless --keep-tasks). */
  destroyAll(agentId: string): Promise<void>
  /**
   * True when the agent cannot reach the task's network (hollow tasks have none): every check
   * the agent runs for the task, HTTP and TCP too, then goes to runInContainer.
   */
  readonly probesInContainer?: boolean
  /**
   * What the task's container uses now (CPU times, memory), for `/monitor/statistics`.
   * Undefined when the task has no running container here.
   */
  usage?(taskId: string): Promise<ContainerUsage | undefined>
  /**
   * Runs a command inside the task's container, next to the task (COMMAND health checks of
   * Docker tasks run there, as in Mesos). `env` adds to the container's environment. Resolves
   * with the exit code and the tail of the output; rejects when the task has no container or
   * the command did not end within timeoutMs (it is then killed where possible).
   */
  runInContainer?(taskId: string, cmd: readonly string[], timeoutMs: number, env?: Readonly<Record<string, string>>): Promise<{ exitCode: number; output: string }>
}
