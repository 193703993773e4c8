// /v2/pods: dromos runs apps, not pods, and says so in Marathon's own terms. Marathon's
// PodsResource answers `HEAD /v2/pods` with 200 to tell clients that it supports pods; dromos
// answers 404 there, as a Marathon without pods did. Reads tell the truth, that there are no
// pods (an empty list, and a 404 "Pod '/x' does not exist" for any one), so that tools which
// list pods beside apps keep working; a pod definition is refused with a 422 that says why.
import type { RequestContext, Router } from '../api/http.js'
import { sendJson } from '../api/http.js'
import { AppValidationError, MarathonError } from './errors.js'

export const PODS_UNSUPPORTED = 'Pods are not supported: dromos runs apps. Define each container as an app (POST /v2/apps); a group (/v2/groups) keeps them together.'

/** `/v2/pods/x/y::status` -> `{ id: '/x/y', rest: '::status' }`; the id is empty for `/v2/pods/::status`. */
export function podPath(pathname: string): { id: string; rest: string } {
  const tail = pathname.replace(/^\/v2\/pods\/?/, '')
  const at = tail.indexOf('::')
  const id = (at < 0 ? tail : tail.slice(0, at)).replace(/\/+$/, '')
  return { id: id === '' ? '' : `/${id}`, rest: at < 0 ? '' : tail.slice(at) }
}

export function servePods(router: Router): void {
  router.on('HEAD', '/v2/pods', (ctx) => {
    ctx.res.writeHead(404, { 'Content-Length': 0 })
    ctx.res.end()
  })
  router.on('GET', '/v2/pods', (ctx) => sendJson(ctx.res, 200, []))
  const refuse = (): never => {
    throw new AppValidationError([{ path: '/', errors: [PODS_UNSUPPORTED] }])
  }
  router.on('POST', '/v2/pods', refuse)
  const one = (ctx: RequestContext): void => {
    const { id, rest } = podPath(ctx.url.pathname)
    // Every pod's status, of which there are none.
    if (id === '' && rest === '::status' && ctx.req.method !== 'DELETE') return sendJson(ctx.res, 200, [])
    throw new MarathonError(404, `Pod '${id || '/'}' does not exist`)
  }
  for (const method of ['GET', 'DELETE']) router.onPrefix(method, '/v2/pods/', one)
  router.onPrefix('PUT', '/v2/pods/', refuse)
  router.onPrefix('POST', '/v2/pods/', refuse)
}
