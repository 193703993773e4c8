// The Marathon v2 REST API of `dromos apps`, over HTTP against a real master, two real agents
// and a real `dromos apps` process: validation bodies, filters, updates, versions, task kills,
// groups, the small endpoints, 404 wording, and the events one deploy-scale-delete produces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess, EventStream } from './lib/apps.js'
import type { MarathonEventRecord, TaskJson } from './lib/apps.js'
import { TestCluster, waitUntil } from './lib/cluster.js'

let cluster: TestCluster
let apps: AppsProcess

/** A cheap process task: no ports, nothing to pull. */
const sleeper = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  cmd: 'sleep 600',
  cpus: 0.05,
  mem: 16,
  portDefinitions: [],
  ...extra,
})


beforeAll(async () => {
  cluster = await TestCluster.start({
    agents: [
      { hostname: 'agent-a', attributes: 'rack:r1;zone:a', resources: 'cpus:4;mem:2048;disk:1000;ports:[31200-31299]' },
      { hostname: 'agent-b', attributes: 'rack:r2;zone:b', resources: 'cpus:4;mem:2048;disk:1000;ports:[31300-31399]' },
    ],
  })
  apps = await AppsProcess.start(cluster)
})

afterAll(async () => {
  if (apps) {
    const list = await apps.req('GET', '/v2/apps').catch(() => undefined)
    for (const a of list?.body.apps ?? []) await apps.req('DELETE', `/v2/apps${a.id}?force=true`)
    await waitUntil('apps to stop their tasks', async () => (await apps.req('GET', '/v2/tasks')).body.tasks.length === 0, 30_000).catch(() => undefined)
    await apps.proc.stop()
  }
  await cluster?.stop()
})

describe('validation over HTTP', () => {
  const base = { id: '/v/app', cmd: 'sleep 1', cpus: 0.05, mem: 16 }
  // [what, body, the path Marathon names]
  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['negative instances', { ...base, instances: -1 }, '/instances'],
    ['negative cpus', { ...base, cpus: -1 }, '/cpus'],
    ['negative mem', { ...base, mem: -5 }, '/mem'],
    ['negative disk', { ...base, disk: -1 }, '/disk'],
    ['upper-case id', { ...base, id: '/v/UPPER' }, '/id'],
    ['id ending in a reserved word', { ...base, id: '/v/tasks' }, '/id'],
    ['no id', { cmd: 'sleep 1' }, '/id'],
    ['neither cmd, args nor container', { id: '/v/app' }, '/'],
    ['both cmd and args', { ...base, args: ['sleep', '1'] }, '/'],
    ['minimumHealthCapacity above 1', { ...base, upgradeStrategy: { minimumHealthCapacity: 1.5 } }, '/upgradeStrategy/minimumHealthCapacity'],
    ['negative maximumOverCapacity', { ...base, upgradeStrategy: { maximumOverCapacity: -0.1 } }, '/upgradeStrategy/maximumOverCapacity'],
    ['unknown constraint operator', { ...base, constraints: [['hostname', 'BOGUS']] }, '/constraints(0)'],
    ['MAX_PER without an integer', { ...base, constraints: [['hostname', 'UNIQUE'], ['rack', 'MAX_PER', 'abc']] }, '/constraints(1)'],
    ['health check port index out of range', { ...base, portDefinitions: [{ port: 0 }], healthChecks: [{ protocol: 'HTTP', portIndex: 3 }] }, '/healthChecks(0)'],
    ['COMMAND check without a command', { ...base, healthChecks: [{ protocol: 'COMMAND' }] }, '/healthChecks(0)/command'],
    ['port out of range', { ...base, portDefinitions: [{ port: 70000 }] }, '/portDefinitions(0)/port'],
    ['duplicate port names', { ...base, portDefinitions: [{ port: 0, name: 'a' }, { port: 0, name: 'a' }] }, '/portDefinitions'],
    ['unknown killSelection', { ...base, killSelection: 'RANDOM' }, '/killSelection'],
    ['inactiveAfterSeconds above expungeAfterSeconds', { ...base, unreachableStrategy: { inactiveAfterSeconds: 600, expungeAfterSeconds: 60 } }, '/unreachableStrategy/inactiveAfterSeconds'],
    ['readiness check on an unknown port name', { ...base, portDefinitions: [{ port: 0, name: 'http' }], readinessChecks: [{ portName: 'nope', intervalSeconds: 5, timeoutSeconds: 1 }] }, '/readinessChecks(0)/portName'],
    ['empty docker image', { id: '/v/app', cpus: 0.05, mem: 16, container: { type: 'DOCKER', docker: { image: '' } } }, '/container/docker/image'],
    ['non-string env value', { ...base, env: { A: 1 } }, '/env/A'],
    ['fetch URI with a space', { ...base, fetch: [{ uri: 'http://a b/c' }] }, '/fetch(0)/uri'],
    ['backoffFactor below 1', { ...base, backoffFactor: 0.5 }, '/backoffFactor'],
    ['invalid dependency id', { ...base, dependencies: ['/Bad_Dep'] }, '/dependencies(0)'],
  ]

  it(`answers 422 with Marathon's details[].path for ${invalid.length} invalid definitions`, async () => {
    expect(invalid.length).toBeGreaterThanOrEqual(20)
    const results = await Promise.all(invalid.map(([, body]) => apps.req('POST', '/v2/apps', body)))
    const wrong: string[] = []
    results.forEach((r, i) => {
      const [what, , path] = invalid[i]!
      const paths: string[] = (r.body?.details ?? []).map((d: { path: string }) => d.path)
      const ok =
        r.status === 422 &&
        r.body.message === 'Object is not valid' &&
        paths.includes(path) &&
        (r.body.details as Array<{ errors: unknown[] }>).every((d) => Array.isArray(d.errors) && d.errors.length > 0 && d.errors.every((e) => typeof e === 'string'))
      if (!ok) wrong.push(`${what}: ${r.status} ${JSON.stringify(r.body)}`)
    })
    expect(wrong).toEqual([])
    // Nothing was created by any of them.
    expect((await apps.req('GET', '/v2/apps')).body.apps.filter((a: { id: string }) => a.id.startsWith('/v/'))).toEqual([])
    // An array of apps (PUT /v2/apps) is checked whole: the errors of every app come back at
    // once, each at its index, and none of the apps is deployed, not even the valid one.
    const many = await apps.req('PUT', '/v2/apps', [{ ...base, id: '/v/ok' }, { ...base, id: '/v/bad1', cpus: -1 }, { ...base, id: '/v/bad2', mem: -5 }])
    expect(many.status).toBe(422)
    const manyPaths: string[] = many.body.details.map((d: { path: string }) => d.path)
    expect(manyPaths).toEqual(expect.arrayContaining(['(1)/cpus', '(2)/mem']))
    expect(manyPaths.some((p) => p.startsWith('(0)'))).toBe(false)
    expect((await apps.req('GET', '/v2/apps')).body.apps.filter((a: { id: string }) => a.id.startsWith('/v/'))).toEqual([])
    // The same rules hold for PUT: a bad field in a partial update is refused and changes nothing.
    const put = await apps.req('PUT', '/v2/apps/v/other', { ...base, id: '/v/other', instances: -3 })
    expect(put.status).toBe(422)
    expect(put.body.details.map((d: { path: string }) => d.path)).toContain('/instances')
    // A body id that differs from the path is refused.
    const mismatch = await apps.req('PUT', '/v2/apps/v/one', { ...base, id: '/v/two' })
    expect(mismatch.status).toBe(422)
    expect(mismatch.body.details.map((d: { path: string }) => d.path)).toContain('/id')
  })
})

describe('malformed requests', () => {
  /** A raw HTTP/1.1 request, so that the path reaches the server exactly as written. */
  async function raw(url: string, path: string): Promise<{ status: number; type: string; body: string }> {
    const { port } = new URL(url)
    const socket = (await import('node:net')).connect(Number(port), '127.0.0.1')
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    const chunks: Buffer[] = []
    for await (const c of socket) chunks.push(c as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const [head = '', body = ''] = text.split('\r\n\r\n')
    const type = /content-type: *([^\r;]+)/i.exec(head)?.[1] ?? ''
    return { status: Number(head.split(' ')[1]), type, body }
  }

  it('a path whose percent-encoding is broken answers 400 in each surface\'s shape, and the process carries on', async () => {
    for (const path of ['/v2/apps/%E0%A4%A', '/v2/apps/%', '/v2/groups/%zz/x', '/v2/apps/a/tasks/%E0']) {
      const r = await raw(apps.url, path)
      expect(r.status, path).toBe(400)
      expect(r.type, path).toBe('application/json')
      expect(Object.keys(JSON.parse(r.body) as object), path).toEqual(['message'])
    }
    for (const url of [cluster.masterUrl, cluster.agents[0]!.url]) {
      const r = await raw(url, '/master/state%E0%A4%A')
      expect(r.status).toBe(400)
      expect(r.type).toBe('text/plain')
      expect(r.body).toMatch(/Malformed request path/)
    }
    expect((await apps.req('GET', '/v2/apps')).status).toBe(200)
    expect((await fetch(`${cluster.masterUrl}/health`)).status).toBe(200)
  })

  it('a request line over the header limit answers 431', async () => {
    const r = await raw(apps.url, `/v2/apps/${'a'.repeat(20_000)}`)
    expect(r.status).toBe(431)
    expect((await apps.req('GET', '/v2/apps')).status).toBe(200)
  })
})

describe('/v2/apps', () => {
  it('filters by cmd, id and label selectors (case-insensitively for cmd and id), and embeds tasks', async () => {
    await apps.req('POST', '/v2/apps', sleeper('/q/alpha', { cmd: 'sleep 600 # Alpha', instances: 1, labels: { tier: 'web', env: 'prod' } }))
    await apps.req('POST', '/v2/apps', sleeper('/q/beta', { cmd: 'sleep 601', instances: 0, labels: { tier: 'db', env: 'qa' } }))
    await apps.req('POST', '/v2/apps', sleeper('/other/gamma', { cmd: 'sleep 602', instances: 0, labels: { 'odd key': 'x' } }))
    await apps.waitDeployed('/q/alpha')
    const ids = async (query: string): Promise<string[]> => {
      const r = await apps.req('GET', `/v2/apps${query}`)
      expect(r.status).toBe(200)
      return r.body.apps.map((a: { id: string }) => a.id).filter((id: string) => id.startsWith('/q/') || id.startsWith('/other/')).sort()
    }
    expect(await ids('')).toEqual(['/other/gamma', '/q/alpha', '/q/beta'])
    expect(await ids('?cmd=alpha')).toEqual(['/q/alpha'])
    expect(await ids('?cmd=SLEEP%2060')).toEqual(['/other/gamma', '/q/alpha', '/q/beta'])
    expect(await ids('?id=q/')).toEqual(['/q/alpha', '/q/beta'])
    expect(await ids('?id=GAMMA')).toEqual(['/other/gamma'])
    expect(await ids(`?label=${encodeURIComponent('tier==web')}`)).toEqual(['/q/alpha'])
    // Every selector needs the label to be there: != and notin skip apps without it.
    expect(await ids(`?label=${encodeURIComponent('tier!=web')}`)).toEqual(['/q/beta'])
    expect(await ids(`?label=${encodeURIComponent('tier notin (web)')}`)).toEqual(['/q/beta'])
    expect(await ids(`?label=${encodeURIComponent('env in (prod, qa)')}`)).toEqual(['/q/alpha', '/q/beta'])
    expect(await ids(`?label=${encodeURIComponent('tier, env==qa')}`)).toEqual(['/q/beta'])
    expect(await ids(`?label=${encodeURIComponent('tier')}`)).toEqual(['/q/alpha', '/q/beta'])
    // Characters outside [A-Za-z0-9._-] are escaped with a backslash.
    expect(await ids(`?label=${encodeURIComponent('odd\\ key==x')}`)).toEqual(['/other/gamma'])
    expect(await ids('?id=q/&cmd=601')).toEqual(['/q/beta'])

    const plain = await apps.req('GET', '/v2/apps?id=/q/alpha')
    expect(plain.body.apps[0].tasks).toBeUndefined()
    const embedded = await apps.req('GET', '/v2/apps?id=/q/alpha&embed=apps.tasks')
    const alpha = embedded.body.apps[0]
    expect(alpha.tasks).toHaveLength(1)
    const t = alpha.tasks[0]
    expect(t.appId).toBe('/q/alpha')
    expect(t.state).toBe('TASK_RUNNING')
    expect(['agent-a', 'agent-b']).toContain(t.host)
    expect(t.id).toMatch(/^q_alpha\./)
    expect(t.version).toBe(alpha.version)
    expect(alpha.tasksRunning).toBe(1)
    expect(alpha.deployments).toEqual([])
  })

  it('PUT is a partial update by default, partialUpdate=false replaces, PATCH merges; //a/b is /a/b', async () => {
    const created = await apps.req('POST', '/v2/apps', sleeper('/u/app', { instances: 1, labels: { keep: 'me' }, env: { FOO: 'bar' } }))
    expect(created.status).toBe(201)
    const v1 = await apps.waitDeployed('/u/app')
    const firstTask = v1.tasks[0].id

    const scaled = await apps.req('PUT', '/v2/apps/u/app', { instances: 3 })
    expect(scaled.status).toBe(200)
    expect(Object.keys(scaled.body).sort()).toEqual(['deploymentId', 'version'])
    const v2 = await apps.waitDeployed('/u/app')
    expect(v2.instances).toBe(3)
    expect(v2.labels).toEqual({ keep: 'me' })
    expect(v2.env).toEqual({ FOO: 'bar' })
    expect(v2.cmd).toBe('sleep 600')
    // A scale is not a config change: the first instance still runs.
    expect(v2.versionInfo.lastConfigChangeAt).toBe(v1.versionInfo.lastConfigChangeAt)
    expect(v2.versionInfo.lastScalingAt).not.toBe(v1.versionInfo.lastScalingAt)
    expect(v2.tasks.map((t: TaskJson) => t.id)).toContain(firstTask)

    // The same app through a path with a double slash.
    const viaDouble = await apps.req('GET', '/v2/apps//u/app')
    expect(viaDouble.status).toBe(200)
    expect(viaDouble.body.app.id).toBe('/u/app')
    expect(viaDouble.body.app.version).toBe(v2.version)

    const patched = await apps.req('PATCH', '/v2/apps//u/app', { labels: { other: 'label' } })
    expect(patched.status).toBe(200)
    const v3 = await apps.waitDeployed('/u/app')
    expect(v3.labels).toEqual({ other: 'label' })
    expect(v3.instances).toBe(3)
    expect(v3.env).toEqual({ FOO: 'bar' })
    // Labels change in place (dromos restarts nothing for them, where Marathon would): the same
    // tasks run on, and the config did not change.
    expect(v3.version).not.toBe(v2.version)
    expect(v3.versionInfo.lastConfigChangeAt).toBe(v2.versionInfo.lastConfigChangeAt)
    expect(v3.tasks.map((t: TaskJson) => t.id).sort()).toEqual(v2.tasks.map((t: TaskJson) => t.id).sort())

    const replaced = await apps.req('PUT', '/v2/apps/u/app?partialUpdate=false', { cmd: 'sleep 700', cpus: 0.05, mem: 16, portDefinitions: [] })
    expect(replaced.status).toBe(200)
    const v4 = await apps.waitDeployed('/u/app')
    // Everything not in the body is back at its default.
    expect(v4.cmd).toBe('sleep 700')
    expect(v4.instances).toBe(1)
    expect(v4.labels).toEqual({})
    expect(v4.env).toEqual({})
    expect(v4.versionInfo.lastConfigChangeAt).not.toBe(v3.versionInfo.lastConfigChangeAt)
    await waitUntil('the replaced app to run one instance', async () => (await apps.app('/u/app')).tasks.length === 1)

    // PUT of an app that does not exist creates it.
    const createdByPut = await apps.req('PUT', '/v2/apps//u/new', sleeper('/u/new', { instances: 0 }))
    expect(createdByPut.status).toBe(201)
    expect((await apps.app('/u/new')).id).toBe('/u/new')
  })

  it('lists versions newest first and serves an old version', async () => {
    const r = await apps.req('GET', '/v2/apps/u/app/versions')
    expect(r.status).toBe(200)
    const versions: string[] = r.body.versions
    // created, scaled, patched, replaced
    expect(versions).toHaveLength(4)
    expect([...versions].sort().reverse()).toEqual(versions)
    const current = await apps.app('/u/app')
    expect(versions[0]).toBe(current.version)
    const first = await apps.req('GET', `/v2/apps/u/app/versions/${versions[3]}`)
    expect(first.status).toBe(200)
    expect(first.body.id).toBe('/u/app')
    expect(first.body.version).toBe(versions[3])
    expect(first.body.cmd).toBe('sleep 600')
    expect(first.body.instances).toBe(1)
    expect(first.body.labels).toEqual({ keep: 'me' })
    const missing = await apps.req('GET', '/v2/apps/u/app/versions/2001-01-01T00:00:00.000Z')
    expect(missing.status).toBe(404)
    expect(missing.body.message).toBe("App '/u/app' does not exist in version 2001-01-01T00:00:00.000Z")
  })

  it('rolls an app back to a version with PUT {"version"}, as a new version; refuses unknown versions and mixed bodies', async () => {
    const versions: string[] = (await apps.req('GET', '/v2/apps/u/app/versions')).body.versions
    const oldest = versions[versions.length - 1]!
    const before = await apps.app('/u/app')
    expect(before.cmd).not.toBe('sleep 600')
    const r = await apps.req('PUT', '/v2/apps/u/app', { version: oldest })
    expect(r.status).toBe(200)
    expect(Object.keys(r.body).sort()).toEqual(['deploymentId', 'version'])
    const after = await apps.waitDeployed('/u/app')
    // The old definition, as a new version.
    expect(after.cmd).toBe('sleep 600')
    expect(after.instances).toBe(1)
    expect(after.labels).toEqual({ keep: 'me' })
    expect(after.version).not.toBe(oldest)
    expect(after.versionInfo.lastConfigChangeAt).toBe(after.version)
    expect((await apps.req('GET', '/v2/apps/u/app/versions')).body.versions[0]).toBe(after.version)

    const unknown = await apps.req('PUT', '/v2/apps/u/app', { version: '2001-01-01T00:00:00.000Z' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.message).toBe("App '/u/app' does not exist in version 2001-01-01T00:00:00.000Z")
    const mixed = await apps.req('PUT', '/v2/apps/u/app', { version: oldest, cmd: 'sleep 1' })
    expect(mixed.status).toBe(422)
    expect(mixed.body.details[0].path).toBe('/version')
    // Groups keep no versions of their own: said so, and nothing changes.
    const group = await apps.req('PUT', '/v2/groups/u', { version: oldest })
    expect(group.status).toBe(404)
    expect(group.body.message).toContain('group versions are not kept')
    expect((await apps.app('/u/app')).version).toBe(after.version)
  })
})

describe('killing tasks', () => {
  it('DELETE /v2/apps/{id}/tasks/{taskId}?scale=true kills that task and lowers instances', async () => {
    await apps.req('POST', '/v2/apps', sleeper('/k/scale', { instances: 3 }))
    const app = await apps.waitDeployed('/k/scale')
    expect(app.tasks).toHaveLength(3)
    const victim: TaskJson = app.tasks[1]
    const r = await apps.req('DELETE', `/v2/apps/k/scale/tasks/${victim.id}?scale=true`)
    expect(r.status).toBe(200)
    expect(r.body.deploymentId).toBeTruthy()
    const after = await apps.waitDeployed('/k/scale')
    expect(after.instances).toBe(2)
    await waitUntil('the killed task to go', async () => (await apps.app('/k/scale')).tasks.length === 2)
    const left = (await apps.app('/k/scale')).tasks.map((t: TaskJson) => t.id).sort()
    expect(left).toEqual(app.tasks.filter((t: TaskJson) => t.id !== victim.id).map((t: TaskJson) => t.id).sort())
    // No replacement comes: give it a moment to be sure.
    await new Promise((res) => setTimeout(res, 1500))
    expect((await apps.app('/k/scale')).tasks.map((t: TaskJson) => t.id).sort()).toEqual(left)

    // Without scale the response is the killed task, and a replacement keeps the count.
    const one = await apps.req('DELETE', `/v2/apps/k/scale/tasks/${left[0]}`)
    expect(one.status).toBe(200)
    expect(one.body.task.id).toBe(left[0])
    await waitUntil('a replacement', async () => {
      const ids = (await apps.app('/k/scale')).tasks.map((t: TaskJson) => t.id)
      return ids.length === 2 && !ids.includes(left[0]) && ids.includes(left[1])
    })
    const both = await apps.req('DELETE', `/v2/apps/k/scale/tasks/${left[1]}?scale=true&wipe=true`)
    expect(both.status).toBe(400)
  })

  it('POST /v2/tasks/delete?wipe=true kills and forgets the task; a replacement keeps the count', async () => {
    await apps.req('POST', '/v2/apps', sleeper('/k/wipe', { instances: 2 }))
    const app = await apps.waitDeployed('/k/wipe')
    const victim: TaskJson = app.tasks[0]
    const r = await apps.req('POST', '/v2/tasks/delete?wipe=true', { ids: [victim.id] })
    expect(r.status).toBe(200)
    expect(r.body.tasks.map((t: TaskJson) => t.id)).toEqual([victim.id])
    // Forgotten at once: not listed any more, even while it is being killed.
    const listed = (await apps.req('GET', '/v2/tasks')).body.tasks.map((t: TaskJson) => t.id)
    expect(listed).not.toContain(victim.id)
    await waitUntil('a replacement to run', async () => {
      const a = await apps.app('/k/wipe')
      return a.tasksRunning === 2 && !a.tasks.some((t: TaskJson) => t.id === victim.id)
    })
    expect((await apps.app('/k/wipe')).instances).toBe(2)
    // The master saw the wiped task killed.
    await waitUntil('the master to see the kill', async () => {
      const s = await cluster.state()
      const fw = s.frameworks.find((f: { name: string }) => f.name === 'marathon')
      const all = [...(fw?.tasks ?? []), ...(fw?.completed_tasks ?? [])]
      return all.some((t: { id: string; state: string }) => t.id === victim.id && t.state === 'TASK_KILLED')
    })
    const both = await apps.req('POST', '/v2/tasks/delete?wipe=true&scale=true', { ids: [app.tasks[1].id] })
    expect(both.status).toBe(400)
    expect(both.body.message).toBe('You cannot use scale and wipe at the same time.')
  })

  it('a kill with scale of a locked app is refused with 409 and kills nothing', async () => {
    // Never healthy (nothing listens): its deployment stays open and locks the app.
    await apps.req('POST', '/v2/apps', sleeper('/k/locked', {
      portDefinitions: [{ port: 0 }],
      healthChecks: [{ protocol: 'TCP', portIndex: 0, gracePeriodSeconds: 600, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 100, delaySeconds: 0 }],
    }))
    const t: TaskJson = await waitUntil('the instance to run', async () => {
      const a = await apps.app('/k/locked')
      return a.tasksRunning === 1 ? a.tasks[0] : undefined
    })
    const refused = await apps.req('DELETE', `/v2/apps/k/locked/tasks/${t.id}?scale=true`)
    expect(refused.status).toBe(409)
    expect(refused.body.deployments).toHaveLength(1)
    const refusedBulk = await apps.req('POST', '/v2/tasks/delete?scale=true', { ids: [t.id] })
    expect(refusedBulk.status).toBe(409)
    // Nothing changed: the instance keeps running and the app keeps its count.
    await new Promise((res) => setTimeout(res, 2500))
    const after = await apps.app('/k/locked')
    expect(after.instances).toBe(1)
    expect(after.tasks.map((x: TaskJson) => x.id)).toEqual([t.id])
    expect(after.tasks[0].state).toBe('TASK_RUNNING')
    const forced = await apps.req('DELETE', `/v2/apps/k/locked/tasks/${t.id}?scale=true&force=true`)
    expect(forced.status).toBe(200)
    await waitUntil('the forced scale-down', async () => (await apps.app('/k/locked')).tasks.length === 0)
    expect((await apps.app('/k/locked')).instances).toBe(0)
  })

  it('an HTTP health check runs first after its interval, not after the 15 s delaySeconds of Mesos checks', async () => {
    const events = new EventStream(apps.url, ['status_update_event', 'health_status_changed_event'])
    await waitUntil('the stream to attach', async () => (await apps.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value >= 1)
    const r = await apps.req('POST', '/v2/apps', {
      id: '/hc/quick',
      cmd: 'mkdir -p w && echo ok > w/index.html && exec busybox httpd -f -p $PORT0 -h w',
      cpus: 0.05,
      mem: 16,
      portDefinitions: [{ port: 0 }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 1, timeoutSeconds: 1 }],
    })
    expect(r.status).toBe(201)
    expect(r.body.healthChecks[0].delaySeconds).toBe(15)
    const running = await events.waitFor((e) => e.eventType === 'status_update_event' && e.appId === '/hc/quick' && e.taskStatus === 'TASK_RUNNING', 'the task to run')
    const healthy = await events.waitFor((e) => e.eventType === 'health_status_changed_event' && e.appId === '/hc/quick' && e.alive === true, 'the task to be healthy', 30_000)
    const waited = Date.parse(String(healthy.timestamp)) - Date.parse(String(running.timestamp))
    // The first check comes after intervalSeconds (1 s): well before 15 s, with room for a slow machine.
    expect(waited).toBeLessThan(10_000)
    await events.close()
    await apps.req('DELETE', '/v2/apps/hc/quick?force=true')
    await waitUntil('the task of /hc/quick to end', async () => !(await apps.req('GET', '/v2/tasks')).body.tasks.some((t: TaskJson) => t.appId === '/hc/quick'), 30_000)
  })

  it('refuses a service port another app holds with 422, on create, update and groups, and changes nothing', async () => {
    const holder = await apps.req('POST', '/v2/apps', sleeper('/sp/holder', { portDefinitions: [{ port: 10950 }] }))
    expect(holder.status).toBe(201)
    const conflict = { message: 'Object is not valid', details: [{ path: '/', errors: ['Requested service port 10950 conflicts with a service port in app /sp/holder'] }] }
    const create = await apps.req('POST', '/v2/apps', sleeper('/sp/other', { portDefinitions: [{ port: 10950 }] }))
    expect(create.status).toBe(422)
    expect(create.body).toEqual(conflict)
    expect((await apps.req('GET', '/v2/apps/sp/other')).status).toBe(404)
    const other = await apps.req('POST', '/v2/apps', sleeper('/sp/other', { portDefinitions: [{ port: 0 }] }))
    expect(other.status).toBe(201)
    const assigned = other.body.portDefinitions[0].port as number
    expect(assigned).not.toBe(10950)
    // Refused before the lock of the deployment that is still starting /sp/other: 422, not 409.
    const update = await apps.req('PUT', '/v2/apps/sp/other', { portDefinitions: [{ port: 10950 }] })
    expect(update.status).toBe(422)
    expect(update.body).toEqual(conflict)
    expect((await apps.req('GET', '/v2/apps/sp/other')).body.app.portDefinitions[0].port).toBe(assigned)
    const group = await apps.req('POST', '/v2/groups', { id: '/spg', apps: [sleeper('/spg/x', { portDefinitions: [{ port: 10950 }] })] })
    expect(group.status).toBe(422)
    expect(group.body.details[0].errors).toEqual(['Requested service port 10950 conflicts with a service port in app /sp/holder'])
    await apps.req('DELETE', '/v2/apps/sp/other?force=true')
    await apps.req('DELETE', '/v2/apps/sp/holder?force=true')
    await waitUntil('the tasks of /sp to end', async () => !(await apps.req('GET', '/v2/tasks')).body.tasks.some((t: TaskJson) => t.appId.startsWith('/sp/')), 30_000)
  })

  it('/v2/queue says why an app waits: the offers it was shown and what each lacked', async () => {
    const r = await apps.req('POST', '/v2/apps', sleeper('/q/huge', { cpus: 64 }))
    expect(r.status).toBe(201)
    const item = await waitUntil('offers to be declined for /q/huge', async () => {
      const q = await apps.req('GET', '/v2/queue?embed=lastUnusedOffers')
      const it = (q.body.queue as Array<Record<string, any>>).find((x) => x.app.id === '/q/huge') // eslint-disable-line @typescript-eslint/no-explicit-any
      return it && it.processedOffersSummary.unusedOffersCount >= 2 ? it : undefined
    })
    expect(item.count).toBe(1)
    const cpus = (item.processedOffersSummary.rejectSummaryLaunchAttempt as Array<{ reason: string; declined: number; processed: number }>).find((s) => s.reason === 'InsufficientCpus')!
    expect(cpus.declined).toBeGreaterThanOrEqual(2)
    expect(cpus.processed).toBe(cpus.declined)
    expect(item.processedOffersSummary.processedOffersCount).toBeGreaterThanOrEqual(item.processedOffersSummary.unusedOffersCount)
    const unused = item.lastUnusedOffers[0]
    expect(unused.reason).toContain('InsufficientCpus')
    expect(Object.keys(unused.offer).sort()).toEqual(['agentId', 'attributes', 'hostname', 'id', 'resources'])
    expect(['agent-a', 'agent-b']).toContain(unused.offer.hostname)
    expect(unused.offer.resources.find((x: { name: string }) => x.name === 'cpus').scalar).toBeGreaterThan(0)
    // Without the embed, Marathon leaves the offers out.
    const plain = (await apps.req('GET', '/v2/queue')).body.queue.find((x: { app: { id: string } }) => x.app.id === '/q/huge')
    expect(plain.lastUnusedOffers).toBeUndefined()
    await apps.req('DELETE', '/v2/apps/q/huge?force=true')
  })

  it('GET /v2/tasks?status=running lists only running tasks', async () => {
    // An app that cannot be placed: it never has a running task.
    const all = (await apps.req('GET', '/v2/tasks')).body.tasks as TaskJson[]
    const running = (await apps.req('GET', '/v2/tasks?status=running')).body.tasks as TaskJson[]
    expect(running.length).toBeGreaterThanOrEqual(4)
    expect(running.every((t) => t.state === 'TASK_RUNNING')).toBe(true)
    expect(running.map((t) => t.id).sort()).toEqual(all.filter((t) => t.state === 'TASK_RUNNING').map((t) => t.id).sort())
    const staging = (await apps.req('GET', '/v2/tasks?status=staging')).body.tasks as TaskJson[]
    expect(staging.some((t) => t.state === 'TASK_RUNNING')).toBe(false)
    // Marathon also takes status[]=.
    const bracket = (await apps.req('GET', '/v2/tasks?status[]=running')).body.tasks as TaskJson[]
    expect(bracket.map((t) => t.id).sort()).toEqual(running.map((t) => t.id).sort())
    for (const t of running) {
      expect(t.slaveId).toBeTruthy()
      expect(t.stagedAt).toBeTruthy()
    }
  })
})

describe('/v2/groups', () => {
  it('GET shows a nested tree with dependencies; PUT changes a group; DELETE removes it', async () => {
    const plans = new EventStream(apps.url, ['deployment_info'])
    await waitUntil('the stream to attach', async () => (await apps.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value >= 1)
    const r = await apps.req('POST', '/v2/groups', {
      id: '/shop',
      dependencies: [],
      groups: [
        { id: '/shop/db', apps: [sleeper('/shop/db/pg', { instances: 1 })] },
        { id: '/shop/web', dependencies: ['/shop/db'], apps: [sleeper('/shop/web/front', { instances: 1 })] },
      ],
    })
    expect(r.status).toBe(201)
    expect(r.body.deploymentId).toBeTruthy()
    await apps.waitDeployed('/shop/web/front')
    await apps.waitDeployed('/shop/db/pg')
    // The group's dependency orders its apps after /shop/db's: pg is scaled up a step before front.
    const info = await plans.waitFor((e) => e.plan.id === r.body.deploymentId, 'the group deployment_info')
    await plans.close()
    const stepOf = (app: string): number => info.plan.steps.findIndex((s: { actions: Array<{ app: string; action: string }> }) => s.actions.some((a) => a.app === app && a.action === 'ScaleApplication'))
    expect(stepOf('/shop/db/pg')).toBeGreaterThanOrEqual(0)
    expect(stepOf('/shop/web/front')).toBeGreaterThan(stepOf('/shop/db/pg'))

    const root = await apps.req('GET', '/v2/groups')
    expect(root.status).toBe(200)
    expect(root.body.id).toBe('/')
    for (const k of ['apps', 'groups', 'dependencies', 'version']) expect(root.body).toHaveProperty(k)
    const shop = root.body.groups.find((g: { id: string }) => g.id === '/shop')
    expect(shop.apps).toEqual([])
    expect(shop.groups.map((g: { id: string }) => g.id)).toEqual(['/shop/db', '/shop/web'])
    const web = shop.groups[1]
    expect(web.apps.map((a: { id: string }) => a.id)).toEqual(['/shop/web/front'])
    expect(web.apps[0].dependencies).toEqual([])
    expect(web.dependencies).toEqual(['/shop/db'])
    expect(web.groups).toEqual([])

    const one = await apps.req('GET', '/v2/groups/shop/db')
    expect(one.status).toBe(200)
    expect(one.body.id).toBe('/shop/db')
    expect(one.body.apps[0].id).toBe('/shop/db/pg')

    // PUT of a group with a scale factor scales every app in it.
    const scaled = await apps.req('PUT', '/v2/groups/shop/db', { scaleBy: 2 })
    expect(scaled.status).toBe(200)
    expect(scaled.body.deploymentId).toBeTruthy()
    expect((await apps.waitDeployed('/shop/db/pg')).instances).toBe(2)

    // PUT with apps replaces what the group holds.
    const put = await apps.req('PUT', '/v2/groups/shop/web', { id: '/shop/web', apps: [sleeper('/shop/web/back', { instances: 1 })] })
    expect(put.status).toBe(200)
    await apps.waitDeployed('/shop/web/back')
    await waitUntil('front to be removed', async () => (await apps.req('GET', '/v2/apps/shop/web/front')).status === 404)

    const del = await apps.req('DELETE', '/v2/groups/shop')
    expect(del.status).toBe(200)
    expect(del.body.deploymentId).toBeTruthy()
    await waitUntil('the group to go', async () => (await apps.req('GET', '/v2/groups/shop')).status === 404)
    const gone = await apps.req('GET', '/v2/groups/shop')
    expect(gone.body.message).toBe("Group '/shop' does not exist")
    await waitUntil('its tasks to stop', async () => !(await apps.req('GET', '/v2/tasks')).body.tasks.some((t: TaskJson) => t.appId.startsWith('/shop/')))
  })
})

describe('small endpoints and errors', () => {
  it('/v2/info, /v2/leader, /ping and /metrics have Marathon shapes', async () => {
    const info = await apps.req('GET', '/v2/info')
    expect(info.status).toBe(200)
    expect(info.body.name).toBe('marathon')
    expect(info.body.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(info.body.elected).toBe(true)
    expect(info.body.leader).toBe(`127.0.0.1:${apps.port}`)
    const fw = (await cluster.state()).frameworks.find((f: { name: string }) => f.name === 'marathon')
    expect(info.body.frameworkId).toBe(fw.id)
    expect(info.body.marathon_config.master).toBe(cluster.masterUrl)
    expect(typeof info.body.http_config.http_port).toBe('number')
    const leader = await apps.req('GET', '/v2/leader')
    expect(leader.body).toEqual({ leader: `127.0.0.1:${apps.port}` })
    const ping = await fetch(`${apps.url}/ping`)
    expect(ping.status).toBe(200)
    expect(ping.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await ping.text()).toBe('pong')
    const metrics = await apps.req('GET', '/metrics')
    expect(metrics.status).toBe(200)
    for (const k of ['version', 'counters', 'gauges', 'histograms', 'meters', 'timers']) expect(metrics.body).toHaveProperty(k)
    const running = (await apps.req('GET', '/v2/tasks?status=running')).body.tasks.length
    expect(metrics.body.gauges['marathon.instances.running.gauge'].value).toBe(running)
    const staged = (await apps.req('GET', '/v2/tasks?status=staging')).body.tasks.length
    expect(metrics.body.gauges['marathon.instances.staged.gauge'].value).toBe(staged)
    expect(metrics.body.gauges['marathon.apps.active.gauge'].value).toBe((await apps.req('GET', '/v2/apps')).body.apps.length)
  })

  it('404 bodies are worded as Marathon words them', async () => {
    const expect404 = async (method: string, path: string, message: string): Promise<void> => {
      const r = await apps.req(method, path)
      expect({ path, status: r.status, body: r.body }).toEqual({ path, status: 404, body: { message } })
    }
    await expect404('GET', '/v2/apps/no/such', "App '/no/such' does not exist")
    await expect404('DELETE', '/v2/apps/no/such', "App '/no/such' does not exist")
    await expect404('GET', '/v2/apps/no/such/tasks', "App '/no/such' does not exist")
    await expect404('GET', '/v2/apps/no/such/versions', "App '/no/such' does not exist")
    await expect404('POST', '/v2/apps/no/such/restart', "App '/no/such' does not exist")
    await expect404('DELETE', '/v2/apps/k/scale/tasks/k_scale.nope', "Task 'k_scale.nope' does not exist")
    await expect404('GET', '/v2/groups/no/such', "Group '/no/such' does not exist")
    await expect404('DELETE', '/v2/deployments/no-such-plan', 'DeploymentPlan no-such-plan does not exist')
    // An app that waits for nothing is not in the launch queue.
    await expect404('DELETE', '/v2/queue/k/scale/delay', 'Application /k/scale not found in tasks queue.')
  })

  it('/v2/pods says in Marathon terms that there are no pods: HEAD 404, empty lists, a 404 per pod, a 422 for a definition', async () => {
    // Marathon answers HEAD /v2/pods with 200 when it supports pods; clients probe it first.
    expect((await fetch(`${apps.url}/v2/pods`, { method: 'HEAD' })).status).toBe(404)
    expect(await apps.req('GET', '/v2/pods')).toEqual({ status: 200, body: [] })
    expect(await apps.req('GET', '/v2/pods/::status')).toEqual({ status: 200, body: [] })
    expect(await apps.req('GET', '/v2/pods/web/db::status')).toEqual({ status: 404, body: { message: "Pod '/web/db' does not exist" } })
    expect(await apps.req('GET', '/v2/pods/web')).toEqual({ status: 404, body: { message: "Pod '/web' does not exist" } })
    expect(await apps.req('DELETE', '/v2/pods/web')).toEqual({ status: 404, body: { message: "Pod '/web' does not exist" } })
    const pod = { id: '/web', containers: [{ name: 'c', resources: { cpus: 0.1, mem: 32 }, exec: { command: { shell: 'sleep 600' } } }] }
    for (const [method, path] of [['POST', '/v2/pods'], ['PUT', '/v2/pods/web']] as const) {
      const r = await apps.req(method, path, pod)
      expect(r.status).toBe(422)
      expect(r.body.message).toBe('Object is not valid')
      expect(r.body.details[0].errors[0]).toMatch(/^Pods are not supported/)
    }
    // Nothing was created on the way.
    expect((await apps.req('GET', '/v2/apps/web')).status).toBe(404)
  })
})

describe('events', () => {
  it('a deploy, a scale and a delete publish Marathon events with their fields', async () => {
    const stream = new EventStream(apps.url)
    await waitUntil('the stream to attach', async () => (await apps.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value >= 1)
    const created = await apps.req('POST', '/v2/apps', sleeper('/ev/app', { instances: 1 }))
    expect(created.status).toBe(201)
    const d1 = created.body.deployments[0].id
    await stream.waitFor((e) => e.eventType === 'deployment_success' && e.id === d1, 'the first deployment_success')
    const scale = await apps.req('PUT', '/v2/apps/ev/app', { instances: 2 })
    await stream.waitFor((e) => e.eventType === 'deployment_success' && e.id === scale.body.deploymentId, 'the scale deployment_success')
    const app = await apps.app('/ev/app')
    const del = await apps.req('DELETE', '/v2/apps/ev/app')
    expect(del.status).toBe(200)
    await stream.waitFor((e) => e.eventType === 'deployment_success' && e.id === del.body.deploymentId, 'the delete deployment_success')
    await stream.waitFor((e) => e.eventType === 'status_update_event' && e.appId === '/ev/app' && e.taskStatus === 'TASK_KILLED', 'TASK_KILLED')
    await stream.close()
    const mine = (type: string, pred: (e: MarathonEventRecord) => boolean = () => true): MarathonEventRecord[] =>
      stream.events.filter((e) => e.eventType === type && pred(e))
    for (const e of stream.events) {
      expect(typeof e.eventType).toBe('string')
      expect(Number.isNaN(Date.parse(e.timestamp))).toBe(false)
    }

    const post = mine('api_post_event', (e) => e.appDefinition?.id === '/ev/app')
    expect(post.length).toBeGreaterThanOrEqual(2)
    expect(post[0]!.clientIp).toBeTruthy()
    expect(post[0]!.uri).toBe('/v2/apps')
    expect(post[1]!.uri).toBe('/v2/apps/ev/app')

    const groupChange = mine('group_change_success')
    expect(groupChange.length).toBeGreaterThanOrEqual(3)
    // Marathon names the group the change was made in: the app's parent.
    expect(groupChange[0]!.groupId).toBe('/ev')
    expect(groupChange.some((e) => e.version === created.body.version)).toBe(true)

    const status = mine('status_update_event', (e) => e.appId === '/ev/app')
    const running = status.filter((e) => e.taskStatus === 'TASK_RUNNING')
    expect(running).toHaveLength(2)
    for (const e of running) {
      for (const k of ['slaveId', 'taskId', 'taskStatus', 'message', 'appId', 'host', 'ipAddresses', 'ports', 'version']) expect(e).toHaveProperty(k)
      expect(e.slaveId).toMatch(/\S/)
      expect(['agent-a', 'agent-b']).toContain(e.host)
      expect(Array.isArray(e.ports)).toBe(true)
      expect(Array.isArray(e.ipAddresses)).toBe(true)
      expect(app.tasks.map((t: TaskJson) => t.id)).toContain(e.taskId)
    }
    expect(running.map((e) => e.version)).toContain(created.body.version)

    const changed = mine('instance_changed_event', (e) => e.runSpecId === '/ev/app')
    expect(changed.map((e) => e.condition)).toEqual(expect.arrayContaining(['Running', 'Killed']))
    for (const e of changed) {
      for (const k of ['instanceId', 'condition', 'runSpecId', 'agentId', 'host', 'runSpecVersion']) expect(e).toHaveProperty(k)
      expect(e.instanceId).toMatch(/^ev_app\.instance-/)
    }

    for (const id of [d1, scale.body.deploymentId, del.body.deploymentId]) {
      const info = mine('deployment_info', (e) => e.plan?.id === id)
      expect(info.length).toBeGreaterThanOrEqual(1)
      const step = mine('deployment_step_success', (e) => e.plan?.id === id)
      expect(step.length).toBeGreaterThanOrEqual(1)
      for (const e of [...info, ...step]) {
        // The light plan, the only one since Marathon 1.8.
        expect(Object.keys(e.plan).sort()).toEqual(['id', 'steps', 'version'])
        // currentStep is the step itself, as Marathon's raml.DeploymentStep.
        expect(Array.isArray(e.currentStep.actions)).toBe(true)
        expect(e.currentStep.actions[0].app).toBe('/ev/app')
      }
      const success = mine('deployment_success', (e) => e.id === id)
      expect(success).toHaveLength(1)
      expect(success[0]!.plan.id).toBe(id)
    }
    const actionOf = (id: string): string => mine('deployment_info', (e) => e.plan?.id === id)[0]!.currentStep.actions[0].action
    expect(actionOf(d1)).toBe('StartApplication')
    expect(actionOf(scale.body.deploymentId)).toBe('ScaleApplication')
    expect(actionOf(del.body.deploymentId)).toBe('StopApplication')
    const delInfo = mine('deployment_info', (e) => e.plan?.id === del.body.deploymentId)[0]!
    expect(delInfo.plan.steps).toEqual([{ actions: [{ action: 'StopApplication', app: '/ev/app' }] }])

    const terminated = mine('app_terminated_event', (e) => e.appId === '/ev/app')
    expect(terminated).toHaveLength(1)
    const order = stream.events.indexOf(terminated[0]!)
    expect(order).toBeGreaterThan(stream.events.indexOf(mine('deployment_info', (e) => e.plan?.id === del.body.deploymentId)[0]!))
    expect(mine('event_stream_attached').length).toBeGreaterThanOrEqual(1)
  })
})
