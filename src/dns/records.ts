// Mesos-DNS names for the running tasks of the apps: A records `<task>.<framework>.<domain>`,
// SRV records `_<task>._tcp.<framework>.<domain>` whose targets name one task each, and
// `leader.<domain>` / `master.<domain>`. buildRecords builds them from the apps at once; a
// records builder keeps them and, given the apps again, changes only the names of the apps
// whose copies changed (a follower replaces the copy of an app that changed, never changes
// one in place), so that at 10,000 tasks a task's event does not rebuild every name.

export interface DnsTask {
  id: string
  state: string
  /** The agent's hostname, as Marathon gives it. */
  host: string
  ports: number[]
}

export interface DnsApp {
  id: string
  portDefinitions?: Array<{ protocol?: string }>
  container?: { portMappings?: Array<{ protocol?: string }> }
  networks?: Array<{ mode: string }>
  tasks?: DnsTask[]
}

export interface SrvRecord {
  readonly port: number
  readonly target: string
}

export interface Records {
  readonly a: ReadonlyMap<string, readonly string[]>
  readonly srv: ReadonlyMap<string, readonly SrvRecord[]>
}

/** Mesos task names of Marathon apps: the app id's segments reversed, joined by dots. */
export function taskName(appId: string): string {
  return appId
    .split('/')
    .filter(Boolean)
    .reverse()
    .join('.')
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
}

export interface RecordsOptions {
  readonly framework: string
  readonly domain: string
  readonly masterIp: string
  /**
   * Addresses of the tasks' hosts (resolved by the caller); a task whose host has none gets no
   * record. A caller whose addresses change gives a new map: one given again is taken as the same.
   */
  readonly hostAddresses?: ReadonlyMap<string, string>
}

/** The distinct hosts of the running tasks: what the caller resolves for buildRecords. */
export function hostsOf(apps: readonly DnsApp[]): string[] {
  return [...new Set(apps.flatMap((a) => (a.tasks ?? []).filter((t) => t.state === 'TASK_RUNNING').map((t) => t.host)))]
}

/** What one app contributes to the records, kept while the app's copy is the same object. */
interface AppRecords {
  readonly suffix: string
  /** The host addresses last found to give these records: the same map again needs no look. */
  checkedWith?: ReadonlyMap<string, string> | undefined
  /** The address each host of its running tasks had (undefined: none), which the records were built with. */
  readonly hosts: ReadonlyMap<string, string | undefined>
  readonly a: ReadonlyMap<string, readonly string[]>
  readonly srv: ReadonlyMap<string, readonly SrvRecord[]>
}

function sameAddresses(hosts: ReadonlyMap<string, string | undefined>, addresses: ReadonlyMap<string, string> | undefined): boolean {
  for (const [h, ip] of hosts) if (addresses?.get(h) !== ip) return false
  return true
}

// A follower replaces the copy of an app that changed and keeps the others, so that a change of
// one app rebuilds that app's records only, not those of every task of every app.
const kept = new WeakMap<DnsApp, AppRecords>()

function appRecords(app: DnsApp, suffix: string, hostAddresses: ReadonlyMap<string, string> | undefined): AppRecords {
  const cached = kept.get(app)
  if (cached && cached.suffix === suffix && (cached.checkedWith === hostAddresses || sameAddresses(cached.hosts, hostAddresses))) {
    cached.checkedWith = hostAddresses
    return cached
  }
  const a = new Map<string, Set<string>>()
  const srv = new Map<string, SrvRecord[]>()
  const hosts = new Map<string, string | undefined>()
  const addA = (name: string, ip: string): void => {
    const set = a.get(name)
    if (set) set.add(ip)
    else a.set(name, new Set([ip]))
  }
  const name = taskName(app.id)
  const bridged = (app.networks ?? []).some((n) => n.mode !== 'host')
  const protocols = (bridged ? (app.container?.portMappings ?? []) : (app.portDefinitions ?? [])).map((p) => p.protocol ?? 'tcp')
  for (const t of name ? (app.tasks ?? []) : []) {
    if (t.state !== 'TASK_RUNNING') continue
    const ip = hostAddresses?.get(t.host)
    hosts.set(t.host, ip)
    if (ip === undefined) continue
    addA(`${name}.${suffix}`, ip)
    // Each task gets a name of its own, so that an SRV record points at exactly one task.
    const short = (t.id.split('.').pop() ?? t.id).slice(0, 8)
    const target = `${name}-${short}.${suffix}`
    addA(target, ip)
    t.ports.forEach((port, i) => {
      for (const proto of (protocols[i] ?? 'tcp').split(',')) {
        const key = `_${name}._${proto.trim()}.${suffix}`
        const list = srv.get(key)
        if (list) list.push({ port, target })
        else srv.set(key, [{ port, target }])
      }
    })
  }
  const built: AppRecords = { suffix, hosts, checkedWith: hostAddresses, a: new Map([...a].map(([n, ips]) => [n, [...ips]])), srv }
  kept.set(app, built)
  return built
}

export interface RecordsBuilder {
  /** The records of these apps: the same maps each time, changed where the apps changed. */
  update(apps: readonly DnsApp[], hostAddresses?: ReadonlyMap<string, string>): Records
}

export function createRecordsBuilder(opts: Omit<RecordsOptions, 'hostAddresses'>): RecordsBuilder {
  const suffix = `${opts.framework}.${opts.domain}`
  const a = new Map<string, readonly string[]>()
  const srv = new Map<string, readonly SrvRecord[]>()
  // The static names are a contribution of their own, under a key no app id can be.
  const STATIC = ''
  const fixed: AppRecords = { suffix, hosts: new Map(), a: new Map([[`leader.${opts.domain}`, [opts.masterIp]], [`master.${opts.domain}`, [opts.masterIp]]]), srv: new Map() }
  /** What each app (by id) contributes now. */
  const contributions = new Map<string, AppRecords>()
  /** Which apps contribute to each name, in the order they came. */
  const owners = { a: new Map<string, Set<string>>(), srv: new Map<string, Set<string>>() }

  /** A name's value from its owners: one owner's list as it is, several merged. */
  function settle<V>(kind: 'a' | 'srv', name: string, into: Map<string, readonly V[]>): void {
    const ids = owners[kind].get(name)
    if (!ids || ids.size === 0) {
      owners[kind].delete(name)
      into.delete(name)
      return
    }
    const lists = [...ids].map((id) => (contributions.get(id)![kind] as ReadonlyMap<string, readonly V[]>).get(name)!)
    into.set(name, lists.length === 1 ? lists[0]! : kind === 'a' ? [...new Set(lists.flat())] : lists.flat())
  }

  function replace(id: string, next: AppRecords | undefined): void {
    const before = contributions.get(id)
    if (before === next) return
    if (next) contributions.set(id, next)
    else contributions.delete(id)
    for (const kind of ['a', 'srv'] as const) {
      const names = new Set([...(before?.[kind].keys() ?? []), ...(next?.[kind].keys() ?? [])])
      for (const name of names) {
        const ids = owners[kind].get(name) ?? new Set<string>()
        if (next?.[kind].has(name)) ids.add(id)
        else ids.delete(id)
        owners[kind].set(name, ids)
        if (kind === 'a') settle(kind, name, a)
        else settle(kind, name, srv)
      }
    }
  }

  replace(STATIC, fixed)
  return {
    update(apps, hostAddresses) {
      const seen = new Set<string>([STATIC])
      for (const app of apps) {
        seen.add(app.id)
        replace(app.id, appRecords(app, suffix, hostAddresses))
      }
      for (const id of [...contributions.keys()]) if (!seen.has(id)) replace(id, undefined)
      return { a, srv }
    },
  }
}

export function buildRecords(apps: readonly DnsApp[], opts: RecordsOptions): Records {
  return createRecordsBuilder(opts).update(apps, opts.hostAddresses)
}
