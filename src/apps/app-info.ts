// What Marathon embeds in an app (its AppInfo) and how it reads the embed parameters, as pure
// functions: the HTTP layer picks the embeds, these decide what they mean and compute the task
// statistics.
import type { Condition } from './types.js'
import { LAUNCHING } from './types.js'

export const AppEmbed = {
  Counts: 'counts',
  Tasks: 'tasks',
  Deployments: 'deployments',
  Readiness: 'readiness',
  LastTaskFailure: 'lastTaskFailure',
  TaskStats: 'taskStats',
} as const
export type AppEmbed = (typeof AppEmbed)[keyof typeof AppEmbed]

export const GroupEmbed = { Apps: 'group.apps', Groups: 'group.groups', Pods: 'group.pods' } as const
export type GroupEmbed = (typeof GroupEmbed)[keyof typeof GroupEmbed]

const APP_PREFIXES = ['group.apps.', 'apps.', 'app.'] as const

/** What each embed word asks for; `tasks` and `failures` bring the deployments with them, as in Marathon. */
const APP_EMBED_WORDS: Readonly<Record<string, readonly AppEmbed[]>> = {
  tasks: [AppEmbed.Tasks, AppEmbed.Deployments],
  failures: [AppEmbed.Tasks, AppEmbed.LastTaskFailure, AppEmbed.Deployments],
  deployments: [AppEmbed.Deployments],
  readiness: [AppEmbed.Readiness],
  lastTaskFailure: [AppEmbed.LastTaskFailure],
  counts: [AppEmbed.Counts],
  taskStats: [AppEmbed.TaskStats],
}

/**
 * Marathon's InfoEmbedResolver.resolveApp: any of the prefixes `group.apps.`, `apps.` and
 * `app.`, or none, names the same embed; unknown words are ignored.
 */
export function resolveAppEmbeds(values: Iterable<string>): Set<AppEmbed> {
  const out = new Set<AppEmbed>()
  for (const v of values) {
    const prefix = APP_PREFIXES.find((p) => v.startsWith(p)) ?? ''
    for (const e of APP_EMBED_WORDS[v.slice(prefix.length)] ?? []) out.add(e)
  }
  return out
}

const GROUP_EMBED_WORDS: ReadonlySet<string> = new Set(Object.values(GroupEmbed))

/**
 * Marathon's GroupsResource: without any embed a group shows its apps, pods and groups; with
 * some, the `group.apps.*` ones choose what its apps embed and `group.apps`, `group.groups`
 * and `group.pods` what the group shows.
 */
export function resolveGroupEmbeds(values: readonly string[]): { apps: Set<AppEmbed>; group: Set<GroupEmbed> } {
  const given = values.length === 0 ? [GroupEmbed.Apps, GroupEmbed.Pods, GroupEmbed.Groups] : values
  const appWords = given.filter((v) => v.startsWith('group.apps.'))
  const group = new Set(given.filter((v): v is GroupEmbed => GROUP_EMBED_WORDS.has(v)))
  return { apps: resolveAppEmbeds(appWords), group }
}

/** One instance as the statistics see it. */
export interface InstanceForStats {
  readonly version: string
  readonly condition: Condition
  /** Per health check: alive or not; empty when there are none or no result yet. */
  readonly health: readonly boolean[]
  readonly startedAt?: string
}

export interface TaskCountsJson {
  staged: number
  running: number
  healthy: number
  unhealthy: number
}

export interface TaskStatsJson {
  stats: { counts: TaskCountsJson; lifeTime?: { averageSeconds: number; medianSeconds: number } }
}

export interface TaskStatsByVersionJson {
  startedAfterLastScaling?: TaskStatsJson
  withLatestConfig?: TaskStatsJson
  withOutdatedConfig?: TaskStatsJson
  totalSummary?: TaskStatsJson
}


/** Marathon's TaskCounts: healthy needs every check alive, unhealthy any one failing. */
export function taskCounts(instances: readonly InstanceForStats[]): TaskCountsJson {
  return {
    staged: instances.filter((i) => LAUNCHING.has(i.condition)).length,
    running: instances.filter((i) => i.condition === 'Running').length,
    healthy: instances.filter((i) => i.health.length > 0 && i.health.every(Boolean)).length,
    unhealthy: instances.filter((i) => i.health.some((h) => !h)).length,
  }
}

function statsOf(instances: readonly InstanceForStats[], now: number): TaskStatsJson | undefined {
  if (instances.length === 0) return undefined
  const lifeTimes = instances
    .flatMap((i) => (i.startedAt ? [(now - Date.parse(i.startedAt)) / 1000] : []))
    .sort((a, b) => a - b)
  const counts = taskCounts(instances)
  if (lifeTimes.length === 0) return { stats: { counts } }
  const averageSeconds = lifeTimes.reduce((s, x) => s + x, 0) / lifeTimes.length
  return { stats: { counts, lifeTime: { averageSeconds, medianSeconds: lifeTimes[Math.floor(lifeTimes.length / 2)]! } } }
}

/**
 * Marathon's TaskStatsByVersion: the instances of the latest scaling and of the latest
 * configuration, those of older configurations, and all of them; a group without instances
 * is left out. Life times count from startedAt to `now` (epoch ms).
 */
export function taskStatsByVersion(
  versionInfo: { readonly lastScalingAt: string; readonly lastConfigChangeAt: string },
  instances: readonly InstanceForStats[],
  now: number,
): TaskStatsByVersionJson {
  const at = (v: string): number => Date.parse(v)
  const scaling = at(versionInfo.lastScalingAt)
  const config = at(versionInfo.lastConfigChangeAt)
  const groups: Array<[keyof TaskStatsByVersionJson, TaskStatsJson | undefined]> = [
    ['startedAfterLastScaling', statsOf(instances.filter((i) => at(i.version) >= scaling), now)],
    ['withLatestConfig', statsOf(instances.filter((i) => at(i.version) >= config), now)],
    ['withOutdatedConfig', statsOf(instances.filter((i) => at(i.version) < config), now)],
    ['totalSummary', statsOf(instances, now)],
  ]
  const out: TaskStatsByVersionJson = {}
  for (const [k, v] of groups) if (v) out[k] = v
  return out
}
