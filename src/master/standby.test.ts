import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeServer, listen } from '../api/http.js'
import type { StandbyPhase } from './standby.js'
import { createStandbyRouter } from './standby.js'

let phase: StandbyPhase
let leader: string | undefined
let server: Server
let base: string

beforeAll(async () => {
  phase = { phase: 'standby', leader: () => leader }
  server = await listen({ router: createStandbyRouter({ log: pino({ level: 'silent' }), phase: () => phase, startedAt: Date.now() }), host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) })
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => closeServer(server))

const get = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { redirect: 'manual', ...init })

describe('a standby master', () => {
  it("redirects the APIs to the leader, path and query kept, as Mesos' redirect()", async () => {
    leader = '10.1.2.3:5052'
    const scheduler = await get('/api/v1/scheduler', { method: 'POST', body: '{"type":"SUBSCRIBE"}' })
    expect(scheduler.status).toBe(307)
    expect(scheduler.headers.get('location')).toBe('//10.1.2.3:5052/api/v1/scheduler')
    const state = await get('/master/state?jsonp=cb')
    expect(state.status).toBe(307)
    expect(state.headers.get('location')).toBe('//10.1.2.3:5052/master/state?jsonp=cb')
    for (const path of ['/master/redirect', '/redirect']) {
      const r = await get(path)
      expect(r.status).toBe(307)
      expect(r.headers.get('location')).toBe('//10.1.2.3:5052')
    }
    // Below /redirect, nothing is redirected: two masters cannot send a client round forever.
    expect((await get('/master/redirect/x')).status).toBe(404)
  })

  it('answers 503 "No leader elected" when it knows no leader, and serves its own health and metrics', async () => {
    leader = undefined
    const r = await get('/api/v1', { method: 'POST', body: '{"type":"GET_STATE"}' })
    expect(r.status).toBe(503)
    expect(await r.text()).toBe('No leader elected')
    expect((await get('/master/redirect')).status).toBe(503)
    expect((await get('/health')).status).toBe(200)
    const metrics = (await (await get('/metrics/snapshot')).json()) as Record<string, number>
    expect(metrics['master/elected']).toBe(0)
  })

  it('answers 503 "Master has not finished recovery" once elected and until it has recovered', async () => {
    phase = { phase: 'recovering' }
    const r = await get('/api/v1/scheduler', { method: 'POST', body: '{}' })
    expect(r.status).toBe(503)
    expect(await r.text()).toBe('Master has not finished recovery')
    phase = { phase: 'standby', leader: () => leader }
  })
})
