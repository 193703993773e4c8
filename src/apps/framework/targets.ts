// The target each app is driven to: its definition, or while a deployment runs, what the
// deployment's current step has reached. Reads of the state only.
import type { AppsState } from '../state.js'
import { stepOf } from '../plan.js'
import type { AppDefinition, Instance } from '../types.js'

export function effectiveTarget(state: AppsState, appId: string): AppDefinition | null {
  const d = state.deploymentOf(appId)
  if (d) {
    const step = stepOf(d, appId)
    if (step > d.currentStep) return d.original[appId] ?? null
    return d.target[appId] ?? null
  }
  return state.apps.get(appId) ?? null
}

export function knownAppIds(state: AppsState): string[] {
  const ids = new Set<string>(state.apps.keys())
  for (const id of state.instanceAppIds()) ids.add(id)
  for (const d of state.deployments.values()) for (const id of d.affectedApps) ids.add(id)
  return [...ids].sort()
}

/** The definition an instance was started from: an older one while a restart replaces it. */
export function appOf(state: AppsState, inst: Instance): AppDefinition | undefined {
  const app = state.apps.get(inst.appId)
  if (app && app.versionInfo.lastConfigChangeAt === inst.configVersion) return app
  const original = state.deploymentOf(inst.appId)?.original[inst.appId]
  if (original && original.versionInfo.lastConfigChangeAt === inst.configVersion) return original
  return app ?? original ?? undefined
}
