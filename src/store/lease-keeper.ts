import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3'
import type { Logger } from 'pino'

// Keeps one lease alive through every etcd member at once. A member cut off by the network
// sends no reset: a keep-alive stream to it just goes quiet, and HTTP/2 pings (no more often
// than etcd's --grpc-keepalive-min-time, 5 s) find it dead only after a 2 s lease has run
// out. So each keep-alive goes to every member on a stream of its own, and any one answer
// renews the lease: a member that went quiet costs nothing while a quorum answers.

/** One etcd member's client (hosts: [that member]). */
export type MemberClient = Pick<Etcd3, 'leaseClient'>

export interface LeaseKeeper {
  /** Until when the lease is known to live: the send time of the newest keep-alive etcd answered, plus the TTL. */
  until(): number
  /**
   * Called once, when etcd answers that the lease is gone. A lease that is only unanswered
   * is the caller's to judge by until(): while etcd elects a raft leader it answers nothing
   * for seconds, then extends every lease.
   */
  onLost(listener: () => void): void
  /** Sends a keep-alive now; true once etcd confirms the lease for minMs from now, false after timeoutMs. */
  confirm(minMs: number, timeoutMs: number): Promise<boolean>
  stop(): void
}

export interface LeaseKeeperOptions {
  members: readonly MemberClient[]
  leaseId: string
  ttlMs: number
  /** Counted from here: the grant request's send time. */
  grantedAt: number
  log: Logger
  /** Between keep-alives; a quarter of the TTL by default. */
  intervalMs?: number
  now?: () => number
}

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>

interface MemberStream {
  stream: KeepAliveStream | undefined
  opening: boolean
  /** The send times of the keep-alives not yet answered, oldest first (answers come in order). */
  unanswered: number[]
}

/** A stream whose oldest keep-alive is this many TTLs old is dropped and opened again. */
const QUIET_STREAM_TTLS = 1
/** No more keep-alives are queued on a stream that has this many unanswered. */
const MAX_UNANSWERED = 8

export function keepLeaseAlive(opts: LeaseKeeperOptions): LeaseKeeper {
  const { leaseId, ttlMs, log } = opts
  const now = opts.now ?? Date.now
  const intervalMs = opts.intervalMs ?? Math.max(50, Math.floor(ttlMs / 4))
  let confirmedUntil = opts.grantedAt + ttlMs
  let lost = false
  let stopped = false
  const listeners: Array<() => void> = []
  /** Called at each confirmation (and at the loss). */
  const waiters = new Set<() => void>()
  const members: MemberStream[] = opts.members.map(() => ({ stream: undefined, opening: false, unanswered: [] }))

  function lose(): void {
    if (lost) return
    lost = true
    stop()
    for (const l of listeners.splice(0)) l()
    for (const w of [...waiters]) w()
  }

  function drop(m: MemberStream): void {
    const s = m.stream
    m.stream = undefined
    m.unanswered = []
    // Its handlers ignore it from now on (m.stream is no longer it). end(), not cancel(): a
    // cancelled call counts as a failure of the member against its client.
    s?.end()
  }

  function open(i: number): void {
    const m = members[i]!
    if (m.opening || m.stream) return
    m.opening = true
    opts.members[i]!.leaseClient
      .leaseKeepAlive()
      .then((stream) => {
        m.opening = false
        // Stopped (or lost) while the stream opened: it is not kept.
        if (stopped) {
          stream.on('error', () => undefined)
          stream.end()
          return
        }
        m.stream = stream
        stream.on('data', (res: ILeaseKeepAliveResponse) => {
          if (m.stream !== stream) return
          const sentAt = m.unanswered.shift()
          if (Number(res.TTL) <= 0) return lose()
          if (sentAt !== undefined) confirmedUntil = Math.max(confirmedUntil, sentAt + ttlMs)
          for (const w of [...waiters]) w()
        })
        stream.on('error', (err: Error) => {
          log.debug({ member: i, err: String(err) }, 'lease keep-alive stream failed')
          if (m.stream === stream) drop(m)
        })
        stream.on('end', () => {
          if (m.stream === stream) drop(m)
        })
        send(m, now())
      })
      .catch((err: unknown) => {
        m.opening = false
        log.debug({ member: i, err: String(err) }, 'lease keep-alive stream did not open')
      })
  }

  function send(m: MemberStream, at: number): void {
    const s = m.stream
    if (!s || m.unanswered.length >= MAX_UNANSWERED) return
    m.unanswered.push(at)
    s.write({ ID: leaseId })
  }

  function tick(): void {
    if (stopped) return
    const at = now()
    members.forEach((m, i) => {
      const oldest = m.unanswered[0]
      if (m.stream && oldest !== undefined && at - oldest >= QUIET_STREAM_TTLS * ttlMs) drop(m)
      if (!m.stream) open(i)
      else send(m, at)
    })
  }

  const timer = setInterval(tick, intervalMs)
  timer.unref()
  tick()

  function stop(): void {
    stopped = true
    clearInterval(timer)
    for (const m of members) drop(m)
  }

  return {
    until: () => confirmedUntil,
    onLost(listener) {
      if (lost) listener()
      else listeners.push(listener)
    },
    confirm(minMs, timeoutMs) {
      const enough = () => !lost && confirmedUntil - now() >= minMs
      if (enough()) return Promise.resolve(true)
      tick()
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          waiters.delete(check)
          clearTimeout(timer)
          resolve(ok)
        }
        const check = () => {
          if (lost) done(false)
          else if (enough()) done(true)
        }
        const timer = setTimeout(() => done(false), timeoutMs)
        waiters.add(check)
      })
    },
    stop,
  }
}
