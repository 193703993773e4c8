// Runs tasks without a DOCKER container as plain host processes, the way the Mesos
// containerizer does with its posix launcher and cgroups isolators:
//
// - each task is its own session and process group, so kill() reaches its children;
// - memory and CPU are limited with cgroup v1 when the hierarchy is writable. The child
//   joins its cgroups itself, before it execs the command, so not one instruction of the
//   task runs unlimited (process-cgroups.ts);
// - stdout and stderr go to files in the sandbox, where the sandbox browser finds them;
// - a small shell waits for the command and writes its exit status to the task's run
//   directory (process-wrapper.ts), so that an agent restarted meanwhile re-attaches to the
//   task (it outlives the agent in its own session) and still learns how it ended, as Mesos
//   does with checkpointing (process-recovery.ts).
//
// This file prepares and spawns a task; process-supervise.ts watches it until it ends.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { chown, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Logger } from 'pino'
import type { TaskInfo } from '../../api/mesos.js'
import type { FetcherSettings } from '../fetcher.js'
import { cgroupName, createCgroups, removeCgroups } from './process-cgroups.js'
import type { RunMeta } from './process-recovery.js'
import { recoverTasks, writeRunMeta } from './process-recovery.js'
import type { TaskTable } from './process-supervise.js'
import { finish, newRunningTask, terminate, watchForOom } from './process-supervise.js'
import type { RunAs } from './process-user.js'
import { chownTree, lookupUser } from './process-user.js'
import { commandArgv, exitStatusFile, wrap } from './process-wrapper.js'
import { errorMessage, fetchIntoSandbox, isDockerTask, sandboxLogFile } from './shared.js'
import type { ContainerEvent, Containerizer, LaunchRequest, RecoveredContainer } from './types.js'
import { LaunchFailedError } from './types.js'
import { cgroupUsage } from './usage.js'

export { cgroupName, cgroupsWritable } from './process-cgroups.js'

export interface ProcessContainerizerOptions {
  readonly log?: Logger
  /** Where the cgroup v1 controllers are mounted (memory/, cpu/ below it). */
  readonly cgroupRoot?: string
  /** Grace used by destroyAll(). */
  readonly destroyGraceMs?: number
  /**
   * Where each task's run files go (what recover() needs, and the exit status its wrapper
   * writes). The agent gives a directory of its work dir, so that they outlive a restart.
   */
  readonly runDir?: string
  /** The agent's fetcher cache. */
  readonly fetcher?: FetcherSettings
}

const DEFAULT_PATH = '/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin'

export function createProcessContainerizer(opts: ProcessContainerizerOptions = {}): Containerizer {
  const log = opts.log?.child({ component: 'process-containerizer' })
  const cgroupRoot = opts.cgroupRoot ?? '/sys/fs/cgroup'
  const destroyGraceMs = opts.destroyGraceMs ?? 2_000
  const runRoot = opts.runDir ?? path.join(tmpdir(), `dromos-process-${process.getuid?.() ?? 0}`)
  const tasks: TaskTable = new Map()

  async function launch(req: LaunchRequest, onEvent: (e: ContainerEvent) => void): Promise<void> {
    const taskId = req.taskInfo.task_id.value
    const command = req.taskInfo.command
    if (!command?.value) throw new LaunchFailedError(`Task '${taskId}' has no command to run`, 'REASON_TASK_INVALID')
    if (tasks.has(taskId)) throw new LaunchFailedError(`Task '${taskId}' is already running on this agent`, 'REASON_TASK_INVALID')

    const runDir = path.join(runRoot, cgroupName(taskId))
    const task = newRunningTask({ taskId, frameworkId: req.frameworkId, runDir, cgroups: {} })
    tasks.set(taskId, task)
    const tlog = log?.child({ taskId })

    // Everything before spawn can fail; each failure undoes what was set up and reports a launch failure.
    const abandon = async (err: LaunchFailedError): Promise<never> => {
      tasks.delete(taskId)
      await removeCgroups(task.cgroups, tlog)
      await rm(runDir, { recursive: true, force: true }).catch(() => undefined)
      task.markDone()
      throw err
    }

    let runAs: RunAs | undefined
    try {
      runAs = command.user ? await lookupUser(command.user) : undefined
    } catch (err) {
      return abandon(new LaunchFailedError(errorMessage(err), 'REASON_CONTAINER_LAUNCH_FAILED'))
    }

    try {
      await fetchIntoSandbox({ uris: command.uris, sandboxDir: req.sandboxDir, fetcher: opts.fetcher, log: tlog })
    } catch (err) {
      return abandon(err as LaunchFailedError)
    }
    if (task.killRequested) return abandon(new LaunchFailedError(`Task '${taskId}' was killed before it started`, 'REASON_TASK_KILLED_DURING_LAUNCH'))

    // Mesos hands the sandbox to the task's user, so the task can write next to its files.
    if (runAs) {
      try {
        await chownTree(req.sandboxDir, runAs)
      } catch (err) {
        return abandon(new LaunchFailedError(`Cannot give the sandbox to user '${runAs.name}': ${errorMessage(err)}`))
      }
    }

    try {
      // A leftover of an earlier task with this id must not pass for this one's exit status.
      await rm(runDir, { recursive: true, force: true })
      // The agent's own directory (the task may pass through it, not change it): the task's
      // user owns only the exit status file its wrapper writes.
      await mkdir(runRoot, { recursive: true, mode: 0o711 })
      await mkdir(runDir, { mode: 0o711 })
      await writeFile(exitStatusFile(runDir), '', { mode: 0o644 })
      if (runAs) await chown(exitStatusFile(runDir), runAs.uid, runAs.gid)
    } catch (err) {
      return abandon(new LaunchFailedError(`Cannot create the task's run directory ${runDir}: ${errorMessage(err)}`))
    }

    task.cgroups = await createCgroups({ cgroupRoot, taskId, cpus: req.cpus, memMb: req.memMb, ...(runAs ? { runAs } : {}) }, tlog)

    const env: Record<string, string> = { ...req.env }
    env.PATH ??= process.env.PATH ?? DEFAULT_PATH
    if (runAs) {
      env.USER ??= runAs.name
      env.LOGNAME ??= runAs.name
    }

    const commandLine = commandArgv(command)
    const plan = wrap(commandLine, task.cgroups, exitStatusFile(runDir))

    let stdoutFd: number | undefined
    let stderrFd: number | undefined
    let child: ChildProcess
    try {
      stdoutFd = openSync(sandboxLogFile(req.sandboxDir, 'stdout'), 'a')
      stderrFd = openSync(sandboxLogFile(req.sandboxDir, 'stderr'), 'a')
      child = spawn(plan.file, plan.args, {
        argv0: plan.argv0,
        cwd: req.sandboxDir,
        env,
        // A new session makes the task a process-group leader, so signals reach its children.
        detached: true,
        stdio: ['ignore', stdoutFd, stderrFd],
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      })
      task.child = child
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve)
        child.once('error', reject)
      })
    } catch (err) {
      return abandon(new LaunchFailedError(`Cannot start '${commandLine.argv.join(' ')}': ${errorMessage(err)}`))
    } finally {
      // The child holds its own copies; ours would only leak.
      if (stdoutFd !== undefined) closeSync(stdoutFd)
      if (stderrFd !== undefined) closeSync(stderrFd)
    }

    const pid = child.pid as number
    task.pid = pid
    tlog?.info({ pid, cgroups: task.cgroups }, 'task started')
    const meta: RunMeta = { agentId: req.agentId, frameworkId: req.frameworkId, taskId, pid, cgroups: task.cgroups }
    // Written synchronously: the exit listener below must be in place before the next turn of
    // the event loop, or a command that ends at once would exit unseen.
    try {
      writeRunMeta(runDir, meta)
    } catch (err) {
      tlog?.warn({ err: errorMessage(err) }, 'cannot write the task run file; it will not be recovered after an agent restart')
    }

    if (task.cgroups.memory) watchForOom(tasks, { task, memoryCgroup: task.cgroups.memory, pid, log: tlog })

    child.once('exit', (code, signal) => finish(tasks, { task, pid, code, signal, onEvent, log: tlog }))

    onEvent({ type: 'running', containerId: `process-${pid}`, ipAddresses: ['127.0.0.1'] })
    // kill() may have come while we set up cgroups or spawned; honour it now that there is a process.
    if (task.pendingKillGraceMs !== undefined) terminate(task, { pid, gracePeriodMs: task.pendingKillGraceMs })
  }

  async function kill(taskId: string, gracePeriodMs: number): Promise<void> {
    const task = tasks.get(taskId)
    if (!task) return
    task.killRequested = true
    const pid = task.pid
    if (pid !== undefined) terminate(task, { pid, gracePeriodMs })
    // Without a pid the task is still being prepared: launch() gives up if it is still
    // fetching, or signals the process as soon as it has one.
    else task.pendingKillGraceMs = Math.min(task.pendingKillGraceMs ?? Infinity, gracePeriodMs)
    await task.done
  }

  return {
    name: 'process',
    supports: (task: TaskInfo) => !isDockerTask(task),
    launch,
    kill,
    recover: (agentId: string, onEvent: (taskId: string, e: ContainerEvent) => void): Promise<RecoveredContainer[]> =>
      recoverTasks(tasks, { runRoot, agentId, log, onEvent }),
    async usage(taskId: string) {
      const t = tasks.get(taskId)
      if (!t || t.exited || t.pid === undefined) return undefined
      return cgroupUsage({ ...t.cgroups, pid: t.pid })
    },
    async destroyAll(_agentId: string): Promise<void> {
      await Promise.all([...tasks.keys()].map((id) => kill(id, destroyGraceMs)))
    },
  }
}
