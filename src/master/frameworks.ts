// Frameworks: SUBSCRIBE and its stream, disconnection and the failover timeout, removal.
import type { ServerResponse } from 'node:http'
import { writeRecord } from '../api/http.js'
import { AgentInternalPath } from '../api/internal.js'
import type { SchedulerCall } from '../api/mesos.js'
import { BATCHED_CALLS_HEADER } from '../api/mesos.js'
import { BadRequestError, ForbiddenError } from '../core/errors.js'
import { newUuid } from '../core/ids.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { MasterContext } from './context.js'
import { agentRequest, applyNow, emitOperator, isActive, masterStatus, send } from './context.js'
import type { Offers } from './offers.js'
import type { UpdateTask } from './tasks.js'
import type { FrameworkRecord } from './types.js'
import { validateFrameworkRoles } from './validation.js'
import { frameworkV1 } from './views.js'

export interface Frameworks {
  subscribe(call: SchedulerCall, res: ServerResponse, acceptsRecordIo: boolean): Promise<void>
  removeFramework(f: FrameworkRecord, why: string): Promise<void>
  /** Starts the failover timeout of a framework recovered from the store after a restart. */
  awaitRecovered(f: FrameworkRecord): void
  stop(): void
}

export function createFrameworks(ctx: MasterContext, deps: { offers: Offers; updateTask: UpdateTask; masterInfo: () => Record<string, unknown> }): Frameworks {
  const { state, opts, log } = ctx
  const { offers, updateTask } = deps
  const failoverTimers = new Map<string, NodeJS.Timeout>()
  let frameworkSeq = 0

  function clearFailover(id: string): void {
    const timer = failoverTimers.get(id)
    if (timer) clearTimeout(timer)
    failoverTimers.delete(id)
  }

  function closeStream(f: FrameworkRecord): void {
    const stream = ctx.streams.get(f.id)
    if (!stream) return
    clearInterval(stream.heartbeat)
    ctx.streams.delete(f.id)
    applyNow(ctx, { type: 'framework-disconnected', frameworkId: f.id })
    stream.res.end()
  }

  /** For timers, which nobody awaits: a failed store write is logged, not left to reject. */
  const removeFailed =
    (f: FrameworkRecord) =>
    (e: unknown): void =>
      log.error({ err: e, frameworkId: f.id }, 'removing framework failed')

  /** Removes the framework once the timeout elapses, unless it has (re-)subscribed by then. */
  function startFailover(f: FrameworkRecord, timeoutMs: number, why: string): void {
    const timer = setTimeout(() => {
      failoverTimers.delete(f.id)
      if (!ctx.streams.has(f.id) && state.frameworks.get(f.id) === f) removeFramework(f, why).catch(removeFailed(f))
    }, Math.min(timeoutMs, 2 ** 31 - 1))
    timer.unref()
    failoverTimers.set(f.id, timer)
  }

  async function removeFramework(f: FrameworkRecord, why: string): Promise<void> {
    log.info({ frameworkId: f.id, why }, 'removing framework')
    clearFailover(f.id)
    for (const o of state.offersOfFramework(f.id)) offers.removeOffer(o.id)
    closeStream(f)
    const agentIds = new Set(state.tasksOfFramework(f.id).map((t) => t.agentId))
    for (const t of state.tasksOfFramework(f.id)) {
      // A task that had ended already keeps its terminal state.
      if (!isTerminal(t.state)) {
        updateTask(t, masterStatus(ctx, t.taskId, t.agentId, TaskState.KILLED, 'REASON_FRAMEWORK_REMOVED', `Framework removed: ${why}`))
      }
      applyNow(ctx, { type: 'task-removed', taskId: t.taskId, frameworkId: f.id })
    }
    for (const id of agentIds) {
      const agent = state.agents.get(id)
      if (agent && isActive(agent)) {
        await agentRequest(agent, AgentInternalPath.shutdownFramework, { framework_id: f.id }).then(
          (r) => r.arrayBuffer(),
          (e: unknown) => log.warn({ err: e, agentId: id }, 'failed to ask agent to shut the framework down'),
        )
      }
    }
    applyNow(ctx, { type: 'framework-removed', frameworkId: f.id })
    await state.written()
    emitOperator(ctx, { type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { ...f.info, id: { value: f.id } } } })
    offers.allocateSoon()
  }

  function onDisconnect(f: FrameworkRecord, streamId: string): void {
    const stream = ctx.streams.get(f.id)
    if (stream?.streamId !== streamId) return
    clearInterval(stream.heartbeat)
    ctx.streams.delete(f.id)
    applyNow(ctx, { type: 'framework-disconnected', frameworkId: f.id })
    // Offers to a disconnected framework go back to the pool.
    for (const o of state.offersOfFramework(f.id)) offers.removeOffer(o.id)
    log.info({ frameworkId: f.id, failoverTimeoutSeconds: f.info.failover_timeout }, 'framework disconnected')
    emitOperator(ctx, { type: 'FRAMEWORK_UPDATED', framework_updated: { framework: frameworkV1(ctx.master(), f) } })
    startFailover(f, f.info.failover_timeout * 1000, 'failover timeout elapsed')
    offers.allocateSoon()
  }

  async function subscribe(call: SchedulerCall, res: ServerResponse, acceptsRecordIo: boolean): Promise<void> {
    const body = call.subscribe
    if (!body) throw new BadRequestError("Expecting 'subscribe' to be present")
    const info = body.framework_info
    const requestedId = call.framework_id?.value ?? info.id?.value
    if (call.framework_id && info.id && call.framework_id.value !== info.id.value) {
      throw new BadRequestError("'framework_id' differs from 'subscribe.framework_info.id'")
    }
    if (requestedId && (await state.wasRemoved(requestedId))) throw new ForbiddenError(`Framework ${requestedId} has been removed`)
    const invalid = validateFrameworkRoles(info)
    if (invalid) {
      // As Mesos: the subscription stream opens, says why in an ERROR event, and closes.
      res.writeHead(200, { 'Content-Type': acceptsRecordIo ? 'application/recordio' : 'application/json', 'Cache-Control': 'no-cache' })
      writeRecord(res, { type: 'ERROR', error: { message: `Framework has been refused: ${invalid}` } })
      res.end()
      log.warn({ name: info.name, reason: invalid }, 'framework refused')
      return
    }
    const known = requestedId ? state.frameworks.get(requestedId) : undefined
    if (known) {
      clearFailover(known.id)
      if (ctx.streams.has(known.id)) {
        send(ctx, known, { type: 'ERROR', error: { message: 'Framework failed over' } })
        closeStream(known)
      }
    }
    const id = known?.id ?? requestedId ?? `${ctx.runId}-${String(frameworkSeq++).padStart(4, '0')}`
    applyNow(ctx, { type: 'framework-subscribed', frameworkId: id, info, resubscribed: requestedId !== undefined, suppressedRoles: body.suppressed_roles ?? [] })
    await state.written()

    const streamId = newUuid()
    res.socket?.setNoDelay(true)
    res.writeHead(200, {
      'Content-Type': acceptsRecordIo ? 'application/recordio' : 'application/json',
      ...(acceptsRecordIo ? { 'Message-Content-Type': 'application/json' } : {}),
      'Mesos-Stream-Id': streamId,
      [BATCHED_CALLS_HEADER]: 'ACKNOWLEDGE',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    })
    const fw = state.frameworks.get(id)!
    const heartbeat = setInterval(() => send(ctx, fw, { type: 'HEARTBEAT' }), opts.heartbeatIntervalSeconds * 1000)
    ctx.streams.set(id, { res, streamId, heartbeat })
    applyNow(ctx, { type: 'framework-connected', frameworkId: id, streamId })
    res.on('close', () => onDisconnect(fw, streamId))
    send(ctx, fw, {
      type: 'SUBSCRIBED',
      subscribed: { framework_id: { value: fw.id }, heartbeat_interval_seconds: opts.heartbeatIntervalSeconds, master_info: deps.masterInfo() },
    })
    log.info({ frameworkId: fw.id, name: info.name, roles: fw.roles }, requestedId ? 'framework re-subscribed' : 'framework subscribed')
    emitOperator(ctx, { type: requestedId ? 'FRAMEWORK_UPDATED' : 'FRAMEWORK_ADDED', [requestedId ? 'framework_updated' : 'framework_added']: { framework: frameworkV1(ctx.master(), fw) } })
    offers.allocateSoon()
  }

  return {
    subscribe,
    removeFramework,
    awaitRecovered(f) {
      startFailover(f, Math.max(f.info.failover_timeout * 1000, 60_000), 'failover timeout elapsed after master restart')
    },
    stop() {
      for (const id of failoverTimers.keys()) clearFailover(id)
      for (const f of state.frameworks.values()) closeStream(f)
    },
  }
}
