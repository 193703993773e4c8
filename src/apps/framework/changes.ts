// Changes from the API: deploying a change (new versions, service ports, the plan and its
// deployment), killing chosen instances (and scaling their apps down), cancelling a
// deployment, and resetting an app's launch delay. A change to an app a deployment locks is
// refused unless forced.
import { NotFoundError } from '../../core/errors.js'
import { newUuid } from '../../core/ids.js'
import { AppLockedError, AppValidationError } from '../errors.js'
import type { GroupSpec } from '../groups.js'
import { dependencyOrder } from '../groups.js'
import { configDiffers, healthChecksDiffer, planDeployment } from '../plan.js'
import { assignServicePorts, servicePortConflicts } from '../service-ports.js'
import type { DeploymentRecord } from '../state.js'
import type { AppDefinition, Instance } from '../types.js'
import type { FrameworkContext } from './context.js'
import { nowIso } from './context.js'
import type { Kills } from './kills.js'
import { planJson, stepJson } from './publish.js'

export interface DeployChange {
  readonly put: readonly AppDefinition[]
  readonly remove: readonly string[]
  readonly restart?: readonly string[]
  /** Groups (and their dependencies) to store, from /v2/groups. */
  readonly putGroups?: readonly GroupSpec[]
  readonly removeGroups?: readonly string[]
  /** The group Marathon names in group_change_success: the parent of the app or group changed; '/' when absent. */
  readonly groupId?: string
}

export interface KillSelection {
  readonly scale: boolean
  readonly wipe: boolean
  readonly force: boolean
}

export interface Changes {
  /** Stores the change and starts the deployment that carries it out. */
  deploy(change: DeployChange, opts: { force: boolean }): Promise<DeploymentRecord>
  killInstances(instanceIds: readonly string[], opts: KillSelection): Promise<{ killed: Instance[]; deployment?: DeploymentRecord }>
  cancelDeployment(id: string, force: boolean): Promise<DeploymentRecord | undefined>
  resetDelay(appId: string): Promise<boolean>
}

export function createChanges(ctx: FrameworkContext, deps: { kills: Kills; stopChecks: (instanceId: string) => void; restartHealthChecks: (appId: string) => void }): Changes {
  const { state, events, log } = ctx
  const { kills, stopChecks } = deps
  let lastVersion = ''

  /** Versions are timestamps; two changes in one millisecond still get distinct versions. */
  function nextVersion(): string {
    let v = nowIso(ctx)
    if (v <= lastVersion) v = new Date(Date.parse(lastVersion) + 1).toISOString()
    lastVersion = v
    return v
  }

  /** The deployments that lock any of the apps; without force, a change to them is refused. */
  function lockingDeployments(appIds: readonly string[]): DeploymentRecord[] {
    return [...state.deployments.values()].filter((d) => d.affectedApps.some((id) => appIds.includes(id)))
  }

  /** Marathon's DeploymentCanceledException, whose message its deployment_failed carries. */
  const CANCELLED = 'The upgrade has been cancelled'

  async function deploy(change: DeployChange, dopts: { force: boolean }): Promise<DeploymentRecord> {
    const affected = [...new Set([...change.put.map((a) => a.id), ...change.remove, ...(change.restart ?? [])])]
    // A change that is refused changes nothing: it is checked before a forced change cancels anything.
    for (const id of change.remove) if (!state.apps.has(id)) throw new NotFoundError(`App '${id}' does not exist`)
    const ports = { put: change.put, current: state.apps, removed: change.remove }
    const conflicts = servicePortConflicts(ports)
    if (conflicts.length > 0) throw new AppValidationError(conflicts)
    const locking = lockingDeployments(affected)
    const version = nextVersion()
    const current = new Map(state.apps)
    const restart = new Set(change.restart ?? [])
    const versioned = assignServicePorts(ports).map((a) => {
      const before = current.get(a.id)
      const configChanged = !before || restart.has(a.id) || configDiffers(before, a)
      return {
        ...a,
        version,
        versionInfo: {
          lastScalingAt: version,
          lastConfigChangeAt: configChanged ? version : (before?.versionInfo.lastConfigChangeAt ?? version),
        },
      }
    })
    for (const id of restart) {
      if (versioned.some((a) => a.id === id)) continue
      const before = current.get(id)
      if (!before) throw new NotFoundError(`App '${id}' does not exist`)
      versioned.push({ ...before, version, versionInfo: { lastScalingAt: version, lastConfigChangeAt: version } })
    }
    const withPorts = versioned
    const target = new Map(current)
    for (const a of withPorts) target.set(a.id, a)
    for (const id of change.remove) target.delete(id)
    const groups = new Map(state.groups)
    for (const id of change.removeGroups ?? []) groups.delete(id)
    for (const g of change.putGroups ?? []) groups.set(g.id, g)
    // Throws Marathon's 422 when the change closes a dependency cycle. A group's dependencies
    // hold for every app in it.
    const levels = dependencyOrder([...new Map([...current, ...target]).values()], [...groups.values()])
    const plan = planDeployment({ id: newUuid(), version, current, target, affected, levels, restart: [...restart] })
    if (locking.length > 0 && !dopts.force) {
      // Marathon plans the change and its DeploymentManager refuses the plan, which it publishes
      // as failed with the AppLockedException's message, and its GroupManager the change as
      // failed with the same. A change that cannot be planned is a 422.
      const locked = new AppLockedError(affected, locking.map((d) => d.id))
      events.publish('deployment_failed', { id: plan.id, plan: planJson(plan), reason: locked.message })
      events.publish('group_change_failed', { groupId: change.groupId ?? '/', version, reason: locked.message })
      throw locked
    }
    // A forced change cancels the deployments in its way, as Marathon's DeploymentManager does.
    for (const d of locking) {
      await state.apply({ type: 'deployment-removed', deploymentId: d.id })
      events.publish('deployment_failed', { id: d.id, plan: planJson(d), reason: CANCELLED })
    }
    const record: DeploymentRecord = { ...plan, currentStep: 0, startedAt: nowIso(ctx) }
    for (const a of withPorts) await state.apply({ type: 'app-put', app: a })
    // Health checks changed without a restart: the running instances take them up at once.
    for (const a of withPorts) {
      const before = current.get(a.id)
      if (before && before.versionInfo.lastConfigChangeAt === a.versionInfo.lastConfigChangeAt && healthChecksDiffer(before, a)) deps.restartHealthChecks(a.id)
    }
    for (const id of change.remove) await state.apply({ type: 'app-removed', appId: id })
    for (const id of change.removeGroups ?? []) await state.apply({ type: 'group-removed', groupId: id })
    for (const g of change.putGroups ?? []) await state.apply({ type: 'group-put', group: g })
    await state.apply({ type: 'deployment-put', deployment: record })
    events.publish('group_change_success', { groupId: change.groupId ?? '/', version })
    if (record.steps[0]) events.publish('deployment_info', { plan: planJson(record), currentStep: stepJson(record.steps[0]) })
    log.info({ deploymentId: record.id, steps: record.steps.length, apps: affected }, 'deployment started')
    ctx.tickSoon()
    return record
  }

  async function killInstances(ids: readonly string[], kopts: KillSelection): Promise<{ killed: Instance[]; deployment?: DeploymentRecord }> {
    const killed = ids.flatMap((id) => {
      const i = state.instances.get(id) ?? state.byTaskId(id)
      return i ? [i] : []
    })
    let deployment: DeploymentRecord | undefined
    if (kopts.scale) {
      const byApp = new Map<string, number>()
      for (const i of killed) byApp.set(i.appId, (byApp.get(i.appId) ?? 0) + 1)
      const put: AppDefinition[] = []
      for (const [appId, n] of byApp) {
        const app = state.apps.get(appId)
        if (app) put.push({ ...app, instances: Math.max(0, app.instances - n) })
      }
      // A locked app is refused before anything changes: a 409 must not kill the instances. The
      // deploy refuses it (publishing the refused plan) before its first await, so in the state
      // seen here.
      if (!kopts.force && lockingDeployments(put.map((a) => a.id)).length > 0) await deploy({ put, remove: [] }, { force: false })
      // Mark first, so the scale-down kills exactly these instances.
      for (const i of killed) await state.apply({ type: 'instance-put', instance: { ...i, goal: 'Decommissioned' } })
      if (put.length > 0) deployment = await deploy({ put, remove: [] }, { force: kopts.force })
    }
    for (const i of killed) {
      await kills.killInstance(i, 'Decommissioned')
      if (kopts.wipe) {
        stopChecks(i.instanceId)
        await state.apply({ type: 'instance-removed', instanceId: i.instanceId })
      }
    }
    ctx.tickSoon()
    return deployment ? { killed, deployment } : { killed }
  }

  async function cancelDeployment(id: string, force: boolean): Promise<DeploymentRecord | undefined> {
    const d = state.deployments.get(id)
    if (!d) throw new NotFoundError(`DeploymentPlan ${id} does not exist`)
    if (force) {
      await state.apply({ type: 'deployment-removed', deploymentId: id })
      events.publish('deployment_failed', { id, plan: planJson(d), reason: CANCELLED })
      ctx.tickSoon()
      return undefined
    }
    const put = Object.values(d.original).flatMap((a) => (a ? [a] : []))
    const remove = Object.entries(d.original).flatMap(([appId, a]) => (a === null && state.apps.has(appId) ? [appId] : []))
    // Marathon rolls back with a forced deployment of the original state, which cancels this
    // one as any forced change would: one deployment_failed, from the forced deploy.
    const rollback = await deploy({ put, remove }, { force: true })
    if (state.deployments.has(id)) {
      await state.apply({ type: 'deployment-removed', deploymentId: id })
      events.publish('deployment_failed', { id, plan: planJson(d), reason: CANCELLED })
    }
    return rollback
  }

  async function resetDelay(appId: string): Promise<boolean> {
    if (!state.delays.has(appId)) return false
    await state.apply({ type: 'delay-removed', appId })
    ctx.tickSoon()
    return true
  }

  return { deploy, killInstances, cancelDeployment, resetDelay }
}
