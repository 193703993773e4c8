// The options of each process subcommand, as commander hands them to its action (durations
// already in milliseconds).
export interface MasterFlags {
  ip: string
  port: number
  hostname?: string
  workDir: string
  allocationInterval: number
  offerTimeout: number
  agentPingTimeout: number
  maxAgentPingTimeouts: number
  agentReregisterTimeout: number
  heartbeatInterval: number
  weights: string
  maxBodyBytes: number
  logLevel: string
  /** etcd://… to lead through etcd (the default keeps the state in SQLite in the work dir). */
  store?: string
  /** With etcd: the TTL of the leader's lease, in ms. */
  leaderLease: number
}

export interface AgentFlags {
  master: string
  ip: string
  port: number
  hostname?: string
  workDir: string
  resources?: string
  attributes: string
  containerizers: string
  statusUpdateRetry: number
  maxBodyBytes: number
  logLevel: string
  /** Agents run by this process (hollow agents for scale benchmarks); 1 unless given. */
  count?: number
  /** With count: agent i is `<prefix><i>`. */
  hostnamePrefix?: string
  /** With count: agent i listens on portBase + i (else each on a free port, with --port 0). */
  portBase?: number
  /** The hollow containerizer's delays in ms ("5" or "0-10"). */
  hollowStartMs?: string
  hollowCheckMs?: string
}

export interface AppsFlags {
  master: string
  ip: string
  port: number
  hostname?: string
  workDir: string
  frameworkName: string
  reconciliationInterval: number
  maxBodyBytes: number
  /** At most this many instances launched and not yet running, of all apps. */
  maxLaunchesInFlight: number
  logLevel: string
  /** etcd://… to run several instances, one leading (the default keeps the state in SQLite in the work dir). */
  store?: string
  /** With etcd: the TTL of the leader's lease, in ms. */
  leaderLease: number
}

export interface DnsFlags {
  apps: string
  host: string
  port: number
  domain: string
  framework: string
  masterIp: string
  ttl: number
  http: boolean
  httpPort: number
  logLevel: string
}

export interface LbFlags {
  alwaysReload?: boolean
  apps: string
  group: string
  bindAddress: string
  httpPort: number
  httpsPort?: number
  appIdPort?: number
  sslCerts?: string
  strictMode?: boolean
  statsPort: number
  workDir: string
  haproxy: string
  logLevel: string
}

export interface ZddFlags {
  apps: string
  lb: string
  /** zdd.py's names for --apps and --lb, and its -j for the definition. */
  marathon?: string
  marathonLb?: string
  json?: string
  initialInstances: number
  newInstances: number
  stepDelay: number
  maxWait: number
  resume: boolean
  completeCur: boolean
  completePrev: boolean
  force: boolean
  dryRun: boolean
  preKillHook?: string
}

export interface UpFlags {
  workDir: string
  resources?: string
  masterPort: number
  agentPort: number
  appsPort: number
  lbHttpPort: number
  lbStatsPort: number
  lb: boolean
  keepTasks: boolean
  logLevel: string
  /** Three etcd members, three masters and two dromos apps, each its own process. */
  ha: boolean
  etcdPort: number
}
