import { Resolver } from 'node:dns/promises'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import * as packet from 'dns-packet'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { answer } from './answer.js'
import type { Transport } from './answer.js'
import { appOf } from './testing.js'
import { buildRecords } from './records.js'
import type { DnsListener } from './transport.js'
import { listenDns } from './transport.js'

const log = pino({ level: 'silent' })
const big = appOf('/big', 1000)
const records = buildRecords([big.app], { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1', hostAddresses: big.hostAddresses })

/** Length-prefixed messages read off a TCP connection until it closes or n have come. */
function readMessages(c: Socket, n: number): Promise<{ messages: Buffer[]; closed: boolean }> {
  return new Promise((res) => {
    let buf = Buffer.alloc(0)
    const messages: Buffer[] = []
    const done = (closed: boolean): void => res({ messages, closed })
    c.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        messages.push(buf.subarray(2, 2 + buf.readUInt16BE(0)))
        buf = buf.subarray(2 + buf.readUInt16BE(0))
      }
      if (messages.length >= n) done(false)
    })
    c.on('close', () => done(true))
  })
}

const framed = (msg: Buffer): Buffer => {
  const prefix = Buffer.alloc(2)
  prefix.writeUInt16BE(msg.length)
  return Buffer.concat([prefix, msg])
}
const query = (id: number, name: string, type: 'A' | 'SRV'): Buffer => packet.encode({ id, type: 'query', flags: packet.RECURSION_DESIRED, questions: [{ name, type }] })

describe('dns over UDP and TCP', () => {
  let listener: DnsListener
  const seen: Transport[] = []
  beforeAll(async () => {
    listener = await listenDns({
      host: '127.0.0.1',
      port: 0,
      log,
      idleMs: 1000,
      maxConnections: 4,
      respond: (msg, transport) => {
        seen.push(transport)
        return answer(msg, records, { domain: 'mesos', ttl: 5, serial: 1 }, transport)
      },
    })
  })
  afterAll(() => listener.close())

  it("gives a stock resolver (c-ares) all 1,000 SRV records: the UDP answer is cut, and it asks again over TCP", async () => {
    const resolver = new Resolver({ timeout: 2000, tries: 1 })
    resolver.setServers([`127.0.0.1:${listener.port}`])
    seen.length = 0
    const srv = await resolver.resolveSrv('_big._tcp.marathon.mesos')
    expect(srv).toHaveLength(1000)
    expect(new Set(srv.map((r) => r.name)).size).toBe(1000)
    expect(srv.map((r) => r.port).sort((a, b) => a - b)).toEqual(big.app.tasks!.map((t) => t.ports[0]).sort((a, b) => a! - b!))
    expect(seen).toEqual(['udp', 'tcp'])
    // A small answer stays on UDP.
    seen.length = 0
    expect(await resolver.resolve4('leader.mesos')).toEqual(['127.0.0.1'])
    expect(seen).toEqual(['udp'])
  })

  it('answers queries pipelined on one TCP connection, in order, and one sent a byte at a time', async () => {
    const c = connect(listener.port, '127.0.0.1')
    const got = readMessages(c, 3)
    c.write(Buffer.concat([framed(query(1, 'leader.mesos', 'A')), framed(query(2, '_big._tcp.marathon.mesos', 'SRV'))]))
    const third = framed(query(3, 'master.mesos', 'A'))
    for (const byte of third) {
      c.write(Buffer.from([byte]))
      await new Promise((r) => setImmediate(r))
    }
    const { messages } = await got
    c.destroy()
    const decoded = messages.map((m) => packet.decode(m))
    expect(decoded.map((m) => m.id)).toEqual([1, 2, 3])
    expect(decoded[1]!.answers).toHaveLength(1000)
    expect(decoded[2]!.answers!.map((r) => (r as { data: string }).data)).toEqual(['127.0.0.1'])
  })

  it('answers no faster than a client reads: queries wait while its answers are unread, and all come once it reads', async () => {
    const c = connect(listener.port, '127.0.0.1')
    await new Promise((r) => c.once('connect', r))
    c.pause()
    seen.length = 0
    const n = 600
    // 600 queries whose answers are about 53 KB each: 32 MB if all were answered at once.
    c.write(Buffer.concat(Array.from({ length: n }, (_, i) => framed(query(i, '_big._tcp.marathon.mesos', 'SRV')))))
    await new Promise((r) => setTimeout(r, 500))
    const answeredUnread = seen.length
    expect(answeredUnread).toBeGreaterThan(0)
    expect(answeredUnread).toBeLessThan(n / 2)
    const got = readMessages(c, n)
    c.resume()
    const { messages } = await got
    c.destroy()
    expect(messages.map((m) => packet.decode(m).id)).toEqual(Array.from({ length: n }, (_, i) => i))
  })

  it('goes on answering when answering one query throws', async () => {
    const failing = await listenDns({
      host: '127.0.0.1',
      port: 0,
      log,
      respond: (msg, transport) => {
        if (packet.decode(msg).questions?.[0]?.name === 'boom.mesos') throw new Error('boom')
        return answer(msg, records, { domain: 'mesos', ttl: 5, serial: 1 }, transport)
      },
    })
    try {
      const resolver = new Resolver({ timeout: 300, tries: 1 })
      resolver.setServers([`127.0.0.1:${failing.port}`])
      await expect(resolver.resolve4('boom.mesos')).rejects.toThrow()
      expect(await resolver.resolve4('leader.mesos')).toEqual(['127.0.0.1'])
    } finally {
      await failing.close()
    }
  })

  it('closes a connection that claims a message too long for a query, or stays idle, or is one too many; the rest go on', async () => {
    const oversized = connect(listener.port, '127.0.0.1')
    const cut = readMessages(oversized, 1)
    const sent = Date.now()
    oversized.write(Buffer.from([0xff, 0xff, 0, 0]))
    expect(await cut).toEqual({ messages: [], closed: true })
    // At once, not for being idle.
    expect(Date.now() - sent).toBeLessThan(900)

    const idle = connect(listener.port, '127.0.0.1')
    const t0 = Date.now()
    expect((await readMessages(idle, 1)).closed).toBe(true)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)

    const open = await Promise.all(Array.from({ length: 4 }, () => new Promise<Socket>((res) => { const c = connect(listener.port, '127.0.0.1', () => res(c)) })))
    const extra = connect(listener.port, '127.0.0.1')
    const opened = Date.now()
    expect((await readMessages(extra, 1)).closed).toBe(true)
    expect(Date.now() - opened).toBeLessThan(900)
    for (const c of open) c.destroy()

    const resolver = new Resolver({ timeout: 2000, tries: 1 })
    resolver.setServers([`127.0.0.1:${listener.port}`])
    expect(await resolver.resolve4('leader.mesos')).toEqual(['127.0.0.1'])
  })
})
