// The address of an agent from the `host` Marathon gives its tasks, as marathon-lb finds it:
// an IP literal is its own address, a hostname is looked up, and answers are cached so that
// one change of one app does not look up every agent again.
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'

export interface HostResolver {
  /** The IPv4 address of `host`; rejects when it does not resolve. */
  resolve(host: string): Promise<string>
}

export interface HostResolverOptions {
  /** How long an answer is kept (ms). */
  readonly ttlMs?: number
  /** How long a failed look-up is remembered before trying again (ms). */
  readonly failureTtlMs?: number
  readonly lookup?: (host: string) => Promise<string>
  readonly now?: () => number
}

export function createHostResolver(opts: HostResolverOptions = {}): HostResolver {
  const ttlMs = opts.ttlMs ?? 60_000
  const failureTtlMs = opts.failureTtlMs ?? 10_000
  const lookup = opts.lookup ?? (async (host: string) => (await dnsLookup(host, { family: 4 })).address)
  const now = opts.now ?? Date.now
  const cache = new Map<string, { until: number; answer: Promise<string> }>()
  return {
    resolve(host) {
      if (isIP(host)) return Promise.resolve(host)
      const hit = cache.get(host)
      if (hit && hit.until > now()) return hit.answer
      const answer = lookup(host)
      const entry = { until: now() + ttlMs, answer }
      cache.set(host, entry)
      answer.catch(() => {
        entry.until = now() + failureTtlMs
      })
      return answer
    },
  }
}
