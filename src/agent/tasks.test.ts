// The shell drives the state only through apply: a run of the real task runner, registration
// and status update sender, against a master on 127.0.0.1 and a containerizer that does what
// the test says, records commands that replay into the same state and checkpoint.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentStatusWire } from '../api/internal.js'
import { MasterInternalPath } from '../api/internal.js'
import type { FrameworkInfo, TaskInfo } from '../api/mesos.js'
import { FrameworkInfoSchema, TaskInfoSchema } from '../api/mesos.js'
import type { ContainerEvent, Containerizer } from './containerizers/types.js'
import { createRegistration } from './registration.js'
import { createAgentState } from './state.js'
import { everything, masterStub, recorded, replayed, sortedEntries } from './state.testkit.js'
import { createStatusUpdateSender } from './status-updates.js'
import { createTaskRunner } from './tasks.js'
import type { AgentOptions, PendingUpdate } from './types.js'
import { createMasters } from '../api/masters.js'

const log = pino({ level: 'silent' })

/** A master that accepts registrations (as the run id it is told) and drops the first status of each task. */
function fakeMaster() {
  const received: AgentStatusWire[] = []
  const dropped = new Set<string>()
  let masterId = 'm1'
  const stub = masterStub({
    masterId: () => masterId,
    onStatus: (update) => {
      const taskId = update.status.task_id.value
      if (!dropped.has(taskId)) {
        dropped.add(taskId)
        return 503
      }
      received.push(update)
      return 202
    },
  })
  return {
    ...stub,
    received,
    restartAs: (id: string) => (masterId = id),
  }
}

/** Runs tasks until told to end them. */
function scriptedContainerizer(): Containerizer & { exit(taskId: string, exitCode: number): void } {
  const events = new Map<string, (e: ContainerEvent) => void>()
  let pid = 100
  const exited = (exitCode: number, killed: boolean): ContainerEvent => ({ type: 'exited', exitCode, signal: null, killed, oomKilled: false, message: killed ? 'Killed' : '' })
  return {
    name: 'process',
    supports: () => true,
    async launch(req, onEvent) {
      events.set(req.taskInfo.task_id.value, onEvent)
      onEvent({ type: 'running', containerId: `process-${pid++}`, ipAddresses: ['127.0.0.1'] })
    },
    async kill(taskId) {
      events.get(taskId)?.(exited(137, true))
      events.delete(taskId)
    },
    exit(taskId, exitCode) {
      events.get(taskId)?.(exited(exitCode, false))
      events.delete(taskId)
    },
    recover: async () => [],
    destroyAll: async () => {},
  }
}

const info = (taskId: string): TaskInfo =>
  TaskInfoSchema.parse({ name: taskId, task_id: { value: taskId }, agent_id: { value: 'a1' }, resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] } }] })
const frameworkWith = (capabilities: string[]): FrameworkInfo => FrameworkInfoSchema.parse({ name: 'f', capabilities: capabilities.map((type) => ({ type })) })

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('the agent shell', () => {
  const master = fakeMaster()
  const workDir = mkdtempSync(join(tmpdir(), 'dromos-agent-shell-'))
  beforeAll(() => new Promise<void>((r) => master.server.listen(0, '127.0.0.1', r)))
  afterAll(() => {
    master.server.close()
    rmSync(workDir, { recursive: true, force: true })
  })

  it('changes the state only through apply: its recorded commands replay into the same state and checkpoint', async () => {
    const { state, store, applied } = recorded()
    let now = 1_000
    const clock = { now: () => now++ }
    const containerizer = scriptedContainerizer()
    const opts: AgentOptions = {
      masters: [master.url()],
      ip: '127.0.0.1',
      port: 5051,
      hostname: 'localhost',
      workDir,
      resources: { scalars: { cpus: 1 }, ranges: {} },
      attributes: [],
      containerizers: [containerizer],
      store,
      log,
      clock,
      statusUpdateRetryMs: 10,
      statusUpdateMaxRetryMs: 40,
    }
    const send = async (u: PendingUpdate): Promise<boolean> => {
      const body = JSON.stringify({ agent_id: state.agentId, framework_id: u.frameworkId, status: u.status })
      const r = await fetch(`${master.url()}${MasterInternalPath.status}`, { method: 'POST', body })
      await r.arrayBuffer()
      return r.ok
    }
    const sender = createStatusUpdateSender({ state, log, clock, retryMs: 10, maxRetryMs: 40, send })
    const registration = createRegistration({ opts, masters: createMasters(opts.masters), state, sender, log })
    const runner = createTaskRunner({ opts, state, sender, log, clock })
    // Updates are sent at least once: a retry may cross its acknowledgement.
    const statesOf = (taskId: string): string[] => [...new Map(master.received.filter((u) => u.status.task_id.value === taskId).map((u) => [u.status.uuid, u.status.state])).values()]
    /** Acknowledges, in order, what the master received of the task and has not acknowledged yet. */
    const acked = new Set<string>()
    async function acknowledgeAll(frameworkId: string, taskId: string, count: number): Promise<void> {
      for (let i = 0; i < count; i++) {
        await until(`update ${i + 1} of ${taskId}`, () => master.received.some((u) => u.status.task_id.value === taskId && !acked.has(u.status.uuid!)))
        const u = master.received.find((x) => x.status.task_id.value === taskId && !acked.has(x.status.uuid!))!
        acked.add(u.status.uuid!)
        await runner.acknowledge(frameworkId, taskId, u.status.uuid!)
      }
    }

    try {
      await registration.register()
      await runner.launch('f1', frameworkWith(['TASK_KILLING_STATE']), info('t1'))
      await runner.launch('f1', undefined, info('t2'))
      await runner.launch('f2', frameworkWith([]), info('t3'))
      // Each task's first update is dropped by the master and sent again.
      await acknowledgeAll('f1', 't1', 2)
      await acknowledgeAll('f1', 't2', 2)
      await acknowledgeAll('f2', 't3', 2)
      expect(statesOf('t1')).toEqual(['TASK_STARTING', 'TASK_RUNNING'])

      containerizer.exit('t2', 0)
      await acknowledgeAll('f1', 't2', 1)
      await runner.kill('f1', 't1', 0)
      await acknowledgeAll('f1', 't1', 2)
      expect(statesOf('t1')).toEqual(['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED'])
      await runner.shutdownFramework('f2')

      master.restartAs('m2')
      registration.ping('a1', 'm2')
      await until('re-registration', () => state.masterId === 'm2' && !registration.registering())
      await runner.launch('f1', undefined, info('t4'))
      await until('t4 running', () => state.task('f1', 't4')?.state === 'TASK_RUNNING')
      await state.written()
    } finally {
      registration.stop()
      sender.stop()
    }

    expect([...state.tasks.keys()]).toEqual(['f1/t4'])
    expect([...state.completed].map(([f, list]) => [f, list.map((t) => [t.info.task_id.value, t.state])])).toEqual([
      ['f1', [['t2', 'TASK_FINISHED'], ['t1', 'TASK_KILLED']]],
      ['f2', [['t3', 'TASK_KILLED']]],
    ])
    const types = new Set(applied.map(([c]) => c.type))
    for (const t of ['registered', 'master-pinged', 'framework-info', 'framework-removed', 'task-launched', 'container-started', 'task-status', 'task-kill-requested', 'update-acknowledged', 'update-sent', 'update-backoff-reset']) {
      expect(types).toContain(t)
    }

    const again = await replayed(applied)
    expect(everything(again.state)).toStrictEqual(everything(state))
    expect(again.state.checkpoint()).toStrictEqual(state.checkpoint())
    expect(sortedEntries(again.store.kv)).toStrictEqual(sortedEntries(store.kv))
    const loaded = createAgentState({ store, log })
    await loaded.load(now)
    expect(loaded.checkpoint()).toStrictEqual(state.checkpoint())
  })
})
