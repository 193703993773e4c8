// The reconciling pass: level-triggered, it compares every app's target with its instances
// (decideApp) and acts on the difference: it writes off, expunges and kills instances, asks
// the master for offers when launches wait, and drives deployments forward.
import { Condition } from '../types.js'
import type { DeploymentRecord } from '../state.js'
import type { AppDefinition } from '../types.js'
import type { FrameworkContext } from './context.js'
import type { ActiveChecks } from '../event-payloads.js'
import { activeChecks, healthCheckEvents } from '../event-payloads.js'
import { advanceDeployments } from './deployments.js'
import type { Kills } from './kills.js'
import type { LaunchQueue } from './launch-queue.js'
import { publishInstanceChanged } from './publish.js'
import { appOf, effectiveTarget, knownAppIds } from './targets.js'

/** A pass waits at least this many times the last pass's length after it: passes take at most a third of the queue. */
const PASS_SPACING = 2

export interface ReconcilingPass {
  /** Runs a pass soon, in the queue. */
  soon(): void
  /** No pass runs from now on. */
  stop(): void
}

export function createReconcilingPass(
  ctx: FrameworkContext,
  deps: { kills: Kills; launchQueue: LaunchQueue; stopChecks: (instanceId: string) => void },
): ReconcilingPass {
  const { state, log, clock, events } = ctx
  const { kills, launchQueue, stopChecks } = deps
  let stopped = false

  // Launch demand seen by the previous pass: more demand asks the master for offers at once.
  let lastDemand = 0
  // The health checks of each app's versions in use, and what they were derived from.
  const checksOf = new Map<string, { revision: number; app: AppDefinition | undefined; deployment: DeploymentRecord | undefined; checks: ActiveChecks[] }>()
  /**
   * Level-triggered, as Marathon's health check reconciliation: the checks of each version in
   * use, against those announced. Only the apps whose instances, definition or deployment
   * changed since the last pass are looked at again.
   */
  function publishHealthCheckChanges(): void {
    const ids = new Set(knownAppIds(state))
    const publish = (before: readonly ActiveChecks[], now: readonly ActiveChecks[]): void => {
      for (const e of healthCheckEvents(before, now)) {
        // One branch per type, so that publish sees each type with its own fields.
        if (e.eventType === 'add_health_check_event') events.publish(e.eventType, e.fields)
        else events.publish(e.eventType, e.fields)
      }
    }
    for (const [id, kept] of checksOf) {
      if (ids.has(id)) continue
      checksOf.delete(id)
      publish(kept.checks, [])
    }
    for (const id of ids) {
      const revision = state.instancesRevision(id)
      const app = state.apps.get(id)
      const deployment = state.deploymentOf(id)
      const kept = checksOf.get(id)
      if (kept && kept.revision === revision && kept.app === app && kept.deployment === deployment) continue
      const checks = activeChecks(app ? [app] : [], state.instancesOf(id).map((i) => ({ appId: i.appId, version: i.version, definition: appOf(state, i) })))
      checksOf.set(id, { revision, app, deployment, checks })
      publish(kept?.checks ?? [], checks)
    }
  }
  async function tick(): Promise<void> {
    if (stopped) return
    // The pass's writes go to the store together at its end, so that it never waits, while it
    // holds the queue, for the writes queued before it; what it sends the master waits for them.
    await state.batch(pass)
  }
  async function pass(): Promise<void> {
    try {
      // A step that finished since the last pass releases the next one before deciding.
      await advanceDeployments(ctx)
      const now = clock.now()
      let wantsOffers = false
      let demand = 0
      for (const id of knownAppIds(state)) {
        const target = effectiveTarget(state, id)
        const { decision: d, leaving } = ctx.decide(id, target, now)
        for (const instanceId of d.inactivate) {
          const i = state.instances.get(instanceId)
          if (i) {
            const next = { ...i, condition: Condition.UnreachableInactive }
            await state.apply({ type: 'instance-put', instance: next })
            publishInstanceChanged(events, next)
          }
        }
        for (const instanceId of d.expunge) {
          stopChecks(instanceId)
          await state.apply({ type: 'instance-removed', instanceId })
        }
        for (const k of d.kill) {
          const i = state.instances.get(k.instanceId)
          if (i) {
            log.info({ appId: id, instanceId: i.instanceId, reason: k.reason }, 'killing instance')
            await kills.killInstance(i, 'Decommissioned')
          }
        }
        if (d.launch > 0 && target && !launchQueue.launchDelayActive(target)) {
          wantsOffers = true
          demand += d.launch
        }
        if (d.launch > 0 && target && launchQueue.launchDelayActive(target)) {
          const until = state.delays.get(target.id)?.until ?? now
          setTimeout(() => soon(), Math.max(0, until - now) + 5).unref()
        }
        await kills.resendUnanswered(leaving, now)
      }
      await advanceDeployments(ctx)
      publishHealthCheckChanges()
      // REVIVE also clears the refusals left by earlier declines, so new demand is offered
      // resources on the master's next allocation instead of after the refusals expire.
      const client = ctx.client
      if (wantsOffers && (ctx.suppressed || demand > lastDemand) && client?.connected()) {
        ctx.suppressed = false
        // Not awaited: the queue goes on while the master answers.
        void client.revive().catch(() => (ctx.suppressed = true))
      }
      lastDemand = demand
    } catch (e) {
      log.error({ err: e }, 'reconciling pass failed')
    }
  }

  // Passes run in the same queue as offers, updates and API changes: one writer. A pass asked
  // for while one is queued is folded into it; one asked for while a pass runs is queued next.
  // A pass looks at every app and instance, so that passes asked for back to back (a status
  // batch, a deploy, the next batch...) would take the queue over as the instances grow: the
  // next one starts no sooner than PASS_SPACING times the last one's length after it ended.
  // Passes of a few ms, as in a small cluster, are not held back noticeably.
  let tickQueued = false
  let lastPass = { endedAt: 0, ms: 0 }
  function soon(): void {
    if (tickQueued || stopped) return
    tickQueued = true
    const run = (): void => {
      void ctx.enqueue(async () => {
        tickQueued = false
        const t0 = performance.now()
        await tick()
        const endedAt = performance.now()
        lastPass = { endedAt, ms: endedAt - t0 }
      })
    }
    const wait = lastPass.endedAt + PASS_SPACING * lastPass.ms - performance.now()
    if (wait > 1) setTimeout(run, wait).unref()
    else setImmediate(run)
  }

  return {
    soon,
    stop: () => {
      stopped = true
    },
  }
}
