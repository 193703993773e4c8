// Starting a master. On the embedded store it leads alone. On etcd it campaigns for
// leadership: until elected it answers as a standby (307 to the leader, standby.ts); once
// elected it recovers the registry from etcd, answers 503 meanwhile, then serves as the
// leader with every write fenced on its election key. A master that loses leadership stops
// serving at once and exits, as a Mesos master does ("lost leadership, committing
// suicide"): whatever supervises it starts it again, as a standby.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import type { MasterFlags } from './flags.js'
import type { Router } from '../api/http.js'
import type { Leading, LeadershipHooks, RunningServer } from './leading.js'
import { serveAlone, startLeading } from './leading.js'
import { findWebUiDir } from '../api/web-ui.js'
import { systemClock } from '../core/clock.js'
import { newUuid } from '../core/ids.js'
import { createMasterRouter } from '../master/http.js'
import { createMaster } from '../master/master.js'
import { createStandbyRouter } from '../master/standby.js'
import type { Master } from '../master/types.js'
import type { EtcdStore } from '../store/etcd.js'
import { openStore, parseStoreUrl } from '../store/open.js'
import type { Store } from '../store/store.js'

const webUiDir = findWebUiDir(import.meta.dirname)

function parseWeights(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const part of text.split(',')) {
    const [role, w] = part.split('=')
    if (!role?.trim()) continue
    const n = Number(w)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`Invalid weight for role '${role}': '${w}'`)
    out[role.trim()] = n
  }
  return out
}

function newMaster(flags: MasterFlags, store: Store, log: Logger, workDir: string): Master {
  const hostname = flags.hostname ?? flags.ip
  return createMaster({
    store,
    log: log.child({ component: 'master' }),
    clock: systemClock,
    hostname,
    ip: flags.ip,
    port: flags.port,
    allocationIntervalMs: flags.allocationInterval,
    offerTimeoutMs: flags.offerTimeout,
    agentPingTimeoutMs: flags.agentPingTimeout,
    maxAgentPingTimeouts: flags.maxAgentPingTimeouts,
    agentReregisterTimeoutMs: flags.agentReregisterTimeout,
    heartbeatIntervalSeconds: flags.heartbeatInterval / 1000,
    roleWeights: parseWeights(flags.weights),
    flags: {
      ip: flags.ip,
      port: String(flags.port),
      hostname,
      work_dir: workDir,
      allocation_interval: `${flags.allocationInterval}ms`,
      offer_timeout: `${flags.offerTimeout}ms`,
      agent_ping_timeout: `${flags.agentPingTimeout}ms`,
      max_agent_ping_timeouts: String(flags.maxAgentPingTimeouts),
      agent_reregister_timeout: `${flags.agentReregisterTimeout}ms`,
      weights: flags.weights,
      ...(flags.store ? { store: flags.store, leader_lease: `${flags.leaderLease}ms` } : {}),
    },
  })
}

function leaderRouter(master: Master, flags: MasterFlags, log: Logger): Router {
  return createMasterRouter({ master, log: log.child({ component: 'master-http' }), maxBodyBytes: flags.maxBodyBytes, ...(webUiDir ? { staticDir: webUiDir } : {}) })
}

/** The leading master on its store: started, and served by the full router. */
async function leadMaster(flags: MasterFlags, store: Store, log: Logger, workDir: string): Promise<Leading> {
  const master = newMaster(flags, store, log, workDir)
  await master.start()
  return { handler: leaderRouter(master, flags, log), stop: () => master.stop() }
}

export async function startMaster(flags: MasterFlags, log: Logger, hooks: LeadershipHooks = {}): Promise<RunningServer> {
  const workDir = resolve(flags.workDir)
  mkdirSync(workDir, { recursive: true })
  const url = `http://${flags.ip}:${flags.port}`
  const opened = openStore(parseStoreUrl(flags.store), { name: 'master', defaultSqlitePath: join(workDir, 'state.db'), log })
  if (opened.backend === 'sqlite') {
    const { store } = opened
    return serveAlone({ what: 'master', host: flags.ip, port: flags.port, log, store, lead: () => leadMaster(flags, store, log, workDir) })
  }
  return startElectedMaster({ flags, log, hooks, store: opened.store, root: opened.root, workDir, url })
}

async function startElectedMaster(o: { flags: MasterFlags; log: Logger; hooks: LeadershipHooks; store: EtcdStore; root: string; workDir: string; url: string }): Promise<RunningServer> {
  const { flags, log, hooks, workDir, url } = o
  const hostname = flags.hostname ?? flags.ip
  const startedAt = Date.now()
  const running = await startLeading({
    what: 'master',
    host: flags.ip,
    port: flags.port,
    log,
    store: o.store,
    electionKey: `${o.root}elections/master/`,
    candidate: { id: newUuid(), address: `${hostname}:${flags.port}` },
    ttlSeconds: Math.max(1, Math.round(flags.leaderLease / 1000)),
    standby: (phase) => createStandbyRouter({ log, phase, startedAt }),
    lead: (leadership) => leadMaster(flags, leadership.store, log, workDir),
    ...(hooks.onLostLeadership ? { onLostLeadership: hooks.onLostLeadership } : {}),
  })
  log.info({ url, store: flags.store }, 'master started: campaigning for leadership')
  return { url, stop: () => running.stop() }
}
