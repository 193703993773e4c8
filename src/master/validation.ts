// Task validation at ACCEPT time. A task that fails it gets TASK_ERROR with this message.
import type { FrameworkInfo, TaskInfo } from '../api/mesos.js'
import { resourcesFromWire } from '../api/mesos.js'

const TASK_ID = /^[^\s/\\]{1,200}$/

export function validateTask(task: TaskInfo, ctx: { agentId: string; knownTask: boolean }): string | undefined {
  const id = task.task_id.value
  if (!TASK_ID.test(id) || id === '.' || id === '..') return `Task ID '${id}' is invalid: it must be 1-200 characters with no whitespace or slashes`
  if (ctx.knownTask) return `Task has duplicate ID: ${id}`
  if (task.agent_id.value !== ctx.agentId) return `Task uses agent ${task.agent_id.value} but the offers are for agent ${ctx.agentId}`
  if (task.executor !== undefined) return 'Custom executors are not supported; use a command or a container'
  if (!task.command && !task.container) return 'Task must have a command or a container'
  if (task.container?.type === 'DOCKER' && !task.container.docker) return "DOCKER container requires 'docker' with an image"
  if (task.container?.type !== 'DOCKER' && !task.command?.value && !task.command?.arguments.length) {
    return 'Task command must have a value or arguments'
  }
  const resources = resourcesFromWire(task.resources)
  if ((resources.scalars.cpus ?? 0) <= 0 && (resources.scalars.mem ?? 0) <= 0) return 'Task uses no cpus or mem'
  for (const r of task.resources) {
    if (r.type === 'SCALAR' && r.scalar === undefined) return `Scalar resource '${r.name}' has no value`
    if (r.type === 'RANGES' && r.ranges === undefined) return `Ranges resource '${r.name}' has no ranges`
    if (r.role && r.role !== '*') return `Resource '${r.name}' is reserved for role '${r.role}'; reservations are not supported`
  }
  const health = task.health_check
  if (health) {
    // Mesos's validateHealthCheck: the durations must not be negative (0 is allowed).
    for (const field of ['delay_seconds', 'interval_seconds', 'timeout_seconds', 'grace_period_seconds'] as const) {
      if (health[field] < 0) return `Task's health check is invalid: Expecting '${field}' to be non-negative`
    }
    if (health.http && !health.http.path.startsWith('/')) return "Task's health check is invalid: The path of an HTTP health check must start with '/'"
    if (health.http && health.http.scheme !== 'http' && health.http.scheme !== 'https') return `Task's health check is invalid: Unsupported HTTP health check scheme '${health.http.scheme}'`
    if (health.type === 'COMMAND' && !health.command?.value) return "Task's health check is invalid: Expecting 'command' to be set for a COMMAND health check"
  }
  const docker = task.container?.docker
  if (docker) {
    const ports = resources.ranges.ports ?? []
    for (const m of docker.port_mappings) {
      if (docker.network !== 'BRIDGE' && docker.network !== 'USER') return `Port mappings need BRIDGE or USER networking, not ${docker.network}`
      if (!ports.some((r) => r.begin <= m.host_port && m.host_port <= r.end)) {
        return `Port mapping host port ${m.host_port} is not among the task's port resources`
      }
    }
  }
  return undefined
}

const ROLE_INVALID_CHARACTERS = /[\t\n\v\f\r \x7f]/

/** Mesos's roles::validate, messages included: hierarchical names, '*' alone. */
export function validateRole(role: string): string | undefined {
  if (role === '*') return undefined
  if (role.startsWith('/')) return `Role '${role}' cannot start with a slash`
  if (role.endsWith('/')) return `Role '${role}' cannot end with a slash`
  if (role.includes('//')) return `Role '${role}' cannot contain two adjacent slashes`
  const components = role.split('/').filter((c) => c !== '')
  if (components.length === 0) return 'Role names cannot be the empty string'
  for (const c of components) {
    if (c === '.') return `Role '${role}' cannot include '.' as a component`
    if (c === '..') return `Role '${role}' cannot include '..' as a component`
    if (c === '*') return `Role '${role}' cannot include '*' as a component`
    if (c.startsWith('-')) return `Role component '${c}' is invalid because it starts with a dash`
    if (ROLE_INVALID_CHARACTERS.test(c)) return `Role component '${c}' is invalid because it contains backspace or whitespace`
  }
  return undefined
}

export function isMultiRole(info: { readonly capabilities?: ReadonlyArray<{ readonly type?: string | undefined }> | undefined }): boolean {
  return (info.capabilities ?? []).some((c) => c.type === 'MULTI_ROLE')
}

/** The FrameworkInfo checks of Mesos's validateFrameworkSubscription that concern roles. */
export function validateFrameworkRoles(info: FrameworkInfo): string | undefined {
  const roles = info.roles ?? []
  if (isMultiRole(info)) {
    if (info.role !== undefined) return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    if (new Set(roles).size !== roles.length) return "'FrameworkInfo.roles' contains duplicate items"
    for (const r of roles) {
      const e = validateRole(r)
      if (e) return e
    }
    return undefined
  }
  if (roles.length > 0) return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
  return info.role !== undefined ? validateRole(info.role) : undefined
}
