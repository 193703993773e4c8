// The cgroup v1 memory and cpu controllers of process tasks, as the Mesos cgroups isolators
// use them: a cgroup per task with its limits, torn down with whatever still runs in it, and
// read for OOM kills.
import { createHash } from 'node:crypto'
import { access, chown, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { RunAs } from './process-user.js'
import { CFS_PERIOD_US, cfsQuotaUs, errorMessage, sleep } from './shared.js'

/** The cgroup directories one task was given; either may be missing if that controller isn't usable. */
export interface TaskCgroups {
  readonly memory?: string
  readonly cpu?: string
}

/** cgroup directory names: readable, bounded, and unique even when sanitising merges two ids. */
export function cgroupName(taskId: string): string {
  const readable = taskId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 160)
  const hash = createHash('sha1').update(taskId).digest('hex').slice(0, 8)
  return `${readable}-${hash}`
}

export async function createCgroups(
  o: { cgroupRoot: string; taskId: string; cpus: number; memMb: number; runAs?: RunAs },
  log: Logger | undefined,
): Promise<TaskCgroups> {
  const name = cgroupName(o.taskId)
  const result: { memory?: string; cpu?: string } = {}

  const memory = path.join(o.cgroupRoot, 'memory', 'dromos', name)
  if (o.memMb > 0) {
    try {
      await makeCgroup(memory)
      const bytes = String(Math.floor(o.memMb * 1024 * 1024))
      await writeFile(path.join(memory, 'memory.limit_in_bytes'), bytes)
      // Without this the task could swap past its limit; kernels without swap accounting lack the file.
      await writeFile(path.join(memory, 'memory.memsw.limit_in_bytes'), bytes).catch(() => undefined)
      if (o.runAs) await chown(path.join(memory, 'cgroup.procs'), o.runAs.uid, o.runAs.gid)
      result.memory = memory
    } catch (err) {
      log?.warn({ err: errorMessage(err), cgroup: memory }, 'memory cgroup not usable; running the task without a memory limit')
      await rmdirRetry(memory).catch(() => undefined)
    }
  }

  const cpu = path.join(o.cgroupRoot, 'cpu', 'dromos', name)
  if (o.cpus > 0) {
    try {
      await makeCgroup(cpu)
      await writeFile(path.join(cpu, 'cpu.shares'), String(Math.max(2, Math.floor(o.cpus * 1024))))
      await writeFile(path.join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US)).catch(() => undefined)
      await writeFile(path.join(cpu, 'cpu.cfs_quota_us'), String(cfsQuotaUs(o.cpus))).catch(
        (err: unknown) => log?.warn({ err: errorMessage(err) }, 'cannot set a CFS quota; the task is limited by cpu.shares only'),
      )
      if (o.runAs) await chown(path.join(cpu, 'cgroup.procs'), o.runAs.uid, o.runAs.gid)
      result.cpu = cpu
    } catch (err) {
      log?.warn({ err: errorMessage(err), cgroup: cpu }, 'cpu cgroup not usable; running the task without a CPU limit')
      await rmdirRetry(cpu).catch(() => undefined)
    }
  }
  return result
}

async function makeCgroup(dir: string): Promise<void> {
  // A cgroup filesystem has its control files; a plain directory (no controller mounted) doesn't.
  const parent = path.dirname(path.dirname(dir))
  await access(path.join(parent, 'cgroup.procs'))
  await mkdir(dir, { recursive: true })
  await access(path.join(dir, 'cgroup.procs'))
}

export async function removeCgroups(cgroups: TaskCgroups, log: Logger | undefined): Promise<void> {
  for (const dir of [cgroups.memory, cgroups.cpu]) {
    if (!dir) continue
    try {
      await killCgroupMembers(dir)
      await rmdirRetry(dir)
    } catch (err) {
      log?.warn({ err: errorMessage(err), cgroup: dir }, 'cannot remove task cgroup')
    }
  }
}

/** Processes that left the task's process group still sit in its cgroup, and block rmdir. */
async function killCgroupMembers(dir: string): Promise<void> {
  const text = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const pid = Number(line)
    if (!Number.isInteger(pid) || pid <= 0) continue
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
}

async function rmdirRetry(dir: string): Promise<void> {
  // rmdir fails with EBUSY until the kernel has reaped the last member; that takes a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir)
      return
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      if (attempt >= 20) throw err
      if (attempt % 5 === 4) await killCgroupMembers(dir)
      await sleep(50)
    }
  }
}

export interface OomState {
  readonly oomKills: number
  readonly failcnt: number
  readonly maxUsageBytes: number | undefined
  readonly limitBytes: number | undefined
}

export async function readOomState(memoryCgroup: string): Promise<OomState> {
  const read = (file: string): Promise<string> => readFile(path.join(memoryCgroup, file), 'utf8').catch(() => '')
  const [control, failcnt, maxUsage, limit] = await Promise.all([
    read('memory.oom_control'),
    read('memory.failcnt'),
    read('memory.max_usage_in_bytes'),
    read('memory.limit_in_bytes'),
  ])
  const oomKills = Number(/^oom_kill\s+(\d+)/m.exec(control)?.[1] ?? 0)
  const num = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s.trim()))
  return { oomKills, failcnt: num(failcnt) ?? 0, maxUsageBytes: num(maxUsage), limitBytes: num(limit) }
}

/**
 * Decides after the fact whether memory was why the task died. Kernels without the oom_kill
 * counter leave only failcnt; with it, a SIGKILL (or a shell reporting 128+9) is taken as the OOM killer.
 */
export async function oomAfterExit(memoryCgroup: string, code: number | null, signal: NodeJS.Signals | null): Promise<string | undefined> {
  const oom = await readOomState(memoryCgroup)
  const diedOfKill = signal === 'SIGKILL' || code === 137
  if (oom.oomKills > 0 && (diedOfKill || code !== 0)) return oomMessageFor(memoryCgroup, oom)
  if (oom.oomKills === 0 && oom.failcnt > 0 && diedOfKill) return oomMessageFor(memoryCgroup, oom)
  return undefined
}

export function oomMessageFor(memoryCgroup: string, oom: OomState): string {
  const mib = (b: number | undefined): string => (b === undefined ? 'unknown' : `${Math.round(b / 1024 / 1024)} MiB`)
  return `Memory limit exceeded: Requested: ${mib(oom.limitBytes)}, Maximal used: ${mib(oom.maxUsageBytes)} (cgroup ${path.basename(memoryCgroup)})`
}

/** Whether tasks launched here would get cgroup limits; lets callers (and tests) say so up front. */
export async function cgroupsWritable(cgroupRoot = '/sys/fs/cgroup'): Promise<boolean> {
  const probe = path.join(cgroupRoot, 'memory', 'dromos', `probe-${process.pid}`)
  try {
    await makeCgroup(probe)
    await writeFile(path.join(probe, 'memory.limit_in_bytes'), String(64 * 1024 * 1024))
    return true
  } catch {
    return false
  } finally {
    await rmdir(probe).catch(() => undefined)
  }
}
