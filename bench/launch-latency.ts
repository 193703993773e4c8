// Launch latency: a Docker task through dromos (scheduler API ACCEPT -> TASK_RUNNING) against
// a plain `docker run -d` of the same image and command, both on this machine's Engine.
//
//   npx tsc -p tsconfig.json && node dist/bench/launch-latency.js [--runs 20] [--warmup 1]
//       [--network none|bridge] [--docker-flags matched|plain] [--settle-ms 250]
//
// One master and one agent (real processes), one framework speaking JSON to the v1 API. The
// two series alternate launch by launch, the order flipping each pair (AB BA AB ...), so
// drift in the machine's load hits both alike. A dromos launch is timed from just before the
// ACCEPT request is sent until the framework has read TASK_RUNNING (the framework acks
// TASK_STARTING on receipt, as every framework must before the agent sends RUNNING). A
// `docker run -d` is timed from execFile until the CLI returns. Docker's own container events
// (create, start) split both into phases. Everything started is removed at the end, also on
// failure or Ctrl-C. The exit status is 0 whatever the ratio; 1 only if the bench itself broke.
//
// DROMOS_KEEP_TEST_DIRS=1 keeps the cluster directory (master.log, agent-0.log, sandboxes).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Dockerode from 'dockerode'
import { freePort, TestCluster } from '../test/lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from '../test/lib/images.js'
import type { MesosEvent } from '../test/lib/scheduler.js'
import { offeredPorts, ports, scalar, TestFramework } from '../test/lib/scheduler.js'
import { DockerEvents, exitWith, execFileP, fmt, handleInterrupts, matchedDockerRunFlags, now, pad, quantile, sleep } from './lib.js'

const TARGET_RATIO = 1.1
const AGENT_RESOURCES = 'cpus:8;mem:8192;disk:1000;ports:[31000-31999]'
const TASK_CPUS = 0.1
const TASK_MEM_MB = 32
const CONTAINER_PORT = 8080
const BENCH_LABEL = 'dromos-bench.launch-latency'

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '1' },
    network: { type: 'string', default: 'none' },
    'docker-flags': { type: 'string', default: 'matched' },
    'settle-ms': { type: 'string', default: '250' },
  },
})
const RUNS = Number(argv.runs)
const WARMUP = Number(argv.warmup)
const SETTLE_MS = Number(argv['settle-ms'])
const NETWORK = argv.network === 'bridge' ? 'bridge' : 'none'
const DOCKER_FLAGS = argv['docker-flags'] === 'plain' ? 'plain' : 'matched'
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(WARMUP) || WARMUP < 0 || !(SETTLE_MS >= 0)) {
  process.stderr.write('usage: launch-latency [--runs N>=1] [--warmup N>=0] [--network none|bridge] [--docker-flags matched|plain] [--settle-ms MS]\n')
  process.exit(2)
}

// ---- one launch of each kind ----

interface Sample {
  total: number
  /** Named phases in ms; NaN when a timestamp is missing. */
  phases: Record<string, number>
}

/** Offers the framework holds, from its event log. Accepting takes all of them (one agent). */
class OfferBook {
  private seen = 0
  private readonly open = new Map<string, MesosEvent>()
  constructor(private readonly f: TestFramework) {}

  private sync(): void {
    for (; this.seen < this.f.events.length; this.seen++) {
      const e = this.f.events[this.seen]!
      if (e.type === 'OFFERS') for (const o of e.offers.offers as MesosEvent[]) this.open.set(o.id.value as string, o)
      if (e.type === 'RESCIND') this.open.delete(e.rescind.offer_id.value as string)
    }
  }

  async take(): Promise<MesosEvent[]> {
    for (;;) {
      this.sync()
      if (this.open.size > 0) {
        const list = [...this.open.values()]
        this.open.clear()
        return list
      }
      await this.f.waitFor((e) => e.type === 'OFFERS', { from: this.seen, what: 'OFFERS', timeoutMs: 10_000 })
    }
  }
}

interface Ctx {
  docker: Dockerode
  events: DockerEvents
  framework?: TestFramework
  offers?: OfferBook
  dromosTasks: Array<{ taskId: string; agentId: unknown }>
  rawContainers: string[]
  sandboxRoot: string
}

function commandLine(): string {
  return NETWORK === 'bridge' ? `exec httpd -f -p ${CONTAINER_PORT} -h /www` : 'sleep 600'
}

async function launchDromos(ctx: Ctx, taskId: string): Promise<Sample> {
  const f = ctx.framework!
  const offers = await ctx.offers!.take()
  const first = offers[0]!
  const taskPorts = NETWORK === 'bridge' ? offeredPorts(first, 1) : []
  if (NETWORK === 'bridge' && taskPorts.length === 0) throw new Error('the offer has no port left')
  const task = {
    name: taskId,
    task_id: { value: taskId },
    agent_id: first.agent_id,
    resources: [scalar('cpus', TASK_CPUS), scalar('mem', TASK_MEM_MB), ...(taskPorts.length > 0 ? [ports(...taskPorts)] : [])],
    command: { shell: true, value: commandLine() },
    container: {
      type: 'DOCKER',
      docker: {
        image: BUSYBOX_TAG,
        network: NETWORK === 'bridge' ? 'BRIDGE' : 'NONE',
        ...(NETWORK === 'bridge' ? { port_mappings: [{ host_port: taskPorts[0], container_port: CONTAINER_PORT, protocol: 'tcp' }] } : {}),
      },
    },
    // `sleep` as PID 1 ignores SIGTERM: kill at once when cleaning up.
    kill_policy: { grace_period: { nanoseconds: 0 } },
  }
  const from = f.events.length
  const failed = (s: string) => ['TASK_FAILED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_KILLED', 'TASK_GONE'].includes(s)
  // Both waits run at once, so each stamps its event as soon as the framework has read it.
  const starting = f.waitUpdate(taskId, 'TASK_STARTING', { from }).then(now)
  const running = f.waitUpdate(taskId, (s) => s === 'TASK_RUNNING' || failed(s), { from }).then((e) => ({ at: now(), e }))
  starting.catch(() => undefined)
  running.catch(() => undefined)
  ctx.dromosTasks.push({ taskId, agentId: first.agent_id })
  const t0 = now()
  await f.mustCall({
    type: 'ACCEPT',
    accept: {
      offer_ids: offers.map((o) => o.id),
      operations: [{ type: 'LAUNCH', launch: { task_infos: [task] } }],
      // Give the rest straight back, so the next launch finds an offer.
      filters: { refuse_seconds: 0 },
    },
  })
  const accepted = now()
  const r = await running
  if (r.e.update.status.state !== 'TASK_RUNNING') {
    throw new Error(`${taskId}: ${String(r.e.update.status.state)}: ${String(r.e.update.status.message ?? '')}`)
  }
  const tStarting = await starting
  const c = await ctx.events.get(taskId)
  return {
    total: r.at - t0,
    phases: {
      'ACCEPT answered': accepted - t0,
      'ACCEPT -> STARTING read': tStarting - t0,
      'ACCEPT -> docker create': (c.create ?? NaN) - t0,
      'create -> start': (c.start ?? NaN) - (c.create ?? NaN),
      'start -> RUNNING read': r.at - (c.start ?? NaN),
    },
  }
}

async function launchDockerRun(ctx: Ctx, name: string): Promise<Sample> {
  const args = ['run', '-d', '--name', name, '--label', `${BENCH_LABEL}=${process.pid}`]
  if (NETWORK === 'bridge') args.push('--network', 'bridge', '-p', `${await freePort()}:${CONTAINER_PORT}`)
  else args.push('--network', 'none')
  if (DOCKER_FLAGS === 'matched') {
    // What dromos asks the Engine for: limits, the sandbox bind mount, `sh -c`.
    const sandbox = mkdtempSync(join(ctx.sandboxRoot, `${name}-`))
    args.push(...matchedDockerRunFlags({ cpus: TASK_CPUS, memMb: TASK_MEM_MB, sandbox }), '--entrypoint', '/bin/sh', BUSYBOX_TAG, '-c', commandLine())
  } else {
    args.push(BUSYBOX_TAG, ...(NETWORK === 'bridge' ? ['httpd', '-f', '-p', String(CONTAINER_PORT), '-h', '/www'] : ['sleep', '600']))
  }
  ctx.rawContainers.push(name)
  const t0 = now()
  await execFileP('docker', args)
  const t1 = now()
  const c = await ctx.events.get(name)
  return {
    total: t1 - t0,
    phases: {
      'exec -> docker create': (c.create ?? NaN) - t0,
      'create -> start': (c.start ?? NaN) - (c.create ?? NaN),
      'start -> CLI returned': t1 - (c.start ?? NaN),
    },
  }
}

// ---- statistics and report ----

function phaseTable(title: string, samples: readonly Sample[]): string[] {
  const names = Object.keys(samples[0]?.phases ?? {})
  const w = Math.max(...names.map((n) => n.length), 10)
  return [
    `  ${title}`,
    ...names.map((n) => {
      const xs = samples.map((s) => s.phases[n] ?? NaN)
      return `    ${n.padEnd(w)}  median ${pad(fmt(quantile(xs, 0.5)), 7)}  p90 ${pad(fmt(quantile(xs, 0.9)), 7)}`
    }),
  ]
}

function report(dromos: readonly Sample[], raw: readonly Sample[]): void {
  const d = dromos.map((s) => s.total)
  const r = raw.map((s) => s.total)
  const dMed = quantile(d, 0.5)
  const rMed = quantile(r, 0.5)
  const ratio = dMed / rMed
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(30)} ${pad(String(xs.length), 3)} ${pad(fmt(quantile(xs, 0.5)), 9)} ${pad(fmt(quantile(xs, 0.9)), 9)} ${pad(fmt(Math.min(...xs)), 9)} ${pad(fmt(Math.max(...xs)), 9)}`
  const lines = [
    '',
    `launch latency, ms (network ${NETWORK}, docker run flags ${DOCKER_FLAGS}, ${RUNS} runs each, alternating, ${WARMUP} warm-up each not counted)`,
    `${'series'.padEnd(30)} ${pad('n', 3)} ${pad('median', 9)} ${pad('p90', 9)} ${pad('min', 9)} ${pad('max', 9)}`,
    row('dromos ACCEPT -> TASK_RUNNING', d),
    row('docker run -d', r),
    '',
    `ratio median(dromos) / median(docker run) = ${ratio.toFixed(2)}   target <= ${TARGET_RATIO.toFixed(2)}   ${ratio <= TARGET_RATIO ? 'PASS' : 'MISS'}`,
    '',
    'phases (from Docker container events), ms',
    ...phaseTable('dromos', dromos),
    ...phaseTable('docker run -d', raw),
    '',
    `dromos runs:     ${d.map((x) => x.toFixed(0)).join(' ')}`,
    `docker run runs: ${r.map((x) => x.toFixed(0)).join(' ')}`,
    '',
  ]
  process.stdout.write(lines.join('\n'))
}

// ---- main ----

async function main(): Promise<void> {
  const docker = new Dockerode()
  const runId = `${process.pid}-${Date.now().toString(36)}`
  const ctx: Ctx = {
    docker,
    // By task id for dromos, by container name for `docker run`.
    events: new DockerEvents((attrs) => attrs['dromos.task_id'] ?? (attrs[BENCH_LABEL] !== undefined ? attrs['name'] : undefined)),
    dromosTasks: [],
    rawContainers: [],
    sandboxRoot: mkdtempSync(join(tmpdir(), 'dromos-bench-sandboxes-')),
  }
  let cluster: TestCluster | undefined
  let cleaning: Promise<void> | undefined

  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      const f = ctx.framework
      if (f !== undefined && !f.closed) {
        // Kill what dromos runs, wait for the agent to report it, then tear the framework down.
        await Promise.all(
          ctx.dromosTasks.map((t) => f.call({ type: 'KILL', kill: { task_id: { value: t.taskId }, agent_id: t.agentId } }).catch(() => undefined)),
        )
        await Promise.all(
          ctx.dromosTasks.map((t) =>
            f.waitUpdate(t.taskId, (s) => ['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED'].includes(s), { timeoutMs: 15_000 }).catch(() => undefined),
          ),
        )
        await f.call({ type: 'TEARDOWN' }).catch(() => undefined)
        f.close()
      }
      if (ctx.rawContainers.length > 0) await execFileP('docker', ['rm', '-f', '-v', ...ctx.rawContainers]).catch(() => undefined)
      // Whatever is left with our labels (a launch cut short, an agent that died) goes by force.
      const fid = f?.frameworkId
      const leftovers = await docker
        .listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=${process.pid}`] } })
        .then(async (a) => (fid ? [...a, ...(await docker.listContainers({ all: true, filters: { label: [`dromos.framework_id=${fid}`] } }))] : a))
        .catch(() => [])
      for (const c of leftovers) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)
      if (leftovers.length > 0) process.stderr.write(`removed ${leftovers.length} leftover container(s) by force\n`)
      ctx.events.close()
      await cluster?.stop().catch(() => undefined)
      if (cluster && process.env.DROMOS_KEEP_TEST_DIRS) process.stdout.write(`cluster dir kept: ${cluster.dir}\n`)
      rmSync(ctx.sandboxRoot, { recursive: true, force: true })
    })())

  // The first signal stops the series before its next launch, so the launch under way
  // finishes and the cleanup below sees its container; a second one cleans up at once.
  const interrupts = handleInterrupts(cleanup, 'the launch under way')
  const checkInterrupted = (): void => interrupts.check()

  try {
    await ensureBusyboxImage(BUSYBOX_TAG, docker)
    await ctx.events.open(docker)
    cluster = await TestCluster.start({ agents: [{ resources: AGENT_RESOURCES }] })
    ctx.framework = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'launch-latency-bench' })
    ctx.offers = new OfferBook(ctx.framework)
    process.stdout.write(`cluster ${cluster.masterUrl} (${cluster.dir}); framework ${ctx.framework.frameworkId}\n`)

    const dromos: Sample[] = []
    const raw: Sample[] = []
    for (let i = 0; i < WARMUP; i++) {
      checkInterrupted()
      await launchDromos(ctx, `warmup-${i}`)
      checkInterrupted()
      await launchDockerRun(ctx, `dromos-bench-${runId}-warmup-${i}`)
      await sleep(SETTLE_MS)
    }
    for (let i = 0; i < RUNS; i++) {
      const runDromos = async () => {
        const s = await launchDromos(ctx, `bench-${i}`)
        dromos.push(s)
        return `dromos ${fmt(s.total)}`
      }
      const runRaw = async () => {
        const s = await launchDockerRun(ctx, `dromos-bench-${runId}-${i}`)
        raw.push(s)
        return `docker ${fmt(s.total)}`
      }
      const order = i % 2 === 0 ? [runDromos, runRaw] : [runRaw, runDromos]
      const out: string[] = []
      for (const run of order) {
        checkInterrupted()
        out.push(await run())
        await sleep(SETTLE_MS)
      }
      process.stdout.write(`  ${String(i + 1).padStart(2)}/${RUNS}  ${out.join('  ')}\n`)
    }
    report(dromos, raw)
  } finally {
    await cleanup()
  }
}

exitWith('launch-latency', main())
