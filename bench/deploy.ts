// Deployment latency: `POST /v2/apps` to `deployment_success` on /v2/events through
// `dromos apps`, against the same containers started with `docker run -d` in the same run.
//
//   npx tsc -p tsconfig.json && node dist/bench/deploy.js [--runs 7] [--warmup 1]
//       [--sizes 1,10] [--allocation-interval 1s,100ms] [--docker-flags matched|plain]
//       [--settle-ms 500] [--target 1.15] [--trace]
//
// For each master --allocation-interval in the list (1s is the master's default, 100ms what
// the tests use), one master, one agent and `dromos apps` run as real processes; the bench
// follows /v2/events itself and stamps each event when it arrives. An app of N instances of
// the busybox test image (`sleep 600`, host networking with no ports, cpus 0.05, mem 16) is
// timed from just before the POST is sent until the deployment_success event carrying the
// deployment id of the POST's answer (`deployments[0].id`) has been read. Against it:
// N `docker run -d` of the same image and command, one after the other (sequential) and, for
// N > 1, all at once (parallel: from the first spawn until the last CLI returned). With
// `--docker-flags matched` (the default) docker run asks for what the agent asks for: host
// network, memory without swap, CPU shares and quota, the sandbox bind mount, `sh -c`.
//
// Every repetition runs each series once, in an order that rotates from one repetition to
// the next, so drift in the machine's load hits all series alike. Between series the app is
// deleted and the bench waits until its containers are gone, and the docker run containers
// are removed. Docker's container events split each series into phases; with --trace the
// apps framework talks to the master through a recording proxy in this process, which adds
// REVIVE, OFFERS and ACCEPT to the dromos timeline (and a little latency to every call).
//
// The exit status is 0 whatever the ratios; 1 only if the bench itself broke, 130 on Ctrl-C.
// DROMOS_KEEP_TEST_DIRS=1 keeps the cluster directories (master.log, agent-0.log, apps.log).
import { mkdtempSync, rmSync } from 'node:fs'
import type { IncomingHttpHeaders, Server } from 'node:http'
import { createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Dockerode from 'dockerode'
import { createRecordIoDecoder } from '../src/api/http.js'
import { parseDurationMs } from '../src/core/duration.js'
import { AppsProcess } from '../test/lib/apps.js'
import { TestCluster, waitUntil } from '../test/lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from '../test/lib/images.js'
import {
  DockerEvents,
  exitWith,
  execFileP,
  fmt,
  handleInterrupts,
  matchedDockerRunFlags,
  median,
  now,
  pad,
  quantile,
  removeLabelled,
  sleep,
  TimedEventStream,
} from './lib.js'

const AGENT_RESOURCES = 'cpus:8;mem:8192;disk:1000;ports:[31000-31999]'
const TASK_CPUS = 0.05
const TASK_MEM_MB = 16
const COMMAND = 'sleep 600'
const BENCH_LABEL = 'dromos-bench.deploy'
const STEP_TIMEOUT_MS = 60_000

const USAGE =
  'usage: deploy [--runs N>=1] [--warmup N>=0] [--sizes 1,10] [--allocation-interval 1s,100ms] [--docker-flags matched|plain] [--settle-ms MS] [--target R] [--trace]\n'
const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '1' },
    sizes: { type: 'string', default: '1,10' },
    'allocation-interval': { type: 'string', default: '1s,100ms' },
    'docker-flags': { type: 'string', default: 'matched' },
    'settle-ms': { type: 'string', default: '500' },
    target: { type: 'string', default: '1.15' },
    trace: { type: 'boolean', default: false },
  },
})
const RUNS = Number(argv.runs)
const WARMUP = Number(argv.warmup)
const SETTLE_MS = Number(argv['settle-ms'])
const TARGET_RATIO = Number(argv.target)
const TRACE = argv.trace
const DOCKER_FLAGS = argv['docker-flags'] === 'plain' ? 'plain' : 'matched'
const SIZES = argv.sizes.split(',').map((s) => Number(s.trim()))
const INTERVALS = argv['allocation-interval'].split(',').map((s) => s.trim())
{
  const intervalsOk = INTERVALS.every((s) => {
    try {
      return parseDurationMs(s) > 0
    } catch {
      return false
    }
  })
  if (
    !Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(WARMUP) || WARMUP < 0 || !(SETTLE_MS >= 0) || !(TARGET_RATIO > 0) ||
    SIZES.length === 0 || !SIZES.every((n) => Number.isInteger(n) && n >= 1 && n <= 100) || !intervalsOk
  ) {
    process.stderr.write(USAGE)
    process.exit(2)
  }
}

// ---- /v2/events, every event stamped on arrival ----


// ---- --trace: a recording proxy between the apps framework and the master ----

interface TapRecord {
  /** A call's type (REVIVE, ACCEPT, ...) or an event's (OFFERS, UPDATE, ...). */
  readonly type: string
  readonly kind: 'call' | 'event'
  /** Calls: when the proxy had the whole request. Events: when the proxy read them. */
  readonly at: number
  /** Calls: when the master's answer had been passed on. */
  answeredAt?: number
  /** ACCEPT: tasks launched; OFFERS: offers; UPDATE: the task state. */
  readonly detail?: string | number
  /** UPDATE and ACKNOWLEDGE: the status update's uuid, and its task. */
  readonly uuid?: string
  readonly taskId?: string
}

/**
 * Passes /api/v1/scheduler (and anything else) through to the master unchanged, recording the
 * type and time of every call and of every event on the SUBSCRIBE stream.
 */
class SchedulerTap {
  readonly records: TapRecord[] = []
  url = ''
  private server: Server | undefined

  static async start(master: string): Promise<SchedulerTap> {
    const tap = new SchedulerTap()
    const target = new URL(master)
    tap.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const at = now()
        let call: {
          type?: string
          accept?: { operations?: Array<{ launch?: { task_infos?: unknown[] } }> }
          acknowledge?: { uuid?: string; task_id?: { value?: string } }
        } = {}
        try {
          call = JSON.parse(body.toString()) as typeof call
        } catch {
          // not JSON: passed on all the same
        }
        const type = String(call.type ?? `${req.method} ${req.url}`)
        const rec: TapRecord = {
          type,
          kind: 'call',
          at,
          ...(type === 'ACCEPT' ? { detail: (call.accept?.operations ?? []).reduce((n, op) => n + (op.launch?.task_infos?.length ?? 0), 0) } : {}),
          ...(type === 'ACKNOWLEDGE' ? { uuid: String(call.acknowledge?.uuid), taskId: String(call.acknowledge?.task_id?.value) } : {}),
        }
        if (type !== 'SUBSCRIBE') tap.records.push(rec)
        const headers: IncomingHttpHeaders = { ...req.headers, host: target.host }
        const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (ures) => {
          res.writeHead(ures.statusCode ?? 502, ures.headers)
          res.flushHeaders()
          if (type === 'SUBSCRIBE' && ures.statusCode === 200) {
            res.socket?.setNoDelay(true)
            const decode = createRecordIoDecoder((json) => {
              const t = now()
              try {
                const e = JSON.parse(json) as { type: string; offers?: { offers: unknown[] }; update?: { status: { state: string; uuid?: string; task_id: { value: string } } } }
                const detail = e.type === 'OFFERS' ? e.offers?.offers.length : e.type === 'UPDATE' ? e.update?.status.state : undefined
                const st = e.update?.status
                tap.records.push({
                  type: e.type,
                  kind: 'event',
                  at: t,
                  ...(detail !== undefined ? { detail } : {}),
                  ...(st ? { uuid: String(st.uuid), taskId: st.task_id.value } : {}),
                })
              } catch {
                // recorded or not, the bytes go through
              }
            })
            ures.on('data', (c: Buffer) => {
              res.write(c)
              try {
                decode(c)
              } catch {
                // as above
              }
            })
            ures.on('end', () => res.end())
          } else {
            ures.on('data', (c: Buffer) => res.write(c))
            ures.on('end', () => {
              res.end()
              rec.answeredAt = now()
            })
          }
          ures.on('error', () => res.destroy())
        })
        up.setNoDelay(true)
        up.on('error', () => {
          if (!res.headersSent) res.writeHead(502)
          res.end()
        })
        res.on('close', () => up.destroy())
        up.end(body)
      })
    })
    await new Promise<void>((resolve) => tap.server!.listen(0, '127.0.0.1', resolve))
    const addr = tap.server.address()
    tap.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
    return tap
  }

  async close(): Promise<void> {
    if (!this.server) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }
}

// ---- the series ----

/** One measurement: the total and, by name, times in ms after the series began (NaN: missing). */
interface Sample {
  total: number
  at: Record<string, number>
  /** Durations that are not points on the timeline (--trace). */
  stats?: Record<string, number>
  /** When REVIVE was sent (ms since the epoch, --trace): its phase on the apps' 1 s tick. */
  revivePhase?: number
  note?: string
}

interface Ctx {
  docker: Dockerode
  events: DockerEvents
  cluster: TestCluster
  apps: AppsProcess
  sse: TimedEventStream
  tap: SchedulerTap | undefined
  frameworkId: string
  runId: string
  /** Apps this run created and has not deleted yet. */
  liveApps: Set<string>
  /** docker run containers not removed yet. */
  rawContainers: Set<string>
  sandboxRoot: string
}

function appJson(id: string, instances: number): Record<string, unknown> {
  return {
    id,
    instances,
    cmd: COMMAND,
    cpus: TASK_CPUS,
    mem: TASK_MEM_MB,
    disk: 0,
    container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG } },
    // NONE is not a Marathon network mode: host networking with no ports is the closest.
    networks: [{ mode: 'host' }],
    portDefinitions: [],
    // `sleep` as PID 1 ignores SIGTERM: kill at once when the app is deleted.
    taskKillGracePeriodSeconds: 0,
  }
}

const DEPLOY_EVENTS = ['deployment_success', 'deployment_failed', 'deployment_step_success', 'status_update_event'] as const

async function deployDromos(ctx: Ctx, size: number, label: string): Promise<Sample> {
  const appId = `/dromos-bench/deploy-${ctx.runId}-${label}-n${size}`
  const from = ctx.sse.events.length
  const tapFrom = ctx.tap?.records.length ?? 0
  const t0 = now()
  const r = await ctx.apps.req('POST', '/v2/apps', appJson(appId, size))
  const posted = now()
  if (r.status !== 201) throw new Error(`POST /v2/apps ${appId} answered ${r.status}: ${JSON.stringify(r.body)}`)
  ctx.liveApps.add(appId)
  const deploymentId = String(r.body.deployments?.[0]?.id ?? '')
  if (deploymentId === '') throw new Error(`POST /v2/apps ${appId}: no deployments[0].id in ${JSON.stringify(r.body)}`)
  const end = await ctx.sse.waitFor(
    (e) => (e.eventType === 'deployment_success' || e.eventType === 'deployment_failed') && e.id === deploymentId,
    from,
    `deployment_success of ${deploymentId} (${appId})`,
  )
  if (end.e.eventType === 'deployment_failed') throw new Error(`deployment ${deploymentId} of ${appId} failed: ${String(end.e.reason ?? '')}`)

  const mine = ctx.sse.events.slice(from).filter((x) => x.at <= end.at)
  const updates = mine.filter((x) => x.e.eventType === 'status_update_event' && x.e.appId === appId)
  const taskIds = [...new Set(updates.map((u) => String(u.e.taskId)))]
  const running = updates.filter((u) => u.e.taskStatus === 'TASK_RUNNING')
  const step1 = mine.find((x) => x.e.eventType === 'deployment_step_success' && x.e.plan?.id === deploymentId)
  const span = await ctx.events.span(taskIds)
  const at: Record<string, number> = {
    'POST answered (201)': posted - t0,
    'step 1 done (event read)': (step1?.at ?? NaN) - t0,
  }
  if (ctx.tap) {
    const recs = ctx.tap.records.slice(tapFrom).filter((x) => x.at >= t0 && x.at <= end.at)
    const first = (type: string, kind: TapRecord['kind']): number => (recs.find((x) => x.type === type && x.kind === kind)?.at ?? NaN) - t0
    at['REVIVE sent'] = first('REVIVE', 'call')
    at['OFFERS read by apps'] = first('OFFERS', 'event')
    at['first ACCEPT sent'] = first('ACCEPT', 'call')
    const accepts = recs.filter((x) => x.type === 'ACCEPT' && x.kind === 'call')
    at['last ACCEPT sent'] = (accepts[accepts.length - 1]?.at ?? NaN) - t0
  }
  at['first docker create'] = span.firstCreate - t0
  at['last docker start'] = span.lastStart - t0
  at['last TASK_RUNNING (event read)'] = Math.max(...running.map((u) => u.at)) - t0
  at['deployment_success (event read)'] = end.at - t0
  const sample: Sample = { total: end.at - t0, at }
  if (taskIds.length !== size) sample.note = `${taskIds.length} tasks for ${size} instances`
  if (ctx.tap) {
    const recs = ctx.tap.records.slice(tapFrom).filter((x) => x.at >= t0 && x.at <= end.at)
    const count = (type: string, kind: TapRecord['kind']) => recs.filter((x) => x.type === type && x.kind === kind).length
    const calls = `${count('REVIVE', 'call')} REVIVE, ${count('OFFERS', 'event')} OFFERS, ${count('DECLINE', 'call')} DECLINE, ${count('ACCEPT', 'call')} ACCEPT, ${count('ACKNOWLEDGE', 'call')} ACK`
    // The apps framework handles updates one at a time and acknowledges each before the next.
    const acks = recs.filter((x) => x.type === 'ACKNOWLEDGE' && x.kind === 'call')
    const rtts = acks.map((a) => (a.answeredAt ?? NaN) - a.at)
    const waits = recs
      .filter((x) => x.type === 'UPDATE' && x.kind === 'event')
      .map((u) => (acks.find((a) => a.uuid === u.uuid)?.at ?? NaN) - u.at)
    const sum = (xs: number[]) => xs.filter(Number.isFinite).reduce((a, b) => a + b, 0)
    const lastRunning = recs.filter((x) => x.type === 'UPDATE' && x.detail === 'TASK_RUNNING').pop()
    const revive = recs.find((x) => x.type === 'REVIVE' && x.kind === 'call')
    sample.stats = {
      'ACK round trip, median': median(rtts),
      'ACK round trips, sum': sum(rtts),
      'UPDATE in -> its ACK sent, median': median(waits),
      'UPDATE in -> its ACK sent, max': Math.max(...waits.filter(Number.isFinite)),
      'last RUNNING UPDATE in -> deployment_success read': lastRunning ? end.at - lastRunning.at : NaN,
    }
    if (revive) sample.revivePhase = revive.at
    sample.note = sample.note ? `${sample.note}; ${calls}` : calls
  }
  return sample
}

/** Deletes the app and waits until the deployment ended, the master forgot the tasks and their containers are gone. */
async function deleteApp(ctx: Ctx, appId: string): Promise<void> {
  const from = ctx.sse.events.length
  const r = await ctx.apps.req('DELETE', `/v2/apps${appId}?force=true`)
  if (r.status === 404) {
    ctx.liveApps.delete(appId)
    return
  }
  if (r.status !== 200) throw new Error(`DELETE /v2/apps${appId} answered ${r.status}: ${JSON.stringify(r.body)}`)
  const deploymentId = String(r.body.deploymentId)
  await ctx.sse.waitFor((e) => e.eventType === 'deployment_success' && e.id === deploymentId, from, `deletion of ${appId}`)
  ctx.liveApps.delete(appId)
  await waitUntil(
    `the tasks of ${appId} to go`,
    async () => {
      const st = (await ctx.cluster.state()) as { frameworks?: Array<{ id: string; tasks?: unknown[] }> }
      const fw = st.frameworks?.find((f) => f.id === ctx.frameworkId)
      if ((fw?.tasks?.length ?? 0) > 0) return false
      const left = await ctx.docker.listContainers({ all: true, filters: { label: [`dromos.framework_id=${ctx.frameworkId}`] } })
      return left.length === 0
    },
    STEP_TIMEOUT_MS,
    25,
  )
}

function dockerRunArgs(ctx: Ctx, name: string): string[] {
  const args = ['run', '-d', '--name', name, '--label', `${BENCH_LABEL}=${process.pid}`, '--network', 'host']
  if (DOCKER_FLAGS === 'matched') {
    const sandbox = mkdtempSync(join(ctx.sandboxRoot, `${name}-`))
    args.push(...matchedDockerRunFlags({ cpus: TASK_CPUS, memMb: TASK_MEM_MB, sandbox }), '--entrypoint', '/bin/sh', BUSYBOX_TAG, '-c', COMMAND)
  } else {
    args.push(BUSYBOX_TAG, ...COMMAND.split(' '))
  }
  return args
}

async function dockerRuns(ctx: Ctx, size: number, label: string, parallel: boolean): Promise<Sample> {
  const names = Array.from({ length: size }, (_, i) => `dromos-bench-${ctx.runId}-${label}-${parallel ? 'p' : 's'}${i}`)
  // Sandboxes and argument lists are made before the clock starts.
  const argLists = names.map((n) => dockerRunArgs(ctx, n))
  for (const n of names) ctx.rawContainers.add(n)
  const t0 = now()
  const returned: number[] = []
  if (parallel) {
    await Promise.all(argLists.map((args) => execFileP('docker', args).then(() => returned.push(now()))))
  } else {
    for (const args of argLists) {
      await execFileP('docker', args)
      returned.push(now())
    }
  }
  const t1 = now()
  const span = await ctx.events.span(names)
  return {
    total: t1 - t0,
    at: {
      'first docker create': span.firstCreate - t0,
      'last docker start': span.lastStart - t0,
      'first CLI returned': Math.min(...returned) - t0,
      'last CLI returned': t1 - t0,
    },
  }
}

async function removeDockerRuns(ctx: Ctx): Promise<void> {
  if (ctx.rawContainers.size === 0) return
  const names = [...ctx.rawContainers]
  await execFileP('docker', ['rm', '-f', '-v', ...names])
  for (const n of names) ctx.rawContainers.delete(n)
}

// ---- statistics and report ----

type SeriesName = 'dromos' | 'docker-seq' | 'docker-par'

interface SizeResult {
  size: number
  samples: Record<SeriesName, Sample[]>
}

interface ConfigResult {
  interval: string
  sizes: SizeResult[]
}

function seriesOf(size: number): SeriesName[] {
  return size === 1 ? ['dromos', 'docker-seq'] : ['dromos', 'docker-seq', 'docker-par']
}

function seriesTitle(s: SeriesName, size: number): string {
  if (s === 'dromos') return 'dromos POST -> deployment_success'
  if (size === 1) return 'docker run -d'
  return s === 'docker-seq' ? `docker run -d x${size}, sequential` : `docker run -d x${size}, all at once`
}

const verdict = (ratio: number): string => (Number.isFinite(ratio) ? (ratio <= TARGET_RATIO ? 'PASS' : 'MISS') : 'n/a')

function ratios(r: SizeResult): Array<{ name: string; ratio: number }> {
  const d = median(r.samples.dromos.map((s) => s.total))
  const seq = median(r.samples['docker-seq'].map((s) => s.total))
  if (r.size === 1) return [{ name: 'dromos / docker run', ratio: d / seq }]
  const par = median(r.samples['docker-par'].map((s) => s.total))
  return [
    { name: 'dromos / docker run sequential', ratio: d / seq },
    { name: 'dromos / docker run all at once', ratio: d / par },
  ]
}

function timelineTable(title: string, samples: readonly Sample[]): string[] {
  const names = Object.keys(samples[0]?.at ?? {})
  const w = Math.max(...names.map((n) => n.length), 10)
  return [
    `  ${title}`,
    ...names.map((n) => {
      const xs = samples.map((s) => s.at[n] ?? NaN)
      return `    ${n.padEnd(w)}  median ${pad(fmt(quantile(xs, 0.5)), 8)}  p90 ${pad(fmt(quantile(xs, 0.9)), 8)}  min ${pad(fmt(Math.min(...xs.filter(Number.isFinite))), 8)}`
    }),
  ]
}

function report(c: ConfigResult): void {
  const row = (name: string, xs: number[]) =>
    `  ${name.padEnd(40)} ${pad(String(xs.length), 3)} ${pad(fmt(quantile(xs, 0.5)), 9)} ${pad(fmt(quantile(xs, 0.9)), 9)} ${pad(fmt(Math.min(...xs)), 9)} ${pad(fmt(Math.max(...xs)), 9)}`
  const lines: string[] = [
    '',
    `== deploy latency, ms: master --allocation-interval ${c.interval}, apps tick 1 s (built in), docker run flags ${DOCKER_FLAGS}, ` +
      `${RUNS} runs per series, order rotating, ${WARMUP} warm-up not counted${TRACE ? ', traced through the proxy' : ''}`,
  ]
  for (const r of c.sizes) {
    lines.push('', `size ${r.size}`, `  ${'series'.padEnd(40)} ${pad('n', 3)} ${pad('median', 9)} ${pad('p90', 9)} ${pad('min', 9)} ${pad('max', 9)}`)
    for (const s of seriesOf(r.size)) lines.push(row(seriesTitle(s, r.size), r.samples[s].map((x) => x.total)))
    for (const q of ratios(r)) lines.push(`  ratio median ${q.name} = ${q.ratio.toFixed(2)}   target <= ${TARGET_RATIO.toFixed(2)}   ${verdict(q.ratio)}`)
    lines.push('', '  when each thing happened, ms after the series began')
    for (const s of seriesOf(r.size)) lines.push(...timelineTable(seriesTitle(s, r.size), r.samples[s]).map((l) => `  ${l}`))
    const withStats = r.samples.dromos.filter((x) => x.stats)
    if (withStats.length > 0) {
      lines.push('  dromos, traced: durations, ms')
      for (const n of Object.keys(withStats[0]!.stats!)) {
        const xs = withStats.map((x) => x.stats![n] ?? NaN)
        lines.push(`    ${n.padEnd(50)}  median ${pad(fmt(quantile(xs, 0.5)), 8)}  p90 ${pad(fmt(quantile(xs, 0.9)), 8)}`)
      }
    }
    lines.push('')
    for (const s of seriesOf(r.size)) lines.push(`  runs ${seriesTitle(s, r.size).padEnd(40)} ${r.samples[s].map((x) => x.total.toFixed(0)).join(' ')}`)
    const notes = r.samples.dromos.flatMap((x, i) => (x.note ? [`    run ${i + 1}: ${x.note}`] : []))
    if (notes.length > 0) lines.push('  dromos notes:', ...notes)
  }
  // The apps framework sends REVIVE from its reconciling pass, which setInterval runs every
  // 1 s: if REVIVE waits for that pass, its times fall on a 1 s grid.
  const revives = c.sizes.flatMap((r) => r.samples.dromos.flatMap((x) => (x.revivePhase !== undefined ? [x.revivePhase] : []))).sort((a, b) => a - b)
  if (revives.length > 1) {
    const phase = revives.map((t) => (((t - revives[0]!) % 1000) + 1000) % 1000)
    lines.push('', `REVIVE times modulo 1 s, relative to the first REVIVE, ms (values near 0 or 1000: a 1 s grid): ${phase.map((x) => x.toFixed(0)).join(' ')}`)
  }
  lines.push('')
  process.stdout.write(lines.join('\n'))
}

function summary(results: readonly ConfigResult[]): void {
  const lines = ['', '== summary: median ms (p90), ratio of medians, target <= ' + TARGET_RATIO.toFixed(2)]
  for (const c of results) {
    for (const r of c.sizes) {
      const cell = (s: SeriesName) => {
        const xs = r.samples[s].map((x) => x.total)
        return `${fmt(median(xs), 0)} (${fmt(quantile(xs, 0.9), 0)})`
      }
      const parts = seriesOf(r.size).map((s) => `${s} ${cell(s)}`)
      const rs = ratios(r).map((q) => `${q.name.replace('dromos / docker run', 'vs')} ${q.ratio.toFixed(2)} ${verdict(q.ratio)}`)
      lines.push(`  allocation ${c.interval.padEnd(6)} size ${pad(String(r.size), 3)}: ${parts.join('  ')}  |  ${rs.join('  ')}`)
    }
  }
  lines.push('')
  process.stdout.write(lines.join('\n'))
}

// ---- main ----

async function runConfig(docker: Dockerode, events: DockerEvents, interval: string, sandboxRoot: string, check: () => void, reg: (c: () => Promise<void>) => void): Promise<ConfigResult> {
  let ctx: Ctx | undefined
  let cluster: TestCluster | undefined
  let apps: AppsProcess | undefined
  let sse: TimedEventStream | undefined
  let tap: SchedulerTap | undefined
  let cleaning: Promise<void> | undefined
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      if (ctx) {
        for (const id of [...ctx.liveApps]) await deleteApp(ctx, id).catch((e: unknown) => process.stderr.write(`deleting ${id}: ${(e as Error).message}\n`))
        await removeDockerRuns(ctx).catch(() => undefined)
      }
      await sse?.close().catch(() => undefined)
      await apps?.proc.stop().catch(() => undefined)
      await tap?.close().catch(() => undefined)
      // Whatever is left (a deployment cut short, a process that died) goes by force.
      const labels = [`${BENCH_LABEL}=${process.pid}`, ...(ctx ? [`dromos.framework_id=${ctx.frameworkId}`] : [])]
      const n = await removeLabelled(docker, labels)
      if (n > 0) process.stderr.write(`removed ${n} leftover container(s) by force\n`)
      await cluster?.stop().catch(() => undefined)
      if (cluster && process.env.DROMOS_KEEP_TEST_DIRS) process.stdout.write(`cluster dir kept: ${cluster.dir}\n`)
    })())
  reg(cleanup)
  try {
    cluster = await TestCluster.start({ masterArgs: ['--allocation-interval', interval], agents: [{ resources: AGENT_RESOURCES }] })
    if (TRACE) tap = await SchedulerTap.start(cluster.masterUrl)
    apps = await AppsProcess.start(cluster, tap ? ['--master', tap.url] : [])
    const info = (await apps.req('GET', '/v2/info')).body as { frameworkId: string }
    sse = await TimedEventStream.open(apps.url, DEPLOY_EVENTS)
    ctx = {
      docker,
      events,
      cluster,
      apps,
      sse,
      tap,
      frameworkId: info.frameworkId,
      runId: `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`,
      liveApps: new Set(),
      rawContainers: new Set(),
      sandboxRoot,
    }
    process.stdout.write(`\ncluster ${cluster.masterUrl} (${cluster.dir}), allocation interval ${interval}; apps ${apps.url}${tap ? ` via ${tap.url}` : ''}; framework ${ctx.frameworkId}\n`)
    // The framework declines its first offers and suppresses; give that a moment to settle.
    await sleep(Math.max(SETTLE_MS, 1000))

    const sizes: SizeResult[] = SIZES.map((size) => ({ size, samples: { dromos: [], 'docker-seq': [], 'docker-par': [] } }))
    for (let rep = -WARMUP; rep < RUNS; rep++) {
      const label = rep < 0 ? `w${-rep}` : `r${rep}`
      const out: string[] = []
      for (const r of sizes) {
        const series = seriesOf(r.size)
        const k = ((rep % series.length) + series.length) % series.length
        const order = [...series.slice(k), ...series.slice(0, k)]
        const parts: string[] = []
        for (const s of order) {
          check()
          let sample: Sample
          if (s === 'dromos') {
            sample = await deployDromos(ctx, r.size, label)
            await deleteApp(ctx, `/dromos-bench/deploy-${ctx.runId}-${label}-n${r.size}`)
          } else {
            sample = await dockerRuns(ctx, r.size, label, s === 'docker-par')
            await removeDockerRuns(ctx)
          }
          if (rep >= 0) r.samples[s].push(sample)
          parts.push(`${s} ${fmt(sample.total, 0)}`)
          await sleep(SETTLE_MS)
        }
        out.push(`n=${r.size}: ${parts.join(' ')}`)
      }
      process.stdout.write(`  ${rep < 0 ? `warm-up ${-rep}` : `${rep + 1}/${RUNS}`.padStart(9)}  ${out.join('   ')}\n`)
    }
    return { interval, sizes }
  } finally {
    await cleanup()
  }
}

async function main(): Promise<void> {
  const docker = new Dockerode()
  const sandboxRoot = mkdtempSync(join(tmpdir(), 'dromos-bench-deploy-'))
  // By task id for dromos, by container name for docker run.
  const events = new DockerEvents((attrs) => attrs['dromos.task_id'] ?? (attrs[BENCH_LABEL] !== undefined ? attrs['name'] : undefined))
  let current: (() => Promise<void>) | undefined
  let cleaning: Promise<void> | undefined
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await current?.().catch(() => undefined)
      events.close()
      rmSync(sandboxRoot, { recursive: true, force: true })
    })())
  const interrupts = handleInterrupts(cleanup, 'the series under way')
  try {
    await ensureBusyboxImage(BUSYBOX_TAG, docker)
    await events.open(docker)
    const results: ConfigResult[] = []
    for (const interval of INTERVALS) {
      interrupts.check()
      const r = await runConfig(docker, events, interval, sandboxRoot, () => interrupts.check(), (c) => (current = c))
      report(r)
      results.push(r)
    }
    summary(results)
  } finally {
    await cleanup()
  }
}

exitWith('deploy', main())
