import { describe, expect, it } from 'vitest'
import { cpuacctUsage, dockerUsage, memoryUsage, parseFlatKeyed, procStatTimes } from './usage.js'

describe('container usage', () => {
  it('reads cgroup v1 memory.stat with the hierarchical totals, as Mesos does', () => {
    const stat = parseFlatKeyed('cache 100\nrss 200\nmapped_file 5\ntotal_cache 1000\ntotal_rss 2000\ntotal_mapped_file 50\ntotal_swap 0\ntotal_unevictable 7\n')
    expect(memoryUsage(stat, 4096)).toEqual({
      mem_total_bytes: 4096,
      mem_rss_bytes: 2000,
      mem_anon_bytes: 2000,
      mem_file_bytes: 1000,
      mem_cache_bytes: 1000,
      mem_mapped_file_bytes: 50,
      mem_swap_bytes: 0,
      mem_unevictable_bytes: 7,
    })
  })

  it('turns cpuacct.stat ticks into seconds', () => {
    expect(cpuacctUsage(parseFlatKeyed('user 250\nsystem 50\n'))).toEqual({ cpus_user_time_secs: 2.5, cpus_system_time_secs: 0.5 })
  })

  it('adds a process and its reaped children from /proc/<pid>/stat, whatever its name holds', () => {
    const line = '42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 30 10 5 2 20 0 1 0 100 1000 200'
    expect(procStatTimes(line)).toEqual({ user: 35, system: 12 })
  })

  it('reads the Engine stats of cgroup v1 and v2 hosts', () => {
    const cpu = { cpu_usage: { usage_in_usermode: 1_500_000_000, usage_in_kernelmode: 500_000_000 }, throttling_data: { periods: 10, throttled_periods: 2, throttled_time: 3_000_000_000 } }
    expect(dockerUsage({ cpu_stats: cpu, memory_stats: { usage: 9000, stats: { total_rss: 4000, rss: 4000, total_cache: 100 } }, pids_stats: { current: 3 } })).toMatchObject({
      cpus_user_time_secs: 1.5,
      cpus_system_time_secs: 0.5,
      cpus_nr_periods: 10,
      cpus_nr_throttled: 2,
      cpus_throttled_time_secs: 3,
      processes: 3,
      mem_total_bytes: 9000,
      mem_rss_bytes: 4000,
      mem_cache_bytes: 100,
    })
    expect(dockerUsage({ memory_stats: { usage: 9000, stats: { anon: 3000, file: 200, file_mapped: 10 } } })).toEqual({
      mem_total_bytes: 9000,
      mem_rss_bytes: 3000,
      mem_anon_bytes: 3000,
      mem_file_bytes: 200,
      mem_cache_bytes: 200,
      mem_mapped_file_bytes: 10,
    })
  })
})
