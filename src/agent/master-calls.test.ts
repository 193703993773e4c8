// The agent's side of the batched calls, through its HTTP endpoints and a real agent (hollow
// containerizer): a launch of several tasks answers each, the status updates of different tasks
// that are due together go to the master in one request while each task keeps one update out,
// and a master's answer counts update by update.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeServer } from '../api/http.js'
import type { AcknowledgementWire, AgentStatusUpdatesWire, TaskResultsWire } from '../api/internal.js'
import { AgentInternalPath, MasterInternalPath } from '../api/internal.js'
import type { Agent } from './agent.js'
import { createAgent } from './agent.js'
import { startAgentHttp } from './http.js'
import { hollowAgentOptions, taskInfoWire } from './state.testkit.js'

const log = pino({ level: 'silent' })

/** A master that registers the agent and records each status request; it fails the updates `refuse` names. */
function masterRecorder() {
  const requests: AgentStatusUpdatesWire[] = []
  const refuse = new Set<string>()
  const server: Server = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString()))
    req.on('end', () => {
      if (req.url === MasterInternalPath.register) {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ agent_id: 'a1', master_id: 'm1', ping_interval_ms: 60_000 }))
        return
      }
      const body = JSON.parse(text) as AgentStatusUpdatesWire
      requests.push(body)
      const results: TaskResultsWire['results'] = body.updates.map((u) => {
        const key = `${u.status.task_id.value} ${u.status.state}`
        if (!refuse.has(key)) return { task_id: u.status.task_id.value }
        refuse.delete(key)
        return { task_id: u.status.task_id.value, error: 'not now' }
      })
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ results }))
    })
  })
  const updates = () => requests.flatMap((r) => r.updates)
  return { server, requests, refuse, updates, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe("an agent's batched calls", () => {
  const dir = mkdtempSync(join(tmpdir(), 'dromos-agent-batches-'))
  const master = masterRecorder()
  let agent: Agent
  let http: Server
  let agentUrl = ''
  const post = (path: string, body: unknown): Promise<Response> => fetch(`${agentUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  const ackAll = (updates: AgentStatusUpdatesWire['updates']): Promise<Response> =>
    post(AgentInternalPath.ack, { acks: updates.map((u): AcknowledgementWire => ({ framework_id: u.framework_id, task_id: u.status.task_id.value, uuid: u.status.uuid! })) })
  const statesOf = (taskId: string): string[] => master.updates().flatMap((u) => (u.status.task_id.value === taskId ? [u.status.state] : []))

  beforeAll(async () => {
    await new Promise<void>((r) => master.server.listen(0, '127.0.0.1', r))
    agent = createAgent(hollowAgentOptions({ masterUrl: master.url(), workDir: dir, startMs: { min: 0, max: 2 }, statusUpdateRetryMs: 300, statusUpdateMaxRetryMs: 1000 }))
    await agent.start()
    http = await startAgentHttp({ agent, log, host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20 })
    agentUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await agent.stop()
    await closeServer(http)
    master.server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers a launch task by task, launching those it can read; each task keeps one update out until it is acknowledged', async () => {
    const launch = { framework_id: 'f1', framework_info: { user: 'u', name: 'f' }, task_infos: [taskInfoWire('t1'), taskInfoWire('t2'), { ...taskInfoWire('bad'), resources: 'none' }, taskInfoWire('t3')] }
    const r = await post(AgentInternalPath.launch, launch)
    expect(r.status).toBe(200)
    const { results } = (await r.json()) as TaskResultsWire
    expect(results.map((x) => [x.task_id, x.error !== undefined])).toEqual([
      ['t1', false],
      ['t2', false],
      ['bad', true],
      ['t3', false],
    ])
    expect(results[2]!.error).toMatch(/^Invalid TaskInfo: resources/)
    await expect.poll(() => ['t1', 't2', 't3'].map(statesOf), { timeout: 5000 }).toEqual([['TASK_STARTING'], ['TASK_STARTING'], ['TASK_STARTING']])
    expect(agent.state.task('f1', 'bad')).toBeUndefined()
    // Launched together, checkpointed together (the store here answers without I/O): one request.
    expect(master.requests.map((req) => req.updates.map((u) => u.status.task_id.value))).toEqual([['t1', 't2', 't3']])
    // The tasks run by now (the hollow containerizer starts them within 2 ms), but their
    // RUNNING waits behind the unacknowledged STARTING.
    await pause(150)
    expect(['t1', 't2', 't3'].map((id) => agent.state.task('f1', id)?.state)).toEqual(['TASK_RUNNING', 'TASK_RUNNING', 'TASK_RUNNING'])
    expect(master.updates().every((u) => u.status.state === 'TASK_STARTING')).toBe(true)
    for (const req of master.requests) expect(new Set(req.updates.map((u) => u.status.task_id.value)).size).toBe(req.updates.length)
  })

  it('sends the updates that one acknowledgement request lets out in one status request, and re-sends only the one the master failed', async () => {
    const starting = ['t1', 't2', 't3'].map((id) => master.updates().find((u) => u.status.task_id.value === id)!)
    master.refuse.add('t2 TASK_RUNNING')
    const before = master.requests.length
    expect((await ackAll(starting)).status).toBe(202)
    await expect.poll(() => master.requests.length, { timeout: 5000 }).toBeGreaterThan(before)
    const next = master.requests[before]!
    expect(next.agent_id).toBe('a1')
    expect(next.updates.map((u) => [u.framework_id, u.status.task_id.value, u.status.state])).toEqual([
      ['f1', 't1', 'TASK_RUNNING'],
      ['f1', 't2', 'TASK_RUNNING'],
      ['f1', 't3', 'TASK_RUNNING'],
    ])
    // The master took t1's and t3's, which are acknowledged; t2's RUNNING comes again, on its own.
    expect((await ackAll(next.updates.filter((u) => u.status.task_id.value !== 't2'))).status).toBe(202)
    await expect.poll(() => statesOf('t2').filter((s) => s === 'TASK_RUNNING').length, { timeout: 5000 }).toBeGreaterThanOrEqual(2)
    const resent = master.requests.slice(before + 1).filter((req) => req.updates.some((u) => u.status.task_id.value === 't2'))
    expect(resent[0]!.updates.map((u) => u.status.task_id.value)).toEqual(['t2'])
  })
})
