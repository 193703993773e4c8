// A child process that `dromos up --ha` keeps running: started again a second after it exits
// (a master or apps instance that lost leadership exits on purpose, and a user may kill any
// one), its output appended to a log file and its pid written where a user can find it.
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export interface SupervisedOptions {
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  readonly logFile: string
  readonly pidFile: string
  /** Delay before starting again after an exit. */
  readonly restartDelayMs?: number
  readonly onRestart?: (name: string, exit: { code: number | null; signal: NodeJS.Signals | null }) => void
}

export interface Supervised {
  readonly name: string
  pid(): number | undefined
  /** Stops it (SIGTERM, then SIGKILL after timeoutMs) and does not start it again. */
  stop(timeoutMs?: number): Promise<void>
}

export function supervise(o: SupervisedOptions): Supervised {
  mkdirSync(dirname(o.logFile), { recursive: true })
  mkdirSync(dirname(o.pidFile), { recursive: true })
  const out = createWriteStream(o.logFile, { flags: 'a' })
  let child: ChildProcess | undefined
  let stopping = false
  let restartTimer: NodeJS.Timeout | undefined

  function start(): void {
    const c = spawn(o.command, [...o.args], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    c.stdout?.pipe(out, { end: false })
    c.stderr?.pipe(out, { end: false })
    c.on('error', (err) => out.write(`${o.name}: cannot start: ${err.message}\n`))
    if (c.pid !== undefined) writeFileSync(o.pidFile, `${c.pid}\n`)
    c.once('exit', (code, signal) => {
      if (stopping) return
      o.onRestart?.(o.name, { code, signal })
      restartTimer = setTimeout(start, o.restartDelayMs ?? 1000)
    })
  }
  start()

  return {
    name: o.name,
    pid: () => child?.pid,
    async stop(timeoutMs = 20_000) {
      stopping = true
      if (restartTimer) clearTimeout(restartTimer)
      const c = child
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r))
        c.kill('SIGTERM')
        c.kill('SIGCONT')
        const force = setTimeout(() => c.kill('SIGKILL'), timeoutMs)
        await exited
        clearTimeout(force)
      }
      rmSync(o.pidFile, { force: true })
      await new Promise<void>((r) => out.end(r))
    },
  }
}
