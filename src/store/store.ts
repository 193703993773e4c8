// The store keeps the small durable state of a process (framework ids, the agent registry,
// an agent's checkpoint). Values are JSON. Two backends: embedded SQLite for one machine
// (sqlite.ts) and etcd for a cluster (etcd.ts), where leader election and fenced writes
// also live (election.ts). docs/store.md says what each promises.

export interface Store {
  get<T>(key: string): Promise<T | undefined>
  put(key: string, value: unknown): Promise<void>
  delete(key: string): Promise<void>
  /** Every entry whose key starts with prefix, in key order. */
  list<T>(prefix: string): Promise<Array<[string, T]>>
  close(): Promise<void>
}

export type StoreWrite = { op: 'put'; key: string; value: unknown } | { op: 'delete'; key: string }

/** A store that can also apply several writes at once: all of them, or none. */
export interface BatchStore extends Store {
  batch(writes: readonly StoreWrite[]): Promise<void>
}
