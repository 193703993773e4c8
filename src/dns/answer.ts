// What a query is answered, as Mesos-DNS answers it: A, SRV (with its targets' addresses as
// additional records), SOA, NS and ANY in the zone; answers in a random order, as a basic spread
// of the load over the tasks; AAAA of any name and other types of a known name with no data;
// NXDOMAIN with the zone's SOA (RFC 2308) for the rest, save SRV, which Mesos-DNS answers empty.
import * as packet from 'dns-packet'
import { createRequire } from 'node:module'
import { isIPv4 } from 'node:net'
import type { Records } from './records.js'
import type { Reply, Rr } from './wire.js'
import { encodeReply, RR_TYPES } from './wire.js'

export interface AnswerOptions {
  readonly domain: string
  readonly ttl: number
  /** The zone's serial: Mesos-DNS's is the time of the last change of its records, in seconds. */
  readonly serial: number
  /** In [0, 1): what shuffles the answers (Math.random by default). */
  readonly random?: () => number
}

export type Transport = 'udp' | 'tcp'

/** RFC 1035: without EDNS a UDP answer is at most 512 bytes. */
const UDP_PLAIN_LIMIT = 512
/**
 * What this server takes an EDNS client's offer down to, and offers itself: the size DNS Flag Day
 * 2020 settled on, which needs no IP fragments and keeps a spoofed query's answer small.
 */
const EDNS_UDP_SIZE = 1232
/** A TCP message is prefixed by its 16-bit length. */
const TCP_LIMIT = 65535

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const
const OPCODE_MASK = 0x7800
const TYPE = { ...RR_TYPES, AAAA: 28, ANY: 255 } as const

/** The query's EDNS UDP payload size, if it has an OPT record. */
function ednsSize(query: packet.Packet): number | undefined {
  for (const r of query.additionals ?? []) if (r.type === 'OPT') return (r as { udpPayloadSize?: number }).udpPayloadSize ?? UDP_PLAIN_LIMIT
  return undefined
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const x = xs[i]!
    xs[i] = xs[j]!
    xs[j] = x
  }
  return xs
}

/** The reply to a decoded query: its records, before they are encoded. */
function replyTo(query: packet.Packet, records: Records, opts: AnswerOptions): Reply {
  const question = query.questions?.[0]
  const edns = ednsSize(query)
  const flags = 0x8000 /* QR */ | ((query.flags ?? 0) & (OPCODE_MASK | packet.RECURSION_DESIRED))
  const base = { id: query.id ?? 0, answers: [], authorities: [], additionals: [], ...(edns !== undefined ? { ednsUdpSize: EDNS_UDP_SIZE } : {}) }
  // A name that would not be written back as it came (bytes outside printable ASCII, which the
  // decoder reads as UTF-8, a label over 63 bytes) gets a FORMERR without the question.
  if (!question || !writable(question.name)) return { ...base, flags, rcode: RCODE.FORMERR }
  const q = { name: question.name, type: typeCode(question.type), class: classCode(question.class) }
  if (((query.flags ?? 0) & OPCODE_MASK) !== 0) return { ...base, flags, rcode: RCODE.NOTIMP, question: q }
  const name = question.name.toLowerCase().replace(/\.$/, '')
  const zone = opts.domain.toLowerCase()
  if (name !== zone && !name.endsWith(`.${zone}`)) return { ...base, flags, rcode: RCODE.REFUSED, question: q }

  const ttl = opts.ttl
  const random = opts.random ?? Math.random
  const aOf = (n: string): Rr[] => (records.a.get(n) ?? []).filter((ip) => isIPv4(ip)).map((ip) => ({ type: 'A', name: n, ttl, ip }))
  const soa: Rr = { type: 'SOA', name: zone, ttl, mname: `ns1.${zone}`, rname: `root.ns1.${zone}`, serial: opts.serial, refresh: 60, retry: 600, expire: 86400, minimum: ttl }
  const ns: Rr = { type: 'NS', name: zone, ttl, ns: `ns1.${zone}` }
  const answers: Rr[] = []
  const authorities: Rr[] = []
  const additionals: Rr[] = []
  const t = q.type
  if (t === TYPE.A || t === TYPE.ANY) answers.push(...shuffle(aOf(name), random))
  if (t === TYPE.SRV || t === TYPE.ANY) {
    const srv = shuffle([...(records.srv.get(name) ?? [])], random)
    const glued = new Set<string>()
    for (const r of srv) {
      answers.push({ type: 'SRV', name, ttl, priority: 0, weight: 0, port: r.port, target: r.target })
      if (glued.has(r.target)) continue
      glued.add(r.target)
      // One address a target, as Mesos-DNS glues them.
      additionals.push(...aOf(r.target).slice(0, 1))
    }
  }
  if (name === zone && (t === TYPE.SOA || t === TYPE.ANY)) answers.push(soa)
  if (name === zone && (t === TYPE.NS || t === TYPE.ANY)) answers.push(ns)
  const known = name === zone || records.a.has(name) || records.srv.has(name)
  let rcode: number = RCODE.NOERROR
  if (answers.length === 0) {
    // Mesos-DNS answers an SRV query of a name it does not know with no records and no error.
    if (t === TYPE.SRV && !known) return { ...base, flags: flags | packet.AUTHORITATIVE_ANSWER, rcode, question: q }
    if (!known && t !== TYPE.AAAA) rcode = RCODE.NXDOMAIN
    authorities.push(soa)
  }
  return { ...base, flags: flags | packet.AUTHORITATIVE_ANSWER, rcode, question: q, answers, authorities, additionals }
}

/** The most bytes an answer may take on this transport for this query. */
function limitFor(query: packet.Packet, transport: Transport): number {
  if (transport === 'tcp') return TCP_LIMIT
  const edns = ednsSize(query)
  return edns === undefined ? UDP_PLAIN_LIMIT : Math.min(Math.max(edns, UDP_PLAIN_LIMIT), EDNS_UDP_SIZE)
}

/** The answer to a query, encoded for its transport; a FORMERR for bytes that are not one. */
export function answer(msg: Buffer, records: Records, opts: AnswerOptions, transport: Transport): Buffer | undefined {
  const bare = (id: number, rcode: number): Buffer => encodeReply({ id, flags: 0x8000, rcode, answers: [], authorities: [], additionals: [] }, UDP_PLAIN_LIMIT)
  let query: packet.Packet
  try {
    query = packet.decode(msg)
  } catch {
    // Not a message: a FORMERR to its id when it has a whole header and asks (RFC 1035 4.1.1), else nothing.
    if (msg.length < 12 || (msg[2]! & 0x80) !== 0) return undefined
    return bare(msg.readUInt16BE(0), RCODE.FORMERR)
  }
  if (query.type !== 'query') return undefined
  const reply = replyTo(query, records, opts)
  try {
    return encodeReply(reply, limitFor(query, transport))
  } catch {
    // A record that cannot be written (a label over 63 bytes): SERVFAIL, not a dead server.
    return bare(reply.id, RCODE.SERVFAIL)
  }
}

/** Whether a decoded name is written back byte for byte: printable ASCII, labels of at most 63 bytes, 253 in all. */
function writable(name: string): boolean {
  return /^[\x21-\x7e]*$/.test(name) && name.length <= 254 && name.split('.').every((l) => l.length <= 63)
}

// dns-packet decodes a question's type and class to their names (UNKNOWN_<n> for the others);
// the reply gives back the numbers.
const require = createRequire(import.meta.url)
const types = require('dns-packet/types') as { toType(name: string): number }
const classes = require('dns-packet/classes') as { toClass(name: string): number }

function typeCode(type: string): number {
  const m = /^UNKNOWN_(\d+)$/.exec(type)
  return m ? Number(m[1]) : types.toType(type)
}

function classCode(cls: string | undefined): number {
  if (cls === undefined) return 1
  const m = /^UNKNOWN_(\d+)$/.exec(cls)
  return m ? Number(m[1]) : classes.toClass(cls)
}
