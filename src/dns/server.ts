// dromos dns: answers Mesos-DNS A and SRV queries for running tasks over UDP, with records
// rebuilt from the apps framework's event stream, not by polling.
import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'
import * as packet from 'dns-packet'
import type { Logger } from 'pino'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAppsFollower, TASK_EVENTS } from '../api/apps-follower.js'
import type { FollowedApp } from '../api/apps-follower.js'
import { createHostResolver } from '../api/host-address.js'
import { closeServer, listen } from '../api/http.js'
import { applyStatusEvent } from '../api/status-patch.js'
import { DROMOS_VERSION } from '../core/version.js'
import { createDnsRouter } from './http.js'
import type { DnsApp, DnsTask, Records } from './records.js'
import { createRecordsBuilder, hostsOf } from './records.js'

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

// RFC 1035: a UDP answer is at most 512 bytes unless the client said more (EDNS).
const UDP_LIMIT = 512

export function answer(query: packet.Packet, records: Records, opts: { domain: string; ttl: number }): Buffer {
  const question = query.questions?.[0]
  const base = { id: query.id ?? 0, type: 'response' as const, flags: packet.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & packet.RECURSION_DESIRED), questions: query.questions ?? [] }
  if (!question) return packet.encode({ ...base, flags: base.flags | 1 /* FORMERR */ })
  const name = question.name.toLowerCase().replace(/\.$/, '')
  const inZone = name === opts.domain || name.endsWith(`.${opts.domain}`)
  if (!inZone) return packet.encode({ ...base, flags: (base.flags & ~packet.AUTHORITATIVE_ANSWER) | 5 /* REFUSED */ })
  const answers: packet.Answer[] = []
  const additionals: packet.Answer[] = []
  const qtype: string = question.type
  const aOf = (n: string): packet.Answer[] => (records.a.get(n) ?? []).map((ip) => ({ type: 'A', name: n, ttl: opts.ttl, class: 'IN', data: ip }))
  if (qtype === 'A' || qtype === 'ANY') answers.push(...aOf(name))
  if (qtype === 'SRV' || qtype === 'ANY') {
    for (const r of records.srv.get(name) ?? []) {
      answers.push({ type: 'SRV', name, ttl: opts.ttl, class: 'IN', data: { priority: 0, weight: 1, port: r.port, target: r.target } })
      for (const add of aOf(r.target)) if (!additionals.some((x) => x.name === add.name)) additionals.push(add)
    }
  }
  const known = records.a.has(name) || records.srv.has(name)
  // NXDOMAIN only for names that do not exist at all; a known name with no record of the type is NOERROR.
  const rcode = known ? 0 : 3
  const full = packet.encode({ ...base, flags: base.flags | rcode, answers, additionals })
  if (full.length <= UDP_LIMIT) return full
  const trimmed = packet.encode({ ...base, flags: base.flags | rcode, answers })
  if (trimmed.length <= UDP_LIMIT) return trimmed
  return packet.encode({ ...base, flags: base.flags | rcode | packet.TRUNCATED_RESPONSE, answers: [] })
}

export function createDnsServer(opts: DnsServerOptions): DnsServer {
  const { log } = opts
  const builder = createRecordsBuilder({ framework: opts.framework, domain: opts.domain, masterIp: opts.masterIp })
  let records: Records = builder.update([])
  let socket: Socket | undefined
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
      records = builder.update(apps, hostAddresses)
      // The changes that come meanwhile are handed over together, after this: a storm's thousands
      // of events a second rebuild each app that changed a few times a second, not once an event.
      await new Promise((r) => setTimeout(r, REBUILD_SPACING_MS))
    },
  })
  return {
    async start() {
      const s = createSocket('udp4')
      s.on('message', (msg, rinfo) => {
        let query: packet.Packet
        try {
          query = packet.decode(msg)
        } catch {
          return
        }
        if (query.type !== 'query') return
        const reply = answer(query, records, { domain: opts.domain, ttl: opts.ttl })
        s.send(reply, rinfo.port, rinfo.address)
      })
      await new Promise<void>((res, rej) => {
        s.once('error', rej)
        s.bind(opts.port, opts.host, () => {
          s.off('error', rej)
          res()
        })
      })
      s.on('error', (e) => log.warn({ err: e.message }, 'dns socket error'))
      socket = s
      if (opts.httpPort !== undefined) {
        const port = s.address().port
        const router = createDnsRouter({ records: () => records, config: { domain: opts.domain, port, httpPort: opts.httpPort, listener: opts.host, ttl: opts.ttl }, version: DROMOS_VERSION, log })
        try {
          http = await listen({ router, host: opts.host, port: opts.httpPort, log })
        } catch (e) {
          socket = undefined
          s.close()
          throw e
        }
      }
      follower.start()
      log.info({ address: `${opts.host}:${s.address().port}`, domain: opts.domain, ...(http ? { http: httpUrl() } : {}) }, 'dns server started')
    },
    async stop() {
      await follower.stop()
      if (http) await closeServer(http)
      await new Promise<void>((res) => (socket ? socket.close(() => res()) : res()))
    },
    records: () => records,
    httpUrl,
  }
}
