// Where a task runs and what it is given: its sandbox directory, its host ports and the
// environment the agent injects, as a Mesos agent lays them out.
import { mkdir, rename, symlink, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Logger } from 'pino'
import type { TaskInfo } from '../api/mesos.js'
import { resourcesFromWire } from '../api/mesos.js'
import { newUuid } from '../core/ids.js'

/** The directory of a new run of the task, as a Mesos agent lays it out. */
export function sandboxPath(o: { workDir: string; agentId: string | undefined; frameworkId: string; taskId: string }): string {
  return join(o.workDir, 'slaves', o.agentId ?? 'unregistered', 'frameworks', o.frameworkId, 'executors', o.taskId, 'runs', newUuid())
}

/**
 * Creates a run's directory and points runs/latest at it. Off the event loop: an agent given
 * thousands of tasks at once (or a process of many hollow agents) would otherwise block on the
 * file system for seconds, long enough for the master's calls to it to time out.
 */
export async function makeSandbox(sandbox: string, log: Logger): Promise<void> {
  await mkdir(sandbox, { recursive: true })
  await linkLatestRun(sandbox, log)
}

/**
 * Points runs/latest at the run being launched, as Mesos does for its executor directories.
 * The link is relative, so the work directory may move; one there already is replaced in one rename.
 */
async function linkLatestRun(sandbox: string, log: Logger): Promise<void> {
  const runs = dirname(sandbox)
  const latest = join(runs, 'latest')
  const tmp = join(runs, `.latest-${newUuid()}`)
  try {
    // The first run of a task (task ids are seldom reused) has no link to replace.
    try {
      await symlink(basename(sandbox), latest)
      return
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    await symlink(basename(sandbox), tmp)
    await rename(tmp, latest)
  } catch (e) {
    log.warn({ err: e, sandbox }, 'could not link runs/latest')
    await unlink(tmp).catch(() => undefined)
  }
}

export function portsOf(task: Readonly<TaskInfo>): number[] {
  const ports: number[] = []
  for (const r of resourcesFromWire(task.resources).ranges.ports ?? []) for (let p = r.begin; p <= r.end; p++) ports.push(p)
  return ports
}

export function taskEnv(o: {
  frameworkId: string
  task: Readonly<TaskInfo>
  agentId: string | undefined
  hostname: string
  sandbox: string
  hostPorts: readonly number[]
  docker: boolean
}): Record<string, string> {
  const env: Record<string, string> = {
    MESOS_TASK_ID: o.task.task_id.value,
    MESOS_FRAMEWORK_ID: o.frameworkId,
    MESOS_AGENT_ID: o.agentId ?? '',
    MESOS_SANDBOX: o.docker ? '/mnt/mesos/sandbox' : o.sandbox,
    HOST: o.hostname,
  }
  o.hostPorts.forEach((p, i) => (env[`PORT${i}`] = String(p)))
  if (o.hostPorts.length > 0) {
    env.PORT = String(o.hostPorts[0])
    env.PORTS = o.hostPorts.join(',')
  }
  for (const v of o.task.command?.environment?.variables ?? []) env[v.name] = v.value
  return env
}

export function gracePeriodOf(task: Readonly<TaskInfo>): number {
  const ns = task.kill_policy?.grace_period?.nanoseconds
  return ns !== undefined ? Math.floor(ns / 1e6) : 3000
}

/**
 * How much of `buf` to send as text: all of it, less a UTF-8 sequence cut off at its end, so
 * that a reader who advances its offset by the bytes of the text it got lands on a character.
 * A buffer that is only such a fragment is sent whole (it is no text to keep whole).
 */
export function wholeUtf8Length(buf: Uint8Array): number {
  // A sequence is at most 4 bytes: look back at most 3 bytes for its lead byte.
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back]!
    if ((b & 0xc0) === 0x80) continue
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
    const cut = need > back ? buf.length - back : buf.length
    return cut === 0 ? buf.length : cut
  }
  return buf.length
}
