// The framework's real offer handling, driven through its scheduler connection: offers go in as
// OFFERS events, and what comes out (ACCEPT with task infos, DECLINE) is checked against the
// offers, the constraints and the pure placement decision the shell must run unchanged.
import fc from 'fast-check'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { OfferWire, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import type { SchedulerClient, SchedulerClientOptions, SchedulerEvent } from '../api/scheduler-client.js'
import { resourcesFromWire } from '../api/mesos.js'
import { openSqliteStore } from '../store/sqlite.js'
import { createEventBus } from './events.js'
import type { AppsFramework } from './framework.js'
import { createAppsFramework } from './framework.js'
import { offerViewFromWire } from './offer-view.js'
import { placeApps } from './placement.js'
import { testApp } from './testing.js'
import type { AppDefinition, Constraint } from './types.js'

const log = pino({ level: process.env['TEST_LOG'] ?? 'silent' })

// ---- a recording scheduler connection --------------------------------------------------------

interface Answer {
  offerIds: string[]
  tasks: TaskInfo[]
}

interface Recorder {
  readonly answers: Answer[]
  readonly revives: number
  readonly kills: string[]
  emit(e: SchedulerEvent): void
}

function recordingConnect(): { connect: (o: SchedulerClientOptions) => SchedulerClient; recorder: Recorder } {
  let onEvent: ((e: SchedulerEvent) => void) | undefined
  const answers: Answer[] = []
  const kills: string[] = []
  let revives = 0
  const recorder: Recorder = {
    answers,
    kills,
    get revives() {
      return revives
    },
    emit: (e) => onEvent?.(e),
  }
  const connect = (o: SchedulerClientOptions): SchedulerClient => {
    onEvent = o.onEvent
    return {
      start() {},
      stop() {},
      connected: () => true,
      master: () => 'http://127.0.0.1:5050',
      frameworkId: () => 'fw-1',
      call: async () => {},
      accept: async (offerIds: string[], tasks: TaskInfo[]) => {
        answers.push({ offerIds, tasks })
      },
      decline: async (offerIds: string[]) => {
        answers.push({ offerIds, tasks: [] })
      },
      acknowledge: async (_s: TaskStatusWire) => {},
      kill: async (taskId: string) => {
        kills.push(taskId)
      },
      reconcile: async () => {},
      revive: async () => {
        revives++
      },
      suppress: async () => {},
    }
  }
  return { connect, recorder }
}

const running: AppsFramework[] = []
afterEach(async () => {
  for (const f of running.splice(0)) await f.stop()
})

async function startFramework(opts: { maxLaunchesInFlight?: number } = {}): Promise<{ framework: AppsFramework; recorder: Recorder }> {
  const { connect, recorder } = recordingConnect()
  const framework = createAppsFramework({
    ...opts,
    store: openSqliteStore(':memory:'),
    master: 'http://127.0.0.1:1',
    log,
    clock: { now: () => Date.now() },
    events: createEventBus({ log, now: () => new Date() }),
    frameworkName: 'test',
    hostname: 'localhost',
    tickMs: 60_000,
    reconcileIntervalMs: 60_000,
    connect,
  })
  running.push(framework)
  await framework.start()
  recorder.emit({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, heartbeat_interval_seconds: 15 } } as SchedulerEvent)
  return { framework, recorder }
}

/** Deploys, then waits for the REVIVE that the master answers with offers. */
async function deploy(framework: AppsFramework, recorder: Recorder, apps: AppDefinition[]): Promise<void> {
  const before = recorder.revives
  await framework.deploy({ put: apps, remove: [] }, { force: false })
  await until(() => recorder.revives > before, 'a REVIVE')
}

async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

async function answered(recorder: Recorder, offers: number): Promise<void> {
  await until(() => recorder.answers.reduce((n, a) => n + a.offerIds.length, 0) >= offers, `${offers} offers answered`)
}

// ---- the cluster the offers come from --------------------------------------------------------

const AGENTS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'] as const
const RACK: Record<string, string | undefined> = { a0: 'r1', a1: 'r1', a2: 'r2', a3: 'r2', a4: 'r3', a5: undefined }
const attributesOf = (agentId: string): Record<string, string> => {
  const rack = RACK[agentId]
  return { ...(rack !== undefined ? { rack } : {}), level: agentId === 'a0' ? '3' : '1' }
}
const hostOf = (agentId: string): string => `host-${agentId}`

let offerSeq = 0
function offerWire(o: { agentId: string; cpus: number; mem: number; ports: { begin: number; end: number } }): OfferWire {
  offerSeq++
  return {
    id: { value: `offer-${offerSeq}` },
    framework_id: { value: 'fw-1' },
    agent_id: { value: o.agentId },
    hostname: hostOf(o.agentId),
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: o.cpus }, role: '*', allocation_info: { role: '*' } },
      { name: 'mem', type: 'SCALAR', scalar: { value: o.mem }, role: '*', allocation_info: { role: '*' } },
      { name: 'disk', type: 'SCALAR', scalar: { value: 1000 }, role: '*', allocation_info: { role: '*' } },
      { name: 'ports', type: 'RANGES', ranges: { range: [o.ports] }, role: '*', allocation_info: { role: '*' } },
    ],
    attributes: Object.entries(attributesOf(o.agentId)).map(([name, value]) => ({ name, type: 'TEXT', text: { value } })),
    allocation_info: { role: '*' },
  } as unknown as OfferWire
}

/** One offer per agent and pass, as the master sends them. */
const passArb = fc
  .uniqueArray(fc.constantFrom(...AGENTS), { minLength: 1, maxLength: AGENTS.length })
  .chain((agents) =>
    fc.tuple(
      ...agents.map((agentId) =>
        fc.record({
          agentId: fc.constant(agentId),
          cpus: fc.integer({ min: 0, max: 30 }).map((n) => n / 10),
          mem: fc.integer({ min: 0, max: 1024 }),
          ports: fc.integer({ min: 31000, max: 31010 }).chain((begin) => fc.integer({ min: 0, max: 5 }).map((len) => ({ begin, end: begin + len }))),
        }),
      ),
    ),
  )

const constraintArb: fc.Arbitrary<Constraint> = fc.oneof(
  fc.constantFrom<Constraint>(['hostname', 'UNIQUE'], ['rack', 'UNIQUE']),
  fc.integer({ min: 1, max: 2 }).map((n): Constraint => ['rack', 'MAX_PER', String(n)]),
  fc.integer({ min: 1, max: 2 }).map((n): Constraint => ['hostname', 'MAX_PER', String(n)]),
  fc.constantFrom<Constraint>(['rack', 'CLUSTER', 'r2'], ['rack', 'IS', 'r1'], ['level', 'IS', '1']),
  fc.constantFrom<Constraint>(['rack', 'LIKE', 'r[12]'], ['rack', 'UNLIKE', 'r1'], ['hostname', 'UNLIKE', '.*a2']),
  fc.constantFrom<Constraint>(['rack', 'GROUP_BY'], ['rack', 'GROUP_BY', '3']),
)

const appsArb = fc.uniqueArray(
  fc.record({
    name: fc.constantFrom('p0', 'p1', 'p2'),
    instances: fc.integer({ min: 1, max: 6 }),
    cpus: fc.integer({ min: 1, max: 10 }).map((n) => n / 10),
    mem: fc.integer({ min: 0, max: 256 }),
    ports: fc.integer({ min: 0, max: 2 }),
    constraints: fc.array(constraintArb, { maxLength: 2 }),
  }),
  { minLength: 1, maxLength: 3, selector: (a) => a.name },
)

function appOf(a: { name: string; instances: number; cpus: number; mem: number; ports: number; constraints: Constraint[] }): AppDefinition {
  return testApp({
    id: `/${a.name}`,
    instances: a.instances,
    cpus: a.cpus,
    mem: a.mem,
    portDefinitions: Array.from({ length: a.ports }, () => ({ port: 0, protocol: 'tcp' as const })),
    constraints: a.constraints,
  })
}

// ---- reading launches back -------------------------------------------------------------------

interface Launched {
  appId: string
  offerId: string
  agentId: string
  cpus: number
  mem: number
  hostPorts: number[]
}

function launchesOf(answers: readonly Answer[]): Launched[] {
  return answers.flatMap((a) =>
    a.tasks.map((t) => {
      const r = resourcesFromWire(t.resources)
      const hostPorts = (r.ranges['ports'] ?? []).flatMap((x) => Array.from({ length: x.end - x.begin + 1 }, (_, i) => x.begin + i))
      const appId = t.command?.environment?.variables?.find((v) => v.name === 'MARATHON_APP_ID')?.value ?? ''
      return { appId, offerId: a.offerIds[0]!, agentId: t.agent_id.value, cpus: r.scalars['cpus'] ?? 0, mem: r.scalars['mem'] ?? 0, hostPorts }
    }),
  )
}

const fieldOf = (agentId: string, field: string): string | undefined => (field === 'hostname' ? hostOf(agentId) : attributesOf(agentId)[field])

function checkConstraint(c: Constraint, placed: readonly Launched[]): void {
  const [field, op, value = ''] = c
  const values = placed.map((l) => fieldOf(l.agentId, field))
  const counts = new Map<string | undefined, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  switch (op) {
    case 'UNIQUE':
      expect(values.every((v) => v !== undefined), `${field} UNIQUE needs the field`).toBe(true)
      expect(new Set(values).size, `${field} UNIQUE`).toBe(values.length)
      return
    case 'MAX_PER':
      for (const [v, n] of counts) expect(n, `${field} MAX_PER ${value} (${v})`).toBeLessThanOrEqual(Number(value))
      return
    case 'CLUSTER':
    case 'IS':
      for (const v of values) expect(v, `${field} ${op} ${value}`).toBe(value)
      return
    case 'LIKE':
      for (const v of values) expect(v !== undefined && new RegExp(`^(?:${value})$`).test(v), `${field} LIKE ${value}: ${v}`).toBe(true)
      return
    case 'UNLIKE':
      for (const v of values) expect(v === undefined || !new RegExp(`^(?:${value})$`).test(v), `${field} UNLIKE ${value}: ${v}`).toBe(true)
      return
    case 'GROUP_BY':
      // Spreading is checked against the pure decision below; here, only agents with the field.
      return
  }
}

// ---- the properties ----------------------------------------------------------------------------

describe('framework offer handling', () => {
  it('answers every offer once, within its resources, holding every constraint, exactly as one placeApps pass decides', async () => {
    await fc.assert(
      fc.asyncProperty(appsArb, passArb, passArb, async (specs, pass1, pass2) => {
        const apps = specs.map(appOf)
        const { framework, recorder } = await startFramework()
        await deploy(framework, recorder, apps)

        const wire1 = pass1.map(offerWire)
        recorder.emit({ type: 'OFFERS', offers: { offers: wire1 } } as SchedulerEvent)
        await answered(recorder, wire1.length)
        const first = launchesOf(recorder.answers)

        // The shell's launches are the pure decision's, offer for offer and port for port.
        const stored = apps.map((a) => framework.state.apps.get(a.id)!).sort((x, y) => x.id.localeCompare(y.id))
        const decided = placeApps({ demands: stored.map((app) => ({ app, count: app.instances, running: [] })), offers: wire1.map(offerViewFromWire) })
        const key = (l: { appId: string; offerId: string; hostPorts: number[] }): string => `${l.appId}@${l.offerId}:${l.hostPorts.join(',')}`
        expect(first.map(key).sort()).toEqual(decided.launches.map(key).sort())

        const wire2 = pass2.map(offerWire)
        recorder.emit({ type: 'OFFERS', offers: { offers: wire2 } } as SchedulerEvent)
        await answered(recorder, wire1.length + wire2.length)
        const all = launchesOf(recorder.answers)

        // Every offer is answered exactly once.
        const answeredIds = recorder.answers.flatMap((a) => a.offerIds).sort()
        expect(answeredIds).toEqual([...wire1, ...wire2].map((o) => o.id.value).sort())

        // No launch takes more than its offer holds, and no host port is given twice on an agent.
        for (const o of [...wire1, ...wire2]) {
          const view = offerViewFromWire(o)
          const on = all.filter((l) => l.offerId === view.id)
          expect(on.reduce((n, l) => n + l.cpus * 1000, 0)).toBeLessThanOrEqual(Math.round(view.cpus * 1000))
          expect(on.reduce((n, l) => n + l.mem, 0)).toBeLessThanOrEqual(view.mem)
          for (const p of on.flatMap((l) => l.hostPorts)) expect(view.ports.some((r) => p >= r.begin && p <= r.end)).toBe(true)
        }
        for (const agentId of AGENTS) {
          const ports = all.filter((l) => l.agentId === agentId).flatMap((l) => l.hostPorts)
          expect(new Set(ports).size).toBe(ports.length)
        }

        // Per app: never more than asked, and the constraints hold over both passes together.
        for (const app of apps) {
          const mine = all.filter((l) => l.appId === app.id)
          expect(mine.length).toBeLessThanOrEqual(app.instances)
          for (const c of app.constraints) checkConstraint(c, mine)
        }
        await framework.stop()
      }),
      { numRuns: 60 },
    )
  }, 120_000)

  it('UNIQUE over a rack holds across two offers from agents of the same rack', async () => {
    const { framework, recorder } = await startFramework()
    await deploy(framework, recorder, [testApp({ id: '/u', instances: 2, cpus: 0.1, mem: 16, constraints: [['rack', 'UNIQUE']] })])
    const offers = ['a0', 'a1'].map((agentId) => offerWire({ agentId, cpus: 2, mem: 512, ports: { begin: 31000, end: 31005 } }))
    recorder.emit({ type: 'OFFERS', offers: { offers } } as SchedulerEvent)
    await answered(recorder, 2)
    expect(launchesOf(recorder.answers)).toHaveLength(1)

    // A later offer from the same rack still may not take the second instance: the first
    // instance's agent attributes are remembered.
    const again = offerWire({ agentId: 'a1', cpus: 2, mem: 512, ports: { begin: 31000, end: 31005 } })
    recorder.emit({ type: 'OFFERS', offers: { offers: [again] } } as SchedulerEvent)
    await answered(recorder, 3)
    expect(launchesOf(recorder.answers)).toHaveLength(1)
    const other = offerWire({ agentId: 'a2', cpus: 2, mem: 512, ports: { begin: 31000, end: 31005 } })
    recorder.emit({ type: 'OFFERS', offers: { offers: [other] } } as SchedulerEvent)
    await answered(recorder, 4)
    expect(launchesOf(recorder.answers).map((l) => RACK[l.agentId]).sort()).toEqual(['r1', 'r2'])
  })

  it('GROUP_BY spreads one pass round-robin over the racks offered', async () => {
    const { framework, recorder } = await startFramework()
    await deploy(framework, recorder, [testApp({ id: '/g', instances: 3, cpus: 0.1, mem: 16, constraints: [['rack', 'GROUP_BY']] })])
    const offers = ['a0', 'a1', 'a2', 'a4'].map((agentId) => offerWire({ agentId, cpus: 2, mem: 512, ports: { begin: 31000, end: 31005 } }))
    recorder.emit({ type: 'OFFERS', offers: { offers } } as SchedulerEvent)
    await answered(recorder, 4)
    expect(launchesOf(recorder.answers).map((l) => RACK[l.agentId]).sort()).toEqual(['r1', 'r2', 'r3'])
  })

  it('two apps share an offer without overbooking it', async () => {
    const { framework, recorder } = await startFramework()
    const a = testApp({ id: '/a', instances: 3, cpus: 1, mem: 16 })
    const b = testApp({ id: '/b', instances: 3, cpus: 1, mem: 16 })
    await deploy(framework, recorder, [a, b])
    recorder.emit({ type: 'OFFERS', offers: { offers: [offerWire({ agentId: 'a0', cpus: 4, mem: 512, ports: { begin: 31000, end: 31005 } })] } } as SchedulerEvent)
    await answered(recorder, 1)
    const launched = launchesOf(recorder.answers)
    expect(launched).toHaveLength(4)
    expect(launched.filter((l) => l.appId === '/a')).toHaveLength(3)
  })
})

describe('launches in flight', () => {
  const bigOffers = (): OfferWire[] => AGENTS.map((agentId) => offerWire({ agentId, cpus: 4, mem: 1024, ports: { begin: 31000, end: 31005 } }))
  const update = (recorder: Recorder, taskId: string, state: string): void =>
    recorder.emit({ type: 'UPDATE', update: { status: { task_id: { value: taskId }, state, agent_id: { value: 'a0' }, timestamp: 1 } } } as SchedulerEvent)
  const offered = (recorder: Recorder): number => recorder.answers.reduce((n, a) => n + a.offerIds.length, 0)
  /** Sends an offer from every agent and hands back the launches of their answers. */
  async function pass(recorder: Recorder): Promise<Launched[]> {
    const before = recorder.answers.length
    const offers = bigOffers()
    const total = offered(recorder) + offers.length
    recorder.emit({ type: 'OFFERS', offers: { offers } } as SchedulerEvent)
    await answered(recorder, total)
    return launchesOf(recorder.answers.slice(before))
  }
  const taskIds = (recorder: Recorder): string[] => recorder.answers.flatMap((a) => a.tasks.map((t) => t.task_id.value))

  it('launch no more than the bound, and more as launched tasks run or end', async () => {
    const { framework, recorder } = await startFramework({ maxLaunchesInFlight: 3 })
    await deploy(framework, recorder, [testApp({ id: '/a', instances: 5, cpus: 0.1, mem: 16 }), testApp({ id: '/b', instances: 5, cpus: 0.1, mem: 16 })])
    expect(await pass(recorder)).toHaveLength(3)
    // Nothing has started: the next offers are all declined.
    expect(await pass(recorder)).toHaveLength(0)
    const [t1, t2, t3] = taskIds(recorder)
    update(recorder, t1!, 'TASK_RUNNING')
    update(recorder, t2!, 'TASK_FAILED')
    await until(() => framework.state.launchesInFlight() === 1, 'two launches to leave the flight')
    // One ran and one ended: room for two, however much the offers hold.
    expect(await pass(recorder)).toHaveLength(2)
    update(recorder, t3!, 'TASK_STARTING')
    expect(await pass(recorder)).toHaveLength(0)
    expect(framework.state.launchesInFlight()).toBe(3)
  })

  it('give every app waiting a turn when the bound is short of what they want', async () => {
    const { framework, recorder } = await startFramework({ maxLaunchesInFlight: 1 })
    await deploy(framework, recorder, ['/a', '/b', '/c'].map((id) => testApp({ id, instances: 4, cpus: 0.1, mem: 16 })))
    const apps: string[] = []
    for (let i = 0; i < 6; i++) {
      const launched = await pass(recorder)
      expect(launched).toHaveLength(1)
      apps.push(launched[0]!.appId)
      update(recorder, taskIds(recorder).at(-1)!, 'TASK_RUNNING')
      await until(() => framework.state.launchesInFlight() === 0, 'the launch to run')
    }
    // Three passes in a row always reach three different apps.
    for (let i = 0; i + 3 <= apps.length; i++) expect(new Set(apps.slice(i, i + 3)).size).toBe(3)
  })

  it('leave a deploy of many instances to one pass under the default bound', async () => {
    const { framework, recorder } = await startFramework()
    await deploy(framework, recorder, [testApp({ id: '/a', instances: 40, cpus: 0.1, mem: 16 })])
    expect(await pass(recorder)).toHaveLength(40)
  })
})

describe('updates of tasks the framework does not know', () => {
  it('kills a running one, and does not answer TASK_UNKNOWN (the master not knowing it either) with another kill', async () => {
    const { recorder } = await startFramework()
    const update = (taskId: string, state: string): void =>
      recorder.emit({ type: 'UPDATE', update: { status: { task_id: { value: taskId }, state, agent_id: { value: 'a0' }, timestamp: 1 } } } as SchedulerEvent)
    update('stray.1', 'TASK_RUNNING')
    await until(() => recorder.kills.length === 1, 'a KILL')
    update('stray.1', 'TASK_UNKNOWN')
    update('stray.2', 'TASK_RUNNING')
    await until(() => recorder.kills.length >= 2, 'a second KILL')
    expect(recorder.kills).toEqual(['stray.1', 'stray.2'])
  })
})
