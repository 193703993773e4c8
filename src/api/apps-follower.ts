// Keeps a copy of the apps (with their tasks) of a Marathon-compatible API up to date from its
// event stream. Events say which app changed; that app is then read again, and after any gap
// in the stream everything is. A follower given `patch` also applies the events it can to its
// copy at once (the load balancer: a task's state and health), and reads the app afterwards
// all the same, so that the read, not the patch, has the last word. The load balancer and the
// DNS server both build on it.
import type { Logger } from 'pino'
import { createSseParser } from './marathon-client.js'
import { createMasters, fetchLeader, parseMasterList } from './masters.js'

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

/**
 * Events about an app's tasks, not its definition: none of them can change whether the app
 * matters to a follower given `follows` (its labels change only through a deployment).
 */
export const TASK_EVENTS: ReadonlySet<string> = new Set([
  'status_update_event',
  'health_status_changed_event',
  'instance_health_changed_event',
  'instance_changed_event',
  'unhealthy_instance_kill_event',
])

/** What lies behind one call of onChange, for timing the path from an event to its effect. */
export interface ChangeInfo {
  /** An event was applied to a copy directly (`patch`), without waiting for a read. */
  readonly patched: boolean
  /** The latest read of one app behind the change: when it was sent and answered (the follower's `now`). */
  readonly read?: { readonly sentAt: number; readonly answeredAt: number }
}

interface PlanOfEvent {
  steps?: Array<{ actions?: Array<{ app?: string }> }>
  original?: { apps?: Array<{ id: string }> }
  target?: { apps?: Array<{ id: string }> }
}

/** The apps of a deployment event: those its steps act on, and the groups' apps of a Marathon 1.7 "full" plan. */
function appsOfPlan(e: Record<string, unknown>): string[] {
  const plan = e.plan as PlanOfEvent | undefined
  const acted = (plan?.steps ?? []).flatMap((s) => (s.actions ?? []).flatMap((a) => (a.app ? [a.app] : [])))
  const grouped = [...(plan?.original?.apps ?? []), ...(plan?.target?.apps ?? [])].map((a) => a.id)
  return [...new Set([...acted, ...grouped])]
}

/** The app ids an event says something about. */
export function appsOfEvent(e: Record<string, unknown>): string[] {
  const type = String(e.eventType)
  return (type.startsWith('deployment_') ? appsOfPlan(e) : (APP_OF_EVENT[type]?.(e) ?? [])).filter(Boolean)
}

/** Reads of one app at once: one in flight and one started after a newer event. */
const READS_PER_APP = 2
/** The longest the reads after a patched event wait for the patch to be applied. */
const RECONCILE_WAIT_MS = 1000

export function createAppsFollower(opts: {
  /** dromos apps, or its instances in HA (`h1:8080,h2:8081`): a standby forwards, one that is down is skipped. */
  appsUrl: string
  log: Logger
  /** Called after apps changed, with when the oldest event behind the change arrived. */
  onChange: (firstEventAt: number | undefined, info: ChangeInfo) => Promise<void>
  /**
   * The copy of an app with an event applied, or undefined when the event cannot be applied
   * without reading the app. It returns a new object, or the one it is given for an event that
   * changes nothing the follower's user keeps; it never changes the one it is given.
   */
  patch?: (app: FollowedApp, event: Record<string, unknown>) => FollowedApp | undefined
  onEvent?: () => void
  /**
   * Whether the tasks of an app matter (the load balancer: an app of its group). The task events
   * of an app whose copy it does not follow are neither patched nor read: at scale they are most
   * of the stream. Its deployments are still read, and the copy then decides again.
   */
  follows?: (app: FollowedApp) => boolean
  /** Called with how long each read of one app took, in ms. */
  onRead?: (ms: number) => void
  /**
   * The least time between the starts of two reads of an app whose events since were all
   * patched in (the dns: its copies are whole from the patches, and the reads only reconcile).
   * An event that is not patched is read at once all the same. Without it, every event gets its
   * read as soon as its patch is applied.
   */
  reconcileIntervalMs?: number
  now?: () => number
}): AppsFollower {
  const { log } = opts
  const now = opts.now ?? Date.now
  const instances = createMasters(parseMasterList(opts.appsUrl))
  const apps = new Map<string, FollowedApp>()
  // Every read is numbered when it starts; a copy is replaced only by a read that started
  // later than the one it came from, so reads may overlap and finish in any order.
  let seq = 0
  /** app id -> the read its copy (or its absence) comes from, when newer than the last full read */
  const copiedAt = new Map<string, number>()
  /** the last full read: any read that started before it is stale */
  let floor = 0
  const reading = new Map<string, number>()
  /**
   * app id -> when the oldest event not yet covered by a read arrived; undefined when every
   * such event was patched in already, and the read only reconciles.
   */
  const waiting = new Map<string, number | undefined>()
  let flushScheduled = false
  /** app id -> when its latest read started (the follower's `now`), kept for reconcileIntervalMs */
  const readStartedAt = new Map<string, number>()
  /** The flush of reads not yet due (reconcileIntervalMs), and when it runs. */
  let dueFlush: { timer: NodeJS.Timeout; at: number } | undefined
  /** when the oldest event behind copies not yet handed to onChange arrived */
  let pendingSince: number | undefined
  /** what lies behind the copies not yet handed to onChange */
  let pendingPatched = false
  let pendingRead: { sentAt: number; answeredAt: number } | undefined
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
    const r = await fetchLeader(instances, path, { timeoutMs: 10_000 })
    const text = await r.text()
    return { status: r.status, body: text ? (JSON.parse(text) as unknown) : undefined }
  }

  /**
   * Runs `body` one call at a time; a kick while it runs makes it run once more afterwards.
   * A failure is logged and retried, with a backoff that doubles up to 5 s.
   */
  function serialWorker(failed: string, body: () => Promise<void>): { kick: () => void; idle: () => Promise<void> } {
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
    /** Resolves once no call is running or due. */
    const idle = async (): Promise<void> => {
      while (running) await running
    }
    return { kick, idle }
  }

  /** Hands the copies to onChange, one call at a time, again while more changed meanwhile. */
  const handOverWorker = serialWorker('applying the apps failed; trying again', async () => {
    const since = pendingSince
    const info: ChangeInfo = { patched: pendingPatched, ...(pendingRead ? { read: pendingRead } : {}) }
    pendingSince = undefined
    pendingPatched = false
    pendingRead = undefined
    try {
      await opts.onChange(since, info)
    } catch (e) {
      pendingSince = earliest(pendingSince, since)
      throw e
    }
  })
  const handOver = handOverWorker.kick

  function readApp(id: string, eventAt: number | undefined): void {
    const s = ++seq
    if (opts.reconcileIntervalMs !== undefined) readStartedAt.set(id, now())
    reading.set(id, (reading.get(id) ?? 0) + 1)
    const p = (async () => {
      try {
        const started = performance.now()
        const sentAt = now()
        const r = await getJson(`/v2/apps${id}?embed=app.readiness`)
        opts.onRead?.(performance.now() - started)
        if (r.status !== 200 && r.status !== 404) throw new Error(`GET /v2/apps${id} answered ${r.status}`)
        if (!fresher(id, s)) return
        if (r.status === 404) apps.delete(id)
        else apps.set(id, (r.body as { app: FollowedApp }).app)
        copiedAt.set(id, s)
        pendingSince = earliest(pendingSince, eventAt)
        pendingRead = { sentAt, answeredAt: now() }
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
      const due = at === undefined && opts.reconcileIntervalMs !== undefined ? (readStartedAt.get(id) ?? -Infinity) + opts.reconcileIntervalMs : -Infinity
      if (due > now()) {
        flushAt(due)
        continue
      }
      waiting.delete(id)
      readApp(id, at)
    }
  }

  /** Flushes again at `at`, unless a flush is already due by then. */
  function flushAt(at: number): void {
    if (dueFlush && dueFlush.at <= at) return
    if (dueFlush) clearTimeout(dueFlush.timer)
    dueFlush = {
      at,
      timer: setTimeout(() => {
        dueFlush = undefined
        flush()
      }, Math.max(0, at - now())),
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
  }).kick

  /**
   * Applies an event to the copy of its app at once, when `patch` can. The patch counts as a
   * read made when the event arrived: a read sent before it is older and cannot undo it, and
   * the read the event still starts, sent after it, replaces it. Not before the first full
   * read: until then there is no whole copy to patch. A patch that gives the copy back as it
   * was changes nothing: a read already out still counts.
   */
  function patchApp(id: string, e: Record<string, unknown>): 'changed' | 'unchanged' | undefined {
    const current = apps.get(id)
    if (!opts.patch || floor === 0 || !current) return undefined
    const next = opts.patch(current, e)
    if (!next) return undefined
    if (next === current) return 'unchanged'
    apps.set(id, next)
    copiedAt.set(id, ++seq)
    return 'changed'
  }

  /**
   * False for a task event of an app whose copy (after the first full read) says it does not
   * matter. While a read of the app is out, it may bring a definition that does: the event then
   * gets a read of its own after it.
   */
  function followed(id: string, e: Record<string, unknown>): boolean {
    const copy = apps.get(id)
    return !opts.follows || floor === 0 || !copy || reading.has(id) || !TASK_EVENTS.has(String(e.eventType)) || opts.follows(copy)
  }

  function onEvent(e: Record<string, unknown>): void {
    opts.onEvent?.()
    const ids = appsOfEvent(e).filter((id) => followed(id, e))
    if (ids.length === 0) return
    const at = now()
    let patched = false
    for (const id of ids) {
      const applied = patchApp(id, e)
      patched ||= applied === 'changed'
      // A patched event still gets its read, only not counted as waited for.
      const since = applied ? undefined : at
      waiting.set(id, waiting.has(id) ? earliest(waiting.get(id), since) : since)
    }
    if (patched) {
      pendingSince = earliest(pendingSince, at)
      pendingPatched = true
      handOver()
    }
    // Events that arrive together (one chunk of the stream) share one read per app. After a
    // patch the reads wait until it is applied: they only reconcile, and would slow it down.
    // Not for ever, though: while onChange keeps failing, the other apps must still be read.
    if (!flushScheduled) {
      flushScheduled = true
      if (patched) void Promise.race([handOverWorker.idle(), sleep(RECONCILE_WAIT_MS)]).then(flush)
      else queueMicrotask(flush)
    }
  }

  async function follow(): Promise<void> {
    let delay = 100
    while (!stopped) {
      stream = new AbortController()
      const appsUrl = instances.current()
      try {
        const r = await fetch(`${appsUrl}/v2/events`, { headers: { Accept: 'text/event-stream' }, signal: stream.signal })
        if (r.status !== 200 || !r.body) throw new Error(`GET /v2/events answered ${r.status}`)
        log.info({ apps: appsUrl, leader: new URL(r.url).origin }, 'following the event stream')
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
        log.warn({ apps: appsUrl, err: (e as Error).message, retryInMs: delay }, 'event stream failed; reconnecting')
        instances.failed(appsUrl)
      }
      await sleep(delay)
      delay = Math.min(delay * 2, 5000)
    }
  }

  async function settled(): Promise<void> {
    while (busy.size > 0 || flushScheduled || dueFlush) {
      if (busy.size > 0) await Promise.allSettled([...busy])
      else if (dueFlush) await sleep(Math.max(1, dueFlush.at - now()))
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
      if (dueFlush) clearTimeout(dueFlush.timer)
      dueFlush = undefined
      await settled()
    },
    settled,
    resyncs: () => resyncs,
  }
}
