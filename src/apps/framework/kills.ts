// Kills: an instance with ports is first shown as killing, so load balancers drain it, and
// only then killed; a kill the master does not answer is sent again.
import { isTerminalCondition } from '../reconcile.js'
import type { Instance } from '../types.js'
import { Condition } from '../types.js'
import type { FrameworkContext } from './context.js'
import { publishInstanceChanged } from './publish.js'
import { appOf } from './targets.js'

/** How long a kill may go unanswered before it is sent again. */
const KILL_RESEND_AFTER_MS = 10_000

export interface Kills {
  /** Kills the instance, which from then on has this goal. */
  killInstance(inst: Instance, goal: Instance['goal']): Promise<void>
  /** Sends again the kills of these instances that got no answer. */
  resendUnanswered(instances: readonly Instance[], now: number): Promise<void>
}

export function createKills(ctx: FrameworkContext, deps: { stopChecks: (instanceId: string) => void; killDrainMs: number }): Kills {
  const { state, log, clock, events } = ctx
  const { stopChecks, killDrainMs } = deps
  const lastKillAt = new Map<string, number>()

  async function killInstance(inst: Instance, goal: Instance['goal']): Promise<void> {
    const cur = state.instances.get(inst.instanceId) ?? inst
    lastKillAt.set(cur.instanceId, clock.now())
    const app = appOf(state, cur)
    stopChecks(cur.instanceId)
    const sendKill = (): Promise<void> =>
      ctx.client?.kill(cur.taskId, cur.agentId, app?.taskKillGracePeriodSeconds).catch((e: unknown) => log.warn({ err: (e as Error).message, taskId: cur.taskId }, 'kill failed')) ??
      Promise.resolve()
    // An instance that may be in a load balancer is first shown as killing, so balancers
    // drain it, and only then stopped: requests in flight finish, no new ones arrive.
    if (cur.condition === Condition.Running && cur.hostPorts.length > 0 && killDrainMs > 0) {
      const next: Instance = { ...cur, goal, condition: Condition.Killing, mesosState: 'TASK_KILLING' }
      await state.apply({ type: 'instance-put', instance: next })
      publishInstanceChanged(events, next)
      setTimeout(() => void sendKill(), killDrainMs).unref()
      return
    }
    if (cur.goal !== goal) await state.apply({ type: 'instance-put', instance: { ...cur, goal } })
    // Once the goal is stored, and without holding the queue until the master answers.
    state.afterWrites(() => void sendKill())
  }

  return {
    killInstance,
    async resendUnanswered(instances, now) {
      for (const i of instances) {
        if (i.goal === 'Running' || isTerminalCondition(i.condition)) continue
        const last = lastKillAt.get(i.instanceId) ?? 0
        if (now - last > KILL_RESEND_AFTER_MS) await killInstance(i, i.goal)
      }
    },
  }
}
