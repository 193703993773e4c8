// The shell of a process that runs in HA on etcd (a master, dromos apps): it listens at once
// and answers as a standby, campaigns, and once elected builds its leading self on the
// fenced store and serves as it. A process that loses leadership stops serving as the
// leader at once and tells its caller, who exits (as Mesos masters and Marathon do): the
// supervisor starts it again, as a standby.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { Router } from '../api/http.js'
import { closeServer, listen } from '../api/http.js'
import type { LeaderPhase } from '../api/leader-phase.js'
import type { Candidate, LeaderObserver, Leadership, LostReason } from '../store/election.js'
import { CampaignAbortedError, createElection } from '../store/election.js'
import type { EtcdStore } from '../store/etcd.js'
import type { Store } from '../store/store.js'

type Handler = Pick<Router, 'handle'>

/** A master or dromos apps as its starter hands it back. */
export interface RunningServer {
  readonly url: string
  stop(): Promise<void>
}

export interface LeadershipHooks {
  /** Called once when this process, having led, loses leadership or abdicates (it serves nothing as the leader any more). */
  onLostLeadership?: (reason: LostReason) => void
}

export interface Leading {
  /** What this process serves as the leader, built on the fenced store once elected. */
  readonly handler: Handler
  /** Stops it (before leadership is given up). */
  stop(): Promise<void>
}

export interface LeadingOptions {
  readonly what: string
  readonly host: string
  readonly port: number
  readonly log: Logger
  readonly store: EtcdStore
  readonly electionKey: string
  readonly candidate: Candidate
  readonly ttlSeconds: number
  /** The standby's answers; it reads the phase at each request. */
  readonly standby: (phase: () => LeaderPhase) => Handler
  /**
   * Builds the leader on the fenced store; requests wait in 'recovering' meanwhile. `abdicate`
   * gives leadership up (the next candidate leads at once) and then reports it lost.
   */
  readonly lead: (leadership: Leadership, abdicate: () => Promise<void>) => Promise<Leading>
  /** Called once when this process, having led, loses leadership. */
  readonly onLostLeadership?: (reason: LostReason) => void
}

export interface RunningLeading {
  /** The leadership held now, if any. */
  leadership(): Leadership | undefined
  stop(): Promise<void>
}

export async function startLeading(o: LeadingOptions): Promise<RunningLeading> {
  const log = o.log.child({ component: `${o.what}-election`, candidate: o.candidate.address })
  const election = createElection({ store: o.store, electionKey: o.electionKey, ttlSeconds: o.ttlSeconds, log: o.log })

  const leaseMs = election.ttlSeconds * 1000
  let observer: LeaderObserver | undefined
  // A standby names the leader only while etcd has confirmed it within one lease: past that
  // (etcd lost its quorum, or this process lost etcd) the leader it saw last may have stepped
  // down already, so it answers 503 rather than send clients there.
  let phase: LeaderPhase = { phase: 'standby', leader: () => observer?.confirmed(leaseMs)?.address }
  let active: Handler = o.standby(() => phase)
  const server = await listen({ router: { handle: (req: IncomingMessage, res: ServerResponse) => active.handle(req, res) }, host: o.host, port: o.port, log: o.log })

  const abort = new AbortController()
  let leadership: Leadership | undefined
  let leading: Leading | undefined

  /** Runs fn until it succeeds or the process stops, waiting longer after each failure. */
  async function retrying<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    let delay = 250
    while (!abort.signal.aborted) {
      try {
        return await fn()
      } catch (err) {
        if (abort.signal.aborted) return undefined
        log.warn({ err: String(err), retryInMs: delay }, `${what} failed; retrying`)
        await new Promise((r) => setTimeout(r, delay))
        delay = Math.min(delay * 2, 2000)
      }
    }
    return undefined
  }

  async function lead(): Promise<void> {
    observer = await retrying('watching the leader', () =>
      election.observe((leader) => {
        log.info({ leader: leader?.address ?? null }, leader ? 'leader is known' : 'no leader')
      }),
    )
    leadership = await retrying('campaigning', async () => {
      try {
        return await election.campaign(o.candidate, { signal: abort.signal })
      } catch (err) {
        if (err instanceof CampaignAbortedError && abort.signal.aborted) return undefined
        throw err
      }
    })
    if (!leadership || abort.signal.aborted) return
    const won = leadership
    phase = { phase: 'recovering' }
    let abdicating = false
    const abdicate = async (): Promise<void> => {
      abdicating = true
      await won.resign().catch((err: unknown) => log.warn({ err: String(err) }, 'could not revoke the lease: the next leader waits for it to expire'))
      o.onLostLeadership?.('resigned')
    }
    won.onLost((reason) => {
      if (abort.signal.aborted) return
      // From here on this process must not act as the leader: it answers nothing as one.
      log.error({ reason }, 'lost leadership: stopping')
      phase = { phase: 'standby', leader: () => undefined }
      active = o.standby(() => phase)
      void leading?.stop()
      // An abdication reports itself once the lease is revoked, not before.
      if (!abdicating) o.onLostLeadership?.(reason)
    })
    leading = await o.lead(won, abdicate)
    if (!won.isLeader()) return
    active = leading.handler
    log.info('elected: leading')
  }
  const campaigning = lead().catch((err: unknown) => {
    log.error({ err }, 'could not take up leadership')
    o.onLostLeadership?.('write-refused')
  })

  return {
    leadership: () => (leadership?.isLeader() ? leadership : undefined),
    async stop() {
      abort.abort()
      await leading?.stop()
      // Resigning lets the next candidate lead at once instead of after the lease.
      await leadership?.resign().catch(() => undefined)
      await campaigning
      await observer?.close().catch(() => undefined)
      await closeServer(server)
      await o.store.close()
    },
  }
}

/**
 * Without etcd (the SQLite store of `dromos up`): the process is the only one of its kind and
 * leads from the start. It stops as a leader does: itself, then its server, then its store.
 */
export async function serveAlone(o: { what: string; host: string; port: number; log: Logger; store: Store; lead: () => Promise<Leading> }): Promise<RunningServer> {
  const leading = await o.lead()
  const server = await listen({ router: leading.handler, host: o.host, port: o.port, log: o.log })
  const url = `http://${o.host}:${o.port}`
  o.log.info({ url }, `${o.what} started`)
  return {
    url,
    async stop() {
      await leading.stop()
      await closeServer(server)
      await o.store.close()
    },
  }
}
