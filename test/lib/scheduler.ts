// A small framework written against the Mesos v1 scheduler HTTP API (JSON + RecordIO), as a
// third-party framework would be. It uses no dromos code, so the tests exercise the wire.
import { request } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'

export interface MesosEvent {
  type: string
  [k: string]: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface SubscribeOptions {
  master: string // http://127.0.0.1:port
  name?: string
  frameworkId?: string
  roles?: string[]
  capabilities?: string[]
  failoverTimeout?: number
  /** Acknowledge every update that carries a uuid (default true). */
  autoAck?: boolean
  /** false: an old-style framework with one `role` and no MULTI_ROLE capability (default true). */
  multiRole?: boolean
  /** Extra fields merged into framework_info, sent verbatim (e.g. explicit nulls). */
  extraInfo?: Record<string, unknown>
}

/** Splits a RecordIO stream into records, across chunk boundaries. */
function recordReader(onRecord: (text: string) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0)
  return (chunk) => {
    buf = Buffer.concat([buf, chunk])
    for (;;) {
      const nl = buf.indexOf(10)
      if (nl < 0) return
      const len = Number(buf.subarray(0, nl).toString())
      if (buf.length < nl + 1 + len) return
      onRecord(buf.subarray(nl + 1, nl + 1 + len).toString())
      buf = buf.subarray(nl + 1 + len)
    }
  }
}

export class TestFramework {
  readonly events: MesosEvent[] = []
  /** Raw chunks as received, to check one record per chunk. */
  readonly chunks: string[] = []
  frameworkId = ''
  streamId = ''
  statusCode = 0
  headers: IncomingMessage['headers'] = {}
  private waiters: Array<() => void> = []
  private req?: ClientRequest
  private res?: IncomingMessage
  closed = false

  private constructor(readonly opts: SubscribeOptions) {}

  static async subscribe(opts: SubscribeOptions): Promise<TestFramework> {
    const f = new TestFramework(opts)
    await f.open()
    return f
  }

  private open(): Promise<void> {
    const o = this.opts
    const info: Record<string, unknown> = {
      user: 'root',
      name: o.name ?? 'test-framework',
      failover_timeout: o.failoverTimeout ?? 0,
      ...(o.multiRole === false ? { role: o.roles?.[0] ?? '*' } : { roles: o.roles ?? ['*'] }),
      capabilities: [...(o.multiRole === false ? [] : [{ type: 'MULTI_ROLE' }]), ...(o.capabilities ?? []).map((type) => ({ type }))],
      ...(o.frameworkId ? { id: { value: o.frameworkId } } : {}),
      ...o.extraInfo,
    }
    const body = JSON.stringify({
      type: 'SUBSCRIBE',
      ...(o.frameworkId ? { framework_id: { value: o.frameworkId } } : {}),
      subscribe: { framework_info: info },
    })
    const url = new URL('/api/v1/scheduler', o.master)
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } }, (res) => {
        this.res = res
        this.statusCode = res.statusCode ?? 0
        this.headers = res.headers
        this.streamId = String(res.headers['mesos-stream-id'] ?? '')
        if (this.statusCode !== 200) {
          let text = ''
          res.on('data', (c: Buffer) => (text += c.toString()))
          res.on('end', () => reject(new Error(`SUBSCRIBE answered ${this.statusCode}: ${text}`)))
          return
        }
        const read = recordReader((text) => {
          const e = JSON.parse(text) as MesosEvent
          this.events.push(e)
          if (e.type === 'SUBSCRIBED') {
            this.frameworkId = e.subscribed.framework_id.value
            resolve()
          }
          if (e.type === 'UPDATE' && e.update.status.uuid && this.opts.autoAck !== false) {
            void this.acknowledge(e.update.status).catch(() => undefined)
          }
          for (const w of this.waiters.splice(0)) w()
        })
        res.on('data', (c: Buffer) => {
          this.chunks.push(c.toString())
          read(c)
        })
        res.on('close', () => {
          this.closed = true
          for (const w of this.waiters.splice(0)) w()
        })
      })
      req.on('error', reject)
      req.end(body)
      this.req = req
    })
  }

  /** Sends a call; resolves with the HTTP status and body text. */
  async call(body: Record<string, unknown>, opts: { streamId?: string | null } = {}): Promise<{ status: number; text: string }> {
    const streamId = opts.streamId === undefined ? this.streamId : opts.streamId
    const r = await fetch(new URL('/api/v1/scheduler', this.opts.master), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(streamId ? { 'Mesos-Stream-Id': streamId } : {}) },
      body: JSON.stringify({ framework_id: { value: this.frameworkId }, ...body }),
    })
    return { status: r.status, text: await r.text() }
  }

  async mustCall(body: Record<string, unknown>): Promise<void> {
    const r = await this.call(body)
    if (r.status !== 202) throw new Error(`${String(body.type)} answered ${r.status}: ${r.text}`)
  }

  acknowledge(status: { agent_id: { value: string }; task_id: { value: string }; uuid: string }): Promise<void> {
    return this.mustCall({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } })
  }

  /** Waits for the first event, from index `from` on, that matches. */
  async waitFor(pred: (e: MesosEvent) => boolean, opts: { timeoutMs?: number; from?: number; what?: string } = {}): Promise<MesosEvent> {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
    let i = opts.from ?? 0
    for (;;) {
      for (; i < this.events.length; i++) if (pred(this.events[i]!)) return this.events[i]!
      if (this.closed) throw new Error(`stream closed while waiting for ${opts.what ?? 'an event'}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${opts.what ?? 'an event'}; saw ${this.events.map((e) => (e.type === 'UPDATE' ? `UPDATE(${e.update.status.task_id.value}:${e.update.status.state})` : e.type)).join(', ')}`)
      await new Promise<void>((res) => {
        const t = setTimeout(res, left)
        this.waiters.push(() => {
          clearTimeout(t)
          res()
        })
      })
    }
  }

  waitOffers(opts: { from?: number; timeoutMs?: number } = {}): Promise<MesosEvent> {
    return this.waitFor((e) => e.type === 'OFFERS', { ...opts, what: 'OFFERS' })
  }

  waitUpdate(taskId: string, state: string | ((s: string) => boolean), opts: { from?: number; timeoutMs?: number } = {}): Promise<MesosEvent> {
    const ok = typeof state === 'string' ? (s: string) => s === state : state
    return this.waitFor((e) => e.type === 'UPDATE' && e.update.status.task_id.value === taskId && ok(e.update.status.state), {
      ...opts,
      what: `${taskId} ${typeof state === 'string' ? state : 'state'}`,
    })
  }

  updatesOf(taskId: string): Array<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.events.filter((e) => e.type === 'UPDATE' && e.update.status.task_id.value === taskId).map((e) => e.update.status)
  }

  async launch(offer: MesosEvent | Record<string, any>, tasks: Array<Record<string, unknown>>, filters?: { refuse_seconds: number }): Promise<void> { // eslint-disable-line @typescript-eslint/no-explicit-any
    await this.mustCall({
      type: 'ACCEPT',
      accept: {
        offer_ids: [offer.id],
        operations: [{ type: 'LAUNCH', launch: { task_infos: tasks.map((t) => ({ agent_id: offer.agent_id, ...t })) } }],
        ...(filters ? { filters } : {}),
      },
    })
  }

  close(): void {
    this.req?.destroy()
    this.res?.destroy()
    this.closed = true
  }
}

export function scalar(name: string, value: number): Record<string, unknown> {
  return { name, type: 'SCALAR', scalar: { value } }
}

export function ports(...values: number[]): Record<string, unknown> {
  return { name: 'ports', type: 'RANGES', ranges: { range: values.map((v) => ({ begin: v, end: v })) } }
}

/** The first `count` ports of an offer. */
export function offeredPorts(offer: Record<string, any>, count: number): number[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const out: number[] = []
  for (const r of offer.resources) {
    if (r.name !== 'ports') continue
    for (const range of r.ranges.range) for (let p = range.begin; p <= range.end && out.length < count; p++) out.push(p)
  }
  return out
}
