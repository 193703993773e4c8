// The framework's health handling, driven through its scheduler connection: its own HTTP check
// probes a local server, the Mesos-run COMMAND check's results come in as status updates, and
// the KILL calls it makes are recorded.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { OfferWire, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import type { SchedulerClient, SchedulerClientOptions, SchedulerEvent } from '../api/scheduler-client.js'
import { openSqliteStore } from '../store/sqlite.js'
import { createEventBus } from './events.js'
import type { AppsFramework } from './framework.js'
import { createAppsFramework } from './framework.js'
import { testApp } from './testing.js'
import type { AppHealthCheck } from './types.js'

const log = pino({ level: process.env['TEST_LOG'] ?? 'silent' })

let server: http.Server
let port: number
let status = 200

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    res.statusCode = status
    res.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

const frameworks: AppsFramework[] = []
afterEach(async () => {
  for (const f of frameworks.splice(0)) await f.stop()
})

interface Cluster {
  framework: AppsFramework
  launched: TaskInfo[]
  kills: string[]
  offer(): void
  update(s: Partial<TaskStatusWire>): void
}

/** A framework whose master connection launches what it accepts and records its kills. */
async function startCluster(): Promise<Cluster> {
  let onEvent: ((e: SchedulerEvent) => void) | undefined
  const launched: TaskInfo[] = []
  const kills: string[] = []
  const connect = (o: SchedulerClientOptions): SchedulerClient => {
    onEvent = o.onEvent
    const none = async (): Promise<void> => {}
    return {
      start() {},
      stop() {},
      connected: () => true,
      master: () => o.masters[0]!,
      frameworkId: () => 'fw-1',
      call: none,
      accept: async (_ids: string[], tasks: TaskInfo[]) => void launched.push(...tasks),
      decline: none,
      acknowledge: none,
      kill: async (taskId: string) => void kills.push(taskId),
      reconcile: none,
      revive: none,
      suppress: none,
    }
  }
  // Fast passes and no drain delay, so kills show at once; the rest as in production.
  const events = createEventBus({ log, now: () => new Date() })
  const store = openSqliteStore(':memory:')
  const timing = { tickMs: 100, killDrainMs: 0, reconcileIntervalMs: 60_000 }
  const framework = createAppsFramework({ store, master: 'http://127.0.0.1:1', log, clock: { now: () => Date.now() }, events, frameworkName: 'test', hostname: 'localhost', ...timing, connect })
  frameworks.push(framework)
  await framework.start()
  const emit = (e: unknown): void => onEvent?.(e as SchedulerEvent)
  emit({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, heartbeat_interval_seconds: 15 } })
  let offers = 0
  const offer = (): void => {
    const o = {
      id: { value: `o-${++offers}` },
      framework_id: { value: 'fw-1' },
      agent_id: { value: 'a1' },
      hostname: '127.0.0.1',
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: 4 }, role: '*' },
        { name: 'mem', type: 'SCALAR', scalar: { value: 4096 }, role: '*' },
        { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: port, end: port }] }, role: '*' },
      ],
      attributes: [],
    } as unknown as OfferWire
    emit({ type: 'OFFERS', offers: { offers: [o] } })
  }
  const update = (s: Partial<TaskStatusWire>): void =>
    emit({ type: 'UPDATE', update: { status: { task_id: { value: launched[0]!.task_id.value }, agent_id: { value: 'a1' }, state: 'TASK_RUNNING', timestamp: Date.now() / 1000, ...s } } })
  return { framework, launched, kills, offer, update }
}

async function until(ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const check = (over: Partial<AppHealthCheck>): AppHealthCheck => ({
  protocol: 'HTTP',
  path: '/',
  portIndex: 0,
  gracePeriodSeconds: 0,
  intervalSeconds: 1,
  timeoutSeconds: 1,
  maxConsecutiveFailures: 3,
  delaySeconds: 0,
  ...over,
})

async function launch(healthChecks: AppHealthCheck[]): Promise<Cluster & { instance: () => ReturnType<AppsFramework['state']['instancesOf']>[number] }> {
  const c = await startCluster()
  const app = testApp({ id: '/hc', portDefinitions: [{ port: 0, protocol: 'tcp' }], healthChecks })
  await c.framework.deploy({ put: [app], remove: [] }, { force: false })
  await until(() => {
    if (c.launched.length === 0) c.offer()
    return c.launched.length > 0
  }, 'a launch')
  c.update({ state: 'TASK_RUNNING' })
  const instance = () => c.framework.state.instancesOf('/hc')[0]!
  await until(() => instance()?.condition === 'Running', 'the instance to run')
  return { ...c, instance }
}

describe('framework health checks', () => {
  it('a COMMAND check failing beside a passing HTTP check keeps the instance unhealthy and the deployment open', async () => {
    status = 200
    const c = await launch([check({}), check({ protocol: 'COMMAND', command: { value: 'exit 1' } })])
    const results = () => c.framework.healthResultsOf(c.instance().instanceId)
    await until(() => results().length === 1 && results()[0]!.alive, 'the HTTP check to pass')
    // The COMMAND check has not reported: not healthy yet, and the deployment waits.
    expect(c.instance().healthy).toBeUndefined()
    expect(c.framework.deploymentsOf('/hc')).toHaveLength(1)

    for (let n = 0; n < 3; n++) c.update({ healthy: false, reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED', message: 'Command returned 1' })
    await until(() => results().length === 2 && results()[1]!.consecutiveFailures === 3, 'three COMMAND failures')
    expect(c.instance().healthy).toBe(false)
    expect(results()[1]).toMatchObject({ alive: false, lastFailureCause: 'Command returned 1', lastSuccess: null })
    await sleep(300)
    expect(c.framework.deploymentsOf('/hc')).toHaveLength(1)

    c.update({ healthy: true, reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED' })
    await until(() => c.instance().healthy === true, 'healthy by both checks')
    await until(() => c.framework.deploymentsOf('/hc').length === 0, 'the deployment to finish')
    expect(c.kills).toEqual([])
  })

  it('kills at the failure after maxConsecutiveFailures in a row, never with 0 and never while unreachable', async () => {
    status = 500
    const killing = await launch([check({ maxConsecutiveFailures: 1 })])
    await until(() => killing.kills.length === 1, 'the kill', 6_000)
    await frameworks.pop()!.stop()

    const never = await launch([check({ maxConsecutiveFailures: 0 })])
    const results = () => never.framework.healthResultsOf(never.instance().instanceId)
    await until(() => (results()[0]?.consecutiveFailures ?? 0) >= 3, 'three failures', 6_000)
    expect(never.kills).toEqual([])
    expect(never.instance().healthy).toBe(false)
    await frameworks.pop()!.stop()

    const unreachable = await launch([check({ maxConsecutiveFailures: 1 })])
    unreachable.update({ state: 'TASK_UNREACHABLE' })
    await until(() => unreachable.instance().condition === 'Unreachable', 'the instance to be unreachable')
    await sleep(3_500)
    expect(unreachable.kills).toEqual([])
  }, 30_000)
})
