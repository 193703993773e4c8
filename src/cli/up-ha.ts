// `dromos up --ha`: the control plane of an HA cluster on one machine, so that failover can
// be tried by hand. Three etcd members, three masters and two dromos apps instances, each
// its own process on its own loopback port, each started again a second after it exits
// (kill any one: the others go on, and it comes back as a standby).
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { supervise } from './supervise.js'
import type { Supervised } from './supervise.js'

export interface HaPorts {
  /** Masters on masterPort, +2, +4 (5050, 5052, 5054). */
  masterPort: number
  /** dromos apps on appsPort and appsPort + 1 (8080, 8081). */
  appsPort: number
  /** etcd members' client ports etcdPort, +2, +4; each peer port is its client port + 1. */
  etcdPort: number
}

export const haMasterPorts = (p: HaPorts): number[] => [p.masterPort, p.masterPort + 2, p.masterPort + 4]
export const haAppsPorts = (p: HaPorts): number[] => [p.appsPort, p.appsPort + 1]
export const haEtcdPorts = (p: HaPorts): number[] => [p.etcdPort, p.etcdPort + 1, p.etcdPort + 2, p.etcdPort + 3, p.etcdPort + 4, p.etcdPort + 5]

/** What `dromos up` runs besides the agent and the lb: masters and dromos apps (and etcd, with --ha). */
export interface ControlPlane {
  /** `--master` for agents and frameworks: every master. */
  readonly masterList: string
  readonly appsUrl: string
  /** Every dromos apps instance, for the lb's --apps. */
  readonly appsList: string
  /** Lines for the user: each process, its URL, pid file and log. */
  readonly lines: readonly string[]
  stop(): Promise<void>
}

async function waitFor(what: string, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await r.arrayBuffer()
      if (r.ok) return
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url} within ${timeoutMs / 1000} s (see its log)`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export async function startHaControlPlane(o: HaPorts & { workDir: string; logLevel: string; onRestart: (name: string, exit: { code: number | null; signal: NodeJS.Signals | null }) => void }): Promise<ControlPlane> {
  const dromos = [process.argv[1]!]
  const logs = join(o.workDir, 'logs')
  const pids = join(o.workDir, 'pids')
  mkdirSync(logs, { recursive: true })
  // What was started, by kind, in the order of the kinds: etcd, masters, apps.
  const started = new Map<string, Supervised[]>()
  const lines: string[] = []
  const run = (name: string, command: string, args: string[]): Supervised => {
    const s = supervise({ name, command, args, logFile: join(logs, `${name}.log`), pidFile: join(pids, `${name}.pid`), onRestart: o.onRestart })
    const kind = name.replace(/-\d+$/, '')
    started.set(kind, [...(started.get(kind) ?? []), s])
    return s
  }
  const stop = async (): Promise<void> => {
    // Apps and masters first (they resign while etcd still answers), etcd last; the
    // instances of a kind together, so that one slow to end does not hold up the others.
    for (const kind of [...started.keys()].reverse()) await Promise.all(started.get(kind)!.map((s) => s.stop()))
  }

  try {
    const [c1, , c2, , c3] = haEtcdPorts(o)
    const members = [c1!, c2!, c3!].map((client, i) => ({ name: `etcd-${i + 1}`, client, peer: client + 1 }))
    const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
    for (const m of members) {
      run(m.name, 'etcd', [
        '--name', m.name,
        '--data-dir', join(o.workDir, 'etcd', m.name),
        '--listen-client-urls', `http://127.0.0.1:${m.client}`,
        '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        // A member back from a partition asks before it disrupts the others with a higher
        // term (etcd 3.5 does this by default, 3.4 only when asked): without it, the cluster
        // stalls for elections after every heal, longer than a 2 s lease.
        '--pre-vote',
      ])
      lines.push(`  ${m.name.padEnd(8)} http://127.0.0.1:${m.client}`)
    }
    for (const m of members) await waitFor(m.name, `http://127.0.0.1:${m.client}/health`, 30_000)
    const store = `etcd://${members.map((m) => `127.0.0.1:${m.client}`).join(',')}`
    const masterPorts = haMasterPorts(o)
    const masterList = masterPorts.map((p) => `127.0.0.1:${p}`).join(',')
    masterPorts.forEach((port, i) => {
      run(`master-${i + 1}`, process.execPath, [...dromos, 'master', '--port', String(port), '--work-dir', join(o.workDir, `master-${i + 1}`), '--store', store, '--log-level', o.logLevel])
      lines.push(`  master-${i + 1} http://127.0.0.1:${port}`)
    })
    for (const port of masterPorts) await waitFor('master', `http://127.0.0.1:${port}/health`, 30_000)
    const appsPorts = haAppsPorts(o)
    appsPorts.forEach((port, i) => {
      run(`apps-${i + 1}`, process.execPath, [...dromos, 'apps', '--port', String(port), '--master', masterList, '--work-dir', join(o.workDir, `apps-${i + 1}`), '--store', store, '--log-level', o.logLevel])
      lines.push(`  apps-${i + 1}   http://127.0.0.1:${port}`)
    })
    for (const port of appsPorts) await waitFor('dromos apps', `http://127.0.0.1:${port}/ping`, 30_000)
    lines.push(`  pids     ${pids}/<name>.pid, logs ${logs}/<name>.log`)
    return { masterList, appsUrl: `http://127.0.0.1:${appsPorts[0]}`, appsList: appsPorts.map((p) => `127.0.0.1:${p}`).join(','), lines, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
