// Recording a task's status updates, from its agent or made by the master.
import type { TaskStatusWire } from '../api/mesos.js'
import { isTerminal } from '../core/task-state.js'
import type { MasterContext } from './context.js'
import { applyNow, countTerminal, emitOperator } from './context.js'
import { taskKey } from './state.js'
import type { TaskRecord } from './types.js'

export type UpdateTask = (t: TaskRecord, status: TaskStatusWire, o?: { fromAgentReport?: boolean; latestState?: string }) => void

/**
 * Records a status of a known task, as Mesos' Master::updateTask: a status of the latest
 * status' state replaces it; operator subscribers hear of each new state (and of each health
 * check result), not of each re-delivery; a terminal transition is counted once and frees the
 * task's resources.
 */
export function createUpdateTask(ctx: MasterContext, allocateSoon: () => void): UpdateTask {
  return (t, status, o = {}) => {
    const wasTerminal = isTerminal(t.state)
    // A task that ended stays ended: a late non-terminal update does not revive it. Only the
    // agent's own report, when it re-registers, brings back a task the master gave up as LOST.
    if (wasTerminal && !isTerminal(status.state) && !o.fromAgentReport) return
    const newState = t.statuses.at(-1)?.state !== status.state
    const healthUpdate = status.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED' || status.reason === 'REASON_TASK_CHECK_STATUS_UPDATED'
    const endedBefore = isTerminal(t.latestState ?? t.state)
    applyNow(ctx, { type: 'task-status', taskId: t.taskId, frameworkId: t.frameworkId, status, ...(o.latestState !== undefined ? { latestState: o.latestState } : {}) })
    if (newState || healthUpdate) {
      const state = ctx.state.tasks.get(taskKey(t.frameworkId, t.taskId))?.state ?? status.state
      emitOperator(ctx, { type: 'TASK_UPDATED', task_updated: { framework_id: { value: t.frameworkId }, status, state } })
    }
    if (!wasTerminal && isTerminal(status.state)) countTerminal(ctx, status.state)
    // Resources come back as soon as the task has ended on its agent, acknowledged or not.
    const after = ctx.state.tasks.get(taskKey(t.frameworkId, t.taskId))
    if (!endedBefore && after && isTerminal(after.latestState ?? after.state)) allocateSoon()
  }
}
