// The master's state: agents (and those of the registry not yet back), frameworks, offers,
// tasks and the frameworks removed. It changes only through `apply(cmd, at)`, which reads no
// clock and writes the durable part (the agent registry, the frameworks and the removed
// frameworks) to the store, in the order the commands were applied. Readers get the maps.
import type { Logger } from 'pino'
import type { FrameworkInfo } from '../api/mesos.js'
import { resourcesToWire } from '../api/mesos.js'
import { assertNever } from '../core/errors.js'
import type { Resources } from '../core/resources.js'
import { EMPTY, subtract } from '../core/resources.js'
import type { Tally } from '../core/tally.js'
import { createTally } from '../core/tally.js'
import { isTerminal } from '../core/task-state.js'
import type { Store } from '../store/store.js'
import { createWriteQueue } from '../store/write-queue.js'
import { shareTotal } from './allocator.js'
import type { AgentRecord, FrameworkRecord, MasterCommand, MasterViews, OfferRecord, RecoveredAgent, Refusal, TaskRecord } from './types.js'

export const taskKey = (frameworkId: string, taskId: string): string => `${frameworkId}/${taskId}`

/** A task holds its resources until it has ended on its agent, whatever the framework was told. */
export function ended(t: Pick<TaskRecord, 'state' | 'latestState'>): boolean {
  return isTerminal(t.latestState ?? t.state)
}

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
  /**
   * What of the agent is neither used by its tasks nor held in its offers: the same object while
   * the agent's total, use and offers stay the same, so that an allocation pass over 10,000
   * agents subtracts only for those that changed since the last. EMPTY for an unknown agent.
   */
  agentFree(agentId: string): Resources
  /** The active agents' totals in the scalars shares are taken of (shareTotal), kept until an agent comes, goes or changes. */
  activeAgentsTotal(): Resources
  /** Settles when the store writes of the commands applied so far are done; rejects if the last failed. */
  written(): Promise<void>
  /** Reads the registry and the frameworks from the store, through `apply`; returns the frameworks recovered. */
  load(at: number): Promise<FrameworkRecord[]>
  /** Whether a framework of this id was removed, by this master or an earlier one. */
  wasRemoved(frameworkId: string): Promise<boolean>
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
type FrameworkEntry = Omit<Mutable<FrameworkRecord>, 'refusals'> & { refusals: Map<string, readonly Refusal[]> }

/**
 * What the tasks and offers of one agent, or of one framework, add up to, kept by `apply` as
 * they come, change and go, so that a reader pays for one agent what that agent holds, not what
 * the cluster holds. Keyed by id whether or not the agent or framework is known: an agent may
 * report tasks of a framework the master does not know (yet).
 */
interface Holdings {
  readonly taskKeys: Set<string>
  readonly offerIds: Set<string>
  /** Per role for a framework; one entry, under '', for an agent. */
  readonly used: Map<string, Tally>
  readonly offered: Map<string, Tally>
}

const newHoldings = (): Holdings => ({ taskKeys: new Set(), offerIds: new Set(), used: new Map(), offered: new Map() })

function tallyOf(m: Map<string, Tally>, role: string): Tally {
  let t = m.get(role)
  if (!t) m.set(role, (t = createTally()))
  return t
}

function takeBack(m: Map<string, Tally>, role: string, r: Resources): void {
  const t = m.get(role)
  if (!t) return
  t.remove(r)
  if (t.empty) m.delete(role)
}

const totalsOf = (m: ReadonlyMap<string, Tally> | undefined): ReadonlyMap<string, Resources> => new Map([...(m ?? [])].map(([role, t]) => [role, t.total()]))

export function createMasterState(opts: { store: Store; log: Logger }): MasterState {
  const { store, log } = opts
  const agents = new Map<string, Mutable<AgentRecord>>()
  const frameworks = new Map<string, FrameworkEntry>()
  const completedFrameworks: FrameworkRecord[] = []
  const tasks = new Map<string, Mutable<TaskRecord>>()
  const completedTasks: TaskRecord[] = []
  const offers = new Map<string, OfferRecord>()
  const recoveredAgents = new Map<string, RecoveredAgent>()
  const unreachableAgents = new Map<string, RecoveredAgent>()
  const removedFrameworkIds = new Set<string>()
  const byAgent = new Map<string, Holdings>()
  const byFramework = new Map<string, Holdings>()
  const taskCounts = new Map<string, number>()

  const holdings = (m: Map<string, Holdings>, id: string): Holdings => {
    let h = m.get(id)
    if (!h) m.set(id, (h = newHoldings()))
    return h
  }
  const dropIfEmpty = (m: Map<string, Holdings>, id: string): void => {
    const h = m.get(id)
    if (h && h.taskKeys.size === 0 && h.offerIds.size === 0) m.delete(id)
  }
  // A task's part in the sums and counts: taken out before `apply` changes it, put back after.
  const countTask = (t: TaskRecord, sign: 1 | -1): void => {
    taskCounts.set(t.state, (taskCounts.get(t.state) ?? 0) + sign)
    if (taskCounts.get(t.state) === 0) taskCounts.delete(t.state)
    if (ended(t)) return
    if (sign > 0) {
      tallyOf(holdings(byAgent, t.agentId).used, '').add(t.resources)
      tallyOf(holdings(byFramework, t.frameworkId).used, t.role).add(t.resources)
    } else {
      takeBack(holdings(byAgent, t.agentId).used, '', t.resources)
      takeBack(holdings(byFramework, t.frameworkId).used, t.role, t.resources)
    }
  }
  const addTask = (k: string, t: Mutable<TaskRecord>): void => {
    removeTask(k)
    tasks.set(k, t)
    holdings(byAgent, t.agentId).taskKeys.add(k)
    holdings(byFramework, t.frameworkId).taskKeys.add(k)
    countTask(t, 1)
  }
  function removeTask(k: string): TaskRecord | undefined {
    const t = tasks.get(k)
    if (!t) return undefined
    countTask(t, -1)
    tasks.delete(k)
    holdings(byAgent, t.agentId).taskKeys.delete(k)
    holdings(byFramework, t.frameworkId).taskKeys.delete(k)
    dropIfEmpty(byAgent, t.agentId)
    dropIfEmpty(byFramework, t.frameworkId)
    return t
  }
  /** Changes a task in place, keeping the sums: `fn` may change its state, not its agent, framework, role or resources. */
  const changeTask = (k: string, fn: (t: Mutable<TaskRecord>) => void): void => {
    const t = tasks.get(k)
    if (!t) return
    countTask(t, -1)
    fn(t)
    countTask(t, 1)
  }
  const addOffer = (o: OfferRecord): void => {
    removeOffer(o.id)
    offers.set(o.id, o)
    const a = holdings(byAgent, o.agentId)
    const f = holdings(byFramework, o.frameworkId)
    a.offerIds.add(o.id)
    f.offerIds.add(o.id)
    tallyOf(a.offered, '').add(o.resources)
    tallyOf(f.offered, o.role).add(o.resources)
  }
  function removeOffer(id: string): void {
    const o = offers.get(id)
    if (!o) return
    offers.delete(id)
    const a = holdings(byAgent, o.agentId)
    const f = holdings(byFramework, o.frameworkId)
    a.offerIds.delete(id)
    f.offerIds.delete(id)
    takeBack(a.offered, '', o.resources)
    takeBack(f.offered, o.role, o.resources)
    dropIfEmpty(byAgent, o.agentId)
    dropIfEmpty(byFramework, o.frameworkId)
  }

  // Writes reach the store in the order the commands were applied. Nobody need await them.
  const writes = createWriteQueue((e: unknown) => log.error({ err: e }, 'master store write failed'))
  const persist = (fn: () => Promise<void>): void => void writes.persist(fn)
  const putFramework = (f: FrameworkRecord): void => {
    const rec = { id: f.id, info: f.info }
    persist(() => store.put(`frameworks/${rec.id}`, rec))
  }

  /** What the registry keeps of an agent. */
  const registryEntry = (agent: AgentRecord): RecoveredAgent => ({
    id: agent.id,
    hostname: agent.hostname,
    ip: agent.ip,
    port: agent.port,
    registeredAt: agent.registeredAt,
    resources: resourcesToWire(agent.total),
    attributes: [...agent.attributes],
  })

  function apply(cmd: MasterCommand, at: number): void {
    // Pings change no agent's total nor whether it is active.
    if ((cmd.type.startsWith('agent') || cmd.type === 'recovered-agent-expired') && !cmd.type.startsWith('agent-ping')) activeTotal = undefined
    switch (cmd.type) {
      case 'agents-recovered':
        for (const a of cmd.agents) {
          if (agents.has(a.id)) continue
          if (a.unreachableAt !== undefined) unreachableAgents.set(a.id, { ...a })
          else recoveredAgents.set(a.id, { ...a })
        }
        return
      case 'recovered-agent-expired': {
        const a = recoveredAgents.get(cmd.agentId)
        if (!a) return
        recoveredAgents.delete(cmd.agentId)
        const entry: RecoveredAgent = { ...a, unreachableAt: at }
        unreachableAgents.set(entry.id, entry)
        persist(() => store.put(`agents/${entry.id}`, entry))
        return
      }
      case 'agent-registered': {
        const existing = agents.get(cmd.agentId) ?? recoveredAgents.get(cmd.agentId) ?? unreachableAgents.get(cmd.agentId)
        recoveredAgents.delete(cmd.agentId)
        unreachableAgents.delete(cmd.agentId)
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
        const entry = registryEntry(agent)
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
        if (!a) return
        a.unreachableSince = at
        // In the registry too, so that a new leader knows it for unreachable from the start.
        const entry: RecoveredAgent = { ...registryEntry(a), unreachableAt: at }
        persist(() => store.put(`agents/${entry.id}`, entry))
        return
      }
      case 'framework-recovered':
        frameworks.set(cmd.frameworkId, { id: cmd.frameworkId, info: cmd.info, roles: rolesOf(cmd.info), suppressedRoles: new Set(), refusals: new Map(), registeredAt: at })
        return
      case 'framework-subscribed': {
        const known = frameworks.get(cmd.frameworkId)
        const f: FrameworkEntry = known ?? { id: cmd.frameworkId, info: cmd.info, roles: [], suppressedRoles: new Set(), refusals: new Map(), registeredAt: at }
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
        // In place: a copy per refusal would cost the number of agents on every ACCEPT.
        f.refusals.set(cmd.agentId, [...others, { role: cmd.role, resources: cmd.resources, until: at + cmd.refuseSeconds * 1000 }])
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
        addOffer({ ...cmd.offer, createdAt: at })
        return
      case 'offer-removed':
        removeOffer(cmd.offerId)
        return
      case 'task-added': {
        const k = taskKey(cmd.task.frameworkId, cmd.task.taskId)
        addTask(k, { ...cmd.task })
        return
      }
      case 'task-status':
        changeTask(taskKey(cmd.frameworkId, cmd.taskId), (t) => {
          t.state = cmd.status.state
          if (cmd.latestState !== undefined && cmd.latestState !== cmd.status.state) t.latestState = cmd.latestState
          else delete t.latestState
          // As Mesos' Master::updateTask: a status of the same state as the latest one (a re-sent
          // update, a health change) replaces it, so the list keeps one status per transition.
          const kept = t.statuses.at(-1)?.state === cmd.status.state ? t.statuses.slice(0, -1) : t.statuses
          t.statuses = [...kept, cmd.status].slice(-MAX_STATUSES)
          if (cmd.status.uuid) t.pendingUuid = cmd.status.uuid
        })
        return
      case 'task-state-reported':
        changeTask(taskKey(cmd.frameworkId, cmd.taskId), (t) => {
          t.state = cmd.state
        })
        return
      case 'task-acknowledged': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (t?.pendingUuid === cmd.uuid) delete t.pendingUuid
        return
      }
      case 'task-removed': {
        const t = removeTask(taskKey(cmd.frameworkId, cmd.taskId))
        if (!t) return
        completedTasks.push(t)
        if (completedTasks.length > MAX_COMPLETED_TASKS) completedTasks.shift()
        return
      }
      default:
        assertNever(cmd)
    }
  }

  // The tallies give the same total object until they change.
  const agentUsed = (id: string): Resources => byAgent.get(id)?.used.get('')?.total() ?? EMPTY
  const agentOffered = (id: string): Resources => byAgent.get(id)?.offered.get('')?.total() ?? EMPTY
  let activeTotal: Resources | undefined
  // Per agent record: a registration makes a new record, with its total.
  const free = new WeakMap<AgentRecord, { used: Resources; offered: Resources; free: Resources }>()

  return {
    agents,
    frameworks,
    completedFrameworks,
    tasks,
    completedTasks,
    offers,
    recoveredAgents,
    unreachableAgents,
    removedFrameworkIds,
    agentUsed,
    agentOffered,
    activeAgentsTotal: () => (activeTotal ??= shareTotal([...agents.values()].filter((a) => a.unreachableSince === undefined))),
    agentFree(id) {
      const a = agents.get(id)
      if (!a) return EMPTY
      const used = agentUsed(id)
      const offered = agentOffered(id)
      const kept = free.get(a)
      if (kept && kept.used === used && kept.offered === offered) return kept.free
      const left = subtract(subtract(a.total, used), offered)
      free.set(a, { used, offered, free: left })
      return left
    },
    frameworkUsed: (id) => totalsOf(byFramework.get(id)?.used),
    frameworkOffered: (id) => totalsOf(byFramework.get(id)?.offered),
    tasksOnAgent: (id) => [...(byAgent.get(id)?.taskKeys ?? [])].map((k) => tasks.get(k)!),
    offersOnAgent: (id) => [...(byAgent.get(id)?.offerIds ?? [])].map((o) => offers.get(o)!),
    tasksOfFramework: (id) => [...(byFramework.get(id)?.taskKeys ?? [])].map((k) => tasks.get(k)!),
    offersOfFramework: (id) => [...(byFramework.get(id)?.offerIds ?? [])].map((o) => offers.get(o)!),
    taskCount: (state) => taskCounts.get(state) ?? 0,
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
