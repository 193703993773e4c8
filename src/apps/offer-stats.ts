// Why an app waits: what the offers it was shown lacked. Marathon's OfferMatchStatistics keeps,
// per app in the launch queue, counts since the launch attempt began and the last offer of each
// agent; the queue shows them as a funnel of reasons (/v2/queue processedOffersSummary).
import type { OfferWire } from '../api/mesos.js'
import type { NoOfferMatchReason } from './placement.js'

/**
 * The order of Marathon's reason funnel: an offer declined for several reasons counts at the
 * first of them, and every later step sees only the offers that passed the earlier ones.
 */
export const REASON_FUNNEL: readonly string[] = [
  'UnfulfilledRole',
  'UnfulfilledConstraint',
  'NoCorrespondingReservationFound',
  'AgentMaintenance',
  'InsufficientCpus',
  'InsufficientMemory',
  'InsufficientDisk',
  'InsufficientGpus',
  'InsufficientPorts',
  'DeclinedScarceResources',
]

export interface DeclinedOfferStep {
  reason: string
  declined: number
  processed: number
}

/** One funnel step per reason, from the reasons each offer was declined for ([] when it was used). */
export function rejectFunnel(offers: ReadonlyArray<readonly string[]>): DeclinedOfferStep[] {
  let left = offers.length
  const firstReason = offers.map((reasons) => REASON_FUNNEL.find((r) => reasons.includes(r)))
  return REASON_FUNNEL.map((reason) => {
    const declined = firstReason.filter((r) => r === reason).length
    const step = { reason, declined, processed: left }
    left -= declined
    return step
  })
}

export interface UnusedOffer<O> {
  readonly offer: O
  readonly reason: readonly NoOfferMatchReason[]
  /** Epoch milliseconds. */
  readonly at: number
}

/** What one app's launch attempt has seen of offers so far. */
export interface OfferStats<O> {
  readonly since: number
  readonly processed: number
  readonly unused: number
  readonly lastUnusedAt?: number
  readonly lastUsedAt?: number
  /** The reasons of every offer of this attempt, for rejectSummaryLaunchAttempt. */
  readonly attempt: ReadonlyArray<readonly string[]>
  /** The last offer of each agent and its reasons ([] when used), for rejectSummaryLastOffers. */
  readonly lastByAgent: Readonly<Record<string, readonly string[]>>
  readonly lastUnused: ReadonlyArray<UnusedOffer<O>>
}

export const LAST_UNUSED_OFFERS = 10
/** Reasons kept per attempt: the funnel of a long wait counts its latest offers. */
const ATTEMPT_OFFERS = 1000

export function emptyOfferStats<O>(since: number): OfferStats<O> {
  return { since, processed: 0, unused: 0, attempt: [], lastByAgent: {}, lastUnused: [] }
}

/** Adds one pass: each offer shown to the app, with the reasons it was declined ([] when used). */
export function recordPass<O>(
  stats: OfferStats<O>,
  pass: ReadonlyArray<{ agentId: string; offer: O; reasons: readonly NoOfferMatchReason[] }>,
  at: number,
): OfferStats<O> {
  const unused = pass.filter((p) => p.reasons.length > 0)
  const used = pass.length - unused.length
  const lastByAgent = { ...stats.lastByAgent }
  for (const p of pass) lastByAgent[p.agentId] = p.reasons
  return {
    since: stats.since,
    processed: stats.processed + pass.length,
    unused: stats.unused + unused.length,
    ...(unused.length > 0 ? { lastUnusedAt: at } : stats.lastUnusedAt !== undefined ? { lastUnusedAt: stats.lastUnusedAt } : {}),
    ...(used > 0 ? { lastUsedAt: at } : stats.lastUsedAt !== undefined ? { lastUsedAt: stats.lastUsedAt } : {}),
    attempt: [...stats.attempt, ...pass.map((p) => p.reasons)].slice(-ATTEMPT_OFFERS),
    lastByAgent,
    lastUnused: [...stats.lastUnused, ...unused.map((p) => ({ offer: p.offer, reason: p.reasons, at }))].slice(-LAST_UNUSED_OFFERS),
  }
}

/** Marathon's ProcessedOffersSummary. */
export function offersSummary(stats: OfferStats<unknown> | undefined): Record<string, unknown> {
  if (!stats) return { processedOffersCount: 0, unusedOffersCount: 0, rejectSummaryLastOffers: rejectFunnel([]), rejectSummaryLaunchAttempt: rejectFunnel([]) }
  return {
    processedOffersCount: stats.processed,
    unusedOffersCount: stats.unused,
    ...(stats.lastUnusedAt !== undefined ? { lastUnusedOfferAt: new Date(stats.lastUnusedAt).toISOString() } : {}),
    ...(stats.lastUsedAt !== undefined ? { lastUsedOfferAt: new Date(stats.lastUsedAt).toISOString() } : {}),
    rejectSummaryLastOffers: rejectFunnel(Object.values(stats.lastByAgent)),
    rejectSummaryLaunchAttempt: rejectFunnel(stats.attempt),
  }
}

/** An offer as Marathon's queue shows it (RAML offer.Offer): text attributes become one-value sets. */
export function marathonOfferJson(offer: OfferWire): Record<string, unknown> {
  const ranges = (r: { range: ReadonlyArray<{ begin: number; end: number }> } | undefined): Array<{ begin: number; end: number }> =>
    (r?.range ?? []).map((x) => ({ begin: x.begin, end: x.end }))
  return {
    id: offer.id.value,
    hostname: offer.hostname,
    agentId: offer.agent_id.value,
    resources: offer.resources.map((r) => ({
      name: r.name,
      role: (r['allocation_info'] as { role?: string } | undefined)?.role ?? r.role ?? '*',
      ...(r.scalar ? { scalar: r.scalar.value } : {}),
      ...(r.ranges ? { ranges: ranges(r.ranges) } : {}),
      ...(r.set ? { set: [...r.set.item] } : {}),
    })),
    attributes: offer.attributes.map((a) => ({
      name: a.name,
      ...(a.scalar ? { scalar: a.scalar.value } : {}),
      ...(a.ranges ? { ranges: ranges(a.ranges) } : {}),
      ...(a.set ? { set: [...a.set.item] } : a.text ? { set: [a.text.value] } : {}),
    })),
  }
}
