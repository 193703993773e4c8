// This machine's processes, read from /proc: how tests find what they started, and what a
// test left behind, by its command line, working directory or environment.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

/** One process, read lazily: each accessor throws once the process is gone. */
export interface SeenProcess {
  readonly pid: number
  readonly argv: () => string[]
  readonly cwd: () => string
  readonly environ: () => string[]
}

/**
 * The processes for which `match` holds, this one left out. A process that ends while it is
 * read, or that is not ours to read, does not match.
 */
export function processesWhere(match: (p: SeenProcess) => boolean): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue
    const p: SeenProcess = {
      pid: Number(d),
      argv: () => readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0'),
      cwd: () => readlinkSync(`/proc/${d}/cwd`),
      environ: () => readFileSync(`/proc/${d}/environ`, 'utf8').split('\0'),
    }
    try {
      if (match(p)) out.push(p.pid)
    } catch {
      // gone, or not ours to read
    }
  }
  return out
}
