// /v2/apps: listing, creating, updating (and rolling back), restarting and removing apps, and
// the tasks and versions of one app.
import type { RequestContext } from '../../api/http.js'
import { sendJson } from '../../api/http.js'
import { AppEmbed, resolveAppEmbeds } from '../app-info.js'
import { appToJson } from '../app-json.js'
import { prefersText } from '../endpoints-text.js'
import { MarathonError } from '../errors.js'
import { existingGroupIds } from '../groups.js'
import { parentId, parseAppId } from '../ids.js'
import type { LabelSelector } from '../label-selector.js'
import { labelMatches, parseLabelSelector } from '../label-selector.js'
import { normalizeApp } from '../normalize-app.js'
import type { AppDefinition } from '../types.js'
import type { RouteContext } from './context.js'
import { deployed, embedParams, force, invalid, killFlags } from './context.js'

export function registerAppRoutes({ router, fw, opts, views, jsonBody }: RouteContext): void {
  const { state } = fw
  const { taskJson, liveInstances, appView, sendTasksText } = views

  function parseApp(raw: unknown, extra: { existing?: AppDefinition; partial?: boolean; idFromPath?: string } = {}): AppDefinition {
    const r = normalizeApp(raw, { now: opts.now().toISOString(), ...extra })
    if (!r.ok) invalid(r.details)
    return r.app
  }

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
    if (app) fw.events.publish('api_post_event', { clientIp: ctx.req.socket.remoteAddress ?? '', uri: ctx.url.pathname, appDefinition: appToJson(app) })
  }


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
    if (existingGroupIds(state.groups.keys(), state.apps.keys()).has(app.id)) throw new MarathonError(409, `A group with id [${app.id}] already exists.`)
    const d = await fw.deploy({ put: [app], remove: [], groupId: parentId(app.id) }, { force: force(ctx) })
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
    // Every app is checked, and every error of every app is reported at once.
    const put: AppDefinition[] = []
    const errors: Array<{ path: string; errors: string[] }> = []
    ;(raw as unknown[]).forEach((item, i) => {
      const id = typeof item === 'object' && item && 'id' in item ? parseAppId(String((item as { id: unknown }).id)) : undefined
      const existing = id ? state.apps.get(id) : undefined
      const r = normalizeApp(item, { now: opts.now().toISOString(), ...(existing ? { existing, partial } : {}) })
      if (r.ok) put.push(r.app)
      else errors.push(...r.details.map((d) => ({ ...d, path: `(${i})${d.path}` })))
    })
    if (errors.length > 0) invalid(errors)
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
      const d = await fw.deploy({ put: [], remove: [], restart: [appId], groupId: parentId(appId) }, { force: force(ctx) })
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
        const d = await fw.deploy({ put: [app], remove: [], groupId: parentId(appId) }, { force: force(ctx) })
        apiPost(ctx, state.apps.get(appId))
        return sendJson(ctx.res, existing ? 200 : 201, deployed(d), existing ? {} : { Location: `/v2/apps${appId}` })
      }
      case 'DELETE': {
        requireApp(appId)
        const d = await fw.deploy({ put: [], remove: [appId], groupId: parentId(appId) }, { force: force(ctx) })
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
}
