// Runs a real `bin/dromos apps` process against a TestCluster, and a small Marathon client.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createSseParser } from '../../src/api/marathon-client.js'
import type { AgentSpec } from './cluster.js'
import { freePort, Proc, TestCluster, waitUntil } from './cluster.js'

export interface MarathonEventRecord {
  eventType: string
  [k: string]: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A task as /v2/apps/{id} and /v2/tasks show it (the fields the tests read). */
export interface TaskJson {
  id: string
  appId: string
  host: string
  state: string
  stagedAt: string
  ports: number[]
  servicePorts: number[]
  slaveId: string
  version: string
  healthCheckResults: Array<{ alive: boolean }>
}

export class AppsProcess {
  proc!: Proc
  url = ''
  port = 0
  constructor(
    readonly cluster: Pick<TestCluster, 'masterUrl' | 'dir'>,
    readonly workDir: string,
  ) {}

  /** `name` names its work dir and log under the cluster's dir (several instances in HA). */
  static async start(cluster: Pick<TestCluster, 'masterUrl' | 'dir'>, extraArgs: string[] = [], name = 'apps'): Promise<AppsProcess> {
    const a = new AppsProcess(cluster, join(cluster.dir, name))
    a.port = await freePort()
    a.url = `http://127.0.0.1:${a.port}`
    a.proc = new Proc(
      ['apps', '--master', cluster.masterUrl, '--port', String(a.port), '--work-dir', a.workDir, '--log-level', 'debug', ...extraArgs],
      join(cluster.dir, `${name}.log`),
    )
    await a.waitReady()
    return a
  }

  async waitReady(): Promise<void> {
    await waitUntil('apps to answer /ping and register', async () => {
      const r = await fetch(`${this.url}/v2/info`)
      if (!r.ok) return false
      const info = (await r.json()) as { frameworkId: string | null }
      return !!info.frameworkId
    })
  }

  async restart(): Promise<void> {
    await this.proc.stop()
    this.proc.restart()
    await this.waitReady()
  }

  async req(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const text = await r.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // plain text
    }
    return { status: r.status, body: parsed }
  }

  async app(id: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await this.req('GET', `/v2/apps${id}`)
    return r.status === 200 ? r.body.app : undefined
  }

  /** Removes every app with force and waits (at most 30 s) until their tasks are gone. */
  async removeAllApps(): Promise<void> {
    const list = await this.req('GET', '/v2/apps').catch(() => undefined)
    for (const a of (list?.body.apps ?? []) as Array<{ id: string }>) await this.req('DELETE', `/v2/apps${a.id}?force=true`)
    const stopped = async (): Promise<boolean> => (await this.req('GET', '/v2/tasks')).body.tasks.length === 0
    await waitUntil('apps to stop their tasks', stopped, 30_000).catch(() => undefined)
  }

  /** Waits until no deployment is running for the app. */
  async waitDeployed(id: string, timeoutMs = 60_000): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return waitUntil(`deployment of ${id} to finish`, async () => {
      const app = await this.app(id)
      return app && app.deployments.length === 0 ? app : undefined
    }, timeoutMs, 200)
  }
}

/** Follows /v2/events (SSE) and keeps every event. */
export class EventStream {
  readonly events: MarathonEventRecord[] = []
  private controller = new AbortController()
  private done: Promise<void>
  constructor(url: string, filters: string[] = []) {
    const q = filters.map((f) => `event_type=${encodeURIComponent(f)}`).join('&')
    this.done = (async () => {
      try {
        const r = await fetch(`${url}/v2/events${q ? `?${q}` : ''}`, { headers: { Accept: 'text/event-stream' }, signal: this.controller.signal })
        const parse = createSseParser(({ data }) => this.events.push(JSON.parse(data) as MarathonEventRecord))
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) parse(Buffer.from(chunk).toString())
      } catch {
        // closed
      }
    })()
  }
  async waitFor(pred: (e: MarathonEventRecord) => boolean, what: string, timeoutMs = 60_000): Promise<MarathonEventRecord> {
    return waitUntil(what, async () => this.events.find(pred), timeoutMs, 50)
  }
  close(): Promise<void> {
    this.controller.abort()
    return this.done
  }
}

/** An HTTP callback subscriber on 127.0.0.1, as Marathon's http_callback posts events to one. */
export interface CallbackSubscriber {
  readonly url: string
  readonly received: MarathonEventRecord[]
  /** POSTs still to refuse with a 500. */
  refuse: number
  refused: number
  close(): Promise<void>
}

/** Takes JSON POSTs to `path` (anything else gets a 400) and keeps their events in order. */
export async function startCallbackSubscriber(path = '/events'): Promise<CallbackSubscriber> {
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== path || req.headers['content-type'] !== 'application/json') {
        res.statusCode = 400
        return res.end()
      }
      if (sub.refuse > 0) {
        sub.refuse--
        sub.refused++
        res.statusCode = 500
        return res.end()
      }
      sub.received.push(JSON.parse(body) as MarathonEventRecord)
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const sub: CallbackSubscriber = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    received: [],
    refuse: 0,
    refused: 0,
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return sub
}

/** A TestCluster with one agent, and a `dromos apps` on it. */
export async function startAppsCluster(agent: AgentSpec): Promise<{ cluster: TestCluster; apps: AppsProcess }> {
  const cluster = await TestCluster.start({ agents: [agent] })
  try {
    return { cluster, apps: await AppsProcess.start(cluster) }
  } catch (err) {
    // The caller gets nothing to stop: the cluster is stopped here.
    await cluster.stop()
    throw err
  }
}

/** Removes every app, so that no task outlives the test, then stops dromos apps and the cluster. */
export async function stopAppsCluster(c: { cluster?: TestCluster; apps?: AppsProcess }): Promise<void> {
  if (c.apps) {
    await c.apps.removeAllApps()
    await c.apps.proc.stop()
  }
  await c.cluster?.stop()
}
