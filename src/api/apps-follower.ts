// Keeps a copy of the apps (with their tasks) of a Marathon-compatible API up to date from its
// event stream. Events only say which app changed; that app is then read again, and after any
// gap in the stream everything is. The load balancer and the DNS server both build on it.
import type { Logger } from 'pino'
import { createSseParser } from './marathon-client.js'

export interface FollowedApp {
  id: string
  [k: string]: unknown
}

export interface AppsFollower {
  readonly apps: ReadonlyMap<string, FollowedApp>
  start(): void
  stop(): Promise<void>
  /** Resolves once every change seen so far has been read and handed to onChange. */
  settled(): Promise<void>
  resyncs(): number
}

const APP_OF_EVENT: Record<string, (e: Record<string, unknown>) => string[]> = {
  status_update_event: (e) => [String(e.appId)],
  health_status_changed_event: (e) => [String(e.appId)],
  instance_health_changed_event: (e) => [String(e.runSpecId)],
  instance_changed_event: (e) => [String(e.runSpecId)],
  unhealthy_instance_kill_event: (e) => [String(e.appId)],
  app_terminated_event: (e) => [String(e.appId)],
  api_post_event: (e) => [String((e.appDefinition as { id?: string } | undefined)?.id ?? '')],
}

function appsOfPlan(e: Record<string, unknown>): string[] {
  const plan = e.plan as { original?: { apps?: Array<{ id: string }> }; target?: { apps?: Array<{ id: string }> } } | undefined
  return [...(plan?.original?.apps ?? []), ...(plan?.target?.apps ?? [])].map((a) => a.id)
}

/** The app ids an event says something about. */
export function appsOfEvent(e: Record<string, unknown>): string[] {
  const type = String(e.eventType)
  return (type.startsWith('deployment_') ? appsOfPlan(e) : (APP_OF_EVENT[type]?.(e) ?? [])).filter(Boolean)
}

/** Reads of one app at once: one in flight and one started after a newer event. */
const READS_PER_APP = 2

export function createAppsFollower(opts: {
  appsUrl: string
  log: Logger
  /** Called after apps changed, with when the oldest event behind the change arrived. */
  onChange: (firstEventAt: number | undefined) => Promise<void>
  onEvent?: () => void
  /** Called with how long each read of one app took, in ms. */
  onRead?: (ms: number) => void
  now?: () => number
}): AppsFollower {
  const { log } = opts
  const now = opts.now ?? Date.now
  const appsUrl = opts.appsUrl.replace(/\/$/, '')
  const apps = new Map<string, FollowedApp>()
  // Every read is numbered when it starts; a copy is replaced only by a read that started
  // later than the one it came from, so reads may overlap and finish in any order.
  let seq = 0
  /** app id -> the read its copy (or its absence) comes from, when newer than the last full read */
  const copiedAt = new Map<string, number>()
  /** the last full read: any read that started before it is stale */
  let floor = 0
  const reading = new Map<string, number>()
  /** app id -> when the oldest event not yet covered by a read arrived */
  const waiting = new Map<string, number>()
  let flushScheduled = false
  /** when the oldest event behind copies not yet handed to onChange arrived */
  let pendingSince: number | undefined
  let resyncs = 0
  let stopped = false
  let stream: AbortController | undefined
  const busy = new Set<Promise<void>>()

  function track(p: Promise<void>): void {
    busy.add(p)
    void p.finally(() => busy.delete(p))
  }

  const earliest = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b))
  const fresher = (id: string, s: number): boolean => s > Math.max(floor, copiedAt.get(id) ?? 0)
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

  async function getJson(path: string): Promise<{ status: number; body: unknown }> {
    const r = await fetch(`${appsUrl}${path}`, { signal: AbortSignal.timeout(10_000) })
    const text = await r.text()
    return { status: r.status, body: text ? (JSON.parse(text) as unknown) : undefined }
  }

  /**
   * Runs `body` one call at a time; a kick while it runs makes it run once more afterwards.
   * A failure is logged and retried, with a backoff that doubles up to 5 s.
   */
  function serialWorker(failed: string, body: () => Promise<void>): () => void {
    let running: Promise<void> | undefined
    let again = false
    const kick = (): void => {
      if (stopped) return
      if (running) {
        again = true
        return
      }
      running = (async () => {
        let delay = 100
        do {
          again = false
          try {
            await body()
            delay = 100
          } catch (e) {
            if (stopped) break
            log.warn({ err: (e as Error).message, retryInMs: delay }, failed)
            again = true
            await sleep(delay)
            delay = Math.min(delay * 2, 5000)
          }
        } while (again && !stopped)
      })().finally(() => {
        running = undefined
        if (again) kick()
      })
      track(running)
    }
    return kick
  }

  /** Hands the copies to onChange, one call at a time, again while more changed meanwhile. */
  const handOver = serialWorker('applying the apps failed; trying again', async () => {
    const since = pendingSince
    pendingSince = undefined
    try {
      await opts.onChange(since)
    } catch (e) {
      pendingSince = earliest(pendingSince, since)
      throw e
    }
  })

  function readApp(id: string, eventAt: number): void {
    const s = ++seq
    reading.set(id, (reading.get(id) ?? 0) + 1)
    const p = (async () => {
      try {
        const started = performance.now()
        const r = await getJson(`/v2/apps${id}?embed=app.readiness`)
        opts.onRead?.(performance.now() - started)
        if (r.status !== 200 && r.status !== 404) throw new Error(`GET /v2/apps${id} answered ${r.status}`)
        if (!fresher(id, s)) return
        if (r.status === 404) apps.delete(id)
        else apps.set(id, (r.body as { app: FollowedApp }).app)
        copiedAt.set(id, s)
        pendingSince = earliest(pendingSince, eventAt)
        // Before the first full read the copy is partial: that read hands everything over.
        if (floor > 0) handOver()
      } catch (e) {
        if (!stopped) log.warn({ err: (e as Error).message, app: id }, 'reading an app failed; reading them all again')
        resyncAll()
      } finally {
        const left = (reading.get(id) ?? 1) - 1
        if (left > 0) reading.set(id, left)
        else reading.delete(id)
        if (waiting.has(id)) flush()
      }
    })()
    track(p)
  }

  /** Starts a read for every app an event named, unless it already has its reads in flight. */
  function flush(): void {
    flushScheduled = false
    if (stopped) return
    for (const [id, at] of waiting) {
      if ((reading.get(id) ?? 0) >= READS_PER_APP) continue
      waiting.delete(id)
      readApp(id, at)
    }
  }

  /** Reads every app again: after (re)connecting, and after a read of one app failed. */
  const resyncAll = serialWorker('reading the apps failed; trying again', async () => {
    const s = ++seq
    const r = await getJson('/v2/apps?embed=apps.tasks&embed=apps.readiness')
    if (r.status !== 200) throw new Error(`GET /v2/apps answered ${r.status}`)
    const list = (r.body as { apps: FollowedApp[] }).apps
    const listed = new Set(list.map((a) => a.id))
    for (const a of list) if (fresher(a.id, s)) apps.set(a.id, a)
    for (const id of [...apps.keys()]) if (!listed.has(id) && fresher(id, s)) apps.delete(id)
    floor = s
    for (const [id, at] of copiedAt) if (at <= floor) copiedAt.delete(id)
    resyncs++
    handOver()
  })

  function onEvent(e: Record<string, unknown>): void {
    opts.onEvent?.()
    const ids = appsOfEvent(e)
    if (ids.length === 0) return
    const at = now()
    for (const id of ids) if (!waiting.has(id)) waiting.set(id, at)
    // Events that arrive together (one chunk of the stream) share one read per app.
    if (!flushScheduled) {
      flushScheduled = true
      queueMicrotask(flush)
    }
  }

  async function follow(): Promise<void> {
    let delay = 100
    while (!stopped) {
      stream = new AbortController()
      try {
        const r = await fetch(`${appsUrl}/v2/events`, { headers: { Accept: 'text/event-stream' }, signal: stream.signal })
        if (r.status !== 200 || !r.body) throw new Error(`GET /v2/events answered ${r.status}`)
        log.info({ apps: appsUrl }, 'following the event stream')
        // Whatever happened while we were not listening is read back in full.
        resyncAll()
        delay = 100
        const parse = createSseParser(({ data }) => {
          try {
            onEvent(JSON.parse(data) as Record<string, unknown>)
          } catch {
            log.warn('undecodable event')
          }
        })
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) parse(Buffer.from(chunk).toString('utf8'))
        if (!stopped) log.warn('event stream ended; reconnecting')
      } catch (e) {
        if (stopped) return
        log.warn({ err: (e as Error).message, retryInMs: delay }, 'event stream failed; reconnecting')
      }
      await sleep(delay)
      delay = Math.min(delay * 2, 5000)
    }
  }

  async function settled(): Promise<void> {
    while (busy.size > 0 || flushScheduled) {
      if (busy.size > 0) await Promise.allSettled([...busy])
      else await new Promise<void>((r) => queueMicrotask(r))
    }
  }

  return {
    apps,
    start() {
      void follow()
    },
    async stop() {
      stopped = true
      stream?.abort()
      await settled()
    },
    settled,
    resyncs: () => resyncs,
  }
}
