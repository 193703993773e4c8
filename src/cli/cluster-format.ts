// Pure text for the cluster commands (status, agent list, framework list, queue, group): the
// master's /master/state and the apps' /v2 answers in, table rows and summary lines out.
import type { MarathonApp, MarathonDeployment, MarathonGroup, QueueItem } from '../api/marathon-client.js'
import type { MasterState, V0Framework, V0Resources } from '../api/mesos-client.js'
import { agentUrlFromPid } from '../api/mesos-client.js'
import { age, formatNumber, waitingReason } from './format.js'

const scalar = (r: V0Resources, name: string): number => {
  const v = r[name]
  return typeof v === 'number' ? v : 0
}

/** "0.3/4": used of total; mem and disk are in MB, as Mesos counts them. */
export function usedOf(used: V0Resources, total: V0Resources, name: string): string {
  return `${formatNumber(scalar(used, name))}/${formatNumber(scalar(total, name))}`
}

const fromSeconds = (s: number | undefined): string | undefined => (s === undefined || s <= 0 ? undefined : new Date(s * 1000).toISOString())

function liveTasksByAgent(state: MasterState): Map<string, number> {
  const counts = new Map<string, number>()
  for (const f of state.frameworks) for (const t of f.tasks) counts.set(t.slave_id, (counts.get(t.slave_id) ?? 0) + 1)
  return counts
}

export const AGENT_HEADER = ['ID', 'HOSTNAME', 'ADDRESS', 'CPUS', 'MEM', 'DISK', 'TASKS', 'ATTRIBUTES', 'REGISTERED'] as const
export function agentRows(state: MasterState, nowMs: number): string[][] {
  const tasks = liveTasksByAgent(state)
  return [...state.slaves]
    .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id))
    .map((a) => [
      a.id,
      a.hostname || '-',
      (agentUrlFromPid(a.pid) ?? '-').replace(/^http:\/\//, ''),
      usedOf(a.used_resources, a.resources, 'cpus'),
      usedOf(a.used_resources, a.resources, 'mem'),
      usedOf(a.used_resources, a.resources, 'disk'),
      String(tasks.get(a.id) ?? 0),
      Object.entries(a.attributes).map(([k, v]) => `${k}:${v}`).join(';') || '-',
      age(fromSeconds(a.registered_time), nowMs),
    ])
}

export const FRAMEWORK_HEADER = ['ID', 'NAME', 'ACTIVE', 'ROLES', 'TASKS', 'CPUS', 'MEM', 'REGISTERED'] as const
export function frameworkRows(state: MasterState, nowMs: number): string[][] {
  const row = (f: V0Framework, active: boolean): string[] => [
    f.id,
    f.name || '-',
    active ? 'yes' : 'no',
    (f.roles ?? (f.role ? [f.role] : [])).join(',') || '*',
    String(f.tasks.length),
    formatNumber(scalar(f.used_resources, 'cpus')),
    formatNumber(scalar(f.used_resources, 'mem')),
    age(fromSeconds(f.registered_time), nowMs),
  ]
  return [...state.frameworks.map((f) => row(f, f.active)), ...state.completed_frameworks.map((f) => row(f, false))]
}

export const QUEUE_HEADER = ['APP', 'TO LAUNCH', 'WAITING', 'WHY'] as const
export function queueRows(queue: readonly QueueItem[], nowMs: number): string[][] {
  return queue.map((q) => [q.app.id, String(q.count), q.since ? age(q.since, nowMs).replace(/ ago$/, '') : '-', waitingReason(q).replace(/^\d+ to launch(; )?/, '') || '-'])
}

/** Every group below (and with) `root`, depth first, in id order. */
export function flattenGroups(root: MarathonGroup): MarathonGroup[] {
  const out: MarathonGroup[] = []
  const walk = (g: MarathonGroup): void => {
    out.push(g)
    for (const child of [...g.groups].sort((a, b) => a.id.localeCompare(b.id))) walk(child)
  }
  walk(root)
  return out
}

export const GROUP_HEADER = ['ID', 'APPS', 'GROUPS', 'INSTANCES', 'DEPENDENCIES', 'VERSION'] as const
export function groupRows(root: MarathonGroup): string[][] {
  return flattenGroups(root).map((g) => {
    const below = flattenGroups(g)
    const apps = below.flatMap((x) => x.apps)
    return [
      g.id,
      `${g.apps.length}${apps.length > g.apps.length ? ` (${apps.length} in all)` : ''}`,
      String(g.groups.length),
      String(apps.reduce((n, a) => n + (a.instances ?? 1), 0)),
      (g.dependencies ?? []).join(',') || '-',
      typeof g.version === 'string' ? g.version : '-',
    ]
  })
}

export interface StatusInput {
  readonly masterUrl: string
  /** The master's state, or why it could not be read. */
  readonly master: { readonly state: MasterState } | { readonly error: string }
  readonly appsUrl: string
  readonly apps: { readonly apps: readonly MarathonApp[]; readonly deployments: readonly MarathonDeployment[]; readonly queue: readonly QueueItem[] } | { readonly error: string }
  readonly nowMs: number
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** `dromos status`: one line per part of the cluster, as label and text. */
export function statusRows(s: StatusInput): Array<[string, string]> {
  const rows: Array<[string, string]> = []
  if ('error' in s.master) {
    rows.push(['MASTER', s.master.error])
  } else {
    const m = s.master.state
    const leading = m.leader !== '' && m.leader === m.pid
    const up = age(fromSeconds(m.start_time), s.nowMs).replace(/ ago$/, '')
    rows.push(['MASTER', `${s.masterUrl}: ${leading ? 'leader' : m.leader ? `not the leader (leader: ${m.leader})` : 'no leader'}, version ${m.version || '?'}, up ${up}`])
    const total: V0Resources = {}
    const used: V0Resources = {}
    for (const a of m.slaves) {
      for (const k of ['cpus', 'mem', 'disk']) {
        total[k] = scalar(total, k) + scalar(a.resources, k)
        used[k] = scalar(used, k) + scalar(a.used_resources, k)
      }
    }
    const unreachable = m.unreachable_slaves > 0 ? `, ${m.unreachable_slaves} unreachable` : ''
    rows.push(['AGENTS', `${m.slaves.length} active${unreachable}; used cpus ${usedOf(used, total, 'cpus')}, mem ${usedOf(used, total, 'mem')} MB, disk ${usedOf(used, total, 'disk')} MB`])
    const active = m.frameworks.filter((f) => f.active)
    const names = m.frameworks.map((f) => `${f.name || f.id} (${plural(f.tasks.length, 'task')}${f.active ? '' : ', disconnected'})`)
    rows.push(['FRAMEWORKS', `${active.length} active${m.frameworks.length > active.length ? `, ${m.frameworks.length - active.length} disconnected` : ''}${names.length > 0 ? `: ${names.join(', ')}` : ''}`])
  }
  if ('error' in s.apps) {
    rows.push(['APPS', s.apps.error])
  } else {
    const { apps, deployments, queue } = s.apps
    const target = apps.reduce((n, a) => n + a.instances, 0)
    const running = apps.reduce((n, a) => n + a.tasksRunning, 0)
    const checked = apps.filter((a) => a.healthChecks.length > 0)
    const parts = [`${plural(apps.length, 'app')} at ${s.appsUrl}`, `${running}/${target} instances running`]
    if (checked.length > 0) parts.push(`${checked.reduce((n, a) => n + a.tasksHealthy, 0)}/${checked.reduce((n, a) => n + a.instances, 0)} healthy`)
    const waiting = queue.filter((q) => q.count > 0)
    if (waiting.length > 0) parts.push(`${plural(waiting.length, 'app')} waiting for offers (dromos queue)`)
    rows.push(['APPS', parts.join(', ')])
    rows.push([
      'DEPLOYMENTS',
      deployments.length === 0
        ? 'none'
        : deployments.map((d) => `${d.id} ${d.affectedApps.join(',')} step ${d.currentStep}/${d.totalSteps}${d.currentActions.length > 0 ? ` ${d.currentActions.map((a) => a.action).join(',')}` : ''}`).join('; '),
    ])
  }
  return rows
}

/** Label/value lines, the labels padded to one width. */
export function keyValues(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n'
}

