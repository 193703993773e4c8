// dromos lb: (1) convergence — from the event that makes a new instance servable to the first
// request it serves through HAProxy, with changes applied through the runtime API against the
// same changes applied by regenerating the configuration and reloading (`--always-reload`, the
// marathon-lb way), in the same run; (2) a rolling restart under load, against the same load
// with no deploy.
//
//   npx tsc -p tsconfig.json && node dist/bench/lb.js [--changes 50] [--block 10] [--warmup 1]
//       [--poll-concurrency 2] [--settle-ms 300] [--load rate,wrk] [--rate 1000] [--duration 20]
//       [--restart-at 3] [--connections 8] [--conv-cpus 2] [--web-cpus 1] [--conv-server node|busybox] [--probe] [--skip-convergence] [--skip-deploy]
//       [--skip-control]
//
// One master, one agent and `dromos apps` run as real processes, and `dromos lb` (which owns
// a real HAProxy) on 127.0.0.1; every request goes to 127.0.0.1.
//
// (1) An app of process tasks (a one-line Node HTTP server answering its task id, an HTTP health
// check every second, HAPROXY_0_MODE http, a fixed service port) runs at one instance. The server
// is not what is measured: busybox httpd (--conv-server busybox) closes every connection and forks
// a child per request, and at the polls' pace (thousands a second) those forks take most of the
// machine's two cores away from the lb, the apps framework and HAProxy being measured. A change is a
// scale-up by one: the clock starts when the health_status_changed_event (alive: true) of the
// new instance reaches this process's own /v2/events reader, and stops when the first response
// whose body is the new task's id comes back through the service port; requests are sent back
// to back on keep-alive connections (--poll-concurrency loops) from before the scale-up. The
// app is then scaled back down (not measured) and the bench waits until only the remaining
// task serves. The two lbs cannot bind the same ports at once, so they take turns in blocks of
// --block changes (runtime, reload, runtime, ...), each lb started afresh with its own work dir
// and its first --warmup changes not counted, until each has --changes measured changes.
// The tasks get --conv-cpus (default 2): the agent enforces cpus as a CFS quota, and at 0.5 the
// one old instance (with busybox, forking a child per polled request) is throttled for tens of ms at a
// time, which stalls the polls and shows as convergence the lb has nothing to do with.
// Diagnostics printed with the numbers, all read passively: the lb's dromos_lb_event_lag_seconds
// (per mode, and its slowest bucket within each change), CFS throttling of the tasks, the poll
// answers after the event for the slow changes, the app's last events before the health event,
// and the time of GET /v2/apps/{id} at rest; --probe also sends that GET at the moment the health
// event arrives (as the lb once did) and times it. Where the time goes: for each change, the lb's
// own record of the change that served the new task (its /_lb/state) stamps each step, from the
// event reaching the lb (and, when the lb waited for a read of the app, the read) through
// computing the routes to HAProxy's answer, and the bench adds the steps before and after.
//
// (2) A Docker app of three busybox httpd instances (as test/lb.test.ts) behind the runtime
// lb. Each load generator of --load runs twice for --duration seconds through the service
// port: once with no deploy, once with `POST /v2/apps/{id}/restart` sent --restart-at seconds
// in, and (unless --skip-control) once with the same restart of a second, identical app that
// this lb does not route (its HAPROXY_GROUP is another): what the deploy costs the machine
// (Docker starting containers, health checks) without the lb changing anything. `rate` is an open-loop generator written here (wrk has no fixed-rate mode): --rate
// requests per second on their schedule, whatever the answers do, each latency counted from
// its scheduled time (no coordinated omission). `wrk` is `wrk -t1 -c<connections> --latency`,
// closed-loop (as fast as the connections go), its output parsed. Errors: socket errors and
// timeouts, and answers other than 2xx (wrk: other than 2xx/3xx).
//
// Everything started is removed at the end, also on failure or Ctrl-C. The exit status is 0
// whatever the numbers; 1 only if the bench itself broke, 130 on Ctrl-C.
// DROMOS_KEEP_TEST_DIRS=1 keeps the cluster directory (logs, lb-runtime/ and lb-reload/ with
// HAProxy's configuration and log).
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Dockerode from 'dockerode'
import { appsOfEvent } from '../src/api/apps-follower.js'
import { AppsProcess } from '../test/lib/apps.js'
import { TestCluster, waitUntil } from '../test/lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from '../test/lib/images.js'
import { hit, LbProcess } from '../test/lib/lb.js'
import { exitWith, fmt, handleInterrupts, now, pad, quantile, removeLabelled, sleep, TimedEventStream } from './lib.js'

const AGENT_RESOURCES = 'cpus:16;mem:4096;disk:1000;ports:[32300-32399]'
const TARGET_P99_MS = 10
const TARGET_RATIO = 5
const STEP_TIMEOUT_MS = 60_000
const CONVERGE_TIMEOUT_MS = 15_000
/** In this run's app ids, so leftovers are told apart from another run's. */
const RUN = process.pid.toString(36)

const USAGE =
  'usage: lb [--changes N>=1] [--block N>=1] [--warmup N>=0] [--poll-concurrency 1..4] [--settle-ms MS] [--load rate,wrk] ' +
  '[--rate R] [--duration S] [--restart-at S] [--connections N] [--conv-cpus C] [--web-cpus C] [--conv-server node|busybox] [--probe] [--skip-convergence] [--skip-deploy] [--skip-control]\n'
const { values: argv } = parseArgs({
  options: {
    changes: { type: 'string', default: '50' },
    block: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    'poll-concurrency': { type: 'string', default: '2' },
    'settle-ms': { type: 'string', default: '300' },
    load: { type: 'string', default: 'rate,wrk' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '20' },
    'restart-at': { type: 'string', default: '3' },
    connections: { type: 'string', default: '8' },
    'conv-cpus': { type: 'string', default: '2' },
    'web-cpus': { type: 'string', default: '1' },
    probe: { type: 'boolean', default: false },
    'skip-convergence': { type: 'boolean', default: false },
    'conv-server': { type: 'string', default: 'node' },
    'skip-deploy': { type: 'boolean', default: false },
    'skip-control': { type: 'boolean', default: false },
  },
})
const CHANGES = Number(argv.changes)
const BLOCK = Number(argv.block)
const WARMUP = Number(argv.warmup)
const POLLERS = Number(argv['poll-concurrency'])
const SETTLE_MS = Number(argv['settle-ms'])
const LOADS = argv.load.split(',').map((s) => s.trim()).filter(Boolean)
const RATE = Number(argv.rate)
const DURATION_S = Number(argv.duration)
const RESTART_AT_S = Number(argv['restart-at'])
const CONNECTIONS = Number(argv.connections)
const CONV_CPUS = Number(argv['conv-cpus'])
const WEB_CPUS = Number(argv['web-cpus'])
const CONV_SERVER = argv['conv-server']
const PROBE = argv.probe
if (
  !Number.isInteger(CHANGES) || CHANGES < 1 || !Number.isInteger(BLOCK) || BLOCK < 1 || !Number.isInteger(WARMUP) || WARMUP < 0 ||
  !Number.isInteger(POLLERS) || POLLERS < 1 || POLLERS > 4 || !(SETTLE_MS >= 0) || !LOADS.every((l) => l === 'rate' || l === 'wrk') ||
  !(RATE > 0) || !(DURATION_S > 0) || !(RESTART_AT_S >= 0) || RESTART_AT_S >= DURATION_S || !Number.isInteger(CONNECTIONS) || CONNECTIONS < 1 ||
  !(CONV_CPUS > 0) || CONV_CPUS > 4 || !(WEB_CPUS > 0) || WEB_CPUS > 2 || (CONV_SERVER !== 'node' && CONV_SERVER !== 'busybox')
) {
  process.stderr.write(USAGE)
  process.exit(2)
}

// ---- /v2/events, every event stamped on arrival ----


// ---- helpers ----

/** A port in the apps framework's service port range (10000-20000) that nothing here holds. */
async function freeServicePort(taken: ReadonlySet<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 10000 + Math.floor(Math.random() * 10000)
    if (taken.has(port)) continue
    const ok = await new Promise<boolean>((res) => {
      const s = createServer()
      s.once('error', () => res(false))
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)))
    })
    if (ok) return port
  }
  throw new Error('no free service port in 10000-20000')
}

/** CFS periods in which the app's tasks were throttled, summed over their cgroups (v1 layout, as the agent makes them). */
function throttledPeriods(safeAppId: string): number {
  const root = '/sys/fs/cgroup/cpu/dromos'
  let n = 0
  try {
    for (const name of readdirSync(root).filter((x) => x.startsWith(`${safeAppId}.`))) {
      try {
        const m = /nr_throttled (\d+)/.exec(readFileSync(join(root, name, 'cpu.stat'), 'utf8'))
        n += m ? Number(m[1]) : 0
      } catch {
        // gone
      }
    }
  } catch {
    return NaN
  }
  return n
}

/** `prod_web.instance-<uuid>` -> `prod_web.<uuid>` (src/apps/placement.ts). */
const taskIdOfInstance = (instanceId: string): string => instanceId.replace('.instance-', '.')

async function taskIds(apps: AppsProcess, id: string): Promise<string[]> {
  return (((await apps.app(id))?.tasks ?? []) as Array<{ id: string }>).map((t) => t.id).sort()
}

/** Waits until n requests in a row through the port were all served by these tasks (and each was seen). */
async function waitServing(port: number, ids: readonly string[], what: string, timeoutMs = 30_000): Promise<void> {
  const want = new Set(ids)
  await waitUntil(what, async () => {
    const seen = new Set<string>()
    for (let i = 0; i < Math.max(6, ids.length * 4); i++) {
      const r = await hit(port)
      if (!want.has(r.body)) return false
      seen.add(r.body)
    }
    return seen.size === want.size
  }, timeoutMs, 50)
}

interface LbMetrics {
  lagBuckets: Map<string, number>
  lagSum: number
  lagCount: number
  reloads: number
  changes: number
  events: number
  errors: number
}

/**
 * The change the lb applied for the health event, from its /_lb/state: when its
 * oldest event reached the lb, each step after it, and when it was applied, in ms from the
 * health event reaching the bench (wall clocks of one machine, to a fraction of a ms). An lb
 * from before the steps were recorded gives only the event and the apply.
 */
async function lbChangeBefore(lb: LbProcess, eventAt: number, servedAt: number): Promise<Change['lb']> {
  type Recorded = { eventAt?: number; patched?: boolean; read?: { sentAt: number; answeredAt: number }; handedAt?: number; plannedAt?: number; appliedAt: number; applyMs: number }
  const read = async (): Promise<Recorded[]> => ((await (await fetch(`http://127.0.0.1:${lb.statsPort}/_lb/state`)).json()) as { recentChanges?: Recorded[] }).recentChanges ?? []
  // The first change behind an event that reached the lb with the health event or after it
  // (the lb may read it a little before the bench does). A reload serves before the lb counts
  // it applied and records it, so that one is waited for; without such an event, the last
  // change applied before the answer.
  const ofEvent = (x: Recorded): boolean => x.eventAt !== undefined && x.eventAt >= eventAt - 20 && x.eventAt <= servedAt
  let changes = await read()
  for (const end = now() + 2000; !changes.some(ofEvent) && now() < end; changes = await read()) await sleep(20)
  const c = changes.find(ofEvent) ?? changes.filter((x) => x.appliedAt <= servedAt + 1).at(-1)
  if (!c || c.eventAt === undefined) return undefined
  const rel = (t: number | undefined): number | undefined => (t === undefined ? undefined : t - eventAt)
  return {
    eventAt: c.eventAt - eventAt,
    appliedAt: c.appliedAt - eventAt,
    applyMs: c.applyMs,
    ...(c.patched !== undefined ? { patched: c.patched } : {}),
    ...(c.read ? { read: { sentAt: c.read.sentAt - eventAt, answeredAt: c.read.answeredAt - eventAt } } : {}),
    ...(c.handedAt !== undefined ? { handedAt: rel(c.handedAt)! } : {}),
    ...(c.plannedAt !== undefined ? { plannedAt: rel(c.plannedAt)! } : {}),
  }
}

async function readLbMetrics(lb: LbProcess): Promise<LbMetrics> {
  const text = await (await fetch(`http://127.0.0.1:${lb.statsPort}/metrics`)).text()
  const m: LbMetrics = { lagBuckets: new Map(), lagSum: 0, lagCount: 0, reloads: 0, changes: 0, events: 0, errors: 0 }
  for (const line of text.split('\n')) {
    const b = /^dromos_lb_event_lag_seconds_bucket\{le="([^"]+)"\} (\S+)/.exec(line)
    if (b) m.lagBuckets.set(b[1]!, Number(b[2]))
    const v = (name: string): number | undefined => (line.startsWith(`${name} `) ? Number(line.split(' ')[1]) : undefined)
    m.lagSum = v('dromos_lb_event_lag_seconds_sum') ?? m.lagSum
    m.lagCount = v('dromos_lb_event_lag_seconds_count') ?? m.lagCount
    m.reloads = v('dromos_lb_reloads_total') ?? m.reloads
    m.changes = v('dromos_lb_changes_applied_total') ?? m.changes
    m.events = v('dromos_lb_events_total') ?? m.events
    m.errors = v('dromos_lb_apply_errors_total') ?? m.errors
  }
  return m
}

function addMetrics(into: LbMetrics, m: LbMetrics): void {
  for (const [le, n] of m.lagBuckets) into.lagBuckets.set(le, (into.lagBuckets.get(le) ?? 0) + n)
  into.lagSum += m.lagSum
  into.lagCount += m.lagCount
  into.reloads += m.reloads
  into.changes += m.changes
  into.events += m.events
  into.errors += m.errors
}

const emptyMetrics = (): LbMetrics => ({ lagBuckets: new Map(), lagSum: 0, lagCount: 0, reloads: 0, changes: 0, events: 0, errors: 0 })

/**
 * The safety net after everything was stopped: ends, by pid, processes this run left behind
 * (an HAProxy whose configuration lies under dir, a task whose working directory does), and
 * removes the task cgroups named after this run's apps, empty once their processes are gone.
 */
async function killStrays(dir: string, cgroupPrefixes: readonly string[]): Promise<number> {
  let n = 0
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      let cwd = ''
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`)
      } catch {
        // not ours to read
      }
      if ((cmd[0]?.endsWith('haproxy') && cmd.some((a) => a.startsWith(dir))) || cwd.startsWith(`${dir}/`)) {
        process.kill(Number(pid), 'SIGKILL')
        n++
      }
    } catch {
      // gone
    }
  }
  if (n > 0) await sleep(200)
  for (const ctl of ['cpu', 'memory']) {
    const root = `/sys/fs/cgroup/${ctl}/dromos`
    let names: string[] = []
    try {
      names = readdirSync(root)
    } catch {
      continue
    }
    for (const name of names.filter((x) => cgroupPrefixes.some((p) => x.startsWith(p)))) {
      try {
        rmdirSync(join(root, name))
      } catch {
        // still in use, or already gone
      }
    }
  }
  return n
}

// ---- (1) convergence ----

type Mode = 'runtime' | 'reload'

/** Back-to-back GETs through the service port on keep-alive connections; the first time each body came back. */
class Poller {
  readonly firstSeen = new Map<string, number>()
  /** When each answer (of any loop) came back. */
  readonly times: number[] = []
  readonly log: Array<{ sent: number; at: number; body: string }> = []
  requests = 0
  failures = 0
  private stopped = false
  private readonly loops: Array<Promise<void>>
  private readonly waiters = new Set<() => void>()
  private readonly started = now()

  constructor(port: number, concurrency: number) {
    this.loops = Array.from({ length: concurrency }, async () => {
      while (!this.stopped) {
        const sent = now()
        const r = await hit(port)
        const t = now()
        this.times.push(t)
        this.log.push({ sent, at: t, body: r.body })
        this.requests++
        if (!r.ok) {
          this.failures++
          // A connection the old HAProxy closed after a reload: try again at once, but do not spin on a dead port.
          if (r.body.startsWith('error: connect')) await sleep(1)
          continue
        }
        if (!this.firstSeen.has(r.body)) {
          this.firstSeen.set(r.body, t)
          for (const w of [...this.waiters]) w()
        }
      }
    })
  }

  /** The longest time without any answer between from and to, ms. */
  longestSilence(from: number, to: number): number {
    let last = from
    let longest = 0
    for (const t of this.times) {
      if (t <= from) continue
      if (t > to) break
      longest = Math.max(longest, t - last)
      last = t
    }
    return Math.max(longest, to - last)
  }

  /** Mean time between two answers of one loop, ms. */
  get meanGapMs(): number {
    return ((now() - this.started) * this.loops.length) / Math.max(1, this.requests)
  }

  waitSeen(body: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const t = this.firstSeen.get(body)
        if (t !== undefined) {
          clearTimeout(timer)
          this.waiters.delete(check)
          resolve(t)
        }
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`${body} not served through the lb within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.add(check)
      check()
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.loops)
  }
}

interface Change {
  mode: Mode
  /** health event read by the bench -> first response from the new task, ms. */
  converge: number
  /** scale-up PUT -> health event read, ms (not part of the measure). */
  putToHealthy: number
  /** mean gap between answers of one poll loop during this change, ms. */
  pollGap: number
  pollFailures: number
  /** The app's last events before the health event, ms before it. */
  prior: Array<{ type: string; before: number }>
  /** GET /v2/apps/{id}?embed=app.readiness at rest after the change, ms. */
  getMs: number
  /** The histogram bucket of the lb's slowest apply between the scale-up and the first response. */
  slowestLag: string
  lagCount: number
  /** --probe: health event -> the bench's own GET of the app answered, ms. */
  probeMs: number
  /** The longest time no poll answered between the health event and the first response from the new task, ms. */
  silence: number
  trail: Array<{ sent: number; at: number; fresh: boolean }>
  /** CFS periods the app's tasks were throttled in, from before the scale-up to the first new response. */
  throttled: number
  /** The lb's own record of the change that served the new task (from /_lb/state), ms from the health event. */
  lb?: LbSteps
}

/** The steps of one change in the lb, ms from the health event reaching the bench; see RecentChange in src/lb/lb.ts. */
interface LbSteps {
  eventAt: number
  appliedAt: number
  applyMs: number
  /** The event was applied to the lb's copy directly (undefined: an lb that does not say). */
  patched?: boolean
  read?: { sentAt: number; answeredAt: number }
  handedAt?: number
  plannedAt?: number
}

interface ConvergenceResult {
  changes: Record<Mode, Change[]>
  metrics: Record<Mode, LbMetrics>
  timeouts: Record<Mode, number>
}

function convergenceApp(id: string, servicePort: number): Record<string, unknown> {
  return {
    id,
    cmd:
      CONV_SERVER === 'busybox'
        ? 'mkdir -p w && echo $MESOS_TASK_ID > w/id && exec busybox httpd -f -p $PORT0 -h w'
        : `exec node -e 'require("node:http").createServer((q, s) => s.end(process.env.MESOS_TASK_ID)).listen(Number(process.env.PORT0))'`,
    cpus: CONV_CPUS,
    mem: CONV_SERVER === 'busybox' ? 16 : 96,
    instances: 1,
    portDefinitions: [{ port: servicePort, name: 'http' }],
    healthChecks: [{ protocol: 'HTTP', path: '/id', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_MODE: 'http' },
  }
}

interface Shared {
  docker: Dockerode
  cluster: TestCluster
  apps: AppsProcess
  sse: TimedEventStream
  liveApps: Set<string>
  lbs: Set<LbProcess>
  check: () => void
}

/**
 * Deletes the app and waits until the agent has reported its last task ended: the app leaves
 * /v2/apps before its tasks (they drain first), and an agent stopped before the kill reaches it
 * leaves the task running, as a Mesos agent does.
 */
async function deleteApp(s: Shared, appId: string): Promise<void> {
  await s.apps.req('DELETE', `/v2/apps${appId}?force=true`)
  await waitUntil(`the tasks of ${appId} to end`, async () => {
    if ((await s.apps.app(appId)) !== undefined) return false
    const tasks = (await s.apps.req('GET', '/v2/tasks')).body.tasks as Array<{ appId: string }>
    return tasks.every((t) => t.appId !== appId)
  }, STEP_TIMEOUT_MS, 100)
  s.liveApps.delete(appId)
}

async function startLb(s: Shared, mode: Mode): Promise<LbProcess> {
  const workDir = join(s.cluster.dir, `lb-${mode}`)
  const lb = await LbProcess.start(s.apps, ['--work-dir', workDir, '--log-level', 'info', ...(mode === 'reload' ? ['--always-reload'] : [])])
  s.lbs.add(lb)
  return lb
}

async function stopLb(s: Shared, lb: LbProcess): Promise<void> {
  await lb.proc.stop()
  s.lbs.delete(lb)
}

/** One measured (or warm-up) scale-up by one, then the scale-down back to one instance. */
async function oneChange(s: Shared, lb: LbProcess, appId: string, port: number, mode: Mode): Promise<Change | 'timeout'> {
  const before = await taskIds(s.apps, appId)
  const poller = new Poller(port, POLLERS)
  try {
    await sleep(20) // connections open, the loops at their pace
    const m0 = await readLbMetrics(lb)
    const safeId = appId.replace(/^\//, '').split('/').join('_')
    const throttled0 = throttledPeriods(safeId)
    const from = s.sse.events.length
    // --probe: the bench reads the app as the lb does, at the moment the health event arrives.
    let probe: Promise<number> | undefined
    if (PROBE) {
      void s.sse
        .waitFor((e) => e.eventType === 'health_status_changed_event' && e.appId === appId && e.alive === true, from, 'probe')
        .then((h) => {
          probe = fetch(`${s.apps.url}/v2/apps${appId}?embed=app.readiness`).then(async (r) => {
            await r.text()
            return now() - h.at
          })
        }, () => undefined)
    }
    const t0 = now()
    const put = await s.apps.req('PUT', `/v2/apps${appId}`, { instances: before.length + 1 })
    if (put.status !== 200) throw new Error(`scale-up answered ${put.status}: ${JSON.stringify(put.body)}`)
    const healthy = await s.sse.waitFor(
      (e) => e.eventType === 'health_status_changed_event' && e.appId === appId && e.alive === true && !before.includes(taskIdOfInstance(String(e.instanceId))),
      from,
      `the new instance of ${appId} to turn healthy`,
    )
    const newTask = taskIdOfInstance(String(healthy.e.instanceId))
    // What reached the lb just before: an event it was still busy with delays this one.
    const idx = s.sse.events.indexOf(healthy)
    const prior = s.sse.events
      .slice(from, idx)
      .filter((x) => appsOfEvent(x.e).includes(appId))
      .slice(-3)
      .map((x) => ({ type: x.e.eventType === 'status_update_event' ? String(x.e.taskStatus) : x.e.eventType, before: healthy.at - x.at }))
    let served: number | 'timeout'
    try {
      served = await poller.waitSeen(newTask, CONVERGE_TIMEOUT_MS)
    } catch {
      served = 'timeout'
    }
    const throttled = throttledPeriods(safeId) - throttled0
    const gap = poller.meanGapMs
    const silence = served === 'timeout' ? NaN : poller.longestSilence(healthy.at, served)
    // Answers that came back after the health event, up to the first from the new task: when sent, when back, from whom.
    const trail = served === 'timeout' ? [] : poller.log.filter((x) => x.at > healthy.at && x.at <= served).map((x) => ({ sent: x.sent - healthy.at, at: x.at - healthy.at, fresh: x.body === newTask }))
    await poller.stop()
    const lbChange = served === 'timeout' ? undefined : await lbChangeBefore(lb, healthy.at, served)
    const m1 = await readLbMetrics(lb)
    // The slowest apply in the window, by histogram bucket (the lb's own view).
    let slowestLag = 'none'
    {
      let prev0 = 0
      let prev1 = 0
      for (const [le, n1] of m1.lagBuckets) {
        const n0 = m0.lagBuckets.get(le) ?? 0
        if (n1 - prev1 > n0 - prev0) slowestLag = le === '+Inf' ? 'inf' : `<=${Number(le) * 1000}ms`
        prev0 = n0
        prev1 = n1
      }
    }
    const probeMs = probe ? await probe : NaN
    const after = await taskIds(s.apps, appId)
    if (!after.includes(newTask)) throw new Error(`task ${newTask} (from the health event) is not among ${after.join(', ')}`)
    // Back to one instance, not measured.
    await s.apps.waitDeployed(appId)
    const down = await s.apps.req('PUT', `/v2/apps${appId}`, { instances: before.length })
    if (down.status !== 200) throw new Error(`scale-down answered ${down.status}`)
    await s.apps.waitDeployed(appId)
    const left = await waitUntil('the scaled-down task to go', async () => {
      const ids = await taskIds(s.apps, appId)
      return ids.length === before.length ? ids : undefined
    }, STEP_TIMEOUT_MS, 50)
    await waitServing(port, left, 'only the remaining instance to serve')
    await sleep(SETTLE_MS)
    // The read the lb makes after each event, timed at rest (not during the measure).
    const t1 = now()
    await s.apps.req('GET', `/v2/apps${appId}?embed=app.readiness`)
    const getMs = now() - t1
    if (served === 'timeout') return 'timeout'
    return { mode, converge: served - healthy.at, putToHealthy: healthy.at - t0, pollGap: gap, pollFailures: poller.failures, prior, getMs, slowestLag, lagCount: m1.lagCount - m0.lagCount, probeMs, silence, trail, throttled, ...(lbChange ? { lb: lbChange } : {}) }
  } finally {
    await poller.stop()
  }
}

async function convergence(s: Shared): Promise<ConvergenceResult> {
  const appId = `/bench/lb-conv-${RUN}`
  const port = await freeServicePort(new Set())
  const created = await s.apps.req('POST', '/v2/apps', convergenceApp(appId, port))
  if (created.status !== 201) throw new Error(`POST /v2/apps answered ${created.status}: ${JSON.stringify(created.body)}`)
  s.liveApps.add(appId)
  await s.apps.waitDeployed(appId)
  process.stdout.write(`\n== (1) convergence: app ${appId} (process tasks, busybox httpd), service port ${port}, ${POLLERS} poll loop(s)\n`)

  const result: ConvergenceResult = {
    changes: { runtime: [], reload: [] },
    metrics: { runtime: emptyMetrics(), reload: emptyMetrics() },
    timeouts: { runtime: 0, reload: 0 },
  }
  const done = (m: Mode): number => result.changes[m].length + result.timeouts[m]
  let turn = 0
  while (done('runtime') < CHANGES || done('reload') < CHANGES) {
    const mode: Mode = turn++ % 2 === 0 ? 'runtime' : 'reload'
    const n = Math.min(BLOCK, CHANGES - done(mode))
    if (n <= 0) continue
    s.check()
    const lb = await startLb(s, mode)
    try {
      await waitServing(port, await taskIds(s.apps, appId), `the ${mode} lb to route the app`)
      const out: string[] = []
      for (let i = -WARMUP; i < n; i++) {
        s.check()
        const c = await oneChange(s, lb, appId, port, mode)
        if (i < 0) {
          out.push(c === 'timeout' ? '(timeout)' : `(${fmt(c.converge)})`)
          continue
        }
        if (c === 'timeout') result.timeouts[mode]++
        else result.changes[mode].push(c)
        out.push(c === 'timeout' ? 'timeout' : fmt(c.converge))
      }
      addMetrics(result.metrics[mode], await readLbMetrics(lb))
      process.stdout.write(`  ${mode.padEnd(7)} ${pad(String(done(mode)), 3)}/${CHANGES}  ms: ${out.join(' ')}\n`)
    } finally {
      await stopLb(s, lb)
    }
  }
  await deleteApp(s, appId)
  return result
}

function lagLine(m: LbMetrics): string {
  const order = [...m.lagBuckets.keys()]
  let prev = 0
  const parts = order.map((le) => {
    const c = m.lagBuckets.get(le) ?? 0
    const inBucket = c - prev
    prev = c
    return `<=${le === '+Inf' ? 'inf' : `${Number(le) * 1000}ms`}:${inBucket}`
  })
  return `mean ${fmt((m.lagSum / Math.max(1, m.lagCount)) * 1000)} ms over ${m.lagCount}; ${parts.join(' ')}`
}

/**
 * Where the time of each measured change went, step by step along the path from the health
 * event to the first answer of the new task, from the lb's record of the change that served it.
 */
function stepLines(r: ConvergenceResult): string[] {
  type Step = [string, (c: Change, l: LbSteps) => number | undefined]
  const viaRead = (l: LbSteps): boolean => l.patched !== true && l.read !== undefined
  const steps: Step[] = [
    ['bench reads the event -> lb reads it', (_c, l) => l.eventAt],
    ['lb: event -> app read sent (read path)', (_c, l) => (viaRead(l) ? l.read!.sentAt - l.eventAt : undefined)],
    ['lb: app read sent -> answered (read path)', (_c, l) => (viaRead(l) ? l.read!.answeredAt - l.read!.sentAt : undefined)],
    ['lb: event (or read) -> change handed over', (_c, l) => (l.handedAt === undefined ? undefined : l.handedAt - (viaRead(l) ? l.read!.answeredAt : l.eventAt))],
    ['lb: routes computed, change planned', (_c, l) => (l.handedAt === undefined || l.plannedAt === undefined ? undefined : l.plannedAt - l.handedAt)],
    ['lb: HAProxy applies it (runtime API / reload)', (_c, l) => (l.plannedAt === undefined ? undefined : l.appliedAt - l.plannedAt)],
    ['lb: event -> applied, all of it', (_c, l) => l.appliedAt - l.eventAt],
    ['applied -> first answer from the new task', (c, l) => c.converge - l.appliedAt],
    ['convergence (as measured)', (c) => c.converge],
  ]
  const out = ['  where the time goes, ms (per change, from the lb\'s record of the change that served the new task; p50 / p90 / p99 / max)']
  for (const m of ['runtime', 'reload'] as const) {
    const cs = r.changes[m].filter((c) => c.lb !== undefined)
    const patched = cs.filter((c) => c.lb!.patched === true).length
    const read = cs.filter((c) => c.lb!.patched === false).length
    out.push(`    ${m}: ${cs.length} of ${r.changes[m].length} changes with a record; applied from the event ${patched}, after a read ${read}${cs.length - patched - read > 0 ? `, not said ${cs.length - patched - read}` : ''}`)
    for (const [name, f] of steps) {
      const v = cs.map((c) => f(c, c.lb!)).filter((x): x is number => x !== undefined)
      if (v.length === 0) continue
      out.push(`      ${name.padEnd(48)} ${pad(String(v.length), 3)}  ${pad(fmt(quantile(v, 0.5), 2), 7)} ${pad(fmt(quantile(v, 0.9), 2), 7)} ${pad(fmt(quantile(v, 0.99), 2), 7)} ${pad(fmt(Math.max(...v), 2), 7)}`)
    }
  }
  return out
}

function reportConvergence(r: ConvergenceResult): void {
  const xs = (m: Mode): number[] => r.changes[m].map((c) => c.converge)
  const row = (m: Mode): string => {
    const v = xs(m)
    return `  ${(m === 'runtime' ? 'runtime API' : 'reload (--always-reload)').padEnd(26)} ${pad(String(v.length), 3)} ${pad(fmt(quantile(v, 0.5)), 8)} ${pad(fmt(quantile(v, 0.9)), 8)} ${pad(fmt(quantile(v, 0.99)), 8)} ${pad(fmt(Math.min(...v)), 8)} ${pad(fmt(Math.max(...v)), 8)} ${pad(String(r.timeouts[m]), 8)}`
  }
  const p = (m: Mode, q: number): number => quantile(xs(m), q)
  const ratio99 = p('reload', 0.99) / p('runtime', 0.99)
  const ratio50 = p('reload', 0.5) / p('runtime', 0.5)
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS')
  const lines = [
    '',
    `convergence, ms: health_status_changed_event (alive) read by the bench -> first response from the new task through HAProxy`,
    `  ${'mode'.padEnd(26)} ${pad('n', 3)} ${pad('p50', 8)} ${pad('p90', 8)} ${pad('p99', 8)} ${pad('min', 8)} ${pad('max', 8)} ${pad('timeouts', 8)}`,
    row('runtime'),
    row('reload'),
    '',
    `  runtime p99 ${fmt(p('runtime', 0.99))} ms   target <= ${TARGET_P99_MS} ms   ${verdict(p('runtime', 0.99) <= TARGET_P99_MS && r.timeouts.runtime === 0)}`,
    `  ratio reload/runtime p99 ${fmt(ratio99, 2)}   target >= ${TARGET_RATIO}   ${verdict(ratio99 >= TARGET_RATIO)}`,
    `  ratio reload/runtime p50 ${fmt(ratio50, 2)}   target >= ${TARGET_RATIO}   ${verdict(ratio50 >= TARGET_RATIO)}`,
    '',
    '  context',
  ]
  for (const m of ['runtime', 'reload'] as const) {
    const c = r.changes[m]
    lines.push(
      `    ${m.padEnd(7)} scale-up PUT -> healthy event median ${fmt(quantile(c.map((x) => x.putToHealthy), 0.5), 0)} ms; ` +
        `poll loop gap median ${fmt(quantile(c.map((x) => x.pollGap), 0.5), 2)} ms; failed polls ${c.reduce((n, x) => n + x.pollFailures, 0)}; ` +
        `changes with the tasks CPU-throttled (cgroup quota) ${c.filter((x) => x.throttled > 0).length}`,
    )
    lines.push(`    ${m.padEnd(7)} GET /v2/apps/{id} at rest median ${fmt(quantile(c.map((x) => x.getMs), 0.5), 2)} ms, p90 ${fmt(quantile(c.map((x) => x.getMs), 0.9), 2)} ms`)
    // An event for the app shortly before the health event keeps the lb busy when it arrives.
    const close = c.filter((x) => x.prior.length > 0 && x.prior[x.prior.length - 1]!.before < 50)
    const far = c.filter((x) => !close.includes(x))
    lines.push(
      `    ${m.padEnd(7)} previous app event < 50 ms before the health event: ${close.length} changes, median ${fmt(quantile(close.map((x) => x.converge), 0.5))} ms; ` +
        `otherwise: ${far.length}, median ${fmt(quantile(far.map((x) => x.converge), 0.5))} ms`,
    )
    if (PROBE) lines.push(`    ${m.padEnd(7)} probe: health event -> bench's own GET of the app answered: median ${fmt(quantile(c.map((x) => x.probeMs), 0.5))} ms, p90 ${fmt(quantile(c.map((x) => x.probeMs), 0.9))} ms, max ${fmt(Math.max(...c.map((x) => x.probeMs)))} ms`)
    const mm = r.metrics[m]
    lines.push(`    ${m.padEnd(7)} lb: events ${mm.events}, runtime changes ${mm.changes}, reloads ${mm.reloads}, apply errors ${mm.errors}`)
    lines.push(`    ${m.padEnd(7)} lb dromos_lb_event_lag_seconds (all events, warm-ups and scale-downs too): ${lagLine(mm)}`)
  }
  lines.push('', ...stepLines(r))
  const slow = r.changes.runtime.filter((c) => c.converge > TARGET_P99_MS / 2).sort((a, b) => b.converge - a.converge)
  if (slow.length > 0) {
    lines.push('', `  runtime changes over ${TARGET_P99_MS / 2} ms, with the app's last events before the health event (ms before it)`)
    for (const c of slow.slice(0, 10)) {
      lines.push(
        `    ${pad(fmt(c.converge), 6)} ms: longest poll silence ${fmt(c.silence)} ms; task throttled ${c.throttled} periods; lb slowest apply ${c.slowestLag} (of ${c.lagCount})${PROBE ? `, probe GET ${fmt(c.probeMs)} ms` : ''}; ` +
          `${c.prior.map((p) => `${p.type} -${fmt(p.before)}`).join(', ') || '(none)'}`,
      )
      if (c.lb) {
        const how = c.lb.patched === undefined ? '' : c.lb.patched ? ', from the event' : c.lb.read ? `, after a read sent at ${fmt(c.lb.read.sentAt)} ms and answered at ${fmt(c.lb.read.answeredAt)} ms` : ', after a read'
        lines.push(`           lb: its oldest event arrived at ${fmt(c.lb.eventAt)} ms${how}, applied at ${fmt(c.lb.appliedAt)} ms (HAProxy ${fmt(c.lb.applyMs)} ms)`)
      }
      const t = c.trail
      const show = t.length <= 8 ? t : [...t.slice(0, 4), ...t.slice(-4)]
      lines.push(`           answers after the event (sent..back, ms from it; * = new task; ${t.length} in all): ${show.map((x) => `${fmt(x.sent)}..${fmt(x.at)}${x.fresh ? '*' : ''}`).join(' ')}`)
    }
  }
  lines.push('', `  runtime runs: ${xs('runtime').map((x) => x.toFixed(1)).join(' ')}`, `  reload runs:  ${xs('reload').map((x) => x.toFixed(1)).join(' ')}`, '')
  process.stdout.write(lines.join('\n'))
}

// ---- (2) rolling restart under load ----

type Deploy = 'none' | 'restart' | 'control'
/** What a load generator measures itself. */
type LoadNumbers = Omit<LoadResult, 'generator' | 'deploy' | 'reloads' | 'listenOverflows'>

interface LoadResult {
  generator: 'rate' | 'wrk'
  deploy: Deploy
  requests: number
  durationS: number
  /** Socket errors and timeouts. */
  socketErrors: number
  non2xx: number
  errorDetail: string
  p50: number
  p90: number
  p99: number
  max: number
  /** Distinct tasks that answered (rate only). */
  tasks?: number
  /** restart POST -> deployment gone, ms. */
  deployMs?: number
  /** rate: the slowest requests, ms after the load began. */
  slowest?: Array<{ due: number; latency: number; what: string }>
  /** When the restart was sent, ms after the load began. */
  restartAt?: number
  /** HAProxy reloads by the lb during the run. */
  reloads: number
  /** SYNs the routed app's containers dropped, their accept queue full (TcpExt ListenOverflows). */
  listenOverflows: number
}

/**
 * An open-loop generator: request k is due at start + k/rate whatever happened to the earlier
 * ones, and its latency counts from when it was due, so a stall shows in full.
 */
async function fixedRate(port: number, rate: number, durationS: number): Promise<LoadNumbers> {
  const start = now()
  const agent = new Agent({ keepAlive: true, maxSockets: 256 })
  const latencies: number[] = []
  const slow: Array<{ due: number; latency: number; what: string }> = []
  const note = (due: number, what: string): void => {
    const latency = now() - due
    latencies.push(latency)
    if (latency > 50) slow.push({ due: due - start, latency, what })
  }
  const errors = new Map<string, number>()
  const tasks = new Set<string>()
  let non2xx = 0
  let socketErrors = 0
  let sent = 0
  const inFlight = new Set<Promise<void>>()
  const one = (due: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const fail = (what: string): void => {
        socketErrors++
        errors.set(what, (errors.get(what) ?? 0) + 1)
        note(due, what)
        resolve()
      }
      const req = request({ host: '127.0.0.1', port, path: '/id', agent, timeout: 5000 }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => {
          note(due, res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`)
          if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) tasks.add(body.trim())
          else {
            non2xx++
            errors.set(`HTTP ${res.statusCode}`, (errors.get(`HTTP ${res.statusCode}`) ?? 0) + 1)
          }
          resolve()
        })
        res.on('error', (e) => fail(e.message))
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (e) => fail(e.message))
      req.end()
    })
  const total = Math.round(rate * durationS)
  while (sent < total) {
    const t = now()
    while (sent < total && start + (sent * 1000) / rate <= t) {
      const p = one(start + (sent * 1000) / rate)
      inFlight.add(p)
      void p.then(() => inFlight.delete(p))
      sent++
    }
    await sleep(Math.max(0, Math.min(2, start + (sent * 1000) / rate - now())))
  }
  await Promise.all(inFlight)
  const elapsed = (now() - start) / 1000
  agent.destroy()
  return {
    requests: sent,
    durationS: elapsed,
    socketErrors,
    non2xx,
    errorDetail: [...errors].map(([k, v]) => `${k} x${v}`).join(', '),
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    max: Math.max(...latencies),
    tasks: tasks.size,
    slowest: slow.sort((a, b) => b.latency - a.latency).slice(0, 5),
  }
}

function parseWrkDuration(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s.trim())
  if (!m) return NaN
  const v = Number(m[1])
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000
}

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): LoadNumbers {
  const req = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)
    return m ? parseWrkDuration(m[1]!) : NaN
  }
  const maxM = /^\s*Latency\s+\S+\s+\S+\s+(\S+)/m.exec(out)
  const socketErrors = sock ? sock.slice(1, 5).reduce((n, x) => n + Number(x), 0) : 0
  return {
    requests: req ? Number(req[1]) : NaN,
    durationS: req ? parseWrkDuration(`${req[2]}${req[3]}`) / 1000 : NaN,
    socketErrors,
    non2xx: non ? Number(non[1]) : 0,
    errorDetail: sock ? `connect ${sock[1]}, read ${sock[2]}, write ${sock[3]}, timeout ${sock[4]}` : '',
    p50: pct('50'),
    p90: pct('90'),
    p99: pct('99'),
    max: maxM ? parseWrkDuration(maxM[1]!) : NaN,
  }
}

function runWrk(port: number, durationS: number, children: Set<ChildProcess>): Promise<LoadNumbers> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${durationS}s`, '--latency', `http://127.0.0.1:${port}/id`], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      children.delete(child)
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${out}`))
      resolve(parseWrk(out))
    })
  })
}

function webApp(id: string, servicePort: number, labels: Record<string, string> = {}): Record<string, unknown> {
  return {
    id,
    cmd: 'echo $MESOS_TASK_ID > /www/id && echo ok > /www/health && exec httpd -f -p 8080 -h /www',
    cpus: WEB_CPUS,
    mem: 16,
    instances: 3,
    container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG }, portMappings: [{ containerPort: 8080, servicePort, name: 'http' }] },
    networks: [{ mode: 'container/bridge' }],
    healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_MODE: 'http', ...labels },
  }
}

async function deployUnderLoad(s: Shared, children: Set<ChildProcess>): Promise<LoadResult[]> {
  const appId = `/bench/lb-web-${RUN}`
  const controlId = `/bench/lb-web-${RUN}-control`
  const port = await freeServicePort(new Set())
  const lb = await startLb(s, 'runtime')
  const results: LoadResult[] = []
  try {
    const created = await s.apps.req('POST', '/v2/apps', webApp(appId, port))
    if (created.status !== 201) throw new Error(`POST /v2/apps answered ${created.status}: ${JSON.stringify(created.body)}`)
    s.liveApps.add(appId)
    await s.apps.waitDeployed(appId, 120_000)
    if (!argv['skip-control']) {
      const c = await s.apps.req('POST', '/v2/apps', webApp(controlId, await freeServicePort(new Set([port])), { HAPROXY_GROUP: 'bench-control' }))
      if (c.status !== 201) throw new Error(`POST /v2/apps (control) answered ${c.status}: ${JSON.stringify(c.body)}`)
      s.liveApps.add(controlId)
      await s.apps.waitDeployed(controlId, 120_000)
    }
    process.stdout.write(
      `\n== (2) rolling restart under load: app ${appId} (3 Docker busybox httpd, cpus ${WEB_CPUS}), service port ${port}, runtime lb` +
        `${argv['skip-control'] ? '' : `; control app ${controlId} not routed by this lb`}\n`,
    )
    const deploys: Deploy[] = argv['skip-control'] ? ['none', 'restart'] : ['none', 'restart', 'control']
    for (const gen of LOADS as Array<'rate' | 'wrk'>) {
      for (const deploy of deploys) {
        s.check()
        await s.apps.waitDeployed(appId, 120_000)
        if (s.liveApps.has(controlId)) await s.apps.waitDeployed(controlId, 120_000)
        await waitServing(port, await taskIds(s.apps, appId), 'all three instances to serve', 60_000)
        await sleep(1000)
        const reloads0 = (await readLbMetrics(lb)).reloads
        const overflows = new ListenOverflows(s.docker, appId)
        const loadStart = now()
        const load = gen === 'rate' ? fixedRate(port, RATE, DURATION_S) : runWrk(port, DURATION_S, children)
        let deployMs: number | undefined
        let restartAt: number | undefined
        let deployDone: Promise<void> = Promise.resolve()
        if (deploy !== 'none') {
          const target = deploy === 'restart' ? appId : controlId
          await sleep(RESTART_AT_S * 1000)
          const t0 = now()
          restartAt = t0 - loadStart
          const r = await s.apps.req('POST', `/v2/apps${target}/restart`)
          if (r.status !== 200) throw new Error(`restart answered ${r.status}: ${JSON.stringify(r.body)}`)
          deployDone = s.apps.waitDeployed(target, 120_000).then(() => {
            deployMs = now() - t0
          })
        }
        const res = await load
        await deployDone
        const listenOverflows = await overflows.stop()
        const reloads = (await readLbMetrics(lb)).reloads - reloads0
        const row: LoadResult = { generator: gen, deploy, ...res, reloads, listenOverflows, ...(deployMs !== undefined ? { deployMs } : {}), ...(restartAt !== undefined ? { restartAt } : {}) }
        results.push(row)
        process.stdout.write(
          `  ${gen.padEnd(4)} ${deployTitle(deploy).padEnd(16)} requests ${res.requests}, errors ${res.socketErrors + res.non2xx}${res.errorDetail ? ` (${res.errorDetail})` : ''}, ` +
            `p99 ${fmt(res.p99, 2)} ms${deployMs !== undefined ? `, deploy ${fmt(deployMs / 1000, 1)} s${RESTART_AT_S * 1000 + deployMs > DURATION_S * 1000 ? ' (ENDED AFTER THE LOAD)' : ''}` : ''}\n`,
        )
      }
    }
    const m = await readLbMetrics(lb)
    await deleteApp(s, appId)
    if (s.liveApps.has(controlId)) await deleteApp(s, controlId)
    process.stdout.write(`  lb: events ${m.events}, runtime changes ${m.changes}, reloads ${m.reloads}, apply errors ${m.errors}; event lag ${lagLine(m)}\n`)
  } finally {
    await stopLb(s, lb)
  }
  return results
}

/**
 * Samples, every 200 ms, the TcpExt ListenOverflows counter in each running container of an app
 * (its own network namespace), keeping the last value seen per container: a container killed
 * in between keeps what it had counted at the last sample.
 */
class ListenOverflows {
  private readonly seen = new Map<string, number>()
  /** Counts from before the run: containers already running at the first sample. */
  private readonly base = new Map<string, number>()
  private first = true
  private readonly pids = new Map<string, number>()
  private stopped = false
  private readonly loop: Promise<void>
  constructor(private readonly docker: Dockerode, appId: string) {
    const safe = appId.replace(/^\//, '').split('/').join('_')
    this.loop = (async () => {
      while (!this.stopped) {
        await this.sample(safe).catch(() => undefined)
        this.first = false
        await sleep(200)
      }
      await this.sample(safe).catch(() => undefined)
    })()
  }
  private async sample(safe: string): Promise<void> {
    const list = await this.docker.listContainers({ filters: { label: ['dromos.task_id'] } })
    for (const c of list) {
      const task = c.Labels['dromos.task_id'] ?? ''
      if (!task.startsWith(`${safe}.`)) continue
      let pid = this.pids.get(c.Id)
      if (pid === undefined) {
        pid = (await this.docker.getContainer(c.Id).inspect()).State.Pid
        this.pids.set(c.Id, pid)
      }
      try {
        const text = readFileSync(`/proc/${pid}/net/netstat`, 'utf8').split('\n')
        const names = text.find((l) => l.startsWith('TcpExt:'))?.split(/\s+/) ?? []
        const values = text.filter((l) => l.startsWith('TcpExt:'))[1]?.split(/\s+/) ?? []
        const i = names.indexOf('ListenOverflows')
        if (i > 0) {
          this.seen.set(c.Id, Number(values[i]))
          if (this.first) this.base.set(c.Id, Number(values[i]))
        }
      } catch {
        // gone
      }
    }
  }
  async stop(): Promise<number> {
    this.stopped = true
    await this.loop
    return [...this.seen].reduce((n, [id, v]) => n + v - (this.base.get(id) ?? 0), 0)
  }
}

function deployTitle(d: Deploy): string {
  return d === 'none' ? 'no deploy' : d === 'restart' ? 'restart' : 'control restart'
}

function reportLoad(rs: readonly LoadResult[]): void {
  const lines = ['', `rolling restart under load (${DURATION_S} s per run, restart ${RESTART_AT_S} s in; rate = open loop at ${RATE}/s, wrk = -t1 -c${CONNECTIONS} closed loop)`]
  lines.push(
    `  ${'run'.padEnd(20)} ${pad('requests', 9)} ${pad('req/s', 8)} ${pad('errors', 7)} ${pad('p50 ms', 8)} ${pad('p90 ms', 8)} ${pad('p99 ms', 8)} ${pad('max ms', 8)} ${pad('tasks', 6)} ${pad('deploy s', 9)} ${pad('reloads', 8)} ${pad('SYN drops', 10)}`,
  )
  for (const r of rs) {
    lines.push(
      `  ${`${r.generator} ${deployTitle(r.deploy)}`.padEnd(20)} ${pad(String(r.requests), 9)} ${pad(fmt(r.requests / r.durationS, 0), 8)} ${pad(String(r.socketErrors + r.non2xx), 7)} ` +
        `${pad(fmt(r.p50, 2), 8)} ${pad(fmt(r.p90, 2), 8)} ${pad(fmt(r.p99, 2), 8)} ${pad(fmt(r.max, 1), 8)} ${pad(r.tasks === undefined ? '-' : String(r.tasks), 6)} ${pad(r.deployMs === undefined ? '-' : fmt(r.deployMs / 1000, 1), 9)} ${pad(String(r.reloads), 8)} ${pad(String(r.listenOverflows), 10)}`,
    )
  }
  for (const r of rs.filter((x) => x.socketErrors + x.non2xx > 0)) lines.push(`  ${r.generator} ${deployTitle(r.deploy)} errors: ${r.errorDetail}`)
  lines.push('  (reloads: HAProxy reloads by the lb during the run; SYN drops: TcpExt ListenOverflows in the routed app\'s containers, busybox httpd listens with a backlog of 9)')
  for (const gen of ['rate', 'wrk'] as const) {
    const base = rs.find((r) => r.generator === gen && r.deploy === 'none')
    const dep = rs.find((r) => r.generator === gen && r.deploy === 'restart')
    const ctl = rs.find((r) => r.generator === gen && r.deploy === 'control')
    if (!base || !dep) continue
    const errs = dep.socketErrors + dep.non2xx
    lines.push(
      `  ${gen}: errors during the restart ${errs}   target 0   ${errs === 0 ? 'PASS' : 'MISS'};   p99 ${fmt(dep.p99, 2)} ms against ${fmt(base.p99, 2)} ms with no deploy (x${fmt(dep.p99 / base.p99, 2)})` +
        (ctl ? `; control restart (not behind this lb) p99 ${fmt(ctl.p99, 2)} ms (x${fmt(ctl.p99 / base.p99, 2)})` : ''),
    )
  }
  for (const r of rs.filter((x) => x.slowest && x.slowest.length > 0 && x.deploy !== 'none')) {
    lines.push(
      `  ${r.generator} ${deployTitle(r.deploy)}: slowest requests (due at s after the start, restart sent at ${fmt((r.restartAt ?? NaN) / 1000, 2)} s): ` +
        r.slowest!.map((x) => `${fmt(x.latency, 0)} ms at ${fmt(x.due / 1000, 2)} s (${x.what.replace(/^.*\.(\w{8})[\w-]*$/, '$1')})`).join(', '),
    )
  }
  lines.push('')
  process.stdout.write(lines.join('\n'))
}

// ---- main ----

async function main(): Promise<void> {
  const docker = new Dockerode()
  const children = new Set<ChildProcess>()
  let cluster: TestCluster | undefined
  let apps: AppsProcess | undefined
  let sse: TimedEventStream | undefined
  let frameworkId: string | undefined
  const liveApps = new Set<string>()
  const lbs = new Set<LbProcess>()
  let cleaning: Promise<void> | undefined

  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const c of children) c.kill('SIGTERM')
      if (apps) {
        for (const id of liveApps) await apps.req('DELETE', `/v2/apps${id}?force=true`).catch(() => undefined)
        // Every task ended (reported by the agent), ours or left by an interrupted step.
        await waitUntil('the tasks to stop', async () => ((await apps!.req('GET', '/v2/tasks')).body.tasks as unknown[]).length === 0, 60_000).catch(
          () => process.stderr.write('some tasks did not stop in time\n'),
        )
      }
      for (const lb of lbs) await lb.proc.stop().catch(() => undefined)
      await sse?.close().catch(() => undefined)
      await apps?.proc.stop().catch(() => undefined)
      if (frameworkId) {
        const n = await removeLabelled(docker, [`dromos.framework_id=${frameworkId}`])
        if (n > 0) process.stderr.write(`removed ${n} leftover container(s) by force\n`)
      }
      if (cluster) {
        await cluster.stop().catch(() => undefined)
        const n = await killStrays(cluster.dir, [`bench_lb-conv-${RUN}.`, `bench_lb-web-${RUN}.`])
        if (n > 0) process.stderr.write(`ended ${n} leftover process(es) (HAProxy or tasks) by force\n`)
        if (process.env.DROMOS_KEEP_TEST_DIRS) process.stdout.write(`cluster dir kept: ${cluster.dir}\n`)
      }
    })())

  const interrupts = handleInterrupts(cleanup, 'the change under way')
  try {
    if (!argv['skip-deploy']) await ensureBusyboxImage(BUSYBOX_TAG, docker)
    cluster = await TestCluster.start({ agents: [{ resources: AGENT_RESOURCES }] })
    apps = await AppsProcess.start(cluster, ['--log-level', 'info'])
    frameworkId = ((await apps.req('GET', '/v2/info')).body as { frameworkId: string }).frameworkId
    sse = await TimedEventStream.open(apps.url, [])
    process.stdout.write(`cluster ${cluster.masterUrl} (${cluster.dir}); apps ${apps.url}; framework ${frameworkId}\n`)
    const s: Shared = { docker, cluster, apps, sse, liveApps, lbs, check: () => interrupts.check() }
    let conv: ConvergenceResult | undefined
    let load: LoadResult[] | undefined
    if (!argv['skip-convergence']) {
      conv = await convergence(s)
      reportConvergence(conv)
    }
    if (!argv['skip-deploy']) {
      load = await deployUnderLoad(s, children)
      reportLoad(load)
    }
  } finally {
    await cleanup()
  }
}

exitWith('lb', main())
