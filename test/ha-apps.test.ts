// dromos apps in HA: two instances on a real etcd, one leading. The standby forwards the v2
// API to the leader (and redirects /v2/events); the leader abdicates in the middle of a
// rolling restart, and the new leader finishes it with minimumHealthCapacity held; a leader
// killed with SIGKILL is replaced with every task kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess } from './lib/apps.js'
import { waitUntil } from './lib/cluster.js'
import { HaCluster } from './lib/ha.js'

let ha: HaCluster
const instances: AppsProcess[] = []

beforeAll(async () => {
  ha = await HaCluster.start({ etcdMembers: 1, masters: 1 })
  await ha.addAgent('cpus:4;mem:2048;disk:1000;ports:[31000-31099]')
  const args = ['--store', ha.storeUrl, '--leader-lease', '2s']
  instances.push(await AppsProcess.start({ masterUrl: ha.masterList, dir: ha.dir }, args, 'apps-0'))
  instances.push(await AppsProcess.start({ masterUrl: ha.masterList, dir: ha.dir }, args, 'apps-1'))
}, 120_000)

afterAll(async () => {
  for (const a of instances) await a.proc.stop()
  await ha?.stop()
}, 120_000)

const address = (a: AppsProcess): string => `127.0.0.1:${a.port}`
const alive = (a: AppsProcess): boolean => a.proc.child.exitCode === null && a.proc.child.signalCode === null

/** The instance every live instance names in GET /v2/leader. */
async function leader(): Promise<AppsProcess> {
  return waitUntil('one dromos apps that every instance names as leader', async () => {
    const named = new Set<string>()
    for (const a of instances.filter(alive)) {
      const r = await a.req('GET', '/v2/leader')
      if (r.status !== 200) return undefined
      named.add((r.body as { leader: string }).leader)
    }
    const [only] = [...named]
    return named.size === 1 ? instances.find((a) => address(a) === only && alive(a)) : undefined
  }, 30_000, 50)
}

/** Running tasks of the app, as the master sees them: it does not depend on which instance leads. */
async function runningOnMaster(appId: string): Promise<number> {
  const s = (await (await fetch(`${ha.masters[0]!.url}/master/state`)).json()) as { frameworks: Array<{ tasks: Array<{ id: string; state: string }> }> }
  return s.frameworks.flatMap((f) => f.tasks).filter((t) => t.id.startsWith(`${appId}.`) && t.state === 'TASK_RUNNING').length
}

describe('dromos apps in HA', () => {
  it('forwards the standby\'s requests to the leader and redirects its event stream', async () => {
    const lead = await leader()
    const standby = instances.find((a) => a !== lead)!
    const r = await fetch(`${standby.url}/v2/apps`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id: '/via-standby', cmd: 'sleep 3600', cpus: 0.05, mem: 16 }) })
    expect(r.status).toBe(201)
    expect(r.headers.get('x-marathon-leader')).toBe(`http://${address(lead)}`)
    expect(((await r.json()) as { id: string }).id).toBe('/via-standby')
    expect((await lead.app('/via-standby'))?.id).toBe('/via-standby')
    // A Marathon error body comes through unchanged.
    const missing = await standby.req('GET', '/v2/apps/nope')
    expect(missing.status).toBe(404)
    expect(missing.body).toEqual({ message: "App '/nope' does not exist" })
    const events = await fetch(`${standby.url}/v2/events`, { redirect: 'manual', headers: { Accept: 'text/event-stream' } })
    await events.body?.cancel()
    expect(events.status).toBe(302)
    expect(events.headers.get('location')).toBe(`http://${address(lead)}/v2/events`)
    await lead.req('DELETE', '/v2/apps/via-standby?force=true')
  })

  it('finishes a rolling restart under the new leader after the old one abdicates, minimumHealthCapacity held', async () => {
    const app = {
      id: '/rolling',
      cmd: 'sleep 3600',
      instances: 4,
      cpus: 0.05,
      mem: 16,
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'true' }, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0, maxConsecutiveFailures: 3 }],
    }
    const first = await leader()
    expect((await first.req('POST', '/v2/apps', app)).status).toBe(201)
    await first.waitDeployed('/rolling')
    const before = ((await first.req('GET', '/v2/apps/rolling/tasks')).body as { tasks: Array<{ id: string }> }).tasks.map((t) => t.id)
    expect(before).toHaveLength(4)

    // Sample what the master runs all along, whoever leads the apps.
    let lowest = Infinity
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        lowest = Math.min(lowest, await runningOnMaster('rolling'))
        await new Promise((r) => setTimeout(r, 50))
      }
    })()

    const restart = await first.req('POST', '/v2/apps/rolling/restart')
    expect(restart.status).toBe(200)
    const deploymentId = (restart.body as { deploymentId: string }).deploymentId
    expect(((await first.req('GET', '/v2/deployments')).body as Array<{ id: string }>).map((d) => d.id)).toContain(deploymentId)
    const abdicatedAt = Date.now()
    const abdicated = await first.req('DELETE', '/v2/leader')
    expect(abdicated).toEqual({ status: 200, body: { message: 'Leadership abdicated' } })
    // It gives up and exits (0): a supervisor would start it again, as a standby.
    expect(await first.proc.exited).toBe(0)
    const next = await leader()
    console.log(`abdication: the next dromos apps leads ${((Date.now() - abdicatedAt) / 1000).toFixed(2)} s after DELETE /v2/leader`)
    expect(next).not.toBe(first)
    // The new leader has the deployment where it was, and finishes it.
    const deployments = (await next.req('GET', '/v2/deployments')).body as Array<{ id: string }>
    if (deployments.length > 0) expect(deployments.map((d) => d.id)).toContain(deploymentId)
    const done = await next.waitDeployed('/rolling', 90_000)
    sampling = false
    await sampler
    expect(done.tasksRunning).toBe(4)
    expect(done.tasksHealthy).toBe(4)
    const after = ((await next.req('GET', '/v2/apps/rolling/tasks')).body as { tasks: Array<{ id: string }> }).tasks.map((t) => t.id)
    expect(after.filter((id) => before.includes(id))).toEqual([])
    console.log(`rolling restart across an abdication: at least ${lowest} of 4 running throughout (minimumHealthCapacity 0.5 asks for 2)`)
    expect(lowest).toBeGreaterThanOrEqual(2)

    first.proc.restart()
    await first.waitReady()
  }, 180_000)

  it('replaces a leader killed with SIGKILL, keeping every task', async () => {
    const lead = await leader()
    const tasks = async (a: AppsProcess) => (((await a.req('GET', '/v2/apps/rolling/tasks')).body as { tasks: Array<{ id: string; startedAt: string }> }).tasks).map((t) => `${t.id}@${t.startedAt}`).sort()
    const before = await tasks(lead)
    const killedAt = Date.now()
    await lead.proc.stop('SIGKILL')
    const next = await leader()
    await waitUntil('the new leader to answer with the tasks', async () => (await tasks(next)).length === before.length)
    console.log(`dromos apps leader SIGKILL: new leader serving /v2/apps in ${((Date.now() - killedAt) / 1000).toFixed(2)} s (lease 2 s)`)
    expect(await tasks(next)).toEqual(before)
    lead.proc.restart()
    await lead.waitReady()
  }, 120_000)
})
