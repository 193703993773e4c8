// Scale: a master, `dromos apps` and N hollow agents (real agent code, simulated tasks: see
// src/agent/containerizers/hollow.ts), all real processes started through bin/dromos; apps
// totalling T instances are deployed through the Marathon REST API (POST /v2/apps) at once.
//
//   npx tsc -p tsconfig.json && node dist/bench/scale.js [--size small|1k|10k] [--agents N]
//       [--tasks T] [--instances-per-app 100] [--agents-per-process 1000] [--allocation-interval 1s]
//       [--hollow-start-ms 0-10] [--hollow-node-options OPTS] [--no-health] [--log-level info] [--svg FILE] [--cpu-prof master,apps,agents,lb,dns]
//       [--timeout SECONDS] [--lb] [--dns] [--lb-instances 1000] [--max-launches-in-flight N]
//
// Sizes: small (100 agents, 1,000 tasks; what `make bench` runs), 1k (1,000 agents, 10,000
// tasks) and 10k (10,000 agents, 100,000 tasks), the last two only when asked for. Each agent
// offers cpus:8;mem:8192 and one port range; each task takes cpus 0.1, mem 16 and one port, and
// (unless --no-health) has a MESOS_HTTP health check (first check after 1 s), which the agents run (the hollow
// containerizer answers it healthy), so that a deployment ends only once its tasks are healthy.
// Agents are spread over processes of --agents-per-process agents, each listening on a free
// port; one process holds a listener, a connection from the master and some to the master per
// agent, within the default limit of open files.
//
// Reported: the time from the first POST until the master counts T tasks running and until the
// last deployment is done; tasks/s over the first; offers/s (master/offers_sent of
// /metrics/snapshot over the same span); the master's allocation passes during the storm (how
// many, their mean, and p50/p99/max of its allocator/mesos/allocation_run_ms timer over the latest
// 1,000 passes); CPU seconds (/proc/<pid>/stat) and peak RSS
// (VmHWM of /proc/<pid>/status) of the master, of apps and of the agent processes together;
// p50/p99 of GET /v2/apps, GET /master/state and a scheduler call (an implicit RECONCILE from
// a framework of the bench's own that suppresses its offers) sent one at a time during the storm;
// and the lag of /v2/events (arrival at the bench less the event's timestamp) for the storm's
// status_update_events. A chart of running tasks over time (the master's count and the events
// the bench saw) goes to --svg as a hand-built SVG (no charting library is needed for two lines).
//
// --lb also runs a real `dromos lb` with its HAProxy through the storm and, after it, scales an
// app of its group 1 → --lb-instances → a tenth → back, timing each step until HAProxy's
// enabled servers are the app's tasks and counting the lb's reloads (bench/scale/lb.ts).
// --dns runs a real `dromos dns` through the storm (it follows every app) and times the same
// steps (with --lb or without) until its SRV records (its HTTP interface) are the app's tasks.
//
// --hollow-node-options (default --max-semi-space-size=64) is given, through NODE_OPTIONS, to the
// hollow agents' processes only: each holds a thousand agents, whose short-lived objects
// (requests, updates, checkpoint writes) cost them less in scavenges with a young generation
// of 64 MiB than with V8's default. Options are given after an equals sign
// (--hollow-node-options=--max-semi-space-size=32); --hollow-node-options= runs them with the defaults.
// --cpu-prof master,apps,agents,lb,dns profiles those processes (agents: every agent process) as `node --cpu-prof` would (bench/profile/cpu-profile.ts, preloaded through NODE_OPTIONS); the
// .cpuprofile files land in the run's directory, which is then kept. Past --timeout (default 3 s
// per 100 tasks, at least 180 s) the bench reports what it has, marked TIMED OUT. Everything
// started is stopped at the end, also on failure or Ctrl-C. Exit status 0 whatever the numbers;
// 1 if the bench broke, 130 on Ctrl-C. DROMOS_KEEP_TEST_DIRS=1 keeps the run directory.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_MAX_LAUNCHES_IN_FLIGHT } from '../src/apps/framework.js'
import { Proc, freePort, waitUntil } from '../test/lib/cluster.js'
import { exitWith, fmt, handleInterrupts, now, pad, quantile, sleep, TimedEventStream } from './lib.js'
import { agentHostnamePrefix, discoveryScalePhase, startDns, startLb } from './scale/lb.js'
import type { ScaleDns, ScaleLb } from './scale/lb.js'

const SIZES = {
  small: { agents: 100, tasks: 1_000 },
  '1k': { agents: 1_000, tasks: 10_000 },
  '10k': { agents: 10_000, tasks: 100_000 },
} as const

const USAGE =
  'usage: scale [--size small|1k|10k] [--agents N] [--tasks T] [--instances-per-app N] [--agents-per-process N] [--allocation-interval D] [--hollow-start-ms R] [--hollow-node-options OPTS] [--no-health] [--log-level L] [--svg FILE] [--cpu-prof master,apps,agents,lb,dns] [--timeout SECONDS] [--lb] [--dns] [--lb-instances N] [--max-launches-in-flight N]\n'
const { values: argv } = parseArgs({
  options: {
    size: { type: 'string', default: 'small' },
    agents: { type: 'string' },
    tasks: { type: 'string' },
    'instances-per-app': { type: 'string', default: '100' },
    'agents-per-process': { type: 'string', default: '1000' },
    'allocation-interval': { type: 'string', default: '1s' },
    'hollow-start-ms': { type: 'string', default: '0-10' },
    'hollow-node-options': { type: 'string', default: '--max-semi-space-size=64' },
    'no-health': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    svg: { type: 'string' },
    'cpu-prof': { type: 'string', default: '' },
    timeout: { type: 'string' },
    lb: { type: 'boolean', default: false },
    dns: { type: 'boolean', default: false },
    'lb-instances': { type: 'string', default: '1000' },
    'max-launches-in-flight': { type: 'string' },
  },
})
const SIZE = argv.size as keyof typeof SIZES
if (!(SIZE in SIZES)) {
  process.stderr.write(USAGE)
  process.exit(2)
}
const AGENTS = Number(argv.agents ?? SIZES[SIZE].agents)
const TASKS = Number(argv.tasks ?? SIZES[SIZE].tasks)
const PER_APP = Number(argv['instances-per-app'])
const PER_PROCESS = Number(argv['agents-per-process'])
const HEALTH = !argv['no-health']
const LB = argv.lb
const DNS = argv.dns
const LB_INSTANCES = Number(argv['lb-instances'])
const PROFILED = new Set(argv['cpu-prof'].split(',').map((s) => s.trim()).filter(Boolean))
const SVG = argv.svg ?? join(tmpdir(), `dromos-scale-${SIZE}.svg`)
if (![AGENTS, TASKS, PER_APP, PER_PROCESS, LB_INSTANCES].every((n) => Number.isInteger(n) && n >= 1) || [...PROFILED].some((p) => !['master', 'apps', 'agents', 'lb', 'dns'].includes(p))) {
  process.stderr.write(USAGE)
  process.exit(2)
}
const AGENT_RESOURCES = 'cpus:8;mem:8192;disk:10000;ports:[31000-31999]'
/** Generous: the point is to measure how long it takes, not to give up early. */
const STORM_TIMEOUT_MS = Number(argv.timeout ?? Math.max(180, TASKS * 0.03)) * 1000

// ---- /proc ----

interface ProcUsage {
  cpuSecs: number
  hwmMb: number
}

/** CPU seconds (user + system) and peak RSS of a live process; zeros once it is gone. */
function procUsage(pid: number | undefined): ProcUsage {
  if (pid === undefined) return { cpuSecs: 0, hwmMb: 0 }
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return { cpuSecs: ticks / 100, hwmMb: hwm ? Number(hwm[1]) / 1024 : 0 }
  } catch {
    return { cpuSecs: 0, hwmMb: 0 }
  }
}

// ---- a framework of the bench's own, for timing scheduler calls ----

/** Subscribes with every role suppressed (it takes no offers) and keeps reading its stream. */
async function subscribeProbe(master: string): Promise<{ call(): Promise<number>; close(): void }> {
  const body = JSON.stringify({
    type: 'SUBSCRIBE',
    subscribe: { framework_info: { user: 'root', name: 'scale-bench-probe', roles: ['*'], capabilities: [{ type: 'MULTI_ROLE' }] }, suppressed_roles: ['*'] },
  })
  const url = new URL('/api/v1/scheduler', master)
  const { frameworkId, streamId, close } = await new Promise<{ frameworkId: string; streamId: string; close(): void }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } }, (res) => {
      const streamId = String(res.headers['mesos-stream-id'] ?? '')
      // Only SUBSCRIBED is read (for the framework id); heartbeats after it are drained.
      let head: string | undefined = ''
      res.on('data', (c: Buffer) => {
        if (head === undefined) return
        head += c.toString()
        const m = /"framework_id":\{"value":"([^"]+)"/.exec(head)
        if (!m) return
        head = undefined
        resolve({ frameworkId: m[1]!, streamId, close: () => req.destroy() })
      })
      res.on('error', () => undefined)
    })
    req.on('error', reject)
    req.end(body)
  })
  return {
    async call() {
      const t0 = now()
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId },
        body: JSON.stringify({ type: 'RECONCILE', framework_id: { value: frameworkId }, reconcile: { tasks: [] } }),
      })
      await r.arrayBuffer()
      if (r.status !== 202) throw new Error(`RECONCILE answered ${r.status}`)
      return now() - t0
    },
    close,
  }
}

// ---- the chart ----

interface Series {
  readonly name: string
  readonly colour: string
  readonly points: ReadonlyArray<readonly [number, number]>
}

/** Lines of (seconds, count) in a plain SVG: axes with a few ticks, and a legend. */
function lineChart(title: string, series: readonly Series[]): string {
  const W = 720
  const H = 360
  const L = 70
  const R = 20
  const T = 40
  const B = 50
  const xMax = Math.max(1, ...series.flatMap((s) => s.points.map(([x]) => x)))
  const yMax = Math.max(1, ...series.flatMap((s) => s.points.map(([, y]) => y)))
  const x = (v: number): number => L + (v / xMax) * (W - L - R)
  const y = (v: number): number => H - B - (v / yMax) * (H - T - B)
  const ticks = (max: number): number[] => Array.from({ length: 6 }, (_, i) => (max * i) / 5)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${title}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">seconds since the first POST /v2/apps</text>`,
  ]
  for (const v of ticks(xMax)) out.push(`<text x="${x(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${v.toFixed(xMax < 10 ? 1 : 0)}</text>`)
  for (const v of ticks(yMax)) {
    out.push(`<line x1="${L}" y1="${y(v).toFixed(1)}" x2="${W - R}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`)
    out.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v)}</text>`)
  }
  series.forEach((s, i) => {
    const pts = s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')
    out.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="2" points="${pts}"/>`)
    out.push(`<line x1="${L + 10}" y1="${T + 10 + i * 16}" x2="${L + 30}" y2="${T + 10 + i * 16}" stroke="${s.colour}" stroke-width="2"/>`)
    out.push(`<text x="${L + 36}" y="${T + 14 + i * 16}">${s.name}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

// ---- the run ----

const json = async <T>(url: string): Promise<T> => {
  const r = await fetch(url)
  if (!r.ok) throw new Error(`${url} answered ${r.status}`)
  return (await r.json()) as T
}

const timed = async (url: string): Promise<number> => {
  const t0 = now()
  const r = await fetch(url)
  await r.arrayBuffer()
  if (!r.ok) throw new Error(`${url} answered ${r.status}`)
  return now() - t0
}

/**
 * POST /v2/apps, once more if the connection broke: a busy apps framework may drop it after
 * taking the app, and the second answer is then a 409.
 */
async function postApp(appsUrl: string, app: { id: string }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await fetch(`${appsUrl}/v2/apps`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(app) }).catch((e: unknown) => {
      if (attempt >= 3) throw e
      return undefined
    })
    if (!r) continue
    const text = await r.text()
    if (r.status === 201 || (r.status === 409 && attempt > 1)) return
    throw new Error(`POST /v2/apps ${app.id} answered ${r.status}: ${text}`)
  }
}

/** Starts a process, with `node --cpu-prof` into dir when asked for, and nodeOptions. */
function start(name: string, args: string[], dir: string, nodeOptions = ''): Proc {
  const profiled = PROFILED.has(name.startsWith('agents-') ? 'agents' : name)
  if (!profiled && !nodeOptions) return new Proc(args, join(dir, `${name}.log`))
  // Proc passes this process's environment on, read when it spawns.
  const saved = { options: process.env.NODE_OPTIONS, dir: process.env.DROMOS_CPU_PROF_DIR }
  const profile = profiled ? `--import ${pathToFileURL(join(import.meta.dirname, 'profile', 'cpu-profile.js')).href}` : ''
  process.env.NODE_OPTIONS = [saved.options ?? '', nodeOptions, profile].join(' ').trim()
  if (profiled) process.env.DROMOS_CPU_PROF_DIR = join(dir, `${name}-profile`)
  try {
    return new Proc(args, join(dir, `${name}.log`))
  } finally {
    for (const [k, v] of [['NODE_OPTIONS', saved.options], ['DROMOS_CPU_PROF_DIR', saved.dir]] as const) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dromos-scale-'))
  const procs: Proc[] = []
  let probe: { close(): void } | undefined
  let events: TimedEventStream | undefined
  let cleaned = false
  const cleanup = async (): Promise<void> => {
    if (cleaned) return
    cleaned = true
    probe?.close()
    await events?.close()
    // apps first (it would re-launch what a stopping agent reports lost), the master last.
    for (const p of [...procs].reverse()) await p.stop('SIGTERM', 60_000)
    if (!process.env.DROMOS_KEEP_TEST_DIRS && PROFILED.size === 0) rmSync(dir, { recursive: true, force: true })
    else process.stdout.write(`run directory kept: ${dir}\n`)
  }
  const interrupts = handleInterrupts(cleanup)
  try {
    const apps = Math.ceil(TASKS / PER_APP)
    process.stdout.write(`scale ${SIZE}: ${AGENTS} hollow agents in ${Math.ceil(AGENTS / PER_PROCESS)} process(es), ${apps} apps, ${TASKS} tasks, health checks ${HEALTH ? 'on' : 'off'}, launches in flight at most ${argv['max-launches-in-flight'] ?? DEFAULT_MAX_LAUNCHES_IN_FLIGHT}\n`)

    // -- the cluster --
    const masterPort = await freePort()
    const masterUrl = `http://127.0.0.1:${masterPort}`
    const master = start('master', ['master', '--port', String(masterPort), '--work-dir', join(dir, 'master'), '--allocation-interval', argv['allocation-interval'], '--log-level', argv['log-level']], dir)
    procs.push(master)
    await waitUntil('master to answer /health', async () => (await fetch(`${masterUrl}/health`)).ok)
    const t0Agents = now()
    const agentProcs: Proc[] = []
    for (let k = 0, left = AGENTS; left > 0; k++, left -= PER_PROCESS) {
      const count = Math.min(PER_PROCESS, left)
      const p = start(`agents-${k}`, [
        'agent', '--master', masterUrl, '--containerizers', 'hollow', '--count', String(count), '--hostname-prefix', LB || DNS ? agentHostnamePrefix(k) : `hollow-${k}-`, '--port', '0',
        '--work-dir', join(dir, `agents-${k}`), '--resources', AGENT_RESOURCES, '--hollow-start-ms', argv['hollow-start-ms'], '--log-level', argv['log-level'],
      ], dir, argv['hollow-node-options'])
      procs.push(p)
      agentProcs.push(p)
    }
    const metrics = (): Promise<Record<string, number>> => json<Record<string, number>>(`${masterUrl}/metrics/snapshot`)
    await waitUntil(`${AGENTS} agents to register`, async () => (await metrics())['master/slaves_active'] === AGENTS, Math.max(60_000, AGENTS * 30), 500)
    const agentsUpSecs = (now() - t0Agents) / 1000
    interrupts.check()

    const appsPort = await freePort()
    const appsUrl = `http://127.0.0.1:${appsPort}`
    const appsProc = start('apps', ['apps', '--master', masterUrl, '--port', String(appsPort), '--work-dir', join(dir, 'apps'), '--log-level', argv['log-level'], ...(argv['max-launches-in-flight'] ? ['--max-launches-in-flight', argv['max-launches-in-flight']] : [])], dir)
    procs.push(appsProc)
    await waitUntil('apps to register', async () => !!(await json<{ frameworkId: string | null }>(`${appsUrl}/v2/info`)).frameworkId, 60_000)
    const lb: ScaleLb | undefined = LB ? await startLb({ appsUrl, dir, logLevel: argv['log-level'], start: (name, args) => start(name, args, dir) }) : undefined
    if (lb) procs.push(lb.proc)
    const dns: ScaleDns | undefined = DNS ? await startDns({ appsUrl, logLevel: argv['log-level'], start: (name, args) => start(name, args, dir) }) : undefined
    if (dns) procs.push(dns.proc)
    probe = await subscribeProbe(masterUrl)
    events = await TimedEventStream.open(appsUrl, ['status_update_event'])
    interrupts.check()

    // -- the storm: deploy, while sampling and timing the APIs --
    const before = await metrics()
    const usageBefore = { master: procUsage(master.child.pid), apps: procUsage(appsProc.child.pid), lb: procUsage(lb?.proc.child.pid), dns: procUsage(dns?.proc.child.pid) }
    const samples: Array<{ at: number; running: number; offers: number }> = []
    const latency = { apps: [] as number[], state: [] as number[], call: [] as number[] }
    let storming = true
    let allRunningAt = NaN
    const t0 = now()
    const sampler = (async () => {
      while (storming) {
        const m = await metrics().catch(() => undefined)
        if (m) {
          samples.push({ at: now(), running: m['master/tasks_running'] ?? 0, offers: m['master/offers_sent'] ?? 0 })
          if ((m['master/tasks_running'] ?? 0) >= TASKS && Number.isNaN(allRunningAt)) allRunningAt = now()
        }
        await sleep(250)
      }
    })()
    const prober = (async () => {
      const p = probe as Awaited<ReturnType<typeof subscribeProbe>>
      while (storming) {
        latency.apps.push(await timed(`${appsUrl}/v2/apps`).catch(() => NaN))
        latency.state.push(await timed(`${masterUrl}/master/state`).catch(() => NaN))
        latency.call.push(await p.call().catch(() => NaN))
        await sleep(100)
      }
    })()

    const healthChecks = HEALTH ? [{ protocol: 'MESOS_HTTP', path: '/health', portIndex: 0, delaySeconds: 1, gracePeriodSeconds: 300, intervalSeconds: 30, maxConsecutiveFailures: 3 }] : []
    const queue = Array.from({ length: apps }, (_, i) => ({
      id: `/scale/app-${String(i).padStart(5, '0')}`,
      cmd: 'sleep 100000',
      cpus: 0.1,
      mem: 16,
      instances: Math.min(PER_APP, TASKS - i * PER_APP),
      portDefinitions: [{ port: 0 }],
      healthChecks,
    }))
    // Past the deadline the numbers so far are reported, marked as such; no POST starts after it.
    const deadline = t0 + STORM_TIMEOUT_MS
    // A few POSTs at a time, as several deploy pipelines would send them.
    let posted = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let app = queue.shift(); app && now() < deadline; app = queue.shift()) {
          await postApp(appsUrl, app)
          posted++
        }
      }),
    )
    const postedSecs = (now() - t0) / 1000
    while (Number.isNaN(allRunningAt) && now() < deadline) {
      interrupts.check()
      await sleep(250)
    }
    for (;;) {
      interrupts.check()
      const left = await json<unknown[]>(`${appsUrl}/v2/deployments`).then((d) => d.length, () => -1)
      if (left === 0 || now() >= deadline) break
      await sleep(500)
    }
    const deployedAt = now()
    const timedOut = deployedAt >= deadline
    storming = false
    await Promise.all([sampler, prober])
    const after = await metrics()
    const usageAfter = { master: procUsage(master.child.pid), apps: procUsage(appsProc.child.pid), lb: procUsage(lb?.proc.child.pid), dns: procUsage(dns?.proc.child.pid) }
    const agentUsage = agentProcs.map((p) => procUsage(p.child.pid))

    // -- the numbers --
    const lastRunning = samples.at(-1)?.running ?? 0
    const runningSecs = ((Number.isNaN(allRunningAt) ? deployedAt : allRunningAt) - t0) / 1000
    if (timedOut) process.stdout.write(`\nTIMED OUT after ${STORM_TIMEOUT_MS / 1000} s: ${lastRunning} of ${TASKS} running; the times below are up to the deadline\n`)
    const offers = (after['master/offers_sent'] ?? 0) - (before['master/offers_sent'] ?? 0)
    // The master's allocation passes: a mean over the storm, and its timer over the latest passes.
    const RUN = 'allocator/mesos/allocation_run_ms'
    const passes = (after['allocator/mesos/allocation_runs'] ?? 0) - (before['allocator/mesos/allocation_runs'] ?? 0)
    const passMs = (after[`${RUN}/sum`] ?? 0) - (before[`${RUN}/sum`] ?? 0)
    const storm = events.events.filter((e) => e.at >= t0 && e.at <= deployedAt)
    const lags = storm.map((e) => e.at - Date.parse(String(e.e.timestamp)))
    const rows: Array<[string, string]> = [
      ['agents registered in', `${fmt(agentsUpSecs)} s`],
      [posted === apps ? 'POSTs sent in' : `POSTs answered before the deadline (${posted} of ${apps})`, `${fmt(postedSecs)} s`],
      [`all ${TASKS} running after`, `${fmt(runningSecs)} s`],
      ['all deployments done after', `${fmt((deployedAt - t0) / 1000)} s`],
      ['tasks/s (to all running)', fmt((Number.isNaN(allRunningAt) ? lastRunning : TASKS) / runningSecs, 0)],
      ['offers/s (same span)', fmt(offers / runningSecs, 0)],
      [`allocation passes during storm (n=${passes})`, `mean ${fmt(passMs / Math.max(1, passes))} ms`],
      [`allocation pass p50 / p99 / max (latest ${after[`${RUN}/count`] ?? 0})`, `${fmt(after[`${RUN}/p50`] ?? NaN)} / ${fmt(after[`${RUN}/p99`] ?? NaN)} / ${fmt(after[`${RUN}/max`] ?? NaN)} ms`],
      ['master CPU during storm', `${fmt(usageAfter.master.cpuSecs - usageBefore.master.cpuSecs)} s`],
      ['apps CPU during storm', `${fmt(usageAfter.apps.cpuSecs - usageBefore.apps.cpuSecs)} s`],
      ...(lb ? [['lb CPU during storm (its group has no app yet)', `${fmt(usageAfter.lb.cpuSecs - usageBefore.lb.cpuSecs)} s`] as [string, string]] : []),
      ...(dns ? [['dns CPU during storm (it follows every app)', `${fmt(usageAfter.dns.cpuSecs - usageBefore.dns.cpuSecs)} s`] as [string, string]] : []),
      ['agent processes CPU (total, all run)', `${fmt(agentUsage.reduce((n, u) => n + u.cpuSecs, 0))} s`],
      ['master peak RSS', `${fmt(usageAfter.master.hwmMb, 0)} MiB`],
      ['apps peak RSS', `${fmt(usageAfter.apps.hwmMb, 0)} MiB`],
      ['agent process peak RSS (largest)', `${fmt(Math.max(...agentUsage.map((u) => u.hwmMb)), 0)} MiB`],
      [`GET /v2/apps p50 / p99 (n=${latency.apps.length})`, `${fmt(quantile(latency.apps, 0.5))} / ${fmt(quantile(latency.apps, 0.99))} ms`],
      [`GET /master/state p50 / p99 (n=${latency.state.length})`, `${fmt(quantile(latency.state, 0.5))} / ${fmt(quantile(latency.state, 0.99))} ms`],
      [`scheduler RECONCILE p50 / p99 (n=${latency.call.length})`, `${fmt(quantile(latency.call, 0.5))} / ${fmt(quantile(latency.call, 0.99))} ms`],
      [`event lag p50 / p99 / max (n=${lags.length})`, `${fmt(quantile(lags, 0.5))} / ${fmt(quantile(lags, 0.99))} / ${fmt(Math.max(...lags))} ms`],
    ]
    if (lb || dns) rows.push(...(await discoveryScalePhase({ appsUrl, ...(lb ? { lb } : {}), ...(dns ? { dns } : {}), instances: LB_INSTANCES, stepTimeoutMs: Math.max(120_000, LB_INSTANCES * 120) })))
    const w = Math.max(...rows.map(([k]) => k.length))
    process.stdout.write(`\n${'metric'.padEnd(w)}  value\n`)
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${pad(v, 12)}\n`)

    const runningTasks = new Set<string>()
    const eventPoints: Array<[number, number]> = [[0, 0]]
    for (const e of storm) {
      if (e.e.taskStatus === 'TASK_RUNNING') runningTasks.add(String(e.e.taskId))
      eventPoints.push([(e.at - t0) / 1000, runningTasks.size])
    }
    mkdirSync(dirname(SVG), { recursive: true })
    writeFileSync(
      SVG,
      lineChart(`dromos scale ${SIZE}: ${AGENTS} hollow agents, ${TASKS} tasks`, [
        { name: 'tasks running (master /metrics/snapshot)', colour: '#1f77b4', points: samples.map((s) => [(s.at - t0) / 1000, s.running] as const) },
        { name: 'tasks seen TASK_RUNNING on /v2/events', colour: '#ff7f0e', points: eventPoints },
      ]),
    )
    process.stdout.write(`\nchart: ${SVG}\n`)
  } finally {
    await cleanup()
  }
}

exitWith('scale', main())
