// The scale benchmark's setup in small: 20 hollow agents in one `dromos agent --count` process,
// a real master and `dromos apps`; one app of 200 instances, with a Mesos-run health check,
// comes up in full. Counts only: timings are bench/scale.ts's business.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess } from './lib/apps.js'
import { Proc, TestCluster, waitUntil } from './lib/cluster.js'

const AGENTS = 20
const INSTANCES = 200

let cluster: TestCluster
let agents: Proc
let apps: AppsProcess

beforeAll(async () => {
  cluster = await TestCluster.start({ agents: [] })
  agents = new Proc(
    [
      'agent',
      '--master', cluster.masterUrl,
      '--containerizers', 'hollow',
      '--count', String(AGENTS),
      '--hostname-prefix', 'hollow-',
      '--port', '0',
      '--work-dir', join(cluster.dir, 'hollow'),
      '--resources', 'cpus:4;mem:4096;disk:1000;ports:[31000-31099]',
      '--status-update-retry', '1s',
      '--log-level', 'info',
    ],
    join(cluster.dir, 'hollow.log'),
  )
  await waitUntil('the hollow agents to register', async () => {
    const st = (await cluster.state()) as { slaves: unknown[] }
    return st.slaves.length === AGENTS
  }, 60_000)
  apps = await AppsProcess.start(cluster)
})

afterAll(async () => {
  await apps?.proc.stop()
  await agents?.stop()
  await cluster?.stop()
})

describe('hollow agents at small scale', () => {
  it(`${AGENTS} hollow agents in one process run an app of ${INSTANCES} instances, all healthy`, async () => {
    const st = (await cluster.state()) as { slaves: Array<{ hostname: string; port: number }> }
    expect(new Set(st.slaves.map((s) => s.hostname)).size).toBe(AGENTS)
    expect(new Set(st.slaves.map((s) => s.port)).size).toBe(AGENTS)

    const created = await apps.req('POST', '/v2/apps', {
      id: '/smoke',
      cmd: 'sleep 1000',
      cpus: 0.1,
      mem: 16,
      instances: INSTANCES,
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0, delaySeconds: 0, gracePeriodSeconds: 30, intervalSeconds: 5, maxConsecutiveFailures: 3 }],
    })
    expect(created.status).toBe(201)
    const app = await apps.waitDeployed('/smoke', 90_000)
    expect(app.tasksRunning).toBe(INSTANCES)
    expect(app.tasksHealthy).toBe(INSTANCES)

    const metrics = (await (await fetch(`${cluster.masterUrl}/metrics/snapshot`)).json()) as Record<string, number>
    expect(metrics['master/tasks_running']).toBe(INSTANCES)
    const tasks = (await apps.req('GET', '/v2/tasks')).body.tasks as Array<{ slaveId: string; state: string }>
    expect(tasks.filter((t) => t.state === 'TASK_RUNNING')).toHaveLength(INSTANCES)
    // Spread or packed, the tasks run on hollow agents only, and on more than one of them.
    expect(new Set(tasks.map((t) => t.slaveId)).size).toBeGreaterThan(1)

    // Killed through the API, the tasks end on their agents and the master counts none.
    expect((await apps.req('DELETE', '/v2/apps/smoke')).status).toBeLessThan(300)
    await waitUntil('the tasks to be killed', async () => {
      const m = (await (await fetch(`${cluster.masterUrl}/metrics/snapshot`)).json()) as Record<string, number>
      return m['master/tasks_running'] === 0
    }, 60_000)
  })
})
