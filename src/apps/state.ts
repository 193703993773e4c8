// The apps framework's state: apps (their current target and every version), instances,
// deployments, launch delays and the event subscribers' callback URLs. It changes only through `apply`, which also writes the
// change to the store, in order; readers get the maps.
import type { Logger } from 'pino'
import { assertNever } from '../core/errors.js'
import type { BatchStore, Store, StoreWrite } from '../store/store.js'
import { createWriteQueue } from '../store/write-queue.js'
import type { GroupSpec } from './groups.js'
import type { AppDefinition, DeploymentPlan, Instance } from './types.js'
import { LAUNCHING } from './types.js'

export interface DeploymentRecord extends DeploymentPlan {
  /** Index of the step being carried out. */
  currentStep: number
  startedAt: string
}

export interface LaunchDelay {
  /** Config version the delay applies to: a new config starts without delay. */
  configVersion: string
  failures: number
  /** Epoch ms before which no instance of the app is launched. */
  until: number
}

export interface TaskFailure {
  appId: string
  host: string
  message: string
  state: string
  taskId: string
  timestamp: string
  version: string
  slaveId: string
}

export type AppsCommand =
  | { type: 'framework-id'; frameworkId: string }
  | { type: 'app-put'; app: AppDefinition }
  | { type: 'app-removed'; appId: string }
  | { type: 'instance-put'; instance: Instance }
  | { type: 'instance-removed'; instanceId: string }
  | { type: 'deployment-put'; deployment: DeploymentRecord }
  | { type: 'deployment-removed'; deploymentId: string }
  | { type: 'delay-put'; appId: string; delay: LaunchDelay }
  | { type: 'delay-removed'; appId: string }
  | { type: 'task-failure'; failure: TaskFailure }
  | { type: 'group-put'; group: GroupSpec }
  | { type: 'group-removed'; groupId: string }
  | { type: 'subscription-put'; callbackUrl: string }
  | { type: 'subscription-removed'; callbackUrl: string }

const enc = (id: string): string => encodeURIComponent(id)

export interface AppsState {
  frameworkId?: string
  readonly apps: ReadonlyMap<string, AppDefinition>
  readonly instances: ReadonlyMap<string, Instance>
  readonly deployments: ReadonlyMap<string, DeploymentRecord>
  readonly delays: ReadonlyMap<string, LaunchDelay>
  readonly lastFailures: ReadonlyMap<string, TaskFailure>
  /** Groups created through /v2/groups, with the dependencies they declare for their apps. */
  readonly groups: ReadonlyMap<string, GroupSpec>
  /** Callback URLs of /v2/eventSubscriptions, in the order they subscribed. */
  readonly eventSubscriptions: ReadonlySet<string>
  apply(cmd: AppsCommand): Promise<void>
  /**
   * Runs `fn` with the writes of the commands it applies held back and sent to the store at
   * its end, together (in one transaction, where the store has them); its applies answer at
   * once. For a burst of status updates, one SQLite commit instead of one an update.
   */
  batch<T>(fn: () => Promise<T>): Promise<T>
  /** Runs `fn` once every write of the commands applied so far is done (or failed): after the batch, inside one. */
  afterWrites(fn: () => void): void
  load(): Promise<void>
  versions(appId: string): Promise<string[]>
  version(appId: string, version: string): Promise<AppDefinition | undefined>
  instancesOf(appId: string): Instance[]
  /**
   * Changes whenever one of the app's instances is put or removed, and never comes back to an
   * earlier value: what was derived from an app's instances holds while this is the same.
   */
  instancesRevision(appId: string): number
  /** The deployment that changes the app, if one does (the first begun, should two). */
  deploymentOf(appId: string): DeploymentRecord | undefined
  /** The ids of the apps that have instances. */
  instanceAppIds(): Iterable<string>
  /** The instances placed on the agent, of every app. */
  instancesOnAgent(agentId: string): Iterable<Instance>
  /** How many instances are launched and have not yet run or ended (Provisioned, Staging, Starting), of every app. */
  launchesInFlight(): number
  byTaskId(taskId: string): Instance | undefined
}

/** The versions of an app kept, as Marathon's --zk_max_versions (50). */
export const DEFAULT_MAX_VERSIONS = 50

export function createAppsState(opts: { store: Store; log: Logger; maxVersions?: number }): AppsState {
  const { store } = opts
  const maxVersions = opts.maxVersions ?? DEFAULT_MAX_VERSIONS
  const apps = new Map<string, AppDefinition>()
  const instances = new Map<string, Instance>()
  const byTask = new Map<string, string>()
  // Each app's instances, in the order of `instances`, so that an app's are found without a scan.
  const byApp = new Map<string, Map<string, Instance>>()
  // One counter for every app, so that an app removed and made again starts past its old revisions.
  let revision = 0
  const revisions = new Map<string, number>()
  const touch = (appId: string): void => void revisions.set(appId, ++revision)
  const byAgent = new Map<string, Map<string, Instance>>()
  let inFlight = 0
  const unindex = (i: Instance): void => {
    touch(i.appId)
    if (LAUNCHING.has(i.condition)) inFlight--
    byTask.delete(i.taskId)
    const own = byApp.get(i.appId)
    own?.delete(i.instanceId)
    if (own?.size === 0) byApp.delete(i.appId)
    const on = byAgent.get(i.agentId)
    on?.delete(i.instanceId)
    if (on?.size === 0) byAgent.delete(i.agentId)
  }
  const putInstance = (i: Instance): void => {
    const prev = instances.get(i.instanceId)
    if (prev && prev.taskId !== i.taskId) byTask.delete(prev.taskId)
    if (prev && prev.appId !== i.appId) {
      // One that moves to another app goes to the end of both maps, so that they keep one order.
      unindex(prev)
      instances.delete(i.instanceId)
    } else if (prev) {
      if (LAUNCHING.has(prev.condition)) inFlight--
      if (prev.agentId !== i.agentId) {
        byAgent.get(prev.agentId)?.delete(i.instanceId)
        if (byAgent.get(prev.agentId)?.size === 0) byAgent.delete(prev.agentId)
      }
    }
    if (LAUNCHING.has(i.condition)) inFlight++
    instances.set(i.instanceId, i)
    touch(i.appId)
    byTask.set(i.taskId, i.instanceId)
    let own = byApp.get(i.appId)
    if (!own) byApp.set(i.appId, (own = new Map()))
    own.set(i.instanceId, i)
    let on = byAgent.get(i.agentId)
    if (!on) byAgent.set(i.agentId, (on = new Map()))
    on.set(i.instanceId, i)
  }
  const deployments = new Map<string, DeploymentRecord>()
  // Each app's deployment, made again from `deployments` after they change.
  let deploymentByApp: Map<string, DeploymentRecord> | undefined
  const delays = new Map<string, LaunchDelay>()
  const lastFailures = new Map<string, TaskFailure>()
  const groups = new Map<string, GroupSpec>()
  const eventSubscriptions = new Set<string>()
  // Writes reach the store in the order the commands were applied; apply answers once its own are done.
  const writes = createWriteQueue((e: unknown) => opts.log.error({ err: e }, 'apps store write failed'))
  const canBatch = (s: Store): s is BatchStore => typeof (s as Partial<BatchStore>).batch === 'function'
  const writeAll = async (ws: readonly StoreWrite[]): Promise<void> => {
    if (ws.length > 1 && canBatch(store)) return store.batch(ws)
    for (const w of ws) await (w.op === 'put' ? store.put(w.key, w.value) : store.delete(w.key))
  }
  // The writes held back by the running batch, and what waits for them.
  let held: { writes: StoreWrite[]; after: Array<() => void> } | undefined
  const release = (): void => {
    if (!held || held.writes.length === 0) return
    const ws = held.writes
    held.writes = []
    void writes.persist(() => writeAll(ws)).catch(() => undefined)
  }
  /** A write of the store's own keys: held back while a batch runs. */
  const put = (key: string, value: unknown): Promise<void> => record({ op: 'put', key, value })
  const del = (key: string): Promise<void> => record({ op: 'delete', key })
  const record = (w: StoreWrite): Promise<void> => {
    if (!held) return writes.persist(() => writeAll([w]))
    held.writes.push(w)
    return Promise.resolve()
  }
  /** A write that reads the store too: what the batch holds goes first, so that the order stays. */
  const persist = (fn: () => Promise<void>): Promise<void> => {
    release()
    return writes.persist(fn)
  }

  const state: AppsState = {
    apps,
    instances,
    deployments,
    delays,
    lastFailures,
    groups,
    eventSubscriptions,
    async apply(cmd) {
      switch (cmd.type) {
        case 'framework-id':
          state.frameworkId = cmd.frameworkId
          return put('apps/framework-id', cmd.frameworkId)
        case 'app-put': {
          apps.set(cmd.app.id, cmd.app)
          const app = cmd.app
          return persist(async () => {
            await store.put(`apps/current/${enc(app.id)}`, app)
            await store.put(`apps/versions/${enc(app.id)}/${app.version}`, app)
            const versions = await store.list(`apps/versions/${enc(app.id)}/`)
            for (const [k] of versions.slice(0, Math.max(0, versions.length - maxVersions))) await store.delete(k)
          })
        }
        case 'app-removed': {
          apps.delete(cmd.appId)
          delays.delete(cmd.appId)
          lastFailures.delete(cmd.appId)
          const id = cmd.appId
          return persist(async () => {
            await store.delete(`apps/current/${enc(id)}`)
            await store.delete(`apps/delay/${enc(id)}`)
            await store.delete(`apps/failures/${enc(id)}`)
            for (const [k] of await store.list(`apps/versions/${enc(id)}/`)) await store.delete(k)
          })
        }
        case 'instance-put': {
          putInstance(cmd.instance)
          return put(`apps/instances/${enc(cmd.instance.instanceId)}`, cmd.instance)
        }
        case 'instance-removed': {
          const prev = instances.get(cmd.instanceId)
          if (prev) unindex(prev)
          instances.delete(cmd.instanceId)
          return del(`apps/instances/${enc(cmd.instanceId)}`)
        }
        case 'deployment-put': {
          deployments.set(cmd.deployment.id, cmd.deployment)
          deploymentByApp = undefined
          return put(`apps/deployments/${cmd.deployment.id}`, cmd.deployment)
        }
        case 'deployment-removed': {
          deployments.delete(cmd.deploymentId)
          deploymentByApp = undefined
          return del(`apps/deployments/${cmd.deploymentId}`)
        }
        case 'delay-put': {
          delays.set(cmd.appId, cmd.delay)
          return put(`apps/delay/${enc(cmd.appId)}`, cmd.delay)
        }
        case 'delay-removed': {
          delays.delete(cmd.appId)
          return del(`apps/delay/${enc(cmd.appId)}`)
        }
        case 'task-failure': {
          // Kept like Marathon's TaskFailureRepository: lastTaskFailure survives a restart.
          lastFailures.set(cmd.failure.appId, cmd.failure)
          return put(`apps/failures/${enc(cmd.failure.appId)}`, cmd.failure)
        }
        case 'group-put': {
          groups.set(cmd.group.id, cmd.group)
          return put(`apps/groups/${enc(cmd.group.id)}`, cmd.group)
        }
        case 'group-removed': {
          groups.delete(cmd.groupId)
          return del(`apps/groups/${enc(cmd.groupId)}`)
        }
        case 'subscription-put':
        case 'subscription-removed': {
          if (cmd.type === 'subscription-put') eventSubscriptions.add(cmd.callbackUrl)
          else eventSubscriptions.delete(cmd.callbackUrl)
          // One record holds the whole list, as Marathon keeps its EventSubscribers, in subscription order.
          return put('apps/event-subscriptions', [...eventSubscriptions])
        }
        default:
          assertNever(cmd)
      }
    },
    async batch(fn) {
      if (held) return fn()
      held = { writes: [], after: [] }
      const mine = held
      try {
        return await fn()
      } finally {
        release()
        held = undefined
        const done = (): void => {
          for (const f of mine.after) f()
        }
        void writes.written().then(done, done)
      }
    },
    afterWrites(fn) {
      if (held) held.after.push(fn)
      else void writes.written().then(fn, fn)
    },
    async load() {
      const fid = await store.get<string>('apps/framework-id')
      if (fid) state.frameworkId = fid
      for (const [, app] of await store.list<AppDefinition>('apps/current/')) apps.set(app.id, app)
      for (const [, inst] of await store.list<Instance>('apps/instances/')) putInstance(inst)
      for (const [, d] of await store.list<DeploymentRecord>('apps/deployments/')) deployments.set(d.id, d)
      deploymentByApp = undefined
      for (const [, g] of await store.list<GroupSpec>('apps/groups/')) groups.set(g.id, g)
      for (const url of (await store.get<string[]>('apps/event-subscriptions')) ?? []) eventSubscriptions.add(url)
      for (const [k, d] of await store.list<LaunchDelay>('apps/delay/')) delays.set(decodeURIComponent(k.slice('apps/delay/'.length)), d)
      for (const [, f] of await store.list<TaskFailure>('apps/failures/')) lastFailures.set(f.appId, f)
      opts.log.info({ apps: apps.size, instances: instances.size, deployments: deployments.size, eventSubscriptions: eventSubscriptions.size }, 'loaded apps state')
    },
    async versions(appId) {
      await writes.written()
      return (await store.list(`apps/versions/${enc(appId)}/`)).map(([k]) => k.slice(`apps/versions/${enc(appId)}/`.length)).reverse()
    },
    async version(appId, version) {
      await writes.written()
      return store.get<AppDefinition>(`apps/versions/${enc(appId)}/${version}`)
    },
    instancesOf(appId) {
      return [...(byApp.get(appId)?.values() ?? [])]
    },
    instancesRevision: (appId) => revisions.get(appId) ?? 0,
    deploymentOf(appId) {
      if (!deploymentByApp) {
        deploymentByApp = new Map()
        for (const d of deployments.values()) for (const id of d.affectedApps) if (!deploymentByApp.has(id)) deploymentByApp.set(id, d)
      }
      return deploymentByApp.get(appId)
    },
    instanceAppIds: () => byApp.keys(),
    instancesOnAgent: (agentId) => byAgent.get(agentId)?.values() ?? [],
    launchesInFlight: () => inFlight,
    byTaskId(taskId) {
      const id = byTask.get(taskId)
      return id ? instances.get(id) : undefined
    },
  }
  return state
}
