import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { systemClock } from '../core/clock.js'
import { ConflictError } from '../core/errors.js'
import { parseResourceString } from '../core/resources.js'
import { openSqliteStore } from '../store/sqlite.js'
import type { Store } from '../store/store.js'
import { createMaster } from './master.js'
import type { AgentRegistration, Master } from './types.js'

let dir: string
let store: Store
let master: Master

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dromos-agents-test-'))
  store = openSqliteStore(join(dir, 'state.db'))
  master = createMaster({
    store,
    log: pino({ level: 'silent' }),
    clock: systemClock,
    hostname: '127.0.0.1',
    ip: '127.0.0.1',
    port: 5050,
    allocationIntervalMs: 60_000,
    offerTimeoutMs: 0,
    // No ping in the time of a test: the agents here do not exist.
    agentPingTimeoutMs: 60_000,
    maxAgentPingTimeouts: 5,
    heartbeatIntervalSeconds: 15,
    roleWeights: {},
    flags: {},
  })
  await master.start()
})

afterEach(async () => {
  await master.stop()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

const FW = 'fw-1'
const task = (id: string): AgentRegistration['tasks'][number] => ({
  framework_id: FW,
  task_info: { name: id, task_id: { value: id }, agent_id: { value: '' }, resources: [] },
  state: 'TASK_RUNNING',
})

function registration(attempt: AgentRegistration['attempt'], tasks: string[], agentId?: string): AgentRegistration {
  return {
    ...(agentId ? { agent_id: agentId } : {}),
    hostname: 'agent-a',
    ip: '127.0.0.1',
    port: 1,
    resources: parseResourceString('cpus:1;mem:128'),
    attributes: [],
    tasks: tasks.map(task),
    ...(attempt ? { attempt } : {}),
  }
}

const tasksOn = (agentId: string): string[] =>
  master
    .tasksOnAgent(agentId)
    .filter((t) => t.state === 'TASK_RUNNING')
    .map((t) => t.taskId)
    .sort()

describe('agent registration attempts', () => {
  it('refuses an attempt older than one taken: a late request does not undo the newer task report', async () => {
    const { agent_id: id } = await master.registerAgent(registration({ run: 'r1', seq: 0 }, []))
    // The agent re-registers (attempt 1 times out somewhere on the way), then again with attempt 2
    // once it runs two tasks, and attempt 1 arrives after all.
    await master.registerAgent(registration({ run: 'r1', seq: 2 }, ['t1', 't2'], id))
    await expect(master.registerAgent(registration({ run: 'r1', seq: 1 }, [], id))).rejects.toBeInstanceOf(ConflictError)
    expect(tasksOn(id)).toEqual(['t1', 't2'])
    // The same attempt twice (a copy that went round by a redirect) is taken once.
    await expect(master.registerAgent(registration({ run: 'r1', seq: 2 }, [], id))).rejects.toBeInstanceOf(ConflictError)
    expect(tasksOn(id)).toEqual(['t1', 't2'])
    // A newer one is taken as always: the agent's report is the truth about its tasks.
    await master.registerAgent(registration({ run: 'r1', seq: 3 }, ['t2'], id))
    expect(tasksOn(id)).toEqual(['t2'])
  })

  it('does not register a second agent from a first attempt that arrives late', async () => {
    const { agent_id: id } = await master.registerAgent(registration({ run: 'r1', seq: 1 }, ['t1']))
    await expect(master.registerAgent(registration({ run: 'r1', seq: 0 }, []))).rejects.toBeInstanceOf(ConflictError)
    expect([...master.agents.keys()]).toEqual([id])
    expect(tasksOn(id)).toEqual(['t1'])
  })

  it('takes a new run of the agent (started again) and from then on nothing of the run before', async () => {
    const { agent_id: id } = await master.registerAgent(registration({ run: 'r1', seq: 5 }, ['t1']))
    await master.registerAgent(registration({ run: 'r2', seq: 0 }, ['t1', 't3'], id))
    await expect(master.registerAgent(registration({ run: 'r1', seq: 6 }, [], id))).rejects.toBeInstanceOf(ConflictError)
    expect(tasksOn(id)).toEqual(['t1', 't3'])
  })

  it('takes registrations that carry no attempt (agents before attempts were numbered)', async () => {
    const { agent_id: id } = await master.registerAgent(registration(undefined, ['t1']))
    await master.registerAgent(registration(undefined, [], id))
    expect(tasksOn(id)).toEqual([])
  })
})
