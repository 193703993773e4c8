// Agents: registration and re-registration (whose task report is the truth about the agent's
// tasks), pings and unreachability, the agents of the registry after a master restart, and the
// status updates agents send.
import { resourcesFromWire } from '../api/mesos.js'
import type { AgentRegisteredWire, StatusUpdateWire, TaskResultWire } from '../api/internal.js'
import { AgentInternalPath, pingPath } from '../api/internal.js'
import { getKeptAlive } from '../api/post-json.js'
import { ConflictError, NotFoundError } from '../core/errors.js'
import { formatResources } from '../core/resources.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { MasterContext } from './context.js'
import { agentRequest, applyNow, emitOperator, isActive, MASTER_VERSION, masterStatus, partitionAware, send, sendUpdate, statusOf } from './context.js'
import type { Offers } from './offers.js'
import { taskKey } from './state.js'
import type { UpdateTask } from './tasks.js'
import type { AgentRecord, AgentRegistration } from './types.js'
import { agentV1 } from './views.js'

export interface Agents {
  registerAgent(reg: AgentRegistration): Promise<AgentRegisteredWire>
  /** An agent's status updates, in order; one result each (the agent sends a failed one again). */
  agentStatusUpdates(agentId: string, updates: readonly StatusUpdateWire[]): TaskResultWire[]
  pingAgents(): Promise<void>
  pingRecoveredAgents(): Promise<void>
  /** Marks the agents of the registry that have not re-registered by now unreachable. */
  expireRecoveredAgents(): Promise<void>
}

export function createAgents(ctx: MasterContext, deps: { offers: Offers; updateTask: UpdateTask }): Agents {
  const { state, opts, log } = ctx
  const { offers, updateTask } = deps
  let agentSeq = 0
  // Registration attempts, so that a late one cannot undo a newer one. A request can reach the
  // master long after its agent gave up on it: across a partition TCP keeps the bytes and
  // delivers them once it heals, by then behind the attempt that succeeded. Taken, its task
  // report (older) would call the tasks launched since gone, and they would run on unknown to
  // anyone. Per agent process (run): the latest attempt number taken. Runs an agent left behind
  // (it was started again) take nothing more.
  const latestAttempt = new Map<string, number>()
  const runOfAgent = new Map<string, string>()
  const retiredRuns = new Set<string>()
  const MAX_RETIRED_RUNS = 10_000

  function checkAttempt(reg: AgentRegistration): void {
    const a = reg.attempt
    if (!a) return
    const latest = latestAttempt.get(a.run)
    if (retiredRuns.has(a.run) || (latest !== undefined && latest >= a.seq)) {
      log.warn({ agentId: reg.agent_id, hostname: reg.hostname, run: a.run, attempt: a.seq, latest }, 'stale agent registration refused: a later one was taken')
      throw new ConflictError(`Registration attempt ${a.seq} of agent run ${a.run} is older than one already taken`)
    }
  }

  function noteRun(agentId: string, run: string): void {
    const before = runOfAgent.get(agentId)
    if (before !== undefined && before !== run) {
      latestAttempt.delete(before)
      retiredRuns.add(before)
      if (retiredRuns.size > MAX_RETIRED_RUNS) retiredRuns.delete(retiredRuns.values().next().value!)
    }
    runOfAgent.set(agentId, run)
  }

  async function registerAgent(reg: AgentRegistration): Promise<AgentRegisteredWire> {
    checkAttempt(reg)
    if (reg.attempt) latestAttempt.set(reg.attempt.run, reg.attempt.seq)
    const id = reg.agent_id ?? `${ctx.runId}-S${agentSeq++}`
    // Tasks of a framework that was removed (while the agent was away, or before a master
    // restart) are not taken back: the agent is told to shut that framework down, as Mesos does.
    // Read before anything changes: from here to the tasks, nothing may wait, or a
    // reconciliation in between would find the agent back without its tasks and call them gone.
    const removed = new Set<string>()
    for (const fid of new Set(reg.tasks.map((t) => t.framework_id))) if (!state.frameworks.has(fid) && (await state.wasRemoved(fid))) removed.add(fid)
    // A later attempt may have come in while this one waited: it wins.
    if (reg.attempt && latestAttempt.get(reg.attempt.run) !== reg.attempt.seq) checkAttempt(reg)
    if (reg.attempt) noteRun(id, reg.attempt.run)
    // Offers made from the agent's old resources are no longer valid.
    for (const o of state.offersOnAgent(id)) offers.rescind(o)
    applyNow(ctx, {
      type: 'agent-registered',
      agentId: id,
      reregistered: reg.agent_id !== undefined,
      hostname: reg.hostname,
      ip: reg.ip,
      port: reg.port,
      total: reg.resources,
      attributes: reg.attributes,
      version: reg.version ?? MASTER_VERSION,
    })

    // The agent's report is the truth about its tasks. Tasks the master thought were there and
    // that the agent does not know are gone.
    const reported = new Set<string>()
    for (const t of reg.tasks) {
      if (removed.has(t.framework_id)) continue
      const k = taskKey(t.framework_id, t.task_info.task_id.value)
      reported.add(k)
      const known = state.tasks.get(k)
      const wasUnreachable = known?.state === TaskState.UNREACHABLE || known?.state === TaskState.LOST
      if (known) {
        // What the agent reports wins, even over the LOST the master decided while it was away.
        if (t.status && t.status.state === t.state) updateTask(known, t.status, { fromAgentReport: true })
        else applyNow(ctx, { type: 'task-state-reported', taskId: known.taskId, frameworkId: known.frameworkId, state: t.state })
      } else {
        applyNow(ctx, {
          type: 'task-added',
          task: {
            taskId: t.task_info.task_id.value,
            frameworkId: t.framework_id,
            agentId: id,
            role: state.frameworks.get(t.framework_id)?.roles[0] ?? '*',
            info: t.task_info,
            resources: resourcesFromWire(t.task_info.resources),
            state: t.state,
            statuses: t.status ? [t.status] : [],
          },
        })
      }
      if (wasUnreachable) {
        const task = state.tasks.get(k)!
        sendUpdate(ctx, state.frameworks.get(t.framework_id), statusOf(ctx, task, { source: 'SOURCE_MASTER', reason: 'REASON_AGENT_REREGISTERED', message: 'Agent re-registered' }))
      }
    }
    for (const t of state.tasksOnAgent(id)) {
      if (reported.has(taskKey(t.frameworkId, t.taskId))) continue
      const f = state.frameworks.get(t.frameworkId)
      const taskState = partitionAware(f) ? TaskState.GONE : TaskState.LOST
      const status = masterStatus(ctx, t.taskId, id, taskState, 'REASON_AGENT_REREGISTERED', 'Task is unknown to the agent after it re-registered')
      updateTask(t, status)
      sendUpdate(ctx, f, status)
      applyNow(ctx, { type: 'task-removed', taskId: t.taskId, frameworkId: t.frameworkId })
    }
    const agent = state.agents.get(id)!
    for (const fid of removed) {
      log.info({ agentId: id, frameworkId: fid }, 'agent reports tasks of a removed framework: shutting them down')
      void agentRequest(agent, AgentInternalPath.shutdownFramework, { framework_id: fid }).then(
        (r) => r.arrayBuffer(),
        (e: unknown) => log.warn({ err: e, agentId: id, frameworkId: fid }, 'failed to ask agent to shut a removed framework down'),
      )
    }
    // The agent learns it is registered only once the registry has it.
    await state.written()
    log.info({ agentId: id, hostname: reg.hostname, resources: formatResources(reg.resources), reregistered: !!reg.agent_id }, 'agent registered')
    emitOperator(ctx, { type: 'AGENT_ADDED', agent_added: { agent: agentV1(ctx.master(), state.agents.get(id)!) } })
    // As Mesos' allocator on addSlave: a pass over the new agent only.
    offers.allocateSoon([id])
    return { agent_id: id, ping_interval_ms: opts.agentPingTimeoutMs, master_id: ctx.runId }
  }

  async function markUnreachable(agent: AgentRecord): Promise<void> {
    const now = ctx.clock.now()
    log.warn({ agentId: agent.id, hostname: agent.hostname }, 'agent missed too many pings: unreachable')
    state.apply({ type: 'agent-unreachable', agentId: agent.id }, now)
    for (const o of state.offersOnAgent(agent.id)) offers.rescind(o)
    // As Mesos's registrar: nobody is told before the registry has it.
    await state.written()
    // Back already (it re-registered meanwhile): its registration told the frameworks.
    if (state.agents.get(agent.id)?.unreachableSince !== now) return
    for (const t of state.tasksOnAgent(agent.id)) {
      if (isTerminal(t.state)) continue
      const f = state.frameworks.get(t.frameworkId)
      const taskState = partitionAware(f) ? TaskState.UNREACHABLE : TaskState.LOST
      const status = masterStatus(ctx, t.taskId, agent.id, taskState, 'REASON_AGENT_REMOVED', 'Agent is unreachable')
      if (taskState === TaskState.UNREACHABLE) status.unreachable_time = { nanoseconds: now * 1e6 }
      updateTask(t, status)
      sendUpdate(ctx, f, status)
    }
    emitOperator(ctx, { type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: agent.id } } })
    // Every framework hears that the agent is lost (Mesos's LostSlaveMessage: FAILURE with only the agent id).
    for (const f of state.frameworks.values()) send(ctx, f, { type: 'FAILURE', failure: { agent_id: { value: agent.id } } })
  }

  const pingUrl = (a: { id: string; ip: string; port: number }): string => `http://${a.ip}:${a.port}${pingPath(a.id, ctx.runId, `${opts.hostname}:${opts.port}`)}`

  /**
   * Pings the agents of the registry that have not re-registered. A ping names this master: an
   * agent registered with another (the master before a restart) re-registers at once, rather
   * than after three ping intervals without a ping. Mesos agents learn of a new leading master
   * from the leader detector; the ping is dromos' way to tell them.
   */
  async function pingRecoveredAgents(): Promise<void> {
    await Promise.all(
      [...state.recoveredAgents.values(), ...state.unreachableAgents.values()].map(async (a) => {
        try {
          await getKeptAlive(pingUrl(a), { timeoutMs: opts.agentPingTimeoutMs })
        } catch {
          // Down, or elsewhere: it re-registers by itself when it starts.
        }
      }),
    )
  }

  async function pingAgents(): Promise<void> {
    void pingRecoveredAgents()
    await Promise.all(
      [...state.agents.values()].filter(isActive).map(async (a) => {
        let answered = false
        try {
          answered = (await getKeptAlive(pingUrl(a), { timeoutMs: opts.agentPingTimeoutMs })).ok
        } catch {
          // Not answered: counted below.
        }
        // An agent that re-registered while the ping was out is a new registration: the ping
        // does not count for it.
        if (state.agents.get(a.id) !== a) return
        applyNow(ctx, { type: answered ? 'agent-ping-answered' : 'agent-ping-missed', agentId: a.id })
        const after = state.agents.get(a.id)
        if (!answered && after && after.missedPings >= opts.maxAgentPingTimeouts && isActive(after)) await markUnreachable(after)
      }),
    )
  }

  function agentStatusUpdates(agentId: string, updates: readonly StatusUpdateWire[]): TaskResultWire[] {
    // An agent the master marked unreachable must re-register first: its registration is what
    // brings its tasks back (and tells the frameworks). An update that slipped in before it
    // would mark the task RUNNING quietly. The 404 makes the agent re-register and retry.
    const agent = state.agents.get(agentId)
    if (!agent) throw new NotFoundError(`Unknown agent ${agentId}: re-register`)
    if (!isActive(agent)) throw new NotFoundError(`Agent ${agentId} is unreachable: re-register`)
    return updates.map(({ framework_id: frameworkId, status, latest_state: latestState }) => {
      const taskId = status.task_id.value
      try {
        const t = state.tasks.get(taskKey(frameworkId, taskId))
        if (t && t.agentId === agentId) updateTask(t, status, latestState !== undefined ? { latestState } : {})
        sendUpdate(ctx, state.frameworks.get(frameworkId), { ...status, agent_id: { value: agentId } })
        return { task_id: taskId }
      } catch (e) {
        log.warn({ err: e, agentId, frameworkId, taskId }, 'failed to take a status update')
        return { task_id: taskId, error: (e as Error).message }
      }
    })
  }

  async function expireRecoveredAgents(): Promise<void> {
    for (const a of [...state.recoveredAgents.values()]) {
      if (ctx.stopped || state.agents.has(a.id)) continue
      log.warn({ agentId: a.id, hostname: a.hostname }, 'agent did not re-register within the re-register timeout: marked unreachable')
      applyNow(ctx, { type: 'recovered-agent-expired', agentId: a.id })
      await state.written()
      // As Mesos's LostSlaveMessage: every framework hears that the agent is lost.
      for (const f of state.frameworks.values()) send(ctx, f, { type: 'FAILURE', failure: { agent_id: { value: a.id } } })
    }
  }

  return { registerAgent, agentStatusUpdates, pingAgents, pingRecoveredAgents, expireRecoveredAgents }
}
