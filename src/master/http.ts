// The master's HTTP surface: the v1 scheduler and operator APIs, v0 JSON endpoints, metrics,
// and the internal endpoints agents use.
import { randomUUID } from 'node:crypto'
import type { Server, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { AgentRecord, AgentRegistration, FrameworkRecord, Master, TaskRecord } from './types.js'
import { MASTER_VERSION } from './master.js'
import { agentV1, frameworkV1, recoveredAgentV1, taskV1 } from './views.js'
import type { RequestContext, Router } from '../api/http.js'
import { createRouter, listen, parseBody, sendJson, sendJsonParts, sendText, validateBody, writeRecord } from '../api/http.js'
import type { StatusUpdateWire, TaskResultsWire } from '../api/internal.js'
import { AgentRegistrationSchema, AgentStatusUpdatesSchema, MasterInternalPath } from '../api/internal.js'
import type { AttributeSchema } from '../api/mesos.js'
import { AcknowledgeBatchSchema, resourcesFromWire, resourcesToWire, SchedulerCallSchema, v0Resources } from '../api/mesos.js'
import { BadRequestError, DromosError, NotFoundError } from '../core/errors.js'
import type { Resources } from '../core/resources.js'
import { add, EMPTY } from '../core/resources.js'
import { isTerminal } from '../core/task-state.js'
import { renderPrometheus } from './prometheus.js'
import { registerOperatorEndpoints } from './operator-endpoints.js'
import { serveWebUi } from '../api/web-ui.js'

export interface MasterHttpOptions {
  readonly master: Master
  readonly log: Logger
  readonly host: string
  readonly port: number
  readonly maxBodyBytes: number
  /** The web UI's static files (web/dist), served at / beside the JSON endpoints. */
  readonly staticDir?: string
}

function v0Attributes(list: readonly z.infer<typeof AttributeSchema>[]): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const a of list) out[a.name] = a.type === 'SCALAR' ? (a.scalar?.value ?? 0) : (a.text?.value ?? '')
  return out
}

const OperatorCallSchema = z.looseObject({ type: z.string() })

export async function startMasterHttp(opts: MasterHttpOptions): Promise<Server> {
  return listen({ router: createMasterRouter(opts), host: opts.host, port: opts.port, log: opts.log })
}

/** The routes of a leading master (a standby answers with standby.ts' router instead). */
export function createMasterRouter(opts: Omit<MasterHttpOptions, 'host' | 'port'>): Router {
  const { master, log, maxBodyBytes } = opts
  const router = createRouter({ log })

  // ---- scheduler API ----
  router.on('POST', '/api/v1/scheduler', async (ctx) => {
    const raw = await parseBody(ctx, z.unknown(), maxBodyBytes)
    const header = ctx.req.headers['mesos-stream-id']
    const streamId = typeof header === 'string' ? header : undefined
    if (Array.isArray(raw)) {
      // A batch of acknowledgements (BATCHED_CALLS_HEADER): each taken as if it came alone.
      // The first call refused stops the batch; the answer names it, those before it stand.
      for (const [i, call] of validateBody(AcknowledgeBatchSchema, raw).entries()) {
        try {
          await master.handleCall(call, streamId)
        } catch (e) {
          if (e instanceof DromosError) throw new DromosError(e.code, e.status, `Call ${i} of the batch: ${e.message}`)
          throw e
        }
      }
    } else {
      const call = validateBody(SchedulerCallSchema, raw)
      if (call.type === 'SUBSCRIBE') {
        const accept = String(ctx.req.headers.accept ?? '')
        await master.subscribe(call, ctx.res, accept.includes('application/recordio'))
        return
      }
      await master.handleCall(call, streamId)
    }
    if (!ctx.res.headersSent) {
      ctx.res.writeHead(202, { 'Content-Length': 0 })
      ctx.res.end()
    }
  })

  // ---- operator API ----
  const state = () => buildOperatorState(master)
  router.on('POST', '/api/v1', async (ctx) => {
    const call = await parseBody(ctx, OperatorCallSchema, maxBodyBytes)
    const s = state()
    switch (call.type) {
      case 'GET_HEALTH':
        return sendJson(ctx.res, 200, { type: 'GET_HEALTH', get_health: { healthy: true } })
      case 'GET_VERSION':
        return sendJson(ctx.res, 200, { type: 'GET_VERSION', get_version: { version_info: versionInfo() } })
      case 'GET_FLAGS':
        return sendJson(ctx.res, 200, { type: 'GET_FLAGS', get_flags: { flags: Object.entries(master.opts.flags).map(([name, value]) => ({ name, value })) } })
      case 'GET_STATE':
        return sendJson(ctx.res, 200, { type: 'GET_STATE', get_state: s })
      case 'GET_AGENTS':
        return sendJson(ctx.res, 200, { type: 'GET_AGENTS', get_agents: s.get_agents })
      case 'GET_FRAMEWORKS':
        return sendJson(ctx.res, 200, { type: 'GET_FRAMEWORKS', get_frameworks: s.get_frameworks })
      case 'GET_TASKS':
        return sendJson(ctx.res, 200, { type: 'GET_TASKS', get_tasks: s.get_tasks })
      case 'GET_EXECUTORS':
        return sendJson(ctx.res, 200, { type: 'GET_EXECUTORS', get_executors: s.get_executors })
      case 'GET_ROLES':
        return sendJson(ctx.res, 200, { type: 'GET_ROLES', get_roles: { roles: roles(master) } })
      case 'GET_MASTER':
        return sendJson(ctx.res, 200, {
          type: 'GET_MASTER',
          get_master: { master_info: master.masterInfo(), start_time: master.startedAt / 1000, elected_time: master.startedAt / 1000 },
        })
      case 'GET_METRICS':
        return sendJson(ctx.res, 200, {
          type: 'GET_METRICS',
          get_metrics: { metrics: Object.entries(master.metrics()).map(([name, value]) => ({ name, value })) },
        })
      case 'SUBSCRIBE': {
        ctx.res.socket?.setNoDelay(true)
        ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' })
        writeRecord(ctx.res, { type: 'SUBSCRIBED', subscribed: { get_state: s, heartbeat_interval_seconds: master.opts.heartbeatIntervalSeconds } })
        // Mesos follows SUBSCRIBED with a HEARTBEAT at once, so clients can arm their timeout.
        writeRecord(ctx.res, { type: 'HEARTBEAT' })
        const off = master.onOperatorEvent((e) => writeRecord(ctx.res, e))
        const hb = setInterval(() => writeRecord(ctx.res, { type: 'HEARTBEAT' }), master.opts.heartbeatIntervalSeconds * 1000)
        ctx.res.on('close', () => {
          off()
          clearInterval(hb)
        })
        return
      }
      default:
        throw new BadRequestError(`Unsupported operator call type '${call.type}'`)
    }
  })

  // ---- v0 JSON ----
  // The parts of the state are built alone: /master/slaves encodes no task.
  for (const path of ['/master/state', '/master/state.json', '/state.json', '/state']) router.on('GET', path, (ctx) => sendV0State(ctx.res, master))
  router.on('GET', '/master/slaves', (ctx) => sendJson(ctx.res, 200, { slaves: v0Slaves(master) }))
  // As Mesos' /master/frameworks: the registered and the completed frameworks (framework_id keeps
  // one), and the empty unregistered_frameworks that Mesos still sends.
  for (const path of ['/master/frameworks', '/frameworks']) {
    router.on('GET', path, (ctx) => {
      const id = ctx.url.searchParams.get('framework_id')
      const wanted = (f: FrameworkRecord): boolean => id === null || f.id === id
      sendJson(ctx.res, 200, {
        frameworks: [...master.frameworks.values()].filter(wanted).map((f) => v0Framework(master, f, !!f.stream)),
        completed_frameworks: master.completedFrameworks.filter(wanted).map((f) => v0Framework(master, f, false)),
        unregistered_frameworks: [],
      })
    })
  }
  for (const path of ['/master/tasks', '/tasks']) router.on('GET', path, (ctx) => sendJson(ctx.res, 200, { tasks: taskPage(master, ctx.url.searchParams).map(v0TaskOf) }))
  router.on('GET', '/master/redirect', (ctx) => {
    ctx.res.writeHead(307, { Location: `//${master.opts.hostname}:${master.opts.port}`, 'Content-Length': 0 })
    ctx.res.end()
  })
  router.on('GET', '/redirect', (ctx) => {
    ctx.res.writeHead(307, { Location: `//${master.opts.hostname}:${master.opts.port}`, 'Content-Length': 0 })
    ctx.res.end()
  })
  router.on('GET', '/health', (ctx) => sendText(ctx.res, 200, ''))
  router.on('GET', '/master/health', (ctx) => sendText(ctx.res, 200, ''))
  router.on('GET', '/version', (ctx) => sendJson(ctx.res, 200, versionInfo()))
  router.on('GET', '/metrics/snapshot', (ctx) => sendJson(ctx.res, 200, master.metrics()))
  registerOperatorEndpoints(router, master)
  router.on('GET', '/metrics', (ctx) => {
    ctx.res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' })
    ctx.res.end(renderPrometheus(master.metrics()))
  })

  // ---- sandbox files and agent state, proxied to the agent that holds them ----
  // A browser reaches the master, not necessarily the agents (nor do they answer CORS). The
  // master relays GETs of the agent's read-only endpoints: /files/* by the agent in the path,
  // as before, and /agent/{id}/... as DC/OS's Admin Router lays them out.
  const relayToAgent = async (ctx: RequestContext, agent: AgentRecord, path: string): Promise<void> => {
    const target = `http://${agent.ip}:${agent.port}${path}${ctx.url.search}`
    let r: Response
    try {
      r = await fetch(target, { signal: AbortSignal.timeout(30_000) })
    } catch (e) {
      return sendText(ctx.res, 502, `Cannot reach agent ${agent.id} at ${agent.ip}:${agent.port}: ${(e as Error).message}`)
    }
    const body = Buffer.from(await r.arrayBuffer())
    const headers: Record<string, string> = { 'Content-Length': String(body.length) }
    for (const h of ['content-type', 'content-disposition']) {
      const v = r.headers.get(h)
      if (v) headers[h] = v
    }
    ctx.res.writeHead(r.status, headers)
    ctx.res.end(body)
  }
  const agentOf = (id: string | undefined, what: string): AgentRecord => {
    const agent = id === undefined ? undefined : master.agents.get(id)
    if (!agent) throw new NotFoundError(`No agent holds '${what}'`)
    return agent
  }
  for (const op of ['browse', 'read', 'download']) {
    router.on('GET', `/files/${op}`, async (ctx) => {
      const path = ctx.url.searchParams.get('path') ?? ''
      await relayToAgent(ctx, agentOf(/\/slaves\/([^/]+)\//.exec(path)?.[1], path), `/files/${op}`)
    })
    router.on('GET', `/agent/:agentId/files/${op}`, (ctx) => relayToAgent(ctx, agentOf(ctx.params['agentId'], ctx.url.pathname), `/files/${op}`))
  }
  for (const what of ['state', 'state.json']) {
    router.on('GET', `/agent/:agentId/${what}`, (ctx) => relayToAgent(ctx, agentOf(ctx.params['agentId'], ctx.url.pathname), `/${what}`))
  }

  // ---- agents ----
  router.on('POST', MasterInternalPath.register, async (ctx) => {
    const reg = await parseBody(ctx, AgentRegistrationSchema, maxBodyBytes)
    const registration: AgentRegistration = {
      hostname: reg.hostname,
      ip: reg.ip,
      port: reg.port,
      resources: resourcesFromWire(reg.resources),
      attributes: reg.attributes,
      tasks: reg.tasks.map((t) => ({ framework_id: t.framework_id, task_info: t.task_info, state: t.state, ...(t.status ? { status: t.status as never } : {}) })),
      ...(reg.agent_id ? { agent_id: reg.agent_id } : {}),
      ...(reg.version ? { version: reg.version } : {}),
      ...(reg.attempt ? { attempt: reg.attempt } : {}),
    }
    sendJson(ctx.res, 200, await master.registerAgent(registration))
  })
  router.on('POST', MasterInternalPath.status, async (ctx) => {
    const body = await parseBody(ctx, AgentStatusUpdatesSchema, maxBodyBytes)
    const results = master.agentStatusUpdates(body.agent_id, body.updates as StatusUpdateWire[])
    if (!('single' in body)) return sendJson(ctx.res, 200, { results } satisfies TaskResultsWire)
    const failed = results[0]?.error
    if (failed !== undefined) throw new Error(failed)
    ctx.res.writeHead(202, { 'Content-Length': 0 })
    ctx.res.end()
  })

  serveWebUi(router, opts.staticDir)
  return router
}

function versionInfo(): Record<string, unknown> {
  return { version: MASTER_VERSION, build_date: '', build_time: 0, build_user: 'dromos' }
}

function roles(master: Master): Array<Record<string, unknown>> {
  // Mesos lists every role that has a framework or a non-default weight.
  const names = new Set<string>(['*', ...Object.keys(master.opts.roleWeights)])
  for (const f of master.frameworks.values()) for (const r of f.roles) names.add(r)
  return [...names].sort().map((name) => {
    let used: Resources = EMPTY
    for (const t of master.tasks.values()) if (t.role === name && !isTerminal(t.state)) used = add(used, t.resources)
    for (const o of master.offers.values()) if (o.role === name) used = add(used, o.resources)
    return {
      name,
      weight: master.opts.roleWeights[name] ?? 1,
      frameworks: [...master.frameworks.values()].filter((f) => f.roles.includes(name)).map((f) => ({ value: f.id })),
      // As in Mesos: allocated plus offered, scalar quantities only.
      resources: resourcesToWire({ scalars: used.scalars, ranges: {} }),
    }
  })
}

/** A `Response.GetState` of master.proto. */
export function buildOperatorState(master: Master) {
  const tasks = [...master.tasks.values()]
  return {
    get_tasks: {
      tasks: tasks.filter((t) => t.state !== 'TASK_UNREACHABLE').map(taskV1),
      unreachable_tasks: tasks.filter((t) => t.state === 'TASK_UNREACHABLE').map(taskV1),
      completed_tasks: master.completedTasks.map(taskV1),
      pending_tasks: [],
      orphan_tasks: [],
    },
    get_executors: { executors: [], orphan_executors: [] },
    get_frameworks: {
      frameworks: [...master.frameworks.values()].map((f) => frameworkV1(master, f, !!f.stream)),
      completed_frameworks: master.completedFrameworks.map((f) => frameworkV1(master, f, false)),
      recovered_frameworks: [],
    },
    get_agents: {
      // Unreachable agents are removed from the registered list, as in Mesos.
      agents: [...master.agents.values()].filter((a) => a.unreachableSince === undefined).map((a) => agentV1(master, a)),
      recovered_agents: [...master.recoveredAgents.values()].map(recoveredAgentV1),
    },
  }
}

/**
 * A list of the v0 state, of tasks or of agents: their JSON objects unless a caller encodes
 * them otherwise (sendV0State).
 */
type ListAs<T> = <R extends TaskRecord | AgentRecord>(items: readonly R[], v0: (r: R) => object) => T
/** The lists as their JSON objects: what every caller but sendV0State gets. */
const asObjects: ListAs<object[]> = (items, v0) => items.map(v0)

const v0TaskOf = (t: TaskRecord) => ({
    id: t.taskId,
    name: t.info.name,
    framework_id: t.frameworkId,
    executor_id: '',
    slave_id: t.agentId,
    state: t.state,
    role: t.role,
    resources: v0Resources(t.resources),
    statuses: t.statuses.map((s) => ({ state: s.state, timestamp: s.timestamp, ...(s.container_status ? { container_status: s.container_status } : {}), ...(s.healthy !== undefined ? { healthy: s.healthy } : {}) })),
    ...(t.info.labels ? { labels: t.info.labels.labels } : {}),
    ...(t.info.container ? { container: t.info.container } : {}),
    ...(t.info['discovery'] ? { discovery: t.info['discovery'] } : {}),
})

// Each task's and each agent's v0 JSON, kept while what it was encoded from is the same: a
// task's state and statuses (the master replaces a task's statuses, never changes them in
// place), an agent's use and offers (the state's sums give the same object until they change;
// a registration makes a new record). GET /master/state encodes only what changed since it was
// last asked for, not ~10 MB of tasks for 10,000 of them nor 10,000 agents' resources.
const v0Json = new WeakMap<TaskRecord | AgentRecord, { a: unknown; b: unknown; json: string; bytes: number }>()
/** What a record's JSON is encoded from, beside the record itself: two values compared by identity. */
const stampOf = (master: Master, r: TaskRecord | AgentRecord): { a: unknown; b: unknown } =>
  'taskId' in r ? { a: r.state, b: r.statuses } : { a: master.agentUsed(r.id), b: master.agentOffered(r.id) }
/** Stands for an encoded list in the state's JSON until it is put in; no value a task carries holds it by chance. */
const RAW_MARK = `dromos-raw-${randomUUID()}-`
const RAW_MARKS = new RegExp(`"${RAW_MARK}(\\d+)"`, 'g')

function sendV0State(res: ServerResponse, master: Master): void {
  const lists: Array<{ parts: string[]; bytes: number }> = []
  const listAs: ListAs<string> = (items, v0) => {
    let bytes = 0
    const parts = items.map((r) => {
      const { a, b } = stampOf(master, r)
      let kept = v0Json.get(r)
      if (!kept || kept.a !== a || kept.b !== b) {
        const json = JSON.stringify(v0(r))
        kept = { a, b, json, bytes: Buffer.byteLength(json) }
        v0Json.set(r, kept)
      }
      bytes += kept.bytes
      return kept.json
    })
    lists.push({ parts, bytes: bytes + Math.max(0, parts.length - 1) + 2 })
    return `${RAW_MARK}${lists.length - 1}`
  }
  // The state's JSON with each list's mark in place of the list, then split at the marks:
  // text, a list's index, text, ... The lists' parts go in between, unjoined.
  const pieces = JSON.stringify(buildV0State(master, listAs)).split(RAW_MARKS)
  const parts: string[] = []
  let bytes = 0
  pieces.forEach((piece, i) => {
    if (i % 2 === 0) {
      parts.push(piece)
      bytes += Buffer.byteLength(piece)
      return
    }
    const list = lists[Number(piece)]!
    parts.push('[')
    list.parts.forEach((p, k) => (k === 0 ? parts.push(p) : parts.push(',', p)))
    parts.push(']')
    bytes += list.bytes
  })
  sendJsonParts(res, parts, bytes)
}

/** The active agents of the v0 state, as /master/state and /master/slaves list them. */
function v0Slaves<T = object[]>(master: Master, listAs: ListAs<T> = asObjects as ListAs<T>) {
  return listAs(
    [...master.agents.values()].filter((a) => a.unreachableSince === undefined),
    (a) => ({
      id: a.id,
      pid: `slave(1)@${a.ip}:${a.port}`,
      hostname: a.hostname,
      port: a.port,
      registered_time: a.registeredAt / 1000,
      ...(a.reregisteredAt ? { reregistered_time: a.reregisteredAt / 1000 } : {}),
      resources: v0Resources(a.total),
      used_resources: v0Resources(master.agentUsed(a.id)),
      offered_resources: v0Resources(master.agentOffered(a.id)),
      reserved_resources: {},
      unreserved_resources: v0Resources(a.total),
      attributes: v0Attributes(a.attributes),
      active: true,
      version: a.version,
    }),
  )
}

// As Mesos: an unreachable task is listed apart, not among a framework's tasks.
const isUnreachableTask = (t: TaskRecord): boolean => t.state === 'TASK_UNREACHABLE'
const isListedTask = (t: TaskRecord): boolean => !isTerminal(t.state) && !isUnreachableTask(t)

/** Mesos' TASK_LIMIT: what /master/tasks lists at most unless given a limit. */
const TASK_LIMIT = 100

/**
 * A number of /master/tasks' query, read as Mesos reads it (an int, in decimal or 0x hex; anything
 * else is the default), and, as Mesos' size_t does with it, a negative one taken as beyond every count.
 */
function listOption(value: string | null, fallback: number): number {
  const m = value === null ? null : /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(value.trim())
  if (!m) return fallback
  const n = Number.parseInt(m[2]!, m[2]!.toLowerCase().startsWith('0x') ? 16 : 10) * (m[1] === '-' ? -1 : 1)
  if (n > 2 ** 31 - 1 || n < -(2 ** 31)) return fallback
  return n < 0 ? Number.POSITIVE_INFINITY : n
}

/**
 * The tasks of /master/tasks, as Mesos lists them: of the registered and the completed frameworks
 * (framework_id and task_id keep those of that id), each framework's tasks, unreachable ones and
 * completed ones, ordered by the time of their first status (newest first, oldest first with
 * order=asc; a task with none last, first with asc), then `limit` (100) of them from `offset`.
 */
export function taskPage(master: Master, query: URLSearchParams): TaskRecord[] {
  const frameworkId = query.get('framework_id')
  const taskId = query.get('task_id')
  const frameworks = [...master.frameworks.values(), ...master.completedFrameworks].filter((f) => frameworkId === null || f.id === frameworkId)
  const ids = new Set(frameworks.map((f) => f.id))
  const completed = master.completedTasks.filter((t) => ids.has(t.frameworkId))
  const tasks = frameworks.flatMap((f) => {
    const ts = master.tasksOfFramework(f.id)
    return [...ts.filter(isListedTask), ...ts.filter(isUnreachableTask), ...ts.filter((t) => isTerminal(t.state)), ...completed.filter((t) => t.frameworkId === f.id)]
  })
  const listed = taskId === null ? tasks : tasks.filter((t) => t.taskId === taskId)
  const offset = listOption(query.get('offset'), 0)
  const limit = listOption(query.get('limit'), TASK_LIMIT)
  if (offset === Number.POSITIVE_INFINITY) return []
  // Sorted by a key read once a task: the first status's time, a task with none last (first when ascending).
  const asc = query.get('order') === 'asc'
  const none = asc ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY
  const keyed = listed.map((t) => ({ t, key: asc ? (t.statuses[0]?.timestamp ?? none) : -(t.statuses[0]?.timestamp ?? -none) }))
  keyed.sort((a, b) => (a.key === b.key ? 0 : a.key < b.key ? -1 : 1))
  return keyed.slice(offset, offset + limit).map((k) => k.t)
}

/** A framework of the v0 state, as /master/state and /master/frameworks list it. */
function v0Framework<T = object[]>(master: Master, f: FrameworkRecord, active: boolean, listAs: ListAs<T> = asObjects as ListAs<T>) {
  const tasks = master.tasksOfFramework(f.id)
  const used = [...master.frameworkUsed(f.id).values()].reduce<Resources>(add, EMPTY)
  const frameworkOffers = master.offersOfFramework(f.id)
  const offered = [...master.frameworkOffered(f.id).values()].reduce<Resources>(add, EMPTY)
  return {
    id: f.id,
    name: f.info.name,
    user: f.info.user,
    hostname: f.info.hostname ?? '',
    pid: '',
    failover_timeout: f.info.failover_timeout,
    checkpoint: f.info.checkpoint,
    role: f.roles[0] ?? '*',
    roles: f.roles,
    principal: f.info.principal ?? '',
    webui_url: f.info.webui_url ?? '',
    capabilities: f.info.capabilities.map((c) => c.type),
    active,
    connected: active,
    recovered: false,
    registered_time: f.registeredAt / 1000,
    unregistered_time: (f.unregisteredAt ?? 0) / 1000,
    resources: v0Resources(used),
    used_resources: v0Resources(used),
    offered_resources: v0Resources(offered),
    tasks: listAs(tasks.filter(isListedTask), v0TaskOf),
    unreachable_tasks: listAs(tasks.filter(isUnreachableTask), v0TaskOf),
    completed_tasks: listAs([...tasks.filter((t) => isTerminal(t.state)), ...master.completedTasks.filter((t) => t.frameworkId === f.id)], v0TaskOf),
    offers: frameworkOffers.map((o) => ({ id: o.id, framework_id: o.frameworkId, slave_id: o.agentId, resources: v0Resources(o.resources) })),
    executors: [],
    completed_executors: [],
  }
}

export function buildV0State<T = object[]>(master: Master, listAs: ListAs<T> = asObjects as ListAs<T>) {
  const { opts } = master
  const pid = `master@${opts.ip}:${opts.port}`
  const agents = [...master.agents.values()]
  return {
    version: MASTER_VERSION,
    build_date: '',
    build_user: 'dromos',
    start_time: master.startedAt / 1000,
    elected_time: master.startedAt / 1000,
    id: master.id,
    pid,
    hostname: opts.hostname,
    leader: pid,
    leader_info: master.masterInfo(),
    activated_slaves: agents.filter((a) => a.unreachableSince === undefined).length,
    deactivated_slaves: 0,
    unreachable_slaves: agents.filter((a) => a.unreachableSince !== undefined).length + master.unreachableAgents.size,
    log_dir: '',
    flags: master.opts.flags,
    slaves: v0Slaves(master, listAs),
    // Agents of the registry not re-registered since the master started (SlaveInfo shapes).
    recovered_slaves: [...master.recoveredAgents.values()].map((a) => ({ id: a.id, hostname: a.hostname, port: a.port })),
    frameworks: [...master.frameworks.values()].map((f) => v0Framework(master, f, !!f.stream, listAs)),
    completed_frameworks: master.completedFrameworks.map((f) => v0Framework(master, f, false, listAs)),
    orphan_tasks: [],
    unregistered_frameworks: [],
  }
}
