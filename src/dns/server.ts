// dromos dns: answers Mesos-DNS A and SRV queries for running tasks over UDP and TCP, with records
// rebuilt from the apps framework's event stream, not by polling.
import type { Logger } from 'pino'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAppsFollower, TASK_EVENTS } from '../api/apps-follower.js'
import type { FollowedApp } from '../api/apps-follower.js'
import { createHostResolver } from '../api/host-address.js'
import { closeServer, listen } from '../api/http.js'
import { applyStatusEvent } from '../api/status-patch.js'
import { DROMOS_VERSION } from '../core/version.js'
import type { AnswerOptions } from './answer.js'
import { answer } from './answer.js'
import { createDnsRouter } from './http.js'
import type { DnsApp, DnsTask, Records } from './records.js'
import { createRecordsBuilder, hostsOf } from './records.js'
import type { DnsListener } from './transport.js'
import { listenDns } from './transport.js'

export interface DnsServerOptions {
  readonly appsUrl: string
  readonly host: string
  readonly port: number
  readonly domain: string
  readonly framework: string
  readonly masterIp: string
  readonly ttl: number
  /** The port of the HTTP interface (Mesos-DNS's `/v1/...`) on `host`, 0 for one the kernel picks; none without. */
  readonly httpPort?: number
  readonly log: Logger
}

export interface DnsServer {
  start(): Promise<void>
  stop(): Promise<void>
  records(): Records
  /** The URL of the HTTP interface once started, if it has one. */
  httpUrl(): string | undefined
}

/** The least time between two rebuilds of the records: what an answer may lag behind an event, at most. */
const REBUILD_SPACING_MS = 20
/** The least time between two reads of an app whose events were all patched in. */
const RECONCILE_INTERVAL_MS = 1000
/** How long a host's address is kept before it is looked up again. */
const HOSTS_TTL_MS = 60_000

export function createDnsServer(opts: DnsServerOptions): DnsServer {
  const { log } = opts
  const builder = createRecordsBuilder({ framework: opts.framework, domain: opts.domain, masterIp: opts.masterIp })
  let records: Records = builder.update([])
  /** The zone's serial, as Mesos-DNS's: the time of the last change of the records, in seconds, and always growing. */
  let serial = Math.floor(Date.now() / 1000)
  let listener: DnsListener | undefined
  let http: Server | undefined
  const httpUrl = (): string | undefined => (http ? `http://${opts.host}:${(http.address() as AddressInfo).port}` : undefined)
  // Tasks name their agent by hostname, as in Marathon; Mesos-DNS gives agents' addresses.
  const hosts = createHostResolver({ ttlMs: HOSTS_TTL_MS })
  /** Replaced, never changed, when an address changes: the records builder takes the same map as the same addresses. */
  let hostAddresses: ReadonlyMap<string, string> = new Map()
  /** The copies of the apps the records were last built from: only the others' hosts are looked up again. */
  let built = new WeakSet<object>()
  let allHostsAt = -Infinity
  const follower = createAppsFollower({
    appsUrl: opts.appsUrl,
    log,
    // A task's record comes and goes with its status event, without waiting for a read of its
    // app (which still follows, and has the last word).
    patch: (app, e) => {
      if (e.eventType === 'status_update_event') return e.appId === app.id ? applyStatusEvent(app as FollowedApp & { tasks?: DnsTask[] }, e) : undefined
      // The other task events (health, an instance's conditions) change no record: Mesos-DNS
      // names a running task whatever its health. The copy stays as it is.
      return TASK_EVENTS.has(String(e.eventType)) ? app : undefined
    },
    // Those reads only reconcile: once a second for an app at most, not once for each of the
    // thousands of events a deployment of thousands of tasks brings.
    reconcileIntervalMs: RECONCILE_INTERVAL_MS,
    onChange: async () => {
      const apps = [...follower.apps.values()] as unknown as DnsApp[]
      // Every host again as often as the resolver forgets an answer, else those of apps that changed.
      const all = Date.now() - allHostsAt >= HOSTS_TTL_MS
      const changed = all ? apps : apps.filter((a) => !built.has(a))
      const found = await Promise.all(
        hostsOf(changed).map(async (host): Promise<[string, string | undefined]> => {
          try {
            return [host, await hosts.resolve(host)]
          } catch {
            log.warn({ host }, 'cannot resolve the host of a task: its records are left out')
            return [host, undefined]
          }
        }),
      )
      if (found.some(([host, ip]) => hostAddresses.get(host) !== ip)) {
        const next = new Map(hostAddresses)
        for (const [host, ip] of found) {
          if (ip === undefined) next.delete(host)
          else next.set(host, ip)
        }
        hostAddresses = next
      }
      if (all) allHostsAt = Date.now()
      built = new WeakSet(apps)
      const next = builder.update(apps, hostAddresses)
      if (next !== records) serial = Math.max(serial + 1, Math.floor(Date.now() / 1000))
      records = next
      // The changes that come meanwhile are handed over together, after this: a storm's thousands
      // of events a second rebuild each app that changed a few times a second, not once an event.
      await new Promise((r) => setTimeout(r, REBUILD_SPACING_MS))
    },
  })
  return {
    async start() {
      const answerOpts = (): AnswerOptions => ({ domain: opts.domain, ttl: opts.ttl, serial })
      const l = await listenDns({ host: opts.host, port: opts.port, log, respond: (msg, transport) => answer(msg, records, answerOpts(), transport) })
      listener = l
      if (opts.httpPort !== undefined) {
        const port = l.port
        const router = createDnsRouter({ records: () => records, config: { domain: opts.domain, port, httpPort: opts.httpPort, listener: opts.host, ttl: opts.ttl }, version: DROMOS_VERSION, log })
        try {
          http = await listen({ router, host: opts.host, port: opts.httpPort, log })
        } catch (e) {
          listener = undefined
          await l.close()
          throw e
        }
      }
      follower.start()
      log.info({ address: `${opts.host}:${l.port}`, domain: opts.domain, ...(http ? { http: httpUrl() } : {}) }, 'dns server started')
    },
    async stop() {
      await follower.stop()
      if (http) await closeServer(http)
      await listener?.close()
    },
    records: () => records,
    httpUrl,
  }
}
