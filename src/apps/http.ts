// Marathon's v2 REST API over the apps framework: Marathon's routes, JSON shapes, error
// bodies and status codes. Each concern's routes live in http/; this file puts them on one
// router with the one error mapper.
import type { Server } from 'node:http'
import type { RequestContext, Router } from '../api/http.js'
import { createRouter, DEFAULT_MAX_BODY_BYTES, listen, readBody, sendJson } from '../api/http.js'
import { MarathonError, parseJsonBody } from './errors.js'
import { registerAppRoutes } from './http/apps-routes.js'
import type { AppsHttpOptions, AppsRouterOptions, RouteContext } from './http/context.js'
import { registerEventRoutes } from './http/events-routes.js'
import { registerGroupRoutes } from './http/groups-routes.js'
import { registerInfoRoutes } from './http/info-routes.js'
import { registerTaskRoutes } from './http/tasks-routes.js'
import { registerUiRoutes } from './http/ui-routes.js'
import { createHttpViews } from './http/views.js'
import { servePods } from './pods-http.js'

export type { AppsHttpOptions } from './http/context.js'
export { MARATHON_VERSION } from './http/info-routes.js'
export { labelMatches, parseLabelSelector } from './label-selector.js'

export interface AppsRouter {
  readonly router: Router
  /** Stops what the routes keep running (callback deliveries). */
  close(): Promise<void>
}

export async function startAppsHttp(opts: AppsHttpOptions): Promise<Server> {
  const { router, close } = createAppsRouter(opts)
  const server = await listen({ router, host: opts.host, port: opts.port, log: opts.log })
  server.on('close', () => void close())
  return server
}

/** The routes of the leading (or only) dromos apps; a standby proxies to them (standby.ts). */
export function createAppsRouter(opts: AppsRouterOptions): AppsRouter {
  const { framework: fw, log } = opts
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
  const routes: RouteContext = {
    router,
    fw,
    opts,
    views: createHttpViews({ framework: fw, now: opts.now }),
    jsonBody: async (ctx: RequestContext): Promise<unknown> => parseJsonBody(await readBody(ctx.req, maxBody)),
  }

  registerAppRoutes(routes)
  registerGroupRoutes(routes)
  registerTaskRoutes(routes)
  const subscriptions = registerEventRoutes(routes)
  registerInfoRoutes(routes, subscriptions)
  servePods(router)
  registerUiRoutes(routes)
  // Subscriptions handed in are the caller's to close.
  return { router, close: () => (opts.subscriptions ? Promise.resolve() : subscriptions.close()) }
}
