// Recovery after a restart: the checkpoint is loaded into the state, the containerizers find
// the containers they started, and tasks whose container is gone are reported FAILED.
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Clock } from '../core/clock.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { Containerizer } from './containerizers/types.js'
import type { AgentState } from './state.js'
import type { TaskRunner } from './tasks.js'
import type { AgentTask } from './types.js'
import { taskKey } from './types.js'

export async function recoverAgent(o: { state: AgentState; containerizers: readonly Containerizer[]; runner: TaskRunner; log: Logger; clock: Clock }): Promise<void> {
  const { state, runner, log } = o
  await state.load(o.clock.now())
  const agentId = state.agentId
  if (!agentId) return
  const found = new Set<string>()
  for (const c of o.containerizers) {
    // Containers that exited while the agent was down are reported through the same single
    // 'exited' event as the others, with their real exit status: FINISHED for 0.
    const exitedWhileDown = new Set<string>()
    const recovered = await c.recover(agentId, (taskId, e) => {
      const t = [...state.tasks.values()].find((x) => x.info.task_id.value === taskId && x.containerizer === c.name)
      if (!t) return
      if (e.type === 'exited' && exitedWhileDown.has(taskKey(t.frameworkId, taskId)) && !e.killed) {
        runner.onContainerEvent(t, { ...e, message: `${e.message} while the agent was down` })
      } else runner.onContainerEvent(t, e)
    })
    for (const r of recovered) {
      const t = state.task(r.frameworkId, r.taskId)
      if (!t) continue
      found.add(taskKey(r.frameworkId, r.taskId))
      state.apply({ type: 'container-recovered', frameworkId: r.frameworkId, taskId: r.taskId, containerId: r.containerId }, o.clock.now())
      if (!r.running) exitedWhileDown.add(taskKey(r.frameworkId, r.taskId))
      else runner.startHealth(t)
    }
  }
  for (const [k, t] of [...state.tasks]) {
    if (isTerminal(t.state) || found.has(k)) continue
    const killed = t.containerizer === 'process' && killOrphanProcess(t, log)
    await runner.update(t, TaskState.FAILED, {
      reason: 'REASON_EXECUTOR_TERMINATED',
      message: killed ? 'The task process could not be re-attached after the agent restarted and was killed' : 'Container was not found when the agent recovered',
    })
  }
  log.info({ agentId, tasks: state.tasks.size }, 'recovered agent state')
}

/**
 * A process task whose run files are gone cannot be re-attached, but it outlives the agent in
 * its own session. Reported FAILED, it would run on unseen, holding ports and resources the
 * master offers again: end it, as Mesos destroys the containers it cannot recover. True if a
 * process of the task was found and killed.
 */
function killOrphanProcess(t: AgentTask, log: Logger): boolean {
  const m = /^process-(\d+)$/.exec(t.containerId ?? '')
  if (!m) return false
  const pid = Number(m[1])
  let environ: string
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
  } catch {
    return false
  }
  // The pid may be another process's by now: only one that carries this task's ids is ours.
  const vars = new Set(environ.split('\0'))
  if (!vars.has(`MESOS_TASK_ID=${t.info.task_id.value}`) || !vars.has(`MESOS_FRAMEWORK_ID=${t.frameworkId}`)) return false
  try {
    // The task leads its own process group: the group takes its children along.
    process.kill(-pid, 'SIGKILL')
  } catch {
    return false
  }
  log.warn({ taskId: t.info.task_id.value, pid }, 'killed the process of a task that could not be recovered')
  return true
}
