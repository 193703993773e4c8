// What `dromos apps` does to running instances, seen from the tasks themselves and from the
// master: environment, fetch, fixed ports, health and readiness checks, kill selection and
// grace, unreachable agents, and a restart of `dromos apps` in the middle of a rolling restart.
// Real master, two real agents (whose processes the partition test stops with SIGSTOP), a real
// `dromos apps` process.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess, EventStream } from './lib/apps.js'
import type { TaskJson } from './lib/apps.js'
import { TestCluster, waitUntil } from './lib/cluster.js'

let cluster: TestCluster
let apps: AppsProcess
const agentIds: string[] = []


const HOSTS = ['agent-a', 'agent-b'] as const

beforeAll(async () => {
  cluster = await TestCluster.start({
    masterArgs: ['--agent-ping-timeout', '300ms', '--max-agent-ping-timeouts', '3'],
    agents: [
      { hostname: HOSTS[0], attributes: 'rack:r1', resources: 'cpus:4;mem:2048;disk:1000;ports:[31400-31499]' },
      { hostname: HOSTS[1], attributes: 'rack:r2', resources: 'cpus:4;mem:2048;disk:1000;ports:[31500-31599]' },
    ],
  })
  for (const a of cluster.agents) agentIds.push(((await (await fetch(`${a.url}/state`)).json()) as { id: string }).id)
  apps = await AppsProcess.start(cluster)
})

afterAll(async () => {
  for (const a of cluster?.agents ?? []) a.proc.signal('SIGCONT')
  if (apps) {
    const list = await apps.req('GET', '/v2/apps').catch(() => undefined)
    for (const a of list?.body.apps ?? []) await apps.req('DELETE', `/v2/apps${a.id}?force=true`)
    await waitUntil('apps to stop their tasks', async () => (await apps.req('GET', '/v2/tasks')).body.tasks.length === 0, 30_000).catch(() => undefined)
    await apps.proc.stop()
  }
  await cluster?.stop()
})

/** The agent a task runs on (by its slaveId). */
function agentOf(t: TaskJson): (typeof cluster.agents)[number] {
  const i = agentIds.indexOf(t.slaveId)
  if (i < 0) throw new Error(`no agent ${t.slaveId}`)
  return cluster.agents[i]!
}

/** Reads a file from a task's sandbox through the agent's /state and /files/read, as a user would. */
async function sandboxFile(t: TaskJson, name: string): Promise<string | undefined> {
  const agent = agentOf(t)
  type Executor = { directory: string; tasks?: Array<{ id: string }>; completed_tasks?: Array<{ id: string }> }
  type Framework = { executors?: Executor[]; completed_executors?: Executor[] }
  const state = (await (await fetch(`${agent.url}/state`)).json()) as { frameworks?: Framework[]; completed_frameworks?: Framework[] }
  // A task that ended may sit among completed executors, or completed frameworks, as on Mesos.
  const executor = [...(state.frameworks ?? []), ...(state.completed_frameworks ?? [])]
    .flatMap((f) => [...(f.executors ?? []), ...(f.completed_executors ?? [])])
    .find((e) => [...(e.tasks ?? []), ...(e.completed_tasks ?? [])].some((x) => x.id === t.id))
  if (!executor) return undefined
  const r = await fetch(`${agent.url}/files/read?path=${encodeURIComponent(join(executor.directory, name))}&offset=0`)
  if (!r.ok) return undefined
  return ((await r.json()) as { data: string }).data
}

async function removeApp(id: string): Promise<void> {
  await apps.req('DELETE', `/v2/apps${id}?force=true`)
  await waitUntil(`${id} to stop`, async () => !(await apps.req('GET', '/v2/tasks')).body.tasks.some((t: TaskJson) => t.appId === id), 30_000)
}

/** The app's tasks the master sees in state TASK_RUNNING. */
async function masterRunning(appId: string): Promise<string[]> {
  const s = await cluster.state()
  const fw = s.frameworks.find((f: { name: string }) => f.name === 'marathon')
  const prefix = appId.slice(1).replace(/\//g, '_') + '.'
  return (fw?.tasks ?? []).filter((t: { id: string; state: string }) => t.id.startsWith(prefix) && t.state === 'TASK_RUNNING').map((t: { id: string }) => t.id)
}

describe('what a task is given', () => {
  it('gets the Marathon environment: ports by index and name, HOST, MARATHON_APP_*, MESOS_TASK_ID', async () => {
    const created = await apps.req('POST', '/v2/apps', {
      id: '/life/env',
      cmd: 'env > "$MESOS_SANDBOX/env.txt"; sleep 600',
      cpus: 0.05,
      mem: 16,
      portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }],
      labels: { X: 'y', 'team.name': 'core' },
      env: { OWN: 'value' },
    })
    expect(created.status).toBe(201)
    const app = await apps.waitDeployed('/life/env')
    const t: TaskJson = app.tasks[0]
    const text = await waitUntil('env.txt', async () => sandboxFile(t, 'env.txt'))
    const env = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    )
    expect(t.ports).toHaveLength(2)
    const [p0, p1] = t.ports as [number, number]
    expect(env.PORT0).toBe(String(p0))
    expect(env.PORT1).toBe(String(p1))
    expect(env.PORT).toBe(String(p0))
    expect(env.PORTS).toBe(`${p0},${p1}`)
    expect(env.PORT_HTTP).toBe(String(p0))
    // PORT_<service port> names the port by the port it was declared with.
    expect(app.portDefinitions[0].port).toBeGreaterThanOrEqual(10000)
    expect(env[`PORT_${app.portDefinitions[0].port}`]).toBe(String(p0))
    expect(env.HOST).toBe(t.host)
    expect(env.MARATHON_APP_ID).toBe('/life/env')
    expect(env.MARATHON_APP_VERSION).toBe(app.version)
    expect(env.MARATHON_APP_LABEL_X).toBe('y')
    expect(env.MARATHON_APP_LABEL_TEAM_NAME).toBe('core')
    expect(env.MARATHON_APP_LABELS!.split(' ').sort()).toEqual(['TEAM_NAME', 'X'])
    expect(env.MARATHON_APP_RESOURCE_CPUS).toBe('0.05')
    expect(env.MARATHON_APP_RESOURCE_MEM).toBe('16.0')
    expect(env.MESOS_TASK_ID).toBe(t.id)
    expect(env.OWN).toBe('value')
    await removeApp('/life/env')
  })

  it('fetches URIs into the sandbox: executable, and archives extracted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dromos-fetch-'))
    mkdirSync(join(dir, 'pkg'))
    writeFileSync(join(dir, 'pkg', 'inner.txt'), 'from-the-archive\n')
    execFileSync('tar', ['-C', join(dir, 'pkg'), '-czf', join(dir, 'bundle.tar.gz'), 'inner.txt'])
    const served: string[] = []
    const server: Server = createServer((req, res) => {
      served.push(req.url ?? '')
      if (req.url === '/hello.sh') res.end('#!/bin/sh\necho fetched-and-ran\n')
      else if (req.url === '/bundle.tar.gz') res.end(readFileSync(join(dir, 'bundle.tar.gz')))
      else {
        res.statusCode = 404
        res.end()
      }
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    try {
      await apps.req('POST', '/v2/apps', {
        id: '/life/fetch',
        cmd: './hello.sh > out.txt; cat inner.txt >> out.txt; sleep 600',
        cpus: 0.05,
        mem: 16,
        portDefinitions: [],
        fetch: [{ uri: `http://127.0.0.1:${port}/hello.sh`, executable: true }, { uri: `http://127.0.0.1:${port}/bundle.tar.gz` }],
      })
      const app = await apps.waitDeployed('/life/fetch')
      expect(app.fetch[1].extract).toBe(true)
      const out = await waitUntil('out.txt', async () => {
        const text = await sandboxFile(app.tasks[0], 'out.txt')
        return text?.includes('from-the-archive') ? text : undefined
      })
      expect(out).toBe('fetched-and-ran\nfrom-the-archive\n')
      expect(served.sort()).toEqual(['/bundle.tar.gz', '/hello.sh'])
      await removeApp('/life/fetch')
    } finally {
      server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('requirePorts takes the declared port as the host port; an instance with nowhere to go waits', async () => {
    await apps.req('POST', '/v2/apps', {
      id: '/life/fixed',
      cmd: 'echo "$PORT0" > port.txt; sleep 600',
      cpus: 0.05,
      mem: 16,
      instances: 2,
      requirePorts: true,
      // Only agent-a offers 31455, and only once.
      portDefinitions: [{ port: 31455, name: 'fixed' }],
    })
    const t: TaskJson = await waitUntil('the one instance that fits', async () => {
      const a = await apps.app('/life/fixed')
      return a.tasksRunning === 1 ? a.tasks[0] : undefined
    })
    expect(t.host).toBe('agent-a')
    expect(t.ports).toEqual([31455])
    expect(t.servicePorts).toEqual([31455])
    expect((await waitUntil('port.txt', async () => sandboxFile(t, 'port.txt')))?.trim()).toBe('31455')
    const q = await waitUntil('the second instance in the queue', async () => {
      const r = await apps.req('GET', '/v2/queue')
      return r.body.queue.find((e: { app: { id: string } }) => e.app.id === '/life/fixed')
    })
    expect(q.count).toBe(1)
    expect((await apps.app('/life/fixed')).tasks).toHaveLength(1)
    await removeApp('/life/fixed')
  })
})

describe('checks', () => {
  it('MESOS_HTTP and COMMAND health checks, run by the agent, make instances healthy (or not)', async () => {
    const timing = { gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0, maxConsecutiveFailures: 100 }
    await apps.req('POST', '/v2/apps', {
      id: '/life/mesos-http',
      cmd: 'mkdir -p www && echo ok > www/health && exec busybox httpd -f -p "$PORT0" -h www',
      cpus: 0.05,
      mem: 16,
      portDefinitions: [{ port: 0, name: 'http' }],
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/health', portIndex: 0, ...timing }],
    })
    await apps.req('POST', '/v2/apps', {
      id: '/life/command',
      cmd: 'touch alive; sleep 600',
      cpus: 0.05,
      mem: 16,
      portDefinitions: [],
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'test -f alive' }, ...timing }],
    })
    await apps.req('POST', '/v2/apps', {
      id: '/life/command-sick',
      cmd: 'sleep 600',
      cpus: 0.05,
      mem: 16,
      portDefinitions: [],
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'test -f never-there' }, ...timing }],
    })
    const http = await waitUntil('MESOS_HTTP healthy', async () => {
      const a = await apps.app('/life/mesos-http')
      return a.tasksHealthy === 1 ? a : undefined
    })
    expect(http.tasksUnhealthy).toBe(0)
    expect(http.tasks[0].healthCheckResults[0].alive).toBe(true)
    // Healthy instances finish the deployment.
    expect((await apps.waitDeployed('/life/mesos-http', 10_000)).tasksHealthy).toBe(1)
    const cmd = await waitUntil('COMMAND healthy', async () => {
      const a = await apps.app('/life/command')
      return a.tasksHealthy === 1 ? a : undefined
    })
    expect(cmd.tasks[0].healthCheckResults[0].alive).toBe(true)
    const sick = await waitUntil('COMMAND unhealthy', async () => {
      const a = await apps.app('/life/command-sick')
      return a.tasksUnhealthy === 1 ? a : undefined
    })
    expect(sick.tasksHealthy).toBe(0)
    expect(sick.tasksRunning).toBe(1)
    // An unhealthy instance keeps its deployment open.
    expect(sick.deployments).toHaveLength(1)
    for (const id of ['/life/mesos-http', '/life/command', '/life/command-sick']) await removeApp(id)
  })

  it('a readiness check gates a restart: the old instance is killed only once the new one is ready', async () => {
    // /ready appears 3 s after the start; httpd serves from the first moment.
    const cmd = 'mkdir -p www && echo ok > www/index.html; (sleep 3; echo ok > www/ready) & exec busybox httpd -f -p "$PORT0" -h www'
    const def = {
      id: '/life/ready',
      cmd,
      cpus: 0.05,
      mem: 16,
      portDefinitions: [{ port: 0, name: 'http' }],
      readinessChecks: [{ name: 'ready', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 2, timeoutSeconds: 1, httpStatusCodesForReady: [200], preserveLastResponse: true }],
    }
    const created = await apps.req('POST', '/v2/apps', def)
    expect(created.status).toBe(201)
    const start = Date.now()
    const first = await apps.waitDeployed('/life/ready', 30_000)
    // The first deployment too waited for readiness.
    expect(Date.now() - start).toBeGreaterThanOrEqual(2500)
    const old: TaskJson = first.tasks[0]

    const events = new EventStream(apps.url, ['status_update_event', 'deployment_success'])
    await waitUntil('the stream to attach', async () => (await apps.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value >= 1)
    const restart = await apps.req('POST', '/v2/apps/life/ready/restart')
    expect(restart.status).toBe(200)
    // Sample while the deployment runs: the old instance stays running until the very end.
    const samples: Array<{ old: boolean; total: number }> = []
    const readiness: Array<{ taskId: string; ready: boolean; name: string; lastResponse?: { status: number } }> = []
    const actions: Array<{ readinessCheckResults: unknown[] }> = []
    await waitUntil(
      'the restart to finish',
      async () => {
        const a = (await apps.req('GET', '/v2/apps/life/ready?embed=app.readiness')).body.app
        const oldRunning = a.tasks.some((t: TaskJson) => t.id === old.id && t.state === 'TASK_RUNNING')
        samples.push({ old: oldRunning, total: a.tasks.length })
        readiness.push(...a.readinessCheckResults)
        const d = (await apps.req('GET', '/v2/deployments')).body.find((x: { id: string }) => x.id === restart.body.deploymentId)
        if (d) actions.push(...d.currentActions)
        return a.deployments.length === 0
      },
      30_000,
      100,
    )
    await events.waitFor((e) => e.eventType === 'deployment_success' && e.id === restart.body.deploymentId, 'deployment_success')
    await events.waitFor((e) => e.taskId === old.id && e.taskStatus === 'TASK_KILLED', 'the old task killed')
    await events.close()
    const newRunning = events.events.find((e) => e.appId === '/life/ready' && e.taskId !== old.id && e.taskStatus === 'TASK_RUNNING')
    const oldKill = events.events.find((e) => e.taskId === old.id && (e.taskStatus === 'TASK_KILLING' || e.taskStatus === 'TASK_KILLED'))
    expect(newRunning).toBeDefined()
    expect(oldKill).toBeDefined()
    // /ready appears 3 s after the start; the old one is killed no sooner.
    expect(Date.parse(oldKill!.timestamp) - Date.parse(newRunning!.timestamp)).toBeGreaterThanOrEqual(2500)
    // Samples taken while the new instance was running but not ready saw the old one still running.
    expect(samples.filter((s) => s.old && s.total === 2).length).toBeGreaterThan(10)
    const after = await apps.app('/life/ready')
    expect(after.tasks).toHaveLength(1)
    expect(after.tasks[0].id).not.toBe(old.id)
    // While it waited, the app and the deployment reported the new task's readiness, with the
    // response it got (preserveLastResponse): not ready on 404, then ready on 200.
    const fresh = readiness.filter((r) => r.taskId === after.tasks[0].id)
    expect(fresh.some((r) => r.name === 'ready' && !r.ready && r.lastResponse?.status === 404)).toBe(true)
    expect(fresh.some((r) => r.ready && r.lastResponse?.status === 200)).toBe(true)
    expect(actions.some((a) => a.readinessCheckResults.length > 0)).toBe(true)
    expect((await apps.req('GET', '/v2/apps/life/ready?embed=app.readiness')).body.app.readinessCheckResults).toEqual([])
    await removeApp('/life/ready')
  })
})

describe('kills', () => {
  it('killSelection OLDEST_FIRST gives up the oldest instance on a scale down', async () => {
    await apps.req('POST', '/v2/apps', { id: '/life/oldest', cmd: 'sleep 600', cpus: 0.05, mem: 16, portDefinitions: [], killSelection: 'OLDEST_FIRST' })
    const one = await apps.waitDeployed('/life/oldest')
    const oldest: TaskJson = one.tasks[0]
    await new Promise((r) => setTimeout(r, 50))
    await apps.req('PUT', '/v2/apps/life/oldest', { instances: 3 })
    const three = await apps.waitDeployed('/life/oldest')
    expect(three.tasks).toHaveLength(3)
    await apps.req('PUT', '/v2/apps/life/oldest', { instances: 2 })
    await apps.waitDeployed('/life/oldest')
    const left = await waitUntil('the scale down', async () => {
      const a = await apps.app('/life/oldest')
      return a.tasks.length === 2 ? a.tasks.map((t: TaskJson) => t.id) : undefined
    })
    expect(left).not.toContain(oldest.id)
    expect(left.sort()).toEqual(three.tasks.filter((t: TaskJson) => t.id !== oldest.id).map((t: TaskJson) => t.id).sort())
    await removeApp('/life/oldest')
  })

  it('taskKillGracePeriodSeconds is the kill grace: SIGTERM first, SIGKILL only after it', async () => {
    // The trap outlives the 3 s default grace: only a longer grace lets it finish.
    const cmd = `trap 'echo got-term > term.txt; sleep 4; echo finished >> term.txt; exit 0' TERM; while true; do sleep 0.2; done`
    await apps.req('POST', '/v2/apps', { id: '/life/grace', cmd, cpus: 0.05, mem: 16, portDefinitions: [], taskKillGracePeriodSeconds: 8 })
    const app = await apps.waitDeployed('/life/grace')
    expect(app.taskKillGracePeriodSeconds).toBe(8)
    const t: TaskJson = app.tasks[0]
    const events = new EventStream(apps.url, ['status_update_event'])
    await waitUntil('the stream to attach', async () => (await apps.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value >= 1)
    const killAt = Date.now()
    const r = await apps.req('DELETE', '/v2/apps/life/grace')
    expect(r.status).toBe(200)
    const killed = await events.waitFor((e) => e.taskId === t.id && e.taskStatus === 'TASK_KILLED', 'TASK_KILLED', 20_000)
    await events.close()
    expect(Date.parse(killed.timestamp) - killAt).toBeGreaterThanOrEqual(3500)
    expect(await sandboxFile(t, 'term.txt')).toBe('got-term\nfinished\n')
  })
})

describe('unreachable agents', () => {
  it('replaces an instance after inactiveAfterSeconds; when it comes back one of the two is killed', async () => {
    await apps.req('POST', '/v2/apps', {
      id: '/life/partition',
      cmd: 'sleep 600',
      cpus: 0.05,
      mem: 16,
      portDefinitions: [],
      // First only on agent-b.
      constraints: [['hostname', 'LIKE', 'agent-b']],
      unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 600 },
    })
    const first = await apps.waitDeployed('/life/partition')
    const original: TaskJson = first.tasks[0]
    expect(original.host).toBe('agent-b')
    // Allow both agents. A constraint change is a config change, so it restarts the instance:
    // wait until it is replaced, on agent-a or agent-b.
    await apps.req('PUT', '/v2/apps/life/partition', { constraints: [] })
    const before = await apps.waitDeployed('/life/partition')
    expect(before.tasks).toHaveLength(1)
    const victim: TaskJson = before.tasks[0]
    const stopped = agentOf(victim)
    const otherHost = HOSTS.find((h) => h !== victim.host)!
    const events = new EventStream(apps.url, ['status_update_event', 'instance_changed_event'])
    await waitUntil('the stream to attach', async () => (await apps.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value >= 1)

    stopped.proc.signal('SIGSTOP')
    let replacement: TaskJson | undefined
    try {
      const replaced = await waitUntil(
        'a replacement on the other agent',
        async () => {
          const a = await apps.app('/life/partition')
          const repl = a.tasks.find((t: TaskJson) => t.host === otherHost && t.state === 'TASK_RUNNING')
          return repl ? { app: a, repl } : undefined
        },
        20_000,
      )
      // The lost instance is still listed, as unreachable.
      const lost = replaced.app.tasks.find((t: TaskJson) => t.id === victim.id)
      expect(lost?.state).toBe('TASK_UNREACHABLE')
      expect(replaced.app.tasksRunning).toBe(1)
      expect(replaced.app.instances).toBe(1)
      replacement = replaced.repl
      // Marathon's conditions on the way: Unreachable, then UnreachableInactive once replaced.
      const conditions = events.events.filter((e) => e.eventType === 'instance_changed_event' && e.runSpecId === '/life/partition').map((e) => e.condition)
      expect(conditions).toEqual(expect.arrayContaining(['Unreachable', 'UnreachableInactive']))
    } finally {
      stopped.proc.signal('SIGCONT')
    }
    // Back again: for a moment there are two; one of them is killed.
    const settled = await waitUntil(
      'one instance to remain',
      async () => {
        const a = await apps.app('/life/partition')
        const running = (await masterRunning('/life/partition')).sort()
        return a.tasks.length === 1 && a.tasks[0].state === 'TASK_RUNNING' && running.length === 1 && running[0] === a.tasks[0].id ? a : undefined
      },
      30_000,
      200,
    )
    // The lost instance came back (running again), and one of the two was killed.
    const statuses = events.events.filter((e) => e.eventType === 'status_update_event')
    const unreachableAt = statuses.findIndex((e) => e.taskId === victim.id && e.taskStatus === 'TASK_UNREACHABLE')
    expect(unreachableAt).toBeGreaterThanOrEqual(0)
    expect(statuses.slice(unreachableAt).some((e) => e.taskId === victim.id && e.taskStatus === 'TASK_RUNNING')).toBe(true)
    const killed = statuses.filter((e) => e.taskStatus === 'TASK_KILLED').map((e) => e.taskId)
    expect(killed).toHaveLength(1)
    expect([victim.id, replacement!.id]).toContain(killed[0])
    expect([victim.id, replacement!.id]).toContain(settled.tasks[0].id)
    expect(settled.tasks[0].id).not.toBe(killed[0])
    await events.close()
    // It stays at one.
    await new Promise((r) => setTimeout(r, 2000))
    const still = await apps.app('/life/partition')
    expect(still.tasks.map((t: TaskJson) => t.id)).toEqual(settled.tasks.map((t: TaskJson) => t.id))
    expect(await masterRunning('/life/partition')).toEqual(settled.tasks.map((t: TaskJson) => t.id))
    await removeApp('/life/partition')
  })
})

describe('restarting dromos apps', () => {
  it('mid rolling restart: it finishes with exactly N instances of the new version, no duplicates, none lost', async () => {
    const cmd = 'mkdir -p www; (sleep 2; echo ok > www/ready) & exec busybox httpd -f -p "$PORT0" -h www'
    await apps.req('POST', '/v2/apps', {
      id: '/life/rolling',
      cmd,
      cpus: 0.05,
      mem: 16,
      instances: 3,
      portDefinitions: [{ port: 0, name: 'http' }],
      readinessChecks: [{ name: 'ready', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 2, timeoutSeconds: 1 }],
      // One instance at a time: kill one old, start one new, wait until it is ready.
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
    })
    const before = await apps.waitDeployed('/life/rolling', 30_000)
    const oldIds: string[] = before.tasks.map((t: TaskJson) => t.id)
    expect(oldIds).toHaveLength(3)

    const restart = await apps.req('POST', '/v2/apps/life/rolling/restart')
    expect(restart.status).toBe(200)
    // Stop dromos apps once the restart is under way: some old instances replaced, not all.
    await waitUntil('the restart to be under way', async () => {
      const a = await apps.app('/life/rolling')
      return a.tasks.some((t: TaskJson) => !oldIds.includes(t.id)) && a.tasks.some((t: TaskJson) => oldIds.includes(t.id))
    }, 20_000, 50)
    await apps.restart()
    const dep = await apps.req('GET', '/v2/deployments')
    expect(dep.body.map((d: { id: string }) => d.id)).toContain(restart.body.deploymentId)

    const after = await apps.waitDeployed('/life/rolling', 40_000)
    await waitUntil('the last old instance to be killed', async () => (await apps.app('/life/rolling')).tasks.length === 3)
    const final = await apps.app('/life/rolling')
    expect(final.version).toBe(restart.body.version)
    expect(final.instances).toBe(3)
    expect(final.tasksRunning).toBe(3)
    expect(final.tasks.every((t: TaskJson) => t.version === restart.body.version)).toBe(true)
    expect(final.tasks.some((t: TaskJson) => oldIds.includes(t.id))).toBe(false)
    expect(after.deployments).toEqual([])
    // The master agrees: exactly these three run, no duplicate launch and none left over.
    const running = await masterRunning('/life/rolling')
    expect(running.sort()).toEqual(final.tasks.map((t: TaskJson) => t.id).sort())
    // Every task the master ever saw for the app: the three old ones and the three new ones,
    // so nothing was launched twice across the restart.
    const s = await cluster.state()
    const fw = s.frameworks.find((f: { name: string }) => f.name === 'marathon')
    const everLaunched = new Set(
      [...fw.tasks, ...fw.completed_tasks, ...(fw.unreachable_tasks ?? [])].map((t: { id: string }) => t.id).filter((id: string) => id.startsWith('life_rolling.')),
    )
    expect([...everLaunched].sort()).toEqual([...oldIds, ...final.tasks.map((t: TaskJson) => t.id)].sort())
    await removeApp('/life/rolling')
  })
})
