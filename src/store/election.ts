import type { IKeyValue, Lease, WatchBuilder, Watcher } from 'etcd3'
import type { Logger } from 'pino'
import { rangeEndOf } from './etcd.js'
import type { EtcdStore } from './etcd.js'
import { NotLeaderError } from './errors.js'
import { keepLeaseAlive } from './lease-keeper.js'
import type { LeaseKeeper } from './lease-keeper.js'
import type { BatchStore } from './store.js'

// Leader election on etcd leases, as etcd's own concurrency.Election does it: each
// candidate puts `<electionKey><lease id>` with its lease, and the candidate whose key has
// the lowest create revision leads. The others wait for the key just before theirs to go.
// The leader's writes are fenced on its key's create revision, so once its lease has
// expired (or it resigned) etcd refuses them, even from a process that was paused and
// does not know yet.

/** What a candidate advertises: who it is and where standbys send (or proxy) requests. */
export interface Candidate {
  id: string
  address: string
}

export interface Leader extends Candidate {
  key: string
  revision: string
}

export const LostReason = {
  /** resign() was called. */
  resigned: 'resigned',
  /** etcd says the lease expired or was revoked. */
  leaseLost: 'lease-lost',
  /** The election key was deleted by someone else. */
  keyDeleted: 'key-deleted',
  /** No keep-alive was confirmed for a whole TTL: etcd may already have let the lease go. */
  keepAliveTimeout: 'keepalive-timeout',
  /** etcd refused a fenced write: the key is gone. */
  writeRefused: 'write-refused',
} as const
export type LostReason = (typeof LostReason)[keyof typeof LostReason]

export interface Leadership {
  readonly leader: Leader
  readonly leaseId: string
  /** Writes through this store apply only while this leadership holds (NotLeaderError otherwise). */
  readonly store: BatchStore
  isLeader(): boolean
  /** Called once, as soon as leadership is lost (at once if it already is). */
  onLost(listener: (reason: LostReason) => void): void
  /** Resolves with the reason when leadership is lost. */
  readonly lost: Promise<LostReason>
  /** Gives leadership up: deletes the key and revokes the lease, so that the next candidate leads at once. */
  resign(): Promise<void>
}

export interface LeaderObserver {
  current(): Leader | undefined
  /**
   * The leader, if etcd confirmed it within the last maxAgeMs: a read of the election keys
   * that started no longer ago than that succeeded. Otherwise undefined, whatever the watch
   * last said: without a quorum etcd answers no read and sends no event, and the leader seen
   * last may have lost its lease (its own watchdog has it step down after one TTL).
   */
  confirmed(maxAgeMs: number, now?: number): Leader | undefined
  close(): Promise<void>
}

export interface Election {
  /** The lease TTL of each candidate. */
  readonly ttlSeconds: number
  /** Resolves once elected; rejects if the lease is lost first or signal aborts. */
  campaign(candidate: Candidate, opts?: { signal?: AbortSignal }): Promise<Leadership>
  leader(): Promise<Leader | undefined>
  /**
   * Calls onChange with the leader now and at each change (undefined: none). Besides the
   * watch, it reads the leader every confirmEveryMs (default a quarter of the TTL), so that
   * confirmed() can tell a leader etcd still vouches for from one a broken watch left behind.
   */
  observe(onChange: (leader: Leader | undefined) => void, opts?: { confirmEveryMs?: number }): Promise<LeaderObserver>
}

export interface ElectionOptions {
  store: EtcdStore
  /** The candidates' key prefix, e.g. '/dromos/elections/master/'. */
  electionKey: string
  /** Lease TTL: how long a leader that stopped answering keeps the others waiting. */
  ttlSeconds?: number
  log: Logger
}

export class CampaignAbortedError extends Error {
  readonly code = 'CAMPAIGN_ABORTED'
  constructor(
    readonly electionKey: string,
    readonly reason: string,
  ) {
    super(`Campaign for ${electionKey} ended before it was elected: ${reason}`)
  }
}

export function createElection({ store, electionKey, ttlSeconds = 10, log }: ElectionOptions): Election {
  const { client } = store
  const electionLog = log.child({ component: 'election', electionKey })
  const prefix = Buffer.from(electionKey)
  const prefixEnd = rangeEndOf(prefix)

  async function call<R>(operation: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn()
    } catch (err) {
      throw store.unavailable(operation, err)
    }
  }

  async function leader(): Promise<Leader | undefined> {
    const res = await store.readAny('leader', (member) =>
      member.kv.range({ key: prefix, range_end: prefixEnd, sort_target: 'Create', sort_order: 'Ascend', limit: 1 }),
    )
    return res.kvs[0] ? toLeader(res.kvs[0]) : undefined
  }

  async function campaign(candidate: Candidate, { signal }: { signal?: AbortSignal } = {}): Promise<Leadership> {
    // The keep-alives are lease-keeper.ts's, through every member at once.
    const lease = client.lease(ttlSeconds, { autoKeepAlive: false })
    const grantedAt = Date.now()
    let keeper: LeaseKeeper | undefined
    // Settles when the campaign must stop waiting: the lease is gone or the caller gave up.
    let stop: (reason: string) => void = () => undefined
    const stopped = new Promise<never>((_, reject) => {
      stop = (reason) => reject(new CampaignAbortedError(electionKey, reason))
    })
    stopped.catch(() => undefined)
    const onAbort = () => stop('aborted')
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const leaseId = await Promise.race([call('campaign', () => lease.grant()), stopped])
      // Counted from the grant: a candidate may wait longer than a TTL for its turn, its lease
      // kept alive all along.
      keeper = keepLeaseAlive({ members: store.members(), leaseId, ttlMs: ttlSeconds * 1000, grantedAt, log: electionLog })
      keeper.onLost(() => stop('lease lost: etcd says it expired'))
      const key = Buffer.from(`${electionKey}${BigInt(leaseId).toString(16)}`)
      const res = await call('campaign', () =>
        client.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key, value: Buffer.from(JSON.stringify(candidate)), lease: leaseId } }],
          failure: [{ request_range: { key } }],
        }),
      )
      const revision = res.succeeded ? res.header.revision : res.responses[0]?.response_range.kvs[0]?.create_revision
      if (revision === undefined) throw new CampaignAbortedError(electionKey, 'the election key vanished as it was created')
      electionLog.info({ candidate, revision }, 'campaigning')
      await Promise.race([waitForPredecessors(BigInt(revision), stopped), stopped])
      const own = await call('campaign', () => client.kv.range({ key }))
      if (own.kvs[0]?.create_revision !== revision) throw new CampaignAbortedError(electionKey, 'the election key was deleted while waiting')
      // A candidate waits on a lease that may have gone unanswered for a while (etcd electing a
      // raft leader answers nothing, then extends every lease): a leader starts out on one
      // that etcd confirmed for most of a TTL.
      if (!(await Promise.race([keeper.confirm(ttlSeconds * 500, ttlSeconds * 1000), stopped]))) {
        throw new CampaignAbortedError(electionKey, `etcd did not confirm the lease within ${ttlSeconds} s of the election`)
      }
      const elected = createLeadership({ lease, leaseId, leader: { ...candidate, key: key.toString(), revision }, keeper })
      electionLog.info({ candidate, revision }, 'elected')
      return elected
    } catch (err) {
      keeper?.stop()
      lease.revoke().catch(() => lease.release())
      throw err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Waits until no candidate key created before ours is left. */
  async function waitForPredecessors(revision: bigint, stopped: Promise<never>): Promise<void> {
    for (;;) {
      const res = await call('campaign', () =>
        client.kv.range({
          key: prefix,
          range_end: prefixEnd,
          max_create_revision: String(revision - 1n),
          sort_target: 'Create',
          sort_order: 'Descend',
          limit: 1,
        }),
      )
      const predecessor = res.kvs[0]
      if (!predecessor) return
      // The watch may run on a member that a partition cut off, which nothing reports for
      // seconds: every quarter TTL, every member is also asked whether the key is still there.
      const watcher = watchNow(client.watch().key(predecessor.key).startRevision(String(BigInt(res.header.revision) + 1n)).only('delete'))
      const done = new AbortController()
      try {
        await Promise.race([
          new Promise<void>((resolve) => watcher.once('delete', () => resolve())),
          untilGone(predecessor, done.signal),
          stopped,
        ])
      } finally {
        done.abort()
        await watcher.cancel()
      }
    }
  }

  /**
   * A watch asked for now and not waited on: its stream may be on a member that a partition
   * cut off, and nothing says so for seconds. The callers do not count on it alone.
   */
  function watchNow(builder: WatchBuilder): Watcher {
    const watcher = builder.watcher()
    watcher.on('error', (err) => electionLog.debug({ err: String(err) }, 'watch failed'))
    return watcher
  }

  async function untilGone(kv: IKeyValue, signal: AbortSignal): Promise<void> {
    const everyMs = Math.max(50, (ttlSeconds * 1000) / 4)
    while (!signal.aborted) {
      await new Promise((r) => setTimeout(r, everyMs))
      if (signal.aborted) return
      const res = await store.readAny('campaign', (member) => member.kv.range({ key: kv.key })).catch(() => undefined)
      if (res && res.kvs[0]?.create_revision !== kv.create_revision) return
    }
  }

  function createLeadership(opts: { lease: Lease; leaseId: string; leader: Leader; keeper: LeaseKeeper }): Leadership {
    const { lease, leaseId, leader, keeper } = opts
    const leaderLog = electionLog.child({ leaderId: leader.id, revision: leader.revision })
    const ttlMs = ttlSeconds * 1000
    let lostReason: LostReason | undefined
    let resolveLost: (reason: LostReason) => void = () => undefined
    const lost = new Promise<LostReason>((resolve) => (resolveLost = resolve))
    const listeners: Array<(reason: LostReason) => void> = []
    const ownKeyWatcher = watchNow(client.watch().key(leader.key).startRevision(leader.revision).only('delete'))

    const watchdog = setInterval(() => {
      if (Date.now() >= keeper.until()) lose(LostReason.keepAliveTimeout)
    }, Math.min(250, ttlMs / 8))
    watchdog.unref()
    keeper.onLost(() => lose(LostReason.leaseLost))

    function lose(reason: LostReason): void {
      if (lostReason) return
      lostReason = reason
      clearInterval(watchdog)
      keeper.stop()
      leaderLog.warn({ reason }, 'lost leadership')
      ownKeyWatcher.cancel().catch(() => undefined)
      // Let the next candidate in now rather than when the lease runs out.
      if (reason !== LostReason.resigned) lease.revoke().catch(() => lease.release())
      resolveLost(reason)
      for (const l of listeners.splice(0)) l(reason)
    }

    const fence = {
      key: leader.key,
      createRevision: leader.revision,
      refused: (operation: string, keys: readonly string[]) => {
        lose(LostReason.writeRefused)
        return new NotLeaderError(leader.key, leader.revision, operation, keys)
      },
    }

    ownKeyWatcher.on('delete', () => lose(LostReason.keyDeleted))

    return {
      leader,
      leaseId,
      store: store.fenced(fence),
      isLeader: () => lostReason === undefined,
      onLost(listener) {
        if (lostReason) listener(lostReason)
        else listeners.push(listener)
      },
      lost,
      async resign() {
        if (lostReason) return
        lose(LostReason.resigned)
        try {
          await call('resign', () => lease.revoke())
        } catch (err) {
          lease.release()
          throw err
        }
      },
    }
  }

  async function observe(onChange: (leader: Leader | undefined) => void, opts: { confirmEveryMs?: number } = {}): Promise<LeaderObserver> {
    let current: Leader | undefined
    let confirmedAt = -Infinity
    let closed = false
    // One read at a time, so that a slow read never reports an older leader last; a refresh
    // asked for meanwhile runs once after it. While etcd does not answer, reads do not pile up.
    let reading: Promise<void> | undefined
    let again = false
    const readOnce = async (): Promise<void> => {
      const startedAt = Date.now()
      try {
        const next = await leader()
        confirmedAt = Math.max(confirmedAt, startedAt)
        if (next?.key === current?.key && next?.revision === current?.revision) return
        current = next
        onChange(next)
      } catch (err) {
        electionLog.warn({ err: String(err) }, 'cannot read the leader')
      }
    }
    const refresh = (): Promise<void> => {
      if (closed) return Promise.resolve()
      if (reading) {
        again = true
        return reading
      }
      reading = (async () => {
        do {
          again = false
          await readOnce()
        } while (again && !closed)
        reading = undefined
      })()
      return reading
    }
    const watcher = watchNow(client.watch().prefix(prefix))
    watcher.on('data', () => void refresh())
    watcher.on('connected', () => void refresh())
    const confirmEveryMs = opts.confirmEveryMs ?? Math.max(100, (ttlSeconds * 1000) / 4)
    const timer = setInterval(() => void refresh(), confirmEveryMs)
    timer.unref()
    await refresh()
    return {
      current: () => current,
      confirmed: (maxAgeMs, now = Date.now()) => (now - confirmedAt <= maxAgeMs ? current : undefined),
      close: async () => {
        closed = true
        clearInterval(timer)
        await watcher.cancel()
      },
    }
  }

  return { ttlSeconds, campaign, leader, observe }
}

function toLeader(kv: IKeyValue): Leader {
  const candidate = JSON.parse(kv.value.toString()) as Candidate
  return { id: candidate.id, address: candidate.address, key: kv.key.toString(), revision: kv.create_revision }
}
