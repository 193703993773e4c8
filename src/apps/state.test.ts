// The apps state has one writer: replaying the commands it was given into a fresh state (and a
// fresh store) gives the same state, and loading that store gives it back too.
import fc from 'fast-check'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { openSqliteStore } from '../store/sqlite.js'
import type { AppsCommand, AppsState } from './state.js'
import { createAppsState } from './state.js'
import { T0, testApp, testInstance } from './testing.js'
import { Condition } from './types.js'

const log = pino({ level: 'silent' })

async function run(commands: readonly AppsCommand[]): Promise<{ state: AppsState; dump: Array<[string, unknown]> }> {
  const store = openSqliteStore(':memory:')
  const state = createAppsState({ store, log })
  for (const c of commands) await state.apply(c)
  return { state, dump: await store.list('') }
}

/** The state's contents, in key order: a store lists in key order, whatever order the maps were filled in. */
const sorted = <V>(m: ReadonlyMap<string, V>): Array<[string, V]> => [...m.entries()].sort(([a], [b]) => a.localeCompare(b))
const view = (s: AppsState) => ({
  frameworkId: s.frameworkId,
  apps: sorted(s.apps),
  instances: sorted(s.instances),
  deployments: sorted(s.deployments),
  delays: sorted(s.delays),
  lastFailures: sorted(s.lastFailures),
  groups: sorted(s.groups),
})

const T1 = '2026-01-02T00:00:00.000Z'
const web = testApp({ id: '/web', instances: 2 })
const i1 = testInstance({ instanceId: 'web.instance-1', taskId: 'web.1' })
const i2 = testInstance({ instanceId: 'web.instance-2', taskId: 'web.2' })
const deployment = { id: 'd1', version: T1, affectedApps: ['/web'], original: {}, target: { '/web': web }, steps: [{ actions: [{ action: 'StartApplication' as const, app: '/web' }] }], currentStep: 0, startedAt: T1 }
const script: AppsCommand[] = [
  { type: 'framework-id', frameworkId: 'fw-1' },
  { type: 'app-put', app: web },
  { type: 'deployment-put', deployment },
  { type: 'instance-put', instance: i1 },
  { type: 'instance-put', instance: i2 },
  { type: 'instance-put', instance: { ...i1, condition: Condition.Running, mesosState: 'TASK_RUNNING', startedAt: T1 } },
  { type: 'delay-put', appId: '/web', delay: { configVersion: T0, failures: 1, until: 5000 } },
  { type: 'task-failure', failure: { appId: '/web', host: 'h1', message: 'exited 1', state: 'TASK_FAILED', taskId: 'web.2', timestamp: T1, version: T0, slaveId: 'a1' } },
  { type: 'instance-removed', instanceId: 'web.instance-2' },
  { type: 'deployment-put', deployment: { ...deployment, currentStep: 1 } },
  { type: 'deployment-removed', deploymentId: 'd1' },
  { type: 'group-put', group: { id: '/g', dependencies: ['/web'] } },
  { type: 'app-put', app: testApp({ id: '/g/api', version: T1, versionInfo: { lastScalingAt: T1, lastConfigChangeAt: T1 } }) },
  { type: 'delay-removed', appId: '/web' },
]

describe('apps state', () => {
  it('replays a scripted run into the same state and the same store, and loads it back', async () => {
    const first = await run(script)
    expect(first.state.instancesOf('/web').map((i) => [i.instanceId, i.condition])).toEqual([['web.instance-1', Condition.Running]])
    expect(first.state.byTaskId('web.2')).toBeUndefined()
    expect(first.state.lastFailures.get('/web')?.taskId).toBe('web.2')
    const again = await run(script)
    expect(view(again.state)).toEqual(view(first.state))
    expect(again.dump).toEqual(first.dump)
    // A restart reads everything back, the last task failure included.
    const store = openSqliteStore(':memory:')
    for (const [k, v] of first.dump) await store.put(k, v)
    const loaded = createAppsState({ store, log })
    await loaded.load()
    expect(view(loaded)).toEqual(view(first.state))
    expect(await loaded.versions('/web')).toEqual([T0])
  })

  it('any sequence of commands replays into the same state and store (property)', async () => {
    const appId = fc.constantFrom('/a', '/b')
    const instanceId = fc.constantFrom('a.instance-1', 'a.instance-2', 'b.instance-1')
    const command: fc.Arbitrary<AppsCommand> = fc.oneof(
      appId.map((id): AppsCommand => ({ type: 'app-put', app: testApp({ id }) })),
      appId.map((appId): AppsCommand => ({ type: 'app-removed', appId })),
      fc.tuple(instanceId, fc.constantFrom(Condition.Staging, Condition.Running, Condition.Killing)).map(([id, condition]): AppsCommand => ({
        type: 'instance-put',
        instance: testInstance({ instanceId: id, taskId: `${id}.task`, appId: id.startsWith('a') ? '/a' : '/b', condition }),
      })),
      instanceId.map((instanceId): AppsCommand => ({ type: 'instance-removed', instanceId })),
      fc.tuple(appId, fc.integer({ min: 1, max: 5 })).map(([appId, failures]): AppsCommand => ({ type: 'delay-put', appId, delay: { configVersion: T0, failures, until: failures * 1000 } })),
      appId.map((appId): AppsCommand => ({ type: 'delay-removed', appId })),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 25 }), async (commands) => {
        const a = await run(commands)
        const b = await run(commands)
        expect(view(b.state)).toEqual(view(a.state))
        expect(b.dump).toEqual(a.dump)
      }),
      { numRuns: 60 },
    )
  })
})

describe('apps state, instances by app', () => {
  it('instancesOf, instancesOnAgent, launchesInFlight and byTaskId agree with a scan of every instance, after any puts and removals', async () => {
    const instanceIds = ['i1', 'i2', 'i3', 'i4']
    const cmd: fc.Arbitrary<AppsCommand> = fc.oneof(
      fc
        .record({
          instanceId: fc.constantFrom(...instanceIds),
          appId: fc.constantFrom('/a', '/b', '/c'),
          task: fc.constantFrom('1', '2'),
          agentId: fc.constantFrom('a1', 'a2'),
          condition: fc.constantFrom(...Object.values(Condition)),
        })
        .map(({ instanceId, appId, task, agentId, condition }): AppsCommand => ({ type: 'instance-put', instance: testInstance({ instanceId, appId, agentId, condition, taskId: `${instanceId}.${task}` }) })),
      fc.constantFrom(...instanceIds).map((instanceId): AppsCommand => ({ type: 'instance-removed', instanceId })),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { maxLength: 40 }), async (commands) => {
        const { state } = await run(commands)
        const all = [...state.instances.values()]
        for (const appId of ['/a', '/b', '/c']) expect(state.instancesOf(appId)).toEqual(all.filter((i) => i.appId === appId))
        expect([...state.instanceAppIds()].sort()).toEqual([...new Set(all.map((i) => i.appId))].sort())
        for (const agentId of ['a1', 'a2', 'a3']) expect([...state.instancesOnAgent(agentId)].sort((x, y) => x.instanceId.localeCompare(y.instanceId))).toEqual(all.filter((i) => i.agentId === agentId).sort((x, y) => x.instanceId.localeCompare(y.instanceId)))
        for (const id of instanceIds) for (const task of ['1', '2']) expect(state.byTaskId(`${id}.${task}`)).toEqual(all.find((i) => i.taskId === `${id}.${task}`))
        expect(state.launchesInFlight()).toBe(all.filter((i) => ['Provisioned', 'Staging', 'Starting'].includes(i.condition)).length)
      }),
      { seed: 20_261_201, numRuns: 200 },
    )
  })
})

describe('apps state, batched writes', () => {
  it('a batch writes what the same commands write one by one, in one store batch at its end, and runs afterWrites after it', async () => {
    const unbatched = await run(script)
    const inner = openSqliteStore(':memory:')
    const calls: string[] = []
    // The store as the state sees it, noting each call it gets.
    const store = {
      ...inner,
      put: (k: string, v: unknown) => (calls.push(`put ${k}`), inner.put(k, v)),
      delete: (k: string) => (calls.push(`delete ${k}`), inner.delete(k)),
      batch: (ws: Parameters<typeof inner.batch>[0]) => (calls.push(`batch ${ws.length}`), inner.batch(ws)),
      list: inner.list,
      get: inner.get,
    }
    const state = createAppsState({ store, log })
    const order: string[] = []
    await state.batch(async () => {
      for (const c of script) await state.apply(c)
      state.afterWrites(() => order.push(`after, ${calls.length} store calls`))
      order.push(`applied, ${calls.length} store calls`)
    })
    await new Promise((r) => setTimeout(r, 10))
    expect(await inner.list('')).toEqual(unbatched.dump)
    expect(view(state)).toEqual(view(unbatched.state))
    // app-put reads the store (its versions), so what the batch held before each goes first:
    // the framework id alone, then the ten commands between the two app-puts in one batch.
    expect(calls[0]).toBe('put apps/framework-id')
    expect(calls.filter((c) => c.startsWith('batch'))).toEqual(['batch 10'])
    // The last command's write (delay-removed) waits for the end of the batch.
    expect(calls.at(-1)).toBe('delete apps/delay/%2Fweb')
    expect(order).toEqual([`applied, ${calls.length - 1} store calls`, `after, ${calls.length} store calls`])
  })
})
