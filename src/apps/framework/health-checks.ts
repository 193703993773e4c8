// Health checks: the HTTP, HTTPS and TCP checks the framework runs itself, whose results it
// records in the queue and may kill an instance for, and the results of the checks Mesos runs,
// which come in status updates. Instance health is decided over all of an app's checks.
import type { TaskStatusWire } from '../../api/mesos.js'
import { startProbeLoop } from '../../api/probes.js'
import type { CheckHealth, CheckResult, HealthJson } from '../health.js'
import { healthCheckJson } from '../app-json.js'
import { healthJson, instanceHealth, isAliveHealth, NO_RESULTS, recordMarathonResult, recordMesosResult } from '../health.js'
import type { AppDefinition, Instance } from '../types.js'
import { Condition } from '../types.js'
import type { FrameworkContext } from './context.js'
import { publishHealth } from './publish.js'

const MARATHON_CHECKED = new Set(['HTTP', 'HTTPS', 'TCP'])
/** Marathon's HealthCheck.DefaultFirstHealthCheckAfter. */
const FIRST_MARATHON_CHECK_AFTER_SECONDS = 5

export interface HealthChecks {
  /** Starts the checks the framework runs of the instance, and keeps its Mesos-run ones healthy if it was. */
  start(app: AppDefinition, inst: Instance): void
  /**
   * Runs the instance's checks from a changed definition, in place of the ones it ran: a
   * healthy instance stays healthy (and served) until one of the new checks says otherwise.
   */
  restart(app: AppDefinition, inst: Instance): void
  running(instanceId: string): boolean
  runningIds(): string[]
  /** Stops the instance's checks and forgets their results. */
  stop(instanceId: string): void
  /**
   * Records what a status update says of the checks Mesos runs and returns the instance's
   * health over all its checks ('unchanged' when the update tells nothing new). Every
   * Mesos-run check takes the one result, as in Marathon. Only health check updates count a
   * failure again; others (a reconciliation answer) change the record only when they disagree.
   */
  recordMesosHealth(app: AppDefinition, instanceId: string, status: TaskStatusWire): boolean | undefined | 'unchanged'
  /** Marathon's healthCheckResults of an instance: one entry for each of its checks that has run. */
  resultsOf(instanceId: string): HealthJson[]
}

export interface HealthCheckDeps {
  /** Counts a kill for failed checks as a failure of the app, for its launch delay. */
  readonly noteFailure: (inst: Instance) => Promise<void>
  readonly kill: (inst: Instance) => Promise<void>
}

function portOf(inst: Instance, index: number | undefined, fixed: number | undefined): number | undefined {
  if (fixed !== undefined && fixed > 0) return fixed
  return inst.hostPorts[index ?? 0]
}

export function createHealthChecks(ctx: FrameworkContext, deps: HealthCheckDeps): HealthChecks {
  const { state, log, clock, events } = ctx
  const checks = new Map<string, Array<{ stop(): void }>>()
  /** instance id -> the health of each of its app's health checks, by index; undefined: no result yet */
  const checkHealth = new Map<string, Array<CheckHealth | undefined>>()

  function healthOf(app: AppDefinition, instanceId: string): Array<CheckHealth | undefined> {
    let perCheck = checkHealth.get(instanceId)
    if (!perCheck || perCheck.length !== app.healthChecks.length) {
      perCheck = app.healthChecks.map(() => undefined)
      checkHealth.set(instanceId, perCheck)
    }
    return perCheck
  }

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

  function start(app: AppDefinition, inst: Instance, keepHealthy = false): void {
    const handles: Array<{ stop(): void }> = []
    const perCheck = healthOf(app, inst.instanceId)
    // Health known before a restart of the framework: the Mesos-run checks report again only
    // when their result changes, so a healthy instance keeps them alive. After a change of its
    // checks, so do the framework's own until they have run.
    if (inst.healthy === true) {
      app.healthChecks.forEach((h, idx) => {
        if ((keepHealthy || !MARATHON_CHECKED.has(h.protocol)) && perCheck[idx] === undefined) perCheck[idx] = recordMesosResult(undefined, { healthy: true }, clock.now())
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
        void ctx.enqueue(() => recordMarathonCheck(app, inst.instanceId, idx, outcome.kind === 'healthy' ? { healthy: true } : { healthy: false, cause: outcome.message }))
      })
      handles.push(handle)
    })
    checks.set(inst.instanceId, handles)
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
    if (decision.counted) events.publish('failed_health_check_event', { appId: cur.appId, taskId: cur.instanceId, healthCheck: healthCheckJson(h) })
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
        ...(cur.agentId ? { slaveId: cur.agentId } : {}),
      })
      await deps.noteFailure(cur)
      await deps.kill(cur)
      return
    }
    const healthy = instanceHealth(perCheck)
    if (healthy === cur.healthy) return
    const next = { ...cur }
    if (healthy === undefined) delete next.healthy
    else next.healthy = healthy
    await state.apply({ type: 'instance-put', instance: next })
    publishHealth(events, next)
    ctx.tickSoon()
  }

  function stop(instanceId: string): void {
    for (const c of checks.get(instanceId) ?? []) c.stop()
    checks.delete(instanceId)
    checkHealth.delete(instanceId)
  }

  return {
    start,
    restart(app, inst) {
      stop(inst.instanceId)
      start(app, inst, true)
    },
    running: (instanceId) => checks.has(instanceId),
    runningIds: () => [...checks.keys()],
    stop,
    recordMesosHealth,
    resultsOf: (instanceId) => (checkHealth.get(instanceId) ?? []).flatMap((h) => (h ? [healthJson(h, instanceId)] : [])),
  }
}
