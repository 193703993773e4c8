import { describe, expect, it } from 'vitest'
import type { InstanceForStats } from './app-info.js'
import { AppEmbed, GroupEmbed, resolveAppEmbeds, resolveGroupEmbeds, taskCounts, taskStatsByVersion } from './app-info.js'

describe('embed parameters as Marathon resolves them', () => {
  it('takes app., apps., group.apps. or no prefix, and ignores unknown words', () => {
    for (const p of ['', 'app.', 'apps.', 'group.apps.']) {
      expect(resolveAppEmbeds([`${p}counts`])).toEqual(new Set([AppEmbed.Counts]))
      expect(resolveAppEmbeds([`${p}taskStats`, `${p}readiness`])).toEqual(new Set([AppEmbed.TaskStats, AppEmbed.Readiness]))
    }
    expect(resolveAppEmbeds(['apps.bogus', 'x.tasks'])).toEqual(new Set())
  })

  it('brings the deployments with tasks, and tasks, last failure and deployments with failures', () => {
    expect(resolveAppEmbeds(['apps.tasks'])).toEqual(new Set([AppEmbed.Tasks, AppEmbed.Deployments]))
    expect(resolveAppEmbeds(['app.failures'])).toEqual(new Set([AppEmbed.Tasks, AppEmbed.LastTaskFailure, AppEmbed.Deployments]))
    expect(resolveAppEmbeds(['apps.lastTaskFailure'])).toEqual(new Set([AppEmbed.LastTaskFailure]))
  })

  it('embeds apps, pods and groups in a group by default; only group.apps.* reach its apps', () => {
    expect(resolveGroupEmbeds([])).toEqual({ apps: new Set(), group: new Set([GroupEmbed.Apps, GroupEmbed.Pods, GroupEmbed.Groups]) })
    expect(resolveGroupEmbeds(['group.apps', 'group.apps.tasks', 'apps.counts'])).toEqual({
      apps: new Set([AppEmbed.Tasks, AppEmbed.Deployments]),
      group: new Set([GroupEmbed.Apps]),
    })
    expect(resolveGroupEmbeds(['group.groups'])).toEqual({ apps: new Set(), group: new Set([GroupEmbed.Groups]) })
  })
})

describe('task statistics', () => {
  const t0 = Date.parse('2024-01-01T00:00:00.000Z')
  const iso = (s: number): string => new Date(t0 + s * 1000).toISOString()
  const inst = (version: number, over: Partial<InstanceForStats> = {}): InstanceForStats => ({ version: iso(version), condition: 'Running', health: [], ...over })

  it('counts staged, running, healthy (every check alive) and unhealthy (any failing)', () => {
    const counts = taskCounts([inst(0, { condition: 'Staging' }), inst(0, { health: [true, true] }), inst(0, { health: [true, false] }), inst(0)])
    expect(counts).toEqual({ staged: 1, running: 3, healthy: 1, unhealthy: 1 })
  })

  it('splits by the latest scaling and configuration, leaves out empty groups, and measures life times from startedAt', () => {
    const versionInfo = { lastScalingAt: iso(20), lastConfigChangeAt: iso(10) }
    const instances = [inst(0, { startedAt: iso(0) }), inst(10, { startedAt: iso(60) }), inst(20, { startedAt: iso(90) }), inst(20, { condition: 'Staging' })]
    const s = taskStatsByVersion(versionInfo, instances, t0 + 100_000)
    expect(Object.keys(s)).toEqual(['startedAfterLastScaling', 'withLatestConfig', 'withOutdatedConfig', 'totalSummary'])
    expect(s.startedAfterLastScaling).toEqual({ stats: { counts: { staged: 1, running: 1, healthy: 0, unhealthy: 0 }, lifeTime: { averageSeconds: 10, medianSeconds: 10 } } })
    expect(s.withLatestConfig!.stats.counts.running).toBe(2)
    expect(s.withOutdatedConfig!.stats.lifeTime).toEqual({ averageSeconds: 100, medianSeconds: 100 })
    expect(s.totalSummary!.stats.lifeTime).toEqual({ averageSeconds: (100 + 40 + 10) / 3, medianSeconds: 40 })
    expect(taskStatsByVersion(versionInfo, [inst(20)], t0)).toEqual({
      startedAfterLastScaling: { stats: { counts: { staged: 0, running: 1, healthy: 0, unhealthy: 0 } } },
      withLatestConfig: { stats: { counts: { staged: 0, running: 1, healthy: 0, unhealthy: 0 } } },
      totalSummary: { stats: { counts: { staged: 0, running: 1, healthy: 0, unhealthy: 0 } } },
    })
  })
})
