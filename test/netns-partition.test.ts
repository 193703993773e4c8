// An agent's host partitioned from the others, with real processes on four network namespaces
// on a bridge this test creates. Host 1 runs one master on its embedded store (no etcd: this
// test is about agents, and the master failover across a partition is in netns-ha.test.ts);
// host 2 runs dromos apps; hosts 3 and 4 each run an agent (process tasks). An app of 4
// instances, spread over both agents by GROUP_BY hostname, with unreachableStrategy
// {inactiveAfterSeconds: 1} and killSelection YOUNGEST_FIRST, runs `sleep`.
//
// Host 4's packets are dropped (iptables in its namespace: connections hang rather than fail)
// for 16 s. Its tasks become TASK_UNREACHABLE once the master's pings time out, dromos apps
// replaces them on host 3 after inactiveAfterSeconds, and once healed the agent re-registers,
// its tasks come back, and the two replacements are killed: 4 running, no duplicate, none
// lost, as dromos apps, the master and the hosts' own process tables say. Then the same with
// host 3, its link taken down, while the registration host 4 gave up on during its partition
// is delivered late by TCP: the master must not take that old report of host 4's tasks over
// the newer one (it did, and host 3's replacements on host 4 ran on, unknown, as extras).
// Needs root for the namespaces; without it the test says so and does not run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AppsProcess, TaskJson } from './lib/apps.js'
import { EventStream } from './lib/apps.js'
import { Proc, waitUntil } from './lib/cluster.js'
import type { PartitionMode } from './lib/netns.js'
import { canCreateNetns, NetnsHosts, startAppsOn } from './lib/netns.js'

const APP = '/partition'
const N = 4
// A command of this test's own, to find its processes in the hosts' process tables.
const CMD = 'sleep 3613'

const dir = mkdtempSync(join(tmpdir(), 'dromos-netns-part-'))
let net: NetnsHosts | undefined
let master: Proc | undefined
let masterUrl = ''
const agents: Array<{ host: number; hostname: string; url: string; id: string; proc: Proc }> = []
let apps: AppsProcess | undefined

/** The pids of this test's `sleep` processes running in a host's namespace. */
function sleepers(host: number): number[] {
  const out: number[] = []
  for (const pid of net!.pids(host)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (argv[0]?.endsWith('sleep') && argv[1] === CMD.split(' ')[1]) out.push(pid)
    } catch {
      // exited meanwhile
    }
  }
  return out
}

/**
 * Waits until a host runs n of them: a task is RUNNING once its wrapper is spawned, a moment
 * before the wrapper execs the command.
 */
const waitSleepers = (host: number, n: number): Promise<true> => waitUntil(`${n} sleep processes on host ${host} (has ${sleepers(host).length})`, async () => sleepers(host).length === n, 5_000, 20)

type MasterTask = { id: string; state: string; slave_id: string }
async function masterTasks(): Promise<{ running: MasterTask[]; unreachable: MasterTask[] }> {
  const s = (await (await fetch(`${masterUrl}/master/state`)).json()) as { frameworks: Array<{ tasks: MasterTask[]; unreachable_tasks?: MasterTask[] }> }
  const all = s.frameworks.flatMap((f) => f.tasks)
  return {
    running: all.filter((t) => t.state === 'TASK_RUNNING' && t.id.startsWith('partition.')),
    unreachable: s.frameworks.flatMap((f) => f.unreachable_tasks ?? []).filter((t) => t.id.startsWith('partition.')),
  }
}

const appTasks = async (): Promise<TaskJson[]> => ((await apps!.app(APP)) as { tasks: TaskJson[] }).tasks
const ids = (ts: ReadonlyArray<{ id: string }>): string[] => ts.map((t) => t.id).sort()

beforeAll(async () => {
  if (!canCreateNetns()) return
  net = NetnsHosts.create(4)
  const h1 = net.host(1)
  masterUrl = `http://${h1.ip}:5050`
  master = new Proc(
    ['master', '--ip', h1.ip, '--port', '5050', '--work-dir', join(dir, 'master'), '--allocation-interval', '100ms', '--agent-ping-timeout', '500ms', '--max-agent-ping-timeouts', '2', '--log-level', 'debug'],
    join(dir, 'master.log'),
    h1.netns,
  )
  await waitUntil('the master to answer /health', async () => (await fetch(`${masterUrl}/health`)).ok)
  const masterAddr = `${h1.ip}:5050`
  for (const i of [3, 4]) {
    const h = net.host(i)
    const proc = new Proc(
      ['agent', '--ip', h.ip, '--port', '5051', '--hostname', `agent-${i}`, '--master', masterAddr, '--work-dir', join(dir, `agent-${i}`), '--containerizers', 'process', '--resources', 'cpus:2;mem:1024;disk:1000;ports:[31000-31099]', '--status-update-retry', '1s', '--log-level', 'debug'],
      join(dir, `agent-${i}.log`),
      h.netns,
    )
    const url = `http://${h.ip}:5051`
    const id = await waitUntil(`the agent on host ${i} to register`, async () => ((await (await fetch(`${url}/state`)).json()) as { id: string }).id || undefined)
    agents.push({ host: i, hostname: `agent-${i}`, url, id, proc })
  }
  await waitUntil('the master to list both agents', async () => ((await (await fetch(`${masterUrl}/master/state`)).json()) as { slaves: unknown[] }).slaves.length === 2)
  const h2 = net.host(2)
  apps = await startAppsOn(h2, masterAddr, dir)
}, 60_000)

afterAll(async () => {
  if (net) for (const h of net.hosts) net.heal(h.index)
  await apps?.proc.stop()
  for (const a of agents) await a.proc.stop()
  await master?.stop()
  net?.destroy()
  if (!process.env.DROMOS_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true })
}, 60_000)

interface Figures {
  cutAt: number
  unreachableS: number
  replacedS: number
  settledS: number
}

/**
 * Cuts one agent's host off for holdMs at least, checks what becomes of the app's instances
 * until it is healed and the app is back at the N instances it had, and returns the times taken.
 */
async function partitionRound(host: number, mode: PartitionMode, holdMs: number): Promise<Figures> {
  const before = await appTasks()
  expect(before.every((t) => t.state === 'TASK_RUNNING')).toBe(true)
  const cutAgent = agents.find((a) => a.host === host)!
  const otherAgent = agents.find((a) => a.host !== host)!
  const onCut = before.filter((t) => t.slaveId === cutAgent.id)
  expect(onCut).toHaveLength(N / 2)

  const events = new EventStream(apps!.url, ['status_update_event'])
  await waitUntil('the event stream to attach', async () => (await apps!.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value >= 1)
  const cutAt = Date.now()
  net!.partition(host, mode)
  let unreachableS = 0
  let replacedS = 0
  let replacements: TaskJson[] = []
  try {
    // The master misses 2 pings of 500 ms: the tasks on the cut-off host are unreachable.
    await waitUntil('the cut-off tasks to be TASK_UNREACHABLE', async () => {
      const ts = await appTasks()
      return onCut.every((c) => ts.find((t) => t.id === c.id)?.state === 'TASK_UNREACHABLE')
    }, 20_000, 50)
    unreachableS = (Date.now() - cutAt) / 1000
    expect(ids((await masterTasks()).unreachable)).toEqual(ids(onCut))
    // After inactiveAfterSeconds they are replaced on the other host.
    replacements = await waitUntil('replacements running on the other host', async () => {
      const ts = await appTasks()
      const fresh = ts.filter((t) => !before.some((b) => b.id === t.id))
      return fresh.length === onCut.length && fresh.every((t) => t.state === 'TASK_RUNNING' && t.slaveId === otherAgent.id) ? fresh : undefined
    }, 20_000, 50)
    replacedS = (Date.now() - cutAt) / 1000
    const app = await apps!.app(APP)
    expect(app.tasksRunning).toBe(N)
    await waitSleepers(otherAgent.host, N)
    // The tasks on the cut-off host run on all along.
    expect(sleepers(host)).toHaveLength(N / 2)
    // And so it stays while the host is away.
    while (Date.now() < cutAt + holdMs) {
      await new Promise((r) => setTimeout(r, 250))
      const ts = await appTasks()
      expect(ts.filter((t) => t.state === 'TASK_RUNNING').map((t) => t.id).sort()).toEqual(ids(replacements.concat(before.filter((b) => b.slaveId !== cutAgent.id))))
      expect(sleepers(otherAgent.host)).toHaveLength(N)
    }
  } finally {
    net!.heal(host)
  }
  const healedAt = Date.now()

  // Healed: the agent re-registers, its tasks come back RUNNING, and dromos apps has N + 2. It
  // kills the two youngest (the replacements: killSelection YOUNGEST_FIRST).
  const settled = await waitUntil('exactly N instances, on both agents again', async () => {
    const ts = await appTasks()
    const m = await masterTasks()
    const ok =
      ts.length === N &&
      ts.every((t) => t.state === 'TASK_RUNNING') &&
      m.unreachable.length === 0 &&
      ids(m.running).join() === ids(ts).join() &&
      sleepers(3).length === N / 2 &&
      sleepers(4).length === N / 2
    return ok ? ts : undefined
  }, 60_000, 50)
  const settledS = (Date.now() - healedAt) / 1000
  // The instances from before the cut, the ones that came back, not their replacements: no
  // duplicate, none lost.
  expect(ids(settled)).toEqual(ids(before))
  expect(new Set(settled.map((t) => t.id)).size).toBe(N)
  // A replacement leaves the app's tasks once it is being killed; its TASK_KILLED comes after.
  const killedOf = (): string[] => [...new Set(events.events.filter((e) => e.appId === APP && e.taskStatus === 'TASK_KILLED').map((e) => e.taskId as string))].sort()
  await waitUntil('the replacements to be reported TASK_KILLED', async () => killedOf().length >= replacements.length || undefined, 30_000, 50).catch(() => undefined)
  const statuses = events.events.filter((e) => e.appId === APP)
  expect(killedOf()).toEqual(ids(replacements))
  for (const c of onCut) {
    const seen = statuses.filter((e) => e.taskId === c.id).map((e) => e.taskStatus as string)
    expect(seen).toContain('TASK_UNREACHABLE')
    expect(seen.slice(seen.indexOf('TASK_UNREACHABLE'))).toContain('TASK_RUNNING')
  }
  await events.close()
  // It stays there.
  await new Promise((r) => setTimeout(r, 2000))
  expect(ids(await appTasks())).toEqual(ids(before))
  expect(ids((await masterTasks()).running)).toEqual(ids(before))
  expect(sleepers(3).length + sleepers(4).length).toBe(N)
  console.log(
    `host ${host} cut off (${mode === 'drop' ? 'packets dropped' : 'link down'}; ping timeout 500 ms x 2, inactiveAfterSeconds 1): ` +
      `TASK_UNREACHABLE after ${unreachableS.toFixed(2)} s, replaced on the other agent after ${replacedS.toFixed(2)} s; ` +
      `healed: back to exactly ${N} running after ${settledS.toFixed(2)} s`,
  )
  return { cutAt, unreachableS, replacedS, settledS }
}

describe('an agent host partitioned from the others', () => {
  it('its tasks become unreachable and are replaced on the other agent; healed, exactly N run again', async (ctx) => {
    if (!net) {
      console.log('netns partition test not run: creating network namespaces needs root')
      ctx.skip()
      return
    }
    const created = await apps!.req('POST', '/v2/apps', {
      id: APP,
      cmd: CMD,
      instances: N,
      cpus: 0.1,
      mem: 16,
      portDefinitions: [],
      constraints: [['hostname', 'GROUP_BY']],
      unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 600 },
      killSelection: 'YOUNGEST_FIRST',
    })
    expect(created.status).toBe(201)
    await apps!.waitDeployed(APP)
    await waitUntil('N running instances', async () => {
      const ts = await appTasks()
      return ts.length === N && ts.every((t) => t.state === 'TASK_RUNNING') ? ts : undefined
    })
    // GROUP_BY spreads them: 2 and 2.
    await waitSleepers(3, N / 2)
    await waitSleepers(4, N / 2)

    // Host 4 behind a switch that drops its packets, for 16 s: longer than the agent waits for
    // an answer to a registration (10 s), so it tries again, and TCP, retransmitting the attempt
    // it gave up on (at 0.2, 0.6, 1.4, 3, 6.2, 12.6 and 25.4 s), delivers it 25.4 s after it was
    // sent, some 27 s after the cut and after the attempt that succeeded.
    const first = await partitionRound(4, 'drop', 16_000)
    // Then host 3 with its link down until well after that: by then host 4 runs host 3's
    // replacements, which the late report does not know.
    await partitionRound(3, 'link', Math.max(0, first.cutAt + 31_000 - Date.now()))
    const refused = readFileSync(join(dir, 'master.log'), 'utf8').split('\n').filter((l) => l.includes('stale agent registration refused')).length
    console.log(`late registrations the master refused: ${refused}`)

    await apps!.req('DELETE', `/v2/apps${APP}?force=true`)
    await waitUntil('the tasks to stop', async () => sleepers(3).length + sleepers(4).length === 0, 20_000)
  }, 90_000)
})
