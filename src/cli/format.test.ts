import { describe, expect, it } from 'vitest'
import type { MarathonApp, MarathonDeployment } from '../api/marathon-client.js'
import { MarathonApiError, MarathonUnreachableError } from '../api/marathon-client.js'
import { appReached, describeError, eventLine, ExitCode, progressLine, table, waitingReason } from './format.js'

const app = (over: Partial<MarathonApp> = {}): MarathonApp => ({
  id: '/web',
  instances: 3,
  cpus: 0.1,
  mem: 32,
  disk: 0,
  healthChecks: [{ protocol: 'HTTP' }],
  tasksStaged: 0,
  tasksRunning: 2,
  tasksHealthy: 1,
  tasksUnhealthy: 0,
  deployments: [],
  ...over,
})

const deployment: MarathonDeployment = {
  id: 'd1',
  version: 'v',
  affectedApps: ['/web'],
  steps: [{ actions: [{ action: 'StartApplication', app: '/web' }] }, { actions: [{ action: 'ScaleApplication', app: '/web' }] }],
  currentActions: [{ action: 'ScaleApplication', app: '/web' }],
  currentStep: 1,
  totalSteps: 2,
}

describe('progressLine', () => {
  it('says the step, its actions and the counts', () => {
    expect(progressLine({ verb: 'deploying', appIds: ['/web'], deployment, apps: new Map([['/web', app()]]) })).toBe(
      'deploying /web: step 1/2 ScaleApplication /web: 2/3 running, 1/3 healthy',
    )
  })
  it('names each app when there are several, and says what is gone', () => {
    const line = progressLine({ verb: 'deploying', appIds: ['/a', '/b'], apps: new Map([['/a', app({ id: '/a', healthChecks: [] })], ['/b', null]]), tasksLeft: new Map([['/b', 2]]) })
    expect(line).toBe('deploying /a, /b: /a 2/3 running; /b 2 tasks stopping')
  })
})

describe('appReached', () => {
  it('wants exactly N running, N healthy where checked, nothing staged; or the app gone', () => {
    expect(appReached(app({ tasksRunning: 3, tasksHealthy: 3 }), false)).toBe(true)
    expect(appReached(app({ tasksRunning: 3, tasksHealthy: 2 }), false)).toBe(false)
    expect(appReached(app({ tasksRunning: 4, tasksHealthy: 4 }), false)).toBe(false)
    expect(appReached(app({ tasksRunning: 3, healthChecks: [], tasksHealthy: 0 }), false)).toBe(true)
    expect(appReached(null, true)).toBe(true)
    expect(appReached(app(), true)).toBe(false)
  })
})

describe('describeError', () => {
  const req = { method: 'PUT', url: 'http://x/v2/apps/web' }
  it('maps validation, lock, not found and unreachable to exit codes 2, 3, 4, 5', () => {
    const invalid = describeError(new MarathonApiError(422, { message: 'Object is not valid', details: [{ path: '/cpus', errors: ['error.min'] }] }, req))
    expect(invalid).toEqual({ exitCode: ExitCode.Usage, lines: ['dromos: Object is not valid', '  /cpus: error.min'] })
    const locked = describeError(new MarathonApiError(409, { message: "App is locked by one or more deployments. Override with the option '?force=true'.", deployments: [{ id: 'd1' }] }, req))
    expect(locked.exitCode).toBe(ExitCode.Conflict)
    expect(locked.lines[0]).toBe('dromos: App is locked by one or more deployments')
    expect(locked.lines.join('\n')).toContain('d1')
    expect(locked.lines.join('\n')).toContain('--force')
    expect(describeError(new MarathonApiError(404, { message: "App '/x' does not exist" }, req)).exitCode).toBe(ExitCode.NotFound)
    expect(describeError(new MarathonApiError(503, { message: 'not leader' }, req)).exitCode).toBe(ExitCode.Failed)
    expect(describeError(new MarathonUnreachableError('http://h:1', 'connect ECONNREFUSED'))).toEqual({
      exitCode: ExitCode.Unreachable,
      lines: ['dromos: cannot reach dromos apps at http://h:1: connect ECONNREFUSED'],
    })
  })
})

describe('eventLine', () => {
  it('prints time, type, key and the fields that tell events apart', () => {
    expect(
      eventLine({ eventType: 'status_update_event', timestamp: 't', slaveId: 's', taskId: 'web.1', taskStatus: 'TASK_RUNNING', appId: '/web', host: 'h', ports: [31000], ipAddresses: [{ ipAddress: '1.2.3.4' }] }),
    ).toBe('t status_update_event /web TASK_RUNNING taskId=web.1 host=h ports=31000 slaveId=s')
    expect(eventLine({ eventType: 'deployment_info', timestamp: 't', plan: { id: 'd1', steps: deployment.steps }, currentStep: deployment.steps[1] })).toBe(
      't deployment_info d1 step=2/2 (ScaleApplication /web)',
    )
    expect(eventLine({ eventType: 'deployment_failed', timestamp: 't', id: 'd1', plan: { id: 'd1', steps: deployment.steps }, reason: 'rolled back' })).toBe(
      't deployment_failed d1 apps=/web reason="rolled back"',
    )
  })
})

describe('table', () => {
  it('pads every column but the last', () => {
    expect(table(['ID', 'N'], [['/a', '1'], ['/long', '22']])).toBe('ID     N\n/a     1\n/long  22\n')
  })
})

describe('waitingReason', () => {
  const item = (over: Record<string, unknown>) => ({ app: app(), count: 2, ...over }) as Parameters<typeof waitingReason>[0]
  it('says what the last offers lacked, in words', () => {
    const steps = [
      { reason: 'UnfulfilledRole', declined: 0, processed: 3 },
      { reason: 'UnfulfilledConstraint', declined: 1, processed: 3 },
      { reason: 'InsufficientCpus', declined: 2, processed: 2 },
    ]
    expect(waitingReason(item({ processedOffersSummary: { processedOffersCount: 9, unusedOffersCount: 9, rejectSummaryLastOffers: steps } }))).toBe(
      '2 to launch; last offers of 3 agents declined: 1 constraints not met, 2 not enough cpus',
    )
  })
  it('says when it backs off after failures, and when no offer came yet', () => {
    expect(waitingReason(item({ delay: { timeLeftSeconds: 7, overdue: false } }))).toBe('2 to launch; backing off 7s after failures')
    expect(waitingReason(item({ processedOffersSummary: { processedOffersCount: 0, unusedOffersCount: 0, rejectSummaryLastOffers: [] } }))).toBe('2 to launch; no offers yet')
  })
})
