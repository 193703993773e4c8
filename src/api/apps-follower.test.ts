import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ServerResponse } from 'node:http'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { AppsFollower, ChangeInfo } from './apps-follower.js'
import { appsOfEvent, createAppsFollower } from './apps-follower.js'

/** A scripted apps API: each read of an app answers the app's version at that moment, after a chosen delay. */
async function scriptedApps() {
  const versions = new Map<string, number>([['/a', 1]])
  const labels = new Map<string, Record<string, string>>()
  const readsOf = new Map<string, number>()
  const body = (id: string, version: number) => ({ id, version, ...(labels.has(id) ? { labels: labels.get(id) } : {}) })
  const delays: number[] = []
  let streams: ServerResponse[] = []
  let reads = 0
  let answered = 0
  let fullReads = 0
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/v2/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' })
      res.write(':\n\n')
      streams.push(res)
      return
    }
    if (url.pathname === '/v2/apps') {
      fullReads++
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ apps: [...versions].map(([id, version]) => body(id, version)) }))
      return
    }
    const id = url.pathname.slice('/v2/apps'.length)
    const version = versions.get(id)
    reads++
    readsOf.set(id, (readsOf.get(id) ?? 0) + 1)
    setTimeout(() => {
      answered++
      if (version === undefined) {
        res.writeHead(404).end(JSON.stringify({ message: `App '${id}' does not exist` }))
        return
      }
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ app: body(id, version) }))
    }, delays.shift() ?? 0)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    versions,
    labels,
    delays,
    /** Reads of this one app so far. */
    readsOf: (id: string) => readsOf.get(id) ?? 0,
    reads: () => reads,
    /** Reads of one app answered so far. */
    answered: () => answered,
    fullReads: () => fullReads,
    streams: () => streams.length,
    send(event: Record<string, unknown>) {
      for (const s of streams) s.write(`event: ${String(event.eventType)}\ndata: ${JSON.stringify(event)}\n\n`)
    },
    cut() {
      for (const s of streams) s.destroy()
      streams = []
    },
    async close() {
      this.cut()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

const until = async (what: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('apps follower', () => {
  let follower: AppsFollower | undefined
  let api: Awaited<ReturnType<typeof scriptedApps>> | undefined
  afterEach(async () => {
    await follower?.stop()
    await api?.close()
  })

  function follow(url: string, seen: Array<number | undefined>): AppsFollower {
    const f = createAppsFollower({
      appsUrl: url,
      log: pino({ level: 'silent' }),
      onChange: async () => {
        seen.push(f.apps.get('/a')?.version as number | undefined)
      },
    })
    f.start()
    return f
  }

  it('names the apps of events, deployments included', () => {
    expect(appsOfEvent({ eventType: 'status_update_event', appId: '/a' })).toEqual(['/a'])
    expect(appsOfEvent({ eventType: 'instance_changed_event', runSpecId: '/b' })).toEqual(['/b'])
    const steps = [{ actions: [{ action: 'StopApplication', app: '/a' }] }, { actions: [{ action: 'ScaleApplication', app: '/c' }, { action: 'ScalePod', pod: '/p' }] }]
    expect(appsOfEvent({ eventType: 'deployment_info', plan: { id: 'd', steps, version: 'v' } })).toEqual(['/a', '/c'])
    // Marathon 1.7 without ?plan-format=light also sent the groups before and after.
    expect(appsOfEvent({ eventType: 'deployment_info', plan: { steps: [], original: { apps: [{ id: '/a' }] }, target: { apps: [{ id: '/a' }, { id: '/c' }] } } })).toEqual(['/a', '/c'])
    expect(appsOfEvent({ eventType: 'event_stream_attached' })).toEqual([])
  })

  it('reads an app again as soon as a newer event arrives, and a slow older read never overwrites a newer copy', async () => {
    api = await scriptedApps()
    const seen: Array<number | undefined> = []
    follower = follow(api.url, seen)
    await until(() => seen.includes(1))
    // The first read answers version 2 after 400 ms; the event behind version 3 arrives meanwhile.
    api.delays.push(400, 0)
    api.versions.set('/a', 2)
    api.send({ eventType: 'status_update_event', appId: '/a' })
    await until(() => api!.reads() === 1)
    api.versions.set('/a', 3)
    const t0 = Date.now()
    api.send({ eventType: 'health_status_changed_event', appId: '/a' })
    await until(() => seen.includes(3))
    // Version 3 did not wait for the slow read of version 2.
    expect(Date.now() - t0).toBeLessThan(300)
    await follower.settled()
    expect(follower.apps.get('/a')?.version).toBe(3)
    expect(seen).not.toContain(2)
    expect(seen.at(-1)).toBe(3)
  })

  it('shares one read among events that arrive together, and forgets a deleted app', async () => {
    api = await scriptedApps()
    const seen: Array<number | undefined> = []
    follower = follow(api.url, seen)
    await until(() => seen.includes(1))
    const before = api.reads()
    api.versions.set('/a', 5)
    for (let i = 0; i < 5; i++) api.send({ eventType: 'status_update_event', appId: '/a' })
    await until(() => seen.includes(5))
    await follower.settled()
    // Frames may reach the follower in more than one chunk, but never one read each.
    expect(api.reads() - before).toBeLessThanOrEqual(3)
    api.versions.delete('/a')
    api.send({ eventType: 'app_terminated_event', appId: '/a' })
    await until(() => !follower!.apps.has('/a'))
    expect(seen.at(-1)).toBeUndefined()
  })

  it('applies an event it can patch at once, lets no older read undo it, and reads the app after it all the same', async () => {
    api = await scriptedApps()
    const seen: Array<number | undefined> = []
    const infos: ChangeInfo[] = []
    /** Reads of one app sent and answered when each change was handed over. */
    const readsAt: Array<[number, number]> = []
    const f = createAppsFollower({
      appsUrl: api.url,
      log: pino({ level: 'silent' }),
      // The scripted app is only its version: a health event carries the one to patch in.
      patch: (app, e) => (e.eventType === 'health_status_changed_event' ? { ...app, version: e.version } : undefined),
      onChange: async (_since, info) => {
        seen.push(f.apps.get('/a')?.version as number | undefined)
        infos.push(info)
        readsAt.push([api!.reads(), api!.answered()])
      },
    })
    follower = f
    f.start()
    await until(() => seen.includes(1))
    // A read sent before the patch answers version 2 late; the patch brings 4; the read after it answers 5.
    api.delays.push(1000, 0)
    api.versions.set('/a', 2)
    api.send({ eventType: 'status_update_event', appId: '/a' })
    await until(() => api!.reads() === 1)
    api.versions.set('/a', 5)
    api.send({ eventType: 'health_status_changed_event', appId: '/a', version: 4 })
    await until(() => seen.includes(4))
    // Applied with no read answered: the slow one still out, the one after the patch not sent yet.
    expect(readsAt[seen.indexOf(4)]).toEqual([1, 0])
    expect(infos[seen.indexOf(4)]?.patched).toBe(true)
    await until(() => seen.includes(5))
    await f.settled()
    expect(f.apps.get('/a')?.version).toBe(5)
    expect(seen).not.toContain(2)
    expect(seen.at(-1)).toBe(5)
    expect(infos.at(-1)).toMatchObject({ patched: false, read: { sentAt: expect.any(Number), answeredAt: expect.any(Number) } })
    // An event the patch cannot apply still waits for its read.
    api.versions.set('/a', 6)
    api.send({ eventType: 'status_update_event', appId: '/a' })
    await until(() => seen.includes(6))
    expect(infos.at(-1)?.patched).toBe(false)
  })

  it('with a reconcile interval, reads an app whose events were all patched no more often than that, and at once after one that was not', async () => {
    api = await scriptedApps()
    const seen: Array<number | undefined> = []
    const f = createAppsFollower({
      appsUrl: api.url,
      log: pino({ level: 'silent' }),
      patch: (app, e) => (e.eventType === 'health_status_changed_event' ? { ...app, version: e.version } : undefined),
      reconcileIntervalMs: 300,
      onChange: async () => {
        seen.push(f.apps.get('/a')?.version as number | undefined)
      },
    })
    follower = f
    f.start()
    await until(() => seen.includes(1))
    const before = api.reads()
    // Patched events every 20 ms for 700 ms: each is applied at once, and the app is read at most every 300 ms.
    for (let v = 2; v <= 36; v++) {
      api.versions.set('/a', v)
      api.send({ eventType: 'health_status_changed_event', appId: '/a', version: v })
      await until(() => seen.includes(v))
      await new Promise((r) => setTimeout(r, 20))
    }
    const patchedReads = api.reads() - before
    expect(patchedReads).toBeGreaterThanOrEqual(1)
    expect(patchedReads).toBeLessThanOrEqual(4)
    // Whatever came since is read in the end: the copy is the app's latest.
    await f.settled()
    expect(f.apps.get('/a')?.version).toBe(36)
    // An event the patch cannot apply is read at once, however recent the last read.
    api.versions.set('/a', 40)
    const t1 = Date.now()
    api.send({ eventType: 'status_update_event', appId: '/a' })
    await until(() => seen.includes(40))
    expect(Date.now() - t1).toBeLessThan(250)
  })

  it('lets a read already out count after a patch that changes nothing', async () => {
    api = await scriptedApps()
    const seen: Array<number | undefined> = []
    const f = createAppsFollower({
      appsUrl: api.url,
      log: pino({ level: 'silent' }),
      // Health changes nothing this follower keeps: the copy comes back as it was.
      patch: (app, e) => (e.eventType === 'health_status_changed_event' ? app : undefined),
      onChange: async () => {
        seen.push(f.apps.get('/a')?.version as number | undefined)
      },
    })
    follower = f
    f.start()
    await until(() => seen.includes(1))
    // The read of version 2 answers after 300 ms; the one the health event still gets, after 1.5 s.
    api.delays.push(300, 1500)
    api.versions.set('/a', 2)
    const t0 = Date.now()
    api.send({ eventType: 'status_update_event', appId: '/a' })
    await until(() => api!.reads() === 1)
    api.send({ eventType: 'health_status_changed_event', appId: '/a' })
    await until(() => seen.includes(2))
    expect(Date.now() - t0).toBeLessThan(1200)
    await f.settled()
    expect(f.apps.get('/a')?.version).toBe(2)
  })

  it('neither reads nor patches an app it does not follow for its task events, and follows it once a deployment brings the labels', async () => {
    api = await scriptedApps()
    api.labels.set('/a', { G: 'x' })
    api.versions.set('/b', 1)
    const patched: string[] = []
    const f = createAppsFollower({
      appsUrl: api.url,
      log: pino({ level: 'silent' }),
      follows: (app) => (app.labels as Record<string, string> | undefined)?.G === 'x',
      patch: (app, e) => {
        patched.push(`${app.id} ${String(e.eventType)}`)
        return undefined
      },
      onChange: async () => undefined,
    })
    follower = f
    f.start()
    await until(() => f.resyncs() === 1 && f.apps.has('/b'))
    for (const eventType of ['status_update_event', 'health_status_changed_event', 'instance_changed_event']) {
      api.send({ eventType, appId: '/b', runSpecId: '/b' })
    }
    // An event of the followed app after them: once it is read, the others had their turn.
    api.send({ eventType: 'status_update_event', appId: '/a' })
    await until(() => api!.readsOf('/a') === 1)
    await f.settled()
    expect(api.readsOf('/b')).toBe(0)
    expect(patched).toEqual(['/a status_update_event'])
    // A deployment is read whatever the copy says, and its labels now put /b in.
    api.labels.set('/b', { G: 'x' })
    api.versions.set('/b', 2)
    api.send({ eventType: 'deployment_info', plan: { steps: [{ actions: [{ action: 'RestartApplication', app: '/b' }] }] } })
    await until(() => f.apps.get('/b')?.version === 2)
    api.send({ eventType: 'status_update_event', appId: '/b' })
    await until(() => api!.readsOf('/b') === 2)
    expect(patched).toEqual(['/a status_update_event', '/b deployment_info', '/b status_update_event'])
  })

  it('reads everything again after the event stream is cut', async () => {
    api = await scriptedApps()
    const seen: Array<number | undefined> = []
    follower = follow(api.url, seen)
    await until(() => seen.includes(1))
    expect(follower.resyncs()).toBe(1)
    api.cut()
    // Missed while disconnected: no event will say so.
    api.versions.set('/a', 7)
    api.versions.set('/b', 1)
    await until(() => follower!.resyncs() === 2)
    await follower.settled()
    expect(follower.apps.get('/a')?.version).toBe(7)
    expect(follower.apps.has('/b')).toBe(true)
    expect(api.fullReads()).toBe(2)
  })
})
