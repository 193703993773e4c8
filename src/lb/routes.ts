// What the load balancer should route, as a pure function of the apps and their tasks (the
// JSON of GET /v2/apps?embed=apps.tasks&embed=apps.readiness). marathon-lb's labels choose the
// group, the mode, the balance algorithm, virtual hosts, paths, service ports, bind address and
// options, TLS and the order of the routing rules. Servers name the task's host (or its
// container address); the shell resolves hosts to addresses.
import { isIP } from 'node:net'
import { mergeDeploymentGroups } from './deployment-groups.js'

export interface LbTask {
  id: string
  state: string
  /** The agent's hostname; the shell resolves it to an address, as marathon-lb does. */
  host: string
  ports: number[]
  ipAddresses?: Array<{ ipAddress: string }>
  healthCheckResults?: Array<{ alive: boolean }>
  version?: string
  /** The older colour's task of a blue/green deployment group that makes room for a new one. */
  drain?: boolean
}

/** The fields of a Marathon health check that HAProxy's own checks follow. */
export interface LbHealthCheck {
  protocol?: string
  path?: string
  portIndex?: number
  port?: number
  intervalSeconds?: number
  timeoutSeconds?: number
  maxConsecutiveFailures?: number
}

export interface LbApp {
  id: string
  labels?: Record<string, string>
  portDefinitions?: Array<{ port: number; name?: string }>
  container?: { portMappings?: Array<{ containerPort: number; hostPort?: number; servicePort: number; name?: string }> }
  networks?: Array<{ mode: string }>
  healthChecks?: LbHealthCheck[]
  readinessChecks?: unknown[]
  instances?: number
  upgradeStrategy?: { maximumOverCapacity?: number }
  version?: string
  tasks?: LbTask[]
  /** Running deployments of the app (embedded with the tasks). */
  deployments?: Array<{ id: string }>
  /** Readiness of the tasks a running deployment checks (embed=apps.readiness). */
  readinessCheckResults?: Array<{ taskId: string; ready: boolean }>
}

export type Mode = 'http' | 'tcp'

/**
 * HAProxy's own check of each server, from the app's health check on this port, as marathon-lb
 * writes it: `option httpchk GET <path>` in http mode, a connect check otherwise.
 */
export interface BackendCheck {
  readonly kind: 'http' | 'tcp'
  /** The request path of an http check. */
  readonly path?: string
  /** The app checks over TLS (HTTPS, MESOS_HTTPS). */
  readonly ssl: boolean
  readonly intervalSeconds: number
  readonly timeoutSeconds: number
  /** Consecutive failures before HAProxy takes a server out: Marathon's maximum plus one. */
  readonly fall: number
}

export interface Server {
  readonly taskId: string
  readonly address: string
  readonly port: number
  /** The task is being killed: finish what it serves, send it nothing new. */
  readonly draining: boolean
}

export interface Backend {
  readonly name: string
  readonly appId: string
  readonly portIndex: number
  readonly servicePort: number
  readonly mode: Mode
  readonly balance: string
  readonly sticky: boolean
  readonly vhosts: readonly string[]
  readonly path?: string
  /** Routing rules on the HTTP(S) ports go from the largest weight to the smallest. */
  readonly weight: number
  /** Where the service port's frontend listens, instead of the lb's --bind-address. */
  readonly bindAddress?: string
  /** More arguments to the service port's bind line (HAPROXY_{n}_BIND_OPTIONS). */
  readonly bindOptions?: string
  /** A PEM file (certificate and key): the service port speaks TLS, and the HTTPS port offers it. */
  readonly sslCert?: string
  readonly redirectToHttps: boolean
  readonly hsts: boolean
  readonly check?: BackendCheck
  readonly servers: readonly Server[]
  /**
   * The most servers the app may run at once: its instances plus what a deployment may add
   * over them (upgradeStrategy.maximumOverCapacity). Slots are sized for it ahead of time.
   */
  readonly capacity: number
}

/** A route left out because HAProxy would refuse it or it would take another's place. */
export interface RejectedRoute {
  readonly appId: string
  readonly portIndex: number
  readonly servicePort: number
  readonly reason: string
}

export interface Routes {
  readonly backends: readonly Backend[]
  /** Routes left out, so that one app's bad labels never stop the others being served. */
  readonly rejected?: readonly RejectedRoute[]
}

export interface RoutesOptions {
  /** This lb's group: apps (or ports) whose HAPROXY_GROUP names it are served; `*` serves every app. */
  readonly group: string
  /** Ports the lb listens on itself (virtual hosts, stats): no service port may take them. */
  readonly reservedPorts?: readonly number[]
  /** As marathon-lb's --strict-mode: only ports whose HAPROXY_{n}_ENABLED is true are served. */
  readonly strict?: boolean
  /** This machine's addresses, besides loopback and the wildcards: what HAPROXY_{n}_BIND_ADDR may name. */
  readonly localAddresses?: readonly string[]
  /**
   * HAProxy's verdict on the arguments of a bind line (`ssl crt <file>`, HAPROXY_{n}_BIND_OPTIONS):
   * why it would refuse them, or undefined. The shell asks HAProxy itself beforehand.
   */
  readonly bindProblem?: (args: string) => string | undefined
}

/** HAProxy's balance algorithms (2.6); the ones that take an argument are matched by their prefix. */
const BALANCE = /^(?:roundrobin|static-rr|leastconn|first|source|random(?:\(\d+\))?|uri(?: [A-Za-z0-9 _.=-]*)?|url_param [A-Za-z0-9_.-]+(?: [A-Za-z0-9 _.=-]*)?|hdr\([A-Za-z0-9_-]+\)(?: [A-Za-z0-9 _.=-]*)?|rdp-cookie(?:\([A-Za-z0-9_-]+\))?)$/
const VHOST = /^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/
const PATH = /^\/[^\s'"\\]*$/
const WEIGHT = /^-?\d{1,9}$/
// One line of printable text: a newline would write configuration of its own.
const ONE_LINE = /^[\x20-\x7e]*$/

/** marathon-lb's string_to_bool. */
function truthy(v: string | undefined): boolean {
  return v !== undefined && ['true', 't', 'yes', 'y'].includes(v.toLowerCase())
}

/** Addresses HAProxy can listen on here: the wildcards, loopback, and this machine's own. */
function bindable(address: string, local: readonly string[]): boolean {
  if (isIP(address) === 0) return false
  return address === '0.0.0.0' || address === '::' || address === '::1' || address.startsWith('127.') || local.includes(address)
}

interface PortLabels {
  readonly balance: string
  readonly vhosts: readonly string[]
  readonly path: string | undefined
  readonly mode: string | undefined
  readonly weight: string | undefined
  readonly bindAddress: string | undefined
  readonly bindOptions: string | undefined
  readonly sslCert: string | undefined
  readonly checkPath: string | undefined
}

/** Why HAProxy would refuse a route's labels, or undefined when it would take them. */
function labelProblem(o: PortLabels, opts: RoutesOptions): string | undefined {
  if (!BALANCE.test(o.balance)) return `HAPROXY balance '${o.balance}' is not an HAProxy algorithm`
  const bad = o.vhosts.find((v) => !VHOST.test(v))
  if (bad !== undefined) return `virtual host '${bad}' is not a host name`
  if (o.path !== undefined && !PATH.test(o.path)) return `path '${o.path}' must start with / and hold no spaces or quotes`
  if (o.mode === 'tcp' && (o.vhosts.length > 0 || o.path !== undefined)) return 'a virtual host or path needs http mode, not tcp'
  if (o.weight !== undefined && !WEIGHT.test(o.weight)) return `backend weight '${o.weight}' is not an integer`
  if (o.bindAddress !== undefined && !bindable(o.bindAddress, opts.localAddresses ?? [])) return `bind address '${o.bindAddress}' is not an address of this machine`
  for (const args of bindArgs(o)) {
    if (!ONE_LINE.test(args)) return `bind options '${args}' must be one line of printable text`
    const refused = opts.bindProblem?.(args)
    if (refused !== undefined) return `HAProxy refuses '${args}': ${refused}`
  }
  if (o.checkPath !== undefined && !PATH.test(o.checkPath)) return `health check path '${o.checkPath}' must start with / and hold no spaces or quotes`
  return undefined
}

function bindArgs(o: { sslCert: string | undefined; bindOptions: string | undefined }): string[] {
  return [...(o.sslCert !== undefined ? [`ssl crt ${o.sslCert}`] : []), ...(o.bindOptions !== undefined ? [o.bindOptions] : [])]
}

/**
 * The bind-line arguments the apps' labels ask for, each of which needs HAProxy's verdict
 * (RoutesOptions.bindProblem) before the routes are decided.
 */
export function bindArgsWanted(apps: readonly LbApp[]): string[] {
  const out = new Set<string>()
  for (const app of apps) {
    for (const [key, value] of Object.entries(app.labels ?? {})) {
      if (/^HAPROXY_\d+_SSL_CERT$/.test(key)) out.add(`ssl crt ${value}`)
      else if (/^HAPROXY_\d+_BIND_OPTIONS$/.test(key)) out.add(value)
    }
  }
  return [...out]
}

const HTTP_CHECKS: ReadonlySet<string> = new Set(['HTTP', 'HTTPS', 'MESOS_HTTP', 'MESOS_HTTPS'])
const TCP_CHECKS: ReadonlySet<string> = new Set(['TCP', 'MESOS_TCP'])

/** The app's first health check of port n (Marathon's portIndex defaults to 0), if HAProxy can run it. */
function healthCheckOf(app: LbApp, n: number): LbHealthCheck | undefined {
  const hc = (app.healthChecks ?? []).find((h) => h.port === undefined && (h.portIndex ?? 0) === n)
  if (!hc?.protocol || !(HTTP_CHECKS.has(hc.protocol) || TCP_CHECKS.has(hc.protocol))) return undefined
  return hc
}

function backendCheck(hc: LbHealthCheck, mode: Mode): BackendCheck {
  const positive = (v: number | undefined, fallback: number): number => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : fallback)
  const http = mode === 'http' && HTTP_CHECKS.has(hc.protocol!)
  return {
    kind: http ? 'http' : 'tcp',
    ...(http ? { path: hc.path || '/' } : {}),
    ssl: hc.protocol === 'HTTPS' || hc.protocol === 'MESOS_HTTPS',
    intervalSeconds: positive(hc.intervalSeconds, 60),
    timeoutSeconds: positive(hc.timeoutSeconds, 20),
    fall: positive(hc.maxConsecutiveFailures, 3) + 1,
  }
}

/** marathon-lb's has_group: `*` takes all; otherwise the app's groups must name this one. */
function inGroup(lbGroup: string, appGroups: string | undefined): boolean {
  if (lbGroup === '*') return true
  if (appGroups === undefined) return false
  return appGroups.split(',').map((g) => g.trim()).includes(lbGroup)
}

/**
 * Whether any port of the app may be served by an lb of this group: `*`, or the app's
 * HAPROXY_GROUP or a port's HAPROXY_{n}_GROUP names it. Only such an app's tasks matter to it.
 */
export function mayServe(app: Pick<LbApp, 'labels'>, lbGroup: string): boolean {
  if (lbGroup === '*') return true
  return Object.entries(app.labels ?? {}).some(([k, v]) => (k === 'HAPROXY_GROUP' || /^HAPROXY_\d+_GROUP$/.test(k)) && inGroup(lbGroup, v))
}

const DRAINING_STATES: ReadonlySet<string> = new Set(['TASK_KILLING'])

/** Backend names: the app id's path segments joined with '_', then the service port. */
export function backendName(appId: string, servicePort: number): string {
  return `${appId.replace(/^\//, '').replace(/[^a-zA-Z0-9]+/g, '_')}_${servicePort}`
}

function label(app: LbApp, n: number, key: string): string | undefined {
  return app.labels?.[`HAPROXY_${n}_${key}`]
}

/**
 * Whether readiness lets a task take traffic. Marathon checks readiness only while a deployment
 * runs and reports it only then: a task with a result goes by it, and a task of the version
 * being deployed waits for its first one. Tasks of older versions, and every task once no
 * deployment runs, passed (or never needed) their checks.
 */
function readinessAllows(app: LbApp, task: LbTask): boolean {
  if ((app.readinessChecks?.length ?? 0) === 0) return true
  const result = (app.readinessCheckResults ?? []).find((r) => r.taskId === task.id)
  if (result) return result.ready
  const deploying = (app.deployments?.length ?? 0) > 0
  return !(deploying && task.version !== undefined && task.version === app.version)
}

/** True when a running task may take traffic: healthy where the app checks health, ready where it checks readiness. */
export function serves(app: LbApp, task: LbTask): boolean {
  if (task.state !== 'TASK_RUNNING') return false
  if ((app.healthChecks?.length ?? 0) > 0) {
    const results = task.healthCheckResults ?? []
    if (results.length === 0 || !results.every((r) => r.alive)) return false
  }
  return readinessAllows(app, task)
}

/** instances × (1 + maximumOverCapacity), rounded up: what a rolling deployment may run side by side. */
export function capacityOf(app: LbApp): number {
  const instances = Number.isInteger(app.instances) && app.instances! > 0 ? app.instances! : 0
  const over = app.upgradeStrategy?.maximumOverCapacity
  const factor = typeof over === 'number' && over >= 0 && over <= 1 ? over : 1
  return Math.ceil(instances * (1 + factor))
}

export function routes(apps: readonly LbApp[], opts: RoutesOptions): Routes {
  const backends: Backend[] = []
  const rejected: RejectedRoute[] = []
  const taken = new Map<number, string>()
  const reserved = new Set(opts.reservedPorts ?? [])
  for (const app of mergeDeploymentGroups(apps, serves).sort((a, b) => a.id.localeCompare(b.id))) {
    const bridged = (app.networks ?? []).some((n) => n.mode !== 'host') && (app.container?.portMappings?.length ?? 0) > 0
    const ports = bridged
      ? (app.container?.portMappings ?? []).map((m) => ({ servicePort: m.servicePort, containerPort: m.containerPort, hasHostPort: m.hostPort !== undefined }))
      : (app.portDefinitions ?? []).map((p) => ({ servicePort: p.port, containerPort: 0, hasHostPort: true }))
    ports.forEach((p, n) => {
      // A port's own HAPROXY_{n}_GROUP wins over the app's HAPROXY_GROUP, as in marathon-lb.
      if (!inGroup(opts.group, label(app, n, 'GROUP') ?? app.labels?.HAPROXY_GROUP)) return
      const enabled = label(app, n, 'ENABLED')
      if (enabled === undefined ? opts.strict === true : !truthy(enabled)) return
      const override = Number(label(app, n, 'PORT'))
      const servicePort = Number.isInteger(override) && override > 0 ? override : p.servicePort
      if (!servicePort) return
      const reject = (reason: string): void => void rejected.push({ appId: app.id, portIndex: n, servicePort, reason })
      if (servicePort > 65535) return reject(`service port ${servicePort} is not a port`)
      if (reserved.has(servicePort)) return reject(`service port ${servicePort} is one the load balancer listens on itself`)
      const holder = taken.get(servicePort)
      if (holder !== undefined) return reject(`service port ${servicePort} is already served for app ${holder}`)
      const vhosts = (label(app, n, 'VHOST') ?? '')
        .split(',')
        .map((v) => v.trim().toLowerCase())
        .filter(Boolean)
      const path = label(app, n, 'PATH')
      const modeLabel = label(app, n, 'MODE')?.toLowerCase()
      const hc = healthCheckOf(app, n)
      const labels: PortLabels = {
        balance: label(app, n, 'BALANCE') ?? 'roundrobin',
        vhosts,
        path,
        mode: modeLabel,
        weight: label(app, n, 'BACKEND_WEIGHT'),
        bindAddress: label(app, n, 'BIND_ADDR'),
        bindOptions: label(app, n, 'BIND_OPTIONS'),
        sslCert: label(app, n, 'SSL_CERT'),
        checkPath: hc && HTTP_CHECKS.has(hc.protocol!) ? hc.path : undefined,
      }
      const problem = labelProblem(labels, opts)
      if (problem) return reject(problem)
      taken.set(servicePort, app.id)
      // As marathon-lb: http with a virtual host (or path), or when the port's health check is HTTP.
      const mode: Mode =
        modeLabel === 'http' || modeLabel === 'tcp' ? modeLabel : vhosts.length > 0 || path !== undefined || (hc !== undefined && HTTP_CHECKS.has(hc.protocol!)) ? 'http' : 'tcp'
      const servers: Server[] = []
      for (const t of app.tasks ?? []) {
        const draining = DRAINING_STATES.has(t.state) || (t.drain === true && serves(app, t))
        if (!draining && !serves(app, t)) continue
        let address = t.host
        let port = t.ports[n]
        // A container network without host ports is reached on the container's own address.
        if (!p.hasHostPort || port === undefined) {
          const ip = t.ipAddresses?.[0]?.ipAddress
          if (!ip || !p.containerPort) continue
          address = ip
          port = p.containerPort
        }
        if (!port) continue
        servers.push({ taskId: t.id, address, port, draining })
      }
      servers.sort((a, b) => a.taskId.localeCompare(b.taskId))
      backends.push({
        name: backendName(app.id, servicePort),
        appId: app.id,
        portIndex: n,
        servicePort,
        mode,
        balance: labels.balance,
        sticky: truthy(label(app, n, 'STICKY')),
        vhosts,
        ...(path ? { path } : {}),
        // marathon-lb weighs a route with a path 1 unless told, so that it comes before plain hosts.
        weight: labels.weight !== undefined ? Number(labels.weight) : path ? 1 : 0,
        ...(labels.bindAddress !== undefined ? { bindAddress: labels.bindAddress } : {}),
        ...(labels.bindOptions !== undefined ? { bindOptions: labels.bindOptions } : {}),
        ...(labels.sslCert !== undefined ? { sslCert: labels.sslCert } : {}),
        redirectToHttps: truthy(label(app, n, 'REDIRECT_TO_HTTPS')),
        hsts: truthy(label(app, n, 'USE_HSTS')),
        ...(hc ? { check: backendCheck(hc, mode) } : {}),
        servers,
        capacity: capacityOf(app),
      })
    })
  }
  return { backends, rejected }
}
