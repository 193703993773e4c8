// The v0 endpoints operator tools read from a Mesos 1.x master and agent, end to end: a real
// master and agent, a framework speaking only JSON that runs one Docker task and one process
// task, and schemas written from Mesos' own JSON writers (src/master/readonly_handler.cpp,
// src/slave/http.cpp, src/common/http.cpp, mesos.proto ResourceStatistics). Objects whose
// fields Mesos writes as a fixed set are strict: an unknown key fails.
import Dockerode from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { TestCluster, waitUntil } from './lib/cluster.js'
import type { ReadResponse } from './lib/http.js'
import { readResponse } from './lib/http.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from './lib/images.js'
import { scalar, TestFramework } from './lib/scheduler.js'

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

const docker = new Dockerode()
let cluster: TestCluster
let agentUrl = ''
let framework: TestFramework

const DOCKER_TASK = { id: 'stats-docker', cpus: 0.25, mem: 64 }
const PROCESS_TASK = { id: 'stats-process', cpus: 0.5, mem: 48 }
/** A container's PID 1 ignores SIGTERM; do not wait the default 3 s before SIGKILL. */
const QUICK_KILL = { grace_period: { nanoseconds: 200_000_000 } }
// Both tasks hold a few MiB resident, so their rss is clearly above zero.
const HOLD_MEMORY = 'x=$(head -c 4000000 /dev/zero | tr "\\0" a); while true; do sleep 1; done'

beforeAll(async () => {
  await ensureBusyboxImage()
  cluster = await TestCluster.start()
  agentUrl = cluster.agents[0]!.url
  framework = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'endpoints', roles: ['web/frontend'] })
  const offer = (await framework.waitOffers()).offers.offers[0]
  const resources = (t: { cpus: number; mem: number }) => [scalar('cpus', t.cpus), scalar('mem', t.mem)]
  await framework.launch(
    offer,
    [
      {
        name: 'stats docker',
        task_id: { value: DOCKER_TASK.id },
        resources: resources(DOCKER_TASK),
        command: { shell: true, value: HOLD_MEMORY },
        container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'NONE' } },
        kill_policy: QUICK_KILL,
        labels: { labels: [{ key: 'purpose', value: 'stats' }] },
      },
      { name: 'stats process', task_id: { value: PROCESS_TASK.id }, resources: resources(PROCESS_TASK), command: { shell: true, value: HOLD_MEMORY } },
    ],
    // Hold the rest back, so that the state does not change while endpoints are compared.
    { refuse_seconds: 3600 },
  )
  await framework.waitUpdate(DOCKER_TASK.id, 'TASK_RUNNING', { timeoutMs: 60_000 })
  await framework.waitUpdate(PROCESS_TASK.id, 'TASK_RUNNING', { timeoutMs: 30_000 })
}, 120_000)

afterAll(async () => {
  if (framework && !framework.closed) await framework.call({ type: 'TEARDOWN' }).catch(() => undefined)
  framework?.close()
  for (const c of await docker.listContainers({ all: true, filters: { label: [`dromos.framework_id=${framework?.frameworkId}`] } }).catch(() => [])) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)
  }
  await cluster?.stop()
})

const get = async (url: string): Promise<ReadResponse> => readResponse(await fetch(url))

async function getJson(url: string): Promise<Json> {
  const r = await get(url)
  expect(r.status, r.text).toBe(200)
  expect(r.type).toBe('application/json')
  return r.json
}

function expectShape(schema: z.ZodType, value: unknown): void {
  const parsed = schema.safeParse(value)
  expect(parsed.success ? [] : parsed.error.issues, JSON.stringify(value).slice(0, 2000)).toEqual([])
}

// ---- shapes ----

/** ResourceQuantities: {name: amount}. */
const Quantities = z.record(z.string(), z.number())
const V0Resources = z.object({ cpus: z.number(), mem: z.number(), disk: z.number(), gpus: z.number() }).catchall(z.union([z.number(), z.string()]))

const Role = z.strictObject({
  name: z.string(),
  weight: z.number(),
  quota: z.strictObject({ role: z.string(), guarantee: Quantities, limit: Quantities, consumed: Quantities }),
  resources: Quantities,
  allocated: Quantities,
  offered: Quantities,
  reserved: Quantities,
  frameworks: z.array(z.string()),
})

const Flags = z.strictObject({ flags: z.record(z.string(), z.string()) })

const Status = z.strictObject({
  state: z.string(),
  timestamp: z.number(),
  labels: z.array(z.strictObject({ key: z.string(), value: z.string() })).optional(),
  container_status: z.looseObject({}).optional(),
  healthy: z.boolean().optional(),
})

const AgentTask = z.strictObject({
  id: z.string(),
  name: z.string(),
  framework_id: z.string(),
  executor_id: z.string(),
  slave_id: z.string(),
  state: z.string(),
  resources: V0Resources,
  limits: z.record(z.string(), z.number()).optional(),
  role: z.string(),
  statuses: z.array(Status),
  user: z.string().optional(),
  labels: z.array(z.strictObject({ key: z.string(), value: z.string() })).optional(),
  discovery: z.looseObject({}).optional(),
  container: z.looseObject({}).optional(),
  health_check: z.looseObject({}).optional(),
})

const Executor = z.strictObject({
  id: z.string(),
  name: z.string(),
  source: z.string(),
  container: z.string(),
  directory: z.string(),
  resources: V0Resources,
  role: z.string().optional(),
  labels: z.array(z.strictObject({ key: z.string(), value: z.string() })).optional(),
  type: z.string().optional(),
  tasks: z.array(AgentTask),
  queued_tasks: z.array(z.looseObject({})),
  completed_tasks: z.array(AgentTask),
})

const AgentFramework = z.strictObject({
  id: z.string(),
  name: z.string(),
  user: z.string(),
  failover_timeout: z.number(),
  checkpoint: z.boolean(),
  hostname: z.string(),
  principal: z.string().optional(),
  roles: z.array(z.string()).optional(),
  role: z.string().optional(),
  executors: z.array(Executor),
  completed_executors: z.array(Executor),
})

const AgentState = z.strictObject({
  version: z.string(),
  git_sha: z.string().optional(),
  git_branch: z.string().optional(),
  git_tag: z.string().optional(),
  build_date: z.string(),
  build_time: z.number(),
  build_user: z.string(),
  start_time: z.number(),
  id: z.string(),
  pid: z.string().regex(/^slave\(1\)@[\d.]+:\d+$/),
  hostname: z.string(),
  capabilities: z.array(z.string()),
  domain: z.looseObject({}).optional(),
  resources: V0Resources,
  reserved_resources: z.record(z.string(), V0Resources),
  unreserved_resources: V0Resources,
  reserved_resources_full: z.record(z.string(), z.array(z.looseObject({}))),
  unreserved_resources_full: z.array(z.looseObject({ name: z.string(), type: z.string(), role: z.literal('*') })),
  reserved_resources_allocated: z.record(z.string(), V0Resources),
  unreserved_resources_allocated: V0Resources,
  resource_providers: z.array(z.looseObject({})),
  attributes: z.record(z.string(), z.union([z.string(), z.number()])),
  master_hostname: z.string().optional(),
  log_dir: z.string().optional(),
  external_log_file: z.string().optional(),
  flags: z.record(z.string(), z.string()),
  frameworks: z.array(AgentFramework),
  completed_frameworks: z.array(AgentFramework),
})

/** mesos.proto ResourceStatistics: the scalar fields a containerizer may fill in. */
const statisticsFields = [
  'processes', 'threads', 'cpus_user_time_secs', 'cpus_system_time_secs', 'cpus_limit', 'cpus_soft_limit', 'cpus_nr_periods',
  'cpus_nr_throttled', 'cpus_throttled_time_secs', 'mem_total_bytes', 'mem_total_memsw_bytes', 'mem_kmem_usage_bytes',
  'mem_kmem_tcp_usage_bytes', 'mem_limit_bytes', 'mem_soft_limit_bytes', 'mem_file_bytes', 'mem_anon_bytes', 'mem_cache_bytes',
  'mem_rss_bytes', 'mem_mapped_file_bytes', 'mem_swap_bytes', 'mem_unevictable_bytes', 'mem_low_pressure_counter',
  'mem_medium_pressure_counter', 'mem_critical_pressure_counter', 'disk_limit_bytes', 'disk_used_bytes',
] as const
const ResourceStatistics = z.strictObject({
  timestamp: z.number(),
  ...Object.fromEntries(statisticsFields.map((f) => [f, z.number().nonnegative().optional()])),
})
const StatisticsEntry = z.strictObject({
  executor_id: z.string(),
  executor_name: z.string(),
  framework_id: z.string(),
  source: z.string(),
  statistics: ResourceStatistics,
})

// ---- master ----

describe('master roles, maintenance and flags', () => {
  it('/master/roles lists the framework role and its ancestors with allocations, as Mesos lays them out', async () => {
    for (const path of ['/master/roles', '/roles']) {
      const body = await getJson(`${cluster.masterUrl}${path}`)
      expectShape(z.strictObject({ roles: z.array(Role) }), body)
      expect(body.roles.map((r: Json) => r.name)).toEqual(['web', 'web/frontend'])
      const leaf = body.roles[1]
      expect(leaf.frameworks).toEqual([framework.frameworkId])
      expect(leaf.weight).toBe(1)
      expect(leaf.allocated.cpus).toBeCloseTo(DOCKER_TASK.cpus + PROCESS_TASK.cpus)
      expect(leaf.allocated.mem).toBe(DOCKER_TASK.mem + PROCESS_TASK.mem)
      expect(leaf.quota).toEqual({ role: 'web/frontend', guarantee: {}, limit: {}, consumed: leaf.allocated })
      expect(leaf.reserved).toEqual({})
      // The parent covers its subtree, but no framework subscribed to it directly.
      expect(body.roles[0].allocated).toEqual(leaf.allocated)
      expect(body.roles[0].frameworks).toEqual([])
    }
  })

  it('/master/maintenance/schedule and /status are empty messages, {}', async () => {
    for (const path of ['/master/maintenance/schedule', '/master/maintenance/status']) {
      expect(await getJson(`${cluster.masterUrl}${path}`)).toEqual({})
    }
  })

  it('/master/flags and /flags give {flags} with string values', async () => {
    for (const path of ['/master/flags', '/flags']) {
      const body = await getJson(`${cluster.masterUrl}${path}`)
      expectShape(Flags, body)
      expect(body.flags.port).toBe(String(cluster.masterPort))
    }
  })
})

// ---- agent ----

describe('agent state, flags, statistics and metrics', () => {
  it('/state, /state.json and /slave(1)/state follow the Mesos agent layout, one command executor per task', async () => {
    const bodies = await Promise.all(['/state', '/state.json', '/slave(1)/state', '/slave(1)/state.json'].map((p) => getJson(`${agentUrl}${p}`)))
    for (const body of bodies) expectShape(AgentState, body)
    const state = bodies[0]
    expect(state.master_hostname).toBe('127.0.0.1')
    expect(state.resources.cpus).toBe(2)
    expect(state.unreserved_resources_allocated.cpus).toBeCloseTo(DOCKER_TASK.cpus + PROCESS_TASK.cpus)
    expect(state.flags.port).toBe(String(cluster.agents[0]!.port))
    const [fw] = state.frameworks
    expect(fw).toMatchObject({ id: framework.frameworkId, name: 'endpoints', user: 'root', roles: ['web/frontend'] })
    const byId = new Map(fw.executors.map((e: Json) => [e.id, e]))
    const dockerExecutor: Json = byId.get(DOCKER_TASK.id)
    expect(dockerExecutor.source).toBe(DOCKER_TASK.id)
    expect(dockerExecutor.name).toBe(`Command Executor (Task: ${DOCKER_TASK.id}) (Command: sh -c 'x=$(head -c ...')`)
    expect(dockerExecutor.container).not.toBe('')
    expect(dockerExecutor.labels).toEqual([{ key: 'purpose', value: 'stats' }])
    expect(dockerExecutor.tasks).toHaveLength(1)
    expect(dockerExecutor.tasks[0]).toMatchObject({ id: DOCKER_TASK.id, executor_id: '', state: 'TASK_RUNNING', role: 'web/frontend' })
    expect(dockerExecutor.tasks[0].resources.cpus).toBe(DOCKER_TASK.cpus)
    expect(byId.get(PROCESS_TASK.id)).toBeDefined()
  })

  it('/flags and /slave(1)/flags give {flags} with string values', async () => {
    for (const path of ['/flags', '/slave(1)/flags']) {
      const body = await getJson(`${agentUrl}${path}`)
      expectShape(Flags, body)
      expect(body.flags.work_dir).toBe(cluster.agents[0]!.workDir)
    }
  })

  it('/monitor/statistics reports sane numbers for the Docker task and for the process task', async () => {
    const entries: Json[] = await getJson(`${agentUrl}/monitor/statistics`)
    expectShape(z.array(StatisticsEntry), entries)
    for (const task of [DOCKER_TASK, PROCESS_TASK]) {
      const e = entries.find((x) => x.executor_id === task.id)
      expect(e, `no statistics for ${task.id}`).toBeDefined()
      expect(e).toMatchObject({ source: task.id, framework_id: framework.frameworkId })
      const s = e.statistics
      expect(s.cpus_limit).toBe(task.cpus)
      expect(s.mem_limit_bytes).toBe(task.mem * 1024 * 1024)
      expect(s.mem_rss_bytes, `${task.id} rss`).toBeGreaterThan(1_000_000)
      expect(s.mem_rss_bytes).toBeLessThan(task.mem * 1024 * 1024)
      expect(s.cpus_user_time_secs).toBeGreaterThanOrEqual(0)
      expect(s.cpus_system_time_secs).toBeGreaterThanOrEqual(0)
      expect(Math.abs(s.timestamp - Date.now() / 1000)).toBeLessThan(30)
    }
    for (const path of ['/monitor/statistics.json', '/slave(1)/monitor/statistics', '/slave(1)/monitor/statistics.json']) {
      expect((await getJson(`${agentUrl}${path}`)).map((e: Json) => e.executor_id).sort()).toEqual([DOCKER_TASK.id, PROCESS_TASK.id].sort())
    }
  })

  it('/metrics/snapshot has the slave/* keys of a Mesos agent', async () => {
    const m = await getJson(`${agentUrl}/metrics/snapshot`)
    expectShape(z.record(z.string().regex(/^slave\/[a-z_]+$/), z.number()), m)
    expect(m['slave/registered']).toBe(1)
    expect(m['slave/tasks_running']).toBe(2)
    expect(m['slave/tasks_staging']).toBe(0)
    expect(m['slave/frameworks_active']).toBe(1)
    expect(m['slave/cpus_total']).toBe(2)
    expect(m['slave/cpus_used']).toBeCloseTo(DOCKER_TASK.cpus + PROCESS_TASK.cpus)
    expect(m['slave/mem_used']).toBe(DOCKER_TASK.mem + PROCESS_TASK.mem)
    expect(m['slave/uptime_secs']).toBeGreaterThan(0)
    for (const k of ['tasks_finished', 'tasks_failed', 'tasks_killed', 'tasks_lost', 'mem_total', 'disk_total', 'disk_used', 'executors_running']) {
      expect(m[`slave/${k}`], k).toBeTypeOf('number')
    }
  })
})

// ---- JSONP ----

/** Fields that move between two reads of the same endpoint. */
function stable(path: string, body: Json): Json {
  if (path.includes('metrics/snapshot')) return Object.keys(body).sort()
  if (path.includes('monitor/statistics')) return body.map((e: Json) => ({ ...e, statistics: Object.keys(e.statistics).sort() }))
  return body
}

describe('JSONP', () => {
  it('wraps every JSON GET endpoint of master and agent as cb(<json>) with text/javascript', async () => {
    const agentState = await getJson(`${agentUrl}/state`)
    const sandbox = encodeURIComponent(agentState.frameworks[0].executors[0].directory)
    const endpoints = [
      ...[
        '/master/state', '/master/state.json', '/state', '/state.json', '/master/slaves', '/master/frameworks', '/master/tasks', '/version',
        '/metrics/snapshot', '/master/roles', '/roles', '/master/maintenance/schedule', '/master/maintenance/status', '/master/flags', '/flags',
        `/files/browse?path=${sandbox}`,
      ].map((p) => cluster.masterUrl + p),
      ...[
        '/state', '/state.json', '/slave(1)/state', '/slave(1)/state.json', '/flags', '/slave(1)/flags', '/monitor/statistics',
        '/monitor/statistics.json', '/slave(1)/monitor/statistics', '/slave(1)/monitor/statistics.json', '/metrics/snapshot',
        `/files/browse?path=${sandbox}`, `/files/read?path=${sandbox}%2Fstdout&offset=0`,
      ].map((p) => agentUrl + p),
    ]
    for (const url of endpoints) {
      const path = new URL(url).pathname
      const sep = url.includes('?') ? '&' : '?'
      const wrapped = await get(`${url}${sep}jsonp=angular.callbacks._0`)
      expect(wrapped.status, `${url}: ${wrapped.text}`).toBe(200)
      expect(wrapped.type, url).toBe('text/javascript')
      const m = /^angular\.callbacks\._0\(([\s\S]*)\)$/.exec(wrapped.text)
      expect(m, `${url} answered ${wrapped.text.slice(0, 200)}`).not.toBeNull()
      const inner = JSON.parse(m![1]!)
      // The same endpoint without jsonp answers the same JSON (read again if something moved in between).
      await waitUntil(`${url} to answer as its JSONP did`, async () => {
        const plain = await getJson(url)
        return JSON.stringify(stable(path, plain)) === JSON.stringify(stable(path, inner))
      }, 5000)
    }
  })

  it('refuses a callback that is not a JavaScript name with a plain-text 400, and leaves POSTs alone', async () => {
    for (const bad of ['alert(1)//', '', '1abc', 'a b', `a${'b'.repeat(300)}`]) {
      const r = await get(`${cluster.masterUrl}/master/state?jsonp=${encodeURIComponent(bad)}`)
      expect(r.status, bad).toBe(400)
      expect(r.type).toContain('text/plain')
      expect(r.text).toContain("'jsonp'")
    }
    const r = await fetch(`${cluster.masterUrl}/api/v1?jsonp=cb`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'GET_HEALTH' }) })
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(await r.json()).toEqual({ type: 'GET_HEALTH', get_health: { healthy: true } })
  })
})
