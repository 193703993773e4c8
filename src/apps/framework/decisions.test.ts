// A decision kept while an app's target and instances stay the same is the one decideApp
// gives from scratch, after any puts and removals of instances, changes of definition and
// passing of time (which matters to unreachable instances only).
import fc from 'fast-check'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { openSqliteStore } from '../../store/sqlite.js'
import { decideApp, isAlive, isTerminalCondition } from '../reconcile.js'
import type { AppsCommand, DeploymentRecord } from '../state.js'
import { createAppsState } from '../state.js'
import { T0, testApp, testInstance } from '../testing.js'
import type { AppDefinition } from '../types.js'
import { Condition } from '../types.js'
import { createDecisions } from './decisions.js'

const log = pino({ level: 'silent' })
const T1 = '2026-01-02T00:00:00.000Z'
const APPS = ['/a', '/b']
const INSTANCES = ['i1', 'i2', 'i3', 'i4', 'i5']

const definition = fc.record({ instances: fc.integer({ min: 0, max: 4 }), configVersion: fc.constantFrom(T0, T1), healthChecked: fc.boolean() })
const toApp = (id: string, d: { instances: number; configVersion: string; healthChecked: boolean }): AppDefinition =>
  testApp({
    id,
    instances: d.instances,
    version: d.configVersion,
    versionInfo: { lastConfigChangeAt: d.configVersion, lastScalingAt: d.configVersion },
    unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 3 },
    healthChecks: d.healthChecked ? [{ protocol: 'COMMAND', command: { value: 'true' }, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }] : [],
  } as Partial<AppDefinition>)

type Step = { cmd: AppsCommand } | { advanceMs: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc
    .record({
      instanceId: fc.constantFrom(...INSTANCES),
      appId: fc.constantFrom(...APPS),
      condition: fc.constantFrom(Condition.Running, Condition.Staging, Condition.Killed, Condition.Unreachable, Condition.UnreachableInactive, Condition.Killing),
      goal: fc.constantFrom('Running' as const, 'Decommissioned' as const),
      configVersion: fc.constantFrom(T0, T1),
      healthy: fc.constantFrom(true, false, undefined),
    })
    .map(({ instanceId, appId, condition, goal, configVersion, healthy }): Step => ({
      cmd: {
        type: 'instance-put',
        instance: testInstance({ instanceId, appId, taskId: `${instanceId}.1`, condition, goal, configVersion, version: configVersion, ...(healthy === undefined ? {} : { healthy }), unreachableSince: T0 }),
      },
    })),
  fc.constantFrom(...INSTANCES).map((instanceId): Step => ({ cmd: { type: 'instance-removed', instanceId } })),
  fc.record({ appId: fc.constantFrom(...APPS), d: definition }).map(({ appId, d }): Step => ({ cmd: { type: 'app-put', app: toApp(appId, d) } })),
  fc.constantFrom(...APPS).map((appId): Step => ({ cmd: { type: 'app-removed', appId } })),
  fc.integer({ min: 0, max: 4000 }).map((advanceMs): Step => ({ advanceMs })),
)

describe('kept decisions', () => {
  it('are what decideApp decides from scratch, after any changes of instances, definitions and time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const state = createAppsState({ store: openSqliteStore(':memory:'), log })
        const decide = createDecisions(state)
        let now = Date.parse(T0)
        for (const s of steps) {
          if ('cmd' in s) await state.apply(s.cmd)
          else now += s.advanceMs
          for (const appId of APPS) {
            // The same target object as long as the definition is not put again, as the framework asks.
            const target = state.apps.get(appId) ?? null
            const got = decide(appId, target, now)
            const instances = state.instancesOf(appId)
            expect(got.instances).toEqual(instances)
            expect(got.decision).toEqual(decideApp({ target, instances, nowMs: now }))
            expect(got.alive).toEqual(instances.filter(isAlive))
            expect(got.leaving).toEqual(instances.filter((i) => i.goal !== 'Running' && !isTerminalCondition(i.condition)))
          }
        }
      }),
      { seed: 20_261_202, numRuns: 300 },
    )
  })

  it('are not decided again while nothing changed, and are once an instance or the target did', async () => {
    const state = createAppsState({ store: openSqliteStore(':memory:'), log })
    const decide = createDecisions(state)
    const app = toApp('/a', { instances: 2, configVersion: T0, healthChecked: false })
    await state.apply({ type: 'app-put', app })
    await state.apply({ type: 'instance-put', instance: testInstance({ instanceId: 'i1', appId: '/a', taskId: 'i1.1', condition: Condition.Running }) })
    const first = decide('/a', app, 0)
    expect(first.decision.launch).toBe(1)
    expect(decide('/a', app, 1000)).toBe(first)
    // A target of the same contents but another object is another target.
    expect(decide('/a', { ...app, instances: 1 }, 1000).decision.launch).toBe(0)
    await state.apply({ type: 'instance-put', instance: testInstance({ instanceId: 'i2', appId: '/a', taskId: 'i2.1', condition: Condition.Running }) })
    expect(decide('/a', app, 1000).decision.launch).toBe(0)
  })
})

describe('apps state, revisions and deployments by app', () => {
  it('an app revision changes whenever its instances do, and deploymentOf is the first deployment naming the app', async () => {
    const deployment = (id: string, apps: string[]): DeploymentRecord => ({ id, version: T1, affectedApps: apps, original: {}, target: {}, steps: [], currentStep: 0, startedAt: T1 })
    const cmd: fc.Arbitrary<AppsCommand> = fc.oneof(
      fc
        .record({ instanceId: fc.constantFrom(...INSTANCES), appId: fc.constantFrom(...APPS), condition: fc.constantFrom(Condition.Running, Condition.Staging) })
        .map(({ instanceId, appId, condition }): AppsCommand => ({ type: 'instance-put', instance: testInstance({ instanceId, appId, taskId: `${instanceId}.1`, condition }) })),
      fc.constantFrom(...INSTANCES).map((instanceId): AppsCommand => ({ type: 'instance-removed', instanceId })),
      fc
        .record({ id: fc.constantFrom('d1', 'd2', 'd3'), apps: fc.subarray(APPS) })
        .map(({ id, apps }): AppsCommand => ({ type: 'deployment-put', deployment: deployment(id, apps) })),
      fc.constantFrom('d1', 'd2', 'd3').map((deploymentId): AppsCommand => ({ type: 'deployment-removed', deploymentId })),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { maxLength: 40 }), async (commands) => {
        const state = createAppsState({ store: openSqliteStore(':memory:'), log })
        const seen = new Map(APPS.map((a) => [a, new Set([state.instancesRevision(a)])]))
        for (const c of commands) {
          const before = APPS.map((a) => ({ revision: state.instancesRevision(a), instances: state.instancesOf(a) }))
          await state.apply(c)
          APPS.forEach((a, k) => {
            const revision = state.instancesRevision(a)
            if (JSON.stringify(state.instancesOf(a)) !== JSON.stringify(before[k]!.instances)) {
              expect(revision).not.toBe(before[k]!.revision)
              // Never an earlier value again.
              expect(seen.get(a)!.has(revision)).toBe(false)
            }
            seen.get(a)!.add(revision)
            expect(state.deploymentOf(a)).toBe([...state.deployments.values()].find((d) => d.affectedApps.includes(a)))
          })
        }
      }),
      { seed: 20_261_203, numRuns: 200 },
    )
  })
})
