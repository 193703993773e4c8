// The scheduler client's acknowledgements on the wire: batched in one request where the master
// says on SUBSCRIBE that it takes batches, a call each where it does not, and a refused batch
// sent again a call each. The master here is a small HTTP server that records what it is sent.
import type { Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { SchedulerClient } from './scheduler-client.js'
import { createSchedulerClient } from './scheduler-client.js'
import type { TaskStatusWire } from './mesos.js'
import { BATCHED_CALLS_HEADER } from './mesos.js'

const log = pino({ level: 'silent' })

interface Recorded {
  readonly bodies: unknown[]
  readonly url: string
  close(): Promise<void>
}

/** Answers SUBSCRIBE with a stream (and the batch header when asked), every other call with `answer`. */
async function recordingMaster(o: { batches: boolean; answer: (body: unknown) => number }): Promise<Recorded> {
  const bodies: unknown[] = []
  const server: Server = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString()))
    req.on('end', () => {
      const body = JSON.parse(text) as { type?: string }
      if (!Array.isArray(body) && body.type === 'SUBSCRIBE') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'stream-1', ...(o.batches ? { [BATCHED_CALLS_HEADER]: 'ACKNOWLEDGE' } : {}) })
        const event = JSON.stringify({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, heartbeat_interval_seconds: 15 } })
        res.write(`${Buffer.byteLength(event)}\n${event}`)
        return
      }
      bodies.push(body)
      const status = o.answer(body)
      res.writeHead(status, { 'Content-Length': status === 202 ? 0 : 3 })
      res.end(status === 202 ? '' : 'bad')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    bodies,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

const status = (task: string): TaskStatusWire => ({ task_id: { value: task }, agent_id: { value: 'agent-1' }, state: 'TASK_RUNNING', uuid: `uuid-${task}`, timestamp: 1 })
const ackOf = (task: string) => ({ framework_id: { value: 'fw-1' }, type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'agent-1' }, task_id: { value: task }, uuid: `uuid-${task}` } })

const open: Array<{ client: SchedulerClient; master: Recorded }> = []
afterEach(async () => {
  for (const { client, master } of open.splice(0)) {
    client.stop()
    await master.close()
  }
})

async function connect(o: { batches: boolean; answer?: (body: unknown) => number }): Promise<{ client: SchedulerClient; master: Recorded }> {
  const master = await recordingMaster({ batches: o.batches, answer: o.answer ?? (() => 202) })
  const client = createSchedulerClient({
    masters: [master.url],
    frameworkInfo: { user: 'root', name: 'test', roles: ['*'], failover_timeout: 0, checkpoint: false, capabilities: [] },
    log,
    onEvent: () => undefined,
  })
  open.push({ client, master })
  client.start()
  const deadline = Date.now() + 5000
  while (!client.connected() || client.frameworkId() === undefined) {
    if (Date.now() > deadline) throw new Error('the client did not subscribe')
    await new Promise((r) => setTimeout(r, 5))
  }
  return { client, master }
}

describe('acknowledgements', () => {
  it('go in one request where the master takes batches, each with the framework id', async () => {
    const { client, master } = await connect({ batches: true })
    await Promise.all(['t1', 't2', 't3'].map((t) => client.acknowledge(status(t))))
    expect(master.bodies).toEqual([[ackOf('t1'), ackOf('t2'), ackOf('t3')]])
    // One alone is a plain Mesos call.
    await client.acknowledge(status('t4'))
    expect(master.bodies[1]).toEqual(ackOf('t4'))
  })

  it('go a call each where the master does not say it takes batches', async () => {
    const { client, master } = await connect({ batches: false })
    await Promise.all(['t1', 't2', 't3'].map((t) => client.acknowledge(status(t))))
    expect(master.bodies).toHaveLength(3)
    expect(new Set(master.bodies)).toEqual(new Set([ackOf('t1'), ackOf('t2'), ackOf('t3')]))
  })

  it('of a refused batch are sent again a call each: only the bad one fails', async () => {
    const { client, master } = await connect({ batches: true, answer: (b) => (Array.isArray(b) || (b as { acknowledge: { task_id: { value: string } } }).acknowledge.task_id.value === 't2' ? 400 : 202) })
    const results = await Promise.allSettled(['t1', 't2', 't3'].map((t) => client.acknowledge(status(t))))
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(master.bodies[0]).toEqual([ackOf('t1'), ackOf('t2'), ackOf('t3')])
    expect(master.bodies.slice(1)).toHaveLength(3)
  })
})
