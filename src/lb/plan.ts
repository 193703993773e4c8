// How to move HAProxy from what it runs to what the routes say, as a pure function: runtime
// API commands when only backend members change, a reload (with a whole new configuration)
// when frontends change or a backend outgrows its server slots.
import type { Backend, Routes, Server } from './routes.js'

export interface SlotState {
  readonly taskId: string
  readonly address: string
  readonly port: number
  readonly draining: boolean
}

export interface AppliedBackend {
  readonly backend: Omit<Backend, 'servers' | 'capacity'>
  readonly slots: number
  /** slot number (1-based) -> what it serves */
  readonly used: ReadonlyMap<number, SlotState>
}

export interface Applied {
  readonly shapeKey: string
  readonly backends: ReadonlyMap<string, AppliedBackend>
}

export interface Change {
  readonly reload: boolean
  readonly commands: readonly string[]
  readonly next: Applied
}

export const MIN_SLOTS = 4

/** Everything about the routes except backend members: a change here needs a reload. */
export function shapeKey(routes: Routes): string {
  return JSON.stringify(routes.backends.map((b) => JSON.stringify(shapeOf(b))).sort())
}

/** A backend without its members: what the configuration file says. */
function shapeOf(b: Backend): AppliedBackend['backend'] {
  const { servers: _servers, capacity: _capacity, ...shape } = b
  return shape
}

const slotName = (n: number): string => `srv${n}`

/**
 * The slots a backend needs before a reload: the app's capacity (instances plus the
 * deployment's overcapacity), so a rolling restart runs old and new instances side by side
 * without a reload, and never fewer than its servers.
 */
function needed(b: Backend): number {
  return Math.max(b.servers.length, b.capacity)
}

/** Grown by doubling, with room for twice what is needed, so that scaling up rarely reloads. */
function slotsFor(count: number, previous: number): number {
  let slots = Math.max(MIN_SLOTS, previous)
  while (slots < count * 2) slots *= 2
  return slots
}

function assign(servers: readonly Server[], prev: ReadonlyMap<number, SlotState> | undefined, slots: number): Map<number, SlotState> {
  const used = new Map<number, SlotState>()
  const byTask = new Map<string, number>()
  for (const [n, s] of prev ?? []) if (n <= slots) byTask.set(s.taskId, n)
  const pending: Server[] = []
  for (const s of servers) {
    const n = byTask.get(s.taskId)
    if (n !== undefined) used.set(n, { taskId: s.taskId, address: s.address, port: s.port, draining: s.draining })
    else pending.push(s)
  }
  let next = 1
  for (const s of pending) {
    while (used.has(next)) next++
    used.set(next, { taskId: s.taskId, address: s.address, port: s.port, draining: s.draining })
  }
  return used
}

export function planChange(applied: Applied | undefined, routes: Routes): Change {
  const key = shapeKey(routes)
  const outgrown = routes.backends.some((b) => needed(b) > (applied?.backends.get(b.name)?.slots ?? 0))
  const backends = new Map<string, AppliedBackend>()
  if (!applied || applied.shapeKey !== key || outgrown) {
    for (const b of routes.backends) {
      const prev = applied?.backends.get(b.name)
      const slots = slotsFor(needed(b), prev?.slots ?? 0)
      backends.set(b.name, { backend: shapeOf(b), slots, used: assign(b.servers, prev?.used, slots) })
    }
    return { reload: true, commands: [], next: { shapeKey: key, backends } }
  }

  const commands: string[] = []
  for (const b of routes.backends) {
    const prev = applied.backends.get(b.name)!
    const used = assign(b.servers, prev.used, prev.slots)
    for (const [n, s] of used) {
      const before = prev.used.get(n)
      const target = `${b.name}/${slotName(n)}`
      if (!before || before.taskId !== s.taskId || before.address !== s.address || before.port !== s.port) {
        commands.push(`set server ${target} addr ${s.address} port ${s.port}`)
        commands.push(`set server ${target} state ${s.draining ? 'drain' : 'ready'}`)
      } else if (before.draining !== s.draining) {
        commands.push(`set server ${target} state ${s.draining ? 'drain' : 'ready'}`)
      }
    }
    for (const [n] of prev.used) if (!used.has(n)) commands.push(`set server ${b.name}/${slotName(n)} state maint`)
    backends.set(b.name, { backend: shapeOf(b), slots: prev.slots, used })
  }
  return { reload: false, commands, next: { shapeKey: key, backends } }
}

export interface RenderOptions {
  readonly bindAddress: string
  readonly httpPort: number
  /** TLS for virtual hosts, routed by SNI; served once there is a certificate to offer. */
  readonly httpsPort: number
  /** Requests naming an app in X-Marathon-App-Id go to its first http port, as marathon-lb's :9091. */
  readonly appIdPort: number
  /** PEM files the HTTPS port offers besides the apps' own; the first is the default. */
  readonly sslCerts: readonly string[]
  readonly statsPort: number
  /** Where the lb's own HTTP API listens (behind /_lb/ and /metrics on the stats port). */
  readonly apiPort: number
  readonly socketPath: string
}

type Shape = AppliedBackend['backend']

/** One routing rule of the HTTP(S) ports: a host, a path prefix, or both. */
interface Rule {
  readonly host?: string
  readonly path?: string
  readonly backend: Shape
}

/**
 * The rules of the HTTP(S) ports in the order HAProxy tries them: by backend weight, largest
 * first, as marathon-lb; then longer paths first, so /api/v2 wins over /api; then a rule that
 * names a host before one that takes any.
 */
export function httpRules(backends: readonly Shape[]): Rule[] {
  const rules: Rule[] = backends.flatMap((b) => {
    const path = b.path !== undefined ? { path: b.path } : {}
    if (b.vhosts.length > 0) return b.vhosts.map((host) => ({ host, ...path, backend: b }))
    return b.path !== undefined ? [{ ...path, backend: b }] : []
  })
  return rules.sort(
    (a, b) =>
      b.backend.weight - a.backend.weight ||
      (b.path ?? '').length - (a.path ?? '').length ||
      Number(b.host !== undefined) - Number(a.host !== undefined) ||
      a.backend.name.localeCompare(b.backend.name),
  )
}

/** The rule lines of one HTTP(S) frontend: ACLs, then redirects, then backends. */
function ruleLines(rules: readonly Rule[], how: { tls: boolean; httpsPort: number }): string[] {
  const acls: string[] = []
  const redirects: string[] = []
  const uses: string[] = []
  const hostMatch = how.tls ? 'ssl_fc_sni,lower' : 'req.hdr(host),field(1,:),lower'
  // On a port other than 443 the redirect names it: the Host header carries the HTTP port.
  const redirect =
    how.httpsPort === 443 ? 'redirect scheme https code 301' : `http-request redirect code 301 location https://%[req.hdr(host),field(1,:)]:${how.httpsPort}%[capture.req.uri]`
  rules.forEach((r, i) => {
    const conds: string[] = []
    if (r.host !== undefined) {
      acls.push(`  acl host_${i} ${hostMatch} -m str ${r.host}`)
      conds.push(`host_${i}`)
    }
    if (r.path !== undefined) {
      acls.push(`  acl path_${i} path_beg ${r.path}`)
      conds.push(`path_${i}`)
    }
    if (!how.tls && r.backend.redirectToHttps && r.host !== undefined) redirects.push(`  ${redirect} if ${conds.join(' ')}`)
    uses.push(`  use_backend ${r.backend.name} if ${conds.join(' ')}`)
  })
  return [...acls, ...redirects, ...uses]
}

/** The PEM files the HTTPS port offers: the lb's own first, then each app's, once each. */
function httpsCerts(backends: readonly Shape[], defaults: readonly string[]): string[] {
  return [...new Set([...defaults, ...backends.flatMap((b) => (b.sslCert !== undefined ? [b.sslCert] : []))])]
}

function backendLines(b: Shape, slots: number, used: ReadonlyMap<number, SlotState>): string[] {
  const lines = [`backend ${b.name}`, `  mode ${b.mode}`, `  balance ${b.balance}`]
  if (b.mode === 'http') {
    lines.push('  option forwardfor', '  http-request set-header X-Forwarded-Port %[dst_port]', '  http-request add-header X-Forwarded-Proto https if { ssl_fc }')
    if (b.hsts) lines.push('  http-response set-header Strict-Transport-Security max-age=15768000')
  }
  const check = b.check
  if (check?.kind === 'http') lines.push(`  option httpchk GET ${check.path}`)
  if (check) lines.push(`  timeout check ${check.timeoutSeconds}s`)
  // A client keeps its instance by a cookie in http mode, by its address in tcp mode. The cookie
  // names the slot, which runtime changes never rename.
  const cookie = b.sticky && b.mode === 'http'
  if (cookie) lines.push('  cookie mesosphere_server_id insert indirect nocache')
  else if (b.sticky) lines.push('  stick-table type ip size 200k expire 30m', '  stick on src')
  const checkOptions = check ? ` check inter ${check.intervalSeconds}s fall ${check.fall}${check.ssl ? ' check-ssl verify none' : ''}` : ''
  for (let n = 1; n <= slots; n++) {
    const s = used.get(n)
    const options = `${cookie ? ` cookie ${slotName(n)}` : ''}${checkOptions}`
    // A draining server is written disabled: the old process finishes its sessions.
    if (s) lines.push(`  server ${slotName(n)} ${s.address}:${s.port}${options}${s.draining ? ' disabled' : ''}`)
    else lines.push(`  server ${slotName(n)} 127.0.0.1:1${options} disabled`)
  }
  lines.push('')
  return lines
}

/** The whole HAProxy configuration for an applied state: every slot, used or not. */
export function renderConfig(applied: Applied, opts: RenderOptions): string {
  const bind = (port: number, address = opts.bindAddress): string => `${address}:${port}`
  const lines: string[] = [
    '# Generated by dromos lb; changes are overwritten.',
    'global',
    '  maxconn 4096',
    `  stats socket ${opts.socketPath} mode 600 level admin expose-fd listeners`,
    '  stats timeout 2m',
    '  hard-stop-after 5m',
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout queue 30s',
    '  timeout http-request 15s',
    '  timeout http-keep-alive 15s',
    '  retries 3',
    '  option redispatch',
    '',
    'frontend dromos_stats',
    `  bind ${bind(opts.statsPort)}`,
    '  mode http',
    '  http-request use-service prometheus-exporter if { path /metrics/haproxy }',
    '  use_backend dromos_lb_api if { path_beg /_lb/ } || { path /metrics }',
    '  stats enable',
    '  stats uri /haproxy?stats',
    '  stats refresh 10s',
    '',
    'backend dromos_lb_api',
    '  mode http',
    `  server api 127.0.0.1:${opts.apiPort}`,
    '',
  ]
  const applieds = [...applied.backends.values()].sort((a, b) => a.backend.name.localeCompare(b.backend.name))
  const backends = applieds.map((a) => a.backend)
  const rules = httpRules(backends)
  if (rules.length > 0) {
    lines.push('frontend dromos_http_in', `  bind ${bind(opts.httpPort)}`, '  mode http', ...ruleLines(rules, { tls: false, httpsPort: opts.httpsPort }), '')
    const certs = httpsCerts(backends, opts.sslCerts)
    if (certs.length > 0) {
      lines.push(
        'frontend dromos_https_in',
        `  bind ${bind(opts.httpsPort)} ssl ${certs.map((c) => `crt ${c}`).join(' ')}`,
        '  mode http',
        ...ruleLines(rules, { tls: true, httpsPort: opts.httpsPort }),
        '',
      )
    }
  }
  // Each app's first http port, by the app id in X-Marathon-App-Id.
  const byApp = new Map<string, Shape>()
  for (const b of [...backends].sort((x, y) => x.portIndex - y.portIndex)) if (b.mode === 'http' && !byApp.has(b.appId)) byApp.set(b.appId, b)
  if (byApp.size > 0) {
    lines.push('frontend dromos_appid_in', `  bind ${bind(opts.appIdPort)}`, '  mode http')
    for (const [appId, b] of [...byApp].sort(([x], [y]) => x.localeCompare(y))) lines.push(`  use_backend ${b.name} if { req.hdr(x-marathon-app-id) -m str -i ${appId} }`)
    lines.push('')
  }
  for (const b of backends) {
    const tls = b.sslCert !== undefined ? ` ssl crt ${b.sslCert}` : ''
    const options = b.bindOptions ? ` ${b.bindOptions}` : ''
    lines.push(`frontend ${b.name}_fe`, `  bind ${bind(b.servicePort, b.bindAddress)}${tls}${options}`, `  mode ${b.mode}`, `  default_backend ${b.name}`, '')
  }
  for (const { backend: b, slots, used } of applieds) lines.push(...backendLines(b, slots, used))
  return lines.join('\n')
}
