// What a running container uses, as the measured part of a Mesos `ResourceStatistics`
// (include/mesos/mesos.proto): from the Docker Engine's stats for containers, and from the
// task's cgroup v1 files for process tasks, the way Mesos' cgroups isolators read them.
// Limits and the timestamp are the agent's to add; these are only the measurements.
import { readFile } from 'node:fs/promises'
import path from 'node:path'

/** Measured fields of a ResourceStatistics; a field is absent when it could not be read. */
export interface ContainerUsage {
  processes?: number
  cpus_user_time_secs?: number
  cpus_system_time_secs?: number
  cpus_nr_periods?: number
  cpus_nr_throttled?: number
  cpus_throttled_time_secs?: number
  mem_total_bytes?: number
  mem_rss_bytes?: number
  mem_anon_bytes?: number
  mem_file_bytes?: number
  mem_cache_bytes?: number
  mem_mapped_file_bytes?: number
  mem_swap_bytes?: number
  mem_unevictable_bytes?: number
}

/** Linux reports cpuacct.stat and /proc/<pid>/stat times in USER_HZ ticks, 100 a second on every architecture Node runs on. */
const USER_HZ = 100
const NS_PER_SEC = 1e9
/** The page size of x86-64 and of arm64 kernels as distributions build them. */
const PAGE_SIZE = 4096

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat) as numbers. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/)
    if (k && v !== undefined && /^-?\d+$/.test(v)) out.set(k, Number(v))
  }
  return out
}

function set<K extends keyof ContainerUsage>(u: ContainerUsage, k: K, v: number | undefined): void {
  if (v !== undefined && Number.isFinite(v)) u[k] = v
}

/** cpuacct.stat (`user`, `system` in ticks) into seconds. */
export function cpuacctUsage(stat: ReadonlyMap<string, number>): ContainerUsage {
  const u: ContainerUsage = {}
  set(u, 'cpus_user_time_secs', div(stat.get('user'), USER_HZ))
  set(u, 'cpus_system_time_secs', div(stat.get('system'), USER_HZ))
  return u
}

/** cpu.stat of the cpu controller: CFS periods and throttling (throttled_time in ns). */
export function cpuThrottlingUsage(stat: ReadonlyMap<string, number>): ContainerUsage {
  const u: ContainerUsage = {}
  set(u, 'cpus_nr_periods', stat.get('nr_periods'))
  set(u, 'cpus_nr_throttled', stat.get('nr_throttled'))
  set(u, 'cpus_throttled_time_secs', div(stat.get('throttled_time'), NS_PER_SEC))
  return u
}

/**
 * memory.stat of a cgroup v1 memory controller, with the hierarchical `total_*` counters as
 * Mesos' memory subsystem reads them; `usage` is memory.usage_in_bytes.
 */
export function memoryUsage(stat: ReadonlyMap<string, number>, usage?: number): ContainerUsage {
  const u: ContainerUsage = {}
  const pick = (name: string) => stat.get(`total_${name}`) ?? stat.get(name)
  set(u, 'mem_total_bytes', usage)
  set(u, 'mem_rss_bytes', pick('rss'))
  set(u, 'mem_anon_bytes', pick('rss'))
  set(u, 'mem_file_bytes', pick('cache'))
  set(u, 'mem_cache_bytes', pick('cache'))
  set(u, 'mem_mapped_file_bytes', pick('mapped_file'))
  set(u, 'mem_swap_bytes', pick('swap'))
  set(u, 'mem_unevictable_bytes', pick('unevictable'))
  return u
}

const div = (v: number | undefined, by: number): number | undefined => (v === undefined ? undefined : v / by)

/** The parts of the Engine's `GET /containers/{id}/stats` this reads (cgroup v1 and v2 hosts). */
export interface DockerStatsJson {
  cpu_stats?: {
    cpu_usage?: { usage_in_usermode?: number; usage_in_kernelmode?: number }
    throttling_data?: { periods?: number; throttled_periods?: number; throttled_time?: number }
  }
  memory_stats?: { usage?: number; stats?: Record<string, number> }
  pids_stats?: { current?: number }
}

/** A container's usage from the Engine's stats; its times are in nanoseconds. */
export function dockerUsage(s: DockerStatsJson): ContainerUsage {
  const u: ContainerUsage = {}
  const cpu = s.cpu_stats
  set(u, 'cpus_user_time_secs', div(cpu?.cpu_usage?.usage_in_usermode, NS_PER_SEC))
  set(u, 'cpus_system_time_secs', div(cpu?.cpu_usage?.usage_in_kernelmode, NS_PER_SEC))
  set(u, 'cpus_nr_periods', cpu?.throttling_data?.periods)
  set(u, 'cpus_nr_throttled', cpu?.throttling_data?.throttled_periods)
  set(u, 'cpus_throttled_time_secs', div(cpu?.throttling_data?.throttled_time, NS_PER_SEC))
  set(u, 'processes', s.pids_stats?.current)
  const stats = s.memory_stats?.stats
  if (stats && 'anon' in stats) {
    // cgroup v2 names: anon is the resident anonymous memory, file the page cache.
    set(u, 'mem_total_bytes', s.memory_stats?.usage)
    set(u, 'mem_rss_bytes', stats.anon)
    set(u, 'mem_anon_bytes', stats.anon)
    set(u, 'mem_file_bytes', stats.file)
    set(u, 'mem_cache_bytes', stats.file)
    set(u, 'mem_mapped_file_bytes', stats.file_mapped)
    set(u, 'mem_unevictable_bytes', stats.unevictable)
  } else if (stats) {
    Object.assign(u, memoryUsage(new Map(Object.entries(stats)), s.memory_stats?.usage))
  }
  return u
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch {
    return undefined
  }
}

/** utime + stime of one process and of its waited-for children, in ticks (fields 14 to 17 of /proc/<pid>/stat). */
export function procStatTimes(text: string): { user: number; system: number } | undefined {
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const n = (i: number) => Number(fields[i - 3])
  const user = n(14) + n(16)
  const system = n(15) + n(17)
  return Number.isFinite(user) && Number.isFinite(system) ? { user, system } : undefined
}

/**
 * A process task's usage from its cgroups: memory from the memory controller, throttling
 * from cpu.stat, CPU times from cpuacct.stat where cpuacct shares the cpu controller's
 * hierarchy, else summed over the task's live processes from /proc.
 */
export async function cgroupUsage(dirs: { memory?: string; cpu?: string; pid?: number }): Promise<ContainerUsage> {
  const u: ContainerUsage = {}
  if (dirs.memory) {
    const stat = await readOptional(path.join(dirs.memory, 'memory.stat'))
    const usage = await readOptional(path.join(dirs.memory, 'memory.usage_in_bytes'))
    if (stat) Object.assign(u, memoryUsage(parseFlatKeyed(stat), usage === undefined ? undefined : Number(usage.trim())))
  }
  const cpuacct = dirs.cpu ? await readOptional(path.join(dirs.cpu, 'cpuacct.stat')) : undefined
  if (dirs.cpu) {
    const stat = await readOptional(path.join(dirs.cpu, 'cpu.stat'))
    if (stat) Object.assign(u, cpuThrottlingUsage(parseFlatKeyed(stat)))
  }
  const pids = await taskPids(dirs)
  if (pids.length > 0) u.processes = pids.length
  if (cpuacct) Object.assign(u, cpuacctUsage(parseFlatKeyed(cpuacct)))
  else {
    let user = 0
    let system = 0
    for (const pid of pids) {
      const text = await readOptional(`/proc/${pid}/stat`)
      const times = text ? procStatTimes(text) : undefined
      if (!times) continue
      user += times.user
      system += times.system
    }
    if (pids.length > 0) {
      u.cpus_user_time_secs = user / USER_HZ
      u.cpus_system_time_secs = system / USER_HZ
    }
  }
  if (u.mem_rss_bytes === undefined && pids.length > 0) {
    // No memory cgroup: the resident set of the task's processes (statm's second field, in pages).
    let pages = 0
    for (const pid of pids) pages += Number((await readOptional(`/proc/${pid}/statm`))?.split(' ')[1] ?? 0) || 0
    u.mem_rss_bytes = pages * PAGE_SIZE
  }
  return u
}

async function taskPids(dirs: { memory?: string; cpu?: string; pid?: number }): Promise<number[]> {
  for (const dir of [dirs.memory, dirs.cpu]) {
    if (!dir) continue
    const procs = await readOptional(path.join(dir, 'cgroup.procs'))
    if (procs !== undefined) return procs.split('\n').filter(Boolean).map(Number)
  }
  return dirs.pid !== undefined ? [dirs.pid] : []
}
