// The HTTP interface of dromos dns, Mesos-DNS's (`/v1/...`, on port 8123 by default): the
// same records as the DNS answers, as JSON. Shapes as Mesos-DNS gives them: a name answered
// has a trailing dot, a port is a string, and a name with no record answers one entry of
// empty strings, with a 200.
import type { Logger } from 'pino'
import type { Router } from '../api/http.js'
import { createRouter, sendJson } from '../api/http.js'
import type { Records } from './records.js'

export interface HostEntry {
  readonly host: string
  readonly ip: string
}

export interface ServiceEntry {
  readonly service: string
  readonly host: string
  readonly ip: string
  readonly port: string
}

/** A name as the records key it: lower case, without a wildcard label (`.*`) or the trailing dot. */
const recordName = (name: string): string => name.replaceAll('.*', '').toLowerCase().replace(/\.$/, '')

/** GET /v1/hosts/{host}: the A records of a name. */
export function hostEntries(records: Records, name: string): HostEntry[] {
  const key = recordName(name)
  const ips = records.a.get(key) ?? []
  return ips.length === 0 ? [{ host: '', ip: '' }] : ips.map((ip) => ({ host: `${key}.`, ip }))
}

/** GET /v1/services/{service}: the SRV records of a name, each with its target's first address; `service` is the name as asked. */
export function serviceEntries(records: Records, name: string): ServiceEntry[] {
  const srv = records.srv.get(recordName(name)) ?? []
  if (srv.length === 0) return [{ service: '', host: '', ip: '', port: '' }]
  return srv.map((r) => ({ service: name, host: `${r.target}.`, ip: records.a.get(r.target)?.[0] ?? '', port: String(r.port) }))
}

export interface DnsHttpConfig {
  readonly domain: string
  readonly port: number
  readonly httpPort: number
  readonly listener: string
  readonly ttl: number
}

export function createDnsRouter(opts: { records: () => Records; config: DnsHttpConfig; version: string; log: Logger }): Router {
  const router = createRouter({ log: opts.log })
  router.on('GET', '/v1/version', (ctx) => sendJson(ctx.res, 200, { Service: 'dromos dns', URL: '', Version: opts.version }))
  // The settings a Mesos-DNS client reads, under Mesos-DNS's names.
  const { domain, port, httpPort, listener, ttl } = opts.config
  router.on('GET', '/v1/config', (ctx) => sendJson(ctx.res, 200, { Domain: domain, Port: port, HttpPort: httpPort, Listener: listener, TTL: ttl, DnsOn: true, HttpOn: true }))
  router.on('GET', '/v1/hosts/:host', (ctx) => sendJson(ctx.res, 200, hostEntries(opts.records(), ctx.params['host'] ?? '')))
  router.on('GET', '/v1/services/:service', (ctx) => sendJson(ctx.res, 200, serviceEntries(opts.records(), ctx.params['service'] ?? '')))
  return router
}
