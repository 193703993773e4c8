import { describe, expect, it } from 'vitest'
import { createHostResolver } from './host-address.js'

describe('createHostResolver', () => {
  it('answers IP literals itself, caches look-ups for their ttl and failures for less', async () => {
    let t = 0
    const asked: string[] = []
    const r = createHostResolver({
      ttlMs: 100,
      failureTtlMs: 10,
      now: () => t,
      lookup: async (h) => {
        asked.push(h)
        if (h === 'nowhere') throw new Error('ENOTFOUND')
        return '10.0.0.7'
      },
    })
    expect(await r.resolve('10.1.2.3')).toBe('10.1.2.3')
    expect(await r.resolve('agent')).toBe('10.0.0.7')
    expect(await r.resolve('agent')).toBe('10.0.0.7')
    await expect(r.resolve('nowhere')).rejects.toThrow('ENOTFOUND')
    await expect(r.resolve('nowhere')).rejects.toThrow('ENOTFOUND')
    expect(asked).toEqual(['agent', 'nowhere'])
    t = 50
    await expect(r.resolve('nowhere')).rejects.toThrow('ENOTFOUND')
    expect(await r.resolve('agent')).toBe('10.0.0.7')
    t = 200
    expect(await r.resolve('agent')).toBe('10.0.0.7')
    expect(asked).toEqual(['agent', 'nowhere', 'nowhere', 'agent'])
  })
})
