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

export function createAppsFollower(opts: {
  appsUrl: string
  log: Logger
  /** Called after apps changed, with when the oldest event behind the change arrived. */
  onChange: (firstEventAt: number | undefined) => Promise<void>
  onEvent?: () => void
  now?: () => number
}): AppsFollower {
  const { log } = opts
  const now = opts.now ?? Date.now
  const appsUrl = opts.appsUrl.replace(/\/$/, '')
  const apps = new Map<string, FollowedApp>()
  const dirty = new Set<string>()
  let needResync = true
  let resyncs = 0
  let stopped = false
  let stream: AbortController | undefined
  let working: Promise<void> | undefined
  let again = false
  let oldestPendingEvent: number | undefined

  async function getJson(path: string): Promise<{ status: number; body: unknown }> {
    const r = await fetch(`${appsUrl}${path}`, { signal: AbortSignal.timeout(10_000) })
    const text = await r.text()
    return { status: r.status, body: text ? (JSON.parse(text) as unknown) : undefined }
  }

  async function refresh(): Promise<void> {
    if (needResync) {
      needResync = false
      dirty.clear()
      const r = await getJson('/v2/apps?embed=apps.tasks&embed=apps.readiness')
      if (r.status !== 200) throw new Error(`GET /v2/apps answered ${r.status}`)
      apps.clear()
      for (const a of (r.body as { apps: FollowedApp[] }).apps) apps.set(a.id, a)
      resyncs++
      return
    }
    const ids = [...dirty]
    dirty.clear()
    await Promise.all(
      ids.map(async (id) => {
        const r = await getJson(`/v2/apps${id}?embed=app.readiness`)
        if (r.status === 404) apps.delete(id)
        else if (r.status === 200) apps.set(id, (r.body as { app: FollowedApp }).app)
        else throw new Error(`GET /v2/apps${id} answered ${r.status}`)
      }),
    )
  }

  /** One worker: read what changed, hand it over, and go again if more changed meanwhile. */
  function kick(): Promise<void> {
    if (working) {
      again = true
      return working
    }
    working = (async () => {
      let delay = 100
      do {
        again = false
        const since = oldestPendingEvent
        oldestPendingEvent = undefined
        try {
          await refresh()
          await opts.onChange(since)
          delay = 100
        } catch (e) {
          log.warn({ err: (e as Error).message }, 'following the apps failed; reading them all again')
          needResync = true
          again = true
          if (stopped) break
          await new Promise((r) => setTimeout(r, delay))
          delay = Math.min(delay * 2, 5000)
        }
      } while (again && !stopped)
    })().finally(() => {
      working = undefined
    })
    return working
  }

  function onEvent(e: Record<string, unknown>): void {
    opts.onEvent?.()
    const ids = appsOfEvent(e)
    if (ids.length === 0) return
    for (const id of ids) dirty.add(id)
    oldestPendingEvent ??= now()
    void kick()
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
        needResync = true
        void kick()
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
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(delay * 2, 5000)
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
      await working?.catch(() => undefined)
    },
    async settled() {
      while (working) await working
    },
    resyncs: () => resyncs,
  }
}
