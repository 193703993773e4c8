// The master's calls to an agent and the agent's to it, counted: the tasks of one ACCEPT go in
// one launch request, acknowledgements of one turn in one request, and an agent's status
// updates come as a list; a task that fails in a batch still gets its own update. A real master
// (its router on 127.0.0.1) and an agent stub that records what it is sent.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeServer, createRecordIoDecoder, listen } from '../api/http.js'
import type { AgentStatusUpdatesWire, TaskResultsWire } from '../api/internal.js'
import { AgentInternalPath, MasterInternalPath } from '../api/internal.js'
import type { OfferWire, TaskStatusWire } from '../api/mesos.js'
import { SchedulerCallSchema } from '../api/mesos.js'
import { systemClock } from '../core/clock.js'
import { openSqliteStore } from '../store/sqlite.js'
import { buildV0State, createMasterRouter } from './http.js'
import { createMaster } from './master.js'

const log = pino({ level: 'silent' })

interface AgentCall {
  readonly path: string
  readonly body: Record<string, unknown>
}

/** An agent that records every call and answers launches as `answerLaunch` says (by default: every task taken). */
function agentStub() {
  const calls: AgentCall[] = []
  let answerLaunch = (taskIds: string[]): { status: number; body?: TaskResultsWire } => ({ status: 200, body: { results: taskIds.map((task_id) => ({ task_id })) } })
  const server: Server = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString()))
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {}
      calls.push({ path, body })
      if (path === AgentInternalPath.launch) {
        const ids = (body['task_infos'] as Array<{ task_id: { value: string } }>).map((t) => t.task_id.value)
        const answer = answerLaunch(ids)
        res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(answer.body ? JSON.stringify(answer.body) : 'agent is broken')
        return
      }
      res.writeHead(path === AgentInternalPath.ping ? 200 : 202).end()
    })
  })
  return {
    server,
    calls,
    callsTo: (path: string) => calls.filter((c) => c.path === path),
    port: () => (server.address() as AddressInfo).port,
    answerLaunchesWith: (f: typeof answerLaunch) => (answerLaunch = f),
  }
}

async function until<T>(what: string, get: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = get()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const task = (id: string, agentId: string) => ({
  // Characters of two, three and four bytes in UTF-8: /master/state's length counts bytes.
  name: `${id} · ✓ 😀`,
  task_id: { value: id },
  agent_id: { value: agentId },
  resources: [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
    { name: 'mem', type: 'SCALAR', scalar: { value: 16 } },
  ],
  command: { value: 'true' },
})

type V0Task = { id: string; statuses: Array<{ timestamp: number }> }
type V0Framework = { tasks: V0Task[]; unreachable_tasks: V0Task[]; completed_tasks: V0Task[] }
type V0State = { slaves: unknown[]; frameworks: V0Framework[]; completed_frameworks: V0Framework[] }
/** What Mesos' /master/tasks gives of a state: every task of every framework, newest first status first, 100 at most. */
const tasksOfState = (state: V0State): V0Task[] =>
  [...state.frameworks, ...state.completed_frameworks]
    .flatMap((f) => [...f.tasks, ...f.unreachable_tasks, ...f.completed_tasks])
    .sort((a, b) => (b.statuses[0]?.timestamp ?? -Infinity) - (a.statuses[0]?.timestamp ?? -Infinity))
    .slice(0, 100)

describe("the master's calls to agents", () => {
  const agent = agentStub()
  const store = openSqliteStore(':memory:')
  const master = createMaster({
    store,
    log,
    clock: systemClock,
    hostname: '127.0.0.1',
    ip: '127.0.0.1',
    port: 5050,
    allocationIntervalMs: 20,
    offerTimeoutMs: 0,
    agentPingTimeoutMs: 60_000,
    maxAgentPingTimeouts: 5,
    heartbeatIntervalSeconds: 60,
    roleWeights: {},
    flags: {},
  })
  let server: Server
  let url = ''
  let agentId = ''
  let frameworkId = ''
  let streamId = ''
  const events: Array<{ type: string; offers?: { offers: OfferWire[] }; update?: { status: TaskStatusWire } }> = []
  const subscription = new AbortController()

  const call = (raw: Record<string, unknown>): Promise<void> => master.handleCall(SchedulerCallSchema.parse({ framework_id: { value: frameworkId }, ...raw }), streamId)
  const updatesOf = (taskId: string): TaskStatusWire[] => events.flatMap((e) => (e.type === 'UPDATE' && e.update?.status.task_id.value === taskId ? [e.update.status] : []))
  let offersSeen = 0
  /** The next offer made after the ones taken already. */
  const nextOffer = async (): Promise<OfferWire> => {
    const offer = await until('an offer', () => events.filter((e) => e.type === 'OFFERS').flatMap((e) => e.offers!.offers)[offersSeen])
    offersSeen++
    return offer
  }
  const accept = (offer: OfferWire, taskIds: string[]): Promise<void> =>
    call({
      type: 'ACCEPT',
      accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: taskIds.map((id) => task(id, agentId)) } }], filters: { refuse_seconds: 0 } },
    })

  beforeAll(async () => {
    await new Promise<void>((r) => agent.server.listen(0, '127.0.0.1', r))
    await master.start()
    server = await listen({ router: createMasterRouter({ master, log, maxBodyBytes: 1 << 20 }), host: '127.0.0.1', port: 0, log })
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const registered = await master.registerAgent({ hostname: 'a1', ip: '127.0.0.1', port: agent.port(), resources: { scalars: { cpus: 8, mem: 4096 }, ranges: {} }, attributes: [], tasks: [] })
    agentId = registered.agent_id
    const r = await fetch(`${url}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/recordio' },
      body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'batches', roles: ['*'], capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'MULTI_ROLE' }] } } }),
      signal: subscription.signal,
    })
    streamId = r.headers.get('mesos-stream-id') ?? ''
    const decode = createRecordIoDecoder((json) => events.push(JSON.parse(json) as (typeof events)[number]))
    void (async () => {
      try {
        for await (const chunk of r.body!) decode(Buffer.from(chunk as Uint8Array))
      } catch {
        // The subscription is aborted at the end.
      }
    })()
    const subscribed = await until('SUBSCRIBED', () => events.find((e) => e.type === 'SUBSCRIBED') as { subscribed?: { framework_id: { value: string } } } | undefined)
    frameworkId = subscribed.subscribed!.framework_id.value
  })

  afterAll(async () => {
    subscription.abort()
    await master.stop()
    await closeServer(server)
    agent.server.close()
    await store.close()
  })

  it('sends the tasks of one ACCEPT in one launch request, and fails only the task the agent refuses, with its own TASK_ERROR', async () => {
    agent.answerLaunchesWith((ids) => ({ status: 200, body: { results: ids.map((task_id) => (task_id === 'b3' ? { task_id, error: 'Invalid TaskInfo: no' } : { task_id })) } }))
    const ids = ['b1', 'b2', 'b3', 'b4', 'b5']
    await accept(await nextOffer(), ids)
    await until('TASK_ERROR of b3', () => updatesOf('b3')[0])
    const launches = agent.callsTo(AgentInternalPath.launch)
    expect(launches).toHaveLength(1)
    expect((launches[0]!.body['task_infos'] as Array<{ task_id: { value: string } }>).map((t) => t.task_id.value)).toEqual(ids)
    expect(launches[0]!.body['framework_id']).toBe(frameworkId)
    expect(launches[0]!.body['framework_info']).toMatchObject({ name: 'batches' })
    expect(updatesOf('b3').map((s) => [s.state, s.reason, s.message])).toEqual([['TASK_ERROR', 'REASON_TASK_INVALID', 'Invalid TaskInfo: no']])
    for (const id of ['b1', 'b2', 'b4', 'b5']) expect(updatesOf(id)).toEqual([])
    expect([...master.tasks.values()].filter((t) => t.frameworkId === frameworkId).map((t) => [t.taskId, t.state])).toEqual(ids.filter((id) => id !== 'b3').map((id) => [id, 'TASK_STAGING']))
  })

  it('fails each task of a launch the agent does not take with an update of its own', async () => {
    agent.answerLaunchesWith(() => ({ status: 500 }))
    await accept(await nextOffer(), ['c1', 'c2', 'c3'])
    for (const id of ['c1', 'c2', 'c3']) {
      const [status] = await until(`TASK_DROPPED of ${id}`, () => (updatesOf(id).length > 0 ? updatesOf(id) : undefined))
      expect([status!.state, status!.reason]).toEqual(['TASK_DROPPED', 'REASON_AGENT_DISCONNECTED'])
      expect(status!.message).toContain('agent answered 500')
    }
    expect(agent.callsTo(AgentInternalPath.launch)).toHaveLength(2)
    expect(master.tasks.has(`${frameworkId}/c1`)).toBe(false)
  })

  it("takes an agent's status updates as a list, answering each, and forwards the acknowledgements of one turn in one request", async () => {
    const running = ['b1', 'b2', 'b4', 'b5'].map((id, i) => ({
      framework_id: frameworkId,
      status: { task_id: { value: id }, state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR' as const, timestamp: Date.now() / 1000, uuid: `u-${i}` },
    }))
    const body: AgentStatusUpdatesWire = { agent_id: agentId, updates: running }
    const r = await fetch(`${url}${MasterInternalPath.status}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    expect(r.status).toBe(200)
    expect(await r.json()).toEqual({ results: ['b1', 'b2', 'b4', 'b5'].map((task_id) => ({ task_id })) })
    for (const id of ['b1', 'b2', 'b4', 'b5']) expect((await until(`the update of ${id}`, () => updatesOf(id)[0])).state).toBe('TASK_RUNNING')

    await Promise.all(running.map((u) => call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: agentId }, task_id: u.status.task_id, uuid: u.status.uuid } })))
    const acks = await until('the acknowledgements', () => (agent.callsTo(AgentInternalPath.ack).length > 0 ? agent.callsTo(AgentInternalPath.ack) : undefined))
    await new Promise((r) => setTimeout(r, 50))
    expect(agent.callsTo(AgentInternalPath.ack)).toHaveLength(1)
    expect(acks[0]!.body).toEqual({ acks: running.map((u) => ({ framework_id: frameworkId, task_id: u.status.task_id.value, uuid: u.status.uuid })) })
  })

  it('answers an update alone as before, and sends an agent it does not know to re-register', async () => {
    const one = { agent_id: agentId, framework_id: frameworkId, status: { task_id: { value: 'b1' }, state: 'TASK_RUNNING', timestamp: Date.now() / 1000, uuid: 'u-again' } }
    const r = await fetch(`${url}${MasterInternalPath.status}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(one) })
    expect([r.status, await r.text()]).toEqual([202, ''])
    const unknown: AgentStatusUpdatesWire = { agent_id: 'nobody', updates: [{ framework_id: frameworkId, status: one.status }] }
    const gone = await fetch(`${url}${MasterInternalPath.status}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(unknown) })
    expect(gone.status).toBe(404)
  })
  it('answers GET /master/slaves, /master/frameworks and /master/tasks with their parts of the state', async () => {
    const get = async (path: string) => (await (await fetch(`${url}${path}`)).json()) as Record<string, unknown>
    const state = JSON.parse(JSON.stringify(buildV0State(master))) as V0State
    expect(state.slaves.length).toBeGreaterThan(0)
    expect(await get('/master/slaves')).toEqual({ slaves: state.slaves })
    // Mesos' /master/frameworks: the registered and the completed ones, and an empty unregistered_frameworks.
    const frameworks = { frameworks: state.frameworks, completed_frameworks: state.completed_frameworks, unregistered_frameworks: [] }
    expect(await get('/master/frameworks')).toEqual(frameworks)
    expect(await get('/frameworks')).toEqual(frameworks)
    expect(await get(`/master/frameworks?framework_id=${frameworkId}`)).toEqual(frameworks)
    expect(await get('/master/frameworks?framework_id=nobody')).toEqual({ frameworks: [], completed_frameworks: [], unregistered_frameworks: [] })
    const tasks = tasksOfState(state)
    expect(tasks.length).toBeGreaterThan(0)
    expect(await get('/master/tasks')).toEqual({ tasks })
    expect(await get('/tasks')).toEqual({ tasks })
  })
  it('answers GET /master/state with the tasks and agents buildV0State gives, also once a task changed after it was last asked for', async () => {
    type V0 = { slaves: Array<{ used_resources: unknown }>; frameworks: Array<{ tasks: unknown; unreachable_tasks: unknown; completed_tasks: unknown }> }
    const tasksIn = (state: V0) => [state.slaves, ...state.frameworks.map((f) => [f.tasks, f.unreachable_tasks, f.completed_tasks])]
    const get = async () => (await (await fetch(`${url}/master/state`)).json()) as Parameters<typeof tasksIn>[0]
    const first = await get()
    expect(first).toEqual(JSON.parse(JSON.stringify(buildV0State(master))))
    expect(tasksIn(first)).toEqual(tasksIn(JSON.parse(JSON.stringify(buildV0State(master))) as Parameters<typeof tasksIn>[0]))
    const raw = await fetch(`${url}/master/state`)
    const bytes = Buffer.from(await raw.arrayBuffer())
    expect(Number(raw.headers.get('content-length'))).toBe(bytes.length)
    expect(bytes.toString('utf8')).toContain('"name":"b1 · ✓ 😀"')
    const body: AgentStatusUpdatesWire = {
      agent_id: agentId,
      updates: [{ framework_id: frameworkId, status: { task_id: { value: 'b2' }, state: 'TASK_FINISHED', source: 'SOURCE_EXECUTOR', timestamp: Date.now() / 1000, uuid: 'u-done' } }],
    }
    expect((await fetch(`${url}${MasterInternalPath.status}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(200)
    const second = await get()
    expect(tasksIn(second)).toEqual(tasksIn(JSON.parse(JSON.stringify(buildV0State(master))) as Parameters<typeof tasksIn>[0]))
    expect(tasksIn(second)).not.toEqual(tasksIn(first))
    const b2 = (second.frameworks[0]!.completed_tasks as Array<{ id: string; state: string }>).find((t) => t.id === 'b2')
    expect(b2?.state).toBe('TASK_FINISHED')
    // What the finished task used is free again on its agent.
    expect(second.slaves[0]!.used_resources).not.toEqual(first.slaves[0]!.used_resources)
    // /master/tasks lists it among the completed tasks, as Mesos does.
    const listed = ((await (await fetch(`${url}/master/tasks`)).json()) as { tasks: Array<{ id: string; state: string }> }).tasks
    expect(listed).toEqual(tasksOfState(JSON.parse(JSON.stringify(buildV0State(master))) as V0State))
    expect(listed.find((t) => t.id === 'b2')?.state).toBe('TASK_FINISHED')
  })
})
