// The JSON the UI reads: Marathon's v2 API of `dromos apps`, and the master's v0 state (read
// directly on the master, through /dromos/master/* on apps).

export interface HealthCheckResult {
  alive: boolean
  consecutiveFailures: number
  firstSuccess?: string | null
  lastSuccess?: string | null
  lastFailure?: string | null
  lastFailureCause?: string | null
}

export interface Task {
  id: string
  appId: string
  host: string
  agentIp?: string
  ports: number[]
  slaveId: string
  state: string
  /** Left out, as by Marathon, for a task no longer active (written off as unreachable). */
  stagedAt?: string
  startedAt?: string
  version?: string
  healthCheckResults: HealthCheckResult[]
}

export interface App {
  id: string
  cmd?: string | null
  args?: string[] | null
  instances: number
  cpus: number
  mem: number
  disk?: number
  labels?: Record<string, string>
  container?: { type?: string; docker?: { image?: string } } | null
  healthChecks?: Array<Record<string, unknown>>
  version: string
  versionInfo?: { lastScalingAt?: string; lastConfigChangeAt?: string }
  tasksStaged: number
  tasksRunning: number
  tasksHealthy: number
  tasksUnhealthy: number
  deployments: Array<{ id: string }>
  tasks?: Task[]
  lastTaskFailure?: { message?: string; state?: string; timestamp?: string }
}

export interface DeploymentAction {
  action: string
  app: string
}

export interface Deployment {
  id: string
  version: string
  affectedApps: string[]
  steps: Array<{ actions: DeploymentAction[] }>
  currentActions: DeploymentAction[]
  currentStep: number
  totalSteps: number
}

export interface QueueItem {
  app: App
  count: number
  delay: { timeLeftSeconds: number; overdue: boolean }
  since: string
  processedOffersSummary: {
    processedOffersCount: number
    unusedOffersCount: number
    lastUnusedOfferAt?: string
    rejectSummaryLastOffers: Array<{ reason: string; declined: number; processed: number }>
  }
}

export type V0Resources = Record<string, number | string>

export interface MasterState {
  hostname: string
  version: string
  slaves: Array<{
    id: string
    hostname: string
    port: number
    resources: V0Resources
    used_resources: V0Resources
    attributes: Record<string, string | number>
    version?: string
  }>
  frameworks: Array<{
    id: string
    name: string
    active: boolean
    roles: string[]
    webui_url: string
    used_resources: V0Resources
    tasks: unknown[]
    offers: Array<{ id: string; framework_id: string; slave_id: string; resources: V0Resources }>
  }>
}

/** A role of /master/roles (v0: framework ids, and resources as name → quantity). */
export interface Role {
  name: string
  weight: number
  frameworks: string[]
  allocated?: V0Resources
  offered?: V0Resources
  resources: V0Resources
}

/** Marathon's error body: a message, and for a 422 the fields it concerns. */
export interface ErrorDetail {
  path: string
  errors: string[]
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly deployments: Array<{ id: string }> = [],
  ) {
    super(message)
  }
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(path, {
    method,
    headers: { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await r.text()
  let parsed: unknown = undefined
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {
    // a plain-text answer (the master's errors)
  }
  if (!r.ok) {
    const b = (parsed ?? {}) as { message?: string; details?: ErrorDetail[]; deployments?: Array<{ id: string }> }
    throw new ApiError(r.status, b.message ?? (text || `${r.status} ${r.statusText}`), b.details ?? [], b.deployments ?? [])
  }
  return parsed as T
}

export const appPath = (id: string): string => `/v2/apps${id.split('/').map(encodeURIComponent).join('/')}`

export const api = {
  apps: () => request<{ apps: App[] }>('GET', '/v2/apps').then((r) => r.apps),
  app: (id: string) => request<{ app: App }>('GET', appPath(id)).then((r) => r.app),
  versions: (id: string) => request<{ versions: string[] }>('GET', `${appPath(id)}/versions`).then((r) => r.versions),
  /** A stored version of the app's definition. */
  appVersion: (id: string, version: string) => request<Record<string, unknown>>('GET', `${appPath(id)}/versions/${encodeURIComponent(version)}`),
  deployments: () => request<Deployment[]>('GET', '/v2/deployments'),
  queue: () => request<{ queue: QueueItem[] }>('GET', '/v2/queue').then((r) => r.queue),
}

/** Where the master's state is read: on the master itself, or relayed by apps. */
export const masterBase = (mode: 'apps' | 'master'): string => (mode === 'master' ? '/master' : '/dromos/master')

/** Where the master's metrics are read (the allocator's role shares among them). */
export const masterMetricsPath = (mode: 'apps' | 'master'): string => (mode === 'master' ? '/metrics/snapshot' : '/dromos/master/metrics/snapshot')

/** The role's dominant share as the master's allocator reports it (Mesos' metric name). */
export const dominantShareOf = (metrics: Readonly<Record<string, number>>, role: string): number | undefined => metrics[`allocator/mesos/roles/${role}/shares/dominant`]

export const scalar = (r: V0Resources | undefined, name: string): number => {
  const v = r?.[name]
  return typeof v === 'number' ? v : 0
}

/** The parts of an agent's /state that say where a task's sandbox is. */
export interface AgentState {
  frameworks: AgentFramework[]
  completed_frameworks?: AgentFramework[]
}

interface AgentFramework {
  id: string
  executors: Array<{ id: string; directory: string }>
  completed_executors: Array<{ id: string; directory: string }>
}

/** A chunk of a sandbox file (Mesos' /files/read): text from byte `offset`. */
export interface FileChunk {
  data: string
  offset: number
}

/** An agent's endpoints, relayed by apps and the master (the browser need not reach the agent). */
const agentPath = (agentId: string, what: string): string => `/dromos/agent/${encodeURIComponent(agentId)}/${what}`

export const agentApi = {
  state: (agentId: string) => request<AgentState>('GET', agentPath(agentId, 'state')),
  /** `offset` -1 asks only for the file's size (in `offset`). */
  read: (agentId: string, path: string, offset: number, length?: number) =>
    request<FileChunk>('GET', `${agentPath(agentId, 'files/read')}?path=${encodeURIComponent(path)}&offset=${offset}${length === undefined ? '' : `&length=${length}`}`),
  /** The whole file, as the agent's files/download sends it. */
  downloadUrl: (agentId: string, path: string): string => `${agentPath(agentId, 'files/download')}?path=${encodeURIComponent(path)}`,
}

/** The sandbox directory of the task's latest run on its agent, or undefined if the agent has none. */
export function sandboxOf(state: AgentState, taskId: string): string | undefined {
  // A command task's executor has the task's id.
  for (const f of [...state.frameworks, ...(state.completed_frameworks ?? [])]) {
    const e = [...f.executors, ...f.completed_executors].find((x) => x.id === taskId)
    if (e) return e.directory
  }
  return undefined
}
