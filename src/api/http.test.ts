import type { Server } from 'node:http'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRouter, isValidJsonpCallback, listen, sendJson, sendJsonParts } from './http.js'

// A list of some 300 KB, in parts of one to four bytes a character (several writes' worth).
const PARTS = ['[', ...Array.from({ length: 3000 }, (_, i) => [i === 0 ? '' : ',', JSON.stringify({ i, s: 'aü✓😀'.repeat(10) })]).flat(), ']']

let server: Server
let base = ''

beforeAll(async () => {
  const router = createRouter({ log: pino({ level: 'silent' }) })
  router.on('GET', '/ok', (ctx) => sendJson(ctx.res, 200, { a: [1, 'x'] }))
  router.on('GET', '/conflict', (ctx) => sendJson(ctx.res, 409, { a: 1 }))
  router.on('POST', '/ok', (ctx) => sendJson(ctx.res, 200, { posted: true }))
  router.on('GET', '/parts', (ctx) => sendJsonParts(ctx.res, PARTS, Buffer.byteLength(PARTS.join(''))))
  server = await listen({ router, host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) })
  const addr = server.address()
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
})
afterAll(() => new Promise<void>((res) => server.close(() => res())))

describe('JSONP', () => {
  it('wraps a 200 as callback(<json>) in text/javascript, as libprocess', async () => {
    const r = await fetch(`${base}/ok?jsonp=cb`)
    expect(r.headers.get('content-type')).toBe('text/javascript')
    expect(await r.text()).toBe('cb({"a":[1,"x"]})')
  })

  it('leaves other statuses, POSTs and requests without jsonp alone', async () => {
    expect(await (await fetch(`${base}/conflict?jsonp=cb`)).text()).toBe('{"a":1}')
    expect(await (await fetch(`${base}/ok?jsonp=cb`, { method: 'POST' })).text()).toBe('{"posted":true}')
    const plain = await fetch(`${base}/ok`)
    expect(plain.headers.get('content-type')).toBe('application/json')
  })

  it('accepts dotted names and refuses anything else with a 400', async () => {
    for (const ok of ['cb', 'angular.callbacks._0', 'jQuery1234_5678', '$.x', 'cbs[0]']) expect(isValidJsonpCallback(ok), ok).toBe(true)
    for (const bad of ['', '1a', 'a b', 'alert(1)', 'a.', 'a;b', '<script>']) expect(isValidJsonpCallback(bad), bad).toBe(false)
    const r = await fetch(`${base}/ok?jsonp=${encodeURIComponent('alert(1)')}`)
    expect(r.status).toBe(400)
    expect(r.headers.get('content-type')).toContain('text/plain')
  })
})

describe('sendJsonParts', () => {
  it('sends the parts as one body of the length it announces, and wraps it for jsonp', async () => {
    const whole = PARTS.join('')
    expect(Buffer.byteLength(whole)).toBeGreaterThan(4 * 64 * 1024)
    const r = await fetch(`${base}/parts`)
    expect(r.headers.get('content-type')).toBe('application/json')
    const body = Buffer.from(await r.arrayBuffer())
    expect(Number(r.headers.get('content-length'))).toBe(body.length)
    expect(body.toString('utf8')).toBe(whole)
    expect((JSON.parse(whole) as unknown[]).length).toBe(3000)
    const wrapped = await fetch(`${base}/parts?jsonp=cb`)
    expect(wrapped.headers.get('content-type')).toBe('text/javascript')
    const text = Buffer.from(await wrapped.arrayBuffer())
    expect(Number(wrapped.headers.get('content-length'))).toBe(text.length)
    expect(text.toString('utf8')).toBe(`cb(${whole})`)
  })
})
