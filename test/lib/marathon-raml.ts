// Marathon's v2 response bodies as strict zod schemas, written from the published RAML types
// (docs/docs/rest-api/public/api/v2/types/*.raml of Marathon 1.11) and, where the RAML and the
// wire disagree, from what Marathon writes. Every object rejects keys the RAML does not name:
// a client that builds typed objects from a response and refuses unknown keys must be able to
// read whatever dromos answers. Required and optional follow the RAML.
import { z } from 'zod'

const str = z.string()
const int = z.number().int()
const num = z.number()
const labels = z.record(z.string(), z.string())
const datetime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a datetime')

// ---- app.raml and the types it uses ----

const envValue = z.union([z.string(), z.strictObject({ secret: z.string() })])

const artifact = z.strictObject({ uri: str, extract: z.boolean().optional(), executable: z.boolean().optional(), cache: z.boolean().optional(), destPath: str.optional() })

const portMapping = z.strictObject({
  containerPort: int,
  hostPort: int.optional(),
  labels: labels.optional(),
  name: str.optional(),
  protocol: str.optional(),
  servicePort: int.optional(),
  networkNames: z.array(str).optional(),
})

const dockerContainer = z.strictObject({
  credential: z.strictObject({ principal: str, secret: str.optional() }).optional(),
  pullConfig: z.strictObject({ secret: str }).optional(),
  forcePullImage: z.boolean().optional(),
  image: str,
  network: z.enum(['BRIDGE', 'HOST', 'NONE', 'USER']).optional(),
  parameters: z.array(z.strictObject({ key: str, value: str })).optional(),
  portMappings: z.array(portMapping).optional(),
  privileged: z.boolean().optional(),
})

const readMode = z.enum(['RO', 'RW'])
const appVolume = z.union([
  z.strictObject({ containerPath: str, hostPath: str, mode: readMode }),
  z.strictObject({ containerPath: str, secret: str }),
  z.strictObject({ containerPath: str, mode: readMode, persistent: z.strictObject({ type: str.optional(), size: num, maxSize: num.optional(), profileName: str.optional(), constraints: z.array(z.array(str)).optional() }) }),
])

const container = z.strictObject({
  type: z.enum(['MESOS', 'DOCKER']),
  docker: dockerContainer.optional(),
  linuxInfo: z.strictObject({ seccomp: z.unknown().optional(), ipcInfo: z.unknown().optional(), sharedMemory: z.unknown().optional() }).optional(),
  volumes: z.array(appVolume).optional(),
  portMappings: z.array(portMapping).optional(),
})

const network = z.strictObject({ name: str.optional(), mode: z.enum(['container', 'container/bridge', 'host']).optional(), labels: labels.optional() })

const portDefinition = z.strictObject({ port: int.optional(), labels: labels.optional(), name: str.optional(), protocol: str.optional() })

export const AppHealthCheck = z.strictObject({
  command: z.strictObject({ value: str }).optional(),
  gracePeriodSeconds: int.optional(),
  ignoreHttp1xx: z.boolean().optional(),
  intervalSeconds: int.optional(),
  maxConsecutiveFailures: int.optional(),
  path: str.optional(),
  port: int.optional(),
  portIndex: int.optional(),
  protocol: z.enum(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_TCP', 'MESOS_HTTP', 'MESOS_HTTPS']).optional(),
  ipProtocol: z.enum(['IPv4', 'IPv6']).optional(),
  timeoutSeconds: int.optional(),
  delaySeconds: int.optional(),
})

const readinessCheck = z.strictObject({
  name: str.optional(),
  protocol: z.enum(['HTTP', 'HTTPS']).optional(),
  path: str.optional(),
  portName: str.optional(),
  intervalSeconds: int.optional(),
  timeoutSeconds: int.optional(),
  httpStatusCodesForReady: z.array(int).optional(),
  preserveLastResponse: z.boolean().optional(),
})

const appShape = {
  id: str,
  acceptedResourceRoles: z.array(str).optional(),
  args: z.array(str).optional(),
  backoffFactor: num.optional(),
  backoffSeconds: int.optional(),
  cmd: str.optional(),
  constraints: z.array(z.array(str).min(2).max(3)).optional(),
  container: container.optional(),
  cpus: num.optional(),
  dependencies: z.array(str).optional(),
  disk: num.optional(),
  env: z.record(z.string(), envValue).optional(),
  executor: str.optional(),
  executorResources: z.strictObject({ cpus: num.optional(), mem: num.optional(), disk: num.optional() }).optional(),
  fetch: z.array(artifact).optional(),
  healthChecks: z.array(AppHealthCheck).optional(),
  check: z.unknown().optional(),
  instances: int.optional(),
  labels: labels.optional(),
  maxLaunchDelaySeconds: int.optional(),
  mem: num.optional(),
  gpus: int.optional(),
  ipAddress: z.unknown().optional(),
  networks: z.array(network).optional(),
  ports: z.array(int).optional(),
  portDefinitions: z.array(portDefinition).optional(),
  readinessChecks: z.array(readinessCheck).optional(),
  residency: z.strictObject({ relaunchEscalationTimeoutSeconds: int.optional(), taskLostBehavior: str.optional() }).optional(),
  resourceLimits: z.strictObject({ cpus: z.union([num, str]).optional(), mem: z.union([num, str]).optional() }).optional(),
  requirePorts: z.boolean().optional(),
  secrets: z.record(z.string(), z.strictObject({ source: str })).optional(),
  taskKillGracePeriodSeconds: int.optional(),
  upgradeStrategy: z.strictObject({ maximumOverCapacity: num, minimumHealthCapacity: num }).optional(),
  uris: z.array(str).optional(),
  user: str.optional(),
  version: datetime.optional(),
  versionInfo: z.strictObject({ lastScalingAt: datetime, lastConfigChangeAt: datetime }).optional(),
  killSelection: z.enum(['YOUNGEST_FIRST', 'OLDEST_FIRST']).optional(),
  unreachableStrategy: z.union([z.literal('disabled'), z.strictObject({ inactiveAfterSeconds: int.optional(), expungeAfterSeconds: int.optional() })]).optional(),
  tty: z.boolean().optional(),
  role: str.optional(),
}

/** app.raml App: a definition, as POSTed and as /v2/apps/{id}/versions/{v} and the queue answer it. */
export const App = z.strictObject(appShape)

// ---- task.raml, healthCheck.raml, readinessCheck.raml ----

/** healthCheck.raml Health; Marathon writes the unset times and cause as null. */
export const Health = z.strictObject({
  alive: z.boolean(),
  consecutiveFailures: int,
  firstSuccess: str.nullable().optional(),
  instanceId: str,
  lastSuccess: str.nullable().optional(),
  lastFailure: str.nullable().optional(),
  lastFailureCause: str.nullable().optional(),
})

const ipAddr = z.strictObject({ ipAddress: str, protocol: z.enum(['IPv4', 'IPv6']) })

const taskState = z.enum([
  'TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR',
  'TASK_LOST', 'TASK_DROPPED', 'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN',
])

/**
 * task.raml Task (the enriched task of /v2/tasks, /v2/apps/{id}/tasks and embed=apps.tasks).
 * The RAML marks the arrays optional, but Marathon's generated serializer writes an optional
 * array without (pragma.omitEmpty) always, `[]` when empty (EnrichedTaskWritesTest), so here
 * they are required; it leaves out only the optional fields that are not arrays when unset.
 */
export const Task = z.strictObject({
  appId: str,
  healthCheckResults: z.array(Health),
  checkResult: z.unknown().optional(),
  host: str,
  id: str,
  ipAddresses: z.array(ipAddr),
  ports: z.array(int),
  servicePorts: z.array(int),
  slaveId: str.optional(),
  state: taskState,
  stagedAt: str.optional(),
  startedAt: str.optional(),
  version: str.optional(),
  localVolumes: z.array(z.strictObject({ runSpecId: str, containerPath: str, uuid: str, persistenceId: str })),
  region: str.optional(),
  zone: str.optional(),
  role: str,
})

/** task.raml TaskFailure; Marathon writes an unknown slaveId as null. */
export const TaskFailure = z.strictObject({
  appId: str,
  host: str,
  message: str,
  state: str,
  taskId: str,
  timestamp: datetime,
  version: datetime,
  slaveId: str.nullable().optional(),
})

const stats = z.strictObject({
  stats: z.strictObject({
    counts: z.strictObject({ staged: int, running: int, healthy: int, unhealthy: int }),
    lifeTime: z.strictObject({ averageSeconds: num, medianSeconds: num }).optional(),
  }),
})

/** task.raml TaskStatsByVersion: a group of tasks is left out when it has none. */
export const TaskStatsByVersion = z.strictObject({
  startedAfterLastScaling: stats.optional(),
  withLatestConfig: stats.optional(),
  withOutdatedConfig: stats.optional(),
  totalSummary: stats.optional(),
})

/** readinessCheck.raml TaskReadinessCheckResult. */
export const ReadinessCheckResult = z.strictObject({
  name: str,
  taskId: str,
  ready: z.boolean(),
  lastResponse: z.strictObject({ status: int, contentType: str, body: str }).optional(),
})

const identifiable = z.strictObject({ id: str })

/** app.raml AppInfo: the app with what was embedded. */
export const AppInfo = z.strictObject({
  ...appShape,
  tasksStaged: int.optional(),
  tasksRunning: int.optional(),
  tasksHealthy: int.optional(),
  tasksUnhealthy: int.optional(),
  deployments: z.array(identifiable).optional(),
  readinessCheckResults: z.array(ReadinessCheckResult).optional(),
  tasks: z.array(Task).optional(),
  lastTaskFailure: TaskFailure.optional(),
  tasksStats: TaskStatsByVersion.optional(),
})

export const AppList = z.strictObject({ apps: z.array(AppInfo) })
export const AppSingle = z.strictObject({ app: AppInfo })
export const VersionList = z.strictObject({ versions: z.array(datetime) })
export const TaskList = z.strictObject({ tasks: z.array(Task) })

// ---- group.raml ----

export interface GroupInfoJson {
  id: string
  apps?: Array<z.infer<typeof AppInfo>> | undefined
  pods?: unknown[] | undefined
  groups?: GroupInfoJson[] | undefined
  dependencies?: string[] | undefined
  version?: string | undefined
  enforceRole?: boolean | undefined
}

/** group.raml GroupInfo; its apps are AppInfo (the RAML's TODO), as Marathon writes them. */
export const GroupInfo: z.ZodType<GroupInfoJson> = z.lazy(() =>
  z.strictObject({
    id: str,
    apps: z.array(AppInfo).optional(),
    pods: z.array(z.unknown()).optional(),
    groups: z.array(GroupInfo).optional(),
    dependencies: z.array(str).optional(),
    version: datetime.optional(),
    enforceRole: z.boolean().optional(),
  }),
)

// ---- deployment.raml ----

const deploymentActionShape = {
  action: z.enum(['StartApplication', 'StopApplication', 'ScaleApplication', 'RestartApplication', 'StartPod', 'StopPod', 'ScalePod', 'RestartPod', 'ResolveArtifacts']),
  app: str.optional(),
  pod: str.optional(),
}
const deploymentAction = z.strictObject(deploymentActionShape)

/** deployment.raml DeploymentStepInfo: one entry of GET /v2/deployments. */
export const Deployment = z.strictObject({
  id: str,
  version: datetime,
  original: GroupInfo.optional(),
  target: GroupInfo.optional(),
  steps: z.array(z.strictObject({ actions: z.array(deploymentAction) })),
  affectedApps: z.array(str),
  affectedPods: z.array(str),
  currentActions: z.array(z.strictObject({ ...deploymentActionShape, readinessCheckResults: z.array(ReadinessCheckResult) })),
  currentStep: int,
  totalSteps: int,
})
export const DeploymentList = z.array(Deployment)

// ---- queue.raml, offer.raml ----

const numberRange = z.strictObject({ begin: int, end: int })
const offer = z.strictObject({
  id: str,
  hostname: str,
  agentId: str,
  resources: z.array(z.strictObject({ name: str, role: str, scalar: num.optional(), ranges: z.array(numberRange).optional(), set: z.array(str).optional() })),
  attributes: z.array(z.strictObject({ name: str, text: str.optional(), scalar: num.optional(), ranges: z.array(numberRange).optional(), set: z.array(str).optional() })),
})
const declinedOfferStep = z.strictObject({ reason: str, declined: int, processed: int })

/** queue.raml QueueApp: the app is a plain App, without counts or embeds. */
export const QueueApp = z.strictObject({
  count: int,
  delay: z.strictObject({ timeLeftSeconds: int, overdue: z.boolean() }).optional(),
  since: datetime,
  processedOffersSummary: z.strictObject({
    processedOffersCount: int,
    unusedOffersCount: int,
    lastUnusedOfferAt: datetime.optional(),
    lastUsedOfferAt: datetime.optional(),
    rejectSummaryLastOffers: z.array(declinedOfferStep).optional(),
    rejectSummaryLaunchAttempt: z.array(declinedOfferStep).optional(),
  }),
  lastUnusedOffers: z.array(z.strictObject({ offer, reason: z.array(str), timestamp: datetime })).optional(),
  app: App,
})
export const Queue = z.strictObject({ queue: z.array(QueueApp).optional() })

// ---- info.raml ----

const marathonConfig = z.strictObject({
  access_control_allow_origin: z.array(str).optional(),
  checkpoint: z.boolean().optional(),
  decline_offer_duration: int.optional(),
  default_network_name: str.optional(),
  env_vars_prefix: str.optional(),
  executor: str.optional(),
  failover_timeout: int.optional(),
  features: z.array(str),
  framework_name: str.optional(),
  ha: z.boolean().optional(),
  hostname: str.optional(),
  launch_token: int.optional(),
  launch_token_refresh_interval: int.optional(),
  leader_proxy_connection_timeout_ms: int.optional(),
  leader_proxy_read_timeout_ms: int.optional(),
  local_port_max: int.optional(),
  local_port_min: int.optional(),
  master: str.optional(),
  max_instances_per_offer: int.optional(),
  mesos_bridge_name: str.optional(),
  mesos_heartbeat_failure_threshold: int.optional(),
  mesos_heartbeat_interval: int.optional(),
  mesos_leader_ui_url: str.optional(),
  mesos_role: str.optional(),
  mesos_user: str.optional(),
  min_revive_offers_interval: int.optional(),
  offer_matching_timeout: int.optional(),
  on_elected_prepare_timeout: int.optional(),
  reconciliation_initial_delay: int.optional(),
  reconciliation_interval: int.optional(),
  scale_apps_initial_delay: int.optional(),
  scale_apps_interval: int.optional(),
  store_cache: z.boolean().optional(),
  task_launch_confirm_timeout: int.optional(),
  task_launch_timeout: int.optional(),
  task_lost_expunge_initial_delay: int,
  task_lost_expunge_interval: int,
  task_reservation_timeout: int.optional(),
  webui_url: str.optional(),
})

/**
 * info.raml MarathonInfo. dromos keeps its state without ZooKeeper; zookeeper_config has
 * ZooKeeperConfig's required keys all the same, describing its own store.
 */
export const Info = z.strictObject({
  name: str,
  version: str,
  buildref: str,
  elected: z.boolean(),
  leader: str.nullable().optional(),
  frameworkId: str.nullable().optional(),
  marathon_config: marathonConfig,
  zookeeper_config: z.strictObject({
    zk: str,
    zk_compression: z.boolean().optional(),
    zk_compression_threshold: int.optional(),
    zk_connection_timeout: int,
    zk_max_node_size: int.optional(),
    zk_max_versions: int,
    zk_session_timeout: int,
    zk_timeout: int,
  }),
  http_config: z.strictObject({ http_port: int, https_port: int }),
})

export const Leader = z.strictObject({ leader: str })

// ---- error.raml ----

/**
 * error.raml Error. Marathon's validation details carry `path` (the RAML's ErrorDetail names
 * only message and errors); a 409 of a locked app lists the deployments holding it.
 */
export const ErrorBody = z.strictObject({
  message: str,
  details: z.array(z.strictObject({ path: str.optional(), message: str.optional(), errors: z.array(str).optional() })).optional(),
  deployments: z.array(identifiable).optional(),
})

/** Parses strictly, throwing an error that names the endpoint and every offending path. */
export function expectRaml<T>(schema: z.ZodType<T>, body: unknown, where: string): T {
  const r = schema.safeParse(body)
  if (r.success) return r.data
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}${i.code === 'unrecognized_keys' ? ` ${JSON.stringify(i.keys)}` : ''}`)
  throw new Error(`${where} does not match Marathon's RAML:\n  ${problems.join('\n  ')}`)
}
