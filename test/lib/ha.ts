// An HA cluster on loopback for failover tests: etcd members, several `dromos master
// --store etcd://…` processes (each its own process, port and work dir, so that any one can
// be killed), agents and apps given every master. Which master leads is read from the
// masters themselves: a standby's /master/redirect points at the leader.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { AppsProcess } from './apps.js'
import { EtcdProcess } from './etcd.js'
import { freePort, killTasksUnder, Proc, waitUntil } from './cluster.js'

export interface HaMaster {
  readonly index: number
  readonly port: number
  readonly url: string
  proc: Proc
}

export class HaCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'dromos-ha-'))
  etcd: EtcdProcess[] = []
  readonly masters: HaMaster[] = []
  readonly agents: Array<{ proc: Proc; port: number; url: string }> = []
  private constructor(readonly leaderLeaseMs: number) {}

  get storeUrl(): string {
    return `etcd://${this.etcd.map((e) => `127.0.0.1:${e.clientPort}`).join(',')}/ha-test`
  }

  /** Every master, as --master takes them. */
  get masterList(): string {
    return this.masters.map((m) => `127.0.0.1:${m.port}`).join(',')
  }

  static async start(opts: { etcdMembers: number; masters: number; leaderLeaseMs?: number }): Promise<HaCluster> {
    const c = new HaCluster(opts.leaderLeaseMs ?? 2000)
    c.etcd = await EtcdProcess.startCluster(opts.etcdMembers)
    for (let i = 0; i < opts.masters; i++) {
      const port = await freePort()
      c.masters.push({ index: i, port, url: `http://127.0.0.1:${port}`, proc: undefined as unknown as Proc })
    }
    for (const m of c.masters) {
      m.proc = new Proc(
        [
          'master',
          '--port', String(m.port),
          '--work-dir', join(c.dir, `master-${m.index}`),
          '--store', c.storeUrl,
          '--leader-lease', `${c.leaderLeaseMs}ms`,
          '--allocation-interval', '100ms',
          '--agent-ping-timeout', '1s',
          '--log-level', 'debug',
        ],
        join(c.dir, `master-${m.index}.log`),
      )
    }
    for (const m of c.masters) await waitUntil(`master ${m.index} to answer /health`, async () => (await fetch(`${m.url}/health`)).ok)
    await c.waitForLeader()
    return c
  }

  alive(m: HaMaster): boolean {
    return m.proc.child.exitCode === null && m.proc.child.signalCode === null
  }

  /**
   * The master that leads now, as the masters say: it reports master/elected 1, and every
   * live standby's /master/redirect names it.
   */
  async leader(): Promise<HaMaster | undefined> {
    let leader: HaMaster | undefined
    for (const m of this.masters.filter((x) => this.alive(x))) {
      const metrics = (await (await fetch(`${m.url}/metrics/snapshot`, { signal: AbortSignal.timeout(2000) })).json()) as Record<string, number>
      if (metrics['master/elected'] === 1) {
        if (leader) return undefined
        leader = m
      }
    }
    if (!leader) return undefined
    for (const m of this.masters.filter((x) => x !== leader && this.alive(x))) {
      const r = await fetch(`${m.url}/master/redirect`, { redirect: 'manual', signal: AbortSignal.timeout(2000) })
      await r.arrayBuffer()
      if (r.status !== 307 || r.headers.get('location') !== `//127.0.0.1:${leader.port}`) return undefined
    }
    return leader
  }

  async waitForLeader(timeoutMs = 30_000, everyMs = 50): Promise<HaMaster> {
    return waitUntil('one leading master that every standby names', () => this.leader(), timeoutMs, everyMs)
  }

  async addAgent(resources: string): Promise<{ proc: Proc; port: number; url: string; id: string }> {
    const port = await freePort()
    const i = this.agents.length
    const proc = new Proc(
      [
        'agent',
        '--master', this.masterList,
        '--port', String(port),
        '--work-dir', join(this.dir, `agent-${i}`),
        '--resources', resources,
        '--containerizers', 'process',
        '--status-update-retry', '1s',
        '--log-level', 'debug',
      ],
      join(this.dir, `agent-${i}.log`),
    )
    const agent = { proc, port, url: `http://127.0.0.1:${port}` }
    this.agents.push(agent)
    const id = await waitUntil('agent to register', async () => ((await (await fetch(`${agent.url}/state`)).json()) as { id: string }).id || undefined)
    return { ...agent, id }
  }

  async stop(): Promise<void> {
    for (const a of this.agents) await a.proc.stop()
    for (const m of this.masters) await m.proc.stop()
    for (const e of this.etcd) await e.stop()
    killTasksUnder(this.dir)
    if (!process.env.DROMOS_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true })
  }
}

export interface FailoverClusterOptions {
  /** Agents of 2 cpus, each with 50 ports of 31000-31149 (default 2). */
  agents?: number
  /** dromos apps instances: 1 on SQLite (default), or several in HA on the same etcd. */
  appsInstances?: number
}

export interface FailoverCluster {
  ha: HaCluster
  /** The first dromos apps instance (a standby forwards to the leader). */
  apps: AppsProcess
  allApps: AppsProcess[]
}

/**
 * The failover tests' cluster: 3 etcd members, 3 masters, agents and dromos apps given every
 * master.
 */
export async function startFailoverCluster(o: FailoverClusterOptions = {}): Promise<FailoverCluster> {
  const ha = await HaCluster.start({ etcdMembers: 3, masters: 3, leaderLeaseMs: 2000 })
  for (let i = 0; i < (o.agents ?? 2); i++) await ha.addAgent(`cpus:2;mem:1024;disk:1000;ports:[${31000 + 50 * i}-${31049 + 50 * i}]`)
  const n = o.appsInstances ?? 1
  const allApps: AppsProcess[] = []
  if (n === 1) allApps.push(await AppsProcess.start({ masterUrl: ha.masterList, dir: ha.dir }))
  else for (let i = 0; i < n; i++) allApps.push(await AppsProcess.start({ masterUrl: ha.masterList, dir: ha.dir }, ['--store', ha.storeUrl, '--leader-lease', '2s'], `apps-${i}`))
  return { ha, apps: allApps[0]!, allApps }
}

export interface TaskSeen {
  id: string
  slaveId: string
  startedAt: string
  state: string
}

/** Starts the failover cluster before the file's tests and stops it after them. */
export function useFailoverCluster(o: FailoverClusterOptions = {}): Readonly<FailoverCluster> {
  const c = {} as FailoverCluster
  beforeAll(async () => void Object.assign(c, await startFailoverCluster(o)), 180_000)
  afterAll(async () => {
    for (const a of c.allApps ?? []) await a.proc.stop()
    await c.ha?.stop()
  }, 120_000)
  return c
}

/** An app's tasks as dromos apps lists them, by id: a restarted task shows as a new startedAt or id. */
export async function tasksSeen(apps: AppsProcess, appId: string): Promise<TaskSeen[]> {
  const body = (await apps.req('GET', `/v2/apps${appId}/tasks`)).body as { tasks: TaskSeen[] }
  return body.tasks.map((t) => ({ id: t.id, startedAt: t.startedAt, slaveId: t.slaveId, state: t.state })).sort((a, b) => a.id.localeCompare(b.id))
}

/** The p-th percentile (0–100) of values, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN
}
