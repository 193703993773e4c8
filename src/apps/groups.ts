// App groups: parsing a /v2/groups body into its apps and groups (ids relative to their
// group), and the dependency order a deployment follows.
import { dropNulls, isJsonObject } from '../api/marathon.js'
import type { ValidationDetail } from './errors.js'
import { AppValidationError } from './errors.js'
import { canonicalSegments, parentId, parseAppId, pathIdErrors } from './ids.js'
import { normalizeAppInto } from './normalize-app.js'
import type { AppDefinition } from './types.js'
import { joinPath, Violations } from './violations.js'

/** A group of the body, flattened: its id and the dependencies it declares for all its apps. */
export interface GroupSpec {
  id: string
  dependencies: string[]
}

export interface NormalizeGroupOptions {
  now: string
  /** The group the body's relative ids resolve against (PUT /v2/groups/{id} passes that id); default `/`. */
  base?: string
  /** The current apps (or a lookup), so versionInfo carries over. */
  existing?: ReadonlyMap<string, AppDefinition> | ((appId: string) => AppDefinition | undefined)
}

export type NormalizeGroupResult =
  | {
      ok: true
      /** The (top) group the body names. */
      groupId: string
      /** Every app of the tree, with absolute ids. */
      apps: AppDefinition[]
      /** Every group of the tree, the top group first. */
      groups: GroupSpec[]
      /** `{scaleBy: f}`: scale every app of the group by f (the body holds nothing else). */
      scaleBy?: number
      /** `{version: v}`: roll the group back to version v (the body holds nothing else). */
      version?: string
    }
  | { ok: false; details: ValidationDetail[] }

export const CYCLIC_DEPENDENCIES = 'Dependency graph has cyclic dependencies.'

/**
 * Parses a /v2/groups body (`{id, apps, groups, dependencies}`, nested). App ids and
 * dependencies are relative to their group; each app must sit directly in its group.
 * Returns every app and group of the tree, flattened, the top group first.
 */
export function normalizeGroup(raw: unknown, opts: NormalizeGroupOptions): NormalizeGroupResult {
  const v = new Violations()
  const apps: AppDefinition[] = []
  const groups: GroupSpec[] = []
  const base = parseAppId(opts.base ?? '/')
  const lookup = opts.existing
  const existing = lookup === undefined ? undefined : typeof lookup === 'function' ? lookup : (appId: string) => lookup.get(appId)
  const groupId = walkGroup(raw, { parent: undefined, base, prefix: '', now: opts.now, existing }, v, apps, groups)

  // Rollback and scaling bodies stand alone (Marathon's theOnlyDefinedOptionIn).
  let scaleBy: number | undefined
  let version: string | undefined
  if (isJsonObject(raw)) {
    const others = ['apps', 'groups', 'dependencies'].some((k) => raw[k] !== undefined && raw[k] !== null)
    if (raw.scaleBy !== undefined && raw.scaleBy !== null) {
      if (typeof raw.scaleBy !== 'number') v.add('/scaleBy', 'error.expected.jsnumber')
      else if (!(raw.scaleBy >= 0)) v.add('/scaleBy', 'must be greater than or equal to 0')
      else scaleBy = raw.scaleBy
      if (others || (raw.version !== undefined && raw.version !== null)) v.add('/scaleBy', 'not allowed in conjunction with other properties.')
    }
    if (raw.version !== undefined && raw.version !== null) {
      if (typeof raw.version !== 'string') v.add('/version', 'error.expected.jsstring')
      else version = raw.version
      if (others) v.add('/version', 'not allowed in conjunction with other properties.')
    }
  }

  if (v.empty && groupId !== undefined) {
    try {
      dependencyOrder(apps, groups)
    } catch (e) {
      if (!(e instanceof AppValidationError)) throw e
      v.addAll(e.details)
    }
  }
  if (!v.empty || groupId === undefined) return { ok: false, details: v.details() }
  return { ok: true, groupId, apps, groups, ...(scaleBy !== undefined ? { scaleBy } : {}), ...(version !== undefined ? { version } : {}) }
}

interface WalkContext {
  parent: string | undefined
  base: string
  prefix: string
  now: string
  existing: ((appId: string) => AppDefinition | undefined) | undefined
}

function walkGroup(raw: unknown, ctx: WalkContext, v: Violations, apps: AppDefinition[], groups: GroupSpec[]): string | undefined {
  const at = (p: string) => joinPath(ctx.prefix, p)
  if (!isJsonObject(raw)) {
    v.add(at('/'), 'error.expected.jsobject')
    return undefined
  }
  const g = dropNulls(raw) as Record<string, unknown>

  let gid: string
  if (g.id === undefined) {
    if (ctx.parent !== undefined) {
      v.add(at('/id'), 'error.path.missing')
      return undefined
    }
    gid = ctx.base
  } else if (typeof g.id !== 'string') {
    v.add(at('/id'), 'error.expected.jsstring')
    return undefined
  } else {
    const segs = canonicalSegments(g.id, ctx.parent ?? ctx.base)
    gid = '/' + segs.join('/')
    for (const e of pathIdErrors(segs, ctx.parent !== undefined)) v.add(at('/id'), e)
    if (ctx.parent !== undefined && parentId(gid) !== ctx.parent) v.add(at('/id'), `Identifier is not child of '${ctx.parent}'`)
  }

  const dependencies: string[] = []
  if (g.dependencies !== undefined) {
    if (!Array.isArray(g.dependencies)) v.add(at('/dependencies'), 'error.expected.jsarray')
    else
      g.dependencies.forEach((d: unknown, i) => {
        if (typeof d !== 'string') return v.add(at(`/dependencies(${i})`), 'error.expected.jsstring')
        const segs = canonicalSegments(d, gid)
        for (const e of pathIdErrors(segs, false)) v.add(at(`/dependencies(${i})`), e)
        dependencies.push('/' + segs.join('/'))
      })
  }
  groups.push({ id: gid, dependencies })

  const appIds: string[] = []
  if (g.apps !== undefined) {
    if (!Array.isArray(g.apps)) v.add(at('/apps'), 'error.expected.jsarray')
    else
      g.apps.forEach((rawApp: unknown, i) => {
        const appPrefix = at(`/apps(${i})`)
        const appId = isJsonObject(rawApp) && typeof rawApp.id === 'string' ? parseAppId(rawApp.id, gid) : undefined
        const existing = appId !== undefined ? ctx.existing?.(appId) : undefined
        const app = normalizeAppInto(rawApp, { now: ctx.now, base: gid, ...(existing ? { existing } : {}) }, v, appPrefix)
        if (appId !== undefined && appId !== '/' && parentId(appId) !== gid) v.add(`${appPrefix}/id`, `Identifier is not child of '${gid}'`)
        if (app) {
          if (appIds.includes(app.id)) v.add(at('/apps'), 'Elements must be unique.')
          appIds.push(app.id)
          apps.push(app)
        }
      })
  }

  if (g.groups !== undefined) {
    if (!Array.isArray(g.groups)) v.add(at('/groups'), 'error.expected.jsarray')
    else
      g.groups.forEach((child: unknown, i) => {
        const childId = walkGroup(child, { ...ctx, parent: gid, prefix: at(`/groups(${i})`) }, v, apps, groups)
        if (childId !== undefined && appIds.includes(childId)) v.add(at('/'), 'Groups and Applications may not have the same identifier.')
      })
  }
  return gid
}

// ---------------------------------------------------------------------------------------------
// Dependency order

function isUnder(id: string, group: string): boolean {
  return group === '/' ? true : id === group || id.startsWith(group + '/')
}

/**
 * Deployment levels, as Marathon's DeploymentPlan orders run specs: an app's level is the length
 * of the longest dependency chain below it, so level 0 holds the apps that depend on nothing.
 * A dependency names an app, or a group (all apps below it); unknown ids are ignored. A group's
 * dependencies apply to every app below it. Throws AppValidationError (422) on a cycle.
 */
export function dependencyOrder(
  apps: ReadonlyArray<Pick<AppDefinition, 'id' | 'dependencies'>>,
  groups: readonly GroupSpec[] = [],
): string[][] {
  const ids = apps.map((a) => a.id)
  const known = new Set(ids)
  const targets = (dep: string): string[] => (known.has(dep) ? [dep] : ids.filter((id) => isUnder(id, dep)))
  const edges = new Map<string, Set<string>>(ids.map((id) => [id, new Set<string>()]))
  for (const app of apps) for (const dep of app.dependencies) for (const t of targets(dep)) edges.get(app.id)?.add(t)
  for (const g of groups) {
    const members = ids.filter((id) => isUnder(id, g.id))
    for (const dep of g.dependencies) for (const t of targets(dep)) for (const m of members) edges.get(m)?.add(t)
  }

  const depth = new Map<string, number>()
  const onStack = new Set<string>()
  const visit = (id: string): number => {
    const known = depth.get(id)
    if (known !== undefined) return known
    if (onStack.has(id)) throw new AppValidationError([{ path: '/', errors: [CYCLIC_DEPENDENCIES] }])
    onStack.add(id)
    let d = 0
    for (const t of edges.get(id) ?? []) d = Math.max(d, visit(t) + 1)
    onStack.delete(id)
    depth.set(id, d)
    return d
  }
  const levels: string[][] = []
  for (const id of ids) {
    const d = visit(id)
    while (levels.length <= d) levels.push([])
    levels[d]?.push(id)
  }
  return levels.map((l) => [...new Set(l)].sort())
}

/** Every group there is: the root, the stored groups and their parents, and each app's parent groups. */
export function existingGroupIds(storedGroupIds: Iterable<string>, appIds: Iterable<string>): Set<string> {
  const out = new Set<string>(['/'])
  for (const id of storedGroupIds) {
    const parts = id.split('/').filter(Boolean)
    for (let i = 1; i <= parts.length; i++) out.add('/' + parts.slice(0, i).join('/'))
  }
  for (const id of appIds) {
    const parts = id.split('/').filter(Boolean)
    for (let i = 1; i < parts.length; i++) out.add('/' + parts.slice(0, i).join('/'))
  }
  return out
}
