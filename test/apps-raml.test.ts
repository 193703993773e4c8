// Every GET of the v2 API of a real `dromos apps`, with real apps running (a healthy one, one
// that keeps failing, one whose readiness never passes and one waiting in the queue), read
// with strict schemas written from Marathon's RAML: no response may hold a key Marathon's
// types do not have.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AppsProcess } from './lib/apps.js'
import { startAppsCluster, stopAppsCluster } from './lib/apps.js'
import type { TestCluster } from './lib/cluster.js'
import { waitUntil } from './lib/cluster.js'
import type { z } from 'zod'
import {
  App,
  AppInfo,
  AppList,
  AppSingle,
  DeploymentList,
  ErrorBody,
  expectRaml,
  GroupInfo,
  Info,
  Leader,
  Queue,
  TaskList,
  VersionList,
} from './lib/marathon-raml.js'

let cluster: TestCluster
let apps: AppsProcess

const served = (id: string, extra: Record<string, unknown>): Record<string, unknown> => ({
  id,
  cmd: 'exec python3 -m http.server $PORT0 --bind 127.0.0.1',
  cpus: 0.05,
  mem: 32,
  portDefinitions: [{ port: 0, name: 'http', labels: { VIP: 'x' } }],
  ...extra,
})

const HEALTHY = '/raml/healthy'
const FAILING = '/raml/failing'
const UNREADY = '/raml/unready'
const QUEUED = '/raml/queued'

beforeAll(async () => {
  ({ cluster, apps } = await startAppsCluster({ hostname: 'agent-r', attributes: 'rack:r1', resources: 'cpus:4;mem:2048;disk:1000;ports:[31600-31699]' }))
  const create = async (body: Record<string, unknown>): Promise<void> => {
    const r = await apps.req('POST', '/v2/apps', body)
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expectRaml(AppInfo, r.body, `POST /v2/apps ${String(body.id)}`)
  }
  await create(
    served(HEALTHY, {
      instances: 2,
      env: { GREETING: 'hi' },
      labels: { team: 'raml' },
      constraints: [['hostname', 'MAX_PER', '2']],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3 }],
    }),
  )
  await create({ id: FAILING, cmd: 'echo boom; exit 1', cpus: 0.05, mem: 16, portDefinitions: [], backoffSeconds: 1, backoffFactor: 1 })
  await create(
    served(UNREADY, {
      readinessChecks: [{ name: 'ready', protocol: 'HTTP', path: '/missing', portName: 'http', intervalSeconds: 2, timeoutSeconds: 1, httpStatusCodesForReady: [200], preserveLastResponse: true }],
    }),
  )
  await create({ id: QUEUED, cmd: 'sleep 600', cpus: 100, mem: 16, portDefinitions: [] })
  await apps.waitDeployed(HEALTHY)
  await waitUntil('the healthy app to be healthy', async () => (await apps.app(HEALTHY))?.tasksHealthy === 2, 60_000)
  await waitUntil('a task failure of the failing app', async () => (await apps.app(FAILING))?.lastTaskFailure, 60_000)
  await waitUntil('a readiness result of the unready app', async () => {
    const a = (await apps.req('GET', `/v2/apps${UNREADY}?embed=app.readiness`)).body.app
    return a?.readinessCheckResults?.some((r: { lastResponse?: unknown }) => r.lastResponse)
  }, 60_000)
  await waitUntil('the queued app in the queue with processed offers', async () => {
    const q = (await apps.req('GET', '/v2/queue')).body.queue as Array<{ app: { id: string }; processedOffersSummary: { processedOffersCount: number } }>
    return q.some((e) => e.app.id === QUEUED && e.processedOffersSummary.processedOffersCount > 0)
  }, 60_000)
}, 180_000)

afterAll(() => stopAppsCluster({ cluster, apps }))

async function get<T>(path: string, schema: z.ZodType<T>, status = 200): Promise<T> {
  const r = await apps.req('GET', path)
  expect(r.status, `GET ${path}: ${JSON.stringify(r.body)}`).toBe(status)
  return expectRaml(schema, r.body, `GET ${path}`)
}

const EMBEDS = ['tasks', 'counts', 'deployments', 'readiness', 'lastTaskFailure', 'failures', 'taskStats']

describe('every GET of the v2 API matches the RAML strictly', () => {
  it('/v2/apps, with and without each embed under each prefix', async () => {
    const plain = await get('/v2/apps', AppList)
    expect(plain.apps.map((a) => a.id)).toEqual([FAILING, HEALTHY, QUEUED, UNREADY])
    // The list always has the counts and the deployments, and nothing else embedded.
    for (const a of plain.apps) {
      expect(a.tasksRunning).toBeTypeOf('number')
      expect(a.deployments).toBeInstanceOf(Array)
      expect(a.tasks).toBeUndefined()
      expect(a.lastTaskFailure).toBeUndefined()
    }
    for (const prefix of ['apps.', 'app.', 'group.apps.', '']) {
      for (const e of EMBEDS) await get(`/v2/apps?embed=${prefix}${e}`, AppList)
      await get(`/v2/apps?${EMBEDS.map((e) => `embed=${prefix}${e}`).join('&')}`, AppList)
    }
  })

  it('/v2/apps/{id}, its tasks, versions and one version', async () => {
    for (const id of [HEALTHY, FAILING, UNREADY, QUEUED]) {
      const { app } = await get(`/v2/apps${id}`, AppSingle)
      // show always embeds the counts, tasks, last failure and deployments.
      expect(app.tasks).toBeInstanceOf(Array)
      expect(app.deployments).toBeInstanceOf(Array)
      for (const prefix of ['app.', 'apps.', 'group.apps.']) for (const e of EMBEDS) await get(`/v2/apps${id}?embed=${prefix}${e}`, AppSingle)
      await get(`/v2/apps${id}/tasks`, TaskList)
      const { versions } = await get(`/v2/apps${id}/versions`, VersionList)
      expect(versions.length).toBeGreaterThan(0)
      await get(`/v2/apps${id}/versions/${encodeURIComponent(versions[0]!)}`, App)
    }
  })

  it('/v2/tasks, /v2/groups and /v2/groups/{id} with the group embeds', async () => {
    const { tasks } = await get('/v2/tasks', TaskList)
    expect(tasks.filter((t) => t.appId === HEALTHY)).toHaveLength(2)
    await get('/v2/tasks?status=running', TaskList)
    for (const path of ['/v2/groups', '/v2/groups/raml']) {
      const g = await get(path, GroupInfo)
      expect(g.apps ?? g.groups).toBeDefined()
      for (const q of ['embed=group.apps', 'embed=group.groups', 'embed=group.pods', 'embed=group.apps&embed=group.groups', ...EMBEDS.map((e) => `embed=group.apps&embed=group.groups&embed=group.apps.${e}`)]) {
        await get(`${path}?${q}`, GroupInfo)
      }
    }
  })

  it('/v2/deployments, /v2/queue, /v2/info and /v2/leader', async () => {
    const deployments = await get('/v2/deployments', DeploymentList)
    expect(deployments.some((d) => d.affectedApps.includes(QUEUED))).toBe(true)
    const unready = deployments.find((d) => d.affectedApps.includes(UNREADY))!
    expect(unready.currentActions[0]!.readinessCheckResults.length).toBeGreaterThan(0)
    const { queue } = await get('/v2/queue', Queue)
    expect(queue!.some((q) => q.app.id === QUEUED)).toBe(true)
    await get('/v2/queue?embed=lastUnusedOffers', Queue)
    await get('/v2/info', Info)
    await get('/v2/leader', Leader)
  })

  it('error bodies: 404, 422, 409 for an existing app and for one locked by a deployment', async () => {
    await get('/v2/apps/raml/nothing', ErrorBody, 404)
    await get('/v2/groups/nothing', ErrorBody, 404)
    await get('/v2/apps/raml/nothing/versions', ErrorBody, 404)
    const invalid = await apps.req('POST', '/v2/apps', { id: '/raml/bad', cmd: 'true', instances: -1 })
    expect(invalid.status).toBe(422)
    expectRaml(ErrorBody, invalid.body, 'POST /v2/apps (invalid)')
    const exists = await apps.req('POST', '/v2/apps', { id: HEALTHY, cmd: 'true' })
    expect(exists.status).toBe(409)
    expectRaml(ErrorBody, exists.body, 'POST /v2/apps (exists)')
    const locked = await apps.req('PUT', `/v2/apps${QUEUED}`, { cpus: 99 })
    expect(locked.status).toBe(409)
    expect(expectRaml(ErrorBody, locked.body, 'PUT /v2/apps (locked)').deployments?.length).toBeGreaterThan(0)
  })
})

describe('embeds shaped as Marathon shapes them', () => {
  it('taskStats: the groups by version, each with counts and life times', async () => {
    const { app } = await get(`/v2/apps${HEALTHY}?embed=app.taskStats`, AppSingle)
    const total = app.tasksStats!.totalSummary!.stats
    expect(total.counts).toEqual({ staged: 0, running: 2, healthy: 2, unhealthy: 0 })
    expect(total.lifeTime!.averageSeconds).toBeGreaterThan(0)
    expect(app.tasksStats!.withLatestConfig!.stats.counts.running).toBe(2)
    expect(app.tasksStats!.withOutdatedConfig).toBeUndefined()
    const listed = (await get('/v2/apps?embed=apps.taskStats', AppList)).apps.find((a) => a.id === HEALTHY)!
    expect(listed.tasksStats!.totalSummary!.stats.counts.healthy).toBe(2)
  })

  it('lastTaskFailure, failures and tasks', async () => {
    const failing = (await get('/v2/apps?embed=apps.lastTaskFailure', AppList)).apps.find((a) => a.id === FAILING)!
    expect(failing.lastTaskFailure).toMatchObject({ appId: FAILING, state: 'TASK_FAILED', host: 'agent-r' })
    expect(failing.tasks).toBeUndefined()
    const withFailures = (await get('/v2/apps?embed=apps.failures', AppList)).apps.find((a) => a.id === FAILING)!
    expect(withFailures.tasks).toBeInstanceOf(Array)
    expect(withFailures.lastTaskFailure?.appId).toBe(FAILING)
    const withTasks = (await get('/v2/apps?embed=apps.tasks', AppList)).apps.find((a) => a.id === HEALTHY)!
    expect(withTasks.tasks!.map((t) => t.host)).toEqual(['agent-r', 'agent-r'])
    expect(withTasks.tasks!.every((t) => t.healthCheckResults?.[0]?.alive === true)).toBe(true)
  })

  it('readiness, and what a group embeds in its apps', async () => {
    const unready = (await get('/v2/apps?embed=apps.readiness', AppList)).apps.find((a) => a.id === UNREADY)!
    expect(unready.readinessCheckResults![0]).toMatchObject({ name: 'ready', ready: false, lastResponse: { status: 404 } })
    const group = await get('/v2/groups/raml?embed=group.apps&embed=group.apps.counts&embed=group.apps.tasks', GroupInfo)
    const healthy = group.apps!.find((a) => a.id === HEALTHY)!
    expect(healthy.tasksHealthy).toBe(2)
    expect(healthy.tasks).toHaveLength(2)
    expect(group.groups).toBeUndefined()
    // Only group.apps.* reaches a group's apps, as in Marathon.
    const plain = await get('/v2/groups/raml?embed=group.apps&embed=apps.counts', GroupInfo)
    expect(plain.apps!.find((a) => a.id === HEALTHY)!.tasksHealthy).toBeUndefined()
  })
})
