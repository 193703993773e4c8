// POSTs of JSON between dromos processes over node:http with kept-alive connections. Node 20's
// fetch (undici) costs about four times the CPU of node:http for a small request and its
// answer, client and server together (an AbortSignal timer, web streams and a Response each),
// and the calls that go one per task (scheduler calls, launches and acknowledgements) are sent
// by the thousand in a deployment storm, and the master pings every agent. Only what those
// calls need is here: a body as a string, a status and the answer's text.
import type { IncomingMessage } from 'node:http'
import { Agent, request } from 'node:http'
import { Agent as TlsAgent, request as tlsRequest } from 'node:https'

/** The answer of a POST, read in full: what the callers of fetch used of its Response. */
export interface PostAnswer {
  readonly status: number
  readonly ok: boolean
  /** The Location header of a redirect. */
  readonly location: string | undefined
  text(): Promise<string>
  json(): Promise<unknown>
  arrayBuffer(): Promise<ArrayBuffer>
}

export interface PostOptions {
  readonly headers?: Readonly<Record<string, string>>
  /** The whole exchange, connecting included, as AbortSignal.timeout gave fetch. */
  readonly timeoutMs: number
  /** The connection pool of plain http; a shared one without a limit by default (https URLs always use a shared one). */
  readonly agent?: Agent
}

/**
 * Idle connections are kept for the next call (Node also closes them a second before the
 * server's Keep-Alive timeout says it would). The pool does not limit connections to a host:
 * the master talks to each agent over its own.
 */
export const keptAlive = new Agent({ keepAlive: true })
const keptAliveTls = new TlsAgent({ keepAlive: true })

/** A pool of at most `maxSockets` connections to a host, for a client whose calls may come in bursts of thousands. */
export function keptAlivePool(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets })
}

export class PostTimeoutError extends Error {
  readonly code = 'POST_TIMEOUT'
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`no answer from ${url} within ${timeoutMs} ms`)
  }
}

function answerOf(res: IncomingMessage, body: Buffer): PostAnswer {
  const status = res.statusCode ?? 0
  return {
    status,
    ok: status >= 200 && status < 300,
    location: res.headers.location,
    text: async () => body.toString('utf8'),
    json: async () => JSON.parse(body.toString('utf8')) as unknown,
    arrayBuffer: async () => body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
  }
}

/** POSTs `body` (JSON text) to `url`; rejects on a network error or past the timeout, never on a status. */
export function postJson(url: string, body: string, opts: PostOptions): Promise<PostAnswer> {
  return exchange('POST', url, body, opts).catch((e: unknown) => {
    throw e instanceof ResetOnReuse ? e.cause : e
  })
}

/**
 * GETs `url` as postJson POSTs: the master's agent pings, one per agent every ping interval. A
 * GET that gets a reset without an answer on a reused connection (the agent closed it as idle
 * as the request went out) is sent again once on a new one, within the same timeout, as HTTP
 * clients do for a request that is safe to repeat (RFC 9112 9.3.1).
 */
export function getKeptAlive(url: string, opts: PostOptions): Promise<PostAnswer> {
  const deadline = Date.now() + opts.timeoutMs
  return exchange('GET', url, undefined, opts).catch((e: unknown) => {
    if (!(e instanceof ResetOnReuse)) throw e
    return exchange('GET', url, undefined, { ...opts, timeoutMs: Math.max(1, deadline - Date.now()), fresh: true }).catch((again: unknown) => {
      throw again instanceof ResetOnReuse ? again.cause : again
    })
  })
}

/** A reset before any answer on a connection that had carried an exchange before: the cause, and that it may be sent again. */
class ResetOnReuse extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message)
  }
}

function exchange(method: 'GET' | 'POST', url: string, body: string | undefined, opts: PostOptions & { readonly fresh?: boolean }): Promise<PostAnswer> {
  return new Promise<PostAnswer>((resolve, reject) => {
    const headers = body === undefined ? { ...opts.headers } : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...opts.headers }
    const agent = opts.fresh ? false : undefined
    const req = url.startsWith('https:') ? tlsRequest(url, { method, agent: agent ?? keptAliveTls, headers }) : request(url, { method, agent: agent ?? opts.agent ?? keptAlive, headers })
    // One timer for the whole exchange: cheaper than an AbortSignal, and it also covers a
    // server that takes the request and never answers.
    const timer = setTimeout(() => req.destroy(new PostTimeoutError(url, opts.timeoutMs)), opts.timeoutMs)
    const fail = (e: Error): void => {
      clearTimeout(timer)
      reject(req.reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? new ResetOnReuse(e) : e)
    }
    req.on('error', fail)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', fail)
      res.on('end', () => {
        clearTimeout(timer)
        resolve(answerOf(res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
      })
    })
    req.end(body)
  })
}
