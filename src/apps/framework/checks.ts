// The checks of an instance, health and readiness, which start together when it is running
// and stop together when it is killed or ends.
import type { Instance } from '../types.js'
import type { FrameworkContext } from './context.js'
import type { HealthCheckDeps, HealthChecks } from './health-checks.js'
import { createHealthChecks } from './health-checks.js'
import type { ReadinessChecks } from './readiness.js'
import { createReadinessChecks } from './readiness.js'
import { appOf } from './targets.js'

export interface Checks {
  /** Starts the checks of a running instance, once; the definition it was started from says which. */
  start(inst: Instance): void
  stop(instanceId: string): void
  /** The app's health checks changed in place: its running instances run the new ones. */
  restartHealthChecks(appId: string): void
  stopAll(): void
  readonly recordMesosHealth: HealthChecks['recordMesosHealth']
  readonly healthResultsOf: HealthChecks['resultsOf']
  readonly readinessResultsOf: ReadinessChecks['resultsOf']
}

export function createChecks(ctx: FrameworkContext, deps: HealthCheckDeps): Checks {
  const { state } = ctx
  const health = createHealthChecks(ctx, deps)
  const readiness = createReadinessChecks(ctx)

  function stop(instanceId: string): void {
    health.stop(instanceId)
    readiness.stop(instanceId)
  }

  return {
    start(inst) {
      const app = appOf(state, inst)
      if (!app || health.running(inst.instanceId) || !state.instances.has(inst.instanceId)) return
      health.start(app, inst)
      if (app.readinessChecks.length > 0) readiness.poll(app, inst)
    },
    stop,
    restartHealthChecks(appId) {
      for (const inst of state.instancesOf(appId)) {
        const app = appOf(state, inst)
        if (app && health.running(inst.instanceId)) health.restart(app, inst)
      }
    },
    stopAll() {
      for (const id of health.runningIds()) stop(id)
    },
    recordMesosHealth: health.recordMesosHealth,
    healthResultsOf: health.resultsOf,
    readinessResultsOf: readiness.resultsOf,
  }
}
