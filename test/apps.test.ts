// The Marathon-compatible apps framework end to end: a real master, two real agents with
// different hostnames and attributes, real Docker, and `dromos apps` spoken to over HTTP.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess, EventStream } from './lib/apps.js'
import { TestCluster, waitUntil } from './lib/cluster.js'
import { ensureBusyboxImage } from './lib/images.js'

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8')) // eslint-disable-line @typescript-eslint/no-explicit-any

let cluster: TestCluster
let apps: AppsProcess

beforeAll(async () => {
  await ensureBusyboxImage()
  cluster = await TestCluster.start({
    agents: [
      { hostname: 'agent-a', attributes: 'rack:r1;zone:a', resources: 'cpus:4;mem:2048;disk:1000;ports:[31000-31099]' },
      { hostname: 'agent-b', attributes: 'rack:r2;zone:b', resources: 'cpus:4;mem:2048;disk:1000;ports:[31100-31199]' },
    ],
  })
  apps = await AppsProcess.start(cluster)
})

afterAll(async () => {
  if (apps) {
    const list = await apps.req('GET', '/v2/apps')
    for (const a of list.body.apps ?? []) await apps.req('DELETE', `/v2/apps${a.id}?force=true`)
    await waitUntil('apps to stop their tasks', async () => (await apps.req('GET', '/v2/tasks')).body.tasks.length === 0, 60_000).catch(() => undefined)
    await apps.proc.stop()
  }
  await cluster?.stop()
})

async function answers(host: string, port: number, path = '/'): Promise<string | undefined> {
  try {
    const r = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(2000) })
    return r.ok ? await r.text() : undefined
  } catch {
    return undefined
  }
}

describe('deploying apps', () => {
  it('deploys a bridge app with 3 healthy instances from a JSON file; each answers on its host port', async () => {
    const events = new EventStream(apps.url)
    const def = fixture('web-bridge.json')
    const created = await apps.req('POST', '/v2/apps', def)
    expect(created.status).toBe(201)
    expect(created.body.id).toBe('/test/web')
    expect(created.body.deployments).toHaveLength(1)
    const servicePort = created.body.container.portMappings[0].servicePort
    expect(servicePort).toBeGreaterThanOrEqual(10000)
    expect(servicePort).toBeLessThanOrEqual(20000)
    const deploymentId = created.body.deployments[0].id
    await events.waitFor((e) => e.eventType === 'deployment_success' && e.id === deploymentId, 'deployment_success')
    const app = await apps.app('/test/web')
    expect(app.tasksRunning).toBe(3)
    expect(app.tasksHealthy).toBe(3)
    expect(app.tasks).toHaveLength(3)
    for (const t of app.tasks) {
      expect(t.healthCheckResults[0].alive).toBe(true)
      expect(await answers('127.0.0.1', t.ports[0], '/id.txt')).toContain(t.id)
    }
    // The sequence a deploy shows on the event stream.
    const types = events.events.map((e) => e.eventType)
    expect(types).toContain('api_post_event')
    expect(types).toContain('group_change_success')
    expect(types).toContain('deployment_info')
    expect(types).toContain('status_update_event')
    expect(types).toContain('health_status_changed_event')
    expect(types).toContain('deployment_step_success')
    expect(types.indexOf('deployment_info')).toBeLessThan(types.lastIndexOf('deployment_success'))
    const running = events.events.filter((e) => e.eventType === 'status_update_event' && e.taskStatus === 'TASK_RUNNING' && e.appId === '/test/web')
    expect(running.length).toBeGreaterThanOrEqual(3)
    await events.close()
  })

  it('scales 3 -> 5 -> 2, removing the youngest instances first', async () => {
    const scaledUp = await apps.req('PUT', '/v2/apps/test/web', { instances: 5 })
    expect(scaledUp.status).toBe(200)
    expect(scaledUp.body.deploymentId).toBeTruthy()
    const five = await apps.waitDeployed('/test/web')
    expect(five.instances).toBe(5)
    expect(five.tasksHealthy).toBe(5)
    const byAge = [...five.tasks].sort((a: { stagedAt: string }, b: { stagedAt: string }) => a.stagedAt.localeCompare(b.stagedAt))
    // The command did not change, so the scale did not restart anything.
    expect(five.cmd).toBe(fixture('web-bridge.json').cmd)
    await apps.req('PUT', '/v2/apps//test/web', { instances: 2 })
    const two = await apps.waitDeployed('/test/web')
    await waitUntil('scale-down kills to land', async () => (await apps.app('/test/web')).tasks.length === 2)
    const left = (await apps.app('/test/web')).tasks.map((t: { id: string }) => t.id)
    const kept = byAge.filter((t: { id: string }) => left.includes(t.id))
    const killed = byAge.filter((t: { id: string }) => !left.includes(t.id))
    expect(kept).toHaveLength(2)
    // Every instance kept is at least as old as every instance killed.
    const newestKept = Math.max(...kept.map((t: { stagedAt: string }) => Date.parse(t.stagedAt)))
    const oldestKilled = Math.min(...killed.map((t: { stagedAt: string }) => Date.parse(t.stagedAt)))
    expect(newestKept).toBeLessThanOrEqual(oldestKilled)
    expect(two.instances).toBe(2)
  })

  it('restarts with minimumHealthCapacity 1 without ever dropping below N healthy', async () => {
    await apps.req('PUT', '/v2/apps/test/web', { instances: 3 })
    await apps.waitDeployed('/test/web')
    const before = (await apps.app('/test/web')).tasks.map((t: { id: string }) => t.id)
    const r = await apps.req('POST', '/v2/apps/test/web/restart')
    expect(r.status).toBe(200)
    const samples: number[] = []
    await waitUntil(
      'the restart to finish',
      async () => {
        const a = await apps.app('/test/web')
        const healthyServing = (a.tasks as Array<{ ports: number[]; healthCheckResults: Array<{ alive: boolean }> }>).filter((t) => t.healthCheckResults[0]?.alive)
        samples.push(healthyServing.length)
        return a.deployments.length === 0
      },
      90_000,
      100,
    )
    const after = await apps.app('/test/web')
    expect(after.tasks).toHaveLength(3)
    expect(after.tasks.some((t: { id: string }) => before.includes(t.id))).toBe(false)
    expect(samples.length).toBeGreaterThan(3)
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(3)
  })
})

describe('constraints', () => {
  it('UNIQUE hostname and MAX_PER spread instances across the two agents', async () => {
    const base = { cmd: 'sleep 600', cpus: 0.05, mem: 16, portDefinitions: [] }
    await apps.req('POST', '/v2/apps', { ...base, id: '/c/unique', instances: 2, constraints: [['hostname', 'UNIQUE']] })
    await apps.req('POST', '/v2/apps', { ...base, id: '/c/maxper', instances: 4, constraints: [['rack', 'MAX_PER', '2']] })
    const unique = await apps.waitDeployed('/c/unique')
    const maxper = await apps.waitDeployed('/c/maxper')
    expect(new Set(unique.tasks.map((t: { host: string }) => t.host))).toEqual(new Set(['agent-a', 'agent-b']))
    const hosts = maxper.tasks.map((t: { host: string }) => t.host)
    expect(hosts.filter((h: string) => h === 'agent-a')).toHaveLength(2)
    expect(hosts.filter((h: string) => h === 'agent-b')).toHaveLength(2)
    // A third UNIQUE instance has nowhere to go: it waits in the queue.
    await apps.req('PUT', '/v2/apps/c/unique', { instances: 3 })
    await waitUntil('the queue to show the waiting instance', async () => {
      const q = await apps.req('GET', '/v2/queue')
      return q.body.queue.some((e: { app: { id: string }; count: number }) => e.app.id === '/c/unique' && e.count === 1)
    })
    expect((await apps.app('/c/unique')).tasks).toHaveLength(2)
    await apps.req('DELETE', '/v2/apps/c/unique?force=true')
    await apps.req('DELETE', '/v2/apps/c/maxper?force=true')
  })
})

describe('failures', () => {
  it('kills an instance that fails its health check, replaces it, and backs off', async () => {
    const events = new EventStream(apps.url, ['unhealthy_instance_kill_event'])
    const created = await apps.req('POST', '/v2/apps', {
      id: '/f/sick',
      // Runs, but nothing listens on the checked port.
      cmd: 'sleep 600',
      cpus: 0.05,
      mem: 16,
      instances: 1,
      portDefinitions: [{ port: 0, name: 'http' }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 2, delaySeconds: 0 }],
      backoffSeconds: 1,
      backoffFactor: 2,
    })
    expect(created.status).toBe(201)
    const kill = await events.waitFor((e) => e.appId === '/f/sick', 'unhealthy_instance_kill_event', 30_000)
    expect(kill.taskId).toBeTruthy()
    const replacement = await waitUntil('a replacement', async () => {
      const a = await apps.app('/f/sick')
      return a.tasks.find((t: { id: string }) => t.id !== kill.taskId)
    })
    // The kill counts as a failure: the replacement waited out the 1 s backoff.
    expect(Date.parse(replacement.stagedAt) - Date.parse(kill.timestamp)).toBeGreaterThanOrEqual(900)
    await events.close()
    await apps.req('DELETE', '/v2/apps/f/sick?force=true')
  })

  it('backs off a crashing command: the queue shows a growing delay, and DELETE of the delay resets it', async () => {
    await apps.req('POST', '/v2/apps', { id: '/f/crash', cmd: 'exit 1', cpus: 0.05, mem: 16, instances: 1, backoffSeconds: 2, backoffFactor: 2, maxLaunchDelaySeconds: 60 })
    // 2 s after the first failure, 4 s after the second: only a grown delay has more than 2 s left.
    const delayed = await waitUntil('a grown launch delay', async () => {
      const q = await apps.req('GET', '/v2/queue')
      const e = q.body.queue.find((x: { app: { id: string } }) => x.app.id === '/f/crash')
      return e && e.delay.timeLeftSeconds >= 3 ? e : undefined
    })
    expect(delayed.delay.overdue).toBe(false)
    const failure = await apps.app('/f/crash')
    expect(failure.lastTaskFailure.state).toBe('TASK_FAILED')
    const reset = await apps.req('DELETE', '/v2/queue/f/crash/delay')
    expect(reset.status).toBe(204)
    const after = await apps.req('GET', '/v2/queue')
    const entry = after.body.queue.find((x: { app: { id: string } }) => x.app.id === '/f/crash')
    expect(entry === undefined || entry.delay.timeLeftSeconds === 0).toBe(true)
    await apps.req('DELETE', '/v2/apps/f/crash?force=true')
  })
})

describe('groups and deployments', () => {
  it('deploys a group in dependency order', async () => {
    const events = new EventStream(apps.url, ['status_update_event'])
    const r = await apps.req('POST', '/v2/groups', {
      id: '/g',
      apps: [
        { id: 'front', cmd: 'sleep 600', cpus: 0.05, mem: 16, dependencies: ['/g/back'], portDefinitions: [] },
        { id: 'back', cmd: 'sleep 600', cpus: 0.05, mem: 16, portDefinitions: [] },
      ],
    })
    expect(r.status).toBe(201)
    await apps.waitDeployed('/g/front')
    const running = events.events.filter((e) => e.taskStatus === 'TASK_RUNNING')
    const backAt = running.findIndex((e) => e.appId === '/g/back')
    const frontAt = running.findIndex((e) => e.appId === '/g/front')
    expect(backAt).toBeGreaterThanOrEqual(0)
    expect(frontAt).toBeGreaterThan(backAt)
    const group = await apps.req('GET', '/v2/groups/g')
    expect(group.body.apps.map((a: { id: string }) => a.id).sort()).toEqual(['/g/back', '/g/front'])
    const cyclic = await apps.req('POST', '/v2/groups', {
      id: '/cyc',
      apps: [
        { id: 'a', cmd: 'sleep 1', dependencies: ['/cyc/b'] },
        { id: 'b', cmd: 'sleep 1', dependencies: ['/cyc/a'] },
      ],
    })
    expect(cyclic.status).toBe(422)
    // The cycle is found when the change is planned, and still answers Marathon's full 422 body.
    expect(cyclic.body).toEqual({ message: 'Object is not valid', details: [{ path: '/', errors: [expect.stringMatching(/cycl/i)] }] })
    await events.close()
    await apps.req('DELETE', '/v2/groups/g?force=true')
  })

  it('answers 409 on a locked app, and force=true overrides; DELETE of a deployment rolls back', async () => {
    // An app that never becomes healthy keeps its deployment open.
    await apps.req('POST', '/v2/apps', { id: '/d/stuck', cmd: 'sleep 600', cpus: 0.05, mem: 16, instances: 1, portDefinitions: [{ port: 0 }] })
    await apps.waitDeployed('/d/stuck')
    const change = await apps.req('PUT', '/v2/apps/d/stuck', {
      cmd: 'sleep 601',
      healthChecks: [{ protocol: 'TCP', portIndex: 0, gracePeriodSeconds: 600, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 100, delaySeconds: 0 }],
    })
    expect(change.status).toBe(200)
    const locked = await apps.req('PUT', '/v2/apps/d/stuck', { instances: 2 })
    expect(locked.status).toBe(409)
    expect(locked.body.deployments[0].id).toBe(change.body.deploymentId)
    const deployments = await apps.req('GET', '/v2/deployments')
    const d = deployments.body.find((x: { id: string }) => x.id === change.body.deploymentId)
    expect(d.affectedApps).toEqual(['/d/stuck'])
    expect(d.currentActions[0].action).toBe('RestartApplication')
    const rollback = await apps.req('DELETE', `/v2/deployments/${change.body.deploymentId}`)
    expect(rollback.status).toBe(200)
    const back = await apps.waitDeployed('/d/stuck')
    expect(back.cmd).toBe('sleep 600')
    expect(back.tasks).toHaveLength(1)
    const forced = await apps.req('PUT', '/v2/apps/d/stuck?force=true', { instances: 2 })
    expect(forced.status).toBe(200)
    await apps.req('DELETE', '/v2/apps/d/stuck?force=true')
  })
})

describe('the API', () => {
  it('accepts an app definition from Marathon documentation as is', async () => {
    const r = await apps.req('POST', '/v2/apps', fixture('marathon-docs-app.json'))
    expect(r.status).toBe(201)
    // Its TCP health check finds nothing listening, so it runs but never becomes healthy.
    const app = await waitUntil('the instance to run', async () => {
      const a = await apps.app('/product/service/my-app')
      return a.tasksRunning === 1 ? a : undefined
    })
    expect(app.constraints).toEqual([['hostname', 'UNIQUE']])
    expect(app.upgradeStrategy).toEqual({ minimumHealthCapacity: 0.5, maximumOverCapacity: 0.2 })
    expect(app.env.LD_LIBRARY_PATH).toBe('/usr/local/lib/myLib')
    await apps.req('DELETE', '/v2/apps/product/service/my-app?force=true')
  })

  it('refuses bad input with Marathon error bodies and keeps serving', async () => {
    const badJson = await apps.req('POST', '/v2/apps', '{"id": ')
    expect(badJson.status).toBe(400)
    expect(badJson.body.message).toBe('Invalid JSON')
    const invalid = await apps.req('POST', '/v2/apps', { id: '/x', cmd: 'sleep 1', upgradeStrategy: { minimumHealthCapacity: 2 } })
    expect(invalid.status).toBe(422)
    expect(invalid.body.details.map((d: { path: string }) => d.path)).toContain('/upgradeStrategy/minimumHealthCapacity')
    const dup = await apps.req('POST', '/v2/apps', { id: '/test/web', cmd: 'sleep 1' })
    expect(dup.status).toBe(409)
    expect(dup.body.message).toBe('An app with id [/test/web] already exists.')
    const missing = await apps.req('GET', '/v2/apps/nope')
    expect(missing.status).toBe(404)
    expect(missing.body.message).toBe("App '/nope' does not exist")
    const deep = await apps.req('POST', '/v2/apps', '['.repeat(10_000) + ']'.repeat(10_000))
    expect(deep.status).toBe(400)
    expect((await apps.req('GET', '/ping')).body).toBe('pong')
  })

  it('survives a restart of dromos apps in the middle of a deployment with the exact instance count', async () => {
    await apps.req('POST', '/v2/apps', { id: '/r/steady', cmd: 'sleep 600', cpus: 0.05, mem: 16, instances: 4, portDefinitions: [] })
    await apps.proc.stop()
    apps.proc.restart()
    await apps.waitReady()
    const app = await apps.waitDeployed('/r/steady', 90_000)
    expect(app.tasksRunning).toBe(4)
    // Nothing launched twice: the master knows exactly the four tasks.
    const state = await cluster.state()
    const fw = state.frameworks.find((f: { name: string }) => f.name === 'marathon')
    const tasks = fw.tasks.filter((t: { id: string; state: string }) => t.id.startsWith('r_steady.') && t.state === 'TASK_RUNNING')
    expect(tasks).toHaveLength(4)
    await apps.req('DELETE', '/v2/apps/r/steady')
  })

  it('a slow event subscriber is cut off and does not hold up the others', async () => {
    const fast = new EventStream(apps.url)
    // A subscriber that never reads: its socket fills and then it is disconnected.
    const slow = await fetch(`${apps.url}/v2/events`)
    const reader = slow.body!.getReader()
    await reader.read()
    // Each api_post_event carries its app (the plans of the deployment events do not): about
    // 12 MB in all, well past the 4 MiB bound and what the sockets buffer.
    for (let i = 0; i < 30; i++) {
      await apps.req('POST', '/v2/apps', { id: `/noise/n${i}`, cmd: 'sleep 1', cpus: 0.01, mem: 8, instances: 0, labels: { pad: 'x'.repeat(400_000) } })
    }
    await fast.waitFor((e) => e.eventType === 'api_post_event' && e.appDefinition?.id === '/noise/n29', 'the last api_post_event')
    // The reader that never read was disconnected; the fast one is still attached.
    await waitUntil('the slow subscriber to be cut off', async () => {
      const m = await apps.req('GET', '/metrics')
      return m.body.gauges['marathon.http.event-streams.active.gauge'].value === 1
    }, 20_000)
    for (let i = 0; i < 30; i++) await apps.req('DELETE', `/v2/apps/noise/n${i}?force=true`)
    await fast.close()
    await reader.cancel().catch(() => undefined)
  })
})
