// Watching a running process task until it ends: its OOM kills, the signals of kill(), and
// the one 'exited' event once its wrapper is gone, with its cgroups and run files cleaned up.
// Tasks launched here and tasks re-attached after an agent restart go through the same end.
import type { ChildProcess } from 'node:child_process'
import { rm } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { TaskCgroups } from './process-cgroups.js'
import { oomAfterExit, oomMessageFor, readOomState, removeCgroups } from './process-cgroups.js'
import { whenGone } from './shared.js'
import type { ContainerEvent } from './types.js'

/** How often a running task's memory cgroup is read for OOM kills. */
const OOM_POLL_MS = 250

export interface RunningTask {
  readonly taskId: string
  readonly frameworkId: string
  /** The task's run files (meta.json, exit_status). */
  readonly runDir: string
  child?: ChildProcess
  /** The wrapper's pid, also for tasks recovered after a restart (which have no child). */
  pid?: number
  cgroups: TaskCgroups
  /** Set by kill(): the exit that follows is reported as killed. */
  killRequested: boolean
  /** The shortest grace asked for by a kill() that came before there was a process to signal. */
  pendingKillGraceMs?: number
  /** Set when the memory cgroup's OOM killer fired and we destroyed the rest of the task. */
  oomMessage?: string
  /** Set once the task's wrapper is gone. */
  exited?: boolean
  readonly done: Promise<void>
  markDone(): void
  readonly timers: Set<NodeJS.Timeout>
}

/** The tasks of one process containerizer, by task id. */
export type TaskTable = Map<string, RunningTask>

export function newRunningTask(o: { taskId: string; frameworkId: string; runDir: string; cgroups: TaskCgroups; pid?: number }): RunningTask {
  const { done, settle } = whenGone()
  return { ...o, killRequested: false, done, markDone: settle, timers: new Set() }
}

interface Ending {
  readonly task: RunningTask
  readonly pid: number
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly onEvent: (e: ContainerEvent) => void
  readonly log: Logger | undefined
  /** False for a task that ended while the agent was down. */
  readonly killGroup?: boolean
}

/** Reports the end of a task whose wrapper is gone, once, after cleaning up after it. */
export function finish(tasks: TaskTable, o: Ending): void {
  end(tasks, o).catch((err: unknown) => o.log?.error({ err }, 'exit handling failed'))
}

async function end(tasks: TaskTable, o: Ending): Promise<void> {
  const { task, pid, code, signal, onEvent, log, killGroup = true } = o
  task.exited = true
  for (const t of task.timers) clearTimeout(t)
  task.timers.clear()
  // The command's leftovers die with it, as when Mesos destroys a container. A group whose
  // leader ended while the agent was down may carry a reused id by now: its cgroups serve.
  if (killGroup) signalGroup(pid, 'SIGKILL')

  let oomMessage = task.oomMessage
  if (!oomMessage && task.cgroups.memory) oomMessage = await oomAfterExit(task.cgroups.memory, code, signal)
  await removeCgroups(task.cgroups, log)

  const event = exitEvent({ code, signal, killRequested: task.killRequested, oomMessage })
  log?.info({ pid, exitCode: code, signal, killed: event.killed, oomKilled: event.oomKilled }, 'task exited')
  await rm(task.runDir, { recursive: true, force: true }).catch(() => undefined)
  tasks.delete(task.taskId)
  task.markDone()
  onEvent(event)
}

/** How a process task's end is reported: an OOM kill first, then a kill() asked for, then the command's own status. */
export function exitEvent(o: {
  code: number | null
  signal: NodeJS.Signals | null
  killRequested: boolean
  oomMessage: string | undefined
}): Extract<ContainerEvent, { type: 'exited' }> {
  const { code, signal, oomMessage } = o
  const oomKilled = oomMessage !== undefined
  const killed = o.killRequested && !oomKilled
  const message =
    oomMessage ??
    (killed
      ? `Task killed${signal ? ` by ${signal}` : ''}`
      : signal
        ? `Command terminated with signal ${signal}`
        : `Command exited with status ${code ?? 'unknown'}`)
  return { type: 'exited', exitCode: code, signal, killed, oomKilled, message }
}

/**
 * Mesos destroys the whole container at the first OOM kill instead of leaving a task that
 * lost one of its processes; polling the counter is the simplest way to notice from Node.
 */
export function watchForOom(
  tasks: TaskTable,
  o: { readonly task: RunningTask; readonly memoryCgroup: string; readonly pid: number; readonly log: Logger | undefined },
): void {
  const { task, memoryCgroup, pid, log } = o
  const poll = async (): Promise<void> => {
    const oom = await readOomState(memoryCgroup)
    if (!tasks.has(task.taskId) || task.exited) return
    if (oom.oomKills > 0) {
      task.oomMessage = oomMessageFor(memoryCgroup, oom)
      log?.warn({ pid }, 'task exceeded its memory limit; destroying it')
      signalGroup(pid, 'SIGKILL')
      return
    }
    schedule()
  }
  const schedule = (): void => {
    const t = setTimeout(() => {
      task.timers.delete(t)
      poll().catch((err: unknown) => log?.warn({ err }, 'cannot read memory.oom_control'))
    }, OOM_POLL_MS)
    t.unref()
    task.timers.add(t)
  }
  schedule()
}

/** SIGTERM to the task's process group, then SIGKILL after the grace period. */
export function terminate(task: RunningTask, o: { readonly pid: number; readonly gracePeriodMs: number }): void {
  signalGroup(o.pid, 'SIGTERM')
  const t = setTimeout(() => signalGroup(o.pid, 'SIGKILL'), Math.max(0, o.gracePeriodMs))
  task.timers.add(t)
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is gone already.
  }
}
