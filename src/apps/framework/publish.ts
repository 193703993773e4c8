// The framework's own events about instances and deployments, in the shape Marathon's carry.
import type { EventBus } from '../events.js'
import type { Instance } from '../types.js'

export function publishInstanceChanged(events: EventBus, i: Instance): void {
  events.publish('instance_changed_event', {
    instanceId: i.instanceId,
    condition: i.condition,
    runSpecId: i.appId,
    agentId: i.agentId,
    host: i.host,
    runSpecVersion: i.version,
  })
}

export function publishHealth(events: EventBus, i: Instance): void {
  events.publish('health_status_changed_event', { appId: i.appId, instanceId: i.instanceId, version: i.version, alive: i.healthy === true })
  events.publish('instance_health_changed_event', { instanceId: i.instanceId, runSpecId: i.appId, runSpecVersion: i.version, healthy: i.healthy ?? null })
}

export { planJson, stepJson } from '../event-payloads.js'
