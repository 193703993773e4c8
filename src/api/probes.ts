// Health check probes (HTTP, TCP, COMMAND) and the HTTP GET they use. The agent runs them
// next to the task for Mesos-native checks, so a check reaches the task over loopback and
// keeps working while the master is away; the apps framework runs the same probes for
// Marathon's scheduler-side health checks and readiness checks.
//
// The timing follows Mesos: wait delay_seconds, then run one check at a time, the next one
// interval_seconds after the previous one finished. Failures while the task is still in its
// grace period (counted from start) are ignored until the first success, because a starting
// task is expected to fail its check. After consecutive_failures failures in a row the task
// is declared failed once, and checking stops: the agent kills the task.
import { spawn } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Logger } from 'pino'
import type { HealthCheck } from './mesos.js'
import type { Clock } from '../core/clock.js'
import { systemClock } from '../core/clock.js'

export interface HealthResult {
  readonly healthy: boolean
  readonly consecutiveFailures: number
  readonly message?: string
}

export interface HealthCheckOptions {
  readonly check: HealthCheck
  /** Where HTTP and TCP checks connect, usually '127.0.0.1' for tasks on the host network. */
  readonly host: string
  /** The task's environment; COMMAND checks run with it. */
  readonly env: Readonly<Record<string, string>>
  /** COMMAND checks run in the task's sandbox. */
  readonly sandboxDir: string
  /** Called with the first counted result and then whenever `healthy` changes. */
  readonly onResult: (r: HealthResult) => void
  /** Called once, after consecutive_failures failures in a row; checking has stopped by then. */
  readonly onFailed: (message: string) => void
  /**
   * Runs COMMAND checks somewhere other than on the host: inside the task's container, as Mesos
   * runs the checks of Docker tasks. Gets the argv, the check's own environment variables (the
   * container has the task's) and the check's timeout; resolves with the exit code. The check
   * counts as failed on rejection, and on timeout whether or not the runner returned.
   */
  readonly runCommand?: CommandRunner
  readonly clock?: Clock
  readonly log?: Logger
}

export type CommandRunner = (
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs: number,
) => Promise<{ readonly exitCode: number; readonly output?: string }>

export interface HealthCheckHandle {
  stop(): void
}

type ProbeOutcome = { readonly ok: true } | { readonly ok: false; readonly message: string }
/** One check attempt. It settles when the signal aborts (timeout or stop) and never rejects. */
type Probe = (signal: AbortSignal) => Promise<ProbeOutcome>

export type HealthCheckKind = 'HTTP' | 'TCP' | 'COMMAND'

/** Marathon sometimes leaves `type` out; the one filled-in section then says what was meant. */
export function healthCheckKind(check: HealthCheck): HealthCheckKind {
  if (check.type) return check.type
  if (check.http) return 'HTTP'
  if (check.tcp) return 'TCP'
  if (check.command) return 'COMMAND'
  throw new Error('Health check has no type and no http, tcp or command section')
}

/** Starts checking at once (after delay_seconds). Throws if the check is malformed. */
export function startHealthCheck(opts: HealthCheckOptions): HealthCheckHandle {
  const { check } = opts
  const clock = opts.clock ?? systemClock
  const probe = probeFor(opts)
  const log = opts.log?.child({ component: 'health-check', type: healthCheckKind(check) })
  const startedAt = clock.now()
  const graceMs = check.grace_period_seconds * 1000

  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let inflight: AbortController | undefined
  let everSucceeded = false
  let consecutiveFailures = 0
  let lastHealthy: boolean | undefined

  const report = (healthy: boolean, message?: string): void => {
    if (healthy === lastHealthy) return
    lastHealthy = healthy
    opts.onResult(message === undefined ? { healthy, consecutiveFailures } : { healthy, consecutiveFailures, message })
  }

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

    if (outcome.ok) {
      everSucceeded = true
      consecutiveFailures = 0
      report(true)
    } else if (!everSucceeded && clock.now() - startedAt < graceMs) {
      log?.debug({ reason: outcome.message }, 'ignoring health check failure within the grace period')
    } else {
      consecutiveFailures += 1
      report(false, outcome.message)
      if (consecutiveFailures >= check.consecutive_failures) {
        stopped = true
        opts.onFailed(`Health check failed ${consecutiveFailures} consecutive times: ${outcome.message}`)
        return
      }
    }
    schedule(check.interval_seconds)
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

function probeFor(opts: HealthCheckOptions): Probe {
  const { check } = opts
  const kind = healthCheckKind(check)
  switch (kind) {
    case 'HTTP': {
      if (!check.http) throw new Error('HTTP health check without an http section')
      const { port, path, scheme } = check.http
      return (signal) => httpProbe({ host: opts.host, port, path, scheme, signal })
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
  const onAbort = (): void => settle({ ok: false, message: abortMessage(signal) })
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
    const onAbort = (): void => finish(new Error(abortMessage(o.signal)))
    if (o.signal.aborted) queueMicrotask(onAbort)
    else o.signal.addEventListener('abort', onAbort, { once: true })
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
    req.on('error', (err) => finish(new Error(`GET ${target} failed: ${err.message}`)))
    req.end()
  })
}

function httpProbe(o: { host: string; port: number; path: string; scheme: string; signal: AbortSignal }): Promise<ProbeOutcome> {
  const target = `${o.scheme}://${o.host}:${o.port}${o.path}`
  return httpGet(o).then(
    (a): ProbeOutcome => (a.status >= 200 && a.status < 400 ? { ok: true } : { ok: false, message: `GET ${target} returned ${a.status}` }),
    (err: unknown): ProbeOutcome => ({ ok: false, message: err instanceof Error ? err.message : String(err) }),
  )
}

function tcpProbe(o: { host: string; port: number; signal: AbortSignal }): Promise<ProbeOutcome> {
  const socket = net.connect({ host: o.host, port: o.port })
  const { promise, settle } = settleOnce(o.signal, () => socket.destroy())
  socket.on('connect', () => settle({ ok: true }))
  socket.on('error', (err) => settle({ ok: false, message: `TCP connect to ${o.host}:${o.port} failed: ${err.message}` }))
  return promise
}

function runnerProbe(o: { runner: CommandRunner; argv: string[]; env: Record<string, string>; timeoutMs: number; signal: AbortSignal }): Promise<ProbeOutcome> {
  const { promise, settle } = settleOnce(o.signal, () => undefined)
  o.runner(o.argv, o.env, o.timeoutMs).then(
    (r) => {
      if (r.exitCode === 0) return settle({ ok: true })
      const tail = (r.output ?? '').trim().split('\n').slice(-1)[0]
      settle({ ok: false, message: `command exited with code ${r.exitCode}${tail ? `: ${tail}` : ''}` })
    },
    (err: unknown) => settle({ ok: false, message: `command failed: ${err instanceof Error ? err.message : String(err)}` }),
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
  child.on('error', (err) => settle({ ok: false, message: `command failed to start: ${err.message}` }))
  child.on('close', (code, signal) => {
    if (code === 0) return settle({ ok: true })
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
    const tail = stderr.trim().split('\n').slice(-1)[0]
    settle({ ok: false, message: `command ${how}${tail ? `: ${tail}` : ''}` })
  })
  return promise
}
