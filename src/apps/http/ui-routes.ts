// The web UI: its static files, and the master's state and tasks' sandboxes, which it reads
// through here.
import { relayGet, serveWebUi } from '../../api/web-ui.js'
import type { RouteContext } from './context.js'

export function registerUiRoutes({ router, fw, opts }: RouteContext): void {
  for (const what of ['state', 'roles']) router.on('GET', `/dromos/master/${what}`, (ctx) => relayGet(ctx, `${fw.master()}/master/${what}`))
  router.on('GET', '/dromos/master/metrics/snapshot', (ctx) => relayGet(ctx, `${fw.master()}/metrics/snapshot`))
  // Read-only: an agent's state (where its sandboxes are) and a sandbox file, by the master's relay.
  for (const what of ['state', 'files/read', 'files/browse', 'files/download']) {
    router.on('GET', `/dromos/agent/:agentId/${what}`, (ctx) => relayGet(ctx, `${fw.master()}/agent/${encodeURIComponent(ctx.params['agentId'] ?? '')}/${what}${ctx.url.search}`))
  }
  serveWebUi(router, opts.staticDir)
}
