// dromos lb: follows the apps framework's event stream and keeps HAProxy's backends equal to
// the healthy, ready instances of the apps in its group. A task's status and health events
// are applied to the copy of its app at once (event-patch.ts), and the app is read again after
// each event all the same (see apps-follower.ts), so a lost or reordered event cannot leave a
// wrong route for longer than that read takes.
import type { Server as HttpServer } from 'node:http'
import { networkInterfaces } from 'node:os'
import type { Logger } from 'pino'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AppsFollower, ChangeInfo, FollowedApp } from '../api/apps-follower.js'
import { createAppsFollower } from '../api/apps-follower.js'
import { createHostResolver } from '../api/host-address.js'
import { createRouter, listen, sendJson, sendText } from '../api/http.js'
import type { Clock } from '../core/clock.js'
import { applyEvent } from './event-patch.js'
import type { Haproxy } from './haproxy.js'
import type { Applied } from './plan.js'
import { planChange, renderConfig } from './plan.js'
import type { LbApp, RejectedRoute, Routes } from './routes.js'
import { bindArgsWanted, mayServe, routes } from './routes.js'

/** This machine's own addresses: where a frontend may listen (HAPROXY_{n}_BIND_ADDR). */
function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address))
}

/** How long the machine's addresses are kept: asking costs about 0.3 ms, on every change. */
const ADDRESSES_TTL_MS = 30_000

export interface LoadBalancerOptions {
  readonly appsUrl: string
  readonly group: string
  readonly haproxy: Haproxy
  readonly log: Logger
  readonly clock: Clock
  readonly bindAddress: string
  readonly httpPort: number
  readonly httpsPort: number
  readonly appIdPort: number
  /** PEM files (certificate and key) the HTTPS port offers besides the apps' own. */
  readonly sslCerts?: readonly string[]
  /** Serve only ports whose HAPROXY_{n}_ENABLED is true, as marathon-lb's --strict-mode. */
  readonly strict?: boolean
  readonly statsPort: number
  /** Port of the lb's own API on 127.0.0.1 (0: any free port). */
  readonly apiPort?: number
  /**
   * Apply every change by regenerating the configuration and reloading, as marathon-lb does;
   * only for comparing the two ways in benchmarks.
   */
  readonly alwaysReload?: boolean
}

/**
 * One change applied to HAProxy: when the oldest event behind it arrived, and what it took.
 * Times are of the wall clock in ms, with fractions, so that they compare with another
 * process's on this machine.
 */
export interface RecentChange {
  readonly eventAt: number | undefined
  /** The event was applied to the copy of its app directly, not only through a read. */
  readonly patched: boolean
  /** The latest read of one app behind it, when there was one: sent and answered. */
  readonly read?: { readonly sentAt: number; readonly answeredAt: number }
  /** The follower handed the change over (the change before it was applied by then). */
  readonly handedAt: number
  /** The routes were computed and the change planned: the commands (or the reload) went out. */
  readonly plannedAt: number
  readonly appliedAt: number
  readonly applyMs: number
  readonly way: 'runtime' | 'reload'
  readonly commands: number
}

/** The wall clock with a fraction of a ms: what the steps of a change are stamped with. */
const wallNow = (): number => performance.timeOrigin + performance.now()

const RECENT_CHANGES = 50

export interface LoadBalancer {
  start(): Promise<void>
  stop(): Promise<void>
  routes(): Routes
  applied(): Applied | undefined
  /** Resolves once every change seen so far is applied to HAProxy. */
  settled(): Promise<void>
}

export function createLoadBalancer(opts: LoadBalancerOptions): LoadBalancer {
  const { log, haproxy, clock } = opts
  let applied: Applied | undefined
  let lastRoutes: Routes = { backends: [] }
  let lastRejected: readonly RejectedRoute[] = []
  let apiServer: HttpServer | undefined
  let apiPort = 0
  // Tasks name their agent by hostname, as in Marathon; marathon-lb resolves it too.
  const hosts = createHostResolver()
  /** The last changes applied to HAProxy, for /_lb/state. */
  const recent: RecentChange[] = []

  const registry = new Registry()
  const metrics = {
    changes: new Counter({ name: 'dromos_lb_changes_applied_total', help: 'Backend changes applied through the HAProxy runtime API', registers: [registry] }),
    reloads: new Counter({ name: 'dromos_lb_reloads_total', help: 'HAProxy reloads (frontends changed or a backend outgrew its slots)', registers: [registry] }),
    resyncs: new Counter({ name: 'dromos_lb_resyncs_total', help: 'Full re-reads of every app', registers: [registry] }),
    events: new Counter({ name: 'dromos_lb_events_total', help: 'Events received from the apps framework', registers: [registry] }),
    errors: new Counter({ name: 'dromos_lb_apply_errors_total', help: 'Failed attempts to apply routes', registers: [registry] }),
    lag: new Histogram({
      name: 'dromos_lb_event_lag_seconds',
      help: 'From an event reaching the lb to its change being applied to HAProxy',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    reads: new Histogram({
      name: 'dromos_lb_app_read_seconds',
      help: 'Reads of one app from the apps framework, after an event named it',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    applies: new Histogram({
      name: 'dromos_lb_apply_seconds',
      help: 'Applying routes to HAProxy, by way (runtime API or reload)',
      labelNames: ['way'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    backends: new Gauge({ name: 'dromos_lb_backends', help: 'Backends configured', registers: [registry] }),
    servers: new Gauge({ name: 'dromos_lb_servers', help: 'Servers taking traffic', registers: [registry] }),
  }

  function render(state: Applied): string {
    return renderConfig(state, {
      bindAddress: opts.bindAddress,
      httpPort: opts.httpPort,
      httpsPort: opts.httpsPort,
      appIdPort: opts.appIdPort,
      sslCerts: opts.sslCerts ?? [],
      statsPort: opts.statsPort,
      apiPort,
      socketPath: haproxy.socketPath,
    })
  }

  /**
   * HAProxy's verdicts on bind-line arguments the labels ask for. A refusal is asked again after
   * a while: the certificate file it missed may be there now.
   */
  const bindVerdicts = new Map<string, { problem: string | undefined; at: number }>()
  const BIND_RECHECK_MS = 30_000
  let addresses: { list: string[]; at: number } | undefined
  function addressesNow(): string[] {
    if (!addresses || clock.now() - addresses.at >= ADDRESSES_TTL_MS) addresses = { list: localAddresses(), at: clock.now() }
    return addresses.list
  }

  async function applyRoutes(since?: number, info: ChangeInfo = { patched: false }): Promise<void> {
    const handedAt = wallNow()
    const apps = [...follower.apps.values()] as unknown as LbApp[]
    for (const args of bindArgsWanted(apps)) {
      const known = bindVerdicts.get(args)
      if (known && (known.problem === undefined || clock.now() - known.at < BIND_RECHECK_MS)) continue
      bindVerdicts.set(args, { problem: await haproxy.checkBind(args), at: clock.now() })
    }
    const wanted = routes(apps, {
      group: opts.group,
      reservedPorts: [opts.httpPort, opts.httpsPort, opts.appIdPort, opts.statsPort, apiPort],
      ...(opts.strict ? { strict: true } : {}),
      localAddresses: addressesNow(),
      bindProblem: (args) => bindVerdicts.get(args)?.problem,
    })
    const rejected = wanted.rejected ?? []
    const known = new Set(lastRejected.map((r) => `${r.appId}:${r.portIndex}:${r.reason}`))
    for (const r of rejected) if (!known.has(`${r.appId}:${r.portIndex}:${r.reason}`)) log.warn(r, 'route left out')
    lastRejected = rejected
    const resolved: Routes = {
      backends: await Promise.all(
        wanted.backends.map(async (b) => ({
          ...b,
          servers: (
            await Promise.all(
              b.servers.map(async (s) => {
                try {
                  return [{ ...s, address: await hosts.resolve(s.address) }]
                } catch {
                  log.warn({ address: s.address, taskId: s.taskId }, 'cannot resolve the address of a task: left out')
                  return []
                }
              }),
            )
          ).flat(),
        })),
      ),
    }
    const change = planChange(applied, resolved)
    const way = change.reload || (opts.alwaysReload && change.commands.length > 0) ? 'reload' : change.commands.length > 0 ? 'runtime' : undefined
    if (way) {
      const plannedAt = wallNow()
      if (way === 'reload') await haproxy.apply(render(change.next))
      else await haproxy.runtime(change.commands)
      const appliedAt = wallNow()
      const ms = appliedAt - plannedAt
      if (way === 'reload') metrics.reloads.inc()
      else metrics.changes.inc(change.commands.filter((c) => c.includes(' state ')).length)
      metrics.applies.observe({ way }, ms / 1000)
      recent.push({
        eventAt: since,
        patched: info.patched,
        ...(info.read ? { read: info.read } : {}),
        handedAt,
        plannedAt,
        appliedAt,
        applyMs: Math.round(ms * 100) / 100,
        way,
        commands: change.commands.length,
      })
      if (recent.length > RECENT_CHANGES) recent.shift()
    }
    applied = change.next
    lastRoutes = resolved
    metrics.backends.set(resolved.backends.length)
    metrics.servers.set(resolved.backends.reduce((n, b) => n + b.servers.filter((s) => !s.draining).length, 0))
  }

  const follower: AppsFollower = createAppsFollower({
    appsUrl: opts.appsUrl,
    log,
    now: wallNow,
    onEvent: () => metrics.events.inc(),
    onRead: (ms) => metrics.reads.observe(ms / 1000),
    // The runtime API then applies a task's new state or health without waiting for a read.
    patch: (app, e) => applyEvent(app as unknown as LbApp, e) as unknown as FollowedApp | undefined,
    // The storm of another group's tasks costs only the parsing of its events.
    follows: (app) => mayServe(app as unknown as LbApp, opts.group),
    onChange: async (since, info) => {
      try {
        await applyRoutes(since, info)
      } catch (e) {
        metrics.errors.inc()
        throw e
      }
      if (since !== undefined) metrics.lag.observe((wallNow() - since) / 1000)
      metrics.resyncs.inc(follower.resyncs() - countedResyncs)
      countedResyncs = follower.resyncs()
    },
  })
  let countedResyncs = 0

  function stateJson(): Record<string, unknown> {
    return {
      group: opts.group,
      apps: follower.apps.size,
      backends: [...(applied?.backends.values() ?? [])].map((b) => ({
        ...b.backend,
        slots: b.slots,
        servers: [...b.used].map(([slot, s]) => ({ slot: `srv${slot}`, ...s })),
      })),
      rejected: lastRejected,
      recentChanges: recent,
    }
  }

  return {
    async start() {
      const router = createRouter({ log })
      // What HAProxy runs: the configuration of the last reload with the runtime changes since.
      router.on('GET', '/_lb/config', (ctx) => sendText(ctx.res, 200, applied ? render(applied) : ''))
      router.on('GET', '/_lb/state', (ctx) => sendJson(ctx.res, 200, stateJson()))
      router.on('GET', '/metrics', async (ctx) => {
        ctx.res.writeHead(200, { 'Content-Type': registry.contentType })
        ctx.res.end(await registry.metrics())
      })
      const certs = opts.sslCerts ?? []
      if (certs.length > 0) {
        const refused = await haproxy.checkBind(`ssl ${certs.map((c) => `crt ${c}`).join(' ')}`)
        if (refused !== undefined) throw new Error(`HAProxy refuses the certificates ${certs.join(', ')}: ${refused}`)
      }
      apiServer = await listen({ router, host: '127.0.0.1', port: opts.apiPort ?? 0, log })
      const addr = apiServer.address()
      apiPort = typeof addr === 'object' && addr ? addr.port : 0
      // HAProxy starts at once, empty if the apps framework is not there yet. One that a
      // previous lb left running serves on instead, until the first full read of the apps
      // gives routes to take it over with.
      if (!haproxy.orphaned()) {
        try {
          await applyRoutes()
        } catch (e) {
          await haproxy.stop()
          apiServer.close()
          throw e
        }
      }
      follower.start()
    },
    async stop() {
      await follower.stop()
      await haproxy.stop()
      await new Promise<void>((res) => {
        if (!apiServer) return res()
        apiServer.close(() => res())
        apiServer.closeAllConnections()
      })
    },
    routes: () => lastRoutes,
    applied: () => applied,
    settled: () => follower.settled(),
  }
}
