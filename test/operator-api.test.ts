// The Mesos v1 operator API (`POST /api/v1`) and the v0 JSON endpoints, end to end: a real
// master and agents, a framework that launches real process tasks, and an operator client
// that speaks only JSON. Shapes follow include/mesos/v1/master/master.proto.
import { request } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestCluster, waitUntil } from './lib/cluster.js'
import type { ReadResponse } from './lib/http.js'
import { readResponse } from './lib/http.js'
import { scalar, TestFramework } from './lib/scheduler.js'

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

let cluster: TestCluster
const frameworks: TestFramework[] = []
const streams: OperatorStream[] = []

async function operator(body: unknown, headers: Record<string, string> = {}): Promise<ReadResponse> {
  const r = await fetch(`${cluster.masterUrl}/api/v1`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return readResponse(r)
}

async function call(type: string): Promise<Json> {
  const r = await operator({ type })
  expect(r.status, r.text).toBe(200)
  expect(r.type).toContain('application/json')
  expect(r.json.type).toBe(type)
  return r.json
}

/** An operator SUBSCRIBE stream: RecordIO framed JSON events. */
class OperatorStream {
  readonly events: Json[] = []
  status = 0
  contentType = ''
  closed = false
  private req?: ClientRequest
  private res?: IncomingMessage
  private waiters: Array<() => void> = []

  static async open(masterUrl: string): Promise<OperatorStream> {
    const s = new OperatorStream()
    streams.push(s)
    await new Promise<void>((resolve, reject) => {
      const req = request(new URL('/api/v1', masterUrl), { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } }, (res) => {
        s.res = res
        s.status = res.statusCode ?? 0
        s.contentType = String(res.headers['content-type'] ?? '')
        let buf = Buffer.alloc(0)
        res.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk])
          for (;;) {
            const nl = buf.indexOf(10)
            if (nl < 0) break
            const len = Number(buf.subarray(0, nl).toString())
            if (buf.length < nl + 1 + len) break
            s.events.push(JSON.parse(buf.subarray(nl + 1, nl + 1 + len).toString()))
            buf = buf.subarray(nl + 1 + len)
          }
          if (s.events.length > 0) resolve()
          for (const w of s.waiters.splice(0)) w()
        })
        res.on('close', () => {
          s.closed = true
          for (const w of s.waiters.splice(0)) w()
        })
      })
      req.on('error', reject)
      req.end(JSON.stringify({ type: 'SUBSCRIBE' }))
      s.req = req
    })
    return s
  }

  async waitFor(what: string, pred: (e: Json) => boolean, from = 0, timeoutMs = 20_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs
    for (let i = from; ; ) {
      for (; i < this.events.length; i++) if (pred(this.events[i])) return this.events[i]
      if (this.closed) throw new Error(`operator stream closed while waiting for ${what}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}; saw ${this.events.map((e) => e.type).join(', ')}`)
      await new Promise<void>((res) => {
        const t = setTimeout(res, left)
        this.waiters.push(() => {
          clearTimeout(t)
          res()
        })
      })
    }
  }

  close(): void {
    this.req?.destroy()
    this.res?.destroy()
    this.closed = true
  }
}

const resourceValue = (list: Json[], name: string): number | undefined => list.find((r) => r.name === name)?.scalar?.value

beforeAll(async () => {
  cluster = await TestCluster.start({ masterArgs: ['--heartbeat-interval', '1s', '--hostname', 'localhost'], agents: [{ resources: 'cpus:2;mem:1024;disk:1000;ports:[31000-31099]', attributes: 'rack:r1' }] })
})

afterAll(async () => {
  for (const s of streams) s.close()
  for (const f of frameworks) {
    if (!f.closed) await f.call({ type: 'TEARDOWN' }).catch(() => undefined)
    f.close()
  }
  await cluster?.stop()
})

describe('operator API: simple calls', () => {
  it('answers GET_HEALTH, GET_VERSION, GET_FLAGS and GET_MASTER in master.proto shapes', async () => {
    const health = await call('GET_HEALTH')
    expect(health.get_health).toEqual({ healthy: true })

    const version = await call('GET_VERSION')
    expect(version.get_version.version_info.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(typeof version.get_version.version_info.build_user).toBe('string')
    expect(typeof version.get_version.version_info.build_time).toBe('number')

    const flags = await call('GET_FLAGS')
    const list: Array<{ name: string; value: string }> = flags.get_flags.flags
    expect(list.length).toBeGreaterThan(3)
    for (const f of list) {
      expect(typeof f.name).toBe('string')
      expect(typeof f.value).toBe('string')
    }
    expect(list.find((f) => f.name === 'port')?.value).toBe(String(cluster.masterPort))
    expect(list.find((f) => f.name === 'hostname')?.value).toBe('localhost')

    const before = Date.now() / 1000
    const master = await call('GET_MASTER')
    const info = master.get_master.master_info
    expect(typeof info.id).toBe('string')
    expect(info.id.length).toBeGreaterThan(0)
    // MasterInfo.ip is a uint32 holding the address in network byte order: 127.0.0.1 -> 0x0100007f.
    expect(info.ip).toBe(0x0100007f)
    expect(info.port).toBe(cluster.masterPort)
    expect(info.pid).toBe(`master@127.0.0.1:${cluster.masterPort}`)
    expect(info.hostname).toBe('localhost')
    expect(info.address).toEqual({ hostname: 'localhost', ip: '127.0.0.1', port: cluster.masterPort })
    expect(info.version).toBe(version.get_version.version_info.version)
    // start_time and elected_time are seconds since the epoch (doubles), not milliseconds.
    expect(master.get_master.start_time).toBeLessThanOrEqual(before)
    expect(master.get_master.start_time).toBeGreaterThan(before - 600)
    expect(master.get_master.elected_time).toBeGreaterThanOrEqual(master.get_master.start_time)
  })

  it('GET_METRICS lists {name, value} pairs', async () => {
    const m = await call('GET_METRICS')
    const byName = new Map<string, number>(m.get_metrics.metrics.map((x: { name: string; value: number }) => [x.name, x.value]))
    expect(byName.get('master/elected')).toBe(1)
    expect(byName.get('master/slaves_active')).toBeGreaterThanOrEqual(1)
  })
})

describe('operator API: cluster state and the event stream', () => {
  it('streams SUBSCRIBED, FRAMEWORK_ADDED, TASK_ADDED, TASK_UPDATED and AGENT_ADDED, and the GET_* calls agree', async () => {
    const agent0 = cluster.agents[0]!
    const agentState = (await (await fetch(`${agent0.url}/state`)).json()) as Json
    const agentId: string = agentState.id

    const stream = await OperatorStream.open(cluster.masterUrl)
    expect(stream.status).toBe(200)
    expect(stream.contentType).toContain('application/json')
    const subscribed = stream.events[0]
    expect(subscribed.type).toBe('SUBSCRIBED')
    expect(subscribed.subscribed.heartbeat_interval_seconds).toBe(1)
    const snapshot = subscribed.subscribed.get_state
    expect(Object.keys(snapshot).sort()).toEqual(['get_agents', 'get_executors', 'get_frameworks', 'get_tasks'])
    expect(snapshot.get_agents.agents.map((a: Json) => a.agent_info.id.value)).toEqual([agentId])
    // Mesos sends a HEARTBEAT right after SUBSCRIBED (well before the 1 s interval), then one every interval.
    const firstBeat = await stream.waitFor('HEARTBEAT', (e) => e.type === 'HEARTBEAT', 1, 500)
    expect(stream.events.indexOf(firstBeat)).toBe(1)

    // A framework subscribes: FRAMEWORK_ADDED carries a GetFrameworks.Framework.
    let from = stream.events.length
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'operator-watched', roles: ['ops'] })
    frameworks.push(f)
    const added = await stream.waitFor('FRAMEWORK_ADDED', (e) => e.type === 'FRAMEWORK_ADDED', from)
    const fw = added.framework_added.framework
    expect(fw.framework_info.id.value).toBe(f.frameworkId)
    expect(fw.framework_info.name).toBe('operator-watched')
    expect(fw.framework_info.roles).toEqual(['ops'])
    expect(fw.active).toBe(true)
    expect(fw.connected).toBe(true)
    expect(fw.recovered).toBe(false)
    expect(Number.isInteger(fw.registered_time.nanoseconds)).toBe(true)
    expect(Math.abs(fw.registered_time.nanoseconds / 1e9 - Date.now() / 1000)).toBeLessThan(60)

    // The framework launches a process task: TASK_ADDED, then TASK_UPDATED for each state.
    const offer = (await f.waitOffers()).offers.offers[0]
    // While the framework holds the offer, GET_FRAMEWORKS shows it as offered, not allocated.
    const holding = (await call('GET_FRAMEWORKS')).get_frameworks.frameworks.find((x: Json) => x.framework_info.id.value === f.frameworkId)
    expect(holding.offers.map((o: Json) => o.id)).toEqual([offer.id])
    expect(holding.offers[0].agent_id).toEqual(offer.agent_id)
    expect(resourceValue(holding.offered_resources, 'cpus')).toBe(2)
    expect(holding.allocated_resources).toEqual([])
    const holdingRole = (await call('GET_ROLES')).get_roles.roles.find((r: Json) => r.name === 'ops')
    expect(resourceValue(holdingRole.resources, 'cpus')).toBe(2)
    expect(holdingRole.resources.every((r: Json) => r.type === 'SCALAR')).toBe(true)
    from = stream.events.length
    await f.launch(offer, [
      {
        name: 'watched',
        task_id: { value: 'watched-1' },
        resources: [scalar('cpus', 0.25), scalar('mem', 32)],
        command: { value: 'sleep 60' },
        labels: { labels: [{ key: 'team', value: 'ops' }] },
      },
    ])
    const taskAdded = await stream.waitFor('TASK_ADDED', (e) => e.type === 'TASK_ADDED', from)
    const task = taskAdded.task_added.task
    expect(task.task_id).toEqual({ value: 'watched-1' })
    expect(task.framework_id).toEqual({ value: f.frameworkId })
    expect(task.agent_id).toEqual({ value: agentId })
    expect(task.name).toBe('watched')
    expect(task.state).toBe('TASK_STAGING')
    expect(resourceValue(task.resources, 'cpus')).toBe(0.25)
    expect(task.labels).toEqual({ labels: [{ key: 'team', value: 'ops' }] })

    const running = await stream.waitFor('TASK_UPDATED to RUNNING', (e) => e.type === 'TASK_UPDATED' && e.task_updated.status.state === 'TASK_RUNNING', from)
    expect(running.task_updated.framework_id).toEqual({ value: f.frameworkId })
    expect(running.task_updated.state).toBe('TASK_RUNNING')
    expect(running.task_updated.status.task_id).toEqual({ value: 'watched-1' })
    expect(running.task_updated.status.agent_id).toEqual({ value: agentId })
    expect(typeof running.task_updated.status.timestamp).toBe('number')
    const updates = stream.events.slice(from).filter((e) => e.type === 'TASK_UPDATED').map((e) => e.task_updated.status.state)
    expect(updates.slice(0, 2)).toEqual(['TASK_STARTING', 'TASK_RUNNING'])
    const runningUpdate = (await f.waitUpdate('watched-1', 'TASK_RUNNING')).update.status

    // GET_TASKS, GET_FRAMEWORKS, GET_AGENTS, GET_ROLES and GET_STATE all see the running task.
    const tasks = (await call('GET_TASKS')).get_tasks
    expect(tasks.unreachable_tasks).toEqual([])
    expect(Array.isArray(tasks.completed_tasks)).toBe(true)
    const t = tasks.tasks.find((x: Json) => x.task_id.value === 'watched-1')
    expect(t).toBeDefined()
    expect(t.state).toBe('TASK_RUNNING')
    expect(t.framework_id.value).toBe(f.frameworkId)
    expect(t.agent_id.value).toBe(agentId)
    expect(t.statuses.map((s: Json) => s.state)).toEqual(expect.arrayContaining(['TASK_STARTING', 'TASK_RUNNING']))
    expect(resourceValue(t.resources, 'mem')).toBe(32)
    // The latest update that wanted an acknowledgement (bytes, so base64 in JSON).
    expect(t.status_update_state).toBe('TASK_RUNNING')
    expect(t.status_update_uuid).toBe(runningUpdate.uuid)
    // Task resources carry the role they were allocated to, as in Mesos.
    expect(t.resources.every((r: Json) => r.allocation_info?.role === 'ops')).toBe(true)

    const fws = (await call('GET_FRAMEWORKS')).get_frameworks
    expect(fws.completed_frameworks).toEqual(expect.any(Array))
    const mine = fws.frameworks.find((x: Json) => x.framework_info.id.value === f.frameworkId)
    expect(mine.active).toBe(true)
    expect(mine.connected).toBe(true)
    expect(mine.recovered).toBe(false)
    expect(resourceValue(mine.allocated_resources, 'cpus')).toBe(0.25)
    expect(Array.isArray(mine.offers)).toBe(true)
    expect(Array.isArray(mine.offered_resources)).toBe(true)

    const agents = (await call('GET_AGENTS')).get_agents
    expect(agents.recovered_agents).toEqual([])
    const a = agents.agents.find((x: Json) => x.agent_info.id.value === agentId)
    expect(a.active).toBe(true)
    expect(a.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(a.pid).toBe(`slave(1)@127.0.0.1:${agent0.port}`)
    expect(a.agent_info.port).toBe(agent0.port)
    expect(a.agent_info.attributes).toEqual([{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }])
    expect(resourceValue(a.total_resources, 'cpus')).toBe(2)
    expect(resourceValue(a.allocated_resources, 'cpus')).toBe(0.25)
    expect(a.total_resources.find((r: Json) => r.name === 'ports').ranges.range).toEqual([{ begin: 31000, end: 31099 }])

    const roles = (await call('GET_ROLES')).get_roles.roles
    const ops = roles.find((r: Json) => r.name === 'ops')
    expect(ops.weight).toBe(1)
    expect(ops.frameworks).toEqual([{ value: f.frameworkId }])
    expect(resourceValue(ops.resources, 'cpus')).toBe(0.25)

    const state = (await call('GET_STATE')).get_state
    expect(state.get_tasks.tasks.map((x: Json) => x.task_id.value)).toContain('watched-1')
    expect(state.get_frameworks.frameworks.map((x: Json) => x.framework_info.id.value)).toContain(f.frameworkId)
    expect(state.get_agents.agents.map((x: Json) => x.agent_info.id.value)).toEqual([agentId])
    expect(state.get_executors).toEqual({ executors: [], orphan_executors: [] })

    // A second agent joins: AGENT_ADDED carries a GetAgents.Agent.
    from = stream.events.length
    const second = await cluster.addAgent({ resources: 'cpus:1;mem:512;disk:100;ports:[31100-31199]' })
    const agentAdded = await stream.waitFor('AGENT_ADDED', (e) => e.type === 'AGENT_ADDED', from)
    const ag = agentAdded.agent_added.agent
    expect(ag.agent_info.id.value).toBe(second.id)
    expect(ag.agent_info.port).toBe(second.port)
    expect(ag.active).toBe(true)
    expect(ag.pid).toBe(`slave(1)@127.0.0.1:${second.port}`)
    expect(resourceValue(ag.total_resources, 'cpus')).toBe(1)
    expect((await call('GET_AGENTS')).get_agents.agents).toHaveLength(2)

    // Killing the task: TASK_UPDATED with TASK_KILLED.
    from = stream.events.length
    await f.mustCall({ type: 'KILL', kill: { task_id: { value: 'watched-1' }, agent_id: { value: agentId } } })
    const killed = await stream.waitFor('TASK_UPDATED to KILLED', (e) => e.type === 'TASK_UPDATED' && e.task_updated.status.state === 'TASK_KILLED', from)
    expect(killed.task_updated.state).toBe('TASK_KILLED')
    await f.waitUpdate('watched-1', 'TASK_KILLED')

    // Teardown: FRAMEWORK_REMOVED with the FrameworkInfo.
    from = stream.events.length
    await f.mustCall({ type: 'TEARDOWN' })
    const removed = await stream.waitFor('FRAMEWORK_REMOVED', (e) => e.type === 'FRAMEWORK_REMOVED', from)
    expect(removed.framework_removed.framework_info.id.value).toBe(f.frameworkId)
    f.close()
    const after = (await call('GET_FRAMEWORKS')).get_frameworks
    expect(after.frameworks.some((x: Json) => x.framework_info.id.value === f.frameworkId)).toBe(false)
    const done = after.completed_frameworks.find((x: Json) => x.framework_info.id.value === f.frameworkId)
    expect(done.active).toBe(false)
    expect(done.unregistered_time.nanoseconds).toBeGreaterThanOrEqual(done.registered_time.nanoseconds)
    const afterTasks = (await call('GET_TASKS')).get_tasks
    expect(afterTasks.tasks.some((x: Json) => x.task_id.value === 'watched-1')).toBe(false)
    expect(afterTasks.completed_tasks.find((x: Json) => x.task_id.value === 'watched-1')?.state).toBe('TASK_KILLED')

    // Heartbeats keep coming on the idle stream.
    from = stream.events.length
    await stream.waitFor('a later HEARTBEAT', (e) => e.type === 'HEARTBEAT', from, 5000)
    expect(stream.closed).toBe(false)
    stream.close()
  })
})

describe('v0 endpoints', () => {
  it('/master/state and /state.json have the fields mesos-dns and marathon-lb read; metrics reflect a running task', async () => {
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'v0-reader' })
    frameworks.push(f)
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [{ name: 'v0-task', task_id: { value: 'v0-1' }, resources: [scalar('cpus', 0.5), scalar('mem', 64)], command: { value: 'sleep 60' } }])
    await f.waitUpdate('v0-1', 'TASK_RUNNING')
    const agentId: string = offer.agent_id.value
    const agent = cluster.agents.find((a) => offer.url.address.port === a.port)!
    const agentResources = ((await (await fetch(`${agent.url}/state`)).json()) as Json).resources

    for (const path of ['/master/state', '/state.json', '/master/state.json']) {
      const r = await fetch(`${cluster.masterUrl}${path}`)
      expect(r.status, path).toBe(200)
      const s = (await r.json()) as Json
      expect(s.leader).toBe(`master@127.0.0.1:${cluster.masterPort}`)
      expect(s.pid).toBe(s.leader)
      expect(s.hostname).toBe('localhost')
      expect(s.leader_info.port).toBe(cluster.masterPort)
      const slave = s.slaves.find((x: Json) => x.id === agentId)
      expect(slave.pid).toBe(`slave(1)@127.0.0.1:${agent.port}`)
      expect(typeof slave.hostname).toBe('string')
      expect(slave.resources.cpus).toBe(agentResources.cpus)
      expect(slave.resources.ports).toMatch(/^\[31[01]00-31[01]99\]$/)
      expect(slave.used_resources.cpus).toBe(0.5)
      const fw = s.frameworks.find((x: Json) => x.id === f.frameworkId)
      expect(fw.name).toBe('v0-reader')
      expect(fw.active).toBe(true)
      const t = fw.tasks.find((x: Json) => x.id === 'v0-1')
      expect(t.name).toBe('v0-task')
      expect(t.slave_id).toBe(agentId)
      expect(t.framework_id).toBe(f.frameworkId)
      expect(t.state).toBe('TASK_RUNNING')
      expect(t.resources).toMatchObject({ cpus: 0.5, mem: 64 })
      expect(t.statuses.map((x: Json) => x.state)).toEqual(expect.arrayContaining(['TASK_RUNNING']))
      for (const st of t.statuses) expect(typeof st.timestamp).toBe('number')
    }

    const snap = (await (await fetch(`${cluster.masterUrl}/metrics/snapshot`)).json()) as Record<string, number>
    expect(snap['master/tasks_running']).toBe(1)
    expect(snap['master/frameworks_active']).toBeGreaterThanOrEqual(1)
    expect(snap['master/slaves_active']).toBe(cluster.agents.length)
    expect(snap['master/cpus_used']).toBeCloseTo(0.5, 5)
    expect(snap['master/tasks_launched']).toBeGreaterThanOrEqual(1)

    const prom = await fetch(`${cluster.masterUrl}/metrics`)
    expect(prom.status).toBe(200)
    expect(prom.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await prom.text()
    const samples = new Map<string, number>()
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line)
      expect(m, `bad Prometheus line: ${line}`).not.toBeNull()
      samples.set(m![1]!, Number(m![2]))
    }
    expect(samples.get('dromos_master_tasks_running')).toBe(1)
    expect(samples.get('dromos_master_cpus_used')).toBeCloseTo(0.5, 5)
    expect(text).toMatch(/^# TYPE dromos_master_tasks_running gauge$/m)
    // Each metric is declared once, so a Prometheus scrape does not reject the page.
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '))
    expect(new Set(types).size).toBe(types.length)

    await f.mustCall({ type: 'TEARDOWN' })
    f.close()
    await waitUntil('tasks_running to drop', async () => {
      const m = (await (await fetch(`${cluster.masterUrl}/metrics/snapshot`)).json()) as Record<string, number>
      return m['master/tasks_running'] === 0
    })
  })

  it('/master/redirect answers 307 to the leader, and /health 200', async () => {
    for (const path of ['/master/redirect', '/redirect']) {
      const r = await fetch(`${cluster.masterUrl}${path}`, { redirect: 'manual' })
      expect(r.status).toBe(307)
      expect(r.headers.get('location')).toBe(`//localhost:${cluster.masterPort}`)
    }
    const h = await fetch(`${cluster.masterUrl}/health`)
    expect(h.status).toBe(200)
  })
})

describe('bad operator input', () => {
  it('answers 400 to malformed JSON, a missing or unknown type, and keeps serving', async () => {
    const malformed = await operator('{"type": "GET_STATE"')
    expect(malformed.status).toBe(400)
    expect(malformed.text).toMatch(/JSON/)

    const unknown = await operator({ type: 'LAUNCH_ROCKETS' })
    expect(unknown.status).toBe(400)
    expect(unknown.text).toMatch(/LAUNCH_ROCKETS/)

    const missing = await operator({ get_state: {} })
    expect(missing.status).toBe(400)

    const notObject = await operator('[1,2,3]')
    expect(notObject.status).toBe(400)

    const wrongType = await operator({ type: 'GET_STATE' }, { 'Content-Type': 'text/plain' })
    expect(wrongType.status).toBe(415)

    const wrongMethod = await fetch(`${cluster.masterUrl}/api/v1`)
    expect(wrongMethod.status).toBe(405)

    expect((await call('GET_HEALTH')).get_health.healthy).toBe(true)
    expect((await fetch(`${cluster.masterUrl}/health`)).status).toBe(200)
  })
})

describe('task statuses as Mesos keeps them (Master::updateTask)', () => {
  let c: TestCluster
  const clusters: TestCluster[] = []
  const mine: TestFramework[] = []
  const pids: number[] = []
  afterAll(async () => {
    for (const f of mine) {
      if (!f.closed) await f.call({ type: 'TEARDOWN' }).catch(() => undefined)
      f.close()
    }
    for (const x of clusters) await x.stop()
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
  })

  const opCall = async (type: string): Promise<Json> => {
    const r = await fetch(`${c.masterUrl}/api/v1`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type }) })
    expect(r.status).toBe(200)
    return r.json()
  }
  const snapshot = async (): Promise<Record<string, number>> => (await fetch(`${c.masterUrl}/metrics/snapshot`)).json() as Promise<Record<string, number>>
  const taskUpdates = (s: OperatorStream, taskId: string, from = 0): Json[] =>
    s.events.slice(from).filter((e) => e.type === 'TASK_UPDATED' && e.task_updated.status.task_id.value === taskId)

  it('keeps one status per state for re-delivered updates, emits TASK_UPDATED once per state, counts terminal transitions, and FRAMEWORK_UPDATED agrees with GET_FRAMEWORKS', async () => {
    c = await TestCluster.start({ masterArgs: ['--heartbeat-interval', '1s'] })
    clusters.push(c)
    const stream = await OperatorStream.open(c.masterUrl)
    const f = await TestFramework.subscribe({ master: c.masterUrl, name: 'redelivered', autoAck: false, roles: ['dev'] })
    mine.push(f)
    const offer = (await f.waitOffers()).offers.offers[0]

    // FRAMEWORK_UPDATED shows the framework as GET_FRAMEWORKS does: the held offer is offered, not allocated.
    let from = stream.events.length
    await f.mustCall({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { user: 'root', name: 'redelivered', roles: ['dev'], id: { value: f.frameworkId }, capabilities: [{ type: 'MULTI_ROLE' }] } } })
    const updated = (await stream.waitFor('FRAMEWORK_UPDATED', (e) => e.type === 'FRAMEWORK_UPDATED', from)).framework_updated.framework
    const listed = (await opCall('GET_FRAMEWORKS')).get_frameworks.frameworks.find((x: Json) => x.framework_info.id.value === f.frameworkId)
    expect(updated.allocated_resources).toEqual([])
    expect(resourceValue(updated.offered_resources, 'cpus')).toBe(2)
    expect(updated).toEqual(listed)

    from = stream.events.length
    await f.launch(offer, [
      { name: 'dup', task_id: { value: 'dup-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } },
      { name: 'fin', task_id: { value: 'fin-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'true' } },
      { name: 'fail', task_id: { value: 'fail-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'exit 3' } },
      { name: 'err', task_id: { value: 'err-1' }, resources: [scalar('cpus', 100), scalar('mem', 32)], command: { value: 'true' } },
    ])
    await f.waitUpdate('err-1', 'TASK_ERROR')
    await f.acknowledge((await f.waitUpdate('dup-1', 'TASK_STARTING')).update.status)
    // fin-1 and fail-1 get their STARTING and RUNNING acknowledged, so their terminal update comes.
    for (const id of ['fin-1', 'fail-1']) {
      for (const state of ['TASK_STARTING', 'TASK_RUNNING']) await f.acknowledge((await f.waitUpdate(id, state)).update.status)
    }
    // Not acknowledged: the agent re-sends each of these with the same uuid, once a second at first.
    const count = (id: string, state: string): number => f.updatesOf(id).filter((s) => s.state === state).length
    await waitUntil('three deliveries of each unacknowledged update', async () => count('dup-1', 'TASK_RUNNING') >= 3 && count('fin-1', 'TASK_FINISHED') >= 3 && count('fail-1', 'TASK_FAILED') >= 3, 15_000)
    const running = f.updatesOf('dup-1').filter((s) => s.state === 'TASK_RUNNING')
    expect(new Set(running.map((s) => s.uuid)).size).toBe(1)

    // One TASK_UPDATED per new state, not one per delivery.
    expect(taskUpdates(stream, 'dup-1', from).map((e) => e.task_updated.state)).toEqual(['TASK_STARTING', 'TASK_RUNNING'])
    expect(taskUpdates(stream, 'fin-1', from).map((e) => e.task_updated.state)).toEqual(['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'])
    // And one status per state in the task: a re-delivery replaces the latest status.
    const tasks = (await opCall('GET_TASKS')).get_tasks
    const dup = tasks.tasks.find((t: Json) => t.task_id.value === 'dup-1')
    expect(dup.statuses.map((s: Json) => s.state)).toEqual(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING'])
    expect(dup.statuses.at(-1).uuid).toBe(running[0]!.uuid)
    const fin = [...tasks.tasks, ...tasks.completed_tasks].find((t: Json) => t.task_id.value === 'fin-1')
    expect(fin.statuses.map((s: Json) => s.state)).toEqual(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'])

    for (const id of ['dup-1', 'fin-1', 'fail-1']) {
      const latest = f.updatesOf(id).at(-1)!
      await f.acknowledge(latest as never)
    }

    // A framework torn down: the master kills its tasks, and says so to operator subscribers.
    from = stream.events.length
    await f.mustCall({ type: 'TEARDOWN' })
    const killed = await stream.waitFor('TASK_UPDATED to KILLED', (e) => e.type === 'TASK_UPDATED' && e.task_updated.status.task_id.value === 'dup-1', from)
    expect(killed.task_updated.state).toBe('TASK_KILLED')
    expect(killed.task_updated.status.reason).toBe('REASON_FRAMEWORK_REMOVED')
    expect(killed.task_updated.status.source).toBe('SOURCE_MASTER')
    expect(killed.task_updated.framework_id).toEqual({ value: f.frameworkId })
    f.close()

    // Running totals of terminal transitions, each counted once however often it was delivered.
    const m = await snapshot()
    expect(m['master/tasks_finished']).toBe(1)
    expect(m['master/tasks_failed']).toBe(1)
    expect(m['master/tasks_killed']).toBe(1)
    expect(m['master/tasks_error']).toBe(1)
    expect(m['master/tasks_lost']).toBe(0)
  })

  it('tells operator subscribers of the TASK_DROPPED it makes when a launch cannot reach the agent, and of TASK_GONE when the agent comes back without the task', async () => {
    c = await TestCluster.start({ masterArgs: ['--heartbeat-interval', '1s'] })
    clusters.push(c)
    const agent = c.agents[0]!
    const stream = await OperatorStream.open(c.masterUrl)
    const f = await TestFramework.subscribe({ master: c.masterUrl, name: 'dropped', capabilities: ['PARTITION_AWARE'] })
    mine.push(f)
    let offer = (await f.waitOffers()).offers.offers[0]
    const agentId: string = offer.agent_id.value
    let from = f.events.length
    await f.launch(offer, [{ name: 'gone', task_id: { value: 'gone-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 600' } }], { refuse_seconds: 0 })
    const running = await f.waitUpdate('gone-1', 'TASK_RUNNING')
    const pid = Number(/^process-(\d+)$/.exec(running.update.status.container_status.container_id.value)![1])
    pids.push(pid)
    offer = (await f.waitOffers({ from })).offers.offers[0]
    expect(offer.agent_id.value).toBe(agentId)

    // The agent goes away; the master (pings every 15 s) still thinks it is there.
    await agent.proc.stop()
    from = stream.events.length
    await f.launch(offer, [{ name: 'drop', task_id: { value: 'drop-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 600' } }])
    const dropped = await f.waitUpdate('drop-1', 'TASK_DROPPED', { timeoutMs: 15_000 })
    expect(dropped.update.status.source).toBe('SOURCE_MASTER')
    const droppedEvent = await stream.waitFor('TASK_UPDATED to DROPPED', (e) => e.type === 'TASK_UPDATED' && e.task_updated.status.task_id.value === 'drop-1', from)
    expect(droppedEvent.task_updated.state).toBe('TASK_DROPPED')

    // The agent comes back having lost the task (its checkpoint of the task is gone, the process too).
    process.kill(-pid, 'SIGKILL')
    const { openSqliteStore } = await import('../src/store/sqlite.js')
    const store = openSqliteStore(`${agent.workDir}/checkpoint.db`)
    for (const prefix of ['tasks/', 'task-progress/', 'updates/']) for (const [k] of await store.list(prefix)) await store.delete(k)
    await store.close()
    from = stream.events.length
    const fFrom = f.events.length
    agent.proc.restart()
    const gone = await f.waitUpdate('gone-1', 'TASK_GONE', { from: fFrom, timeoutMs: 15_000 })
    expect(gone.update.status.reason).toBe('REASON_AGENT_REREGISTERED')
    const goneEvent = await stream.waitFor('TASK_UPDATED to GONE', (e) => e.type === 'TASK_UPDATED' && e.task_updated.status.task_id.value === 'gone-1', from)
    expect(goneEvent.task_updated.state).toBe('TASK_GONE')
    expect(goneEvent.task_updated.status.agent_id).toEqual({ value: agentId })

    const m = await snapshot()
    expect(m['master/tasks_dropped']).toBe(1)
    expect(m['master/tasks_gone']).toBe(1)
  })
})
