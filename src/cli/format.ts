// Pure text for the app/task/deployment/events commands: tables, progress lines, event lines,
// and the mapping from errors to the exit codes a shell user can rely on.
import Table from 'cli-table3'
import type { MarathonApp, MarathonDeployment, MarathonEvent, MarathonTask, QueueItem } from '../api/marathon-client.js'
import { MarathonApiError, MarathonProtocolError, MarathonUnreachableError } from '../api/marathon-client.js'
import { MesosApiError, MesosUnreachableError } from '../api/mesos-client.js'

export const ExitCode = {
  Ok: 0,
  /** The operation ran and failed: deployment failed, rolled back or timed out. */
  Failed: 1,
  /** Bad usage or a definition dromos apps rejected (400/422). */
  Usage: 2,
  /** The app is locked by a deployment, or already exists (409). */
  Conflict: 3,
  NotFound: 4,
  /** No answer from dromos apps at all. */
  Unreachable: 5,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  the operation failed (deployment failed, rolled back or timed out; server error)
  2  usage error, or the definition is invalid (the server's "path: error" lines are printed)
  3  conflict: the app is locked by a deployment (use --force) or already exists
  4  not found
  5  cannot reach dromos apps (see --apps and DROMOS_APPS) or the master (--master, DROMOS_MASTER)`

/** An error the CLI itself raises, with the exit code it means. */
export class CliError extends Error {
  readonly code = 'CLI'
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly lines: readonly string[] = [],
  ) {
    super(message)
  }
}

/** Turns any error into the lines to print on stderr and the exit code. */
export function describeError(e: unknown): { exitCode: ExitCode; lines: string[] } {
  if (e instanceof CliError) return { exitCode: e.exitCode, lines: [`dromos: ${e.message}`, ...e.lines.map((l) => `  ${l}`)] }
  if (e instanceof MarathonUnreachableError) return { exitCode: ExitCode.Unreachable, lines: [`dromos: ${e.message}`] }
  if (e instanceof MarathonApiError) {
    const { status, body } = e
    if (status === 400 || status === 422) {
      const details = (body.details ?? []).flatMap((d) => (d.errors.length > 0 ? d.errors.map((err) => `  ${d.path}: ${err}`) : [`  ${d.path}: invalid`]))
      return { exitCode: ExitCode.Usage, lines: [`dromos: ${body.message || 'invalid request'}`, ...details] }
    }
    if (e.locked) {
      const ids = e.deploymentIds
      // The server's message goes on about ?force=true; the CLI's word for that is --force.
      const message = (/^(.*?)(\.\s|\.?$)/.exec(body.message)?.[1] ?? body.message) || 'the app is locked by a deployment'
      return {
        exitCode: ExitCode.Conflict,
        lines: [
          `dromos: ${message}`,
          ...ids.map((id) => `  deployment ${id}`),
          `  use --force to cancel ${ids.length === 1 ? 'it' : 'them'} and apply this change, or roll back first: dromos deployment rollback ${ids[0]}`,
        ],
      }
    }
    if (status === 409) return { exitCode: ExitCode.Conflict, lines: [`dromos: ${body.message}`] }
    if (status === 404) return { exitCode: ExitCode.NotFound, lines: [`dromos: ${body.message}`] }
    return { exitCode: ExitCode.Failed, lines: [`dromos: ${e.request.method} ${e.request.url} answered ${status}: ${body.message}`] }
  }
  if (e instanceof MesosUnreachableError) return { exitCode: ExitCode.Unreachable, lines: [`dromos: ${e.message}`] }
  if (e instanceof MesosApiError) return { exitCode: e.status === 404 ? ExitCode.NotFound : ExitCode.Failed, lines: [`dromos: ${e.message}`] }
  if (e instanceof MarathonProtocolError) return { exitCode: ExitCode.Failed, lines: [`dromos: ${e.message}`] }
  return { exitCode: ExitCode.Failed, lines: [`dromos: ${(e as Error)?.message ?? String(e)}`] }
}

// ---- tables ----

/** How a table paints its header and cells (colour.ts); the widths are of the plain text. */
export interface TablePaint {
  readonly header: (text: string) => string
  readonly cell: (text: string, column: string) => string
}

/** cli-table3 without borders: columns two spaces apart, as kubectl and nomad print them. */
const BORDERLESS = Object.fromEntries(
  ['top', 'top-mid', 'top-left', 'top-right', 'bottom', 'bottom-mid', 'bottom-left', 'bottom-right', 'left', 'left-mid', 'mid', 'mid-mid', 'right', 'right-mid'].map((k) => [k, '']),
)

/** Left-aligned columns, two spaces apart; the header row first. Widths ignore colour codes. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], paint?: TablePaint): string {
  const t = new Table({
    head: header.map((h) => (paint ? paint.header(h) : h)),
    chars: { ...BORDERLESS, middle: '  ' },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
  })
  for (const r of rows) t.push(header.map((column, i) => (paint && r[i] ? paint.cell(r[i], column) : (r[i] ?? ''))))
  return `${t.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`
}

export function truncate(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim()
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`
}

/** What an app runs: its Docker image, else its command. */
export function appRuns(app: MarathonApp): string {
  const image = app.container?.docker?.image
  if (image) return image
  if (app.cmd) return app.cmd
  if (app.args && app.args.length > 0) return app.args.join(' ')
  return '-'
}

export function appRows(apps: readonly MarathonApp[], deployments: readonly MarathonDeployment[]): string[][] {
  return apps.map((a) => {
    const current = deployments.filter((d) => d.affectedApps.includes(a.id) || a.deployments.some((x) => x.id === d.id))
    const deploying =
      a.deployments.length === 0
        ? '-'
        : current.length > 0
          ? current.map((d) => `${d.currentActions.find((x) => x.app === a.id)?.action ?? 'deploying'} ${d.currentStep}/${d.totalSteps}`).join(', ')
          : 'yes'
    // In the middle of a rollout, new against the target and the old ones apart (see rolloutCounts).
    const split = tasksByConfig(a)
    const rolling = split && split.old.length > 0 ? split : undefined
    const running = rolling ? rolling.current.filter((t) => t.state === 'TASK_RUNNING') : undefined
    return [
      a.id,
      running ? `${running.length}/${a.instances} +${rolling!.old.length} old` : `${a.tasksRunning}/${a.instances}`,
      a.healthChecks.length > 0 ? `${running ? running.filter((t) => taskHealth(t) === 'healthy').length : a.tasksHealthy}/${a.instances}` : '-',
      formatNumber(a.cpus),
      formatNumber(a.mem),
      truncate(appRuns(a), 48),
      deploying,
    ]
  })
}
export const APP_HEADER = ['ID', 'INSTANCES', 'HEALTHY', 'CPUS', 'MEM', 'IMAGE/CMD', 'DEPLOYING'] as const

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1000) / 1000)
}

export function taskHealth(t: MarathonTask): string {
  if (t.healthCheckResults.length === 0) return '-'
  return t.healthCheckResults.every((r) => r.alive) ? 'healthy' : 'unhealthy'
}

/** "5s", "3m", "2h", "4d": how long ago, like kubectl's AGE. */
export function age(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return '-'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  const s = Math.max(0, Math.floor((nowMs - t) / 1000))
  if (s < 120) return `${s}s ago`
  if (s < 7200) return `${Math.floor(s / 60)}m ago`
  if (s < 172_800) return `${Math.floor(s / 3600)}h ago`
  return `${Math.floor(s / 86_400)}d ago`
}

export const TASK_HEADER = ['ID', 'APP', 'HOST', 'PORTS', 'STATE', 'HEALTH', 'STAGED'] as const
export function taskRows(tasks: readonly MarathonTask[], nowMs: number): string[][] {
  return [...tasks]
    .sort((a, b) => a.appId.localeCompare(b.appId) || (a.stagedAt ?? '').localeCompare(b.stagedAt ?? ''))
    .map((t) => [t.id, t.appId, t.host || '-', t.ports.length > 0 ? t.ports.join(',') : '-', t.state || '-', taskHealth(t), age(t.stagedAt, nowMs)])
}

export const DEPLOYMENT_HEADER = ['ID', 'APPS', 'STEP', 'ACTIONS', 'VERSION'] as const
export function deploymentRows(deployments: readonly MarathonDeployment[]): string[][] {
  return deployments.map((d) => [
    d.id,
    d.affectedApps.join(',') || '-',
    `${d.currentStep}/${d.totalSteps}`,
    d.currentActions.map((a) => `${a.action} ${a.app}`).join(', ') || '-',
    d.version || '-',
  ])
}

// ---- deployment progress ----

/** Running/healthy counts of one app, e.g. "2/3 running, 1/3 healthy". */
export function appCounts(app: MarathonApp): string {
  const parts = [`${app.tasksRunning}/${app.instances} running`]
  if (app.healthChecks.length > 0) parts.push(`${app.tasksHealthy}/${app.instances} healthy`)
  if (app.tasksStaged > 0) parts.push(`${app.tasksStaged} staged`)
  return parts.join(', ')
}

const LIVE_STATES = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE'])

/**
 * An app's live tasks split by the definition they run: new ones were started from its latest
 * configuration (Marathon's withLatestConfig: task version >= versionInfo.lastConfigChangeAt),
 * old ones from an earlier one. Undefined when the tasks or the versions are not known.
 */
export function tasksByConfig(app: MarathonApp): { current: MarathonTask[]; old: MarathonTask[] } | undefined {
  const since = Date.parse(app.versionInfo?.lastConfigChangeAt ?? app.version ?? '')
  if (!app.tasks || Number.isNaN(since)) return undefined
  const current: MarathonTask[] = []
  const old: MarathonTask[] = []
  for (const t of app.tasks) {
    if (t.state !== '' && !LIVE_STATES.has(t.state)) continue
    const v = Date.parse(t.version ?? '')
    ;(Number.isNaN(v) || v >= since ? current : old).push(t)
  }
  return { current, old }
}

/**
 * The counts of an app while a deployment replaces its tasks. The server's tasksRunning counts
 * old and new alike (8/4 in the middle of a rolling restart of 4), so while old tasks are left
 * the new ones are counted against the target and the old ones apart:
 * "new 2/4 running, 1/4 healthy; old 3 draining".
 */
export function rolloutCounts(app: MarathonApp): string {
  const split = tasksByConfig(app)
  if (!split || split.old.length === 0) return appCounts(app)
  const { current, old } = split
  const running = current.filter((t) => t.state === 'TASK_RUNNING')
  const parts = [`new ${running.length}/${app.instances} running`]
  if (app.healthChecks.length > 0) parts.push(`${running.filter((t) => taskHealth(t) === 'healthy').length}/${app.instances} healthy`)
  const staged = current.filter((t) => t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING').length
  if (staged > 0) parts.push(`${staged} staged`)
  return `${parts.join(', ')}; old ${old.length} draining`
}

/** Whether an app has reached what a deployment asked for: exactly N running (and healthy, where checked), or gone. */
export function appReached(app: MarathonApp | null, removing: boolean): boolean {
  if (removing) return app === null
  if (!app) return false
  return app.tasksRunning === app.instances && app.tasksStaged === 0 && (app.healthChecks.length === 0 || app.tasksHealthy >= app.instances)
}

export interface ProgressInput {
  /** "deploying", "scaling", "removing", ... */
  readonly verb: string
  readonly appIds: readonly string[]
  /** The deployment as last listed; absent when it is not (yet, or any more) listed. */
  readonly deployment?: MarathonDeployment | undefined
  /** Each app as last read; null when it does not exist. */
  readonly apps: ReadonlyMap<string, MarathonApp | null>
  /** Tasks still stopping, of apps that no longer exist. */
  readonly tasksLeft?: ReadonlyMap<string, number>
}

/** `deploying /web: step 1/2 ScaleApplication /web: 2/3 running, 1/3 healthy` */
export function progressLine(p: ProgressInput): string {
  const single = p.appIds.length === 1
  const countsOf = (id: string): string => {
    const app = p.apps.get(id)
    if (app === undefined) return single ? 'waiting' : `${id} waiting`
    if (app === null) {
      const left = p.tasksLeft?.get(id) ?? 0
      const what = left > 0 ? `${left} task${left === 1 ? '' : 's'} stopping` : 'gone'
      return single ? what : `${id} ${what}`
    }
    return single ? rolloutCounts(app) : `${id} ${rolloutCounts(app)}`
  }
  const parts = [`${p.verb} ${p.appIds.join(', ') || '(no apps)'}`]
  if (p.deployment && p.deployment.totalSteps > 0) {
    const actions = p.deployment.currentActions.map((a) => `${a.action} ${a.app}`).join(', ')
    parts.push(`step ${p.deployment.currentStep}/${p.deployment.totalSteps}${actions ? ` ${actions}` : ''}`)
  }
  if (p.appIds.length > 0) parts.push(p.appIds.map(countsOf).join('; '))
  return parts.join(': ')
}

// ---- events ----

const SKIP_FIELDS = new Set(['eventType', 'timestamp', 'plan', 'appDefinition', 'healthCheck', 'taskStatus'])
// The fields that tell events apart come first; the rest keep the server's order.
const FIRST_FIELDS = ['taskId', 'instanceId', 'condition', 'alive', 'healthy', 'reason', 'host', 'ports', 'message']
const fieldRank = (k: string): number => {
  const i = FIRST_FIELDS.indexOf(k)
  return i < 0 ? FIRST_FIELDS.length : i
}
const KEY_FIELDS = ['appId', 'runSpecId', 'groupId', 'id', 'uri', 'remoteAddress'] as const

/** One line per event: `time eventType key field=value ...` */
export function eventLine(e: MarathonEvent): string {
  const plan = e.plan as { id?: string; steps?: Array<{ actions?: Array<{ action: string; app: string }> }> } | undefined
  const keyField = KEY_FIELDS.find((k) => typeof e[k] === 'string' && e[k] !== '')
  const key = plan?.id && e.eventType !== 'deployment_success' && e.eventType !== 'deployment_failed' ? plan.id : keyField ? String(e[keyField]) : '-'
  const fields: string[] = []
  if (typeof e.taskStatus === 'string') fields.push(e.taskStatus)
  if (plan?.steps) {
    // Marathon sends the current step itself ({actions}); a number is taken as 1-based.
    const step = e.currentStep
    const index = typeof step === 'number' ? step - 1 : step && typeof step === 'object' ? plan.steps.findIndex((s) => JSON.stringify(s) === JSON.stringify(step)) : -1
    const actions = (typeof step === 'object' && step !== null ? ((step as { actions?: Array<{ action: string; app: string }> }).actions ?? []) : (plan.steps[index]?.actions ?? []))
      .map((a) => `${a.action} ${a.app}`)
      .join(', ')
    if (step !== undefined && step !== null) fields.push(`step=${index >= 0 ? index + 1 : '?'}/${plan.steps.length}${actions ? ` (${actions})` : ''}`)
    const apps = new Set(plan.steps.flatMap((s) => (s.actions ?? []).map((a) => a.app)))
    if (e.eventType === 'deployment_success' || e.eventType === 'deployment_failed') fields.push(`apps=${[...apps].join(',')}`)
  }
  const entries = Object.entries(e).sort(([a], [b]) => fieldRank(a) - fieldRank(b))
  for (const [k, v] of entries) {
    if (SKIP_FIELDS.has(k) || k === keyField || k === 'currentStep') continue
    if (v === null || v === undefined || v === '') continue
    if (typeof v === 'string') fields.push(`${k}=${/[\s"]/.test(v) ? JSON.stringify(v) : v}`)
    else if (typeof v === 'number' || typeof v === 'boolean') fields.push(`${k}=${v}`)
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number') && v.length > 0) fields.push(`${k}=${v.join(',')}`)
  }
  return [e.timestamp || new Date().toISOString(), e.eventType, key, ...fields].join(' ')
}

const REASON_WORDS: Record<string, string> = {
  UnfulfilledRole: 'offered to another role',
  UnfulfilledConstraint: 'constraints not met',
  InsufficientCpus: 'not enough cpus',
  InsufficientMemory: 'not enough memory',
  InsufficientDisk: 'not enough disk',
  InsufficientGpus: 'not enough gpus',
  InsufficientPorts: 'no free ports',
}

/** Why an app waits for launches, from its /v2/queue item: the delay, and what the last offers lacked. */
export function waitingReason(item: QueueItem): string {
  const parts = [`${item.count} to launch`]
  if (item.delay && !item.delay.overdue && item.delay.timeLeftSeconds > 0) parts.push(`backing off ${item.delay.timeLeftSeconds}s after failures`)
  const steps = (item.processedOffersSummary?.rejectSummaryLastOffers ?? []).filter((s) => s.declined > 0)
  const agents = steps.length > 0 ? Math.max(...steps.map((s) => s.processed)) : 0
  if (steps.length > 0) {
    const why = steps.map((s) => `${s.declined} ${REASON_WORDS[s.reason] ?? s.reason}`).join(', ')
    parts.push(`last offers of ${agents} agent${agents === 1 ? '' : 's'} declined: ${why}`)
  } else if ((item.processedOffersSummary?.processedOffersCount ?? 0) === 0 && !item.delay?.timeLeftSeconds) {
    parts.push('no offers yet')
  }
  return parts.join('; ')
}
