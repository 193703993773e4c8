// What the parts of the apps framework's shell share: the state, the one queue every change
// goes through, the connection to the master, and the way to ask for a reconciling pass.
import type { Logger } from 'pino'
import type { SchedulerClient } from '../../api/scheduler-client.js'
import type { Clock } from '../../core/clock.js'
import type { EventBus } from '../events.js'
import type { AppsState } from '../state.js'
import type { Decide } from './decisions.js'

export interface FrameworkContext {
  readonly state: AppsState
  readonly log: Logger
  readonly clock: Clock
  readonly events: EventBus
  /** The scheduler API connection to the master, from start() on. */
  client: SchedulerClient | undefined
  /** The master was told to stop sending offers (SUPPRESS) and has not been asked for them since. */
  suppressed: boolean
  /** Runs a change in the queue: offers, status updates, check results and passes, in arrival order. */
  readonly enqueue: (fn: () => Promise<void>) => Promise<void>
  /** Runs a change in the queue and hands back its result or its error. */
  readonly enqueueResult: <T>(fn: () => Promise<T>) => Promise<T>
  /**
   * Queues `item` for `run`: it joins the items of the last job queued if that is a batch of
   * the same `run` that has not started, else it starts one. Arrival order holds.
   */
  readonly enqueueBatch: <T>(run: (items: T[]) => Promise<void>, item: T) => void
  /** Each app's decision against a target, kept while its instances and that target stay the same (decisions.ts). */
  readonly decide: Decide
  /**
   * At most this many instances launched and not yet running or ended, of all apps: the
   * offers of a pass launch no more than the room left, and the rest wait for updates.
   */
  readonly maxLaunchesInFlight: number
  /** Asks for a reconciling pass (tick.ts) soon; many asks make one pass. */
  readonly tickSoon: () => void
}

export const nowIso = (ctx: FrameworkContext): string => new Date(ctx.clock.now()).toISOString()

export interface SerialQueue {
  readonly enqueue: FrameworkContext['enqueue']
  readonly enqueueResult: FrameworkContext['enqueueResult']
  readonly enqueueBatch: FrameworkContext['enqueueBatch']
  /** Settles once everything queued so far has run. */
  drained(): Promise<void>
}

export function createSerialQueue(log: Logger): SerialQueue {
  // Offers and updates are handled one at a time, in arrival order.
  let queueTail: Promise<void> = Promise.resolve()
  // The batch queued last, while nothing else was queued after it and it has not started.
  let open: { run: unknown; items: unknown[] } | undefined
  function enqueue(fn: () => Promise<void>): Promise<void> {
    open = undefined
    queueTail = queueTail.then(fn).catch((err: unknown) => log.error({ err }, 'scheduler event handling failed'))
    return queueTail
  }

  function enqueueBatch<T>(run: (items: T[]) => Promise<void>, item: T): void {
    if (open && open.run === run) {
      open.items.push(item)
      return
    }
    const batch = { run, items: [item] as T[] }
    void enqueue(() => {
      if (open === batch) open = undefined
      return run(batch.items)
    })
    open = batch as { run: unknown; items: unknown[] }
  }

  /** API changes go through the same queue as scheduler events, so they never interleave. */
  function enqueueResult<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      void enqueue(async () => {
        try {
          resolve(await fn())
        } catch (e) {
          reject(e as Error)
        }
      })
    })
  }

  return { enqueue, enqueueResult, enqueueBatch, drained: () => queueTail }
}
