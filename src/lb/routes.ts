// What the load balancer should route, as a pure function of the apps and their tasks (the
// JSON of GET /v2/apps?embed=apps.tasks&embed=apps.readiness). marathon-lb's labels choose the
// group, the mode, the balance algorithm, virtual hosts, paths and service ports. Servers name
// the task's host (or its container address); the shell resolves hosts to addresses.

export interface LbTask {
  id: string
  state: string
  /** The agent's hostname; the shell resolves it to an address, as marathon-lb does. */
  host: string
  ports: number[]
  ipAddresses?: Array<{ ipAddress: string }>
  healthCheckResults?: Array<{ alive: boolean }>
  version?: string
}

export interface LbApp {
  id: string
  labels?: Record<string, string>
  portDefinitions?: Array<{ port: number; name?: string }>
  container?: { portMappings?: Array<{ containerPort: number; hostPort?: number; servicePort: number; name?: string }> }
  networks?: Array<{ mode: string }>
  healthChecks?: unknown[]
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
}

/** HAProxy's balance algorithms (2.6); the ones that take an argument are matched by their prefix. */
const BALANCE = /^(?:roundrobin|static-rr|leastconn|first|source|random(?:\(\d+\))?|uri(?: [A-Za-z0-9 _.=-]*)?|url_param [A-Za-z0-9_.-]+(?: [A-Za-z0-9 _.=-]*)?|hdr\([A-Za-z0-9_-]+\)(?: [A-Za-z0-9 _.=-]*)?|rdp-cookie(?:\([A-Za-z0-9_-]+\))?)$/
const VHOST = /^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/
const PATH = /^\/[^\s'"\\]*$/

/** Why HAProxy would refuse a route's labels, or undefined when it would take them. */
function labelProblem(o: { balance: string; vhosts: readonly string[]; path: string | undefined }): string | undefined {
  if (!BALANCE.test(o.balance)) return `HAPROXY balance '${o.balance}' is not an HAProxy algorithm`
  const bad = o.vhosts.find((v) => !VHOST.test(v))
  if (bad !== undefined) return `virtual host '${bad}' is not a host name`
  if (o.path !== undefined && !PATH.test(o.path)) return `path '${o.path}' must start with / and hold no spaces or quotes`
  return undefined
}

/** marathon-lb's has_group: `*` takes all; otherwise the app's groups must name this one. */
function inGroup(lbGroup: string, appGroups: string | undefined): boolean {
  if (lbGroup === '*') return true
  if (appGroups === undefined) return false
  return appGroups.split(',').map((g) => g.trim()).includes(lbGroup)
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
  for (const app of [...apps].sort((a, b) => a.id.localeCompare(b.id))) {
    const bridged = (app.networks ?? []).some((n) => n.mode !== 'host') && (app.container?.portMappings?.length ?? 0) > 0
    const ports = bridged
      ? (app.container?.portMappings ?? []).map((m) => ({ servicePort: m.servicePort, containerPort: m.containerPort, hasHostPort: m.hostPort !== undefined }))
      : (app.portDefinitions ?? []).map((p) => ({ servicePort: p.port, containerPort: 0, hasHostPort: true }))
    ports.forEach((p, n) => {
      // A port's own HAPROXY_{n}_GROUP wins over the app's HAPROXY_GROUP, as in marathon-lb.
      if (!inGroup(opts.group, label(app, n, 'GROUP') ?? app.labels?.HAPROXY_GROUP)) return
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
      const balance = label(app, n, 'BALANCE') ?? 'roundrobin'
      const problem = labelProblem({ balance, vhosts, path })
      if (problem) return reject(problem)
      taken.set(servicePort, app.id)
      const modeLabel = label(app, n, 'MODE')
      const mode: Mode = modeLabel === 'http' || modeLabel === 'tcp' ? modeLabel : vhosts.length > 0 ? 'http' : 'tcp'
      const servers: Server[] = []
      for (const t of app.tasks ?? []) {
        const draining = DRAINING_STATES.has(t.state)
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
        balance,
        sticky: label(app, n, 'STICKY') === 'true',
        vhosts,
        ...(path ? { path } : {}),
        servers,
        capacity: capacityOf(app),
      })
    })
  }
  return { backends, rejected }
}
