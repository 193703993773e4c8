// Marathon's http_callback event subscribers (/v2/eventSubscriptions): every event on the bus
// is POSTed as JSON to every callback URL. Each subscriber has its own queue and one request
// at a time, so it gets the events in bus order; a failed POST is retried with exponential
// backoff. Marathon skips events while a subscriber backs off; dromos keeps them, up to a
// bound: a subscriber that stays down loses its oldest events (counted and logged) rather
// than making the queue grow without limit. The callback URLs live in the apps state, so
// they survive a restart.
import type { Logger } from 'pino'
import type { EventBus, MarathonEvent } from './events.js'
import type { AppsState } from './state.js'

/** A callback URL that answered with an error, or did not answer, is tried again after this. */
export interface CallbackRetry {
  readonly initialMs: number
  readonly maxMs: number
}

export const DEFAULT_CALLBACK_RETRY: CallbackRetry = { initialMs: 1_000, maxMs: 60_000 }

/** Delay before the next attempt after `failures` failed ones in a row: doubling, capped. */
export function callbackRetryDelayMs(failures: number, retry: CallbackRetry = DEFAULT_CALLBACK_RETRY): number {
  return Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, failures - 1))
}

/**
 * Why Marathon refuses a callback URL (it parses it as a java.net.URL), or undefined when it
 * is valid. Only http and https URLs are taken: they are the ones dromos can POST to.
 */
export function callbackUrlProblem(raw: string | null): string | undefined {
  const spec = (raw ?? '').trim()
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(spec)?.[1]?.toLowerCase()
  if (scheme === undefined) return `no protocol: ${spec}`
  if (scheme !== 'http' && scheme !== 'https') return `unknown protocol: ${scheme}`
  let url: URL
  try {
    url = new URL(spec)
  } catch {
    return `invalid URL: ${spec}`
  }
  if (url.hostname === '') return `no host: ${spec}`
  return undefined
}

export interface CallbackStats {
  /** Callback URLs with a queue (those that had an event since they subscribed). */
  readonly subscribers: number
  /** Events waiting to be POSTed, over all subscribers. */
  readonly queued: number
  readonly delivered: number
  /** POSTs that failed (and will be tried again, unless the event is dropped first). */
  readonly failed: number
  /** Events lost because a subscriber's queue was full. */
  readonly dropped: number
}

export interface CallbackDeliveryOptions {
  readonly log: Logger
  /** Events one subscriber may have waiting; past this its oldest are dropped. */
  readonly maxQueuedEvents?: number
  /** A POST that takes longer fails (Marathon's http_event_request_timeout). */
  readonly requestTimeoutMs?: number
  readonly retry?: CallbackRetry
  readonly now?: () => number
}

export interface CallbackDelivery {
  /** Queues the event for each callback URL. */
  deliver(event: MarathonEvent, callbackUrls: Iterable<string>): void
  /** Forgets what waits for a URL that unsubscribed. */
  forget(callbackUrl: string): void
  stats(): CallbackStats
  /** Stops every retry and request; resolves once the requests have ended. */
  close(): Promise<void>
}

interface Pending {
  readonly eventType: string
  readonly body: string
}

interface Subscriber {
  readonly url: string
  /** In bus order; the head is the one being POSTed or waiting for its retry. */
  readonly queue: Pending[]
  failures: number
  retryTimer: NodeJS.Timeout | undefined
  request: AbortController | undefined
  droppedSinceLog: number
  lastDropLogAt: number
}

const DROP_LOG_INTERVAL_MS = 10_000

export function createCallbackDelivery(opts: CallbackDeliveryOptions): CallbackDelivery {
  const maxQueued = Math.max(1, opts.maxQueuedEvents ?? 1000)
  const timeoutMs = opts.requestTimeoutMs ?? 10_000
  const retry = opts.retry ?? DEFAULT_CALLBACK_RETRY
  const now = opts.now ?? Date.now
  const subscribers = new Map<string, Subscriber>()
  const requests = new Set<Promise<void>>()
  const counts = { delivered: 0, failed: 0, dropped: 0 }
  let closed = false

  const post = async (url: string, body: string, signal: AbortSignal): Promise<string | undefined> => {
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body, signal })
      await r.body?.cancel()
      return r.ok ? undefined : `answered ${r.status}`
    } catch (e) {
      return signal.aborted ? `no answer within ${timeoutMs} ms` : (e as Error).message
    }
  }

  const dropOldest = (sub: Subscriber): void => {
    // The head stays while its request runs: its answer decides what happens to it.
    sub.queue.splice(sub.request ? 1 : 0, 1)
    counts.dropped++
    sub.droppedSinceLog++
    if (now() - sub.lastDropLogAt < DROP_LOG_INTERVAL_MS) return
    opts.log.warn({ callbackUrl: sub.url, dropped: sub.droppedSinceLog, queued: sub.queue.length }, 'event subscriber does not keep up: dropped its oldest events')
    sub.droppedSinceLog = 0
    sub.lastDropLogAt = now()
  }

  const pump = (sub: Subscriber): void => {
    const head = sub.queue[0]
    if (closed || !head || sub.request || sub.retryTimer) return
    const request = new AbortController()
    sub.request = request
    const timer = setTimeout(() => request.abort(), timeoutMs)
    timer.unref()
    const done = post(sub.url, head.body, request.signal).then((failure) => {
      clearTimeout(timer)
      sub.request = undefined
      if (closed || subscribers.get(sub.url) !== sub) return
      if (failure === undefined) {
        if (sub.queue[0] === head) sub.queue.shift()
        sub.failures = 0
        counts.delivered++
        pump(sub)
        return
      }
      counts.failed++
      sub.failures++
      const delayMs = callbackRetryDelayMs(sub.failures, retry)
      opts.log.warn({ callbackUrl: sub.url, eventType: head.eventType, failure, failures: sub.failures, retryInMs: delayMs }, 'failed to post an event to a subscriber')
      sub.retryTimer = setTimeout(() => {
        sub.retryTimer = undefined
        pump(sub)
      }, delayMs)
      sub.retryTimer.unref()
    })
    requests.add(done)
    void done.finally(() => requests.delete(done))
  }

  const stop = (sub: Subscriber): void => {
    clearTimeout(sub.retryTimer)
    sub.retryTimer = undefined
    sub.request?.abort()
  }

  return {
    deliver(event, callbackUrls) {
      if (closed) return
      let pending: Pending | undefined
      for (const url of callbackUrls) {
        pending ??= { eventType: event.eventType, body: JSON.stringify(event) }
        let sub = subscribers.get(url)
        if (!sub) {
          sub = { url, queue: [], failures: 0, retryTimer: undefined, request: undefined, droppedSinceLog: 0, lastDropLogAt: -Infinity }
          subscribers.set(url, sub)
        }
        sub.queue.push(pending)
        if (sub.queue.length > maxQueued) dropOldest(sub)
        pump(sub)
      }
    },
    forget(callbackUrl) {
      const sub = subscribers.get(callbackUrl)
      if (!sub) return
      subscribers.delete(callbackUrl)
      stop(sub)
    },
    stats() {
      let queued = 0
      for (const s of subscribers.values()) queued += s.queue.length
      return { subscribers: subscribers.size, queued, ...counts }
    },
    async close() {
      closed = true
      for (const s of subscribers.values()) stop(s)
      await Promise.all([...requests])
    },
  }
}

export interface EventSubscriptions {
  /** The callback URLs, in the order they subscribed. */
  list(): string[]
  /** Adds the URL (again is fine) and publishes `subscribe_event`, which it answers with. */
  subscribe(clientIp: string, callbackUrl: string): Promise<MarathonEvent>
  /** Removes the URL (an unknown one is fine) and publishes `unsubscribe_event`. */
  unsubscribe(clientIp: string, callbackUrl: string | null): Promise<MarathonEvent>
  stats(): CallbackStats
  close(): Promise<void>
}

export function createEventSubscriptions(opts: { state: AppsState; events: EventBus; log: Logger; delivery?: Omit<CallbackDeliveryOptions, 'log'> }): EventSubscriptions {
  const { state, events, log } = opts
  const delivery = createCallbackDelivery({ ...opts.delivery, log })
  const unlisten = events.subscribe((e) => delivery.deliver(e, state.eventSubscriptions))
  return {
    list: () => [...state.eventSubscriptions],
    async subscribe(clientIp, callbackUrl) {
      if (state.eventSubscriptions.has(callbackUrl)) log.info({ callbackUrl }, 'existing callback resubscribed')
      else {
        await state.apply({ type: 'subscription-put', callbackUrl })
        log.info({ callbackUrl, clientIp }, 'callback subscribed')
      }
      return events.publish('subscribe_event', { clientIp, callbackUrl })
    },
    async unsubscribe(clientIp, callbackUrl) {
      if (callbackUrl !== null && state.eventSubscriptions.has(callbackUrl)) {
        await state.apply({ type: 'subscription-removed', callbackUrl })
        delivery.forget(callbackUrl)
        log.info({ callbackUrl, clientIp }, 'callback unsubscribed')
      } else log.warn({ callbackUrl }, 'attempted to unsubscribe a callback that is not subscribed')
      return events.publish('unsubscribe_event', { clientIp, callbackUrl })
    },
    stats: () => delivery.stats(),
    async close() {
      unlisten()
      await delivery.close()
    },
  }
}
