import * as packet from 'dns-packet'
import { describe, expect, it } from 'vitest'
import type { AnswerOptions } from './answer.js'
import { answer } from './answer.js'
import { buildRecords } from './records.js'
import { appOf } from './testing.js'

type Decoded = packet.DecodedPacket & { rcode: string; flag_tc: boolean; flag_aa: boolean }

const opts: AnswerOptions = { domain: 'mesos', ttl: 5, serial: 1234 }
const web = appOf('/prod/web', 2)
const big = appOf('/big', 1000)
const hostAddresses = new Map([...web.hostAddresses, ...[...big.hostAddresses].map(([h, ip]): [string, string] => [`${h}-big`, ip])])
const bigApp = { ...big.app, tasks: big.app.tasks!.map((t) => ({ ...t, host: `${t.host}-big` })) }
const records = buildRecords([web.app, bigApp], { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1', hostAddresses })

const query = (name: string, type: string, extra: Partial<packet.Packet> = {}): Buffer =>
  packet.encode({ id: 7, type: 'query', flags: packet.RECURSION_DESIRED, questions: [{ name, type: type as 'A' }], ...extra })
const ask = (name: string, type: string, transport: 'udp' | 'tcp' = 'udp', extra: Partial<packet.Packet> = {}, o = opts): { bytes: Buffer; msg: Decoded } => {
  const bytes = answer(query(name, type, extra), records, o, transport)!
  return { bytes, msg: packet.decode(bytes) as Decoded }
}
/** A record's data, whatever its type. */
const data = (r: packet.Answer): unknown => (r as { data?: unknown }).data
const edns = (udpPayloadSize: number): Partial<packet.Packet> => ({ additionals: [{ type: 'OPT', name: '.', udpPayloadSize } as packet.Answer] })

describe('dns answers', () => {
  it('answers A and SRV with the targets as additional records, authoritatively, echoing the id and RD', () => {
    const a = ask('web.prod.marathon.mesos', 'A').msg
    expect(a.id).toBe(7)
    expect(a.rcode).toBe('NOERROR')
    expect(a.flag_aa).toBe(true)
    expect(a.flags! & packet.RECURSION_DESIRED).toBe(packet.RECURSION_DESIRED)
    expect(a.questions).toEqual([{ name: 'web.prod.marathon.mesos', type: 'A', class: 'IN' }])
    expect(a.answers!.map(data).sort()).toEqual(['10.0.0.0', '10.0.0.1'])
    // A question in mixed case (as resolvers send it, RFC 0x20 draft) is answered and given back in its case.
    const mixed = ask('Web.PROD.marathon.Mesos', 'A').msg
    expect(mixed.questions![0]!.name).toBe('Web.PROD.marathon.Mesos')
    expect(mixed.answers).toHaveLength(2)
    const srv = ask('_web.prod._tcp.marathon.mesos', 'SRV').msg
    const srvs = srv.answers!.map((x) => data(x) as { port: number; target: string; weight: number; priority: number })
    expect(srvs.map((d) => d.port).sort()).toEqual([31000, 31001])
    // Mesos-DNS's SRV records: priority 0, weight 0.
    expect(srvs.every((d) => d.priority === 0 && d.weight === 0)).toBe(true)
    expect(srv.additionals!.map((x) => x.name).sort()).toEqual(srvs.map((d) => d.target).sort())
  })

  it('answers NXDOMAIN with the SOA, no data for AAAA and for other types of known names, and SOA and NS at the zone', () => {
    const nx = ask('nothing.marathon.mesos', 'A').msg
    expect(nx.rcode).toBe('NXDOMAIN')
    expect(nx.authorities!.map((r) => [r.type, r.name])).toEqual([['SOA', 'mesos']])
    expect(data(nx.authorities![0]!)).toMatchObject({ mname: 'ns1.mesos', rname: 'root.ns1.mesos', serial: 1234, refresh: 60, retry: 600, expire: 86400, minimum: 5 })
    for (const [name, type] of [['nothing.marathon.mesos', 'AAAA'], ['web.prod.marathon.mesos', 'AAAA'], ['web.prod.marathon.mesos', 'TXT']] as const) {
      const m = ask(name, type).msg
      expect([m.rcode, m.answers, m.authorities!.map((r) => r.type)]).toEqual(['NOERROR', [], ['SOA']])
    }
    const noSrv = ask('_nothing._tcp.marathon.mesos', 'SRV').msg
    expect([noSrv.rcode, noSrv.answers, noSrv.authorities]).toEqual(['NOERROR', [], []])
    expect(ask('mesos', 'SOA').msg.answers!.map((r) => r.type)).toEqual(['SOA'])
    expect(ask('mesos', 'NS').msg.answers!.map(data)).toEqual(['ns1.mesos'])
  })

  it('refuses other zones, says NOTIMP to other opcodes and FORMERR to what is not a query, and answers nothing to a reply', () => {
    expect(ask('example.com', 'A').msg.rcode).toBe('REFUSED')
    expect(ask('example.com', 'A').msg.flag_aa).toBe(false)
    expect(ask('web.prod.marathon.mesos', 'A', 'udp', { flags: 2 << 11 }).msg.rcode).toBe('NOTIMP')
    const garbage = Buffer.from([0x12, 0x34, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xff])
    const formerr = packet.decode(answer(garbage, records, opts, 'udp')!) as Decoded
    expect([formerr.id, formerr.rcode]).toEqual([0x1234, 'FORMERR'])
    expect(answer(packet.encode({ id: 1, type: 'response', questions: [{ name: 'web.prod.marathon.mesos', type: 'A' }] }), records, opts, 'udp')).toBeUndefined()
  })

  it('gives the answers in a random order, as Mesos-DNS does', () => {
    const orders = new Set<string>()
    for (let i = 0; i < 20; i++) orders.add(ask('_big._tcp.marathon.mesos', 'SRV', 'tcp').msg.answers!.map((r) => (data(r) as { target: string }).target).join())
    expect(orders.size).toBeGreaterThan(1)
    // Every order holds every record once.
    for (const o of orders) expect(new Set(o.split(',')).size).toBe(1000)
  })

  it('compresses names: the SRV answer of 1,000 tasks fits one TCP message', () => {
    const { bytes, msg } = ask('_big._tcp.marathon.mesos', 'SRV', 'tcp')
    expect(msg.flag_tc).toBe(false)
    expect(msg.answers).toHaveLength(1000)
    expect(new Set(msg.answers!.map((r) => (data(r) as { target: string }).target)).size).toBe(1000)
    for (const r of msg.answers!) expect(r.name).toBe('_big._tcp.marathon.mesos')
    // Each answer takes its owner as a 2-byte pointer: about 50 bytes, against about 80 uncompressed.
    expect(bytes.length).toBeLessThan(1000 * 55)
    // The glue would take it past 64 KiB: it goes, the answers stay, and TC stays clear.
    expect(msg.additionals).toEqual([])
    const withOpt = ask('_big._tcp.marathon.mesos', 'SRV', 'tcp', edns(1232)).msg
    expect([withOpt.answers!.length, withOpt.additionals!.map((r) => r.type), withOpt.flag_tc]).toEqual([1000, ['OPT'], false])
    const glued = ask('_big._tcp.marathon.mesos', 'SRV', 'udp', edns(1232)).msg
    for (const add of glued.additionals!.filter((r) => r.type === 'A')) expect(glued.answers!.some((r) => (data(r) as { target: string }).target === add.name)).toBe(true)
  })

  it('cuts a UDP answer to 512 bytes, or to what EDNS offers up to 1,232, keeping the answers that fit and setting TC', () => {
    const plain = ask('_big._tcp.marathon.mesos', 'SRV')
    expect(plain.bytes.length).toBeLessThanOrEqual(512)
    expect(plain.msg.flag_tc).toBe(true)
    expect(plain.msg.answers!.length).toBeGreaterThan(5)
    expect(plain.msg.additionals).toEqual([])
    const offered = ask('_big._tcp.marathon.mesos', 'SRV', 'udp', edns(1000))
    expect(offered.bytes.length).toBeLessThanOrEqual(1000)
    expect(offered.bytes.length).toBeGreaterThan(1000 - 60)
    expect(offered.msg.flag_tc).toBe(true)
    expect(offered.msg.answers!.length).toBeGreaterThan(plain.msg.answers!.length)
    // The reply carries an OPT record when the query did (RFC 6891), offering this server's size.
    expect(offered.msg.additionals!.map((r) => [r.type, (r as { udpPayloadSize?: number }).udpPayloadSize])).toEqual([['OPT', 1232]])
    // An offer over 1,232 is taken down to it (DNS Flag Day 2020: no IP fragments, a small answer to a spoofed query).
    const huge = ask('_big._tcp.marathon.mesos', 'SRV', 'udp', edns(65000))
    expect(huge.bytes.length).toBeLessThanOrEqual(1232)
    expect(huge.bytes.length).toBeGreaterThan(1232 - 60)
    // An offer under 512 counts as 512.
    expect(ask('_big._tcp.marathon.mesos', 'SRV', 'udp', edns(100)).bytes.length).toBeGreaterThan(400)
    // What fits once the glue is gone is not truncated.
    const two = ask('_web.prod._tcp.marathon.mesos', 'SRV')
    expect([two.msg.flag_tc, two.msg.answers!.length, two.msg.additionals!.length]).toEqual([false, 2, 2])
  })

  it('answers FORMERR without the question to a name it could not give back as it came, and nothing to what is no query', () => {
    // A label of 0xff bytes, which a UTF-8 reading makes three times as long; a name whose lower case is longer than itself.
    const raw = (labels: Buffer[]): Buffer => Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0, 0, 1, 0, 1])])
    for (const msg of [raw([Buffer.alloc(40, 0xff), Buffer.from('mesos')]), raw([Buffer.from('İ'.repeat(12)), Buffer.from('mesos')]), raw([Buffer.alloc(40, 0xff)])]) {
      const reply = packet.decode(answer(msg, records, opts, 'udp')!) as Decoded
      expect([reply.id, reply.rcode, reply.questions]).toEqual([9, 'FORMERR', []])
    }
    // Too short for a header, or a reply: no answer.
    expect(answer(Buffer.from([0x12, 0x34, 0xff]), records, opts, 'udp')).toBeUndefined()
    expect(answer(Buffer.from([0x12, 0x34, 0x80, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xff]), records, opts, 'udp')).toBeUndefined()
  })

  it('answers SERVFAIL for a record it cannot write, and keeps answering', () => {
    // The question's label fits in 63 bytes, the SRV target's (the name and a suffix) does not.
    const long = appOf(`/${'x'.repeat(60)}`, 1)
    const bad = buildRecords([long.app], { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1', hostAddresses: long.hostAddresses })
    const name = `_${'x'.repeat(60)}._tcp.marathon.mesos`
    expect((packet.decode(answer(query(name, 'SRV'), bad, opts, 'udp')!) as Decoded).rcode).toBe('SERVFAIL')
    expect((packet.decode(answer(query('leader.mesos', 'A'), bad, opts, 'udp')!) as Decoded).answers!.map(data)).toEqual(['127.0.0.1'])
  })
})
