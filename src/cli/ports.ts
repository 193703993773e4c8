// Which process holds a local TCP port: `dromos up` says so, instead of failing half way
// through starting a cluster when one already runs.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer } from 'node:net'

/** Whether the port can be listened on at `host` now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)))
  })
}

/** The socket inodes listening on the port, from /proc/net/tcp and tcp6 (state 0A is LISTEN). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      const local = cols[1]
      if (!local || cols[3] !== '0A') continue
      if (parseInt(local.split(':').at(-1) ?? '', 16) === port && cols[9]) inodes.add(cols[9])
    }
  }
  return inodes
}

/** The process listening on the port, when this user may see it. */
export function portOwner(port: number): { pid: number; command: string } | undefined {
  const inodes = listeningInodes(port)
  if (inodes.size === 0) return undefined
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let target = ''
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      const m = /^socket:\[(\d+)\]$/.exec(target)
      if (m && inodes.has(m[1]!)) {
        let command = ''
        try {
          command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
        } catch {
          // gone meanwhile
        }
        return { pid: Number(pid), command }
      }
    }
  }
  return undefined
}

/** A line for each port that is taken: what wants it, and who has it. */
export async function takenPorts(wanted: ReadonlyArray<{ port: number; what: string; flag: string }>): Promise<string[]> {
  const lines: string[] = []
  for (const w of wanted) {
    if (await portIsFree(w.port)) continue
    const owner = portOwner(w.port)
    const by = owner ? `pid ${owner.pid} (${owner.command.slice(0, 120) || 'unknown command'})` : 'another process'
    lines.push(`port ${w.port} (${w.what}, ${w.flag}) is taken by ${by}`)
  }
  return lines
}
