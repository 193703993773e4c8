// HTTP routing overhead: the same small JSON GET (`/v2/apps/:id` among 60 routes shaped like
// the master's and the apps server's) served by plain node:http with no routing at all (the
// baseline), by dromos's router (src/api/http.ts, on find-my-way), and by fastify and Hono on
// its Node adapter, each answering the same body. Rounds alternate between the servers, so
// that drift on a shared machine hits them alike; the table prints requests per second,
// latency quantiles and each one's cost per request over the baseline's.
//
//   npx tsc -p tsconfig.json && node dist/bench/http-router.js [--requests 20000] [--rounds 7] [--concurrency 16]
//
// A second table streams 2,000 RecordIO records (`<length>\n<json>`, as the scheduler and
// operator event streams write them) from each server and times the whole stream.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { Agent, createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { serve } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { stream as honoStream } from 'hono/streaming'
import pino from 'pino'
import { createRouter, listen, sendJson, writeRecord } from '../src/api/http.js'
import { exitWith, fmt, pad, quantile } from './lib.js'

const { values: argv } = parseArgs({
  options: { requests: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '7' }, concurrency: { type: 'string', default: '16' } },
})
const REQUESTS = Number(argv.requests)
const ROUNDS = Number(argv.rounds)
const CONCURRENCY = Number(argv.concurrency)
const RECORDS = 2000

const body = { app: { id: '/bench/web', instances: 3, cpus: 0.1, mem: 32, labels: { HAPROXY_GROUP: 'external' } } }
const record = { type: 'UPDATE', update: { status: { task_id: { value: 'web.1' }, state: 'TASK_RUNNING', uuid: 'AAAAAAAAAAAAAAAAAAAAAA==' } } }

/** 60 routes in the shapes the dromos surfaces register: literal paths, then parameters. */
const ROUTES: Array<[string, string]> = []
for (const p of ['master', 'slave(1)', 'v2', 'v1', 'metrics', 'files', 'monitor', 'flags', 'state', 'health']) {
  ROUTES.push(['GET', `/${p}/state`], ['GET', `/${p}/info`], ['POST', `/${p}/call`], ['GET', `/${p}/things/:id`], ['DELETE', `/${p}/things/:id`])
}
for (let i = 0; i < 9; i++) ROUTES.push(['GET', `/v2/extra${i}/:id`])
const TARGET = '/v2/apps/:id'

interface Subject {
  readonly name: string
  readonly port: number
  close(): Promise<void>
}

async function nodeBaseline(): Promise<Subject> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/v2/apps/')) {
      const text = JSON.stringify(body)
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
      res.end(text)
    } else if (req.url === '/stream') streamRecords(res)
    else res.writeHead(404).end()
  })
  return subject('node:http, no routing', await listenOn(server), () => closeNode(server))
}

async function dromosRouter(): Promise<Subject> {
  const router = createRouter({ log: pino({ level: 'silent' }) })
  for (const [method, path] of ROUTES) router.on(method, path, (ctx) => sendJson(ctx.res, 200, {}))
  router.on('GET', TARGET, (ctx) => sendJson(ctx.res, 200, body))
  router.on('GET', '/stream', (ctx) => streamRecords(ctx.res))
  const server = await listen({ router, host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) })
  return subject('dromos router (find-my-way)', (server.address() as AddressInfo).port, () => closeNode(server))
}

async function fastify(): Promise<Subject> {
  const app = Fastify({ logger: false })
  for (const [method, path] of ROUTES) app.route({ method: method as 'GET', url: path.replace('(1)', '\\(1\\)'), handler: async () => ({}) })
  app.get(TARGET, async () => body)
  app.get('/stream', (_req, reply) => {
    reply.hijack()
    streamRecords(reply.raw)
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return subject('fastify', (app.server.address() as AddressInfo).port, () => app.close())
}

async function hono(): Promise<Subject> {
  const app = new Hono()
  for (const [method, path] of ROUTES) app.on(method, path, (c) => c.json({}))
  app.get(TARGET, (c) => c.json(body))
  app.get('/stream', (c) =>
    honoStream(c, async (s) => {
      for (let i = 0; i < RECORDS; i++) {
        const json = JSON.stringify(record)
        await s.write(`${Buffer.byteLength(json)}\n${json}`)
      }
    }),
  )
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  return subject('Hono (@hono/node-server)', (server.address() as AddressInfo).port, () => closeNode(server as Server))
}

function streamRecords(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/recordio' })
  for (let i = 0; i < RECORDS; i++) writeRecord(res, record)
  res.end()
}

function subject(name: string, port: number, close: () => Promise<void>): Subject {
  return { name, port, close }
}

async function listenOn(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as AddressInfo).port
}

function closeNode(server: Server): Promise<void> {
  return new Promise((r) => {
    server.close(() => r())
    server.closeAllConnections()
  })
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })

function get(port: number, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res: IncomingMessage) => {
      let bytes = 0
      res.on('data', (c: Buffer) => (bytes += c.length))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** `REQUESTS` GETs, `CONCURRENCY` at a time: the wall time and each request's latency. */
async function load(s: Subject): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++
        const t = performance.now()
        const r = await get(s.port, `/v2/apps/app${i % 100}`)
        if (r.status !== 200) throw new Error(`${s.name} answered ${r.status}`)
        latencies.push(performance.now() - t)
      }
    }),
  )
  return { seconds: (performance.now() - started) / 1000, latencies }
}

async function main(): Promise<void> {
  const subjects = [await nodeBaseline(), await dromosRouter(), await fastify(), await hono()]
  try {
    // Warm-up: JIT and connections.
    for (const s of subjects) await Promise.all(Array.from({ length: 2000 }, () => get(s.port, '/v2/apps/warm')))
    const results = new Map<string, { seconds: number[]; latencies: number[] }>(subjects.map((s) => [s.name, { seconds: [], latencies: [] }]))
    const streams = new Map<string, number[]>(subjects.map((s) => [s.name, []]))
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order each round.
      const order = round % 2 === 0 ? subjects : [...subjects].reverse()
      for (const s of order) {
        const r = await load(s)
        const acc = results.get(s.name)!
        acc.seconds.push(r.seconds)
        acc.latencies.push(...r.latencies)
        const t = performance.now()
        const st = await get(s.port, '/stream')
        if (st.status !== 200 || st.bytes === 0) throw new Error(`${s.name} streamed nothing`)
        streams.get(s.name)!.push(performance.now() - t)
      }
    }
    // Each round's cost over the baseline of the same round, then the median over the rounds.
    const base = results.get(subjects[0]!.name)!.seconds
    const perRequestUs = (seconds: number): number => (seconds / REQUESTS) * 1e6
    process.stdout.write(`\nhttp-router: GET ${TARGET} among ${ROUTES.length + 1} routes, ${REQUESTS} requests x ${ROUNDS} rounds, ${CONCURRENCY} at a time, keep-alive\n\n`)
    process.stdout.write(`${'server'.padEnd(30)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('µs/req', 9)}${pad('+µs', 8)}${pad('ratio', 8)}\n`)
    for (const s of subjects) {
      const r = results.get(s.name)!
      const us = quantile(r.seconds.map(perRequestUs), 0.5)
      const extra = quantile(r.seconds.map((x, i) => perRequestUs(x) - perRequestUs(base[i]!)), 0.5)
      const ratio = quantile(r.seconds.map((x, i) => x / base[i]!), 0.5)
      process.stdout.write(
        `${s.name.padEnd(30)}${pad(fmt(1e6 / us, 0), 9)}${pad(fmt(quantile(r.latencies, 0.5), 2), 9)}${pad(fmt(quantile(r.latencies, 0.99), 2), 9)}${pad(fmt(us, 1), 9)}${pad(fmt(extra, 1), 8)}${pad(fmt(ratio, 2), 8)}\n`,
      )
    }
    const baseStream = quantile(streams.get(subjects[0]!.name)!, 0.5)
    process.stdout.write(`\nRecordIO stream of ${RECORDS} records, median of ${ROUNDS}\n\n${'server'.padEnd(30)}${pad('ms', 9)}${pad('ratio', 8)}\n`)
    for (const s of subjects) {
      const ms = quantile(streams.get(s.name)!, 0.5)
      process.stdout.write(`${s.name.padEnd(30)}${pad(fmt(ms, 1), 9)}${pad(fmt(ms / baseStream, 2), 8)}\n`)
    }
  } finally {
    agent.destroy()
    for (const s of subjects) await s.close()
  }
}

exitWith('http-router', main())
