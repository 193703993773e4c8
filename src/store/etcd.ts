import { noop } from 'cockatiel'
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3'
import type { ICompare, IKeyValue, IOptions, IRequestOp } from 'etcd3'
import type { Logger } from 'pino'
import { StoreUnavailableError } from './errors.js'
import type { BatchStore, StoreWrite } from './store.js'

// The etcd backend speaks etcd's v3 gRPC API through the `etcd3` client, which keeps one
// connection per endpoint and fails over between endpoints; leases are kept alive through
// every member at once (lease-keeper.ts). Each unary call carries a deadline, so that a store
// call against a stopped etcd fails with a StoreUnavailableError instead of waiting for it.

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
  /** One client per member, made at the first call: lease keep-alives go to each (lease-keeper.ts). */
  members(): readonly Etcd3[]
  /**
   * A linearizable read asked of every member at once; the first answer wins. A member cut off
   * by the network keeps its connection open and answers nothing for seconds; one in a
   * minority has no leader to confirm a read. So an answer is always current, and one member
   * gone costs no time.
   */
  readAny<R>(operation: string, read: (member: Etcd3) => Promise<R>): Promise<R>
  /**
   * A view of this store whose writes apply only while fence holds, checked by etcd in the
   * same transaction as the writes. Its close() leaves the client open.
   */
  fenced(fence: WriteFence): BatchStore
  /** Turns a client error into a StoreUnavailableError when it means etcd did not answer. */
  unavailable(operation: string, err: unknown): unknown
}

const LIST_PAGE = 500

/** The deadline of a store call. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000

export function openEtcdStore({ endpoints, prefix, log, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS }: EtcdStoreOptions): EtcdStore {
  const clientFor = (hosts: readonly string[], faultHandling?: IOptions['faultHandling']) =>
    new Etcd3({
      hosts: [...hosts],
      ...(faultHandling ? { faultHandling } : {}),
      dialTimeout: requestTimeoutMs,
      // An endpoint cut off by the network sends no reset: HTTP/2 pings find it gone, so that
      // watches move to another member. etcd refuses pings more often than its
      // --grpc-keepalive-min-time (5 s by default). Lease keep-alives do not wait for that:
      // they go to every member at once (lease-keeper.ts).
      grpcOptions: { 'grpc.keepalive_time_ms': 5_000, 'grpc.keepalive_timeout_ms': 2_000, 'grpc.keepalive_permit_without_calls': 1 },
      // Streams (watches, lease keep-alives) stay open; every other call has a deadline.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
    })
  const client = clientFor(endpoints)
  let members: Etcd3[] | undefined
  // A member's own client neither retries nor skips its member after failures (the pool's
  // circuit breaker): the callers ask every member at once and take the first answer.
  const memberClients = (): readonly Etcd3[] => (members ??= endpoints.map((e) => clientFor([e], { host: () => noop, global: noop })))
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

  function readAny<R>(operation: string, read: (member: Etcd3) => Promise<R>): Promise<R> {
    return call(operation, () =>
      Promise.any(memberClients().map(read)).catch((err: unknown) => {
        throw err instanceof AggregateError ? err.errors[0] : err
      }),
    )
  }

  function view(fence: WriteFence | undefined): BatchStore {
    return {
      async get<T>(key: string) {
        const res = await readAny('get', (member) => member.kv.range({ key: raw(key) }))
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
          const res = await readAny('list', (member) =>
            member.kv.range({ key: from, range_end: end, limit: LIST_PAGE, ...(revision ? { revision } : {}) }),
          )
          revision ??= res.header.revision
          for (const kv of res.kvs) out.push([unwrap(kv), JSON.parse(kv.value.toString()) as T])
          const last = res.kvs[res.kvs.length - 1]
          if (!res.more || !last) return out
          from = Buffer.concat([last.key, Buffer.from([0])])
        }
      },
      async close() {
        if (fence) return
        client.close()
        for (const m of members ?? []) m.close()
      },
    }
  }

  return {
    ...view(undefined),
    endpoints,
    prefix,
    requestTimeoutMs,
    client,
    members: memberClients,
    readAny,
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
