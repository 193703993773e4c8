// Marathon's v2 REST API over the apps framework: Marathon's routes, JSON shapes, error
// bodies and status codes.
import type { Server } from 'node:http'
import type { Logger } from 'pino'
import type { RequestContext } from '../api/http.js'
import { createRouter, DEFAULT_MAX_BODY_BYTES, listen, readBody, sendJson, sendText } from '../api/http.js'
import { relayGet, serveWebUi } from '../api/web-ui.js'
import { NotFoundError } from '../core/errors.js'
import { AppValidationError, MarathonError, parseJsonBody } from './errors.js'
import type { AppsFramework } from './framework.js'
import { appToJson } from './app-json.js'
import type { InstanceForStats } from './app-info.js'
import { AppEmbed, GroupEmbed, resolveAppEmbeds, resolveGroupEmbeds, taskCounts, taskStatsByVersion } from './app-info.js'
import { endpointsText, parseContainerNetworks, prefersText } from './endpoints-text.js'
import type { CallbackDeliveryOptions } from './event-subscriptions.js'
import { callbackUrlProblem, createEventSubscriptions } from './event-subscriptions.js'
import { normalizeGroup } from './groups.js'
import { parseAppId } from './ids.js'
import { normalizeApp } from './normalize-app.js'
import { marathonOfferJson, offersSummary } from './offer-stats.js'
import type { DeploymentRecord } from './state.js'
import type { AppDefinition, Instance } from './types.js'

export const MARATHON_VERSION = '1.11.0'

export interface AppsHttpOptions {
  readonly framework: AppsFramework
  readonly log: Logger
  readonly host: string
  readonly port: number
  readonly master: string
  readonly hostname: string
  readonly maxBodyBytes?: number
  readonly now: () => Date
  /** Serves the web UI's static files, when there is one. */
  readonly staticDir?: string
  /** How events reach the /v2/eventSubscriptions callback URLs. */
  readonly callbacks?: Omit<CallbackDeliveryOptions, 'log'>
}

const bool = (v: string | null): boolean => v === 'true' || v === '1' || v === ''


export async function startAppsHttp(opts: AppsHttpOptions): Promise<Server> {
  const { framework: fw, log } = opts
  const { state } = fw
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const router = createRouter({
    log,
    // The one error mapper of the Marathon API: every error carries its body or gets {message}.
    onError: (e, ctx) => {
      if (e instanceof MarathonError) return sendJson(ctx.res, e.status, e.body)
      if (e.status >= 500) return sendJson(ctx.res, e.status, { message: 'An unexpected server error occurred' })
      sendJson(ctx.res, e.status, { message: e.message })
    },
  })

  const jsonBody = async (ctx: RequestContext): Promise<unknown> => parseJsonBody(await readBody(ctx.req, maxBody))

  function invalid(details: Array<{ path: string; errors: string[] }>): never {
    throw new AppValidationError(details)
  }

  function parseApp(raw: unknown, extra: { existing?: AppDefinition; partial?: boolean; idFromPath?: string } = {}): AppDefinition {
    const r = normalizeApp(raw, { now: opts.now().toISOString(), ...extra })
    if (!r.ok) invalid(r.details)
    return r.app
  }

  // ---- JSON views ----

  /** task.raml Task: what Marathon writes of an instance, and nothing more. */
  function taskJson(i: Instance): Record<string, unknown> {
    return {
      id: i.taskId,
      appId: i.appId,
      host: i.host,
      ports: i.hostPorts,
      servicePorts: i.servicePorts,
      slaveId: i.agentId,
      state: i.mesosState,
      stagedAt: i.stagedAt,
      ...(i.startedAt ? { startedAt: i.startedAt } : {}),
      version: i.version,
      ipAddresses: i.ipAddresses,
      localVolumes: [],
      healthCheckResults: fw.healthResultsOf(i.instanceId),
      // Marathon 1.9+ names the role the task's resources were reserved for.
      role: state.apps.get(i.appId)?.role ?? '*',
    }
  }

  function liveInstances(appId: string): Instance[] {
    return state.instancesOf(appId).filter((i) => i.condition !== 'Provisioned' || i.goal === 'Running')
  }

  function forStats(app: AppDefinition, i: Instance): InstanceForStats {
    const health = app.healthChecks.length > 0 && i.healthy !== undefined ? [i.healthy] : []
    return { version: i.version, condition: i.condition, health, ...(i.startedAt ? { startedAt: i.startedAt } : {}) }
  }

  /** app.raml AppInfo: the app with what `embed` asks for (see resolveAppEmbeds). */
  function appView(app: AppDefinition, embed: ReadonlySet<AppEmbed>): Record<string, unknown> {
    const instances = liveInstances(app.id)
    const out: Record<string, unknown> = { ...appToJson(app) }
    if (embed.has(AppEmbed.Counts)) {
      const c = taskCounts(instances.map((i) => forStats(app, i)))
      Object.assign(out, { tasksStaged: c.staged, tasksRunning: c.running, tasksHealthy: c.healthy, tasksUnhealthy: c.unhealthy })
    }
    if (embed.has(AppEmbed.Deployments)) out.deployments = fw.deploymentsOf(app.id).map((d) => ({ id: d.id }))
    if (embed.has(AppEmbed.Readiness)) out.readinessCheckResults = fw.readinessResultsOf(app.id)
    if (embed.has(AppEmbed.Tasks)) out.tasks = instances.map(taskJson)
    const failure = state.lastFailures.get(app.id)
    if (embed.has(AppEmbed.LastTaskFailure) && failure) out.lastTaskFailure = failure
    // Marathon 1.9+ writes the statistics as `tasksStats`, the name its RAML gives them.
    if (embed.has(AppEmbed.TaskStats)) out.tasksStats = taskStatsByVersion(app.versionInfo, instances.map((i) => forStats(app, i)), opts.now().getTime())
    return out
  }

  const embedParams = (url: URL): string[] => url.searchParams.getAll('embed')

  function deploymentJson(d: DeploymentRecord): Record<string, unknown> {
    const step = d.steps[d.currentStep]
    return {
      id: d.id,
      version: d.version,
      affectedApps: d.affectedApps,
      affectedPods: [],
      steps: d.steps,
      currentActions: (step?.actions ?? []).map((a) => ({ action: a.action, app: a.app, readinessCheckResults: fw.readinessResultsOf(a.app) })),
      currentStep: Math.min(d.currentStep + 1, d.steps.length),
      totalSteps: d.steps.length,
    }
  }

  const deployed = (d: DeploymentRecord) => ({ version: d.version, deploymentId: d.id })

  function appIdFrom(ctx: RequestContext, suffix = ''): string {
    // Ids are paths: /v2/apps//a/b and /v2/apps/a/b name the same app.
    let path = ctx.url.pathname.slice('/v2/apps'.length)
    if (suffix && path.endsWith(suffix)) path = path.slice(0, -suffix.length)
    return parseAppId(decodeURIComponent(path))
  }

  function requireApp(id: string): AppDefinition {
    const app = state.apps.get(id)
    if (!app) throw new MarathonError(404, `App '${id}' does not exist`)
    return app
  }

  function apiPost(ctx: RequestContext, app: AppDefinition | undefined): void {
    fw.events.publish('api_post_event', { clientIp: ctx.req.socket.remoteAddress ?? '', uri: ctx.url.pathname, appDefinition: app ? appToJson(app) : {} })
  }

  const force = (ctx: RequestContext): boolean => bool(ctx.url.searchParams.get('force'))

  /** ?scale, ?wipe and ?force of the task-kill endpoints; scale and wipe exclude each other, as in Marathon. */
  function killFlags(ctx: RequestContext): { scale: boolean; wipe: boolean; force: boolean } {
    const scale = bool(ctx.url.searchParams.get('scale'))
    const wipe = bool(ctx.url.searchParams.get('wipe'))
    if (scale && wipe) throw new MarathonError(400, 'You cannot use scale and wipe at the same time.')
    return { scale, wipe, force: force(ctx) }
  }

  // ---- /v2/apps ----

  router.on('GET', '/v2/apps', (ctx) => {
    const q = ctx.url.searchParams
    // Marathon always embeds the counts and deployments in the list (AppsResource.index).
    const embed = new Set([...resolveAppEmbeds(embedParams(ctx.url)), AppEmbed.Counts, AppEmbed.Deployments])
    const cmd = q.get('cmd')
    const idPart = q.get('id')
    const label = q.get('label')
    let apps = [...state.apps.values()].sort((a, b) => a.id.localeCompare(b.id))
    // Marathon matches cmd and id case-insensitively (AppsResource.search).
    if (cmd) apps = apps.filter((a) => a.cmd !== undefined && a.cmd.toLowerCase().includes(cmd.toLowerCase()))
    if (idPart) apps = apps.filter((a) => a.id.toLowerCase().includes(idPart.toLowerCase()))
    if (label) {
      let selectors: LabelSelector[]
      try {
        selectors = parseLabelSelector(label)
      } catch (e) {
        throw new MarathonError(422, (e as Error).message)
      }
      apps = apps.filter((a) => labelMatches(a.labels, selectors))
    }
    sendJson(ctx.res, 200, { apps: apps.map((a) => appView(a, embed)) })
  })

  router.on('POST', '/v2/apps', async (ctx) => {
    const app = parseApp(await jsonBody(ctx))
    if (state.apps.has(app.id)) throw new MarathonError(409, `An app with id [${app.id}] already exists.`)
    if (groupIds().has(app.id)) throw new MarathonError(409, `A group with id [${app.id}] already exists.`)
    const d = await fw.deploy({ put: [app], remove: [] }, { force: force(ctx) })
    const stored = state.apps.get(app.id)!
    apiPost(ctx, stored)
    // As Marathon answers a create: zero counts, no tasks yet, the deployment that starts it.
    const created = { ...appToJson(stored), tasksStaged: 0, tasksRunning: 0, tasksHealthy: 0, tasksUnhealthy: 0, tasks: [], deployments: [{ id: d.id }] }
    sendJson(ctx.res, 201, created, { Location: `/v2/apps${app.id}` })
  })

  router.on('PUT', '/v2/apps', async (ctx) => {
    const raw = await jsonBody(ctx)
    if (!Array.isArray(raw)) invalid([{ path: '/', errors: ['error.expected.jsarray'] }])
    const partial = ctx.url.searchParams.get('partialUpdate') !== 'false'
    const put = (raw as unknown[]).map((item, i) => {
      const id = typeof item === 'object' && item && 'id' in item ? parseAppId(String((item as { id: unknown }).id)) : undefined
      const existing = id ? state.apps.get(id) : undefined
      const r = normalizeApp(item, { now: opts.now().toISOString(), ...(existing ? { existing, partial } : {}) })
      if (!r.ok) invalid(r.details.map((d) => ({ ...d, path: `(${i})${d.path}` })))
      return r.app
    })
    const d = await fw.deploy({ put, remove: [] }, { force: force(ctx) })
    sendJson(ctx.res, 200, deployed(d))
  })

  // /v2/apps/{id}/... routes: the id may hold slashes, so match on the suffix.
  const appRoute = async (ctx: RequestContext): Promise<void> => {
    const path = ctx.url.pathname
    const m = ctx.req.method ?? 'GET'
    const taskMatch = /^(.*)\/tasks\/([^/]+)$/.exec(path.slice('/v2/apps'.length))
    if (taskMatch && m === 'DELETE') {
      const appId = parseAppId(decodeURIComponent(taskMatch[1]!))
      requireApp(appId)
      const taskId = decodeURIComponent(taskMatch[2]!)
      const inst = state.instancesOf(appId).find((i) => i.taskId === taskId || i.instanceId === taskId)
      if (!inst) throw new MarathonError(404, `Task '${taskId}' does not exist`)
      const r = await fw.killInstances([inst.instanceId], killFlags(ctx))
      return r.deployment ? sendJson(ctx.res, 200, deployed(r.deployment)) : sendJson(ctx.res, 200, { task: taskJson(inst) })
    }
    if (path.endsWith('/tasks')) {
      const appId = appIdFrom(ctx, '/tasks')
      const app = requireApp(appId)
      if (m === 'GET' && prefersText(ctx.req.headers.accept)) return sendTasksText(ctx, [app])
      if (m === 'GET') return sendJson(ctx.res, 200, { tasks: liveInstances(appId).map(taskJson) })
      if (m === 'DELETE') {
        const host = ctx.url.searchParams.get('host')
        const targets = liveInstances(appId).filter((i) => !host || i.host === host)
        const r = await fw.killInstances(targets.map((i) => i.instanceId), killFlags(ctx))
        return r.deployment ? sendJson(ctx.res, 200, deployed(r.deployment)) : sendJson(ctx.res, 200, { tasks: targets.map(taskJson) })
      }
    }
    if (path.endsWith('/restart') && m === 'POST') {
      const appId = appIdFrom(ctx, '/restart')
      requireApp(appId)
      const d = await fw.deploy({ put: [], remove: [], restart: [appId] }, { force: force(ctx) })
      return sendJson(ctx.res, 200, deployed(d))
    }
    const versionMatch = /^(.*)\/versions(?:\/([^/]+))?$/.exec(path.slice('/v2/apps'.length))
    if (versionMatch && m === 'GET') {
      const appId = parseAppId(decodeURIComponent(versionMatch[1]!))
      requireApp(appId)
      if (!versionMatch[2]) return sendJson(ctx.res, 200, { versions: await state.versions(appId) })
      const v = await state.version(appId, decodeURIComponent(versionMatch[2]))
      if (!v) throw new MarathonError(404, `App '${appId}' does not exist in version ${versionMatch[2]}`)
      return sendJson(ctx.res, 200, appToJson(v))
    }
    const appId = appIdFrom(ctx)
    switch (m) {
      case 'GET': {
        const app = requireApp(appId)
        // AppsResource.show always embeds the counts, tasks, last failure and deployments.
        const embed = new Set([...resolveAppEmbeds(embedParams(ctx.url)), AppEmbed.Counts, AppEmbed.Tasks, AppEmbed.LastTaskFailure, AppEmbed.Deployments])
        return sendJson(ctx.res, 200, { app: appView(app, embed) })
      }
      case 'PUT':
      case 'PATCH': {
        const raw = await jsonBody(ctx)
        const existing = state.apps.get(appId)
        const partial = m === 'PATCH' || ctx.url.searchParams.get('partialUpdate') !== 'false'
        const rollbackTo = await rollbackDefinition(appId, raw)
        const app = rollbackTo
          ? parseApp({ ...rollbackTo, id: appId }, { idFromPath: appId, ...(existing ? { existing, partial: false } : {}) })
          : parseApp(raw, { idFromPath: appId, ...(existing ? { existing, partial } : {}) })
        if (app.id !== appId) invalid([{ path: '/id', errors: [`The id in the body (${app.id}) does not match the path (${appId})`] }])
        const d = await fw.deploy({ put: [app], remove: [] }, { force: force(ctx) })
        apiPost(ctx, state.apps.get(appId))
        return sendJson(ctx.res, existing ? 200 : 201, deployed(d), existing ? {} : { Location: `/v2/apps${appId}` })
      }
      case 'DELETE': {
        requireApp(appId)
        const d = await fw.deploy({ put: [], remove: [appId] }, { force: force(ctx) })
        return sendJson(ctx.res, 200, deployed(d))
      }
      default:
        throw new MarathonError(405, `Method ${m} is not allowed on ${path}`)
    }
  }
  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'POST']) router.onPrefix(method, '/v2/apps/', appRoute)

  /**
   * `{"version": v}` (with at most the app's id) rolls the app back: the definition it had at
   * version v becomes a new version. Undefined when the body is an ordinary update.
   */
  async function rollbackDefinition(appId: string, raw: unknown): Promise<Record<string, unknown> | undefined> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !('version' in raw)) return undefined
    const { version, id: _id, ...others } = raw as Record<string, unknown>
    if (version === undefined || version === null) return undefined
    if (typeof version !== 'string') invalid([{ path: '/version', errors: ['error.expected.jsstring'] }])
    if (Object.keys(others).length > 0) invalid([{ path: '/version', errors: ['not allowed in conjunction with other properties.'] }])
    const old = await state.version(appId, version as string)
    if (!old) throw new MarathonError(404, `App '${appId}' does not exist in version ${version as string}`)
    const { version: _v, versionInfo: _vi, ...config } = appToJson(old) as unknown as Record<string, unknown>
    return config
  }

  // ---- /v2/groups ----

  function groupIds(): Set<string> {
    const out = new Set<string>(['/'])
    for (const id of state.groups.keys()) {
      const parts = id.split('/').filter(Boolean)
      for (let i = 1; i <= parts.length; i++) out.add('/' + parts.slice(0, i).join('/'))
    }
    for (const id of state.apps.keys()) {
      const parts = id.split('/').filter(Boolean)
      for (let i = 1; i < parts.length; i++) out.add('/' + parts.slice(0, i).join('/'))
    }
    return out
  }

  /** group.raml GroupInfo: id, dependencies and version, then what the embeds ask for. */
  function groupJson(id: string, embed: { apps: ReadonlySet<AppEmbed>; group: ReadonlySet<GroupEmbed> }): Record<string, unknown> {
    const prefix = id === '/' ? '/' : `${id}/`
    const apps = [...state.apps.values()].filter((a) => a.id.startsWith(prefix) && !a.id.slice(prefix.length).includes('/'))
    const children = [...groupIds()].filter((g) => g !== id && g.startsWith(prefix) && !g.slice(prefix.length).includes('/'))
    const versions = [...state.apps.values()].filter((a) => a.id.startsWith(prefix)).map((a) => a.version).sort()
    return {
      id,
      dependencies: [...(state.groups.get(id)?.dependencies ?? [])],
      version: versions[versions.length - 1] ?? opts.now().toISOString(),
      ...(embed.group.has(GroupEmbed.Apps) ? { apps: apps.sort((a, b) => a.id.localeCompare(b.id)).map((a) => appView(a, embed.apps)) } : {}),
      ...(embed.group.has(GroupEmbed.Groups) ? { groups: children.sort().map((g) => groupJson(g, embed)) } : {}),
      ...(embed.group.has(GroupEmbed.Pods) ? { pods: [] } : {}),
    }
  }

  const groupRoute = async (ctx: RequestContext): Promise<void> => {
    const m = ctx.req.method ?? 'GET'
    const rawId = decodeURIComponent(ctx.url.pathname.slice('/v2/groups'.length)) || '/'
    const id = parseAppId(rawId)
    const prefix = id === '/' ? '/' : `${id}/`
    if (m === 'GET') {
      if (!groupIds().has(id)) throw new MarathonError(404, `Group '${id}' does not exist`)
      return sendJson(ctx.res, 200, groupJson(id, resolveGroupEmbeds(embedParams(ctx.url))))
    }
    if (m === 'DELETE') {
      if (!groupIds().has(id)) throw new MarathonError(404, `Group '${id}' does not exist`)
      const remove = [...state.apps.keys()].filter((a) => a.startsWith(prefix))
      const removeGroups = [...state.groups.keys()].filter((g) => g === id || g.startsWith(prefix))
      const d = await fw.deploy({ put: [], remove, removeGroups }, { force: force(ctx) })
      return sendJson(ctx.res, 200, deployed(d))
    }
    if (m === 'POST' || m === 'PUT') {
      const raw = await jsonBody(ctx)
      const base = m === 'POST' ? id : id
      const r = normalizeGroup(raw, { now: opts.now().toISOString(), base, existing: state.apps })
      if (!r.ok) invalid(r.details)
      if (m === 'POST' && groupIds().has(r.groupId) && r.groupId !== '/') throw new MarathonError(409, `Group ${r.groupId} is already created. Use PUT to change this group.`)
      // Versions are kept per app, not per group: a group cannot be rolled back as a whole.
      if (r.version !== undefined) {
        throw new MarathonError(404, `Group '${r.groupId}' has no version ${r.version}: group versions are not kept; roll each app back with PUT /v2/apps/{id} and {"version": ...}`)
      }
      const inGroup = r.groupId === '/' ? '/' : `${r.groupId}/`
      // A PUT of a group replaces what the group holds: apps no longer named are removed.
      const remove = m === 'PUT' && r.apps.length > 0 ? [...state.apps.keys()].filter((a) => a.startsWith(inGroup) && !r.apps.some((x) => x.id === a)) : []
      const put = r.scaleBy !== undefined ? [...state.apps.values()].filter((a) => a.id.startsWith(inGroup)).map((a) => ({ ...a, instances: Math.ceil(a.instances * r.scaleBy!) })) : r.apps
      // The body's groups (with their dependencies) are stored; a PUT replaces the groups below it.
      const putGroups = r.scaleBy !== undefined || r.version !== undefined ? [] : r.groups
      const removeGroups =
        m === 'PUT' && putGroups.length > 0 ? [...state.groups.keys()].filter((g) => (g === r.groupId || g.startsWith(inGroup)) && !putGroups.some((x) => x.id === g)) : []
      const d = await fw.deploy({ put, remove, putGroups, removeGroups }, { force: force(ctx) })
      return sendJson(ctx.res, m === 'POST' ? 201 : 200, deployed(d))
    }
    throw new MarathonError(405, `Method ${m} is not allowed on ${ctx.url.pathname}`)
  }
  for (const method of ['GET', 'PUT', 'POST', 'DELETE']) {
    router.on(method, '/v2/groups', groupRoute)
    router.onPrefix(method, '/v2/groups/', groupRoute)
  }

  // ---- deployments, tasks, queue ----

  router.on('GET', '/v2/deployments', (ctx) => sendJson(ctx.res, 200, [...state.deployments.values()].map(deploymentJson)))
  router.on('DELETE', '/v2/deployments/:id', async (ctx) => {
    const id = ctx.params.id!
    if (!state.deployments.has(id)) throw new MarathonError(404, `DeploymentPlan ${id} does not exist`)
    const rollback = await fw.cancelDeployment(id, force(ctx))
    if (!rollback) {
      ctx.res.writeHead(202, { 'Content-Length': 0 })
      ctx.res.end()
      return
    }
    sendJson(ctx.res, 200, deployed(rollback))
  })

  router.on('GET', '/v2/tasks', (ctx) => {
    // Marathon takes ?status= and ?status[]=, and knows only running and staging; other values are ignored.
    const statuses: string[] = [...ctx.url.searchParams.getAll('status'), ...ctx.url.searchParams.getAll('status[]')]
      .map((s) => s.toLowerCase())
      .filter((s) => s === 'running' || s === 'staging')
    const stateOf = (i: Instance): string => (i.condition === 'Running' ? 'running' : ['Provisioned', 'Staging', 'Starting'].includes(i.condition) ? 'staging' : i.condition.toLowerCase())
    const tasks = [...state.instances.values()].filter((i) => statuses.length === 0 || statuses.includes(stateOf(i)))
    if (prefersText(ctx.req.headers.accept)) return sendTasksText(ctx, [...state.apps.values()].sort((a, b) => a.id.localeCompare(b.id)))
    sendJson(ctx.res, 200, { tasks: tasks.map(taskJson) })
  })
  function sendTasksText(ctx: RequestContext, apps: AppDefinition[]): void {
    const containerNetwork = parseContainerNetworks(ctx.url.searchParams.get('containerNetworks'))
    sendText(ctx.res, 200, endpointsText({ apps, instancesOf: (id) => state.instancesOf(id), containerNetwork }), { 'Content-Type': 'text/plain' })
  }
  router.on('POST', '/v2/tasks/delete', async (ctx) => {
    const body = await jsonBody(ctx)
    const ids = (body as { ids?: unknown }).ids
    if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) invalid([{ path: '/ids', errors: ['error.expected.jsarray of strings'] }])
    const found = (ids as string[]).flatMap((id) => {
      const i = state.byTaskId(id) ?? state.instances.get(id)
      return i ? [i] : []
    })
    const r = await fw.killInstances(found.map((i) => i.instanceId), killFlags(ctx))
    if (r.deployment) return sendJson(ctx.res, 200, deployed(r.deployment))
    sendJson(ctx.res, 200, { tasks: found.map(taskJson) })
  })

  router.on('GET', '/v2/queue', (ctx) => {
    const now = opts.now().getTime()
    // Marathon lists the last unused offers only when asked: ?embed=lastUnusedOffers.
    const withOffers = ctx.url.searchParams.getAll('embed').includes('lastUnusedOffers')
    sendJson(ctx.res, 200, {
      queue: fw.queue().map((q) => ({
        // queue.raml QueueApp: the plain definition, without counts.
        app: appToJson(q.app),
        count: q.count,
        delay: { timeLeftSeconds: q.delay ? Math.max(0, Math.ceil((q.delay.until - now) / 1000)) : 0, overdue: !q.delay },
        since: new Date(q.offers?.since ?? Date.parse(q.app.version)).toISOString(),
        processedOffersSummary: offersSummary(q.offers),
        ...(withOffers
          ? { lastUnusedOffers: (q.offers?.lastUnused ?? []).map((u) => ({ offer: marathonOfferJson(u.offer), reason: [...u.reason], timestamp: new Date(u.at).toISOString() })) }
          : {}),
      })),
    })
  })
  router.onPrefix('DELETE', '/v2/queue/', async (ctx) => {
    const m = /^\/v2\/queue\/(.+)\/delay$/.exec(ctx.url.pathname)
    if (!m) throw new NotFoundError('Not found')
    const appId = parseAppId(decodeURIComponent(m[1]!))
    // Only an app waiting to launch instances is in the queue (QueueResource.resetDelay).
    if (!fw.queue().some((q) => q.app.id === appId)) throw new MarathonError(404, `Application ${appId} not found in tasks queue.`)
    await fw.resetDelay(appId)
    ctx.res.writeHead(204)
    ctx.res.end()
  })

  // ---- info, leader, events, ping, metrics ----

  const leader = `${opts.hostname}:${opts.port}`
  router.on('GET', '/v2/info', (ctx) =>
    sendJson(ctx.res, 200, {
      name: 'marathon',
      version: MARATHON_VERSION,
      buildref: 'dromos',
      elected: true,
      leader,
      frameworkId: fw.frameworkId() ?? null,
      marathon_config: {
        master: opts.master,
        framework_name: 'marathon',
        hostname: opts.hostname,
        failover_timeout: 604800,
        features: [],
        mesos_role: '*',
        task_launch_timeout: 300000,
        // Marathon's defaults; dromos expunges lost tasks by their unreachableStrategy alone.
        task_lost_expunge_initial_delay: 300000,
        task_lost_expunge_interval: 30000,
      },
      // No ZooKeeper: the state is in dromos' own store.
      zookeeper_config: {},
      http_config: { http_port: opts.port, https_port: 8443 },
    }),
  )
  router.on('GET', '/v2/leader', (ctx) => sendJson(ctx.res, 200, { leader }))
  router.on('GET', '/v2/events', (ctx) => fw.events.serveSse(ctx.req, ctx.res, ctx.url))

  // ---- event subscriptions (Marathon's http_callback subscriber) ----

  const subscriptions = createEventSubscriptions({ state, events: fw.events, log: log.child({ component: 'event-callbacks' }), ...(opts.callbacks ? { delivery: opts.callbacks } : {}) })
  const clientIp = (ctx: RequestContext): string => ctx.req.socket.remoteAddress ?? ''
  router.on('GET', '/v2/eventSubscriptions', (ctx) => sendJson(ctx.res, 200, { callbackUrls: subscriptions.list() }))
  router.on('POST', '/v2/eventSubscriptions', async (ctx) => {
    const callbackUrl = ctx.url.searchParams.get('callbackUrl')
    const problem = callbackUrlProblem(callbackUrl)
    if (problem !== undefined) invalid([{ path: '/', errors: [problem] }])
    sendJson(ctx.res, 200, await subscriptions.subscribe(clientIp(ctx), callbackUrl!))
  })
  router.on('DELETE', '/v2/eventSubscriptions', async (ctx) => {
    sendJson(ctx.res, 200, await subscriptions.unsubscribe(clientIp(ctx), ctx.url.searchParams.get('callbackUrl')))
  })

  router.on('GET', '/ping', (ctx) => sendText(ctx.res, 200, 'pong'))
  router.on('GET', '/metrics', (ctx) => {
    const instances = [...state.instances.values()]
    const callbacks = subscriptions.stats()
    const gauges: Record<string, { value: number }> = {
      'marathon.apps.active.gauge': { value: state.apps.size },
      'marathon.deployments.active.gauge': { value: state.deployments.size },
      'marathon.instances.running.gauge': { value: instances.filter((i) => i.condition === 'Running').length },
      'marathon.instances.staged.gauge': { value: instances.filter((i) => ['Provisioned', 'Staging', 'Starting'].includes(i.condition)).length },
      'marathon.instances.launch-overdue.gauge': { value: fw.queue().reduce((n, q) => n + q.count, 0) },
      'marathon.http.event-streams.active.gauge': { value: fw.events.subscriberCount() },
      'marathon.mesos.connected.gauge': { value: fw.connected() ? 1 : 0 },
      'marathon.http.event-callbacks.subscribers.gauge': { value: subscriptions.list().length },
      'marathon.http.event-callbacks.queued.gauge': { value: callbacks.queued },
    }
    const counters: Record<string, { count: number }> = {
      'marathon.http.event-callbacks.delivered.counter': { count: callbacks.delivered },
      'marathon.http.event-callbacks.failed.counter': { count: callbacks.failed },
      'marathon.http.event-callbacks.dropped.counter': { count: callbacks.dropped },
    }
    sendJson(ctx.res, 200, { version: '4.0.0', gauges, counters, histograms: {}, meters: {}, timers: {} })
  })

  // ---- web UI: its cluster page reads the master's state through here ----
  for (const what of ['state', 'roles']) router.on('GET', `/dromos/master/${what}`, (ctx) => relayGet(ctx, `${opts.master}/master/${what}`))
  serveWebUi(router, opts.staticDir)

  const server = await listen({ router, host: opts.host, port: opts.port, log })
  server.on('close', () => void subscriptions.close())
  return server
}

interface LabelSelector {
  key: string
  test: (value: string) => boolean
}

/**
 * Parses Marathon's label selector (api/v2/LabelSelector.scala): comma-separated `key`,
 * `key==value`, `key!=value`, `key in (a, b)`, `key notin (a, b)`. A term is made of
 * [A-Za-z0-9._-]; any other character is escaped with a backslash. Throws on bad syntax.
 */
export function parseLabelSelector(input: string): LabelSelector[] {
  let pos = 0
  const ws = (): void => {
    while (pos < input.length && /\s/.test(input[pos]!)) pos++
  }
  const fail = (): never => {
    throw new Error(`Can not parse label selector ${input}. Reason: unexpected input at position ${pos}`)
  }
  const term = (): string => {
    ws()
    let out = ''
    while (pos < input.length) {
      const c = input[pos]!
      if (c === '\\' && pos + 1 < input.length) {
        out += input[pos + 1]
        pos += 2
      } else if (/[-A-Za-z0-9_.]/.test(c)) {
        out += c
        pos++
      } else break
    }
    if (out === '') fail()
    return out
  }
  const selectors: LabelSelector[] = []
  ws()
  if (pos === input.length) return selectors
  for (;;) {
    const key = term()
    ws()
    const rest = input.slice(pos)
    const setOp = /^(notin|in)\s*\(/.exec(rest)
    if (setOp) {
      pos += setOp[0].length
      const values: string[] = []
      ws()
      if (input[pos] !== ')') {
        for (;;) {
          values.push(term())
          ws()
          if (input[pos] === ',') pos++
          else break
        }
      }
      ws()
      if (input[pos] !== ')') fail()
      pos++
      const notin = setOp[1] === 'notin'
      selectors.push({ key, test: (v) => values.includes(v) !== notin })
    } else if (rest.startsWith('==') || rest.startsWith('!=')) {
      const equal = rest.startsWith('==')
      pos += 2
      const value = term()
      selectors.push({ key, test: (v) => (v === value) === equal })
    } else selectors.push({ key, test: () => true })
    ws()
    if (pos === input.length) return selectors
    if (input[pos] !== ',') fail()
    pos++
  }
}

/** Whether every selector holds; as in Marathon, each one needs its label to be present. */
export function labelMatches(labels: Readonly<Record<string, string>>, selector: string | readonly LabelSelector[]): boolean {
  const parsed = typeof selector === 'string' ? parseLabelSelector(selector) : selector
  return parsed.every((s) => Object.prototype.hasOwnProperty.call(labels, s.key) && s.test(labels[s.key]!))
}

