// Starting dromos apps. On the embedded store it leads alone. On etcd several instances
// campaign: the standbys forward the v2 API to the leader (apps/standby.ts); the one elected
// loads the apps, instances and deployments from etcd, re-subscribes to the master with the
// framework id stored there (so it keeps the tasks), reconciles, and resumes the deployments
// where they were. DELETE /v2/leader abdicates; losing leadership ends the process, as it
// ends Marathon's.
import { mkdirSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import type { AppsFlags } from './flags.js'
import type { LeadershipHooks, RunningServer } from './leading.js'
import { serveAlone, startLeading } from './leading.js'
import type { Router } from '../api/http.js'
import { parseMasterList } from '../api/masters.js'
import { findWebUiDir } from '../api/web-ui.js'
import { createEventBus } from '../apps/events.js'
import { createAppsFramework } from '../apps/framework.js'
import { createAppsRouter } from '../apps/http.js'
import { createAppsStandby } from '../apps/standby.js'
import { systemClock } from '../core/clock.js'
import { newUuid } from '../core/ids.js'
import { createEventSubscriptions } from '../apps/event-subscriptions.js'
import { DEFAULT_MAX_VERSIONS } from '../apps/state.js'
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../store/etcd.js'
import { openStore, parseStoreUrl } from '../store/open.js'
import type { Store } from '../store/store.js'

const webUiDir = findWebUiDir(import.meta.dirname)

interface AppsLeader {
  readonly handler: Pick<Router, 'handle'>
  stop(): Promise<void>
}

/** The framework and its v2 API on a store; its answers name it the leader, as Marathon's do. */
async function startLeader(flags: AppsFlags, store: Store, log: Logger, abdicate?: () => Promise<void>): Promise<AppsLeader> {
  const hostname = flags.hostname ?? flags.ip
  const master = parseMasterList(flags.master).join(',')
  const appsLog = log.child({ component: 'apps' })
  const events = createEventBus({ log: appsLog.child({ component: 'events' }), now: () => new Date(systemClock.now()) })
  const framework = createAppsFramework({
    store,
    master,
    log: appsLog,
    clock: systemClock,
    events,
    frameworkName: flags.frameworkName,
    hostname,
    webuiUrl: `http://${hostname}:${flags.port}`,
    reconcileIntervalMs: flags.reconciliationInterval,
    maxLaunchesInFlight: flags.maxLaunchesInFlight,
  })
  // Callbacks hear every event, also those of the start (the first reconciliation's updates),
  // which come before the HTTP API answers.
  const subscriptions = createEventSubscriptions({ state: framework.state, events, log: appsLog.child({ component: 'event-callbacks' }) })
  await framework.start()
  const { router, close } = createAppsRouter({
    subscriptions,
    store: {
      url: flags.store ?? `sqlite://${resolve(flags.workDir, 'state.db')}`,
      timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      sessionTimeoutMs: flags.leaderLease,
      maxVersions: DEFAULT_MAX_VERSIONS,
    },
    framework,
    log: appsLog.child({ component: 'apps-http' }),
    port: flags.port,
    master,
    hostname,
    maxBodyBytes: flags.maxBodyBytes,
    now: () => new Date(systemClock.now()),
    ...(webUiDir ? { staticDir: webUiDir } : {}),
    ...(abdicate ? { abdicate: () => void abdicate() } : {}),
  })
  const self = `http://${hostname}:${flags.port}`
  return {
    handler: {
      handle(req: IncomingMessage, res: ServerResponse) {
        res.setHeader('X-Marathon-Leader', self)
        return router.handle(req, res)
      },
    },
    async stop() {
      events.close()
      await close()
      await subscriptions.close()
      await framework.stop()
    },
  }
}

export async function startApps(flags: AppsFlags, log: Logger, hooks: LeadershipHooks = {}): Promise<RunningServer> {
  const workDir = resolve(flags.workDir)
  mkdirSync(workDir, { recursive: true })
  const url = `http://${flags.ip}:${flags.port}`
  const opened = openStore(parseStoreUrl(flags.store), { name: 'apps', defaultSqlitePath: join(workDir, 'state.db'), log })
  if (opened.backend === 'sqlite') {
    const { store } = opened
    return serveAlone({ what: 'apps framework', host: flags.ip, port: flags.port, log, store, lead: () => startLeader(flags, store, log) })
  }
  const self = `${flags.hostname ?? flags.ip}:${flags.port}`
  const running = await startLeading({
    what: 'apps',
    host: flags.ip,
    port: flags.port,
    log,
    store: opened.store,
    electionKey: `${opened.root}elections/apps/`,
    candidate: { id: newUuid(), address: self },
    ttlSeconds: Math.max(1, Math.round(flags.leaderLease / 1000)),
    standby: (phase) => createAppsStandby({ log: log.child({ component: 'apps-standby' }), self, phase }),
    lead: (leadership, abdicate) => startLeader(flags, leadership.store, log, abdicate),
    ...(hooks.onLostLeadership ? { onLostLeadership: hooks.onLostLeadership } : {}),
  })
  log.info({ url, store: flags.store }, 'apps framework started: campaigning for leadership')
  return { url, stop: () => running.stop() }
}
