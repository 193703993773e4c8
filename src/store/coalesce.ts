// One store shared by many writers (the agents of one `dromos agent --count N` process): the
// batches they write in one turn of the event loop go to the store together, as one batch (one
// SQLite transaction for a thousand agents' checkpoints instead of one each). Reads first
// write what is waiting, so that a writer reads what it wrote.
import type { BatchStore, StoreWrite } from './store.js'

export function coalesceBatches(store: BatchStore): BatchStore {
  let waiting: { writes: StoreWrite[]; done: Array<{ resolve(): void; reject(e: unknown): void }> } | undefined
  const flush = async (): Promise<void> => {
    const w = waiting
    waiting = undefined
    if (!w) return
    try {
      await store.batch(w.writes)
      for (const d of w.done) d.resolve()
    } catch (e) {
      for (const d of w.done) d.reject(e)
    }
  }
  const batch = (writes: readonly StoreWrite[]): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (!waiting) {
        waiting = { writes: [], done: [] }
        setImmediate(() => void flush())
      }
      waiting.writes.push(...writes)
      waiting.done.push({ resolve, reject })
    })
  return {
    batch,
    put: (key, value) => batch([{ op: 'put', key, value }]),
    delete: (key) => batch([{ op: 'delete', key }]),
    async get<T>(key: string) {
      await flush()
      return store.get<T>(key)
    },
    async list<T>(prefix: string) {
      await flush()
      return store.list<T>(prefix)
    },
    async close() {
      await flush()
      await store.close()
    },
  }
}
