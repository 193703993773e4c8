// DNS over UDP and TCP on one address and port, as Mesos-DNS serves it: a client told by TC that
// a UDP answer was cut asks again over TCP (RFC 7766), where each message is prefixed by its
// 16-bit length and a connection may carry several queries, one after another or pipelined.
import { createSocket } from 'node:dgram'
import type { Socket as UdpSocket } from 'node:dgram'
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Transport } from './answer.js'

export interface DnsListener {
  /** The port both transports listen on. */
  readonly port: number
  close(): Promise<void>
}

export interface DnsListenerOptions {
  readonly host: string
  /** 0 for one the kernel picks, the same for TCP as for UDP. */
  readonly port: number
  /** The answer to one message, or nothing for a message that gets none. */
  readonly respond: (msg: Buffer, transport: Transport) => Buffer | undefined
  readonly log: Logger
  /** A TCP connection with no query this long is closed (RFC 7766 6.2.3). */
  readonly idleMs?: number
  /** At most this many TCP connections at once; those beyond are closed when they come. */
  readonly maxConnections?: number
}

const IDLE_MS = 10_000
const MAX_CONNECTIONS = 512
/** Queries are small: bytes a connection has sent beyond this without a whole message close it. */
const MAX_PENDING = 4096

function bindUdp(host: string, port: number): Promise<UdpSocket> {
  const s = createSocket('udp4')
  return new Promise((res, rej) => {
    s.once('error', rej)
    s.bind(port, host, () => {
      s.off('error', rej)
      res(s)
    })
  })
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((res, rej) => {
    server.once('error', rej)
    server.listen(port, host, () => {
      server.off('error', rej)
      res()
    })
  })
}

/** A connection's unread answers past this pause the reading of its queries until they are taken. */
const MAX_UNSENT = 256 * 1024

/** The answer to a message, or none (logged) if answering it throws: one query does not end the server. */
function safely(respond: DnsListenerOptions['respond'], log: Logger): DnsListenerOptions['respond'] {
  return (msg, transport) => {
    try {
      return respond(msg, transport)
    } catch (e) {
      log.warn({ err: (e as Error).message, transport }, 'dns query not answered')
      return undefined
    }
  }
}

/**
 * Reads length-prefixed messages off a connection and writes back each one's answer, in order;
 * while the client leaves more than MAX_UNSENT of answers unread, its queries wait.
 */
function serveConnection(c: Socket, respond: DnsListenerOptions['respond'], idleMs: number): void {
  let pending: Buffer = Buffer.alloc(0)
  c.setNoDelay(true)
  c.setTimeout(idleMs, () => c.destroy())
  c.on('error', () => c.destroy())
  const pump = (): void => {
    while (pending.length >= 2 && c.writableLength <= MAX_UNSENT) {
      const length = pending.readUInt16BE(0)
      if (length > MAX_PENDING) return void c.destroy()
      if (pending.length < 2 + length) break
      const msg = pending.subarray(2, 2 + length)
      pending = pending.subarray(2 + length)
      const reply = respond(msg, 'tcp')
      if (!reply) continue
      const prefix = Buffer.allocUnsafe(2)
      prefix.writeUInt16BE(reply.length)
      c.write(Buffer.concat([prefix, reply]))
    }
    if (c.writableLength > MAX_UNSENT) c.pause()
  }
  c.on('drain', () => {
    c.resume()
    pump()
  })
  c.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    if (pending.length > MAX_PENDING + 2 + MAX_UNSENT) return void c.destroy()
    pump()
  })
}

/** The UDP socket and a TCP server on its port; for port 0, another port when TCP finds the kernel's pick taken. */
async function bindBoth(host: string, port: number, tcp: Server): Promise<UdpSocket> {
  for (let attempt = 1; ; attempt++) {
    const udp = await bindUdp(host, port)
    try {
      await listenTcp(tcp, host, udp.address().port)
      return udp
    } catch (e) {
      udp.close()
      if (port !== 0 || attempt >= 5 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e
    }
  }
}

export async function listenDns(opts: DnsListenerOptions): Promise<DnsListener> {
  const { log } = opts
  const connections = new Set<Socket>()
  const respond = safely(opts.respond, log)
  const tcp = createServer({ noDelay: true }, (c) => {
    if (connections.size >= (opts.maxConnections ?? MAX_CONNECTIONS)) return void c.destroy()
    connections.add(c)
    c.on('close', () => connections.delete(c))
    serveConnection(c, respond, opts.idleMs ?? IDLE_MS)
  })
  const udp = await bindBoth(opts.host, opts.port, tcp)
  tcp.on('error', (e) => log.warn({ err: e.message }, 'dns tcp server error'))
  const port = udp.address().port
  udp.on('error', (e) => log.warn({ err: e.message }, 'dns socket error'))
  udp.on('message', (msg, rinfo) => {
    const reply = respond(msg, 'udp')
    if (reply) udp.send(reply, rinfo.port, rinfo.address)
  })
  return {
    port,
    async close() {
      for (const c of connections) c.destroy()
      await Promise.all([new Promise<void>((res) => udp.close(() => res())), new Promise<void>((res) => tcp.close(() => res()))])
    },
  }
}
