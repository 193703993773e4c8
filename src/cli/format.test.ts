import { describe, expect, it } from 'vitest'
import type { MarathonApp, MarathonDeployment, MarathonTask } from '../api/marathon-client.js'
import { MarathonApiError, MarathonUnreachableError } from '../api/marathon-client.js'
import { appReached, appRows, describeError, eventLine, ExitCode, progressLine, table, waitingReason } from './format.js'

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

describe('progressLine in the middle of a rolling restart', () => {
  const OLD = '2026-01-01T00:00:00.000Z'
  const NEW = '2026-01-01T00:05:00.000Z'
  const task = (n: number, version: string, state: string, healthy?: boolean): MarathonTask => ({
    id: `web.${n}`,
    appId: '/web',
    host: 'h',
    ports: [],
    servicePorts: [],
    state,
    version,
    healthCheckResults: healthy === undefined ? [] : [{ alive: healthy }],
  })
  // instances 4, maximumOverCapacity 1: 4 old tasks, 2 new up (1 healthy), 1 new staging, 1 old killed so far.
  const restarting = app({
    instances: 4,
    version: NEW,
    versionInfo: { lastScalingAt: NEW, lastConfigChangeAt: NEW },
    tasksRunning: 5,
    tasksHealthy: 4,
    tasksStaged: 1,
    tasks: [
      task(1, OLD, 'TASK_RUNNING', true),
      task(2, OLD, 'TASK_RUNNING', true),
      task(3, OLD, 'TASK_KILLING', true),
      task(4, OLD, 'TASK_KILLED', true),
      task(5, NEW, 'TASK_RUNNING', true),
      task(6, NEW, 'TASK_RUNNING', false),
      task(7, NEW, 'TASK_STAGING'),
    ],
  })
  const restart: MarathonDeployment = { ...deployment, steps: [{ actions: [{ action: 'RestartApplication', app: '/web' }] }], currentActions: [{ action: 'RestartApplication', app: '/web' }], totalSteps: 1 }

  it('counts the new tasks against the target and the old ones apart, never more running than instances', () => {
    expect(progressLine({ verb: 'restarting', appIds: ['/web'], deployment: restart, apps: new Map([['/web', restarting]]) })).toBe(
      'restarting /web: step 1/1 RestartApplication /web: new 2/4 running, 1/4 healthy, 1 staged; old 3 draining',
    )
    expect(appRows([restarting], [])[0]!.slice(1, 3)).toEqual(['2/4 +3 old', '1/4'])
  })
  it('goes back to the plain counts once no old task is left', () => {
    const done = app({ ...restarting, tasksRunning: 4, tasksHealthy: 4, tasksStaged: 0, tasks: [5, 6, 7, 8].map((n) => task(n, NEW, 'TASK_RUNNING', true)) })
    expect(progressLine({ verb: 'restarting', appIds: ['/web'], apps: new Map([['/web', done]]) })).toBe('restarting /web: 4/4 running, 4/4 healthy')
  })
  it('counts a scale-up (new version, same configuration) as one set of tasks', () => {
    const scaled = app({ ...restarting, version: '2026-01-01T00:09:00.000Z', versionInfo: { lastScalingAt: '2026-01-01T00:09:00.000Z', lastConfigChangeAt: NEW }, tasksRunning: 1, tasksHealthy: 1, tasksStaged: 0, tasks: [task(5, NEW, 'TASK_RUNNING', true)] })
    expect(progressLine({ verb: 'scaling', appIds: ['/web'], apps: new Map([['/web', scaled]]) })).toBe('scaling /web: 1/4 running, 1/4 healthy')
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
    expect(eventLine({ eventType: 'deployment_failed', timestamp: 't', id: 'd1', plan: { id: 'd1', steps: deployment.steps }, reason: 'The upgrade has been cancelled' })).toBe(
      't deployment_failed d1 apps=/web reason="The upgrade has been cancelled"',
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
