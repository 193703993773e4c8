// The JSON (and text) that the Marathon API writes of tasks, apps and deployments.
import type { RequestContext } from '../../api/http.js'
import { sendText } from '../../api/http.js'
import { appToJson } from '../app-json.js'
import type { InstanceForStats } from '../app-info.js'
import { AppEmbed, taskCounts, taskStatsByVersion } from '../app-info.js'
import { endpointsText, parseContainerNetworks } from '../endpoints-text.js'
import type { AppsFramework } from '../framework.js'
import type { DeploymentRecord } from '../state.js'
import type { AppDefinition, Instance } from '../types.js'
import { Condition } from '../types.js'

export interface HttpViews {
  /** task.raml Task: what Marathon writes of an instance, and nothing more. */
  taskJson(i: Instance): Record<string, unknown>
  /** The app's instances, without those provisioned only to be stopped. */
  liveInstances(appId: string): Instance[]
  /** app.raml AppInfo: the app with what `embed` asks for (see resolveAppEmbeds). */
  appView(app: AppDefinition, embed: ReadonlySet<AppEmbed>): Record<string, unknown>
  deploymentJson(d: DeploymentRecord): Record<string, unknown>
  /** The apps' tasks as Marathon's plain-text endpoint list (Accept: text/plain). */
  sendTasksText(ctx: RequestContext, apps: AppDefinition[]): void
}

/**
 * task.raml Task as Marathon's TaskConversion and RAML serializer write it: every array field,
 * empty or not, and an optional one only when set. The times, the version and the host ports
 * are of an active task only; of the instances dromos keeps, only one written off as
 * unreachable is not active.
 */
export function marathonTaskJson(i: Instance, extra: { healthCheckResults: unknown[]; role: string }): Record<string, unknown> {
  const active = i.condition !== Condition.UnreachableInactive
  return {
    id: i.taskId,
    appId: i.appId,
    host: i.host,
    ports: active ? i.hostPorts : [],
    servicePorts: i.servicePorts,
    slaveId: i.agentId,
    state: i.mesosState,
    ...(active ? { stagedAt: i.stagedAt } : {}),
    ...(active && i.startedAt ? { startedAt: i.startedAt } : {}),
    ...(active ? { version: i.version } : {}),
    ipAddresses: i.ipAddresses,
    localVolumes: [],
    healthCheckResults: extra.healthCheckResults,
    role: extra.role,
  }
}

export function createHttpViews({ framework: fw, now }: { framework: AppsFramework; now: () => Date }): HttpViews {
  const { state } = fw

  function taskJson(i: Instance): Record<string, unknown> {
    // Marathon 1.9+ names the role the task's resources were reserved for.
    return marathonTaskJson(i, { healthCheckResults: fw.healthResultsOf(i.instanceId), role: state.apps.get(i.appId)?.role ?? '*' })
  }

  function liveInstances(appId: string): Instance[] {
    return state.instancesOf(appId).filter((i) => i.condition !== 'Provisioned' || i.goal === 'Running')
  }

  function forStats(app: AppDefinition, i: Instance): InstanceForStats {
    const health = app.healthChecks.length > 0 && i.healthy !== undefined ? [i.healthy] : []
    return { version: i.version, condition: i.condition, health, ...(i.startedAt ? { startedAt: i.startedAt } : {}) }
  }

  function appView(app: AppDefinition, embed: ReadonlySet<AppEmbed>): Record<string, unknown> {
    const instances = liveInstances(app.id)
    const out: Record<string, unknown> = { ...appToJson(app) }
    if (embed.has(AppEmbed.Counts)) {
      const c = taskCounts(instances.map((i) => forStats(app, i)))
      Object.assign(out, { tasksStaged: c.staged, tasksRunning: c.running, tasksHealthy: c.healthy, tasksUnhealthy: c.unhealthy })
    }
    if (embed.has(AppEmbed.Deployments)) out.deployments = fw.deploymentsOf(app.id).map((d) => ({ id: d.id }))
    if (embed.has(AppEmbed.Readiness)) out.readinessCheckResults = fw.readinessResultsOf(app.id)
    if (embed.has(AppEmbed.Tasks)) out.tasks = instances.map(taskJson)
    const failure = state.lastFailures.get(app.id)
    if (embed.has(AppEmbed.LastTaskFailure) && failure) out.lastTaskFailure = failure
    // Marathon 1.9+ writes the statistics as `tasksStats`, the name its RAML gives them.
    if (embed.has(AppEmbed.TaskStats)) out.tasksStats = taskStatsByVersion(app.versionInfo, instances.map((i) => forStats(app, i)), now().getTime())
    return out
  }

  function deploymentJson(d: DeploymentRecord): Record<string, unknown> {
    const step = d.steps[d.currentStep]
    return {
      id: d.id,
      version: d.version,
      affectedApps: d.affectedApps,
      affectedPods: [],
      steps: d.steps,
      currentActions: (step?.actions ?? []).map((a) => ({ action: a.action, app: a.app, readinessCheckResults: fw.readinessResultsOf(a.app) })),
      currentStep: Math.min(d.currentStep + 1, d.steps.length),
      totalSteps: d.steps.length,
    }
  }

  function sendTasksText(ctx: RequestContext, apps: AppDefinition[]): void {
    const containerNetwork = parseContainerNetworks(ctx.url.searchParams.get('containerNetworks'))
    sendText(ctx.res, 200, endpointsText({ apps, instancesOf: (id) => state.instancesOf(id), containerNetwork }), { 'Content-Type': 'text/plain' })
  }

  return { taskJson, liveInstances, appView, deploymentJson, sendTasksText }
}
