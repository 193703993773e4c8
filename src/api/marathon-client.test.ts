import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { SseFrame } from './marathon-client.js'
import { AppInfoSchema, createSseParser, normalizeBaseUrl } from './marathon-client.js'

const parseAll = (chunks: string[]): SseFrame[] => {
  const frames: SseFrame[] = []
  const feed = createSseParser((f) => frames.push(f))
  for (const c of chunks) feed(c)
  return frames
}

describe('createSseParser', () => {
  it('reads Marathon frames, skipping comments (heartbeats) and frames without data', () => {
    const text = ':\n\nevent: deployment_success\ndata: {"eventType":"deployment_success","id":"d1"}\n\n:\n\nevent: x\n\n'
    expect(parseAll([text])).toEqual([{ event: 'deployment_success', data: '{"eventType":"deployment_success","id":"d1"}' }])
  })

  it('joins data lines, takes CRLF and CR line ends, and defaults the event name to message', () => {
    expect(parseAll(['data: a\r\ndata: b\r\n\r\n', 'data:c\r\r'])).toEqual([
      { event: 'message', data: 'a\nb' },
      { event: 'message', data: 'c' },
    ])
  })

  it('gives the same frames however the stream is cut into chunks', () => {
    const text = 'event: a\r\ndata: {"x":1}\r\n\r\n:hb\n\nevent: b\ndata: 2\ndata: 3\n\n'
    const whole = parseAll([text])
    expect(whole).toHaveLength(2)
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 8 }), (cuts) => {
        const points = [...new Set([0, ...cuts, text.length])].sort((a, b) => a - b)
        const chunks = points.slice(1).map((end, i) => text.slice(points[i], end))
        expect(parseAll(chunks)).toEqual(whole)
      }),
    )
  })
})

describe('normalizeBaseUrl', () => {
  it('adds http:// to host:port and drops trailing slashes', () => {
    expect(normalizeBaseUrl('127.0.0.1:8080')).toBe('http://127.0.0.1:8080')
    expect(normalizeBaseUrl('https://apps.example/')).toBe('https://apps.example')
  })
})

describe('AppInfoSchema', () => {
  it('reads Marathon 1.4 nulls as absent, fills Marathon’s defaults and keeps fields it does not name', () => {
    const app = AppInfoSchema.parse({ id: '/web', cmd: null, container: null, healthChecks: null, executor: '', tasksRunning: 2 })
    expect(app).toEqual({ id: '/web', instances: 1, cpus: 1, mem: 128, disk: 0, healthChecks: [], executor: '', tasksStaged: 0, tasksRunning: 2, tasksHealthy: 0, tasksUnhealthy: 0, deployments: [] })
  })
})
