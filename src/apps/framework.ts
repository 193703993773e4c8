// The apps framework: a Mesos framework (through the v1 scheduler HTTP API only) that keeps
// Marathon apps at their target. The decisions are pure (reconcile.ts, plan.ts,
// placement.ts); this module owns the state, talks to the master and runs the checks.
import type { Logger } from 'pino'
import type { OfferWire, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import type { SchedulerClient, SchedulerClientOptions, SchedulerEvent } from '../api/scheduler-client.js'
import { createSchedulerClient } from '../api/scheduler-client.js'
import type { Clock } from '../core/clock.js'
import { NotFoundError } from '../core/errors.js'
import { AppLockedError, AppValidationError } from './errors.js'
import type { OfferStats } from './offer-stats.js'
import { emptyOfferStats, recordPass } from './offer-stats.js'
import { assignServicePorts, servicePortConflicts, servicePortsOf } from './service-ports.js'
import { newUuid } from '../core/ids.js'
import { isTerminal } from '../core/task-state.js'
import type { Store } from '../store/store.js'
import { httpGet, startProbeLoop } from '../api/probes.js'
import type { CheckHealth, CheckResult, HealthJson } from './health.js'
import { healthJson, instanceHealth, isAliveHealth, NO_RESULTS, recordMarathonResult, recordMesosResult } from './health.js'
import type { EventBus } from './events.js'
import { appToJson } from './app-json.js'
import type { GroupSpec } from './groups.js'
import { dependencyOrder } from './groups.js'
import { configDiffers, planDeployment, stepOf } from './plan.js'
import { offerViewFromWire } from './offer-view.js'
import { placeApps } from './placement.js'
import { instanceIdFor, taskIdFor } from './task-ids.js'
import { buildTaskInfo } from './task-info.js'
import { decideApp, isAlive, isTerminalCondition } from './reconcile.js'
import type { AppsState, DeploymentRecord } from './state.js'
import { createAppsState } from './state.js'
import type { AppDefinition, DeploymentPlan, DeploymentStep, Instance } from './types.js'
import { Condition } from './types.js'

export interface AppsFrameworkOptions {
  readonly store: Store
  readonly master: string
  readonly log: Logger
  readonly clock: Clock
  readonly events: EventBus
  readonly frameworkName: string
  readonly hostname: string
  readonly webuiUrl?: string
  readonly role?: string
  /** Interval of the reconciling pass. */
  readonly tickMs?: number
  /**
   * How long an instance with ports shows as killing before it is killed, so that load
   * balancers drain it first.
   */
  readonly killDrainMs?: number
  /** Interval of implicit task reconciliation with the master. */
  readonly reconcileIntervalMs?: number
  readonly failoverTimeoutSeconds?: number
  /** Opens the scheduler API connection to the master (the real HTTP client unless a test records the calls). */
  readonly connect?: (o: SchedulerClientOptions) => SchedulerClient
}

export interface DeployChange {
  readonly put: readonly AppDefinition[]
  readonly remove: readonly string[]
  readonly restart?: readonly string[]
  /** Groups (and their dependencies) to store, from /v2/groups. */
  readonly putGroups?: readonly GroupSpec[]
  readonly removeGroups?: readonly string[]
}

export interface AppsFramework {
  readonly state: AppsState
  readonly events: EventBus
  start(): Promise<void>
  stop(): Promise<void>
  connected(): boolean
  frameworkId(): string | undefined
  /** Stores the change and starts the deployment that carries it out. */
  deploy(change: DeployChange, opts: { force: boolean }): Promise<DeploymentRecord>
  killInstances(instanceIds: readonly string[], opts: { scale: boolean; wipe: boolean; force: boolean }): Promise<{ killed: Instance[]; deployment?: DeploymentRecord }>
  cancelDeployment(id: string, force: boolean): Promise<DeploymentRecord | undefined>
  resetDelay(appId: string): Promise<boolean>
  /** Apps waiting for launches, for /v2/queue. */
  queue(): Array<{ app: AppDefinition; count: number; delay?: { until: number }; offers?: OfferStats<OfferWire> }>
  deploymentsOf(appId: string): DeploymentRecord[]
  /** The last readiness check result of each instance of the app still being checked, while a deployment runs. */
  readinessResultsOf(appId: string): ReadinessCheckResult[]
  /** Marathon's healthCheckResults of an instance: one entry for each of its checks that has run. */
  healthResultsOf(instanceId: string): HealthJson[]
  planJson(plan: DeploymentPlan): Record<string, unknown>
}

/** Marathon's ReadinessCheckResult; lastResponse only when the check preserves it. */
export interface ReadinessCheckResult {
  readonly name: string
  readonly taskId: string
  readonly ready: boolean
  readonly lastResponse?: { readonly status: number; readonly contentType: string; readonly body: string }
}

/** The most of a readiness response body kept for lastResponse. */
const READINESS_BODY_LIMIT = 16 * 1024

const CONDITION_OF: Record<string, Condition> = {
  TASK_STAGING: Condition.Staging,
  TASK_STARTING: Condition.Starting,
  TASK_RUNNING: Condition.Running,
  TASK_KILLING: Condition.Killing,
  TASK_FINISHED: Condition.Finished,
  TASK_FAILED: Condition.Failed,
  TASK_KILLED: Condition.Killed,
  TASK_ERROR: Condition.Error,
  TASK_LOST: Condition.Gone,
  TASK_DROPPED: Condition.Dropped,
  TASK_UNREACHABLE: Condition.Unreachable,
  TASK_GONE: Condition.Gone,
  TASK_GONE_BY_OPERATOR: Condition.Gone,
  TASK_UNKNOWN: Condition.Unknown,
}

const MARATHON_CHECKED = new Set(['HTTP', 'HTTPS', 'TCP'])
/** Marathon's HealthCheck.DefaultFirstHealthCheckAfter. */
const FIRST_MARATHON_CHECK_AFTER_SECONDS = 5

export function createAppsFramework(opts: AppsFrameworkOptions): AppsFramework {
  const { log, clock, events, store } = opts
  const state = createAppsState({ store, log: log.child({ component: 'apps-state' }) })
  const tickMs = opts.tickMs ?? 1000
  const killDrainMs = opts.killDrainMs ?? 1000
  let client: SchedulerClient | undefined
  let tickTimer: NodeJS.Timeout | undefined
  let reconcileTimer: NodeJS.Timeout | undefined
  let suppressed = false
  let lastVersion = ''
  let stopped = false
  const lastKillAt = new Map<string, number>()
  const checks = new Map<string, Array<{ stop(): void }>>()
  /** instance id -> the health of each of its app's health checks, by index; undefined: no result yet */
  const checkHealth = new Map<string, Array<CheckHealth | undefined>>()
  /** instance id -> its last readiness check result */
  const readinessResults = new Map<string, ReadinessCheckResult>()
  const readiness = new Map<string, NodeJS.Timeout>()
  /** Offer statistics of each app waiting for launches (Marathon's OfferMatchStatistics). */
  const offerStats = new Map<string, OfferStats<OfferWire>>()
  const nowIso = (): string => new Date(clock.now()).toISOString()

  /** Versions are timestamps; two changes in one millisecond still get distinct versions. */
  function nextVersion(): string {
    let v = nowIso()
    if (v <= lastVersion) v = new Date(Date.parse(lastVersion) + 1).toISOString()
    lastVersion = v
    return v
  }

  // ---- the target each app is driven to ----

  function deploymentOf(appId: string): DeploymentRecord | undefined {
    for (const d of state.deployments.values()) if (d.affectedApps.includes(appId)) return d
    return undefined
  }

  function effectiveTarget(appId: string): AppDefinition | null {
    const d = deploymentOf(appId)
    if (d) {
      const step = stepOf(d, appId)
      if (step > d.currentStep) return d.original[appId] ?? null
      return d.target[appId] ?? null
    }
    return state.apps.get(appId) ?? null
  }

  function knownAppIds(): string[] {
    const ids = new Set<string>(state.apps.keys())
    for (const i of state.instances.values()) ids.add(i.appId)
    for (const d of state.deployments.values()) for (const id of d.affectedApps) ids.add(id)
    return [...ids].sort()
  }

  // ---- events ----

  function publishInstanceChanged(i: Instance): void {
    events.publish('instance_changed_event', {
      instanceId: i.instanceId,
      condition: i.condition,
      runSpecId: i.appId,
      agentId: i.agentId,
      host: i.host,
      runSpecVersion: i.version,
    })
  }

  /** The step as Marathon's events carry it (raml.DeploymentStep), not its index. */
  function stepJson(step: DeploymentStep): Record<string, unknown> {
    return { actions: step.actions.map((a) => ({ action: a.action, app: a.app })) }
  }

  function planJson(plan: DeploymentPlan): Record<string, unknown> {
    const apps = (m: Record<string, AppDefinition | null>) => Object.values(m).flatMap((a) => (a ? [appToJson(a)] : []))
    return {
      id: plan.id,
      version: plan.version,
      original: { id: '/', apps: apps(plan.original), groups: [], dependencies: [] },
      target: { id: '/', apps: apps(plan.target), groups: [], dependencies: [] },
      steps: plan.steps,
    }
  }

  // ---- launching ----

  function launchDelayActive(app: AppDefinition): boolean {
    const d = state.delays.get(app.id)
    return !!d && d.configVersion === app.versionInfo.lastConfigChangeAt && d.until > clock.now()
  }

  async function noteFailure(inst: Instance): Promise<void> {
    const app = state.apps.get(inst.appId)
    if (!app) return
    const prev = state.delays.get(app.id)
    const ranLong = inst.startedAt && clock.now() - Date.parse(inst.startedAt) > app.maxLaunchDelaySeconds * 1000
    const failures = prev && prev.configVersion === app.versionInfo.lastConfigChangeAt && !ranLong ? prev.failures + 1 : 1
    const delaySeconds = Math.min(app.backoffSeconds * app.backoffFactor ** (failures - 1), app.maxLaunchDelaySeconds)
    await state.apply({ type: 'delay-put', appId: app.id, delay: { configVersion: app.versionInfo.lastConfigChangeAt, failures, until: clock.now() + delaySeconds * 1000 } })
  }

  function needs(): Array<{ app: AppDefinition; count: number }> {
    const out: Array<{ app: AppDefinition; count: number }> = []
    for (const id of knownAppIds()) {
      const target = effectiveTarget(id)
      if (!target) continue
      const d = decideApp({ target, instances: state.instancesOf(id), nowMs: clock.now() })
      if (d.launch > 0) out.push({ app: target, count: d.launch })
    }
    return out
  }

  /** What each waiting app was offered in this pass and why it used none of it, for /v2/queue. */
  function noteOffers(offers: readonly OfferWire[], ready: ReadonlyArray<{ app: AppDefinition }>, placement: ReturnType<typeof placeApps>): void {
    const at = clock.now()
    for (const { app } of ready) {
      const reasons = new Map((placement.unmatched.find((u) => u.appId === app.id)?.offers ?? []).map((u) => [u.offerId, u.reasons]))
      const pass = offers.map((o) => ({ agentId: o.agent_id.value, offer: o, reasons: reasons.get(o.id.value) ?? [] }))
      offerStats.set(app.id, recordPass(offerStats.get(app.id) ?? emptyOfferStats(at), pass, at))
    }
  }

  async function onOffers(offers: OfferWire[]): Promise<void> {
    if (!client) return
    const views = offers.map(offerViewFromWire)
    const ipOf = new Map(offers.map((o) => [o.id.value, o.url?.address?.ip ?? o.hostname]))
    const byId = new Map(views.map((v) => [v.id, v]))
    const wanted = needs()
    // A launch attempt's statistics end when the app no longer waits for launches.
    for (const id of [...offerStats.keys()]) if (!wanted.some((w) => w.app.id === id)) offerStats.delete(id)
    const ready = wanted.filter(({ app }) => !launchDelayActive(app))
    const blocked = ready.length < wanted.length
    const appById = new Map(ready.map((w) => [w.app.id, w.app]))
    // One decision over every offer of the pass, applied as it comes back.
    const placement = placeApps({
      demands: ready.map(({ app, count }) => ({ app, count, running: state.instancesOf(app.id).filter(isAlive) })),
      offers: views,
      portsInUse: [...state.instances.values()].filter(isAlive),
    })
    noteOffers(offers, ready, placement)
    const tasksByOffer = new Map<string, TaskInfo[]>()
    for (const launch of placement.launches) {
      const app = appById.get(launch.appId)!
      const view = byId.get(launch.offerId)!
      const uuid = newUuid()
      const taskId = taskIdFor(app.id, uuid)
      const servicePorts = servicePortsOf(app)
      const instance: Instance = {
        instanceId: instanceIdFor(app.id, uuid),
        taskId,
        appId: app.id,
        version: app.version,
        configVersion: app.versionInfo.lastConfigChangeAt,
        agentId: launch.agentId,
        agentIp: ipOf.get(launch.offerId) ?? launch.hostname,
        agentAttributes: view.attributes,
        host: launch.hostname,
        hostPorts: launch.hostPorts,
        servicePorts,
        condition: Condition.Provisioned,
        mesosState: 'TASK_STAGING',
        stagedAt: nowIso(),
        ipAddresses: [],
        goal: 'Running',
      }
      await state.apply({ type: 'instance-put', instance })
      const info = buildTaskInfo({ app, taskId, offer: view, hostPorts: launch.hostPorts, servicePorts })
      tasksByOffer.set(view.id, [...(tasksByOffer.get(view.id) ?? []), info])
    }
    await Promise.all(
      views.map(async (view) => {
        const tasks = tasksByOffer.get(view.id)
        try {
          if (tasks && tasks.length > 0) await client!.accept([view.id], tasks, 1)
          else await client!.decline([view.id], wanted.length > 0 || blocked ? 1 : 30)
        } catch (e) {
          log.warn({ err: (e as Error).message, offerId: view.id }, 'offer answer failed')
          // Whether the master launched them is unknown: ask at once rather than at the next
          // periodic reconciliation. Tasks it never saw come back as gone and are replaced.
          if (tasks && tasks.length > 0) {
            client!.reconcile(tasks.map((t) => ({ taskId: t.task_id.value, agentId: view.agentId }))).catch(() => undefined)
          }
        }
      }),
    )
    if (wanted.length === 0 && !blocked && !suppressed) {
      suppressed = true
      client.suppress().catch(() => (suppressed = false))
    }
  }

  // ---- status updates ----

  function ipAddressesOf(status: TaskStatusWire): Instance['ipAddresses'] {
    const cs = status.container_status as { network_infos?: Array<{ ip_addresses?: Array<{ ip_address?: string; protocol?: string }> }> } | undefined
    const out: Instance['ipAddresses'] = []
    for (const ni of cs?.network_infos ?? []) {
      for (const a of ni.ip_addresses ?? []) if (a.ip_address) out.push({ ipAddress: a.ip_address, protocol: a.protocol === 'IPv6' ? 'IPv6' : 'IPv4' })
    }
    return out
  }

  async function onUpdate(status: TaskStatusWire): Promise<void> {
    const taskId = status.task_id.value
    const inst = state.byTaskId(taskId)
    const agentId = status.agent_id?.value
    try {
      if (!inst) {
        // A task we do not know (expunged, or from a lost state): it must not run.
        if (!isTerminal(status.state)) {
          log.info({ taskId, state: status.state }, 'killing unknown task')
          await client?.kill(taskId, agentId)
        }
        return
      }
      let condition = CONDITION_OF[status.state] ?? Condition.Unknown
      // Being killed stays so, even if a late health update still says RUNNING.
      if (inst.goal !== 'Running' && inst.condition === Condition.Killing && condition === Condition.Running) condition = Condition.Killing
      const app = appOf(inst)
      const next: Instance = { ...inst, mesosState: condition === Condition.Killing ? 'TASK_KILLING' : status.state, condition }
      if (status.message) next.lastMessage = status.message
      if (agentId) next.agentId = agentId
      if (condition === Condition.Running && !inst.startedAt) next.startedAt = new Date(status.timestamp * 1000).toISOString()
      const ips = ipAddressesOf(status)
      if (ips.length > 0) next.ipAddresses = ips
      if (condition === Condition.Unreachable) {
        // An instance already written off stays so until it comes back.
        if (inst.condition === Condition.UnreachableInactive) next.condition = Condition.UnreachableInactive
        next.unreachableSince = inst.unreachableSince ?? (status.unreachable_time ? new Date(status.unreachable_time.nanoseconds / 1e6).toISOString() : nowIso())
      } else {
        delete next.unreachableSince
      }
      const healthBefore = inst.healthy
      if (status.healthy !== undefined && app) {
        const healthy = recordMesosHealth(app, inst.instanceId, status)
        if (healthy === undefined) delete next.healthy
        else if (healthy !== 'unchanged') next.healthy = healthy
      }

      events.publish('status_update_event', {
        slaveId: next.agentId,
        taskId,
        taskStatus: status.state,
        message: status.message ?? '',
        appId: inst.appId,
        host: inst.host,
        ipAddresses: next.ipAddresses,
        ports: inst.hostPorts,
        version: inst.version,
      })

      if (isTerminalCondition(condition)) {
        stopChecks(inst.instanceId)
        await state.apply({ type: 'instance-removed', instanceId: inst.instanceId })
        publishInstanceChanged(next)
        if (inst.goal === 'Running' && condition !== Condition.Killed) {
          await noteFailure(inst)
          if (condition === Condition.Failed || condition === Condition.Error || condition === Condition.Gone) {
            await state.apply({
              type: 'task-failure',
              failure: { appId: inst.appId, host: inst.host, message: status.message ?? '', state: status.state, taskId, timestamp: nowIso(), version: inst.version, slaveId: next.agentId },
            })
          }
        }
      } else {
        await state.apply({ type: 'instance-put', instance: next })
        if (inst.condition !== next.condition) publishInstanceChanged(next)
        if (next.healthy !== healthBefore && next.healthy !== undefined) publishHealth(next)
        if (condition === Condition.Running && inst.condition !== Condition.Running) startChecks(next)
      }
      tickSoon()
    } finally {
      // Not awaited: the agent re-sends what is not acknowledged, and other updates need not wait.
      if (status.uuid) void client?.acknowledge(status).catch((e: unknown) => log.warn({ err: (e as Error).message, taskId }, 'acknowledge failed'))
    }
  }

  function publishHealth(i: Instance): void {
    events.publish('health_status_changed_event', { appId: i.appId, instanceId: i.instanceId, version: i.version, alive: i.healthy === true })
    events.publish('instance_health_changed_event', { instanceId: i.instanceId, runSpecId: i.appId, runSpecVersion: i.version, healthy: i.healthy === true })
  }

  // ---- health and readiness checks run by the framework ----

  function stopChecks(instanceId: string): void {
    for (const c of checks.get(instanceId) ?? []) c.stop()
    checks.delete(instanceId)
    checkHealth.delete(instanceId)
    readinessResults.delete(instanceId)
    const r = readiness.get(instanceId)
    if (r) clearTimeout(r)
    readiness.delete(instanceId)
  }

  /** The definition an instance was started from: an older one while a restart replaces it. */
  function appOf(inst: Instance): AppDefinition | undefined {
    const app = state.apps.get(inst.appId)
    if (app && app.versionInfo.lastConfigChangeAt === inst.configVersion) return app
    const original = deploymentOf(inst.appId)?.original[inst.appId]
    if (original && original.versionInfo.lastConfigChangeAt === inst.configVersion) return original
    return app ?? original ?? undefined
  }

  function portOf(inst: Instance, index: number | undefined, fixed: number | undefined): number | undefined {
    if (fixed !== undefined && fixed > 0) return fixed
    return inst.hostPorts[index ?? 0]
  }

  function healthOf(app: AppDefinition, instanceId: string): Array<CheckHealth | undefined> {
    let perCheck = checkHealth.get(instanceId)
    if (!perCheck || perCheck.length !== app.healthChecks.length) {
      perCheck = app.healthChecks.map(() => undefined)
      checkHealth.set(instanceId, perCheck)
    }
    return perCheck
  }

  /**
   * Records what a status update says of the checks Mesos runs and returns the instance's
   * health over all its checks ('unchanged' when the update tells nothing new). Every
   * Mesos-run check takes the one result, as in Marathon. Only health check updates count a
   * failure again; others (a reconciliation answer) change the record only when they disagree.
   */
  function recordMesosHealth(app: AppDefinition, instanceId: string, status: TaskStatusWire): boolean | undefined | 'unchanged' {
    const healthy = status.healthy
    const mesosRun = app.healthChecks.flatMap((h, idx) => (MARATHON_CHECKED.has(h.protocol) ? [] : [idx]))
    if (healthy === undefined || mesosRun.length === 0) return 'unchanged'
    const perCheck = healthOf(app, instanceId)
    const isCheckUpdate = status.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED'
    let changed = false
    for (const idx of mesosRun) {
      const before = perCheck[idx]
      if (!isCheckUpdate && before !== undefined && isAliveHealth(before) === healthy) continue
      perCheck[idx] = recordMesosResult(before, healthy ? { healthy } : { healthy, cause: status.message ?? '' }, clock.now())
      changed = true
    }
    return changed ? instanceHealth(perCheck) : 'unchanged'
  }

  function startChecks(inst: Instance): void {
    const app = appOf(inst)
    if (!app || checks.has(inst.instanceId) || !state.instances.has(inst.instanceId)) return
    const handles: Array<{ stop(): void }> = []
    const perCheck = healthOf(app, inst.instanceId)
    // Health known before a restart of the framework: the Mesos-run checks report again only
    // when their result changes, so a healthy instance keeps them alive.
    if (inst.healthy === true) {
      app.healthChecks.forEach((h, idx) => {
        if (!MARATHON_CHECKED.has(h.protocol) && perCheck[idx] === undefined) perCheck[idx] = recordMesosResult(undefined, { healthy: true }, clock.now())
      })
    }
    app.healthChecks.forEach((h, idx) => {
      if (!MARATHON_CHECKED.has(h.protocol)) return
      const port = portOf(inst, h.portIndex, h.port)
      if (port === undefined) return
      const check =
        h.protocol === 'TCP'
          ? { type: 'TCP' as const, tcp: { port } }
          : { type: 'HTTP' as const, http: { port, path: h.path ?? '/', scheme: h.protocol === 'HTTPS' ? 'https' : 'http' } }
      const target = {
        check: {
          ...check,
          // delaySeconds belongs to the checks Mesos runs; Marathon runs its own HTTP, HTTPS and
          // TCP checks first after at most 5 s, or the interval when that is shorter.
          delay_seconds: Math.min(h.intervalSeconds, FIRST_MARATHON_CHECK_AFTER_SECONDS),
          interval_seconds: h.intervalSeconds,
          timeout_seconds: h.timeoutSeconds,
          consecutive_failures: h.maxConsecutiveFailures,
          grace_period_seconds: h.gracePeriodSeconds,
        },
        host: inst.agentIp,
        env: {},
        sandboxDir: '/',
        // Marathon honours ignoreHttp1xx for HTTP checks only (HealthCheckWorker.https does not).
        ignoreHttp1xx: h.protocol === 'HTTP' && h.ignoreHttp1xx === true,
        log: log.child({ component: 'health', instanceId: inst.instanceId }),
      }
      // Results change the instance in the queue, like every other change, so that a status
      // update handled meanwhile is never overwritten by a copy read before it.
      const handle = startProbeLoop(target, (outcome) => {
        if (outcome.kind === 'ignored') return
        void enqueue(() => recordMarathonCheck(app, inst.instanceId, idx, outcome.kind === 'healthy' ? { healthy: true } : { healthy: false, cause: outcome.message }))
      })
      handles.push(handle)
    })
    checks.set(inst.instanceId, handles)
    if (app.readinessChecks.length > 0) pollReadiness(app, inst)
  }

  async function recordMarathonCheck(app: AppDefinition, instanceId: string, idx: number, result: CheckResult): Promise<void> {
    const cur = state.instances.get(instanceId)
    const perCheck = checkHealth.get(instanceId)
    const h = app.healthChecks[idx]
    if (!cur || !checks.has(instanceId) || !perCheck || !h) return
    const before = perCheck[idx] ?? NO_RESULTS
    const decision = recordMarathonResult(before, result, {
      nowMs: clock.now(),
      running: cur.condition === Condition.Running,
      unreachable: cur.condition === Condition.Unreachable || cur.condition === Condition.UnreachableInactive,
      runningSinceMs: cur.startedAt ? Date.parse(cur.startedAt) : clock.now(),
      gracePeriodSeconds: h.gracePeriodSeconds,
      maxConsecutiveFailures: h.maxConsecutiveFailures,
    })
    perCheck[idx] = decision.health
    if (decision.counted) events.publish('failed_health_check_event', { appId: cur.appId, instanceId: cur.instanceId, healthCheck: h })
    if (decision.kill && cur.goal === 'Running') {
      const reason = before.lastFailureCause ?? 'unknown'
      log.info({ instanceId: cur.instanceId, reason }, 'instance failed its health checks: killing it')
      events.publish('unhealthy_instance_kill_event', {
        appId: cur.appId,
        taskId: cur.taskId,
        instanceId: cur.instanceId,
        version: cur.version,
        reason,
        host: cur.host,
        slaveId: cur.agentId,
      })
      await noteFailure(cur)
      await killInstance(cur, 'Decommissioned')
      return
    }
    const healthy = instanceHealth(perCheck)
    if (healthy === cur.healthy) return
    const next = { ...cur }
    if (healthy === undefined) delete next.healthy
    else next.healthy = healthy
    await state.apply({ type: 'instance-put', instance: next })
    publishHealth(next)
    tickSoon()
  }

  function pollReadiness(app: AppDefinition, inst: Instance): void {
    const rc = app.readinessChecks[0]!
    const names = portNames(app)
    const idx = Math.max(0, names.indexOf(rc.portName))
    const port = inst.hostPorts[idx]
    if (port === undefined) return
    const attempt = async (): Promise<void> => {
      const cur = state.instances.get(inst.instanceId)
      if (!cur || !isAlive(cur)) return
      let ready = false
      let lastResponse: ReadinessCheckResult['lastResponse']
      try {
        // A self-signed certificate passes, as for health checks.
        const r = await httpGet({
          scheme: rc.protocol === 'HTTPS' ? 'https' : 'http',
          host: inst.agentIp,
          port,
          path: rc.path,
          signal: AbortSignal.timeout(rc.timeoutSeconds * 1000),
          maxBodyBytes: READINESS_BODY_LIMIT,
          userAgent: 'dromos-readiness-check',
        })
        ready = rc.httpStatusCodesForReady.includes(r.status)
        if (rc.preserveLastResponse) lastResponse = r
        log.debug({ instanceId: inst.instanceId, status: r.status, ready }, 'readiness check')
      } catch (e) {
        log.debug({ instanceId: inst.instanceId, err: (e as Error).message }, 'readiness check failed')
        ready = false
      }
      if (!state.instances.has(inst.instanceId)) return
      readinessResults.set(inst.instanceId, { name: rc.name, taskId: inst.taskId, ready, ...(lastResponse ? { lastResponse } : {}) })
      if (ready) {
        readiness.delete(inst.instanceId)
        await enqueueResult(async () => {
          const now = state.instances.get(inst.instanceId)
          if (now && now.ready !== true) await state.apply({ type: 'instance-put', instance: { ...now, ready: true } })
          tickSoon()
        })
        return
      }
      readiness.set(inst.instanceId, setTimeout(run, rc.intervalSeconds * 1000))
    }
    const run = (): void => void attempt().catch((e: unknown) => log.warn({ err: (e as Error).message, instanceId: inst.instanceId }, 'readiness check failed to record'))
    readiness.set(inst.instanceId, setTimeout(run, 0))
  }

  function portNames(app: AppDefinition): string[] {
    if (app.container?.portMappings && app.networks.some((n) => n.mode !== 'host')) return app.container.portMappings.map((p) => p.name ?? '')
    return app.portDefinitions.map((p) => p.name ?? '')
  }



  // ---- kills ----

  async function killInstance(inst: Instance, goal: Instance['goal']): Promise<void> {
    const cur = state.instances.get(inst.instanceId) ?? inst
    lastKillAt.set(cur.instanceId, clock.now())
    const app = appOf(cur)
    stopChecks(cur.instanceId)
    const sendKill = (): Promise<void> =>
      client?.kill(cur.taskId, cur.agentId, app?.taskKillGracePeriodSeconds).catch((e: unknown) => log.warn({ err: (e as Error).message, taskId: cur.taskId }, 'kill failed')) ??
      Promise.resolve()
    // An instance that may be in a load balancer is first shown as killing, so balancers
    // drain it, and only then stopped: requests in flight finish, no new ones arrive.
    if (cur.condition === Condition.Running && cur.hostPorts.length > 0 && killDrainMs > 0) {
      const next: Instance = { ...cur, goal, condition: Condition.Killing, mesosState: 'TASK_KILLING' }
      await state.apply({ type: 'instance-put', instance: next })
      publishInstanceChanged(next)
      setTimeout(() => void sendKill(), killDrainMs).unref()
      return
    }
    if (cur.goal !== goal) await state.apply({ type: 'instance-put', instance: { ...cur, goal } })
    await sendKill()
  }

  // ---- the reconciling pass ----

  // Launch demand seen by the previous pass: more demand asks the master for offers at once.
  let lastDemand = 0
  async function tick(): Promise<void> {
    if (stopped) return
    try {
      // A step that finished since the last pass releases the next one before deciding.
      await advanceDeployments()
      const now = clock.now()
      let wantsOffers = false
      let demand = 0
      for (const id of knownAppIds()) {
        const target = effectiveTarget(id)
        const instances = state.instancesOf(id)
        const d = decideApp({ target, instances, nowMs: now })
        for (const instanceId of d.inactivate) {
          const i = state.instances.get(instanceId)
          if (i) {
            const next = { ...i, condition: Condition.UnreachableInactive }
            await state.apply({ type: 'instance-put', instance: next })
            publishInstanceChanged(next)
          }
        }
        for (const instanceId of d.expunge) {
          stopChecks(instanceId)
          await state.apply({ type: 'instance-removed', instanceId })
        }
        for (const k of d.kill) {
          const i = state.instances.get(k.instanceId)
          if (i) {
            log.info({ appId: id, instanceId: i.instanceId, reason: k.reason }, 'killing instance')
            await killInstance(i, 'Decommissioned')
          }
        }
        if (d.launch > 0 && target && !launchDelayActive(target)) {
          wantsOffers = true
          demand += d.launch
        }
        if (d.launch > 0 && target && launchDelayActive(target)) {
          const until = state.delays.get(target.id)?.until ?? now
          setTimeout(() => tickSoon(), Math.max(0, until - now) + 5).unref()
        }
        // Kills that got no answer are sent again.
        for (const i of instances) {
          if (i.goal === 'Running' || isTerminalCondition(i.condition)) continue
          const last = lastKillAt.get(i.instanceId) ?? 0
          if (now - last > 10_000) await killInstance(i, i.goal)
        }
      }
      await advanceDeployments()
      // REVIVE also clears the refusals left by earlier declines, so new demand is offered
      // resources on the master's next allocation instead of after the refusals expire.
      if (wantsOffers && (suppressed || demand > lastDemand) && client?.connected()) {
        suppressed = false
        await client.revive().catch(() => (suppressed = true))
      }
      lastDemand = demand
    } catch (e) {
      log.error({ err: e }, 'reconciling pass failed')
    }
  }

  // Passes run in the same queue as offers, updates and API changes: one writer. A pass asked
  // for while one is queued is folded into it; one asked for while a pass runs is queued next.
  let tickQueued = false
  function tickSoon(): void {
    if (tickQueued || stopped) return
    tickQueued = true
    setImmediate(() => {
      void enqueue(async () => {
        tickQueued = false
        await tick()
      })
    })
  }

  async function advanceDeployments(): Promise<void> {
    const sorted = [...state.deployments.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    for (const d of sorted) {
      for (;;) {
        const step = d.steps[d.currentStep]
        if (!step) {
          await state.apply({ type: 'deployment-removed', deploymentId: d.id })
          events.publish('deployment_success', { id: d.id, plan: planJson(d) })
          log.info({ deploymentId: d.id }, 'deployment finished')
          break
        }
        const done = step.actions.every(({ action, app }) => {
          if (action === 'StartApplication') return true
          const target = action === 'StopApplication' ? null : (d.target[app] ?? null)
          return decideApp({ target, instances: state.instancesOf(app), nowMs: clock.now() }).complete
        })
        if (!done) break
        for (const { action, app } of step.actions) {
          if (action === 'StopApplication') {
            if (!state.apps.has(app)) events.publish('app_terminated_event', { appId: app })
          }
        }
        events.publish('deployment_step_success', { plan: planJson(d), currentStep: stepJson(step) })
        const next: DeploymentRecord = { ...d, currentStep: d.currentStep + 1 }
        await state.apply({ type: 'deployment-put', deployment: next })
        Object.assign(d, next)
        const following = d.steps[d.currentStep]
        if (following) events.publish('deployment_info', { plan: planJson(d), currentStep: stepJson(following) })
      }
    }
  }

  // ---- changes from the API ----

  /** The deployments that lock any of the apps; without force, a change to them is refused. */
  function lockingDeployments(appIds: readonly string[], force: boolean): DeploymentRecord[] {
    const locking = [...state.deployments.values()].filter((d) => d.affectedApps.some((id) => appIds.includes(id)))
    if (locking.length > 0 && !force) throw new AppLockedError(appIds, locking.map((d) => d.id))
    return locking
  }

  async function deploy(change: DeployChange, dopts: { force: boolean }): Promise<DeploymentRecord> {
    const affected = [...new Set([...change.put.map((a) => a.id), ...change.remove, ...(change.restart ?? [])])]
    // A change that is refused changes nothing: it is checked before a forced change cancels anything.
    for (const id of change.remove) if (!state.apps.has(id)) throw new NotFoundError(`App '${id}' does not exist`)
    const ports = { put: change.put, current: state.apps, removed: change.remove }
    const conflicts = servicePortConflicts(ports)
    if (conflicts.length > 0) throw new AppValidationError(conflicts)
    const locking = lockingDeployments(affected, dopts.force)
    for (const d of locking) {
      await state.apply({ type: 'deployment-removed', deploymentId: d.id })
      events.publish('deployment_failed', { id: d.id, plan: planJson(d), reason: 'cancelled by a forced change' })
    }
    const version = nextVersion()
    const current = new Map(state.apps)
    const restart = new Set(change.restart ?? [])
    const versioned = assignServicePorts(ports).map((a) => {
      const before = current.get(a.id)
      const configChanged = !before || restart.has(a.id) || configDiffers(before, a)
      return {
        ...a,
        version,
        versionInfo: {
          lastScalingAt: version,
          lastConfigChangeAt: configChanged ? version : (before?.versionInfo.lastConfigChangeAt ?? version),
        },
      }
    })
    for (const id of restart) {
      if (versioned.some((a) => a.id === id)) continue
      const before = current.get(id)
      if (!before) throw new NotFoundError(`App '${id}' does not exist`)
      versioned.push({ ...before, version, versionInfo: { lastScalingAt: version, lastConfigChangeAt: version } })
    }
    const withPorts = versioned
    const target = new Map(current)
    for (const a of withPorts) target.set(a.id, a)
    for (const id of change.remove) target.delete(id)
    const groups = new Map(state.groups)
    for (const id of change.removeGroups ?? []) groups.delete(id)
    for (const g of change.putGroups ?? []) groups.set(g.id, g)
    // Throws Marathon's 422 when the change closes a dependency cycle. A group's dependencies
    // hold for every app in it.
    const levels = dependencyOrder([...new Map([...current, ...target]).values()], [...groups.values()])
    const plan = planDeployment({ id: newUuid(), version, current, target, affected, levels, restart: [...restart] })
    const record: DeploymentRecord = { ...plan, currentStep: 0, startedAt: nowIso() }
    for (const a of withPorts) await state.apply({ type: 'app-put', app: a })
    for (const id of change.remove) await state.apply({ type: 'app-removed', appId: id })
    for (const id of change.removeGroups ?? []) await state.apply({ type: 'group-removed', groupId: id })
    for (const g of change.putGroups ?? []) await state.apply({ type: 'group-put', group: g })
    await state.apply({ type: 'deployment-put', deployment: record })
    events.publish('group_change_success', { groupId: '/', version })
    if (record.steps[0]) events.publish('deployment_info', { plan: planJson(record), currentStep: stepJson(record.steps[0]) })
    log.info({ deploymentId: record.id, steps: record.steps.length, apps: affected }, 'deployment started')
    tickSoon()
    return record
  }

  async function killInstances(ids: readonly string[], kopts: { scale: boolean; wipe: boolean; force: boolean }): Promise<{ killed: Instance[]; deployment?: DeploymentRecord }> {
    const killed = ids.flatMap((id) => {
      const i = state.instances.get(id) ?? state.byTaskId(id)
      return i ? [i] : []
    })
    let deployment: DeploymentRecord | undefined
    if (kopts.scale) {
      const byApp = new Map<string, number>()
      for (const i of killed) byApp.set(i.appId, (byApp.get(i.appId) ?? 0) + 1)
      const put: AppDefinition[] = []
      for (const [appId, n] of byApp) {
        const app = state.apps.get(appId)
        if (app) put.push({ ...app, instances: Math.max(0, app.instances - n) })
      }
      // A locked app is refused before anything changes: a 409 must not kill the instances.
      lockingDeployments(put.map((a) => a.id), kopts.force)
      // Mark first, so the scale-down kills exactly these instances.
      for (const i of killed) await state.apply({ type: 'instance-put', instance: { ...i, goal: 'Decommissioned' } })
      if (put.length > 0) deployment = await deploy({ put, remove: [] }, { force: kopts.force })
    }
    for (const i of killed) {
      await killInstance(i, 'Decommissioned')
      if (kopts.wipe) {
        stopChecks(i.instanceId)
        await state.apply({ type: 'instance-removed', instanceId: i.instanceId })
      }
    }
    tickSoon()
    return deployment ? { killed, deployment } : { killed }
  }

  async function cancelDeployment(id: string, force: boolean): Promise<DeploymentRecord | undefined> {
    const d = state.deployments.get(id)
    if (!d) throw new NotFoundError(`DeploymentPlan ${id} does not exist`)
    if (force) {
      await state.apply({ type: 'deployment-removed', deploymentId: id })
      events.publish('deployment_failed', { id, plan: planJson(d), reason: 'cancelled' })
      tickSoon()
      return undefined
    }
    const put = Object.values(d.original).flatMap((a) => (a ? [a] : []))
    const remove = Object.entries(d.original).flatMap(([appId, a]) => (a === null && state.apps.has(appId) ? [appId] : []))
    events.publish('deployment_failed', { id, plan: planJson(d), reason: 'rolled back' })
    return deploy({ put, remove }, { force: true })
  }

  // ---- scheduler events ----

  async function reconcileTasks(): Promise<void> {
    if (!client?.connected()) return
    const known = [...state.instances.values()].map((i) => ({ taskId: i.taskId, agentId: i.agentId }))
    await client.reconcile(known).catch(() => undefined)
    await client.reconcile([]).catch(() => undefined)
  }

  function onEvent(e: SchedulerEvent): void {
    switch (e.type) {
      case 'SUBSCRIBED': {
        const id = e.subscribed.framework_id.value
        const reregistered = state.frameworkId === id
        if (!reregistered) void enqueue(() => state.apply({ type: 'framework-id', frameworkId: id }))
        // Marathon's SchedulerRegisteredEvent has frameworkId and master; the re-registered one only master.
        if (reregistered) events.publish('scheduler_reregistered_event', { master: opts.master })
        else events.publish('scheduler_registered_event', { frameworkId: id, master: opts.master })
        log.info({ frameworkId: id }, 'subscribed to master')
        suppressed = false
        void reconcileTasks()
        tickSoon()
        return
      }
      case 'OFFERS':
        void enqueue(() => onOffers(e.offers.offers))
        return
      case 'UPDATE':
        void enqueue(() => onUpdate(e.update.status))
        return
      case 'RESCIND':
      case 'HEARTBEAT':
      case 'MESSAGE':
      case 'FAILURE':
        return
      case 'ERROR':
        log.error({ message: e.error.message }, 'error from master')
        return
    }
  }

  // Offers and updates are handled one at a time, in arrival order.
  let queueTail: Promise<void> = Promise.resolve()
  function enqueue(fn: () => Promise<void>): Promise<void> {
    queueTail = queueTail.then(fn).catch((err: unknown) => log.error({ err }, 'scheduler event handling failed'))
    return queueTail
  }

  const framework: AppsFramework = {
    state,
    events,
    async start() {
      await state.load()
      for (const i of state.instances.values()) if (i.condition === Condition.Running) startChecks(i)
      client = (opts.connect ?? createSchedulerClient)({
        master: opts.master,
        log: log.child({ component: 'scheduler-client' }),
        frameworkInfo: {
          user: 'root',
          name: opts.frameworkName,
          roles: [opts.role ?? '*'],
          failover_timeout: opts.failoverTimeoutSeconds ?? 604_800,
          checkpoint: true,
          hostname: opts.hostname,
          capabilities: [{ type: 'MULTI_ROLE' }, { type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }],
          ...(opts.webuiUrl ? { webui_url: opts.webuiUrl } : {}),
        },
        ...(state.frameworkId ? { frameworkId: state.frameworkId } : {}),
        onEvent,
        onDisconnected: () => events.publish('scheduler_disconnected_event', {}),
      })
      client.start()
      tickTimer = setInterval(tickSoon, tickMs)
      reconcileTimer = setInterval(() => void reconcileTasks(), opts.reconcileIntervalMs ?? 60_000)
    },
    async stop() {
      stopped = true
      if (tickTimer) clearInterval(tickTimer)
      if (reconcileTimer) clearInterval(reconcileTimer)
      for (const id of [...checks.keys()]) stopChecks(id)
      client?.stop()
      await queueTail
    },
    connected: () => client?.connected() ?? false,
    frameworkId: () => state.frameworkId,
    deploy: (change, o) => enqueueResult(() => deploy(change, o)),
    killInstances: (ids, o) => enqueueResult(() => killInstances(ids, o)),
    cancelDeployment: (id, force) => enqueueResult(() => cancelDeployment(id, force)),
    resetDelay: (appId) =>
      enqueueResult(async () => {
        if (!state.delays.has(appId)) return false
        await state.apply({ type: 'delay-removed', appId })
        tickSoon()
        return true
      }),
    queue() {
      return needs().map(({ app, count }) => {
        const d = state.delays.get(app.id)
        const offers = offerStats.get(app.id)
        const delayed = d && d.until > clock.now() && d.configVersion === app.versionInfo.lastConfigChangeAt
        return { app, count, ...(delayed ? { delay: { until: d.until } } : {}), ...(offers ? { offers } : {}) }
      })
    },
    readinessResultsOf(appId) {
      if (![...state.deployments.values()].some((d) => d.affectedApps.includes(appId))) return []
      return state
        .instancesOf(appId)
        .map((i) => readinessResults.get(i.instanceId))
        .filter((r): r is ReadinessCheckResult => r !== undefined)
    },
    healthResultsOf(instanceId) {
      return (checkHealth.get(instanceId) ?? []).flatMap((h) => (h ? [healthJson(h, instanceId)] : []))
    },
    deploymentsOf(appId) {
      return [...state.deployments.values()].filter((d) => d.affectedApps.includes(appId))
    },
    planJson,
  }

  /** API changes go through the same queue as scheduler events, so they never interleave. */
  function enqueueResult<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      void enqueue(async () => {
        try {
          resolve(await fn())
        } catch (e) {
          reject(e as Error)
        }
      })
    })
  }

  return framework
}

