// Calls to one destination made in the same turn of the event loop, sent together. The first
// call of a turn schedules the send with setImmediate, after whatever else that turn handles
// (the other requests read in the same poll), so a call waits for nothing but the calls queued
// with it.

export interface TickBatcher<T, R> {
  /** Queues item for key's batch of this turn; settles with its own result, or rejects with the batch's error. */
  add(key: string, item: T): Promise<R>
}

interface Queued<T, R> {
  readonly item: T
  readonly resolve: (r: R) => void
  readonly reject: (e: unknown) => void
}

/**
 * `send` gets a key's items of one turn in the order they were added (at most `maxItems` at a
 * time) and answers one result for each, in that order.
 */
export function createTickBatcher<T, R>(o: { send: (key: string, items: readonly T[]) => Promise<readonly R[]>; maxItems?: number }): TickBatcher<T, R> {
  const maxItems = o.maxItems ?? 1000
  let pending = new Map<string, Array<Queued<T, R>>>()

  function sendBatch(key: string, batch: ReadonlyArray<Queued<T, R>>): void {
    let sent: Promise<readonly R[]>
    try {
      sent = o.send(
        key,
        batch.map((q) => q.item),
      )
    } catch (e) {
      sent = Promise.reject(e)
    }
    sent.then(
      (results) =>
        batch.forEach((q, i) => {
          if (i < results.length) q.resolve(results[i]!)
          else q.reject(new Error(`no result for item ${i + 1} of a batch of ${batch.length}`))
        }),
      (e: unknown) => {
        for (const q of batch) q.reject(e)
      },
    )
  }

  function flush(): void {
    const due = pending
    pending = new Map()
    for (const [key, queued] of due) {
      for (let i = 0; i < queued.length; i += maxItems) sendBatch(key, queued.slice(i, i + maxItems))
    }
  }

  return {
    add(key, item) {
      return new Promise<R>((resolve, reject) => {
        if (pending.size === 0) setImmediate(flush)
        const queued = pending.get(key)
        if (queued) queued.push({ item, resolve, reject })
        else pending.set(key, [{ item, resolve, reject }])
      })
    },
  }
}
