// Live data: one EventSource on /v2/events (apps) or the operator API's event stream (master),
// and a hook that refetches a view when an event concerns it. Only what no event reports is
// re-read on a timer, and only while it is shown (see useLive's refreshMs).
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react'
import type { FeedEntry } from './feed.ts'
import { describeAppsEvent, describeMasterEvent } from './feed.ts'

export interface LiveEvent {
  eventType: string
  appId?: string
  runSpecId?: string
  plan?: { affectedApps?: string[]; target?: { apps?: Array<{ id: string }> } }
  [k: string]: unknown
}

type Listener = (e: LiveEvent) => void
const listeners = new Set<Listener>()
let connected = false
const connectionListeners = new Set<() => void>()

function setConnected(v: boolean): void {
  if (connected === v) return
  connected = v
  for (const l of connectionListeners) l()
}

function emit(e: LiveEvent): void {
  for (const l of [...listeners]) l(e)
}

// The events seen since the page opened, newest first, for the cluster page's feed.
const FEED_LIMIT = 100
let feed: readonly FeedEntry[] = []
let feedSeq = 0
const feedListeners = new Set<() => void>()

function record(type: string, what: string): void {
  feed = [{ seq: ++feedSeq, at: new Date(), type, what }, ...feed].slice(0, FEED_LIMIT)
  for (const l of feedListeners) l()
}

export function useEventFeed(): readonly FeedEntry[] {
  return useSyncExternalStore(
    (l) => {
      feedListeners.add(l)
      return () => feedListeners.delete(l)
    },
    () => feed,
  )
}

/** Follows the apps framework's SSE stream; a reconnect counts as an event for every view. */
export function followAppsEvents(): () => void {
  const source = new EventSource('/v2/events')
  source.onopen = () => {
    setConnected(true)
    emit({ eventType: 'stream_reconnected' })
  }
  source.onerror = () => setConnected(false)
  source.onmessage = (m) => handleData(m.data as string)
  // Marathon names each frame after its event type, so onmessage alone sees none of them.
  const types = [
    'status_update_event', 'instance_changed_event', 'health_status_changed_event', 'instance_health_changed_event',
    'failed_health_check_event', 'unhealthy_instance_kill_event', 'deployment_info', 'deployment_step_success',
    'deployment_step_failure', 'deployment_success', 'deployment_failed', 'group_change_success', 'group_change_failed',
    'app_terminated_event', 'api_post_event', 'scheduler_registered_event', 'scheduler_reregistered_event',
  ]
  const onFrame = (m: MessageEvent): void => handleData(m.data as string)
  for (const t of types) source.addEventListener(t, onFrame)
  return () => source.close()
}

function handleData(data: string): void {
  try {
    const e = JSON.parse(data) as LiveEvent
    record(e.eventType, describeAppsEvent(e))
    emit(e)
  } catch {
    // a heartbeat or a frame that is not JSON
  }
}

/**
 * Follows the master's operator event stream (POST /api/v1 SUBSCRIBE, RecordIO), with a
 * growing pause between reconnects.
 */
export function followMasterEvents(): () => void {
  let stopped = false
  let controller = new AbortController()
  let pauseMs = 500
  const run = async (): Promise<void> => {
    while (!stopped) {
      controller = new AbortController()
      try {
        const r = await fetch('/api/v1', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ type: 'SUBSCRIBE' }),
          signal: controller.signal,
        })
        if (!r.ok || !r.body) throw new Error(`SUBSCRIBE answered ${r.status}`)
        setConnected(true)
        pauseMs = 500
        emit({ eventType: 'stream_reconnected' })
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader()
        let buffer = ''
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buffer += value
          for (;;) {
            const nl = buffer.indexOf('\n')
            if (nl < 0) break
            const length = Number(buffer.slice(0, nl))
            if (buffer.length < nl + 1 + length) break
            const text = buffer.slice(nl + 1, nl + 1 + length)
            buffer = buffer.slice(nl + 1 + length)
            const e = JSON.parse(text) as { type: string }
            if (e.type !== 'HEARTBEAT' && e.type !== 'SUBSCRIBED') {
              record(e.type, describeMasterEvent(e))
              emit({ eventType: e.type })
            }
          }
        }
      } catch {
        // reconnect below
      }
      setConnected(false)
      if (stopped) return
      await new Promise((res) => setTimeout(res, pauseMs))
      pauseMs = Math.min(pauseMs * 2, 10_000)
    }
  }
  void run()
  return () => {
    stopped = true
    controller.abort()
  }
}

export function useConnected(): boolean {
  return useSyncExternalStore(
    (l) => {
      connectionListeners.add(l)
      return () => connectionListeners.delete(l)
    },
    () => connected,
  )
}

/** Which apps an event concerns; undefined when it may concern any. */
export function appsOf(e: LiveEvent): string[] | undefined {
  if (e.appId) return [e.appId]
  if (e.runSpecId) return [e.runSpecId]
  if (e.plan?.affectedApps) return e.plan.affectedApps
  return undefined
}

export interface Loaded<T> {
  data: T | undefined
  error: Error | undefined
  reload: () => void
}

/**
 * Loads `fetcher` now, and again (coalescing bursts) after each event that `concerns` accepts.
 * A fetch that lost the race to a newer one is dropped. `refreshMs` is for what no event
 * reports (the offers an app's launch queue declines): pass it only while it is needed.
 */
export function useLive<T>(fetcher: () => Promise<T>, concerns: (e: LiveEvent) => boolean, key: string, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<Error>()
  const seq = useRef(0)
  const fetcherRef = useRef(fetcher)
  const concernsRef = useRef(concerns)
  fetcherRef.current = fetcher
  concernsRef.current = concerns
  const reload = useCallback(() => {
    const mine = ++seq.current
    fetcherRef.current().then(
      (v) => {
        if (mine !== seq.current) return
        setData(v)
        setError(undefined)
      },
      (e: unknown) => {
        if (mine === seq.current) setError(e instanceof Error ? e : new Error(String(e)))
      },
    )
  }, [])
  useEffect(() => {
    setData(undefined)
    reload()
    let pending: ReturnType<typeof setTimeout> | undefined
    const listener: Listener = (e) => {
      if (!concernsRef.current(e) || pending) return
      // A deployment sends a burst of events: one fetch after the burst's first 100 ms.
      pending = setTimeout(() => {
        pending = undefined
        reload()
      }, 100)
    }
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
      if (pending) clearTimeout(pending)
    }
  }, [key, reload])
  useEffect(() => {
    if (refreshMs === undefined) return
    const timer = setInterval(reload, refreshMs)
    return () => clearInterval(timer)
  }, [refreshMs, reload])
  return { data, error, reload }
}
