import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { CheckHealth, CheckResult, MarathonCheckContext } from './health.js'
import { healthJson, instanceHealth, isAliveHealth, NO_RESULTS, recordMarathonResult, recordMesosResult } from './health.js'

const ok: CheckResult = { healthy: true }
const bad = (cause = 'GET returned 500'): CheckResult => ({ healthy: false, cause })
const ctx = (over: Partial<MarathonCheckContext> = {}): MarathonCheckContext => ({
  nowMs: 1_000_000,
  running: true,
  unreachable: false,
  runningSinceMs: 0,
  gracePeriodSeconds: 0,
  maxConsecutiveFailures: 3,
  ...over,
})

/** Feeds results one per second, returning the health after each and whether it asked for a kill. */
function run(results: CheckResult[], over: Partial<MarathonCheckContext> = {}): Array<{ health: CheckHealth; kill: boolean; counted: boolean }> {
  let h = NO_RESULTS
  return results.map((r, i) => {
    const d = recordMarathonResult(h, r, ctx({ nowMs: 1_000_000 + i * 1000, ...over }))
    h = d.health
    return d
  })
}

describe('Marathon-run checks', () => {
  it('kill at the failure that follows maxConsecutiveFailures failures in a row, as Marathon decides on the count before it', () => {
    const steps = run([ok, bad(), bad(), bad(), bad('last')])
    expect(steps.map((s) => s.kill)).toEqual([false, false, false, false, true])
    expect(steps.map((s) => s.health.consecutiveFailures)).toEqual([0, 1, 2, 3, 4])
  })

  it('never kill with maxConsecutiveFailures 0, also after the instance was healthy', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 40 }), (oks) => {
        const steps = run([ok, ...oks.map((x) => (x ? ok : bad()))], { maxConsecutiveFailures: 0 })
        return steps.every((s) => !s.kill)
      }),
    )
  })

  it('never kill an unreachable instance, nor count failures of one that does not run', () => {
    expect(run([bad(), bad(), bad(), bad(), bad()], { unreachable: true }).some((s) => s.kill)).toBe(false)
    const notRunning = run([ok, bad(), bad(), bad(), bad(), bad()], { running: false })
    expect(notRunning.some((s) => s.kill || s.counted)).toBe(false)
    expect(notRunning.at(-1)?.health.consecutiveFailures).toBe(0)
  })

  it('ignore failures before the first success within the grace period, showing no failure for them', () => {
    const grace = { runningSinceMs: 1_000_000, gracePeriodSeconds: 3 }
    const steps = run([bad(), bad(), bad(), bad()], grace)
    expect(steps.map((s) => s.counted)).toEqual([false, false, false, true])
    expect(healthJson(steps[2]!.health, 'i1')).toEqual({
      alive: false,
      consecutiveFailures: 0,
      firstSuccess: null,
      lastFailure: null,
      lastSuccess: null,
      lastFailureCause: null,
      instanceId: 'i1',
    })
    // After a first success the grace period is over.
    const after = run([ok, bad()], grace)
    expect(after[1]).toMatchObject({ counted: true, health: { consecutiveFailures: 1 } })
  })

  it('keep firstSuccess, and are alive only while the last success is after the last failure', () => {
    const steps = run([ok, bad('boom'), ok])
    const [first, failed, again] = steps.map((s) => healthJson(s.health, 'i1'))
    expect(first).toMatchObject({ alive: true, consecutiveFailures: 0, lastFailure: null, lastFailureCause: null })
    expect(failed).toMatchObject({ alive: false, consecutiveFailures: 1, lastFailureCause: 'boom', firstSuccess: first?.firstSuccess })
    expect(again).toMatchObject({ alive: true, consecutiveFailures: 0, firstSuccess: first?.firstSuccess, lastFailureCause: 'boom' })
    expect(Object.keys(again ?? {})).toEqual(['alive', 'consecutiveFailures', 'firstSuccess', 'lastFailure', 'lastSuccess', 'lastFailureCause', 'instanceId'])
  })
})

describe('Mesos-run checks', () => {
  it('record what the status update says, whatever the grace period: Mesos applied it already', () => {
    const h = recordMesosResult(recordMesosResult(undefined, bad('Command returned 1'), 10), bad('Command returned 1'), 20)
    expect(h).toMatchObject({ consecutiveFailures: 2, lastFailure: 20, lastFailureCause: 'Command returned 1' })
    expect(isAliveHealth(recordMesosResult(h, ok, 30))).toBe(true)
  })
})

describe('instance health', () => {
  const alive = recordMesosResult(undefined, ok, 10)
  const failing = recordMesosResult(alive, bad(), 20)

  it('is healthy only when every check is alive', () => {
    expect(instanceHealth([alive, alive])).toBe(true)
    expect(instanceHealth([alive, failing])).toBe(false)
    expect(instanceHealth([failing, alive])).toBe(false)
  })

  it('is not known while a check has no counted result, and without checks', () => {
    expect(instanceHealth([alive, undefined])).toBeUndefined()
    expect(instanceHealth([alive, NO_RESULTS])).toBeUndefined()
    expect(instanceHealth([])).toBeUndefined()
    expect(instanceHealth([failing, undefined])).toBe(false)
  })

  it('is true exactly when all checks are alive (property)', () => {
    const health = fc.oneof(fc.constant(undefined), fc.constant(NO_RESULTS), fc.constant(alive), fc.constant(failing))
    fc.assert(
      fc.property(fc.array(health, { minLength: 1, maxLength: 5 }), (checks) => {
        return (instanceHealth(checks) === true) === checks.every((h) => h !== undefined && isAliveHealth(h))
      }),
    )
  })
})
