// The master's objects as the v1 operator API shows them (include/mesos/v1/master/master.proto
// and mesos.proto). One builder per shape, used by the GET_* calls and by the events streamed to
// operator subscribers alike, so that an event and the call that lists the same object agree.
import type { AgentRecord, FrameworkRecord, Master, OfferRecord, RecoveredAgent, TaskRecord } from './types.js'
import { resourcesToWire } from '../api/mesos.js'
import type { Resources } from '../core/resources.js'
import { add, EMPTY } from '../core/resources.js'

export const timeInfo = (ms: number): { nanoseconds: number } => ({ nanoseconds: Math.round(ms) * 1e6 })

/** A `Task` of mesos.proto. */
export function taskV1(t: TaskRecord): Record<string, unknown> {
  // status_update_state/uuid name the latest update forwarded with a uuid (one that wants an
  // acknowledgement); as in Mesos they stay after the acknowledgement.
  const latest = t.statuses.findLast((s) => s.uuid !== undefined)
  return {
    name: t.info.name,
    task_id: { value: t.taskId },
    framework_id: { value: t.frameworkId },
    agent_id: { value: t.agentId },
    state: t.state,
    // Resources carry the role they were allocated to, as in Mesos' multi-role model.
    resources: resourcesToWire(t.resources, t.role),
    statuses: t.statuses,
    ...(latest?.uuid ? { status_update_state: latest.state, status_update_uuid: latest.uuid } : {}),
    ...(t.info.labels ? { labels: t.info.labels } : {}),
    ...(t.info['discovery'] ? { discovery: t.info['discovery'] } : {}),
    ...(t.info.container ? { container: t.info.container } : {}),
    ...(t.info.health_check ? { health_check: t.info.health_check } : {}),
    ...(t.info.kill_policy ? { kill_policy: t.info.kill_policy } : {}),
    ...(t.info.command?.user ? { user: t.info.command.user } : {}),
  }
}

/** An `Offer` of mesos.proto. */
export function offerV1(master: Master, o: OfferRecord): Record<string, unknown> {
  const agent = master.agents.get(o.agentId)
  return {
    id: { value: o.id },
    framework_id: { value: o.frameworkId },
    agent_id: { value: o.agentId },
    hostname: agent?.hostname ?? '',
    resources: resourcesToWire(o.resources, o.role),
    attributes: agent?.attributes ?? [],
    allocation_info: { role: o.role },
    ...(agent ? { url: { scheme: 'http', address: { hostname: agent.hostname, ip: agent.ip, port: agent.port }, path: '/slave(1)' } } : {}),
  }
}

/**
 * A `Response.GetFrameworks.Framework` of master.proto. As in Mesos, allocated_resources is
 * what the framework's tasks use and offered_resources what it holds in offers.
 */
export function frameworkV1(master: Master, f: FrameworkRecord, connected = !!f.stream): Record<string, unknown> {
  const used = [...master.frameworkUsed(f.id).values()].reduce<Resources>(add, EMPTY)
  const offers = connected ? master.offersOfFramework(f.id) : []
  const offered = offers.reduce<Resources>((acc, o) => add(acc, o.resources), EMPTY)
  return {
    framework_info: { ...f.info, id: { value: f.id } },
    active: connected,
    connected,
    recovered: false,
    registered_time: timeInfo(f.registeredAt),
    ...(f.reregisteredAt ? { reregistered_time: timeInfo(f.reregisteredAt) } : {}),
    ...(f.unregisteredAt ? { unregistered_time: timeInfo(f.unregisteredAt) } : {}),
    offers: offers.map((o) => offerV1(master, o)),
    inverse_offers: [],
    allocated_resources: resourcesToWire(used),
    offered_resources: resourcesToWire(offered),
  }
}

/** A `Response.GetAgents.Agent` of master.proto. */
export function agentV1(master: Master, a: AgentRecord): Record<string, unknown> {
  return {
    agent_info: { id: { value: a.id }, hostname: a.hostname, port: a.port, resources: resourcesToWire(a.total), attributes: a.attributes },
    active: a.unreachableSince === undefined,
    deactivated: false,
    version: a.version,
    pid: `slave(1)@${a.ip}:${a.port}`,
    registered_time: timeInfo(a.registeredAt),
    ...(a.reregisteredAt ? { reregistered_time: timeInfo(a.reregisteredAt) } : {}),
    total_resources: resourcesToWire(a.total),
    allocated_resources: resourcesToWire(master.agentUsed(a.id)),
    offered_resources: resourcesToWire(master.agentOffered(a.id)),
    capabilities: [{ type: 'MULTI_ROLE' }],
  }
}

/**
 * An `AgentInfo` of mesos.proto, for an agent of the registry that has not re-registered with
 * this master yet (GetAgents.recovered_agents), as the registry remembers it.
 */
export function recoveredAgentV1(a: RecoveredAgent): Record<string, unknown> {
  return { id: { value: a.id }, hostname: a.hostname, port: a.port, resources: a.resources ?? [], attributes: a.attributes ?? [] }
}
