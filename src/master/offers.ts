// Offers: the allocation pass that makes them (the pure DRF `allocate` over a snapshot of the
// state), their timeouts, and their removal or rescinding. Resource accounting reads the state.
import type { OfferWire } from '../api/mesos.js'
import { resourcesToWire } from '../api/mesos.js'
import type { Resources } from '../core/resources.js'
import { add, EMPTY } from '../core/resources.js'
import type { Allocation } from './allocator.js'
import { allocate } from './allocator.js'
import type { MasterContext } from './context.js'
import { applyNow, isActive, send } from './context.js'
import type { MasterState } from './state.js'
import type { AgentRecord, FrameworkRecord, OfferRecord } from './types.js'
import { isMultiRole } from './validation.js'

export { ended } from './state.js'

/** What a framework holds per role, in tasks and in offers: its DRF share. */
export function frameworkAllocated(state: MasterState, fid: string): Record<string, Resources> {
  const out: Record<string, Resources> = Object.fromEntries(state.frameworkUsed(fid))
  for (const [role, r] of state.frameworkOffered(fid)) out[role] = add(out[role] ?? EMPTY, r)
  return out
}

function offerJson(o: OfferRecord, agent: AgentRecord, multiRole: boolean): OfferWire {
  // As Mesos: only a MULTI_ROLE framework is told which of its roles an offer is for.
  const offer: OfferWire = {
    id: { value: o.id },
    framework_id: { value: o.frameworkId },
    agent_id: { value: o.agentId },
    hostname: agent.hostname,
    resources: multiRole ? resourcesToWire(o.resources, o.role) : resourcesToWire(o.resources).map((r) => ({ ...r, role: '*' })),
    attributes: [...agent.attributes],
    allocation_info: { role: o.role },
    url: { scheme: 'http', address: { hostname: agent.hostname, ip: agent.ip, port: agent.port }, path: '/slave(1)' },
  }
  if (!multiRole) delete (offer as Partial<OfferWire>).allocation_info
  return offer
}

export interface Offers {
  runAllocation(): void
  /**
   * Runs an allocation pass shortly, once however many changes ask for it: over the agents
   * named, as Mesos' allocator does when resources of an agent come back (an ACCEPT's or
   * DECLINE's), or over every agent when none are named (a REVIVE, a new framework or agent).
   */
  allocateSoon(agentIds?: Iterable<string>): void
  /** Removes an offer without telling its framework (it used, declined or lost it). */
  removeOffer(offerId: string): void
  /** Removes an offer and tells its framework so. */
  rescind(o: OfferRecord): void
  /** The framework's offers of these ids, removed; or why they cannot be used. */
  takeOffers(f: FrameworkRecord, ids: readonly { value: string }[]): OfferRecord[] | string
  /** How long allocation passes take, as Mesos' allocator/mesos/allocation_run_ms timer. */
  allocationRuns(): AllocationRuns
  stop(): void
}

export interface AllocationRuns {
  readonly count: number
  /** Of every pass since the master started. */
  readonly totalMs: number
  /** The durations of the latest passes, oldest first (at most RUN_WINDOW of them). */
  readonly recentMs: readonly number[]
}

const RUN_WINDOW = 1000

export function createOffers(ctx: MasterContext): Offers {
  const { state, opts, log } = ctx
  const timers = new Map<string, NodeJS.Timeout>()
  let offerSeq = 0
  let allocationSoon: NodeJS.Timeout | undefined
  // The agents the pass asked for covers; undefined for every agent.
  let soonAgents: Set<string> | undefined = new Set()
  const runs = { count: 0, totalMs: 0, recentMs: [] as number[] }

  function removeOffer(offerId: string): void {
    const timer = timers.get(offerId)
    if (timer) clearTimeout(timer)
    timers.delete(offerId)
    applyNow(ctx, { type: 'offer-removed', offerId })
  }

  function rescind(o: OfferRecord): void {
    removeOffer(o.id)
    const f = state.frameworks.get(o.frameworkId)
    if (f) send(ctx, f, { type: 'RESCIND', rescind: { offer_id: { value: o.id } } })
    ctx.counters.offersRescinded++
  }

  function runAllocation(only?: ReadonlySet<string>): void {
    if (ctx.stopped) return
    const t0 = performance.now()
    allocationPass(only)
    const ms = performance.now() - t0
    runs.count++
    runs.totalMs += ms
    runs.recentMs.push(ms)
    if (runs.recentMs.length > RUN_WINDOW) runs.recentMs.shift()
  }

  function allocationPass(only: ReadonlySet<string> | undefined): void {
    const now = ctx.clock.now()
    const active = only ? [...only].flatMap((id) => state.agents.get(id) ?? []).filter(isActive) : [...state.agents.values()].filter(isActive)
    // Shuffle the agents so no agent is always offered first.
    for (let i = active.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[active[i], active[j]] = [active[j]!, active[i]!]
    }
    const allocations: Allocation[] = allocate({
      clusterTotal: state.activeAgentsTotal(),
      agents: active.map((a) => ({ id: a.id, total: a.total, free: state.agentFree(a.id) })),
      frameworks: [...state.frameworks.values()].map((f) => ({
        id: f.id,
        connected: f.stream !== undefined,
        roles: f.roles,
        suppressedRoles: [...f.suppressedRoles],
        allocated: frameworkAllocated(state, f.id),
        refusals: f.refusals,
      })),
      roleWeights: opts.roleWeights,
      now,
    })
    const batches = new Map<string, OfferWire[]>()
    for (const a of allocations) {
      const agent = state.agents.get(a.agentId)
      if (!agent) continue
      const id = `${ctx.runId}-O${offerSeq++}`
      state.apply({ type: 'offer-created', offer: { id, frameworkId: a.frameworkId, agentId: a.agentId, role: a.role, resources: a.resources } }, now)
      const offer = state.offers.get(id)!
      if (opts.offerTimeoutMs > 0) {
        const timer = setTimeout(() => {
          timers.delete(id)
          if (state.offers.has(id)) {
            log.info({ offerId: id, frameworkId: offer.frameworkId }, 'offer timed out: rescinding')
            rescind(offer)
            allocateSoon([offer.agentId])
          }
        }, opts.offerTimeoutMs)
        timer.unref()
        timers.set(id, timer)
      }
      const list = batches.get(a.frameworkId) ?? []
      list.push(offerJson(offer, agent, isMultiRole(state.frameworks.get(a.frameworkId)?.info ?? {})))
      batches.set(a.frameworkId, list)
    }
    for (const [fid, list] of batches) {
      const f = state.frameworks.get(fid)
      if (f && send(ctx, f, { type: 'OFFERS', offers: { offers: list } })) ctx.counters.offersSent += list.length
    }
  }

  function allocateSoon(agentIds?: Iterable<string>): void {
    if (ctx.stopped) return
    if (!agentIds) soonAgents = undefined
    else if (soonAgents) for (const id of agentIds) soonAgents.add(id)
    if (allocationSoon) return
    allocationSoon = setTimeout(() => {
      allocationSoon = undefined
      const only = soonAgents
      soonAgents = new Set()
      // A pass over no agent offers nothing.
      if (!only || only.size > 0) runAllocation(only)
    }, 1)
  }

  /**
   * Takes the offers an ACCEPT names. As Master::accept, every offer of the framework that it
   * names is used up, even when the call is invalid: those are discarded and their resources go
   * back to the pool. An error names why the call is invalid.
   */
  function takeOffers(f: FrameworkRecord, ids: readonly { value: string }[]): OfferRecord[] | string {
    const own: OfferRecord[] = []
    let error: string | undefined = ids.length === 0 ? 'No offers specified' : undefined
    for (const { value } of ids) {
      const o = state.offers.get(value)
      if (!o) error ??= `Offer ${value} is no longer valid`
      else if (o.frameworkId !== f.id) error ??= `Offer ${value} belongs to another framework`
      else if (!own.includes(o)) own.push(o)
    }
    if (!error && new Set(own.map((o) => o.agentId)).size > 1) error = 'Offers span more than one agent'
    for (const o of own) removeOffer(o.id)
    return error ?? own
  }

  return {
    runAllocation: () => runAllocation(),
    allocateSoon,
    removeOffer,
    rescind,
    takeOffers,
    allocationRuns: () => runs,
    stop() {
      if (allocationSoon) clearTimeout(allocationSoon)
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
    },
  }
}
