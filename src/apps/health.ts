// The health of an instance, one record per health check, with Marathon's rules
// (core/health/Health.scala and HealthCheckActor.scala). Pure: the framework feeds in what
// its probes and the Mesos status updates say, and applies the decisions that come back.

/** Marathon's Health: times are epoch milliseconds here and ISO strings in the JSON. */
export interface CheckHealth {
  readonly firstSuccess?: number
  readonly lastSuccess?: number
  readonly lastFailure?: number
  readonly lastFailureCause?: string
  readonly consecutiveFailures: number
}

/** A check that ran but has nothing counted yet, such as one failing within its grace period. */
export const NO_RESULTS: CheckHealth = { consecutiveFailures: 0 }

/** Alive: the last success came after the last failure. */
export function isAliveHealth(h: CheckHealth): boolean {
  return h.lastSuccess !== undefined && (h.lastFailure === undefined || h.lastSuccess > h.lastFailure)
}

export type CheckResult = { readonly healthy: true } | { readonly healthy: false; readonly cause: string }

function recorded(before: CheckHealth, result: CheckResult, nowMs: number): CheckHealth {
  if (result.healthy) return { ...before, firstSuccess: before.firstSuccess ?? nowMs, lastSuccess: nowMs, consecutiveFailures: 0 }
  return { ...before, lastFailure: nowMs, lastFailureCause: result.cause, consecutiveFailures: before.consecutiveFailures + 1 }
}

export interface MarathonCheckContext {
  readonly nowMs: number
  /** The instance runs; Marathon ignores the failures of one that does not (an unreachable one, say). */
  readonly running: boolean
  readonly unreachable: boolean
  /** Since when the instance runs: the grace period counts from there. */
  readonly runningSinceMs: number
  readonly gracePeriodSeconds: number
  readonly maxConsecutiveFailures: number
}

export interface CheckDecision {
  readonly health: CheckHealth
  /** The failure counted: Marathon publishes failed_health_check_event for it. */
  readonly counted: boolean
  /** Kill the instance for failing this check. */
  readonly kill: boolean
}

/**
 * One result of a check the framework runs itself (HTTP, HTTPS, TCP). A failure is ignored
 * while the instance does not run, and before its first success within the grace period.
 * As in Marathon, the kill is decided on the count before this failure, so an instance is
 * killed at the failure that follows maxConsecutiveFailures failures in a row; never when
 * maxConsecutiveFailures is 0, and never while the instance is unreachable.
 */
export function recordMarathonResult(before: CheckHealth, result: CheckResult, ctx: MarathonCheckContext): CheckDecision {
  if (result.healthy) return { health: recorded(before, result, ctx.nowMs), counted: false, kill: false }
  const inGrace = before.firstSuccess === undefined && ctx.runningSinceMs + ctx.gracePeriodSeconds * 1000 > ctx.nowMs
  if (!ctx.running || inGrace) return { health: before, counted: false, kill: false }
  const max = ctx.maxConsecutiveFailures
  const kill = max > 0 && before.consecutiveFailures >= max && !ctx.unreachable
  return { health: recorded(before, result, ctx.nowMs), counted: true, kill }
}

/**
 * What a Mesos status update says of a check Mesos runs (COMMAND, MESOS_HTTP, MESOS_TCP): its
 * grace period and its kill are Mesos' business, so the result is only recorded.
 */
export function recordMesosResult(before: CheckHealth | undefined, result: CheckResult, nowMs: number): CheckHealth {
  return recorded(before ?? NO_RESULTS, result, nowMs)
}

/**
 * Healthy only when every check is alive; unhealthy as soon as one counted a failure since its
 * last success; otherwise (a check without results yet) not known.
 */
export function instanceHealth(checks: ReadonlyArray<CheckHealth | undefined>): boolean | undefined {
  if (checks.length === 0) return undefined
  if (checks.some((h) => h !== undefined && h.lastFailure !== undefined && !isAliveHealth(h))) return false
  if (checks.every((h) => h !== undefined && isAliveHealth(h))) return true
  return undefined
}

/** Marathon's Health JSON (HealthWrites): every key present, null where nothing happened yet. */
export interface HealthJson {
  readonly alive: boolean
  readonly consecutiveFailures: number
  readonly firstSuccess: string | null
  readonly lastFailure: string | null
  readonly lastSuccess: string | null
  readonly lastFailureCause: string | null
  readonly instanceId: string
}

export function healthJson(h: CheckHealth, instanceId: string): HealthJson {
  const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString())
  return {
    alive: isAliveHealth(h),
    consecutiveFailures: h.consecutiveFailures,
    firstSuccess: iso(h.firstSuccess),
    lastFailure: iso(h.lastFailure),
    lastSuccess: iso(h.lastSuccess),
    lastFailureCause: h.lastFailureCause ?? null,
    instanceId,
  }
}
