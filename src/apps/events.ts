// Marathon's event bus and its SSE endpoint. Each subscriber has a bounded queue: a client
// that cannot keep up is disconnected instead of letting its queue grow without bound, and
// it never slows the others down.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { writeInTurn } from '../api/http.js'
import type { MarathonEventFields, MarathonEventType } from './event-payloads.js'

export interface MarathonEvent {
  eventType: string
  timestamp: string
  [k: string]: unknown
}

export interface EventBus {
  /** Sends the event to every listener, in publish order, and returns it as they saw it. Only Marathon's fields of the type go in. */
  publish<T extends MarathonEventType>(eventType: T, fields: MarathonEventFields[T]): MarathonEvent
  subscribe(listener: (e: MarathonEvent) => void): () => void
  /** Serves `GET /v2/events` as text/event-stream, honouring `?event_type=` filters. */
  serveSse(req: IncomingMessage, res: ServerResponse, url: URL): void
  subscriberCount(): number
  close(): void
}

export function createEventBus(opts: { log: Logger; now: () => Date; maxQueuedBytes?: number; heartbeatMs?: number }): EventBus {
  const listeners = new Set<(e: MarathonEvent) => void>()
  const maxQueued = opts.maxQueuedBytes ?? 4 * 1024 * 1024
  const streams = new Set<ServerResponse>()
  const heartbeatMs = opts.heartbeatMs ?? 15_000
  // An event's SSE frame, encoded once however many streams send it.
  const frames = new WeakMap<MarathonEvent, string>()
  const frameOf = (e: MarathonEvent): string => {
    let f = frames.get(e)
    if (f === undefined) frames.set(e, (f = `event: ${e.eventType}\ndata: ${JSON.stringify(e)}\n\n`))
    return f
  }

  const publish = <T extends MarathonEventType>(eventType: T, fields: MarathonEventFields[T]): MarathonEvent => {
    const e: MarathonEvent = { ...fields, eventType, timestamp: opts.now().toISOString() }
    for (const l of [...listeners]) {
      try {
        l(e)
      } catch (err) {
        opts.log.warn({ err }, 'event listener failed')
      }
    }
    return e
  }

  return {
    publish,
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    serveSse(req, res, url) {
      const filter = new Set(url.searchParams.getAll('event_type'))
      const remoteAddress = req.socket.remoteAddress ?? ''
      res.socket?.setNoDelay(true)
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'Access-Control-Allow-Origin': '*' })
      res.write(':\n\n')
      streams.add(res)
      const write = (e: MarathonEvent): void => {
        if (filter.size > 0 && !filter.has(e.eventType)) return
        // The socket's own buffer is the queue: past the bound the client is too slow.
        if (res.writableLength > maxQueued) {
          opts.log.warn({ remoteAddress, queuedBytes: res.writableLength }, 'event stream subscriber too slow: disconnecting')
          close()
          return
        }
        writeInTurn(res, frameOf(e))
      }
      const heartbeat = setInterval(() => {
        if (res.writableLength <= maxQueued) res.write(':\n\n')
      }, heartbeatMs)
      heartbeat.unref()
      let closed = false
      const close = (): void => {
        if (closed) return
        closed = true
        clearInterval(heartbeat)
        listeners.delete(write)
        streams.delete(res)
        res.destroy()
        publish('event_stream_detached', { remoteAddress })
      }
      // The new subscriber sees its own event_stream_attached first, as with Marathon.
      listeners.add(write)
      res.on('close', close)
      publish('event_stream_attached', { remoteAddress })
    },
    subscriberCount: () => streams.size,
    close() {
      for (const s of streams) s.destroy()
    },
  }
}
