// Marathon's http_callback subscribers and text/plain tasks against a real master, agent and
// `dromos apps` process, with the subscriber a real HTTP server in this test on 127.0.0.1:
// registration and validation, an app's events POSTed in bus order, retries after refused
// POSTs, unsubscribing, a subscription that survives a restart of dromos apps, and the
// tab-separated task list of running tasks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMarathonClient } from '../src/api/marathon-client.js'
import { EventStream, startAppsCluster, startCallbackSubscriber, stopAppsCluster } from './lib/apps.js'
import type { AppsProcess, CallbackSubscriber, MarathonEventRecord } from './lib/apps.js'
import type { TestCluster } from './lib/cluster.js'
import { waitUntil } from './lib/cluster.js'
import { processesWhere } from './lib/proc.js'

type Subscriber = CallbackSubscriber
const startSubscriber = startCallbackSubscriber

let cluster: TestCluster
let apps: AppsProcess
const subscribers: Subscriber[] = []

beforeAll(async () => {
  ({ cluster, apps } = await startAppsCluster({ hostname: '127.0.0.1', resources: 'cpus:4;mem:2048;disk:1000;ports:[31400-31499]' }))
})

afterAll(async () => {
  await stopAppsCluster({ cluster, apps })
  for (const s of subscribers) await s.close()
})

const subscribe = (url: string) => apps.req('POST', `/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(url)}`)
const unsubscribe = (url: string) => apps.req('DELETE', `/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(url)}`)
const key = (e: MarathonEventRecord): string => `${e.eventType} ${e.timestamp} ${JSON.stringify(e)}`

describe('/v2/eventSubscriptions', () => {
  it("refuses a callback URL that is not http(s) with Marathon's 422", async () => {
    for (const [url, error] of [
      ['not-a-url', 'no protocol: not-a-url'],
      ['ftp://127.0.0.1/x', 'unknown protocol: ftp'],
    ]) {
      const r = await subscribe(url!)
      expect(r.status).toBe(422)
      expect(r.body).toEqual({ message: 'Object is not valid', details: [{ path: '/', errors: [error] }] })
    }
    expect((await apps.req('POST', '/v2/eventSubscriptions')).status).toBe(422)
    expect((await apps.req('GET', '/v2/eventSubscriptions')).body).toEqual({ callbackUrls: [] })
  })

  it("posts an app's events in bus order, retrying the refused ones", async () => {
    const sub = await startSubscriber('/callback')
    subscribers.push(sub)
    const stream = new EventStream(apps.url)
    await stream.waitFor((e) => e.eventType === 'event_stream_attached', 'the event stream')

    const r = await subscribe(sub.url)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ eventType: 'subscribe_event', callbackUrl: sub.url, clientIp: '127.0.0.1' })
    expect(typeof r.body.timestamp).toBe('string')
    expect((await apps.req('GET', '/v2/eventSubscriptions')).body).toEqual({ callbackUrls: [sub.url] })

    // The subscriber refuses the first posts: the events must still all come, in order.
    sub.refuse = 3
    const created = await apps.req('POST', '/v2/apps', { id: '/cb/web', cmd: 'sleep 600', cpus: 0.05, mem: 16, portDefinitions: [{ port: 0 }] })
    expect(created.status).toBe(201)
    await apps.waitDeployed('/cb/web')
    await stream.waitFor((e) => e.eventType === 'deployment_success', 'deployment_success on the stream')
    await waitUntil('the callback to catch up with the stream', async () => sub.received.some((e) => e.eventType === 'deployment_success'), 30_000, 100)
    await stream.close()

    expect(sub.refused).toBe(3)
    // The same events as the SSE stream from the subscribe_event on, in the same order.
    const fromSubscribe = stream.events.slice(stream.events.findIndex((e) => e.eventType === 'subscribe_event'))
    const upTo = (events: MarathonEventRecord[]) => events.slice(0, events.findIndex((e) => e.eventType === 'deployment_success') + 1)
    expect(upTo(sub.received).map(key)).toEqual(upTo(fromSubscribe).map(key))
    const types = sub.received.map((e) => e.eventType)
    expect(types[0]).toBe('subscribe_event')
    expect(types).toContain('api_post_event')
    // The deployment starts, its task runs, then it succeeds.
    const at = (pred: (e: MarathonEventRecord) => boolean): number => sub.received.findIndex(pred)
    const info = at((e) => e.eventType === 'deployment_info' && e.plan.id === created.body.deployments[0].id)
    const running = at((e) => e.eventType === 'status_update_event' && e.appId === '/cb/web' && e.taskStatus === 'TASK_RUNNING')
    const success = at((e) => e.eventType === 'deployment_success' && e.id === created.body.deployments[0].id)
    expect(info).toBeGreaterThan(0)
    expect(running).toBeGreaterThan(info)
    expect(success).toBeGreaterThan(running)
    expect(sub.received[running]).toMatchObject({ appId: '/cb/web', host: '127.0.0.1', slaveId: expect.any(String) })
  })

  it('keeps a subscription through a restart of dromos apps, and posts the events of its start', async () => {
    const sub = subscribers[0]!
    // A task that ends while dromos apps is down: its update waits at the master and comes with
    // the re-subscription, while dromos apps starts and before its HTTP API answers.
    const [task] = (await apps.app('/cb/web')).tasks as Array<{ id: string }>
    const agentState = (await (await fetch(`${cluster.agents[0]!.url}/state`)).json()) as { frameworks: Array<{ executors: Array<{ id: string; directory: string }> }> }
    const sandbox = agentState.frameworks.flatMap((f) => f.executors).find((e) => e.id === task!.id)!.directory
    await apps.proc.stop()
    const startedAt = sub.received.length
    for (const pid of processesWhere((p) => p.cwd() === sandbox)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
    apps.proc.restart()
    await apps.waitReady()
    await waitUntil('the update of the task that ended to reach the callback', async () =>
      sub.received.slice(startedAt).some((e) => e.eventType === 'status_update_event' && e.taskId === task!.id && e.taskStatus !== 'TASK_RUNNING'), 30_000, 100)
    expect((await apps.req('GET', '/v2/eventSubscriptions')).body).toEqual({ callbackUrls: [sub.url] })
    await apps.waitDeployed('/cb/web')
    const before = sub.received.length
    expect((await apps.req('PUT', '/v2/apps/cb/web', { instances: 2 })).status).toBe(200)
    await apps.waitDeployed('/cb/web')
    await waitUntil('events after the restart', async () => sub.received.slice(before).some((e) => e.eventType === 'deployment_success'), 30_000, 100)
    expect(sub.received.slice(before).some((e) => e.eventType === 'api_post_event' && e.uri === '/v2/apps/cb/web')).toBe(true)
  })

  it('stops posting once unsubscribed', async () => {
    const sub = subscribers[0]!
    const other = await startSubscriber('/other')
    subscribers.push(other)
    const client = createMarathonClient({ baseUrl: apps.url })
    expect(await client.subscribeEvents(other.url)).toMatchObject({ eventType: 'subscribe_event', callbackUrl: other.url })
    expect(await client.listEventSubscriptions()).toEqual([sub.url, other.url])
    const r = await unsubscribe(sub.url)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ eventType: 'unsubscribe_event', callbackUrl: sub.url, clientIp: '127.0.0.1' })
    expect((await apps.req('GET', '/v2/eventSubscriptions')).body).toEqual({ callbackUrls: [other.url] })
    const before = sub.received.length
    expect((await apps.req('PUT', '/v2/apps/cb/web', { instances: 1 })).status).toBe(200)
    await apps.waitDeployed('/cb/web')
    // The one still subscribed hears of the unsubscription and of the scale-down.
    await waitUntil('the other subscriber to see the deployment', async () => other.received.some((e) => e.eventType === 'deployment_success'), 30_000, 100)
    expect(other.received.map((e) => e.eventType)).toContain('unsubscribe_event')
    expect(sub.received.length).toBe(before)
    expect(await client.unsubscribeEvents(other.url)).toMatchObject({ eventType: 'unsubscribe_event', callbackUrl: other.url })
    expect(await client.listEventSubscriptions()).toEqual([])
  })
})

describe('GET /v2/tasks as text/plain', () => {
  it("lists the running tasks in Marathon's tab-separated form", async () => {
    const app = await apps.app('/cb/web')
    const servicePort = app.portDefinitions[0].port as number
    await waitUntil('one running task', async () => (await apps.app('/cb/web')).tasks.filter((t: { state: string }) => t.state === 'TASK_RUNNING').length === 1)
    const [task] = (await apps.app('/cb/web')).tasks as Array<{ host: string; ports: number[] }>
    expect((await apps.req('POST', '/v2/apps', { id: '/cb/noports', cmd: 'sleep 600', cpus: 0.05, mem: 16, portDefinitions: [] })).status).toBe(201)
    await apps.waitDeployed('/cb/noports')

    const r = await fetch(`${apps.url}/v2/tasks`, { headers: { Accept: 'text/plain' } })
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await r.text()).toBe(`cb_noports\t \t127.0.0.1\t\ncb_web\t${servicePort}\t${task!.host}:${task!.ports[0]}\t\n`)

    const one = await fetch(`${apps.url}/v2/apps/cb/web/tasks`, { headers: { Accept: 'text/plain' } })
    expect(one.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await one.text()).toBe(`cb_web\t${servicePort}\t${task!.host}:${task!.ports[0]}\t\n`)

    // JSON stays the answer for clients that take both.
    const json = await fetch(`${apps.url}/v2/tasks`, { headers: { Accept: 'application/json, text/plain' } })
    expect(json.headers.get('content-type')).toMatch(/^application\/json/)
  })
})
