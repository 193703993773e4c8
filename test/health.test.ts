// Health checks of `dromos apps` with real processes: the framework's own HTTP checks next to a
// COMMAND check the agent runs, the per-check healthCheckResults, and maxConsecutiveFailures 0.
// Real master, one real agent, a real `dromos apps` process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess } from './lib/apps.js'
import type { TaskJson } from './lib/apps.js'
import { TestCluster, waitUntil } from './lib/cluster.js'

let cluster: TestCluster
let apps: AppsProcess

beforeAll(async () => {
  cluster = await TestCluster.start({ agents: [{ hostname: 'agent-h', resources: 'cpus:4;mem:2048;disk:1000;ports:[31600-31699]' }] })
  apps = await AppsProcess.start(cluster)
})

afterAll(async () => {
  await apps?.removeAllApps()
  await apps?.proc.stop()
  await cluster?.stop()
})

interface HealthJson {
  alive: boolean
  consecutiveFailures: number
  firstSuccess: string | null
  lastFailure: string | null
  lastSuccess: string | null
  lastFailureCause: string | null
  instanceId: string
}
type Task = Omit<TaskJson, 'healthCheckResults'> & { healthCheckResults: HealthJson[] }

const timing = { gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0 }
const httpd = 'mkdir -p www && echo ok > www/health && exec busybox httpd -f -p "$PORT0" -h www'

function webApp(id: string, command: string): Record<string, unknown> {
  return {
    id,
    cmd: httpd,
    cpus: 0.05,
    mem: 16,
    portDefinitions: [{ port: 0, name: 'http' }],
    healthChecks: [
      { protocol: 'HTTP', path: '/health', portIndex: 0, maxConsecutiveFailures: 3, ...timing },
      // The agent would kill the task at 100 failures: long after this test looked.
      { protocol: 'COMMAND', command: { value: command }, maxConsecutiveFailures: 100, ...timing },
    ],
  }
}

async function tasksOf(id: string): Promise<Task[]> {
  return (await apps.req('GET', `/v2/apps${id}/tasks`)).body.tasks as Task[]
}

describe('health checks', () => {
  it('an instance is healthy only when every check passes: a failing COMMAND check keeps the deployment open', async () => {
    expect((await apps.req('POST', '/v2/apps', webApp('/health/both-pass', 'true'))).status).toBe(201)
    expect((await apps.req('POST', '/v2/apps', webApp('/health/command-fails', 'exit 1'))).status).toBe(201)

    const twin = await apps.waitDeployed('/health/both-pass', 60_000)
    expect(twin.tasksHealthy).toBe(1)
    expect(twin.tasksUnhealthy).toBe(0)

    const sick = await waitUntil('the failing COMMAND check to count several failures', async () => {
      const [t] = await tasksOf('/health/command-fails')
      const command = t?.healthCheckResults.find((h) => h.lastFailure !== null)
      return t && command && command.consecutiveFailures >= 3 ? t : undefined
    }, 60_000)
    // One entry per check, with Marathon's keys: the framework's HTTP check passes, the COMMAND check fails.
    expect(sick.healthCheckResults).toHaveLength(2)
    const [http, command] = sick.healthCheckResults
    expect(Object.keys(http!).sort()).toEqual(['alive', 'consecutiveFailures', 'firstSuccess', 'instanceId', 'lastFailure', 'lastFailureCause', 'lastSuccess'])
    expect(http).toMatchObject({ alive: true, consecutiveFailures: 0, lastFailure: null, lastFailureCause: null })
    expect(http!.firstSuccess).not.toBeNull()
    expect(command).toMatchObject({ alive: false, lastSuccess: null })
    expect(command!.consecutiveFailures).toBeGreaterThanOrEqual(3)

    const app = await apps.app('/health/command-fails')
    expect(app.tasksHealthy).toBe(0)
    expect(app.tasksUnhealthy).toBe(1)
    expect(app.tasksRunning).toBe(1)
    expect(app.deployments).toHaveLength(1)
    const twinTask = (await tasksOf('/health/both-pass'))[0]!
    expect(twinTask.healthCheckResults.map((h) => h.alive)).toEqual([true, true])

    for (const id of ['/health/both-pass', '/health/command-fails']) await apps.req('DELETE', `/v2/apps${id}?force=true`)
  })

  it('maxConsecutiveFailures 0 never kills, also an instance that was healthy and then fails', async () => {
    // /health is served for 4 s, then gone: healthy first, then failing on every check.
    const cmd = 'mkdir -p www && echo ok > www/health; (sleep 4; rm www/health) & exec busybox httpd -f -p "$PORT0" -h www'
    const created = await apps.req('POST', '/v2/apps', {
      id: '/health/never-kill',
      cmd,
      cpus: 0.05,
      mem: 16,
      portDefinitions: [{ port: 0, name: 'http' }],
      healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, maxConsecutiveFailures: 0, ...timing }],
    })
    expect(created.status).toBe(201)
    const healthy = await waitUntil('the instance to be healthy', async () => {
      const [t] = await tasksOf('/health/never-kill')
      return t?.healthCheckResults[0]?.alive ? t : undefined
    }, 60_000)
    const failing = await waitUntil('several failures in a row', async () => {
      const [t] = await tasksOf('/health/never-kill')
      return t && (t.healthCheckResults[0]?.consecutiveFailures ?? 0) >= 5 ? t : undefined
    }, 30_000)
    expect(failing.id).toBe(healthy.id)
    expect(failing.state).toBe('TASK_RUNNING')
    expect(failing.healthCheckResults[0]).toMatchObject({ alive: false, firstSuccess: healthy.healthCheckResults[0]!.firstSuccess })
    expect(failing.healthCheckResults[0]!.lastFailureCause).toContain('404')
    const app = await apps.app('/health/never-kill')
    expect(app.tasks.map((t: Task) => t.id)).toEqual([healthy.id])
    expect(app.tasksUnhealthy).toBe(1)
    await apps.req('DELETE', '/v2/apps/health/never-kill?force=true')
  })

  it("changes the framework's own checks of running instances in place: no restart, and the new check is what runs", async () => {
    const check = { protocol: 'HTTP', path: '/health', portIndex: 0, maxConsecutiveFailures: 0, ...timing }
    const created = await apps.req('POST', '/v2/apps', { id: '/health/in-place', cmd: httpd, cpus: 0.05, mem: 16, portDefinitions: [{ port: 0, name: 'http' }], healthChecks: [check] })
    expect(created.status).toBe(201)
    const before = await apps.waitDeployed('/health/in-place', 60_000)
    const [task] = (await tasksOf('/health/in-place'))
    expect(task!.healthCheckResults[0]!.alive).toBe(true)
    // A path the task does not serve: the check now fails, on the task that was healthy.
    expect((await apps.req('PUT', '/v2/apps/health/in-place', { healthChecks: [{ ...check, path: '/missing' }] })).status).toBe(200)
    const after = await apps.waitDeployed('/health/in-place', 30_000)
    expect(after.versionInfo.lastConfigChangeAt).toBe(before.versionInfo.lastConfigChangeAt)
    expect(after.healthChecks[0].path).toBe('/missing')
    const failing = await waitUntil('the new check to fail on the same task', async () => {
      const [t] = await tasksOf('/health/in-place')
      return t && t.healthCheckResults[0]?.lastFailureCause?.includes('404') ? t : undefined
    }, 30_000)
    expect(failing.id).toBe(task!.id)
    expect(failing.state).toBe('TASK_RUNNING')
    await apps.req('DELETE', '/v2/apps/health/in-place?force=true')
  })
})
