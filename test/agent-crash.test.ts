// An agent killed with SIGKILL, again and again, while it runs Docker and process tasks of
// dromos apps: every container and process outlives it and is taken back when it starts
// again, none is restarted, and a status update that had not reached the master when the
// agent died is sent by the next agent.
import Dockerode from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess } from './lib/apps.js'
import { TestCluster, waitUntil } from './lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from './lib/images.js'
import { processesWhere } from './lib/proc.js'

const docker = new Dockerode()
let cluster: TestCluster
let apps: AppsProcess

beforeAll(async () => {
  await ensureBusyboxImage()
  cluster = await TestCluster.start({ agents: [{ resources: 'cpus:2;mem:1024;disk:1000;ports:[31300-31349]' }] })
  apps = await AppsProcess.start(cluster)
}, 120_000)

afterAll(async () => {
  await apps?.removeAllApps()
  await apps?.proc.stop()
  await cluster?.stop()
}, 120_000)

interface Seen {
  id: string
  startedAt: string
  state: string
}

async function tasksOf(id: string): Promise<Seen[]> {
  const body = (await apps.req('GET', `/v2/apps${id}/tasks`)).body as { tasks: Seen[] }
  return body.tasks.map((t) => ({ id: t.id, startedAt: t.startedAt, state: t.state })).sort((a, b) => a.id.localeCompare(b.id))
}

/** The agent's own view: task id -> state, from its /state. */
async function agentTasks(): Promise<Map<string, string>> {
  type T = { id: string; state: string }
  const s = (await (await fetch(`${cluster.agents[0]!.url}/state`)).json()) as { frameworks: Array<{ executors: Array<{ tasks: T[]; completed_tasks: T[] }> }> }
  // A task that ended but whose update is not acknowledged yet is still the executor's (completed_tasks).
  return new Map(s.frameworks.flatMap((f) => f.executors.flatMap((e) => [...e.tasks, ...e.completed_tasks])).map((t) => [t.id, t.state]))
}

/** The containers of the app's tasks (by the agent's task label), with when each was created. */
async function containersOf(appId: string): Promise<string[]> {
  const ids = new Set((await tasksOf(appId)).map((t) => t.id))
  const list = await docker.listContainers({ filters: { label: ['dromos.task_id'] } })
  return list.filter((c) => ids.has(c.Labels['dromos.task_id'] ?? '')).map((c) => `${c.Id}@${c.Created}`).sort()
}

async function killAgentAndRestart(): Promise<void> {
  const agent = cluster.agents[0]!
  await agent.proc.stop('SIGKILL')
  agent.proc.restart()
  await waitUntil('the agent to answer again', async () => (await fetch(`${agent.url}/state`)).ok)
}

describe('agent killed with SIGKILL', () => {
  it('10 times: every container and process runs on and is taken back, none restarted', async () => {
    for (const app of [
      { id: '/crash/docker', instances: 2, cpus: 0.1, mem: 32, cmd: 'exec httpd -f -p 8080 -h /www', container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG }, portMappings: [{ containerPort: 8080 }] }, networks: [{ mode: 'container/bridge' }] },
      { id: '/crash/process', instances: 2, cpus: 0.1, mem: 16, cmd: 'sleep 3600' },
    ]) {
      expect((await apps.req('POST', '/v2/apps', app)).status).toBe(201)
      await apps.waitDeployed(app.id)
    }
    const docker0 = await tasksOf('/crash/docker')
    const process0 = await tasksOf('/crash/process')
    const containers0 = await containersOf('/crash/docker')
    expect(containers0).toHaveLength(2)

    for (let round = 0; round < 10; round++) {
      await killAgentAndRestart()
      // Taken back: the agent knows all four as running, and the master has them again.
      await waitUntil('the agent to have its four tasks back', async () => {
        const t = await agentTasks()
        return [...docker0, ...process0].every((x) => t.get(x.id) === 'TASK_RUNNING')
      })
      expect(await containersOf('/crash/docker')).toEqual(containers0)
    }
    console.log(`agent SIGKILL × 10: ${(await containersOf('/crash/docker')).length}/2 containers and ${(await tasksOf('/crash/process')).length}/2 processes survived, none restarted`)
    expect(await tasksOf('/crash/docker')).toEqual(docker0)
    expect(await tasksOf('/crash/process')).toEqual(process0)
  }, 300_000)

  it('sends again the update that had not reached the master when the agent died', async () => {
    const [victim] = await tasksOf('/crash/process')
    expect(victim?.state).toBe('TASK_RUNNING')
    expect((await agentTasks()).get(victim!.id)).toBe('TASK_RUNNING')
    // With the master stopped, the agent's TASK_FAILED can reach no one: it stays pending.
    await cluster.master.stop()
    const pids = await processPidsOf(victim!.id)
    expect(pids.length).toBeGreaterThan(0)
    for (const pid of pids) process.kill(pid, 'SIGKILL')
    await waitUntil('the agent to see the task fail', async () => (await agentTasks()).get(victim!.id) === 'TASK_FAILED')
    await killAgentAndRestart()
    cluster.master.restart()
    // Only the restarted agent has the update to send. dromos apps acknowledges it (by its
    // uuid, which only the agent's own update carries), so the agent forgets the task...
    await waitUntil('the agent to have its update acknowledged', async () => !(await agentTasks()).has(victim!.id), 60_000)
    // ...and replaces the instance.
    await waitUntil('dromos apps to replace the failed task', async () => {
      const now = await tasksOf('/crash/process')
      return now.length === 2 && !now.some((t) => t.id === victim!.id) && now.every((t) => t.state === 'TASK_RUNNING')
    }, 60_000)
    const app = (await apps.req('GET', '/v2/apps/crash/process')).body as { app: { lastTaskFailure?: { taskId: string; state: string } } }
    expect(app.app.lastTaskFailure).toMatchObject({ taskId: victim!.id, state: 'TASK_FAILED' })
  }, 120_000)
})

/** The pids whose environment names the task (MESOS_TASK_ID), from /proc. */
function processPidsOf(taskId: string): Promise<number[]> {
  return Promise.resolve(processesWhere((p) => p.environ().includes(`MESOS_TASK_ID=${taskId}`)))
}
