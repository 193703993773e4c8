// Event subscriptions against a real HTTP subscriber on 127.0.0.1: order per subscriber,
// retries after failures, the bounded queue, unsubscribing, and the URLs kept in the store.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteStore } from '../store/sqlite.js'
import { createEventBus } from './events.js'
import { callbackRetryDelayMs, callbackUrlProblem, createCallbackDelivery, createEventSubscriptions } from './event-subscriptions.js'
import { createAppsState } from './state.js'

const log = pino({ level: process.env['TEST_LOG'] ?? 'silent' })

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

interface Subscriber {
  readonly url: string
  readonly received: Array<{ eventType: string; [k: string]: unknown }>
  /** How many POSTs get a 503 before the server answers 200 again. */
  failNext: number
  posts: number
  close(): Promise<void>
}

const servers: Subscriber[] = []
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
  for (const s of servers.splice(0)) await s.close()
})

async function startSubscriber(): Promise<Subscriber> {
  const sub: Subscriber = {
    url: '',
    received: [],
    failNext: 0,
    posts: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      sub.posts++
      if (sub.failNext > 0) {
        sub.failNext--
        res.statusCode = 503
        return res.end()
      }
      expect(req.headers['content-type']).toBe('application/json')
      sub.received.push(JSON.parse(body) as Subscriber['received'][number])
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  Object.assign(sub, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback` })
  const close = sub.close
  sub.close = () => {
    server.closeAllConnections()
    return close()
  }
  servers.push(sub)
  return sub
}

const fastRetry = { initialMs: 20, maxMs: 100 }

describe('callbackUrlProblem', () => {
  it("answers java.net.URL's messages, and takes http and https only", () => {
    expect(callbackUrlProblem('http://127.0.0.1:9090/callback')).toBeUndefined()
    expect(callbackUrlProblem('https://hooks.example.org/x?y=1')).toBeUndefined()
    expect(callbackUrlProblem('foo')).toBe('no protocol: foo')
    expect(callbackUrlProblem(null)).toBe('no protocol: ')
    expect(callbackUrlProblem('ftp://host/x')).toBe('unknown protocol: ftp')
    expect(callbackUrlProblem('http://')).toMatch(/^(invalid URL|no host): http:\/\/$/)
  })
})

describe('callbackRetryDelayMs', () => {
  it('doubles from the initial delay up to the cap', () => {
    const retry = { initialMs: 1000, maxMs: 60_000 }
    expect([1, 2, 3, 4, 7, 50].map((n) => callbackRetryDelayMs(n, retry))).toEqual([1000, 2000, 4000, 8000, 60_000, 60_000])
  })
})

describe('callback delivery', () => {
  const event = (n: number) => ({ eventType: 'test_event', timestamp: new Date(n).toISOString(), n })

  it('posts every event in order, retrying failed posts with backoff', async () => {
    const sub = await startSubscriber()
    sub.failNext = 3
    const delivery = createCallbackDelivery({ log, retry: fastRetry })
    cleanups.push(() => delivery.close())
    for (let n = 0; n < 20; n++) delivery.deliver(event(n), [sub.url])
    await waitFor(() => sub.received.length === 20, 5000)
    expect(sub.received.map((e) => e['n'])).toEqual([...Array(20).keys()])
    expect(delivery.stats()).toMatchObject({ delivered: 20, failed: 3, dropped: 0, queued: 0 })
  })

  it('keeps one subscriber that is down from delaying another', async () => {
    const up = await startSubscriber()
    const down = await startSubscriber()
    down.failNext = 1_000_000
    const delivery = createCallbackDelivery({ log, retry: { initialMs: 10_000, maxMs: 10_000 } })
    cleanups.push(() => delivery.close())
    for (let n = 0; n < 5; n++) delivery.deliver(event(n), [down.url, up.url])
    await waitFor(() => up.received.length === 5, 5000)
    expect(down.posts).toBe(1)
  })

  it('drops the oldest events of a subscriber that stays down, and counts them', async () => {
    const sub = await startSubscriber()
    sub.failNext = 1_000_000
    const delivery = createCallbackDelivery({ log, retry: fastRetry, maxQueuedEvents: 5 })
    cleanups.push(() => delivery.close())
    for (let n = 0; n < 12; n++) delivery.deliver(event(n), [sub.url])
    expect(delivery.stats()).toMatchObject({ queued: 5, dropped: 7 })
    await waitFor(() => sub.posts >= 3, 5000)
    sub.failNext = 0
    await waitFor(() => delivery.stats().queued === 0, 5000)
    // The first event was being posted when the queue filled, so it stayed; the newest 4 follow it.
    expect(sub.received.map((e) => e['n'])).toEqual([0, 8, 9, 10, 11])
    expect(delivery.stats()).toMatchObject({ delivered: 5, dropped: 7 })
  })

  it('retries a subscriber that does not answer in time', async () => {
    let hang = true
    const server = http.createServer((req, res) => {
      req.resume()
      if (hang) {
        hang = false
        return
      }
      res.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
    const delivery = createCallbackDelivery({ log, retry: fastRetry, requestTimeoutMs: 100 })
    cleanups.push(() => delivery.close())
    delivery.deliver(event(1), [`http://127.0.0.1:${(server.address() as AddressInfo).port}/`])
    await waitFor(() => delivery.stats().delivered === 1, 5000)
    expect(delivery.stats().failed).toBe(1)
  })
})

describe('event subscriptions', () => {
  it('subscribes, publishes subscribe_event to the new subscriber too, unsubscribes, and keeps the URLs in the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dromos-subscriptions-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const store = openSqliteStore(join(dir, 'state.db'))
    const state = createAppsState({ store, log })
    const events = createEventBus({ log, now: () => new Date() })
    const subs = createEventSubscriptions({ state, events, log, delivery: { retry: fastRetry } })
    const a = await startSubscriber()
    const b = await startSubscriber()

    const answer = await subs.subscribe('10.0.0.1', a.url)
    expect(answer).toMatchObject({ eventType: 'subscribe_event', clientIp: '10.0.0.1', callbackUrl: a.url })
    await subs.subscribe('10.0.0.1', b.url)
    await subs.subscribe('10.0.0.1', a.url)
    expect(subs.list()).toEqual([a.url, b.url])

    events.publish('app_terminated_event', { appId: '/x' })
    await waitFor(() => a.received.length === 4, 5000)
    expect(a.received.map((e) => e.eventType)).toEqual(['subscribe_event', 'subscribe_event', 'subscribe_event', 'app_terminated_event'])
    await subs.unsubscribe('10.0.0.1', a.url)
    events.publish('app_terminated_event', { appId: '/y' })
    await waitFor(() => b.received.length === 5, 5000)
    expect(b.received.map((e) => e.eventType)).toEqual(['subscribe_event', 'subscribe_event', 'app_terminated_event', 'unsubscribe_event', 'app_terminated_event'])
    expect(a.received).toHaveLength(4)
    expect(subs.list()).toEqual([b.url])

    // An unknown URL is fine, as in Marathon.
    expect(await subs.unsubscribe('10.0.0.1', 'http://127.0.0.1:1/none')).toMatchObject({ eventType: 'unsubscribe_event' })

    await subs.close()
    await store.close()
    const reopened = openSqliteStore(join(dir, 'state.db'))
    const loaded = createAppsState({ store: reopened, log })
    await loaded.load()
    expect([...loaded.eventSubscriptions]).toEqual([b.url])
    await reopened.close()
  })
})
