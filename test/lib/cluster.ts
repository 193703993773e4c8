// Runs real `bin/dromos master` and `bin/dromos agent` processes for cross-process tests.
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { processesWhere } from './proc.js'

/**
 * The repository's bin/dromos, found by walking up from this file: from test/lib/ when the
 * sources run, from dist/test/lib/ when the compiled copy does (benchmarks).
 */
function findBin(): string {
  for (let d = import.meta.dirname; ; d = dirname(d)) {
    const candidate = join(d, 'bin', 'dromos')
    if (existsSync(candidate)) return candidate
    if (dirname(d) === d) throw new Error(`bin/dromos not found above ${import.meta.dirname}`)
  }
}

/** bin/dromos, for a test that spawns it otherwise than through Proc. */
export const BIN = findBin()

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      s.close(() => res(port))
    })
  })
}

/** Whether a port on loopback can be listened on now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer()
    s.once('error', () => res(false))
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)))
  })
}

/**
 * The first of n consecutive ports that are all free now, for a command that derives ports
 * from a base (up --ha: masters at +2 and +4, etcd members' peers at +1, ...), so that the
 * derived ports of one base cannot land on another's.
 */
export async function freePortRun(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort()
    if (base + n > 65_535) continue
    let free = true
    for (let p = base + 1; p < base + n && free; p++) free = await canListen(p)
    if (free) return base
  }
  throw new Error(`no ${n} consecutive free ports found`)
}

export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export class Proc {
  child: ChildProcess
  exited: Promise<number | null>
  constructor(
    readonly args: string[],
    readonly logFile: string,
    /** A network namespace to run it in (`ip netns exec`, which becomes the process itself). */
    readonly netns?: string,
  ) {
    this.child = this.spawn()
    this.exited = this.watch()
  }
  private spawn(): ChildProcess {
    const out = createWriteStream(this.logFile, { flags: 'a' })
    const command = [process.execPath, BIN, ...this.args]
    const child = this.netns
      ? spawn('ip', ['netns', 'exec', this.netns, ...command], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    // Both streams share the file: neither may end it while the other still writes.
    child.stdout?.pipe(out, { end: false })
    child.stderr?.pipe(out, { end: false })
    child.once('close', () => out.end())
    return child
  }
  private watch(): Promise<number | null> {
    return new Promise((res) => this.child.once('exit', (code) => res(code)))
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill(signal)
    // A process stopped with SIGSTOP (a partition test) acts on the signal only once continued.
    this.child.kill('SIGCONT')
    // Never hang a test run on a process that ignores its signal.
    const force = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    await this.exited
    clearTimeout(force)
  }
  /** Sends a signal without waiting (SIGSTOP / SIGCONT to simulate a partition). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }
  restart(): void {
    this.child = this.spawn()
    this.exited = this.watch()
  }
}

export interface AgentSpec {
  resources?: string
  attributes?: string
  hostname?: string
  extraArgs?: string[]
}

export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'dromos-cluster-'))
  master!: Proc
  masterUrl = ''
  masterPort = 0
  readonly agents: Array<{ proc: Proc; port: number; url: string; workDir: string }> = []

  static async start(opts: { masterArgs?: string[]; agents?: AgentSpec[] } = {}): Promise<TestCluster> {
    const c = new TestCluster()
    await c.startMaster(opts.masterArgs ?? [])
    for (const a of opts.agents ?? [{}]) await c.addAgent(a)
    return c
  }

  async startMaster(args: string[]): Promise<void> {
    this.masterPort = await freePort()
    this.masterUrl = `http://127.0.0.1:${this.masterPort}`
    this.master = new Proc(
      ['master', '--port', String(this.masterPort), '--work-dir', join(this.dir, 'master'), '--allocation-interval', '100ms', '--log-level', 'debug', ...args],
      join(this.dir, 'master.log'),
    )
    await waitUntil('master to answer /health', async () => (await fetch(`${this.masterUrl}/health`)).ok)
  }

  async addAgent(spec: AgentSpec = {}): Promise<{ proc: Proc; port: number; url: string; workDir: string; id: string }> {
    const port = await freePort()
    const workDir = join(this.dir, `agent-${this.agents.length}`)
    const proc = new Proc(
      [
        'agent',
        '--master', this.masterUrl,
        '--port', String(port),
        '--work-dir', workDir,
        '--resources', spec.resources ?? 'cpus:2;mem:1024;disk:1000;ports:[31000-31099]',
        '--status-update-retry', '1s',
        '--log-level', 'debug',
        ...(spec.attributes ? ['--attributes', spec.attributes] : []),
        ...(spec.hostname ? ['--hostname', spec.hostname] : []),
        ...(spec.extraArgs ?? []),
      ],
      join(this.dir, `agent-${this.agents.length}.log`),
    )
    const agent = { proc, port, url: `http://127.0.0.1:${port}`, workDir }
    this.agents.push(agent)
    const id = await waitUntil('agent to register', async () => {
      const s = (await (await fetch(`${agent.url}/state`)).json()) as { id: string }
      return s.id || undefined
    })
    await waitUntil('master to list the agent', async () => {
      const st = (await (await fetch(`${this.masterUrl}/master/state`)).json()) as { slaves: Array<{ id: string }> }
      return st.slaves.some((s) => s.id === id)
    })
    return { ...agent, id }
  }

  /** Stops the master (SIGTERM) and starts it again with the same flags, work dir and port. */
  async restartMaster(): Promise<void> {
    await this.master.stop()
    this.master.restart()
    await waitUntil('restarted master to answer /health', async () => (await fetch(`${this.masterUrl}/health`)).ok)
  }

  async state(): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return (await fetch(`${this.masterUrl}/master/state`)).json()
  }

  async stop(): Promise<void> {
    for (const a of this.agents) await a.proc.stop()
    await this.master?.stop()
    killTasksUnder(this.dir)
    if (!process.env.DROMOS_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * Kills the process tasks that agents working under `dir` left running (they outlive their
 * agent on purpose), each with its process group, and removes their empty cgroups: a test's
 * tasks must not outlive the test. Returns how many tasks it killed.
 */
export function killTasksUnder(dir: string): number {
  let killed = 0
  const cmdlines = new Map<number, string>()
  // The process containerizer's wrapper names its exit-status file in the agent's work dir.
  const wrappers = processesWhere((p) => {
    const cmdline = p.argv().join('\0')
    cmdlines.set(p.pid, cmdline)
    return cmdline.includes(`${dir}/`) && cmdline.includes('/run/process/')
  })
  for (const pid of wrappers) {
    try {
      process.kill(-pid, 'SIGKILL')
      killed++
    } catch {
      // not a group leader, or gone already
    }
    for (const m of cmdlines.get(pid)!.matchAll(/'(\/sys\/fs\/cgroup\/[^']+)\/cgroup\.procs'/g)) {
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(m[1]!)
          break
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
        }
      }
    }
  }
  return killed
}
