import type { Server } from 'node:http'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRouter, listen, sendJson } from './http.js'
import { findWebUiDir, serveWebUi } from './web-ui.js'

const log = pino({ level: 'silent' })
const dir = mkdtempSync(join(tmpdir(), 'dromos-web-ui-'))
const servers: Server[] = []

async function start(staticDir: string | undefined): Promise<string> {
  const router = createRouter({ log })
  router.on('GET', '/v2/apps', (ctx) => sendJson(ctx.res, 200, { apps: [] }))
  router.on('POST', '/api/v1', (ctx) => sendJson(ctx.res, 200, {}))
  router.onPrefix('GET', '/v2/apps/', (ctx) => sendJson(ctx.res, 404, { message: 'no app' }))
  serveWebUi(router, staticDir)
  const server = await listen({ router, host: '127.0.0.1', port: 0, log })
  servers.push(server)
  const addr = server.address()
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
}

let base = ''
const ui = join(dir, 'web', 'dist')

beforeAll(async () => {
  mkdirSync(join(ui, 'assets'), { recursive: true })
  writeFileSync(join(ui, 'index.html'), '<div id="root"></div>')
  writeFileSync(join(ui, 'assets', 'index-abc.js'), 'console.log(1)')
  writeFileSync(join(dir, 'secret.txt'), 'secret')
  base = await start(ui)
})
afterAll(async () => {
  for (const s of servers) await new Promise<void>((res) => s.close(() => res()))
  rmSync(dir, { recursive: true, force: true })
})

describe('serveWebUi', () => {
  it('serves index.html at / and the assets, cached by their hashed names', async () => {
    const root = await fetch(`${base}/`)
    expect(root.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await root.text()).toBe('<div id="root"></div>')
    const asset = await fetch(`${base}/assets/index-abc.js`)
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(asset.headers.get('cache-control')).toContain('immutable')
    expect((await fetch(`${base}/`, { method: 'HEAD' })).status).toBe(200)
  })

  it('answers client-side routes to a browser, and a plain 404 to others', async () => {
    const html = { headers: { Accept: 'text/html,application/xhtml+xml' } }
    expect(await (await fetch(`${base}/apps/group/web`, html)).text()).toBe('<div id="root"></div>')
    const api = await fetch(`${base}/apps/group/web`)
    expect(api.status).toBe(404)
    expect(await api.text()).toBe("No endpoint at '/apps/group/web'")
    expect((await fetch(`${base}/assets/missing.js`, html)).status).toBe(404)
    expect((await fetch(`${base}/anything`, { method: 'POST' })).status).toBe(404)
  })

  it('never shadows a route, nor answers outside its folder', async () => {
    expect(await (await fetch(`${base}/v2/apps`)).json()).toEqual({ apps: [] })
    expect(await (await fetch(`${base}/v2/apps/x`, { headers: { Accept: 'text/html' } })).json()).toEqual({ message: 'no app' })
    // A path that names a route in another method keeps its 405.
    expect((await fetch(`${base}/api/v1`, { headers: { Accept: 'text/html' } })).status).toBe(405)
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const r = await fetch(`${base}${path}`)
      expect(await r.text()).not.toBe('secret')
    }
  })

  it('says how to build the UI when it is not built', async () => {
    const bare = await start(undefined)
    const r = await fetch(`${bare}/`)
    expect(r.status).toBe(404)
    expect(await r.text()).toContain('make build')
    expect(await (await fetch(`${bare}/x`)).text()).toBe("No endpoint at '/x'")
  })

  it('finds web/dist above a folder', () => {
    expect(findWebUiDir(join(dir, 'dist', 'src', 'cli'))).toBe(ui)
  })
})
