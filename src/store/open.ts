import type { Logger } from 'pino'
import { openEtcdStore } from './etcd.js'
import type { EtcdStore } from './etcd.js'
import { openSqliteStore } from './sqlite.js'
import type { BatchStore } from './store.js'

// `--store` names the backend. Without it a process keeps its state in SQLite in its
// work dir; `etcd://h1:2379,h2:2379[/root]` keeps it in etcd under root (default /dromos/),
// each process under root + its own name.

export type StoreLocation =
  | { backend: 'sqlite'; path?: string }
  | { backend: 'etcd'; endpoints: string[]; root: string }

export class StoreUrlError extends Error {
  readonly code = 'BAD_STORE_URL'
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`Bad --store '${url}': ${reason} (expected etcd://host:port[,host:port…][/root] or sqlite:[path])`)
  }
}

/** Parses a --store value; undefined or '' is the embedded default. */
export function parseStoreUrl(url: string | undefined): StoreLocation {
  if (url === undefined || url === '' || url === 'sqlite' || url === 'sqlite:') return { backend: 'sqlite' }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')
    return { backend: 'sqlite', path }
  }
  const m = /^etcd:\/\/([^/]*)(\/.*)?$/.exec(url)
  if (!m) throw new StoreUrlError(url, 'unknown scheme')
  const hosts = (m[1] ?? '').split(',').filter((h) => h !== '')
  if (hosts.length === 0) throw new StoreUrlError(url, 'no etcd endpoint')
  for (const h of hosts) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(h)) throw new StoreUrlError(url, `endpoint '${h}' is not host:port`)
  }
  const path = m[2] ?? '/dromos'
  const root = path.endsWith('/') ? path : `${path}/`
  return { backend: 'etcd', endpoints: hosts.map((h) => `http://${h}`), root }
}

export interface OpenStoreOptions {
  /** The process's name ('master', 'apps'): its key space under an etcd root. */
  name: string
  /** The SQLite file when the location names none (the process's work dir). */
  defaultSqlitePath: string
  log: Logger
}

export type OpenedStore = { backend: 'sqlite'; store: BatchStore } | { backend: 'etcd'; store: EtcdStore; root: string }

export function openStore(location: StoreLocation, { name, defaultSqlitePath, log }: OpenStoreOptions): OpenedStore {
  if (location.backend === 'sqlite') return { backend: 'sqlite', store: openSqliteStore(location.path ?? defaultSqlitePath) }
  const store = openEtcdStore({ endpoints: location.endpoints, prefix: `${location.root}${name}/`, log })
  return { backend: 'etcd', store, root: location.root }
}
