// The Mesos TaskInfo (wire JSON) of one launch, with the environment Marathon gives a task.
import type { TaskInfo } from '../api/mesos.js'
import { valuesToRanges } from '../core/resources.js'
import { hasPortMappings, hostPortRequests } from './ports.js'
import { appHostname } from './task-ids.js'
import type { AppDefinition, OfferView, PortMapping } from './types.js'

type WireResource = TaskInfo['resources'][number]
type WireHealthCheck = NonNullable<TaskInfo['health_check']>
type WireContainer = NonNullable<TaskInfo['container']>
type WireCommand = NonNullable<TaskInfo['command']>

function isHostNetworking(app: AppDefinition): boolean {
  return app.networks.length === 0 || app.networks.every((n) => n.mode === 'host')
}

/** One entry per port mapping (or definition): its host port, or undefined when it has none. */
function alignHostPorts(app: AppDefinition, hostPorts: readonly number[]): Array<number | undefined> {
  let next = 0
  return hostPortRequests(app).map((r) => (r.kind === 'none' ? undefined : hostPorts[next++]))
}

/** Scala's Double.toString for the values apps use: 1 -> "1.0", 0.5 -> "0.5". */
function scalaDouble(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n)
}

const LABEL_ENV_PREFIX = 'MARATHON_APP_LABEL_'
const MAX_ENV_LENGTH = 512

function labelsEnv(labels: Record<string, string>): Array<[string, string]> {
  const valid = Object.entries(labels)
    .filter(([k, v]) => k.length < MAX_ENV_LENGTH - LABEL_ENV_PREFIX.length && v.length < MAX_ENV_LENGTH)
    .map(([k, v]): [string, string] => [k.replace(/[^a-zA-Z0-9_]+/g, '_').toUpperCase(), v])
  return [['MARATHON_APP_LABELS', valid.map(([k]) => k).join(' ')], ...valid.map(([k, v]): [string, string] => [`${LABEL_ENV_PREFIX}${k}`, v])]
}

interface PortRequestEnv {
  name: string | undefined
  port: number // container port with mappings, else the declared (service) port; may be 0
}

/**
 * PORT<i>, PORT_<declared port>, PORT_<NAME>, PORT and PORTS (EnvironmentHelper.portsEnv).
 * A mapping without host port gets its container port; a container port of 0 there gets a
 * generated one, which Marathon draws at random above 1024 and we take as the lowest unused.
 */
function portsEnv(requested: readonly PortRequestEnv[], hostPorts: ReadonlyArray<number | undefined>): Array<[string, string]> {
  if (hostPorts.length === 0) return []
  const env: Array<[string, string]> = []
  const consumed = new Set<number>([...requested.map((r) => r.port), ...hostPorts.filter((p): p is number => p !== undefined)])
  const generated = new Map<number, number>()
  let candidate = 1025
  const generate = (): number => {
    while (consumed.has(candidate)) candidate++
    consumed.add(candidate)
    return candidate
  }
  hostPorts.forEach((host, i) => {
    if (host !== undefined) env.push([`PORT${i}`, String(host)])
    else {
      const req = requested[i]
      if (req === undefined) return
      const port = req.port === 0 ? generate() : req.port
      if (req.port === 0) generated.set(i, port)
      env.push([`PORT${i}`, String(port)])
    }
  })
  const effective = (i: number): number | undefined => hostPorts[i] ?? (requested[i]?.port === 0 ? generated.get(i) : requested[i]?.port)
  hostPorts.forEach((_, i) => {
    const req = requested[i]
    const port = effective(i)
    if (req === undefined || port === undefined) return
    env.push([`PORT_${req.port !== 0 ? req.port : port}`, String(port)])
  })
  hostPorts.forEach((_, i) => {
    const req = requested[i]
    const port = effective(i)
    if (req?.name !== undefined && port !== undefined) env.push([`PORT_${req.name.toUpperCase()}`, String(port)])
  })
  const assigned = [...hostPorts.filter((p): p is number => p !== undefined), ...generated.values()]
  if (assigned[0] !== undefined) env.push(['PORT', String(assigned[0])])
  env.push(['PORTS', assigned.join(',')])
  return env
}

export interface BuildTaskInfoInput {
  app: AppDefinition
  taskId: string
  offer: OfferView
  /** From the launch: host ports in port-mapping (or definition) order. */
  hostPorts: readonly number[]
  /** The app's service ports; used for PORT_<port> when a port definition's port is 0. */
  servicePorts: readonly number[]
  /** Marathon's --env_vars_prefix: prefixes the port variables and HOST. */
  envVarsPrefix?: string
}

/** Environment variables Marathon gives a task; the app's own `env` wins over generated ones. */
export function taskEnvironment(input: BuildTaskInfoInput): Record<string, string> {
  const { app } = input
  const env: Record<string, string> = {}
  const set = (entries: Iterable<[string, string]>, prefix = ''): void => {
    for (const [k, v] of entries) env[prefix + k] = v
  }
  const docker = app.container?.type === 'DOCKER' ? app.container.docker : undefined
  set([
    ['MESOS_TASK_ID', input.taskId],
    ['MARATHON_APP_ID', app.id],
    ['MARATHON_APP_VERSION', app.version],
    ...(docker ? [['MARATHON_APP_DOCKER_IMAGE', docker.image] as [string, string]] : []),
    ['MARATHON_APP_RESOURCE_CPUS', scalaDouble(app.cpus)],
    ['MARATHON_APP_RESOURCE_MEM', scalaDouble(app.mem)],
    ['MARATHON_APP_RESOURCE_DISK', scalaDouble(app.disk)],
    ['MARATHON_APP_RESOURCE_GPUS', String(Math.trunc(app.gpus))],
  ])
  set(labelsEnv(app.labels))
  const requested: PortRequestEnv[] = hasPortMappings(app)
    ? (app.container?.portMappings ?? []).map((m) => ({ name: m.name, port: m.containerPort }))
    : app.portDefinitions.map((d, i) => ({ name: d.name, port: d.port !== 0 ? d.port : (input.servicePorts[i] ?? 0) }))
  const prefix = input.envVarsPrefix ?? ''
  set(portsEnv(requested, alignHostPorts(app, input.hostPorts)), prefix)
  set([['HOST', input.offer.hostname]], prefix)
  set(Object.entries(app.env))
  return env
}

function commandInfo(app: AppDefinition, env: Record<string, string>): WireCommand {
  const command: WireCommand = {
    shell: true,
    arguments: [],
    environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
    uris: app.fetch.map((f) => ({
      value: f.uri,
      extract: f.extract,
      executable: f.executable,
      cache: f.cache,
      ...(f.destPath !== undefined ? { output_file: f.destPath } : {}),
    })),
  }
  if (app.cmd !== undefined && app.cmd !== '') command.value = app.cmd
  else command.shell = false
  // args win over cmd; the command executor wants argv[0] as the value when there is no container.
  if (app.args !== undefined && app.args.length > 0) {
    command.shell = false
    command.arguments = [...app.args]
    if (app.container === undefined) command.value = app.args[0]!
    else delete command.value
  }
  if (app.user !== undefined) command.user = app.user
  return command
}

function resources(app: AppDefinition, offer: OfferView, hostPorts: readonly number[]): WireResource[] {
  const alloc = { role: '*', allocation_info: { role: offer.role } }
  const out: WireResource[] = []
  const scalar = (name: string, value: number): void => {
    if (value > 0) out.push({ name, type: 'SCALAR', scalar: { value }, ...alloc })
  }
  scalar('cpus', app.cpus)
  scalar('mem', app.mem)
  scalar('disk', app.disk)
  scalar('gpus', app.gpus)
  if (hostPorts.length > 0) {
    out.push({ name: 'ports', type: 'RANGES', ranges: { range: valuesToRanges(hostPorts).map((r) => ({ begin: r.begin, end: r.end })) }, ...alloc })
  }
  return out
}

/** Protocol strings like "udp,tcp" become one entry per protocol, as Marathon does. */
function protocols(p: string): string[] {
  return p.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

function wireLabels(labels: Readonly<Record<string, string>>): { labels: Array<{ key: string; value: string }> } {
  return { labels: Object.entries(labels).map(([key, value]) => ({ key, value })) }
}

/** The mapping with its host port bound, and container port 0 replaced by that host port. */
function boundMappings(app: AppDefinition, aligned: ReadonlyArray<number | undefined>): Array<PortMapping & { hostPort: number }> {
  const out: Array<PortMapping & { hostPort: number }> = []
  ;(app.container?.portMappings ?? []).forEach((m, i) => {
    const host = aligned[i]
    if (host === undefined) return
    out.push({ ...m, hostPort: host, containerPort: m.containerPort === 0 ? host : m.containerPort })
  })
  return out
}

function containerInfo(app: AppDefinition, taskId: string, aligned: ReadonlyArray<number | undefined>): WireContainer | undefined {
  const c = app.container
  if (c === undefined && isHostNetworking(app)) return undefined
  const bound = boundMappings(app, aligned)
  const volumes = (c?.volumes ?? []).map((v) => ({ container_path: v.containerPath, host_path: v.hostPath, mode: v.mode }))
  const containerNetworks = app.networks.filter((n) => n.mode === 'container')
  if (c?.type === 'DOCKER' && c.docker) {
    // The last network decides, as in ContainerSerializer; no networks means host.
    const last = app.networks[app.networks.length - 1]
    const network = last?.mode === 'container' ? 'USER' : last?.mode === 'container/bridge' ? 'BRIDGE' : 'HOST'
    const info: WireContainer = {
      type: 'DOCKER',
      docker: {
        image: c.docker.image,
        network,
        port_mappings: bound.flatMap((m) => protocols(m.protocol).map((protocol) => ({ host_port: m.hostPort, container_port: m.containerPort, protocol }))),
        privileged: c.docker.privileged,
        parameters: [...c.docker.parameters, { key: 'label', value: `MESOS_TASK_ID=${taskId}` }],
        force_pull_image: c.docker.forcePullImage,
      },
      volumes,
    }
    const named = containerNetworks.find((n) => n.name !== undefined)
    if (named?.name !== undefined) info['network_infos'] = [{ name: named.name }]
    return info
  }
  // The Mesos containerizer: optional Docker image, and a NetworkInfo per non-host network.
  const info: WireContainer = { type: 'MESOS', volumes }
  info['mesos'] = c?.docker ? { image: { type: 'DOCKER', docker: { name: c.docker.image }, cached: !c.docker.forcePullImage } } : {}
  const networkInfos = app.networks
    .filter((n) => n.mode !== 'host')
    .map((n) => ({
      name: n.mode === 'container/bridge' ? 'mesos-bridge' : (n.name ?? ''),
      ip_addresses: [{}],
      ...(n.labels && Object.keys(n.labels).length > 0 ? { labels: wireLabels(n.labels) } : {}),
      port_mappings: bound.flatMap((m) => protocols(m.protocol).map((protocol) => ({ host_port: m.hostPort, container_port: m.containerPort, protocol }))),
    }))
  if (networkInfos.length > 0) info['network_infos'] = networkInfos
  return info
}

/**
 * The port a Mesos health check probes: its fixed `port`, else the port at `portIndex` (0 when
 * unset). Mesos probes from inside the container's network, so a mapping's container port comes
 * before its host port (MesosHealthCheckWithPorts.effectivePort).
 */
function healthCheckPort(
  check: AppDefinition['healthChecks'][number],
  app: AppDefinition,
  aligned: ReadonlyArray<number | undefined>,
): number | undefined {
  if (check.port !== undefined) return check.port
  const index = check.portIndex ?? 0
  if (hasPortMappings(app)) {
    const m = app.container?.portMappings?.[index]
    if (m === undefined) return undefined
    const host = aligned[index]
    if (m.containerPort !== 0) return m.containerPort
    return host
  }
  return aligned[index]
}

/** The first Mesos-run health check (Mesos takes one); Marathon-run HTTP/HTTPS/TCP checks stay out. */
function healthCheckInfo(app: AppDefinition, aligned: ReadonlyArray<number | undefined>): WireHealthCheck | undefined {
  for (const check of app.healthChecks) {
    const timing = {
      delay_seconds: check.delaySeconds,
      interval_seconds: check.intervalSeconds,
      timeout_seconds: check.timeoutSeconds,
      consecutive_failures: check.maxConsecutiveFailures,
      grace_period_seconds: check.gracePeriodSeconds,
    }
    switch (check.protocol) {
      case 'COMMAND':
        if (check.command === undefined) continue
        return { type: 'COMMAND', command: { value: check.command.value, shell: true, arguments: [], uris: [] }, ...timing }
      case 'MESOS_HTTP':
      case 'MESOS_HTTPS': {
        const port = healthCheckPort(check, app, aligned)
        if (port === undefined) continue
        const scheme = check.protocol === 'MESOS_HTTP' ? 'http' : 'https'
        return { type: 'HTTP', http: { port, path: check.path ?? '/', scheme }, ...timing }
      }
      case 'MESOS_TCP': {
        const port = healthCheckPort(check, app, aligned)
        if (port === undefined) continue
        return { type: 'TCP', tcp: { port }, ...timing }
      }
      default:
        continue
    }
  }
  return undefined
}

interface DiscoveryPort {
  number: number
  protocol: string
  name?: string
  labels?: { labels: Array<{ key: string; value: string }> }
}

/** DiscoveryInfo as Marathon sets it, which Mesos-DNS reads (PortDiscovery.generateForApp). */
function discoveryInfo(app: AppDefinition, aligned: ReadonlyArray<number | undefined>): Record<string, unknown> {
  const ports: DiscoveryPort[] = []
  const port = (number: number, protocol: string, name: string | undefined, labels: Record<string, string>): DiscoveryPort => ({
    number,
    protocol,
    ...(name !== undefined ? { name } : {}),
    ...(Object.keys(labels).length > 0 ? { labels: wireLabels(labels) } : {}),
  })
  if (isHostNetworking(app) && !hasPortMappings(app)) {
    app.portDefinitions.forEach((d, i) => {
      const host = aligned[i]
      if (host === undefined) return
      for (const p of protocols(d.protocol)) ports.push(port(host, p, d.name, d.labels ?? {}))
    })
  } else {
    const networkNames = app.networks.flatMap((n) => (n.mode === 'container' && n.name !== undefined ? [n.name] : []))
    ;(app.container?.portMappings ?? []).forEach((m, i) => {
      const host = aligned[i]
      for (const p of protocols(m.protocol)) {
        if (host !== undefined) ports.push(port(host, p, m.name, { ...m.labels, 'network-scope': 'host' }))
        else for (const net of networkNames) ports.push(port(m.containerPort, p, m.name, { ...m.labels, 'network-scope': 'container', 'network-name': net }))
      }
    })
  }
  return { visibility: 'FRAMEWORK', name: appHostname(app.id), ports: { ports } }
}

/** The Mesos TaskInfo (wire JSON) for one launch. */
export function buildTaskInfo(input: BuildTaskInfoInput): TaskInfo {
  const { app, offer } = input
  const aligned = alignHostPorts(app, input.hostPorts)
  const task: TaskInfo = {
    name: appHostname(app.id),
    task_id: { value: input.taskId },
    agent_id: { value: offer.agentId },
    resources: resources(app, offer, input.hostPorts),
    command: commandInfo(app, taskEnvironment(input)),
  }
  const container = containerInfo(app, input.taskId, aligned)
  if (container) task.container = container
  const health = healthCheckInfo(app, aligned)
  if (health) task.health_check = health
  if (app.taskKillGracePeriodSeconds !== undefined) {
    task.kill_policy = { grace_period: { nanoseconds: Math.round(app.taskKillGracePeriodSeconds * 1e9) } }
  }
  if (Object.keys(app.labels).length > 0) task.labels = wireLabels(app.labels)
  task['discovery'] = discoveryInfo(app, aligned)
  return task
}
