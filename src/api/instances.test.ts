import type { Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstances, InstanceUnreachable, parseInstanceList } from './instances.js'

const servers: Server[] = []
const hits: string[] = []

/** A server on loopback that answers `status` and counts what it was asked. */
async function serve(name: string, status: number): Promise<string> {
  const s = createServer((req, res) => {
    hits.push(`${name} ${req.method}`)
    res.writeHead(status, { 'Content-Type': 'text/plain' }).end(name)
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  servers.push(s)
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
}

/** A port nothing listens on: connections are refused. */
async function refused(): Promise<string> {
  const url = await serve('gone', 200)
  const s = servers.pop()!
  await new Promise<void>((r) => s.close(() => r()))
  return url
}

let up: string
let noLeader: string
let down: string
beforeAll(async () => {
  up = await serve('up', 200)
  noLeader = await serve('standby', 503)
  down = await refused()
})
afterAll(() => {
  for (const s of servers) s.close()
})

const init = (): RequestInit => ({ signal: AbortSignal.timeout(2000) })

describe('instances', () => {
  it('parses a comma-separated list, each entry normalized, without repeats', () => {
    const norm = (u: string): string => (u.startsWith('http') ? u : `http://${u}`)
    expect(parseInstanceList('h1:8080, h2:8081,,h1:8080', norm)).toEqual(['http://h1:8080', 'http://h2:8081'])
    expect(parseInstanceList('h1:8080', norm)).toEqual(['http://h1:8080'])
  })

  it('moves past an instance that refuses connections or has no leader, and asks the one that answered first next time', async () => {
    const list = createInstances([down, noLeader, up])
    hits.length = 0
    const first = await list.fetch('/x', init)
    expect(first.base).toBe(up)
    expect(await first.res.text()).toBe('up')
    expect(hits).toEqual(['standby GET', 'up GET'])
    expect(list.current()).toBe(up)
    hits.length = 0
    await list.fetch('/x', init)
    expect(hits).toEqual(['up GET'])
  })

  it("answers the last instance's 503 when none has a leader, and throws when none can be reached", async () => {
    const r = await createInstances([down, noLeader]).fetch('/x', init)
    expect(r.res.status).toBe(503)
    const err = await createInstances([down, await refused()]).fetch('/x', init).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InstanceUnreachable)
  })

  it('sends a write elsewhere only when it cannot have arrived', async () => {
    // A refused connection: the POST never got there, the next instance takes it.
    hits.length = 0
    const r = await createInstances([down, up]).fetch('/x', () => ({ method: 'POST', signal: AbortSignal.timeout(2000) }), 'POST')
    expect(r.base).toBe(up)
    expect(hits).toEqual(['up POST'])
    // A timeout: it may have arrived, so it is not sent again.
    const slow = createServer(() => undefined)
    await new Promise<void>((res) => slow.listen(0, '127.0.0.1', res))
    servers.push(slow)
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`
    hits.length = 0
    const err = await createInstances([slowUrl, up]).fetch('/x', () => ({ method: 'POST', signal: AbortSignal.timeout(200) }), 'POST').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InstanceUnreachable)
    expect((err as InstanceUnreachable).base).toBe(slowUrl)
    expect(hits).toEqual([])
    slow.closeAllConnections()
  })
})
