import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Resources } from '../core/resources.js'
import { add, contains, equals } from '../core/resources.js'
import type { AllocAgent, AllocFramework, AllocSnapshot } from './allocator.js'
import { allocate, roleDominantShares, shareTotal } from './allocator.js'

const res = (cpus: number, mem: number): Resources => ({ scalars: { cpus, mem }, ranges: { ports: [{ begin: 31000, end: 31010 }] } })

const agentArb = fc.record({
  id: fc.uuid(),
  cpus: fc.integer({ min: 0, max: 32 }),
  mem: fc.integer({ min: 0, max: 65536 }),
  usedFraction: fc.double({ min: 0, max: 1, noNaN: true }),
})

const frameworkArb = fc.record({
  id: fc.uuid(),
  roles: fc.subarray(['a', 'b', 'c'], { minLength: 1 }),
  suppress: fc.subarray(['a', 'b', 'c']),
  refuseAll: fc.boolean(),
})

function snapshotOf(
  agents: Array<{ id: string; cpus: number; mem: number; usedFraction: number }>,
  frameworks: Array<{ id: string; roles: string[]; suppress: string[]; refuseAll: boolean }>,
): AllocSnapshot {
  const allocAgents: AllocAgent[] = agents.map((a) => ({
    id: a.id,
    total: res(a.cpus, a.mem),
    free: res(Math.floor(a.cpus * (1 - a.usedFraction)), Math.floor(a.mem * (1 - a.usedFraction))),
  }))
  const allocFrameworks: AllocFramework[] = frameworks.map((f) => ({
    id: f.id,
    roles: f.roles,
    suppressedRoles: f.suppress,
    allocated: {},
    // A refusal of an agent's whole total covers whatever it has free.
    refusals: f.refuseAll ? new Map(agents.map((a) => [a.id, f.roles.map((role) => ({ role, resources: res(a.cpus, a.mem), until: 2000 }))])) : new Map(),
  }))
  return { agents: allocAgents, frameworks: allocFrameworks, roleWeights: {}, now: 1000 }
}

describe('allocate', () => {
  it('a pass over some of the agents, with the shares of the whole cluster, offers them as a pass over all of them would', () => {
    fc.assert(
      fc.property(fc.uniqueArray(agentArb, { selector: (a) => a.id, minLength: 1, maxLength: 12 }), fc.uniqueArray(frameworkArb, { selector: (f) => f.id, maxLength: 4 }), fc.nat(), (agents, frameworks, cut) => {
        const snap = snapshotOf(agents, frameworks)
        // The agents before the cut are held in offers already, as a pass over the rest finds them.
        const k = cut % snap.agents.length
        const held = allocate({ ...snap, agents: snap.agents.slice(0, k), clusterTotal: shareTotal(snap.agents) })
        const allocated = (fid: string): Record<string, ReturnType<typeof res>> => {
          const out: Record<string, ReturnType<typeof res>> = {}
          for (const h of held.filter((h) => h.frameworkId === fid)) out[h.role] = add(out[h.role] ?? res(0, 0), h.resources)
          return out
        }
        const rest = { ...snap, agents: snap.agents.slice(k), frameworks: snap.frameworks.map((f) => ({ ...f, allocated: allocated(f.id) })) }
        expect(allocate({ ...rest, clusterTotal: shareTotal(snap.agents) })).toEqual(allocate(snap).slice(held.length))
      }),
    )
  })

  it('never offers more than an agent has free, and each agent at most once', () => {
    fc.assert(
      fc.property(fc.uniqueArray(agentArb, { selector: (a) => a.id, maxLength: 20 }), fc.uniqueArray(frameworkArb, { selector: (f) => f.id, maxLength: 5 }), (agents, frameworks) => {
        const snap = snapshotOf(agents, frameworks)
        const out = allocate(snap)
        const seen = new Set<string>()
        for (const o of out) {
          expect(seen.has(o.agentId)).toBe(false)
          seen.add(o.agentId)
          const agent = snap.agents.find((a) => a.id === o.agentId)!
          expect(contains(agent.free, o.resources)).toBe(true)
        }
      }),
    )
  })

  it('never offers to a suppressed role or a framework that refused the agent', () => {
    fc.assert(
      fc.property(fc.uniqueArray(agentArb, { selector: (a) => a.id, maxLength: 10 }), fc.uniqueArray(frameworkArb, { selector: (f) => f.id, maxLength: 5 }), (agents, frameworks) => {
        const snap = snapshotOf(agents, frameworks)
        for (const o of allocate(snap)) {
          const f = frameworks.find((x) => x.id === o.frameworkId)!
          expect(f.refuseAll).toBe(false)
          expect(f.suppress).not.toContain(o.role)
          expect(f.roles).toContain(o.role)
        }
      }),
    )
  })

  it('a refusal holds only for its role, until it expires, and while it covers what is free (Mesos offer filters)', () => {
    const agent: AllocAgent = { id: 'a', total: res(4, 4096), free: res(2, 1024) }
    type Refused = Record<string, Array<{ role: string; resources: ReturnType<typeof res>; until: number }>>
    const snap = (refusals: Refused, now = 1000): AllocSnapshot => ({
      agents: [agent],
      frameworks: [{ id: 'f', roles: ['web', 'batch'], suppressedRoles: [], allocated: {}, refusals: new Map(Object.entries(refusals)) }],
      roleWeights: {},
      now,
    })
    const refused = (role: string, cpus: number, mem: number, until = 2000) => ({ a: [{ role, resources: res(cpus, mem), until }] })
    expect(allocate(snap({ a: [...refused('web', 2, 1024).a, ...refused('batch', 2, 1024).a] }))).toEqual([])
    // The other role still gets the agent.
    expect(allocate(snap(refused('web', 2, 1024))).map((o) => o.role)).toEqual(['batch'])
    // Expired.
    expect(allocate(snap({ a: [...refused('web', 2, 1024, 900).a, ...refused('batch', 2, 1024, 900).a] }))).toHaveLength(1)
    // More is free than was refused (a task ended): offered at once.
    expect(allocate(snap({ a: [...refused('web', 1, 1024).a, ...refused('batch', 2, 512).a] }))).toHaveLength(1)
  })

  it("counts a disconnected framework's resources in its role's share, and offers it nothing", () => {
    const free: AllocAgent = { id: 'free', total: res(4, 4096), free: res(4, 4096) }
    const busy: AllocAgent = { id: 'busy', total: res(4, 4096), free: res(0, 0) }
    const fw = (id: string, role: string, cpus: number, connected = true): AllocFramework => ({ id, roles: [role], suppressedRoles: [], allocated: cpus > 0 ? { [role]: res(cpus, 0) } : {}, refusals: new Map(), connected })
    const pass = (frameworks: AllocFramework[]) => allocate({ agents: [free, busy], frameworks, roleWeights: {}, now: 0 }).map((o) => o.frameworkId)
    // The lowest share of all, but away: not offered.
    expect(pass([fw('away', 'a', 0, false), fw('here-b', 'b', 1)])).toEqual(['here-b'])
    // What the away framework holds keeps role a above role b.
    expect(pass([fw('away', 'a', 4, false), fw('here-a', 'a', 0), fw('here-b', 'b', 1)])).toEqual(['here-b'])
    expect(pass([fw('here-a', 'a', 0), fw('here-b', 'b', 1)])).toEqual(['here-a'])
  })

  it('offers every allocatable agent when some framework can take it', () => {
    fc.assert(
      fc.property(fc.uniqueArray(agentArb, { selector: (a) => a.id, maxLength: 10 }), (agents) => {
        const snap = snapshotOf(agents, [{ id: 'f', roles: ['*'], suppress: [], refuseAll: false }])
        const offered = new Set(allocate(snap).map((o) => o.agentId))
        for (const a of snap.agents) {
          const worth = (a.free.scalars.cpus ?? 0) >= 0.01 || (a.free.scalars.mem ?? 0) >= 32
          expect(offered.has(a.id)).toBe(worth)
        }
      }),
    )
  })

  it('shares identical agents evenly between identical frameworks (DRF)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 2, max: 4 }), (n, k) => {
        const agents = Array.from({ length: n }, (_, i) => ({ id: `a${i}`, cpus: 4, mem: 4096, usedFraction: 0 }))
        const frameworks = Array.from({ length: k }, (_, i) => ({ id: `f${i}`, roles: ['*'], suppress: [], refuseAll: false }))
        const counts = new Map<string, number>()
        for (const o of allocate(snapshotOf(agents, frameworks))) counts.set(o.frameworkId, (counts.get(o.frameworkId) ?? 0) + 1)
        const values = frameworks.map((f) => counts.get(f.id) ?? 0)
        expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1)
      }),
    )
  })

  it('gives the next agent to the framework with the lowest dominant share', () => {
    const agents: AllocAgent[] = [{ id: 'x', total: res(8, 8192), free: res(4, 4096) }]
    const frameworks: AllocFramework[] = [
      { id: 'heavy', roles: ['*'], suppressedRoles: [], allocated: { '*': res(3, 512) }, refusals: new Map() },
      { id: 'light', roles: ['*'], suppressedRoles: [], allocated: { '*': res(1, 1024) }, refusals: new Map() },
    ]
    const out = allocate({ agents, frameworks, roleWeights: {}, now: 0 })
    expect(out.map((o) => o.frameworkId)).toEqual(['light'])
    expect(equals(out[0]!.resources, res(4, 4096))).toBe(true)
  })

  it('honours role weights', () => {
    const agents: AllocAgent[] = Array.from({ length: 9 }, (_, i) => ({ id: `a${i}`, total: res(1, 1024), free: res(1, 1024) }))
    const frameworks: AllocFramework[] = [
      { id: 'f-heavy', roles: ['gold'], suppressedRoles: [], allocated: {}, refusals: new Map() },
      { id: 'f-light', roles: ['bronze'], suppressedRoles: [], allocated: {}, refusals: new Map() },
    ]
    const out = allocate({ agents, frameworks, roleWeights: { gold: 2 }, now: 0 })
    expect(out.filter((o) => o.role === 'gold')).toHaveLength(6)
    expect(out.filter((o) => o.role === 'bronze')).toHaveLength(3)
  })
})

describe('roleDominantShares', () => {
  it('is the largest fraction of the cluster a role holds, over the roles of all its frameworks', () => {
    const agents = [{ total: res(4, 1000) }, { total: res(4, 1000) }]
    const frameworks = [
      { roles: ['web', 'idle'], allocated: { web: res(2, 100) } },
      { roles: ['web'], allocated: { web: res(0, 900) } },
      { roles: ['batch'], allocated: { batch: res(4, 0) } },
    ]
    // web: 2 of 8 CPUs, 1000 of 2000 MB; batch: 4 of 8 CPUs; idle holds nothing.
    expect(roleDominantShares({ agents, frameworks })).toEqual({ web: 0.5, idle: 0, batch: 0.5 })
  })

  it('ranks roles as the allocator does: the next agent goes to the role of lowest share over weight', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 4 }), (a, b, weightA) => {
        const frameworks: AllocFramework[] = [
          { id: 'fa', roles: ['a'], suppressedRoles: [], allocated: { a: res(a, 0) }, refusals: new Map() },
          { id: 'fb', roles: ['b'], suppressedRoles: [], allocated: { b: res(b, 0) }, refusals: new Map() },
        ]
        const agents: AllocAgent[] = [{ id: 'x', total: res(16, 1000), free: res(16 - a - b, 1000) }]
        const shares = roleDominantShares({ agents, frameworks })
        const weighted = { a: shares['a']! / weightA, b: shares['b']! }
        const [got] = allocate({ agents, frameworks, roleWeights: { a: weightA }, now: 0 })
        if (weighted.a !== weighted.b) expect(got?.role).toBe(weighted.a < weighted.b ? 'a' : 'b')
      }),
    )
  })
})
