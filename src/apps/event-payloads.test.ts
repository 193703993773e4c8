import { describe, expect, it } from 'vitest'
import { activeChecks, frameworkMessageBytes, healthCheckEvents, masterHostname, planJson, unknownInstanceTerminated } from './event-payloads.js'
import { testApp } from './testing.js'
import type { AppHealthCheck, DeploymentPlan } from './types.js'

const check: AppHealthCheck = {
  protocol: 'HTTP',
  path: '/',
  portIndex: 0,
  gracePeriodSeconds: 5,
  intervalSeconds: 1,
  timeoutSeconds: 1,
  maxConsecutiveFailures: 2,
  delaySeconds: 15,
}

describe('event payloads', () => {
  it('the plan is the light raml.DeploymentPlan: id, steps and version only', () => {
    const app = testApp({ id: '/a' })
    const plan: DeploymentPlan = {
      id: 'p',
      version: '2026-12-01T00:00:00.000Z',
      affectedApps: ['/a'],
      steps: [{ actions: [{ action: 'StartApplication', app: '/a' }] }],
      target: { '/a': app },
      original: { '/a': null },
    }
    expect(planJson(plan)).toEqual({ id: 'p', steps: [{ actions: [{ action: 'StartApplication', app: '/a' }] }], version: '2026-12-01T00:00:00.000Z' })
  })

  it("a framework message's bytes are signed, as Marathon writes an Array[Byte]", () => {
    expect(frameworkMessageBytes(Buffer.from([104, 105, 255, 128]).toString('base64'))).toEqual([104, 105, -1, -128])
    expect(frameworkMessageBytes('')).toEqual([])
  })

  it("the scheduler events name the master's hostname", () => {
    expect(masterHostname({ hostname: 'master-1', port: 5050 }, 'http://127.0.0.1:5050')).toBe('master-1')
    expect(masterHostname(undefined, 'http://10.0.0.1:5050,http://10.0.0.2:5050')).toBe('10.0.0.1')
    expect(masterHostname({}, '10.0.0.3:5050')).toBe('10.0.0.3')
  })

  it('announces the checks of each version in use once, and their removal when the version is no longer used', () => {
    const v1 = testApp({ id: '/a', healthChecks: [check], version: '2026-12-01T00:00:01.000Z' })
    const v2 = { ...v1, version: '2026-12-01T00:00:02.000Z' }
    const plain = testApp({ id: '/b' })
    const first = activeChecks([v1, plain], [{ appId: '/a', version: v1.version, definition: v1 }])
    expect(healthCheckEvents([], first)).toEqual([{ eventType: 'add_health_check_event', fields: { appId: '/a', version: v1.version, healthCheck: check } }])
    expect(healthCheckEvents(first, first)).toEqual([])
    // v2 is current while an instance still runs v1: both are checked.
    const rolling = activeChecks([v2], [{ appId: '/a', version: v1.version, definition: v1 }])
    expect(healthCheckEvents(first, rolling)).toEqual([{ eventType: 'add_health_check_event', fields: { appId: '/a', version: v2.version, healthCheck: check } }])
    const done = activeChecks([v2], [])
    expect(healthCheckEvents(rolling, done)).toEqual([{ eventType: 'remove_health_check_event', fields: { appId: '/a' } }])
    expect(healthCheckEvents(done, activeChecks([], []))).toEqual([{ eventType: 'remove_health_check_event', fields: { appId: '/a' } }])
  })

  it('an unknown task that ended names its instance and app', () => {
    const uuid = '0664256e-6771-11e5-94e1-be5b2935a987'
    expect(unknownInstanceTerminated(`prod_web.${uuid}`, 'Killed')).toEqual({ instanceId: `prod_web.instance-${uuid}`, runSpecId: '/prod/web', condition: 'Killed' })
    expect(unknownInstanceTerminated(`prod_web.instance-${uuid}._app.2`, 'Unreachable')).toEqual({ instanceId: `prod_web.instance-${uuid}`, runSpecId: '/prod/web', condition: 'Unreachable' })
    expect(unknownInstanceTerminated(`prod_web.${uuid}`, 'Running')).toBeUndefined()
    expect(unknownInstanceTerminated('not-marathons', 'Failed')).toBeUndefined()
  })
})
