// The masters a client knows (`--master h1:5050,h2:5050,…`) and which of them it believes
// leads. Standby masters answer 307 to the leader and 503 while none is elected; a client
// follows the redirect, remembers where it ended up, and on a failure tries the next master
// in turn, as a Mesos client does with the masters its detector knows.
import type { PostAnswer } from './post-json.js'
import { postJson } from './post-json.js'

export class MasterListError extends Error {
  readonly code = 'BAD_MASTER_LIST'
  constructor(
    readonly text: string,
    readonly reason: string,
  ) {
    super(`Bad --master '${text}': ${reason} (expected host:port[,host:port…] or http://host:port[,…])`)
  }
}

/** The base URLs of `--master`: a comma-separated list of host:port or http(s) URLs. */
export function parseMasterList(text: string): string[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
  if (parts.length === 0) throw new MasterListError(text, 'no master')
  const urls = parts.map((p) => {
    let url: URL
    try {
      url = new URL(/^https?:\/\//.test(p) ? p : `http://${p}`)
    } catch {
      throw new MasterListError(text, `'${p}' is not host:port`)
    }
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new MasterListError(text, `'${p}' has a path`)
    return url.origin
  })
  return [...new Set(urls)]
}

/** Where a standby's Location points: Mesos sends a protocol-relative `//host:port/path`. */
export function redirectTarget(location: string, from: string): string {
  return new URL(location.startsWith('//') ? `${new URL(from).protocol}${location}` : location, from).origin
}

export interface Masters {
  /** The master believed to lead: the one that last answered as leader, else the first. */
  current(): string
  /** Every master, the current one first, then the others in the order given. */
  order(): string[]
  /** A request to `tried` was answered by `leader` (itself, or where a redirect led). */
  answered(leader: string): void
  /** `url` did not answer, or has no leader: the next master becomes current. */
  failed(url: string): void
}

export function createMasters(urls: readonly string[]): Masters {
  if (urls.length === 0) throw new MasterListError('', 'no master')
  const known = [...urls]
  let current = known[0]!
  return {
    current: () => current,
    order: () => [current, ...known.filter((u) => u !== current)],
    answered(leader) {
      if (!known.includes(leader)) known.push(leader)
      current = leader
    },
    failed(url) {
      if (url !== current) return
      const i = known.indexOf(url)
      current = known[(i + 1) % known.length]!
    },
  }
}

/** A 503 of a master that was elected and has not finished reading its state (standby.ts). */
export function isRecovering(body: string): boolean {
  return body.startsWith('Master has not finished recovery')
}

/**
 * fetchLeader for the POSTs of JSON an agent sends the master once a task or more (status
 * updates), over kept-alive connections (post-json.ts); a standby's 307 is followed here,
 * with the same body, as fetch would.
 */
export async function postLeader(masters: Masters, path: string, body: string, timeoutMs = 10_000): Promise<PostAnswer> {
  let last: unknown = new Error('no master')
  for (const base of masters.order()) {
    let r: PostAnswer
    let at = base
    try {
      r = await postJson(`${base}${path}`, body, { timeoutMs })
      for (let hops = 0; r.status === 307 && r.location && hops < MAX_REDIRECTS; hops++) {
        at = redirectTarget(r.location, at)
        r = await postJson(`${at}${path}`, body, { timeoutMs })
      }
    } catch (e) {
      last = e
      masters.failed(base)
      continue
    }
    if (r.status === 503) {
      last = passedOver503(masters, base, at, await r.text())
      continue
    }
    masters.answered(at)
    return r
  }
  throw last
}

/**
 * What a 503 from `at` (reached from `base`, through redirects) means. The leader itself, still
 * reading its state, is asked again later rather than the others: the error is thrown. Any other
 * master is passed over: the error is returned, for the caller to try the next one.
 */
function passedOver503(masters: Masters, base: string, at: string, text: string): Error {
  const err = new Error(`${at} answered 503: ${text}`)
  if (isRecovering(text)) {
    masters.answered(at)
    throw err
  }
  masters.failed(base)
  return err
}

/** As fetch's limit of redirects followed. */
const MAX_REDIRECTS = 20

/**
 * Sends a request to the leading master: the current one first, then each other in turn.
 * Redirects are followed (fetch does, keeping a 307's method and body); a master that does
 * not answer, or answers 503 (no leader elected, or still recovering), makes it try the
 * next. Returns the first other answer, with the leader remembered; throws the last error
 * when no master gave one, or at once when init.signal aborts.
 */
export async function fetchLeader(masters: Masters, path: string, init: RequestInit & { timeoutMs?: number }): Promise<Response> {
  let last: unknown = new Error('no master')
  for (const base of masters.order()) {
    let r: Response
    const timeout = AbortSignal.timeout(init.timeoutMs ?? 10_000)
    try {
      r = await fetch(`${base}${path}`, { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout })
    } catch (e) {
      // Called off by the caller: not the master's fault, and no other is tried.
      if (init.signal?.aborted) throw e
      last = e
      masters.failed(base)
      continue
    }
    if (r.status === 503) {
      last = passedOver503(masters, base, new URL(r.url).origin, await r.text())
      continue
    }
    masters.answered(new URL(r.url).origin)
    return r
  }
  throw last
}
