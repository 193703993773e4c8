// Each task's stream of status updates, as the agents made it and as the framework received
// it, read from their logs. An agent logs every update it makes ('status update') with the
// update's uuid and its place among the task's updates (`seq`, 1 for the first; agent-internal,
// the wire carries only the uuid), and every acknowledgement it takes ('status update
// acknowledged'). dromos apps logs every update it receives ('status update received'): a
// re-sent one shows again with the same uuid, a master's reconciliation answer with none.
import { readFileSync } from 'node:fs'

interface LogLine {
  msg?: string
  time?: number
  taskId?: string
  uuid?: string
  seq?: number
  state?: string
  healthy?: boolean
  queued?: number
}

export interface MadeUpdate {
  readonly seq: number
  readonly uuid: string
  readonly state: string
  readonly healthy: boolean | undefined
  /** How many of the task's updates awaited acknowledgement with this one, itself included. */
  readonly queued: number
  /** When the agent made it (ms since the epoch). */
  readonly at: number
}

export interface UpdateStreams {
  /** By task: the updates the agents made, by seq. */
  readonly made: ReadonlyMap<string, readonly MadeUpdate[]>
  /** By task: the seqs the agents took acknowledgements of, in the order they did. */
  readonly acknowledged: ReadonlyMap<string, readonly number[]>
  /** By task: the updates the framework received, in the order it did (a reconciliation answer has no uuid). */
  readonly received: ReadonlyMap<string, ReadonlyArray<{ readonly uuid: string | undefined; readonly at: number }>>
}

function logLines(file: string): LogLine[] {
  const out: LogLine[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      out.push(JSON.parse(line) as LogLine)
    } catch {
      // a line cut short at the end of a killed process's log
    }
  }
  return out
}

const push = <T>(m: Map<string, T[]>, k: string, v: T): void => void m.set(k, [...(m.get(k) ?? []), v])

export function readUpdateStreams(opts: { agentLogs: readonly string[]; frameworkLogs: readonly string[] }): UpdateStreams {
  const made = new Map<string, MadeUpdate[]>()
  const acknowledged = new Map<string, number[]>()
  for (const file of opts.agentLogs) {
    for (const l of logLines(file)) {
      if (!l.taskId || l.seq === undefined) continue
      if (l.msg === 'status update' && l.uuid && l.state) push(made, l.taskId, { seq: l.seq, uuid: l.uuid, state: l.state, healthy: l.healthy, queued: l.queued ?? 1, at: l.time ?? 0 })
      if (l.msg === 'status update acknowledged') push(acknowledged, l.taskId, l.seq)
    }
  }
  for (const list of made.values()) list.sort((a, b) => a.seq - b.seq)
  // In time order across the framework's instances (one leads at a time).
  const receivedLines = opts.frameworkLogs.flatMap((f) => logLines(f).filter((l) => l.msg === 'status update received' && l.taskId))
  receivedLines.sort((a, b) => (a.time ?? 0) - (b.time ?? 0))
  const received = new Map<string, Array<{ uuid: string | undefined; at: number }>>()
  for (const l of receivedLines) push(received, l.taskId!, { uuid: l.uuid, at: l.time ?? 0 })
  return { made, acknowledged, received }
}

export interface StreamCheck {
  readonly tasks: number
  /** Updates the agents made. */
  readonly made: number
  /** Updates the framework received, re-sent ones and reconciliation answers included. */
  readonly received: number
  /** Made, but never received. */
  readonly lost: number
  /** Received for the first time after a later one of the same task. */
  readonly outOfOrder: number
  /** Received with a uuid no agent made. */
  readonly unknown: number
  /** Received again after the first time (the agent re-sends what it has no acknowledgement of). */
  readonly duplicates: number
  /** Received without a uuid: the master's answers to reconciliation. */
  readonly reconciliation: number
  /** Made, and never acknowledged to the agent. */
  readonly unacknowledged: number
  /** Seqs missing from an agent's numbering (1, 2, … with none left out). */
  readonly agentGaps: number
  /** The most updates of one task that awaited acknowledgement at once. */
  readonly maxQueued: number
  /** For each update received: from when its agent made it to when the framework first received it. */
  readonly delaysMs: readonly number[]
}

/** Compares, task by task, what the framework received and acknowledged with what the agents made. */
export function checkStreams(s: UpdateStreams, taskIds: readonly string[]): StreamCheck {
  let made = 0, received = 0, lost = 0, outOfOrder = 0, unknown = 0, duplicates = 0, reconciliation = 0, unacknowledged = 0, agentGaps = 0, maxQueued = 0
  const delaysMs: number[] = []
  for (const taskId of taskIds) {
    const mine = s.made.get(taskId) ?? []
    made += mine.length
    mine.forEach((u, i) => {
      if (u.seq !== i + 1) agentGaps++
      maxQueued = Math.max(maxQueued, u.queued)
    })
    const byUuid = new Map(mine.map((u) => [u.uuid, u]))
    const seen = new Set<string>()
    let highest = 0
    for (const { uuid, at } of s.received.get(taskId) ?? []) {
      received++
      if (uuid === undefined) {
        reconciliation++
        continue
      }
      if (seen.has(uuid)) {
        duplicates++
        continue
      }
      seen.add(uuid)
      const u = byUuid.get(uuid)
      if (u === undefined) {
        unknown++
        continue
      }
      delaysMs.push(at - u.at)
      if (u.seq < highest) outOfOrder++
      else highest = u.seq
    }
    lost += mine.filter((u) => !seen.has(u.uuid)).length
    const acked = new Set(s.acknowledged.get(taskId) ?? [])
    unacknowledged += mine.filter((u) => !acked.has(u.seq)).length
  }
  return { tasks: taskIds.length, made, received, lost, outOfOrder, unknown, duplicates, reconciliation, unacknowledged, agentGaps, maxQueued, delaysMs }
}

/** How many of the tasks' updates were made within one of the windows (ms since the epoch). */
export function madeWithin(s: UpdateStreams, taskIds: readonly string[], windows: ReadonlyArray<readonly [number, number]>): number {
  return taskIds.flatMap((id) => s.made.get(id) ?? []).filter((u) => windows.some(([from, to]) => u.at >= from && u.at <= to)).length
}
