// Events on the scheduler API stream: a subscription (the framework id and its events, then a
// reconciliation of every task), and offers and status updates, which go in the queue.
import { frameworkMessageBytes, masterHostname } from '../event-payloads.js'
import type { SchedulerEvent } from '../../api/scheduler-client.js'
import type { TaskStatusWire } from '../../api/mesos.js'
import type { FrameworkContext } from './context.js'
import type { OfferHandler } from './offers.js'
import type { StatusUpdateHandler } from './status-updates.js'

export interface SchedulerEvents {
  onEvent(e: SchedulerEvent): void
  /** Asks the master for the state of every known task, then of every task it has (implicit). */
  reconcileTasks(): Promise<void>
}

export function createSchedulerEvents(ctx: FrameworkContext, deps: { master: string; onOffers: OfferHandler; onUpdate: StatusUpdateHandler }): SchedulerEvents {
  const { state, log, events } = ctx

  async function reconcileTasks(): Promise<void> {
    const client = ctx.client
    if (!client?.connected()) return
    const known = [...state.instances.values()].map((i) => ({ taskId: i.taskId, agentId: i.agentId }))
    await client.reconcile(known).catch(() => undefined)
    await client.reconcile([]).catch(() => undefined)
  }

  // The updates that arrive together are handled in one job, their store writes in one batch,
  // and acknowledged once those are written (status-updates.ts).
  async function onUpdates(statuses: TaskStatusWire[]): Promise<void> {
    await state.batch(async () => {
      for (const s of statuses) {
        try {
          await deps.onUpdate(s)
        } catch (err) {
          log.error({ err, taskId: s.task_id.value }, 'status update handling failed')
        }
      }
    })
  }

  function onEvent(e: SchedulerEvent): void {
    switch (e.type) {
      case 'SUBSCRIBED': {
        const id = e.subscribed.framework_id.value
        const reregistered = state.frameworkId === id
        if (!reregistered) void ctx.enqueue(() => state.apply({ type: 'framework-id', frameworkId: id }))
        // Marathon's SchedulerRegisteredEvent has frameworkId and master; the re-registered one only master.
        const master = masterHostname(e.subscribed.master_info, deps.master)
        if (reregistered) events.publish('scheduler_reregistered_event', { master })
        else events.publish('scheduler_registered_event', { frameworkId: id, master })
        log.info({ frameworkId: id }, 'subscribed to master')
        ctx.suppressed = false
        void reconcileTasks()
        ctx.tickSoon()
        return
      }
      case 'OFFERS':
        void ctx.enqueue(() => deps.onOffers(e.offers.offers))
        return
      case 'UPDATE':
        ctx.enqueueBatch(onUpdates, e.update.status)
        return
      case 'MESSAGE': {
        const m = e.message as { agent_id?: { value?: string }; executor_id?: { value?: string }; data?: string } | undefined
        events.publish('framework_message_event', { executorId: m?.executor_id?.value ?? '', slaveId: m?.agent_id?.value ?? '', message: frameworkMessageBytes(m?.data ?? '') })
        return
      }
      case 'RESCIND':
      case 'HEARTBEAT':
      case 'FAILURE':
        return
      case 'ERROR':
        log.error({ message: e.error.message }, 'error from master')
        return
    }
  }

  return { onEvent, reconcileTasks }
}
