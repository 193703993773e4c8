// A client of the Mesos v1 scheduler HTTP API, for frameworks written in dromos. It keeps one
// SUBSCRIBE stream open, re-subscribes with backoff when it drops, and sends calls with the
// stream id. It knows nothing of what the framework does with the events.
import { request } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import { createRecordIoDecoder } from './http.js'
import type { OfferWire, TaskInfo, TaskStatusWire } from './mesos.js'

export interface FrameworkInfoInput {
  user: string
  name: string
  roles: string[]
  failover_timeout: number
  checkpoint: boolean
  capabilities: Array<{ type: string }>
  hostname?: string
  webui_url?: string
  principal?: string
}

export type SchedulerEvent =
  | { type: 'SUBSCRIBED'; subscribed: { framework_id: { value: string }; heartbeat_interval_seconds: number; master_info?: unknown } }
  | { type: 'OFFERS'; offers: { offers: OfferWire[] } }
  | { type: 'RESCIND'; rescind: { offer_id: { value: string } } }
  | { type: 'UPDATE'; update: { status: TaskStatusWire } }
  | { type: 'MESSAGE'; message: unknown }
  | { type: 'FAILURE'; failure: unknown }
  | { type: 'ERROR'; error: { message: string } }
  | { type: 'HEARTBEAT' }

export interface SchedulerClientOptions {
  readonly master: string // http://host:port
  readonly frameworkInfo: FrameworkInfoInput
  /** The id to re-subscribe with (persisted by the framework). */
  readonly frameworkId?: string
  readonly log: Logger
  readonly onEvent: (e: SchedulerEvent) => void
  /** Called when the stream closes, before the next subscription attempt. */
  readonly onDisconnected?: () => void
}

export interface SchedulerClient {
  start(): void
  stop(): void
  connected(): boolean
  frameworkId(): string | undefined
  call(body: Record<string, unknown>): Promise<void>
  accept(offerIds: string[], tasks: TaskInfo[], refuseSeconds?: number): Promise<void>
  decline(offerIds: string[], refuseSeconds: number): Promise<void>
  acknowledge(status: TaskStatusWire): Promise<void>
  kill(taskId: string, agentId?: string, gracePeriodSeconds?: number): Promise<void>
  reconcile(tasks: Array<{ taskId: string; agentId?: string }>): Promise<void>
  revive(): Promise<void>
  suppress(): Promise<void>
}

export class CallFailedError extends Error {
  constructor(
    readonly callType: string,
    readonly status: number,
    body: string,
  ) {
    super(`${callType} answered ${status}: ${body}`)
  }
}

export function createSchedulerClient(opts: SchedulerClientOptions): SchedulerClient {
  const { log } = opts
  let master = opts.master.replace(/\/$/, '')
  let frameworkId = opts.frameworkId
  let streamId: string | undefined
  let req: ClientRequest | undefined
  let res: IncomingMessage | undefined
  let stopped = true
  let retryDelay = 250
  let retryTimer: NodeJS.Timeout | undefined
  let heartbeatWatch: NodeJS.Timeout | undefined
  let heartbeatIntervalMs = 15_000
  let lastEventAt = 0

  function scheduleReconnect(): void {
    if (stopped || retryTimer) return
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      subscribe()
    }, retryDelay)
    retryDelay = Math.min(retryDelay * 2, 5000)
  }

  function dropStream(): void {
    const wasConnected = streamId !== undefined
    streamId = undefined
    if (heartbeatWatch) clearInterval(heartbeatWatch)
    heartbeatWatch = undefined
    res?.destroy()
    req?.destroy()
    res = undefined
    req = undefined
    if (wasConnected) opts.onDisconnected?.()
    scheduleReconnect()
  }

  function subscribe(): void {
    if (stopped) return
    const info = { ...opts.frameworkInfo, ...(frameworkId ? { id: { value: frameworkId } } : {}) }
    const body = JSON.stringify({ type: 'SUBSCRIBE', ...(frameworkId ? { framework_id: { value: frameworkId } } : {}), subscribe: { framework_info: info } })
    const url = new URL('/api/v1/scheduler', master)
    const r = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } }, (response) => {
      res = response
      if (response.statusCode === 307 && response.headers.location) {
        // A standby master points at the leader; Mesos gives "//host:port/…".
        const loc = response.headers.location
        master = new URL(loc.startsWith('//') ? `http:${loc}` : loc, master).origin
        response.resume()
        log.info({ master }, 'redirected to the leading master')
        dropStream()
        return
      }
      if (response.statusCode !== 200) {
        let text = ''
        response.on('data', (c: Buffer) => (text += c.toString()))
        response.on('end', () => {
          log.warn({ status: response.statusCode, body: text }, 'SUBSCRIBE refused')
          dropStream()
        })
        return
      }
      streamId = String(response.headers['mesos-stream-id'] ?? '')
      const decode = createRecordIoDecoder((json) => {
        lastEventAt = Date.now()
        let event: SchedulerEvent
        try {
          event = JSON.parse(json) as SchedulerEvent
        } catch {
          log.warn('undecodable event from master')
          return
        }
        if (event.type === 'SUBSCRIBED') {
          frameworkId = event.subscribed.framework_id.value
          heartbeatIntervalMs = event.subscribed.heartbeat_interval_seconds * 1000
          retryDelay = 250
          if (heartbeatWatch) clearInterval(heartbeatWatch)
          // Five missed heartbeats mean the master is gone even if the socket is not.
          heartbeatWatch = setInterval(() => {
            if (Date.now() - lastEventAt > heartbeatIntervalMs * 5) {
              log.warn('no heartbeat from master: re-subscribing')
              dropStream()
            }
          }, heartbeatIntervalMs)
          heartbeatWatch.unref()
        }
        opts.onEvent(event)
      })
      response.on('data', (chunk: Buffer) => {
        try {
          decode(chunk)
        } catch (e) {
          log.warn({ err: e }, 'malformed stream from master')
          dropStream()
        }
      })
      response.on('close', () => {
        if (res === response) dropStream()
      })
      response.on('error', () => undefined)
    })
    r.on('error', (e) => {
      log.debug({ err: e.message }, 'SUBSCRIBE failed')
      if (req === r) dropStream()
    })
    r.setNoDelay(true)
    r.end(body)
    req = r
  }

  async function call(body: Record<string, unknown>): Promise<void> {
    if (!streamId || !frameworkId) throw new CallFailedError(String(body.type), 0, 'not subscribed')
    const r = await fetch(`${master}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId },
      body: JSON.stringify({ framework_id: { value: frameworkId }, ...body }),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await r.text()
    if (r.status !== 202) throw new CallFailedError(String(body.type), r.status, text)
  }

  return {
    start() {
      if (!stopped) return
      stopped = false
      subscribe()
    },
    stop() {
      stopped = true
      if (retryTimer) clearTimeout(retryTimer)
      retryTimer = undefined
      if (heartbeatWatch) clearInterval(heartbeatWatch)
      res?.destroy()
      req?.destroy()
      streamId = undefined
    },
    connected: () => streamId !== undefined,
    frameworkId: () => frameworkId,
    call,
    accept: (offerIds, tasks, refuseSeconds) =>
      call({
        type: 'ACCEPT',
        accept: {
          offer_ids: offerIds.map((value) => ({ value })),
          operations: [{ type: 'LAUNCH', launch: { task_infos: tasks } }],
          ...(refuseSeconds !== undefined ? { filters: { refuse_seconds: refuseSeconds } } : {}),
        },
      }),
    decline: (offerIds, refuseSeconds) =>
      call({ type: 'DECLINE', decline: { offer_ids: offerIds.map((value) => ({ value })), filters: { refuse_seconds: refuseSeconds } } }),
    acknowledge: (status) =>
      call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } }),
    kill: (taskId, agentId, gracePeriodSeconds) =>
      call({
        type: 'KILL',
        kill: {
          task_id: { value: taskId },
          ...(agentId ? { agent_id: { value: agentId } } : {}),
          ...(gracePeriodSeconds !== undefined ? { kill_policy: { grace_period: { nanoseconds: Math.round(gracePeriodSeconds * 1e9) } } } : {}),
        },
      }),
    reconcile: (tasks) =>
      call({ type: 'RECONCILE', reconcile: { tasks: tasks.map((t) => ({ task_id: { value: t.taskId }, ...(t.agentId ? { agent_id: { value: t.agentId } } : {}) })) } }),
    revive: () => call({ type: 'REVIVE', revive: {} }),
    suppress: () => call({ type: 'SUPPRESS', suppress: {} }),
  }
}
