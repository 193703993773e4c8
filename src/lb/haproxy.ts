// The HAProxy process that dromos lb owns: configuration files, seamless reloads (the new
// process takes the listening sockets over the stats socket and the old ones finish their
// sessions), and the runtime API.
import type { ChildProcess } from 'node:child_process'
import { execFile, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Logger } from 'pino'

const run = promisify(execFile)

export interface Haproxy {
  readonly socketPath: string
  readonly configPath: string
  /** Starts HAProxy with this configuration, or reloads the running one seamlessly. */
  apply(config: string): Promise<void>
  /**
   * Why HAProxy would refuse these arguments on a bind line (`ssl crt <file>`, bind options),
   * or undefined when it takes them: HAProxy itself checks a configuration made of that one line.
   */
  checkBind(args: string): Promise<string | undefined>
  /** Sends runtime API commands; rejects when HAProxy reports an error for any of them. */
  runtime(commands: readonly string[]): Promise<string>
  stop(): Promise<void>
  running(): boolean
  /** True while an HAProxy a previous lb left running still waits to be taken over. */
  orphaned(): boolean
}

export class HaproxyError extends Error {}

export function createHaproxy(opts: { dir: string; binary?: string; log: Logger }): Haproxy {
  const binary = opts.binary ?? 'haproxy'
  mkdirSync(opts.dir, { recursive: true })
  const socketPath = join(opts.dir, 'haproxy.sock')
  const configPath = join(opts.dir, 'haproxy.cfg')
  const pidPath = join(opts.dir, 'haproxy.pid')
  const logFile = createWriteStream(join(opts.dir, 'haproxy.log'), { flags: 'a' })
  let current: ChildProcess | undefined
  const draining = new Set<ChildProcess>()
  /**
   * An HAProxy left running by an lb that died (SIGKILL, a crash): it goes on serving the
   * routes it had. The first start takes it over like a reload, so that no stale process
   * keeps a share of the listening ports.
   */
  let orphan = findOrphan()

  function findOrphan(): number | undefined {
    try {
      const pid = Number(readFileSync(pidPath, 'utf8').trim())
      if (!Number.isInteger(pid) || pid <= 0) return undefined
      // Only ours: a process running this very configuration file.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      return cmdline.includes('-f') && cmdline.includes(configPath) ? pid : undefined
    } catch {
      return undefined
    }
  }

  let probes = 0
  async function checkBind(args: string): Promise<string | undefined> {
    const path = join(opts.dir, `bind-check-${process.pid}-${probes++}.cfg`)
    writeFileSync(path, ['defaults', '  mode http', '  timeout connect 5s', '  timeout client 5s', '  timeout server 5s', 'frontend bind_check', `  bind 127.0.0.1:1 ${args}`, ''].join('\n'))
    try {
      // Not -q: HAProxy then keeps its reasons to itself.
      await run(binary, ['-c', '-f', path])
      return undefined
    } catch (e) {
      const err = e as { stderr?: string; message: string }
      const alerts = (err.stderr ?? err.message)
        .split('\n')
        .filter((l) => l.includes('[ALERT]') && !/Fatal errors found|Error\(s\) found/i.test(l))
        // HAProxy names the probe file and line; what matters is what follows.
        .map((l) =>
          l
            .replace(/^.*?parsing \[[^\]]*\] : /, '')
            .replace(/^'bind [^']*' in section 'frontend'\s*:\s*/, '')
            .trim(),
        )
      return alerts.join('; ') || 'refused'
    } finally {
      rmSync(path, { force: true })
    }
  }

  async function validate(path: string): Promise<void> {
    try {
      await run(binary, ['-c', '-f', path])
    } catch (e) {
      const err = e as { stderr?: string; message: string }
      const alerts = (err.stderr ?? '').split('\n').filter((l) => l.includes('[ALERT]'))
      throw new HaproxyError(`HAProxy refused the configuration: ${alerts.join('; ') || err.message.trim()}`)
    }
  }

  function send(commands: string, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(socketPath)
      let out = ''
      const timer = setTimeout(() => {
        sock.destroy()
        reject(new HaproxyError('HAProxy runtime API timed out'))
      }, timeoutMs)
      sock.on('connect', () => sock.end(`${commands}\n`))
      sock.on('data', (d) => (out += d.toString()))
      sock.on('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
      sock.on('close', () => {
        clearTimeout(timer)
        resolve(out)
      })
    })
  }

  async function waitForSocket(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (child.exitCode !== null) throw new HaproxyError(`HAProxy exited with status ${child.exitCode}; see ${join(opts.dir, 'haproxy.log')}`)
      try {
        // The new process answers with its own pid once it owns the socket.
        const info = await send('show info', 1000)
        if (info.includes(`Pid: ${child.pid}`)) return
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new HaproxyError('HAProxy did not open its stats socket')
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  function spawnHaproxy(extra: string[]): ChildProcess {
    const child = spawn(binary, ['-f', configPath, '-db', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.pipe(logFile, { end: false })
    child.stderr?.pipe(logFile, { end: false })
    child.on('exit', (code, signal) => {
      draining.delete(child)
      if (child === current) opts.log.error({ code, signal }, 'HAProxy exited')
    })
    return child
  }

  return {
    socketPath,
    configPath,
    checkBind,
    async apply(config) {
      const tmp = `${configPath}.new`
      writeFileSync(tmp, config)
      await validate(tmp)
      renameSync(tmp, configPath)
      const old = current && current.exitCode === null ? current : undefined
      const adopted = old ? undefined : orphan
      const oldPid = old?.pid ?? adopted
      // The listening sockets come over the old process's stats socket, when it has one.
      const child = spawnHaproxy(oldPid !== undefined ? [...(existsSync(socketPath) ? ['-x', socketPath] : []), '-sf', String(oldPid)] : [])
      current = child
      if (old) draining.add(old)
      // Named at once: should the lb die before the new process answers, the next one finds it.
      writeFileSync(pidPath, `${child.pid}\n`)
      try {
        await waitForSocket(child)
      } catch (e) {
        // Keep the old process serving if the new one could not start.
        if (old && old.exitCode === null) current = old
        if (oldPid !== undefined) writeFileSync(pidPath, `${oldPid}\n`)
        throw e
      }
      orphan = undefined
      if (adopted !== undefined) opts.log.info({ pid: child.pid, orphan: adopted }, 'HAProxy started, taking over from the one a previous lb left running')
      else opts.log.info({ pid: child.pid, reload: !!old }, old ? 'HAProxy reloaded' : 'HAProxy started')
    },
    async runtime(commands) {
      if (commands.length === 0) return ''
      const out = await send(commands.join(';'))
      const bad = out
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/^(no need to change|IP changed from|port changed from|.*changed from .* by 'stats socket command')/i.test(l))
      if (bad.length > 0) throw new HaproxyError(`HAProxy runtime API: ${bad.join('; ')}`)
      return out
    },
    async stop() {
      // One left by a previous lb and never taken over stops as well.
      if (orphan !== undefined && findOrphan() === orphan) {
        try {
          process.kill(orphan, 'SIGTERM')
        } catch {
          // gone already
        }
      }
      orphan = undefined
      const all = [current, ...draining].filter((c): c is ChildProcess => !!c && c.exitCode === null)
      await Promise.all(
        all.map(
          (c) =>
            new Promise<void>((res) => {
              c.once('exit', () => res())
              c.kill('SIGTERM')
              setTimeout(() => c.kill('SIGKILL'), 3000).unref()
            }),
        ),
      )
      current = undefined
      logFile.end()
    },
    running: () => !!current && current.exitCode === null,
    orphaned: () => orphan !== undefined,
  }
}
