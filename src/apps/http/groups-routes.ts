// /v2/groups: a group with its apps and subgroups, and changing or removing a group as a whole.
import type { RequestContext } from '../../api/http.js'
import { sendJson } from '../../api/http.js'
import type { AppEmbed } from '../app-info.js'
import { GroupEmbed, resolveGroupEmbeds } from '../app-info.js'
import { MarathonError } from '../errors.js'
import { existingGroupIds, normalizeGroup } from '../groups.js'
import { parentId, parseAppId } from '../ids.js'
import type { RouteContext } from './context.js'
import { deployed, embedParams, force, invalid } from './context.js'

export function registerGroupRoutes({ router, fw, opts, views, jsonBody }: RouteContext): void {
  const { state } = fw
  const { appView } = views
  const groupIds = (): Set<string> => existingGroupIds(state.groups.keys(), state.apps.keys())

  /** group.raml GroupInfo: id, dependencies and version, then what the embeds ask for. */
  function groupJson(id: string, embed: { apps: ReadonlySet<AppEmbed>; group: ReadonlySet<GroupEmbed> }): Record<string, unknown> {
    const prefix = id === '/' ? '/' : `${id}/`
    const apps = [...state.apps.values()].filter((a) => a.id.startsWith(prefix) && !a.id.slice(prefix.length).includes('/'))
    const children = [...groupIds()].filter((g) => g !== id && g.startsWith(prefix) && !g.slice(prefix.length).includes('/'))
    const versions = [...state.apps.values()].filter((a) => a.id.startsWith(prefix)).map((a) => a.version).sort()
    return {
      id,
      dependencies: [...(state.groups.get(id)?.dependencies ?? [])],
      version: versions[versions.length - 1] ?? opts.now().toISOString(),
      ...(embed.group.has(GroupEmbed.Apps) ? { apps: apps.sort((a, b) => a.id.localeCompare(b.id)).map((a) => appView(a, embed.apps)) } : {}),
      ...(embed.group.has(GroupEmbed.Groups) ? { groups: children.sort().map((g) => groupJson(g, embed)) } : {}),
      ...(embed.group.has(GroupEmbed.Pods) ? { pods: [] } : {}),
    }
  }

  const groupRoute = async (ctx: RequestContext): Promise<void> => {
    const m = ctx.req.method ?? 'GET'
    const rawId = decodeURIComponent(ctx.url.pathname.slice('/v2/groups'.length)) || '/'
    const id = parseAppId(rawId)
    const prefix = id === '/' ? '/' : `${id}/`
    if (m === 'GET') {
      if (!groupIds().has(id)) throw new MarathonError(404, `Group '${id}' does not exist`)
      return sendJson(ctx.res, 200, groupJson(id, resolveGroupEmbeds(embedParams(ctx.url))))
    }
    if (m === 'DELETE') {
      if (!groupIds().has(id)) throw new MarathonError(404, `Group '${id}' does not exist`)
      const remove = [...state.apps.keys()].filter((a) => a.startsWith(prefix))
      const removeGroups = [...state.groups.keys()].filter((g) => g === id || g.startsWith(prefix))
      const d = await fw.deploy({ put: [], remove, removeGroups, groupId: parentId(id) }, { force: force(ctx) })
      return sendJson(ctx.res, 200, deployed(d))
    }
    if (m === 'POST' || m === 'PUT') {
      const raw = await jsonBody(ctx)
      const r = normalizeGroup(raw, { now: opts.now().toISOString(), base: id, existing: state.apps })
      if (!r.ok) invalid(r.details)
      if (m === 'POST' && groupIds().has(r.groupId) && r.groupId !== '/') throw new MarathonError(409, `Group ${r.groupId} is already created. Use PUT to change this group.`)
      // Versions are kept per app, not per group: a group cannot be rolled back as a whole.
      if (r.version !== undefined) {
        throw new MarathonError(404, `Group '${r.groupId}' has no version ${r.version}: group versions are not kept; roll each app back with PUT /v2/apps/{id} and {"version": ...}`)
      }
      const inGroup = r.groupId === '/' ? '/' : `${r.groupId}/`
      // A PUT of a group replaces what the group holds: apps no longer named are removed.
      const remove = m === 'PUT' && r.apps.length > 0 ? [...state.apps.keys()].filter((a) => a.startsWith(inGroup) && !r.apps.some((x) => x.id === a)) : []
      const put = r.scaleBy !== undefined ? [...state.apps.values()].filter((a) => a.id.startsWith(inGroup)).map((a) => ({ ...a, instances: Math.ceil(a.instances * r.scaleBy!) })) : r.apps
      // The body's groups (with their dependencies) are stored; a PUT replaces the groups below it.
      const putGroups = r.scaleBy !== undefined || r.version !== undefined ? [] : r.groups
      const removeGroups =
        m === 'PUT' && putGroups.length > 0 ? [...state.groups.keys()].filter((g) => (g === r.groupId || g.startsWith(inGroup)) && !putGroups.some((x) => x.id === g)) : []
      const d = await fw.deploy({ put, remove, putGroups, removeGroups, groupId: parentId(id) }, { force: force(ctx) })
      return sendJson(ctx.res, m === 'POST' ? 201 : 200, deployed(d))
    }
    throw new MarathonError(405, `Method ${m} is not allowed on ${ctx.url.pathname}`)
  }
  for (const method of ['GET', 'PUT', 'POST', 'DELETE']) {
    router.on(method, '/v2/groups', groupRoute)
    router.onPrefix(method, '/v2/groups/', groupRoute)
  }
}
