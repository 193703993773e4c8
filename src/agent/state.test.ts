import fc from 'fast-check'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { FrameworkInfo, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import { FrameworkInfoSchema, TaskInfoSchema } from '../api/mesos.js'
import type { BatchStore, Store, StoreWrite } from '../store/store.js'
import type { AgentState } from './state.js'
import { createAgentState } from './state.js'
import { everything, recorded, replayed, sortedEntries, unevenStore } from './state.testkit.js'
import type { AgentCommand } from './types.js'

const log = pino({ level: 'silent' })


async function loadedFrom(store: Store, at = 50_000): Promise<AgentState> {
  const state = createAgentState({ store, log })
  await state.load(at)
  return state
}

const framework = (name: string, capabilities: string[] = []): FrameworkInfo => FrameworkInfoSchema.parse({ name, capabilities: capabilities.map((type) => ({ type })) })
const taskInfo = (taskId: string): TaskInfo =>
  TaskInfoSchema.parse({ name: taskId, task_id: { value: taskId }, agent_id: { value: 'a1' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } }] })
const launched = (frameworkId: string, taskId: string): AgentCommand => ({
  type: 'task-launched',
  task: { frameworkId, info: taskInfo(taskId), frameworkCapabilities: [], sandbox: `/work/slaves/a1/frameworks/${frameworkId}/executors/${taskId}/runs/r1`, containerizer: 'process', hostPorts: [31000] },
})
const status = (frameworkId: string, taskId: string, state: string, uuid: string, extra: Partial<TaskStatusWire> = {}): AgentCommand => ({
  type: 'task-status',
  frameworkId,
  status: { task_id: { value: taskId }, state, source: 'SOURCE_EXECUTOR', timestamp: 1, uuid, ...extra },
})
const ack = (frameworkId: string, taskId: string, uuid: string): AgentCommand => ({ type: 'update-acknowledged', frameworkId, taskId, uuid })
const sent = (frameworkId: string, taskId: string): AgentCommand => ({ type: 'update-sent', frameworkId, taskId })

/** An agent's life: it registers, runs tasks, retries updates, kills, completes, loses a framework, re-registers. */
const script: ReadonlyArray<readonly [AgentCommand, number]> = [
  [{ type: 'registered', agentId: 'a1', masterId: 'm1', pingIntervalMs: 1000 }, 100],
  [{ type: 'framework-info', frameworkId: 'f1', info: framework('one', ['TASK_KILLING_STATE']) }, 110],
  [launched('f1', 't1'), 110],
  [status('f1', 't1', 'TASK_STARTING', 'u1'), 111],
  [sent('f1', 't1'), 111],
  [{ type: 'container-started', frameworkId: 'f1', taskId: 't1', containerId: 'process-10', ipAddresses: ['127.0.0.1'] }, 112],
  [status('f1', 't1', 'TASK_RUNNING', 'u2'), 112],
  // Not acknowledged in time: sent again, twice.
  [sent('f1', 't1'), 120],
  [sent('f1', 't1'), 140],
  [ack('f1', 't1', 'u2'), 141], // not the head: ignored
  [ack('f1', 't1', 'u1'), 142],
  [sent('f1', 't1'), 142],
  [ack('f1', 't1', 'u2'), 143],
  [{ type: 'master-pinged' }, 1000],
  [{ type: 'framework-info', frameworkId: 'f2', info: framework('two') }, 1001],
  [launched('f2', 't2'), 1001],
  [launched('f2', 't3'), 1001],
  [status('f2', 't2', 'TASK_STARTING', 'u3'), 1002],
  [status('f2', 't3', 'TASK_STARTING', 'u4'), 1002],
  [{ type: 'container-started', frameworkId: 'f2', taskId: 't2', containerId: 'process-20', ipAddresses: [] }, 1003],
  [status('f2', 't2', 'TASK_RUNNING', 'u5'), 1003],
  // t1 fails its health check and is killed.
  [status('f1', 't1', 'TASK_RUNNING', 'u6', { healthy: false, reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED' }), 1100],
  [{ type: 'task-unhealthy', frameworkId: 'f1', taskId: 't1' }, 1101],
  [{ type: 'task-kill-requested', frameworkId: 'f1', taskId: 't1' }, 1101],
  [status('f1', 't1', 'TASK_KILLING', 'u7', { healthy: false }), 1101],
  [status('f1', 't1', 'TASK_KILLED', 'u8', { healthy: false }), 1102],
  [status('f1', 't1', 'TASK_FAILED', 'u9'), 1103], // after a terminal state: ignored
  [ack('f1', 't1', 'u6'), 1104],
  [ack('f1', 't1', 'u7'), 1104],
  [ack('f1', 't1', 'u8'), 1105], // terminal and acknowledged: completed
  // The master removes f2: its queues go, and its tasks complete as they end.
  [{ type: 'framework-removed', frameworkId: 'f2' }, 1200],
  [{ type: 'task-kill-requested', frameworkId: 'f2', taskId: 't2' }, 1200],
  [status('f2', 't2', 'TASK_KILLED', 'u10'), 1201],
  [status('f2', 't3', 'TASK_RUNNING', 'u11'), 1202],
  // A new master: the agent re-registers and sends its heads again.
  [{ type: 'registered', agentId: 'a1', masterId: 'm2', pingIntervalMs: 2000 }, 2000],
  [{ type: 'update-backoff-reset' }, 2000],
  [{ type: 'framework-info', frameworkId: 'f1', info: framework('one, again') }, 2001],
  [launched('f1', 't4'), 2001],
  [status('f1', 't4', 'TASK_STARTING', 'u12'), 2002],
  [sent('f1', 't4'), 2002],
  [{ type: 'container-recovered', frameworkId: 'f1', taskId: 't4', containerId: 'process-40' }, 2003],
  [status('f1', 't4', 'TASK_FINISHED', 'u13'), 2004],
]

async function runScript(): Promise<ReturnType<typeof recorded>> {
  const r = recorded()
  for (const [cmd, at] of script) r.state.apply(cmd, at)
  await r.state.written()
  return r
}

describe('agent state', () => {
  it('does what the scripted run says', async () => {
    const { state: s, store } = await runScript()
    expect(s).toMatchObject({ agentId: 'a1', masterId: 'm2', pingIntervalMs: 2000, lastPingAt: 2000, completedSeq: 2 })
    expect([...s.tasks.keys()]).toEqual(['f2/t3', 'f1/t4'])
    expect(s.task('f2', 't3')).toMatchObject({ state: 'TASK_RUNNING', killRequested: false })
    expect(s.task('f1', 't4')).toMatchObject({ state: 'TASK_FINISHED', containerId: 'process-40' })
    expect([...s.completed.keys()]).toEqual(['f1', 'f2'])
    expect(s.completed.get('f1')).toMatchObject([{ state: 'TASK_KILLED', latest: { uuid: 'u8', healthy: false } }])
    expect(s.completed.get('f2')).toMatchObject([{ state: 'TASK_KILLED' }])
    expect([...s.terminalCounts]).toEqual([
      ['TASK_KILLED', 2],
      ['TASK_FINISHED', 1],
    ])
    expect([...s.removedFrameworks]).toEqual(['f2'])
    // t1's queue was emptied by its acknowledgements; f2's were dropped; t4's two updates await theirs.
    expect([...s.updates.keys()]).toEqual(['f1/t4'])
    expect(s.updates.get('f1/t4')).toMatchObject({ attempt: 1, updates: [{ status: { uuid: 'u12' }, seq: 1 }, { status: { uuid: 'u13' }, seq: 2 }] })
    expect(s.frameworks.get('f1')?.name).toBe('one, again')
    expect(sortedEntries(store.kv).map(([k]) => k)).toEqual(['agent', 'completed/f1', 'completed/f2', 'frameworks/f1', 'frameworks/f2', 'task-progress/f1/t4', 'task-progress/f2/t3', 'tasks/f1/t4', 'tasks/f2/t3'])
    // The updates t4 awaits are kept with its progress.
    expect(store.kv.get('task-progress/f1/t4')).toMatchObject({ state: 'TASK_FINISHED', pending: [{ status: { uuid: 'u12' }, seq: 1 }, { status: { uuid: 'u13' }, seq: 2 }] })
    expect(store.kv.get('task-progress/f2/t3')).not.toHaveProperty('pending')
  })

  it('numbers each task\'s updates from 1, in the order they are made, whether queued or not', async () => {
    const r = recorded()
    const seqs: Array<[string, number]> = []
    for (const [cmd, at] of script) {
      r.state.apply(cmd, at)
      if (cmd.type !== 'task-status') continue
      const tail = r.state.pending(cmd.frameworkId, cmd.status.task_id.value).at(-1)
      if (tail?.status === cmd.status) seqs.push([cmd.status.uuid ?? '', tail.seq])
    }
    // t1: u1 u2, then u6 u7 u8 (u9 came after its end); t2, t3 of the removed f2 queue nothing; t4: u12 u13.
    expect(seqs).toEqual([['u1', 1], ['u2', 2], ['u3', 1], ['u4', 1], ['u5', 2], ['u6', 3], ['u7', 4], ['u8', 5], ['u12', 1], ['u13', 2]])
    // f2's updates after its removal went nowhere, and were counted all the same.
    expect(r.state.task('f2', 't3')?.updateSeq).toBe(2)
    expect(r.state.task('f1', 't4')?.updateSeq).toBe(2)
    await r.state.written()
    const loaded = await loadedFrom(r.store)
    expect(loaded.task('f2', 't3')?.updateSeq).toBe(2)
    // Counting goes on after a restart.
    loaded.apply(status('f2', 't3', 'TASK_KILLED', 'u14'), 3000)
    expect(loaded.task('f2', 't3')?.updateSeq).toBe(3)
  })

  it('replaying the recorded commands gives the same state and the same checkpoint', async () => {
    const first = await runScript()
    expect(first.applied).toHaveLength(script.length)
    const second = await replayed(first.applied)
    expect(everything(second.state)).toStrictEqual(everything(first.state))
    expect(second.state.checkpoint()).toStrictEqual(first.state.checkpoint())
    expect(sortedEntries(second.store.kv)).toStrictEqual(sortedEntries(first.store.kv))
  })

  it('leaves the commands it applies unchanged', async () => {
    const before = structuredClone(script)
    await runScript()
    expect(script).toStrictEqual(before)
  })

  it('writes a key changed more than once in a turn once, with its last value, in one batch', async () => {
    const backing = unevenStore()
    const batches: StoreWrite[][] = []
    const store: BatchStore = {
      ...backing,
      async batch(writes) {
        batches.push([...writes])
        for (const w of writes) await (w.op === 'put' ? backing.put(w.key, w.value) : backing.delete(w.key))
      },
    }
    const puts: string[] = []
    const counted: BatchStore = {
      ...store,
      async put(key, value) {
        puts.push(key)
        await backing.put(key, value)
      },
    }
    const state = createAgentState({ store: counted, log })
    state.apply(launched('f1', 't1'), 1)
    state.apply({ type: 'framework-info', frameworkId: 'f1', info: framework('one') }, 1)
    await state.written()
    batches.length = 0
    puts.length = 0
    // The container starts and its TASK_RUNNING follows in the same turn.
    state.apply({ type: 'container-started', frameworkId: 'f1', taskId: 't1', containerId: 'c1', ipAddresses: [] }, 2)
    state.apply(status('f1', 't1', 'TASK_RUNNING', 'u1'), 2)
    await state.written()
    // One key, written once: the task's progress with the update it awaits.
    expect([...batches.map((b) => b.map((w) => w.key)), puts]).toEqual([['task-progress/f1/t1']])
    expect(backing.kv.get('task-progress/f1/t1')).toMatchObject({ state: 'TASK_RUNNING', containerId: 'c1', updateSeq: 1, pending: [{ status: { uuid: 'u1' }, seq: 1 }] })
    expect((await loadedFrom(backing)).checkpoint()).toEqual(state.checkpoint())
    // Its acknowledgement writes that one key again.
    puts.length = 0
    state.apply(ack('f1', 't1', 'u1'), 3)
    await state.written()
    expect([...batches.map((b) => b.map((w) => w.key)), puts]).toEqual([['task-progress/f1/t1']])
    expect(backing.kv.get('task-progress/f1/t1')).not.toHaveProperty('pending')
    expect((await loadedFrom(backing)).pending('f1', 't1')).toEqual([])
  })

  it('load() from the checkpoint restores what was checkpointed', async () => {
    const first = await runScript()
    const loaded = await loadedFrom(first.store)
    expect(loaded.checkpoint()).toStrictEqual(first.state.checkpoint())
    expect(loaded.agentId).toBe('a1')
    expect([...loaded.completed]).toStrictEqual([...first.state.completed])
    expect(loaded.completedSeq).toBe(first.state.completedSeq)
    // What lives only in memory starts over.
    expect(loaded.masterId).toBeUndefined()
    expect(loaded.terminalCounts.size).toBe(0)
    expect(loaded.updates.get('f1/t4')?.attempt).toBe(0)
    expect(sortedEntries(new Map([...loaded.tasks].map(([k, t]) => [k, { ...t, ipAddresses: undefined }])))).toEqual(
      sortedEntries(new Map([...first.state.tasks].map(([k, t]) => [k, { ...t, ipAddresses: undefined, killRequested: false }]))),
    )
    // Loading writes nothing.
    await loaded.written()
    expect(sortedEntries(first.store.kv)).toHaveLength(9)
  })

  it('reads each task as launched with what it reached since over it, and no task from what a task reached alone', async () => {
    const store = unevenStore()
    const info = taskInfo('t1')
    const status = (state: string, uuid: string): TaskStatusWire => ({ task_id: { value: 't1' }, state, timestamp: 5, uuid })
    store.kv.set('tasks/f1/t1', { frameworkId: 'f1', info, frameworkCapabilities: [], sandbox: '/s', containerizer: 'hollow', hostPorts: [], state: 'TASK_STAGING' })
    store.kv.set('task-progress/f1/t1', { state: 'TASK_RUNNING', latest: status('TASK_RUNNING', 'u2'), updateSeq: 2, containerId: 'c1' })
    store.kv.set('task-progress/f1/t7', { state: 'TASK_RUNNING', latest: status('TASK_RUNNING', 'u7') })
    const s = await loadedFrom(store)
    expect([...s.tasks.keys()]).toEqual(['f1/t1'])
    expect(s.task('f1', 't1')).toMatchObject({ state: 'TASK_RUNNING', updateSeq: 2, containerId: 'c1', latest: { uuid: 'u2' }, info })
  })

  it('reads a checkpoint in the layout earlier agents wrote', async () => {
    const store = unevenStore()
    const info = taskInfo('t1')
    const old = (state: string, uuid: string): TaskStatusWire => ({ task_id: { value: 't1' }, state, timestamp: 5, uuid })
    store.kv.set('agent', { agentId: 'a9' })
    store.kv.set('frameworks/f1', framework('one'))
    store.kv.set('tasks/f1/t1', { frameworkId: 'f1', info, frameworkCapabilities: ['TASK_KILLING_STATE'], sandbox: '/s', containerizer: 'docker', hostPorts: [80], state: 'TASK_RUNNING', latest: old('TASK_RUNNING', 'x2'), containerId: 'c1' })
    store.kv.set('completed/f1', { seq: 4, tasks: [{ frameworkId: 'f1', info: taskInfo('t0'), sandbox: '/s0', state: 'TASK_FINISHED' }] })
    store.kv.set('completed/f0', { seq: 7, tasks: [{ frameworkId: 'f0', info: taskInfo('t0'), sandbox: '/s1', state: 'TASK_FAILED' }] })
    store.kv.set('updates/f1/t1', [{ frameworkId: 'f1', status: old('TASK_RUNNING', 'x2') }])
    const s = await loadedFrom(store)
    expect(s.agentId).toBe('a9')
    expect(s.frameworks.get('f1')?.name).toBe('one')
    expect(s.task('f1', 't1')).toStrictEqual({
      frameworkId: 'f1',
      info,
      frameworkCapabilities: ['TASK_KILLING_STATE'],
      sandbox: '/s',
      containerizer: 'docker',
      hostPorts: [80],
      state: 'TASK_RUNNING',
      updateSeq: 0,
      killRequested: false,
      latest: old('TASK_RUNNING', 'x2'),
      containerId: 'c1',
    })
    // Frameworks in the order their lists last changed.
    expect([...s.completed.keys()]).toEqual(['f1', 'f0'])
    expect(s.completedSeq).toBe(7)
    expect(s.pending('f1', 't1').map((u) => [u.status.uuid, u.seq])).toEqual([['x2', 0]])
    // The queue moves into the task's progress when it next changes: the old key goes.
    s.apply(status('f1', 't1', 'TASK_RUNNING', 'x2b'), 1)
    await s.written()
    expect(store.kv.has('updates/f1/t1')).toBe(false)
    expect(store.kv.get('task-progress/f1/t1')).toMatchObject({ pending: [{ status: { uuid: 'x2' } }, { status: { uuid: 'x2b' } }] })
    expect((await loadedFrom(store)).checkpoint()).toStrictEqual(s.checkpoint())
    // And it writes them back the same way.
    s.apply(ack('f1', 't1', 'x2'), 1)
    s.apply(ack('f1', 't1', 'x2b'), 1)
    s.apply(status('f1', 't1', 'TASK_FINISHED', 'x3'), 2)
    s.apply(ack('f1', 't1', 'x3'), 3)
    await s.written()
    expect(sortedEntries(store.kv).map(([k]) => k)).toEqual(['agent', 'completed/f0', 'completed/f1', 'frameworks/f1'])
    expect(store.kv.get('completed/f1')).toMatchObject({ seq: 8, tasks: [{ sandbox: '/s0' }, { sandbox: '/s', state: 'TASK_FINISHED' }] })
  })
})

// ---- generated runs ----

const fid = fc.constantFrom('f1', 'f2')
const tid = fc.constantFrom('t1', 't2', 't3')
const uuid = fc.constantFrom('u1', 'u2', 'u3', 'u4')
const taskState = fc.constantFrom('TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED')

const command: fc.Arbitrary<AgentCommand> = fc.oneof(
  fc.record({ type: fc.constant('registered' as const), agentId: fc.constantFrom('a1', 'a2'), masterId: fc.constantFrom('m1', 'm2'), pingIntervalMs: fc.constantFrom(1000, 15_000) }),
  fc.constant({ type: 'master-pinged' as const }),
  fc.record({ type: fc.constant('framework-info' as const), frameworkId: fid, info: fc.constantFrom('one', 'two').map((n) => framework(n)) }),
  fc.record({ type: fc.constant('framework-removed' as const), frameworkId: fid }),
  fc.tuple(fid, tid).map(([f, t]) => launched(f, t)),
  fc.record({ type: fc.constant('container-started' as const), frameworkId: fid, taskId: tid, containerId: fc.constantFrom('c1', 'c2'), ipAddresses: fc.constantFrom([], ['10.0.0.1']) }),
  fc.record({ type: fc.constant('container-recovered' as const), frameworkId: fid, taskId: tid, containerId: fc.constantFrom('c1', 'c3') }),
  fc.tuple(fid, tid, taskState, uuid, fc.boolean()).map(([f, t, s, u, healthy]) => status(f, t, s, u, healthy ? { healthy } : {})),
  fc.record({ type: fc.constant('task-unhealthy' as const), frameworkId: fid, taskId: tid }),
  fc.record({ type: fc.constant('task-kill-requested' as const), frameworkId: fid, taskId: tid }),
  fc.tuple(fid, tid, uuid).map(([f, t, u]) => ack(f, t, u)),
  fc.tuple(fid, tid).map(([f, t]) => sent(f, t)),
  fc.constant({ type: 'update-backoff-reset' as const }),
)
const run = fc.array(fc.tuple(command, fc.integer({ min: 0, max: 10_000 })), { maxLength: 40 })

describe('agent state, generated runs', () => {
  it('apply is deterministic: the same commands at the same times give the same state and store', async () => {
    await fc.assert(
      fc.asyncProperty(run, async (commands) => {
        const a = await replayed(commands)
        const b = await replayed(commands)
        expect(everything(b.state)).toStrictEqual(everything(a.state))
        expect(sortedEntries(b.store.kv)).toStrictEqual(sortedEntries(a.store.kv))
      }),
      { numRuns: 40 },
    )
  })

  it('the store ends up holding exactly the checkpoint of the state in memory', async () => {
    await fc.assert(
      fc.asyncProperty(run, async (commands) => {
        const { state, store } = await replayed(commands)
        const loaded = await loadedFrom(store)
        expect(loaded.checkpoint()).toStrictEqual(state.checkpoint())
      }),
      { numRuns: 40 },
    )
  })
})
