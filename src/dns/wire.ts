// The DNS answers on the wire (RFC 1035 section 4): a response with its names compressed, so
// that the SRV answer of an app of 1,000 tasks fits one TCP message (about 50 bytes a record
// instead of about 80), and cut to what the transport allows the way Mesos-DNS cuts it: the
// additional records go first, then the answers beyond the longest run that fits, and TC is set
// when an answer had to go. Queries are decoded with dns-packet, which reads every form.

export type Rr =
  | { readonly type: 'A'; readonly name: string; readonly ttl: number; readonly ip: string }
  | { readonly type: 'SRV'; readonly name: string; readonly ttl: number; readonly priority: number; readonly weight: number; readonly port: number; readonly target: string }
  | { readonly type: 'NS'; readonly name: string; readonly ttl: number; readonly ns: string }
  | {
      readonly type: 'SOA'
      readonly name: string
      readonly ttl: number
      readonly mname: string
      readonly rname: string
      readonly serial: number
      readonly refresh: number
      readonly retry: number
      readonly expire: number
      readonly minimum: number
    }

export interface Reply {
  readonly id: number
  /** QR, AA, RD, RA and the like (RFC 1035 4.1.1), without TC and the rcode. */
  readonly flags: number
  readonly rcode: number
  readonly question?: { readonly name: string; readonly type: number; readonly class: number }
  readonly answers: readonly Rr[]
  readonly authorities: readonly Rr[]
  readonly additionals: readonly Rr[]
  /** The UDP payload size this server advertises in an OPT record (RFC 6891), given when the query had one. */
  readonly ednsUdpSize?: number
}

const TRUNCATED = 0x0200
/** The type codes of the records written here. */
export const RR_TYPES = { A: 1, NS: 2, SOA: 6, SRV: 33 } as const
const CLASS_IN = 1
const TYPE_OPT = 41
/** A compression pointer holds an offset below 2^14. */
const POINTER_LIMIT = 0x4000

/** Writes one message into a buffer of `capacity` bytes, compressing names against those written before. */
class Writer {
  readonly buf: Buffer
  at = 0
  private readonly names = new Map<string, number>()
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity)
  }
  u8(v: number): void {
    this.buf[this.at++] = v
  }
  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.at)
    this.at += 2
  }
  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.at)
    this.at += 4
  }
  name(name: string): void {
    this.labels(name, true)
  }
  /**
   * A name's labels, each suffix noted where it starts for the names after it to point at; with
   * `compress`, the first suffix already written is written as a pointer to it instead.
   */
  private labels(name: string, compress: boolean): void {
    const lower = name.toLowerCase().replace(/\.$/, '')
    // Written in the case given (a resolver may check the case of its question), looked up in lower case.
    const text = lower.length === name.replace(/\.$/, '').length ? name : lower
    let start = 0
    while (start < lower.length) {
      const dot = lower.indexOf('.', start)
      const end = dot === -1 ? lower.length : dot
      if (end > start) {
        const suffix = lower.slice(start)
        const seen = this.names.get(suffix)
        if (compress && seen !== undefined) {
          this.u16(0xc000 | seen)
          return
        }
        if (this.at < POINTER_LIMIT && seen === undefined) this.names.set(suffix, this.at)
        this.label(text.slice(start, end))
      }
      start = end + 1
    }
    this.u8(0)
  }
  private label(text: string): void {
    const label = Buffer.from(text, 'utf8')
    if (label.length > 63) throw new RangeError(`a DNS label is at most 63 bytes: ${text}`)
    this.u8(label.length)
    label.copy(this.buf, this.at)
    this.at += label.length
  }
  rr(r: Rr): void {
    this.name(r.name)
    this.u16(RR_TYPES[r.type])
    this.u16(CLASS_IN)
    this.u32(r.ttl)
    const lengthAt = this.at
    this.at += 2
    switch (r.type) {
      case 'A':
        for (const part of r.ip.split('.')) this.u8(Number(part))
        break
      case 'SRV':
        this.u16(r.priority)
        this.u16(r.weight)
        this.u16(r.port)
        // RFC 2782 forbids compressing the target; written whole.
        this.labels(r.target, false)
        break
      case 'NS':
        this.name(r.ns)
        break
      case 'SOA':
        this.name(r.mname)
        this.name(r.rname)
        for (const v of [r.serial, r.refresh, r.retry, r.expire, r.minimum]) this.u32(v)
        break
    }
    this.buf.writeUInt16BE(this.at - lengthAt - 2, lengthAt)
  }
}

/** The most a record can take uncompressed: names of at most 255 bytes each. */
function roomFor(r: Rr): number {
  const name = (n: string): number => Buffer.byteLength(n) + 2
  const fixed = name(r.name) + 10
  switch (r.type) {
    case 'A':
      return fixed + 4
    case 'SRV':
      return fixed + 6 + name(r.target)
    case 'NS':
      return fixed + name(r.ns)
    case 'SOA':
      return fixed + name(r.mname) + name(r.rname) + 20
  }
}

const OPT_LENGTH = 11

/** Writes the OPT record (RFC 6891) of a reply that has one. */
function writeOpt(w: Writer, udpSize: number): void {
  w.u8(0) // the root
  w.u16(TYPE_OPT)
  w.u16(udpSize)
  w.u32(0) // extended rcode, version 0, no DO
  w.u16(0) // no options
}

/** The message as written, and where its authorities end (its additional records begin). */
interface Written {
  readonly buf: Buffer
  readonly authoritiesEnd: number
}

function write(reply: Reply, answers: readonly Rr[], additionals: readonly Rr[], truncated: boolean, ends?: number[]): Written {
  const records = [...answers, ...reply.authorities, ...additionals]
  const capacity = 12 + (reply.question ? Buffer.byteLength(reply.question.name) + 6 : 0) + records.reduce((n, r) => n + roomFor(r), 0) + OPT_LENGTH
  const w = new Writer(capacity)
  w.u16(reply.id)
  w.u16(reply.flags | (truncated ? TRUNCATED : 0) | (reply.rcode & 0xf))
  w.u16(reply.question ? 1 : 0)
  w.u16(answers.length)
  w.u16(reply.authorities.length)
  w.u16(additionals.length + (reply.ednsUdpSize !== undefined ? 1 : 0))
  if (reply.question) {
    w.name(reply.question.name)
    w.u16(reply.question.type)
    w.u16(reply.question.class)
  }
  for (const r of answers) {
    w.rr(r)
    ends?.push(w.at)
  }
  for (const r of reply.authorities) w.rr(r)
  const authoritiesEnd = w.at
  for (const r of additionals) w.rr(r)
  if (reply.ednsUdpSize !== undefined) writeOpt(w, reply.ednsUdpSize)
  return { buf: w.buf.subarray(0, w.at), authoritiesEnd }
}

/** The message without its additional records: they come last and nothing points into them, so it is what precedes them, and the OPT record. */
function withoutAdditionals(reply: Reply, full: Written): Buffer {
  const w = new Writer(full.authoritiesEnd + OPT_LENGTH)
  full.buf.copy(w.buf, 0, 0, full.authoritiesEnd)
  w.at = full.authoritiesEnd
  if (reply.ednsUdpSize !== undefined) writeOpt(w, reply.ednsUdpSize)
  w.buf.writeUInt16BE(reply.ednsUdpSize !== undefined ? 1 : 0, 10) // ARCOUNT
  return w.buf.subarray(0, w.at)
}

/**
 * The reply encoded in at most `limit` bytes (512 for UDP without EDNS, what the client offered
 * with it, 65,535 for TCP). What does not fit is left out as Mesos-DNS leaves it: every
 * additional record first, then the answers after the longest run that fits, with TC set.
 */
export function encodeReply(reply: Reply, limit: number): Buffer {
  // A record takes 16 bytes at the least (a pointer, type, class, TTL, length and an address):
  // more than this many answers cannot fit, and are not written only to be cut.
  const most = Math.floor(limit / 16)
  const ends: number[] = []
  const optLength = reply.ednsUdpSize !== undefined ? OPT_LENGTH : 0
  if (reply.answers.length <= most) {
    const full = write(reply, reply.answers, reply.additionals, false, ends)
    if (full.buf.length <= limit) return full.buf
    if (full.authoritiesEnd + optLength <= limit) return withoutAdditionals(reply, full)
  } else {
    write(reply, reply.answers.slice(0, most), [], false, ends)
  }
  // The answers are written first and compressed only against what precedes them, so a run of
  // them takes in a shorter message what it took in the whole one; the rest is bounded above.
  const tail = reply.authorities.reduce((n, r) => n + roomFor(r), 0) + optLength
  let kept = 0
  while (kept < ends.length && ends[kept]! + tail <= limit) kept++
  return write(reply, reply.answers.slice(0, kept), [], true).buf
}
