import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decideApp, isHealthyReady } from './reconcile.js'
import { T0, testApp, testInstance } from './testing.js'
import type { AppDefinition, Instance } from './types.js'
import { Condition } from './types.js'

function app(over: Partial<AppDefinition> = {}): AppDefinition {
  return testApp({
    instances: 3,
    healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 1, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
    ...over,
  })
}

function instance(configVersion: string, over: Partial<Instance> = {}): Instance {
  return testInstance({ version: configVersion, configVersion, agentId: 'a', host: 'h', healthy: true, ...over })
}

function withoutHealth(i: Instance): Instance {
  const { healthy: _healthy, ...rest } = i
  return rest
}

describe('decideApp', () => {
  it('scales up and down, killing by killSelection', () => {
    const a = app({ instances: 5 })
    const running = [instance(T0), instance(T0), instance(T0)]
    expect(decideApp({ target: a, instances: running, nowMs: 0 }).launch).toBe(2)
    const down = decideApp({ target: app({ instances: 1 }), instances: running, nowMs: 0 })
    expect(down.kill.map((k) => k.instanceId)).toEqual([running[2]!.instanceId, running[1]!.instanceId])
    const oldest = decideApp({ target: app({ instances: 1, killSelection: 'OLDEST_FIRST' }), instances: running, nowMs: 0 })
    expect(oldest.kill.map((k) => k.instanceId)).toEqual([running[0]!.instanceId, running[1]!.instanceId])
  })

  it('gives up instances that are not serving before healthy ones', () => {
    const healthy = instance(T0)
    const sick = instance(T0, { healthy: false })
    const d = decideApp({ target: app({ instances: 1 }), instances: [sick, healthy], nowMs: 0 })
    expect(d.kill.map((k) => k.instanceId)).toEqual([sick.instanceId])
  })

  it('replaces unreachable instances after inactiveAfterSeconds and forgets them after expungeAfterSeconds', () => {
    const a = app({ instances: 1, unreachableStrategy: { inactiveAfterSeconds: 10, expungeAfterSeconds: 20 } })
    const lost = instance(T0, { condition: Condition.Unreachable, unreachableSince: T0 })
    const t0 = Date.parse(T0)
    expect(decideApp({ target: a, instances: [lost], nowMs: t0 + 5000 }).launch).toBe(0)
    const later = decideApp({ target: a, instances: [lost], nowMs: t0 + 11_000 })
    expect(later.inactivate).toEqual([lost.instanceId])
    expect(later.launch).toBe(1)
    expect(decideApp({ target: a, instances: [lost], nowMs: t0 + 21_000 }).expunge).toEqual([lost.instanceId])
  })

  it('kills the extra instance when a lost one comes back next to its replacement', () => {
    const back = instance(T0)
    const replacement = instance(T0)
    const d = decideApp({ target: app({ instances: 1 }), instances: [back, replacement], nowMs: 0 })
    expect(d.kill).toHaveLength(1)
  })

  it('is not complete while a given-up instance is still being killed', () => {
    const a = app({ instances: 1 })
    const keep = instance(T0)
    const leaving = instance(T0, { goal: 'Decommissioned', condition: Condition.Killing })
    expect(decideApp({ target: a, instances: [keep, leaving], nowMs: 0 }).complete).toBe(false)
    expect(decideApp({ target: a, instances: [keep], nowMs: 0 }).complete).toBe(true)
  })

  it('minimumHealthCapacity 1 with maximumOverCapacity 0 starts one new instance before stopping an old one', () => {
    const V2 = '2026-02-01T00:00:00.000Z'
    const target = app({ instances: 2, upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0 }, versionInfo: { lastScalingAt: V2, lastConfigChangeAt: V2 }, version: V2 })
    const old = [instance(T0), instance(T0)]
    const first = decideApp({ target, instances: old, nowMs: 0 })
    expect(first.launch).toBe(1)
    expect(first.kill).toEqual([])
    const starting = withoutHealth(instance(V2, { condition: Condition.Staging }))
    expect(decideApp({ target, instances: [...old, starting], nowMs: 0 })).toMatchObject({ launch: 0, kill: [] })
    const up = decideApp({ target, instances: [...old, { ...starting, condition: Condition.Running, healthy: true }], nowMs: 0 })
    expect(up.launch).toBe(0)
    expect(up.kill).toHaveLength(1)
  })

  it('stops everything for a deleted app and completes when nothing is left', () => {
    const i = instance(T0)
    const d = decideApp({ target: null, instances: [i], nowMs: 0 })
    expect(d.kill.map((k) => k.instanceId)).toEqual([i.instanceId])
    expect(d.complete).toBe(false)
    expect(decideApp({ target: null, instances: [], nowMs: 0 }).complete).toBe(true)
  })

  it('a rolling restart never drops below minimumHealthCapacity, never exceeds maximumOverCapacity, and finishes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(0, 0.25, 0.5, 1),
        fc.constantFrom(0, 0.2, 0.5, 1),
        fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }),
        (n, minHC, maxOC, coin) => {
          const V1 = T0
          const V2 = '2026-02-01T00:00:00.000Z'
          const target = app({ instances: n, upgradeStrategy: { minimumHealthCapacity: minHC, maximumOverCapacity: maxOC }, versionInfo: { lastScalingAt: V2, lastConfigChangeAt: V2 }, version: V2 })
          const minHealthy = Math.ceil(n * minHC - 1e-9)
          const maxCapacity = Math.max(n, Math.floor(n * (1 + maxOC) + 1e-9))
          // Where the bounds meet, one instance over capacity gets the restart going (Marathon).
          const allowed = minHealthy === maxCapacity ? maxCapacity + 1 : maxCapacity
          let instances: Instance[] = Array.from({ length: n }, () => instance(V1))
          for (let round = 0; round < 200; round++) {
            const d = decideApp({ target, instances, nowMs: 0 })
            if (d.complete) return
            const killed = new Set(d.kill.map((k) => k.instanceId))
            instances = instances.filter((i) => !killed.has(i.instanceId))
            const healthy = instances.filter((i) => isHealthyReady(target, i) || (i.configVersion === V1 && i.healthy !== false)).length
            expect(healthy).toBeGreaterThanOrEqual(minHealthy)
            for (let k = 0; k < d.launch; k++) instances.push(withoutHealth(instance(V2, { condition: Condition.Staging })))
            expect(instances.length).toBeLessThanOrEqual(allowed)
            // Some new instances become healthy on each round.
            instances = instances.map((i, idx) => (i.configVersion === V2 && i.condition === Condition.Staging && (coin[(round + idx) % 200] || round > 100) ? { ...i, condition: Condition.Running, healthy: true } : i))
          }
          throw new Error('the restart did not finish')
        },
      ),
    )
  })
})
