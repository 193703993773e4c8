// Starting the long-running processes: each `start*` returns a handle with `stop()`, so that
// `dromos up` can run several of them in one process and stop them in order.
import { mkdirSync, statfsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { availableParallelism, hostname as osHostname, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import pino from 'pino'
import { startApps } from './apps-process.js'
import { DEFAULT_MAX_LAUNCHES_IN_FLIGHT } from '../apps/framework.js'
import { startMaster } from './master-process.js'
import type { ControlPlane } from './up-ha.js'
import { haAppsPorts, haEtcdPorts, haMasterPorts, startHaControlPlane } from './up-ha.js'
import { takenPorts } from './ports.js'
import type { AgentFlags, AppsFlags, DnsFlags, LbFlags, MasterFlags, UpFlags } from './flags.js'
import type { Agent } from '../agent/agent.js'
import { createAgent } from '../agent/agent.js'
import { createDockerContainerizer } from '../agent/containerizers/docker.js'
import { createProcessContainerizer } from '../agent/containerizers/process.js'
import { createHollowContainerizer, parseDelayRange } from '../agent/containerizers/hollow.js'
import type { Containerizer } from '../agent/containerizers/types.js'
import { agentRouter } from '../agent/http.js'
import type { Router } from '../api/http.js'
import { closeServer, listen, sendText } from '../api/http.js'
import { parseMasterList } from '../api/masters.js'
import { parseAttributeString } from '../api/mesos.js'
import { findWebUiDir } from '../api/web-ui.js'
import { systemClock } from '../core/clock.js'
import type { Resources } from '../core/resources.js'
import { add, formatResources, parseResourceString } from '../core/resources.js'
import { createDnsServer } from '../dns/server.js'
import { createHaproxy } from '../lb/haproxy.js'
import { createLoadBalancer } from '../lb/lb.js'
import { openSqliteStore } from '../store/sqlite.js'
import type { BatchStore, Store } from '../store/store.js'
import { coalesceBatches } from '../store/coalesce.js'

/** The web UI that the master and apps serve: web/dist of this checkout, when it is built. */
const webUiDir = findWebUiDir(import.meta.dirname)

export interface Running {
  readonly url: string
  stop(opts?: { destroyTasks?: boolean }): Promise<void>
}

/** Resources of this machine, less a share kept for the system, as the Mesos agent does. */
export function detectResources(workDir: string): Resources {
  const memMb = Math.floor(totalmem() / 1024 / 1024)
  let diskMb = 10_000
  try {
    const s = statfsSync(workDir)
    diskMb = Math.floor((s.bavail * s.bsize) / 1024 / 1024)
  } catch {
    // keep the default
  }
  return {
    scalars: {
      cpus: availableParallelism(),
      mem: Math.max(256, memMb >= 2048 ? memMb - 1024 : Math.floor(memMb / 2)),
      disk: Math.max(1024, diskMb >= 10_240 ? diskMb - 5120 : Math.floor(diskMb / 2)),
    },
    ranges: { ports: [{ begin: 31000, end: 32000 }] },
  }
}

/** A view of one store under a key prefix: many agents of one process share one SQLite file. */
function scopedStore(store: BatchStore, prefix: string): BatchStore {
  return {
    get: (key) => store.get(prefix + key),
    put: (key, value) => store.put(prefix + key, value),
    delete: (key) => store.delete(prefix + key),
    batch: (writes) => store.batch(writes.map((w) => ({ ...w, key: prefix + w.key }))),
    list: async <T>(p: string) => (await store.list<T>(prefix + p)).map(([k, v]): [string, T] => [k.slice(prefix.length), v]),
    close: async () => {},
  }
}

function agentResources(flags: AgentFlags, workDir: string): Resources {
  const detected = detectResources(workDir)
  // Given resources replace the detected ones kind by kind, as --resources does in Mesos.
  const given = flags.resources ? parseResourceString(flags.resources) : undefined
  return given
    ? add({ scalars: Object.fromEntries(Object.entries(detected.scalars).filter(([k]) => !(k in given.scalars))), ranges: Object.fromEntries(Object.entries(detected.ranges).filter(([k]) => !(k in given.ranges))) }, given)
    : detected
}

function agentContainerizers(flags: AgentFlags, workDir: string, log: Logger): Containerizer[] {
  const names = flags.containerizers.split(',').map((s) => s.trim()).filter(Boolean)
  const containerizers: Containerizer[] = []
  const fetcher = { cacheDir: join(workDir, 'fetcher-cache') }
  for (const name of names) {
    if (name === 'docker') containerizers.push(createDockerContainerizer({ log: log.child({ component: 'docker' }), fetcher }))
    else if (name === 'process' || name === 'mesos') containerizers.push(createProcessContainerizer({ log: log.child({ component: 'process' }), runDir: join(workDir, 'run', 'process'), fetcher }))
    else if (name === 'hollow')
      containerizers.push(
        createHollowContainerizer({ log, startMs: parseDelayRange(flags.hollowStartMs ?? '0-10'), checkMs: parseDelayRange(flags.hollowCheckMs ?? '0') }),
      )
    else throw new Error(`Unknown containerizer '${name}': expected docker, process or hollow`)
  }
  return containerizers
}

/**
 * One agent of this process, on its own port (0: one the kernel picks), work dir and (view of
 * the) store. Its listener is bound before the agent is made, so that the port the agent
 * advertises is the one it holds: a port only found free could be taken before the agent
 * binds it, and a process of many hollow agents next to a master with thousands of
 * connections leaves few ports free.
 */
async function startOneAgent(o: { flags: AgentFlags; log: Logger; store: Store; workDir: string; port: number; hostname: string; resources: Resources }): Promise<Running> {
  const { flags, log, workDir, hostname, resources } = o
  const httpLog = log.child({ component: 'agent-http' })
  let router: Pick<Router, 'handle'> | undefined
  const server = await listen({
    // The routes come once the agent is made, in the same turn: nothing can have asked before.
    router: { handle: async (req, res) => (router ? router.handle(req, res) : sendText(res, 503, 'Agent starting')) },
    host: flags.ip,
    port: o.port,
    log: httpLog,
  })
  const port = (server.address() as AddressInfo).port
  let agent: Agent
  try {
    agent = makeAgent(port)
    // Served before it registers: the master pings the agent as soon as it has.
    router = agentRouter({ agent, log: httpLog, maxBodyBytes: flags.maxBodyBytes })
    await agent.start()
  } catch (e) {
    await closeServer(server)
    throw e
  }
  log.info({ url: `http://${flags.ip}:${port}`, agentId: agent.agentId() }, 'agent started')
  return {
    url: `http://${flags.ip}:${port}`,
    async stop(opts = {}) {
      await agent.stop(opts)
      await closeServer(server)
    },
  }

  function makeAgent(port: number): Agent {
    return createAgent({
      masters: parseMasterList(flags.master),
      ip: flags.ip,
      port,
      hostname,
      workDir,
      resources,
      attributes: parseAttributeString(flags.attributes),
      containerizers: agentContainerizers(flags, workDir, log),
      store: o.store,
      log: log.child({ component: 'agent' }),
      clock: systemClock,
      statusUpdateRetryMs: flags.statusUpdateRetry,
      statusUpdateMaxRetryMs: 10 * 60_000,
      flags: {
        master: flags.master,
        ip: flags.ip,
        port: String(port),
        hostname,
        work_dir: workDir,
        resources: formatResources(resources),
        attributes: flags.attributes,
        containerizers: flags.containerizers,
        status_update_retry: `${flags.statusUpdateRetry}ms`,
        max_body_bytes: String(flags.maxBodyBytes),
        logging_level: flags.logLevel,
      },
    })
  }
}

/**
 * The agents of this process: one, or with --count many (hollow agents for scale benchmarks),
 * each with its own id, hostname, port, HTTP listener and work dir under --work-dir, sharing
 * one logger and one SQLite file in which each checkpoints under its own prefix.
 */
export async function startAgent(flags: AgentFlags, log: Logger): Promise<Running> {
  const workDir = resolve(flags.workDir)
  mkdirSync(workDir, { recursive: true })
  const store = openSqliteStore(join(workDir, 'checkpoint.db'))
  const resources = agentResources(flags, workDir)
  const count = flags.count ?? 1
  if (count === 1 && flags.portBase === undefined && flags.hostnamePrefix === undefined) {
    const start = (port: number): Promise<Running> => startOneAgent({ flags, log, store, workDir, port, hostname: flags.hostname ?? osHostname(), resources })
    const one = await start(flags.port)
    return {
      url: one.url,
      async stop(opts) {
        await one.stop(opts)
        await store.close()
      },
    }
  }
  if (flags.portBase === undefined && flags.port !== 0) throw new Error('--count needs --port-base, or --port 0 for a free port each')
  const prefix = flags.hostnamePrefix ?? `${flags.hostname ?? osHostname()}-`
  const shared = coalesceBatches(store)
  const agents: Running[] = []
  const stopAll = async (opts?: { destroyTasks?: boolean }): Promise<void> => {
    for (const a of agents) await a.stop(opts)
    await shared.close()
  }
  try {
    for (let i = 0; i < count; i++) {
      const hostname = `${prefix}${i}`
      const agentLog = log.child({ hostname })
      const start = (port: number): Promise<Running> => startOneAgent({ flags, log: agentLog, store: scopedStore(shared, `agents/${hostname}/`), workDir: join(workDir, hostname), port, hostname, resources })
      agents.push(await start(flags.portBase !== undefined ? flags.portBase + i : 0))
    }
  } catch (e) {
    await stopAll()
    throw e
  }
  log.info({ agents: count, first: agents[0]?.url }, 'agents started')
  return { url: agents[0]?.url ?? '', stop: stopAll }
}

export async function startLb(flags: LbFlags, log: Logger): Promise<Running> {
  const workDir = resolve(flags.workDir)
  const lbLog = log.child({ component: 'lb', group: flags.group })
  const haproxy = createHaproxy({ dir: workDir, binary: flags.haproxy, log: lbLog.child({ component: 'haproxy' }) })
  const lb = createLoadBalancer({
    appsUrl: flags.apps.startsWith('http') ? flags.apps : `http://${flags.apps}`,
    group: flags.group,
    haproxy,
    log: lbLog,
    clock: systemClock,
    bindAddress: flags.bindAddress,
    httpPort: flags.httpPort,
    httpsPort: flags.httpsPort ?? 443,
    appIdPort: flags.appIdPort ?? 9091,
    sslCerts: (flags.sslCerts ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean)
      .map((c) => resolve(c)),
    ...(flags.strictMode ? { strict: true } : {}),
    statsPort: flags.statsPort,
    ...(flags.alwaysReload ? { alwaysReload: true } : {}),
  })
  await lb.start()
  log.info({ stats: `http://127.0.0.1:${flags.statsPort}/haproxy?stats` }, 'load balancer started')
  return {
    url: `http://127.0.0.1:${flags.statsPort}`,
    async stop() {
      await lb.stop()
    },
  }
}

function onSignals(stop: () => Promise<void>): void {
  let stoppingSince: number | undefined
  const handler = (): void => {
    if (stoppingSince !== undefined) {
      // Wrappers (make, timeout, a terminal's process group) often deliver one Ctrl-C twice;
      // only a later one means "stop waiting".
      if (Date.now() - stoppingSince < 1000) return
      process.stderr.write('dromos: stopping abandoned; tasks may still run\n')
      process.exit(130)
    }
    stoppingSince = Date.now()
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`dromos: stopping failed: ${(e as Error).message}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

export async function runMaster(flags: MasterFlags): Promise<void> {
  const log = pino({ level: flags.logLevel })
  const m = await startMaster(flags, log, {
    onLostLeadership: (reason) => {
      process.stderr.write(`dromos master: lost leadership (${reason}); exiting so that it starts again as a standby\n`)
      process.exit(1)
    },
  })
  onSignals(() => m.stop())
}

export async function runAgent(flags: AgentFlags): Promise<void> {
  const log = pino({ level: flags.logLevel })
  const a = await startAgent(flags, log)
  onSignals(() => a.stop())
}

export async function runApps(flags: AppsFlags): Promise<void> {
  const log = pino({ level: flags.logLevel })
  const a = await startApps(flags, log, {
    onLostLeadership: (reason) => {
      process.stderr.write(`dromos apps: ${reason === 'resigned' ? 'abdicated' : `lost leadership (${reason})`}; exiting so that it starts again as a standby\n`)
      process.exit(reason === 'resigned' ? 0 : 1)
    },
  })
  onSignals(() => a.stop())
}

export async function runLb(flags: LbFlags): Promise<void> {
  const log = pino({ level: flags.logLevel })
  const lb = await startLb(flags, log)
  onSignals(() => lb.stop())
}

export async function runDns(flags: DnsFlags): Promise<void> {
  const log = pino({ level: flags.logLevel })
  const dns = createDnsServer({
    appsUrl: flags.apps.startsWith('http') ? flags.apps : `http://${flags.apps}`,
    host: flags.host,
    port: flags.port,
    domain: flags.domain,
    framework: flags.framework,
    masterIp: flags.masterIp,
    ttl: flags.ttl,
    ...(flags.http ? { httpPort: flags.httpPort } : {}),
    log: log.child({ component: 'dns' }),
  })
  await dns.start()
  onSignals(() => dns.stop())
}

/** One master and one dromos apps in this process, on the embedded store. */
async function startControlPlane(flags: UpFlags, workDir: string, log: Logger): Promise<ControlPlane> {
  const master = await startMaster(
    {
      ip: '127.0.0.1',
      port: flags.masterPort,
      workDir: join(workDir, 'master'),
      allocationInterval: 1000,
      offerTimeout: 0,
      agentPingTimeout: 15_000,
      maxAgentPingTimeouts: 5,
      agentReregisterTimeout: 600_000,
      heartbeatInterval: 15_000,
      weights: '',
      maxBodyBytes: 4 * 1024 * 1024,
      logLevel: flags.logLevel,
      leaderLease: 2000,
    },
    log,
  )
  const apps = await startApps(
    {
      master: master.url,
      ip: '127.0.0.1',
      port: flags.appsPort,
      workDir: join(workDir, 'apps'),
      frameworkName: 'marathon',
      reconciliationInterval: 60_000,
      maxBodyBytes: 4 * 1024 * 1024,
      maxLaunchesInFlight: DEFAULT_MAX_LAUNCHES_IN_FLIGHT,
      logLevel: flags.logLevel,
      leaderLease: 2000,
    },
    log,
  )
  return {
    masterList: master.url,
    appsUrl: apps.url,
    appsList: apps.url,
    lines: [`  master   ${master.url}   (Mesos v1 API: ${master.url}/api/v1/scheduler, state: ${master.url}/master/state)`],
    async stop() {
      await apps.stop()
      await master.stop()
    },
  }
}

/** `dromos up` would not start: each line says why. */
export class UpRefusedError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'))
  }
}

export async function runUp(flags: UpFlags): Promise<void> {
  // A cluster that already runs holds these ports: say so, and start nothing.
  const ha = flags.ha ? { masterPort: flags.masterPort, appsPort: flags.appsPort, etcdPort: flags.etcdPort } : undefined
  const taken = await takenPorts([
    ...(ha ? haMasterPorts(ha) : [flags.masterPort]).map((port) => ({ port, what: 'master', flag: '--master-port' })),
    { port: flags.agentPort, what: 'agent', flag: '--agent-port' },
    ...(ha ? haAppsPorts(ha) : [flags.appsPort]).map((port) => ({ port, what: 'apps', flag: '--apps-port' })),
    ...(ha ? haEtcdPorts(ha).map((port) => ({ port, what: 'etcd', flag: '--etcd-port' })) : []),
  ])
  if (taken.length > 0) {
    throw new UpRefusedError([...taken, 'a dromos cluster may already run: stop it (Ctrl-C in its terminal), or choose other ports with the flags above'])
  }
  const workDir = resolve(flags.workDir)
  mkdirSync(workDir, { recursive: true })
  const logFile = join(workDir, 'dromos.log')
  const log = pino({ level: flags.logLevel }, pino.destination({ dest: logFile, sync: false, mkdir: true }))
  const say = (line: string): void => void process.stdout.write(`${line}\n`)
  say(`dromos up: state and logs in ${workDir}`)
  const plane = ha
    ? await startHaControlPlane({
        ...ha,
        workDir,
        logLevel: flags.logLevel,
        onRestart: (name, exit) => say(`dromos up: ${name} exited (${exit.signal ?? `code ${exit.code}`}); starting it again`),
      })
    : await startControlPlane(flags, workDir, log)
  for (const line of plane.lines) say(line)
  const masterUrl = parseMasterList(plane.masterList)[0]!
  const agent = await startAgent(
    {
      master: plane.masterList,
      ip: '127.0.0.1',
      port: flags.agentPort,
      workDir: join(workDir, 'agent'),
      attributes: '',
      containerizers: 'docker,process',
      statusUpdateRetry: 10_000,
      maxBodyBytes: 4 * 1024 * 1024,
      logLevel: flags.logLevel,
      ...(flags.resources ? { resources: flags.resources } : {}),
    },
    log,
  )
  say(`  agent    ${agent.url}   (sandboxes under ${join(workDir, 'agent')})`)
  const apps = { url: plane.appsUrl }
  say(`  apps     ${apps.url}   (Marathon v2 API: ${apps.url}/v2/apps, events: ${apps.url}/v2/events)`)
  say(webUiDir ? `  web UI   ${apps.url}/   (and the master's: ${masterUrl}/)` : '  web UI   not built: run make build')
  // The cluster is useful without a balancer: a busy port 80 only costs the balancer.
  const lb = flags.lb
    ? await startLb(
        {
          apps: plane.appsList,
          group: 'external',
          bindAddress: '0.0.0.0',
          httpPort: flags.lbHttpPort,
          statsPort: flags.lbStatsPort,
          workDir: join(workDir, 'lb'),
          haproxy: 'haproxy',
          logLevel: flags.logLevel,
        },
        log,
      ).catch((e: unknown) => {
        say(`  lb       not started: ${(e as Error).message} (see --lb-http-port, --lb-stats-port, --no-lb)`)
        return undefined
      })
    : undefined
  if (lb) say(`  lb       service ports 10000-20000, virtual hosts on :${flags.lbHttpPort}, stats ${lb.url}/haproxy?stats`)
  say(`  logs     ${logFile}`)
  say('Ctrl-C stops the cluster' + (flags.keepTasks ? ' and leaves its tasks running.' : ' and its tasks.'))
  onSignals(async () => {
    say('dromos up: stopping…')
    // Every part is stopped even if one before it fails: the tasks must not outlive `up`.
    const failures: string[] = []
    const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn()
      } catch (e) {
        failures.push(`${name}: ${(e as Error).message}`)
      }
    }
    await step('lb', async () => lb?.stop())
    // The agent stops before the control plane, so that the framework cannot replace its tasks.
    await step('agent', () => agent.stop({ destroyTasks: !flags.keepTasks }))
    await step('control plane', () => plane.stop())
    log.flush()
    if (failures.length > 0) throw new Error(failures.join('; '))
    say('dromos up: stopped.')
  })
}
