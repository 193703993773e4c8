export const TaskState = {
  STAGING: 'TASK_STAGING',
  STARTING: 'TASK_STARTING',
  RUNNING: 'TASK_RUNNING',
  KILLING: 'TASK_KILLING',
  FINISHED: 'TASK_FINISHED',
  FAILED: 'TASK_FAILED',
  KILLED: 'TASK_KILLED',
  ERROR: 'TASK_ERROR',
  LOST: 'TASK_LOST',
  DROPPED: 'TASK_DROPPED',
  UNREACHABLE: 'TASK_UNREACHABLE',
  GONE: 'TASK_GONE',
  GONE_BY_OPERATOR: 'TASK_GONE_BY_OPERATOR',
  UNKNOWN: 'TASK_UNKNOWN',
} as const
export type TaskState = (typeof TaskState)[keyof typeof TaskState]

const TERMINAL: ReadonlySet<string> = new Set([
  TaskState.FINISHED,
  TaskState.FAILED,
  TaskState.KILLED,
  TaskState.ERROR,
  TaskState.LOST,
  TaskState.DROPPED,
  TaskState.GONE,
  TaskState.GONE_BY_OPERATOR,
])

export function isTerminal(state: string): boolean {
  return TERMINAL.has(state)
}

export const TASK_STATES: readonly TaskState[] = Object.values(TaskState)
