// The master's state: agents (and those of the registry not yet back), frameworks, offers,
// tasks and the frameworks removed. It changes only through `apply(cmd, at)`, which reads no
// clock and writes the durable part (the agent registry, the frameworks and the removed
// frameworks) to the store, in the order the commands were applied. Readers get the maps.
import type { Logger } from 'pino'
import type { FrameworkInfo } from '../api/mesos.js'
import { resourcesToWire } from '../api/mesos.js'
import { assertNever } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { createWriteQueue } from '../store/write-queue.js'
import type { AgentRecord, FrameworkRecord, MasterCommand, MasterViews, OfferRecord, RecoveredAgent, Refusal, TaskRecord } from './types.js'

export const taskKey = (frameworkId: string, taskId: string): string => `${frameworkId}/${taskId}`

/** The roles a framework asks for: MULTI_ROLE's `roles`, else the legacy `role`. */
export function rolesOf(info: FrameworkInfo): string[] {
  if (info.roles && info.roles.length > 0) return [...new Set(info.roles)]
  return [info.role ?? '*']
}

const MAX_COMPLETED_FRAMEWORKS = 50
const MAX_COMPLETED_TASKS = 1000
const MAX_STATUSES = 10

export interface MasterState extends MasterViews {
  /** Ids of the frameworks removed since this master started. */
  readonly removedFrameworkIds: ReadonlySet<string>
  apply(cmd: MasterCommand, at: number): void
  /** Settles when the store writes of the commands applied so far are done; rejects if the last failed. */
  written(): Promise<void>
  /** Reads the registry and the frameworks from the store, through `apply`; returns the frameworks recovered. */
  load(at: number): Promise<FrameworkRecord[]>
  /** Whether a framework of this id was removed, by this master or an earlier one. */
  wasRemoved(frameworkId: string): Promise<boolean>
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

export function createMasterState(opts: { store: Store; log: Logger }): MasterState {
  const { store, log } = opts
  const agents = new Map<string, Mutable<AgentRecord>>()
  const frameworks = new Map<string, Mutable<FrameworkRecord>>()
  const completedFrameworks: FrameworkRecord[] = []
  const tasks = new Map<string, Mutable<TaskRecord>>()
  const completedTasks: TaskRecord[] = []
  const offers = new Map<string, OfferRecord>()
  const recoveredAgents = new Map<string, RecoveredAgent>()
  const removedFrameworkIds = new Set<string>()

  // Writes reach the store in the order the commands were applied. Nobody need await them.
  const writes = createWriteQueue((e: unknown) => log.error({ err: e }, 'master store write failed'))
  const persist = (fn: () => Promise<void>): void => void writes.persist(fn)
  const putFramework = (f: FrameworkRecord): void => {
    const rec = { id: f.id, info: f.info }
    persist(() => store.put(`frameworks/${rec.id}`, rec))
  }

  function apply(cmd: MasterCommand, at: number): void {
    switch (cmd.type) {
      case 'agents-recovered':
        for (const a of cmd.agents) if (!agents.has(a.id)) recoveredAgents.set(a.id, { ...a })
        return
      case 'recovered-agent-expired': {
        recoveredAgents.delete(cmd.agentId)
        const id = cmd.agentId
        persist(() => store.delete(`agents/${id}`))
        return
      }
      case 'agent-registered': {
        const existing = agents.get(cmd.agentId) ?? recoveredAgents.get(cmd.agentId)
        recoveredAgents.delete(cmd.agentId)
        const agent: AgentRecord = {
          id: cmd.agentId,
          hostname: cmd.hostname,
          ip: cmd.ip,
          port: cmd.port,
          total: cmd.total,
          attributes: cmd.attributes,
          registeredAt: existing?.registeredAt ?? at,
          missedPings: 0,
          version: cmd.version,
          ...(cmd.reregistered ? { reregisteredAt: at } : {}),
        }
        agents.set(agent.id, agent)
        const entry: RecoveredAgent = {
          id: agent.id,
          hostname: agent.hostname,
          ip: agent.ip,
          port: agent.port,
          registeredAt: agent.registeredAt,
          resources: resourcesToWire(agent.total),
          attributes: [...agent.attributes],
        }
        persist(() => store.put(`agents/${entry.id}`, entry))
        return
      }
      case 'agent-ping-answered': {
        const a = agents.get(cmd.agentId)
        if (a) a.missedPings = 0
        return
      }
      case 'agent-ping-missed': {
        const a = agents.get(cmd.agentId)
        if (a) a.missedPings++
        return
      }
      case 'agent-unreachable': {
        const a = agents.get(cmd.agentId)
        if (a) a.unreachableSince = at
        return
      }
      case 'framework-recovered':
        frameworks.set(cmd.frameworkId, { id: cmd.frameworkId, info: cmd.info, roles: rolesOf(cmd.info), suppressedRoles: new Set(), refusals: new Map(), registeredAt: at })
        return
      case 'framework-subscribed': {
        const known = frameworks.get(cmd.frameworkId)
        const f: Mutable<FrameworkRecord> = known ?? { id: cmd.frameworkId, info: cmd.info, roles: [], suppressedRoles: new Set(), refusals: new Map(), registeredAt: at }
        f.info = cmd.info
        f.roles = rolesOf(cmd.info)
        if (known || cmd.resubscribed) f.reregisteredAt = at
        f.suppressedRoles = new Set(cmd.suppressedRoles)
        f.refusals = new Map()
        frameworks.set(f.id, f)
        putFramework(f)
        return
      }
      case 'framework-connected': {
        const f = frameworks.get(cmd.frameworkId)
        if (f) f.stream = { streamId: cmd.streamId }
        return
      }
      case 'framework-disconnected': {
        const f = frameworks.get(cmd.frameworkId)
        if (f) delete f.stream
        return
      }
      case 'framework-updated': {
        const f = frameworks.get(cmd.frameworkId)
        if (!f) return
        f.info = cmd.info
        f.roles = rolesOf(cmd.info)
        putFramework(f)
        return
      }
      case 'framework-removed': {
        const f = frameworks.get(cmd.frameworkId)
        if (!f) return
        frameworks.delete(cmd.frameworkId)
        removedFrameworkIds.add(cmd.frameworkId)
        f.unregisteredAt = at
        completedFrameworks.push(f)
        if (completedFrameworks.length > MAX_COMPLETED_FRAMEWORKS) completedFrameworks.shift()
        const id = f.id
        persist(async () => {
          await store.delete(`frameworks/${id}`)
          await store.put(`removed-frameworks/${id}`, { at })
        })
        return
      }
      case 'refusal-added': {
        const f = frameworks.get(cmd.frameworkId)
        if (!f || cmd.refuseSeconds <= 0) return
        const others = (f.refusals.get(cmd.agentId) ?? []).filter((r) => r.role !== cmd.role)
        f.refusals = new Map(f.refusals).set(cmd.agentId, [...others, { role: cmd.role, resources: cmd.resources, until: at + cmd.refuseSeconds * 1000 }])
        return
      }
      case 'roles-suppressed': {
        const f = frameworks.get(cmd.frameworkId)
        if (f) f.suppressedRoles = new Set([...f.suppressedRoles, ...cmd.roles])
        return
      }
      case 'roles-revived': {
        const f = frameworks.get(cmd.frameworkId)
        if (!f) return
        const revived = new Set(cmd.roles)
        f.suppressedRoles = new Set([...f.suppressedRoles].filter((r) => !revived.has(r)))
        const kept = new Map<string, readonly Refusal[]>()
        for (const [agentId, list] of f.refusals) {
          const left = list.filter((r) => !revived.has(r.role))
          if (left.length > 0) kept.set(agentId, left)
        }
        f.refusals = kept
        return
      }
      case 'offer-created':
        offers.set(cmd.offer.id, { ...cmd.offer, createdAt: at })
        return
      case 'offer-removed':
        offers.delete(cmd.offerId)
        return
      case 'task-added':
        tasks.set(taskKey(cmd.task.frameworkId, cmd.task.taskId), { ...cmd.task })
        return
      case 'task-status': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (!t) return
        t.state = cmd.status.state
        if (cmd.latestState !== undefined && cmd.latestState !== cmd.status.state) t.latestState = cmd.latestState
        else delete t.latestState
        // As Mesos' Master::updateTask: a status of the same state as the latest one (a re-sent
        // update, a health change) replaces it, so the list keeps one status per transition.
        const kept = t.statuses.at(-1)?.state === cmd.status.state ? t.statuses.slice(0, -1) : t.statuses
        t.statuses = [...kept, cmd.status].slice(-MAX_STATUSES)
        if (cmd.status.uuid) t.pendingUuid = cmd.status.uuid
        return
      }
      case 'task-state-reported': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (t) t.state = cmd.state
        return
      }
      case 'task-acknowledged': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (t?.pendingUuid === cmd.uuid) delete t.pendingUuid
        return
      }
      case 'task-removed': {
        const k = taskKey(cmd.frameworkId, cmd.taskId)
        const t = tasks.get(k)
        if (!t) return
        tasks.delete(k)
        completedTasks.push(t)
        if (completedTasks.length > MAX_COMPLETED_TASKS) completedTasks.shift()
        return
      }
      default:
        assertNever(cmd)
    }
  }

  return {
    agents,
    frameworks,
    completedFrameworks,
    tasks,
    completedTasks,
    offers,
    recoveredAgents,
    removedFrameworkIds,
    apply,
    written: writes.written,
    async load(at) {
      const recovered: FrameworkRecord[] = []
      for (const [, rec] of await store.list<{ id: string; info: FrameworkInfo }>('frameworks/')) {
        apply({ type: 'framework-recovered', frameworkId: rec.id, info: rec.info }, at)
        const f = frameworks.get(rec.id)
        if (f) recovered.push(f)
      }
      const registry = await store.list<RecoveredAgent>('agents/')
      apply({ type: 'agents-recovered', agents: registry.map(([, a]) => a) }, at)
      return recovered
    },
    async wasRemoved(frameworkId) {
      if (removedFrameworkIds.has(frameworkId)) return true
      return (await store.get(`removed-frameworks/${frameworkId}`)) !== undefined
    },
  }
}
