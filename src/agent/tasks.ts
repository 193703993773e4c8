// Running tasks: launching them in a containerizer, turning what the container does into
// status updates, health checks and kills. Every change of a task goes through the state's
// `apply`; this module decides which, and does the I/O around it.
import type { Logger } from 'pino'
import type { FrameworkInfo, HealthCheck, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import { resourcesFromWire } from '../api/mesos.js'
import { startHealthCheck } from '../api/probes.js'
import type { Clock } from '../core/clock.js'
import { newUpdateUuid } from '../core/ids.js'
import { scalar } from '../core/resources.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { ContainerEvent, Containerizer } from './containerizers/types.js'
import { LaunchFailedError } from './containerizers/types.js'
import { gracePeriodOf, makeSandbox, portsOf, sandboxPath, taskEnv } from './sandbox.js'
import type { AgentState } from './state.js'
import type { StatusUpdateSender } from './status-updates.js'
import type { AgentOptions, AgentTask } from './types.js'

export interface TaskRunner {
  launch(frameworkId: string, framework: FrameworkInfo | undefined, task: TaskInfo): Promise<void>
  kill(frameworkId: string, taskId: string, gracePeriodMs: number): Promise<void>
  acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<void>
  shutdownFramework(frameworkId: string): Promise<void>
  /** Sends a new status of the task, unless it already ended. */
  update(t: AgentTask, state: string, extra?: Partial<TaskStatusWire>): Promise<void>
  onContainerEvent(t: AgentTask, e: ContainerEvent): void
  startHealth(t: AgentTask): void
  stopHealthChecks(): void
}

export function createTaskRunner(o: { opts: AgentOptions; state: AgentState; sender: StatusUpdateSender; log: Logger; clock: Clock }): TaskRunner {
  const { opts, state, sender, log, clock } = o
  // By record: the state keeps a task's record for the whole run, and a relaunch makes a new one.
  const healthChecks = new WeakMap<AgentTask, { stop(): void }>()
  const stopHealth = (t: AgentTask): void => healthChecks.get(t)?.stop()
  const containerizerOf = (t: AgentTask): Containerizer | undefined => opts.containerizers.find((x) => x.name === t.containerizer)
  /** Whether t is the task's current run (events of an earlier run change nothing). */
  const current = (t: AgentTask): boolean => state.task(t.frameworkId, t.info.task_id.value) === t

  async function update(t: AgentTask, next: string, extra: Partial<TaskStatusWire> = {}): Promise<void> {
    if (isTerminal(t.state) || !current(t)) return
    const taskId = t.info.task_id.value
    const status: TaskStatusWire = {
      task_id: { value: taskId },
      state: next,
      source: 'SOURCE_EXECUTOR',
      executor_id: { value: taskId },
      timestamp: clock.now() / 1000,
      uuid: newUpdateUuid(),
      ...(state.agentId ? { agent_id: { value: state.agentId } } : {}),
      ...(t.containerId ? { container_status: containerStatus(t) } : {}),
      ...extra,
    }
    if (status.healthy === undefined && t.latest?.healthy !== undefined && !isTerminal(next)) status.healthy = t.latest.healthy
    state.apply({ type: 'task-status', frameworkId: t.frameworkId, status }, clock.now())
    if (isTerminal(next)) stopHealth(t)
    const queue = state.pending(t.frameworkId, taskId)
    const queued = queue.at(-1)?.status === status ? queue.at(-1) : undefined
    // As a Mesos agent logs each update it handles; with its seq, the log is the task's whole
    // stream of updates in order, which a framework's record can be checked against.
    if (queued) log.debug({ frameworkId: t.frameworkId, taskId, state: next, uuid: status.uuid, seq: queued.seq, healthy: status.healthy, queued: queue.length }, 'status update')
    const first = queue[0]?.status === status
    // Checkpointed before it is sent.
    await state.written()
    if (first) sender.sendNow(t.frameworkId, taskId)
  }

  function containerStatus(t: AgentTask): unknown {
    return {
      container_id: { value: t.containerId },
      network_infos: [{ ip_addresses: (t.ipAddresses ?? []).map((ip) => ({ protocol: 'IPv4', ip_address: ip })) }],
    }
  }

  /** For event handlers, which nobody awaits: a failed checkpoint or kill is logged, not left to reject. */
  const logFailure =
    (t: AgentTask, what: string) =>
    (e: unknown): void =>
      log.error({ err: e, taskId: t.info.task_id.value }, what)
  const updateFailed = (t: AgentTask): ((e: unknown) => void) => logFailure(t, 'status update failed')

  function onContainerEvent(t: AgentTask, e: ContainerEvent): void {
    if (e.type === 'running') {
      if (current(t)) state.apply({ type: 'container-started', frameworkId: t.frameworkId, taskId: t.info.task_id.value, containerId: e.containerId, ipAddresses: e.ipAddresses }, clock.now())
      update(t, TaskState.RUNNING)
        .then(() => startHealth(t))
        .catch(updateFailed(t))
      return
    }
    stopHealth(t)
    if (t.killRequested || e.killed) {
      update(t, TaskState.KILLED, { message: e.message || 'Task killed', ...(t.latest?.healthy === false ? { healthy: false } : {}) }).catch(updateFailed(t))
      return
    }
    if (e.oomKilled) {
      update(t, TaskState.FAILED, { reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: e.message || 'Memory limit exceeded' }).catch(updateFailed(t))
      return
    }
    if (e.exitCode === 0) {
      update(t, TaskState.FINISHED, { message: e.message || 'Command exited with status 0' }).catch(updateFailed(t))
      return
    }
    update(t, TaskState.FAILED, { reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: e.message }).catch(updateFailed(t))
  }

  function startHealth(t: AgentTask): void {
    const hc = t.info.health_check
    if (!hc || isTerminal(t.state) || healthChecks.has(t)) return
    // As Mesos: the COMMAND check of a task in a container runs in that container.
    const c = containerizerOf(t)
    const taskId = t.info.task_id.value
    const runInContainer = c?.runInContainer?.bind(c)
    const check = startHealthCheck({
      check: c?.probesInContainer ? asCommandCheck(hc) : mapHealthCheckPort(t, hc),
      host: '127.0.0.1',
      env: taskEnv({ frameworkId: t.frameworkId, task: t.info, agentId: state.agentId, hostname: opts.hostname, sandbox: t.sandbox, hostPorts: t.hostPorts, docker: false }),
      sandboxDir: t.sandbox,
      ...(runInContainer ? { runCommand: (argv, env, timeoutMs) => runInContainer(taskId, argv, timeoutMs, env) } : {}),
      onResult: (r) => {
        if (isTerminal(t.state) || t.killRequested) return
        update(t, t.state === TaskState.KILLING ? TaskState.KILLING : TaskState.RUNNING, {
          healthy: r.healthy,
          reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
          ...(r.message ? { message: r.message } : {}),
        }).catch(updateFailed(t))
      },
      onFailed: (message) => {
        log.info({ taskId, message }, 'task failed its health check: killing it')
        if (current(t)) state.apply({ type: 'task-unhealthy', frameworkId: t.frameworkId, taskId }, clock.now())
        killTask(t, gracePeriodOf(t.info)).catch(logFailure(t, 'killing a task that failed its health check failed'))
      },
    })
    healthChecks.set(t, check)
  }

  async function killTask(t: AgentTask, gracePeriodMs: number): Promise<void> {
    if (isTerminal(t.state) || t.killRequested || !current(t)) return
    state.apply({ type: 'task-kill-requested', frameworkId: t.frameworkId, taskId: t.info.task_id.value }, clock.now())
    stopHealth(t)
    if (t.frameworkCapabilities.includes('TASK_KILLING_STATE')) await update(t, TaskState.KILLING)
    const c = containerizerOf(t)
    // A task still preparing (pulling its image) is killed when its launch returns.
    if (t.containerId && c) await c.kill(t.info.task_id.value, gracePeriodMs)
  }

  // The sandboxes asked for in one turn of the event loop are waited for together, so that the
  // tasks of one launch request go on together and their first updates leave in one request.
  let turn: { made: Array<Promise<unknown>>; all: Promise<unknown> } | undefined
  function withTurn<T>(made: Promise<T>): Promise<T> {
    if (!turn) {
      const group: { made: Array<Promise<unknown>>; all: Promise<unknown> } = { made: [], all: Promise.resolve() }
      group.all = new Promise((resolve) =>
        setImmediate(() => {
          if (turn === group) turn = undefined
          resolve(Promise.all(group.made))
        }),
      )
      turn = group
    }
    turn.made.push(made)
    return turn.all.then(() => made)
  }

  async function launch(frameworkId: string, framework: FrameworkInfo | undefined, info: TaskInfo): Promise<void> {
    const tid = info.task_id.value
    const existing = state.task(frameworkId, tid)
    if (existing && !isTerminal(existing.state)) {
      log.warn({ taskId: tid }, 'ignoring launch of a task that already runs')
      return
    }
    const at = clock.now()
    // The tasks of one launch request share their FrameworkInfo: it is checkpointed once.
    if (framework && state.frameworks.get(frameworkId) !== framework) state.apply({ type: 'framework-info', frameworkId, info: framework }, at)
    const containerizer = opts.containerizers.find((c) => c.supports(info))
    const sandbox = sandboxPath({ workDir: opts.workDir, agentId: state.agentId, frameworkId, taskId: tid })
    const hostPorts = portsOf(info)
    state.apply(
      {
        type: 'task-launched',
        task: {
          frameworkId,
          info,
          frameworkCapabilities: (framework?.capabilities ?? []).flatMap((c) => (c.type ? [c.type] : [])),
          sandbox,
          containerizer: containerizer?.name ?? 'process',
          hostPorts,
        },
      },
      at,
    )
    const t = state.task(frameworkId, tid)!
    const made = withTurn(
      makeSandbox(sandbox, log).then(
        () => undefined,
        (e: unknown) => e as Error,
      ),
    )
    await state.written()
    const unmade = await made
    if (unmade) {
      await update(t, TaskState.FAILED, { reason: 'REASON_CONTAINER_LAUNCH_FAILED', message: `Could not create the sandbox: ${unmade.message}` })
      return
    }
    if (!containerizer) {
      await update(t, TaskState.FAILED, { reason: 'REASON_CONTAINER_LAUNCH_FAILED', message: 'No containerizer on this agent can run the task' })
      return
    }
    await update(t, TaskState.STARTING)
    const resources = resourcesFromWire(info.resources)
    try {
      await containerizer.launch(
        {
          agentId: state.agentId ?? '',
          frameworkId,
          taskInfo: info,
          sandboxDir: sandbox,
          env: taskEnv({ frameworkId, task: info, agentId: state.agentId, hostname: opts.hostname, sandbox, hostPorts, docker: containerizer.name === 'docker' }),
          hostPorts,
          cpus: scalar(resources, 'cpus'),
          memMb: scalar(resources, 'mem'),
        },
        (e) => onContainerEvent(t, e),
      )
      if (t.killRequested && !isTerminal(t.state)) await containerizer.kill(tid, gracePeriodOf(t.info))
    } catch (e) {
      const reason = e instanceof LaunchFailedError ? e.reason : 'REASON_CONTAINER_LAUNCH_FAILED'
      const message = (e as Error).message
      log.warn({ taskId: tid, message }, 'task launch failed')
      if (t.killRequested) await update(t, TaskState.KILLED, { message: 'Task killed before it started' })
      else await update(t, TaskState.FAILED, { reason, message })
    }
  }

  return {
    launch,
    update,
    onContainerEvent,
    startHealth,
    async kill(fid, tid, graceMs) {
      const t = state.task(fid, tid)
      if (t) await killTask(t, graceMs)
    },
    async acknowledge(fid, tid, uuid) {
      const head = state.pending(fid, tid)[0]
      state.apply({ type: 'update-acknowledged', frameworkId: fid, taskId: tid, uuid }, clock.now())
      if (head && state.pending(fid, tid)[0] !== head) log.debug({ frameworkId: fid, taskId: tid, uuid, seq: head.seq }, 'status update acknowledged')
      try {
        await state.written()
      } finally {
        // The next update goes out now; with none left, the retry timer stops.
        if (state.pending(fid, tid)[0] !== head) sender.sendNow(fid, tid)
      }
    },
    async shutdownFramework(fid) {
      const queued = [...state.updates.values()].flatMap((q) => q.updates.slice(0, 1)).filter((u) => u.frameworkId === fid)
      state.apply({ type: 'framework-removed', frameworkId: fid }, clock.now())
      for (const u of queued) sender.sendNow(fid, u.status.task_id.value)
      await Promise.all([...state.tasks.values()].filter((t) => t.frameworkId === fid).map((t) => killTask(t, gracePeriodOf(t.info))))
    },
    stopHealthChecks() {
      for (const t of state.tasks.values()) stopHealth(t)
    },
  }
}

/** Mesos checks ports inside the container; dromos checks from the host, through the mapped port. */
function mapHealthCheckPort(t: AgentTask, hc: HealthCheck): HealthCheck {
  const docker = t.info.container?.docker
  if (!docker || docker.network !== 'BRIDGE') return hc
  const toHost = (p: number): number => docker.port_mappings.find((m) => m.container_port === p)?.host_port ?? p
  if (hc.http) return { ...hc, http: { ...hc.http, port: toHost(hc.http.port) } }
  if (hc.tcp) return { ...hc, tcp: { port: toHost(hc.tcp.port) } }
  return hc
}

/** A check as a COMMAND check, for a containerizer that runs every check itself (probesInContainer). */
function asCommandCheck(hc: HealthCheck): HealthCheck {
  if (hc.type === 'COMMAND' || (!hc.type && hc.command)) return hc
  const kind = hc.http ? 'http' : 'tcp'
  const port = hc.http?.port ?? hc.tcp?.port ?? 0
  return { ...hc, type: 'COMMAND', command: { value: `${kind} ${port}`, shell: true, arguments: [], uris: [] } }
}
