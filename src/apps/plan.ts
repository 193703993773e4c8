// The deployment plan: a pure function of (current apps, target apps), as Marathon's
// DeploymentPlan(original, target). The runner carries the steps out one after the other.
import type { AppDefinition, DeploymentAction, DeploymentPlan, DeploymentStep } from './types.js'

/** The checks the framework runs itself, against the task's ports: changed, they need no restart. */
const FRAMEWORK_RUN_CHECKS: ReadonlySet<string> = new Set(['HTTP', 'HTTPS', 'TCP'])

/**
 * What of an app its running instances depend on: everything but `instances`, the version
 * fields, and what dromos changes under running tasks (beyond Marathon, which restarts for
 * any change): the labels (the lb and dns read them from the app), the upgrade strategy, and
 * the health checks while all of them are the framework's own. Mesos runs the others from
 * the TaskInfo a task was launched with, so a change to those restarts.
 */
function restartRelevant(a: AppConfig): Record<string, unknown> {
  const { instances: _i, labels: _l, upgradeStrategy: _u, healthChecks, ...rest } = a as AppDefinition
  const { version: _v, versionInfo: _vi, ...config } = rest
  return healthChecks.every((h) => FRAMEWORK_RUN_CHECKS.has(h.protocol)) ? config : { ...config, healthChecks }
}

/** JSON with the keys of every object in order, so that two equal definitions read the same. */
function stableJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stableJson).join(',')}]`
  if (x !== null && typeof x === 'object') {
    const o = x as Record<string, unknown>
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`
  }
  return JSON.stringify(x)
}

/**
 * True when two versions of an app differ in what their instances run: a change that restarts
 * the app and moves versionInfo.lastConfigChangeAt (Marathon's VersionInfo).
 */
export function configDiffers(current: AppConfig, target: AppConfig): boolean {
  return stableJson(restartRelevant(current)) !== stableJson(restartRelevant(target))
}

/** True when the health checks of two versions differ (in place, when configDiffers is not). */
export function healthChecksDiffer(current: AppConfig, target: AppConfig): boolean {
  return stableJson(current.healthChecks) !== stableJson(target.healthChecks)
}

/** An app definition with or without its version fields. */
type AppConfig = Omit<AppDefinition, 'version' | 'versionInfo'>

/** What differs between two versions of an app, ignoring the version fields themselves. */
export function changeOf(current: AppDefinition, target: AppDefinition): 'none' | 'scale' | 'config' {
  if (configDiffers(current, target)) return 'config'
  return current.instances !== target.instances ? 'scale' : 'none'
}

export interface PlanInput {
  readonly id: string
  readonly version: string
  readonly current: ReadonlyMap<string, AppDefinition>
  /** The apps after the change; an id absent here is removed. Only ids in `affected` are considered. */
  readonly target: ReadonlyMap<string, AppDefinition>
  /** Ids the change touches (apps added, changed or removed). */
  readonly affected: readonly string[]
  /** Apps grouped in dependency levels: every app's dependencies are in earlier levels. */
  readonly levels: readonly (readonly string[])[]
  /** Forces a restart of these apps even when their definitions did not change. */
  readonly restart?: readonly string[]
}

export function planDeployment(input: PlanInput): DeploymentPlan {
  const steps: DeploymentStep[] = []
  const stops: string[] = []
  const starts: string[] = []
  const actionOf = new Map<string, DeploymentAction>()
  for (const id of input.affected) {
    const cur = input.current.get(id)
    const tgt = input.target.get(id)
    if (cur && !tgt) stops.push(id)
    else if (!cur && tgt) {
      starts.push(id)
      actionOf.set(id, 'ScaleApplication')
    } else if (cur && tgt) {
      const change = input.restart?.includes(id) ? 'config' : changeOf(cur, tgt)
      if (change === 'config') actionOf.set(id, 'RestartApplication')
      else if (change === 'scale') actionOf.set(id, 'ScaleApplication')
    }
  }
  // Dependants stop before what they depend on: the last level stops first.
  if (stops.length > 0) {
    const rank = new Map<string, number>()
    input.levels.forEach((level, i) => level.forEach((id) => rank.set(id, i)))
    const byRank = new Map<number, string[]>()
    for (const id of stops) {
      const r = rank.get(id) ?? 0
      byRank.set(r, [...(byRank.get(r) ?? []), id])
    }
    for (const r of [...byRank.keys()].sort((a, b) => b - a)) {
      steps.push({ actions: byRank.get(r)!.sort().map((app) => ({ action: 'StopApplication', app })) })
    }
  }
  if (starts.length > 0) steps.push({ actions: starts.sort().map((app) => ({ action: 'StartApplication', app })) })
  for (const level of input.levels) {
    const actions = [...level]
      .sort()
      .flatMap((app) => {
        const action = actionOf.get(app)
        return action ? [{ action, app }] : []
      })
    if (actions.length > 0) steps.push({ actions })
  }
  // Apps the caller left out of every level still get their step, after the others.
  const placed = new Set(input.levels.flat())
  const rest = [...actionOf.keys()].filter((id) => !placed.has(id)).sort()
  if (rest.length > 0) steps.push({ actions: rest.map((app) => ({ action: actionOf.get(app)!, app })) })

  const target: Record<string, AppDefinition | null> = {}
  const original: Record<string, AppDefinition | null> = {}
  for (const id of input.affected) {
    target[id] = input.target.get(id) ?? null
    original[id] = input.current.get(id) ?? null
  }
  return { id: input.id, version: input.version, affectedApps: [...input.affected].sort(), steps, target, original }
}

/** The index of the step that carries out `appId`'s action (its last one), or -1. */
export function stepOf(plan: DeploymentPlan, appId: string): number {
  let found = -1
  plan.steps.forEach((s, i) => {
    if (s.actions.some((a) => a.app === appId)) found = i
  })
  return found
}
