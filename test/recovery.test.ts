// Recovery end to end: agents and masters that restart, agents that vanish from the network
// and come back, and frameworks that go away. Real master and agent processes, real Docker,
// and a framework that speaks only JSON over HTTP.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, TestCluster, waitUntil } from './lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from './lib/images.js'
import type { MesosEvent } from './lib/scheduler.js'
import { offeredPorts, ports, scalar, TestFramework } from './lib/scheduler.js'

const docker = new Dockerode()
const ONE_SECOND_NS = 1_000_000_000

interface AgentTaskView {
  id: string
  framework_id: string
  state: string
}

/** Every task the agent's /state lists, running or completed. */
async function agentTasks(agentUrl: string): Promise<AgentTaskView[]> {
  const s = (await (await fetch(`${agentUrl}/state`)).json()) as {
    frameworks: Array<{ executors: Array<{ tasks: AgentTaskView[]; completed_tasks: AgentTaskView[] }> }>
  }
  return s.frameworks.flatMap((f) => f.executors.flatMap((e) => [...e.tasks, ...e.completed_tasks]))
}

async function agentTaskState(agentUrl: string, taskId: string): Promise<string | undefined> {
  return (await agentTasks(agentUrl)).find((t) => t.id === taskId)?.state
}

/** The pid of a process task, from the container id ('process-<pid>') its RUNNING update carries. */
function pidOf(running: MesosEvent): number {
  const id = String(running.update.status.container_status?.container_id?.value ?? '')
  const m = /^process-(\d+)$/.exec(id)
  if (!m) throw new Error(`not a process container id: '${id}'`)
  return Number(m[1])
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A zombie answers signal 0 too; it is dead all the same.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

function sleepTask(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: id, task_id: { value: id }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 600' }, ...extra }
}

/**
 * One agent with a host port of its own: other test files may run tasks on 31000+ at the
 * same time, and Docker refuses a host port that is taken.
 */
async function startCluster(masterArgs: string[]): Promise<TestCluster> {
  const port = await freePort()
  return TestCluster.start({ masterArgs, agents: [{ resources: `cpus:2;mem:1024;disk:1000;ports:[${port}-${port}]` }] })
}

const slaveIds = (state: { slaves: Array<{ id: string }> }): string[] => state.slaves.map((s) => s.id)

/** What every cluster of this file needs torn down, even when a test failed half way. */
class Cleanup {
  readonly frameworks: TestFramework[] = []
  readonly pids: number[] = []
  readonly agentIds: string[] = []

  async run(cluster: TestCluster | undefined): Promise<void> {
    for (const f of this.frameworks) {
      if (f.closed) continue
      await f.call({ type: 'TEARDOWN' }).catch(() => undefined)
      f.close()
    }
    await cluster?.stop()
    // Agents stop without destroying their tasks: anything left is ours to remove.
    for (const pid of this.pids) {
      try {
        // Only a task's process: the pid may have been reused since.
        if (readFileSync(`/proc/${pid}/environ`, 'utf8').includes('MESOS_TASK_ID=')) process.kill(-pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
    for (const id of this.agentIds) {
      for (const c of await docker.listContainers({ all: true, filters: { label: [`dromos.agent_id=${id}`] } })) {
        await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)
      }
    }
  }
}

beforeAll(async () => {
  await ensureBusyboxImage()
})

describe('agent restart', () => {
  let cluster: TestCluster
  const cleanup = new Cleanup()
  beforeAll(async () => {
    cluster = await startCluster(['--heartbeat-interval', '1s'])
  })
  afterAll(() => cleanup.run(cluster))

  /** Stops the agent with SIGTERM, checks it exited cleanly, starts it again and waits until the master saw it re-register. */
  async function restartAgent(agentId: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const agent = cluster.agents[0]!
    await agent.proc.stop()
    expect(await agent.proc.exited).toBe(0)
    const restartedAt = Date.now()
    agent.proc.restart()
    return waitUntil('the agent to re-register', async () => {
      // The old process is gone: an answer comes from the new one (restarts may be a second apart).
      const own = await fetch(`${agent.url}/state`).then((r) => r.ok, () => false)
      const s = await cluster.state()
      const slave = s.slaves.find((x: { id: string }) => x.id === agentId)
      return own && slave?.reregistered_time !== undefined && slave.reregistered_time * 1000 >= restartedAt - 1000 ? s : undefined
    })
  }

  it('keeps its id and its Docker container, and the recovered task stays reconcilable and killable', async () => {
    const agent = cluster.agents[0]!
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'agent-restart', failoverTimeout: 60 })
    cleanup.frameworks.push(f)
    const offer = (await f.waitOffers()).offers.offers[0]
    const agentId: string = offer.agent_id.value
    cleanup.agentIds.push(agentId)
    const [hostPort] = offeredPorts(offer, 1)
    await f.launch(offer, [
      {
        name: 'web',
        task_id: { value: 'web-r' },
        resources: [scalar('cpus', 0.1), scalar('mem', 32), ports(hostPort!)],
        command: { shell: true, value: 'exec httpd -f -p 8080 -h /www' },
        container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'BRIDGE', port_mappings: [{ host_port: hostPort, container_port: 8080, protocol: 'tcp' }] } },
        kill_policy: { grace_period: { nanoseconds: ONE_SECOND_NS } },
      },
    ])
    await f.waitUpdate('web-r', 'TASK_RUNNING')
    const answer = async (): Promise<string | undefined> => {
      const r = await fetch(`http://127.0.0.1:${hostPort}/`, { signal: AbortSignal.timeout(2000) })
      return r.ok ? r.text() : undefined
    }
    expect(await waitUntil('the task to answer', answer)).toContain('dromos test image')
    const before = await docker.listContainers({ filters: { label: ['dromos.task_id=web-r'] } })
    expect(before).toHaveLength(1)
    const containerId = before[0]!.Id
    const startedAt = (await docker.getContainer(containerId).inspect()).State.StartedAt

    // A plain stop (SIGTERM) leaves the task running: the container outlives its agent.
    await agent.proc.stop()
    expect(await agent.proc.exited).toBe(0)
    expect((await docker.getContainer(containerId).inspect()).State.Running).toBe(true)
    expect(await answer()).toContain('dromos test image')

    const from = f.events.length
    // The master sees the same agent id re-register; no second agent appears.
    const state = await restartAgent(agentId)
    expect(slaveIds(state)).toEqual([agentId])
    expect(state.unreachable_slaves).toBe(0)
    expect(((await (await fetch(`${agent.url}/state`)).json()) as { id: string }).id).toBe(agentId)

    // The agent recovered the task instead of failing it, and kept the very same container.
    expect(await agentTaskState(agent.url, 'web-r')).toBe('TASK_RUNNING')
    const after = await docker.listContainers({ filters: { label: ['dromos.task_id=web-r'] } })
    expect(after.map((c) => c.Id)).toEqual([containerId])
    expect((await docker.getContainer(containerId).inspect()).State.StartedAt).toBe(startedAt)
    expect(await answer()).toContain('dromos test image')

    const reconcileFrom = f.events.length
    await f.mustCall({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'web-r' }, agent_id: { value: agentId } }] } })
    const reconciled = await f.waitUpdate('web-r', () => true, { from: reconcileFrom })
    expect(reconciled.update.status.state).toBe('TASK_RUNNING')
    expect(reconciled.update.status.reason).toBe('REASON_RECONCILIATION')
    // Nothing terminal was reported across the restart.
    expect(f.updatesOf('web-r').filter((s) => s.state !== 'TASK_RUNNING' && s.state !== 'TASK_STARTING')).toEqual([])
    expect(f.events.slice(from).filter((e) => e.type === 'UPDATE' && e.update.status.state !== 'TASK_RUNNING')).toEqual([])

    // The recovered container is still under the agent's control.
    const killFrom = f.events.length
    await f.mustCall({ type: 'KILL', kill: { task_id: { value: 'web-r' }, agent_id: { value: agentId } } })
    const killed = await f.waitUpdate('web-r', 'TASK_KILLED', { from: killFrom, timeoutMs: 15_000 })
    expect(killed.update.status.source).toBe('SOURCE_EXECUTOR')
    expect(await docker.listContainers({ all: true, filters: { label: ['dromos.task_id=web-r'] } })).toHaveLength(0)
    await expect(answer()).rejects.toThrow()
    await f.call({ type: 'TEARDOWN' })
    f.close()
  })

  it('reports a Docker task that exited while the agent was down with its real exit status', async () => {
    const agent = cluster.agents[0]!
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'exited-while-down', failoverTimeout: 60 })
    cleanup.frameworks.push(f)
    const offer = (await f.waitOffers()).offers.offers[0]
    const agentId: string = offer.agent_id.value
    cleanup.agentIds.push(agentId)
    const shortTask = (id: string, cmd: string) => ({
      name: id,
      task_id: { value: id },
      resources: [scalar('cpus', 0.1), scalar('mem', 32)],
      command: { shell: true, value: cmd },
      container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'NONE' } },
    })
    await f.launch(offer, [shortTask('down-ok', 'sleep 2'), shortTask('down-bad', 'sleep 2; exit 3')])
    for (const id of ['down-ok', 'down-bad']) await f.waitUpdate(id, 'TASK_RUNNING')
    await agent.proc.stop()
    expect(await agent.proc.exited).toBe(0)
    // Both containers end while nobody watches them.
    await waitUntil('the containers to exit', async () => {
      const list = await docker.listContainers({ all: true, filters: { label: [`dromos.framework_id=${f.frameworkId}`] } })
      return list.length === 2 && list.every((c) => c.State === 'exited')
    }, 15_000)
    const from = f.events.length
    await restartAgent(agentId)
    const ok = await f.waitUpdate('down-ok', (s) => s === 'TASK_FINISHED' || s === 'TASK_FAILED', { from, timeoutMs: 15_000 })
    expect(ok.update.status.state, ok.update.status.message).toBe('TASK_FINISHED')
    const bad = await f.waitUpdate('down-bad', (s) => s === 'TASK_FINISHED' || s === 'TASK_FAILED', { from, timeoutMs: 15_000 })
    expect(bad.update.status.state).toBe('TASK_FAILED')
    expect(bad.update.status.message).toMatch(/status 3/)
    // One terminal state each, and the containers were cleaned up.
    expect(f.updatesOf('down-ok').filter((s) => s.state === 'TASK_FAILED')).toEqual([])
    await waitUntil('the containers to be removed', async () => (await docker.listContainers({ all: true, filters: { label: [`dromos.framework_id=${f.frameworkId}`] } })).length === 0, 10_000)
    await f.call({ type: 'TEARDOWN' })
    f.close()
  })

  it('re-attaches to a process task that outlived it: still running, reconcilable and killable', async () => {
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'agent-restart-process', failoverTimeout: 60 })
    cleanup.frameworks.push(f)
    const offer = (await f.waitOffers()).offers.offers[0]
    const agentId: string = offer.agent_id.value
    await f.launch(offer, [sleepTask('proc-r', { kill_policy: { grace_period: { nanoseconds: ONE_SECOND_NS } } })])
    const pid = pidOf(await f.waitUpdate('proc-r', 'TASK_RUNNING'))
    cleanup.pids.push(pid)

    const from = f.events.length
    const state = await restartAgent(agentId)
    expect(slaveIds(state)).toEqual([agentId])
    // The same process runs on, and the agent says so; nothing terminal was reported.
    expect(alive(pid)).toBe(true)
    expect(await agentTaskState(cluster.agents[0]!.url, 'proc-r')).toBe('TASK_RUNNING')
    const reconcileFrom = f.events.length
    await f.mustCall({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'proc-r' }, agent_id: { value: agentId } }] } })
    expect((await f.waitUpdate('proc-r', () => true, { from: reconcileFrom })).update.status.state).toBe('TASK_RUNNING')
    expect(f.events.slice(from).filter((e) => e.type === 'UPDATE' && e.update.status.state !== 'TASK_RUNNING')).toEqual([])

    // Still under the agent's control: a kill ends it and is reported as such.
    const killFrom = f.events.length
    await f.mustCall({ type: 'KILL', kill: { task_id: { value: 'proc-r' }, agent_id: { value: agentId } } })
    const killed = await f.waitUpdate('proc-r', 'TASK_KILLED', { from: killFrom, timeoutMs: 10_000 })
    expect(killed.update.status.source).toBe('SOURCE_EXECUTOR')
    await waitUntil('the process to be gone', async () => !alive(pid), 5000)
    await f.call({ type: 'TEARDOWN' })
    f.close()
  })

  it('reports a process task that ended while it was down with its real status, and fails one it cannot re-attach', async () => {
    const agent = cluster.agents[0]!
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'process-while-down', failoverTimeout: 60 })
    cleanup.frameworks.push(f)
    const offer = (await f.waitOffers()).offers.offers[0]
    const agentId: string = offer.agent_id.value
    const short = (id: string, cmd: string) => sleepTask(id, { command: { value: cmd } })
    await f.launch(offer, [short('proc-ok', 'sleep 2'), short('proc-bad', 'sleep 2; exit 3'), sleepTask('proc-lost')])
    const pids = new Map<string, number>()
    for (const id of ['proc-ok', 'proc-bad', 'proc-lost']) pids.set(id, pidOf(await f.waitUpdate(id, 'TASK_RUNNING')))
    cleanup.pids.push(...pids.values())
    await agent.proc.stop()
    expect(await agent.proc.exited).toBe(0)
    // The run files of one task are lost while the agent is down: nothing says which process is its.
    const runDir = join(agent.workDir, 'run', 'process')
    const lostDir = readdirSync(runDir).find((d) => d.startsWith('proc-lost'))
    expect(lostDir).toBeDefined()
    rmSync(join(runDir, lostDir!), { recursive: true })
    await waitUntil('the short tasks to end', async () => !alive(pids.get('proc-ok')!) && !alive(pids.get('proc-bad')!), 10_000)

    const from = f.events.length
    await restartAgent(agentId)
    const terminal = (s: string) => s === 'TASK_FINISHED' || s === 'TASK_FAILED'
    const ok = await f.waitUpdate('proc-ok', terminal, { from, timeoutMs: 10_000 })
    expect(ok.update.status.state, ok.update.status.message).toBe('TASK_FINISHED')
    const bad = await f.waitUpdate('proc-bad', terminal, { from, timeoutMs: 10_000 })
    expect(bad.update.status.state).toBe('TASK_FAILED')
    expect(bad.update.status.message).toMatch(/status 3 while the agent was down/)
    // What the agent reports must be true: the task failed, and its process is gone rather
    // than running on unaccounted.
    const lost = await f.waitUpdate('proc-lost', 'TASK_FAILED', { from, timeoutMs: 10_000 })
    expect(lost.update.status.reason).toBe('REASON_EXECUTOR_TERMINATED')
    await waitUntil('the orphaned process to be gone', async () => !alive(pids.get('proc-lost')!), 5000)
    // One terminal state each (an update may be delivered more than once, with the same uuid).
    for (const id of ['proc-ok', 'proc-bad', 'proc-lost']) expect(new Set(f.updatesOf(id).filter((s) => terminal(s.state)).map((s) => s.uuid)).size).toBe(1)

    // Completed tasks are checkpointed: the agent still lists them after another restart.
    const completedStates = async (): Promise<string[]> => {
      type Fw = { id: string; completed_executors: Array<{ completed_tasks: AgentTaskView[] }> }
      const s = (await (await fetch(`${agent.url}/state`)).json()) as { frameworks: Fw[]; completed_frameworks: Fw[] }
      // With no task left running, the framework is a completed one.
      const mine = [...s.frameworks, ...s.completed_frameworks].find((x) => x.id === f.frameworkId)
      return (mine?.completed_executors ?? []).flatMap((e) => e.completed_tasks.map((t) => `${t.id}:${t.state}`)).sort()
    }
    const want = ['proc-bad:TASK_FAILED', 'proc-lost:TASK_FAILED', 'proc-ok:TASK_FINISHED']
    await waitUntil('the tasks to be completed', async () => JSON.stringify(await completedStates()) === JSON.stringify(want), 10_000)
    await restartAgent(agentId)
    expect(await completedStates()).toEqual(want)
    await f.call({ type: 'TEARDOWN' })
    f.close()
  })
})

describe('agent partition', () => {
  let cluster: TestCluster
  const cleanup = new Cleanup()
  afterAll(() => cleanup.run(cluster))

  it('marks tasks UNREACHABLE or LOST while the agent is silent, and does not kill them when it returns', async () => {
    cluster = await startCluster(['--heartbeat-interval', '1s', '--agent-ping-timeout', '300ms', '--max-agent-ping-timeouts', '3'])
    const agent = cluster.agents[0]!
    const pa = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'partition-aware', capabilities: ['PARTITION_AWARE'], failoverTimeout: 60 })
    cleanup.frameworks.push(pa)
    const offerA = (await pa.waitOffers()).offers.offers[0]
    const agentId: string = offerA.agent_id.value
    cleanup.agentIds.push(agentId)
    await pa.launch(offerA, [sleepTask('pa-1')])
    const paRunning = await pa.waitUpdate('pa-1', 'TASK_RUNNING')
    const paPid = pidOf(paRunning)
    cleanup.pids.push(paPid)

    // What the first framework left of the agent goes to the second. That one acknowledges by
    // hand: its TASK_RUNNING stays unacknowledged into the partition.
    const old = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'not-partition-aware', failoverTimeout: 60, autoAck: false })
    cleanup.frameworks.push(old)
    const offerB = (await old.waitOffers()).offers.offers[0]
    expect(offerB.agent_id.value).toBe(agentId)
    await old.launch(offerB, [sleepTask('old-1')])
    await old.acknowledge((await old.waitUpdate('old-1', 'TASK_STARTING')).update.status)
    const oldRunning = await old.waitUpdate('old-1', 'TASK_RUNNING')
    const oldPid = pidOf(oldRunning)
    cleanup.pids.push(oldPid)

    const paFrom = pa.events.length
    const oldFrom = old.events.length
    const stoppedAt = Date.now()
    agent.proc.signal('SIGSTOP')
    try {
      const unreachable = await pa.waitUpdate('pa-1', 'TASK_UNREACHABLE', { from: paFrom, timeoutMs: 10_000 })
      const u = unreachable.update.status
      expect(u.source).toBe('SOURCE_MASTER')
      expect(u.agent_id.value).toBe(agentId)
      expect(u.unreachable_time.nanoseconds / 1e6).toBeGreaterThanOrEqual(stoppedAt)
      expect(u.unreachable_time.nanoseconds / 1e6).toBeLessThanOrEqual(Date.now())
      // Three missed pings of 300 ms: not before ~0.9 s.
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(800)
      // Both frameworks hear that the agent is lost, with its id alone (Mesos's FAILURE).
      for (const f of [pa, old]) {
        const failure = await f.waitFor((e) => e.type === 'FAILURE', { from: f === pa ? paFrom : oldFrom, timeoutMs: 10_000, what: 'FAILURE' })
        expect(failure.failure).toEqual({ agent_id: { value: agentId } })
      }
      const lost = await old.waitUpdate('old-1', 'TASK_LOST', { from: oldFrom, timeoutMs: 10_000 })
      expect(lost.update.status.source).toBe('SOURCE_MASTER')
      expect(lost.update.status.unreachable_time).toBeUndefined()
      // The late acknowledgement of the TASK_RUNNING that came before: answered at once (not
      // held on the silent agent), and it must not make the master forget the LOST task.
      const ackStart = Date.now()
      await old.acknowledge(oldRunning.update.status)
      expect(Date.now() - ackStart).toBeLessThan(2000)
      // Neither framework hears the other's state.
      expect(pa.updatesOf('pa-1').some((s) => s.state === 'TASK_LOST')).toBe(false)
      expect(old.updatesOf('old-1').some((s) => s.state === 'TASK_UNREACHABLE')).toBe(false)

      const during = await cluster.state()
      expect(slaveIds(during)).not.toContain(agentId)
      expect(during.unreachable_slaves).toBe(1)
      // The tasks themselves still run: a partition is not a crash.
      expect(alive(paPid)).toBe(true)
      expect(alive(oldPid)).toBe(true)

      // A retried status update can reach the master before the agent's re-registration does
      // (both timers are due when the agent wakes up). The master must send the agent to
      // re-register first rather than quietly mark the task RUNNING again. Sent here the
      // way the agent sends it, to the agents' endpoint of the master.
      const early = await fetch(`${cluster.masterUrl}/internal/agent/status`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ agent_id: agentId, framework_id: pa.frameworkId, status: { ...paRunning.update.status, uuid: undefined } }),
      })
      expect(early.status).toBe(404)
      const paView = (await cluster.state()).frameworks.find((x: { id: string }) => x.id === pa.frameworkId)
      // v0 state lists an unreachable task apart, as Mesos does.
      expect(paView.tasks).toEqual([])
      expect(paView.unreachable_tasks.map((t: { id: string; state: string }) => [t.id, t.state])).toEqual([['pa-1', 'TASK_UNREACHABLE']])
      expect(pa.updatesOf('pa-1').slice(-1)[0]!.state).toBe('TASK_UNREACHABLE')

      // While unreachable, reconciliation answers from the master's view.
      const recFrom = pa.events.length
      await pa.mustCall({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'pa-1' }, agent_id: { value: agentId } }] } })
      expect((await pa.waitUpdate('pa-1', () => true, { from: recFrom })).update.status.state).toBe('TASK_UNREACHABLE')
    } finally {
      agent.proc.signal('SIGCONT')
    }

    // The agent notices the pings stopped and registers again, under the same id.
    const back = await waitUntil('the agent to re-register', async () => {
      const s = await cluster.state()
      return slaveIds(s).includes(agentId) ? s : undefined
    }, 15_000)
    expect(slaveIds(back)).toEqual([agentId])
    expect(back.unreachable_slaves).toBe(0)
    await waitUntil('pa-1 to be listed as a task again', async () => {
      const view = (await cluster.state()).frameworks.find((x: { id: string }) => x.id === pa.frameworkId)
      return view.unreachable_tasks.length === 0 && view.tasks.some((t: { id: string; state: string }) => t.id === 'pa-1' && t.state === 'TASK_RUNNING')
    }, 5000)

    // Both frameworks are told by the master that their task runs again.
    const fromMaster = (e: MesosEvent): boolean => e.type === 'UPDATE' && e.update.status.state === 'TASK_RUNNING' && e.update.status.source === 'SOURCE_MASTER'
    for (const [f, id, from] of [[pa, 'pa-1', paFrom], [old, 'old-1', oldFrom]] as const) {
      const backUpdate = await f.waitFor((e) => fromMaster(e) && e.update.status.task_id.value === id, { from, timeoutMs: 10_000, what: `${id} TASK_RUNNING from the master` })
      expect(backUpdate.update.status.agent_id.value).toBe(agentId)
      expect(backUpdate.update.status.reason).toBe('REASON_AGENT_REREGISTERED')
    }
    // The acknowledgement dropped during the partition is made good: the agent sends the
    // unacknowledged TASK_RUNNING again, same uuid, until it is acknowledged.
    const resent = await old.waitFor(
      (e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'old-1' && e.update.status.uuid === oldRunning.update.status.uuid,
      { from: oldFrom, timeoutMs: 10_000, what: 'old-1 TASK_RUNNING re-sent by the agent' },
    )
    expect(resent.update.status.state).toBe('TASK_RUNNING')
    await old.acknowledge(resent.update.status)

    // Nothing was killed: the agent still runs both, and the processes are the same.
    expect(await agentTaskState(agent.url, 'pa-1')).toBe('TASK_RUNNING')
    expect(await agentTaskState(agent.url, 'old-1')).toBe('TASK_RUNNING')
    expect(alive(paPid)).toBe(true)
    expect(alive(oldPid)).toBe(true)
    for (const [f, id] of [[pa, 'pa-1'], [old, 'old-1']] as const) {
      const from = f.events.length
      await f.mustCall({ type: 'RECONCILE', reconcile: { tasks: [] } })
      expect((await f.waitUpdate(id, () => true, { from })).update.status.state).toBe('TASK_RUNNING')
      expect(f.updatesOf(id).some((s) => ['TASK_KILLED', 'TASK_FAILED', 'TASK_KILLING', 'TASK_GONE'].includes(s.state))).toBe(false)
    }
    // The master counts the tasks' resources as used again, and offers the agent as before.
    const used = back.slaves[0].used_resources
    expect(used.cpus).toBeCloseTo(0.2, 5)

    // Still killable through the master after the partition.
    await pa.mustCall({ type: 'KILL', kill: { task_id: { value: 'pa-1' }, agent_id: { value: agentId } } })
    await pa.waitUpdate('pa-1', 'TASK_KILLED', { from: paFrom })
    await waitUntil('the killed process to go', async () => !alive(paPid), 10_000)
  })
})

describe('master restart', () => {
  let cluster: TestCluster
  const cleanup = new Cleanup()
  afterAll(() => cleanup.run(cluster))

  it('keeps the framework id and the agent id, and the task runs on untouched', async () => {
    // Agents re-register when no ping came for three ping intervals: keep that short.
    cluster = await startCluster(['--heartbeat-interval', '1s', '--agent-ping-timeout', '500ms'])
    const agent = cluster.agents[0]!
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'master-restart', failoverTimeout: 3600 })
    cleanup.frameworks.push(f)
    const frameworkId = f.frameworkId
    const offer = (await f.waitOffers()).offers.offers[0]
    const agentId: string = offer.agent_id.value
    cleanup.agentIds.push(agentId)
    await f.launch(offer, [sleepTask('mr-1')])
    const running = await f.waitUpdate('mr-1', 'TASK_RUNNING')
    const pid = pidOf(running)
    cleanup.pids.push(pid)
    const masterIdBefore = (await cluster.state()).id

    await cluster.restartMaster()
    // The old stream ended with the old master.
    await waitUntil('the old stream to close', async () => f.closed, 5000)
    const restarted = await cluster.state()
    expect(restarted.id).not.toBe(masterIdBefore)
    // The framework was recovered from the registry, disconnected until it comes back.
    const recovered = restarted.frameworks.find((x: { id: string }) => x.id === frameworkId)
    expect(recovered).toBeDefined()
    expect(recovered.active).toBe(false)

    const again = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'master-restart', failoverTimeout: 3600, frameworkId })
    cleanup.frameworks.push(again)
    expect(again.statusCode).toBe(200)
    expect(again.events[0]!.type).toBe('SUBSCRIBED')
    expect(again.events[0]!.subscribed.framework_id.value).toBe(frameworkId)
    expect(again.frameworkId).toBe(frameworkId)

    // The agent re-registers by itself, with the id it had.
    const back = await waitUntil('the agent to re-register with the new master', async () => {
      const s = await cluster.state()
      return slaveIds(s).includes(agentId) ? s : undefined
    }, 15_000)
    expect(slaveIds(back)).toEqual([agentId])
    const fw = back.frameworks.find((x: { id: string }) => x.id === frameworkId)
    expect(fw.active).toBe(true)
    expect(fw.tasks.map((t: { id: string; state: string }) => [t.id, t.state])).toEqual([['mr-1', 'TASK_RUNNING']])

    const from = again.events.length
    await again.mustCall({ type: 'RECONCILE', reconcile: { tasks: [] } })
    const reconciled = await again.waitUpdate('mr-1', () => true, { from })
    expect(reconciled.update.status.state).toBe('TASK_RUNNING')
    expect(reconciled.update.status.agent_id.value).toBe(agentId)

    // No task was killed: same process, still running on the agent, and nothing terminal reported.
    expect(alive(pid)).toBe(true)
    expect(await agentTaskState(agent.url, 'mr-1')).toBe('TASK_RUNNING')
    for (const fr of [f, again]) expect(fr.updatesOf('mr-1').every((s) => s.state === 'TASK_RUNNING' || s.state === 'TASK_STARTING')).toBe(true)

    // The restarted master offers the rest of the agent (the running task's share is in use), and launches on it.
    const offer2 = (await again.waitOffers()).offers.offers[0]
    expect(offer2.agent_id.value).toBe(agentId)
    const cpus = offer2.resources.find((r: { name: string }) => r.name === 'cpus').scalar.value
    expect(cpus).toBeCloseTo(1.9, 5)
    await again.launch(offer2, [sleepTask('mr-2')])
    cleanup.pids.push(pidOf(await again.waitUpdate('mr-2', 'TASK_RUNNING')))
  })
})

describe('master restart with the default ping interval', () => {
  let cluster: TestCluster
  const cleanup = new Cleanup()
  afterAll(() => cleanup.run(cluster))

  it('has the agents of its registry re-register at once, and defers reconciliation for agents not back yet', async () => {
    // Pings every 15 s: waiting for three missed pings would take the agent 45 s to come back.
    cluster = await startCluster(['--heartbeat-interval', '1s', '--agent-reregister-timeout', '5s'])
    const agent = cluster.agents[0]!
    const agentId: string = (await cluster.state()).slaves[0].id
    cleanup.agentIds.push(agentId)

    await cluster.restartMaster()
    const restartedAt = Date.now()
    await waitUntil('the agent to re-register', async () => slaveIds(await cluster.state()).includes(agentId), 10_000, 50)
    expect(Date.now() - restartedAt).toBeLessThan(2000)

    // An agent that is down when the master restarts stays in the registry as recovered.
    await agent.proc.stop()
    await cluster.restartMaster()
    const state = await cluster.state()
    expect(slaveIds(state)).toEqual([])
    const agents = (await (await fetch(`${cluster.masterUrl}/api/v1`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'GET_AGENTS' }) })).json()) as {
      get_agents: { agents: unknown[]; recovered_agents: Array<{ id: { value: string } }> }
    }
    expect(agents.get_agents.agents).toEqual([])
    expect(agents.get_agents.recovered_agents.map((a) => a.id.value)).toEqual([agentId])
    expect(state.flags.agent_reregister_timeout).toBe('5000ms')

    // Until it is back, the master does not claim to know that a task on it is unknown.
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'reconcile-recovered', capabilities: ['PARTITION_AWARE'] })
    cleanup.frameworks.push(f)
    let from = f.events.length
    await f.mustCall({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'ghost' }, agent_id: { value: agentId } }] } })
    await new Promise((r) => setTimeout(r, 1000))
    expect(f.updatesOf('ghost')).toEqual([])

    agent.proc.restart()
    await waitUntil('the agent to register again', async () => slaveIds(await cluster.state()).includes(agentId), 10_000)
    from = f.events.length
    await f.mustCall({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'ghost' }, agent_id: { value: agentId } }] } })
    expect((await f.waitUpdate('ghost', () => true, { from })).update.status.state).toBe('TASK_GONE')

    // One that stays away past --agent-reregister-timeout is marked unreachable, as Mesos does:
    // a task on it is unreachable since then, and a later master knows it from the registry.
    await agent.proc.stop()
    await cluster.restartMaster()
    expect((await cluster.state()).recovered_slaves.map((a: { id: string }) => a.id)).toEqual([agentId])
    const unreachable = async (): Promise<number> => ((await (await fetch(`${cluster.masterUrl}/metrics/snapshot`)).json()) as Record<string, number>)['master/slaves_unreachable']!
    expect(await unreachable()).toBe(0)
    const expiredFrom = Date.now()
    await waitUntil('the recovered agent to be marked unreachable', async () => (await cluster.state()).recovered_slaves.length === 0, 10_000)
    expect(await unreachable()).toBe(1)
    const g = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'reconcile-unreachable', capabilities: ['PARTITION_AWARE'] })
    cleanup.frameworks.push(g)
    await g.mustCall({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'ghost' }, agent_id: { value: agentId } }] } })
    const answer = (await g.waitUpdate('ghost', () => true)).update.status
    expect(answer).toMatchObject({ state: 'TASK_UNREACHABLE', reason: 'REASON_RECONCILIATION', agent_id: { value: agentId } })
    expect(answer.unreachable_time.nanoseconds / 1e6).toBeGreaterThanOrEqual(expiredFrom - 1000)
    // The next master takes it for unreachable at once: it does not wait for it again.
    await cluster.restartMaster()
    expect((await cluster.state()).recovered_slaves).toEqual([])
    expect(await unreachable()).toBe(1)
    agent.proc.restart()
    await waitUntil('the agent to register again', async () => slaveIds(await cluster.state()).includes(agentId), 10_000)
    expect(await unreachable()).toBe(0)
  })
})

describe('a framework removed while its agent is away', () => {
  let cluster: TestCluster
  const cleanup = new Cleanup()
  afterAll(() => cleanup.run(cluster))

  it('has its tasks shut down when the agent re-registers with them, not taken back', async () => {
    cluster = await startCluster(['--heartbeat-interval', '1s'])
    const agent = cluster.agents[0]!
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'removed-away', failoverTimeout: 60 })
    cleanup.frameworks.push(f)
    const offer = (await f.waitOffers()).offers.offers[0]
    const agentId: string = offer.agent_id.value
    cleanup.agentIds.push(agentId)
    await f.launch(offer, [sleepTask('away-1')])
    const pid = pidOf(await f.waitUpdate('away-1', 'TASK_RUNNING'))
    cleanup.pids.push(pid)
    // The agent stops (its process task outlives it), and the framework is torn down meanwhile.
    await agent.proc.stop()
    expect(alive(pid)).toBe(true)
    await f.mustCall({ type: 'TEARDOWN' })
    f.close()
    await waitUntil('the master to forget the framework', async () => !(await cluster.state()).frameworks.some((x: { id: string }) => x.id === f.frameworkId))
    // The agent comes back and reports the task: the master has it shut down.
    agent.proc.restart()
    await waitUntil('the task of the removed framework to be killed', async () => !alive(pid), 30_000)
    const s = await cluster.state()
    expect(s.frameworks.some((x: { id: string }) => x.id === f.frameworkId)).toBe(false)
    expect(s.slaves.map((x: { id: string }) => x.id)).toContain(agentId)
    expect(s.slaves[0].used_resources.cpus).toBe(0)
  })
})

describe('framework failover timeout', () => {
  let cluster: TestCluster
  const cleanup = new Cleanup()
  afterAll(() => cleanup.run(cluster))

  it('kills the tasks of a framework that stays away past its failover_timeout, and refuses it after', async () => {
    cluster = await startCluster(['--heartbeat-interval', '1s'])
    const agent = cluster.agents[0]!
    const f = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'short-failover', failoverTimeout: 1 })
    cleanup.frameworks.push(f)
    const frameworkId = f.frameworkId
    const offer = (await f.waitOffers()).offers.offers[0]
    cleanup.agentIds.push(offer.agent_id.value)
    const killPolicy = { grace_period: { nanoseconds: ONE_SECOND_NS } }
    await f.launch(offer, [
      sleepTask('fo-proc', { kill_policy: killPolicy }),
      sleepTask('fo-docker', { kill_policy: killPolicy, container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'NONE' } } }),
    ])
    const pid = pidOf(await f.waitUpdate('fo-proc', 'TASK_RUNNING'))
    cleanup.pids.push(pid)
    await f.waitUpdate('fo-docker', 'TASK_RUNNING')
    const containers = () => docker.listContainers({ all: true, filters: { label: [`dromos.framework_id=${frameworkId}`] } })
    expect(await containers()).toHaveLength(1)

    f.close()
    const closedAt = Date.now()
    // Within the timeout the framework is only disconnected, and its tasks run on.
    await waitUntil('the master to see the framework disconnected', async () => {
      const s = await cluster.state()
      return s.frameworks.find((x: { id: string }) => x.id === frameworkId)?.active === false
    }, 5000, 50)
    expect(Date.now() - closedAt).toBeLessThan(900)
    expect(await agentTaskState(agent.url, 'fo-proc')).toBe('TASK_RUNNING')
    expect(await agentTaskState(agent.url, 'fo-docker')).toBe('TASK_RUNNING')
    expect(alive(pid)).toBe(true)

    // Past it, the framework is removed and its tasks are killed.
    await waitUntil('the framework to be removed', async () => {
      const s = await cluster.state()
      return !s.frameworks.some((x: { id: string }) => x.id === frameworkId) && s.completed_frameworks.some((x: { id: string }) => x.id === frameworkId)
    }, 10_000)
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(900)
    await waitUntil('the process to be killed', async () => !alive(pid), 10_000)
    await waitUntil('the container to be removed', async () => (await containers()).length === 0, 15_000)
    await waitUntil('the agent to forget the tasks', async () => {
      const left = (await agentTasks(agent.url)).filter((t) => t.framework_id === frameworkId && !['TASK_KILLED', 'TASK_FINISHED', 'TASK_FAILED'].includes(t.state))
      return left.length === 0
    }, 10_000)
    const s = await cluster.state()
    expect(s.slaves[0].used_resources.cpus).toBe(0)

    // A removed framework cannot come back under its id, not even from a restarted master.
    const resubscribe = () => TestFramework.subscribe({ master: cluster.masterUrl, name: 'short-failover', failoverTimeout: 1, frameworkId })
    await expect(resubscribe()).rejects.toThrow(/403/)
    await cluster.restartMaster()
    expect((await cluster.state()).frameworks.some((x: { id: string }) => x.id === frameworkId)).toBe(false)
    await expect(resubscribe()).rejects.toThrow(/403/)
  })
})
