// The discovery phase of bench/scale.ts (--lb, --dns): a real `dromos lb` with its HAProxy
// and/or a real `dromos dns` follow the storm (the lb serves one group, so the storm's apps
// only cost it their events; the dns follows every app), then an app of the lb's group scales
// 1 → N → N/10 → N. Each step is timed from the POST or PUT until HAProxy's enabled servers
// (read from the stats socket, `show servers state`) and the dns's SRV records (asked over DNS
// as a stock resolver asks, UDP then TCP) number the app's running tasks, alongside the apps
// framework's own count; at the end of each step the records of its HTTP interface
// (/v1/services/<name>) must be exactly those tasks. The lb's reloads are counted: only the first growth of the backend's
// slots may reload, the rest go through the runtime API.
//
// The app has no health check, so HAProxy checks nothing: no traffic goes to the hollow
// tasks, whose agents are named by loopback addresses (see agentHostnamePrefix) so that the
// lb and the dns resolve them as they resolve any agent's hostname.
import { lookup, Resolver } from 'node:dns/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { backendName } from '../../src/lb/routes.js'
import type { Proc } from '../../test/lib/cluster.js'
import { freePort, waitUntil } from '../../test/lib/cluster.js'
import { fmt, now, sleep } from '../lib.js'

export const LB_GROUP = 'scale-lb'
const APP_ID = '/scale/lb'
/** The app's SRV name: Mesos-DNS's task name of /scale/lb is lb.scale. */
const APP_SERVICE = '_lb.scale._tcp.marathon.mesos'

/**
 * Hostnames that resolve to a loopback address without DNS: `127.<k+1>.<i>` is an IPv4 address
 * in the shorthand that getaddrinfo takes (the last part 16 bits wide), one per agent i of
 * process k, up to 65,536 agents a process.
 */
export const agentHostnamePrefix = (k: number): string => `127.${k + 1}.`

export interface ScaleLb {
  readonly proc: Proc
  readonly statsPort: number
  readonly socketPath: string
  metric(name: string): Promise<number>
}

export interface ScaleDns {
  readonly proc: Proc
  readonly httpUrl: string
  /** Its DNS port, UDP and TCP. */
  readonly port: number
}

export async function startDns(o: { appsUrl: string; logLevel: string; start: (name: string, args: string[]) => Proc }): Promise<ScaleDns> {
  const [port, httpPort] = [await freePort(), await freePort()]
  const proc = o.start('dns', ['dns', '--apps', o.appsUrl, '--host', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort), '--log-level', o.logLevel])
  const httpUrl = `http://127.0.0.1:${httpPort}`
  await waitUntil('the dns to answer /v1/version', async () => (await fetch(`${httpUrl}/v1/version`)).ok, 30_000)
  return { proc, httpUrl, port }
}

/**
 * How many SRV records the app has over DNS itself, as a stock resolver (c-ares) gets them: over
 * UDP, and again over TCP once the answer is too large for UDP (past a few dozen).
 */
async function srvCount(dns: ScaleDns): Promise<number> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 })
  resolver.setServers([`127.0.0.1:${dns.port}`])
  return (await resolver.resolveSrv(APP_SERVICE).catch(() => [])).length
}

/** The app's SRV records as address:port, from the dns's HTTP interface (one entry of empty strings when it has none). */
async function srvRecords(dns: ScaleDns): Promise<Set<string>> {
  const entries = (await (await fetch(`${dns.httpUrl}/v1/services/${APP_SERVICE}`)).json()) as Array<{ ip: string; port: string }>
  return new Set(entries.filter((e) => e.port !== '').map((e) => `${e.ip}:${e.port}`))
}

export async function startLb(o: { appsUrl: string; dir: string; logLevel: string; start: (name: string, args: string[]) => Proc }): Promise<ScaleLb> {
  const [httpPort, httpsPort, appIdPort, statsPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const workDir = join(o.dir, 'lb')
  const proc = o.start('lb', [
    'lb', '--apps', o.appsUrl, '--group', LB_GROUP, '--bind-address', '127.0.0.1', '--http-port', String(httpPort), '--https-port', String(httpsPort),
    '--app-id-port', String(appIdPort), '--stats-port', String(statsPort), '--work-dir', workDir, '--log-level', o.logLevel,
  ])
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith(`${name} `))
    return line ? Number(line.split(' ')[1]) : 0
  }
  await waitUntil('the lb to apply its first routes', async () => (await metric('dromos_lb_reloads_total')) >= 1, 30_000)
  return { proc, statsPort, socketPath: join(workDir, 'haproxy.sock'), metric }
}

/** HAProxy's SRV_ADMF_FMAINT | IMAINT | FDRAIN | IDRAIN | RMAINT. */
const NOT_SERVING = 0x01 | 0x02 | 0x08 | 0x10 | 0x20

/** One runtime API command over its own connection to the stats socket. */
function runtime(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath)
    let out = ''
    sock.setTimeout(5_000, () => sock.destroy(new Error(`HAProxy did not answer '${command}'`)))
    sock.on('connect', () => sock.end(`${command}\n`))
    sock.on('data', (d) => (out += d.toString()))
    sock.on('error', reject)
    sock.on('close', () => resolve(out))
  })
}

/**
 * The servers of a backend that take new traffic, as address:port, from `show servers state`:
 * running (operational state 2) and neither in maintenance nor draining (admin flags FMAINT,
 * IMAINT, RMAINT, FDRAIN, IDRAIN; CMAINT only records the `disabled` of the configuration). An
 * unknown backend (before the reload that writes it) has none.
 */
async function enabledServers(socketPath: string, backend: string): Promise<Set<string>> {
  const out = await runtime(socketPath, `show servers state ${backend}`)
  const lines = out.split('\n')
  const header = lines.find((l) => l.startsWith('# be_id'))
  if (!header) return new Set()
  const cols = header.slice(2).split(' ')
  const [addr, op, admin, port] = ['srv_addr', 'srv_op_state', 'srv_admin_state', 'srv_port'].map((c) => cols.indexOf(c))
  const servers = new Set<string>()
  for (const l of lines) {
    if (!l || l.startsWith('#') || /^\d+$/.test(l)) continue
    const f = l.split(' ')
    if (f[op!] === '2' && (Number(f[admin!]) & NOT_SERVING) === 0) servers.add(`${f[addr!]}:${f[port!]}`)
  }
  return servers
}

/** The app's running tasks as address:port, resolving the agents' hostnames as the lb does. */
async function runningTasks(appsUrl: string): Promise<Set<string>> {
  const r = await fetch(`${appsUrl}/v2/apps${APP_ID}/tasks`)
  const { tasks } = (await r.json()) as { tasks: Array<{ host: string; ports?: number[]; state?: string }> }
  const out = new Set<string>()
  for (const t of tasks) {
    if (t.state !== undefined && t.state !== 'TASK_RUNNING') continue
    out.add(`${(await lookup(t.host, { family: 4 })).address}:${t.ports?.[0]}`)
  }
  return out
}

interface Step {
  readonly what: string
  readonly instances: number
  appsSecs: number
  haproxySecs: number
  dnsSecs: number
  reloads: number
  runtimeChanges: number
  serversMatch: boolean
  recordsMatch: boolean
}

const sameSet = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x))

/** Scales the lb's app through its steps; the rows of the report. */
export async function discoveryScalePhase(o: { appsUrl: string; lb?: ScaleLb; dns?: ScaleDns; instances: number; stepTimeoutMs: number }): Promise<Array<[string, string]>> {
  const { lb, dns } = o
  const servicePort = await freePort()
  const backend = backendName(APP_ID, servicePort)
  const n = o.instances
  const plan: Array<[string, number]> = [['create', 1], ['scale up', n], ['scale down', Math.max(1, Math.floor(n / 10))], ['scale up again', n]]
  const lbMetric = (name: string): Promise<number> => (lb ? lb.metric(name) : Promise.resolve(0))
  const steps: Step[] = []
  for (const [what, instances] of plan) {
    const [reloadsBefore, changesBefore] = [await lbMetric('dromos_lb_reloads_total'), await lbMetric('dromos_lb_changes_applied_total')]
    const t0 = now()
    const r =
      what === 'create'
        ? await fetch(`${o.appsUrl}/v2/apps`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ id: APP_ID, cmd: 'sleep 100000', cpus: 0.01, mem: 4, instances, portDefinitions: [{ port: servicePort }], labels: { HAPROXY_GROUP: LB_GROUP } }),
          })
        : await fetch(`${o.appsUrl}/v2/apps${APP_ID}`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ instances }) })
    if (!r.ok) throw new Error(`${what} of ${APP_ID} answered ${r.status}: ${await r.text()}`)
    let appsAt = NaN
    let haproxyAt = lb ? NaN : 0
    let dnsAt = dns ? NaN : 0
    const deadline = t0 + o.stepTimeoutMs
    // Every side polled in turn until each reaches the count; HAProxy's and the dns's are what converge.
    while ([appsAt, haproxyAt, dnsAt].some(Number.isNaN) && now() < deadline) {
      if (Number.isNaN(appsAt)) {
        const { app } = (await (await fetch(`${o.appsUrl}/v2/apps${APP_ID}`)).json()) as { app: { tasksRunning: number; tasksStaged: number; deployments: unknown[] } }
        if (app.tasksRunning === instances && app.tasksStaged === 0 && app.deployments.length === 0) appsAt = now()
      }
      if (lb && Number.isNaN(haproxyAt) && (await enabledServers(lb.socketPath, backend)).size === instances) haproxyAt = now()
      if (dns && Number.isNaN(dnsAt) && (await srvCount(dns)) === instances) dnsAt = now()
      await sleep(10)
    }
    const tasks = await runningTasks(o.appsUrl)
    steps.push({
      what,
      instances,
      appsSecs: (appsAt - t0) / 1000,
      haproxySecs: (haproxyAt - t0) / 1000,
      dnsSecs: (dnsAt - t0) / 1000,
      reloads: (await lbMetric('dromos_lb_reloads_total')) - reloadsBefore,
      runtimeChanges: (await lbMetric('dromos_lb_changes_applied_total')) - changesBefore,
      serversMatch: lb ? sameSet(await enabledServers(lb.socketPath, backend), tasks) : true,
      recordsMatch: dns ? sameSet(await srvRecords(dns), tasks) : true,
    })
  }
  return steps.map((s) => [
    `${[lb ? 'lb' : '', dns ? 'dns' : ''].filter(Boolean).join(' and ')}: ${s.what} to ${s.instances}`,
    [
      `apps ${fmt(s.appsSecs, 2)} s`,
      ...(lb ? [`HAProxy ${fmt(s.haproxySecs, 2)} s, ${s.reloads} reload(s), ${s.runtimeChanges} server state change(s) through the runtime API, servers ${s.serversMatch ? '=' : '≠'} tasks`] : []),
      ...(dns ? [`dns ${fmt(s.dnsSecs, 2)} s, SRV records ${s.recordsMatch ? '=' : '≠'} tasks`] : []),
    ].join(', '),
  ])
}
