// The etcd store and leader election against a real etcd (see test/lib/etcd.ts): the
// store contract that SQLite also passes, election and hand-over, fencing of a deposed or
// paused leader, and what store calls do while etcd is down.
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createElection } from '../src/store/election.js'
import type { Leader, Leadership, LostReason } from '../src/store/election.js'
import { NotLeaderError, StoreUnavailableError } from '../src/store/errors.js'
import { openEtcdStore } from '../src/store/etcd.js'
import type { EtcdStore } from '../src/store/etcd.js'
import { describeStoreContract } from '../src/store/store.contract.js'
import { waitUntil } from './lib/cluster.js'
import { EtcdProcess } from './lib/etcd.js'

const log = pino({ level: 'silent' })
const TTL_SECONDS = 2

let etcd: EtcdProcess
const stores: EtcdStore[] = []
let electionCount = 0

beforeAll(async () => {
  etcd = await EtcdProcess.start()
})
afterAll(async () => {
  await etcd?.stop()
})
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
})

function open(prefix: string, requestTimeoutMs = 2_000): EtcdStore {
  const s = openEtcdStore({ endpoints: [etcd.clientUrl], prefix, log, requestTimeoutMs })
  stores.push(s)
  return s
}

/** A process of its own: its own client, the same election key and data prefix as its peers. */
function contender(electionKey: string, dataPrefix: string) {
  const store = open(dataPrefix)
  return { store, election: createElection({ store, electionKey, ttlSeconds: TTL_SECONDS, log }) }
}

function freshElection() {
  const n = ++electionCount
  return { electionKey: `/test/elections/e${n}/`, dataPrefix: `/test/data/e${n}/` }
}

const since = (t0: number) => Date.now() - t0

/** Tries a fenced write; says whether etcd accepted it. */
async function accepted(write: () => Promise<void>): Promise<boolean> {
  try {
    await write()
    return true
  } catch (err) {
    expect(err).toBeInstanceOf(NotLeaderError)
    return false
  }
}

describeStoreContract('etcd', async (space) => open(`/test/contract/${space}/`))

describe('etcd leader election', () => {
  it('elects one of two candidates; the other sees it and its address, and leads once it resigns', async () => {
    const { electionKey, dataPrefix } = freshElection()
    const a = contender(electionKey, dataPrefix)
    const b = contender(electionKey, dataPrefix)

    let t0 = Date.now()
    const leaderA = await a.election.campaign({ id: 'a', address: 'http://127.0.0.1:5051' })
    const electedMs = since(t0)
    let bElected = false
    const bCampaign = b.election.campaign({ id: 'b', address: 'http://127.0.0.1:5052' }).then((l) => {
      bElected = true
      return l
    })
    const seenByB: Array<Leader | undefined> = []
    const observer = await b.election.observe((l) => seenByB.push(l))
    expect(observer.current()).toMatchObject({ id: 'a', address: 'http://127.0.0.1:5051' })
    expect(await b.election.leader()).toMatchObject({ id: 'a', address: 'http://127.0.0.1:5051', revision: leaderA.leader.revision })
    await new Promise((r) => setTimeout(r, 300))
    expect(bElected).toBe(false)

    await leaderA.store.put('apps/x', { v: 1 })
    expect(await b.store.get('apps/x')).toEqual({ v: 1 })

    const reasons: LostReason[] = []
    leaderA.onLost((r) => reasons.push(r))
    t0 = Date.now()
    await leaderA.resign()
    const leaderB = await bCampaign
    const handOverMs = since(t0)
    expect(reasons).toEqual(['resigned'])
    expect(leaderA.isLeader()).toBe(false)
    expect(leaderB.isLeader()).toBe(true)
    await waitUntil('the observer to see b', async () => observer.current()?.id === 'b')
    expect(seenByB.map((l) => l?.id)).toEqual(['a', 'b'])

    // The one who resigned writes nothing more; the new leader does.
    expect(await accepted(() => leaderA.store.put('apps/x', { v: 'from a' }))).toBe(false)
    await leaderB.store.put('apps/x', { v: 2 })
    expect(await b.store.get('apps/x')).toEqual({ v: 2 })

    console.log(`election: first leader in ${electedMs} ms, hand-over on resign in ${handOverMs} ms`)
    await observer.close()
    await leaderB.resign()
  })

  it('keeps a leader that waited longer than its TTL to be elected (its lease was kept alive all along)', async () => {
    const { electionKey, dataPrefix } = freshElection()
    const a = contender(electionKey, dataPrefix)
    const b = contender(electionKey, dataPrefix)
    const leaderA = await a.election.campaign({ id: 'a', address: 'a:1' })
    const bCampaign = b.election.campaign({ id: 'b', address: 'b:1' })
    await new Promise((r) => setTimeout(r, TTL_SECONDS * 1000 * 2))
    await leaderA.resign()
    const leaderB = await bCampaign
    const reasons: LostReason[] = []
    leaderB.onLost((r) => reasons.push(r))
    // Past the watchdog's first ticks and another TTL: still the leader, and its writes apply.
    await new Promise((r) => setTimeout(r, TTL_SECONDS * 1000 * 1.5))
    expect(reasons).toEqual([])
    expect(leaderB.isLeader()).toBe(true)
    expect(await accepted(() => leaderB.store.put('k', 'b'))).toBe(true)
    await leaderB.resign()
  })

  it('refuses every write of a leader whose lease was revoked, and tells it at once', async () => {
    const { electionKey, dataPrefix } = freshElection()
    const a = contender(electionKey, dataPrefix)
    const b = contender(electionKey, dataPrefix)
    const leaderA = await a.election.campaign({ id: 'a', address: 'a:1' })
    await leaderA.store.batch([
      { op: 'put', key: 'k', value: 'a1' },
      { op: 'put', key: 'other', value: 'a1' },
    ])
    const bCampaign = b.election.campaign({ id: 'b', address: 'b:1' })

    let lostAfterMs: number | undefined
    const t0 = Date.now()
    leaderA.onLost(() => (lostAfterMs = since(t0)))
    // Someone else (an operator, or etcd on expiry) ends the lease.
    await b.store.client.leaseClient.leaseRevoke({ ID: leaderA.leaseId })
    const leaderB = await bCampaign
    const electedAfterMs = since(t0)
    await waitUntil('a to learn it lost', async () => lostAfterMs !== undefined, 5_000, 10)
    expect(await leaderA.lost).toBe('key-deleted')

    const staleWrites = [
      () => leaderA.store.put('k', 'stale'),
      () => leaderA.store.delete('k'),
      () => leaderA.store.batch([{ op: 'put', key: 'k', value: 'stale' }, { op: 'delete', key: 'other' }]),
    ]
    let acceptedFromStale = 0
    for (const w of staleWrites) if (await accepted(w)) acceptedFromStale++
    expect(acceptedFromStale).toBe(0)
    expect(await b.store.list('')).toEqual([
      ['k', 'a1'],
      ['other', 'a1'],
    ])
    await leaderB.store.put('k', 'b1')
    expect(await a.store.get('k')).toBe('b1')
    console.log(
      `revoked lease: a told in ${lostAfterMs} ms, b elected in ${electedAfterMs} ms, writes accepted from the stale leader: ${acceptedFromStale}/${staleWrites.length}`,
    )
    await leaderB.resign()
  })

  it('refuses the writes of a leader that was paused past its lease and does not know it yet', async () => {
    const { electionKey, dataPrefix } = freshElection()
    const a = contender(electionKey, dataPrefix)
    const observerStore = open(dataPrefix)
    const leaderA = await a.election.campaign({ id: 'a', address: 'a:1' })
    await leaderA.store.put('k', 'before')

    // The whole process stops, as under SIGSTOP or a long GC pause: no keep-alive, no
    // timer. etcd lets the lease expire meanwhile.
    const pauseMs = TTL_SECONDS * 1000 + 2_000
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs)
    // On waking, before any timer or event has run, it still believes it leads.
    expect(leaderA.isLeader()).toBe(true)
    const writeAfterPause = accepted(() => leaderA.store.put('k', 'after pause'))
    expect(await writeAfterPause).toBe(false)
    expect(await observerStore.get('k')).toBe('before')
    expect(leaderA.isLeader()).toBe(false)
    console.log(`paused leader: ${pauseMs} ms pause past a ${TTL_SECONDS} s lease, writes accepted after waking: 0/1`)

    // The next candidate leads at once.
    const b = contender(electionKey, dataPrefix)
    const t0 = Date.now()
    const leaderB = await b.election.campaign({ id: 'b', address: 'b:1' })
    expect(since(t0)).toBeLessThan(2_000)
    await leaderB.resign()
  })
})

describe('etcd down', () => {
  it('fails store calls within the deadline while etcd is frozen, and answers once it runs again', async () => {
    const requestTimeoutMs = 1_000
    const store = open('/test/frozen/', requestTimeoutMs)
    await store.put('k', 1)
    etcd.signal('SIGSTOP')
    try {
      const t = Date.now()
      const err = await store.get('k').then(
        () => undefined,
        (e: unknown) => e,
      )
      const failedMs = since(t)
      expect(err, String(err)).toBeInstanceOf(StoreUnavailableError)
      expect(failedMs).toBeLessThan(4 * requestTimeoutMs)
      console.log(`etcd frozen: get failed in ${failedMs} ms (deadline ${requestTimeoutMs} ms per call)`)
    } finally {
      etcd.signal('SIGCONT')
    }
    expect(await waitUntil('the store to answer again', () => store.get('k'), 20_000, 100)).toBe(1)
  })

  it('fails store calls within the deadline, tells the leader, and works again once etcd is back', async () => {
    const requestTimeoutMs = 1_000
    const { electionKey, dataPrefix } = freshElection()
    const store = open(dataPrefix, requestTimeoutMs)
    const election = createElection({ store, electionKey, ttlSeconds: TTL_SECONDS, log })
    await store.put('kept', { across: 'restart' })
    const leadership: Leadership = await election.campaign({ id: 'a', address: 'a:1' })
    let lostAfterMs: number | undefined
    let lostReason: LostReason | undefined
    const t0 = Date.now()
    leadership.onLost((r) => {
      lostAfterMs = since(t0)
      lostReason = r
    })

    await etcd.kill()
    const failures: Array<{ op: string; ms: number }> = []
    for (const [op, call] of [
      ['get', () => store.get('kept')],
      ['put', () => store.put('x', 1)],
      ['list', () => store.list('')],
      ['fenced put', () => leadership.store.put('x', 1)],
    ] as const) {
      const t = Date.now()
      const err = await (call() as Promise<unknown>).then(
        () => undefined,
        (e: unknown) => e,
      )
      failures.push({ op, ms: since(t) })
      expect(err, op).toBeInstanceOf(StoreUnavailableError)
      expect((err as StoreUnavailableError).message).toContain(etcd.clientUrl.replace('http://', ''))
    }
    for (const f of failures) expect(f.ms, f.op).toBeLessThan(4 * requestTimeoutMs)
    await waitUntil('the leader to learn it lost its lease', async () => lostReason !== undefined, 3 * TTL_SECONDS * 1000, 20)
    expect(lostReason).toBe('keepalive-timeout')

    const t1 = Date.now()
    await etcd.start()
    const etcdUpMs = since(t1)
    // Reads ask every member; writes go through the client's pool, which tries an endpoint
    // that failed again only after a while: both must work.
    const value = await waitUntil('the store to answer again', async () => {
      await store.put('x', 2)
      return store.get('kept')
    }, 20_000, 100)
    const recoveredMs = since(t1)
    expect(value).toEqual({ across: 'restart' })
    expect(await store.get('x')).toBe(2)
    console.log(
      `etcd killed: ${failures.map((f) => `${f.op} failed in ${f.ms} ms`).join(', ')}; leader told (${lostReason}) ${lostAfterMs} ms after the kill; ` +
        `restarted etcd healthy in ${etcdUpMs} ms, store answering ${recoveredMs} ms after the restart began`,
    )
  })
})

describe('an observer while etcd is frozen', () => {
  it('stops vouching for the leader it saw within the bound, and vouches for the next one once etcd answers', async () => {
    const { electionKey, dataPrefix } = freshElection()
    const a = contender(electionKey, dataPrefix)
    const b = contender(electionKey, dataPrefix)
    const boundMs = TTL_SECONDS * 1000
    const leaderA = await a.election.campaign({ id: 'a', address: 'a:1' })
    const observer = await b.election.observe(() => undefined)
    expect(observer.confirmed(boundMs)?.id).toBe('a')
    const t0 = Date.now()
    etcd.signal('SIGSTOP')
    let unconfirmedMs: number
    try {
      await waitUntil('the observer to stop vouching for a', async () => observer.confirmed(boundMs) === undefined, 3 * boundMs, 20)
      unconfirmedMs = since(t0)
      // The watch said nothing: the leader seen last is still a, but no longer confirmed.
      expect(observer.current()?.id).toBe('a')
      expect(unconfirmedMs).toBeGreaterThanOrEqual(boundMs - (boundMs / 4) - 50)
    } finally {
      etcd.signal('SIGCONT')
    }
    // a's watchdog saw no keep-alive for a TTL: it stepped down. b, campaigning now, leads.
    await waitUntil('a to step down', async () => !leaderA.isLeader(), 20_000, 20)
    const leaderB = await b.election.campaign({ id: 'b', address: 'b:1' })
    await waitUntil('the observer to vouch for b', async () => observer.confirmed(boundMs)?.id === 'b', 10_000, 20)
    console.log(`etcd frozen: observer stopped naming the leader after ${unconfirmedMs} ms (bound ${boundMs} ms)`)
    await observer.close()
    await leaderB.resign()
  })
})

describe('a three-member etcd cluster', () => {
  it('keeps the store and the leader when one member dies', async () => {
    const members = await EtcdProcess.startCluster(3)
    const endpoints = members.map((m) => m.clientUrl)
    const clusterStores: EtcdStore[] = []
    const openOnCluster = () => {
      const s = openEtcdStore({ endpoints, prefix: '/test/cluster/', log, requestTimeoutMs: 1_000 })
      clusterStores.push(s)
      return s
    }
    try {
      const store = openOnCluster()
      // The member killed may be etcd's raft leader: the others answer nothing until they
      // have elected one (1-3 s), longer than a 2 s lease can go unconfirmed.
      const ttlSeconds = 5
      const election = createElection({ store, electionKey: '/test/cluster-elections/', ttlSeconds, log })
      const leadership = await election.campaign({ id: 'a', address: 'a:1' })
      let lostReason: LostReason | undefined
      leadership.onLost((r) => (lostReason = r))
      await leadership.store.put('k', 1)

      const t0 = Date.now()
      await members[0]!.kill()
      // Writes go on through the other members while a quorum stands.
      await waitUntil(
        'a fenced write through the surviving members',
        async () => {
          if (lostReason) throw new Error(`leadership lost: ${lostReason}`)
          await leadership.store.put('k', 2)
          return true
        },
        15_000,
        100,
      )
      const failoverMs = since(t0)
      expect(await openOnCluster().get('k')).toBe(2)
      // Keep-alives fail over too: the lease outlives several TTLs.
      await new Promise((r) => setTimeout(r, 2 * ttlSeconds * 1000))
      expect(lostReason).toBeUndefined()
      await leadership.store.put('k', 3)
      console.log(`3-member cluster: one member killed, fenced writes went on after ${failoverMs} ms, leader kept its lease`)
      await leadership.resign()
    } finally {
      for (const s of clusterStores) await s.close()
      for (const m of members) await m.stop()
    }
  })

  it('keeps a leader whose lease is shorter than a dead connection takes to notice, while one member is frozen', async () => {
    // A frozen member keeps its connections open and answers nothing, as a host cut off by
    // the network does: nothing tells the client, and HTTP/2 pings (at most every 5 s) find
    // out long after a 2 s lease has run out. Keep-alives go to every member, so the lease
    // holds on the answers of the others.
    const members = await EtcdProcess.startCluster(3)
    const endpoints = members.map((m) => m.clientUrl)
    const store = openEtcdStore({ endpoints, prefix: '/test/frozen/', log, requestTimeoutMs: 1_000 })
    let frozen: EtcdProcess | undefined
    try {
      // Freeze a follower: the leader's loss would stall the whole cluster for an election.
      const statuses = await Promise.all(store.members().map((c) => c.maintenance.status()))
      const follower = statuses.findIndex((st) => st.header.member_id !== st.leader)
      expect(follower).toBeGreaterThanOrEqual(0)
      const election = createElection({ store, electionKey: '/test/frozen-elections/', ttlSeconds: TTL_SECONDS, log })
      const leadership = await election.campaign({ id: 'a', address: 'a:1' })
      let lostReason: LostReason | undefined
      leadership.onLost((r) => (lostReason = r))

      frozen = members[follower]!
      frozen.signal('SIGSTOP')
      const ttlMs = TTL_SECONDS * 1000
      for (let waited = 0; waited < 4 * ttlMs; waited += 250) {
        await new Promise((r) => setTimeout(r, 250))
        expect(lostReason).toBeUndefined()
      }
      expect(leadership.isLeader()).toBe(true)
      await waitUntil('a fenced write with one member frozen', async () => {
        await leadership.store.put('k', 'after')
        return true
      }, 10_000, 100)
      // etcd itself still holds the lease.
      const ttl = await store.client.leaseClient.leaseTimeToLive({ ID: leadership.leaseId })
      expect(Number(ttl.TTL)).toBeGreaterThan(0)
      console.log(`3-member cluster, one member frozen for ${4 * TTL_SECONDS} s: the ${TTL_SECONDS} s lease held`)
      frozen.signal('SIGCONT')
      frozen = undefined
      await leadership.resign()
    } finally {
      frozen?.signal('SIGCONT')
      await store.close()
      for (const m of members) await m.stop()
    }
  })
})
