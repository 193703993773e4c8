// What to do for one app, derived from scratch on every pass: compare the target with the
// instances and return launches and kills. Pure and safe to run twice: the same state gives
// the same answer, and acting on it moves the state towards the target.
import type { AppDefinition, Instance } from './types.js'
import { Condition } from './types.js'

const TERMINAL: ReadonlySet<string> = new Set([Condition.Killed, Condition.Finished, Condition.Failed, Condition.Error, Condition.Gone, Condition.Dropped, Condition.Unknown])

export function isTerminalCondition(c: string): boolean {
  return TERMINAL.has(c)
}

/** Counts towards the app's instances: wanted, not ended, not written off as unreachable. */
export function isAlive(i: Instance): boolean {
  return i.goal === 'Running' && !TERMINAL.has(i.condition) && i.condition !== Condition.UnreachableInactive && i.condition !== Condition.Killing
}

/** Serves traffic: running, and healthy and ready where the app checks for that. */
export function isHealthyReady(app: AppDefinition, i: Instance): boolean {
  if (!isAlive(i) || i.condition !== Condition.Running) return false
  if (app.healthChecks.length > 0 && i.healthy !== true) return false
  if (app.readinessChecks.length > 0 && i.ready !== true) return false
  return true
}

export interface AppDecision {
  /** New instances of the target version to start. */
  readonly launch: number
  readonly kill: ReadonlyArray<{ readonly instanceId: string; readonly reason: string }>
  /** Unreachable instances whose inactiveAfterSeconds passed: replaced from now on. */
  readonly inactivate: readonly string[]
  /** Unreachable instances to forget (expungeAfterSeconds passed, or the app is stopping). */
  readonly expunge: readonly string[]
  /** The app is at its target: N healthy, ready instances of the target version and nothing else. */
  readonly complete: boolean
}

/** Order in which instances are given up: not yet serving first, then by killSelection. */
function killOrder(app: AppDefinition, list: readonly Instance[]): Instance[] {
  const rank = (i: Instance): number => (isHealthyReady(app, i) ? 1 : 0)
  return [...list].sort((a, b) => {
    const r = rank(a) - rank(b)
    if (r !== 0) return r
    const t = a.stagedAt.localeCompare(b.stagedAt)
    return app.killSelection === 'YOUNGEST_FIRST' ? -t : t
  })
}

export function decideApp(input: { target: AppDefinition | null; instances: readonly Instance[]; nowMs: number }): AppDecision {
  const { target, instances, nowMs } = input
  const inactivate: string[] = []
  const expunge: string[] = []
  const since = (i: Instance): number => (i.unreachableSince ? nowMs - Date.parse(i.unreachableSince) : 0)

  if (!target) {
    const kill = instances
      .filter((i) => i.goal === 'Running' && !TERMINAL.has(i.condition) && i.condition !== Condition.Unreachable && i.condition !== Condition.UnreachableInactive)
      .map((i) => ({ instanceId: i.instanceId, reason: 'app deleted' }))
    for (const i of instances) if (i.condition === Condition.Unreachable || i.condition === Condition.UnreachableInactive) expunge.push(i.instanceId)
    const remaining = instances.filter((i) => !TERMINAL.has(i.condition) && !expunge.includes(i.instanceId))
    return { launch: 0, kill, inactivate, expunge, complete: remaining.length === 0 }
  }

  const strategy = target.unreachableStrategy
  for (const i of instances) {
    if (strategy === 'disabled') break
    if (i.condition === Condition.Unreachable && since(i) >= strategy.inactiveAfterSeconds * 1000) inactivate.push(i.instanceId)
    if ((i.condition === Condition.Unreachable || i.condition === Condition.UnreachableInactive) && since(i) >= strategy.expungeAfterSeconds * 1000) {
      expunge.push(i.instanceId)
    }
  }
  const effective = instances.map((i) => (inactivate.includes(i.instanceId) ? { ...i, condition: Condition.UnreachableInactive } : i))
  const alive = effective.filter(isAlive)
  const cfg = target.versionInfo.lastConfigChangeAt
  const current = alive.filter((i) => i.configVersion === cfg)
  const old = alive.filter((i) => i.configVersion !== cfg)
  const n = target.instances
  const kill: Array<{ instanceId: string; reason: string }> = []

  if (old.length === 0) {
    if (current.length > n) {
      for (const i of killOrder(target, current).slice(0, current.length - n)) kill.push({ instanceId: i.instanceId, reason: 'scaling down' })
    }
    const launch = Math.max(0, n - current.length)
    // Done once the instances given up have really ended, as Marathon waits for kills.
    const leaving = effective.filter((i) => !isAlive(i) && !TERMINAL.has(i.condition) && i.condition !== Condition.UnreachableInactive)
    const complete = current.length === n && leaving.length === 0 && current.every((i) => isHealthyReady(target, i))
    return { launch, kill, inactivate, expunge, complete }
  }

  // A rolling replacement, bounded by the upgrade strategy.
  const { minHealthy, maxCapacity } = restartBounds(target, alive.length)
  const launch = Math.max(0, Math.min(n - current.length, maxCapacity - alive.length))
  const healthy = alive.filter((i) => isHealthyReady(target, i) || (old.includes(i) && isOldServing(i))).length
  const oldNotServing = old.filter((i) => !isOldServing(i))
  const oldServing = killOrder(target, old.filter(isOldServing))
  for (const i of oldNotServing) kill.push({ instanceId: i.instanceId, reason: 'replaced by a new version' })
  // Old instances beyond what the new version still lacks are not needed for capacity.
  let killable = Math.max(0, healthy - minHealthy)
  for (const i of oldServing) {
    if (killable <= 0) break
    kill.push({ instanceId: i.instanceId, reason: 'replaced by a new version' })
    killable--
  }
  if (current.length > n) {
    for (const i of killOrder(target, current).slice(0, current.length - n)) kill.push({ instanceId: i.instanceId, reason: 'scaling down' })
  }
  return { launch, kill, inactivate, expunge, complete: false }
}

/**
 * How many instances a rolling replacement keeps serving and may run at once. When the two
 * meet (minimumHealthCapacity 1 and maximumOverCapacity 0), one instance over capacity is
 * allowed so that a new one starts before an old one stops, as Marathon's TaskReplaceActor
 * (computeRestartStrategy) does, rather than dropping below capacity.
 */
export function restartBounds(app: Pick<AppDefinition, 'instances' | 'upgradeStrategy'>, aliveCount: number): { minHealthy: number; maxCapacity: number } {
  const n = app.instances
  const minHealthy = Math.ceil(n * app.upgradeStrategy.minimumHealthCapacity - 1e-9)
  let maxCapacity = Math.max(n, Math.floor(n * (1 + app.upgradeStrategy.maximumOverCapacity) + 1e-9))
  if (minHealthy === maxCapacity && maxCapacity <= aliveCount) maxCapacity += 1
  return { minHealthy, maxCapacity }
}

/**
 * An instance of an older version serves if it runs and its own checks passed. Its health is
 * judged by what it reported (healthy is only set where checks exist).
 */
function isOldServing(i: Instance): boolean {
  return isAlive(i) && i.condition === Condition.Running && i.healthy !== false
}
