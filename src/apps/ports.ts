// Host ports an instance needs and which of an offer's ports it gets: pure functions.
import type { Range } from '../core/resources.js'
import { normalizeRanges, rangesContain, valuesToRanges } from '../core/resources.js'
import type { AppDefinition, OfferView } from './types.js'

/** One requested host port: none (container-only mapping), any free one, or a fixed one. */
export type HostPortRequest = { kind: 'none' } | { kind: 'dynamic' } | { kind: 'fixed'; port: number }

export function hasPortMappings(app: AppDefinition): boolean {
  return (app.container?.portMappings?.length ?? 0) > 0
}

/**
 * Host ports the app asks for, one per port mapping when the container has any (Marathon then
 * ignores portDefinitions), else one per port definition. With requirePorts a definition's port
 * is the host port; a port of 0 stays dynamic.
 */
export function hostPortRequests(app: AppDefinition): HostPortRequest[] {
  if (hasPortMappings(app)) {
    return (app.container?.portMappings ?? []).map((m): HostPortRequest => {
      if (m.hostPort === undefined) return { kind: 'none' }
      return m.hostPort === 0 ? { kind: 'dynamic' } : { kind: 'fixed', port: m.hostPort }
    })
  }
  return app.portDefinitions.map((d): HostPortRequest => (app.requirePorts && d.port !== 0 ? { kind: 'fixed', port: d.port } : { kind: 'dynamic' }))
}

/** How many host ports one instance takes. */
export function portsNeeded(app: AppDefinition): number {
  return hostPortRequests(app).filter((r) => r.kind !== 'none').length
}

export function subtractPorts(ranges: readonly Range[], ports: Iterable<number>): Range[] {
  let out = normalizeRanges(ranges)
  for (const p of ports) {
    const next: Range[] = []
    for (const r of out) {
      if (p < r.begin || p > r.end) next.push(r)
      else {
        if (p > r.begin) next.push({ begin: r.begin, end: p - 1 })
        if (p < r.end) next.push({ begin: p + 1, end: r.end })
      }
    }
    out = next
  }
  return out
}

/** Ports of `ranges` in order, starting `offset` ports in and wrapping around. */
function* portsFrom(ranges: readonly Range[], offset: number): Generator<number> {
  let skip = offset
  let startRange = 0
  for (; startRange < ranges.length; startRange++) {
    const r = ranges[startRange]!
    const size = r.end - r.begin + 1
    if (skip < size) break
    skip -= size
  }
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[(startRange + i) % ranges.length]!
    const from = i === 0 ? r.begin + skip : r.begin
    for (let p = from; p <= r.end; p++) yield p
  }
  const first = ranges[startRange]
  if (first && skip > 0) for (let p = first.begin; p < first.begin + skip; p++) yield p
}

export interface PortAssignment {
  /** The host ports, in the order of the app's port mappings (or definitions), skipping mappings without one. */
  hostPorts: number[]
  /** The same ports as ranges, for the task's `ports` resource. */
  portResources: Range[]
}

/**
 * Picks host ports for one instance from the offer. Fixed ports must be offered; dynamic ones are
 * the lowest free ports, or, given `rng`, free ports from a random starting point (as Marathon
 * does, so that a port freed by one task is not handed straight to the next). `exclude` holds
 * ports that are taken even though the offer lists them (say, by launches earlier in this pass).
 */
export function assignPorts(
  app: AppDefinition,
  offer: Pick<OfferView, 'ports'>,
  options: { rng?: () => number; exclude?: Iterable<number> } = {},
): PortAssignment | undefined {
  const requests = hostPortRequests(app)
  const free = subtractPorts(offer.ports, options.exclude ?? [])
  const fixed = requests.flatMap((r) => (r.kind === 'fixed' ? [r.port] : []))
  if (new Set(fixed).size !== fixed.length) return undefined
  if (!fixed.every((p) => rangesContain(free, [{ begin: p, end: p }]))) return undefined
  const pool = subtractPorts(free, fixed)
  const dynamicCount = requests.filter((r) => r.kind === 'dynamic').length
  const poolSize = pool.reduce((n, r) => n + (r.end - r.begin + 1), 0)
  if (dynamicCount > poolSize) return undefined
  const offset = options.rng && poolSize > 0 ? Math.min(poolSize - 1, Math.floor(options.rng() * poolSize)) : 0
  const dynamic = portsFrom(pool, offset)
  const hostPorts: number[] = []
  for (const r of requests) {
    if (r.kind === 'fixed') hostPorts.push(r.port)
    else if (r.kind === 'dynamic') hostPorts.push(dynamic.next().value as number)
  }
  return { hostPorts, portResources: valuesToRanges(hostPorts) }
}
