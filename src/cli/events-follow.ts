// `dromos events`: follows /v2/events for as long as the user wants, across restarts of dromos
// apps. A stream that breaks or ends is reopened with backoff; each wait is said on stderr.
import type { MarathonClient, MarathonEvent, MarathonEventStream } from '../api/marathon-client.js'
import { describeError } from './format.js'
import { formatDuration } from './deployment-watch.js'

/** 0.5s, 1s, 2s, 4s, 8s, then every 10s: quick after a restart, quiet when the server stays away. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(0, attempt))
}

export interface FollowOptions {
  readonly client: MarathonClient
  readonly eventTypes: readonly string[]
  readonly onEvent: (e: MarathonEvent) => void
  /** A line for stderr. */
  readonly warn: (line: string) => void
  /** Without it, the first break ends the follow (with the reason). */
  readonly reconnect: boolean
  readonly signal: AbortSignal
  readonly delayMs?: (attempt: number) => number
}

/**
 * Resolves when `signal` aborts (undefined), or, without `reconnect`, when the stream breaks
 * (the reason). The first open is not retried: a wrong URL fails at once.
 */
export async function followEvents(opts: FollowOptions): Promise<string | undefined> {
  const { client, signal } = opts
  const delayOf = opts.delayMs ?? reconnectDelayMs
  const open = (): Promise<MarathonEventStream> => client.openEvents({ eventTypes: opts.eventTypes, signal })
  let stream: MarathonEventStream | undefined = await open()
  let attempt = 0
  while (!signal.aborted) {
    let reason: string
    try {
      for await (const e of stream!) {
        if (signal.aborted) break
        opts.onEvent(e)
      }
      reason = 'was closed by dromos apps'
    } catch (e) {
      reason = `broke: ${errorText(e)}`
    }
    stream = undefined
    if (signal.aborted) break
    if (!opts.reconnect) return `the event stream ${reason}`
    while (!signal.aborted && stream === undefined) {
      const delay = delayOf(attempt++)
      opts.warn(`dromos: the event stream ${reason}; reconnecting in ${delay < 1000 ? `${delay}ms` : formatDuration(delay)}`)
      await sleep(delay, signal)
      if (signal.aborted) break
      try {
        stream = await open()
        attempt = 0
        opts.warn(`dromos: reconnected to ${client.baseUrl}/v2/events (events while it was away are not replayed)`)
      } catch (e) {
        reason = `cannot be reopened: ${errorText(e)}`
      }
    }
  }
  return undefined
}

function errorText(e: unknown): string {
  return (describeError(e).lines[0] ?? '').replace(/^dromos: /, '')
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
