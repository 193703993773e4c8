// Dominant Resource Fairness over roles, then over the frameworks of each role, as a pure
// function of a snapshot. The master calls it on every allocation pass and turns the result
// into offers; nothing here reads a clock or does I/O.
import type { Resources } from '../core/resources.js'
import { add, contains, isEmpty, scalar } from '../core/resources.js'

export interface AllocAgent {
  readonly id: string
  readonly total: Resources
  /** What is neither used by tasks nor held in outstanding offers. */
  readonly free: Resources
}

export interface AllocFramework {
  readonly id: string
  readonly roles: readonly string[]
  readonly suppressedRoles: readonly string[]
  /** Resources used or offered, per role. */
  readonly allocated: Readonly<Record<string, Resources>>
  /**
   * False for a framework without its stream: what it holds still counts in its roles' shares
   * (as in Mesos), but it is offered nothing. Absent means connected.
   */
  readonly connected?: boolean
  /** agent id -> what this framework refused of that agent, per role, and until when (ms). */
  readonly refusals: ReadonlyMap<string, ReadonlyArray<{ readonly role: string; readonly resources: Resources; readonly until: number }>>
}

export interface AllocSnapshot {
  readonly agents: readonly AllocAgent[]
  /**
   * What the shares are shares of: every active agent's total, also when `agents` holds only
   * the few a pass is for. The sum of the agents' totals when absent.
   */
  readonly clusterTotal?: Resources
  readonly frameworks: readonly AllocFramework[]
  readonly roleWeights: Readonly<Record<string, number>>
  readonly now: number
}

export interface Allocation {
  readonly frameworkId: string
  readonly role: string
  readonly agentId: string
  readonly resources: Resources
}

const SHARE_KINDS = ['cpus', 'mem', 'disk', 'gpus'] as const

/** Mesos' minimum allocatable: an offer is worth sending if it has 0.01 cpus or 32 MB. */
export function isAllocatable(r: Resources): boolean {
  return scalar(r, 'cpus') >= 0.01 || scalar(r, 'mem') >= 32
}

const EMPTY_SHARES: Resources = { scalars: {}, ranges: {} }

/** a + b without ranges: a sum that shares are taken of (no share is of ports). */
const addShares = (a: Resources, b: Resources): Resources => add(a, { scalars: b.scalars, ranges: {} })

/** The scalars of the agents' totals that shares are taken of, summed (no ranges: no share is of ports). */
export function shareTotal(agents: Iterable<{ readonly total: Resources }>): Resources {
  const scalars: Record<string, number> = {}
  for (const a of agents) for (const kind of SHARE_KINDS) scalars[kind] = (scalars[kind] ?? 0) + scalar(a.total, kind)
  return { scalars, ranges: {} }
}

export function dominantShare(allocated: Resources, total: Resources): number {
  let share = 0
  for (const kind of SHARE_KINDS) {
    const t = scalar(total, kind)
    if (t > 0) share = Math.max(share, scalar(allocated, kind) / t)
  }
  return share
}

/**
 * Each role's dominant share of the cluster, as the allocator ranks roles (before weights):
 * what the role's frameworks use or hold in offers, over the agents' totals. Mesos reports it
 * as allocator/mesos/roles/<role>/shares/dominant.
 */
export function roleDominantShares(snapshot: {
  readonly agents: ReadonlyArray<Pick<AllocAgent, 'total'>>
  readonly frameworks: ReadonlyArray<Pick<AllocFramework, 'roles' | 'allocated'>>
}): Record<string, number> {
  const clusterTotal = snapshot.agents.reduce<Resources>((acc, a) => add(acc, a.total), { scalars: {}, ranges: {} })
  const byRole = new Map<string, Resources>()
  for (const f of snapshot.frameworks) for (const role of new Set([...f.roles, ...Object.keys(f.allocated)])) {
    byRole.set(role, add(byRole.get(role) ?? { scalars: {}, ranges: {} }, f.allocated[role] ?? { scalars: {}, ranges: {} }))
  }
  return Object.fromEntries([...byRole].map(([role, r]) => [role, dominantShare(r, clusterTotal)]))
}

/**
 * One pass: every agent with allocatable free resources goes, whole, to the eligible
 * (role, framework) with the lowest weighted dominant share, visiting agents in the order given
 * (the caller shuffles them, so no agent is always first).
 */
export function allocate(snapshot: AllocSnapshot): Allocation[] {
  const clusterTotal = snapshot.clusterTotal ?? shareTotal(snapshot.agents)
  // The sums the shares are taken of: scalars only, as shares are (adding every agent's ports
  // into a framework's sum would sort ranges for each agent of the pass).
  const byFramework = new Map<string, Record<string, Resources>>()
  const byRole = new Map<string, Resources>()
  for (const f of snapshot.frameworks) {
    byFramework.set(f.id, Object.fromEntries(Object.entries(f.allocated).map(([role, r]) => [role, addShares(EMPTY_SHARES, r)])))
    for (const [role, r] of Object.entries(f.allocated)) byRole.set(role, addShares(byRole.get(role) ?? EMPTY_SHARES, r))
  }
  const weight = (role: string): number => {
    const w = snapshot.roleWeights[role]
    return w !== undefined && w > 0 ? w : 1
  }
  const roleShare = (role: string): number => dominantShare(byRole.get(role) ?? { scalars: {}, ranges: {} }, clusterTotal) / weight(role)
  const frameworkShare = (fid: string, role: string): number =>
    dominantShare(byFramework.get(fid)?.[role] ?? { scalars: {}, ranges: {} }, clusterTotal)

  const out: Allocation[] = []
  for (const agent of snapshot.agents) {
    if (isEmpty(agent.free) || !isAllocatable(agent.free)) continue
    let best: { fid: string; role: string; rs: number; fs: number } | undefined
    for (const f of snapshot.frameworks) {
      if (f.connected === false) continue
      const refused = f.refusals.get(agent.id) ?? []
      for (const role of f.roles) {
        if (f.suppressedRoles.includes(role)) continue
        // A refusal holds only while what it refused still covers everything free (Mesos).
        if (refused.some((r) => r.role === role && r.until > snapshot.now && contains(r.resources, agent.free))) continue
        const rs = roleShare(role)
        const fs = frameworkShare(f.id, role)
        // Ties are broken by the order of the frameworks, which the caller keeps stable.
        if (!best || rs < best.rs || (rs === best.rs && fs < best.fs)) best = { fid: f.id, role, rs, fs }
      }
    }
    if (!best) continue
    out.push({ frameworkId: best.fid, role: best.role, agentId: agent.id, resources: agent.free })
    const fa = byFramework.get(best.fid) ?? {}
    fa[best.role] = addShares(fa[best.role] ?? EMPTY_SHARES, agent.free)
    byFramework.set(best.fid, fa)
    byRole.set(best.role, addShares(byRole.get(best.role) ?? EMPTY_SHARES, agent.free))
  }
  return out
}
