import { describe, expect, it } from 'vitest'
import { reconnectDelayMs } from './events-follow.js'

describe('reconnectDelayMs', () => {
  it('doubles from 0.5s and stays at 10s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map(reconnectDelayMs)).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000])
  })
})
