import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { OfferWire } from '../api/mesos.js'
import { TaskInfoSchema } from '../api/mesos.js'
import { normalizeRanges } from '../core/resources.js'
import { meetsConstraints } from './constraints.js'
import { offerViewFromWire } from './offer-view.js'
import { placeApps, placeInstances, resourcesFit } from './placement.js'
import type { Launch } from './placement.js'
import { assignPorts, portsNeeded } from './ports.js'
import { appHostname, appIdFromTaskId, instanceIdFor, taskIdFor, taskIdForInstance } from './task-ids.js'
import { buildTaskInfo, taskEnvironment } from './task-info.js'
import { T0, testApp, testInstance } from './testing.js'
import type { AppDefinition, Constraint, Instance, OfferView, PortDefinition } from './types.js'

const T1 = '2026-02-01T00:00:00.000Z'

const app = testApp

function offer(over: Partial<OfferView> = {}): OfferView {
  return {
    id: 'o1',
    agentId: 'a1',
    hostname: 'h1',
    attributes: {},
    cpus: 4,
    mem: 4096,
    disk: 10000,
    gpus: 0,
    ports: [{ begin: 31000, end: 31099 }],
    role: '*',
    ...over,
  }
}

const instance = (over: Partial<Instance> = {}): Instance => testInstance({ stagedAt: T0, ...over })

const ports = (n: number): PortDefinition[] => Array.from({ length: n }, () => ({ port: 0, protocol: 'tcp' as const }))

// ---- generators -------------------------------------------------------------------------------

// Agents have a fixed hostname and rack, so every offer and instance on one agent agrees.
const AGENTS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']
const RACK: Record<string, string | undefined> = { a0: 'r1', a1: 'r1', a2: 'r2', a3: 'r2', a4: 'r3', a5: undefined }
const attributesOf = (agentId: string): Record<string, string> => {
  const rack = RACK[agentId]
  return { ...(rack !== undefined ? { rack } : {}), level: agentId === 'a0' ? '3' : '1' }
}
const agentAttributes = Object.fromEntries(AGENTS.map((a) => [a, attributesOf(a)]))

const rangeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 31000, max: 31030 }), fc.integer({ min: 0, max: 6 })).map(([b, len]) => ({ begin: b, end: b + len })),
  fc.constant({ begin: 31000, end: 31040 }),
)

const offerArb = (index: number): fc.Arbitrary<OfferView> =>
  fc
    .record({
      agentId: fc.constantFrom(...AGENTS),
      cpus: fc.integer({ min: 0, max: 40 }).map((n) => n / 10),
      mem: fc.integer({ min: 0, max: 2048 }),
      ports: fc.array(rangeArb, { maxLength: 3 }),
      role: fc.constantFrom('*', 'public', 'dromos'),
    })
    .map((o) => ({
      id: `o${index}`,
      agentId: o.agentId,
      hostname: `host-${o.agentId}`,
      attributes: attributesOf(o.agentId),
      cpus: o.cpus,
      mem: o.mem,
      disk: 0,
      gpus: 0,
      ports: o.ports,
      role: o.role,
    }))

const offersArb = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => offerArb(i))))

const runningArb = fc.array(
  fc.record({ agentId: fc.constantFrom(...AGENTS), hostPorts: fc.uniqueArray(fc.integer({ min: 31000, max: 31036 }), { maxLength: 2 }), old: fc.boolean() }),
  { maxLength: 5 },
)

const constraintArb: fc.Arbitrary<Constraint> = fc.oneof(
  fc.constant<Constraint>(['hostname', 'UNIQUE']),
  fc.constant<Constraint>(['rack', 'UNIQUE']),
  fc.integer({ min: 1, max: 3 }).map((n): Constraint => ['hostname', 'MAX_PER', String(n)]),
  fc.integer({ min: 1, max: 3 }).map((n): Constraint => ['rack', 'MAX_PER', String(n)]),
  fc.constantFrom<Constraint>(['rack', 'IS', 'r2'], ['level', 'IS', '3.0'], ['hostname', 'IS', 'host-a1']),
  fc.constantFrom<Constraint>(['rack', 'LIKE', 'r[12]'], ['hostname', 'LIKE', 'host-a[0-3]'], ['rack', 'LIKE', 'r']),
  fc.constantFrom<Constraint>(['rack', 'UNLIKE', 'r1'], ['hostname', 'UNLIKE', '.*a2']),
)

const appArb = fc
  .record({
    cpus: fc.integer({ min: 1, max: 20 }).map((n) => n / 10),
    mem: fc.integer({ min: 0, max: 512 }),
    portCount: fc.integer({ min: 0, max: 3 }),
    requirePorts: fc.boolean(),
    fixedPorts: fc.uniqueArray(fc.integer({ min: 31000, max: 31036 }), { minLength: 3, maxLength: 3 }),
    constraints: fc.array(constraintArb, { maxLength: 2 }),
    acceptedResourceRoles: fc.constantFrom(undefined, undefined, ['*'], ['public'], ['dromos', 'public']),
  })
  .map((a) =>
    app({
      cpus: a.cpus,
      mem: a.mem,
      requirePorts: a.requirePorts,
      portDefinitions: a.fixedPorts.slice(0, a.portCount).map((p) => ({ port: a.requirePorts ? p : 0, protocol: 'tcp' as const })),
      constraints: a.constraints,
      ...(a.acceptedResourceRoles ? { acceptedResourceRoles: [...a.acceptedResourceRoles] } : {}),
      versionInfo: { lastScalingAt: T1, lastConfigChangeAt: T1 },
      version: T1,
    }),
  )

const scenarioArb = fc.record({
  app: appArb,
  offers: offersArb,
  running: runningArb,
  count: fc.integer({ min: 0, max: 8 }),
  role: fc.constantFrom(undefined, undefined, undefined, '*', 'public'),
})

type Scenario = { app: AppDefinition; offers: OfferView[]; running: Instance[]; count: number; role: string | undefined }

function materialize(s: { app: AppDefinition; offers: OfferView[]; running: Array<{ agentId: string; hostPorts: number[]; old: boolean }>; count: number; role: string | undefined }): Scenario {
  return {
    ...s,
    running: s.running.map((r) =>
      instance({ agentId: r.agentId, host: `host-${r.agentId}`, hostPorts: r.hostPorts, version: r.old ? T0 : T1, configVersion: r.old ? T0 : T1 }),
    ),
  }
}

function place(s: Scenario): Launch[] {
  return placeInstances({ app: s.app, offers: s.offers, running: s.running, count: s.count, agentAttributes, ...(s.role !== undefined ? { role: s.role } : {}) }).launches
}

const offerOf = (s: Scenario, l: Launch): OfferView => s.offers.find((o) => o.id === l.offerId)!
const inRanges = (p: number, ranges: ReadonlyArray<{ begin: number; end: number }>): boolean => ranges.some((r) => r.begin <= p && p <= r.end)
const current = (s: Scenario): Instance[] => s.running.filter((i) => i.version === T1)

// ---- properties -------------------------------------------------------------------------------

describe('placeInstances properties', () => {
  const scenarios = scenarioArb.map(materialize)
  const runs = { numRuns: 500 }

  it('never places more than requested', () => {
    fc.assert(fc.property(scenarios, (s) => place(s).length <= s.count), runs)
  })

  it('never takes more cpus, mem or ports than an offer holds', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        const launches = place(s)
        for (const o of s.offers) {
          const mine = launches.filter((l) => l.offerId === o.id)
          expect(Math.round(mine.length * s.app.cpus * 1000)).toBeLessThanOrEqual(Math.round(o.cpus * 1000))
          expect(mine.length * s.app.mem).toBeLessThanOrEqual(o.mem)
          for (const l of mine) {
            expect(l.hostPorts).toHaveLength(portsNeeded(s.app))
            for (const p of l.hostPorts) expect(inRanges(p, o.ports)).toBe(true)
          }
        }
      }),
      runs,
    )
  })

  it('leaves in each offer exactly what its launches did not take', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        const r = placeInstances({ app: s.app, offers: s.offers, running: s.running, count: s.count, agentAttributes })
        expect(r.remaining.map((o) => o.id)).toEqual(s.offers.map((o) => o.id))
        for (const [k, o] of s.offers.entries()) {
          const left = r.remaining[k]!
          const mine = r.launches.filter((l) => l.offerId === o.id)
          expect(Math.round(left.cpus * 1000)).toBe(Math.round(o.cpus * 1000) - mine.length * Math.round(s.app.cpus * 1000))
          expect(left.mem).toBeCloseTo(o.mem - mine.length * s.app.mem, 6)
          const used = mine.flatMap((l) => l.hostPorts)
          const size = (rs: ReadonlyArray<{ begin: number; end: number }>): number => rs.reduce((n, x) => n + x.end - x.begin + 1, 0)
          expect(size(left.ports)).toBe(size(normalizeRanges(o.ports)) - used.length)
          for (const p of used) expect(inRanges(p, left.ports)).toBe(false)
        }
      }),
      runs,
    )
  })

  it('never puts two instances on one host port of an agent', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        const launches = place(s)
        const byAgent = new Map<string, number[]>()
        for (const i of s.running) byAgent.set(i.agentId, [...(byAgent.get(i.agentId) ?? []), ...i.hostPorts])
        for (const l of launches) {
          const before = byAgent.get(l.agentId) ?? []
          for (const p of l.hostPorts) expect(before).not.toContain(p)
          expect(new Set(l.hostPorts).size).toBe(l.hostPorts.length)
          byAgent.set(l.agentId, [...before, ...l.hostPorts])
        }
      }),
      runs,
    )
  })

  it('keeps UNIQUE hostname and UNIQUE attribute values', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        const launches = place(s)
        for (const field of ['hostname', 'rack']) {
          if (!s.app.constraints.some(([f, op]) => f === field && op === 'UNIQUE')) continue
          const valueOf = (agentId: string): string | undefined => (field === 'hostname' ? `host-${agentId}` : RACK[agentId])
          const seen = current(s).map((i) => valueOf(i.agentId))
          for (const l of launches) {
            const v = valueOf(l.agentId)
            expect(v).toBeDefined()
            expect(seen).not.toContain(v)
            seen.push(v)
          }
        }
      }),
      runs,
    )
  })

  it('keeps MAX_PER for every value that gets a new instance', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        const launches = place(s)
        for (const [field, op, value] of s.app.constraints) {
          if (op !== 'MAX_PER') continue
          const valueOf = (agentId: string): string | undefined => (field === 'hostname' ? `host-${agentId}` : RACK[agentId])
          const all = [...current(s).map((i) => valueOf(i.agentId)), ...launches.map((l) => valueOf(l.agentId))]
          for (const l of launches) {
            const v = valueOf(l.agentId)
            expect(v).toBeDefined()
            // The new instances alone never push a value past the limit set by those already there.
            const before = current(s).filter((i) => valueOf(i.agentId) === v).length
            const total = all.filter((x) => x === v).length
            expect(total).toBeLessThanOrEqual(Math.max(Number(value), before))
          }
        }
      }),
      runs,
    )
  })

  it('respects IS, LIKE and UNLIKE', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        for (const l of place(s)) {
          const o = offerOf(s, l)
          for (const [field, op, value = ''] of s.app.constraints) {
            const v = field === 'hostname' ? o.hostname : o.attributes[field]
            if (op === 'IS') expect(v).toBe(value === '3.0' ? '3' : value)
            if (op === 'LIKE') expect(v !== undefined && new RegExp(`^(?:${value})$`).test(v)).toBe(true)
            if (op === 'UNLIKE') expect(v === undefined || !new RegExp(`^(?:${value})$`).test(v)).toBe(true)
          }
        }
      }),
      runs,
    )
  })

  it('uses exactly the declared ports when requirePorts is set', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        if (!s.app.requirePorts) return
        for (const l of place(s)) expect(l.hostPorts).toEqual(s.app.portDefinitions.map((d) => d.port))
      }),
      runs,
    )
  })

  it('uses only offers of accepted roles and of the requested role', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        const roles = s.app.acceptedResourceRoles
        for (const l of place(s)) {
          const o = offerOf(s, l)
          if (roles && !roles.includes('*')) expect(roles).toContain(o.role)
          if (s.role !== undefined) expect(o.role).toBe(s.role)
        }
      }),
      runs,
    )
  })

  it('GROUP_BY keeps new instances within one of each other across racks', () => {
    fc.assert(
      fc.property(scenarios, (s) => {
        const launches = place({ ...s, app: { ...s.app, constraints: [['rack', 'GROUP_BY']] }, running: [] })
        const counts = new Map<string, number>()
        for (const l of launches) {
          const rack = RACK[l.agentId]
          expect(rack).toBeDefined()
          counts.set(rack!, (counts.get(rack!) ?? 0) + 1)
        }
        if (counts.size > 0) expect(Math.max(...counts.values()) - Math.min(...counts.values())).toBeLessThanOrEqual(1)
      }),
      runs,
    )
  })

  it('places everything asked for when offers are ample and unconstrained', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 4 }), (count, nOffers) => {
        const offers = Array.from({ length: nOffers }, (_, i) => offer({ id: `o${i}`, agentId: `a${i}`, hostname: `h${i}`, cpus: 100, mem: 100_000 }))
        const launches = placeInstances({ app: app({ portDefinitions: ports(2) }), offers, running: [], count }).launches
        expect(launches).toHaveLength(count)
        expect(launches.map((l) => l.instanceIndex)).toEqual(Array.from({ length: count }, (_, i) => i))
      }),
    )
  })
})

// ---- examples ---------------------------------------------------------------------------------

describe('placeApps, launches bounded', () => {
  const twoApps = fc.tuple(appArb, appArb, fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }))
  const demandsOf = ([a, b, ca, cb]: [AppDefinition, AppDefinition, number, number]) => [
    { app: { ...a, id: '/a' }, count: ca, running: [] },
    { app: { ...b, id: '/b' }, count: cb, running: [] },
  ]

  it('never launches more than maxLaunches, and a bound at or above what fits places the same (property)', () => {
    fc.assert(
      fc.property(twoApps, offersArb, fc.integer({ min: 0, max: 30 }), (apps, offers, max) => {
        const free = placeApps({ demands: demandsOf(apps), offers, agentAttributes })
        const bounded = placeApps({ demands: demandsOf(apps), offers, agentAttributes, maxLaunches: max })
        expect(bounded.launches.length).toBeLessThanOrEqual(max)
        if (max >= free.launches.length) {
          expect(bounded.launches).toEqual(free.launches)
          // What is left of the offers is the same (an offer no app looked at keeps its ranges as offered).
          const left = (r: typeof free) => r.remaining.map((o) => ({ ...o, ports: normalizeRanges(o.ports) }))
          expect(left(bounded)).toEqual(left(free))
          // Once the bound is reached, the apps after are not looked at.
          const looked = bounded.unmatched.map((u) => u.appId)
          expect(looked).toEqual(free.unmatched.map((u) => u.appId).slice(0, looked.length))
        }
      }),
      { seed: 20_261_202, numRuns: 300 },
    )
  })

  it('without constraints, a bound below what fits launches exactly the bound, and the apps after it are not looked at (property)', () => {
    fc.assert(
      fc.property(twoApps, offersArb, fc.integer({ min: 0, max: 30 }), ([a, b, ca, cb], offers, max) => {
        const demands = demandsOf([{ ...a, constraints: [] }, { ...b, constraints: [] }, ca, cb])
        const free = placeApps({ demands, offers, agentAttributes })
        const bounded = placeApps({ demands, offers, agentAttributes, maxLaunches: max })
        expect(bounded.launches.length).toBe(Math.min(max, free.launches.length))
        const firstFull = bounded.launches.filter((l) => l.appId === '/a').length === max && max > 0
        if (firstFull || max === 0) expect(bounded.unmatched.map((u) => u.appId)).not.toContain('/b')
      }),
      { seed: 20_261_202, numRuns: 300 },
    )
  })
})

describe('constraints', () => {
  const rackOffers = [
    offer({ id: 'o1', agentId: 'a1', hostname: 'h1', attributes: { rack: 'r1' } }),
    offer({ id: 'o2', agentId: 'a2', hostname: 'h2', attributes: { rack: 'r1' } }),
    offer({ id: 'o3', agentId: 'a3', hostname: 'h3', attributes: { rack: 'r2' } }),
  ]

  it('GROUP_BY spreads instances evenly over the values seen', () => {
    const { launches } = placeInstances({ app: app({ constraints: [['rack', 'GROUP_BY']] }), offers: rackOffers, running: [], count: 4 })
    const perRack = (r: string): number => launches.filter((l) => rackOffers.find((o) => o.id === l.offerId)!.attributes['rack'] === r).length
    expect(launches).toHaveLength(4)
    expect(perRack('r1')).toBe(2)
    expect(perRack('r2')).toBe(2)
  })

  it('GROUP_BY keeps groups level over many rounds', () => {
    const { launches } = placeInstances({ app: app({ constraints: [['rack', 'GROUP_BY']] }), offers: rackOffers, running: [], count: 6 })
    const perRack = (r: string): number => launches.filter((l) => rackOffers.find((o) => o.id === l.offerId)!.attributes['rack'] === r).length
    expect([perRack('r1'), perRack('r2')]).toEqual([3, 3])
  })

  it('GROUP_BY with a value waits for that many groups before doubling up', () => {
    const { launches, unmatched } = placeInstances({ app: app({ constraints: [['rack', 'GROUP_BY', '3']] }), offers: rackOffers, running: [], count: 3 })
    expect(launches).toHaveLength(2) // one in r1, one in r2, then waits for a third rack
    expect(new Set(launches.map((l) => rackOffers.find((o) => o.id === l.offerId)!.attributes['rack']))).toEqual(new Set(['r1', 'r2']))
    expect(unmatched).toEqual([{ offerId: 'o2', reasons: ['UnfulfilledConstraint'] }])
  })

  it('GROUP_BY favours the least used value given running instances', () => {
    const running = [instance({ agentId: 'a1', host: 'h1' }), instance({ agentId: 'a2', host: 'h2' })]
    const agents = { a1: { rack: 'r1' }, a2: { rack: 'r1' } }
    const o = (rack: string): OfferView => offer({ agentId: 'ax', hostname: 'hx', attributes: { rack } })
    const base = { app: app({ constraints: [['rack', 'GROUP_BY']] }), placed: running, agentAttributes: agents }
    expect(meetsConstraints(base.app, { ...base, offer: o('r1') })).toBe(true) // only one group known
    const withR2 = [...running, instance({ agentId: 'a3', host: 'h3' })]
    const agents2 = { ...agents, a3: { rack: 'r2' } }
    expect(meetsConstraints(base.app, { offer: o('r1'), placed: withR2, agentAttributes: agents2 })).toBe(false)
    expect(meetsConstraints(base.app, { offer: o('r2'), placed: withR2, agentAttributes: agents2 })).toBe(true)
    expect(meetsConstraints(base.app, { offer: o('r9'), placed: withR2, agentAttributes: agents2 })).toBe(true)
  })

  it('CLUSTER without a value pins every instance to the first one', () => {
    const a = app({ constraints: [['rack', 'CLUSTER']] })
    const { launches } = placeInstances({ app: a, offers: [rackOffers[2]!, rackOffers[0]!, rackOffers[1]!], running: [], count: 3 })
    expect(launches.map((l) => l.offerId)).toEqual(['o3', 'o3', 'o3'])
    const running = [instance({ agentId: 'a1', host: 'h1' })]
    const r = placeInstances({ app: a, offers: rackOffers, running, count: 3, agentAttributes: { a1: { rack: 'r1' } } })
    expect(new Set(r.launches.map((l) => l.offerId))).toEqual(new Set(['o1', 'o2']))
  })

  it('CLUSTER with a value behaves like IS', () => {
    const { launches } = placeInstances({ app: app({ constraints: [['rack', 'CLUSTER', 'r2']] }), offers: rackOffers, running: [], count: 2 })
    expect(launches.map((l) => l.offerId)).toEqual(['o3', 'o3'])
  })

  it('an offer without the attribute fails everything but UNLIKE', () => {
    const bare = offer()
    for (const op of ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'MAX_PER', 'IS'] as const) {
      expect(meetsConstraints(app({ constraints: [['rack', op, op === 'MAX_PER' ? '2' : 'r1']] }), { offer: bare, placed: [] })).toBe(false)
    }
    expect(meetsConstraints(app({ constraints: [['rack', 'UNLIKE', 'r1']] }), { offer: bare, placed: [] })).toBe(true)
  })

  it('LIKE matches the whole value; IS compares scalars formatted', () => {
    const o = offer({ attributes: { rack: 'rack-12', level: '0.8' } })
    expect(meetsConstraints(app({ constraints: [['rack', 'LIKE', 'rack-1']] }), { offer: o, placed: [] })).toBe(false)
    expect(meetsConstraints(app({ constraints: [['rack', 'LIKE', 'rack-1.']] }), { offer: o, placed: [] })).toBe(true)
    expect(meetsConstraints(app({ constraints: [['level', 'IS', '0.80']] }), { offer: o, placed: [] })).toBe(true)
    expect(meetsConstraints(app({ constraints: [['@hostname', 'IS', 'h1']] }), { offer: o, placed: [] })).toBe(true)
  })

  it('ignores instances of an older configuration, as Marathon does', () => {
    const a = app({ constraints: [['hostname', 'UNIQUE']], version: T1, versionInfo: { lastScalingAt: T1, lastConfigChangeAt: T1 } })
    const old = instance({ agentId: 'a1', host: 'h1', version: T0 })
    expect(placeInstances({ app: a, offers: [offer()], running: [old], count: 1 }).launches).toHaveLength(1)
    const same = instance({ agentId: 'a1', host: 'h1', version: T1 })
    expect(placeInstances({ app: a, offers: [offer()], running: [same], count: 1 }).launches).toHaveLength(0)
  })
})

describe('ports', () => {
  it('takes the lowest free dynamic ports, skipping used ones', () => {
    const a = app({ portDefinitions: ports(2) })
    expect(assignPorts(a, offer({ ports: [{ begin: 31000, end: 31001 }, { begin: 31005, end: 31010 }] }), { exclude: [31001] })?.hostPorts).toEqual([31000, 31005])
    expect(assignPorts(a, offer({ ports: [{ begin: 31000, end: 31000 }] }))).toBeUndefined()
  })

  it('wraps around from a random start when given an rng', () => {
    const a = app({ portDefinitions: ports(3) })
    expect(assignPorts(a, offer({ ports: [{ begin: 1, end: 4 }] }), { rng: () => 0.75 })?.hostPorts).toEqual([4, 1, 2])
  })

  it('requirePorts takes the declared ports or nothing', () => {
    const a = app({ requirePorts: true, portDefinitions: [{ port: 8080, protocol: 'tcp' }] })
    expect(assignPorts(a, offer({ ports: [{ begin: 8000, end: 8100 }] }))?.hostPorts).toEqual([8080])
    expect(assignPorts(a, offer())).toBeUndefined()
    expect(resourcesFit(a, offer())).toBe(false)
  })

  it('bridge mappings: fixed host ports must be offered, 0 is dynamic, absent takes none', () => {
    const a = app({
      networks: [{ mode: 'container/bridge' }],
      container: {
        type: 'DOCKER',
        docker: { image: 'nginx', forcePullImage: false, privileged: false, parameters: [] },
        volumes: [],
        portMappings: [
          { containerPort: 80, hostPort: 0, servicePort: 10000, protocol: 'tcp', name: 'http' },
          { containerPort: 0, hostPort: 31050, servicePort: 10001, protocol: 'tcp' },
          { containerPort: 9000, servicePort: 0, protocol: 'tcp' },
        ],
      },
    })
    expect(portsNeeded(a)).toBe(2)
    const r = assignPorts(a, offer({ ports: [{ begin: 31050, end: 31052 }] }))
    expect(r?.hostPorts).toEqual([31051, 31050])
    expect(r?.portResources).toEqual([{ begin: 31050, end: 31051 }])
    expect(assignPorts(a, offer({ ports: [{ begin: 32000, end: 32100 }] }))).toBeUndefined()
  })

  it('packs several instances on one offer, each with its own ports', () => {
    const { launches } = placeInstances({ app: app({ cpus: 1, portDefinitions: ports(1) }), offers: [offer({ cpus: 2.5, ports: [{ begin: 31000, end: 31005 }] })], running: [], count: 5 })
    expect(launches.map((l) => l.hostPorts)).toEqual([[31000], [31001]])
  })

  it('reports why offers got nothing', () => {
    const { launches, unmatched } = placeInstances({
      app: app({ cpus: 1, mem: 256, acceptedResourceRoles: ['public'], portDefinitions: ports(1) }),
      offers: [offer({ id: 'small', role: 'public', cpus: 0.5, mem: 64, ports: [] }), offer({ id: 'private' })],
      running: [],
      count: 1,
    })
    expect(launches).toEqual([])
    expect(unmatched).toEqual([
      { offerId: 'small', reasons: ['InsufficientCpus', 'InsufficientMemory', 'InsufficientPorts'] },
      { offerId: 'private', reasons: ['UnfulfilledRole'] },
    ])
  })
})

describe('offerViewFromWire', () => {
  it('sums resources and formats attributes', () => {
    const wire: OfferWire = {
      id: { value: 'o1' },
      framework_id: { value: 'f' },
      agent_id: { value: 'a1' },
      hostname: 'h1',
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, role: '*' },
        { name: 'mem', type: 'SCALAR', scalar: { value: 1024 } },
        { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31005, end: 31010 }, { begin: 31000, end: 31004 }] } },
      ],
      attributes: [
        { name: 'rack', type: 'TEXT', text: { value: 'r1' } },
        { name: 'level', type: 'SCALAR', scalar: { value: 3 } },
        { name: 'ratio', type: 'SCALAR', scalar: { value: 0.80004 } },
      ],
      allocation_info: { role: 'dromos' },
      url: { scheme: 'http', address: { hostname: 'h1', ip: '10.0.0.1', port: 5051 }, path: '/slave(1)' },
    }
    expect(offerViewFromWire(wire)).toEqual({
      id: 'o1',
      agentId: 'a1',
      hostname: 'h1',
      attributes: { rack: 'r1', level: '3', ratio: '0.8' },
      cpus: 2,
      mem: 1024,
      disk: 0,
      gpus: 0,
      ports: [{ begin: 31000, end: 31010 }],
      role: 'dromos',
    })
  })
})

describe('ids', () => {
  it('follows Marathon formats', () => {
    expect(instanceIdFor('/prod/web', 'u1')).toBe('prod_web.instance-u1')
    expect(taskIdFor('/web', '1d0a8d3f')).toBe('web.1d0a8d3f')
    expect(taskIdFor('/prod/web', 'u1')).toBe('prod_web.u1')
    expect(taskIdForInstance('prod_web.instance-u1')).toBe('prod_web.instance-u1._app.1')
    expect(appHostname('/prod/web')).toBe('web.prod')
    expect(appIdFromTaskId('prod_web.instance-8f3c._app.2')).toBe('/prod/web')
    expect(appIdFromTaskId('prod_web.8f3c')).toBe('/prod/web')
    expect(appIdFromTaskId('my.app.8f3c')).toBe('/my.app')
  })
})

describe('buildTaskInfo', () => {
  const hostApp = app({
    id: '/prod/web',
    portDefinitions: [
      { port: 10000, protocol: 'tcp', name: 'http' },
      { port: 0, protocol: 'udp,tcp', name: 'metrics', labels: { VIP_0: '/web:9090' } },
    ],
    labels: { HAPROXY_GROUP: 'external', 'my.label-x': 'v' },
    env: { PORT: 'mine', FOO: 'bar' },
    fetch: [{ uri: 'https://example.com/app.tgz', extract: true, executable: false, cache: false }],
    user: 'nobody',
    taskKillGracePeriodSeconds: 3,
    healthChecks: [
      { protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15 },
      { protocol: 'MESOS_HTTP', path: '/ping', portIndex: 1, gracePeriodSeconds: 30, intervalSeconds: 5, timeoutSeconds: 2, maxConsecutiveFailures: 4, delaySeconds: 1 },
    ],
  })
  const input = { app: hostApp, taskId: 'prod_web.u1', offer: offer({ role: 'dromos' }), hostPorts: [31000, 31001], servicePorts: [10000, 10001] }

  it('gives Marathon environment variables, with the app env winning', () => {
    const env = taskEnvironment(input)
    expect(env).toMatchObject({
      MESOS_TASK_ID: 'prod_web.u1',
      MARATHON_APP_ID: '/prod/web',
      MARATHON_APP_VERSION: T0,
      MARATHON_APP_RESOURCE_CPUS: '0.5',
      MARATHON_APP_RESOURCE_MEM: '128.0',
      MARATHON_APP_RESOURCE_DISK: '0.0',
      MARATHON_APP_RESOURCE_GPUS: '0',
      MARATHON_APP_LABELS: 'HAPROXY_GROUP MY_LABEL_X',
      MARATHON_APP_LABEL_HAPROXY_GROUP: 'external',
      MARATHON_APP_LABEL_MY_LABEL_X: 'v',
      PORT0: '31000',
      PORT1: '31001',
      PORT_10000: '31000',
      PORT_10001: '31001',
      PORT_HTTP: '31000',
      PORT_METRICS: '31001',
      PORTS: '31000,31001',
      PORT: 'mine',
      HOST: 'h1',
      FOO: 'bar',
    })
    expect(env).not.toHaveProperty('MARATHON_APP_DOCKER_IMAGE')
  })

  it('builds a command task with resources, uris, kill policy, labels, discovery and the Mesos health check', () => {
    const task = buildTaskInfo(input)
    expect(TaskInfoSchema.safeParse(task).success).toBe(true)
    expect(task.name).toBe('web.prod')
    expect(task.task_id).toEqual({ value: 'prod_web.u1' })
    expect(task.agent_id).toEqual({ value: 'a1' })
    expect(task.resources).toEqual([
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 }, role: '*', allocation_info: { role: 'dromos' } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 128 }, role: '*', allocation_info: { role: 'dromos' } },
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] }, role: '*', allocation_info: { role: 'dromos' } },
    ])
    expect(task.command).toMatchObject({ value: 'python3 -m http.server $PORT0', shell: true, user: 'nobody', uris: [{ value: 'https://example.com/app.tgz', extract: true, executable: false, cache: false }] })
    expect(task.container).toBeUndefined()
    expect(task.kill_policy).toEqual({ grace_period: { nanoseconds: 3_000_000_000 } })
    expect(task.labels).toEqual({ labels: [{ key: 'HAPROXY_GROUP', value: 'external' }, { key: 'my.label-x', value: 'v' }] })
    expect(task.health_check).toEqual({
      type: 'HTTP',
      http: { port: 31001, path: '/ping', scheme: 'http' },
      delay_seconds: 1,
      interval_seconds: 5,
      timeout_seconds: 2,
      consecutive_failures: 4,
      grace_period_seconds: 30,
    })
    expect(task['discovery']).toEqual({
      visibility: 'FRAMEWORK',
      name: 'web.prod',
      ports: {
        ports: [
          { number: 31000, protocol: 'tcp', name: 'http' },
          { number: 31001, protocol: 'udp', name: 'metrics', labels: { labels: [{ key: 'VIP_0', value: '/web:9090' }] } },
          { number: 31001, protocol: 'tcp', name: 'metrics', labels: { labels: [{ key: 'VIP_0', value: '/web:9090' }] } },
        ],
      },
    })
  })

  it('args without a container: no shell, argv[0] as the value', () => {
    const { cmd: _cmd, ...noCmd } = app()
    const task = buildTaskInfo({ app: { ...noCmd, args: ['sleep', '100'] }, taskId: 't', offer: offer(), hostPorts: [], servicePorts: [] })
    expect(task.command).toMatchObject({ shell: false, value: 'sleep', arguments: ['sleep', '100'] })
    expect(task.command?.environment?.variables.some((v) => v.name === 'PORTS')).toBe(false)
  })

  describe('docker in bridge mode', () => {
    const { cmd: _cmd, ...noCmd } = app()
    const dockerApp: AppDefinition = {
      ...noCmd,
      id: '/nginx',
      args: ['-g', 'daemon off;'],
      networks: [{ mode: 'container/bridge' }],
      container: {
        type: 'DOCKER',
        docker: { image: 'nginx:1.27', forcePullImage: true, privileged: false, parameters: [{ key: 'memory-swap', value: '-1' }] },
        volumes: [{ containerPath: '/data', hostPath: '/srv/data', mode: 'RO' }],
        portMappings: [
          { containerPort: 80, hostPort: 0, servicePort: 10000, protocol: 'tcp', name: 'http', labels: { VIP_0: '1.2.3.4:80' } },
          { containerPort: 0, hostPort: 0, servicePort: 10001, protocol: 'udp,tcp' },
        ],
      },
      healthChecks: [{ protocol: 'MESOS_TCP', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 5, timeoutSeconds: 2, maxConsecutiveFailures: 3, delaySeconds: 0 }],
    }
    const task = buildTaskInfo({ app: dockerApp, taskId: 'nginx.u2', offer: offer(), hostPorts: [31000, 31001], servicePorts: [10000, 10001] })

    it('has the Docker container shape, with container port 0 set to the host port', () => {
      expect(TaskInfoSchema.safeParse(task).success).toBe(true)
      expect(task.container).toEqual({
        type: 'DOCKER',
        docker: {
          image: 'nginx:1.27',
          network: 'BRIDGE',
          port_mappings: [
            { host_port: 31000, container_port: 80, protocol: 'tcp' },
            { host_port: 31001, container_port: 31001, protocol: 'udp' },
            { host_port: 31001, container_port: 31001, protocol: 'tcp' },
          ],
          privileged: false,
          parameters: [
            { key: 'memory-swap', value: '-1' },
            { key: 'label', value: 'MESOS_TASK_ID=nginx.u2' },
          ],
          force_pull_image: true,
        },
        volumes: [{ container_path: '/data', host_path: '/srv/data', mode: 'RO' }],
      })
      expect(task.command).toMatchObject({ shell: false, arguments: ['-g', 'daemon off;'] })
      expect(task.command?.value).toBeUndefined()
    })

    it('maps the health check to the container port', () => {
      expect(task.health_check).toMatchObject({ type: 'TCP', tcp: { port: 80 } })
    })

    it('sets port variables from the mappings', () => {
      const env = Object.fromEntries((task.command?.environment?.variables ?? []).map((v) => [v.name, v.value]))
      expect(env).toMatchObject({ PORT0: '31000', PORT1: '31001', PORT_80: '31000', PORT_31001: '31001', PORT_HTTP: '31000', PORT: '31000', PORTS: '31000,31001', MARATHON_APP_DOCKER_IMAGE: 'nginx:1.27' })
    })

    it('labels discovery ports with the host network scope', () => {
      expect((task['discovery'] as { ports: { ports: unknown[] } }).ports.ports[0]).toEqual({
        number: 31000,
        protocol: 'tcp',
        name: 'http',
        labels: { labels: [{ key: 'VIP_0', value: '1.2.3.4:80' }, { key: 'network-scope', value: 'host' }] },
      })
    })
  })

  it('maps COMMAND health checks and skips Marathon-run ones', () => {
    const a = app({
      healthChecks: [
        { protocol: 'TCP', portIndex: 0, gracePeriodSeconds: 1, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 1, delaySeconds: 0 },
        { protocol: 'COMMAND', command: { value: 'curl -f localhost:$PORT0' }, gracePeriodSeconds: 2, intervalSeconds: 3, timeoutSeconds: 4, maxConsecutiveFailures: 5, delaySeconds: 6 },
      ],
      portDefinitions: ports(1),
    })
    const task = buildTaskInfo({ app: a, taskId: 't', offer: offer(), hostPorts: [31000], servicePorts: [10000] })
    expect(task.health_check).toEqual({
      type: 'COMMAND',
      command: { value: 'curl -f localhost:$PORT0', shell: true, arguments: [], uris: [] },
      delay_seconds: 6,
      interval_seconds: 3,
      timeout_seconds: 4,
      consecutive_failures: 5,
      grace_period_seconds: 2,
    })
    expect(buildTaskInfo({ app: app({ healthChecks: [a.healthChecks[0]!] }), taskId: 't', offer: offer(), hostPorts: [], servicePorts: [] }).health_check).toBeUndefined()
  })
})
