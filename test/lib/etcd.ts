// Runs a real etcd on loopback for the store and election tests: one member or a cluster,
// free ports, and a data dir that outlives kill() so that start() brings the same data back.
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitUntil } from './cluster.js'

export class EtcdProcess {
  private child: ChildProcess | undefined
  private initialCluster = ''
  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  get clientUrl(): string {
    return `http://127.0.0.1:${this.clientPort}`
  }

  static async start(): Promise<EtcdProcess> {
    const [etcd] = await EtcdProcess.startCluster(1)
    return etcd!
  }

  /**
   * n members on loopback, n1…nN, started together (each waits for a quorum). A free port can
   * be taken by another test between the lookup and etcd's bind: then all start again on
   * other ports.
   */
  static async startCluster(n: number): Promise<EtcdProcess[]> {
    for (let attempt = 1; ; attempt++) {
      const members = await EtcdProcess.newCluster(n)
      try {
        await Promise.all(members.map((m) => m.start()))
        return members
      } catch (err) {
        await Promise.all(members.map((m) => m.stop()))
        if (attempt >= 3 || !/address already in use/.test(String(err))) throw err
      }
    }
  }

  private static async newCluster(n: number): Promise<EtcdProcess[]> {
    const members: EtcdProcess[] = []
    for (let i = 1; i <= n; i++) {
      members.push(new EtcdProcess(mkdtempSync(join(tmpdir(), 'dromos-etcd-')), `n${i}`, await freePort(), await freePort()))
    }
    const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',')
    for (const m of members) m.initialCluster = initialCluster
    return members
  }

  /** Starts etcd (again) on the same data dir and ports, and waits until it is healthy. */
  async start(): Promise<void> {
    const client = this.clientUrl
    const peer = `http://127.0.0.1:${this.peerPort}`
    const out = createWriteStream(join(this.dir, 'etcd.log'), { flags: 'a' })
    const child = spawn(
      'etcd',
      [
        '--data-dir', join(this.dir, 'data'),
        '--name', this.name,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', this.initialCluster,
        '--pre-vote',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child.stdout?.pipe(out)
    child.stderr?.pipe(out)
    this.child = child
    await waitUntil(
      'etcd to answer /health',
      async () => {
        if (child.exitCode !== null) {
          const log = readFileSync(join(this.dir, 'etcd.log'), 'utf8')
          const bindFailed = /address already in use/.test(log) ? ' (address already in use)' : ''
          throw new Error(`etcd exited with ${child.exitCode}${bindFailed}; see ${this.dir}/etcd.log`)
        }
        const r = await fetch(`${client}/health`)
        return r.ok && ((await r.json()) as { health?: string }).health === 'true' && (await this.answersAsItself())
      },
      20_000,
      50,
    )
  }

  /**
   * Whether the etcd answering on the client port is this member (by its peer URL), and not
   * another test's etcd that took the port while this one failed to bind it.
   */
  private async answersAsItself(): Promise<boolean> {
    const r = await fetch(`${this.clientUrl}/v3/cluster/member/list`, { method: 'POST', body: '{}' })
    const list = (await r.json()) as { header: { member_id: string }; members: Array<{ ID: string; peerURLs: string[] }> }
    const me = list.members.find((m) => m.ID === list.header.member_id)
    if (me?.peerURLs.includes(`http://127.0.0.1:${this.peerPort}`)) return true
    throw new Error(`another etcd answers on ${this.clientUrl} (address already in use)`)
  }

  /** SIGKILL, as a crash: nothing is flushed or said goodbye. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  /** SIGSTOP / SIGCONT: etcd keeps its connections open but answers nothing. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(signal)
  }

  async stop(): Promise<void> {
    this.signal('SIGCONT')

    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
