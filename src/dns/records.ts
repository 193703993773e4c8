// Mesos-DNS names for the running tasks of the apps, as a pure function: A records
// `<task>.<framework>.<domain>`, SRV records `_<task>._tcp.<framework>.<domain>` whose targets
// name one task each, and `leader.<domain>` / `master.<domain>`.

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
  /** Addresses of the tasks' hosts (resolved by the caller); a task whose host has none gets no record. */
  readonly hostAddresses?: ReadonlyMap<string, string>
}

/** The distinct hosts of the running tasks: what the caller resolves for buildRecords. */
export function hostsOf(apps: readonly DnsApp[]): string[] {
  return [...new Set(apps.flatMap((a) => (a.tasks ?? []).filter((t) => t.state === 'TASK_RUNNING').map((t) => t.host)))]
}

export function buildRecords(apps: readonly DnsApp[], opts: RecordsOptions): Records {
  const a = new Map<string, string[]>()
  const srv = new Map<string, SrvRecord[]>()
  const addA = (name: string, ip: string): void => {
    const list = a.get(name) ?? []
    if (!list.includes(ip)) list.push(ip)
    a.set(name, list)
  }
  const suffix = `${opts.framework}.${opts.domain}`
  addA(`leader.${opts.domain}`, opts.masterIp)
  addA(`master.${opts.domain}`, opts.masterIp)
  for (const app of apps) {
    const name = taskName(app.id)
    if (!name) continue
    const bridged = (app.networks ?? []).some((n) => n.mode !== 'host')
    const protocols = (bridged ? (app.container?.portMappings ?? []) : (app.portDefinitions ?? [])).map((p) => p.protocol ?? 'tcp')
    for (const t of app.tasks ?? []) {
      if (t.state !== 'TASK_RUNNING') continue
      const ip = opts.hostAddresses?.get(t.host)
      if (ip === undefined) continue
      addA(`${name}.${suffix}`, ip)
      // Each task gets a name of its own, so that an SRV record points at exactly one task.
      const short = (t.id.split('.').pop() ?? t.id).slice(0, 8)
      const target = `${name}-${short}.${suffix}`
      addA(target, ip)
      t.ports.forEach((port, i) => {
        for (const proto of (protocols[i] ?? 'tcp').split(',')) {
          const key = `_${name}._${proto.trim()}.${suffix}`
          srv.set(key, [...(srv.get(key) ?? []), { port, target }])
        }
      })
    }
  }
  return { a, srv }
}
