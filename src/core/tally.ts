// A running sum of Resources that can also give back what it was given: the master keeps one
// per agent and per framework role, so that nobody has to add up every task to know what an
// agent uses. Its total equals what `add` gives over the same Resources in any order.
import type { Range, Resources } from './resources.js'
import { normalizeRanges } from './resources.js'

export interface Tally {
  add(r: Resources): void
  /** Takes back a Resources added before; taking back what was never added is the caller's bug. */
  remove(r: Resources): void
  /** The sum of what is in, as `add` would give it; the same object until the next change. */
  total(): Resources
  /** Whether nothing is in. */
  readonly empty: boolean
}

export function createTally(): Tally {
  // Scalars are summed in thousandths (integers), where adding and taking back are exact;
  // `add` rounds to thousandths at each step, which comes to the same for the values it keeps.
  const scalars = new Map<string, { milli: number; holders: number }>()
  // Ranges are a multiset: two tasks may list the same port (one of them re-reported by its
  // agent, or on different agents in a framework's sum), and taking one back must keep the other's.
  const ranges = new Map<string, { holders: number; counts: Map<string, { range: Range; n: number }> }>()
  let members = 0
  let cached: Resources | undefined

  function change(r: Resources, sign: 1 | -1): void {
    cached = undefined
    members += sign
    for (const [name, v] of Object.entries(r.scalars)) {
      const s = scalars.get(name) ?? { milli: 0, holders: 0 }
      s.milli += sign * Math.round(v * 1000)
      s.holders += sign
      if (s.holders > 0) scalars.set(name, s)
      else scalars.delete(name)
    }
    for (const [name, list] of Object.entries(r.ranges)) {
      const e = ranges.get(name) ?? { holders: 0, counts: new Map() }
      e.holders += sign
      for (const range of list) {
        const key = `${range.begin}-${range.end}`
        const c = e.counts.get(key) ?? { range: { begin: range.begin, end: range.end }, n: 0 }
        c.n += sign
        if (c.n > 0) e.counts.set(key, c)
        else e.counts.delete(key)
      }
      if (e.holders > 0) ranges.set(name, e)
      else ranges.delete(name)
    }
  }

  return {
    add: (r) => change(r, 1),
    remove: (r) => change(r, -1),
    total() {
      if (cached) return cached
      const s: Record<string, number> = {}
      for (const [name, { milli }] of scalars) s[name] = milli / 1000
      const rs: Record<string, Range[]> = {}
      for (const [name, { counts }] of ranges) rs[name] = normalizeRanges([...counts.values()].map((c) => c.range))
      cached = { scalars: s, ranges: rs }
      return cached
    },
    get empty() {
      return members === 0
    },
  }
}
