// Agent features seen through the Mesos v1 scheduler API, with real master and agent
// processes, real Docker and a framework that speaks only JSON: offer rescinds, Mesos-native
// health checks, the fetcher and the sandbox files API, and pulling an image from a registry.
import { execFileSync } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, TestCluster, waitUntil } from './lib/cluster.js'
import type { ReadResponse } from './lib/http.js'
import { readResponse } from './lib/http.js'
import { BUSYBOX_TAG, ensureBusyboxImage, removeImage } from './lib/images.js'
import type { Registry } from './lib/registry.js'
import { pushImage, startRegistry } from './lib/registry.js'
import { offeredPorts, ports, scalar, TestFramework } from './lib/scheduler.js'

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

/** A container's PID 1 ignores SIGTERM; do not wait the default 3 s before SIGKILL. */
const QUICK_KILL = { grace_period: { nanoseconds: 200_000_000 } }

const docker = new Dockerode()
let cluster: TestCluster
const clusters: TestCluster[] = []
const frameworks: TestFramework[] = []
const cleanups: Array<() => Promise<void>> = []

async function subscribe(c: TestCluster, opts: Partial<Parameters<typeof TestFramework.subscribe>[0]> = {}): Promise<TestFramework> {
  const f = await TestFramework.subscribe({ master: c.masterUrl, ...opts })
  frameworks.push(f)
  return f
}

async function teardown(f: TestFramework): Promise<void> {
  if (!f.closed) await f.call({ type: 'TEARDOWN' })
  f.close()
}

const getJson = async (url: string): Promise<ReadResponse> => readResponse(await fetch(url))

beforeAll(async () => {
  await ensureBusyboxImage()
  cluster = await TestCluster.start()
  clusters.push(cluster)
})

/** Containers of one framework: labels carry the framework id, unique to this run. */
const containersOf = (f: TestFramework, all = true) => docker.listContainers({ all, filters: { label: [`dromos.framework_id=${f.frameworkId}`] } })

afterAll(async () => {
  for (const f of frameworks) await teardown(f).catch(() => undefined)
  // A test that failed half-way may leave a container behind; the agents do not destroy
  // containers when they stop (they recover them on restart).
  for (const f of frameworks) {
    if (!f.frameworkId) continue
    for (const c of await containersOf(f).catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)
  }
  for (const c of cleanups.reverse()) await c().catch(() => undefined)
  for (const c of clusters) await c.stop()
})

describe('offer rescind', () => {
  it('rescinds an offer held past --offer-timeout, refuses to launch on it, and offers the agent again', async () => {
    const c = await TestCluster.start({ masterArgs: ['--offer-timeout', '500ms'] })
    clusters.push(c)
    const f = await subscribe(c, { name: 'holder' })
    const offersEvent = await f.waitOffers()
    const heldAt = Date.now()
    const held = offersEvent.offers.offers[0]
    const heldIndex = f.events.indexOf(offersEvent)

    const rescind = await f.waitFor((e) => e.type === 'RESCIND', { from: heldIndex, what: 'RESCIND', timeoutMs: 5000 })
    const after = Date.now() - heldAt
    expect(rescind.rescind.offer_id).toEqual(held.id)
    // Not before the timeout (less some allocation slack), and not long after it.
    expect(after).toBeGreaterThanOrEqual(400)
    expect(after).toBeLessThan(3000)
    const state = await c.state()
    expect(state.frameworks[0].offers.map((o: Json) => o.id)).not.toContain(held.id.value)

    // The agent comes back in a new offer; the rescinded offer is gone for good.
    const rescindIndex = f.events.indexOf(rescind)
    const again = await f.waitOffers({ from: rescindIndex + 1, timeoutMs: 5000 })
    const fresh = again.offers.offers[0]
    expect(fresh.agent_id).toEqual(held.agent_id)
    expect(fresh.id.value).not.toBe(held.id.value)

    // Launching on the rescinded offer fails the task (TASK_LOST for a framework that is not
    // partition-aware); nothing runs.
    await f.launch(held, [{ name: 'late', task_id: { value: 'late-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 16)], command: { value: 'sleep 30' } }])
    const lost = await f.waitUpdate('late-1', 'TASK_LOST', { timeoutMs: 5000 })
    expect(lost.update.status.reason).toBe('REASON_INVALID_OFFERS')
    expect(lost.update.status.source).toBe('SOURCE_MASTER')

    const metrics = (await (await fetch(`${c.masterUrl}/metrics/snapshot`)).json()) as Record<string, number>
    expect(metrics['master/offers_rescinded']).toBeGreaterThanOrEqual(1)
    expect(metrics['master/tasks_running']).toBe(0)
    await teardown(f)
  })
})

describe('Mesos-native health checks', () => {
  it('reports healthy: true for HTTP checks on a BRIDGE container (container port mapped) and on a host process (PORT0)', async () => {
    const f = await subscribe(cluster, { name: 'health-http' })
    const offer = (await f.waitOffers()).offers.offers[0]
    const [bridgePort, hostPort] = offeredPorts(offer, 2)
    const httpCheck = (port: number) => ({
      type: 'HTTP',
      http: { port, path: '/' },
      delay_seconds: 0,
      interval_seconds: 0.2,
      grace_period_seconds: 0,
      timeout_seconds: 1,
      consecutive_failures: 2,
    })
    await f.launch(offer, [
      {
        name: 'web-bridge',
        task_id: { value: 'hc-bridge' },
        resources: [scalar('cpus', 0.1), scalar('mem', 32), ports(bridgePort!)],
        command: { shell: true, value: 'exec httpd -f -p 8080 -h /www' },
        container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'BRIDGE', port_mappings: [{ host_port: bridgePort, container_port: 8080, protocol: 'tcp' }] } },
        kill_policy: QUICK_KILL,
        // Mesos semantics: the check names the port inside the container.
        health_check: httpCheck(8080),
      },
      {
        name: 'web-process',
        task_id: { value: 'hc-process' },
        resources: [scalar('cpus', 0.1), scalar('mem', 32), ports(hostPort!)],
        command: { shell: true, value: 'echo ok > index.html && exec /bin/busybox httpd -f -p 127.0.0.1:$PORT0 -h .' },
        health_check: httpCheck(hostPort!),
      },
    ])
    for (const id of ['hc-bridge', 'hc-process']) {
      const healthy = await f.waitFor((e) => e.type === 'UPDATE' && e.update.status.task_id.value === id && e.update.status.healthy === true, {
        what: `${id} healthy`,
        timeoutMs: 20_000,
      })
      expect(healthy.update.status.state).toBe('TASK_RUNNING')
      expect(healthy.update.status.reason).toBe('REASON_TASK_HEALTH_CHECK_STATUS_UPDATED')
    }
    // With grace_period_seconds 0 a first check may run before the server listens and report
    // healthy: false; two failures in a row would have killed the task. It still runs.
    await new Promise((r) => setTimeout(r, 1000))
    for (const id of ['hc-bridge', 'hc-process']) {
      const last = f.updatesOf(id).at(-1)!
      expect(last.state).toBe('TASK_RUNNING')
      expect(last.healthy).toBe(true)
    }
    const body = await (await fetch(`http://127.0.0.1:${bridgePort}/`)).text()
    expect(body).toContain('dromos test image')
    // The master keeps the health in its task statuses, where mesos-dns and UIs read it.
    await waitUntil('master state to show healthy statuses', async () => {
      const s = await cluster.state()
      const tasks = s.frameworks.find((x: Json) => x.id === f.frameworkId).tasks
      return ['hc-bridge', 'hc-process'].every((id) => tasks.find((t: Json) => t.id === id)?.statuses.some((st: Json) => st.healthy === true))
    })
    // mesos-dns takes a BRIDGE task's address from its statuses' container_status.
    const v0 = (await cluster.state()).frameworks.find((x: Json) => x.id === f.frameworkId).tasks.find((t: Json) => t.id === 'hc-bridge')
    const ips = v0.statuses.flatMap((st: Json) => st.container_status?.network_infos?.flatMap((n: Json) => n.ip_addresses.map((a: Json) => a.ip_address)) ?? [])
    expect(ips.length).toBeGreaterThan(0)
    expect(ips[0]).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    expect(ips[0]).not.toBe('127.0.0.1')
    await teardown(f)
    await waitUntil('bridge container to go', async () => (await containersOf(f)).length === 0)
  })

  it('kills a task whose COMMAND check fails: RUNNING healthy false, then TASK_KILLED healthy false', async () => {
    const f = await subscribe(cluster, { name: 'health-command' })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [
      {
        name: 'sick',
        task_id: { value: 'hc-sick' },
        resources: [scalar('cpus', 0.1), scalar('mem', 32)],
        command: { value: 'sleep 60' },
        health_check: {
          type: 'COMMAND',
          command: { value: 'exit 1' },
          delay_seconds: 0,
          interval_seconds: 0.2,
          grace_period_seconds: 0,
          timeout_seconds: 1,
          consecutive_failures: 2,
        },
      },
    ])
    const killed = await f.waitUpdate('hc-sick', 'TASK_KILLED', { timeoutMs: 20_000 })
    expect(killed.update.status.healthy).toBe(false)
    const states = f.updatesOf('hc-sick').map((s) => `${s.state}${s.healthy === undefined ? '' : s.healthy ? '+' : '-'}`)
    // Duplicates are re-deliveries of an update that was not acknowledged yet.
    expect([...new Set(states)]).toEqual(['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING-', 'TASK_KILLED-'])
    const unhealthy = f.updatesOf('hc-sick').find((s) => s.healthy === false && s.state === 'TASK_RUNNING')!
    expect(unhealthy.reason).toBe('REASON_TASK_HEALTH_CHECK_STATUS_UPDATED')
    expect(unhealthy.message).toMatch(/exit/)
    await teardown(f)
  })
})

describe('COMMAND health checks of Docker tasks', () => {
  it('runs them inside the task\'s container (docker exec), with their timeout', async () => {
    const f = await subscribe(cluster, { name: 'health-docker-command' })
    const offer = (await f.waitOffers()).offers.offers[0]
    const check = (value: string, timeout = 2) => ({
      type: 'COMMAND',
      command: { value },
      delay_seconds: 0,
      interval_seconds: 0.2,
      grace_period_seconds: 0,
      timeout_seconds: timeout,
      consecutive_failures: 2,
    })
    const dockerTask = (id: string, hc: Json) => ({
      name: id,
      task_id: { value: id },
      resources: [scalar('cpus', 0.1), scalar('mem', 32)],
      command: { shell: true, value: 'exec sleep 600' },
      container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'NONE' } },
      kill_policy: QUICK_KILL,
      health_check: hc,
    })
    try {
      await f.launch(offer, [
        // /www/index.html exists in the image, not on the host.
        dockerTask('hc-docker-ok', check('test -f /www/index.html')),
        dockerTask('hc-docker-missing', check('test -f /no/such/file')),
        dockerTask('hc-docker-slow', check('sleep 30', 1)),
      ])
      const healthy = await f.waitFor((e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'hc-docker-ok' && e.update.status.healthy === true, {
        what: 'hc-docker-ok healthy',
        timeoutMs: 20_000,
      })
      expect(healthy.update.status.state).toBe('TASK_RUNNING')
      expect(healthy.update.status.reason).toBe('REASON_TASK_HEALTH_CHECK_STATUS_UPDATED')
      // The checks that fail, by exit status or by timeout, get their task killed.
      for (const id of ['hc-docker-missing', 'hc-docker-slow']) {
        const killed = await f.waitUpdate(id, 'TASK_KILLED', { timeoutMs: 30_000 })
        expect(killed.update.status.healthy).toBe(false)
      }
      const slow = f.updatesOf('hc-docker-slow').find((s) => s.healthy === false && s.state === 'TASK_RUNNING')!
      expect(slow.message).toMatch(/timed out/)
      // A timed-out check does not take the container down with it, and the healthy task runs on.
      const last = f.updatesOf('hc-docker-ok').at(-1)!
      expect(last.state).toBe('TASK_RUNNING')
      expect(last.healthy).toBe(true)
    } finally {
      // A failure must not leave the framework holding the shared agent's offers.
      await teardown(f)
    }
    await waitUntil('containers to go', async () => (await containersOf(f)).length === 0)
  })
})

describe('agent state', () => {
  it('keeps completed tasks in /state after their terminal update is acknowledged, and links runs/latest to the current run', async () => {
    const agent = cluster.agents[0]!
    const f = await subscribe(cluster, { name: 'completed' })
    let offer = (await f.waitOffers()).offers.offers[0]
    let from = f.events.length
    try {
      await f.launch(offer, [{ name: 'done', task_id: { value: 'done-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'echo done' } }], { refuse_seconds: 0 })
      await f.waitUpdate('done-1', 'TASK_FINISHED')

      type View = { live: Json[]; completed: Json[] }
      const view = async (): Promise<View> => {
        const s = (await getJson(`${agent.url}/state`)).json
        const all = [...s.frameworks, ...s.completed_frameworks].filter((x: Json) => x.id === f.frameworkId)
        return { live: all.flatMap((x: Json) => x.executors ?? []), completed: all.flatMap((x: Json) => x.completed_executors ?? []) }
      }
      // Once the FINISHED is acknowledged, the executor moves to completed_executors, as in Mesos.
      const v = await waitUntil('done-1 among the completed executors', async () => {
        const w = await view()
        return w.completed.some((e: Json) => e.id === 'done-1') && !w.live.some((e: Json) => e.id === 'done-1') ? w : undefined
      }, 10_000)
      const executor = v.completed.find((e: Json) => e.id === 'done-1')
      expect(executor.tasks).toEqual([])
      expect(executor.completed_tasks.map((t: Json) => [t.id, t.state])).toEqual([['done-1', 'TASK_FINISHED']])
      expect(executor.completed_tasks[0].framework_id).toBe(f.frameworkId)
      const firstRun: string = executor.directory
      expect(firstRun).toContain('/executors/done-1/runs/')
      const latest = join(firstRun, '..', 'latest')
      expect(lstatSync(latest).isSymbolicLink()).toBe(true)
      expect(realpathSync(latest)).toBe(realpathSync(firstRun))
      expect(readFileSync(join(latest, 'stdout'), 'utf8')).toContain('done')

      // The same task id again: a new run, and runs/latest follows it.
      offer = (await f.waitOffers({ from })).offers.offers[0]
      from = f.events.length
      await f.launch(offer, [{ name: 'done', task_id: { value: 'done-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } }])
      await f.waitUpdate('done-1', 'TASK_RUNNING', { from })
      const live = (await view()).live.find((e: Json) => e.id === 'done-1')
      expect(live.directory).not.toBe(firstRun)
      expect(realpathSync(latest)).toBe(realpathSync(live.directory))
    } finally {
      await teardown(f)
    }
  })
})

describe('fetcher and sandbox files', () => {
  let server: Server
  let served = 0
  let archive: Buffer

  beforeAll(async () => {
    // A bundle with a script, a data file, and a symlink that points out of the sandbox.
    const dir = mkdtempSync(join(tmpdir(), 'dromos-bundle-'))
    mkdirSync(join(dir, 'app'))
    writeFileSync(join(dir, 'app', 'run.sh'), '#!/bin/sh\necho "fetched script says: $(cat app/data.txt)"\necho "to stderr" >&2\n')
    chmodSync(join(dir, 'app', 'run.sh'), 0o755)
    writeFileSync(join(dir, 'app', 'data.txt'), 'hello-from-archive')
    symlinkSync('/etc/hostname', join(dir, 'app', 'escape'))
    execFileSync('tar', ['-C', dir, '-czf', join(dir, 'bundle.tar.gz'), 'app'])
    archive = readFileSync(join(dir, 'bundle.tar.gz'))
    rmSync(dir, { recursive: true, force: true })
    server = createServer((req, res) => {
      if (req.url === '/bundle.tar.gz') {
        served++
        res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Length': archive.length })
        res.end(archive)
      } else {
        res.writeHead(404)
        res.end()
      }
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise((r) => server.close(() => r())))
  })

  it('fetches and extracts a .tar.gz, runs a script from it, and serves its sandbox through the agent and master files APIs', async () => {
    const port = (server.address() as { port: number }).port
    // Acknowledge by hand, all but the terminal update, so the agent keeps the finished task in its state.
    const f = await subscribe(cluster, { name: 'fetcher', autoAck: false })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [
      {
        name: 'fetched',
        task_id: { value: 'fetch-1' },
        resources: [scalar('cpus', 0.1), scalar('mem', 32)],
        command: { value: './app/run.sh', uris: [{ value: `http://127.0.0.1:${port}/bundle.tar.gz`, extract: true }] },
      },
    ])
    for (const state of ['TASK_STARTING', 'TASK_RUNNING']) {
      const u = await f.waitUpdate('fetch-1', (s) => s === state || s === 'TASK_FINISHED' || s === 'TASK_FAILED')
      if (u.update.status.state !== state) break
      await f.acknowledge(u.update.status)
    }
    const finished = await f.waitUpdate('fetch-1', (s) => s === 'TASK_FINISHED' || s === 'TASK_FAILED')
    expect(finished.update.status.state, finished.update.status.message).toBe('TASK_FINISHED')
    expect(served).toBe(1)

    const agent = cluster.agents[0]!
    const agentState = (await getJson(`${agent.url}/state`)).json
    const executor = agentState.frameworks.find((x: Json) => x.id === f.frameworkId).executors.find((e: Json) => e.id === 'fetch-1')
    const sandbox: string = executor.directory
    expect(sandbox.startsWith(agent.workDir)).toBe(true)
    expect(sandbox).toContain(`/slaves/${agentState.id}/frameworks/${f.frameworkId}/executors/fetch-1/runs/`)
    expect(executor.completed_tasks.map((t: Json) => t.state)).toEqual(['TASK_FINISHED'])

    const expected = 'fetched script says: hello-from-archive\n'
    const q = (path: string, extra = '') => `path=${encodeURIComponent(path)}${extra}`

    // read: the agent, and the master proxying to the agent that holds the sandbox.
    for (const base of [agent.url, cluster.masterUrl]) {
      const read = await getJson(`${base}/files/read?${q(`${sandbox}/stdout`, '&offset=0')}`)
      expect(read.status, read.text).toBe(200)
      expect(read.json).toEqual({ data: expected, offset: 0 })
      // As Mesos: -1, or no offset at all, answers the size; so does a read at or past the end.
      const bytes = Buffer.byteLength(expected)
      for (const extra of ['&offset=-1', '', `&offset=${bytes}`, `&offset=${bytes + 100}&length=10`]) {
        const size = await getJson(`${base}/files/read?${q(`${sandbox}/stdout`, extra)}`)
        expect({ extra, json: size.json }).toEqual({ extra, json: { data: '', offset: bytes } })
      }
      const part = await getJson(`${base}/files/read?${q(`${sandbox}/stdout`, '&offset=8&length=6')}`)
      expect(part.json).toEqual({ data: expected.slice(8, 14), offset: 8 })
      const err = await getJson(`${base}/files/read?${q(`${sandbox}/stderr`, '&offset=0')}`)
      expect(err.json.data).toContain('to stderr')
    }

    // browse lists the sandbox: the archive, what it unpacked, and the task's output.
    for (const base of [agent.url, cluster.masterUrl]) {
      const browse = await getJson(`${base}/files/browse?${q(sandbox)}`)
      expect(browse.status, browse.text).toBe(200)
      const byName = new Map<string, Json>(browse.json.map((e: Json) => [e.path.slice(sandbox.length + 1), e]))
      expect([...byName.keys()]).toEqual(expect.arrayContaining(['app', 'bundle.tar.gz', 'stdout', 'stderr']))
      expect(byName.get('stdout').size).toBe(Buffer.byteLength(expected))
      expect(byName.get('bundle.tar.gz').size).toBe(archive.length)
      expect(byName.get('app').mode).toMatch(/^d/)
      expect(byName.get('stdout').mode).toMatch(/^-rw/)
      const app = await getJson(`${base}/files/browse?${q(`${sandbox}/app`)}`)
      const runSh = app.json.find((e: Json) => e.path === `${sandbox}/app/run.sh`)
      expect(runSh.mode).toBe('-rwxr-xr-x')
    }

    // download returns the bytes.
    for (const base of [agent.url, cluster.masterUrl]) {
      const r = await fetch(`${base}/files/download?${q(`${sandbox}/bundle.tar.gz`)}`)
      expect(r.status).toBe(200)
      expect(r.headers.get('content-disposition')).toContain('bundle.tar.gz')
      expect(Buffer.from(await r.arrayBuffer()).equals(archive)).toBe(true)
    }

    // Nothing outside the agent's work directory is served: not directly, not through '..',
    // not through a symlink the task planted in its sandbox.
    // The agent's checkpoint sits in its work directory but outside every sandbox: it holds the
    // TaskInfos, environment variables included, of every task.
    const outside = [
      '/etc/hostname',
      `${sandbox}/../../../../../../../../../../etc/hostname`,
      `${sandbox}/app/escape`,
      `${agent.workDir}/../master.log`,
      `${agent.workDir}/checkpoint.db`,
      agent.workDir,
    ]
    for (const path of outside) {
      for (const op of ['read', 'browse', 'download']) {
        const r = await getJson(`${agent.url}/files/${op}?${q(path)}`)
        expect(r.status, `${op} ${path}`).toBe(404)
      }
      const viaMaster = await getJson(`${cluster.masterUrl}/files/read?${q(path)}`)
      expect(viaMaster.status, `master read ${path}`).toBe(404)
    }
    const missing = await getJson(`${agent.url}/files/read?${q(`${sandbox}/no-such-file`)}`)
    expect(missing.status).toBe(404)
    const badOffset = await getJson(`${agent.url}/files/read?${q(`${sandbox}/stdout`, '&offset=-5')}`)
    expect(badOffset.status).toBe(400)

    // A path under /slaves/ of an agent the master does not know is a 404 from the master.
    const unknownAgent = await getJson(`${cluster.masterUrl}/files/read?${q(sandbox.replace(`/slaves/${agentState.id}/`, '/slaves/no-such-agent/') + '/stdout')}`)
    expect(unknownAgent.status).toBe(404)

    // Once the terminal update is acknowledged the sandbox stays readable, as Mesos keeps
    // sandboxes until they are garbage-collected.
    await f.acknowledge(finished.update.status)
    await new Promise((r) => setTimeout(r, 200))
    expect((await getJson(`${cluster.masterUrl}/files/read?${q(`${sandbox}/stdout`, '&offset=0')}`)).json).toEqual({ data: expected, offset: 0 })
    await teardown(f)
  })

  it('fails the task, naming the URI, when a fetch fails', async () => {
    const port = (server.address() as { port: number }).port
    const f = await subscribe(cluster, { name: 'fetch-fail' })
    const offer = (await f.waitOffers()).offers.offers[0]
    const uri = `http://127.0.0.1:${port}/missing.tar.gz`
    await f.launch(offer, [{ name: 'nofetch', task_id: { value: 'fetch-404' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'true', uris: [{ value: uri, extract: true }] } }])
    const failed = await f.waitUpdate('fetch-404', 'TASK_FAILED')
    expect(failed.update.status.message).toContain(uri)
    expect(failed.update.status.message).toContain('404')
    expect(failed.update.status.reason).toBe('REASON_CONTAINER_LAUNCH_FAILED')
    await teardown(f)
  })
})

describe('image pull through the scheduler API', () => {
  let registry: Registry
  let image = ''

  beforeAll(async () => {
    registry = await startRegistry({ port: await freePort() })
    cleanups.push(() => registry.stop())
    image = `${registry.url}/dromos-test/pulled:1`
    cleanups.push(() => removeImage(image))
    await pushImage(BUSYBOX_TAG, image)
    // Only the registry has it now: untag the local copy (the busybox tag keeps the layers).
    await removeImage(image)
  })

  it('pulls a missing image from a loopback registry and runs the task', async () => {
    await expect(docker.getImage(image).inspect()).rejects.toMatchObject({ statusCode: 404 })
    const f = await subscribe(cluster, { name: 'puller' })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [
      {
        name: 'pulled',
        task_id: { value: 'pulled-1' },
        resources: [scalar('cpus', 0.1), scalar('mem', 32)],
        command: { shell: true, value: 'echo started from pulled image && exec sleep 60' },
        container: { type: 'DOCKER', docker: { image, network: 'NONE' } },
        kill_policy: QUICK_KILL,
      },
    ])
    const running = await f.waitUpdate('pulled-1', 'TASK_RUNNING', { timeoutMs: 60_000 })
    expect(running.update.status.container_status.container_id.value).toBeTruthy()
    const local = await docker.getImage(image).inspect()
    expect(local.RepoTags).toContain(image)
    const containers = await containersOf(f, false)
    expect(containers).toHaveLength(1)
    expect(containers[0]!.Image).toBe(image)

    // The killed task's resources are offered again as soon as it ends: look from before the kill.
    const beforeKill = f.events.length
    await f.mustCall({ type: 'KILL', kill: { task_id: { value: 'pulled-1' }, agent_id: offer.agent_id } })
    await f.waitUpdate('pulled-1', 'TASK_KILLED')

    // With the registry gone, the image now on the agent still runs as is, and only a forced
    // pull fails, with a message that names the image.
    await registry.stop()
    const next = (await f.waitOffers({ from: beforeKill })).offers.offers[0]
    const task = (id: string, forcePull: boolean) => ({
      name: id,
      task_id: { value: id },
      resources: [scalar('cpus', 0.1), scalar('mem', 32)],
      command: { shell: true, value: 'exec sleep 60' },
      container: { type: 'DOCKER', docker: { image, network: 'NONE', force_pull_image: forcePull } },
      kill_policy: QUICK_KILL,
    })
    await f.launch(next, [task('pulled-2', false), task('forced-1', true)])
    await f.waitUpdate('pulled-2', 'TASK_RUNNING', { timeoutMs: 30_000 })
    const forced = await f.waitUpdate('forced-1', 'TASK_FAILED', { timeoutMs: 60_000 })
    expect(forced.update.status.message).toContain(image)
    expect(forced.update.status.reason).toBe('REASON_CONTAINER_LAUNCH_FAILED')

    await teardown(f)
    await waitUntil('containers to go', async () => (await containersOf(f)).length === 0)
  })
})
