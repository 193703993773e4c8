// Health check probes (HTTP, TCP, COMMAND) and the HTTP GET they use. The agent runs them
// next to the task for Mesos-native checks, so a check reaches the task over loopback and
// keeps working while the master is away; the apps framework runs the same probe loop for
// Marathon's scheduler-side health checks, with Marathon's rules on top (apps/health.ts).
//
// The timing follows Mesos: wait delay_seconds, then run one check at a time, the next one
// interval_seconds after the previous one finished. With Mesos' rules (startHealthCheck),
// failures while the task is still in its grace period (counted from start) are ignored until
// the first success, because a starting task is expected to fail its check. After
// consecutive_failures failures in a row (at the first one when that is 0, as Mesos does) the
// task is declared failed once, and checking stops: the agent kills the task.
import { spawn } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Logger } from 'pino'
import type { HealthCheck } from './mesos.js'
import type { Clock } from '../core/clock.js'
import { systemClock } from '../core/clock.js'


/** The shortest pause between two checks, whatever interval_seconds says. */
const MIN_INTERVAL_SECONDS = 0.1

export interface HealthResult {
  readonly healthy: boolean
  readonly consecutiveFailures: number
  readonly message?: string
}

/** What a probe loop needs to run one kind of check against one task. */
export interface ProbeTarget {
  readonly check: HealthCheck
  /** Where HTTP and TCP checks connect, usually '127.0.0.1' for tasks on the host network. */
  readonly host: string
  /** The task's environment; COMMAND checks run with it. */
  readonly env: Readonly<Record<string, string>>
  /** COMMAND checks run in the task's sandbox. */
  readonly sandboxDir: string
  /**
   * Runs COMMAND checks somewhere other than on the host: inside the task's container, as Mesos
   * runs the checks of Docker tasks. Gets the argv, the check's own environment variables (the
   * container has the task's) and the check's timeout; resolves with the exit code. The check
   * counts as failed on rejection, and on timeout whether or not the runner returned.
   */
  readonly runCommand?: CommandRunner
  /**
   * Marathon's ignoreHttp1xx for HTTP checks: an informational (1xx) answer counts neither way.
   * Without it a 1xx answer is a failure; 200-399 is healthy either way.
   */
  readonly ignoreHttp1xx?: boolean
  readonly log?: Logger
}

export interface HealthCheckOptions extends ProbeTarget {
  /** Called with each counted failure, the first success and the first success after failures, as Mesos reports. */
  readonly onResult: (r: HealthResult) => void
  /**
   * Called once when consecutive_failures failures in a row are reached (with Mesos, 0 means
   * the first counted failure); checking has stopped by then.
   */
  readonly onFailed: (message: string) => void
  readonly clock?: Clock
}

export type CommandRunner = (
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs: number,
) => Promise<{ readonly exitCode: number; readonly output?: string }>

export interface HealthCheckHandle {
  stop(): void
}

/** One check attempt: healthy, unhealthy, or (a 1xx answer with ignoreHttp1xx) neither. */
export type ProbeOutcome =
  | { readonly kind: 'healthy' }
  | { readonly kind: 'unhealthy'; readonly message: string }
  | { readonly kind: 'ignored'; readonly message: string }
/** One check attempt. It settles when the signal aborts (timeout or stop) and never rejects. */
type Probe = (signal: AbortSignal) => Promise<ProbeOutcome>

const HEALTHY: ProbeOutcome = { kind: 'healthy' }
const unhealthy = (message: string): ProbeOutcome => ({ kind: 'unhealthy', message })

export type HealthCheckKind = 'HTTP' | 'TCP' | 'COMMAND'

/** Marathon sometimes leaves `type` out; the one filled-in section then says what was meant. */
export function healthCheckKind(check: HealthCheck): HealthCheckKind {
  if (check.type) return check.type
  if (check.http) return 'HTTP'
  if (check.tcp) return 'TCP'
  if (check.command) return 'COMMAND'
  throw new Error('Health check has no type and no http, tcp or command section')
}

/**
 * Runs the check's probe with Mesos' timing: delay_seconds, then one attempt at a time, the next
 * interval_seconds after the previous one finished. Each outcome goes to `onOutcome`; returning
 * 'stop' ends the loop. What an outcome means (grace period, counting, killing) is the caller's.
 * Throws if the check is malformed.
 */
export function startProbeLoop(target: ProbeTarget, onOutcome: (o: ProbeOutcome) => 'stop' | void): HealthCheckHandle {
  const { check } = target
  const probe = probeFor(target)
  const log = target.log?.child({ component: 'health-check', type: healthCheckKind(check) })
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let inflight: AbortController | undefined

  const schedule = (seconds: number): void => {
    timer = setTimeout(() => {
      timer = undefined
      tick().catch((err: unknown) => log?.error({ err }, 'health check callback threw'))
    }, seconds * 1000)
  }

  const tick = async (): Promise<void> => {
    if (stopped) return
    const attempt = new AbortController()
    inflight = attempt
    const deadline = setTimeout(
      () => attempt.abort(new Error(`timed out after ${check.timeout_seconds}s`)),
      check.timeout_seconds * 1000,
    )
    const outcome = await probe(attempt.signal)
    clearTimeout(deadline)
    inflight = undefined
    if (stopped) return
    if (onOutcome(outcome) === 'stop') {
      stopped = true
      return
    }
    // An interval of 0 is valid (Mesos): checks then follow one another, not in a busy loop.
    schedule(Math.max(check.interval_seconds, MIN_INTERVAL_SECONDS))
  }

  schedule(check.delay_seconds)
  return {
    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      inflight?.abort(new Error('health check stopped'))
    },
  }
}

/**
 * A health check with Mesos' rules (the agent runs these). Starts at once (after
 * delay_seconds). Throws if the check is malformed.
 */
export function startHealthCheck(opts: HealthCheckOptions): HealthCheckHandle {
  const { check } = opts
  const clock = opts.clock ?? systemClock
  const log = opts.log?.child({ component: 'health-check', type: healthCheckKind(check) })
  const startedAt = clock.now()
  const graceMs = check.grace_period_seconds * 1000
  let everSucceeded = false
  let consecutiveFailures = 0

  return startProbeLoop(opts, (outcome) => {
    if (outcome.kind === 'ignored') return
    if (outcome.kind === 'healthy') {
      if (!everSucceeded || consecutiveFailures > 0) opts.onResult({ healthy: true, consecutiveFailures: 0 })
      everSucceeded = true
      consecutiveFailures = 0
      return
    }
    if (!everSucceeded && graceMs > 0 && clock.now() - startedAt <= graceMs) {
      log?.debug({ reason: outcome.message }, 'ignoring health check failure within the grace period')
      return
    }
    consecutiveFailures += 1
    opts.onResult({ healthy: false, consecutiveFailures, message: outcome.message })
    // Mesos kills at consecutive_failures failures in a row, so at the first one when that is 0.
    if (consecutiveFailures >= check.consecutive_failures) {
      opts.onFailed(`Health check failed ${consecutiveFailures} consecutive times: ${outcome.message}`)
      return 'stop'
    }
  })
}

function probeFor(opts: ProbeTarget): Probe {
  const { check } = opts
  const kind = healthCheckKind(check)
  switch (kind) {
    case 'HTTP': {
      if (!check.http) throw new Error('HTTP health check without an http section')
      const { port, path, scheme } = check.http
      const ignore1xx = opts.ignoreHttp1xx ?? false
      return (signal) => httpProbe({ host: opts.host, port, path, scheme, ignore1xx, signal })
    }
    case 'TCP': {
      if (!check.tcp) throw new Error('TCP health check without a tcp section')
      const { port } = check.tcp
      return (signal) => tcpProbe({ host: opts.host, port, signal })
    }
    case 'COMMAND': {
      const command = check.command
      if (!command?.value) throw new Error('COMMAND health check without a command value')
      const argv = command.shell ? ['/bin/sh', '-c', command.value] : [command.value, ...command.arguments.slice(1)]
      const runner = opts.runCommand
      if (runner) {
        const checkEnv: Record<string, string> = {}
        for (const v of command.environment?.variables ?? []) checkEnv[v.name] = v.value
        return (signal) => runnerProbe({ runner, argv, env: checkEnv, timeoutMs: check.timeout_seconds * 1000, signal })
      }
      const env: Record<string, string> = { ...opts.env }
      for (const v of command.environment?.variables ?? []) env[v.name] = v.value
      env.PATH ??= process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'
      return (signal) => commandProbe({ argv, env, cwd: opts.sandboxDir, signal })
    }
  }
}

function abortMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason.message : 'aborted'
}

/** Resolves a probe exactly once, whichever of result, error or abort comes first. */
function settleOnce(signal: AbortSignal, cleanup: () => void): { promise: Promise<ProbeOutcome>; settle: (o: ProbeOutcome) => void } {
  let resolveFn!: (o: ProbeOutcome) => void
  const promise = new Promise<ProbeOutcome>((resolve) => (resolveFn = resolve))
  let done = false
  const settle = (o: ProbeOutcome): void => {
    if (done) return
    done = true
    signal.removeEventListener('abort', onAbort)
    cleanup()
    resolveFn(o)
  }
  const onAbort = (): void => settle(unhealthy(abortMessage(signal)))
  if (signal.aborted) queueMicrotask(onAbort)
  else signal.addEventListener('abort', onAbort, { once: true })
  return { promise, settle }
}

/** What one GET answered: its status, content type and (the start of) its body. */
export interface HttpAnswer {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/**
 * One GET of a task's endpoint, like Mesos' `curl -k`: a task's certificate is usually
 * self-signed, and the check asks "is it serving", not "is it trusted". Keeps at most
 * maxBodyBytes of the body. Rejects on a connection error or when `signal` aborts.
 */
export function httpGet(o: { scheme: string; host: string; port: number; path: string; signal: AbortSignal; maxBodyBytes?: number; userAgent?: string }): Promise<HttpAnswer> {
  const isHttps = o.scheme.toLowerCase() === 'https'
  const target = `${o.scheme}://${o.host}:${o.port}${o.path}`
  const maxBody = o.maxBodyBytes ?? 0
  return new Promise((resolve, reject) => {
    const req = (isHttps ? https : http).request({
      host: o.host,
      port: o.port,
      path: o.path.startsWith('/') ? o.path : `/${o.path}`,
      method: 'GET',
      agent: false,
      headers: { 'user-agent': o.userAgent ?? 'dromos-health-check', connection: 'close' },
      ...(isHttps ? { rejectUnauthorized: false } : {}),
    })
    let done = false
    const finish = (err: Error | undefined, answer?: HttpAnswer): void => {
      if (done) return
      done = true
      o.signal.removeEventListener('abort', onAbort)
      // The connection goes either way: a body that drips on holds no socket open.
      req.destroy()
      if (err) reject(err)
      else resolve(answer!)
    }
    // An informational (1xx) head that no final answer follows, because the connection closed
    // or the attempt ran out of time, is what the task answered (health checks judge 1xx).
    let informational: HttpAnswer | undefined
    const failed = (err: Error): void => (informational ? finish(undefined, informational) : finish(err))
    const onAbort = (): void => failed(new Error(abortMessage(o.signal)))
    if (o.signal.aborted) queueMicrotask(onAbort)
    else o.signal.addEventListener('abort', onAbort, { once: true })
    req.on('information', (info) => {
      informational = { status: info.statusCode, contentType: String(info.headers['content-type'] ?? ''), body: '' }
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      finish(undefined, { status: res.statusCode ?? 101, contentType: String(res.headers['content-type'] ?? ''), body: '' })
    })
    req.on('response', (res) => {
      const head = { status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? '') }
      // Without a body to keep, the answer is in the head: an endless body does not hold it up.
      if (maxBody === 0) {
        res.resume()
        return finish(undefined, { ...head, body: '' })
      }
      const chunks: Buffer[] = []
      let kept = 0
      res.on('data', (c: Buffer) => {
        chunks.push(c.subarray(0, maxBody - kept))
        kept += Math.min(c.length, maxBody - kept)
        // Enough kept: the rest is not read.
        if (kept >= maxBody) finish(undefined, { ...head, body: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('end', () => finish(undefined, { ...head, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', (err) => finish(new Error(`GET ${target} failed: ${err.message}`)))
    })
    req.on('error', (err) => failed(new Error(`GET ${target} failed: ${err.message}`)))
    req.end()
  })
}

function httpProbe(o: { host: string; port: number; path: string; scheme: string; ignore1xx: boolean; signal: AbortSignal }): Promise<ProbeOutcome> {
  const target = `${o.scheme}://${o.host}:${o.port}${o.path}`
  return httpGet(o).then(
    (a): ProbeOutcome => {
      if (a.status >= 200 && a.status < 400) return HEALTHY
      const message = `GET ${target} returned ${a.status}`
      return o.ignore1xx && a.status >= 100 && a.status < 200 ? { kind: 'ignored', message } : unhealthy(message)
    },
    (err: unknown): ProbeOutcome => unhealthy(err instanceof Error ? err.message : String(err)),
  )
}

function tcpProbe(o: { host: string; port: number; signal: AbortSignal }): Promise<ProbeOutcome> {
  const socket = net.connect({ host: o.host, port: o.port })
  const { promise, settle } = settleOnce(o.signal, () => socket.destroy())
  socket.on('connect', () => settle(HEALTHY))
  socket.on('error', (err) => settle(unhealthy(`TCP connect to ${o.host}:${o.port} failed: ${err.message}`)))
  return promise
}

function runnerProbe(o: { runner: CommandRunner; argv: string[]; env: Record<string, string>; timeoutMs: number; signal: AbortSignal }): Promise<ProbeOutcome> {
  const { promise, settle } = settleOnce(o.signal, () => undefined)
  o.runner(o.argv, o.env, o.timeoutMs).then(
    (r) => {
      if (r.exitCode === 0) return settle(HEALTHY)
      const tail = (r.output ?? '').trim().split('\n').slice(-1)[0]
      settle(unhealthy(`command exited with code ${r.exitCode}${tail ? `: ${tail}` : ''}`))
    },
    (err: unknown) => settle(unhealthy(`command failed: ${err instanceof Error ? err.message : String(err)}`)),
  )
  return promise
}

function commandProbe(o: { argv: string[]; env: Record<string, string>; cwd: string; signal: AbortSignal }): Promise<ProbeOutcome> {
  const [file, ...args] = o.argv as [string, ...string[]]
  // Own process group, so a timed-out check takes its children down with it.
  const child = spawn(file, args, { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 1024) stderr += chunk
  })
  const killGroup = (): void => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  const { promise, settle } = settleOnce(o.signal, killGroup)
  child.on('error', (err) => settle(unhealthy(`command failed to start: ${err.message}`)))
  child.on('close', (code, signal) => {
    if (code === 0) return settle(HEALTHY)
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
    const tail = stderr.trim().split('\n').slice(-1)[0]
    settle(unhealthy(`command ${how}${tail ? `: ${tail}` : ''}`))
  })
  return promise
}
