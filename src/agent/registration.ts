// Registration with the master: the agent registers (again) with everything it runs, and
// registers again when the master stops pinging it or a new master pings it.
import type { Logger } from 'pino'
import type { AgentRegisteredWire, AgentRegistrationWire } from '../api/internal.js'
import { MasterInternalPath } from '../api/internal.js'
import type { Masters } from '../api/masters.js'
import { fetchLeader, parseMasterList } from '../api/masters.js'
import { resourcesToWire } from '../api/mesos.js'
import { newUuid } from '../core/ids.js'
import { isTerminal } from '../core/task-state.js'
import type { AgentState } from './state.js'
import type { StatusUpdateSender } from './status-updates.js'
import type { AgentOptions } from './types.js'
import { AGENT_VERSION } from './types.js'

export interface Registration {
  /** Registers, retrying with backoff until the master accepts or the agent stops; one attempt at a time. */
  register(): Promise<void>
  registering(): boolean
  /** A ping from the master. One from a master other than the one the agent registered with makes it re-register. */
  ping(agentId: string | null, masterId?: string | null, masterAddress?: string | null): boolean
  /** Starts the watchdog that re-registers when the master stops pinging. */
  watch(): void
  stop(): void
}

function masterUrlOf(address: string): string | undefined {
  try {
    return parseMasterList(address)[0]
  } catch {
    return undefined
  }
}

export function createRegistration(o: { opts: AgentOptions; masters: Masters; state: AgentState; sender: StatusUpdateSender; log: Logger }): Registration {
  const { opts, masters, state, sender, log } = o
  const { clock } = opts
  let inFlight: Promise<void> | undefined
  // The attempt under way, and the new master for whose sake one was called off: an attempt
  // may wait up to its timeout on a master that a partition cut off, while the new leader pings.
  let attemptAbort: AbortController | undefined
  let calledOffFor: string | undefined
  let watchdog: NodeJS.Timeout | undefined
  let stopped = false
  // Every attempt is numbered, per run of this process: the master refuses one older than an
  // attempt it took (a request delivered late, after a partition, must not undo a newer one).
  const run = newUuid()
  let attempts = 0

  function registration(): AgentRegistrationWire {
    const report = [...state.tasks.values()]
      .filter((t) => !isTerminal(t.state) || state.pending(t.frameworkId, t.info.task_id.value).length > 0)
      .map((t) => ({ framework_id: t.frameworkId, task_info: t.info, state: t.state, ...(t.latest ? { status: t.latest } : {}) }))
    return {
      ...(state.agentId ? { agent_id: state.agentId } : {}),
      hostname: opts.hostname,
      ip: opts.ip,
      port: opts.port,
      resources: resourcesToWire(opts.resources),
      attributes: opts.attributes,
      version: AGENT_VERSION,
      tasks: report,
      attempt: { run, seq: attempts++ },
    }
  }

  async function attempt(signal: AbortSignal): Promise<void> {
    const r = await fetchLeader(masters, MasterInternalPath.register, {
      signal,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(registration()),
    })
    if (!r.ok) throw new Error(`master answered ${r.status}: ${await r.text()}`)
    const body = (await r.json()) as AgentRegisteredWire
    state.apply({ type: 'registered', agentId: body.agent_id, masterId: body.master_id, pingIntervalMs: body.ping_interval_ms }, clock.now())
    await state.written()
    log.info({ agentId: state.agentId, master: masters.current() }, 'registered with master')
    sender.flush()
  }

  function register(): Promise<void> {
    if (inFlight) return inFlight
    inFlight = (async () => {
      let delay = 200
      while (!stopped) {
        const abort = (attemptAbort = new AbortController())
        try {
          await attempt(abort.signal)
          return
        } catch (e) {
          if (abort.signal.aborted && !stopped) {
            log.info('registration attempt called off for the new master: registering with it')
            delay = 200
            continue
          }
          log.warn({ err: (e as Error).message, retryInMs: delay }, 'registration failed; retrying')
          await new Promise((res) => setTimeout(res, delay))
          delay = Math.min(delay * 2, 5000)
        }
      }
    })().finally(() => {
      inFlight = undefined
      attemptAbort = undefined
    })
    return inFlight
  }

  return {
    register,
    registering: () => inFlight !== undefined,
    ping(id, fromMaster, address) {
      if (id && state.agentId && id !== state.agentId) return false
      state.apply({ type: 'master-pinged' }, clock.now())
      if (fromMaster && state.masterId && fromMaster !== state.masterId && (!inFlight || calledOffFor !== fromMaster)) {
        log.info({ masterId: fromMaster, previous: state.masterId, master: address }, 'pinged by a new master: re-registering')
        // It is most likely the new leader: try it first (it redirects, if not). Only a master
        // of --master is taken at its word.
        const url = address ? masterUrlOf(address) : undefined
        if (url && masters.order().includes(url)) masters.answered(url)
        // An attempt under way may be waiting on the old master: called off, once per new master.
        calledOffFor = fromMaster
        if (inFlight) attemptAbort?.abort()
        else void register()
      }
      return true
    },
    watch() {
      // A master that stops pinging has restarted or lost us: register again.
      watchdog = setInterval(() => {
        if (!inFlight && clock.now() - state.lastPingAt > state.pingIntervalMs * 3) void register()
      }, 1000)
      watchdog.unref()
    },
    stop() {
      stopped = true
      if (watchdog) clearInterval(watchdog)
    },
  }
}
