// Allocation pass: the master's snapshot (each agent's free resources, each framework's
// allocation) and the pure DRF `allocate` over it, in process, at several cluster sizes: 10
// running tasks an agent, one framework, agents of cpus:8;mem:8192;disk:10000;ports:[31000-31999].
// The same pass is timed with the sums the state keeps, subtracting each agent's use and offers
// from its total; with each agent's free resources kept (state.agentFree, what the master runs:
// its periodic pass finds most agents unchanged since the last); and, up to 2,000 agents, with
// the scans of every task and offer per agent that the master ran before the sums.
//
//   npx tsc -p tsconfig.json && node dist/bench/allocation-pass.js [--agents 1000,2000,5000,10000] [--reps 30]
//
// The scale bench measures the same passes in a running master (allocator/mesos/allocation_run_ms,
// which also counts making and sending the offers); this one isolates how a pass grows with agents.
import { parseArgs } from 'node:util'
import pino from 'pino'
import type { Resources } from '../src/core/resources.js'
import { add, EMPTY, parseResourceString, subtract } from '../src/core/resources.js'
import { allocate } from '../src/master/allocator.js'
import type { MasterState } from '../src/master/state.js'
import { createMasterState, ended } from '../src/master/state.js'
import type { Store } from '../src/store/store.js'
import { fmt } from './lib.js'

const { values: argv } = parseArgs({ options: { agents: { type: 'string', default: '1000,2000,5000,10000' }, reps: { type: 'string', default: '30' } } })
const SIZES = argv.agents.split(',').map(Number)
const REPS = Number(argv.reps)
const SCANS_UP_TO = 2000

const nullStore: Store = { get: async () => undefined, put: async () => {}, delete: async () => {}, list: async () => [], close: async () => {} }
const total = parseResourceString('cpus:8;mem:8192;disk:10000;ports:[31000-31999]')

function cluster(agents: number): MasterState {
  const s = createMasterState({ store: nullStore, log: pino({ level: 'silent' }) })
  for (let i = 0; i < agents; i++) s.apply({ type: 'agent-registered', agentId: `a${i}`, reregistered: false, hostname: `h${i}`, ip: '127.0.0.1', port: 1, total, attributes: [], version: '1' }, 1)
  s.apply({ type: 'framework-subscribed', frameworkId: 'f', info: { name: 'f', user: 'u', roles: ['*'], capabilities: [], failover_timeout: 0, checkpoint: false }, resubscribed: false, suppressedRoles: [] }, 1)
  s.apply({ type: 'framework-connected', frameworkId: 'f', streamId: 's' }, 1)
  for (let i = 0; i < agents * 10; i++) {
    const port = 31000 + Math.floor(i / agents)
    const resources: Resources = { scalars: { cpus: 0.1, mem: 16 }, ranges: { ports: [{ begin: port, end: port }] } }
    const task = { taskId: `t${i}`, frameworkId: 'f', agentId: `a${i % agents}`, role: '*', info: { name: `t${i}`, task_id: { value: `t${i}` }, agent_id: { value: `a${i % agents}` }, resources: [] }, resources, state: 'TASK_RUNNING', statuses: [] }
    s.apply({ type: 'task-added', task }, 1)
  }
  return s
}

interface Accounting {
  /** An agent's free resources, when the accounting keeps them (the state's agentFree). */
  free?(agentId: string): Resources
  used(agentId: string): Resources
  offered(agentId: string): Resources
  allocated(frameworkId: string): Record<string, Resources>
}

function pass(s: MasterState, acc: Accounting): number {
  return allocate({
    agents: [...s.agents.values()].map((a) => ({ id: a.id, total: a.total, free: acc.free ? acc.free(a.id) : subtract(subtract(a.total, acc.used(a.id)), acc.offered(a.id)) })),
    frameworks: [...s.frameworks.values()].map((f) => ({ id: f.id, connected: true, roles: f.roles, suppressedRoles: [], allocated: acc.allocated(f.id), refusals: new Map() })),
    roleWeights: {},
    now: 2,
  }).length
}

function timeMs(fn: () => void, reps: number): number {
  for (let k = 0; k < 3; k++) fn() // to warm up
  const t0 = performance.now()
  for (let k = 0; k < reps; k++) fn()
  return (performance.now() - t0) / reps
}

// The first size would otherwise pay for the JIT's warming up.
{
  const s = cluster(1000)
  timeMs(() => pass(s, { used: s.agentUsed, offered: s.agentOffered, allocated: (fid) => Object.fromEntries(s.frameworkUsed(fid)) }), 20)
}

for (const n of SIZES) {
  const s = cluster(n)
  const kept: Accounting = { used: s.agentUsed, offered: s.agentOffered, allocated: (fid) => Object.fromEntries(s.frameworkUsed(fid)) }
  const scans: Accounting = {
    used: (id) => [...s.tasks.values()].filter((t) => t.agentId === id && !ended(t)).reduce<Resources>((u, t) => add(u, t.resources), EMPTY),
    offered: (id) => [...s.offers.values()].filter((o) => o.agentId === id).reduce<Resources>((u, o) => add(u, o.resources), EMPTY),
    allocated: (fid) => {
      const out: Record<string, Resources> = {}
      for (const t of s.tasks.values()) if (t.frameworkId === fid && !ended(t)) out[t.role] = add(out[t.role] ?? EMPTY, t.resources)
      return out
    },
  }
  const keptMs = timeMs(() => pass(s, kept), REPS)
  // As the master's periodic pass finds most agents: unchanged since the pass before.
  const keptFreeMs = timeMs(() => pass(s, { ...kept, free: s.agentFree }), REPS)
  const scanMs = n <= SCANS_UP_TO ? timeMs(() => pass(s, scans), 3) : NaN
  process.stdout.write(`${String(n).padStart(6)} agents ${String(n * 10).padStart(7)} tasks   pass ${fmt(keptMs).padStart(7)} ms (${fmt((1000 * keptMs) / n, 1)} µs an agent)   free kept ${fmt(keptFreeMs).padStart(7)} ms   with scans ${fmt(scanMs, 0).padStart(6)} ms\n`)
}
