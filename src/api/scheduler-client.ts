// A client of the Mesos v1 scheduler HTTP API, for frameworks written in dromos. It keeps one
// SUBSCRIBE stream open, re-subscribes with backoff when it drops, and sends calls with the
// stream id. It knows nothing of what the framework does with the events.
import { request } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import { createRecordIoDecoder } from './http.js'
import { createMasters, isRecovering, redirectTarget } from './masters.js'
import type { OfferWire, TaskInfo, TaskStatusWire } from './mesos.js'
import { BATCHED_CALLS_HEADER, MAX_BATCHED_CALLS } from './mesos.js'
import { keptAlivePool, postJson } from './post-json.js'

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
  /** The masters' base URLs (http://host:port); the client finds the leader among them. */
  readonly masters: readonly string[]
  readonly frameworkInfo: FrameworkInfoInput
  /** The id to re-subscribe with (persisted by the framework). */
  readonly frameworkId?: string
  readonly log: Logger
  readonly onEvent: (e: SchedulerEvent) => void
  /** Called when the stream closes, before the next subscription attempt. */
  readonly onDisconnected?: () => void
  /**
   * With several masters: how often to ask one of the others which master leads (its
   * /master/redirect), so that a leader that stopped answering without closing the stream
   * (paused, cut off) is left as soon as another is elected rather than after missed heartbeats.
   */
  readonly leaderCheckMs?: number
}

export interface SchedulerClient {
  /** The master the client subscribes to (or will next): the leader, as far as it knows. */
  master(): string
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

const SUBSCRIBE_TIMEOUT_MS = 5_000
/**
 * Calls other than SUBSCRIBE share a few kept-alive connections: a framework acknowledges
 * every update with a call of its own, and thousands of them at once would otherwise open a
 * connection each. The master handles them one at a time anyway.
 */
const CALL_CONNECTIONS = 8
/** Acknowledgements a batch holds: about 300 bytes each, well inside a master's body limit. */
const ACKS_PER_BATCH = Math.min(1_000, MAX_BATCHED_CALLS)

export function createSchedulerClient(opts: SchedulerClientOptions): SchedulerClient {
  const { log } = opts
  const masters = createMasters(opts.masters)
  let frameworkId = opts.frameworkId
  let streamId: string | undefined
  let req: ClientRequest | undefined
  let res: IncomingMessage | undefined
  let stopped = true
  let retryDelay = 250
  let retryTimer: NodeJS.Timeout | undefined
  let heartbeatWatch: NodeJS.Timeout | undefined
  let leaderWatch: NodeJS.Timeout | undefined
  let leaderCheckTurn = 0
  let heartbeatIntervalMs = 15_000
  let lastEventAt = 0

  function scheduleReconnect(): void {
    if (stopped || retryTimer) return
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      subscribe()
    }, retryDelay)
    // Short enough to find a newly elected master within a second or two of its election.
    retryDelay = Math.min(Math.max(retryDelay * 2, 250), 2000)
  }

  function dropStream(): void {
    const wasConnected = streamId !== undefined
    streamId = undefined
    if (heartbeatWatch) clearInterval(heartbeatWatch)
    heartbeatWatch = undefined
    if (leaderWatch) clearInterval(leaderWatch)
    leaderWatch = undefined
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
    const master = masters.current()
    const url = new URL('/api/v1/scheduler', master)
    const r = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } }, (response) => {
      r.setTimeout(0)
      res = response
      if (response.statusCode === 307 && response.headers.location) {
        // A standby master points at the leader; Mesos gives "//host:port/…".
        masters.answered(redirectTarget(response.headers.location, master))
        response.resume()
        log.info({ master: masters.current() }, 'redirected to the leading master')
        retryDelay = 0
        dropStream()
        return
      }
      if (response.statusCode !== 200) {
        let text = ''
        response.on('data', (c: Buffer) => (text += c.toString()))
        response.on('end', () => {
          log.warn({ master, status: response.statusCode, body: text }, 'SUBSCRIBE refused')
          // No leader there (503), or not a master at all: ask the next one. A leader still
          // recovering is asked again.
          if ((response.statusCode === 503 && !isRecovering(text)) || response.statusCode === 404) masters.failed(master)
          dropStream()
        })
        return
      }
      streamId = String(response.headers['mesos-stream-id'] ?? '')
      acksBatched = String(response.headers[BATCHED_CALLS_HEADER.toLowerCase()] ?? '').split(',').some((t) => t.trim() === 'ACKNOWLEDGE')
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
          watchLeader(master)
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
      log.debug({ master, err: e.message }, 'SUBSCRIBE failed')
      if (req !== r) return
      masters.failed(master)
      dropStream()
    })
    r.setNoDelay(true)
    // A master cut off by the network answers nothing, not even a reset: give up on it after
    // a while. Once the stream is open, heartbeats (and the leader check) watch it instead.
    r.setTimeout(SUBSCRIBE_TIMEOUT_MS, () => r.destroy(new Error(`no answer to SUBSCRIBE within ${SUBSCRIBE_TIMEOUT_MS} ms`)))
    r.end(body)
    req = r
  }

  /** While subscribed to `subscribed`, asks the other masters in turn who leads; leaves when it is another. */
  function watchLeader(subscribed: string): void {
    if (leaderWatch) clearInterval(leaderWatch)
    leaderWatch = undefined
    const others = masters.order().filter((m) => m !== subscribed)
    if (others.length === 0) return
    let asking = false
    leaderWatch = setInterval(() => {
      if (asking) return
      asking = true
      const other = others[leaderCheckTurn++ % others.length]!
      fetch(`${other}/master/redirect`, { redirect: 'manual', signal: AbortSignal.timeout(1000) })
        .then(async (r) => {
          await r.arrayBuffer()
          const location = r.headers.get('location')
          if (r.status !== 307 || !location || streamId === undefined || masters.current() !== subscribed) return
          const leader = redirectTarget(location, other)
          if (leader === subscribed) return
          log.warn({ subscribed, leader, namedBy: other }, 'another master leads now: re-subscribing with it')
          masters.answered(leader)
          retryDelay = 0
          dropStream()
        })
        .catch(() => undefined)
        .finally(() => (asking = false))
    }, opts.leaderCheckMs ?? 1000)
    leaderWatch.unref()
  }

  // SUPPRESS and REVIVE each set the same switch on the master: one sent while the other is
  // still on its way could overtake it (each call is its own request), and a framework that
  // revived would stay suppressed. They go one after the other, in the order asked.
  let switched: Promise<unknown> = Promise.resolve()
  function inOrder(body: Record<string, unknown>): Promise<void> {
    const sent = switched.then(() => call(body))
    switched = sent.catch(() => undefined)
    return sent
  }

  const pool = keptAlivePool(CALL_CONNECTIONS)
  function post(body: string, type: string): Promise<void> {
    if (!streamId) return Promise.reject(new CallFailedError(type, 0, 'not subscribed'))
    return postJson(`${masters.current()}/api/v1/scheduler`, body, { headers: { 'Mesos-Stream-Id': streamId }, timeoutMs: 30_000, agent: pool }).then(async (r) => {
      if (r.status !== 202) throw new CallFailedError(type, r.status, await r.text())
    })
  }
  async function call(body: Record<string, unknown>): Promise<void> {
    if (!streamId || !frameworkId) throw new CallFailedError(String(body.type), 0, 'not subscribed')
    return post(JSON.stringify({ framework_id: { value: frameworkId }, ...body }), String(body.type))
  }

  // Acknowledgements asked for in one turn of the event loop leave together: in one request
  // where the master takes batches (it says so on SUBSCRIBE), else a call each. A batch the
  // master refuses is sent again a call each, so that one bad acknowledgement costs only itself.
  let acksBatched = false
  let acks: Array<{ status: TaskStatusWire; resolve: () => void; reject: (e: Error) => void }> = []
  const ackCall = (s: TaskStatusWire): Record<string, unknown> => ({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } })
  function sendAcks(): void {
    const due = acks
    acks = []
    for (let i = 0; i < due.length; i += ACKS_PER_BATCH) {
      const part = due.slice(i, i + ACKS_PER_BATCH)
      const alone = (): void => {
        for (const a of part) call(ackCall(a.status)).then(a.resolve, a.reject)
      }
      if (part.length === 1 || !acksBatched || !frameworkId) {
        alone()
        continue
      }
      const fid = { value: frameworkId }
      post(JSON.stringify(part.map((a) => ({ framework_id: fid, ...ackCall(a.status) }))), 'ACKNOWLEDGE').then(
        () => {
          for (const a of part) a.resolve()
        },
        (e: unknown) => {
          if (e instanceof CallFailedError && e.status >= 400 && e.status < 500) alone()
          else for (const a of part) a.reject(e as Error)
        },
      )
    }
  }
  function acknowledge(status: TaskStatusWire): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (acks.length === 0) setImmediate(sendAcks)
      acks.push({ status, resolve, reject })
    })
  }

  return {
    master: () => masters.current(),
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
      if (leaderWatch) clearInterval(leaderWatch)
      res?.destroy()
      req?.destroy()
      pool.destroy()
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
    acknowledge,
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
    revive: () => inOrder({ type: 'REVIVE', revive: {} }),
    suppress: () => inOrder({ type: 'SUPPRESS', suppress: {} }),
  }
}
