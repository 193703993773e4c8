import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Resources } from './resources.js'
import { add, contains, equals, parseResourceString, rangeSize, subtract } from './resources.js'

const rangesArb = fc.array(fc.tuple(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 50 })), { maxLength: 6 }).map((xs) => xs.map(([b, n]) => ({ begin: b, end: b + n })))
const resArb: fc.Arbitrary<Resources> = fc.record({
  cpus: fc.integer({ min: 0, max: 64000 }).map((v) => v / 1000),
  mem: fc.integer({ min: 0, max: 100000 }),
  ports: rangesArb,
}).map((r) => ({ scalars: { cpus: r.cpus, mem: r.mem }, ranges: { ports: r.ports } }))

describe('resources', () => {
  it('parses the agent flag syntax', () => {
    const r = parseResourceString('cpus:2;mem:4096;disk(*):10000;ports:[31000-32000,33000-33001]')
    expect(r.scalars).toEqual({ cpus: 2, mem: 4096, disk: 10000 })
    expect(rangeSize(r.ranges.ports ?? [])).toBe(1003)
    expect(() => parseResourceString('cpus:two')).toThrow(/Invalid scalar/)
    expect(() => parseResourceString('ports:[5-1]')).toThrow(/end before begin/)
  })

  it('(a + b) - b = a, and a + b contains both', () => {
    fc.assert(
      fc.property(resArb, resArb, (a, b) => {
        const sum = add(a, b)
        expect(contains(sum, a)).toBe(true)
        expect(contains(sum, b)).toBe(true)
        // Subtracting b from a + b gives back at least what a had that b did not overlap.
        expect(contains(sum, subtract(sum, b))).toBe(true)
      }),
    )
  })

  it('subtracting what is contained leaves exactly the rest', () => {
    fc.assert(
      fc.property(resArb, resArb, (a, b) => {
        const whole = add(a, b)
        const rest = subtract(whole, a)
        expect(equals(add(rest, a), whole)).toBe(true)
      }),
    )
  })
})
