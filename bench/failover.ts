// Master failover: the leading master killed with SIGKILL, to the first successful scheduler
// call and the first successful REST call on the new leader, against the detection timeouts
// of the systems dromos follows.
//
//   npx tsc -p tsconfig.json && node dist/bench/failover.js [--runs 10] [--leader-lease 2s] [--tasks 2]
//
// 3 etcd members, 3 `dromos master --store etcd://…` processes, one agent running process
// tasks and dromos apps (each given every master), all on loopback (test/lib/ha.ts). The
// bench is a client of its own with the master list, as `--master h1,h2,h3` gives it: it
// follows a standby's 307 and moves to the next master on a refused connection or a 503
// (src/api/masters.ts fetchLeader). Per run, from the SIGKILL:
//   - elected: one master reports master/elected 1 and every live standby names it;
//   - scheduler: a SUBSCRIBE of a framework of the bench's own (its id, failover_timeout 1 h)
//     answered 200 and its SUBSCRIBED event read;
//   - REST: GET /master/state answered 200 by the new leader;
//   - cluster back: the agent re-registered and dromos apps re-subscribed with all its tasks.
// Both clients try every 20 ms, each request with a 2 s timeout. The killed master is then
// started again (as a supervisor would) and the cluster left to settle before the next run.
// Everything started is removed at the end, also on failure or Ctrl-C.
import { parseArgs } from 'node:util'
import { createMasters, fetchLeader, parseMasterList } from '../src/api/masters.js'
import type { Masters } from '../src/api/masters.js'
import { AppsProcess } from '../test/lib/apps.js'
import { waitUntil } from '../test/lib/cluster.js'
import { HaCluster } from '../test/lib/ha.js'
import type { HaMaster } from '../test/lib/ha.js'
import { exitWith, fmt, handleInterrupts, now, quantile, sleep } from './lib.js'

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    'leader-lease': { type: 'string', default: '2s' },
    tasks: { type: 'string', default: '2' },
  },
})
const RUNS = Number(argv.runs)
const TASKS = Number(argv.tasks)
const LEASE_MS = parseDuration(argv['leader-lease'])
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(TASKS) || TASKS < 1 || !(LEASE_MS >= 1000)) {
  process.stderr.write('usage: failover [--runs N>=1] [--leader-lease 2s (>= 1s)] [--tasks N>=1]\n')
  process.exit(2)
}

/** The detection timeouts of the anchors: how long a dead leader goes unnoticed there. */
const ANCHORS = [
  { name: 'Kubernetes leader election (--leader-elect-lease-duration 15s)', seconds: 15 },
  { name: 'ZooKeeper session of Mesos and Marathon (--zk_session_timeout 10secs)', seconds: 10 },
] as const
const TARGET_P95_S = 3
const PROBE_EVERY_MS = 20
const REQUEST_TIMEOUT_MS = 2000

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text.trim())
  if (!m) return NaN
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1)
}

interface Run {
  elected: number
  scheduler: number
  rest: number
  back: number
}

/** Re-subscribes the bench's framework through the master list; resolves when SUBSCRIBED is read. */
async function subscribeOnce(masters: Masters, frameworkId: string | undefined): Promise<string | undefined> {
  const info = { user: 'root', name: 'failover-bench', failover_timeout: 3600, roles: ['failover-bench'], capabilities: [{ type: 'MULTI_ROLE' }], ...(frameworkId ? { id: { value: frameworkId } } : {}) }
  let r: Response
  try {
    r = await fetchLeader(masters, '/api/v1/scheduler', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type: 'SUBSCRIBE', ...(frameworkId ? { framework_id: { value: frameworkId } } : {}), subscribe: { framework_info: info } }),
      timeoutMs: REQUEST_TIMEOUT_MS,
    })
  } catch {
    return undefined
  }
  if (r.status !== 200 || !r.body) {
    await r.body?.cancel().catch(() => undefined)
    return undefined
  }
  // The first RecordIO record is SUBSCRIBED: `<length>\n<json>`.
  const reader = r.body.getReader()
  let buf = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return undefined
      buf += Buffer.from(value).toString()
      const nl = buf.indexOf('\n')
      if (nl < 0) continue
      const len = Number(buf.slice(0, nl))
      if (buf.length < nl + 1 + len) continue
      const e = JSON.parse(buf.slice(nl + 1, nl + 1 + len)) as { type: string; subscribed?: { framework_id: { value: string } } }
      return e.type === 'SUBSCRIBED' ? e.subscribed?.framework_id.value : undefined
    }
  } catch {
    return undefined
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}

async function restOnce(masters: Masters): Promise<boolean> {
  try {
    const r = await fetchLeader(masters, '/master/state', { timeoutMs: REQUEST_TIMEOUT_MS })
    await r.arrayBuffer()
    return r.status === 200
  } catch {
    return false
  }
}

/** Tries fn every PROBE_EVERY_MS until it succeeds; resolves with the time (ms since the epoch) it did. */
async function firstSuccess(fn: () => Promise<boolean>, deadline: number, what: string): Promise<number> {
  for (;;) {
    if (await fn()) return now()
    if (Date.now() > deadline) throw new Error(`no successful ${what} within 60 s of the kill`)
    await sleep(PROBE_EVERY_MS)
  }
}

interface LeaderState {
  slaves: unknown[]
  recovered_slaves: unknown[]
  frameworks: Array<{ id: string; active: boolean; tasks: Array<{ state: string }> }>
}

async function clusterBack(leader: HaMaster, appsFrameworkId: string): Promise<boolean> {
  const r = await fetch(`${leader.url}/master/state`, { redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  if (r.status !== 200) {
    await r.arrayBuffer()
    return false
  }
  const s = (await r.json()) as LeaderState
  const f = s.frameworks.find((x) => x.id === appsFrameworkId)
  return s.slaves.length === 1 && s.recovered_slaves.length === 0 && f?.active === true && f.tasks.filter((t) => t.state === 'TASK_RUNNING').length === TASKS
}

async function main(): Promise<void> {
  let ha: HaCluster | undefined
  let apps: AppsProcess | undefined
  const cleanup = async (): Promise<void> => {
    await apps?.proc.stop()
    await ha?.stop()
  }
  const interrupts = handleInterrupts(cleanup, 'the run under way')
  try {
    ha = await HaCluster.start({ etcdMembers: 3, masters: 3, leaderLeaseMs: LEASE_MS })
    const cluster = ha
    await cluster.addAgent('cpus:4;mem:2048;disk:1000;ports:[31000-31099]')
    apps = await AppsProcess.start({ masterUrl: cluster.masterList, dir: cluster.dir })
    const created = await apps.req('POST', '/v2/apps', { id: '/failover-bench', cmd: 'sleep 3600', instances: TASKS, cpus: 0.1, mem: 16 })
    if (created.status !== 201) throw new Error(`POST /v2/apps answered ${created.status}`)
    await apps.waitDeployed('/failover-bench')
    const appsFrameworkId = ((await apps.req('GET', '/v2/info')).body as { frameworkId: string }).frameworkId

    const urls = parseMasterList(cluster.masterList)
    const schedulerMasters = createMasters(urls)
    const restMasters = createMasters(urls)
    const frameworkId = await subscribeOnce(schedulerMasters, undefined)
    if (!frameworkId) throw new Error('the bench framework could not subscribe')
    if (!(await restOnce(restMasters))) throw new Error('GET /master/state failed before any failover')

    process.stdout.write(
      `failover: 3 etcd members, 3 masters, 1 agent, dromos apps with ${TASKS} tasks, all on loopback; ` +
        `leader lease ${LEASE_MS} ms (--leader-lease), agent ping timeout 1 s; ${RUNS} runs\n`,
    )
    const runs: Run[] = []
    for (let i = 0; i < RUNS; i++) {
      interrupts.check()
      const old = await cluster.waitForLeader()
      // Both clients believe the old leader leads, as they would have a moment ago.
      schedulerMasters.answered(old.url)
      restMasters.answered(old.url)
      const killedAt = now()
      await old.proc.stop('SIGKILL')
      const deadline = Date.now() + 60_000
      const [elected, scheduler, rest] = await Promise.all([
        cluster.waitForLeader(60_000, PROBE_EVERY_MS).then(() => now()),
        firstSuccess(async () => (await subscribeOnce(schedulerMasters, frameworkId)) === frameworkId, deadline, 'SUBSCRIBE'),
        firstSuccess(() => restOnce(restMasters), deadline, 'GET /master/state'),
      ])
      const leader = await cluster.waitForLeader()
      if (leader === old) throw new Error('the killed master still leads')
      const back = await waitUntil('the agent and dromos apps back on the new leader', async () => (await clusterBack(leader, appsFrameworkId)) && now(), 60_000, PROBE_EVERY_MS)
      const run = { elected: elected - killedAt, scheduler: scheduler - killedAt, rest: rest - killedAt, back: back - killedAt }
      runs.push(run)
      process.stdout.write(
        `  run ${i + 1}: elected ${fmt(run.elected, 0)} ms, SUBSCRIBE ${fmt(run.scheduler, 0)} ms, GET /master/state ${fmt(run.rest, 0)} ms, agent and apps back ${fmt(run.back, 0)} ms\n`,
      )
      // As a supervisor would: the killed master starts again, as a standby.
      old.proc.restart()
      await waitUntil('the restarted master to name the leader', async () => {
        const r = await fetch(`${old.url}/master/redirect`, { redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
        await r.arrayBuffer()
        return r.status === 307 && r.headers.get('location') === `//127.0.0.1:${leader.port}`
      })
    }
    report(runs)
  } finally {
    await cleanup()
  }
}

function report(runs: readonly Run[]): void {
  const s = (xs: number[], q: number) => fmt(quantile(xs, q) / 1000, 2)
  const rows: Array<[string, number[]]> = [
    ['new leader elected (every standby names it)', runs.map((r) => r.elected)],
    ['first scheduler call: SUBSCRIBE answered, SUBSCRIBED read', runs.map((r) => r.scheduler)],
    ['first REST call: GET /master/state answered 200', runs.map((r) => r.rest)],
    ['agent re-registered, dromos apps re-subscribed with its tasks', runs.map((r) => r.back)],
  ]
  const lines = [
    '',
    `| from SIGKILL of the leader (lease ${LEASE_MS / 1000} s, n=${runs.length}) | p50 | p95 | max |`,
    '| --- | ---: | ---: | ---: |',
    ...rows.map(([name, xs]) => `| ${name} | ${s(xs, 0.5)} s | ${s(xs, 0.95)} s | ${fmt(Math.max(...xs) / 1000, 2)} s |`),
    '',
  ]
  const worst = Math.max(quantile(runs.map((r) => r.scheduler), 0.95), quantile(runs.map((r) => r.rest), 0.95)) / 1000
  for (const a of ANCHORS) lines.push(`against ${a.name}: ${a.seconds} s to detect alone; dromos p95 to service ${fmt(worst, 2)} s = ${fmt(worst / a.seconds, 2)} of it`)
  lines.push(`target p95 <= ${TARGET_P95_S} s: ${worst <= TARGET_P95_S ? 'met' : 'not met'} (${fmt(worst, 2)} s)`, '')
  process.stdout.write(lines.join('\n'))
}

exitWith('failover', main())
