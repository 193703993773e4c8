// The store keeps the small durable state of a process (framework ids, the agent registry,
// an agent's checkpoint). Values are JSON. Two backends are planned: embedded SQLite for one
// machine (here) and etcd for a cluster, where leader election and fenced writes also live.

export interface Store {
  get<T>(key: string): Promise<T | undefined>
  put(key: string, value: unknown): Promise<void>
  delete(key: string): Promise<void>
  /** Every entry whose key starts with prefix, in key order. */
  list<T>(prefix: string): Promise<Array<[string, T]>>
  close(): Promise<void>
}
