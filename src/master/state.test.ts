import fc from 'fast-check'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { FrameworkInfo, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import { FrameworkInfoSchema, TaskInfoSchema } from '../api/mesos.js'
import type { Resources } from '../core/resources.js'
import { add, EMPTY, subtract } from '../core/resources.js'
import type { Store } from '../store/store.js'
import type { MasterState } from './state.js'
import { shareTotal } from './allocator.js'
import { createMasterState, ended } from './state.js'
import type { MasterCommand } from './types.js'

const log = pino({ level: 'silent' })

/** A store in memory whose writes each take a turn of the event loop, so that order matters. */
function memoryStore(): Store & { entries: Map<string, unknown> } {
  const entries = new Map<string, unknown>()
  const later = (): Promise<void> => new Promise((r) => setImmediate(r))
  return {
    entries,
    async get<T>(key: string) {
      return structuredClone(entries.get(key)) as T | undefined
    },
    async put(key, value) {
      await later()
      entries.set(key, structuredClone(value))
    },
    async delete(key) {
      await later()
      entries.delete(key)
    },
    async list<T>(prefix: string) {
      return [...entries].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)) as Array<[string, T]>
    },
    async close() {},
  }
}

interface Replica {
  state: MasterState
  store: ReturnType<typeof memoryStore>
  applied: Array<[MasterCommand, number]>
  apply(cmd: MasterCommand, at: number): void
}

/** A fresh state whose applied commands are recorded, as HA would persist them. */
function replica(): Replica {
  const store = memoryStore()
  const state = createMasterState({ store, log })
  const applied: Array<[MasterCommand, number]> = []
  return {
    state,
    store,
    applied,
    apply(cmd, at) {
      applied.push([cmd, at])
      state.apply(cmd, at)
    },
  }
}

const snapshot = (s: MasterState): Record<string, unknown> => ({
  agents: new Map(s.agents),
  frameworks: new Map(s.frameworks),
  completedFrameworks: [...s.completedFrameworks],
  tasks: new Map(s.tasks),
  completedTasks: [...s.completedTasks],
  offers: new Map(s.offers),
  recoveredAgents: new Map(s.recoveredAgents),
  unreachableAgents: new Map(s.unreachableAgents),
  removedFrameworkIds: new Set(s.removedFrameworkIds),
})

async function replay(commands: ReadonlyArray<[MasterCommand, number]>): Promise<Replica> {
  const r = replica()
  for (const [cmd, at] of commands) r.apply(cmd, at)
  await r.state.written()
  return r
}

const res = (cpus: number, mem = 128): Resources => ({ scalars: { cpus, mem }, ranges: {} })
const frameworkInfo = (name: string, roles: string[] = ['*']): FrameworkInfo => FrameworkInfoSchema.parse({ name, roles, failover_timeout: 60 })
const taskInfo = (taskId: string, agentId: string): TaskInfo =>
  TaskInfoSchema.parse({ name: taskId, task_id: { value: taskId }, agent_id: { value: agentId }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }] })
const status = (taskId: string, state: string, at: number, uuid?: string): TaskStatusWire => ({
  task_id: { value: taskId },
  state,
  timestamp: at / 1000,
  ...(uuid ? { uuid } : {}),
})
const agent = (agentId: string, reregistered = false): MasterCommand => ({
  type: 'agent-registered',
  agentId,
  reregistered,
  hostname: `${agentId}.local`,
  ip: '127.0.0.1',
  port: 5051,
  total: res(4, 4096),
  attributes: [],
  version: '1.11.0',
})
const task = (taskId: string, frameworkId: string, agentId: string, at: number): MasterCommand => ({
  type: 'task-added',
  task: { taskId, frameworkId, agentId, role: '*', info: taskInfo(taskId, agentId), resources: res(1), state: 'TASK_STAGING', statuses: [status(taskId, 'TASK_STAGING', at)] },
})

/** A master's life: agents and frameworks come, offers are made and used, tasks run and end. */
const script: ReadonlyArray<[MasterCommand, number]> = [
  [{ type: 'agents-recovered', agents: [{ id: 'old', hostname: 'old.local', ip: '127.0.0.1', port: 5052, registeredAt: 1 }] }, 1000],
  [agent('a1'), 1001],
  [agent('a2'), 1002],
  [{ type: 'framework-subscribed', frameworkId: 'f1', info: frameworkInfo('one', ['web', 'batch']), resubscribed: false, suppressedRoles: ['batch'] }, 1003],
  [{ type: 'framework-connected', frameworkId: 'f1', streamId: 's1' }, 1003],
  [{ type: 'framework-subscribed', frameworkId: 'f2', info: frameworkInfo('two'), resubscribed: false, suppressedRoles: [] }, 1004],
  [{ type: 'framework-connected', frameworkId: 'f2', streamId: 's2' }, 1004],
  [{ type: 'offer-created', offer: { id: 'o1', frameworkId: 'f1', agentId: 'a1', role: 'web', resources: res(4, 4096) } }, 1005],
  [{ type: 'offer-created', offer: { id: 'o2', frameworkId: 'f2', agentId: 'a2', role: '*', resources: res(4, 4096) } }, 1005],
  [{ type: 'offer-removed', offerId: 'o1' }, 1006],
  [task('t1', 'f1', 'a1', 1006), 1006],
  [{ type: 'refusal-added', frameworkId: 'f1', agentId: 'a1', role: 'web', resources: res(1, 512), refuseSeconds: 5 }, 1006],
  [{ type: 'refusal-added', frameworkId: 'f1', agentId: 'a1', role: 'batch', resources: res(2, 512), refuseSeconds: 5 }, 1006],
  [{ type: 'task-status', taskId: 't1', frameworkId: 'f1', status: status('t1', 'TASK_RUNNING', 1007, 'u1') }, 1007],
  [{ type: 'task-status', taskId: 't1', frameworkId: 'f1', status: status('t1', 'TASK_RUNNING', 1008, 'u2') }, 1008],
  [{ type: 'task-acknowledged', taskId: 't1', frameworkId: 'f1', uuid: 'u2' }, 1009],
  [{ type: 'offer-removed', offerId: 'o2' }, 1010],
  [{ type: 'refusal-added', frameworkId: 'f2', agentId: 'a2', role: '*', resources: res(4, 4096), refuseSeconds: 0 }, 1010],
  [task('t2', 'f2', 'a2', 1010), 1010],
  [{ type: 'roles-suppressed', frameworkId: 'f2', roles: ['*'] }, 1011],
  [{ type: 'roles-revived', frameworkId: 'f1', roles: ['batch'] }, 1012],
  [{ type: 'framework-updated', frameworkId: 'f2', info: frameworkInfo('two, renamed') }, 1013],
  [{ type: 'agent-ping-missed', agentId: 'a2' }, 1014],
  [{ type: 'agent-ping-missed', agentId: 'a2' }, 1015],
  [{ type: 'agent-ping-answered', agentId: 'a1' }, 1015],
  [{ type: 'agent-unreachable', agentId: 'a2' }, 1016],
  [{ type: 'task-status', taskId: 't2', frameworkId: 'f2', status: status('t2', 'TASK_LOST', 1016) }, 1016],
  [agent('a2', true), 1017],
  [{ type: 'task-state-reported', taskId: 't2', frameworkId: 'f2', state: 'TASK_RUNNING' }, 1017],
  [{ type: 'framework-disconnected', frameworkId: 'f2' }, 1018],
  [{ type: 'task-status', taskId: 't2', frameworkId: 'f2', status: status('t2', 'TASK_KILLED', 1019) }, 1019],
  [{ type: 'task-removed', taskId: 't2', frameworkId: 'f2' }, 1019],
  [{ type: 'framework-removed', frameworkId: 'f2' }, 1020],
  [{ type: 'recovered-agent-expired', agentId: 'old' }, 1021],
  [{ type: 'framework-recovered', frameworkId: 'f3', info: frameworkInfo('three') }, 1022],
]

describe('master state', () => {
  it('replaying the commands of a scripted run gives the same state and the same store', async () => {
    const first = await replay(script)
    const s = first.state
    // The script did what it says.
    expect(s.agents.get('a2')).toMatchObject({ registeredAt: 1002, reregisteredAt: 1017, missedPings: 0 })
    expect(s.agents.get('a2')?.unreachableSince).toBeUndefined()
    // Reviving batch cleared only batch's refusal.
    expect(s.frameworks.get('f1')).toMatchObject({ suppressedRoles: new Set(), refusals: new Map([['a1', [{ role: 'web', resources: res(1, 512), until: 6006 }]]]), stream: { streamId: 's1' } })
    expect(s.tasks.get('f1/t1')).toMatchObject({ state: 'TASK_RUNNING', statuses: [{ state: 'TASK_STAGING' }, { state: 'TASK_RUNNING', uuid: 'u2' }] })
    expect(s.tasks.get('f1/t1')?.pendingUuid).toBeUndefined()
    expect(s.completedFrameworks).toMatchObject([{ id: 'f2', unregisteredAt: 1020, suppressedRoles: new Set(['*']) }])
    expect(s.completedTasks).toMatchObject([{ taskId: 't2', state: 'TASK_KILLED' }])
    expect(s.offers.size).toBe(0)
    expect(s.recoveredAgents.size).toBe(0)
    // The agent that did not re-register is unreachable, in the registry too; a2, unreachable
    // for a while, re-registered, and its entry says nothing of it any more.
    expect([...s.unreachableAgents.keys()]).toEqual(['old'])
    expect([...first.store.entries.keys()].sort()).toEqual(['agents/a1', 'agents/a2', 'agents/old', 'frameworks/f1', 'removed-frameworks/f2'])
    expect(first.store.entries.get('agents/old')).toMatchObject({ id: 'old', unreachableAt: 1021 })
    expect(first.store.entries.get('agents/a2')).not.toHaveProperty('unreachableAt')
    expect(first.store.entries.get('removed-frameworks/f2')).toEqual({ at: 1020 })
    expect(await s.wasRemoved('f2')).toBe(true)

    const second = await replay(first.applied)
    expect(snapshot(second.state)).toStrictEqual(snapshot(s))
    expect(second.store.entries).toStrictEqual(first.store.entries)
  })

  it('apply leaves its commands unchanged, so that the recorded commands can be replayed', async () => {
    const before = structuredClone(script)
    await replay(script)
    expect(script).toStrictEqual(before)
  })

  it('a registry and frameworks loaded from the store come back through apply', async () => {
    const first = await replay(script)
    const r = replica()
    for (const [k, v] of first.store.entries) r.store.entries.set(k, v)
    const state = createMasterState({ store: r.store, log })
    const recovered = await state.load(5000)
    expect(recovered.map((f) => f.id)).toEqual(['f1'])
    expect([...state.recoveredAgents.keys()]).toEqual(['a1', 'a2'])
    // Marked unreachable by the master before: unreachable from the start, not waited for.
    expect([...state.unreachableAgents.keys()]).toEqual(['old'])
    expect(state.frameworks.get('f1')).toMatchObject({ registeredAt: 5000, roles: ['web', 'batch'] })
    expect(await state.wasRemoved('f2')).toBe(true)
  })
})

// ---- generated runs ----

const agentIds = ['a1', 'a2']
const frameworkIds = ['f1', 'f2']
const taskIds = ['t1', 't2']
const offerIds = ['o1', 'o2', 'o3']
const roles = ['*', 'web']
const states = ['TASK_STAGING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_LOST', 'TASK_UNREACHABLE']

const aid = fc.constantFrom(...agentIds)
const fid = fc.constantFrom(...frameworkIds)
const tid = fc.constantFrom(...taskIds)
const oid = fc.constantFrom(...offerIds)
const someRoles = fc.subarray(roles)
const someUuid = fc.option(fc.constantFrom('u1', 'u2'), { nil: undefined })

const commandArb: fc.Arbitrary<MasterCommand> = fc.oneof(
  fc.record({ id: aid, reregistered: fc.boolean(), cpus: fc.integer({ min: 0, max: 8 }) }).map(({ id, reregistered, cpus }): MasterCommand => ({ ...(agent(id, reregistered) as Extract<MasterCommand, { type: 'agent-registered' }>), total: res(cpus) })),
  aid.map((agentId): MasterCommand => ({ type: 'agents-recovered', agents: [{ id: agentId, hostname: agentId, ip: '127.0.0.1', port: 1, registeredAt: 0 }] })),
  aid.map((agentId): MasterCommand => ({ type: 'recovered-agent-expired', agentId })),
  aid.map((agentId): MasterCommand => ({ type: 'agent-ping-answered', agentId })),
  aid.map((agentId): MasterCommand => ({ type: 'agent-ping-missed', agentId })),
  aid.map((agentId): MasterCommand => ({ type: 'agent-unreachable', agentId })),
  fid.map((frameworkId): MasterCommand => ({ type: 'framework-recovered', frameworkId, info: frameworkInfo(frameworkId) })),
  fc.record({ frameworkId: fid, resubscribed: fc.boolean(), roles: fc.subarray(roles, { minLength: 1 }), suppressed: someRoles }).map(
    ({ frameworkId, resubscribed, roles, suppressed }): MasterCommand => ({ type: 'framework-subscribed', frameworkId, info: frameworkInfo(frameworkId, roles), resubscribed, suppressedRoles: suppressed }),
  ),
  fc.record({ frameworkId: fid, streamId: fc.constantFrom('s1', 's2') }).map(({ frameworkId, streamId }): MasterCommand => ({ type: 'framework-connected', frameworkId, streamId })),
  fid.map((frameworkId): MasterCommand => ({ type: 'framework-disconnected', frameworkId })),
  fc.record({ frameworkId: fid, roles: fc.subarray(roles, { minLength: 1 }) }).map(({ frameworkId, roles }): MasterCommand => ({ type: 'framework-updated', frameworkId, info: frameworkInfo(`${frameworkId}'`, roles) })),
  fid.map((frameworkId): MasterCommand => ({ type: 'framework-removed', frameworkId })),
  fc
    .record({ frameworkId: fid, agentId: aid, role: fc.constantFrom(...roles), cpus: fc.integer({ min: 0, max: 4 }), refuseSeconds: fc.integer({ min: -1, max: 10 }) })
    .map(({ cpus, ...c }): MasterCommand => ({ type: 'refusal-added', ...c, resources: res(cpus, 256) })),
  fc.record({ frameworkId: fid, roles: someRoles }).map((c): MasterCommand => ({ type: 'roles-suppressed', ...c })),
  fc.record({ frameworkId: fid, roles: someRoles }).map((c): MasterCommand => ({ type: 'roles-revived', ...c })),
  fc.record({ id: oid, frameworkId: fid, agentId: aid, role: fc.constantFrom(...roles), cpus: fc.integer({ min: 1, max: 4 }) }).map(
    ({ cpus, ...o }): MasterCommand => ({ type: 'offer-created', offer: { ...o, resources: res(cpus) } }),
  ),
  oid.map((offerId): MasterCommand => ({ type: 'offer-removed', offerId })),
  fc.record({ taskId: tid, frameworkId: fid, agentId: aid }).map(({ taskId, frameworkId, agentId }) => task(taskId, frameworkId, agentId, 0)),
  fc.record({ taskId: tid, frameworkId: fid, state: fc.constantFrom(...states), uuid: someUuid, ts: fc.nat(1000) }).map(
    ({ taskId, frameworkId, state, uuid, ts }): MasterCommand => ({ type: 'task-status', taskId, frameworkId, status: status(taskId, state, ts, uuid) }),
  ),
  fc.record({ taskId: tid, frameworkId: fid, state: fc.constantFrom(...states) }).map((c): MasterCommand => ({ type: 'task-state-reported', ...c })),
  fc.record({ taskId: tid, frameworkId: fid, uuid: fc.constantFrom('u1', 'u2') }).map((c): MasterCommand => ({ type: 'task-acknowledged', ...c })),
  fc.record({ taskId: tid, frameworkId: fid }).map((c): MasterCommand => ({ type: 'task-removed', ...c })),
)

/** Commands with non-decreasing times, as a master applies them. */
const runArb = fc
  .array(fc.tuple(commandArb, fc.nat(50)), { maxLength: 60 })
  .map((steps) => {
    let at = 10_000
    return steps.map(([cmd, dt]): [MasterCommand, number] => [cmd, (at += dt)])
  })

describe('master state, generated runs', () => {
  it('replaying any run gives the same state and the same store', async () => {
    await fc.assert(
      fc.asyncProperty(runArb, async (run) => {
        const first = await replay(run)
        const second = await replay(first.applied)
        expect(snapshot(second.state)).toStrictEqual(snapshot(first.state))
        expect(second.store.entries).toStrictEqual(first.store.entries)
      }),
      { numRuns: 200 },
    )
  })

  it('the same command at the same time, applied to equal states, gives equal states', async () => {
    await fc.assert(
      fc.asyncProperty(runArb, commandArb, fc.nat(100), async (run, cmd, dt) => {
        const a = await replay(run)
        const b = await replay(run)
        const at = (run.at(-1)?.[1] ?? 0) + dt
        a.apply(cmd, at)
        b.apply(structuredClone(cmd), at)
        await Promise.all([a.state.written(), b.state.written()])
        expect(snapshot(b.state)).toStrictEqual(snapshot(a.state))
        expect(b.store.entries).toStrictEqual(a.store.entries)
      }),
      { numRuns: 200 },
    )
  })

  it('apply leaves any command unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(runArb, async (run) => {
        const before = structuredClone(run)
        await replay(run)
        expect(run).toStrictEqual(before)
      }),
      { numRuns: 100 },
    )
  })
})

// ---- the sums apply keeps, against adding everything up ----

const sumAgents = ['a1', 'a2', 'a3']
const sumFrameworks = ['f1', 'f2']
const sumStates = [...states, 'TASK_KILLED']

/** Resources as tasks and offers hold them: tenths of cpus, whole MB, and ports that may overlap. */
const resourcesArb: fc.Arbitrary<Resources> = fc
  .record({
    cpus: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
    mem: fc.option(fc.integer({ min: 0, max: 4096 }), { nil: undefined }),
    ports: fc.option(fc.array(fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 3 })), { maxLength: 3 }), { nil: undefined }),
  })
  .map(({ cpus, mem, ports }) => ({
    scalars: { ...(cpus !== undefined ? { cpus: cpus / 10 } : {}), ...(mem !== undefined ? { mem } : {}) },
    ranges: ports !== undefined ? { ports: ports.map(([begin, len]) => ({ begin, end: begin + len })) } : {},
  }))

const sumCommandArb: fc.Arbitrary<MasterCommand> = fc.oneof(
  { arbitrary: commandArb, weight: 2 },
  {
    arbitrary: fc
      .record({ taskId: fc.constantFrom('t1', 't2', 't3', 't4'), frameworkId: fc.constantFrom(...sumFrameworks), agentId: fc.constantFrom(...sumAgents), role: fc.constantFrom(...roles), resources: resourcesArb, state: fc.constantFrom(...sumStates) })
      .map(({ taskId, frameworkId, agentId, role, resources, state }): MasterCommand => ({
        type: 'task-added',
        task: { taskId, frameworkId, agentId, role, info: taskInfo(taskId, agentId), resources, state, statuses: [] },
      })),
    weight: 3,
  },
  {
    arbitrary: fc
      .record({ taskId: fc.constantFrom('t1', 't2', 't3', 't4'), frameworkId: fc.constantFrom(...sumFrameworks), state: fc.constantFrom(...sumStates), latest: fc.option(fc.constantFrom(...sumStates), { nil: undefined }) })
      .map(({ taskId, frameworkId, state, latest }): MasterCommand => ({ type: 'task-status', taskId, frameworkId, status: status(taskId, state, 0), ...(latest !== undefined ? { latestState: latest } : {}) })),
    weight: 3,
  },
  {
    arbitrary: fc
      .record({ taskId: fc.constantFrom('t1', 't2', 't3', 't4'), frameworkId: fc.constantFrom(...sumFrameworks), state: fc.constantFrom(...sumStates) })
      .map((c): MasterCommand => ({ type: 'task-state-reported', ...c })),
    weight: 2,
  },
  {
    arbitrary: fc.record({ taskId: fc.constantFrom('t1', 't2', 't3', 't4'), frameworkId: fc.constantFrom(...sumFrameworks) }).map((c): MasterCommand => ({ type: 'task-removed', ...c })),
    weight: 2,
  },
  {
    arbitrary: fc
      .record({ id: fc.constantFrom('o1', 'o2', 'o3', 'o4'), frameworkId: fc.constantFrom(...sumFrameworks), agentId: fc.constantFrom(...sumAgents), role: fc.constantFrom(...roles), resources: resourcesArb })
      .map((offer): MasterCommand => ({ type: 'offer-created', offer })),
    weight: 3,
  },
  { arbitrary: fc.constantFrom('o1', 'o2', 'o3', 'o4').map((offerId): MasterCommand => ({ type: 'offer-removed', offerId })), weight: 2 },
)

const sumOf = (list: Iterable<Resources>): Resources => [...list].reduce<Resources>(add, EMPTY)

/** Per role, as the allocator reads a framework's holdings. */
function sumByRole<T extends { role: string; resources: Resources }>(list: Iterable<T>): Map<string, Resources> {
  const out = new Map<string, Resources>()
  for (const x of list) out.set(x.role, add(out.get(x.role) ?? EMPTY, x.resources))
  return out
}

describe('master state, the sums apply keeps', () => {
  it('equal adding up every task and offer again, after any run', () => {
    fc.assert(
      fc.property(fc.array(sumCommandArb, { minLength: 1, maxLength: 150 }), (run) => {
        const s = createMasterState({ store: memoryStore(), log })
        run.forEach((cmd, i) => s.apply(cmd, 10_000 + i))
        const tasks = [...s.tasks.values()]
        const offers = [...s.offers.values()]
        const live = tasks.filter((t) => !ended(t))
        for (const a of sumAgents) {
          expect(s.agentUsed(a)).toStrictEqual(sumOf(live.filter((t) => t.agentId === a).map((t) => t.resources)))
          expect(s.agentOffered(a)).toStrictEqual(sumOf(offers.filter((o) => o.agentId === a).map((o) => o.resources)))
          expect(s.tasksOnAgent(a).map((t) => t.taskId).sort()).toEqual(tasks.filter((t) => t.agentId === a).map((t) => t.taskId).sort())
          expect(s.offersOnAgent(a).map((o) => o.id).sort()).toEqual(offers.filter((o) => o.agentId === a).map((o) => o.id).sort())
        }
        for (const f of sumFrameworks) {
          expect(s.frameworkUsed(f)).toStrictEqual(sumByRole(live.filter((t) => t.frameworkId === f)))
          expect(s.frameworkOffered(f)).toStrictEqual(sumByRole(offers.filter((o) => o.frameworkId === f)))
          expect(s.tasksOfFramework(f).map((t) => t.taskId).sort()).toEqual(tasks.filter((t) => t.frameworkId === f).map((t) => t.taskId).sort())
          expect(s.offersOfFramework(f).map((o) => o.id).sort()).toEqual(offers.filter((o) => o.frameworkId === f).map((o) => o.id).sort())
        }
        for (const st of sumStates) expect(s.taskCount(st)).toBe(tasks.filter((t) => t.state === st).length)
      }),
      // Seeded, so that a failure comes back the same on every run.
      { seed: 20_261_201, numRuns: 500 },
    )
  })

  it("an agent's free resources and the active agents' total, kept between passes, equal what they are made of after every command", () => {
    fc.assert(
      fc.property(fc.array(sumCommandArb, { minLength: 1, maxLength: 150 }), (run) => {
        const s = createMasterState({ store: memoryStore(), log })
        // The agents are there from the start, so that the run's tasks and offers land on them.
        for (const a of sumAgents) s.apply({ ...(agent(a) as Extract<MasterCommand, { type: 'agent-registered' }>), total: { scalars: { cpus: 4, mem: 4096 }, ranges: { ports: [{ begin: 1, end: 10 }] } } }, 9_999)
        run.forEach((cmd, i) => {
          s.apply(cmd, 10_000 + i)
          for (const a of sumAgents) {
            const agent = s.agents.get(a)
            const expected = agent ? subtract(subtract(agent.total, s.agentUsed(a)), s.agentOffered(a)) : EMPTY
            expect(s.agentFree(a)).toStrictEqual(expected)
            // Asked again with nothing changed: the very same object.
            expect(s.agentFree(a)).toBe(s.agentFree(a))
          }
          expect(s.activeAgentsTotal()).toStrictEqual(shareTotal([...s.agents.values()].filter((a) => a.unreachableSince === undefined)))
        })
      }),
      { seed: 20_261_203, numRuns: 300 },
    )
  })
})
