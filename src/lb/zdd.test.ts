import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { mergeDeploymentGroups } from './deployment-groups.js'
import type { LbApp } from './routes.js'
import { routes, serves } from './routes.js'
import type { LbView, PreviousColour, ZddError, ZddObserved } from './zdd.js'
import { prepareColour, startZdd, ZddDirection, zddStep } from './zdd.js'

const colour = (id: string, startedAt: string, instances: number, tasks: Array<[string, boolean]>, labels: Record<string, string> = {}): LbApp => ({
  id,
  instances,
  labels: { HAPROXY_GROUP: 'external', HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_0_PORT: '10500', HAPROXY_DEPLOYMENT_STARTED_AT: startedAt, ...labels },
  portDefinitions: [{ port: id.endsWith('blue') ? 10500 : 10501 }],
  networks: [{ mode: 'host' }],
  healthChecks: [{ protocol: 'TCP' }],
  tasks: tasks.map(([t, alive]) => ({ id: t, state: 'TASK_RUNNING', host: '127.0.0.1', ports: [31000], healthCheckResults: [{ alive }] })),
})

describe('deployment groups', () => {
  it('serves both colours in one backend named by the group, draining an old instance for each healthy new one', () => {
    const blue = colour('/web-blue', '2026-01-01T00:00:00Z', 3, [['b1', true], ['b2', true], ['b3', true]])
    const green = colour('/web-green', '2026-01-02T00:00:00Z', 2, [['g1', true], ['g2', false]], { HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3' })
    const r = routes([green, blue], { group: 'external' })
    expect(r.rejected).toEqual([])
    expect(r.backends.map((b) => [b.name, b.appId, b.servicePort])).toEqual([['web_10500', '/web', 10500]])
    expect(r.backends[0]!.servers.map((s) => `${s.taskId}${s.draining ? ' drain' : ''}`)).toEqual(['b1 drain', 'b2', 'b3', 'g1'])
    // Alone, a colour is served under the group's name too.
    expect(routes([blue], { group: 'external' }).backends.map((b) => b.name)).toEqual(['web_10500'])
  })

  it('never drains more old instances than the new colour has healthy ones, nor below the target (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 6 }), (fresh, oldCount, target) => {
        const blue = colour('/web-blue', 'a', oldCount, Array.from({ length: oldCount }, (_, i): [string, boolean] => [`b${i}`, true]))
        const green = colour('/web-green', 'b', fresh.length, fresh.map((alive, i): [string, boolean] => [`g${i}`, alive]), { HAPROXY_DEPLOYMENT_TARGET_INSTANCES: String(target) })
        const [merged] = mergeDeploymentGroups([blue, green], serves)
        const drained = merged!.tasks!.filter((t) => t.drain).length
        const healthy = fresh.filter(Boolean).length
        expect(drained).toBeLessThanOrEqual(healthy)
        expect(healthy + oldCount - drained).toBeGreaterThanOrEqual(Math.min(target, healthy + oldCount))
      }),
    )
  })
})

describe('zdd', () => {
  const def = { id: '/web', instances: 3, labels: { HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_DEPLOYMENT_ALT_PORT: '10501' }, portDefinitions: [{ port: 10500 }] }
  const now = new Date('2026-01-02T00:00:00Z')

  it('prepares blue on the service port first, then the other colour on the other port', () => {
    const blue = prepareColour(def, undefined, { now, initialInstances: 1 })
    expect(blue).toMatchObject({ id: '/web-blue', instances: 3, portDefinitions: [{ port: 10500 }] })
    expect(blue.labels).toMatchObject({ HAPROXY_0_PORT: '10500', HAPROXY_DEPLOYMENT_COLOUR: 'blue', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3', HAPROXY_DEPLOYMENT_STARTED_AT: now.toISOString() })
    const green = prepareColour(def, { id: '/web-blue', instances: 3, labels: blue.labels!, servicePort: 10500 }, { now, initialInstances: 1 })
    expect(green).toMatchObject({ id: '/web-green', instances: 1, portDefinitions: [{ port: 10501 }] })
    expect(green.labels).toMatchObject({ HAPROXY_0_PORT: '10500', HAPROXY_DEPLOYMENT_COLOUR: 'green' })
    const blueAgain = prepareColour(def, { id: '/web-green', instances: 3, labels: green.labels!, servicePort: 10501 }, { now, initialInstances: 1 })
    expect(blueAgain).toMatchObject({ id: '/web-blue', portDefinitions: [{ port: 10500 }] })
    expect(() => prepareColour({ id: '/x' }, undefined, { now, initialInstances: 1 })).toThrow(/HAPROXY_DEPLOYMENT_GROUP/)
  })

  const observed = (over: Partial<ZddObserved>): ZddObserved => ({
    direction: ZddDirection.forward,
    target: 3,
    next: { instances: 1, deploying: false, taskIds: ['g1'] },
    old: { instances: 3, taskIds: ['b1', 'b2', 'b3'] },
    lbs: [{ serving: new Set(['b2', 'b3', 'g1']), draining: new Set(['b1']) }],
    elapsedMs: 0,
    maxWaitMs: 60_000,
    ...over,
  })

  it('kills what every lb drained, scales the new colour once every lb serves it, finishes when the old is gone, and reverts after the wait', () => {
    expect(zddStep(observed({}))).toEqual({ kind: 'kill', taskIds: ['b1'] })
    // Another lb still serves b1: wait for it.
    expect(zddStep(observed({ lbs: [{ serving: new Set(['b2', 'b3', 'g1']), draining: new Set(['b1']) }, { serving: new Set(['b1', 'b2', 'b3', 'g1']), draining: new Set() }] })).kind).toBe('wait')
    const afterKill = observed({ old: { instances: 2, taskIds: ['b2', 'b3'] }, lbs: [{ serving: new Set(['b2', 'b3', 'g1']), draining: new Set() }] })
    expect(zddStep(afterKill)).toEqual({ kind: 'scale', instances: 3 })
    expect(zddStep({ ...afterKill, next: { instances: 1, deploying: true, taskIds: ['g1'] } }).kind).toBe('wait')
    expect(zddStep({ ...afterKill, lbs: [{ serving: new Set(['b2', 'b3']), draining: new Set() }] }).kind).toBe('wait')
    expect(zddStep(observed({ next: { instances: 3, deploying: false, taskIds: ['g1', 'g2', 'g3'] }, old: { instances: 0, taskIds: [] } }))).toEqual({ kind: 'finish' })
    expect(zddStep(observed({ elapsedMs: 61_000, lbs: [] })).kind).toBe('revert')
    // Half as many again while below the old colour's count.
    expect(zddStep(observed({ target: 10, next: { instances: 2, deploying: false, taskIds: ['g1', 'g2'] }, old: { instances: 10, taskIds: [] }, lbs: [{ serving: new Set(['g1', 'g2']), draining: new Set() }] }))).toEqual({ kind: 'scale', instances: 3 })
  })
})

describe('hybrid zdd (--new-instances)', () => {
  const def = { id: '/web', instances: 4, labels: { HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_DEPLOYMENT_ALT_PORT: '10501' }, portDefinitions: [{ port: 10500 }] }
  const now = new Date('2026-01-02T00:00:00Z')
  const blue: PreviousColour = { id: '/web-blue', instances: 4, labels: { HAPROXY_DEPLOYMENT_COLOUR: 'blue', HAPROXY_DEPLOYMENT_STARTED_AT: '2026-01-01T00:00:00.000Z' }, servicePort: 10500 }

  it('starts the new colour with at most its share, labelled with it, the share no larger than the group; the first colour has none', () => {
    expect(prepareColour(def, undefined, { now, initialInstances: 1, newInstances: 2 }).labels).toMatchObject({ HAPROXY_DEPLOYMENT_NEW_INSTANCES: '0', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '4' })
    const green = prepareColour(def, blue, { now, initialInstances: 3, newInstances: 2 })
    expect(green).toMatchObject({ id: '/web-green', instances: 2 })
    expect(green.labels).toMatchObject({ HAPROXY_DEPLOYMENT_NEW_INSTANCES: '2', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '4' })
    expect(prepareColour(def, blue, { now, initialInstances: 1, newInstances: 9 }).labels).toMatchObject({ HAPROXY_DEPLOYMENT_NEW_INSTANCES: '4' })
    expect(prepareColour(def, blue, { now, initialInstances: 1 }).labels).toMatchObject({ HAPROXY_DEPLOYMENT_NEW_INSTANCES: '0' })
  })

  const hybrid = (over: Partial<ZddObserved>): ZddObserved => ({
    direction: ZddDirection.forward,
    target: 4,
    newInstances: 2,
    next: { instances: 1, deploying: false, taskIds: ['g1'] },
    old: { instances: 4, taskIds: ['b1', 'b2', 'b3', 'b4'] },
    lbs: [{ serving: new Set(['b2', 'b3', 'b4', 'g1']), draining: new Set(['b1']) }],
    elapsedMs: 0,
    maxWaitMs: 60_000,
    ...over,
  })

  it('kills drained old instances and scales the new colour up to its share only, then keeps both colours serving', () => {
    expect(zddStep(hybrid({}))).toEqual({ kind: 'kill', taskIds: ['b1'] })
    const served = (...ids: string[]): LbView[] => [{ serving: new Set(ids), draining: new Set() }]
    expect(zddStep(hybrid({ old: { instances: 3, taskIds: ['b2', 'b3', 'b4'] }, lbs: served('b2', 'b3', 'b4', 'g1') }))).toEqual({ kind: 'scale', instances: 2 })
    const atShare = { instances: 2, deploying: false, taskIds: ['g1', 'g2'] }
    expect(zddStep(hybrid({ next: atShare, old: { instances: 3, taskIds: ['b2', 'b3', 'b4'] }, lbs: [{ serving: new Set(['b3', 'b4', 'g1', 'g2']), draining: new Set(['b2']) }] }))).toEqual({ kind: 'kill', taskIds: ['b2'] })
    const rest = { instances: 2, taskIds: ['b3', 'b4'] }
    expect(zddStep(hybrid({ next: atShare, old: rest, lbs: served('b3', 'b4', 'g1', 'g2') }))).toEqual({ kind: 'keep-both' })
    // Not while an lb does not serve all of the new colour yet, or still drains an old instance.
    expect(zddStep(hybrid({ next: atShare, old: rest, lbs: served('b3', 'b4', 'g1') })).kind).toBe('wait')
    expect(zddStep(hybrid({ next: atShare, old: rest, lbs: [{ serving: new Set(['b4', 'g1', 'g2']), draining: new Set(['b3']) }] })).kind).toBe('wait')
    // A share of the whole group leaves the old colour at no instances, but in place.
    expect(zddStep(hybrid({ newInstances: 4, next: { instances: 4, deploying: false, taskIds: ['g1', 'g2', 'g3', 'g4'] }, old: { instances: 0, taskIds: [] }, lbs: served('g1', 'g2', 'g3', 'g4') }))).toEqual({ kind: 'keep-both' })
    // Going back is whole.
    expect(zddStep(hybrid({ elapsedMs: 61_000 })).kind).toBe('revert')
  })

  it('a group in a hybrid deployment is refused without a flag; --resume carries it on, --complete-cur makes it whole, --complete-prev goes back', () => {
    const green: PreviousColour = { id: '/web-green', instances: 2, labels: { HAPROXY_DEPLOYMENT_COLOUR: 'green', HAPROXY_DEPLOYMENT_STARTED_AT: '2026-01-02T00:00:00.000Z', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '4', HAPROXY_DEPLOYMENT_NEW_INSTANCES: '2' }, servicePort: 10501 }
    const older = { ...blue, instances: 2 }
    const flags = { resume: false, completeCur: false, completePrev: false, now, initialInstances: 1 }
    expect(() => startZdd(def, [older, green], flags)).toThrow('/web runs a hybrid deployment: /web-blue and /web-green both serve; move it all to the newer colour with --complete-cur (-c)')
    expect(startZdd(def, [older, green], { ...flags, resume: true })).toMatchObject({ kind: 'pick-up', shift: { next: '/web-green', old: '/web-blue', target: 4, direction: 'forward', newInstances: 2 } })
    const whole = startZdd(def, [older, green], { ...flags, completeCur: true })
    expect(whole).toMatchObject({ kind: 'pick-up', shift: { next: '/web-green', target: 4, direction: 'forward' } })
    expect(whole.kind === 'pick-up' && whole.shift.newInstances).toBeFalsy()
    expect(startZdd(def, [older, green], { ...flags, completePrev: true })).toMatchObject({ kind: 'pick-up', shift: { next: '/web-blue', old: '/web-green', target: 4, direction: 'back' } })
  })
})

describe('zdd on a group that runs two colours', () => {
  const def = { id: '/web', instances: 3, labels: { HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_DEPLOYMENT_ALT_PORT: '10501' }, portDefinitions: [{ port: 10500 }] }
  const now = new Date('2026-01-03T00:00:00Z')
  const blue: PreviousColour = { id: '/web-blue', instances: 2, labels: { HAPROXY_DEPLOYMENT_COLOUR: 'blue', HAPROXY_DEPLOYMENT_STARTED_AT: '2026-01-01T00:00:00.000Z' }, servicePort: 10500 }
  const green: PreviousColour = { id: '/web-green', instances: 2, labels: { HAPROXY_DEPLOYMENT_COLOUR: 'green', HAPROXY_DEPLOYMENT_STARTED_AT: '2026-01-02T00:00:00.000Z', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3' }, servicePort: 10501 }
  const flags = { resume: false, completeCur: false, completePrev: false, now, initialInstances: 1 }
  const refusal = (f: Partial<typeof flags>, running: PreviousColour[]): ZddError => {
    try {
      startZdd(def, running, { ...flags, ...f })
    } catch (e) {
      return e as ZddError
    }
    throw new Error('not refused')
  }

  it('refuses it without a flag that says which way, naming the flags', () => {
    const e = refusal({}, [green, blue])
    expect(e.message).toBe('a deployment of /web is in progress: /web-blue and /web-green both run; pick it up with --resume (-r) or --complete-cur (-c) to finish it toward the newer colour, or --complete-prev (-p) to go back to the older')
    expect(e.exitStatus).toBe(2)
  })

  it('resumes toward the colour started last, or goes back to the other, to the size the group had before', () => {
    const forward = { kind: 'pick-up', shift: { next: '/web-green', old: '/web-blue', target: 3, direction: 'forward' } }
    expect(startZdd(def, [green, blue], { ...flags, resume: true })).toMatchObject(forward)
    expect(startZdd(def, [blue, green], { ...flags, completeCur: true })).toMatchObject(forward)
    expect(startZdd(def, [green, blue], { ...flags, completePrev: true })).toMatchObject({ kind: 'pick-up', shift: { next: '/web-blue', old: '/web-green', target: 3, direction: 'back' } })
  })

  it('refuses --complete-cur and --complete-prev with one colour or together (zdd.py\'s status 3), and takes --resume with one colour as a deployment', () => {
    expect(refusal({ completeCur: true }, [blue]).exitStatus).toBe(3)
    expect(refusal({ completePrev: true }, []).exitStatus).toBe(3)
    expect(refusal({ completeCur: true, completePrev: true }, [blue, green]).exitStatus).toBe(3)
    expect(startZdd(def, [blue], { ...flags, resume: true })).toMatchObject({ kind: 'create', definition: { id: '/web-green', instances: 1 }, previous: blue })
    expect(startZdd(def, [], { ...flags, resume: true })).toMatchObject({ kind: 'create', definition: { id: '/web-blue', instances: 3 } })
    expect(refusal({}, [blue, green, { ...blue, id: '/web-red' }]).message).toMatch(/all run in one deployment group/)
  })

  const back = (over: Partial<ZddObserved>): ZddObserved => ({
    direction: ZddDirection.back,
    target: 3,
    next: { instances: 1, deploying: false, taskIds: ['b1'] },
    old: { instances: 2, taskIds: ['g1', 'g2'] },
    lbs: [{ serving: new Set(['b1', 'g1', 'g2']), draining: new Set() }],
    elapsedMs: 0,
    maxWaitMs: 60_000,
    ...over,
  })

  it('going back, brings the older colour to the target, then kills the newer once every lb has all of the older, then removes it', () => {
    expect(zddStep(back({}))).toEqual({ kind: 'scale', instances: 3 })
    const scaled = { instances: 3, deploying: false, taskIds: ['b1', 'b2', 'b3'] }
    expect(zddStep(back({ next: { ...scaled, deploying: true } })).kind).toBe('wait')
    // b3 is not healthy at the second lb yet; the drained b1, b2 count as there.
    const lbs: LbView[] = [{ serving: new Set(['b3', 'g1', 'g2']), draining: new Set(['b1', 'b2']) }, { serving: new Set(['g1', 'g2']), draining: new Set(['b1', 'b2']) }]
    expect(zddStep(back({ next: scaled, lbs }))).toMatchObject({ kind: 'wait' })
    expect(zddStep(back({ next: scaled, lbs: [lbs[0]!, lbs[0]!] }))).toEqual({ kind: 'kill', taskIds: ['g1', 'g2'] })
    expect(zddStep(back({ next: scaled, old: { instances: 0, taskIds: [] } }))).toEqual({ kind: 'finish' })
    // Going back is the way out: it does not turn round again.
    expect(zddStep(back({ elapsedMs: 61_000 }))).toMatchObject({ kind: 'stop' })
  })

  it('never kills an instance of the leaving colour while an lb still needs it (property)', () => {
    const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
    const lb = fc.record({ serving: fc.subarray([...ids('n', 5), ...ids('o', 5)]), draining: fc.subarray([...ids('n', 5), ...ids('o', 5)]) })
    fc.assert(
      fc.property(fc.constantFrom(ZddDirection.forward, ZddDirection.back), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.array(lb, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 5 }), (direction, target, nextCount, oldCount, views, newInstances) => {
        const lbs = views.map((v) => ({ serving: new Set(v.serving), draining: new Set(v.draining) }))
        const o: ZddObserved = { direction, target, next: { instances: nextCount, deploying: false, taskIds: ids('n', nextCount) }, old: { instances: oldCount, taskIds: ids('o', oldCount) }, lbs, elapsedMs: 0, maxWaitMs: 1000, newInstances }
        const step = zddStep(o)
        // A hybrid deployment never scales the new colour past its share.
        if (step.kind === 'scale' && direction === ZddDirection.forward && newInstances > 0) expect(step.instances).toBeLessThanOrEqual(Math.min(newInstances, target))
        // Nor kills the old colour below the rest of the group.
        if (step.kind === 'kill' && direction === ZddDirection.forward && newInstances > 0) expect(oldCount - step.taskIds.length).toBeGreaterThanOrEqual(target - Math.min(newInstances, target))
        if (step.kind !== 'kill') return
        if (direction === ZddDirection.forward) {
          for (const id of step.taskIds) expect(lbs.every((v) => v.draining.has(id) && !v.serving.has(id))).toBe(true)
        } else {
          // Every lb has the whole arriving colour, at the target, before the leaving one goes.
          expect(nextCount).toBeGreaterThanOrEqual(target)
          for (const id of o.next.taskIds) expect(lbs.every((v) => v.serving.has(id) || v.draining.has(id))).toBe(true)
        }
      }),
    )
  })
})

describe('deployment groups while old instances go', () => {
  it('marks only running old tasks, so an instance being killed never takes the place of a running one', () => {
    const blue = colour('/web-blue', 'a', 1, [['b1', true], ['b2', true]])
    blue.tasks![0] = { ...blue.tasks![0]!, state: 'TASK_KILLING' }
    const green = colour('/web-green', 'b', 1, [['g1', true]], { HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '2' })
    // b1 is going (blue scaled down to 1 with it); one healthy green and one blue keep the target of 2.
    const [merged] = mergeDeploymentGroups([blue, green], serves)
    expect(merged!.tasks!.filter((t) => t.drain).map((t) => t.id)).toEqual([])
    const r = routes([blue, green], { group: 'external' })
    expect(r.backends[0]!.servers.map((s) => `${s.taskId}${s.draining ? ' drain' : ''}`)).toEqual(['b1 drain', 'b2', 'g1'])
  })
})
