// Driving deployments: a step is done when every app in it has reached the step's target,
// and then the next one starts; a deployment without steps left is finished.
import type { DeploymentRecord } from '../state.js'
import type { FrameworkContext } from './context.js'
import { planJson, stepJson } from './publish.js'

/** Moves every deployment, oldest first, past each of its steps that is done. */
export async function advanceDeployments(ctx: FrameworkContext): Promise<void> {
  const { state, events, log, clock } = ctx
  const sorted = [...state.deployments.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt))
  for (const d of sorted) {
    for (;;) {
      const step = d.steps[d.currentStep]
      if (!step) {
        await state.apply({ type: 'deployment-removed', deploymentId: d.id })
        events.publish('deployment_success', { id: d.id, plan: planJson(d) })
        log.info({ deploymentId: d.id }, 'deployment finished')
        break
      }
      const done = step.actions.every(({ action, app }) => {
        if (action === 'StartApplication') return true
        const target = action === 'StopApplication' ? null : (d.target[app] ?? null)
        return ctx.decide(app, target, clock.now()).decision.complete
      })
      if (!done) break
      for (const { action, app } of step.actions) {
        if (action === 'StopApplication') {
          if (!state.apps.has(app)) events.publish('app_terminated_event', { appId: app })
        }
      }
      events.publish('deployment_step_success', { plan: planJson(d), currentStep: stepJson(step) })
      const next: DeploymentRecord = { ...d, currentStep: d.currentStep + 1 }
      await state.apply({ type: 'deployment-put', deployment: next })
      Object.assign(d, next)
      const following = d.steps[d.currentStep]
      if (following) events.publish('deployment_info', { plan: planJson(d), currentStep: stepJson(following) })
    }
  }
}
