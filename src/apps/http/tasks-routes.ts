// /v2/deployments, /v2/tasks and /v2/queue: what is running, what is changing, and what waits
// to launch.
import { NotFoundError } from '../../core/errors.js'
import { sendJson } from '../../api/http.js'
import { appToJson } from '../app-json.js'
import { prefersText } from '../endpoints-text.js'
import { MarathonError } from '../errors.js'
import { parseAppId } from '../ids.js'
import { marathonOfferJson, offersSummary } from '../offer-stats.js'
import type { Instance } from '../types.js'
import { LAUNCHING } from '../types.js'
import type { RouteContext } from './context.js'
import { deployed, force, invalid, killFlags } from './context.js'

export function registerTaskRoutes({ router, fw, opts, views, jsonBody }: RouteContext): void {
  const { state } = fw
  const { taskJson, deploymentJson, sendTasksText } = views

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
    const stateOf = (i: Instance): string => (i.condition === 'Running' ? 'running' : LAUNCHING.has(i.condition) ? 'staging' : i.condition.toLowerCase())
    const tasks = [...state.instances.values()].filter((i) => statuses.length === 0 || statuses.includes(stateOf(i)))
    if (prefersText(ctx.req.headers.accept)) return sendTasksText(ctx, [...state.apps.values()].sort((a, b) => a.id.localeCompare(b.id)))
    sendJson(ctx.res, 200, { tasks: tasks.map(taskJson) })
  })
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
}
