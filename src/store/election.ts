import type { IKeyValue, Lease } from 'etcd3'
import type { Logger } from 'pino'
import { rangeEndOf } from './etcd.js'
import type { EtcdStore } from './etcd.js'
import { NotLeaderError } from './errors.js'
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
  close(): Promise<void>
}

export interface Election {
  /** Resolves once elected; rejects if the lease is lost first or signal aborts. */
  campaign(candidate: Candidate, opts?: { signal?: AbortSignal }): Promise<Leadership>
  leader(): Promise<Leader | undefined>
  /** Calls onChange with the leader now and at each change (undefined: none). */
  observe(onChange: (leader: Leader | undefined) => void): Promise<LeaderObserver>
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
    const res = await call('leader', () =>
      client.kv.range({ key: prefix, range_end: prefixEnd, sort_target: 'Create', sort_order: 'Ascend', limit: 1 }),
    )
    return res.kvs[0] ? toLeader(res.kvs[0]) : undefined
  }

  async function campaign(candidate: Candidate, { signal }: { signal?: AbortSignal } = {}): Promise<Leadership> {
    const grantSentAt = Date.now()
    const lease = client.lease(ttlSeconds)
    // Settles when the campaign must stop waiting: the lease is gone or the caller gave up.
    let stop: (reason: string) => void = () => undefined
    const stopped = new Promise<never>((_, reject) => {
      stop = (reason) => reject(new CampaignAbortedError(electionKey, reason))
    })
    stopped.catch(() => undefined)
    lease.on('lost', (err) => stop(`lease lost: ${err.message}`))
    const onAbort = () => stop('aborted')
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const leaseId = await Promise.race([call('campaign', () => lease.grant()), stopped])
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
      const elected = createLeadership({ lease, leaseId, leader: { ...candidate, key: key.toString(), revision }, grantSentAt })
      electionLog.info({ candidate, revision }, 'elected')
      return await elected
    } catch (err) {
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
      const watcher = await call('campaign', () =>
        client.watch().key(predecessor.key).startRevision(String(BigInt(res.header.revision) + 1n)).only('delete').create(),
      )
      try {
        await Promise.race([new Promise<void>((resolve) => watcher.once('delete', () => resolve())), stopped])
      } finally {
        await watcher.cancel()
      }
    }
  }

  async function createLeadership(opts: { lease: Lease; leaseId: string; leader: Leader; grantSentAt: number }): Promise<Leadership> {
    const { lease, leaseId, leader } = opts
    const leaderLog = electionLog.child({ leaderId: leader.id, revision: leader.revision })
    const ttlMs = ttlSeconds * 1000
    let lostReason: LostReason | undefined
    let resolveLost: (reason: LostReason) => void = () => undefined
    const lost = new Promise<LostReason>((resolve) => (resolveLost = resolve))
    const listeners: Array<(reason: LostReason) => void> = []
    const ownKeyWatcher = await call('campaign', () =>
      client.watch().key(leader.key).startRevision(leader.revision).only('delete').create(),
    )

    // A lease is safe to count on until one TTL after the last keep-alive etcd confirmed
    // was sent (the server counts from when it received it, which is later).
    let confirmedUntil = opts.grantSentAt + ttlMs
    let unansweredSince: number | undefined
    lease.on('keepaliveFired', () => (unansweredSince ??= Date.now()))
    lease.on('keepaliveSucceeded', () => {
      if (unansweredSince !== undefined) confirmedUntil = Math.max(confirmedUntil, unansweredSince + ttlMs)
      unansweredSince = undefined
    })
    const watchdog = setInterval(() => {
      if (Date.now() >= confirmedUntil) lose(LostReason.keepAliveTimeout)
    }, Math.min(250, ttlMs / 8))
    watchdog.unref()
    lease.on('lost', () => lose(LostReason.leaseLost))

    function lose(reason: LostReason): void {
      if (lostReason) return
      lostReason = reason
      clearInterval(watchdog)
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

  async function observe(onChange: (leader: Leader | undefined) => void): Promise<LeaderObserver> {
    let current: Leader | undefined
    // Reads run one after another, so that a slow read never reports an older leader last.
    let reading = Promise.resolve()
    const refresh = () => {
      reading = reading
        .then(async () => {
          const next = await leader()
          if (next?.key === current?.key && next?.revision === current?.revision) return
          current = next
          onChange(next)
        })
        .catch((err: unknown) => electionLog.warn({ err: String(err) }, 'cannot read the leader'))
    }
    const watcher = await call('observe', () => client.watch().prefix(prefix).create())
    watcher.on('data', refresh)
    watcher.on('connected', refresh)
    refresh()
    await reading
    return {
      current: () => current,
      close: () => watcher.cancel(),
    }
  }

  return { campaign, leader, observe }
}

function toLeader(kv: IKeyValue): Leader {
  const candidate = JSON.parse(kv.value.toString()) as Candidate
  return { id: candidate.id, address: candidate.address, key: kv.key.toString(), revision: kv.create_revision }
}
