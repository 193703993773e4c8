// A small typed client of the Marathon v2 REST API, as `dromos apps` serves it (and as real
// Marathon does). Responses are parsed once here with zod; fields the schemas do not name pass
// through untouched, so `--json` output shows everything the server sent. Apps and groups are
// read with the server's own wire schemas (marathon.ts).
import type { InstanceUnreachable } from './instances.js'
import { createInstances, parseInstanceList } from './instances.js'
import { z } from 'zod'
import type { GroupWire } from './marathon.js'
import { AppDefaults, AppSchema, dropNulls, GroupSchema } from './marathon.js'

// ---- wire shapes ----

const IdRef = z.looseObject({ id: z.string() })

export const HealthCheckResultSchema = z.looseObject({
  alive: z.boolean(),
  consecutiveFailures: z.number().optional(),
  instanceId: z.string().optional(),
})

export const TaskSchema = z.looseObject({
  id: z.string(),
  appId: z.string(),
  host: z.string().default(''),
  ports: z.array(z.number()).default([]),
  servicePorts: z.array(z.number()).default([]),
  slaveId: z.string().nullish(),
  state: z.string().default(''),
  stagedAt: z.string().nullish(),
  startedAt: z.string().nullish(),
  version: z.string().nullish(),
  healthCheckResults: z.array(HealthCheckResultSchema).default([]),
})
export type MarathonTask = z.infer<typeof TaskSchema>

const { instances, cpus, mem, disk, healthChecks } = AppSchema.shape

/**
 * An app as GET /v2/apps writes it (Marathon's AppInfo): the app definition, with Marathon's
 * defaults for what it leaves out, its version and the counts of its tasks. Nulls read as absent.
 */
export const AppInfoSchema = z.preprocess(
  dropNulls,
  AppSchema.extend({
    id: z.string(),
    instances: instances.unwrap().default(AppDefaults.instances),
    cpus: cpus.unwrap().default(AppDefaults.cpus),
    mem: mem.unwrap().default(AppDefaults.mem),
    disk: disk.unwrap().default(AppDefaults.disk),
    healthChecks: healthChecks.unwrap().default([]),
    version: z.string().optional(),
    versionInfo: z.looseObject({ lastScalingAt: z.string(), lastConfigChangeAt: z.string() }).optional(),
    tasksStaged: z.number().default(0),
    tasksRunning: z.number().default(0),
    tasksHealthy: z.number().default(0),
    tasksUnhealthy: z.number().default(0),
    deployments: z.array(IdRef).default([]),
    tasks: z.array(TaskSchema).optional(),
    lastTaskFailure: z.looseObject({}).optional(),
  }),
)
export type MarathonApp = z.infer<typeof AppInfoSchema>

export const DeploymentActionSchema = z.looseObject({ action: z.string(), app: z.string() })
export type DeploymentAction = z.infer<typeof DeploymentActionSchema>

export const DeploymentSchema = z.looseObject({
  id: z.string(),
  version: z.string().default(''),
  affectedApps: z.array(z.string()).default([]),
  steps: z.array(z.looseObject({ actions: z.array(DeploymentActionSchema).default([]) })).default([]),
  currentActions: z.array(DeploymentActionSchema).default([]),
  currentStep: z.number().default(0),
  totalSteps: z.number().default(0),
})
export type MarathonDeployment = z.infer<typeof DeploymentSchema>

/** What every change answers: the deployment it started. */
export const DeploymentResultSchema = z.looseObject({ deploymentId: z.string(), version: z.string() })
export type DeploymentResult = z.infer<typeof DeploymentResultSchema>

export const QueueItemSchema = z.looseObject({
  app: AppInfoSchema,
  count: z.number(),
  delay: z.looseObject({ timeLeftSeconds: z.number(), overdue: z.boolean() }).optional(),
  since: z.string().optional(),
  processedOffersSummary: z
    .looseObject({
      processedOffersCount: z.number(),
      unusedOffersCount: z.number(),
      rejectSummaryLastOffers: z.array(z.looseObject({ reason: z.string(), declined: z.number(), processed: z.number() })).optional(),
    })
    .optional(),
})
export type QueueItem = z.infer<typeof QueueItemSchema>

export const InfoSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  elected: z.boolean().optional(),
  leader: z.string().nullish(),
  frameworkId: z.string().nullish(),
})
export type MarathonInfo = z.infer<typeof InfoSchema>

/** A group as GET /v2/groups writes it (Marathon's Group); nulls read as absent. */
const GroupInfoSchema = z.preprocess(dropNulls, GroupSchema)
export type MarathonGroup = GroupWire

export interface MarathonEvent {
  eventType: string
  timestamp: string
  [k: string]: unknown
}

/** Marathon's error body: always a message; validation errors name paths, lock errors name deployments. */
export interface MarathonErrorBody {
  message: string
  details?: Array<{ path: string; errors: string[] }>
  deployments?: Array<{ id: string }>
}

const ErrorBodySchema = z.looseObject({
  message: z.string().catch(''),
  details: z.array(z.looseObject({ path: z.string().catch('/'), errors: z.array(z.string()).catch([]) })).optional().catch(undefined),
  deployments: z.array(IdRef).optional().catch(undefined),
})

// ---- errors ----

/** The server answered with an error status. */
export class MarathonApiError extends Error {
  readonly code = 'MARATHON_API'
  constructor(
    readonly status: number,
    readonly body: MarathonErrorBody,
    readonly request: { method: string; url: string },
  ) {
    super(body.message || `${request.method} ${request.url} answered ${status}`)
  }
  /** A 409 that names the deployments holding the lock (as opposed to "already exists"). */
  get locked(): boolean {
    return this.status === 409 && (this.body.deployments?.length ?? 0) > 0
  }
  get deploymentIds(): string[] {
    return (this.body.deployments ?? []).map((d) => d.id)
  }
}

/** No answer at all: connection refused, DNS, timeout. */
export class MarathonUnreachableError extends Error {
  readonly code = 'APPS_UNREACHABLE'
  constructor(
    readonly baseUrl: string,
    readonly reason: string,
  ) {
    super(`cannot reach dromos apps at ${baseUrl}: ${reason}`)
  }
}

/** The server answered 2xx with a body this client cannot read. */
export class MarathonProtocolError extends Error {
  readonly code = 'MARATHON_PROTOCOL'
  constructor(
    readonly request: { method: string; url: string },
    reason: string,
  ) {
    super(`unexpected answer to ${request.method} ${request.url}: ${reason}`)
  }
}

// ---- SSE ----

export interface SseFrame {
  event: string
  data: string
}

/**
 * An incremental text/event-stream parser: feed it decoded text in any chunking, and it calls
 * `onFrame` once per complete frame. Comments and frames without data are skipped.
 */
export function createSseParser(onFrame: (f: SseFrame) => void): (text: string) => void {
  let buf = ''
  let event = ''
  let data: string[] = []
  // A lone \r at the end of a chunk may be the first half of \r\n.
  let pendingCr = false
  return (text) => {
    if (pendingCr && text.startsWith('\n')) text = text.slice(1)
    pendingCr = false
    buf += text
    for (;;) {
      const m = /\r\n|\n|\r/.exec(buf)
      if (!m) break
      if (m[0] === '\r' && m.index === buf.length - 1) pendingCr = true
      const line = buf.slice(0, m.index)
      buf = buf.slice(m.index + m[0].length)
      if (line === '') {
        if (data.length > 0) onFrame({ event: event || 'message', data: data.join('\n') })
        event = ''
        data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
    }
  }
}

export interface MarathonEventStream extends AsyncIterable<MarathonEvent> {
  /** Ends the stream; iteration finishes without an error. */
  close(): void
}

// ---- the client ----

export interface MarathonClientOptions {
  /**
   * e.g. http://127.0.0.1:8080; a bare host:port gets http://. A comma-separated list names the
   * instances of an HA dromos apps: each is asked in turn until one answers.
   */
  readonly baseUrl: string
  /** Per-request limit for everything but the event stream. */
  readonly requestTimeoutMs?: number
  readonly fetch?: typeof fetch
}

export interface ForceOption {
  readonly force?: boolean | undefined
}

export interface MarathonClient {
  readonly baseUrl: string
  listApps(opts?: { embed?: readonly string[]; id?: string; label?: string }): Promise<MarathonApp[]>
  getApp(id: string): Promise<MarathonApp>
  createApp(definition: unknown, opts?: ForceOption): Promise<MarathonApp>
  /** PUT /v2/apps/{id}: with `partial` (the default) the body is merged onto the app; without, it replaces it. */
  updateApp(id: string, body: unknown, opts?: ForceOption & { partial?: boolean | undefined }): Promise<DeploymentResult>
  /** PUT /v2/apps: creates or updates several apps in one deployment. */
  putApps(definitions: readonly unknown[], opts?: ForceOption & { partial?: boolean | undefined }): Promise<DeploymentResult>
  deleteApp(id: string, opts?: ForceOption): Promise<DeploymentResult>
  restartApp(id: string, opts?: ForceOption): Promise<DeploymentResult>
  scaleApp(id: string, instances: number, opts?: ForceOption): Promise<DeploymentResult>
  appVersions(id: string): Promise<string[]>
  appVersion(id: string, version: string): Promise<MarathonApp>
  getGroup(id: string): Promise<MarathonGroup>
  createGroup(group: unknown, opts?: ForceOption): Promise<DeploymentResult>
  updateGroup(id: string, group: unknown, opts?: ForceOption): Promise<DeploymentResult>
  listTasks(opts?: { appId?: string; status?: readonly string[] }): Promise<MarathonTask[]>
  /** POST /v2/tasks/delete. With `scale` the answer is the deployment that lowers `instances`; without, the tasks killed. */
  killTasks(taskIds: readonly string[], opts?: ForceOption & { scale?: boolean | undefined; wipe?: boolean | undefined }): Promise<{ tasks: MarathonTask[]; deployment?: DeploymentResult }>
  listDeployments(): Promise<MarathonDeployment[]>
  /** DELETE /v2/deployments/{id}: rolls back (answers the rollback deployment) or, with force, just stops (answers undefined). */
  cancelDeployment(id: string, opts?: ForceOption): Promise<DeploymentResult | undefined>
  queue(): Promise<QueueItem[]>
  info(): Promise<MarathonInfo>
  /** GET /v2/eventSubscriptions: the http callback URLs. */
  listEventSubscriptions(): Promise<string[]>
  /** POST /v2/eventSubscriptions: every event is then POSTed to the URL. Answers the subscribe_event. */
  subscribeEvents(callbackUrl: string): Promise<SubscriptionEvent>
  /** DELETE /v2/eventSubscriptions. Answers the unsubscribe_event. */
  unsubscribeEvents(callbackUrl: string): Promise<SubscriptionEvent>
  /** Opens GET /v2/events; resolves once the server has answered, so no later event is missed. */
  openEvents(opts?: { eventTypes?: readonly string[]; signal?: AbortSignal }): Promise<MarathonEventStream>
}

/** subscribe_event and unsubscribe_event, as /v2/eventSubscriptions answers them. */
const SubscriptionEventSchema = z.looseObject({ eventType: z.string(), timestamp: z.string(), clientIp: z.string(), callbackUrl: z.string().nullable() })
export type SubscriptionEvent = z.infer<typeof SubscriptionEventSchema>

export function normalizeBaseUrl(url: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`
  return withScheme.replace(/\/+$/, '')
}

/** /v2/apps + app id; ids are paths, so `web` and `/web` are the same app. */
const appPath = (id: string): string => `/v2/apps/${id.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`
const groupPath = (id: string): string => `/v2/groups/${id.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`
const forceQuery = (o?: ForceOption): string => (o?.force ? '?force=true' : '')

function reasonOf(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (err?.name === 'TimeoutError') return 'timed out'
  const cause = err?.cause
  if (cause?.message) return cause.message
  if (cause?.code) return cause.code
  return err?.message ?? String(e)
}

export function createMarathonClient(opts: MarathonClientOptions): MarathonClient {
  // Several instances of an HA dromos apps (`h1:8080,h2:8081`): any of them answers.
  const instances = createInstances(parseInstanceList(opts.baseUrl, normalizeBaseUrl), opts.fetch ?? fetch)
  const timeoutMs = opts.requestTimeoutMs ?? 30_000

  async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; json: unknown; url: string }> {
    let res: Response
    let baseUrl: string
    try {
      ;({ res, base: baseUrl } = await instances.fetch(
        path,
        () => ({
          method,
          headers: { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: signal ?? AbortSignal.timeout(timeoutMs),
        }),
        method,
      ))
    } catch (e) {
      const u = e as InstanceUnreachable
      throw new MarathonUnreachableError(u.base, reasonOf(u.cause))
    }
    const url = `${baseUrl}${path}`
    let text: string
    try {
      text = await res.text()
    } catch (e) {
      throw new MarathonUnreachableError(baseUrl, reasonOf(e))
    }
    let json: unknown = undefined
    if (text !== '') {
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
    }
    if (!res.ok) {
      const parsed = ErrorBodySchema.safeParse(json)
      const errorBody: MarathonErrorBody = parsed.success
        ? {
            message: parsed.data.message || text.slice(0, 200) || res.statusText,
            ...(parsed.data.details ? { details: parsed.data.details } : {}),
            ...(parsed.data.deployments ? { deployments: parsed.data.deployments } : {}),
          }
        : { message: text.slice(0, 200) || res.statusText }
      throw new MarathonApiError(res.status, errorBody, { method, url })
    }
    return { status: res.status, json, url }
  }

  async function call<T>(schema: z.ZodType<T>, method: string, path: string, body?: unknown): Promise<T> {
    const r = await send(method, path, body)
    const parsed = schema.safeParse(r.json)
    if (!parsed.success) throw new MarathonProtocolError({ method, url: r.url }, parsed.error.issues.map((i) => `${i.path.join('/') || '/'}: ${i.message}`).join('; '))
    return parsed.data
  }

  const query = (params: Array<[string, string | undefined]>): string => {
    const q = new URLSearchParams()
    for (const [k, v] of params) if (v !== undefined) q.append(k, v)
    const s = q.toString()
    return s ? `?${s}` : ''
  }

  return {
    get baseUrl() {
      return instances.current()
    },
    async listApps(o = {}) {
      const q = query([...(o.embed ?? []).map((e): [string, string] => ['embed', e]), ['id', o.id], ['label', o.label]])
      return (await call(z.looseObject({ apps: z.array(AppInfoSchema) }), 'GET', `/v2/apps${q}`)).apps
    },
    async getApp(id) {
      return (await call(z.looseObject({ app: AppInfoSchema }), 'GET', appPath(id))).app
    },
    createApp: (definition, o) => call(AppInfoSchema, 'POST', `/v2/apps${forceQuery(o)}`, definition),
    updateApp: (id, body, o) => call(DeploymentResultSchema, 'PUT', `${appPath(id)}${query([['force', o?.force ? 'true' : undefined], ['partialUpdate', o?.partial === false ? 'false' : undefined]])}`, body),
    putApps: (definitions, o) => call(DeploymentResultSchema, 'PUT', `/v2/apps${query([['force', o?.force ? 'true' : undefined], ['partialUpdate', o?.partial === false ? 'false' : undefined]])}`, definitions),
    deleteApp: (id, o) => call(DeploymentResultSchema, 'DELETE', `${appPath(id)}${forceQuery(o)}`),
    restartApp: (id, o) => call(DeploymentResultSchema, 'POST', `${appPath(id)}/restart${forceQuery(o)}`),
    scaleApp: (id, instances, o) => call(DeploymentResultSchema, 'PUT', `${appPath(id)}${forceQuery(o)}`, { instances }),
    async appVersions(id) {
      return (await call(z.looseObject({ versions: z.array(z.string()) }), 'GET', `${appPath(id)}/versions`)).versions
    },
    appVersion: (id, version) => call(AppInfoSchema, 'GET', `${appPath(id)}/versions/${encodeURIComponent(version)}`),
    getGroup: (id) => call(GroupInfoSchema, 'GET', groupPath(id)),
    createGroup: (group, o) => call(DeploymentResultSchema, 'POST', `/v2/groups${forceQuery(o)}`, group),
    updateGroup: (id, group, o) => call(DeploymentResultSchema, 'PUT', `${groupPath(id)}${forceQuery(o)}`, group),
    async listTasks(o = {}) {
      const statuses = query((o.status ?? []).map((s): [string, string] => ['status', s]))
      const path = o.appId !== undefined ? `${appPath(o.appId)}/tasks` : `/v2/tasks${statuses}`
      return (await call(z.looseObject({ tasks: z.array(TaskSchema) }), 'GET', path)).tasks
    },
    async killTasks(taskIds, o) {
      const r = await call(
        z.union([DeploymentResultSchema, z.looseObject({ tasks: z.array(TaskSchema) })]),
        'POST',
        `/v2/tasks/delete${query([['scale', o?.scale ? 'true' : undefined], ['wipe', o?.wipe ? 'true' : undefined], ['force', o?.force ? 'true' : undefined]])}`,
        { ids: taskIds },
      )
      const deployment = DeploymentResultSchema.safeParse(r)
      if (deployment.success) return { tasks: [], deployment: deployment.data }
      return { tasks: z.array(TaskSchema).parse((r as { tasks: unknown }).tasks) }
    },
    listDeployments: () => call(z.array(DeploymentSchema), 'GET', '/v2/deployments'),
    async cancelDeployment(id, o) {
      const r = await send('DELETE', `/v2/deployments/${encodeURIComponent(id)}${forceQuery(o)}`)
      if (r.status === 202 || r.json === undefined) return undefined
      const parsed = DeploymentResultSchema.safeParse(r.json)
      if (!parsed.success) throw new MarathonProtocolError({ method: 'DELETE', url: r.url }, 'expected {deploymentId, version}')
      return parsed.data
    },
    async queue() {
      return (await call(z.looseObject({ queue: z.array(QueueItemSchema) }), 'GET', '/v2/queue')).queue
    },
    info: () => call(InfoSchema, 'GET', '/v2/info'),
    async listEventSubscriptions() {
      return (await call(z.looseObject({ callbackUrls: z.array(z.string()) }), 'GET', '/v2/eventSubscriptions')).callbackUrls
    },
    subscribeEvents: (callbackUrl) => call(SubscriptionEventSchema, 'POST', `/v2/eventSubscriptions${query([['callbackUrl', callbackUrl]])}`),
    unsubscribeEvents: (callbackUrl) => call(SubscriptionEventSchema, 'DELETE', `/v2/eventSubscriptions${query([['callbackUrl', callbackUrl]])}`),

    async openEvents(o = {}) {
      const controller = new AbortController()
      const onOuterAbort = (): void => controller.abort()
      if (o.signal) {
        if (o.signal.aborted) controller.abort()
        else o.signal.addEventListener('abort', onOuterAbort, { once: true })
      }
      const path = `/v2/events${query((o.eventTypes ?? []).map((t): [string, string] => ['event_type', t]))}`
      let res: Response
      let baseUrl: string
      // Only the time to the response headers is limited; the stream itself lives until closed.
      const connectTimer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs)
      try {
        ;({ res, base: baseUrl } = await instances.fetch(path, () => ({ headers: { Accept: 'text/event-stream' }, signal: controller.signal })))
      } catch (e) {
        o.signal?.removeEventListener('abort', onOuterAbort)
        const u = e as InstanceUnreachable
        throw new MarathonUnreachableError(u.base, reasonOf(controller.signal.reason ?? u.cause))
      } finally {
        clearTimeout(connectTimer)
      }
      const url = `${baseUrl}${path}`
      if (!res.ok || !res.body) {
        const text = await res.text().catch(() => '')
        o.signal?.removeEventListener('abort', onOuterAbort)
        throw new MarathonApiError(res.status, { message: text.slice(0, 200) || res.statusText }, { method: 'GET', url })
      }
      const body = res.body
      const close = (): void => {
        o.signal?.removeEventListener('abort', onOuterAbort)
        controller.abort()
      }
      async function* iterate(): AsyncGenerator<MarathonEvent> {
        const queue: MarathonEvent[] = []
        const parse = createSseParser((f) => {
          try {
            const e = JSON.parse(f.data) as unknown
            if (e && typeof e === 'object' && !Array.isArray(e)) {
              const rec = e as Record<string, unknown>
              queue.push({ ...rec, eventType: typeof rec.eventType === 'string' ? rec.eventType : f.event, timestamp: typeof rec.timestamp === 'string' ? rec.timestamp : '' })
            }
          } catch {
            // A frame that is not JSON is not a Marathon event.
          }
        })
        const decoder = new TextDecoder()
        const reader = body.getReader()
        try {
          for (;;) {
            let chunk: Awaited<ReturnType<typeof reader.read>>
            try {
              chunk = await reader.read()
            } catch (e) {
              if (controller.signal.aborted) return
              throw new MarathonUnreachableError(baseUrl, `event stream broke: ${reasonOf(e)}`)
            }
            if (chunk.done) return
            parse(decoder.decode(chunk.value, { stream: true }))
            while (queue.length > 0) yield queue.shift()!
          }
        } finally {
          close()
          reader.releaseLock()
        }
      }
      const iterator = iterate()
      return { close, [Symbol.asyncIterator]: () => iterator }
    },
  }
}
