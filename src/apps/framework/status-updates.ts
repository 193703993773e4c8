// Status updates from the master: each becomes the instance's new condition (or its removal,
// once terminal), with its events, its health from the checks Mesos runs, the backoff of a
// failure, and an acknowledgement. A task the framework does not know is killed.
import type { TaskStatusWire } from '../../api/mesos.js'
import { isTerminal, TaskState } from '../../core/task-state.js'
import { unknownInstanceTerminated } from '../event-payloads.js'
import { isTerminalCondition } from '../reconcile.js'
import type { Instance } from '../types.js'
import { Condition } from '../types.js'
import type { Checks } from './checks.js'
import type { FrameworkContext } from './context.js'
import { nowIso } from './context.js'
import type { LaunchQueue } from './launch-queue.js'
import { publishHealth, publishInstanceChanged } from './publish.js'
import { appOf } from './targets.js'

const CONDITION_OF: Record<string, Condition> = {
  TASK_STAGING: Condition.Staging,
  TASK_STARTING: Condition.Starting,
  TASK_RUNNING: Condition.Running,
  TASK_KILLING: Condition.Killing,
  TASK_FINISHED: Condition.Finished,
  TASK_FAILED: Condition.Failed,
  TASK_KILLED: Condition.Killed,
  TASK_ERROR: Condition.Error,
  TASK_LOST: Condition.Gone,
  TASK_DROPPED: Condition.Dropped,
  TASK_UNREACHABLE: Condition.Unreachable,
  TASK_GONE: Condition.Gone,
  TASK_GONE_BY_OPERATOR: Condition.Gone,
  TASK_UNKNOWN: Condition.Unknown,
}

function ipAddressesOf(status: TaskStatusWire): Instance['ipAddresses'] {
  const cs = status.container_status as { network_infos?: Array<{ ip_addresses?: Array<{ ip_address?: string; protocol?: string }> }> } | undefined
  const out: Instance['ipAddresses'] = []
  for (const ni of cs?.network_infos ?? []) {
    for (const a of ni.ip_addresses ?? []) if (a.ip_address) out.push({ ipAddress: a.ip_address, protocol: a.protocol === 'IPv6' ? 'IPv6' : 'IPv4' })
  }
  return out
}

export type StatusUpdateHandler = (status: TaskStatusWire) => Promise<void>

export function createStatusUpdateHandler(ctx: FrameworkContext, deps: { checks: Checks; launchQueue: LaunchQueue }): StatusUpdateHandler {
  const { state, log, events } = ctx
  const { checks, launchQueue } = deps
  return async function onUpdate(status) {
    const taskId = status.task_id.value
    const inst = state.byTaskId(taskId)
    const agentId = status.agent_id?.value
    // As Marathon logs each update it receives. The uuid ties it to the agent's own log line of
    // it (a master's reconciliation answer has none); a re-sent update shows twice.
    log.debug({ taskId, state: status.state, uuid: status.uuid, healthy: status.healthy, reason: status.reason }, 'status update received')
    try {
      if (!inst) {
        // A task we do not know (expunged, or from a lost state): it must not run. TASK_UNKNOWN
        // is the master's answer to killing a task it does not know either: killing again would
        // only bring the same answer back, for ever (Marathon counts Unknown as terminal).
        if (!isTerminal(status.state) && status.state !== TaskState.UNKNOWN) {
          log.info({ taskId, state: status.state }, 'killing unknown task')
          await ctx.client?.kill(taskId, agentId)
        }
        const unknown = unknownInstanceTerminated(taskId, CONDITION_OF[status.state] ?? Condition.Unknown)
        if (unknown) events.publish('unknown_instance_terminated_event', unknown)
        return
      }
      let condition = CONDITION_OF[status.state] ?? Condition.Unknown
      // Being killed stays so, even if a late health update still says RUNNING.
      if (inst.goal !== 'Running' && inst.condition === Condition.Killing && condition === Condition.Running) condition = Condition.Killing
      const app = appOf(state, inst)
      const next: Instance = { ...inst, mesosState: condition === Condition.Killing ? 'TASK_KILLING' : status.state, condition }
      if (status.message) next.lastMessage = status.message
      if (agentId) next.agentId = agentId
      if (condition === Condition.Running && !inst.startedAt) next.startedAt = new Date(status.timestamp * 1000).toISOString()
      const ips = ipAddressesOf(status)
      if (ips.length > 0) next.ipAddresses = ips
      if (condition === Condition.Unreachable) {
        // An instance already written off stays so until it comes back.
        if (inst.condition === Condition.UnreachableInactive) next.condition = Condition.UnreachableInactive
        next.unreachableSince = inst.unreachableSince ?? (status.unreachable_time ? new Date(status.unreachable_time.nanoseconds / 1e6).toISOString() : nowIso(ctx))
      } else {
        delete next.unreachableSince
      }
      const healthBefore = inst.healthy
      if (status.healthy !== undefined && app) {
        const healthy = checks.recordMesosHealth(app, inst.instanceId, status)
        if (healthy === undefined) delete next.healthy
        else if (healthy !== 'unchanged') next.healthy = healthy
      }

      events.publish('status_update_event', {
        slaveId: next.agentId,
        taskId,
        taskStatus: status.state,
        message: status.message ?? '',
        appId: inst.appId,
        host: inst.host,
        ipAddresses: next.ipAddresses,
        ports: inst.hostPorts,
        version: inst.version,
      })

      if (isTerminalCondition(condition)) {
        checks.stop(inst.instanceId)
        await state.apply({ type: 'instance-removed', instanceId: inst.instanceId })
        publishInstanceChanged(events, next)
        if (inst.goal === 'Running' && condition !== Condition.Killed) {
          await launchQueue.noteFailure(inst)
          if (condition === Condition.Failed || condition === Condition.Error || condition === Condition.Gone) {
            await state.apply({
              type: 'task-failure',
              failure: { appId: inst.appId, host: inst.host, message: status.message ?? '', state: status.state, taskId, timestamp: nowIso(ctx), version: inst.version, slaveId: next.agentId },
            })
          }
        }
      } else {
        await state.apply({ type: 'instance-put', instance: next })
        if (inst.condition !== next.condition) publishInstanceChanged(events, next)
        if (next.healthy !== healthBefore && next.healthy !== undefined) publishHealth(events, next)
        if (condition === Condition.Running && inst.condition !== Condition.Running) checks.start(next)
      }
      ctx.tickSoon()
    } finally {
      // Once what the update changed is written (a batch of updates is written at its end), and
      // not awaited: the agent re-sends what is not acknowledged, and other updates need not wait.
      if (status.uuid) {
        state.afterWrites(() => void ctx.client?.acknowledge(status).catch((e: unknown) => log.warn({ err: (e as Error).message, taskId }, 'acknowledge failed')))
      }
    }
  }
}
