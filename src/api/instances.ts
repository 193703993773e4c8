// The instances a command-line client may ask (`--apps h1:8080,h2:8081`, `--master
// h1:5050,h2:5052`): the one that answered last is asked first, and the next one in turn when
// it cannot be reached. Standbys forward or redirect to the leader themselves, so any instance
// that answers will do; a 503 (no leader known there) also moves on while others are left.
// A request that may have reached an instance (a timeout) is tried elsewhere only if it reads.

export class InstanceUnreachable extends Error {
  constructor(
    readonly base: string,
    cause: unknown,
  ) {
    super(`cannot reach ${base}`, { cause })
  }
}

/** Connection errors that prove the request never got there. */
const NEVER_ARRIVED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET'])

function neverArrived(e: unknown): boolean {
  const code = (e as { cause?: { code?: string } })?.cause?.code
  return code !== undefined && NEVER_ARRIVED.has(code)
}

export interface Instances {
  /** The instance asked first now. */
  current(): string
  /**
   * `fetch` of `path` on each instance in turn until one answers. Throws InstanceUnreachable
   * (of the last one tried) when none does.
   */
  fetch(path: string, init: () => RequestInit, method?: string): Promise<{ res: Response; base: string }>
}

/** The base URLs of a comma-separated list; a bare host:port gets http://. */
export function parseInstanceList(text: string, normalize: (url: string) => string): string[] {
  const list = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map(normalize)
  return list.length > 0 ? [...new Set(list)] : [normalize(text)]
}

export function createInstances(bases: readonly string[], doFetch: typeof fetch = fetch): Instances {
  let current = 0
  return {
    current: () => bases[current]!,
    async fetch(path, init, method = 'GET') {
      const reads = method === 'GET' || method === 'HEAD'
      let last: InstanceUnreachable | undefined
      for (let i = 0; i < bases.length; i++) {
        const k = (current + i) % bases.length
        const base = bases[k]!
        const more = i < bases.length - 1
        let res: Response
        try {
          res = await doFetch(`${base}${path}`, init())
        } catch (e) {
          last = new InstanceUnreachable(base, e)
          if (more && (reads || neverArrived(e))) continue
          throw last
        }
        if (res.status === 503 && more) {
          await res.arrayBuffer().catch(() => undefined)
          continue
        }
        current = k
        return { res, base }
      }
      throw last ?? new InstanceUnreachable(bases[current]!, new Error('no instance'))
    },
  }
}
