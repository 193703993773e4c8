// The master: agent registry, frameworks, offers, tasks and status update forwarding.
// Decisions that can be pure (allocation) live in their own modules; this file is the shell
// that owns state and does the I/O. Every change of state goes through `apply`.
import type { ServerResponse } from 'node:http'
import type { FrameworkInfo, KillPolicy, SchedulerCall, TaskStatusWire, OfferWire } from '../api/mesos.js'
import { resourcesFromWire, resourcesToWire } from '../api/mesos.js'
import { writeRecord } from '../api/http.js'
import type { AgentCalls, AgentRegisteredWire } from '../api/internal.js'
import { AgentInternalPath, pingPath } from '../api/internal.js'
import { assertNever, BadRequestError, ForbiddenError, NotFoundError } from '../core/errors.js'
import { newUuid } from '../core/ids.js'
import type { Resources } from '../core/resources.js'
import { add, contains, EMPTY, formatResources, isEmpty, subtract } from '../core/resources.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { Allocation } from './allocator.js'
import { allocate } from './allocator.js'
import { validateTask } from './validation.js'
import type { AgentRecord, AgentRegistration, FrameworkRecord, Master, MasterCommand, MasterOptions, OfferRecord, OperatorEvent, RecoveredAgent, TaskRecord } from './types.js'
import { agentV1, frameworkV1, taskV1 } from './views.js'

export const MASTER_VERSION = '1.11.0'

const taskKey = (frameworkId: string, taskId: string): string => `${frameworkId}/${taskId}`

export function createMaster(opts: MasterOptions): Master {
  const { log, clock, store } = opts
  const runId = newUuid()
  const agents = new Map<string, AgentRecord>()
  const frameworks = new Map<string, FrameworkRecord>()
  const completedFrameworks: FrameworkRecord[] = []
  const tasks = new Map<string, TaskRecord>()
  const completedTasks: TaskRecord[] = []
  const offers = new Map<string, OfferRecord>()
  const recoveredAgents = new Map<string, RecoveredAgent>()
  const removedFrameworkIds = new Set<string>()
  const operatorListeners = new Set<(e: OperatorEvent) => void>()
  let agentSeq = 0
  let frameworkSeq = 0
  let offerSeq = 0
  let allocationTimer: NodeJS.Timeout | undefined
  let allocationSoon: NodeJS.Timeout | undefined
  let pingTimer: NodeJS.Timeout | undefined
  let reregisterTimer: NodeJS.Timeout | undefined
  let stopped = false
  const counters = { offersSent: 0, offersRescinded: 0, offersDeclined: 0, updatesForwarded: 0, tasksLaunched: 0, invalidCalls: 0 }
  /** Terminal transitions by state, as Mesos' master/tasks_finished, tasks_failed, … counters. */
  const terminalCounts = new Map<string, number>()
  const countTerminal = (state: string): void => {
    terminalCounts.set(state, (terminalCounts.get(state) ?? 0) + 1)
  }

  const emitOperator = (e: OperatorEvent): void => {
    for (const l of operatorListeners) l(e)
  }

  function apply(cmd: MasterCommand): void {
    switch (cmd.type) {
      case 'agent-registered':
        agents.set(cmd.agent.id, cmd.agent)
        return
      case 'agent-unreachable': {
        const a = agents.get(cmd.agentId)
        if (a) a.unreachableSince = cmd.at
        return
      }
      case 'framework-added':
        frameworks.set(cmd.framework.id, cmd.framework)
        return
      case 'framework-removed': {
        const f = frameworks.get(cmd.frameworkId)
        if (!f) return
        frameworks.delete(cmd.frameworkId)
        removedFrameworkIds.add(cmd.frameworkId)
        f.unregisteredAt = clock.now()
        completedFrameworks.push(f)
        if (completedFrameworks.length > 50) completedFrameworks.shift()
        return
      }
      case 'offer-created':
        offers.set(cmd.offer.id, cmd.offer)
        return
      case 'offer-removed': {
        const o = offers.get(cmd.offerId)
        if (o?.timer) clearTimeout(o.timer)
        offers.delete(cmd.offerId)
        return
      }
      case 'task-added':
        tasks.set(taskKey(cmd.task.frameworkId, cmd.task.taskId), cmd.task)
        return
      case 'task-status': {
        const t = tasks.get(taskKey(cmd.frameworkId, cmd.taskId))
        if (!t) return
        t.state = cmd.status.state
        // As Mesos' Master::updateTask: a status of the same state as the latest one (a re-sent
        // update, a health change) replaces it, so the list keeps one status per transition.
        if (t.statuses.at(-1)?.state === cmd.status.state) t.statuses.pop()
        t.statuses.push(cmd.status)
        if (t.statuses.length > 10) t.statuses.shift()
        if (cmd.status.uuid) t.pendingUuid = cmd.status.uuid
        return
      }
      case 'task-removed': {
        const k = taskKey(cmd.frameworkId, cmd.taskId)
        const t = tasks.get(k)
        if (!t) return
        tasks.delete(k)
        completedTasks.push(t)
        if (completedTasks.length > 1000) completedTasks.shift()
        return
      }
      default:
        assertNever(cmd)
    }
  }

  // ---- resource accounting ----

  function agentUsed(agentId: string): Resources {
    let used: Resources = EMPTY
    for (const t of tasks.values()) if (t.agentId === agentId && !isTerminal(t.state)) used = add(used, t.resources)
    return used
  }

  function agentOffered(agentId: string): Resources {
    let offered: Resources = EMPTY
    for (const o of offers.values()) if (o.agentId === agentId) offered = add(offered, o.resources)
    return offered
  }

  function frameworkAllocated(fid: string): Record<string, Resources> {
    const out: Record<string, Resources> = {}
    for (const t of tasks.values()) {
      if (t.frameworkId === fid && !isTerminal(t.state)) out[t.role] = add(out[t.role] ?? EMPTY, t.resources)
    }
    for (const o of offers.values()) if (o.frameworkId === fid) out[o.role] = add(out[o.role] ?? EMPTY, o.resources)
    return out
  }

  const isActive = (a: AgentRecord): boolean => a.unreachableSince === undefined
  const partitionAware = (f: FrameworkRecord | undefined): boolean =>
    !!f?.info.capabilities.some((c) => c.type === 'PARTITION_AWARE')

  // ---- streams ----

  function send(f: FrameworkRecord, event: Record<string, unknown>): boolean {
    if (!f.stream) return false
    try {
      writeRecord(f.stream.res, event)
      return true
    } catch (e) {
      log.warn({ err: e, frameworkId: f.id }, 'failed to write to framework stream')
      return false
    }
  }

  function statusOf(t: TaskRecord, overrides: Partial<TaskStatusWire> = {}): TaskStatusWire {
    const latest = t.statuses[t.statuses.length - 1]
    const base: TaskStatusWire = {
      task_id: { value: t.taskId },
      state: t.state,
      agent_id: { value: t.agentId },
      timestamp: clock.now() / 1000,
    }
    if (latest?.healthy !== undefined) base.healthy = latest.healthy
    if (latest?.container_status !== undefined) base.container_status = latest.container_status
    if (latest?.message !== undefined) base.message = latest.message
    return { ...base, ...overrides }
  }

  function masterStatus(taskId: string, agentId: string | undefined, state: string, reason: string, message: string): TaskStatusWire {
    const s: TaskStatusWire = { task_id: { value: taskId }, state, source: 'SOURCE_MASTER', reason, message, timestamp: clock.now() / 1000 }
    if (agentId) s.agent_id = { value: agentId }
    return s
  }

  function sendUpdate(f: FrameworkRecord | undefined, status: TaskStatusWire): void {
    if (!f) return
    if (send(f, { type: 'UPDATE', update: { status } })) counters.updatesForwarded++
  }

  // ---- agents ----

  async function agentRequest<P extends keyof AgentCalls>(agent: AgentRecord, path: P, body: AgentCalls[P], timeoutMs = 10_000): Promise<Response> {
    return fetch(`http://${agent.ip}:${agent.port}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  }

  async function registerAgent(reg: AgentRegistration): Promise<AgentRegisteredWire> {
    const now = clock.now()
    const recovered = reg.agent_id ? recoveredAgents.get(reg.agent_id) : undefined
    const existing = reg.agent_id ? (agents.get(reg.agent_id) ?? recovered) : undefined
    const id = reg.agent_id ?? `${runId}-S${agentSeq++}`
    recoveredAgents.delete(id)
    const agent: AgentRecord = {
      id,
      hostname: reg.hostname,
      ip: reg.ip,
      port: reg.port,
      total: reg.resources,
      attributes: reg.attributes,
      registeredAt: existing?.registeredAt ?? now,
      missedPings: 0,
      version: reg.version ?? MASTER_VERSION,
      ...(reg.agent_id ? { reregisteredAt: now } : {}),
    }
    // Offers made from the agent's old resources are no longer valid.
    for (const o of [...offers.values()]) if (o.agentId === id) rescind(o)
    apply({ type: 'agent-registered', agent })
    const entry: RecoveredAgent = { id, hostname: agent.hostname, ip: agent.ip, port: agent.port, registeredAt: agent.registeredAt, resources: resourcesToWire(agent.total), attributes: agent.attributes }
    await store.put(`agents/${id}`, entry)

    // The agent's report is the truth about its tasks. Tasks the master thought were there and
    // that the agent does not know are gone.
    const reported = new Set<string>()
    for (const t of reg.tasks) {
      const k = taskKey(t.framework_id, t.task_info.task_id.value)
      reported.add(k)
      const known = tasks.get(k)
      const wasUnreachable = known?.state === TaskState.UNREACHABLE || known?.state === TaskState.LOST
      if (known) {
        // What the agent reports wins, even over the LOST the master decided while it was away.
        if (t.status && t.status.state === t.state) updateTask(known, t.status, { fromAgentReport: true })
        else known.state = t.state
      } else {
        apply({
          type: 'task-added',
          task: {
            taskId: t.task_info.task_id.value,
            frameworkId: t.framework_id,
            agentId: id,
            role: frameworks.get(t.framework_id)?.roles[0] ?? '*',
            info: t.task_info,
            resources: resourcesFromWire(t.task_info.resources),
            state: t.state,
            statuses: t.status ? [t.status] : [],
          },
        })
      }
      if (wasUnreachable) {
        const task = tasks.get(k)!
        sendUpdate(frameworks.get(t.framework_id), statusOf(task, { source: 'SOURCE_MASTER', reason: 'REASON_AGENT_REREGISTERED', message: 'Agent re-registered' }))
      }
    }
    for (const t of [...tasks.values()]) {
      if (t.agentId !== id || reported.has(taskKey(t.frameworkId, t.taskId))) continue
      const f = frameworks.get(t.frameworkId)
      const state = partitionAware(f) ? TaskState.GONE : TaskState.LOST
      const status = masterStatus(t.taskId, id, state, 'REASON_AGENT_REREGISTERED', 'Task is unknown to the agent after it re-registered')
      updateTask(t, status)
      sendUpdate(f, status)
      apply({ type: 'task-removed', taskId: t.taskId, frameworkId: t.frameworkId })
    }
    log.info({ agentId: id, hostname: reg.hostname, resources: formatResources(reg.resources), reregistered: !!reg.agent_id }, 'agent registered')
    emitOperator({ type: 'AGENT_ADDED', agent_added: { agent: agentV1(master, agent) } })
    allocateSoon()
    return { agent_id: id, ping_interval_ms: opts.agentPingTimeoutMs, master_id: runId }
  }

  function markUnreachable(agent: AgentRecord): void {
    const now = clock.now()
    log.warn({ agentId: agent.id, hostname: agent.hostname }, 'agent missed too many pings: unreachable')
    apply({ type: 'agent-unreachable', agentId: agent.id, at: now })
    for (const o of [...offers.values()]) if (o.agentId === agent.id) rescind(o)
    for (const t of tasks.values()) {
      if (t.agentId !== agent.id || isTerminal(t.state)) continue
      const f = frameworks.get(t.frameworkId)
      const state = partitionAware(f) ? TaskState.UNREACHABLE : TaskState.LOST
      const status = masterStatus(t.taskId, agent.id, state, 'REASON_AGENT_REMOVED', 'Agent is unreachable')
      if (state === TaskState.UNREACHABLE) status.unreachable_time = { nanoseconds: now * 1e6 }
      updateTask(t, status)
      sendUpdate(f, status)
    }
    emitOperator({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: agent.id } } })
  }

  const pingUrl = (a: { id: string; ip: string; port: number }): string =>
    `http://${a.ip}:${a.port}${pingPath(a.id, runId)}`

  /**
   * Pings the agents of the registry that have not re-registered. A ping names this master: an
   * agent registered with another (the master before a restart) re-registers at once, rather
   * than after three ping intervals without a ping. Mesos agents learn of a new leading master
   * from the leader detector; the ping is dromos' way to tell them.
   */
  async function pingRecoveredAgents(): Promise<void> {
    await Promise.all(
      [...recoveredAgents.values()].map(async (a) => {
        try {
          const r = await fetch(pingUrl(a), { signal: AbortSignal.timeout(opts.agentPingTimeoutMs) })
          await r.arrayBuffer()
        } catch {
          // Down, or elsewhere: it re-registers by itself when it starts.
        }
      }),
    )
  }

  async function pingAgents(): Promise<void> {
    void pingRecoveredAgents()
    await Promise.all(
      [...agents.values()]
        .filter(isActive)
        .map(async (a) => {
          try {
            const r = await fetch(pingUrl(a), {
              signal: AbortSignal.timeout(opts.agentPingTimeoutMs),
            })
            if (!r.ok) throw new Error(`ping answered ${r.status}`)
            await r.arrayBuffer()
            a.missedPings = 0
          } catch {
            a.missedPings++
            if (a.missedPings >= opts.maxAgentPingTimeouts && isActive(a)) markUnreachable(a)
          }
        }),
    )
  }

  // ---- status updates ----

  function agentStatusUpdate(agentId: string, frameworkId: string, status: TaskStatusWire): void {
    // An agent the master marked unreachable must re-register first: its registration is what
    // brings its tasks back (and tells the frameworks). An update that slipped in before it
    // would mark the task RUNNING quietly. The 404 makes the agent re-register and retry.
    const agent = agents.get(agentId)
    if (agent && !isActive(agent)) throw new NotFoundError(`Agent ${agentId} is unreachable: re-register`)
    const k = taskKey(frameworkId, status.task_id.value)
    const t = tasks.get(k)
    const f = frameworks.get(frameworkId)
    if (t && t.agentId === agentId) updateTask(t, status)
    sendUpdate(f, { ...status, agent_id: { value: agentId } })
  }

  /**
   * Records a status of a known task, from the agent or made by the master, as Mesos'
   * Master::updateTask: a status of the latest status' state replaces it; operator subscribers
   * hear of each new state (and of each health check result), not of each re-delivery; a
   * terminal transition is counted once and frees the task's resources.
   */
  function updateTask(t: TaskRecord, status: TaskStatusWire, o: { fromAgentReport?: boolean } = {}): void {
    const wasTerminal = isTerminal(t.state)
    // A task that ended stays ended: a late non-terminal update does not revive it. Only the
    // agent's own report, when it re-registers, brings back a task the master gave up as LOST.
    if (wasTerminal && !isTerminal(status.state) && !o.fromAgentReport) return
    const newState = t.statuses.at(-1)?.state !== status.state
    const healthUpdate = status.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED' || status.reason === 'REASON_TASK_CHECK_STATUS_UPDATED'
    apply({ type: 'task-status', taskId: t.taskId, frameworkId: t.frameworkId, status })
    if (newState || healthUpdate) {
      emitOperator({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: t.frameworkId }, status, state: t.state } })
    }
    if (!wasTerminal && isTerminal(status.state)) {
      countTerminal(status.state)
      allocateSoon()
    }
  }

  async function acknowledge(f: FrameworkRecord, ack: NonNullable<SchedulerCall['acknowledge']>): Promise<void> {
    const t = tasks.get(taskKey(f.id, ack.task_id.value))
    const agent = agents.get(ack.agent_id.value)
    if (!agent) throw new BadRequestError(`Unknown agent ${ack.agent_id.value}`)
    // An unreachable agent would hold the framework's call until the request times out; as in
    // Mesos the acknowledgement is dropped, and the agent re-sends the update once it is back.
    if (isActive(agent)) {
      await agentRequest(agent, AgentInternalPath.ack, { framework_id: f.id, task_id: ack.task_id.value, uuid: ack.uuid }).then(
        (r) => r.arrayBuffer(),
        (e: unknown) => log.warn({ err: e, agentId: agent.id }, 'failed to forward acknowledgement'),
      )
    } else log.info({ agentId: agent.id, taskId: ack.task_id.value }, 'dropping acknowledgement for an unreachable agent')
    if (t && t.pendingUuid === ack.uuid) {
      delete t.pendingUuid
      // Only the acknowledgement of a terminal update ends the task. The acknowledgement of an
      // earlier update can arrive after the master marked the task LOST (its agent stopped
      // answering, maybe while this very acknowledgement waited on it): the task may come back.
      const acked = [...t.statuses].reverse().find((s) => s.uuid === ack.uuid)
      if (isTerminal(t.state) && (acked ? isTerminal(acked.state) : true)) apply({ type: 'task-removed', taskId: t.taskId, frameworkId: f.id })
    }
  }

  // ---- offers ----

  function rescind(o: OfferRecord): void {
    apply({ type: 'offer-removed', offerId: o.id })
    const f = frameworks.get(o.frameworkId)
    if (f) send(f, { type: 'RESCIND', rescind: { offer_id: { value: o.id } } })
    counters.offersRescinded++
  }

  function offerJson(o: OfferRecord, agent: AgentRecord): OfferWire {
    return {
      id: { value: o.id },
      framework_id: { value: o.frameworkId },
      agent_id: { value: o.agentId },
      hostname: agent.hostname,
      resources: resourcesToWire(o.resources, o.role),
      attributes: agent.attributes,
      allocation_info: { role: o.role },
      url: { scheme: 'http', address: { hostname: agent.hostname, ip: agent.ip, port: agent.port }, path: '/slave(1)' },
    }
  }

  function runAllocation(): void {
    if (stopped) return
    const now = clock.now()
    const active = [...agents.values()].filter(isActive)
    // Shuffle the agents so no agent is always offered first.
    for (let i = active.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[active[i], active[j]] = [active[j]!, active[i]!]
    }
    const connected = [...frameworks.values()].filter((f) => f.stream)
    const allocations: Allocation[] = allocate({
      agents: active.map((a) => ({ id: a.id, total: a.total, free: subtract(subtract(a.total, agentUsed(a.id)), agentOffered(a.id)) })),
      frameworks: connected.map((f) => ({
        id: f.id,
        roles: f.roles,
        suppressedRoles: [...f.suppressedRoles],
        allocated: frameworkAllocated(f.id),
        refusals: Object.fromEntries(f.refusals),
      })),
      roleWeights: opts.roleWeights,
      now,
    })
    const batches = new Map<string, OfferWire[]>()
    for (const a of allocations) {
      const agent = agents.get(a.agentId)
      if (!agent) continue
      const offer: OfferRecord = { id: `${runId}-O${offerSeq++}`, frameworkId: a.frameworkId, agentId: a.agentId, role: a.role, resources: a.resources, createdAt: now }
      if (opts.offerTimeoutMs > 0) {
        offer.timer = setTimeout(() => {
          if (offers.has(offer.id)) {
            log.info({ offerId: offer.id, frameworkId: offer.frameworkId }, 'offer timed out: rescinding')
            rescind(offer)
            allocateSoon()
          }
        }, opts.offerTimeoutMs)
        offer.timer.unref()
      }
      apply({ type: 'offer-created', offer })
      const list = batches.get(a.frameworkId) ?? []
      list.push(offerJson(offer, agent))
      batches.set(a.frameworkId, list)
    }
    for (const [fid, list] of batches) {
      const f = frameworks.get(fid)
      if (f && send(f, { type: 'OFFERS', offers: { offers: list } })) counters.offersSent += list.length
    }
  }

  function allocateSoon(): void {
    if (allocationSoon || stopped) return
    allocationSoon = setTimeout(() => {
      allocationSoon = undefined
      runAllocation()
    }, 1)
  }

  function addRefusal(f: FrameworkRecord, agentId: string, refuseSeconds: number | undefined): void {
    const seconds = refuseSeconds ?? 5
    if (seconds <= 0) return
    f.refusals.set(agentId, clock.now() + seconds * 1000)
  }

  function takeOffers(f: FrameworkRecord, ids: readonly { value: string }[]): OfferRecord[] | string {
    const list: OfferRecord[] = []
    for (const { value } of ids) {
      const o = offers.get(value)
      if (!o) return `Offer ${value} is no longer valid`
      if (o.frameworkId !== f.id) return `Offer ${value} belongs to another framework`
      list.push(o)
    }
    if (new Set(list.map((o) => o.agentId)).size > 1) return 'Offers span more than one agent'
    for (const o of list) apply({ type: 'offer-removed', offerId: o.id })
    return list
  }

  async function accept(f: FrameworkRecord, body: NonNullable<SchedulerCall['accept']>): Promise<void> {
    const launches = body.operations.flatMap((op) => (op.type === 'LAUNCH' ? (op.launch?.task_infos ?? []) : []))
    const taken = takeOffers(f, body.offer_ids)
    if (typeof taken === 'string') {
      const state = partitionAware(f) ? TaskState.DROPPED : TaskState.LOST
      for (const ti of launches) {
        countTerminal(state)
        sendUpdate(f, masterStatus(ti.task_id.value, ti.agent_id.value, state, 'REASON_INVALID_OFFERS', `Task launched with invalid offers: ${taken}`))
      }
      allocateSoon()
      return
    }
    if (taken.length === 0) return
    const agentId = taken[0]!.agentId
    const role = taken[0]!.role
    const agent = agents.get(agentId)
    let pool = taken.reduce<Resources>((acc, o) => add(acc, o.resources), EMPTY)
    for (const op of body.operations) {
      if (op.type !== 'LAUNCH') {
        log.info({ frameworkId: f.id, operation: op.type }, 'operation is not supported: ignored')
      }
    }
    for (const ti of launches) {
      const resources = resourcesFromWire(ti.resources)
      const problem =
        validateTask(ti, { agentId, knownTask: tasks.has(taskKey(f.id, ti.task_id.value)) }) ??
        (contains(pool, resources) ? undefined : `Task uses more resources ${formatResources(resources)} than available ${formatResources(pool)}`)
      if (problem || !agent || !isActive(agent)) {
        const reason = problem ? 'REASON_TASK_INVALID' : 'REASON_AGENT_REMOVED'
        const state = problem ? TaskState.ERROR : partitionAware(f) ? TaskState.DROPPED : TaskState.LOST
        countTerminal(state)
        sendUpdate(f, masterStatus(ti.task_id.value, agentId, state, reason, problem ?? 'Agent is not available'))
        continue
      }
      pool = subtract(pool, resources)
      const status = masterStatus(ti.task_id.value, agentId, TaskState.STAGING, 'REASON_TASK_STAGING', '')
      delete status.reason
      delete status.message
      const task: TaskRecord = { taskId: ti.task_id.value, frameworkId: f.id, agentId, role, info: ti, resources, state: TaskState.STAGING, statuses: [status] }
      apply({ type: 'task-added', task })
      counters.tasksLaunched++
      emitOperator({ type: 'TASK_ADDED', task_added: { task: taskV1(task) } })
      void agentRequest(agent, AgentInternalPath.launch, { framework_id: f.id, framework_info: f.info, task_info: ti })
        .then(async (r) => {
          if (!r.ok) throw new Error(`agent answered ${r.status}: ${await r.text()}`)
          await r.arrayBuffer().catch(() => undefined)
        })
        .catch((e: unknown) => {
          log.warn({ err: e, taskId: ti.task_id.value, agentId }, 'failed to send task to agent')
          const t = tasks.get(taskKey(f.id, ti.task_id.value))
          if (!t || t.state !== TaskState.STAGING) return
          const lost = masterStatus(ti.task_id.value, agentId, partitionAware(f) ? TaskState.DROPPED : TaskState.LOST, 'REASON_AGENT_DISCONNECTED', `Failed to reach agent: ${(e as Error).message}`)
          updateTask(t, lost)
          apply({ type: 'task-removed', taskId: t.taskId, frameworkId: f.id })
          sendUpdate(f, lost)
          allocateSoon()
        })
    }
    // What the accept did not use counts as declined.
    if (!isEmpty(pool)) addRefusal(f, agentId, body.filters?.refuse_seconds)
    allocateSoon()
  }

  function decline(f: FrameworkRecord, body: NonNullable<SchedulerCall['decline']>): void {
    // As Master::decline: an offer that is no longer valid (rescinded, timed out, used, declined
    // already) is skipped, not an error; a framework cannot tell a late decline from a timely
    // one. An offer of another framework is skipped too: it is not this framework's to discard.
    for (const { value } of body.offer_ids) {
      const o = offers.get(value)
      if (!o || o.frameworkId !== f.id) {
        log.info({ frameworkId: f.id, offerId: value }, o ? 'ignoring decline of an offer made to another framework' : 'ignoring decline of an offer that is no longer valid')
        continue
      }
      apply({ type: 'offer-removed', offerId: o.id })
      addRefusal(f, o.agentId, body.filters?.refuse_seconds)
      counters.offersDeclined++
    }
    allocateSoon()
  }

  // ---- frameworks ----

  function rolesOf(info: FrameworkInfo): string[] {
    if (info.roles && info.roles.length > 0) return [...new Set(info.roles)]
    return [info.role ?? '*']
  }

  function closeStream(f: FrameworkRecord): void {
    if (!f.stream) return
    clearInterval(f.stream.heartbeat)
    const res = f.stream.res
    delete f.stream
    res.end()
  }

  /** For timers, which nobody awaits: a failed store write is logged, not left to reject. */
  const removeFailed =
    (f: FrameworkRecord) =>
    (e: unknown): void =>
      log.error({ err: e, frameworkId: f.id }, 'removing framework failed')

  async function removeFramework(f: FrameworkRecord, why: string): Promise<void> {
    log.info({ frameworkId: f.id, why }, 'removing framework')
    if (f.failoverTimer) clearTimeout(f.failoverTimer)
    for (const o of [...offers.values()]) if (o.frameworkId === f.id) apply({ type: 'offer-removed', offerId: o.id })
    closeStream(f)
    const agentIds = new Set([...tasks.values()].filter((t) => t.frameworkId === f.id).map((t) => t.agentId))
    for (const t of [...tasks.values()]) {
      if (t.frameworkId !== f.id) continue
      // A task that had ended already keeps its terminal state.
      if (!isTerminal(t.state)) {
        updateTask(t, masterStatus(t.taskId, t.agentId, TaskState.KILLED, 'REASON_FRAMEWORK_REMOVED', `Framework removed: ${why}`))
      }
      apply({ type: 'task-removed', taskId: t.taskId, frameworkId: f.id })
    }
    for (const id of agentIds) {
      const agent = agents.get(id)
      if (agent && isActive(agent)) {
        await agentRequest(agent, AgentInternalPath.shutdownFramework, { framework_id: f.id }).then(
          (r) => r.arrayBuffer(),
          (e: unknown) => log.warn({ err: e, agentId: id }, 'failed to ask agent to shut the framework down'),
        )
      }
    }
    apply({ type: 'framework-removed', frameworkId: f.id })
    await store.delete(`frameworks/${f.id}`)
    await store.put(`removed-frameworks/${f.id}`, { at: clock.now() })
    emitOperator({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { ...f.info, id: { value: f.id } } } })
    allocateSoon()
  }

  function onDisconnect(f: FrameworkRecord, streamId: string): void {
    if (f.stream?.streamId !== streamId) return
    clearInterval(f.stream.heartbeat)
    delete f.stream
    // Offers to a disconnected framework go back to the pool.
    for (const o of [...offers.values()]) if (o.frameworkId === f.id) apply({ type: 'offer-removed', offerId: o.id })
    const timeoutMs = f.info.failover_timeout * 1000
    log.info({ frameworkId: f.id, failoverTimeoutSeconds: f.info.failover_timeout }, 'framework disconnected')
    emitOperator({ type: 'FRAMEWORK_UPDATED', framework_updated: { framework: frameworkV1(master, f) } })
    f.failoverTimer = setTimeout(() => {
      if (!f.stream && frameworks.get(f.id) === f) removeFramework(f, 'failover timeout elapsed').catch(removeFailed(f))
    }, Math.min(timeoutMs, 2 ** 31 - 1))
    f.failoverTimer.unref()
    allocateSoon()
  }

  async function subscribe(call: SchedulerCall, res: ServerResponse, acceptsRecordIo: boolean): Promise<void> {
    const body = call.subscribe
    if (!body) throw new BadRequestError("Expecting 'subscribe' to be present")
    const info = body.framework_info
    const requestedId = call.framework_id?.value ?? info.id?.value
    if (call.framework_id && info.id && call.framework_id.value !== info.id.value) {
      throw new BadRequestError("'framework_id' differs from 'subscribe.framework_info.id'")
    }
    if (requestedId && (removedFrameworkIds.has(requestedId) || (await store.get(`removed-frameworks/${requestedId}`)))) {
      throw new ForbiddenError(`Framework ${requestedId} has been removed`)
    }
    const now = clock.now()
    let f = requestedId ? frameworks.get(requestedId) : undefined
    if (f) {
      if (f.failoverTimer) clearTimeout(f.failoverTimer)
      delete f.failoverTimer
      if (f.stream) {
        send(f, { type: 'ERROR', error: { message: 'Framework failed over' } })
        closeStream(f)
      }
      f.info = info
      f.roles = rolesOf(info)
      f.reregisteredAt = now
    } else {
      const id = requestedId ?? `${runId}-${String(frameworkSeq++).padStart(4, '0')}`
      f = { id, info, roles: rolesOf(info), suppressedRoles: new Set(), refusals: new Map(), registeredAt: now }
      if (requestedId) f.reregisteredAt = now
      apply({ type: 'framework-added', framework: f })
    }
    f.suppressedRoles = new Set(body.suppressed_roles ?? [])
    f.refusals.clear()
    await store.put(`frameworks/${f.id}`, { id: f.id, info: f.info })

    const streamId = newUuid()
    res.socket?.setNoDelay(true)
    res.writeHead(200, {
      'Content-Type': acceptsRecordIo ? 'application/recordio' : 'application/json',
      ...(acceptsRecordIo ? { 'Message-Content-Type': 'application/json' } : {}),
      'Mesos-Stream-Id': streamId,
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    })
    const heartbeat = setInterval(() => send(fw, { type: 'HEARTBEAT' }), opts.heartbeatIntervalSeconds * 1000)
    const fw = f
    fw.stream = { res, streamId, heartbeat }
    res.on('close', () => onDisconnect(fw, streamId))
    send(fw, {
      type: 'SUBSCRIBED',
      subscribed: { framework_id: { value: fw.id }, heartbeat_interval_seconds: opts.heartbeatIntervalSeconds, master_info: masterInfo() },
    })
    log.info({ frameworkId: fw.id, name: info.name, roles: fw.roles }, requestedId ? 'framework re-subscribed' : 'framework subscribed')
    emitOperator({ type: requestedId ? 'FRAMEWORK_UPDATED' : 'FRAMEWORK_ADDED', [requestedId ? 'framework_updated' : 'framework_added']: { framework: frameworkV1(master, fw) } })
    allocateSoon()
  }

  function reconcile(f: FrameworkRecord, body: NonNullable<SchedulerCall['reconcile']>): void {
    const pa = partitionAware(f)
    if (body.tasks.length === 0) {
      for (const t of tasks.values()) {
        if (t.frameworkId !== f.id) continue
        sendUpdate(f, statusOf(t, { source: 'SOURCE_MASTER', reason: 'REASON_RECONCILIATION' }))
      }
      return
    }
    for (const ref of body.tasks) {
      const t = tasks.get(taskKey(f.id, ref.task_id.value))
      if (t) {
        sendUpdate(f, statusOf(t, { source: 'SOURCE_MASTER', reason: 'REASON_RECONCILIATION' }))
        continue
      }
      const agentId = ref.agent_id?.value
      // As Mesos: while the agent (or, without an agent id, any agent) of the registry has not
      // re-registered since a master restart, the task may well be on it. No answer is sent:
      // the framework asks again later.
      if (agentId ? recoveredAgents.has(agentId) && !agents.has(agentId) : recoveredAgents.size > 0) {
        log.info({ frameworkId: f.id, taskId: ref.task_id.value, agentId }, 'dropping reconciliation of a task: agents have not re-registered yet')
        continue
      }
      const agent = agentId ? agents.get(agentId) : undefined
      let state: string
      if (agent && !isActive(agent)) state = pa ? TaskState.UNREACHABLE : TaskState.LOST
      else if (agent) state = pa ? TaskState.GONE : TaskState.LOST
      else state = pa ? TaskState.UNKNOWN : TaskState.LOST
      sendUpdate(f, masterStatus(ref.task_id.value, agentId, state, 'REASON_RECONCILIATION', 'Reconciliation: task is unknown'))
    }
  }

  async function kill(f: FrameworkRecord, body: NonNullable<SchedulerCall['kill']>): Promise<void> {
    const t = tasks.get(taskKey(f.id, body.task_id.value))
    if (!t) {
      const state = partitionAware(f) ? TaskState.UNKNOWN : TaskState.LOST
      sendUpdate(f, masterStatus(body.task_id.value, body.agent_id?.value, state, 'REASON_RECONCILIATION', 'Attempted to kill an unknown task'))
      return
    }
    const agent = agents.get(t.agentId)
    if (!agent || !isActive(agent)) return
    const policy: KillPolicy | undefined = body.kill_policy ?? t.info.kill_policy
    const graceMs = policy?.grace_period ? Math.floor(policy.grace_period.nanoseconds / 1e6) : 3000
    const r = await agentRequest(agent, AgentInternalPath.kill, { framework_id: f.id, task_id: t.taskId, grace_period_ms: graceMs })
    await r.arrayBuffer()
  }

  async function handleCall(call: SchedulerCall, streamId: string | undefined): Promise<void> {
    const fid = call.framework_id?.value
    if (!fid) throw new BadRequestError("Expecting 'framework_id' to be present")
    const f = frameworks.get(fid)
    if (!f || !f.stream) throw new ForbiddenError('Framework is not subscribed')
    if (!streamId) throw new BadRequestError("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    if (streamId !== f.stream.streamId) {
      throw new BadRequestError(`The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${fid}`)
    }
    const need = <T>(v: T | undefined, name: string): T => {
      if (v === undefined) throw new BadRequestError(`Expecting '${name}' to be present`)
      return v
    }
    switch (call.type) {
      case 'ACCEPT':
        return accept(f, need(call.accept, 'accept'))
      case 'DECLINE':
        return decline(f, need(call.decline, 'decline'))
      case 'REVIVE': {
        const roles = call.revive?.roles ?? (call.revive?.role ? [call.revive.role] : f.roles)
        for (const r of roles) f.suppressedRoles.delete(r)
        f.refusals.clear()
        allocateSoon()
        return
      }
      case 'SUPPRESS': {
        const roles = call.suppress?.roles ?? (call.suppress?.role ? [call.suppress.role] : f.roles)
        for (const r of roles) f.suppressedRoles.add(r)
        return
      }
      case 'KILL':
        return kill(f, need(call.kill, 'kill'))
      case 'SHUTDOWN': {
        // Command tasks run under an executor with the task's id, so shutting that executor
        // down kills the task.
        const body = need(call.shutdown, 'shutdown')
        return kill(f, { task_id: body.executor_id, agent_id: body.agent_id })
      }
      case 'ACKNOWLEDGE':
        return acknowledge(f, need(call.acknowledge, 'acknowledge'))
      case 'RECONCILE':
        return reconcile(f, call.reconcile ?? { tasks: [] })
      case 'MESSAGE': {
        const body = need(call.message, 'message')
        const agent = agents.get(body.agent_id.value)
        if (!agent) throw new NotFoundError(`Unknown agent ${body.agent_id.value}`)
        const r = await agentRequest(agent, AgentInternalPath.message, { framework_id: f.id, executor_id: body.executor_id.value, data: body.data })
        await r.arrayBuffer()
        return
      }
      case 'TEARDOWN':
        return removeFramework(f, 'teardown')
      case 'UPDATE_FRAMEWORK': {
        const body = need(call.update_framework, 'update_framework')
        if (body.framework_info.id && body.framework_info.id.value !== f.id) throw new BadRequestError('framework_info.id does not match framework_id')
        f.info = body.framework_info
        f.roles = rolesOf(body.framework_info)
        await store.put(`frameworks/${f.id}`, { id: f.id, info: f.info })
        emitOperator({ type: 'FRAMEWORK_UPDATED', framework_updated: { framework: frameworkV1(master, f) } })
        allocateSoon()
        return
      }
      case 'SUBSCRIBE':
        throw new BadRequestError('SUBSCRIBE must open its own stream')
      case 'ACCEPT_INVERSE_OFFERS':
      case 'DECLINE_INVERSE_OFFERS':
      case 'ACKNOWLEDGE_OPERATION_STATUS':
      case 'RECONCILE_OPERATIONS':
      case 'REQUEST':
        // Accepted for compatibility; dromos has no inverse offers or operation feedback yet.
        return
      default:
        assertNever(call.type)
    }
  }

  function masterInfo(): Record<string, unknown> {
    return {
      id: runId,
      ip: ipToUint32(opts.ip),
      port: opts.port,
      pid: `master@${opts.ip}:${opts.port}`,
      hostname: opts.hostname,
      version: MASTER_VERSION,
      address: { hostname: opts.hostname, ip: opts.ip, port: opts.port },
    }
  }

  function metrics(): Record<string, number> {
    let total: Resources = EMPTY
    let used: Resources = EMPTY
    const activeAgents = [...agents.values()].filter(isActive)
    for (const a of activeAgents) {
      total = add(total, a.total)
      used = add(used, agentUsed(a.id))
    }
    const count = (s: string): number => [...tasks.values()].filter((t) => t.state === s).length
    const m: Record<string, number> = {
      'master/elected': 1,
      'master/uptime_secs': (clock.now() - startedAt) / 1000,
      'master/slaves_active': activeAgents.length,
      'master/slaves_connected': activeAgents.length,
      'master/slaves_unreachable': agents.size - activeAgents.length,
      'master/frameworks_active': [...frameworks.values()].filter((f) => f.stream).length,
      'master/frameworks_connected': [...frameworks.values()].filter((f) => f.stream).length,
      'master/frameworks_disconnected': [...frameworks.values()].filter((f) => !f.stream).length,
      'master/outstanding_offers': offers.size,
      'master/tasks_staging': count(TaskState.STAGING),
      'master/tasks_starting': count(TaskState.STARTING),
      'master/tasks_running': count(TaskState.RUNNING),
      'master/tasks_killing': count(TaskState.KILLING),
      'master/tasks_unreachable': count(TaskState.UNREACHABLE),
      'master/messages_status_update': counters.updatesForwarded,
      'master/offers_sent': counters.offersSent,
      'master/offers_rescinded': counters.offersRescinded,
      'master/offers_declined': counters.offersDeclined,
      'master/tasks_launched': counters.tasksLaunched,
      'master/invalid_calls': counters.invalidCalls,
    }
    // Running totals of terminal transitions, as Mesos' counters of the same names.
    for (const state of [TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST, TaskState.ERROR, TaskState.DROPPED, TaskState.GONE, TaskState.GONE_BY_OPERATOR]) {
      m[`master/tasks_${state.slice('TASK_'.length).toLowerCase()}`] = terminalCounts.get(state) ?? 0
    }
    for (const kind of ['cpus', 'mem', 'disk', 'gpus']) {
      m[`master/${kind}_total`] = total.scalars[kind] ?? 0
      m[`master/${kind}_used`] = used.scalars[kind] ?? 0
      m[`master/${kind}_percent`] = (total.scalars[kind] ?? 0) > 0 ? (used.scalars[kind] ?? 0) / total.scalars[kind]! : 0
    }
    return m
  }

  const startedAt = clock.now()

  const master: Master = {
    id: runId,
    startedAt,
    opts,
    agents,
    frameworks,
    completedFrameworks,
    tasks,
    completedTasks,
    offers,
    recoveredAgents,
    async start() {
      // Agents in the registry keep their ids across a master restart; their tasks return when
      // they re-register. Frameworks keep their ids and may re-subscribe.
      for (const [, rec] of await store.list<{ id: string; info: FrameworkInfo }>('frameworks/')) {
        const f: FrameworkRecord = { id: rec.id, info: rec.info, roles: rolesOf(rec.info), suppressedRoles: new Set(), refusals: new Map(), registeredAt: clock.now() }
        apply({ type: 'framework-added', framework: f })
        // A recovered framework that never comes back is removed after its failover timeout.
        onDisconnectRecovered(f)
      }
      // The agents of the registry are "recovered" until they re-register. They are asked to at
      // once; one that does not within the re-register timeout is dropped from the registry
      // (Mesos marks it unreachable; this master knows no tasks of it to mark).
      for (const [, rec] of await store.list<RecoveredAgent>('agents/')) {
        if (!agents.has(rec.id)) recoveredAgents.set(rec.id, rec)
      }
      if (recoveredAgents.size > 0) {
        log.info({ agents: [...recoveredAgents.keys()] }, 'recovered agents from the registry: waiting for them to re-register')
        setImmediate(() => void pingRecoveredAgents())
        reregisterTimer = setTimeout(() => void expireRecoveredAgents(), Math.min(opts.agentReregisterTimeoutMs ?? 10 * 60_000, 2 ** 31 - 1))
        reregisterTimer.unref()
      }
      allocationTimer = setInterval(runAllocation, opts.allocationIntervalMs)
      pingTimer = setInterval(() => void pingAgents(), opts.agentPingTimeoutMs)
    },
    async stop() {
      stopped = true
      if (allocationTimer) clearInterval(allocationTimer)
      if (allocationSoon) clearTimeout(allocationSoon)
      if (pingTimer) clearInterval(pingTimer)
      if (reregisterTimer) clearTimeout(reregisterTimer)
      for (const f of frameworks.values()) {
        if (f.failoverTimer) clearTimeout(f.failoverTimer)
        closeStream(f)
      }
      for (const o of offers.values()) if (o.timer) clearTimeout(o.timer)
    },
    subscribe,
    handleCall: async (call, streamId) => {
      try {
        await handleCall(call, streamId)
      } catch (e) {
        counters.invalidCalls++
        throw e
      }
    },
    registerAgent,
    agentStatusUpdate,
    agentUsed,
    agentOffered,
    masterInfo,
    onOperatorEvent(listener) {
      operatorListeners.add(listener)
      return () => operatorListeners.delete(listener)
    },
    metrics,
  }

  async function expireRecoveredAgents(): Promise<void> {
    for (const a of [...recoveredAgents.values()]) {
      if (stopped || agents.has(a.id)) continue
      log.warn({ agentId: a.id, hostname: a.hostname }, 'agent did not re-register within the re-register timeout: removed from the registry')
      recoveredAgents.delete(a.id)
      await store.delete(`agents/${a.id}`)
    }
  }

  function onDisconnectRecovered(f: FrameworkRecord): void {
    f.failoverTimer = setTimeout(() => {
      if (!f.stream && frameworks.get(f.id) === f) removeFramework(f, 'failover timeout elapsed after master restart').catch(removeFailed(f))
    }, Math.min(Math.max(f.info.failover_timeout * 1000, 60_000), 2 ** 31 - 1))
    f.failoverTimer.unref()
  }

  return master
}

export function ipToUint32(ip: string): number {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p))) return 0
  // Mesos encodes MasterInfo.ip in network byte order read as a little-endian integer.
  return ((parts[3]! << 24) >>> 0) + (parts[2]! << 16) + (parts[1]! << 8) + parts[0]!
}

export { taskKey }
