// Helpers for tests of the agent's state and of what drives it: a store whose writes land
// out of order unless they are issued in order, a state that records the commands applied
// to it, a replay of recorded commands into a fresh state, and a master for an agent to talk to.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import type { AgentStatusWire } from '../api/internal.js'
import { MasterInternalPath } from '../api/internal.js'
import type { Store } from '../store/store.js'
import type { AgentState } from './state.js'
import { createAgentState } from './state.js'
import type { AgentCommand } from './types.js'

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
 * `masterId()`, and hands each status update to onStatus, whose number is the answer's status.
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
      res.writeHead(o.onStatus(JSON.parse(body) as AgentStatusWire)).end()
    })
  })
  return { server, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}
