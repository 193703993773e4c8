// Small HTTP plumbing shared by the master and the agent: bounded body reading, JSON
// parsing that refuses deep nesting before it can hurt, routing, and one error mapper.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { HTTPVersion } from 'find-my-way'
import findMyWay from 'find-my-way'
import type { Logger } from 'pino'
import type { z } from 'zod'
import { BadRequestError, DromosError, PayloadTooLargeError } from '../core/errors.js'
import { stripNulls } from './mesos.js'

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
export const MAX_JSON_DEPTH = 64

export async function readBody(req: IncomingMessage, limitBytes = DEFAULT_MAX_BODY_BYTES): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > limitBytes) {
    req.resume()
    throw new PayloadTooLargeError(limitBytes)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > limitBytes) {
      req.resume()
      throw new PayloadTooLargeError(limitBytes)
    }
    chunks.push(buf)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Nesting depth of a JSON text, counted without parsing it (strings are skipped). */
export function jsonDepth(text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
      continue
    }
    if (c === 34) inString = true
    else if (c === 123 || c === 91) {
      depth++
      if (depth > max) max = depth
    } else if (c === 125 || c === 93) depth--
  }
  return max
}

export function parseJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text) > maxDepth) throw new BadRequestError(`JSON is nested deeper than ${maxDepth} levels`)
  try {
    return JSON.parse(text) as unknown
  } catch (e) {
    throw new BadRequestError(`Failed to parse JSON: ${(e as Error).message}`)
  }
}

/** A zod error as one line: each issue with its path. */
export function zodMessage(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
}

/** Reads, parses and validates a JSON request body; explicit nulls count as absent, as in Mesos' JSON. */
export async function parseBody<T>(ctx: RequestContext, schema: z.ZodType<T>, maxBodyBytes: number): Promise<T> {
  const type = ctx.req.headers['content-type'] ?? ''
  // Mesos answers 415 Unsupported Media Type, not 400, to a body it cannot read at all.
  if (type && !type.includes('json')) throw new DromosError('UNSUPPORTED_MEDIA_TYPE', 415, `Expecting 'Content-Type' of application/json, got '${type}'`)
  const text = await readBody(ctx.req, maxBodyBytes)
  return validateBody(schema, stripNulls(parseJson(text)))
}

/** A parsed body checked against `schema`: a 400 that says what is wrong, as parseBody's. */
export function validateBody<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw new BadRequestError(`Failed to validate request: ${zodMessage(parsed.error)}`)
  return parsed.data
}

/**
 * JSONP callbacks of GET requests, set by the router for the response it hands a handler, so
 * that every JSON endpoint answers `?jsonp=` without knowing of it.
 */
const jsonpCallbacks = new WeakMap<ServerResponse, string>()

/** A JavaScript name, or a dotted path of them (`angular.callbacks._0`, `jQuery1_2`, `cb[3]`). */
const JSONP_CALLBACK = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*$/
const MAX_JSONP_CALLBACK_LENGTH = 256

export function isValidJsonpCallback(name: string): boolean {
  return name.length <= MAX_JSONP_CALLBACK_LENGTH && JSONP_CALLBACK.test(name)
}

/**
 * As libprocess' `OK(json, jsonp)`: only a 200 is wrapped, as `callback(<json>)` (no trailing
 * semicolon) with Content-Type text/javascript.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers)
}

/** sendJson of a body already encoded. */
export function sendJsonText(res: ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  const callback = status === 200 ? jsonpCallbacks.get(res) : undefined
  const text = callback === undefined ? json : `${callback}(${json})`
  const type = callback === undefined ? 'application/json' : 'text/javascript'
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** About what one write of sendJsonParts carries. */
const PARTS_WRITE_BYTES = 64 * 1024

/**
 * sendJsonText of a 200 whose JSON is `parts` one after the other, `bytes` long in UTF-8 in
 * all. The parts go out a few at a time and are never made into one string: a body of many
 * megabytes (/master/state of 10,000 tasks) is copied once into the socket's buffers instead
 * of into a string as long as itself at each step.
 */
export function sendJsonParts(res: ServerResponse, parts: readonly string[], bytes: number): void {
  const callback = jsonpCallbacks.get(res)
  const all = callback === undefined ? parts : [`${callback}(`, ...parts, ')']
  const length = callback === undefined ? bytes : bytes + Buffer.byteLength(callback) + 2
  res.writeHead(200, { 'Content-Type': callback === undefined ? 'application/json' : 'text/javascript', 'Content-Length': length })
  let from = 0
  let size = 0
  all.forEach((p, i) => {
    size += p.length
    if (size < PARTS_WRITE_BYTES && i < all.length - 1) return
    res.write(all.slice(from, i + 1).join(''))
    from = i + 1
    size = 0
  })
  res.end()
}

/**
 * Takes note of a GET's `jsonp` parameter for sendJson. libprocess echoes any callback; dromos
 * answers a name that is not a JavaScript name with a 400 instead of reflecting it into a script.
 */
function acceptJsonp(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return true
  const callback = url.searchParams.get('jsonp')
  if (callback === null) return true
  if (!isValidJsonpCallback(callback)) {
    sendText(res, 400, `Invalid 'jsonp' parameter: expecting a JavaScript function name, got '${callback.slice(0, MAX_JSONP_CALLBACK_LENGTH)}'`)
    return false
  }
  jsonpCallbacks.set(res, callback)
  return true
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export interface RequestContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly url: URL
  readonly params: Readonly<Record<string, string>>
}

export type Handler = (ctx: RequestContext) => Promise<void> | void

export interface Router {
  on(method: string, path: string, handler: Handler): Router
  /** Matches every path under `prefix`, after the exact routes found nothing. */
  onPrefix(method: string, prefix: string, handler: Handler): Router
  /** Answers, in any method, the requests whose path no route knows (instead of a 404). */
  fallback(handler: Handler): Router
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>
}

/**
 * The URL of a request, or undefined when its target is not a path (or absolute URL) whose
 * percent-encoding decodes. `//a` stays a path, not a host.
 */
export function requestUrl(target: string): URL | undefined {
  try {
    const url = target.startsWith('/') ? new URL(`http://localhost${target}`) : new URL(target)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
    decodeURIComponent(url.pathname)
    return url
  } catch {
    return undefined
  }
}

/** The methods the surfaces serve: a path known in one of them but not the asked one is a 405. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
type Method = (typeof METHODS)[number]
const isMethod = (m: string): m is Method => (METHODS as readonly string[]).includes(m)

/**
 * Routes on find-my-way (fastify's radix-tree router), straight on node:http's request and
 * response, so that RecordIO and SSE streams write to the socket with nothing in between.
 * Paths are literal except `:name` segments, and a trailing slash is optional; a static
 * segment wins over a parameter, a parameter over a prefix. GET routes answer HEAD too.
 * Errors thrown by handlers become a status and a plain-text message (Mesos endpoints answer
 * errors in plain text) unless the surface maps them itself (`onError`).
 */
export function createRouter(opts: { log: Logger; onError?: (e: DromosError, ctx: RequestContext) => void }): Router {
  const tree = findMyWay<HTTPVersion.V1>({ ignoreTrailingSlash: true, maxParamLength: 4096, caseSensitive: true })
  let fallback: Handler | undefined
  const run = async (handler: Handler, ctx: RequestContext): Promise<void> => {
    try {
      await handler(ctx)
    } catch (e) {
      const err = e instanceof DromosError ? e : null
      if (!err) opts.log.error({ err: e, path: ctx.url.pathname }, 'request failed')
      if (ctx.res.headersSent) {
        ctx.res.destroy()
        return
      }
      const mapped = err ?? new DromosError('INTERNAL', 500, 'Internal error')
      if (opts.onError) opts.onError(mapped, ctx)
      else sendText(ctx.res, mapped.status, mapped.message)
    }
  }
  const add = (method: string, path: string, handler: Handler): void => {
    if (!isMethod(method)) throw new Error(`unsupported method ${method}`)
    // The tree only keeps the handler; the store carries it to the lookup.
    tree.on(method, path, () => undefined, { handler })
  }
  const lookup = (method: string, path: string): { handler: Handler; params: Record<string, string> } | undefined => {
    const found = isMethod(method) ? tree.find(method, path) : null
    if (found) {
      const params: Record<string, string> = {}
      for (const [k, v] of Object.entries(found.params)) if (k !== '*' && v !== undefined) params[k] = v
      return { handler: (found.store as { handler: Handler }).handler, params }
    }
    return method === 'HEAD' ? lookup('GET', path) : undefined
  }
  const router: Router = {
    onPrefix(method, prefix, handler) {
      add(method, `${prefix.endsWith('/') ? prefix : `${prefix}/`}*`, handler)
      return router
    },
    fallback(handler) {
      fallback = handler
      return router
    },
    on(method, path, handler) {
      add(method, path, handler)
      return router
    },
    async handle(req, res) {
      const url = requestUrl(req.url ?? '/')
      if (!url) {
        // A path that does not decode is the client's error, answered in this surface's shape.
        const err = new BadRequestError(`Malformed request path: '${(req.url ?? '').slice(0, 200)}'`)
        const ctx = { req, res, url: new URL('http://localhost/'), params: {} }
        if (opts.onError) opts.onError(err, ctx)
        else sendText(res, err.status, err.message)
        return
      }
      const route = lookup(req.method ?? 'GET', url.pathname)
      if (route) {
        if (!acceptJsonp(req, res, url)) return
        await run(route.handler, { req, res, url, params: route.params })
        return
      }
      if (METHODS.some((m) => tree.find(m, url.pathname) !== null)) sendText(res, 405, `Expecting one of the supported methods for '${url.pathname}'`)
      else if (fallback) await run(fallback, { req, res, url, params: {} })
      else sendText(res, 404, `No endpoint at '${url.pathname}'`)
    },
  }
  return router
}

export async function listen(opts: { router: Pick<Router, 'handle'>; host: string; port: number; log: Logger }): Promise<Server> {
  const server = createServer((req, res) => {
    opts.router.handle(req, res).catch((e: unknown) => {
      opts.log.error({ err: e }, 'unhandled request error')
      if (!res.headersSent) sendText(res, 500, 'Internal error')
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 65_000
  server.requestTimeout = 0
  server.headersTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}

/** Stops listening and closes every connection, idle or not (streams included). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((res) => {
    server.close(() => res())
    server.closeAllConnections()
  })
}

const corked = new WeakSet<ServerResponse>()

/**
 * Writes to a stream that many events go to: what is written in one turn of the event loop
 * leaves in one write to the socket, instead of a system call an event (a deployment storm
 * sends a framework thousands of updates a second).
 */
export function writeInTurn(res: ServerResponse, chunk: string): boolean {
  if (!corked.has(res)) {
    corked.add(res)
    res.cork()
    setImmediate(() => {
      corked.delete(res)
      res.uncork()
    })
  }
  return res.write(chunk)
}

/** Writes one RecordIO record (`<length>\n<json>`) as one HTTP chunk, sent with the others of its turn. */
export function writeRecord(res: ServerResponse, event: unknown): boolean {
  const json = JSON.stringify(event)
  return writeInTurn(res, `${Buffer.byteLength(json)}\n${json}`)
}

/** Incremental RecordIO decoder, for clients of the streaming APIs. */
export function createRecordIoDecoder(onRecord: (json: string) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0)
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
    for (;;) {
      const nl = buf.indexOf(10)
      if (nl < 0) return
      const len = Number(buf.subarray(0, nl).toString('ascii'))
      if (!Number.isInteger(len) || len < 0) throw new Error('Malformed RecordIO length')
      if (buf.length < nl + 1 + len) return
      onRecord(buf.subarray(nl + 1, nl + 1 + len).toString('utf8'))
      buf = buf.subarray(nl + 1 + len)
    }
  }
}
