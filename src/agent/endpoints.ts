// The agent's read-only v0 endpoints as a Mesos 1.x agent lays them out (src/slave/http.cpp,
// src/common/http.cpp, src/slave/metrics.cpp): `/state`, `/flags`, `/monitor/statistics` and
// `/metrics/snapshot`, also under the agent's process name `/slave(1)/…`.
//
// dromos runs a task without a separate executor process; like Mesos' command executor, each
// task has an executor of its own whose id and source are the task's id.
import type { Agent } from './agent.js'
import type { AgentTask, CompletedTask } from './types.js'
import { AGENT_VERSION } from './types.js'
import type { ContainerUsage } from './containerizers/usage.js'
import type { Router } from '../api/http.js'
import { sendJson } from '../api/http.js'
import type { FrameworkInfo, TaskInfo, TaskStatusWire } from '../api/mesos.js'
import { resourcesFromWire, resourcesToWire } from '../api/mesos.js'
import type { Resources } from '../core/resources.js'
import { add, EMPTY, scalar } from '../core/resources.js'
import { isTerminal, TaskState } from '../core/task-state.js'
import { v0Resources } from '../api/mesos.js'

type TaskView = AgentTask | CompletedTask
type Json = Record<string, unknown>

/** What the agent advertises in SlaveInfo.capabilities (the master's view says the same). */
const AGENT_CAPABILITIES = ['MULTI_ROLE']
const MB = 1024 * 1024

/** Mesos' command executor name: "Command Executor (Task: t) (Command: sh -c 'cmd')", the command cut at 15 characters. */
export function commandExecutorName(task: TaskInfo): string {
  const command = task.command
  const cut = (s: string) => (s.length > 15 ? `${s.slice(0, 12)}...` : s)
  let what: string
  if (command?.shell !== false) what = command?.value ? `(Command: sh -c '${cut(command.value)}')` : '(Command: NO COMMAND)'
  else what = command.value ? `(Command: [${cut([command.value, (command.arguments ?? []).join(', ')].join(', '))}])` : '(Command: NO EXECUTABLE)'
  return `Command Executor (Task: ${task.task_id.value}) ${what}`
}

function roleOf(task: TaskInfo, framework: FrameworkInfo | undefined): string {
  const allocated = (task.resources[0] as { allocation_info?: { role?: string } } | undefined)?.allocation_info?.role
  return allocated ?? framework?.roles?.[0] ?? framework?.role ?? '*'
}

/** A TaskStatus as Mesos' v0 writer has it: state, timestamp, and labels, container_status, healthy when set. */
function statusJson(s: TaskStatusWire): Json {
  const container = s.container_status as { container_id?: unknown; network_infos?: Array<{ ip_addresses?: unknown[] }> } | undefined
  const networkInfos = (container?.network_infos ?? []).map((n) => (n.ip_addresses?.length ? n : Object.fromEntries(Object.entries(n).filter(([k]) => k !== 'ip_addresses'))))
  return {
    state: s.state,
    timestamp: s.timestamp,
    ...(s.labels ? { labels: (s.labels as { labels?: unknown }).labels ?? [] } : {}),
    ...(container
      ? { container_status: { ...(container.container_id ? { container_id: container.container_id } : {}), ...(networkInfos.length ? { network_infos: networkInfos } : {}) } }
      : {}),
    ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
  }
}

export function agentStateJson(agent: Agent): Json {
  const agentId = agent.agentId() ?? ''
  const taskJson = (t: TaskView): Json => ({
    id: t.info.task_id.value,
    name: t.info.name,
    framework_id: t.frameworkId,
    // A command task's Task has no executor id in Mesos: only tasks with an ExecutorInfo carry one.
    executor_id: '',
    slave_id: agentId,
    state: t.state,
    resources: v0Resources(resourcesFromWire(t.info.resources)),
    role: roleOf(t.info, agent.frameworks.get(t.frameworkId)),
    // The agent keeps a task's latest status, not its history.
    statuses: t.latest ? [statusJson(t.latest)] : [],
    ...(t.info.command?.user ? { user: t.info.command.user } : {}),
    ...(t.info.labels ? { labels: t.info.labels.labels } : {}),
    ...(t.info['discovery'] ? { discovery: t.info['discovery'] } : {}),
    ...(t.info.container ? { container: t.info.container } : {}),
    ...(t.info.health_check ? { health_check: t.info.health_check } : {}),
  })
  // An executor whose task ended lists it among its completed tasks, as Mesos' terminated tasks.
  const executorJson = (t: TaskView, live: boolean): Json => {
    const done = !live || isTerminal(t.state)
    return {
      id: t.info.task_id.value,
      name: commandExecutorName(t.info),
      source: t.info.task_id.value,
      container: ('containerId' in t ? t.containerId : undefined) ?? '',
      directory: t.sandbox,
      resources: v0Resources(resourcesFromWire(t.info.resources)),
      role: roleOf(t.info, agent.frameworks.get(t.frameworkId)),
      ...(t.info.labels ? { labels: t.info.labels.labels } : {}),
      tasks: done ? [] : [taskJson(t)],
      queued_tasks: [],
      completed_tasks: done ? [taskJson(t)] : [],
    }
  }
  const live = new Map<string, AgentTask[]>()
  for (const t of agent.tasks.values()) live.set(t.frameworkId, [...(live.get(t.frameworkId) ?? []), t])
  const frameworkJson = (id: string): Json => {
    const info = agent.frameworks.get(id)
    const multiRole = info?.capabilities?.some((c) => c.type === 'MULTI_ROLE') ?? true
    return {
      id,
      name: info?.name ?? '',
      user: info?.user ?? '',
      failover_timeout: info?.failover_timeout ?? 0,
      checkpoint: info?.checkpoint ?? false,
      hostname: info?.hostname ?? '',
      ...(info?.principal ? { principal: info.principal } : {}),
      ...(multiRole ? { roles: info?.roles ?? ['*'] } : { role: info?.role ?? '*' }),
      executors: (live.get(id) ?? []).map((t) => executorJson(t, true)),
      // Newest first, as Mesos lists them.
      completed_executors: [...(agent.completed.get(id) ?? [])].reverse().map((t) => executorJson(t, false)),
    }
  }
  const total = agent.opts.resources
  const allocated = allocatedResources(agent)
  return {
    version: AGENT_VERSION,
    build_date: '',
    build_time: 0,
    build_user: 'dromos',
    start_time: agent.startedAt / 1000,
    id: agentId,
    pid: `slave(1)@${agent.opts.ip}:${agent.opts.port}`,
    hostname: agent.opts.hostname,
    capabilities: AGENT_CAPABILITIES,
    resources: v0Resources(total),
    // dromos has no reservations: everything is unreserved.
    reserved_resources: {},
    unreserved_resources: v0Resources(total),
    reserved_resources_full: {},
    unreserved_resources_full: resourcesToWire(total).map((r) => ({ ...r, role: '*' })),
    reserved_resources_allocated: {},
    unreserved_resources_allocated: v0Resources(allocated),
    resource_providers: [],
    attributes: Object.fromEntries(agent.opts.attributes.map((a) => [a.name, a.type === 'SCALAR' ? (a.scalar?.value ?? 0) : (a.text?.value ?? '')])),
    master_hostname: new URL(agent.master()).hostname,
    flags: agentFlags(agent),
    frameworks: [...live.keys()].map(frameworkJson),
    completed_frameworks: [...agent.completed.keys()].filter((id) => !live.has(id)).reverse().map(frameworkJson),
  }
}

function agentFlags(agent: Agent): Readonly<Record<string, string>> {
  return agent.opts.flags ?? { work_dir: agent.opts.workDir, port: String(agent.opts.port), hostname: agent.opts.hostname }
}

function allocatedResources(agent: Agent): Resources {
  let used: Resources = EMPTY
  for (const t of agent.tasks.values()) if (!isTerminal(t.state)) used = add(used, resourcesFromWire(t.info.resources))
  return used
}

/** One element of `/monitor/statistics`. Keys in the order Mesos' JSON::Object writes them (by name). */
export function statisticsEntry(t: AgentTask, usage: ContainerUsage, nowMs: number): Json {
  const resources = resourcesFromWire(t.info.resources)
  const statistics: Record<string, number> = {
    ...usage,
    timestamp: nowMs / 1000,
    cpus_limit: scalar(resources, 'cpus'),
    mem_limit_bytes: Math.round(scalar(resources, 'mem') * MB),
  }
  return {
    executor_id: t.info.task_id.value,
    executor_name: commandExecutorName(t.info),
    framework_id: t.frameworkId,
    source: t.info.task_id.value,
    statistics: Object.fromEntries(Object.entries(statistics).sort(([a], [b]) => (a < b ? -1 : 1))),
  }
}

async function monitorStatistics(agent: Agent): Promise<Json[]> {
  const running = [...agent.tasks.values()].filter((t) => !isTerminal(t.state) && t.containerId !== undefined)
  const entries = await Promise.all(
    running.map(async (t) => {
      const c = agent.opts.containerizers.find((x) => x.name === t.containerizer)
      // As Mesos' agent: an executor whose usage cannot be read is left out.
      const usage = await c?.usage?.(t.info.task_id.value).catch(() => undefined)
      return usage ? statisticsEntry(t, usage, agent.opts.clock.now()) : undefined
    }),
  )
  return entries.filter((e): e is Json => e !== undefined)
}

export interface AgentMetricsInput {
  readonly nowMs: number
  readonly startedAtMs: number
  readonly registered: boolean
  readonly total: Resources
  readonly tasks: ReadonlyArray<{ readonly frameworkId: string; readonly state: string; readonly resources: Resources }>
  readonly terminalCounts: ReadonlyMap<string, number>
}

/** The agent's `/metrics/snapshot`: Mesos' slave/* gauges and counters that dromos can know. */
export function agentMetrics(m: AgentMetricsInput): Record<string, number> {
  const live = m.tasks.filter((t) => !isTerminal(t.state))
  const count = (state: string) => m.tasks.filter((t) => t.state === state).length
  const used = live.reduce<Resources>((acc, t) => add(acc, t.resources), EMPTY)
  const out: Record<string, number> = {
    'slave/uptime_secs': (m.nowMs - m.startedAtMs) / 1000,
    'slave/registered': m.registered ? 1 : 0,
    'slave/recovery_errors': 0,
    'slave/frameworks_active': new Set(live.map((t) => t.frameworkId)).size,
    'slave/tasks_staging': count(TaskState.STAGING),
    'slave/tasks_starting': count(TaskState.STARTING),
    'slave/tasks_running': count(TaskState.RUNNING),
    'slave/tasks_killing': count(TaskState.KILLING),
    // Each task has its own executor, which runs exactly as long as its task.
    'slave/executors_registering': count(TaskState.STAGING) + count(TaskState.STARTING),
    'slave/executors_running': count(TaskState.RUNNING),
    'slave/executors_terminating': count(TaskState.KILLING),
    'slave/executors_terminated': [...m.terminalCounts.values()].reduce((a, b) => a + b, 0),
    'slave/executors_preempted': 0,
  }
  // Counters of terminal transitions since the agent started, as Mesos' of the same names.
  for (const state of [TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST, TaskState.GONE]) {
    out[`slave/tasks_${state.slice('TASK_'.length).toLowerCase()}`] = m.terminalCounts.get(state) ?? 0
  }
  for (const kind of ['cpus', 'gpus', 'mem', 'disk']) {
    const total = scalar(m.total, kind)
    const inUse = scalar(used, kind)
    out[`slave/${kind}_total`] = total
    out[`slave/${kind}_used`] = inUse
    out[`slave/${kind}_percent`] = total > 0 ? inUse / total : 0
    // No revocable resources in dromos; Mesos registers these gauges all the same.
    out[`slave/${kind}_revocable_total`] = 0
    out[`slave/${kind}_revocable_used`] = 0
    out[`slave/${kind}_revocable_percent`] = 0
  }
  return out
}

export function registerAgentEndpoints(router: Router, agent: Agent): void {
  const onPaths = (paths: readonly string[], body: () => unknown | Promise<unknown>) => {
    for (const path of paths) router.on('GET', path, async (ctx) => sendJson(ctx.res, 200, await body()))
  }
  const state = () => agentStateJson(agent)
  const flags = () => ({ flags: agentFlags(agent) })
  const statistics = () => monitorStatistics(agent)
  const metrics = () =>
    agentMetrics({
      nowMs: agent.opts.clock.now(),
      startedAtMs: agent.startedAt,
      registered: agent.registered(),
      total: agent.opts.resources,
      tasks: [...agent.tasks.values()].map((t) => ({ frameworkId: t.frameworkId, state: t.state, resources: resourcesFromWire(t.info.resources) })),
      terminalCounts: agent.terminalCounts,
    })
  onPaths(['/state', '/state.json', '/slave(1)/state', '/slave(1)/state.json'], state)
  onPaths(['/flags', '/slave(1)/flags'], flags)
  onPaths(['/monitor/statistics', '/monitor/statistics.json', '/slave(1)/monitor/statistics', '/slave(1)/monitor/statistics.json'], statistics)
  onPaths(['/metrics/snapshot'], metrics)
}
