// The master's read-only v0 endpoints for operators beyond the state: `/master/roles`,
// `/master/maintenance/schedule`, `/master/maintenance/status` and `/master/flags`, laid out as
// the Mesos 1.x master writes them (src/master/readonly_handler.cpp, src/master/http.cpp).
import type { Master } from './types.js'
import type { Router } from '../api/http.js'
import { sendJson } from '../api/http.js'
import type { Resources } from '../core/resources.js'
import { add, EMPTY, rangeSize } from '../core/resources.js'
import { isTerminal } from '../core/task-state.js'

/** Mesos' DEFAULT_WEIGHT for a role without a configured weight. */
const DEFAULT_ROLE_WEIGHT = 1

/** A ResourceQuantities as Mesos writes it: `{name: amount}`, ranges counted, zeros left out, by name. */
export function quantitiesJson(r: Resources): Record<string, number> {
  const amounts = new Map<string, number>()
  for (const [name, v] of Object.entries(r.scalars)) if (v !== 0) amounts.set(name, v)
  for (const [name, ranges] of Object.entries(r.ranges)) {
    const n = rangeSize(ranges)
    if (n !== 0) amounts.set(name, n)
  }
  return Object.fromEntries([...amounts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** "a/b/c" → ["a/b", "a"]. */
export function roleAncestors(role: string): string[] {
  const out: string[] = []
  for (let i = role.lastIndexOf('/'); i > 0; i = role.lastIndexOf('/', i - 1)) out.push(role.slice(0, i))
  return out
}

const inSubtree = (role: string, root: string): boolean => role === root || role.startsWith(`${root}/`)

export interface RolesInput {
  readonly weights: Readonly<Record<string, number>>
  readonly frameworks: ReadonlyArray<{ readonly id: string; readonly roles: readonly string[] }>
  readonly tasks: ReadonlyArray<{ readonly frameworkId: string; readonly role: string; readonly state: string; readonly latestState?: string | undefined; readonly resources: Resources }>
  readonly offers: ReadonlyArray<{ readonly frameworkId: string; readonly role: string; readonly resources: Resources }>
}

/**
 * The `roles` array of `/master/roles`. Known roles are those of subscribed frameworks or of
 * allocations, those with a weight, and all their ancestors, in name order, as Mesos'
 * `knownRoles()`. Amounts cover a role's whole subtree. dromos has neither reservations nor
 * quota: `reserved`, `quota.guarantee` and `quota.limit` are empty and quota consumed is what
 * is allocated.
 */
export function buildRoles(input: RolesInput): Array<Record<string, unknown>> {
  const live = input.tasks.filter((t) => !isTerminal(t.latestState ?? t.state) && t.state !== 'TASK_UNREACHABLE')
  const direct = new Set<string>([...input.frameworks.flatMap((f) => f.roles), ...live.map((t) => t.role), ...input.offers.map((o) => o.role)])
  const known = new Set<string>()
  for (const role of [...direct, ...Object.keys(input.weights)]) {
    known.add(role)
    for (const a of roleAncestors(role)) known.add(a)
  }
  const sum = (items: ReadonlyArray<{ role: string; resources: Resources }>, root: string): Resources =>
    items.filter((x) => inSubtree(x.role, root)).reduce<Resources>((acc, x) => add(acc, x.resources), EMPTY)
  return [...known].sort().map((name) => {
    const allocated = sum(live, name)
    const offered = sum(input.offers, name)
    // Frameworks are listed under the roles they subscribed to or hold allocations in, as Mesos' Role::frameworks.
    const frameworkIds = new Set<string>([
      ...input.frameworks.filter((f) => f.roles.includes(name)).map((f) => f.id),
      ...live.filter((t) => t.role === name).map((t) => t.frameworkId),
      ...input.offers.filter((o) => o.role === name).map((o) => o.frameworkId),
    ])
    return {
      name,
      weight: input.weights[name] ?? DEFAULT_ROLE_WEIGHT,
      quota: { role: name, guarantee: {}, limit: {}, consumed: quantitiesJson(allocated) },
      resources: quantitiesJson(add(allocated, offered)),
      allocated: quantitiesJson(allocated),
      offered: quantitiesJson(offered),
      reserved: {},
      frameworks: [...frameworkIds],
    }
  })
}

export function rolesOf(master: Master): Array<Record<string, unknown>> {
  return buildRoles({
    weights: master.opts.roleWeights,
    frameworks: [...master.frameworks.values()],
    tasks: [...master.tasks.values()],
    offers: [...master.offers.values()],
  })
}

export function registerOperatorEndpoints(router: Router, master: Master): void {
  const roles = () => ({ roles: rolesOf(master) })
  const flags = () => ({ flags: master.opts.flags })
  // No maintenance windows can be scheduled in dromos: an empty Schedule and ClusterStatus,
  // which Mesos writes as `{}` (protobuf JSON leaves empty repeated fields out).
  const emptyMessage = () => ({})
  const endpoints: ReadonlyArray<[string, () => unknown]> = [
    ['/master/roles', roles],
    ['/roles', roles],
    ['/master/roles.json', roles],
    ['/roles.json', roles],
    ['/master/maintenance/schedule', emptyMessage],
    ['/maintenance/schedule', emptyMessage],
    ['/master/maintenance/status', emptyMessage],
    ['/maintenance/status', emptyMessage],
    ['/master/flags', flags],
    ['/flags', flags],
  ]
  for (const [path, body] of endpoints) router.on('GET', path, (ctx) => sendJson(ctx.res, 200, body()))
}
