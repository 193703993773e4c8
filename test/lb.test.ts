// dromos lb end to end: real HAProxy driven by the event stream of a real `dromos apps`,
// with real Docker tasks behind it. Requests go only to 127.0.0.1.
import { execFile, spawn } from 'node:child_process'
import { Resolver } from 'node:dns/promises'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { createConnection } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { connect as tlsConnect } from 'node:tls'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess, EventStream } from './lib/apps.js'
import type { TaskJson } from './lib/apps.js'
import { BIN, freePort, Proc, TestCluster, waitUntil } from './lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from './lib/images.js'
import { hit, killHaproxiesUnder, LbProcess, RequestLoop } from './lib/lb.js'
import { processesWhere } from './lib/proc.js'

const run = promisify(execFile)
let cluster: TestCluster
let apps: AppsProcess
let lb: LbProcess
/** The lb's reload counter, for a request loop to bound the requests it may send again. */
const lbReloads = (): Promise<number> => lb.metric('dromos_lb_reloads_total')

beforeAll(async () => {
  await ensureBusyboxImage()
  // Tasks name their agent by hostname; the lb and the DNS server resolve it, as marathon-lb does.
  cluster = await TestCluster.start({ agents: [{ hostname: 'localhost', resources: 'cpus:8;mem:4096;disk:1000;ports:[31400-31499]' }] })
  apps = await AppsProcess.start(cluster)
  lb = await LbProcess.start(apps)
})

afterAll(async () => {
  if (apps) {
    const list = await apps.req('GET', '/v2/apps')
    for (const a of list.body.apps ?? []) await apps.req('DELETE', `/v2/apps${a.id}?force=true`)
    await waitUntil('tasks to stop', async () => (await apps.req('GET', '/v2/tasks')).body.tasks.length === 0, 60_000).catch(() => undefined)
  }
  await lb?.proc.stop()
  if (cluster) killHaproxiesUnder(cluster.dir)
  await apps?.proc.stop()
  await cluster?.stop()
})

/** An httpd whose /id names the task serving it, and whose /health can be made to fail. */
function webApp(id: string, servicePort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    cmd: 'echo $MESOS_TASK_ID > /www/id && echo ok > /www/health && exec httpd -f -p 8080 -h /www',
    cpus: 0.05,
    mem: 16,
    instances: 2,
    container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG }, portMappings: [{ containerPort: 8080, servicePort, name: 'http' }] },
    networks: [{ mode: 'container/bridge' }],
    healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
    ...extra,
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_MODE: 'http', ...(extra.labels as Record<string, string> | undefined) },
  }
}

async function taskIds(id: string): Promise<string[]> {
  return ((await apps.app(id))?.tasks ?? []).map((t: { id: string }) => t.id).sort()
}

/** The set of tasks seen answering through the balancer over n requests. */
async function seen(port: number, n: number, host?: string): Promise<Set<string>> {
  const out = new Set<string>()
  for (let i = 0; i < n; i++) {
    const r = await hit(port, host ? { host } : {})
    out.add(r.body)
  }
  return out
}

describe('routing follows the apps', () => {
  it('scale 2 -> 4 sends traffic to the new instances; scale down sends none to the removed ones', async () => {
    const reloads0 = await lb.metric('dromos_lb_reloads_total')
    expect((await apps.req('POST', '/v2/apps', webApp('/lb/scale', 10101))).status).toBe(201)
    await apps.waitDeployed('/lb/scale')
    await waitUntil('both instances behind the service port', async () => (await seen(10101, 8)).size === 2)
    const two = await taskIds('/lb/scale')
    expect(await seen(10101, 8)).toEqual(new Set(two))

    await apps.req('PUT', '/v2/apps/lb/scale', { instances: 4 })
    await apps.waitDeployed('/lb/scale')
    const four = await taskIds('/lb/scale')
    expect(four).toHaveLength(4)
    await waitUntil('four instances behind the service port', async () => (await seen(10101, 12)).size === 4)
    expect(await seen(10101, 16)).toEqual(new Set(four))

    await apps.req('PUT', '/v2/apps/lb/scale', { instances: 1 })
    await apps.waitDeployed('/lb/scale')
    const one = await taskIds('/lb/scale')
    expect(one).toHaveLength(1)
    expect(await seen(10101, 10)).toEqual(new Set(one))
    // Membership changed through the runtime API: one reload, for the new frontend. The backend
    // was sized for the app's capacity then, and scaling to 4 (capacity 8) still fit.
    expect(await lb.metric('dromos_lb_changes_applied_total')).toBeGreaterThan(4)
    expect((await lb.metric('dromos_lb_reloads_total')) - reloads0).toBe(1)
    // Each read and each apply is timed, and /_lb/state shows the last changes with their events.
    expect(await lb.metric('dromos_lb_app_read_seconds_count')).toBeGreaterThan(0)
    const recent: Array<{ way: string; eventAt?: number; appliedAt: number }> = (await lb.state()).recentChanges
    expect(recent.some((c) => c.way === 'runtime' && c.eventAt !== undefined && c.appliedAt >= c.eventAt)).toBe(true)
    // /_lb/config is what HAProxy runs now: the one remaining task in a slot, the rest disabled.
    const config = await (await fetch(`http://127.0.0.1:${lb.statsPort}/_lb/config`)).text()
    expect(config).toContain('backend lb_scale_10101')
    const servers = config.split('\n').filter((l) => /^\s+server srv\d+ /.test(l) && config.indexOf(l) > config.indexOf('backend lb_scale_10101'))
    expect(servers.filter((l) => !l.endsWith(' disabled'))).toHaveLength(1)
  })

  it('a rolling restart, a scale-down and a killed task under a request loop fail no request', async () => {
    await apps.req('PUT', '/v2/apps/lb/scale', { instances: 3 })
    await apps.waitDeployed('/lb/scale')
    await waitUntil('three instances serving', async () => (await seen(10101, 9)).size === 3)

    const loop = new RequestLoop(10101, { maxMs: 90_000, reloads: lbReloads })
    const reloads0 = await lb.metric('dromos_lb_reloads_total')
    const restart = await apps.req('POST', '/v2/apps/lb/scale/restart')
    expect(restart.status).toBe(200)
    await apps.waitDeployed('/lb/scale')
    // Old and new instances side by side fit the slots: HAProxy was not reloaded.
    expect(await lb.metric('dromos_lb_reloads_total')).toBe(reloads0)
    const afterRestart = await taskIds('/lb/scale')
    await waitUntil('the new instances to serve', async () => loop.results.slice(-6).every((r) => afterRestart.includes(r.body)), 20_000)

    await apps.req('PUT', '/v2/apps/lb/scale', { instances: 2 })
    await apps.waitDeployed('/lb/scale')

    const [victim] = await taskIds('/lb/scale')
    const killed = await apps.req('DELETE', `/v2/apps/lb/scale/tasks/${victim}`)
    expect(killed.status).toBe(200)
    await waitUntil('the replacement', async () => {
      const ids = await taskIds('/lb/scale')
      return ids.length === 2 && !ids.includes(victim!)
    })
    await apps.waitDeployed('/lb/scale')
    await new Promise((r) => setTimeout(r, 500))
    await loop.stop()
    expect(loop.results.length).toBeGreaterThan(100)
    expect(loop.failures()).toEqual([])
  })

  it('routes two apps behind one port by Host header', async () => {
    await apps.req('POST', '/v2/apps', webApp('/lb/blue', 10111, { instances: 1, labels: { HAPROXY_0_VHOST: 'blue.example.test' } }))
    await apps.req('POST', '/v2/apps', webApp('/lb/green', 10112, { instances: 1, labels: { HAPROXY_0_VHOST: 'green.example.test,green.local' } }))
    const blue = (await apps.waitDeployed('/lb/blue')).tasks[0].id
    const green = (await apps.waitDeployed('/lb/green')).tasks[0].id
    await waitUntil('vhosts to route', async () => (await hit(lb.httpPort, { host: 'blue.example.test' })).body === blue)
    expect((await hit(lb.httpPort, { host: 'green.example.test' })).body).toBe(green)
    expect((await hit(lb.httpPort, { host: 'GREEN.local:8080' })).body).toBe(green)
    expect((await hit(lb.httpPort, { host: 'nobody.example.test' })).ok).toBe(false)
    // Each app still has its own service port.
    expect((await hit(10111)).body).toBe(blue)
  })

  it('takes an unhealthy instance out of rotation before it is killed', async () => {
    const events = new EventStream(apps.url, ['health_status_changed_event', 'unhealthy_instance_kill_event'])
    await apps.req('PUT', '/v2/apps/lb/scale', {
      instances: 2,
      healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 4, delaySeconds: 0 }],
    })
    await apps.waitDeployed('/lb/scale')
    const [sick, well] = await taskIds('/lb/scale')
    await waitUntil('both serving', async () => (await seen(10101, 8)).size === 2)
    const containers = await run('docker', ['ps', '-q', '--filter', `label=dromos.task_id=${sick}`])
    await run('docker', ['exec', containers.stdout.trim(), 'rm', '/www/health'])
    await events.waitFor((e) => e.eventType === 'health_status_changed_event' && e.alive === false && e.instanceId?.startsWith(sick!.split('.')[0]), 'the instance to be reported unhealthy', 20_000)
    // Between the first failed check and the kill, it gets no traffic.
    await new Promise((r) => setTimeout(r, 300))
    const during = await seen(10101, 10)
    const killedYet = events.events.some((e) => e.eventType === 'unhealthy_instance_kill_event' && e.taskId === sick)
    expect(killedYet).toBe(false)
    expect(during).toEqual(new Set([well]))
    await events.waitFor((e) => e.eventType === 'unhealthy_instance_kill_event' && e.taskId === sick, 'the kill', 20_000)
    await events.close()
  })
})

describe('groups', () => {
  it('runs several lbs at once, each serving the apps of its HAPROXY_GROUP', async () => {
    const internal = await LbProcess.start(apps, ['--group', 'internal'])
    try {
      await apps.req('POST', '/v2/apps', webApp('/grp/outside', 10201, { instances: 1 }))
      await apps.req('POST', '/v2/apps', webApp('/grp/inside', 10202, { instances: 1, labels: { HAPROXY_0_MODE: 'http', HAPROXY_GROUP: 'internal' } }))
      const outside = (await apps.waitDeployed('/grp/outside')).tasks[0].id
      const inside = (await apps.waitDeployed('/grp/inside')).tasks[0].id
      await waitUntil('each lb to serve its app', async () => (await hit(10201)).body === outside && (await hit(10202)).body === inside)
      const names = async (l: LbProcess): Promise<string[]> => (await l.state()).backends.map((b: { appId: string }) => b.appId)
      expect(await names(lb)).toContain('/grp/outside')
      expect(await names(lb)).not.toContain('/grp/inside')
      expect(await names(internal)).toEqual(['/grp/inside'])
    } finally {
      await internal.proc.stop()
      await apps.req('DELETE', '/v2/apps/grp/outside?force=true')
      await apps.req('DELETE', '/v2/apps/grp/inside?force=true')
    }
  })
})

describe('routes HAProxy would refuse', () => {
  it('leaves out an unlabelled app, a port another app holds and bad labels, reports them, and keeps serving the rest', async () => {
    try {
      await apps.req('POST', '/v2/apps', webApp('/bad/good', 10301, { instances: 1 }))
      const plain = webApp('/bad/plain', 10302, { instances: 1 })
      await apps.req('POST', '/v2/apps', { ...plain, labels: {} })
      // Takes /bad/good's service port through the lb's own label: the apps API cannot see it.
      await apps.req('POST', '/v2/apps', webApp('/bad/thief', 10303, { instances: 1, labels: { HAPROXY_0_PORT: '10301' } }))
      await apps.req('POST', '/v2/apps', webApp('/bad/balance', 10304, { instances: 1, labels: { HAPROXY_0_BALANCE: 'nonsense' } }))
      const good = (await apps.waitDeployed('/bad/good')).tasks[0].id
      for (const id of ['/bad/plain', '/bad/thief', '/bad/balance']) await apps.waitDeployed(id)
      await waitUntil('the good app to be served', async () => (await hit(10301)).body === good)
      const state = await waitUntil('the lb to report the routes it left out', async () => {
        const st = await lb.state()
        return (st.rejected as unknown[]).length >= 2 ? st : undefined
      })
      const rejected = (state.rejected as Array<{ appId: string; reason: string }>).map((r) => `${r.appId}: ${r.reason}`).sort()
      expect(rejected).toEqual([
        "/bad/balance: HAPROXY balance 'nonsense' is not an HAProxy algorithm",
        '/bad/thief: service port 10301 is already served for app /bad/good',
      ])
      const served = (state.backends as Array<{ appId: string }>).map((b) => b.appId)
      expect(served).toContain('/bad/good')
      expect(served).not.toContain('/bad/plain')
      expect((await hit(10302)).ok).toBe(false)
      // The rest keep serving, the good app included, and changes still go through.
      expect((await hit(10301)).body).toBe(good)
      await apps.req('PUT', '/v2/apps/bad/good', { instances: 2 })
      await apps.waitDeployed('/bad/good')
      await waitUntil('the new instance to be served too', async () => (await seen(10301, 12)).size === 2)
    } finally {
      for (const id of ['/bad/good', '/bad/plain', '/bad/thief', '/bad/balance']) await apps.req('DELETE', `/v2/apps${id}?force=true`)
    }
  })
})

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port })
    sock.once('connect', () => {
      sock.destroy()
      resolve(true)
    })
    sock.once('error', () => resolve(false))
  })
}

/** Listening TCP sockets of this machine, as address:port, from /proc/net/tcp. */
function listening(): string[] {
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === '0A')
    .map((f) => {
      const [ip, port] = f[1]!.split(':')
      const bytes = ip!.match(/../g)!.map((b) => parseInt(b, 16)).reverse()
      return `${bytes.join('.')}:${parseInt(port!, 16)}`
    })
}

/** HAProxy's own view of one backend's servers: name -> [status, check status], from the stats CSV. */
async function serverChecks(lbl: LbProcess, backend: string): Promise<Map<string, [string, string]>> {
  const csv = await (await fetch(`http://127.0.0.1:${lbl.statsPort}/haproxy?stats;csv`)).text()
  const [head, ...rows] = csv.split('\n')
  const cols = head!.replace(/^# /, '').split(',')
  const at = (name: string): number => cols.indexOf(name)
  const out = new Map<string, [string, string]>()
  for (const r of rows.map((l) => l.split(','))) {
    if (r[at('pxname')] === backend && /^srv\d+$/.test(r[at('svname')] ?? '')) out.set(r[at('svname')]!, [r[at('status')]!, r[at('check_status')]!])
  }
  return out
}

describe('marathon-lb labels', () => {
  it('leaves out a port with HAPROXY_{n}_ENABLED false, binds where _BIND_ADDR says with _BIND_OPTIONS, and routes a path without a host by _BACKEND_WEIGHT', async () => {
    const ids = ['/lbl/off', '/lbl/on', '/lbl/lo2', '/lbl/far', '/lbl/badopts', '/lbl/path-a', '/lbl/path-b']
    try {
      const idle = (id: string, port: number, labels: Record<string, string>): Record<string, unknown> => webApp(id, port, { instances: 0, labels })
      await apps.req('POST', '/v2/apps', idle('/lbl/off', 10401, { HAPROXY_0_ENABLED: 'false' }))
      await apps.req('POST', '/v2/apps', idle('/lbl/on', 10402, { HAPROXY_0_ENABLED: 'true' }))
      await apps.req('POST', '/v2/apps', idle('/lbl/lo2', 10403, { HAPROXY_0_BIND_ADDR: '127.0.0.2', HAPROXY_0_BIND_OPTIONS: 'backlog 64' }))
      await apps.req('POST', '/v2/apps', idle('/lbl/far', 10404, { HAPROXY_0_BIND_ADDR: '192.0.2.7' }))
      await apps.req('POST', '/v2/apps', idle('/lbl/badopts', 10405, { HAPROXY_0_BIND_OPTIONS: 'no-such-option 1' }))
      await apps.req('POST', '/v2/apps', webApp('/lbl/path-a', 10406, { instances: 1, labels: { HAPROXY_0_PATH: '/id' } }))
      await apps.req('POST', '/v2/apps', webApp('/lbl/path-b', 10407, { instances: 1, labels: { HAPROXY_0_PATH: '/id', HAPROXY_0_BACKEND_WEIGHT: '5' } }))
      for (const id of ids) await apps.waitDeployed(id)
      const b = (await apps.app('/lbl/path-b')).tasks[0].id
      const state = await waitUntil('the lb to serve and leave out the labelled apps', async () => {
        const st = await lb.state()
        const served = (st.backends as Array<{ appId: string }>).map((x) => x.appId)
        return served.includes('/lbl/path-b') && served.includes('/lbl/lo2') ? st : undefined
      })
      const served = (state.backends as Array<{ appId: string }>).map((x) => x.appId)
      expect(served).toContain('/lbl/on')
      expect(served).not.toContain('/lbl/off')
      const rejected = (state.rejected as Array<{ appId: string; reason: string }>).filter((r) => r.appId.startsWith('/lbl/'))
      expect(rejected.map((r) => r.appId).sort()).toEqual(['/lbl/badopts', '/lbl/far'])
      expect(rejected.find((r) => r.appId === '/lbl/far')!.reason).toBe("bind address '192.0.2.7' is not an address of this machine")
      // The reason is HAProxy's own.
      expect(rejected.find((r) => r.appId === '/lbl/badopts')!.reason).toBe("HAProxy refuses 'no-such-option 1': unknown keyword 'no-such-option'.")
      // Disabled: nothing listens on its service port; enabled with no instance: HAProxy does.
      expect(await accepts(10401)).toBe(false)
      expect(await accepts(10402)).toBe(true)
      // Bound to 127.0.0.2 only, with the bind options in the configuration HAProxy runs.
      expect(listening()).toContain('127.0.0.2:10403')
      expect(await accepts(10403)).toBe(false)
      const config = await (await fetch(`http://127.0.0.1:${lb.statsPort}/_lb/config`)).text()
      expect(config).toContain('  bind 127.0.0.2:10403 backlog 64\n')
      // A path without a host routes on the HTTP port, whatever the host; the heavier backend's
      // rule comes first.
      await waitUntil('the path to route', async () => (await hit(lb.httpPort, { host: 'any.example.test', path: '/id' })).body === b)
      expect(await seen(lb.httpPort, 6)).toEqual(new Set([b]))
      expect((await hit(lb.httpPort, { path: '/health' })).body).toBe('HTTP 503')
    } finally {
      for (const id of ids) await apps.req('DELETE', `/v2/apps${id}?force=true`)
    }
  })

  it('keeps a client on its instance by cookie with HAPROXY_{n}_STICKY, and HAProxy checks the instances as the app does', async () => {
    try {
      await apps.req('POST', '/v2/apps', webApp('/lbl/sticky', 10411, { instances: 2, labels: { HAPROXY_0_STICKY: 'true' } }))
      await apps.waitDeployed('/lbl/sticky')
      await waitUntil('both instances serving', async () => (await seen(10411, 8)).size === 2)
      const first = await hit(10411)
      const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0]!
      expect(cookie).toMatch(/^mesosphere_server_id=srv\d+$/)
      for (let i = 0; i < 8; i++) expect((await hit(10411, { headers: { Cookie: cookie } })).body).toBe(first.body)
      // HAProxy runs the app's HTTP health check itself, on the servers it has.
      const config = await (await fetch(`http://127.0.0.1:${lb.statsPort}/_lb/config`)).text()
      const backend = config.slice(config.indexOf('backend lbl_sticky_10411'))
      expect(backend).toContain('  option httpchk GET /health\n')
      expect(backend).toMatch(/server srv\d+ \S+ cookie srv\d+ check inter 1s fall 4\n/)
      await waitUntil('HAProxy to see both instances pass its check', async () => {
        const used = [...(await serverChecks(lb, 'lbl_sticky_10411')).values()].filter(([status]) => status !== 'MAINT')
        return used.length === 2 && used.every(([status, check]) => status === 'UP' && check === 'L7OK')
      })
      // Servers that HAProxy checks still change through the runtime API: a new instance serves
      // without a reload.
      const reloads = await lb.metric('dromos_lb_reloads_total')
      await apps.req('PUT', '/v2/apps/lbl/sticky', { instances: 3 })
      await apps.waitDeployed('/lbl/sticky')
      await waitUntil('three instances serving', async () => (await seen(10411, 12)).size === 3)
      expect(await lb.metric('dromos_lb_reloads_total')).toBe(reloads)
    } finally {
      await apps.req('DELETE', '/v2/apps/lbl/sticky?force=true')
    }
  })
})

describe('TLS and the app id port', () => {
  let tlsLb: LbProcess
  let certDir: string
  const openssl = async (cn: string): Promise<string> => {
    const key = join(certDir, `${cn}.key`)
    const crt = join(certDir, `${cn}.crt`)
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-days', '2', '-keyout', key, '-out', crt])
    const pem = join(certDir, `${cn}.pem`)
    writeFileSync(pem, readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'))
    return pem
  }
  /** The certificate's CN and the answer to GET /id, over TLS to 127.0.0.1 with this SNI name. */
  const overTls = (port: number, servername: string): Promise<{ cn: string; status: number; body: string; hsts?: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/id', servername, headers: { Host: servername }, rejectUnauthorized: false, agent: false, timeout: 5000 },
        (res) => {
          const cn = String((res.socket as TLSSocket).getPeerCertificate().subject.CN)
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => resolve({ cn, status: res.statusCode ?? 0, body: body.trim(), ...(res.headers['strict-transport-security'] ? { hsts: String(res.headers['strict-transport-security']) } : {}) }))
        },
      )
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
      req.end()
    })
  /** The certificate a TLS port presents for this SNI name. */
  const certificateCn = (port: number, servername: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const sock = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
        resolve(String(sock.getPeerCertificate().subject.CN))
        sock.destroy()
      })
      sock.on('error', reject)
    })

  beforeAll(async () => {
    certDir = join(cluster.dir, 'certs')
    mkdirSync(certDir, { recursive: true })
    const fallback = await openssl('default.example.test')
    tlsLb = await LbProcess.start(apps, ['--group', 'tls', '--ssl-certs', fallback])
  })
  afterAll(async () => {
    await tlsLb?.proc.stop()
  })

  it('serves HAPROXY_{n}_SSL_CERT by SNI on the HTTPS port and on the service port, redirects HTTP with 301, adds HSTS, and routes X-Marathon-App-Id', async () => {
    const ids = ['/tls/web', '/tls/badcert']
    try {
      const cert = await openssl('web.example.test')
      const labels = { HAPROXY_GROUP: 'tls', HAPROXY_0_VHOST: 'web.example.test', HAPROXY_0_SSL_CERT: cert, HAPROXY_0_REDIRECT_TO_HTTPS: 'true', HAPROXY_0_USE_HSTS: 'true' }
      await apps.req('POST', '/v2/apps', webApp('/tls/web', 10421, { instances: 1, labels }))
      await apps.req('POST', '/v2/apps', webApp('/tls/badcert', 10422, { instances: 0, labels: { HAPROXY_GROUP: 'tls', HAPROXY_0_SSL_CERT: join(certDir, 'missing.pem') } }))
      const task = (await apps.waitDeployed('/tls/web')).tasks[0].id
      await apps.waitDeployed('/tls/badcert')
      const https = await waitUntil('HTTPS to route by SNI', async () => {
        const r = await overTls(tlsLb.httpsPort, 'web.example.test').catch(() => undefined)
        return r?.body === task ? r : undefined
      })
      expect(https.cn).toBe('web.example.test')
      expect(https.hsts).toBe('max-age=15768000')
      // Another name gets the lb's default certificate, and no app.
      const other = await overTls(tlsLb.httpsPort, 'other.example.test')
      expect(other.cn).toBe('default.example.test')
      expect(other.status).toBe(503)
      // The service port itself speaks TLS with the app's certificate.
      expect(await certificateCn(10421, 'web.example.test')).toBe('web.example.test')
      // Plain HTTP to the virtual host is sent to HTTPS, on the HTTPS port.
      const plain = await hit(tlsLb.httpPort, { host: 'web.example.test', path: '/id?x=1' })
      expect(plain.body).toBe('HTTP 301')
      expect(plain.headers.location).toBe(`https://web.example.test:${tlsLb.httpsPort}/id?x=1`)
      // X-Marathon-App-Id picks the app's first http port, whatever the host.
      expect((await hit(tlsLb.appIdPort, { headers: { 'X-Marathon-App-Id': '/tls/web' } })).body).toBe(task)
      expect((await hit(tlsLb.appIdPort, { headers: { 'X-Marathon-App-Id': '/tls/none' } })).body).toBe('HTTP 503')
      // A certificate HAProxy cannot load leaves that route out, with HAProxy's reason.
      const rejected = (await tlsLb.state()).rejected as Array<{ appId: string; reason: string }>
      expect(rejected.map((r) => r.appId)).toEqual(['/tls/badcert'])
      expect(rejected[0]!.reason).toMatch(/^HAProxy refuses 'ssl crt .*missing\.pem': unable to stat SSL certificate from file '.*missing\.pem' : No such file or directory\.$/)
    } finally {
      for (const id of ids) await apps.req('DELETE', `/v2/apps${id}?force=true`)
    }
  })
})

describe('blue/green deployments (dromos lb zdd)', () => {
  /** Runs `dromos lb zdd` on a definition to its end; its exit status. */
  /** Starts `dromos lb zdd` on a definition. */
  const zddProc = (definition: Record<string, unknown>, name: string, extra: string[] = []): Proc => {
    const file = join(cluster.dir, `${name}.json`)
    writeFileSync(file, JSON.stringify(definition))
    const args = ['lb', 'zdd', file, '--apps', apps.url, '--lb', `http://127.0.0.1:${lb.statsPort}`, '--step-delay', '200ms', ...extra]
    return new Proc(args, join(cluster.dir, `${name}.log`))
  }
  const zdd = (definition: Record<string, unknown>, name: string, extra: string[] = []): Promise<number | null> => zddProc(definition, name, extra).exited
  const logOf = (name: string): string => readFileSync(join(cluster.dir, `${name}.log`), 'utf8')
  const labels = { HAPROXY_DEPLOYMENT_GROUP: 'zdd-web', HAPROXY_DEPLOYMENT_ALT_PORT: '10502' }
  const colourOf = (body: string): string | undefined => /-(blue|green)\./.exec(body)?.[1]
  /** Stops a request loop once only `colour` answers, both colours having answered along the way and no request failed. */
  const endsOn = async (loop: RequestLoop, colour: string): Promise<void> => {
    await waitUntil(`only ${colour} to answer`, async () => loop.results.slice(-6).every((r) => colourOf(r.body) === colour), 20_000)
    await new Promise((r) => setTimeout(r, 500))
    await loop.stop()
    expect(new Set(loop.results.map((r) => colourOf(r.body)))).toEqual(new Set(['blue', 'green']))
    expect(loop.failures()).toEqual([])
  }

  it('moves traffic to the new colour step by step, removes the old, and goes back when the new one never gets healthy, failing no request', { timeout: 240_000 }, async () => {
    try {
      expect(await zdd(webApp('/zdd/web', 10501, { instances: 2, labels }), 'zdd-blue')).toBe(0)
      await apps.waitDeployed('/zdd/web-blue')
      await waitUntil('blue to serve on the group\'s port', async () => (await seen(10501, 8)).size === 2)

      const loop = new RequestLoop(10501, { maxMs: 200_000, reloads: lbReloads })
      expect(await zdd(webApp('/zdd/web', 10501, { instances: 2, labels, env: { COLOUR: 'green' } }), 'zdd-green')).toBe(0)
      expect(await apps.app('/zdd/web-blue')).toBeFalsy()
      const green = await apps.waitDeployed('/zdd/web-green')
      expect(green.instances).toBe(2)
      expect(green.labels).toMatchObject({ HAPROXY_DEPLOYMENT_COLOUR: 'green', HAPROXY_0_PORT: '10501' })
      await waitUntil('only green to answer', async () => loop.results.slice(-6).every((r) => colourOf(r.body) === 'green'), 20_000)
      // Both colours answered on the one port along the way.
      expect(new Set(loop.results.map((r) => colourOf(r.body)))).toEqual(new Set(['blue', 'green']))
      // Each old instance went once, drained: one for the first green one, then the other after the scale-up.
      const steps = readFileSync(join(cluster.dir, 'zdd-green.log'), 'utf8').split('\n')
      expect(steps.filter((l) => l.includes('killing')).map((l) => l.replace(/^.*: /, ''))).toEqual(['killing 1 drained instance(s) of /zdd/web-blue', 'killing 1 drained instance(s) of /zdd/web-blue'])
      expect(steps.findIndex((l) => l.includes('scaling to 2 of 2'))).toBeLessThan(steps.findLastIndex((l) => l.includes('killing')))

      // A new colour that never passes its health check: reverted, green serves on.
      const sick = webApp('/zdd/web', 10501, { instances: 2, labels, cmd: 'echo $MESOS_TASK_ID > /www/id && exec httpd -f -p 8080 -h /www' })
      expect(await zdd(sick, 'zdd-sick', ['--max-wait', '15s'])).toBe(1)
      expect(readFileSync(join(cluster.dir, 'zdd-sick.log'), 'utf8')).toContain('/zdd/web-blue: the new colour did not take over within 15 s; going back to /zdd/web-green')
      expect(await apps.app('/zdd/web-blue')).toBeFalsy()
      await apps.waitDeployed('/zdd/web-green')
      await new Promise((r) => setTimeout(r, 500))
      await loop.stop()
      expect(loop.results.length).toBeGreaterThan(100)
      expect(loop.failures()).toEqual([])
      expect(loop.results.slice(-6).every((r) => colourOf(r.body) === 'green')).toBe(true)
    } finally {
      for (const id of ['/zdd/web-blue', '/zdd/web-green']) await apps.req('DELETE', `/v2/apps${id}?force=true`)
    }
  })

  it('a zdd killed mid-way is refused until picked up, and --resume finishes it, failing no request', { timeout: 240_000 }, async () => {
    const group = { HAPROXY_DEPLOYMENT_GROUP: 'zdd-resume', HAPROXY_DEPLOYMENT_ALT_PORT: '10512' }
    try {
      expect(await zdd(webApp('/zdd/resume', 10511, { instances: 2, labels: group }), 'resume-blue')).toBe(0)
      await apps.waitDeployed('/zdd/resume-blue')
      await waitUntil('blue to serve', async () => (await seen(10511, 8)).size === 2)
      const green = webApp('/zdd/resume', 10511, { instances: 2, labels: group, env: { COLOUR: 'green' } })
      // A dry run, with zdd.py's names for the endpoints, prints the definition and deploys nothing.
      const dry = new Proc(['lb', 'zdd', '-j', join(cluster.dir, 'resume-blue.json'), '-m', apps.url, '-l', `http://127.0.0.1:${lb.statsPort}`, '-d'], join(cluster.dir, 'resume-dry.log'))
      expect(await dry.exited).toBe(0)
      expect(logOf('resume-dry')).toContain('"id": "/zdd/resume-green"')
      expect(await apps.app('/zdd/resume-green')).toBeFalsy()

      // On a terminal and without --force it asks first, as zdd.py; a no deploys nothing.
      const asked = await new Promise<{ status: number | null; out: string }>((resolve) => {
        const command = [process.execPath, BIN, 'lb', 'zdd', join(cluster.dir, 'resume-blue.json'), '--apps', apps.url, '--lb', `http://127.0.0.1:${lb.statsPort}`]
        const child = spawn('script', ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
        let out = ''
        child.stdout.on('data', (d: Buffer) => {
          if (!out.includes('[Y/n]') && (out += String(d)).includes('[Y/n]')) child.stdin.write('n\n')
        })
        child.on('exit', (status) => {
          clearTimeout(timer)
          resolve({ status, out })
        })
      })
      expect(asked.out).toContain('Continue with deployment? [Y/n]')
      expect(asked.status).toBe(1)
      expect(await apps.app('/zdd/resume-green')).toBeFalsy()

      const loop = new RequestLoop(10511, { maxMs: 200_000, reloads: lbReloads })
      const first = zddProc(green, 'resume-green')
      await waitUntil('the first old instance to go', async () => logOf('resume-green').includes('killing 1 drained'), 90_000)
      await first.stop('SIGKILL')
      expect(await apps.app('/zdd/resume-blue')).toBeTruthy()
      expect(await apps.app('/zdd/resume-green')).toBeTruthy()

      expect(await zdd(green, 'resume-refused')).toBe(2)
      expect(logOf('resume-refused')).toContain('a deployment of /zdd-resume is in progress: /zdd/resume-blue and /zdd/resume-green both run; pick it up with --resume (-r)')
      expect(await zdd(green, 'resume-again', ['-r'])).toBe(0)
      expect(logOf('resume-again')).toContain('/zdd-resume: resuming the deployment from /zdd/resume-blue to /zdd/resume-green, to 2 instance(s)')
      expect(await apps.app('/zdd/resume-blue')).toBeFalsy()
      expect((await apps.waitDeployed('/zdd/resume-green')).instances).toBe(2)
      await endsOn(loop, 'green')
    } finally {
      for (const id of ['/zdd/resume-blue', '/zdd/resume-green']) await apps.req('DELETE', `/v2/apps${id}?force=true`)
    }
  })

  it('a failing pre-kill hook stops the deployment with both colours running; --complete-prev goes back, its hook seeing what is killed', { timeout: 240_000 }, async () => {
    const group = { HAPROXY_DEPLOYMENT_GROUP: 'zdd-hook', HAPROXY_DEPLOYMENT_ALT_PORT: '10522' }
    const hook = (name: string, status: number): string => {
      const path = join(cluster.dir, `${name}.sh`)
      writeFileSync(path, `#!/bin/sh\nprintf '%s' "$1" > ${path}.old\nprintf '%s' "$2" > ${path}.ids\nprintf '%s' "$3" > ${path}.new\nexit ${status}\n`)
      chmodSync(path, 0o755)
      return path
    }
    const argsOf = (path: string): { old: { id: string }; ids: string[]; new: { id: string } } => ({
      old: JSON.parse(readFileSync(`${path}.old`, 'utf8')),
      ids: JSON.parse(readFileSync(`${path}.ids`, 'utf8')),
      new: JSON.parse(readFileSync(`${path}.new`, 'utf8')),
    })
    try {
      expect(await zdd(webApp('/zdd/hook', 10521, { instances: 2, labels: group }), 'hook-blue')).toBe(0)
      const blue = await apps.waitDeployed('/zdd/hook-blue')
      await waitUntil('blue to serve', async () => (await seen(10521, 8)).size === 2)
      const loop = new RequestLoop(10521, { maxMs: 200_000, reloads: lbReloads })
      const green = webApp('/zdd/hook', 10521, { instances: 2, labels: group, env: { COLOUR: 'green' } })

      const failing = hook('hook-fails', 1)
      expect(await zdd(green, 'hook-green', ['--pre-kill-hook', failing])).toBe(2)
      expect(logOf('hook-green')).toMatch(/the pre-kill hook .*hook-fails\.sh failed \(exit status 1\) before killing .* of \/zdd\/hook-blue; both colours run on/)
      const stopped = argsOf(failing)
      expect(stopped.old.id).toBe('/zdd/hook-blue')
      expect(stopped.new.id).toBe('/zdd/hook-green')
      expect(stopped.ids).toHaveLength(1)
      expect(blue.tasks.map((t: TaskJson) => t.id)).toContain(stopped.ids[0])
      // Nothing was killed: blue keeps its two instances beside the first green one.
      expect((await apps.app('/zdd/hook-blue')).instances).toBe(2)
      const greenTasks = (await apps.waitDeployed('/zdd/hook-green')).tasks.map((t: TaskJson) => t.id)

      const passing = hook('hook-passes', 0)
      expect(await zdd(green, 'hook-back', ['--complete-prev', '--pre-kill-hook', passing])).toBe(0)
      expect(logOf('hook-back')).toContain('/zdd-hook: going back from /zdd/hook-green to /zdd/hook-blue, to 2 instance(s)')
      const back = argsOf(passing)
      expect(back.old.id).toBe('/zdd/hook-green')
      expect(back.new.id).toBe('/zdd/hook-blue')
      expect(back.ids.sort()).toEqual(greenTasks.sort())
      expect(await apps.app('/zdd/hook-green')).toBeFalsy()
      expect((await apps.waitDeployed('/zdd/hook-blue')).instances).toBe(2)
      await endsOn(loop, 'blue')
    } finally {
      for (const id of ['/zdd/hook-blue', '/zdd/hook-green']) await apps.req('DELETE', `/v2/apps${id}?force=true`)
    }
  })

  it('a hybrid deployment (-n) ends with both colours serving, the new one at its share; --complete-cur later makes the group green, failing no request', { timeout: 240_000 }, async () => {
    const group = { HAPROXY_DEPLOYMENT_GROUP: 'zdd-hybrid', HAPROXY_DEPLOYMENT_ALT_PORT: '10532' }
    try {
      expect(await zdd(webApp('/zdd/hybrid', 10531, { instances: 3, labels: group }), 'hybrid-blue')).toBe(0)
      await apps.waitDeployed('/zdd/hybrid-blue')
      await waitUntil('blue to serve', async () => (await seen(10531, 12)).size === 3)

      const loop = new RequestLoop(10531, { maxMs: 200_000, maxRequests: 100_000, reloads: lbReloads })
      const green = webApp('/zdd/hybrid', 10531, { instances: 3, labels: group, env: { COLOUR: 'green' } })
      expect(await zdd(green, 'hybrid-green', ['-n', '2'])).toBe(0)
      expect(logOf('hybrid-green')).toContain('/zdd/hybrid-green: 2 instance(s) serve beside 1 of /zdd/hybrid-blue, as a hybrid deployment; /zdd/hybrid-blue stays')
      // Blue went from 3 to 1, one drained instance at a time; green came up to its share of 2.
      const hybridGreen = await apps.waitDeployed('/zdd/hybrid-green')
      expect(hybridGreen.instances).toBe(2)
      expect(hybridGreen.labels).toMatchObject({ HAPROXY_DEPLOYMENT_NEW_INSTANCES: '2', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3' })
      expect((await apps.waitDeployed('/zdd/hybrid-blue')).instances).toBe(1)
      expect(logOf('hybrid-green').split('\n').filter((l) => l.includes('killing'))).toHaveLength(2)
      // Both colours keep serving on the one port, every instance of each.
      const both = await seen(10531, 30)
      expect(new Set([...both].map(colourOf))).toEqual(new Set(['blue', 'green']))
      expect(both.size).toBe(3)
      const hybridFailures = loop.failures()
      expect(hybridFailures).toEqual([])

      // A plain zdd is refused while the group is hybrid; --complete-cur makes it all green.
      expect(await zdd(green, 'hybrid-refused')).toBe(2)
      expect(logOf('hybrid-refused')).toContain('/zdd-hybrid runs a hybrid deployment: /zdd/hybrid-blue and /zdd/hybrid-green both serve')
      expect(await zdd(green, 'hybrid-complete', ['--complete-cur'])).toBe(0)
      expect(await apps.app('/zdd/hybrid-blue')).toBeFalsy()
      expect((await apps.waitDeployed('/zdd/hybrid-green')).instances).toBe(3)
      await endsOn(loop, 'green')
    } finally {
      for (const id of ['/zdd/hybrid-blue', '/zdd/hybrid-green']) await apps.req('DELETE', `/v2/apps${id}?force=true`)
      // The next tests count HAProxy processes: leave with the group's frontend gone.
      await waitUntil('the lb to stop serving the group', async () => !((await lb.state()).backends ?? []).some((b: { appId: string }) => b.appId === '/zdd-hybrid'), 30_000)
    }
  })
})

describe('resynchronisation', () => {
  it('an lb killed with SIGKILL leaves HAProxy serving, and the restarted lb takes that HAProxy over', async () => {
    await apps.waitDeployed('/lb/scale')
    const workDir = join(apps.cluster.dir, `lb-${lb.statsPort}`)
    const haproxies = (): number[] => processesWhere((p) => p.argv().includes(join(workDir, 'haproxy.cfg')))
    await waitUntil('old HAProxy processes to finish', async () => haproxies().length === 1)
    const [orphan] = haproxies()
    const healthy = async (): Promise<string[]> =>
      ((await apps.app('/lb/scale'))?.tasks ?? []).filter((t: TaskJson) => t.healthCheckResults[0]?.alive).map((t: TaskJson) => t.id)
    const before = await waitUntil('every instance to be healthy and serve', async () => {
      const ids = await healthy()
      return ids.length === (await taskIds('/lb/scale')).length && (await seen(10101, 12)).size === ids.length ? ids : undefined
    })
    await lb.proc.stop('SIGKILL')
    // Nobody follows the apps now, but what HAProxy had keeps being served.
    expect(await seen(10101, 12)).toEqual(new Set(before))
    const loop = new RequestLoop(10101, { maxMs: 60_000 })
    lb.proc.restart()
    await lb.waitReady()
    // The new HAProxy took the listening sockets over, with the routes, and the orphan finished.
    await waitUntil('the orphaned HAProxy to go', async () => !haproxies().includes(orphan!), 10_000)
    expect(haproxies()).toHaveLength(1)
    await new Promise((r) => setTimeout(r, 500))
    await loop.stop()
    expect(loop.results.length).toBeGreaterThan(20)
    expect(loop.failures()).toEqual([])
    // At most the pooled connections (4) to the HAProxy that finished were reset idle and sent again.
    expect(loop.retries()).toBeLessThanOrEqual(4)
    expect(new Set(loop.results.slice(-12).map((r) => r.body))).toEqual(new Set(before))
    await apps.req('PUT', '/v2/apps/lb/scale', { instances: before.length + 1 })
    await apps.waitDeployed('/lb/scale')
    const after = await healthy()
    expect(after).toHaveLength(before.length + 1)
    await waitUntil('the restarted lb to route the new instance', async () => (await seen(10101, 12)).size === after.length)
    expect(await seen(10101, 12)).toEqual(new Set(after))
  })

  it('a restarted lb, and an lb whose event stream was cut, route right afterwards', async () => {
    await apps.waitDeployed('/lb/scale')
    await lb.proc.stop()
    // Changes made while the lb is down.
    await apps.req('PUT', '/v2/apps/lb/scale', { instances: 3 })
    await apps.waitDeployed('/lb/scale')
    lb.proc.restart()
    await lb.waitReady()
    const three = await taskIds('/lb/scale')
    await waitUntil('the restarted lb to route all three', async () => (await seen(10101, 12)).size === 3)
    expect(await seen(10101, 12)).toEqual(new Set(three))

    // Cut the event stream by restarting the apps framework, and change things meanwhile.
    await apps.proc.stop()
    apps.proc.restart()
    await apps.waitReady()
    await apps.req('PUT', '/v2/apps/lb/scale', { instances: 1 })
    await apps.waitDeployed('/lb/scale')
    const one = await taskIds('/lb/scale')
    await waitUntil('the lb to follow the change after reconnecting', async () => {
      const s = await seen(10101, 6)
      return s.size === 1 && s.has(one[0]!)
    })
    expect(await lb.metric('dromos_lb_resyncs_total')).toBeGreaterThanOrEqual(2)
  })
})

describe('service discovery by name', () => {
  it('answers Mesos-DNS A and SRV records that follow scale changes', async () => {
    const [port, httpPort] = [await freePort(), await freePort()]
    const dns = new Proc(['dns', '--apps', apps.url, '--port', String(port), '--http-port', String(httpPort), '--log-level', 'debug'], join(cluster.dir, 'dns.log'))
    const resolver = new Resolver({ timeout: 1000, tries: 1 })
    resolver.setServers([`127.0.0.1:${port}`])
    const srvPorts = async (): Promise<number[]> => {
      try {
        return (await resolver.resolveSrv('_named.dns._tcp.marathon.mesos')).map((r) => r.port).sort()
      } catch {
        return []
      }
    }
    const taskPorts = async (): Promise<number[]> => ((await apps.app('/dns/named')).tasks as Array<{ ports: number[] }>).map((t) => t.ports[0]!).sort()
    try {
      expect((await apps.req('POST', '/v2/apps', { id: '/dns/named', cmd: 'sleep 600', cpus: 0.01, mem: 8, instances: 1, portDefinitions: [{ port: 0 }] })).status).toBe(201)
      for (const n of [2, 3, 1]) {
        await apps.req('PUT', '/v2/apps/dns/named?force=true', { instances: n })
        await apps.waitDeployed('/dns/named')
        const expected = await taskPorts()
        expect(expected).toHaveLength(n)
        await waitUntil(`SRV records for ${n} instances`, async () => JSON.stringify(await srvPorts()) === JSON.stringify(expected), 10_000)
      }
      expect(await resolver.resolve4('named.dns.marathon.mesos')).toEqual(['127.0.0.1'])
      expect(await resolver.resolve4('leader.mesos')).toEqual(['127.0.0.1'])
      // The same records over Mesos-DNS's HTTP interface.
      const http = async (path: string): Promise<unknown> => (await fetch(`http://127.0.0.1:${httpPort}${path}`)).json()
      const [srv] = await resolver.resolveSrv('_named.dns._tcp.marathon.mesos')
      expect(await http('/v1/services/_named.dns._tcp.marathon.mesos')).toEqual([{ service: '_named.dns._tcp.marathon.mesos', host: `${srv!.name}.`, ip: '127.0.0.1', port: String(srv!.port) }])
      expect(await http('/v1/hosts/named.dns.marathon.mesos')).toEqual([{ host: 'named.dns.marathon.mesos.', ip: '127.0.0.1' }])
      expect(await http('/v1/hosts/nothing.marathon.mesos')).toEqual([{ host: '', ip: '' }])
      await expect(resolver.resolve4('nothing.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' })
    } finally {
      await dns.stop()
      await apps.req('DELETE', '/v2/apps/dns/named?force=true')
    }
  })
})
