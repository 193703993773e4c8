// Domain types of the Marathon-compatible apps framework. An AppDefinition is Marathon's app
// JSON with every default filled in (what GET /v2/apps/{id} shows); the REST layer parses
// incoming JSON into it once (normalize-app.ts) and the rest of the framework trusts it.

export type Protocol = 'tcp' | 'udp' | 'udp,tcp'

export interface PortDefinition {
  port: number // 0 = assign a service port
  protocol: Protocol
  name?: string
  labels?: Record<string, string>
}

export interface PortMapping {
  containerPort: number // 0 = the same as the host port
  hostPort?: number // 0 = dynamic; absent = no host port (container networks)
  servicePort: number // 0 = assign
  protocol: Protocol
  name?: string
  labels?: Record<string, string>
}

export interface Volume {
  containerPath: string
  hostPath: string
  mode: 'RO' | 'RW'
}

export interface DockerSpec {
  image: string
  forcePullImage: boolean
  privileged: boolean
  parameters: Array<{ key: string; value: string }>
}

export interface ContainerSpec {
  type: 'DOCKER' | 'MESOS'
  docker?: DockerSpec
  portMappings?: PortMapping[]
  volumes: Volume[]
}

export type NetworkMode = 'host' | 'container/bridge' | 'container'

export interface Network {
  mode: NetworkMode
  name?: string
  labels?: Record<string, string>
}

export type HealthProtocol = 'HTTP' | 'HTTPS' | 'TCP' | 'COMMAND' | 'MESOS_HTTP' | 'MESOS_HTTPS' | 'MESOS_TCP'

export interface AppHealthCheck {
  protocol: HealthProtocol
  path?: string
  portIndex?: number
  port?: number
  command?: { value: string }
  gracePeriodSeconds: number
  intervalSeconds: number
  timeoutSeconds: number
  maxConsecutiveFailures: number
  delaySeconds: number
  ignoreHttp1xx?: boolean
  ipProtocol?: 'IPv4' | 'IPv6'
}

export interface ReadinessCheck {
  name: string
  protocol: 'HTTP' | 'HTTPS'
  path: string
  portName: string
  intervalSeconds: number
  timeoutSeconds: number
  httpStatusCodesForReady: number[]
  preserveLastResponse: boolean
}

export type ConstraintOperator = 'UNIQUE' | 'CLUSTER' | 'GROUP_BY' | 'LIKE' | 'UNLIKE' | 'MAX_PER' | 'IS'
export type Constraint = [field: string, operator: ConstraintOperator, value?: string]

export interface UpgradeStrategy {
  minimumHealthCapacity: number // 0..1
  maximumOverCapacity: number // 0..1
}

export type UnreachableStrategy = { inactiveAfterSeconds: number; expungeAfterSeconds: number } | 'disabled'

export interface FetchUri {
  uri: string
  extract: boolean
  executable: boolean
  cache: boolean
  destPath?: string
}

export interface AppDefinition {
  id: string // absolute path, e.g. "/prod/web"
  cmd?: string
  args?: string[]
  user?: string
  instances: number
  cpus: number
  mem: number
  disk: number
  gpus: number
  env: Record<string, string>
  labels: Record<string, string>
  constraints: Constraint[]
  acceptedResourceRoles?: string[]
  role?: string
  container?: ContainerSpec
  networks: Network[]
  portDefinitions: PortDefinition[] // empty unless networking is host
  requirePorts: boolean
  healthChecks: AppHealthCheck[]
  readinessChecks: ReadinessCheck[]
  upgradeStrategy: UpgradeStrategy
  backoffSeconds: number
  backoffFactor: number
  maxLaunchDelaySeconds: number
  killSelection: 'YOUNGEST_FIRST' | 'OLDEST_FIRST'
  unreachableStrategy: UnreachableStrategy
  taskKillGracePeriodSeconds?: number
  dependencies: string[]
  fetch: FetchUri[]
  version: string // ISO-8601 timestamp of this version
  versionInfo: { lastScalingAt: string; lastConfigChangeAt: string }
}

/** Instance conditions, as Marathon names them. */
export const Condition = {
  Scheduled: 'Scheduled',
  Provisioned: 'Provisioned',
  Staging: 'Staging',
  Starting: 'Starting',
  Running: 'Running',
  Killing: 'Killing',
  Killed: 'Killed',
  Finished: 'Finished',
  Failed: 'Failed',
  Error: 'Error',
  Unreachable: 'Unreachable',
  UnreachableInactive: 'UnreachableInactive',
  Gone: 'Gone',
  Dropped: 'Dropped',
  Unknown: 'Unknown',
} as const
export type Condition = (typeof Condition)[keyof typeof Condition]

/** The conditions of an instance launched that has neither run nor ended yet (Marathon's staged). */
export const LAUNCHING: ReadonlySet<Condition> = new Set<Condition>([Condition.Provisioned, Condition.Staging, Condition.Starting])

/** One running (or starting, or lost) copy of an app: one Mesos task. */
export interface Instance {
  instanceId: string // e.g. "prod_web.instance-<uuid>"
  taskId: string // Mesos task id: "<app path with '/' as '_'>.<uuid>", as Marathon names them
  appId: string
  version: string // the app version it runs
  /** versionInfo.lastConfigChangeAt of that version: instances differ only when this does. */
  configVersion: string
  agentId: string
  host: string
  /** Address of the agent, for health checks and load balancing (the hostname may not resolve). */
  agentIp: string
  /** The agent's attributes when the instance was placed, for constraints of later placements (Marathon's AgentInfo). */
  agentAttributes?: Record<string, string>
  hostPorts: number[]
  servicePorts: number[]
  condition: Condition
  mesosState: string // last Mesos state seen
  stagedAt: string
  startedAt?: string
  healthy?: boolean // undefined: no health checks or no result yet
  ready?: boolean // readiness checks passed
  ipAddresses: Array<{ ipAddress: string; protocol: 'IPv4' | 'IPv6' }>
  goal: 'Running' | 'Stopped' | 'Decommissioned'
  unreachableSince?: string
  lastMessage?: string
}

/** Placement view of one offer: resources as plain numbers and port ranges. */
export interface OfferView {
  id: string
  agentId: string
  hostname: string
  attributes: Record<string, string> // text and scalar attributes as strings
  cpus: number
  mem: number
  disk: number
  gpus: number
  ports: Array<{ begin: number; end: number }>
  role: string
}

export type DeploymentAction = 'StartApplication' | 'StopApplication' | 'ScaleApplication' | 'RestartApplication' | 'ResolveArtifacts'

export interface DeploymentStep {
  actions: Array<{ action: DeploymentAction; app: string }>
}

export interface DeploymentPlan {
  id: string
  version: string
  affectedApps: string[]
  steps: DeploymentStep[]
  /** The target apps (by id) this deployment moves to; absent = remove the app. */
  target: Record<string, AppDefinition | null>
  /** The apps before it started, for rollback. */
  original: Record<string, AppDefinition | null>
}
