// Re-attaching to process tasks after an agent restart. Tasks run in their own sessions and
// outlive the agent; their stdio goes to files. Each task's run files say which process is
// its wrapper: a live one is watched until it goes, and the exit status it wrote says how the
// task ended, as Mesos recovers from its checkpoints.
import { writeFileSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { TaskCgroups } from './process-cgroups.js'
import type { TaskTable } from './process-supervise.js'
import { finish, newRunningTask, watchForOom } from './process-supervise.js'
import { readExitStatus, wrapperAlive } from './process-wrapper.js'
import type { ContainerEvent, RecoveredContainer } from './types.js'

/** How often a task recovered after a restart (not our child: no exit event) is looked for. */
const RECOVERED_POLL_MS = 250

/** What recover() reads back about a task: written at launch, removed when the task is gone. */
export interface RunMeta {
  readonly agentId: string
  readonly frameworkId: string
  readonly taskId: string
  readonly pid: number
  readonly cgroups: TaskCgroups
}

const metaFile = (runDir: string): string => path.join(runDir, 'meta.json')

/** Writes the task's meta.json synchronously, as launch needs it. */
export function writeRunMeta(runDir: string, meta: RunMeta): void {
  writeFileSync(metaFile(runDir), JSON.stringify(meta))
}

/** Finds the tasks of agentId below runRoot and watches each until it ends (at once for those that ended while the agent was down). */
export async function recoverTasks(
  tasks: TaskTable,
  o: {
    readonly runRoot: string
    readonly agentId: string
    readonly log: Logger | undefined
    readonly onEvent: (taskId: string, e: ContainerEvent) => void
  },
): Promise<RecoveredContainer[]> {
  const { runRoot, agentId, log, onEvent } = o
  const found: RecoveredContainer[] = []
  const dirs = await readdir(runRoot).catch(() => [] as string[])
  for (const name of dirs) {
    const runDir = path.join(runRoot, name)
    let meta: RunMeta
    try {
      meta = JSON.parse(await readFile(metaFile(runDir), 'utf8')) as RunMeta
    } catch {
      continue
    }
    if (meta.agentId !== agentId || tasks.has(meta.taskId) || !Number.isInteger(meta.pid) || meta.pid <= 1) continue
    const running = wrapperAlive(meta.pid, runDir)
    const task = newRunningTask({ taskId: meta.taskId, frameworkId: meta.frameworkId, runDir, pid: meta.pid, cgroups: meta.cgroups })
    tasks.set(meta.taskId, task)
    const tlog = log?.child({ taskId: meta.taskId })
    found.push({ taskId: meta.taskId, frameworkId: meta.frameworkId, containerId: `process-${meta.pid}`, running })
    const emit = (e: ContainerEvent): void => onEvent(meta.taskId, e)
    const ended = (killGroup: boolean): void => {
      const { code, signal } = readExitStatus(runDir)
      finish(tasks, { task, pid: meta.pid, code, signal, onEvent: emit, log: tlog, killGroup })
    }
    if (!running) {
      // Ended while the agent was down: reported once the agent has taken the list.
      setImmediate(() => ended(false))
      continue
    }
    if (task.cgroups.memory) watchForOom(tasks, { task, memoryCgroup: task.cgroups.memory, pid: meta.pid, log: tlog })
    const poll = (): void => {
      const t = setTimeout(() => {
        task.timers.delete(t)
        if (wrapperAlive(meta.pid, runDir)) poll()
        else ended(true)
      }, RECOVERED_POLL_MS)
      task.timers.add(t)
    }
    poll()
    tlog?.info({ pid: meta.pid }, 're-attached to a task that outlived the agent')
  }
  log?.info({ agentId, tasks: found.length }, 'recovered process tasks')
  return found
}
