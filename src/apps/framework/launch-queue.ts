// The launch queue: the apps that wait for launches and how many, the delay an app whose
// instances keep failing waits before its next launch (Marathon's backoff), and what each
// waiting app was offered and why it used none of it (/v2/queue).
import type { OfferWire } from '../../api/mesos.js'
import type { OfferStats } from '../offer-stats.js'
import { emptyOfferStats, recordPass } from '../offer-stats.js'
import type { PlaceAppsResult } from '../placement.js'
import type { AppDefinition, Instance } from '../types.js'
import type { FrameworkContext } from './context.js'
import { effectiveTarget, knownAppIds } from './targets.js'

export interface LaunchNeed {
  readonly app: AppDefinition
  readonly count: number
}

export interface LaunchQueueEntry extends LaunchNeed {
  readonly delay?: { until: number }
  readonly offers?: OfferStats<OfferWire>
}

export interface LaunchQueue {
  /** The apps that want launches now, delayed or not, with how many. */
  needs(): LaunchNeed[]
  launchDelayActive(app: AppDefinition): boolean
  /** Lengthens the app's launch delay after its instance ended without being asked to. */
  noteFailure(inst: Instance): Promise<void>
  /** What each waiting app was offered in this pass and why it used none of it. */
  noteOffers(offers: readonly OfferWire[], ready: ReadonlyArray<{ app: AppDefinition }>, placement: PlaceAppsResult): void
  /** Ends the offer statistics of every app that no longer waits for launches. */
  endSatisfiedAttempts(wanted: readonly LaunchNeed[]): void
  /** The apps waiting for launches, for /v2/queue. */
  entries(): LaunchQueueEntry[]
}

export function createLaunchQueue(ctx: FrameworkContext): LaunchQueue {
  const { state, clock } = ctx
  /** Offer statistics of each app waiting for launches (Marathon's OfferMatchStatistics). */
  const offerStats = new Map<string, OfferStats<OfferWire>>()

  function activeDelay(app: AppDefinition): { until: number } | undefined {
    const d = state.delays.get(app.id)
    return d && d.configVersion === app.versionInfo.lastConfigChangeAt && d.until > clock.now() ? d : undefined
  }

  async function noteFailure(inst: Instance): Promise<void> {
    const app = state.apps.get(inst.appId)
    if (!app) return
    const prev = state.delays.get(app.id)
    const ranLong = inst.startedAt && clock.now() - Date.parse(inst.startedAt) > app.maxLaunchDelaySeconds * 1000
    const failures = prev && prev.configVersion === app.versionInfo.lastConfigChangeAt && !ranLong ? prev.failures + 1 : 1
    const delaySeconds = Math.min(app.backoffSeconds * app.backoffFactor ** (failures - 1), app.maxLaunchDelaySeconds)
    await state.apply({ type: 'delay-put', appId: app.id, delay: { configVersion: app.versionInfo.lastConfigChangeAt, failures, until: clock.now() + delaySeconds * 1000 } })
  }

  function needs(): LaunchNeed[] {
    const out: LaunchNeed[] = []
    for (const id of knownAppIds(state)) {
      const target = effectiveTarget(state, id)
      if (!target) continue
      const d = ctx.decide(id, target, clock.now()).decision
      if (d.launch > 0) out.push({ app: target, count: d.launch })
    }
    return out
  }

  function noteOffers(offers: readonly OfferWire[], ready: ReadonlyArray<{ app: AppDefinition }>, placement: PlaceAppsResult): void {
    const at = clock.now()
    const unmatched = new Map(placement.unmatched.map((u) => [u.appId, u.offers]))
    for (const { app } of ready) {
      // An app the pass did not reach, its room for launches used up, saw none of the offers.
      const seen = unmatched.get(app.id)
      if (!seen) continue
      const reasons = new Map(seen.map((u) => [u.offerId, u.reasons]))
      const pass = offers.map((o) => ({ agentId: o.agent_id.value, offer: o, reasons: reasons.get(o.id.value) ?? [] }))
      offerStats.set(app.id, recordPass(offerStats.get(app.id) ?? emptyOfferStats(at), pass, at))
    }
  }

  return {
    needs,
    launchDelayActive: (app) => activeDelay(app) !== undefined,
    noteFailure,
    noteOffers,
    endSatisfiedAttempts(wanted) {
      for (const id of [...offerStats.keys()]) if (!wanted.some((w) => w.app.id === id)) offerStats.delete(id)
    },
    entries() {
      return needs().map(({ app, count }) => {
        const delay = activeDelay(app)
        const offers = offerStats.get(app.id)
        return { app, count, ...(delay ? { delay: { until: delay.until } } : {}), ...(offers ? { offers } : {}) }
      })
    },
  }
}
