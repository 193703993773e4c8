// Helpers for tests of the agent's state and of what drives it: a store whose writes land
// out of order unless they are issued in order, a state that records the commands applied
// to it, a replay of recorded commands into a fresh state, a master for an agent to talk to,
// and the options of a hollow agent.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import type { AgentStatusWire, TaskResultsWire } from '../api/internal.js'
import { AgentStatusUpdatesSchema, MasterInternalPath } from '../api/internal.js'
import { systemClock } from '../core/clock.js'
import { openSqliteStore } from '../store/sqlite.js'
import type { Store } from '../store/store.js'
import { createHollowContainerizer } from './containerizers/hollow.js'
import type { AgentState } from './state.js'
import { createAgentState } from './state.js'
import type { AgentCommand, AgentOptions } from './types.js'

const log = pino({ level: 'silent' })

/**
 * A store in memory whose operations finish after uneven delays, so that writes which were
 * not issued one after the other land out of order.
 */
export function unevenStore(seed = 7): Store & { readonly kv: Map<string, unknown> } {
  const kv = new Map<string, unknown>()
  let rng = seed
  const pause = (): Promise<void> => {
    rng = (rng * 48271) % 2147483647
    return new Promise((done) => setTimeout(done, rng % 3))
  }
  return {
    kv,
    async get<T>(key: string) {
      return structuredClone(kv.get(key)) as T | undefined
    },
    async put(key, value) {
      const copy = structuredClone(value)
      await pause()
      kv.set(key, copy)
    },
    async delete(key) {
      await pause()
      kv.delete(key)
    },
    async list<T>(prefix: string) {
      const keys = [...kv.keys()].filter((k) => k.startsWith(prefix)).sort()
      return keys.map((k): [string, T] => [k, structuredClone(kv.get(k)) as T])
    },
    async close() {},
  }
}

export type Applied = Array<readonly [AgentCommand, number]>

/** A state on its own store whose commands are recorded as they are applied. */
export function recorded(): { state: AgentState; store: ReturnType<typeof unevenStore>; applied: Applied } {
  const store = unevenStore()
  const inner = createAgentState({ store, log })
  const applied: Applied = []
  const state: AgentState = Object.create(inner, {
    apply: {
      value: (cmd: AgentCommand, at: number) => {
        applied.push([structuredClone(cmd), at])
        inner.apply(cmd, at)
      },
    },
  }) as AgentState
  return { state, store, applied }
}

export async function replayed(commands: Applied): Promise<{ state: AgentState; store: ReturnType<typeof unevenStore> }> {
  const store = unevenStore(99)
  const state = createAgentState({ store, log })
  for (const [cmd, at] of commands) state.apply(cmd, at)
  await state.written()
  return { state, store }
}

/** Everything the state holds, with the order of maps kept. */
export const everything = (s: AgentState): unknown => ({
  agentId: s.agentId,
  masterId: s.masterId,
  pingIntervalMs: s.pingIntervalMs,
  lastPingAt: s.lastPingAt,
  completedSeq: s.completedSeq,
  frameworks: [...s.frameworks],
  removedFrameworks: [...s.removedFrameworks],
  tasks: [...s.tasks],
  completed: [...s.completed],
  terminalCounts: [...s.terminalCounts],
  updates: [...s.updates],
})

export const sortedEntries = (kv: ReadonlyMap<string, unknown>): Array<[string, unknown]> => [...kv].sort(([a], [b]) => (a < b ? -1 : 1))

/**
 * A master on 127.0.0.1 (once listening) that registers every agent as a1 of the master run
 * `masterId()`, and hands each status update to onStatus, whose number is the answer's status
 * (or, for an update of a list, says whether its result is an error).
 */
export function masterStub(o: { masterId: () => string; onStatus: (update: AgentStatusWire) => number }): { server: Server; url(): string } {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      if (req.url === MasterInternalPath.register) {
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ agent_id: 'a1', master_id: o.masterId(), ping_interval_ms: 60_000 }))
        return
      }
      // Each update of a list is answered on its own; a 404 for one sends the agent to re-register.
      const { agent_id, updates, ...one } = AgentStatusUpdatesSchema.parse(JSON.parse(body))
      const codes = updates.map((u) => o.onStatus({ agent_id, ...u } as AgentStatusWire))
      if ('single' in one) return void res.writeHead(codes[0]!).end()
      if (codes.includes(404)) return void res.writeHead(404).end()
      const results: TaskResultsWire['results'] = updates.map((u, i) => ({ task_id: u.status.task_id.value, ...(codes[i]! < 300 ? {} : { error: `answered ${codes[i]}` }) }))
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ results }))
    })
  })
  return { server, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** An agent a1-to-be on host h0 with the hollow containerizer and its checkpoint in memory, reporting to `masterUrl`. */
export function hollowAgentOptions(o: { masterUrl: string; workDir: string; startMs: { min: number; max: number }; statusUpdateRetryMs: number; statusUpdateMaxRetryMs: number }): AgentOptions {
  return {
    masters: [o.masterUrl],
    ip: '127.0.0.1',
    port: 1,
    hostname: 'h0',
    workDir: o.workDir,
    resources: { scalars: { cpus: 4, mem: 1024 }, ranges: {} },
    attributes: [],
    containerizers: [createHollowContainerizer({ startMs: o.startMs })],
    store: openSqliteStore(':memory:'),
    log,
    clock: systemClock,
    statusUpdateRetryMs: o.statusUpdateRetryMs,
    statusUpdateMaxRetryMs: o.statusUpdateMaxRetryMs,
  }
}

/** A TaskInfo as the master sends it, of 0.5 cpus and 64 MiB for agent a1. */
export const taskInfoWire = (id: string): Record<string, unknown> => ({
  name: id,
  task_id: { value: id },
  agent_id: { value: 'a1' },
  resources: [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } },
    { name: 'mem', type: 'SCALAR', scalar: { value: 64 } },
  ],
  command: { value: 'sleep 1000' },
})
