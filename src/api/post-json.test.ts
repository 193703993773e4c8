import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { getKeptAlive, keptAlivePool, postJson } from './post-json.js'

/**
 * A server that answers the first request of each connection and resets the connection on the
 * second one without an answer (what a server closing an idle kept-alive connection does to a
 * request that crosses the close), or on every request with `resetAll`.
 */
async function resettingServer(resetAll = false): Promise<{ url: string; server: Server; connections: () => number; requests: () => number }> {
  let connections = 0
  let requests = 0
  const served = new WeakMap<Socket, number>()
  const server = createServer((req, res) => {
    requests++
    const n = (served.get(req.socket) ?? 0) + 1
    served.set(req.socket, n)
    if (resetAll || n > 1) return void req.socket.resetAndDestroy()
    res.setHeader('Content-Type', 'application/json')
    res.end('{"ok":true}')
  })
  server.keepAliveTimeout = 60_000
  server.on('connection', () => connections++)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping`, server, connections: () => connections, requests: () => requests }
}

describe('kept-alive calls', () => {
  const servers: Server[] = []
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
  })

  it('sends a GET reset on a reused connection again, once, on a new one', async () => {
    const s = await resettingServer()
    servers.push(s.server)
    const agent = keptAlivePool(1)
    expect((await getKeptAlive(s.url, { timeoutMs: 2000, agent })).status).toBe(200)
    const again = await getKeptAlive(s.url, { timeoutMs: 2000, agent })
    expect([again.status, await again.json()]).toEqual([200, { ok: true }])
    expect([s.requests(), s.connections()]).toEqual([3, 2])
    agent.destroy()
  })

  it('does not send a POST again, nor a GET reset on a new connection', async () => {
    const s = await resettingServer()
    servers.push(s.server)
    const agent = keptAlivePool(1)
    expect((await postJson(s.url, '{}', { timeoutMs: 2000, agent })).status).toBe(200)
    await expect(postJson(s.url, '{}', { timeoutMs: 2000, agent })).rejects.toMatchObject({ code: 'ECONNRESET' })
    expect(s.requests()).toBe(2)
    agent.destroy()

    const always = await resettingServer(true)
    servers.push(always.server)
    const fresh = keptAlivePool(1)
    await expect(getKeptAlive(always.url, { timeoutMs: 2000, agent: fresh })).rejects.toMatchObject({ code: 'ECONNRESET' })
    expect(always.requests()).toBe(1)
    fresh.destroy()
  })
})
