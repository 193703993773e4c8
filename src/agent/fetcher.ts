// The Mesos fetcher, reduced to what dromos agents need: copy each CommandInfo URI into the
// task's sandbox before the task starts, then make it executable or unpack it. Both the
// process and the docker containerizers call this, so it knows nothing about either.
//
// A URI with `cache: true` is downloaded once into the agent's fetcher cache and copied from
// there afterwards, as with Mesos' --fetcher_cache_dir; the least recently used files go when
// the cache outgrows its size.
//
// Not supported: schemes other than http(s), file:// and absolute local paths (hdfs, s3, ftp…
// fail with FetchFailedError).
import { execFile } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { access, chmod, constants, copyFile, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { CommandInfo } from '../api/mesos.js'

export type CommandUri = CommandInfo['uris'][number]

/** A URI could not be fetched; `uri` names it so the task's failure message can too. */
export class FetchFailedError extends Error {
  readonly code = 'FETCH_FAILED'
  constructor(
    readonly uri: string,
    readonly detail: string,
  ) {
    super(`Failed to fetch '${uri}': ${detail}`)
  }
}

/** How an agent fetches: its cache, shared by the containerizers. */
export type FetcherSettings = Pick<FetchOptions, 'cacheDir' | 'cacheMaxBytes'>

export interface FetchOptions {
  readonly log?: Logger
  /** Upper bound for each download and each extraction. */
  readonly timeoutMs?: number
  /** Where URIs with `cache: true` are kept; without it they are downloaded every time. */
  readonly cacheDir?: string
  /** The most the cache holds, in bytes (default 2 GiB, as Mesos' --fetcher_cache_size). */
  readonly cacheMaxBytes?: number
}

const DEFAULT_CACHE_BYTES = 2 * 1024 ** 3
/** A partial download older than this is no download under way. */
const STALE_PARTIAL_MS = 24 * 3600_000
/** Downloads into the cache under way, by cache file: tasks that want the same URI share one. */
const caching = new Map<string, Promise<void>>()

/** The archive suffixes we unpack; GNU tar detects the compression itself. */
const TAR_SUFFIXES = ['.tar.gz', '.tgz', '.tar', '.tar.bz2', '.tbz2', '.tar.xz', '.txz']

/** Fetches every URI in order; the first failure stops the rest, as in Mesos. */
export async function fetchUris(uris: readonly CommandUri[], sandboxDir: string, opts: FetchOptions = {}): Promise<string[]> {
  const fetched: string[] = []
  for (const uri of uris) fetched.push(await fetchUri(uri, sandboxDir, opts))
  return fetched
}

/** Fetches one URI and returns the absolute path of the local copy. */
export async function fetchUri(uri: CommandUri, sandboxDir: string, opts: FetchOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000
  const log = opts.log?.child({ uri: uri.value })
  try {
    const source = classify(uri.value)
    const target = resolveTarget(sandboxDir, uri.output_file ?? defaultName(source))
    await mkdir(path.dirname(target), { recursive: true })

    // Write beside the target and rename, so a half-finished download never looks complete.
    const partial = `${target}.dromos-partial`
    try {
      if (source.kind === 'http' && uri.cache && opts.cacheDir) {
        const file = await cached(source.url, opts.cacheDir, opts.cacheMaxBytes ?? DEFAULT_CACHE_BYTES, timeoutMs)
        // Evicted meanwhile by another task's download (a cache smaller than two files): fetch it directly.
        await copyFile(file, partial).catch(async (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err
          await download(source.url, partial, timeoutMs)
        })
      } else if (source.kind === 'http') await download(source.url, partial, timeoutMs)
      else await copyFile(source.path, partial)
      await rename(partial, target)
    } finally {
      await rm(partial, { force: true })
    }

    // Mesos treats `executable` as "this is a binary, leave it alone", so it wins over extract.
    if (uri.executable) await chmod(target, 0o755)
    // An archive unpacks where it landed, so output_file 'tools/x.tgz' fills tools/.
    else if (uri.extract && isArchive(target)) await extract(target, path.dirname(target), timeoutMs)
    log?.debug({ target }, 'fetched URI')
    return target
  } catch (err) {
    if (err instanceof FetchFailedError) throw err
    throw new FetchFailedError(uri.value, err instanceof Error ? err.message : String(err))
  }
}

type Source = { kind: 'http'; url: URL } | { kind: 'local'; path: string }

function classify(value: string): Source {
  if (value.startsWith('/')) return { kind: 'local', path: value }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new FetchFailedError(value, 'not an absolute path or a URL')
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return { kind: 'http', url }
  if (url.protocol === 'file:') return { kind: 'local', path: fileURLToPath(url) }
  throw new FetchFailedError(value, `unsupported scheme '${url.protocol.replace(/:$/, '')}'`)
}

function defaultName(source: Source): string {
  const raw = source.kind === 'http' ? decodeURIComponent(source.url.pathname) : source.path
  const name = path.posix.basename(raw)
  if (!name) throw new Error('the URI has no file name; set output_file')
  return name
}

/** output_file may name a subdirectory of the sandbox, never a place outside it. */
function resolveTarget(sandboxDir: string, name: string): string {
  if (path.isAbsolute(name)) throw new Error(`output_file '${name}' must be a relative path`)
  const root = path.resolve(sandboxDir)
  const target = path.resolve(root, name)
  if (target === root || !target.startsWith(root + path.sep)) throw new Error(`output_file '${name}' leaves the sandbox`)
  return target
}

async function download(url: URL, dest: string, timeoutMs: number): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' })
  if (!res.ok || !res.body) {
    await res.body?.cancel()
    throw new Error(`HTTP ${res.status} ${res.statusText}`.trim())
  }
  // The DOM and node:stream/web ReadableStream types differ only nominally.
  await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(dest))
}

/** The cache file of a URL, downloaded first if it is not there yet. */
async function cached(url: URL, cacheDir: string, maxBytes: number, timeoutMs: number): Promise<string> {
  const file = path.join(cacheDir, createHash('sha256').update(url.href).digest('hex'))
  // Looked up and registered at once, so tasks that want the same URI share one download.
  let pending = caching.get(file)
  if (!pending) {
    pending = (async () => {
      try {
        const now = new Date()
        // Used now: the last to be evicted.
        await utimes(file, now, now)
        return
      } catch {
        // not cached yet
      }
      await mkdir(cacheDir, { recursive: true })
      const tmp = `${file}.${randomUUID()}.partial`
      try {
        await download(url, tmp, timeoutMs)
        await rename(tmp, file)
      } finally {
        await rm(tmp, { force: true })
      }
      // The file is fetched; a cache that cannot be trimmed now is trimmed by a later fetch.
      await evict(cacheDir, maxBytes, file).catch(() => undefined)
    })().finally(() => caching.delete(file))
    caching.set(file, pending)
  }
  await pending
  return file
}

/** Removes the least recently used cache files until the cache fits, keeping `keep`. */
async function evict(cacheDir: string, maxBytes: number, keep: string): Promise<void> {
  const entries = await Promise.all(
    (await readdir(cacheDir)).map(async (name) => {
      const p = path.join(cacheDir, name)
      const st = await stat(p).catch(() => undefined)
      if (!st) return undefined
      // A download an agent crash left half done goes once it is clearly abandoned.
      if (name.endsWith('.partial')) {
        if (Date.now() - st.mtimeMs > STALE_PARTIAL_MS) await rm(p, { force: true })
        return undefined
      }
      return { path: p, size: st.size, used: st.mtimeMs }
    }),
  )
  const files = entries.filter((e): e is { path: string; size: number; used: number } => e !== undefined).sort((a, b) => a.used - b.used)
  let total = files.reduce((n, f) => n + f.size, 0)
  for (const f of files) {
    if (total <= maxBytes) break
    if (f.path === keep) continue
    await rm(f.path, { force: true })
    total -= f.size
  }
}

function isArchive(file: string): boolean {
  const lower = file.toLowerCase()
  return lower.endsWith('.zip') || TAR_SUFFIXES.some((s) => lower.endsWith(s))
}

async function extract(archive: string, intoDir: string, timeoutMs: number): Promise<void> {
  if (!archive.toLowerCase().endsWith('.zip')) {
    await run('tar', ['-C', intoDir, '-xf', archive], timeoutMs)
  } else if (await onPath('unzip')) {
    await run('unzip', ['-o', '-q', archive, '-d', intoDir], timeoutMs)
  } else {
    // Python's zipfile module is the fallback on hosts without unzip; it drops file modes.
    await run('python3', ['-m', 'zipfile', '-e', archive, intoDir], timeoutMs)
  }
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (!err) return resolve()
      const why = stderr.trim() || err.message
      reject(new Error(`${cmd} failed: ${why}`))
    })
  })
}

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    if (!dir) continue
    try {
      await access(path.join(dir, cmd), constants.X_OK)
      return true
    } catch {
      // not in this directory
    }
  }
  return false
}
