import { describe, expect, it } from 'vitest'
import { parseDurationMs } from './duration.js'

describe('parseDurationMs', () => {
  it('reads Mesos-style durations', () => {
    expect(parseDurationMs('500ms')).toBe(500)
    expect(parseDurationMs('15secs')).toBe(15_000)
    expect(parseDurationMs('2mins')).toBe(120_000)
    expect(parseDurationMs('1.5')).toBe(1500)
    expect(() => parseDurationMs('soon')).toThrow(/Invalid duration/)
    expect(() => parseDurationMs('3 fortnights')).toThrow(/unit/)
  })
})
