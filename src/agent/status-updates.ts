// Reliable status updates: each update is checkpointed before it is sent, and the oldest
// unacknowledged update of a task is re-sent with backoff until the framework acknowledges it.
// Only the head of a task's queue is in flight, so updates of one task arrive in order.
import type { Logger } from 'pino'
import type { TaskStatusWire } from '../api/mesos.js'
import type { Store } from '../store/store.js'

export interface PendingUpdate {
  readonly frameworkId: string
  readonly status: TaskStatusWire
}

export interface StatusUpdateManager {
  recover(): Promise<void>
  enqueue(update: PendingUpdate): Promise<void>
  /** True when uuid acknowledged the head of the task's queue. */
  acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<boolean>
  pending(frameworkId: string, taskId: string): readonly PendingUpdate[]
  /** Drops the queues of a framework the master removed: nobody will acknowledge them. */
  discardFramework(frameworkId: string): Promise<void>
  /** Sends every queue's head now (after re-registration with the master). */
  flush(): void
  stop(): void
}

interface Queue {
  updates: PendingUpdate[]
  timer?: NodeJS.Timeout
  attempt: number
}

export function createStatusUpdateManager(opts: {
  store: Store
  log: Logger
  /** Sends one update to the master; rejects or resolves false when it did not get there. */
  send: (update: PendingUpdate) => Promise<boolean>
  retryMs: number
  maxRetryMs: number
}): StatusUpdateManager {
  const queues = new Map<string, Queue>()
  const key = (fid: string, tid: string): string => `${fid}/${tid}`
  let stopped = false

  const persist = async (k: string, q: Queue): Promise<void> => {
    if (q.updates.length === 0) await opts.store.delete(`updates/${k}`)
    else await opts.store.put(`updates/${k}`, q.updates)
  }

  function sendHead(k: string, q: Queue): void {
    if (stopped) return
    if (q.timer) clearTimeout(q.timer)
    delete q.timer
    const head = q.updates[0]
    if (!head) return
    const delay = Math.min(opts.retryMs * 2 ** q.attempt, opts.maxRetryMs)
    q.attempt++
    q.timer = setTimeout(() => sendHead(k, q), delay)
    q.timer.unref()
    opts.send(head).then(
      (ok) => {
        if (!ok) opts.log.debug({ taskId: head.status.task_id.value }, 'status update not delivered; will retry')
      },
      (e: unknown) => opts.log.debug({ err: e, taskId: head.status.task_id.value }, 'status update not delivered; will retry'),
    )
  }

  return {
    async recover() {
      for (const [k, updates] of await opts.store.list<PendingUpdate[]>('updates/')) {
        const qk = k.slice('updates/'.length)
        queues.set(qk, { updates, attempt: 0 })
      }
    },
    async enqueue(update) {
      const k = key(update.frameworkId, update.status.task_id.value)
      let q = queues.get(k)
      if (!q) {
        q = { updates: [], attempt: 0 }
        queues.set(k, q)
      }
      q.updates.push(update)
      await persist(k, q)
      if (q.updates.length === 1) {
        q.attempt = 0
        sendHead(k, q)
      }
    },
    async acknowledge(fid, tid, uuid) {
      const k = key(fid, tid)
      const q = queues.get(k)
      const head = q?.updates[0]
      if (!q || !head || head.status.uuid !== uuid) return false
      q.updates.shift()
      q.attempt = 0
      if (q.timer) clearTimeout(q.timer)
      delete q.timer
      await persist(k, q)
      if (q.updates.length === 0) queues.delete(k)
      else sendHead(k, q)
      return true
    },
    pending(fid, tid) {
      return queues.get(key(fid, tid))?.updates ?? []
    },
    async discardFramework(fid) {
      for (const [k, q] of [...queues]) {
        if (!k.startsWith(`${fid}/`)) continue
        if (q.timer) clearTimeout(q.timer)
        queues.delete(k)
        await opts.store.delete(`updates/${k}`)
      }
    },
    flush() {
      for (const [k, q] of queues) {
        q.attempt = 0
        sendHead(k, q)
      }
    },
    stop() {
      stopped = true
      for (const q of queues.values()) if (q.timer) clearTimeout(q.timer)
    },
  }
}
