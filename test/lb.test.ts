// dromos lb end to end: real HAProxy driven by the event stream of a real `dromos apps`,
// with real Docker tasks behind it. Requests go only to 127.0.0.1.
import { execFile } from 'node:child_process'
import { Resolver } from 'node:dns/promises'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess, EventStream } from './lib/apps.js'
import type { TaskJson } from './lib/apps.js'
import { freePort, Proc, TestCluster, waitUntil } from './lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from './lib/images.js'
import { hit, killHaproxiesUnder, LbProcess, RequestLoop } from './lib/lb.js'

const run = promisify(execFile)
let cluster: TestCluster
let apps: AppsProcess
let lb: LbProcess

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

    const loop = new RequestLoop(10101, { maxMs: 90_000 })
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

describe('resynchronisation', () => {
  it('an lb killed with SIGKILL leaves HAProxy serving, and the restarted lb takes that HAProxy over', async () => {
    await apps.waitDeployed('/lb/scale')
    const workDir = join(apps.cluster.dir, `lb-${lb.statsPort}`)
    const haproxies = (): number[] =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(join(workDir, 'haproxy.cfg'))
          } catch {
            return false
          }
        })
        .map(Number)
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
    const port = await freePort()
    const dns = new Proc(['dns', '--apps', apps.url, '--port', String(port), '--log-level', 'debug'], join(cluster.dir, 'dns.log'))
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
      await expect(resolver.resolve4('nothing.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' })
    } finally {
      await dns.stop()
      await apps.req('DELETE', '/v2/apps/dns/named?force=true')
    }
  })
})
