// `dromos app deploy`'s file: reading it, telling an app from an array of apps and a group,
// sending it as a create or an update, and pointing each error at its line in the file.
import { readFileSync } from 'node:fs'
import type { DeploymentResult, MarathonApp, MarathonClient } from '../api/marathon-client.js'
import { MarathonApiError } from '../api/marathon-client.js'
import { locateDetailPath } from './json-source.js'
import { CliError, ExitCode } from './format.js'

/** An app id as dromos apps writes it: absolute, without empty segments. */
export const normalizeId = (id: string): string => `/${id.split('/').filter(Boolean).join('/')}`

export type Definition =
  | { readonly kind: 'app'; readonly body: Record<string, unknown>; readonly id: string | undefined }
  | { readonly kind: 'apps'; readonly body: unknown[]; readonly ids: string[] }
  | { readonly kind: 'group'; readonly body: Record<string, unknown>; readonly id: string; readonly ids: string[] }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function readDefinitionText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (e) {
    throw new CliError(ExitCode.Usage, `cannot read ${file === '-' ? 'stdin' : file}: ${(e as Error).message}`)
  }
}

export function classifyDefinition(raw: unknown): Definition {
  if (Array.isArray(raw)) {
    return { kind: 'apps', body: raw, ids: raw.flatMap((a) => (isObject(a) && typeof a.id === 'string' ? [normalizeId(a.id)] : [])) }
  }
  if (!isObject(raw)) throw new CliError(ExitCode.Usage, 'expected a JSON object (an app or a group with "apps") or an array of apps')
  const looksLikeGroup = (Array.isArray(raw.apps) || Array.isArray(raw.groups)) && raw.cmd === undefined && raw.args === undefined && raw.container === undefined
  if (looksLikeGroup) {
    const id = typeof raw.id === 'string' ? normalizeId(raw.id) : '/'
    return { kind: 'group', body: raw, id, ids: groupAppIds(raw, id) }
  }
  return { kind: 'app', body: raw, id: typeof raw.id === 'string' && raw.id.trim() !== '' ? normalizeId(raw.id) : undefined }
}

/** App ids in a group definition; relative ids are relative to their group. */
function groupAppIds(group: Record<string, unknown>, groupId: string): string[] {
  const resolve = (id: string, base: string): string => (id.startsWith('/') ? normalizeId(id) : normalizeId(`${base}/${id}`))
  const ids: string[] = []
  for (const a of Array.isArray(group.apps) ? group.apps : []) if (isObject(a) && typeof a.id === 'string') ids.push(resolve(a.id, groupId))
  for (const g of Array.isArray(group.groups) ? group.groups : []) {
    if (isObject(g) && typeof g.id === 'string') ids.push(...groupAppIds(g, resolve(g.id, groupId)))
  }
  return ids
}

async function existingApp(client: MarathonClient, id: string): Promise<MarathonApp | undefined> {
  try {
    return await client.getApp(id)
  } catch (e) {
    if (e instanceof MarathonApiError && e.status === 404) return undefined
    throw e
  }
}

async function groupExists(client: MarathonClient, id: string): Promise<boolean> {
  try {
    await client.getGroup(id)
    return true
  } catch (e) {
    if (e instanceof MarathonApiError && e.status === 404) return false
    throw e
  }
}

/** Creates the app, or replaces the definition of the one there. */
export async function sendDefinition(client: MarathonClient, { def, force }: { def: Definition; force: boolean }): Promise<{ deploymentId: string; appIds?: readonly string[] }> {
  const fromResult = (r: DeploymentResult) => ({ deploymentId: r.deploymentId })
  switch (def.kind) {
    case 'apps':
      return fromResult(await client.putApps(def.body, { force, partial: false }))
    case 'group':
      return fromResult((await groupExists(client, def.id)) ? await client.updateGroup(def.id, def.body, { force }) : await client.createGroup(def.body, { force }))
    case 'app': {
      if (def.id === undefined || !(await existingApp(client, def.id))) {
        try {
          const created = await client.createApp(def.body, { force })
          const deploymentId = created.deployments[0]?.id
          if (!deploymentId) throw new CliError(ExitCode.Failed, `dromos apps created ${created.id} but named no deployment`)
          return { deploymentId, appIds: [created.id] }
        } catch (e) {
          // Created by someone else since we looked: update it instead.
          if (!(e instanceof MarathonApiError && e.status === 409 && !e.locked && def.id !== undefined)) throw e
        }
      }
      return fromResult(await client.updateApp(def.id!, def.body, { force, partial: false }))
    }
  }
}

/** The server's 400/422 details as `file:line:column: path: error`, one line each, every one of them. */
export function locateInvalid(e: unknown, source: { text: string; name: string }): unknown {
  if (!(e instanceof MarathonApiError) || (e.status !== 400 && e.status !== 422)) return e
  const lines = (e.body.details ?? []).flatMap((d) => {
    const at = locateDetailPath(source.text, d.path)
    const where = at ? `${source.name}:${at.line}:${at.column}: ` : `${source.name}: `
    return (d.errors.length > 0 ? d.errors : ['invalid']).map((err) => `${where}${d.path}: ${err}`)
  })
  return new CliError(ExitCode.Usage, `${source.name}: ${e.body.message || 'invalid definition'}`, lines)
}
