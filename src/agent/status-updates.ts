// Reliable status updates: each update is checkpointed (by the agent's state) before it is
// sent, and the oldest unacknowledged update of a task is re-sent with backoff until the
// framework acknowledges it. Only the head of a task's queue is in flight, so updates of one
// task arrive in order. The queues and their attempts live in the state; this keeps the timers.
import type { Logger } from 'pino'
import type { Clock } from '../core/clock.js'
import type { AgentState } from './state.js'
import type { PendingUpdate } from './types.js'
import { taskKey } from './types.js'

export interface StatusUpdateSender {
  /** Sends the head of the task's queue now and re-sends it with backoff; stops when the queue is empty. */
  sendNow(frameworkId: string, taskId: string): void
  /** Sends every queue's head now, with the backoff started over (after re-registration with the master). */
  flush(): void
  stop(): void
}

/** The delay before the head is sent again, after `attempt` sends of it. */
export const retryDelayMs = (attempt: number, retryMs: number, maxRetryMs: number): number => Math.min(retryMs * 2 ** attempt, maxRetryMs)

export function createStatusUpdateSender(opts: {
  state: AgentState
  log: Logger
  clock: Clock
  /** Sends one update to the master; rejects or resolves false when it did not get there. */
  send: (update: PendingUpdate) => Promise<boolean>
  retryMs: number
  maxRetryMs: number
}): StatusUpdateSender {
  const { state, log, clock } = opts
  const timers = new Map<string, NodeJS.Timeout>()
  let stopped = false

  function sendHead(frameworkId: string, taskId: string): void {
    if (stopped) return
    const k = taskKey(frameworkId, taskId)
    clearTimeout(timers.get(k))
    timers.delete(k)
    const q = state.updates.get(k)
    const head = q?.updates[0]
    if (!q || !head) return
    const delay = retryDelayMs(q.attempt, opts.retryMs, opts.maxRetryMs)
    state.apply({ type: 'update-sent', frameworkId, taskId }, clock.now())
    const timer = setTimeout(() => sendHead(frameworkId, taskId), delay)
    timer.unref()
    timers.set(k, timer)
    const notDelivered = (e?: unknown): void => log.debug({ ...(e ? { err: e } : {}), taskId }, 'status update not delivered; will retry')
    opts.send(head).then((ok) => {
      if (!ok) notDelivered()
    }, notDelivered)
  }

  return {
    sendNow: sendHead,
    flush() {
      state.apply({ type: 'update-backoff-reset' }, clock.now())
      for (const q of [...state.updates.values()]) {
        const head = q.updates[0]
        if (head) sendHead(head.frameworkId, head.status.task_id.value)
      }
    },
    stop() {
      stopped = true
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
    },
  }
}
