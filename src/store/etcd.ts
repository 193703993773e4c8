import { Etcd3, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3'
import type { ICompare, IKeyValue, IRequestOp } from 'etcd3'
import type { Logger } from 'pino'
import { StoreUnavailableError } from './errors.js'
import type { BatchStore, StoreWrite } from './store.js'

// The etcd backend speaks etcd's v3 gRPC API through the `etcd3` client, which keeps one
// connection per endpoint, fails over between endpoints and keeps leases alive. Each
// unary call carries a deadline, so that a store call against a stopped etcd fails with a
// StoreUnavailableError instead of waiting for it.

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: readonly string[]
  /** Every key of this store lives under prefix in etcd (e.g. '/dromos/master/'). */
  prefix: string
  log: Logger
  /**
   * Deadline of each attempt of an etcd call. The client makes up to three attempts
   * (failing over between endpoints), so a call against an etcd that does not answer
   * fails after about 3 × requestTimeoutMs; one that refuses connections fails at once.
   */
  requestTimeoutMs?: number
}

/**
 * A condition that must hold in etcd, in the same transaction, for writes to apply: the
 * key exists with this create revision. election.ts builds one from the key it won.
 */
export interface WriteFence {
  key: string
  createRevision: string
  /** The error to throw when the condition no longer holds. */
  refused(operation: string, keys: readonly string[]): Error
}

export interface EtcdStore extends BatchStore {
  readonly endpoints: readonly string[]
  readonly prefix: string
  readonly requestTimeoutMs: number
  /** The client, for leases and watches on the same connections (election.ts). */
  readonly client: Etcd3
  /**
   * A view of this store whose writes apply only while fence holds, checked by etcd in the
   * same transaction as the writes. Its close() leaves the client open.
   */
  fenced(fence: WriteFence): BatchStore
  /** Turns a client error into a StoreUnavailableError when it means etcd did not answer. */
  unavailable(operation: string, err: unknown): unknown
}

const LIST_PAGE = 500

export function openEtcdStore({ endpoints, prefix, log, requestTimeoutMs = 5_000 }: EtcdStoreOptions): EtcdStore {
  const client = new Etcd3({
    hosts: [...endpoints],
    dialTimeout: requestTimeoutMs,
    // Streams (watches, lease keep-alives) stay open; every other call has a deadline.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
  })
  const storeLog = log.child({ component: 'store', backend: 'etcd', prefix })
  const raw = (key: string) => Buffer.from(prefix + key)
  const unwrap = (kv: IKeyValue) => kv.key.toString().slice(prefix.length)

  function unavailable(operation: string, err: unknown): unknown {
    if (isUnavailable(err)) {
      storeLog.warn({ operation, err: String(err) }, 'etcd did not answer')
      return new StoreUnavailableError(operation, endpoints, requestTimeoutMs, err)
    }
    return err
  }

  async function call<R>(operation: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn()
    } catch (err) {
      throw unavailable(operation, err)
    }
  }

  async function write(writes: readonly StoreWrite[], fence: WriteFence | undefined, operation: string): Promise<void> {
    const ops = toRequestOps(lastWritePerKey(writes), raw)
    if (ops.length === 0) return
    const compare: ICompare[] = fence
      ? [{ key: Buffer.from(fence.key), target: 'Create', result: 'Equal', create_revision: fence.createRevision }]
      : []
    const res = await call(operation, () => client.kv.txn({ compare, success: ops, failure: [] }))
    if (!res.succeeded && fence) throw fence.refused(operation, writes.map((w) => w.key))
  }

  function view(fence: WriteFence | undefined): BatchStore {
    return {
      async get<T>(key: string) {
        const res = await call('get', () => client.kv.range({ key: raw(key) }))
        const kv = res.kvs[0]
        return kv ? (JSON.parse(kv.value.toString()) as T) : undefined
      },
      put: (key, value) => write([{ op: 'put', key, value }], fence, 'put'),
      delete: (key) => write([{ op: 'delete', key }], fence, 'delete'),
      batch: (writes) => write(writes, fence, 'batch'),
      async list<T>(listPrefix: string) {
        // Pages read at one revision, so that the whole list is one snapshot.
        const end = rangeEndOf(raw(listPrefix))
        const out: Array<[string, T]> = []
        let from = raw(listPrefix)
        let revision: string | undefined
        for (;;) {
          const res = await call('list', () =>
            client.kv.range({ key: from, range_end: end, limit: LIST_PAGE, ...(revision ? { revision } : {}) }),
          )
          revision ??= res.header.revision
          for (const kv of res.kvs) out.push([unwrap(kv), JSON.parse(kv.value.toString()) as T])
          const last = res.kvs[res.kvs.length - 1]
          if (!res.more || !last) return out
          from = Buffer.concat([last.key, Buffer.from([0])])
        }
      },
      async close() {
        if (!fence) client.close()
      },
    }
  }

  return {
    ...view(undefined),
    endpoints,
    prefix,
    requestTimeoutMs,
    client,
    fenced: (fence) => view(fence),
    unavailable,
  }
}

/**
 * etcd allows one write per key in a transaction; a batch keeps the last, as applying them in
 * order would. (etcd also refuses a transaction of more than --max-txn-ops writes, 128 by default.)
 */
function lastWritePerKey(writes: readonly StoreWrite[]): StoreWrite[] {
  return [...new Map(writes.map((w) => [w.key, w])).values()]
}

function toRequestOps(writes: readonly StoreWrite[], raw: (key: string) => Buffer): IRequestOp[] {
  return writes.map((w) =>
    w.op === 'put'
      ? { request_put: { key: raw(w.key), value: Buffer.from(JSON.stringify(w.value)) } }
      : { request_delete_range: { key: raw(w.key) } },
  )
}

/** The smallest key greater than every key that starts with prefix (etcd's range_end). */
export function rangeEndOf(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1
      return end.subarray(0, i + 1)
    }
  }
  // An empty (or all-0xff) prefix: the range runs to the end of the keyspace.
  return Buffer.from([0])
}

function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  // The circuit breaker's error: the endpoint failed recently and is not tried again yet.
  const brokenCircuit = (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true
  return brokenCircuit || isRecoverableError(err) || err instanceof GRPCDeadlineExceededError
}
