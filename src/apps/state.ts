// The apps framework's state: apps (their current target and every version), instances,
// deployments, launch delays and the event subscribers' callback URLs. It changes only through `apply`, which also writes the
// change to the store, in order; readers get the maps.
import type { Logger } from 'pino'
import { assertNever } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { createWriteQueue } from '../store/write-queue.js'
import type { GroupSpec } from './groups.js'
import type { AppDefinition, DeploymentPlan, Instance } from './types.js'

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
  load(): Promise<void>
  versions(appId: string): Promise<string[]>
  version(appId: string, version: string): Promise<AppDefinition | undefined>
  instancesOf(appId: string): Instance[]
  byTaskId(taskId: string): Instance | undefined
}

export function createAppsState(opts: { store: Store; log: Logger; maxVersions?: number }): AppsState {
  const { store } = opts
  const maxVersions = opts.maxVersions ?? 50
  const apps = new Map<string, AppDefinition>()
  const instances = new Map<string, Instance>()
  const byTask = new Map<string, string>()
  const deployments = new Map<string, DeploymentRecord>()
  const delays = new Map<string, LaunchDelay>()
  const lastFailures = new Map<string, TaskFailure>()
  const groups = new Map<string, GroupSpec>()
  const eventSubscriptions = new Set<string>()
  // Writes reach the store in the order the commands were applied; apply answers once its own are done.
  const writes = createWriteQueue((e: unknown) => opts.log.error({ err: e }, 'apps store write failed'))
  const persist = (fn: () => Promise<void>): Promise<void> => writes.persist(fn)

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
          return persist(() => store.put('apps/framework-id', cmd.frameworkId))
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
          const prev = instances.get(cmd.instance.instanceId)
          if (prev && prev.taskId !== cmd.instance.taskId) byTask.delete(prev.taskId)
          instances.set(cmd.instance.instanceId, cmd.instance)
          byTask.set(cmd.instance.taskId, cmd.instance.instanceId)
          const inst = cmd.instance
          return persist(() => store.put(`apps/instances/${enc(inst.instanceId)}`, inst))
        }
        case 'instance-removed': {
          const prev = instances.get(cmd.instanceId)
          if (prev) byTask.delete(prev.taskId)
          instances.delete(cmd.instanceId)
          const id = cmd.instanceId
          return persist(() => store.delete(`apps/instances/${enc(id)}`))
        }
        case 'deployment-put': {
          deployments.set(cmd.deployment.id, cmd.deployment)
          const d = cmd.deployment
          return persist(() => store.put(`apps/deployments/${d.id}`, d))
        }
        case 'deployment-removed': {
          deployments.delete(cmd.deploymentId)
          const id = cmd.deploymentId
          return persist(() => store.delete(`apps/deployments/${id}`))
        }
        case 'delay-put': {
          delays.set(cmd.appId, cmd.delay)
          const { appId, delay } = cmd
          return persist(() => store.put(`apps/delay/${enc(appId)}`, delay))
        }
        case 'delay-removed': {
          delays.delete(cmd.appId)
          const id = cmd.appId
          return persist(() => store.delete(`apps/delay/${enc(id)}`))
        }
        case 'task-failure': {
          // Kept like Marathon's TaskFailureRepository: lastTaskFailure survives a restart.
          lastFailures.set(cmd.failure.appId, cmd.failure)
          const f = cmd.failure
          return persist(() => store.put(`apps/failures/${enc(f.appId)}`, f))
        }
        case 'group-put': {
          groups.set(cmd.group.id, cmd.group)
          const g = cmd.group
          return persist(() => store.put(`apps/groups/${enc(g.id)}`, g))
        }
        case 'group-removed': {
          groups.delete(cmd.groupId)
          const id = cmd.groupId
          return persist(() => store.delete(`apps/groups/${enc(id)}`))
        }
        case 'subscription-put':
        case 'subscription-removed': {
          if (cmd.type === 'subscription-put') eventSubscriptions.add(cmd.callbackUrl)
          else eventSubscriptions.delete(cmd.callbackUrl)
          // One record holds the whole list, as Marathon keeps its EventSubscribers, in subscription order.
          const urls = [...eventSubscriptions]
          return persist(() => store.put('apps/event-subscriptions', urls))
        }
        default:
          assertNever(cmd)
      }
    },
    async load() {
      const fid = await store.get<string>('apps/framework-id')
      if (fid) state.frameworkId = fid
      for (const [, app] of await store.list<AppDefinition>('apps/current/')) apps.set(app.id, app)
      for (const [, inst] of await store.list<Instance>('apps/instances/')) {
        instances.set(inst.instanceId, inst)
        byTask.set(inst.taskId, inst.instanceId)
      }
      for (const [, d] of await store.list<DeploymentRecord>('apps/deployments/')) deployments.set(d.id, d)
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
      return [...instances.values()].filter((i) => i.appId === appId)
    },
    byTaskId(taskId) {
      const id = byTask.get(taskId)
      return id ? instances.get(id) : undefined
    },
  }
  return state
}
