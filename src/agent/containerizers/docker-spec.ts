// The create-container body of a DOCKER task: its command, sandbox and volumes, resource
// limits, network and port mappings, and the labels that find the container again after an
// agent restart.
import { isAbsolute, resolve as resolvePath } from 'node:path'
import type Dockerode from 'dockerode'
import type { Logger } from 'pino'
import type { TaskInfo } from '../../api/mesos.js'
import { applyParameters } from './docker-parameters.js'
import { CFS_PERIOD_US, cfsQuotaUs } from './shared.js'
import type { LaunchRequest } from './types.js'

/** Labels on every container the docker containerizer starts; recover() lists containers by them. */
export const DockerLabel = {
  agentId: 'dromos.agent_id',
  frameworkId: 'dromos.framework_id',
  taskId: 'dromos.task_id',
  sandbox: 'dromos.sandbox',
} as const

/** Where the sandbox is mounted inside the container, as in Mesos. */
export const CONTAINER_SANDBOX = '/mnt/mesos/sandbox'

// Docker 20.10 refuses memory limits below 6 MB ("Minimum memory limit allowed is 6MB").
const MIN_MEMORY_BYTES = 6 * 1024 * 1024

export type DockerInfo = NonNullable<NonNullable<TaskInfo['container']>['docker']>

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; anything else becomes '_'. */
export function containerName(agentId: string, taskId: string): string {
  return `dromos-${agentId}-${taskId}`.replace(/[^a-zA-Z0-9_.-]/g, '_')
}

/** Builds the create-container body from the task; pure apart from warnings about parameters it ignores. */
export function containerSpec(req: LaunchRequest, info: DockerInfo, log: Logger): Dockerode.ContainerCreateOptions {
  const task = req.taskInfo
  const container = task.container
  const command = task.command
  const env: Record<string, string> = { ...req.env, MESOS_SANDBOX: CONTAINER_SANDBOX }
  const labels: Record<string, string> = {
    [DockerLabel.agentId]: req.agentId,
    [DockerLabel.frameworkId]: req.frameworkId,
    [DockerLabel.taskId]: task.task_id.value,
    [DockerLabel.sandbox]: req.sandboxDir,
  }

  const spec: Dockerode.ContainerCreateOptions = { Image: info.image, Labels: labels, Tty: false, OpenStdin: false }

  // As the Mesos docker containerizer: a shell command replaces the entrypoint with
  // `/bin/sh -c value`; otherwise the image's entrypoint stays and value + arguments
  // become its Cmd. With neither, the image's own Cmd runs.
  if (command !== undefined) {
    if (command.shell) {
      if (command.value !== undefined) {
        spec.Entrypoint = ['/bin/sh', '-c']
        spec.Cmd = [command.value]
      }
    } else {
      const argv = [...(command.value !== undefined ? [command.value] : []), ...command.arguments]
      if (argv.length > 0) spec.Cmd = argv
    }
    if (command.user !== undefined && command.user !== '') spec.User = command.user
  }

  const binds = [`${req.sandboxDir}:${CONTAINER_SANDBOX}:rw`]
  const anonymousVolumes: Record<string, object> = {}
  for (const v of container?.volumes ?? []) {
    const mode = v.mode === 'RO' ? 'ro' : 'rw'
    if (v.host_path === undefined || v.host_path === '') {
      anonymousVolumes[v.container_path] = {}
    } else {
      // Relative host paths live in the sandbox, as Mesos resolves them.
      const host = isAbsolute(v.host_path) ? v.host_path : resolvePath(req.sandboxDir, v.host_path)
      binds.push(`${host}:${v.container_path}:${mode}`)
    }
  }
  if (Object.keys(anonymousVolumes).length > 0) spec.Volumes = anonymousVolumes

  const memory = Math.max(MIN_MEMORY_BYTES, Math.round(req.memMb * 1024 * 1024))
  const hostConfig: Dockerode.HostConfig = {
    Binds: binds,
    Privileged: info.privileged,
    CpuShares: Math.max(2, Math.round(req.cpus * 1024)),
    Memory: memory,
    // Same as Memory: no swap, so a task that outgrows its memory is OOM-killed, not slowed down.
    MemorySwap: memory,
    AutoRemove: false,
  }
  if (req.cpus > 0) {
    hostConfig.CpuPeriod = CFS_PERIOD_US
    hostConfig.CpuQuota = cfsQuotaUs(req.cpus)
  }

  const networkMode = networkModeOf(info, container)
  hostConfig.NetworkMode = networkMode
  if (networkMode !== 'host' && networkMode !== 'none' && info.port_mappings.length > 0) {
    const exposed: Record<string, object> = {}
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {}
    for (const pm of info.port_mappings) {
      // Marathon allows "udp,tcp" for one mapping.
      for (const proto of pm.protocol.split(',').map((p) => p.trim().toLowerCase()).filter((p) => p !== '')) {
        const key = `${pm.container_port}/${proto}`
        exposed[key] = {}
        ;(bindings[key] ??= []).push({ HostIp: '0.0.0.0', HostPort: String(pm.host_port) })
      }
    }
    spec.ExposedPorts = exposed
    hostConfig.PortBindings = bindings
  }
  if (container?.hostname !== undefined && networkMode !== 'host') spec.Hostname = container.hostname

  applyParameters(info.parameters, { spec, host: hostConfig, env, labels, log })
  spec.Env = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  spec.HostConfig = hostConfig
  return spec
}

function networkModeOf(info: DockerInfo, container: TaskInfo['container']): string {
  switch (info.network) {
    case 'HOST':
      return 'host'
    case 'NONE':
      return 'none'
    case 'BRIDGE':
      return 'bridge'
    case 'USER': {
      // network_infos is not in our schema (the object is loose), so read it defensively.
      const infos = container?.['network_infos']
      const first: unknown = Array.isArray(infos) ? infos[0] : undefined
      const name = first !== null && typeof first === 'object' ? (first as Record<string, unknown>)['name'] : undefined
      return typeof name === 'string' && name !== '' ? name : 'bridge'
    }
  }
}
