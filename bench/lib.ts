// Small helpers shared by the benchmarks: clocks, statistics, Docker container events, the
// `docker run` flags that match what a dromos agent asks the Engine for, and Ctrl-C handling.
import { execFile } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import type Dockerode from 'dockerode'
import { createSseParser } from '../src/api/marathon-client.js'
import type { MarathonEventRecord } from '../test/lib/apps.js'

export const execFileP = promisify(execFile)

/** Milliseconds since the epoch, sub-millisecond: comparable with Docker's event timestamps. */
export const now = (): number => performance.timeOrigin + performance.now()
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// ---- statistics and formatting ----

/** Linear-interpolated quantile of the finite values; NaN when there are none. */
export function quantile(xs: readonly number[], q: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo)
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5)
export const fmt = (ms: number, digits = 1): string => (Number.isFinite(ms) ? ms.toFixed(digits) : 'n/a')
export const pad = (s: string, n: number): string => s.padStart(n)

// ---- Docker container events ----

export interface ContainerTimes {
  create?: number
  start?: number
}

/**
 * Follows the Engine's container create and start events on their own connection and keeps
 * their times (ms since the epoch) under a key the caller derives from the container's
 * attributes (labels and name); events without a key are ignored.
 */
export class DockerEvents {
  readonly byKey = new Map<string, ContainerTimes>()
  private stream: NodeJS.ReadableStream | undefined

  constructor(private readonly keyOf: (attrs: Readonly<Record<string, string>>) => string | undefined) {}

  async open(docker: Dockerode): Promise<void> {
    const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['create', 'start'] } })) as NodeJS.ReadableStream
    this.stream = stream
    let buf = ''
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        this.record(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    })
    stream.on('error', () => undefined)
  }

  private record(line: string): void {
    let e: { Action?: string; status?: string; timeNano?: number; Actor?: { Attributes?: Record<string, string> } }
    try {
      e = JSON.parse(line) as typeof e
    } catch {
      return
    }
    const key = this.keyOf(e.Actor?.Attributes ?? {})
    const action = e.Action ?? e.status
    if (key === undefined || e.timeNano === undefined || (action !== 'create' && action !== 'start')) return
    const times = this.byKey.get(key) ?? {}
    times[action] = e.timeNano / 1e6
    this.byKey.set(key, times)
  }

  /** The events come on their own connection: gives a just-finished launch's events a moment. */
  async get(key: string, waitMs = 200): Promise<ContainerTimes> {
    const deadline = Date.now() + waitMs
    for (;;) {
      const t = this.byKey.get(key)
      if ((t?.create !== undefined && t.start !== undefined) || Date.now() >= deadline) return t ?? {}
      await sleep(10)
    }
  }

  /** The first create and the last start over some containers (NaN where one is missing). */
  async span(keys: readonly string[], waitMs = 200): Promise<{ firstCreate: number; lastStart: number }> {
    const all = await Promise.all(keys.map((k) => this.get(k, waitMs)))
    const creates = all.map((t) => t.create ?? NaN)
    const starts = all.map((t) => t.start ?? NaN)
    return {
      firstCreate: creates.some((x) => !Number.isFinite(x)) || creates.length === 0 ? NaN : Math.min(...creates),
      lastStart: starts.some((x) => !Number.isFinite(x)) || starts.length === 0 ? NaN : Math.max(...starts),
    }
  }

  close(): void {
    const s = this.stream as { destroy?: () => void } | undefined
    s?.destroy?.()
  }
}

// ---- docker run flags ----

/** The sandbox mount point inside a dromos Docker task (as Mesos'). */
export const CONTAINER_SANDBOX = '/mnt/mesos/sandbox'

/**
 * The resource and sandbox flags of a `docker run` that asks the Engine for what a dromos agent
 * asks for (src/agent/containerizers/docker-spec.ts containerSpec): memory without swap, CPU shares
 * and a CFS quota, the sandbox bind mount and MESOS_SANDBOX.
 */
export function matchedDockerRunFlags(opts: { cpus: number; memMb: number; sandbox: string }): string[] {
  const memBytes = Math.max(6 * 1024 * 1024, Math.round(opts.memMb * 1024 * 1024))
  return [
    '--memory', String(memBytes), '--memory-swap', String(memBytes),
    '--cpu-shares', String(Math.max(2, Math.round(opts.cpus * 1024))),
    '--cpu-period', '100000', '--cpu-quota', String(Math.max(1000, Math.round(opts.cpus * 100_000))),
    '-v', `${opts.sandbox}:${CONTAINER_SANDBOX}:rw`,
    '-e', `MESOS_SANDBOX=${CONTAINER_SANDBOX}`,
  ]
}

/** Removes, by force, every container carrying one of the labels (`key=value`); returns how many. */
export async function removeLabelled(docker: Dockerode, labels: readonly string[]): Promise<number> {
  let n = 0
  for (const label of labels) {
    const list = await docker.listContainers({ all: true, filters: { label: [label] } }).catch(() => [])
    for (const c of list) {
      await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)
      n++
    }
  }
  return n
}

// ---- Ctrl-C ----

export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`)
  }
}

/**
 * The first SIGINT/SIGTERM asks the benchmark to stop at its next check, so the step under way
 * finishes and the cleanup sees everything it started; a second one runs the cleanup at once
 * and exits 130. `check()` throws Interrupted once a signal came.
 */
export function handleInterrupts(cleanup: () => Promise<void>, what = 'the step under way'): { check(): void } {
  let interrupted: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted === undefined) {
      interrupted = sig
      process.stderr.write(`\n${sig}: stopping after ${what}, then cleaning up\n`)
      return
    }
    void cleanup().finally(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    check() {
      if (interrupted !== undefined) throw new Interrupted(interrupted)
    },
  }
}

/** What a benchmark's main promise turns into: 0 done, 130 interrupted, 1 the benchmark broke. */
export function exitWith(name: string, p: Promise<void>): void {
  p.then(
    () => process.exit(0),
    (err: unknown) => {
      if (err instanceof Interrupted) process.exit(130)
      process.stderr.write(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exit(1)
    },
  )
}

export interface TimedEvent {
  /** When this process read the event (ms since the epoch). */
  readonly at: number
  readonly e: MarathonEventRecord
}

/**
 * Follows /v2/events like test/lib/apps.ts's EventStream, but stamps each event when its chunk
 * arrives and wakes waiters at once (EventStream polls every 50 ms: too coarse to time with).
 */
export class TimedEventStream {
  readonly events: TimedEvent[] = []
  private readonly waiters = new Set<() => void>()
  private readonly controller = new AbortController()
  private done: Promise<void> = Promise.resolve()

  static async open(url: string, types: readonly string[]): Promise<TimedEventStream> {
    const s = new TimedEventStream()
    const q = types.map((t) => `event_type=${encodeURIComponent(t)}`).join('&')
    const r = await fetch(`${url}/v2/events${q ? `?${q}` : ''}`, { headers: { Accept: 'text/event-stream' }, signal: s.controller.signal })
    if (!r.ok || !r.body) throw new Error(`/v2/events answered ${r.status}`)
    s.done = s.read(r.body as unknown as AsyncIterable<Uint8Array>)
    return s
  }

  private async read(body: AsyncIterable<Uint8Array>): Promise<void> {
    let at = 0
    const parse = createSseParser(({ data }) => this.events.push({ at, e: JSON.parse(data) as MarathonEventRecord }))
    try {
      for await (const chunk of body) {
        at = now()
        parse(Buffer.from(chunk).toString())
        for (const w of [...this.waiters]) w()
      }
    } catch {
      // closed
    }
  }

  /** The first event at index >= from that matches. */
  waitFor(pred: (e: MarathonEventRecord) => boolean, from: number, what: string, timeoutMs = 60_000): Promise<TimedEvent> {
    return new Promise((resolve, reject) => {
      let seen = from
      const check = (): boolean => {
        for (; seen < this.events.length; seen++) {
          const ev = this.events[seen]!
          if (pred(ev.e)) {
            finish()
            resolve(ev)
            return true
          }
        }
        return false
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  close(): Promise<void> {
    this.controller.abort()
    return this.done
  }
}
