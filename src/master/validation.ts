// Task validation at ACCEPT time. A task that fails it gets TASK_ERROR with this message.
import type { TaskInfo } from '../api/mesos.js'
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
