import { describe, expect, it } from 'vitest'
import { emptyOfferStats, LAST_UNUSED_OFFERS, offersSummary, recordPass, REASON_FUNNEL, rejectFunnel } from './offer-stats.js'

describe('offer statistics', () => {
  it('counts an offer at the first reason of the funnel, and each step processes what passed the earlier ones', () => {
    const funnel = rejectFunnel([['InsufficientCpus', 'UnfulfilledConstraint'], ['InsufficientMemory'], [], ['InsufficientCpus']])
    expect(funnel.map((s) => s.reason)).toEqual(REASON_FUNNEL)
    const step = (reason: string) => funnel.find((s) => s.reason === reason)!
    expect(step('UnfulfilledRole')).toEqual({ reason: 'UnfulfilledRole', declined: 0, processed: 4 })
    expect(step('UnfulfilledConstraint')).toEqual({ reason: 'UnfulfilledConstraint', declined: 1, processed: 4 })
    expect(step('InsufficientCpus')).toEqual({ reason: 'InsufficientCpus', declined: 1, processed: 3 })
    expect(step('InsufficientMemory')).toEqual({ reason: 'InsufficientMemory', declined: 1, processed: 2 })
    expect(step('InsufficientPorts')).toEqual({ reason: 'InsufficientPorts', declined: 0, processed: 1 })
  })

  it('keeps counts for the attempt, the last offer of each agent and the last unused offers', () => {
    let s = emptyOfferStats<string>(1000)
    s = recordPass(s, [{ agentId: 'a', offer: 'o1', reasons: ['InsufficientCpus'] }, { agentId: 'b', offer: 'o2', reasons: [] }], 2000)
    s = recordPass(s, [{ agentId: 'a', offer: 'o3', reasons: ['InsufficientMemory'] }], 3000)
    const summary = offersSummary(s)
    expect(summary).toMatchObject({ processedOffersCount: 3, unusedOffersCount: 2, lastUnusedOfferAt: new Date(3000).toISOString(), lastUsedOfferAt: new Date(2000).toISOString() })
    const last = summary['rejectSummaryLastOffers'] as Array<{ reason: string; declined: number }>
    expect(last.find((x) => x.reason === 'InsufficientMemory')!.declined).toBe(1)
    expect(last.find((x) => x.reason === 'InsufficientCpus')!.declined).toBe(0)
    const attempt = summary['rejectSummaryLaunchAttempt'] as Array<{ reason: string; declined: number }>
    expect(attempt.find((x) => x.reason === 'InsufficientCpus')!.declined).toBe(1)
    expect(s.lastUnused.map((u) => u.offer)).toEqual(['o1', 'o3'])
    for (let i = 0; i < 20; i++) s = recordPass(s, [{ agentId: 'c', offer: `x${i}`, reasons: ['UnfulfilledRole'] }], 4000 + i)
    expect(s.lastUnused).toHaveLength(LAST_UNUSED_OFFERS)
    expect(s.lastUnused.at(-1)!.offer).toBe('x19')
  })
})
