// Each app's decision (decideApp), kept while its target and its instances stay the same: the
// reconciling pass, the offer passes and the deployments ask for every app's decision, and at
// 100,000 instances deciding them all again each time took most of the framework's thread.
// decideApp reads the clock only for unreachable instances: an app with one is decided again
// on every ask.
import type { AppDecision } from '../reconcile.js'
import { decideApp, isAlive, isTerminalCondition } from '../reconcile.js'
import type { AppsState } from '../state.js'
import type { AppDefinition, Instance } from '../types.js'
import { Condition } from '../types.js'

export interface Decided {
  readonly decision: AppDecision
  readonly instances: readonly Instance[]
  /** Its instances that count towards its instances (isAlive). */
  readonly alive: readonly Instance[]
  /** Its instances that are being killed (their goal is no longer Running) and have not ended. */
  readonly leaving: readonly Instance[]
}

export type Decide = (appId: string, target: AppDefinition | null, nowMs: number) => Decided

interface Kept extends Decided {
  readonly revision: number
  readonly target: AppDefinition | null
  /** The decision depends on the time. */
  readonly timed: boolean
}

export function createDecisions(state: AppsState): Decide {
  const kept = new Map<string, Kept>()
  return (appId, target, nowMs) => {
    const revision = state.instancesRevision(appId)
    const k = kept.get(appId)
    if (k && !k.timed && k.revision === revision && k.target === target) return k
    const instances = state.instancesOf(appId)
    const decision = decideApp({ target, instances, nowMs })
    const timed = target !== null && instances.some((i) => i.condition === Condition.Unreachable || i.condition === Condition.UnreachableInactive)
    const alive = instances.filter(isAlive)
    const leaving = instances.filter((i) => i.goal !== 'Running' && !isTerminalCondition(i.condition))
    const next: Kept = { decision, instances, alive, leaving, revision, target, timed }
    if (instances.length === 0 && target === null) kept.delete(appId)
    else kept.set(appId, next)
    return next
  }
}
