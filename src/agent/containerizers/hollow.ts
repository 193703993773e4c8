// The hollow containerizer: tasks that "run" without a container or a process, for scale
// benchmarks (as Kubernetes' kubemark runs hollow kubelets). Everything around it is the real
// agent: registration, status updates with acknowledgements and retries, checkpointing, pings.
// A task is running after a configurable delay, ends only when killed, and answers the checks
// the agent runs for it (Mesos-run HTTP, TCP and COMMAND checks) healthy after another delay.
// Nothing survives the agent process: after a restart its tasks are not found and are reported
// FAILED, as a Mesos agent reports the containers it cannot recover.
// Not for correctness tests of the docker or process paths: they keep the real containerizers.
import type { Logger } from 'pino'
import type { TaskInfo } from '../../api/mesos.js'
import type { ContainerEvent, Containerizer, LaunchRequest, RecoveredContainer } from './types.js'
import { LaunchFailedError } from './types.js'
import type { ContainerUsage } from './usage.js'

/** A delay in milliseconds drawn uniformly from [min, max]. */
export interface DelayRange {
  readonly min: number
  readonly max: number
}

export interface HollowContainerizerOptions {
  /** From launch to 'running' (default 0-10 ms). */
  readonly startMs?: DelayRange
  /** How long each check of a task takes to come back healthy (default 0 ms). */
  readonly checkMs?: DelayRange
  /** Returns a number in [0, 1); injected so that runs can be repeated. */
  readonly random?: () => number
  readonly now?: () => number
  readonly log?: Logger
}

interface HollowTask {
  readonly frameworkId: string
  readonly cpus: number
  readonly memMb: number
  readonly onEvent: (e: ContainerEvent) => void
  startedAt?: number
  exited: boolean
}

export const DEFAULT_HOLLOW_START_MS: DelayRange = { min: 0, max: 10 }

/** "5" or "0-10" (milliseconds) as a range; throws on anything else. */
export function parseDelayRange(text: string): DelayRange {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?$/.exec(text)
  if (!m) throw new Error(`'${text}' is not a delay in ms ("5") or a range ("0-10")`)
  const min = Number(m[1])
  const max = m[2] === undefined ? min : Number(m[2])
  if (max < min) throw new Error(`'${text}': the range's end is below its start`)
  return { min, max }
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function createHollowContainerizer(opts: HollowContainerizerOptions = {}): Containerizer {
  const startMs = opts.startMs ?? DEFAULT_HOLLOW_START_MS
  const checkMs = opts.checkMs ?? { min: 0, max: 0 }
  const random = opts.random ?? Math.random
  const now = opts.now ?? Date.now
  const log = opts.log?.child({ component: 'hollow-containerizer' })
  const tasks = new Map<string, HollowTask>()
  const draw = (r: DelayRange): number => r.min + (r.max - r.min) * random()

  function exit(taskId: string, t: HollowTask, message: string): void {
    if (t.exited) return
    t.exited = true
    tasks.delete(taskId)
    t.onEvent({ type: 'exited', exitCode: null, signal: 'SIGTERM', killed: true, oomKilled: false, message })
  }

  async function launch(req: LaunchRequest, onEvent: (e: ContainerEvent) => void): Promise<void> {
    const taskId = req.taskInfo.task_id.value
    if (tasks.has(taskId)) throw new LaunchFailedError(`Task '${taskId}' is already running on this agent`, 'REASON_TASK_INVALID')
    const t: HollowTask = { frameworkId: req.frameworkId, cpus: req.cpus, memMb: req.memMb, onEvent, exited: false }
    tasks.set(taskId, t)
    await wait(draw(startMs))
    // Killed while starting: the agent kills it again once launch returns, and kill() reports it.
    if (t.exited) return
    t.startedAt = now()
    onEvent({ type: 'running', containerId: `hollow-${taskId}`, ipAddresses: [] })
  }

  async function kill(taskId: string, _gracePeriodMs: number): Promise<void> {
    const t = tasks.get(taskId)
    if (t) exit(taskId, t, 'Task killed')
  }

  return {
    name: 'hollow',
    supports: (_task: TaskInfo) => true,
    probesInContainer: true,
    launch,
    kill,
    async recover(agentId: string): Promise<RecoveredContainer[]> {
      log?.info({ agentId }, 'hollow tasks do not outlive the agent process: none to recover')
      return []
    },
    async destroyAll(_agentId: string): Promise<void> {
      for (const [taskId, t] of [...tasks]) exit(taskId, t, 'Task destroyed')
    },
    async usage(taskId: string): Promise<ContainerUsage | undefined> {
      const t = tasks.get(taskId)
      if (!t || t.startedAt === undefined) return undefined
      // A steady tenth of its CPU limit and a quarter of its memory limit: plausible, and cheap.
      const cpuSecs = ((now() - t.startedAt) / 1000) * t.cpus * 0.1
      return { processes: 1, cpus_user_time_secs: cpuSecs, cpus_system_time_secs: 0, mem_rss_bytes: Math.round(t.memMb * 1024 * 1024 * 0.25) }
    },
    async runInContainer(taskId: string, _cmd: readonly string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
      const t = tasks.get(taskId)
      if (!t || t.startedAt === undefined) throw new Error(`Task '${taskId}' has no running container`)
      const ms = draw(checkMs)
      if (ms >= timeoutMs) {
        await wait(timeoutMs)
        throw new Error(`timed out after ${timeoutMs} ms`)
      }
      await wait(ms)
      if (t.exited) throw new Error(`Task '${taskId}' has no running container`)
      return { exitCode: 0, output: '' }
    },
  }
}
