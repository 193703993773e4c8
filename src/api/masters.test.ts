import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { closeServer } from './http.js'
import { createMasters, fetchLeader, MasterListError, parseMasterList, redirectTarget } from './masters.js'

describe('parseMasterList', () => {
  it('takes host:port and URLs, comma-separated, without duplicates', () => {
    expect(parseMasterList('127.0.0.1:5050, http://127.0.0.1:5052/,127.0.0.1:5050')).toEqual(['http://127.0.0.1:5050', 'http://127.0.0.1:5052'])
  })
  it('refuses an empty list and paths', () => {
    expect(() => parseMasterList(' , ')).toThrow(MasterListError)
    expect(() => parseMasterList('127.0.0.1:5050/master')).toThrow(/has a path/)
  })
})

describe('redirectTarget', () => {
  it("reads Mesos' protocol-relative Location with the scheme of the request", () => {
    expect(redirectTarget('//10.0.0.2:5052/api/v1/scheduler', 'http://10.0.0.1:5050')).toBe('http://10.0.0.2:5052')
    expect(redirectTarget('http://h:1/x', 'http://10.0.0.1:5050')).toBe('http://h:1')
  })
})

describe('createMasters', () => {
  it('moves on from a failed master in turn, and keeps the one that answered', () => {
    const m = createMasters(['http://a:1', 'http://b:1', 'http://c:1'])
    expect(m.current()).toBe('http://a:1')
    m.failed('http://a:1')
    expect(m.order()).toEqual(['http://b:1', 'http://a:1', 'http://c:1'])
    // A failure of a master that is no longer current changes nothing.
    m.failed('http://a:1')
    expect(m.current()).toBe('http://b:1')
    m.answered('http://c:1')
    expect(m.current()).toBe('http://c:1')
    m.failed('http://c:1')
    expect(m.current()).toBe('http://a:1')
  })
})

describe('fetchLeader', () => {
  const servers: Array<ReturnType<typeof createServer>> = []
  afterEach(async () => {
    for (const s of servers.splice(0)) await closeServer(s)
  })
  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const s = createServer(handler)
    servers.push(s)
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
  }

  it('skips a master that is down and one without a leader, follows a 307 with its body, and remembers the leader', async () => {
    const bodies: string[] = []
    const leader = await serve((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${body}`)
        res.end('ok')
      })
    })
    const noLeader = await serve((_req, res) => {
      res.writeHead(503)
      res.end('No leader elected')
    })
    const standby = await serve((req, res) => {
      res.writeHead(307, { Location: `//${new URL(leader).host}${req.url}` })
      res.end()
    })
    const down = await serve(() => undefined)
    await closeServer(servers.pop()!)
    const masters = createMasters([down, noLeader, standby])
    const r = await fetchLeader(masters, '/register?x=1', { method: 'POST', body: 'hello' })
    expect(await r.text()).toBe('ok')
    expect(bodies).toEqual(['POST /register?x=1 hello'])
    expect(masters.current()).toBe(leader)
  })

  it('asks a leader that is still recovering again later, instead of moving on to the others', async () => {
    let otherAsked = 0
    const recovering = await serve((_req, res) => {
      res.writeHead(503)
      res.end('Master has not finished recovery')
    })
    const other = await serve((_req, res) => {
      otherAsked++
      res.end('ok')
    })
    const masters = createMasters([other, recovering])
    masters.answered(recovering)
    await expect(fetchLeader(masters, '/x', {})).rejects.toThrow(/not finished recovery/)
    expect(masters.current()).toBe(recovering)
    expect(otherAsked).toBe(0)
  })

  it('throws when no master answers', async () => {
    const noLeader = await serve((_req, res) => {
      res.writeHead(503)
      res.end('No leader elected')
    })
    await expect(fetchLeader(createMasters([noLeader]), '/x', {})).rejects.toThrow(/503: No leader elected/)
  })
})
