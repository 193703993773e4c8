// A master that does not lead (yet): as Mesos' Master::Http::redirect, it answers every API
// request with a 307 to the leading master, `//host:port` plus the request's path and
// query, and with 503 "No leader elected" when it knows of none. `/redirect` and
// `/master/redirect` lead to the leader's root. /health, /version and /metrics/snapshot are
// its own. A master that has just been elected and is still reading its registry answers
// 503 "Master has not finished recovery" instead, as Mesos does until recovery is done.
import type { Logger } from 'pino'
import type { RequestContext, Router } from '../api/http.js'
import type { LeaderPhase } from '../api/leader-phase.js'
import { createRouter, sendJson, sendText } from '../api/http.js'
import { MASTER_VERSION } from './context.js'

export type StandbyPhase = LeaderPhase

export interface StandbyRouterOptions {
  readonly log: Logger
  /** Where the leader is, or that this master is recovering; read at each request. */
  readonly phase: () => StandbyPhase
  readonly startedAt: number
}

const REDIRECT_PATHS = ['/redirect', '/master/redirect']

export function createStandbyRouter({ log, phase, startedAt }: StandbyRouterOptions): Router {
  const router = createRouter({ log })

  function unavailable(ctx: RequestContext): boolean {
    const p = phase()
    if (p.phase === 'recovering') {
      sendText(ctx.res, 503, 'Master has not finished recovery')
      return true
    }
    if (p.leader() === undefined) {
      sendText(ctx.res, 503, 'No leader elected')
      return true
    }
    return false
  }

  function redirect(ctx: RequestContext, target: string): void {
    const p = phase()
    const leader = p.phase === 'standby' ? p.leader() : undefined
    if (unavailable(ctx) || leader === undefined) return
    // Protocol-relative, as Mesos sends it: the client keeps http or https.
    ctx.res.writeHead(307, { Location: `//${leader}${target}`, 'Content-Length': 0 })
    ctx.res.end()
  }

  router.on('GET', '/health', (ctx) => sendText(ctx.res, 200, ''))
  router.on('GET', '/master/health', (ctx) => sendText(ctx.res, 200, ''))
  router.on('GET', '/version', (ctx) => sendJson(ctx.res, 200, { version: MASTER_VERSION, build_date: '', build_time: 0, build_user: 'dromos' }))
  router.on('GET', '/metrics/snapshot', (ctx) =>
    sendJson(ctx.res, 200, { 'master/elected': 0, 'master/uptime_secs': (Date.now() - startedAt) / 1000 }),
  )
  for (const path of REDIRECT_PATHS) router.on('GET', path, (ctx) => redirect(ctx, ''))
  router.fallback((ctx) => {
    const { pathname, search } = ctx.url
    // Below /redirect nothing is redirected again: a loop between two masters ends here.
    if (REDIRECT_PATHS.some((p) => pathname.startsWith(`${p}/`))) return sendText(ctx.res, 404, '')
    redirect(ctx, `${pathname}${search}`)
  })
  return router
}
