// Store writes in the order the commands that asked for them were applied: the one writer of a
// process hands its writes here and need not await them.

export interface WriteQueue {
  /** Runs `write` after every write queued before it, whether those succeeded or not. */
  persist(write: () => Promise<void>): Promise<void>
  /** Settles when every write queued so far is done; rejects if the last one failed. */
  written(): Promise<void>
}

/** A failed write is passed to `onError` (to log it) and rejects `written()`; the next write still runs. */
export function createWriteQueue(onError: (e: unknown) => void): WriteQueue {
  let writes: Promise<void> = Promise.resolve()
  return {
    persist(write) {
      const next = writes.then(write, write)
      next.catch(onError)
      writes = next
      return next
    },
    written: () => writes,
  }
}
