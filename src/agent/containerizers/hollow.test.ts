import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentStatusWire } from '../../api/internal.js'
import type { TaskInfo } from '../../api/mesos.js'
import { TaskInfoSchema } from '../../api/mesos.js'
import type { Agent } from '../agent.js'
import { createAgent } from '../agent.js'
import { hollowAgentOptions, masterStub, taskInfoWire } from '../state.testkit.js'
import { createHollowContainerizer, parseDelayRange } from './hollow.js'
import type { ContainerEvent, LaunchRequest } from './types.js'

const taskInfo = (id: string, extra: Record<string, unknown> = {}): TaskInfo => TaskInfoSchema.parse({ ...taskInfoWire(id), ...extra })

const request = (id: string): LaunchRequest => ({ agentId: 'a1', frameworkId: 'f1', taskInfo: taskInfo(id), sandboxDir: '/nonexistent', env: {}, hostPorts: [], cpus: 0.5, memMb: 64 })

describe('parseDelayRange', () => {
  it('reads one delay or a range, in ms', () => {
    expect(parseDelayRange('5')).toEqual({ min: 5, max: 5 })
    expect(parseDelayRange('0-10')).toEqual({ min: 0, max: 10 })
    expect(() => parseDelayRange('10-5')).toThrow()
    expect(() => parseDelayRange('soon')).toThrow()
  })
})

describe('hollow containerizer', () => {
  it('runs a task after the start delay, reports usage, answers checks and is killed once', async () => {
    const c = createHollowContainerizer({ startMs: { min: 20, max: 20 }, checkMs: { min: 0, max: 0 } })
    const events: ContainerEvent[] = []
    const started = Date.now()
    await c.launch(request('t1'), (e) => events.push(e))
    expect(Date.now() - started).toBeGreaterThanOrEqual(15)
    expect(events).toEqual([{ type: 'running', containerId: 'hollow-t1', ipAddresses: [] }])
    expect(await c.usage?.('t1')).toMatchObject({ processes: 1, mem_rss_bytes: 16 * 1024 * 1024 })
    expect(await c.runInContainer?.('t1', ['true'], 1000)).toEqual({ exitCode: 0, output: '' })
    await c.kill('t1', 0)
    await c.kill('t1', 0)
    expect(events.filter((e) => e.type === 'exited')).toEqual([expect.objectContaining({ type: 'exited', killed: true })])
    expect(await c.usage?.('t1')).toBeUndefined()
    await expect(c.runInContainer!('t1', ['true'], 1000)).rejects.toThrow(/no running container/)
  })

  it('a task killed while it starts never runs; destroyAll ends the rest', async () => {
    const c = createHollowContainerizer({ startMs: { min: 30, max: 30 } })
    const first: ContainerEvent[] = []
    const second: ContainerEvent[] = []
    const launching = c.launch(request('t1'), (e) => first.push(e))
    await c.kill('t1', 0)
    await launching
    expect(first.map((e) => e.type)).toEqual(['exited'])
    await c.launch(request('t2'), (e) => second.push(e))
    await c.destroyAll('a1')
    expect(second.map((e) => e.type)).toEqual(['running', 'exited'])
    expect(await c.recover('a1', () => undefined)).toEqual([])
  })
})

/** A master that registers the agent and acknowledges each status update it receives. */
function ackingMaster(agent: () => Agent | undefined) {
  const received: AgentStatusWire[] = []
  const stub = masterStub({
    masterId: () => 'm1',
    onStatus: (update) => {
      received.push(update)
      setImmediate(() => void agent()?.acknowledge(update.framework_id, update.status.task_id.value, update.status.uuid!))
      return 202
    },
  })
  return { ...stub, received }
}

describe('a real agent with the hollow containerizer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dromos-hollow-'))
  let agent: Agent | undefined
  const master = ackingMaster(() => agent)
  beforeAll(async () => {
    await new Promise<void>((r) => master.server.listen(0, '127.0.0.1', r))
    agent = createAgent(hollowAgentOptions({ masterUrl: master.url(), workDir: dir, startMs: { min: 0, max: 5 }, statusUpdateRetryMs: 200, statusUpdateMaxRetryMs: 1000 }))
    await agent.start()
  })
  afterAll(async () => {
    await agent?.stop()
    master.server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const states = (taskId: string): Array<[string, boolean | undefined]> =>
    master.received.filter((u) => u.status.task_id.value === taskId).map((u) => [u.status.state, u.status.healthy])

  it('reports STARTING, RUNNING, healthy for an HTTP check the agent runs, then KILLED', async () => {
    const hc = { type: 'HTTP', http: { port: 31000, path: '/' }, delay_seconds: 0, interval_seconds: 1, grace_period_seconds: 5 }
    await agent!.launch('f1', undefined, taskInfo('web.1', { health_check: hc }))
    await expect.poll(() => states('web.1'), { timeout: 5000 }).toEqual([
      ['TASK_STARTING', undefined],
      ['TASK_RUNNING', undefined],
      ['TASK_RUNNING', true],
    ])
    await agent!.kill('f1', 'web.1', 0)
    await expect.poll(() => states('web.1').at(-1), { timeout: 5000 }).toEqual(['TASK_KILLED', undefined])
    await expect.poll(() => agent!.tasks.size, { timeout: 5000 }).toBe(0)
  })
})
