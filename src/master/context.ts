// What the parts of the master's shell share: the options, the state and the clock its
// commands are applied at, the open framework streams, operator subscribers and counters, and
// the status updates the master writes itself.
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { TaskStatusWire } from '../api/mesos.js'
import { writeRecord } from '../api/http.js'
import type { PostAnswer } from '../api/post-json.js'
import { postJson } from '../api/post-json.js'
import type { AgentCalls } from '../api/internal.js'
import type { Clock } from '../core/clock.js'
import type { MasterState } from './state.js'
import type { AgentRecord, FrameworkRecord, Master, MasterCommand, MasterOptions, OperatorEvent, TaskRecord } from './types.js'

export const MASTER_VERSION = '1.11.0'

/** The open SUBSCRIBE stream of a framework: I/O the state only marks as `stream`. */
export interface FrameworkStream {
  readonly res: ServerResponse
  readonly streamId: string
  readonly heartbeat: NodeJS.Timeout
}

export interface MasterContext {
  readonly opts: MasterOptions
  readonly log: Logger
  readonly clock: Clock
  readonly state: MasterState
  /** This master's id, the prefix of the ids it makes. */
  readonly runId: string
  /** The master as the views read it. */
  readonly master: () => Master
  readonly counters: { offersSent: number; offersRescinded: number; offersDeclined: number; updatesForwarded: number; tasksLaunched: number; invalidCalls: number }
  /** Terminal transitions by state, as Mesos' master/tasks_finished, tasks_failed, … counters. */
  readonly terminalCounts: Map<string, number>
  readonly streams: Map<string, FrameworkStream>
  readonly operatorListeners: Set<(e: OperatorEvent) => void>
  stopped: boolean
}

/** Applies a command at the clock's time: the one way the shell changes the state. */
export const applyNow = (ctx: MasterContext, cmd: MasterCommand): void => ctx.state.apply(cmd, ctx.clock.now())

export const isActive = (a: AgentRecord): boolean => a.unreachableSince === undefined

export const partitionAware = (f: FrameworkRecord | undefined): boolean => !!f?.info.capabilities.some((c) => c.type === 'PARTITION_AWARE')

export function emitOperator(ctx: MasterContext, e: OperatorEvent): void {
  for (const l of ctx.operatorListeners) l(e)
}

export function countTerminal(ctx: MasterContext, state: string): void {
  ctx.terminalCounts.set(state, (ctx.terminalCounts.get(state) ?? 0) + 1)
}

export function send(ctx: MasterContext, f: FrameworkRecord, event: Record<string, unknown>): boolean {
  const stream = ctx.streams.get(f.id)
  if (!stream) return false
  try {
    writeRecord(stream.res, event)
    return true
  } catch (e) {
    ctx.log.warn({ err: e, frameworkId: f.id }, 'failed to write to framework stream')
    return false
  }
}

export function sendUpdate(ctx: MasterContext, f: FrameworkRecord | undefined, status: TaskStatusWire): void {
  if (!f) return
  if (send(ctx, f, { type: 'UPDATE', update: { status } })) ctx.counters.updatesForwarded++
}

/** The task's latest status as the master reports it, e.g. to a reconciliation. */
export function statusOf(ctx: MasterContext, t: TaskRecord, overrides: Partial<TaskStatusWire> = {}): TaskStatusWire {
  const latest = t.statuses[t.statuses.length - 1]
  const base: TaskStatusWire = {
    task_id: { value: t.taskId },
    state: t.state,
    agent_id: { value: t.agentId },
    timestamp: ctx.clock.now() / 1000,
  }
  if (latest?.healthy !== undefined) base.healthy = latest.healthy
  if (latest?.container_status !== undefined) base.container_status = latest.container_status
  if (latest?.message !== undefined) base.message = latest.message
  return { ...base, ...overrides }
}

/** A status update the master makes itself (SOURCE_MASTER). */
export function masterStatus(ctx: MasterContext, taskId: string, agentId: string | undefined, state: string, reason: string, message: string): TaskStatusWire {
  const s: TaskStatusWire = { task_id: { value: taskId }, state, source: 'SOURCE_MASTER', reason, message, timestamp: ctx.clock.now() / 1000 }
  if (agentId) s.agent_id = { value: agentId }
  return s
}

export async function agentRequest<P extends keyof AgentCalls>(agent: AgentRecord, path: P, body: AgentCalls[P], timeoutMs = 10_000): Promise<PostAnswer> {
  return postJson(`http://${agent.ip}:${agent.port}${path}`, JSON.stringify(body), { timeoutMs })
}
