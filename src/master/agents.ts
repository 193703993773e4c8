// Agents: registration and re-registration (whose task report is the truth about the agent's
// tasks), pings and unreachability, the agents of the registry after a master restart, and the
// status updates agents send.
import type { TaskStatusWire } from '../api/mesos.js'
import { resourcesFromWire } from '../api/mesos.js'
import type { AgentRegisteredWire } from '../api/internal.js'
import { AgentInternalPath, pingPath } from '../api/internal.js'
import { NotFoundError } from '../core/errors.js'
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
  agentStatusUpdate(agentId: string, frameworkId: string, status: TaskStatusWire, latestState?: string): void
  pingAgents(): Promise<void>
  pingRecoveredAgents(): Promise<void>
  /** Drops the agents of the registry that have not re-registered by now. */
  expireRecoveredAgents(): Promise<void>
}

export function createAgents(ctx: MasterContext, deps: { offers: Offers; updateTask: UpdateTask }): Agents {
  const { state, opts, log } = ctx
  const { offers, updateTask } = deps
  let agentSeq = 0

  async function registerAgent(reg: AgentRegistration): Promise<AgentRegisteredWire> {
    const id = reg.agent_id ?? `${ctx.runId}-S${agentSeq++}`
    // Offers made from the agent's old resources are no longer valid.
    for (const o of [...state.offers.values()]) if (o.agentId === id) offers.rescind(o)
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
    await state.written()

    // The agent's report is the truth about its tasks. Tasks the master thought were there and
    // that the agent does not know are gone.
    const reported = new Set<string>()
    // Tasks of a framework that was removed (while the agent was away, or before a master
    // restart) are not taken back: the agent is told to shut that framework down, as Mesos does.
    const removed = new Set<string>()
    for (const fid of new Set(reg.tasks.map((t) => t.framework_id))) if (!state.frameworks.has(fid) && (await state.wasRemoved(fid))) removed.add(fid)
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
    for (const t of [...state.tasks.values()]) {
      if (t.agentId !== id || reported.has(taskKey(t.frameworkId, t.taskId))) continue
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
    log.info({ agentId: id, hostname: reg.hostname, resources: formatResources(reg.resources), reregistered: !!reg.agent_id }, 'agent registered')
    emitOperator(ctx, { type: 'AGENT_ADDED', agent_added: { agent: agentV1(ctx.master(), state.agents.get(id)!) } })
    offers.allocateSoon()
    return { agent_id: id, ping_interval_ms: opts.agentPingTimeoutMs, master_id: ctx.runId }
  }

  function markUnreachable(agent: AgentRecord): void {
    const now = ctx.clock.now()
    log.warn({ agentId: agent.id, hostname: agent.hostname }, 'agent missed too many pings: unreachable')
    state.apply({ type: 'agent-unreachable', agentId: agent.id }, now)
    for (const o of [...state.offers.values()]) if (o.agentId === agent.id) offers.rescind(o)
    for (const t of state.tasks.values()) {
      if (t.agentId !== agent.id || isTerminal(t.state)) continue
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

  const pingUrl = (a: { id: string; ip: string; port: number }): string => `http://${a.ip}:${a.port}${pingPath(a.id, ctx.runId)}`

  /**
   * Pings the agents of the registry that have not re-registered. A ping names this master: an
   * agent registered with another (the master before a restart) re-registers at once, rather
   * than after three ping intervals without a ping. Mesos agents learn of a new leading master
   * from the leader detector; the ping is dromos' way to tell them.
   */
  async function pingRecoveredAgents(): Promise<void> {
    await Promise.all(
      [...state.recoveredAgents.values()].map(async (a) => {
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
      [...state.agents.values()].filter(isActive).map(async (a) => {
        let answered = false
        try {
          const r = await fetch(pingUrl(a), { signal: AbortSignal.timeout(opts.agentPingTimeoutMs) })
          if (!r.ok) throw new Error(`ping answered ${r.status}`)
          await r.arrayBuffer()
          answered = true
        } catch {
          // Not answered: counted below.
        }
        // An agent that re-registered while the ping was out is a new registration: the ping
        // does not count for it.
        if (state.agents.get(a.id) !== a) return
        applyNow(ctx, { type: answered ? 'agent-ping-answered' : 'agent-ping-missed', agentId: a.id })
        const after = state.agents.get(a.id)
        if (!answered && after && after.missedPings >= opts.maxAgentPingTimeouts && isActive(after)) markUnreachable(after)
      }),
    )
  }

  function agentStatusUpdate(agentId: string, frameworkId: string, status: TaskStatusWire, latestState?: string): void {
    // An agent the master marked unreachable must re-register first: its registration is what
    // brings its tasks back (and tells the frameworks). An update that slipped in before it
    // would mark the task RUNNING quietly. The 404 makes the agent re-register and retry.
    const agent = state.agents.get(agentId)
    if (agent && !isActive(agent)) throw new NotFoundError(`Agent ${agentId} is unreachable: re-register`)
    const t = state.tasks.get(taskKey(frameworkId, status.task_id.value))
    if (t && t.agentId === agentId) updateTask(t, status, latestState !== undefined ? { latestState } : {})
    sendUpdate(ctx, state.frameworks.get(frameworkId), { ...status, agent_id: { value: agentId } })
  }

  async function expireRecoveredAgents(): Promise<void> {
    for (const a of [...state.recoveredAgents.values()]) {
      if (ctx.stopped || state.agents.has(a.id)) continue
      log.warn({ agentId: a.id, hostname: a.hostname }, 'agent did not re-register within the re-register timeout: removed from the registry')
      applyNow(ctx, { type: 'recovered-agent-expired', agentId: a.id })
      await state.written()
    }
  }

  return { registerAgent, agentStatusUpdate, pingAgents, pingRecoveredAgents, expireRecoveredAgents }
}
