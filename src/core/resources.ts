// Resource arithmetic over Mesos-style resources: scalars (cpus, mem, disk, gpus) and
// ranges (ports). Pure, no I/O. Role reservations are not modelled yet: every resource
// belongs to the unreserved role "*".

export interface Range {
  readonly begin: number
  readonly end: number
}

export interface Resources {
  readonly scalars: Readonly<Record<string, number>>
  readonly ranges: Readonly<Record<string, readonly Range[]>>
}

export const EMPTY: Resources = { scalars: {}, ranges: {} }

// Scalars are kept to three decimals, as Mesos does, so that 0.1 + 0.2 - 0.3 is 0.
const round = (v: number): number => Math.round(v * 1000) / 1000

export function normalizeRanges(ranges: readonly Range[]): Range[] {
  const sorted = ranges.filter((r) => r.end >= r.begin).map((r) => ({ ...r })).sort((a, b) => a.begin - b.begin)
  const out: Range[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last && r.begin <= last.end + 1) {
      out[out.length - 1] = { begin: last.begin, end: Math.max(last.end, r.end) }
    } else {
      out.push(r)
    }
  }
  return out
}

function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  let out = normalizeRanges(a)
  for (const cut of b) {
    const next: Range[] = []
    for (const r of out) {
      if (cut.end < r.begin || cut.begin > r.end) {
        next.push(r)
        continue
      }
      if (cut.begin > r.begin) next.push({ begin: r.begin, end: cut.begin - 1 })
      if (cut.end < r.end) next.push({ begin: cut.end + 1, end: r.end })
    }
    out = next
  }
  return out
}

export function rangesContain(outer: readonly Range[], inner: readonly Range[]): boolean {
  const o = normalizeRanges(outer)
  return normalizeRanges(inner).every((r) => o.some((x) => x.begin <= r.begin && r.end <= x.end))
}

export function rangeSize(ranges: readonly Range[]): number {
  return ranges.reduce((n, r) => n + (r.end - r.begin + 1), 0)
}

export function add(a: Resources, b: Resources): Resources {
  const scalars: Record<string, number> = { ...a.scalars }
  for (const [k, v] of Object.entries(b.scalars)) scalars[k] = round((scalars[k] ?? 0) + v)
  const ranges: Record<string, Range[]> = {}
  for (const k of new Set([...Object.keys(a.ranges), ...Object.keys(b.ranges)])) {
    ranges[k] = normalizeRanges([...(a.ranges[k] ?? []), ...(b.ranges[k] ?? [])])
  }
  return { scalars, ranges }
}

/** a - b; the caller is expected to check contains(a, b) first when that matters. */
export function subtract(a: Resources, b: Resources): Resources {
  const scalars: Record<string, number> = {}
  for (const [k, v] of Object.entries(a.scalars)) {
    const left = round(v - (b.scalars[k] ?? 0))
    if (left > 0) scalars[k] = left
  }
  const ranges: Record<string, Range[]> = {}
  for (const [k, v] of Object.entries(a.ranges)) {
    const left = subtractRanges(v, b.ranges[k] ?? [])
    if (left.length > 0) ranges[k] = left
  }
  return { scalars, ranges }
}

export function contains(a: Resources, b: Resources): boolean {
  for (const [k, v] of Object.entries(b.scalars)) {
    if (v > 0 && round(a.scalars[k] ?? 0) < round(v)) return false
  }
  for (const [k, v] of Object.entries(b.ranges)) {
    if (!rangesContain(a.ranges[k] ?? [], v)) return false
  }
  return true
}

export function isEmpty(r: Resources): boolean {
  return Object.values(r.scalars).every((v) => v <= 0) && Object.values(r.ranges).every((v) => v.length === 0)
}

export function scalar(r: Resources, name: string): number {
  return r.scalars[name] ?? 0
}

export function equals(a: Resources, b: Resources): boolean {
  return contains(a, b) && contains(b, a)
}

/**
 * Parses the Mesos agent flag syntax: `cpus:2;mem:4096;disk:10000;ports:[31000-32000,33000-33100]`.
 * A role suffix (`cpus(*):2`) is accepted and ignored, since only "*" exists for now.
 */
export function parseResourceString(text: string): Resources {
  const scalars: Record<string, number> = {}
  const ranges: Record<string, Range[]> = {}
  for (const raw of text.split(';')) {
    const part = raw.trim()
    if (!part) continue
    const m = /^([a-zA-Z_][\w.-]*)(?:\([^)]*\))?\s*:\s*(.+)$/.exec(part)
    if (!m) throw new Error(`Invalid resource '${part}': expected NAME:VALUE`)
    const name = m[1]!
    const value = m[2]!.trim()
    if (value.startsWith('[')) {
      if (!value.endsWith(']')) throw new Error(`Invalid ranges for '${name}': ${value}`)
      const list: Range[] = []
      for (const item of value.slice(1, -1).split(',')) {
        const t = item.trim()
        if (!t) continue
        const rm = /^(\d+)\s*-\s*(\d+)$/.exec(t)
        if (!rm) throw new Error(`Invalid range '${t}' for '${name}'`)
        const begin = Number(rm[1])
        const end = Number(rm[2])
        if (end < begin) throw new Error(`Invalid range '${t}' for '${name}': end before begin`)
        list.push({ begin, end })
      }
      ranges[name] = normalizeRanges([...(ranges[name] ?? []), ...list])
    } else {
      const v = Number(value)
      if (!Number.isFinite(v) || v < 0) throw new Error(`Invalid scalar '${value}' for '${name}'`)
      scalars[name] = round((scalars[name] ?? 0) + v)
    }
  }
  return { scalars, ranges }
}

export function formatResources(r: Resources): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(r.scalars)) parts.push(`${k}:${v}`)
  for (const [k, v] of Object.entries(r.ranges)) parts.push(`${k}:[${v.map((x) => `${x.begin}-${x.end}`).join(',')}]`)
  return parts.join(';')
}

/** Takes `count` individual values from the front of a range list. */
export function takeFromRanges(ranges: readonly Range[], count: number): number[] {
  const out: number[] = []
  for (const r of normalizeRanges(ranges)) {
    for (let p = r.begin; p <= r.end && out.length < count; p++) out.push(p)
    if (out.length >= count) break
  }
  return out
}

export function valuesToRanges(values: readonly number[]): Range[] {
  return normalizeRanges(values.map((v) => ({ begin: v, end: v })))
}
