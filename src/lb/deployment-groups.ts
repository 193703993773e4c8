// marathon-lb's blue/green deployment groups: the two colours of an app (two Marathon apps with
// the same HAPROXY_DEPLOYMENT_GROUP) are served as one app, named by the group, in one backend,
// so that traffic moves from one colour to the other without a new frontend. As each new
// instance becomes healthy, one old instance is marked draining, as long as the two together
// keep the deployment's target of instances.
import type { LbApp, LbTask } from './routes.js'

export const DeploymentLabel = {
  group: 'HAPROXY_DEPLOYMENT_GROUP',
  altPort: 'HAPROXY_DEPLOYMENT_ALT_PORT',
  colour: 'HAPROXY_DEPLOYMENT_COLOUR',
  startedAt: 'HAPROXY_DEPLOYMENT_STARTED_AT',
  targetInstances: 'HAPROXY_DEPLOYMENT_TARGET_INSTANCES',
  /** A hybrid deployment's share of the new colour: the instances it ends with beside the old. */
  newInstances: 'HAPROXY_DEPLOYMENT_NEW_INSTANCES',
} as const

/** The deployment group an app belongs to, as an app id (a leading '/' added), if any. */
export function deploymentGroupOf(app: { labels?: Record<string, string> }): string | undefined {
  const group = app.labels?.[DeploymentLabel.group]
  if (!group) return undefined
  return group.startsWith('/') ? group : `/${group}`
}

/**
 * The apps with each deployment group's colours merged into one app whose id is the group: the
 * older colour's definition (by HAPROXY_DEPLOYMENT_STARTED_AT) with both colours' tasks. `healthy`
 * says whether a task of the newer colour takes traffic.
 */
export function mergeDeploymentGroups(apps: readonly LbApp[], healthy: (app: LbApp, task: LbTask) => boolean): LbApp[] {
  const out: LbApp[] = []
  const groups = new Map<string, LbApp[]>()
  for (const app of apps) {
    const group = deploymentGroupOf(app)
    if (group === undefined) out.push(app)
    else groups.set(group, [...(groups.get(group) ?? []), app])
  }
  for (const [group, members] of groups) {
    const byStart = [...members].sort(byDeploymentStart)
    const old = byStart[0]!
    const next = byStart[byStart.length - 1]!
    if (old === next) {
      out.push({ ...old, id: group })
      continue
    }
    const target = Number(next.labels?.[DeploymentLabel.targetInstances]) || (old.instances ?? 0)
    const healthyNew = (next.tasks ?? []).filter((t) => healthy(next, t)).length
    const drainable = Math.max(0, healthyNew + (old.instances ?? 0) - target)
    // Always the same old tasks first, so that a task once marked stays marked. Only running
    // ones: a task being killed already drains, and already left the old colour's instances.
    const oldTasks = [...(old.tasks ?? [])].sort((a, b) => a.id.localeCompare(b.id))
    const running = oldTasks.filter((t) => t.state === 'TASK_RUNNING')
    const marked = new Set(running.slice(0, Math.min(running.length, healthyNew, drainable)).map((t) => t.id))
    out.push({
      ...old,
      id: group,
      instances: (old.instances ?? 0) + (next.instances ?? 0),
      tasks: [...oldTasks.map((t) => (marked.has(t.id) ? { ...t, drain: true } : t)), ...(next.tasks ?? [])],
      deployments: [...(old.deployments ?? []), ...(next.deployments ?? [])],
      readinessCheckResults: [...(old.readinessCheckResults ?? []), ...(next.readinessCheckResults ?? [])],
    })
  }
  return out
}

/** Colours in the order they were deployed (HAPROXY_DEPLOYMENT_STARTED_AT), the old colour first. */
export function byDeploymentStart(a: { id: string; labels?: Record<string, string> }, b: { id: string; labels?: Record<string, string> }): number {
  const startedAt = (app: { labels?: Record<string, string> }): string => app.labels?.[DeploymentLabel.startedAt] ?? ''
  return startedAt(a).localeCompare(startedAt(b)) || a.id.localeCompare(b.id)
}
