// The master: agent registry, frameworks, offers, tasks and status update forwarding. The
// state and its one writer live in state.ts; this file wires the shell around it (agents.ts,
// frameworks.ts, scheduler.ts, offers.ts) and owns the timers of the whole.
import { newUuid } from '../core/ids.js'
import { TaskState } from '../core/task-state.js'
import { createAgents } from './agents.js'
import type { MasterContext } from './context.js'
import { isActive, MASTER_VERSION } from './context.js'
import { createFrameworks } from './frameworks.js'
import { roleDominantShares, shareTotal } from './allocator.js'
import { createOffers, frameworkAllocated } from './offers.js'
import { createSchedulerCalls } from './scheduler.js'
import { createMasterState } from './state.js'
import { createUpdateTask } from './tasks.js'
import type { Master, MasterOptions } from './types.js'

export { MASTER_VERSION } from './context.js'
export { taskKey } from './state.js'

export function createMaster(opts: MasterOptions): Master {
  const { log, clock, store } = opts
  const runId = newUuid()
  const state = createMasterState({ store, log })
  const ctx: MasterContext = {
    opts,
    log,
    clock,
    state,
    runId,
    master: () => master,
    counters: { offersSent: 0, offersRescinded: 0, offersDeclined: 0, updatesForwarded: 0, tasksLaunched: 0, invalidCalls: 0 },
    terminalCounts: new Map(),
    streams: new Map(),
    operatorListeners: new Set(),
    stopped: false,
  }
  const offers = createOffers(ctx)
  const updateTask = createUpdateTask(ctx, offers.allocateSoon)
  const frameworks = createFrameworks(ctx, { offers, updateTask, masterInfo })
  const agents = createAgents(ctx, { offers, updateTask })
  const handleCall = createSchedulerCalls(ctx, { offers, updateTask, frameworks })
  let allocationTimer: NodeJS.Timeout | undefined
  let pingTimer: NodeJS.Timeout | undefined
  let reregisterTimer: NodeJS.Timeout | undefined

  function masterInfo(): Record<string, unknown> {
    return {
      id: runId,
      ip: ipToUint32(opts.ip),
      port: opts.port,
      pid: `master@${opts.ip}:${opts.port}`,
      hostname: opts.hostname,
      version: MASTER_VERSION,
      address: { hostname: opts.hostname, ip: opts.ip, port: opts.port },
    }
  }

  function metrics(): Record<string, number> {
    const activeAgents = [...state.agents.values()].filter(isActive)
    // Scalars only: what is reported of them; adding up every agent's ports too cost a sort an agent.
    const total = state.activeAgentsTotal()
    const used = shareTotal(activeAgents.map((a) => ({ total: state.agentUsed(a.id) })))
    const count = state.taskCount
    const connected = [...state.frameworks.values()].filter((f) => f.stream).length
    const { counters } = ctx
    const m: Record<string, number> = {
      'master/elected': 1,
      'master/uptime_secs': (clock.now() - startedAt) / 1000,
      'master/slaves_active': activeAgents.length,
      'master/slaves_connected': activeAgents.length,
      'master/slaves_unreachable': state.agents.size - activeAgents.length + state.unreachableAgents.size,
      'master/frameworks_active': connected,
      'master/frameworks_connected': connected,
      'master/frameworks_disconnected': state.frameworks.size - connected,
      'master/outstanding_offers': state.offers.size,
      'master/tasks_staging': count(TaskState.STAGING),
      'master/tasks_starting': count(TaskState.STARTING),
      'master/tasks_running': count(TaskState.RUNNING),
      'master/tasks_killing': count(TaskState.KILLING),
      'master/tasks_unreachable': count(TaskState.UNREACHABLE),
      'master/messages_status_update': counters.updatesForwarded,
      'master/offers_sent': counters.offersSent,
      'master/offers_rescinded': counters.offersRescinded,
      'master/offers_declined': counters.offersDeclined,
      'master/tasks_launched': counters.tasksLaunched,
      'master/invalid_calls': counters.invalidCalls,
    }
    const runs = offers.allocationRuns()
    const recent = [...runs.recentMs].sort((a, b) => a - b)
    const at = (q: number): number => recent[Math.min(recent.length - 1, Math.floor(q * recent.length))] ?? 0
    m['allocator/mesos/allocation_runs'] = runs.count
    m['allocator/mesos/allocation_run_ms'] = runs.recentMs.at(-1) ?? 0
    // As Mesos' timers, over the latest passes; the sum is of every pass, so that a reader can
    // take the mean over an interval of its own.
    m['allocator/mesos/allocation_run_ms/count'] = recent.length
    m['allocator/mesos/allocation_run_ms/p50'] = at(0.5)
    m['allocator/mesos/allocation_run_ms/p99'] = at(0.99)
    m['allocator/mesos/allocation_run_ms/max'] = recent.at(-1) ?? 0
    m['allocator/mesos/allocation_run_ms/sum'] = runs.totalMs
    // Running totals of terminal transitions, as Mesos' counters of the same names.
    for (const s of [TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST, TaskState.ERROR, TaskState.DROPPED, TaskState.GONE, TaskState.GONE_BY_OPERATOR]) {
      m[`master/tasks_${s.slice('TASK_'.length).toLowerCase()}`] = ctx.terminalCounts.get(s) ?? 0
    }
    for (const kind of ['cpus', 'mem', 'disk', 'gpus']) {
      m[`master/${kind}_total`] = total.scalars[kind] ?? 0
      m[`master/${kind}_used`] = used.scalars[kind] ?? 0
      m[`master/${kind}_percent`] = (total.scalars[kind] ?? 0) > 0 ? (used.scalars[kind] ?? 0) / total.scalars[kind]! : 0
    }
    const frameworks = [...state.frameworks.values()].map((f) => ({ roles: f.roles, allocated: frameworkAllocated(state, f.id) }))
    for (const [role, share] of Object.entries(roleDominantShares({ agents: [{ total }], frameworks }))) {
      m[`allocator/mesos/roles/${role}/shares/dominant`] = share
    }
    return m
  }

  const startedAt = clock.now()

  const master: Master = {
    id: runId,
    startedAt,
    opts,
    agents: state.agents,
    frameworks: state.frameworks,
    completedFrameworks: state.completedFrameworks,
    tasks: state.tasks,
    completedTasks: state.completedTasks,
    offers: state.offers,
    recoveredAgents: state.recoveredAgents,
    unreachableAgents: state.unreachableAgents,
    async start() {
      // Agents in the registry keep their ids across a master restart; their tasks return when
      // they re-register. Frameworks keep their ids and may re-subscribe: a recovered framework
      // that never comes back is removed after its failover timeout.
      for (const f of await state.load(clock.now())) frameworks.awaitRecovered(f)
      // The agents of the registry are "recovered" until they re-register. They are asked to at
      // once; one that does not within the re-register timeout is marked unreachable in the
      // registry, as Mesos does (this master knows no tasks of it to mark).
      if (state.recoveredAgents.size > 0) {
        log.info({ agents: [...state.recoveredAgents.keys()] }, 'recovered agents from the registry: waiting for them to re-register')
        setImmediate(() => void agents.pingRecoveredAgents())
        reregisterTimer = setTimeout(() => void agents.expireRecoveredAgents(), Math.min(opts.agentReregisterTimeoutMs ?? 10 * 60_000, 2 ** 31 - 1))
        reregisterTimer.unref()
      }
      allocationTimer = setInterval(offers.runAllocation, opts.allocationIntervalMs)
      pingTimer = setInterval(() => void agents.pingAgents(), opts.agentPingTimeoutMs)
    },
    async stop() {
      ctx.stopped = true
      if (allocationTimer) clearInterval(allocationTimer)
      if (pingTimer) clearInterval(pingTimer)
      if (reregisterTimer) clearTimeout(reregisterTimer)
      frameworks.stop()
      offers.stop()
    },
    subscribe: frameworks.subscribe,
    handleCall: async (call, streamId) => {
      try {
        await handleCall(call, streamId)
      } catch (e) {
        ctx.counters.invalidCalls++
        throw e
      }
    },
    registerAgent: agents.registerAgent,
    agentStatusUpdates: agents.agentStatusUpdates,
    agentUsed: state.agentUsed,
    agentOffered: state.agentOffered,
    frameworkUsed: state.frameworkUsed,
    frameworkOffered: state.frameworkOffered,
    tasksOnAgent: state.tasksOnAgent,
    offersOnAgent: state.offersOnAgent,
    tasksOfFramework: state.tasksOfFramework,
    offersOfFramework: state.offersOfFramework,
    taskCount: state.taskCount,
    masterInfo,
    onOperatorEvent(listener) {
      ctx.operatorListeners.add(listener)
      return () => ctx.operatorListeners.delete(listener)
    },
    metrics,
  }
  return master
}

export function ipToUint32(ip: string): number {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p))) return 0
  // Mesos encodes MasterInfo.ip in network byte order read as a little-endian integer.
  return ((parts[3]! << 24) >>> 0) + (parts[2]! << 16) + (parts[1]! << 8) + parts[0]!
}
