// The agent: registers with the master, runs tasks through its containerizers, reports
// their status reliably and checkpoints what it needs to recover after a restart.
import { mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { Logger } from 'pino'
import type { AttributeWire, FrameworkInfo, HealthCheck, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import { resourcesFromWire, resourcesToWire } from '../api/mesos.js'
import type { AgentRegisteredWire, AgentRegistrationWire, AgentStatusWire } from '../api/internal.js'
import { MasterInternalPath } from '../api/internal.js'
import { startHealthCheck } from '../api/probes.js'
import type { Clock } from '../core/clock.js'
import { newUpdateUuid, newUuid } from '../core/ids.js'
import type { Resources } from '../core/resources.js'
import { scalar } from '../core/resources.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import type { Store } from '../store/store.js'
import type { ContainerEvent, Containerizer } from './containerizers/types.js'
import { LaunchFailedError } from './containerizers/types.js'
import type { PendingUpdate, StatusUpdateManager } from './status-updates.js'
import { createStatusUpdateManager } from './status-updates.js'

export const AGENT_VERSION = '1.11.0'

export interface AgentOptions {
  readonly masterUrl: string
  /** Address the master uses to reach this agent. */
  readonly ip: string
  readonly port: number
  readonly hostname: string
  readonly workDir: string
  readonly resources: Resources
  readonly attributes: AttributeWire[]
  readonly containerizers: readonly Containerizer[]
  readonly store: Store
  readonly log: Logger
  readonly clock: Clock
  readonly statusUpdateRetryMs: number
  readonly statusUpdateMaxRetryMs: number
  /** The agent's command-line flags as `/flags` and `/state` show them (Mesos' snake_case names, string values). */
  readonly flags?: Readonly<Record<string, string>>
}

export interface AgentTask {
  readonly frameworkId: string
  readonly info: TaskInfo
  readonly frameworkCapabilities: readonly string[]
  readonly sandbox: string
  readonly containerizer: Containerizer['name']
  readonly hostPorts: readonly number[]
  state: string
  latest?: TaskStatusWire
  containerId?: string
  killRequested: boolean
  healthCheck?: { stop(): void }
}

interface TaskCheckpoint {
  frameworkId: string
  info: TaskInfo
  frameworkCapabilities: string[]
  sandbox: string
  containerizer: Containerizer['name']
  hostPorts: number[]
  state: string
  latest?: TaskStatusWire
  containerId?: string
}

/** A task the agent no longer tracks: it ended and its terminal update was acknowledged. */
export interface CompletedTask {
  readonly frameworkId: string
  readonly info: TaskInfo
  readonly sandbox: string
  readonly state: string
  readonly latest?: TaskStatusWire
}

/** As Mesos' agent: completed executors kept per framework, and frameworks kept once idle. */
export const MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK = 150
export const MAX_COMPLETED_FRAMEWORKS = 50

interface CompletedCheckpoint {
  readonly seq: number
  readonly tasks: readonly CompletedTask[]
}

export interface Agent {
  readonly opts: AgentOptions
  agentId(): string | undefined
  readonly tasks: ReadonlyMap<string, AgentTask>
  /** Completed tasks by framework (oldest first), bounded; frameworks in the order they last completed a task. */
  readonly completed: ReadonlyMap<string, readonly CompletedTask[]>
  /** The FrameworkInfo each framework last launched a task with (checkpointed). */
  readonly frameworks: ReadonlyMap<string, FrameworkInfo>
  /** Terminal transitions by state since the agent started, as Mesos' slave/tasks_finished, … counters. */
  readonly terminalCounts: ReadonlyMap<string, number>
  readonly startedAt: number
  /** True while the agent is registered with a master (not re-registering). */
  registered(): boolean
  start(): Promise<void>
  stop(opts?: { destroyTasks?: boolean }): Promise<void>
  /** A ping from the master. One from a master other than the one the agent registered with makes it re-register. */
  ping(agentId: string | null, masterId?: string | null): boolean
  launch(frameworkId: string, framework: FrameworkInfo | undefined, task: TaskInfo): Promise<void>
  kill(frameworkId: string, taskId: string, gracePeriodMs: number): Promise<void>
  acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<void>
  shutdownFramework(frameworkId: string): Promise<void>
  updates: StatusUpdateManager
}

const key = (fid: string, tid: string): string => `${fid}/${tid}`

export function createAgent(opts: AgentOptions): Agent {
  const { log, store, clock } = opts
  const tasks = new Map<string, AgentTask>()
  const completed = new Map<string, CompletedTask[]>()
  const frameworks = new Map<string, FrameworkInfo>()
  const terminalCounts = new Map<string, number>()
  const startedAt = clock.now()
  /** Orders the frameworks' checkpointed completed lists by when they last changed. */
  let completedSeq = 0
  let agentId: string | undefined
  /** The run id of the master the agent registered with last. */
  let masterId: string | undefined
  let pingIntervalMs = 15_000
  let lastPingAt = 0
  let registering: Promise<void> | undefined
  let watchdog: NodeJS.Timeout | undefined
  let stopped = false
  const removedFrameworks = new Set<string>()

  const updates = createStatusUpdateManager({
    store,
    log: log.child({ component: 'status-updates' }),
    retryMs: opts.statusUpdateRetryMs,
    maxRetryMs: opts.statusUpdateMaxRetryMs,
    send: async (u: PendingUpdate) => {
      if (!agentId) return false
      const body: AgentStatusWire = { agent_id: agentId, framework_id: u.frameworkId, status: u.status }
      const r = await fetch(`${opts.masterUrl}${MasterInternalPath.status}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      })
      await r.arrayBuffer()
      if (r.status === 404) void register()
      return r.ok
    },
  })

  async function checkpoint(t: AgentTask): Promise<void> {
    const cp: TaskCheckpoint = {
      frameworkId: t.frameworkId,
      info: t.info,
      frameworkCapabilities: [...t.frameworkCapabilities],
      sandbox: t.sandbox,
      containerizer: t.containerizer,
      hostPorts: [...t.hostPorts],
      state: t.state,
      ...(t.latest ? { latest: t.latest } : {}),
      ...(t.containerId ? { containerId: t.containerId } : {}),
    }
    await store.put(`tasks/${key(t.frameworkId, t.info.task_id.value)}`, cp)
  }

  /** Stops tracking a task that ended, keeping it among the framework's completed tasks. */
  async function forget(t: AgentTask): Promise<void> {
    const k = key(t.frameworkId, t.info.task_id.value)
    if (tasks.get(k) !== t) return
    tasks.delete(k)
    containerIps.delete(k)
    const list = completed.get(t.frameworkId) ?? []
    list.push({ frameworkId: t.frameworkId, info: t.info, sandbox: t.sandbox, state: t.state, ...(t.latest ? { latest: t.latest } : {}) })
    if (list.length > MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK) list.shift()
    // Most recently completed last: the oldest framework is the first to go.
    completed.delete(t.frameworkId)
    completed.set(t.frameworkId, list)
    // Checkpointed too, so that /state shows them after a restart, as a Mesos agent recovers its completed executors.
    await store.put(`completed/${t.frameworkId}`, { seq: ++completedSeq, tasks: list } satisfies CompletedCheckpoint)
    if (completed.size > MAX_COMPLETED_FRAMEWORKS) {
      const oldest = completed.keys().next().value!
      completed.delete(oldest)
      await store.delete(`completed/${oldest}`)
    }
    await store.delete(`tasks/${k}`)
  }

  async function update(t: AgentTask, state: string, extra: Partial<TaskStatusWire> = {}): Promise<void> {
    if (isTerminal(t.state)) return
    const status: TaskStatusWire = {
      task_id: { value: t.info.task_id.value },
      state,
      source: 'SOURCE_EXECUTOR',
      executor_id: { value: t.info.task_id.value },
      timestamp: clock.now() / 1000,
      uuid: newUpdateUuid(),
      ...(agentId ? { agent_id: { value: agentId } } : {}),
      ...(t.containerId ? { container_status: containerStatus(t) } : {}),
      ...extra,
    }
    if (status.healthy === undefined && t.latest?.healthy !== undefined && !isTerminal(state)) status.healthy = t.latest.healthy
    t.state = state
    t.latest = status
    if (isTerminal(state)) terminalCounts.set(state, (terminalCounts.get(state) ?? 0) + 1)
    if (removedFrameworks.has(t.frameworkId)) {
      // Nobody will acknowledge updates of a removed framework: forget the task once it ends.
      if (isTerminal(state)) {
        t.healthCheck?.stop()
        await forget(t)
      } else await checkpoint(t)
      return
    }
    await checkpoint(t)
    await updates.enqueue({ frameworkId: t.frameworkId, status })
    if (isTerminal(state)) t.healthCheck?.stop()
  }

  const containerIps = new Map<string, readonly string[]>()
  function containerStatus(t: AgentTask): unknown {
    const ips = containerIps.get(key(t.frameworkId, t.info.task_id.value)) ?? []
    return {
      container_id: { value: t.containerId },
      network_infos: [{ ip_addresses: ips.map((ip) => ({ protocol: 'IPv4', ip_address: ip })) }],
    }
  }

  function containerizerFor(task: TaskInfo): Containerizer | undefined {
    return opts.containerizers.find((c) => c.supports(task))
  }

  function portsOf(task: TaskInfo): number[] {
    const ports: number[] = []
    for (const r of resourcesFromWire(task.resources).ranges.ports ?? []) for (let p = r.begin; p <= r.end; p++) ports.push(p)
    return ports
  }

  function taskEnv(frameworkId: string, task: TaskInfo, sandbox: string, hostPorts: readonly number[], docker: boolean): Record<string, string> {
    const env: Record<string, string> = {
      MESOS_TASK_ID: task.task_id.value,
      MESOS_FRAMEWORK_ID: frameworkId,
      MESOS_AGENT_ID: agentId ?? '',
      MESOS_SANDBOX: docker ? '/mnt/mesos/sandbox' : sandbox,
      HOST: opts.hostname,
    }
    hostPorts.forEach((p, i) => (env[`PORT${i}`] = String(p)))
    if (hostPorts.length > 0) {
      env.PORT = String(hostPorts[0])
      env.PORTS = hostPorts.join(',')
    }
    for (const v of task.command?.environment?.variables ?? []) env[v.name] = v.value
    return env
  }

  /** For event handlers, which nobody awaits: a failed checkpoint or kill is logged, not left to reject. */
  const logFailure =
    (t: AgentTask, what: string) =>
    (e: unknown): void =>
      log.error({ err: e, taskId: t.info.task_id.value }, what)
  const updateFailed = (t: AgentTask): ((e: unknown) => void) => logFailure(t, 'status update failed')

  function onContainerEvent(t: AgentTask, e: ContainerEvent): void {
    const k = key(t.frameworkId, t.info.task_id.value)
    if (e.type === 'running') {
      t.containerId = e.containerId
      containerIps.set(k, e.ipAddresses)
      update(t, TaskState.RUNNING)
        .then(() => startHealth(t))
        .catch(updateFailed(t))
      return
    }
    t.healthCheck?.stop()
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
    if (!hc || isTerminal(t.state) || t.healthCheck) return
    const check: HealthCheck = mapHealthCheckPort(t, hc)
    // As Mesos: the COMMAND check of a task in a container runs in that container.
    const c = opts.containerizers.find((x) => x.name === t.containerizer)
    const taskId = t.info.task_id.value
    const runInContainer = c?.runInContainer?.bind(c)
    t.healthCheck = startHealthCheck({
      check,
      host: '127.0.0.1',
      env: taskEnv(t.frameworkId, t.info, t.sandbox, t.hostPorts, false),
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
        log.info({ taskId: t.info.task_id.value, message }, 'task failed its health check: killing it')
        if (t.latest) t.latest.healthy = false
        killTask(t, gracePeriodOf(t)).catch(logFailure(t, 'killing a task that failed its health check failed'))
      },
    })
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

  function gracePeriodOf(t: AgentTask): number {
    const ns = t.info.kill_policy?.grace_period?.nanoseconds
    return ns !== undefined ? Math.floor(ns / 1e6) : 3000
  }

  async function killTask(t: AgentTask, gracePeriodMs: number): Promise<void> {
    if (isTerminal(t.state) || t.killRequested) return
    t.killRequested = true
    t.healthCheck?.stop()
    if (t.frameworkCapabilities.includes('TASK_KILLING_STATE')) await update(t, TaskState.KILLING)
    const c = opts.containerizers.find((x) => x.name === t.containerizer)
    // A task still preparing (pulling its image) is killed when its launch returns.
    if (t.containerId && c) await c.kill(t.info.task_id.value, gracePeriodMs)
  }

  async function launch(frameworkId: string, framework: FrameworkInfo | undefined, info: TaskInfo): Promise<void> {
    const tid = info.task_id.value
    const k = key(frameworkId, tid)
    const existing = tasks.get(k)
    if (existing && !isTerminal(existing.state)) {
      log.warn({ taskId: tid }, 'ignoring launch of a task that already runs')
      return
    }
    if (framework) {
      frameworks.set(frameworkId, framework)
      await store.put(`frameworks/${frameworkId}`, framework)
    }
    const containerizer = containerizerFor(info)
    const sandbox = join(opts.workDir, 'slaves', agentId ?? 'unregistered', 'frameworks', frameworkId, 'executors', tid, 'runs', newUuid())
    mkdirSync(sandbox, { recursive: true })
    linkLatestRun(sandbox)
    const hostPorts = portsOf(info)
    const t: AgentTask = {
      frameworkId,
      info,
      frameworkCapabilities: (framework?.capabilities ?? []).flatMap((c) => (c.type ? [c.type] : [])),
      sandbox,
      containerizer: containerizer?.name ?? 'process',
      hostPorts,
      state: TaskState.STAGING,
      killRequested: false,
    }
    tasks.set(k, t)
    await checkpoint(t)
    if (!containerizer) {
      await update(t, TaskState.FAILED, { reason: 'REASON_CONTAINER_LAUNCH_FAILED', message: 'No containerizer on this agent can run the task' })
      return
    }
    await update(t, TaskState.STARTING)
    const docker = containerizer.name === 'docker'
    const resources = resourcesFromWire(info.resources)
    try {
      await containerizer.launch(
        {
          agentId: agentId ?? '',
          frameworkId,
          taskInfo: info,
          sandboxDir: sandbox,
          env: taskEnv(frameworkId, info, sandbox, hostPorts, docker),
          hostPorts,
          cpus: scalar(resources, 'cpus'),
          memMb: scalar(resources, 'mem'),
        },
        (e) => onContainerEvent(t, e),
      )
      if (t.killRequested && !isTerminal(t.state)) await containerizer.kill(tid, gracePeriodOf(t))
    } catch (e) {
      const reason = e instanceof LaunchFailedError ? e.reason : 'REASON_CONTAINER_LAUNCH_FAILED'
      const message = (e as Error).message
      log.warn({ taskId: tid, message }, 'task launch failed')
      if (t.killRequested) await update(t, TaskState.KILLED, { message: 'Task killed before it started' })
      else await update(t, TaskState.FAILED, { reason, message })
    }
  }

  /**
   * Points runs/latest at the run being launched, as Mesos does for its executor directories.
   * The link is relative, so the work directory may move; it is replaced in one rename.
   */
  function linkLatestRun(sandbox: string): void {
    const runs = dirname(sandbox)
    const tmp = join(runs, `.latest-${newUuid()}`)
    try {
      symlinkSync(basename(sandbox), tmp)
      renameSync(tmp, join(runs, 'latest'))
    } catch (e) {
      log.warn({ err: e, sandbox }, 'could not link runs/latest')
      try {
        unlinkSync(tmp)
      } catch {
        // not created
      }
    }
  }

  async function register(): Promise<void> {
    if (registering) return registering
    registering = (async () => {
      let delay = 200
      while (!stopped) {
        try {
          const report = [...tasks.values()]
            .filter((t) => !isTerminal(t.state) || updates.pending(t.frameworkId, t.info.task_id.value).length > 0)
            .map((t) => ({ framework_id: t.frameworkId, task_info: t.info, state: t.state, ...(t.latest ? { status: t.latest } : {}) }))
          const registration: AgentRegistrationWire = {
            ...(agentId ? { agent_id: agentId } : {}),
            hostname: opts.hostname,
            ip: opts.ip,
            port: opts.port,
            resources: resourcesToWire(opts.resources),
            attributes: opts.attributes,
            version: AGENT_VERSION,
            tasks: report,
          }
          const r = await fetch(`${opts.masterUrl}${MasterInternalPath.register}`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(registration),
            signal: AbortSignal.timeout(10_000),
          })
          if (!r.ok) throw new Error(`master answered ${r.status}: ${await r.text()}`)
          const body = (await r.json()) as AgentRegisteredWire
          masterId = body.master_id
          if (agentId !== body.agent_id) {
            agentId = body.agent_id
            await store.put('agent', { agentId })
          }
          pingIntervalMs = body.ping_interval_ms
          lastPingAt = clock.now()
          log.info({ agentId, master: opts.masterUrl }, 'registered with master')
          updates.flush()
          return
        } catch (e) {
          log.warn({ err: (e as Error).message, retryInMs: delay }, 'registration failed; retrying')
          await new Promise((res) => setTimeout(res, delay))
          delay = Math.min(delay * 2, 5000)
        }
      }
    })().finally(() => {
      registering = undefined
    })
    return registering
  }

  async function recover(): Promise<void> {
    const saved = await store.get<{ agentId: string }>('agent')
    if (saved) agentId = saved.agentId
    await updates.recover()
    for (const [k, info] of await store.list<FrameworkInfo>('frameworks/')) frameworks.set(k.slice('frameworks/'.length), info)
    const lists = (await store.list<CompletedCheckpoint>('completed/')).sort(([, a], [, b]) => a.seq - b.seq)
    for (const [, cp] of lists) {
      const frameworkId = cp.tasks[0]?.frameworkId
      if (frameworkId) completed.set(frameworkId, [...cp.tasks])
      completedSeq = Math.max(completedSeq, cp.seq)
    }
    for (const [, cp] of await store.list<TaskCheckpoint>('tasks/')) {
      const t: AgentTask = {
        frameworkId: cp.frameworkId,
        info: cp.info,
        frameworkCapabilities: cp.frameworkCapabilities,
        sandbox: cp.sandbox,
        containerizer: cp.containerizer,
        hostPorts: cp.hostPorts,
        state: cp.state,
        killRequested: false,
        ...(cp.latest ? { latest: cp.latest } : {}),
        ...(cp.containerId ? { containerId: cp.containerId } : {}),
      }
      tasks.set(key(t.frameworkId, t.info.task_id.value), t)
    }
    if (!agentId) return
    const found = new Set<string>()
    for (const c of opts.containerizers) {
      // Containers that exited while the agent was down are reported through the same single
      // 'exited' event as the others, with their real exit status: FINISHED for 0.
      const exitedWhileDown = new Set<string>()
      const recovered = await c.recover(agentId, (taskId, e) => {
        const t = [...tasks.values()].find((x) => x.info.task_id.value === taskId && x.containerizer === c.name)
        if (!t) return
        if (e.type === 'exited' && exitedWhileDown.has(key(t.frameworkId, taskId)) && !e.killed) {
          onContainerEvent(t, { ...e, message: `${e.message} while the agent was down` })
        } else onContainerEvent(t, e)
      })
      for (const r of recovered) {
        const t = tasks.get(key(r.frameworkId, r.taskId))
        if (!t) continue
        found.add(key(r.frameworkId, r.taskId))
        t.containerId = r.containerId
        if (!r.running) exitedWhileDown.add(key(r.frameworkId, r.taskId))
        else startHealth(t)
      }
    }
    for (const [k, t] of tasks) {
      if (isTerminal(t.state) || found.has(k)) continue
      const killed = t.containerizer === 'process' && killOrphanProcess(t)
      await update(t, TaskState.FAILED, {
        reason: 'REASON_EXECUTOR_TERMINATED',
        message: killed ? 'The task process could not be re-attached after the agent restarted and was killed' : 'Container was not found when the agent recovered',
      })
    }
    log.info({ agentId, tasks: tasks.size }, 'recovered agent state')
  }

  /**
   * A process task whose run files are gone cannot be re-attached, but it outlives the agent in
   * its own session. Reported FAILED, it would run on unseen, holding ports and resources the
   * master offers again: end it, as Mesos destroys the containers it cannot recover. True if a
   * process of the task was found and killed.
   */
  function killOrphanProcess(t: AgentTask): boolean {
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

  return {
    opts,
    agentId: () => agentId,
    tasks,
    completed,
    frameworks,
    terminalCounts,
    startedAt,
    registered: () => masterId !== undefined && registering === undefined,
    updates,
    async start() {
      await recover()
      await register()
      // A master that stops pinging has restarted or lost us: register again.
      watchdog = setInterval(() => {
        if (!registering && clock.now() - lastPingAt > pingIntervalMs * 3) void register()
      }, 1000)
      watchdog.unref()
    },
    async stop(stopOpts = {}) {
      stopped = true
      if (watchdog) clearInterval(watchdog)
      updates.stop()
      for (const t of tasks.values()) t.healthCheck?.stop()
      if (stopOpts.destroyTasks && agentId) {
        for (const c of opts.containerizers) await c.destroyAll(agentId)
      }
    },
    ping(id, fromMaster) {
      if (id && agentId && id !== agentId) return false
      lastPingAt = clock.now()
      if (fromMaster && masterId && fromMaster !== masterId && !registering) {
        log.info({ masterId: fromMaster, previous: masterId }, 'pinged by a new master: re-registering')
        void register()
      }
      return true
    },
    launch,
    async kill(fid, tid, graceMs) {
      const t = tasks.get(key(fid, tid))
      if (!t) return
      await killTask(t, graceMs)
    },
    async acknowledge(fid, tid, uuid) {
      const matched = await updates.acknowledge(fid, tid, uuid)
      const t = tasks.get(key(fid, tid))
      if (matched && t && isTerminal(t.state) && updates.pending(fid, tid).length === 0) await forget(t)
    },
    async shutdownFramework(fid) {
      removedFrameworks.add(fid)
      await updates.discardFramework(fid)
      await Promise.all([...tasks.values()].filter((t) => t.frameworkId === fid).map((t) => killTask(t, gracePeriodOf(t))))
    },
  }
}
