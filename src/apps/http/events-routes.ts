// /v2/events (the SSE stream) and /v2/eventSubscriptions (Marathon's http_callback subscriber).
import type { RequestContext } from '../../api/http.js'
import { sendJson } from '../../api/http.js'
import type { EventSubscriptions } from '../event-subscriptions.js'
import { callbackUrlProblem, createEventSubscriptions } from '../event-subscriptions.js'
import type { RouteContext } from './context.js'
import { invalid } from './context.js'

/** Returns the subscriptions, whose deliveries keep running until they are closed. */
export function registerEventRoutes({ router, fw, opts }: RouteContext): EventSubscriptions {
  const { state } = fw
  const { log } = opts

  router.on('GET', '/v2/events', (ctx) => fw.events.serveSse(ctx.req, ctx.res, ctx.url))

  const subscriptions = opts.subscriptions ?? createEventSubscriptions({ state, events: fw.events, log: log.child({ component: 'event-callbacks' }), ...(opts.callbacks ? { delivery: opts.callbacks } : {}) })
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

  return subscriptions
}
