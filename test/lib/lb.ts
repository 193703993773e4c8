// Runs a real `bin/dromos lb` (which owns a real HAProxy) against an AppsProcess.
import type { IncomingHttpHeaders } from 'node:http'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import type { AppsProcess } from './apps.js'
import { freePort, Proc, waitUntil } from './cluster.js'
import { processesWhere } from './proc.js'

// Keep-alive, as real clients do: HAProxy in http mode still routes each request.
const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 })

export class LbProcess {
  proc!: Proc
  httpPort = 0
  httpsPort = 0
  appIdPort = 0
  statsPort = 0
  constructor(readonly apps: AppsProcess) {}

  static async start(apps: AppsProcess, extraArgs: string[] = []): Promise<LbProcess> {
    const lb = new LbProcess(apps)
    lb.httpPort = await freePort()
    lb.httpsPort = await freePort()
    lb.appIdPort = await freePort()
    lb.statsPort = await freePort()
    lb.proc = new Proc(
      [
        'lb',
        '--apps', apps.url,
        '--bind-address', '127.0.0.1',
        '--http-port', String(lb.httpPort),
        '--https-port', String(lb.httpsPort),
        '--app-id-port', String(lb.appIdPort),
        '--stats-port', String(lb.statsPort),
        '--work-dir', join(apps.cluster.dir, `lb-${lb.statsPort}`),
        '--log-level', 'debug',
        ...extraArgs,
      ],
      join(apps.cluster.dir, `lb-${lb.statsPort}.log`),
    )
    await lb.waitReady()
    return lb
  }

  async waitReady(): Promise<void> {
    await waitUntil('the lb to answer on its stats port', async () => (await fetch(`http://127.0.0.1:${this.statsPort}/_lb/state`)).ok)
    // HAProxy answers on the stats port a moment before the lb counts the start (or takeover)
    // as applied: a test that reads the reload counter next must see that first one in it.
    await waitUntil('the lb to apply its first routes', async () => (await this.metric('dromos_lb_reloads_total')) >= 1)
  }

  async state(): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return (await fetch(`http://127.0.0.1:${this.statsPort}/_lb/state`)).json()
  }

  async metric(name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.statsPort}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith(`${name} `))
    return line ? Number(line.split(' ')[1]) : 0
  }
}

/**
 * Kills every HAProxy whose configuration lies under `dir`. HAProxy outlives a killed lb on
 * purpose; one a failed test leaves behind would keep its service ports (SO_REUSEPORT) and
 * answer the next run's requests with stale routes.
 */
export function killHaproxiesUnder(dir: string): number {
  let killed = 0
  for (const pid of processesWhere((p) => {
    const argv = p.argv()
    return argv[0]!.endsWith('haproxy') && argv.some((a) => a.startsWith(dir))
  })) {
    try {
      process.kill(pid, 'SIGKILL')
      killed++
    } catch {
      // gone already
    }
  }
  return killed
}

/** One GET through the balancer; the body is the serving task's id, or an error marker. */
export function hit(
  port: number,
  opts: { host?: string; path?: string; headers?: Record<string, string> } = {},
  fresh = false,
): Promise<{ ok: boolean; body: string; headers: IncomingHttpHeaders; retried?: true }> {
  // node:http rather than fetch, which does not let a request choose its Host header.
  return new Promise((resolve) => {
    const headers = { ...(opts.host ? { Host: opts.host } : {}), ...opts.headers }
    const req = request(
      { host: '127.0.0.1', port, path: opts.path ?? '/id', headers, agent: fresh ? false : keepAlive, timeout: 5000 },
      (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => resolve({ ok: res.statusCode === 200, body: res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`, headers: res.headers }))
        res.on('error', (e) => resolve({ ok: false, body: `error: ${e.message}`, headers: {} }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e) => {
      // An idle kept-alive connection that the server closed as this request went out on it (an
      // HAProxy that finishes on a reload closes its idle ones): as browsers and most clients do
      // (RFC 9112 9.3.1), a request that got no answer on a reused connection is sent again, once,
      // on a new one. A failure on a new connection counts.
      if (!fresh && req.reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return void hit(port, opts, true).then((r) => resolve({ ...r, retried: true }))
      resolve({ ok: false, body: `error: ${e.message}`, headers: {} })
    })
    req.end()
  })
}

/** Sends requests one after another until stopped, bounded in count and time. */
export class RequestLoop {
  readonly results: Array<{ ok: boolean; body: string; at: number; retried?: true }> = []
  private stopped = false
  private done: Promise<void>
  private readonly reloads: (() => Promise<number>) | undefined
  private readonly reloadsAtStart: Promise<number> | undefined
  private reloadsDuring: number | undefined
  /**
   * `reloads`: the lb's reload counter. A request sent again after a reset on a reused
   * connection (see hit) is then a failure past 4 (the pooled connections) for each HAProxy
   * that finished while the loop ran, and one more: more would be requests dropped in flight.
   */
  constructor(port: number, opts: { maxRequests?: number; maxMs?: number; host?: string; reloads?: () => Promise<number> } = {}) {
    this.reloads = opts.reloads
    this.reloadsAtStart = opts.reloads?.()
    const maxRequests = opts.maxRequests ?? 5000
    const deadline = Date.now() + (opts.maxMs ?? 120_000)
    this.done = (async () => {
      while (!this.stopped && this.results.length < maxRequests && Date.now() < deadline) {
        const r = await hit(port, opts.host ? { host: opts.host } : {})
        this.results.push({ ...r, at: Date.now() })
        await new Promise((res) => setTimeout(res, 5))
      }
    })()
  }
  async stop(): Promise<void> {
    this.stopped = true
    await this.done
    if (this.reloads && this.reloadsAtStart) this.reloadsDuring = (await this.reloads()) - (await this.reloadsAtStart)
  }
  failures(): Array<{ body: string; at: number }> {
    const failed: Array<{ body: string; at: number }> = this.results.filter((r) => !r.ok)
    const allowed = this.reloadsDuring === undefined ? Number.POSITIVE_INFINITY : 4 * (this.reloadsDuring + 1)
    if (this.retries() > allowed) failed.push({ body: `${this.retries()} requests sent again after a reset, more than ${allowed} for ${this.reloadsDuring} reload(s)`, at: Date.now() })
    return failed
  }
  /** The requests sent again after a reset on a reused connection (see hit): one for each pooled connection an HAProxy closed at most. */
  retries(): number {
    return this.results.filter((r) => r.retried).length
  }
}
