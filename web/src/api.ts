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
  stagedAt: string
  startedAt?: string
  version: string
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
  }>
}

/** A role of /master/roles (v0: framework ids, and resources as name → quantity). */
export interface Role {
  name: string
  weight: number
  frameworks: string[]
  allocated?: V0Resources
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
  deployments: () => request<Deployment[]>('GET', '/v2/deployments'),
  queue: () => request<{ queue: QueueItem[] }>('GET', '/v2/queue').then((r) => r.queue),
}

/** Where the master's state is read: on the master itself, or relayed by apps. */
export const masterBase = (mode: 'apps' | 'master'): string => (mode === 'master' ? '/master' : '/dromos/master')

export const scalar = (r: V0Resources | undefined, name: string): number => {
  const v = r?.[name]
  return typeof v === 'number' ? v : 0
}
