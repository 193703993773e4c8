import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { dependencyOrder } from './groups.js'
import { changeOf, configDiffers, planDeployment, stepOf } from './plan.js'
import { testApp } from './testing.js'
import type { AppDefinition } from './types.js'

const app = (id: string, over: Partial<AppDefinition> = {}): AppDefinition => testApp({ id, cmd: 'sleep 100', cpus: 0.1, mem: 32, ...over })

const map = (...apps: AppDefinition[]) => new Map(apps.map((a) => [a.id, a]))

describe('changeOf', () => {
  it('tells a scale from a config change and ignores version fields', () => {
    const a = app('/a')
    expect(changeOf(a, { ...a, version: 'later', versionInfo: { lastScalingAt: 'x', lastConfigChangeAt: 'y' } })).toBe('none')
    expect(changeOf(a, { ...a, instances: 3 })).toBe('scale')
    expect(changeOf(a, { ...a, cmd: 'sleep 200', instances: 3 })).toBe('config')
  })

  it('configDiffers, which the framework versions apps by, sees what changeOf calls config', () => {
    const a = app('/a')
    const { version: _v, versionInfo: _vi, ...unversioned } = { ...a, instances: 5 }
    expect(configDiffers(a, unversioned)).toBe(false)
    expect(configDiffers(a, { ...a, mem: 64 })).toBe(true)
  })

  it('changes labels, the upgrade strategy and the health checks the framework runs in place, without a restart', () => {
    const check = { protocol: 'HTTP' as const, path: '/health', portIndex: 0, gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15 }
    const a = app('/a', { labels: { HAPROXY_GROUP: 'external' }, healthChecks: [check] })
    expect(changeOf(a, { ...a, labels: { HAPROXY_GROUP: 'internal', HAPROXY_0_VHOST: 'a.example' } })).toBe('none')
    expect(changeOf(a, { ...a, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } })).toBe('none')
    expect(changeOf(a, { ...a, healthChecks: [{ ...check, path: '/ready' }, { ...check, protocol: 'TCP' }] })).toBe('none')
    expect(changeOf(a, { ...a, labels: {}, instances: 4 })).toBe('scale')
    // Mesos runs these from the TaskInfo the task was launched with: a change restarts.
    expect(changeOf(a, { ...a, healthChecks: [check, { ...check, protocol: 'MESOS_HTTP' }] })).toBe('config')
    const mesos = app('/m', { healthChecks: [{ ...check, protocol: 'COMMAND', command: { value: 'true' } }] })
    expect(changeOf(mesos, { ...mesos, healthChecks: [{ ...check, protocol: 'COMMAND', command: { value: 'false' } }] })).toBe('config')
    expect(changeOf(mesos, { ...mesos, labels: { x: 'y' } })).toBe('none')
    // The order of keys is no change.
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as unknown as AppDefinition
    expect(configDiffers(a, reordered)).toBe(false)
  })
})

describe('planDeployment', () => {
  it('starts new apps, then scales them in dependency order', () => {
    const db = app('/db')
    const web = app('/web', { dependencies: ['/db'] })
    const levels = dependencyOrder([db, web])
    expect(levels).toEqual([['/db'], ['/web']])
    const plan = planDeployment({ id: 'd1', version: 'v', current: map(), target: map(db, web), affected: ['/db', '/web'], levels: levels })
    expect(plan.steps.map((s) => s.actions.map((a) => `${a.action} ${a.app}`))).toEqual([
      ['StartApplication /db', 'StartApplication /web'],
      ['ScaleApplication /db'],
      ['ScaleApplication /web'],
    ])
    expect(stepOf(plan, '/web')).toBe(2)
  })

  it('restarts on config change, scales on instance change, stops removed apps dependants first', () => {
    const db = app('/db')
    const web = app('/web', { dependencies: ['/db'] })
    const plan = planDeployment({
      id: 'd2',
      version: 'v',
      current: map(db, web),
      target: map(),
      affected: ['/db', '/web'],
      levels: dependencyOrder([db, web]),
    })
    expect(plan.steps.map((s) => s.actions.map((a) => `${a.action} ${a.app}`))).toEqual([['StopApplication /web'], ['StopApplication /db']])
    const plan2 = planDeployment({
      id: 'd3',
      version: 'v',
      current: map(db, web),
      target: map({ ...db, instances: 3 }, { ...web, cmd: 'other' }),
      affected: ['/db', '/web'],
      levels: dependencyOrder([db, web]),
    })
    expect(plan2.steps.map((s) => s.actions.map((a) => `${a.action} ${a.app}`))).toEqual([['ScaleApplication /db'], ['RestartApplication /web']])
    expect(plan2.original['/web']?.cmd).toBe('sleep 100')
    expect(plan2.target['/web']?.cmd).toBe('other')
  })

  it('finds dependency cycles, through group prefixes too', () => {
    expect(() => dependencyOrder([app('/a', { dependencies: ['/b'] }), app('/b', { dependencies: ['/a'] })])).toThrow(expect.objectContaining({ details: [{ path: '/', errors: ['Dependency graph has cyclic dependencies.'] }] }))
    expect(() => dependencyOrder([app('/g/x', { dependencies: ['/h'] }), app('/h/y', { dependencies: ['/g'] })])).toThrow(expect.objectContaining({ details: [{ path: '/', errors: ['Dependency graph has cyclic dependencies.'] }] }))
    expect(dependencyOrder([app('/g/x'), app('/h/y', { dependencies: ['/g'] })])).toEqual([['/g/x'], ['/h/y']])
  })

  it('orders every app after all of its dependencies (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat(9), { maxLength: 3 }), { minLength: 1, maxLength: 10 }), (edges) => {
        // Only edges to lower indexes: a DAG.
        const apps = edges.map((deps, i) => app(`/a${i}`, { dependencies: deps.filter((d) => d < i).map((d) => `/a${d}`) }))
        const levels = dependencyOrder(apps)
        const rank = new Map<string, number>()
        levels.forEach((l, i) => l.forEach((id) => rank.set(id, i)))
        for (const a of apps) for (const d of a.dependencies) expect(rank.get(d)!).toBeLessThan(rank.get(a.id)!)
        const plan = planDeployment({ id: 'p', version: 'v', current: map(), target: map(...apps), affected: apps.map((a) => a.id), levels })
        for (const a of apps) for (const d of a.dependencies) expect(stepOf(plan, d)).toBeLessThan(stepOf(plan, a.id))
      }),
    )
  })
})
