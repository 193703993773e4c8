// etcd loses its quorum under HA masters: 3 etcd members on loopback, 3 `dromos master
// --store etcd://…`, 2 agents running process tasks, and 2 dromos apps in HA on the same etcd,
// given every master. Two of the three members are killed with SIGKILL. Every master must
// then answer 503 on the scheduler and operator APIs, and every dromos apps 503 on its REST
// API, at once and for as long as the outage lasts: no 500, no hang, no 307 or forwarding to
// a leader etcd cannot vouch for. The leaders' watchdogs make them exit (code 1); the test
// restarts them as a supervisor would. The tasks run on untouched. When the members start
// again on their data dirs, leaders are elected and the agents and the framework come back
// with the same tasks, none restarted, without anyone's help.
import { describe, expect, it } from 'vitest'
import { EventStream } from './lib/apps.js'
import { waitUntil } from './lib/cluster.js'
import type { HaMaster, TaskSeen } from './lib/ha.js'
import { tasksSeen, useFailoverCluster } from './lib/ha.js'

const cluster = useFailoverCluster({ appsInstances: 2 })

const runningTasks = (): Promise<TaskSeen[]> => tasksSeen(cluster.apps, '/quorum')

/** The tasks the agents themselves run, with their state, as their /state says. */
async function agentTasks(): Promise<string[]> {
  type Executor = { tasks?: Array<{ id: string; state: string }> }
  const out: string[] = []
  for (const a of cluster.ha.agents) {
    const s = (await (await fetch(`${a.url}/state`, { signal: AbortSignal.timeout(2000) })).json()) as { frameworks?: Array<{ executors?: Executor[] }> }
    for (const t of (s.frameworks ?? []).flatMap((f) => f.executors ?? []).flatMap((e) => e.tasks ?? [])) out.push(`${t.id} ${t.state}`)
  }
  return out.sort()
}

/** One master's answer to an API call: its status, `307 → location`, or why none came. */
type Answer = string

async function ask(m: HaMaster, path: string, body: unknown): Promise<Answer> {
  try {
    const r = await fetch(`${m.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(3000),
    })
    // A leader's SUBSCRIBE answers with a stream that stays open: the status is enough.
    const text = r.status === 200 ? '' : await r.text()
    await r.body?.cancel().catch(() => undefined)
    if (r.status === 307) return `307 → ${r.headers.get('location')}`
    return r.status === 503 ? `503 ${text}` : String(r.status)
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    if (e.name === 'TimeoutError') return 'no answer in 3 s'
    return `refused (${e.cause?.code ?? e.message})`
  }
}

const CALLS = [
  ['/api/v1/scheduler', { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'quorum-test', name: 'quorum-test' } } }],
  ['/api/v1', { type: 'GET_STATE' }],
] as const

/** Each live master's answers to a scheduler call and an operator call. */
async function answers(): Promise<Array<{ master: number; answer: Answer }>> {
  const out: Array<{ master: number; answer: Answer }> = []
  await Promise.all(
    cluster.ha.masters
      .filter((m) => cluster.ha.alive(m))
      .flatMap((m) => CALLS.map(async ([path, body]) => out.push({ master: m.index, answer: await ask(m, path, body) }))),
  )
  return out
}

/** As a supervisor would: a master or dromos apps that exited is started again. Returns the exit codes seen. */
function superviseMasters(exits: Array<{ master: number; code: number | null }>, appsExits: Array<number | null> = []): void {
  for (const m of cluster.ha.masters) {
    if (cluster.ha.alive(m)) continue
    exits.push({ master: m.index, code: m.proc.child.exitCode })
    m.proc.restart()
  }
  for (const a of cluster.allApps) {
    if (a.proc.child.exitCode === null && a.proc.child.signalCode === null) continue
    appsExits.push(a.proc.child.exitCode)
    a.proc.restart()
  }
}

/** Each dromos apps instance's answer to a REST call: `503 message`, its status, or why none came. */
async function appsAnswers(): Promise<Answer[]> {
  return Promise.all(
    cluster.allApps.map(async (a) => {
      try {
        const r = await fetch(`${a.url}/v2/apps`, { redirect: 'manual', signal: AbortSignal.timeout(3000) })
        const text = await r.text()
        return r.status === 503 ? `503 ${(JSON.parse(text) as { message: string }).message}` : String(r.status)
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } }
        return e.name === 'TimeoutError' ? 'no answer in 3 s' : `refused (${e.cause?.code ?? e.message})`
      }
    }),
  )
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('etcd loses its quorum', () => {
  it('masters answer 503 while it lasts, tasks keep running, and service resumes by itself when it returns', async () => {
    const created = await cluster.apps.req('POST', '/v2/apps', { id: '/quorum', cmd: 'sleep 3600', instances: 4, cpus: 0.1, mem: 16 })
    expect(created.status).toBe(201)
    await cluster.apps.waitDeployed('/quorum')
    const before = await runningTasks()
    expect(before).toHaveLength(4)
    expect(before.every((t) => t.state === 'TASK_RUNNING')).toBe(true)
    const onAgents = await agentTasks()
    expect(onAgents).toEqual(before.map((t) => `${t.id} TASK_RUNNING`).sort())
    const frameworkId = ((await cluster.apps.req('GET', '/v2/info')).body as { frameworkId: string }).frameworkId
    const updates = new EventStream(cluster.apps.url, ['status_update_event'])
    const oldLeader = await cluster.ha.waitForLeader()

    // Two of three members gone: the one left has no quorum, answers no linearizable read,
    // grants no lease and renews none.
    const [survivor, ...lost] = cluster.ha.etcd
    expect(survivor).toBeDefined()
    const cutAt = Date.now()
    for (const e of lost) await e.kill()

    // Until every live master answers 503 to both calls. Before that (at most about one
    // lease) the leader may still answer as one and standbys may still name it; never a 500.
    const exits: Array<{ master: number; code: number | null }> = []
    const appsExits: Array<number | null> = []
    const seenBefore: Answer[] = []
    await waitUntil(
      'every master and every dromos apps to answer 503',
      async () => {
        superviseMasters(exits, appsExits)
        const a = await answers()
        const fromApps = await appsAnswers()
        seenBefore.push(...a.map((x) => x.answer), ...fromApps)
        if (
          a.length > 0 &&
          a.length === 2 * cluster.ha.masters.filter((m) => cluster.ha.alive(m)).length &&
          [...a.map((x) => x.answer), ...fromApps].every((x) => x.startsWith('503 '))
        ) {
          return true
        }
        throw new Error(`answers so far: ${JSON.stringify(a)}, dromos apps: ${JSON.stringify(fromApps)}`)
      },
      30_000,
      50,
    )
    const to503 = (Date.now() - cutAt) / 1000
    expect(seenBefore.filter((x) => x.startsWith('5') && !x.startsWith('503'))).toEqual([])

    // From then on, for as long as the outage lasts, nothing but 503, each within 3 s, from
    // every master, the leader that stepped down included once it is started again.
    const during: Answer[] = []
    const duringApps: Answer[] = []
    const outageUntil = Date.now() + 10_000
    while (Date.now() < outageUntil) {
      superviseMasters(exits, appsExits)
      const [a, fromApps] = await Promise.all([answers(), appsAnswers()])
      during.push(...a.map((x) => x.answer))
      duringApps.push(...fromApps)
      await sleep(200)
    }
    expect(during.length).toBeGreaterThan(20)
    expect(during.filter((x) => !x.startsWith('503 ') && !x.startsWith('refused'))).toEqual([])
    const refused = during.filter((x) => x.startsWith('refused')).length
    // Nobody can be elected meanwhile: no master is recovering, none names a leader.
    expect(new Set(during.filter((x) => x.startsWith('503 ')))).toEqual(new Set(['503 No leader elected']))
    // The leader's watchdog saw no keep-alive confirmed for a lease and it exited, as a Mesos
    // master does on lost leadership; no standby exited.
    expect(exits.map((x) => x.master)).toEqual([oldLeader.index])
    expect(exits[0]?.code).toBe(1)
    // dromos apps the same: 503 "Could not determine the current leader", as Marathon says it,
    // from both instances; the leader stepped down and exited 1, the standby did not exit.
    expect(duringApps.filter((x) => x.startsWith('503 ')).length).toBeGreaterThan(10)
    expect(new Set(duringApps.filter((x) => !x.startsWith('refused')))).toEqual(new Set(['503 Could not determine the current leader']))
    expect(appsExits).toEqual([1])
    // The tasks ran on through it all.
    expect(await agentTasks()).toEqual(onAgents)

    // Quorum returns: the same members on their data dirs.
    const backAt = Date.now()
    for (const e of lost) await e.start()
    const leader = await cluster.ha.waitForLeader(60_000, 50)
    const elected = (Date.now() - backAt) / 1000
    await waitUntil(
      'the agents and the framework back on the new leader with their tasks',
      async () => {
        superviseMasters(exits, appsExits)
        const r = await fetch(`${leader.url}/master/state`, { redirect: 'manual', signal: AbortSignal.timeout(2000) })
        if (r.status !== 200) return false
        const s = (await r.json()) as { slaves: unknown[]; frameworks: Array<{ id: string; active: boolean; tasks: Array<{ state: string }> }> }
        const f = s.frameworks.find((x) => x.id === frameworkId)
        return s.slaves.length === 2 && f?.active === true && f.tasks.filter((t) => t.state === 'TASK_RUNNING').length === 4
      },
      60_000,
      50,
    )
    const recovered = (Date.now() - backAt) / 1000
    console.log(
      `etcd quorum lost (2 of 3 members SIGKILLed, lease ${cluster.ha.leaderLeaseMs} ms): every master 503 after ${to503.toFixed(2)} s; ` +
        `${during.length} calls over the 10 s outage all 503 (${refused} refused while the stepped-down leader restarted); ` +
        `dromos apps: ${duringApps.length} calls, all 503 or refused (${duringApps.filter((x) => x.startsWith('refused')).length} refused); ` +
        `quorum back: leader elected in ${elected.toFixed(2)} s, agents and framework back with their tasks in ${recovered.toFixed(2)} s`,
    )

    await waitUntil('dromos apps to serve again', async () => (await cluster.apps.req('GET', '/v2/apps')).status === 200, 30_000, 50)
    // None of the tasks was restarted or lost, and the framework heard of no other state.
    expect(await runningTasks()).toEqual(before)
    expect(await agentTasks()).toEqual(onAgents)
    expect(updates.events.filter((e) => e.taskStatus !== 'TASK_RUNNING')).toEqual([])
    await updates.close()
    // Service is back: a scale-up goes through the new leader.
    expect((await cluster.apps.req('PUT', '/v2/apps/quorum', { instances: 5 })).status).toBe(200)
    await cluster.apps.waitDeployed('/quorum')
    const after = await runningTasks()
    expect(after).toHaveLength(5)
    expect(after.filter((t) => before.some((b) => b.id === t.id))).toEqual(before)
  }, 300_000)
})
