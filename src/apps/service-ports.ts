// Service ports: the ports a load balancer serves an app on. They are unique across the
// cluster, as Marathon keeps them; the ones an app leaves at 0 are assigned from 10000-20000.
import { ConflictError } from '../core/errors.js'
import type { ValidationDetail } from './errors.js'
import type { AppDefinition } from './types.js'

export const SERVICE_PORT_RANGE = { begin: 10000, end: 20000 } as const

/** The app's service ports in port order: its port mappings' in bridge mode, else its port definitions'. */
export function servicePortsOf(app: AppDefinition): number[] {
  if (app.networks.some((n) => n.mode !== 'host')) return (app.container?.portMappings ?? []).map((p) => p.servicePort)
  return app.portDefinitions.map((p) => p.port)
}

export interface ServicePortChange {
  /** The apps being created or changed. */
  readonly put: readonly AppDefinition[]
  /** Every app as stored now. */
  readonly current: ReadonlyMap<string, AppDefinition>
  /** Ids of apps the change removes. */
  readonly removed?: readonly string[]
}

/** The apps that keep their service ports through the change: stored, not put, not removed. */
function staying(change: ServicePortChange): AppDefinition[] {
  const leaving = new Set([...change.put.map((a) => a.id), ...(change.removed ?? [])])
  return [...change.current.values()].filter((a) => !leaving.has(a.id))
}

/**
 * Marathon's check (AppDefinition's service port conflicts): a service port an app asks for by
 * number must not be held by another app, staying or put in the same change.
 */
export function servicePortConflicts(change: ServicePortChange): ValidationDetail[] {
  const holders = [...staying(change), ...change.put]
  const errors: string[] = []
  for (const app of change.put) {
    const wanted = new Set(servicePortsOf(app).filter((p) => p > 0))
    for (const other of holders) {
      if (other.id === app.id) continue
      for (const p of servicePortsOf(other)) {
        if (p > 0 && wanted.has(p)) errors.push(`Requested service port ${p} conflicts with a service port in app ${other.id}`)
      }
    }
  }
  return errors.length > 0 ? [{ path: '/', errors: [...new Set(errors)] }] : []
}

/** Fills service ports left at 0, keeping the ones an app had at the same index. */
export function assignServicePorts(change: ServicePortChange): AppDefinition[] {
  const used = new Set<number>()
  // An updated app keeps its old ports at their index: none of them is handed out afresh.
  const before = change.put.flatMap((a) => change.current.get(a.id) ?? [])
  for (const a of [...staying(change), ...change.put, ...before]) for (const p of servicePortsOf(a)) if (p > 0) used.add(p)
  let next: number = SERVICE_PORT_RANGE.begin
  const take = (): number => {
    while (used.has(next) && next <= SERVICE_PORT_RANGE.end) next++
    if (next > SERVICE_PORT_RANGE.end) throw new ConflictError(`No service ports left in ${SERVICE_PORT_RANGE.begin}-${SERVICE_PORT_RANGE.end}`)
    used.add(next)
    return next
  }
  return change.put.map((a) => {
    const before = change.current.get(a.id)
    const prev = before ? servicePortsOf(before) : []
    const pick = (p: number, i: number): number => {
      if (p > 0) return p
      const old = prev[i]
      if (old !== undefined && old > 0 && !change.put.some((x) => x.id !== a.id && servicePortsOf(x).includes(old))) return old
      return take()
    }
    if (a.networks.some((n) => n.mode !== 'host') && a.container?.portMappings) {
      return { ...a, container: { ...a.container, portMappings: a.container.portMappings.map((m, i) => ({ ...m, servicePort: pick(m.servicePort, i) })) } }
    }
    return { ...a, portDefinitions: a.portDefinitions.map((p, i) => ({ ...p, port: pick(p.port, i) })) }
  })
}
