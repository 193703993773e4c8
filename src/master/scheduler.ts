// The calls of a subscribed framework other than SUBSCRIBE: ACCEPT, DECLINE, REVIVE, SUPPRESS,
// KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE, TEARDOWN and UPDATE_FRAMEWORK.
import type { KillPolicy, SchedulerCall, TaskInfo } from '../api/mesos.js'
import { resourcesFromWire } from '../api/mesos.js'
import type { AcknowledgementWire } from '../api/internal.js'
import { AgentInternalPath, TaskResultsSchema } from '../api/internal.js'
import { createTickBatcher } from '../core/batches.js'
import { assertNever, BadRequestError, ForbiddenError, NotFoundError } from '../core/errors.js'
import type { Resources } from '../core/resources.js'
import { add, contains, EMPTY, formatResources, isEmpty, subtract } from '../core/resources.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { MasterContext } from './context.js'
import { agentRequest, applyNow, countTerminal, emitOperator, isActive, masterStatus, partitionAware, sendUpdate, statusOf } from './context.js'
import type { Frameworks } from './frameworks.js'
import type { Offers } from './offers.js'
import { taskKey } from './state.js'
import type { UpdateTask } from './tasks.js'
import type { AgentRecord, FrameworkRecord, TaskRecord } from './types.js'
import { validateFrameworkRoles, validateTask } from './validation.js'
import { frameworkV1, taskV1 } from './views.js'

/** Refusals last 5 seconds unless the call's filters say otherwise, as in Mesos. */
const DEFAULT_REFUSE_SECONDS = 5
/** Mesos caps refuse_seconds at a year. */
const MAX_REFUSE_SECONDS = 365 * 24 * 3600

export function createSchedulerCalls(
  ctx: MasterContext,
  deps: { offers: Offers; updateTask: UpdateTask; frameworks: Frameworks },
): (call: SchedulerCall, streamId: string | undefined) => Promise<void> {
  const { state, log } = ctx
  const { offers, updateTask } = deps

  function addRefusal(f: FrameworkRecord, refused: { agentId: string; role: string; resources: Resources }, refuseSeconds: number | undefined): void {
    // As Mesos: no value or a negative one is the default; 0 refuses nothing.
    const seconds = refuseSeconds === undefined || refuseSeconds < 0 || !Number.isFinite(refuseSeconds) ? DEFAULT_REFUSE_SECONDS : Math.min(refuseSeconds, MAX_REFUSE_SECONDS)
    applyNow(ctx, { type: 'refusal-added', frameworkId: f.id, ...refused, refuseSeconds: seconds })
  }

  // The acknowledgements of one turn of the event loop go to each agent in one request.
  const forwardedAcks = createTickBatcher<AcknowledgementWire, void>({
    send: async (agentId, acks) => {
      const agent = state.agents.get(agentId)
      if (!agent) throw new Error(`agent ${agentId} is gone`)
      const r = await agentRequest(agent, AgentInternalPath.ack, { acks: [...acks] })
      if (!r.ok) throw new Error(`agent answered ${r.status}: ${await r.text()}`)
      await r.arrayBuffer()
      return acks.map(() => undefined)
    },
  })

  async function acknowledge(f: FrameworkRecord, ack: NonNullable<SchedulerCall['acknowledge']>): Promise<void> {
    const agent = state.agents.get(ack.agent_id.value)
    if (!agent) throw new BadRequestError(`Unknown agent ${ack.agent_id.value}`)
    // An unreachable agent would hold the framework's call until the request times out; as in
    // Mesos the acknowledgement is dropped, and the agent re-sends the update once it is back.
    if (isActive(agent)) {
      await forwardedAcks
        .add(agent.id, { framework_id: f.id, task_id: ack.task_id.value, uuid: ack.uuid })
        .catch((e: unknown) => log.warn({ err: e, agentId: agent.id }, 'failed to forward acknowledgement'))
    } else log.info({ agentId: agent.id, taskId: ack.task_id.value }, 'dropping acknowledgement for an unreachable agent')
    const t = state.tasks.get(taskKey(f.id, ack.task_id.value))
    if (t && t.pendingUuid === ack.uuid) {
      applyNow(ctx, { type: 'task-acknowledged', taskId: t.taskId, frameworkId: f.id, uuid: ack.uuid })
      // Only the acknowledgement of a terminal update ends the task. The acknowledgement of an
      // earlier update can arrive after the master marked the task LOST (its agent stopped
      // answering, maybe while this very acknowledgement waited on it): the task may come back.
      const acked = [...t.statuses].reverse().find((s) => s.uuid === ack.uuid)
      if (isTerminal(t.state) && (acked ? isTerminal(acked.state) : true)) applyNow(ctx, { type: 'task-removed', taskId: t.taskId, frameworkId: f.id })
    }
  }

  /** Operations an offer can carry in Mesos that dromos does not carry out. */
  function refuseUnsupported(body: NonNullable<SchedulerCall['accept']>): void {
    const unsupported = [...new Set(body.operations.map((op) => op.type).filter((t) => t !== 'LAUNCH' && t !== 'LAUNCH_GROUP'))]
    // Refused before any offer is used, so the framework keeps its offers and can try again.
    if (unsupported.length > 0) throw new BadRequestError(`Operation${unsupported.length > 1 ? 's' : ''} ${unsupported.join(', ')} not supported by this master: only LAUNCH is`)
  }

  /**
   * Sends the tasks of an ACCEPT to their agent in one request. A task that does not get there
   * (no answer, or none for it) is DROPPED (LOST to a framework that is not partition-aware);
   * one the agent refuses is in ERROR; each with an update of its own.
   */
  function sendLaunches(f: FrameworkRecord, agent: AgentRecord, tasks: readonly TaskInfo[]): void {
    const fail = (ti: TaskInfo, state: string, reason: string, message: string): void => {
      const t = ctx.state.tasks.get(taskKey(f.id, ti.task_id.value))
      if (!t || t.state !== TaskState.STAGING) return
      const status = masterStatus(ctx, ti.task_id.value, agent.id, state, reason, message)
      updateTask(t, status)
      applyNow(ctx, { type: 'task-removed', taskId: t.taskId, frameworkId: f.id })
      sendUpdate(ctx, f, status)
    }
    const lostState = partitionAware(f) ? TaskState.DROPPED : TaskState.LOST
    void agentRequest(agent, AgentInternalPath.launch, { framework_id: f.id, framework_info: f.info, task_infos: [...tasks] })
      .then(async (r) => {
        if (!r.ok) throw new Error(`agent answered ${r.status}: ${await r.text()}`)
        return TaskResultsSchema.parse(await r.json()).results
      })
      .then(
        (results) => {
          let failed = 0
          tasks.forEach((ti, i) => {
            const result = results[i]
            if (result && result.error === undefined) return
            failed++
            log.warn({ taskId: ti.task_id.value, agentId: agent.id, error: result?.error }, 'agent did not take the task')
            if (result) fail(ti, TaskState.ERROR, 'REASON_TASK_INVALID', result.error ?? '')
            else fail(ti, lostState, 'REASON_AGENT_DISCONNECTED', 'Agent did not answer for the task')
          })
          if (failed > 0) offers.allocateSoon([agent.id])
        },
        (e: unknown) => {
          log.warn({ err: e, tasks: tasks.length, agentId: agent.id }, 'failed to send tasks to agent')
          for (const ti of tasks) fail(ti, lostState, 'REASON_AGENT_DISCONNECTED', `Failed to reach agent: ${(e as Error).message}`)
          offers.allocateSoon([agent.id])
        },
      )
  }

  async function accept(f: FrameworkRecord, body: NonNullable<SchedulerCall['accept']>): Promise<void> {
    refuseUnsupported(body)
    const launches = body.operations.flatMap((op) => (op.type === 'LAUNCH' ? (op.launch?.task_infos ?? []) : []))
    // A task group needs an executor dromos does not have: each of its tasks fails, as an invalid task does.
    for (const op of body.operations) {
      for (const t of op.type === 'LAUNCH_GROUP' ? (op.launch_group?.task_group.tasks ?? []) : []) {
        countTerminal(ctx, TaskState.ERROR)
        sendUpdate(ctx, f, masterStatus(ctx, t.task_id.value, t.agent_id?.value, TaskState.ERROR, 'REASON_TASK_GROUP_INVALID', 'LAUNCH_GROUP is not supported by this master: launch each task with LAUNCH'))
      }
    }
    const taken = offers.takeOffers(f, body.offer_ids)
    if (typeof taken === 'string') {
      const lostState = partitionAware(f) ? TaskState.DROPPED : TaskState.LOST
      for (const ti of launches) {
        countTerminal(ctx, lostState)
        sendUpdate(ctx, f, masterStatus(ctx, ti.task_id.value, ti.agent_id.value, lostState, 'REASON_INVALID_OFFERS', `Task launched with invalid offers: ${taken}`))
      }
      offers.allocateSoon()
      return
    }
    if (taken.length === 0) return
    const agentId = taken[0]!.agentId
    const role = taken[0]!.role
    const agent = state.agents.get(agentId)
    let pool = taken.reduce<Resources>((acc, o) => add(acc, o.resources), EMPTY)
    const sent: TaskInfo[] = []
    for (const ti of launches) {
      const resources = resourcesFromWire(ti.resources)
      const problem =
        validateTask(ti, { agentId, knownTask: state.tasks.has(taskKey(f.id, ti.task_id.value)) }) ??
        (contains(pool, resources) ? undefined : `Task uses more resources ${formatResources(resources)} than available ${formatResources(pool)}`)
      if (problem || !agent || !isActive(agent)) {
        const reason = problem ? 'REASON_TASK_INVALID' : 'REASON_AGENT_REMOVED'
        const failed = problem ? TaskState.ERROR : partitionAware(f) ? TaskState.DROPPED : TaskState.LOST
        countTerminal(ctx, failed)
        sendUpdate(ctx, f, masterStatus(ctx, ti.task_id.value, agentId, failed, reason, problem ?? 'Agent is not available'))
        continue
      }
      pool = subtract(pool, resources)
      const status = masterStatus(ctx, ti.task_id.value, agentId, TaskState.STAGING, 'REASON_TASK_STAGING', '')
      delete status.reason
      delete status.message
      const task: TaskRecord = { taskId: ti.task_id.value, frameworkId: f.id, agentId, role, info: ti, resources, state: TaskState.STAGING, statuses: [status] }
      applyNow(ctx, { type: 'task-added', task })
      ctx.counters.tasksLaunched++
      // taskV1 is built only for someone to hear it: an ACCEPT storm has no operator listening.
      if (ctx.operatorListeners.size > 0) emitOperator(ctx, { type: 'TASK_ADDED', task_added: { task: taskV1(task) } })
      sent.push(ti)
    }
    if (agent && sent.length > 0) sendLaunches(f, agent, sent)
    // What the accept did not use counts as declined.
    if (!isEmpty(pool)) addRefusal(f, { agentId, role, resources: pool }, body.filters?.refuse_seconds)
    offers.allocateSoon([agentId])
  }

  function decline(f: FrameworkRecord, body: NonNullable<SchedulerCall['decline']>): void {
    const agents = new Set<string>()
    // As Master::decline: an offer that is no longer valid (rescinded, timed out, used, declined
    // already) is skipped, not an error; a framework cannot tell a late decline from a timely
    // one. An offer of another framework is skipped too: it is not this framework's to discard.
    for (const { value } of body.offer_ids) {
      const o = state.offers.get(value)
      if (!o || o.frameworkId !== f.id) {
        log.info({ frameworkId: f.id, offerId: value }, o ? 'ignoring decline of an offer made to another framework' : 'ignoring decline of an offer that is no longer valid')
        continue
      }
      offers.removeOffer(o.id)
      agents.add(o.agentId)
      addRefusal(f, { agentId: o.agentId, role: o.role, resources: o.resources }, body.filters?.refuse_seconds)
      ctx.counters.offersDeclined++
    }
    offers.allocateSoon(agents)
  }

  function reconcile(f: FrameworkRecord, body: NonNullable<SchedulerCall['reconcile']>): void {
    const pa = partitionAware(f)
    if (body.tasks.length === 0) {
      for (const t of state.tasksOfFramework(f.id)) {
        sendUpdate(ctx, f, statusOf(ctx, t, { source: 'SOURCE_MASTER', reason: 'REASON_RECONCILIATION' }))
      }
      return
    }
    for (const ref of body.tasks) {
      const t = state.tasks.get(taskKey(f.id, ref.task_id.value))
      if (t) {
        sendUpdate(ctx, f, statusOf(ctx, t, { source: 'SOURCE_MASTER', reason: 'REASON_RECONCILIATION' }))
        continue
      }
      const agentId = ref.agent_id?.value
      // As Mesos: while the agent (or, without an agent id, any agent) of the registry has not
      // re-registered since a master restart, the task may well be on it. No answer is sent:
      // the framework asks again later.
      if (agentId ? state.recoveredAgents.has(agentId) && !state.agents.has(agentId) : state.recoveredAgents.size > 0) {
        log.info({ frameworkId: f.id, taskId: ref.task_id.value, agentId }, 'dropping reconciliation of a task: agents have not re-registered yet')
        continue
      }
      const agent = agentId ? state.agents.get(agentId) : undefined
      // As Mesos: a task on an agent marked unreachable is unreachable (LOST to a framework
      // that is not partition-aware) since the agent was, whether or not this master knows it.
      const unreachableSince = agent ? agent.unreachableSince : agentId ? state.unreachableAgents.get(agentId)?.unreachableAt : undefined
      let answer: string
      if (unreachableSince !== undefined) answer = pa ? TaskState.UNREACHABLE : TaskState.LOST
      else if (agent) answer = pa ? TaskState.GONE : TaskState.LOST
      else answer = pa ? TaskState.UNKNOWN : TaskState.LOST
      const status = masterStatus(ctx, ref.task_id.value, agentId, answer, 'REASON_RECONCILIATION', 'Reconciliation: task is unknown')
      if (unreachableSince !== undefined && answer === TaskState.UNREACHABLE) status.unreachable_time = { nanoseconds: unreachableSince * 1e6 }
      sendUpdate(ctx, f, status)
    }
  }

  async function kill(f: FrameworkRecord, body: NonNullable<SchedulerCall['kill']>): Promise<void> {
    const t = state.tasks.get(taskKey(f.id, body.task_id.value))
    if (!t) {
      const unknown = partitionAware(f) ? TaskState.UNKNOWN : TaskState.LOST
      sendUpdate(ctx, f, masterStatus(ctx, body.task_id.value, body.agent_id?.value, unknown, 'REASON_RECONCILIATION', 'Attempted to kill an unknown task'))
      return
    }
    const agent = state.agents.get(t.agentId)
    if (!agent || !isActive(agent)) return
    const policy: KillPolicy | undefined = body.kill_policy ?? t.info.kill_policy
    const graceMs = policy?.grace_period ? Math.floor(policy.grace_period.nanoseconds / 1e6) : 3000
    const r = await agentRequest(agent, AgentInternalPath.kill, { framework_id: f.id, task_id: t.taskId, grace_period_ms: graceMs })
    await r.arrayBuffer()
  }

  return async function handleCall(call, streamId) {
    const fid = call.framework_id?.value
    if (!fid) throw new BadRequestError("Expecting 'framework_id' to be present")
    const f = state.frameworks.get(fid)
    const stream = ctx.streams.get(fid)
    // As Mesos's http.cpp: an unknown framework is the caller's error, a known one without its stream is not subscribed.
    if (!f) throw new BadRequestError('Framework cannot be found')
    if (!stream) throw new ForbiddenError('Framework is not subscribed')
    if (!streamId) throw new BadRequestError("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    if (streamId !== stream.streamId) {
      throw new BadRequestError(`The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${fid}`)
    }
    const need = <T>(v: T | undefined, name: string): T => {
      if (v === undefined) throw new BadRequestError(`Expecting '${name}' to be present`)
      return v
    }
    // KILL, SHUTDOWN, ACKNOWLEDGE and MESSAGE are answered 202 at once, as Mesos does: the agent
    // is reached afterwards, and what goes wrong there is logged, not returned.
    const inBackground = (call: string, work: Promise<void>): void =>
      void work.catch((e: unknown) => log.warn({ err: e, frameworkId: fid, call }, 'scheduler call failed after it was accepted'))
    switch (call.type) {
      case 'ACCEPT':
        return accept(f, need(call.accept, 'accept'))
      case 'DECLINE':
        return decline(f, need(call.decline, 'decline'))
      case 'REVIVE': {
        const roles = call.revive?.roles ?? (call.revive?.role ? [call.revive.role] : f.roles)
        applyNow(ctx, { type: 'roles-revived', frameworkId: f.id, roles })
        offers.allocateSoon()
        return
      }
      case 'SUPPRESS': {
        const roles = call.suppress?.roles ?? (call.suppress?.role ? [call.suppress.role] : f.roles)
        applyNow(ctx, { type: 'roles-suppressed', frameworkId: f.id, roles })
        return
      }
      case 'KILL':
        return inBackground('KILL', kill(f, need(call.kill, 'kill')))
      case 'SHUTDOWN': {
        // Command tasks run under an executor with the task's id, so shutting that executor
        // down kills the task.
        const body = need(call.shutdown, 'shutdown')
        return inBackground('SHUTDOWN', kill(f, { task_id: body.executor_id, agent_id: body.agent_id }))
      }
      case 'ACKNOWLEDGE': {
        const body = need(call.acknowledge, 'acknowledge')
        if (!state.agents.has(body.agent_id.value)) throw new BadRequestError(`Unknown agent ${body.agent_id.value}`)
        return inBackground('ACKNOWLEDGE', acknowledge(f, body))
      }
      case 'RECONCILE':
        return reconcile(f, call.reconcile ?? { tasks: [] })
      case 'MESSAGE': {
        const body = need(call.message, 'message')
        const agent = state.agents.get(body.agent_id.value)
        if (!agent) throw new NotFoundError(`Unknown agent ${body.agent_id.value}`)
        return inBackground(
          'MESSAGE',
          agentRequest(agent, AgentInternalPath.message, { framework_id: f.id, executor_id: body.executor_id.value, data: body.data }).then(async (r) => {
            await r.arrayBuffer()
          }),
        )
      }
      case 'TEARDOWN':
        return deps.frameworks.removeFramework(f, 'teardown')
      case 'UPDATE_FRAMEWORK': {
        const body = need(call.update_framework, 'update_framework')
        if (body.framework_info.id && body.framework_info.id.value !== f.id) throw new BadRequestError('framework_info.id does not match framework_id')
        const invalid = validateFrameworkRoles(body.framework_info)
        if (invalid) throw new BadRequestError(`Invalid FrameworkInfo: ${invalid}`)
        applyNow(ctx, { type: 'framework-updated', frameworkId: f.id, info: body.framework_info })
        await state.written()
        emitOperator(ctx, { type: 'FRAMEWORK_UPDATED', framework_updated: { framework: frameworkV1(ctx.master(), f) } })
        offers.allocateSoon()
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
}
