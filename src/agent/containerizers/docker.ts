// The docker containerizer: runs DOCKER tasks through the Docker Engine API, as the Mesos
// docker containerizer does with the docker CLI. It owns nothing but containers; the agent
// owns task state. Containers carry labels (agent, framework, task, sandbox) so that a
// restarted agent finds its tasks again without any local bookkeeping.
import { createWriteStream } from 'node:fs'
import { PassThrough } from 'node:stream'
import type { WriteStream } from 'node:fs'
import { isAbsolute, resolve as resolvePath } from 'node:path'
import { constants as osConstants } from 'node:os'
import Dockerode from 'dockerode'
import { pino } from 'pino'
import type { Logger } from 'pino'
import type { TaskInfo } from '../../api/mesos.js'
import { LaunchFailedError } from './types.js'
import type { FetcherSettings } from '../fetcher.js'
import { FetchFailedError, fetchUris } from '../fetcher.js'
import type { ContainerEvent, Containerizer, LaunchRequest, RecoveredContainer } from './types.js'
import type { DockerStatsJson } from './usage.js'
import { dockerUsage } from './usage.js'

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
const CPU_PERIOD_US = 100_000
// How long to wait for the log stream to drain after the container exited.
const LOG_DRAIN_MS = 5_000
// How much of a command's output runInContainer keeps (its tail).
const EXEC_OUTPUT_BYTES = 4096

export interface DockerContainerizerOptions {
  docker?: Dockerode
  log?: Logger
  /** Upper bound for one image pull; the launch fails when it is exceeded. */
  pullTimeoutMs?: number
  /** The agent's fetcher cache. */
  fetcher?: FetcherSettings
}

type DockerInfo = NonNullable<NonNullable<TaskInfo['container']>['docker']>

/** One task this containerizer watches, from launch (or recovery) until its container is removed. */
interface Tracked {
  readonly taskId: string
  containerId: string | null
  killed: boolean
  stopping: Promise<void> | null
  /** Settles once 'exited' was emitted and the container removed (or launch failed). */
  readonly done: Promise<void>
  readonly settle: () => void
}

export function createDockerContainerizer(opts: DockerContainerizerOptions = {}): Containerizer {
  const docker = opts.docker ?? new Dockerode()
  const log = opts.log ?? pino({ level: 'silent' })
  const pullTimeoutMs = opts.pullTimeoutMs ?? 10 * 60_000
  const tracked = new Map<string, Tracked>()

  function track(taskId: string): Tracked {
    let settle!: () => void
    const done = new Promise<void>((res) => (settle = res))
    const t: Tracked = { taskId, containerId: null, killed: false, stopping: null, done, settle }
    tracked.set(taskId, t)
    void done.then(() => {
      if (tracked.get(taskId) === t) tracked.delete(taskId)
    })
    return t
  }

  async function prepareImage(image: string, forcePull: boolean): Promise<void> {
    if (!forcePull) {
      try {
        await docker.getImage(image).inspect()
        return
      } catch (err) {
        if (statusOf(err) !== 404) throw new LaunchFailedError(`Failed to inspect image '${image}': ${messageOf(err)}`)
      }
    }
    log.info({ image, forcePull }, 'pulling image')
    const started = Date.now()
    try {
      const stream = (await docker.pull(image)) as NodeJS.ReadableStream
      await followProgress(stream, pullTimeoutMs)
    } catch (err) {
      throw new LaunchFailedError(`Failed to pull image '${image}': ${messageOf(err)}`)
    }
    log.info({ image, ms: Date.now() - started }, 'pulled image')
  }

  async function createContainer(req: LaunchRequest, name: string, spec: Dockerode.ContainerCreateOptions) {
    try {
      return await docker.createContainer({ ...spec, name })
    } catch (err) {
      if (statusOf(err) !== 409) throw err
      // A container of the same name is left over from an earlier run of this task id
      // (an agent that died before it cleaned up). Replace it unless it still runs.
      const stale = docker.getContainer(name)
      const info = await stale.inspect()
      if (info.State.Running) throw err
      log.warn({ taskId: req.taskInfo.task_id.value, name }, 'removing stale container with the same name')
      await stale.remove({ force: true, v: true })
      return await docker.createContainer({ ...spec, name })
    }
  }

  /**
   * Follows the container's logs into the sandbox. `docker logs --follow` rather than attach:
   * it replays what was written before we got there, so a task that exits at once still
   * leaves its output, and the stream ends only after the last byte once the container stops.
   */
  function followLogs(container: Dockerode.Container, sandboxDir: string, sinceSec: number): Promise<void> {
    const stdout = createWriteStream(resolvePath(sandboxDir, 'stdout'), { flags: 'a' })
    const stderr = createWriteStream(resolvePath(sandboxDir, 'stderr'), { flags: 'a' })
    const closeFiles = () => Promise.all([endStream(stdout), endStream(stderr)]).then(() => undefined)
    return (async () => {
      try {
        const stream = (await container.logs({ follow: true, stdout: true, stderr: true, since: sinceSec })) as NodeJS.ReadableStream
        docker.modem.demuxStream(stream, stdout, stderr)
        await new Promise<void>((res) => {
          stream.once('end', res)
          stream.once('close', res)
          stream.once('error', (err) => {
            log.warn({ err }, 'container log stream failed')
            res()
          })
        })
      } catch (err) {
        log.warn({ err, containerId: container.id }, 'could not follow container logs')
      } finally {
        await closeFiles()
      }
    })()
  }

  /**
   * Waits for the container to stop, reports it once, removes it. Both launch and recover
   * use it, so a recovered task gets exactly one 'exited' too.
   */
  function watch(
    t: Tracked,
    container: Dockerode.Container,
    logsDone: Promise<void>,
    emit: (e: ContainerEvent) => void,
  ): void {
    void (async () => {
      let waitCode: number | null = null
      try {
        waitCode = await waitForExit(container)
      } catch (err) {
        log.warn({ err, taskId: t.taskId }, 'waiting for container failed')
      }
      let state: Dockerode.ContainerInspectInfo['State'] | null = null
      // The Engine learns of an OOM kill through a separate event that can land just after the
      // exit; a SIGKILL nobody asked for is worth a few short re-reads before calling it plain.
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          state = (await container.inspect()).State
        } catch (err) {
          if (statusOf(err) !== 404) log.warn({ err, taskId: t.taskId }, 'inspecting exited container failed')
          break
        }
        if (state.OOMKilled || state.ExitCode !== 137 || t.killed) break
        await sleep(100)
      }
      // Flush the logs before reporting, so whoever reads the sandbox after 'exited' sees all of it.
      await withTimeout(logsDone, LOG_DRAIN_MS)
      const exitCode = state ? state.ExitCode : waitCode
      const oomKilled = state?.OOMKilled ?? false
      // Remove before reporting: whoever handles 'exited' may relaunch the task under the same name.
      try {
        await container.remove({ force: true, v: true })
      } catch (err) {
        if (statusOf(err) !== 404 && statusOf(err) !== 409) log.warn({ err, taskId: t.taskId }, 'removing container failed')
      }
      emit({
        type: 'exited',
        exitCode,
        signal: signalOf(exitCode),
        killed: t.killed,
        oomKilled,
        message: exitMessage(exitCode, t.killed, oomKilled, state?.Error),
      })
      t.settle()
    })()
  }

  /** `docker stop`: the image's stop signal (SIGTERM by default), then SIGKILL after the grace period. */
  async function stop(t: Tracked, gracePeriodMs: number): Promise<void> {
    if (t.containerId === null) return
    // The Engine API counts the grace period in whole seconds; round up so a task never gets less.
    const seconds = Math.max(0, Math.ceil(gracePeriodMs / 1000))
    try {
      await docker.getContainer(t.containerId).stop({ t: seconds })
    } catch (err) {
      // 304: already stopped; 404: already removed. Either way it is gone.
      if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err
    }
  }

  async function listByAgent(agentId: string): Promise<Dockerode.ContainerInfo[]> {
    return docker.listContainers({ all: true, filters: { label: [`${DockerLabel.agentId}=${agentId}`] } })
  }

  return {
    name: 'docker',

    supports(task: TaskInfo): boolean {
      return task.container?.type === 'DOCKER'
    },

    async launch(req: LaunchRequest, onEvent: (e: ContainerEvent) => void): Promise<void> {
      const taskId = req.taskInfo.task_id.value
      const info = req.taskInfo.container?.docker
      if (req.taskInfo.container?.type !== 'DOCKER' || info === undefined) {
        throw new LaunchFailedError(`Task '${taskId}' has no docker container info`)
      }
      if (tracked.has(taskId)) throw new LaunchFailedError(`Task '${taskId}' is already running in a container`)
      const t = track(taskId)
      const tlog = log.child({ taskId, image: info.image })
      let container: Dockerode.Container | null = null
      try {
        // The command's URIs land in the sandbox, which the container sees at /mnt/mesos/sandbox.
        try {
          await fetchUris(req.taskInfo.command?.uris ?? [], req.sandboxDir, { ...opts.fetcher, log: tlog })
        } catch (err) {
          throw new LaunchFailedError(err instanceof FetchFailedError ? err.message : `Failed to fetch URIs: ${messageOf(err)}`)
        }
        if (t.killed) throw new LaunchFailedError(`Task '${taskId}' was killed during launch`, 'REASON_TASK_KILLED_DURING_LAUNCH')
        await prepareImage(info.image, info.force_pull_image)
        if (t.killed) throw new LaunchFailedError(`Task '${taskId}' was killed during launch`, 'REASON_TASK_KILLED_DURING_LAUNCH')
        const spec = containerSpec(req, info, tlog)
        try {
          container = await createContainer(req, containerName(req.agentId, taskId), spec)
          t.containerId = container.id
          if (t.killed) throw new LaunchFailedError(`Task '${taskId}' was killed during launch`, 'REASON_TASK_KILLED_DURING_LAUNCH')
          await container.start()
        } catch (err) {
          if (err instanceof LaunchFailedError) throw err
          throw new LaunchFailedError(`Failed to start container for task '${taskId}' from image '${info.image}': ${messageOf(err)}`)
        }
        const logsDone = followLogs(container, req.sandboxDir, 0)
        let ipAddresses: string[] = []
        try {
          ipAddresses = ipAddressesOf(await container.inspect())
        } catch (err) {
          tlog.warn({ err }, 'inspecting started container failed')
        }
        tlog.info({ containerId: container.id, ipAddresses }, 'container running')
        onEvent({ type: 'running', containerId: container.id, ipAddresses })
        watch(t, container, logsDone, onEvent)
      } catch (err) {
        if (container !== null) {
          await container.remove({ force: true, v: true }).catch(() => undefined)
        }
        t.settle()
        throw err instanceof LaunchFailedError ? err : new LaunchFailedError(`Failed to launch task '${taskId}': ${messageOf(err)}`)
      }
    },

    async kill(taskId: string, gracePeriodMs: number): Promise<void> {
      const t = tracked.get(taskId)
      // Not ours (never launched, or already reported and removed): nothing left to stop.
      if (t === undefined) return
      t.killed = true
      t.stopping ??= stop(t, gracePeriodMs).catch((err: unknown) => {
        log.warn({ err, taskId }, 'docker stop failed; removing the container by force')
        if (t.containerId !== null) return docker.getContainer(t.containerId).remove({ force: true, v: true })
      })
      await t.stopping
      await t.done
    },

    async recover(agentId: string, onEvent: (taskId: string, e: ContainerEvent) => void): Promise<RecoveredContainer[]> {
      const found: RecoveredContainer[] = []
      for (const c of await listByAgent(agentId)) {
        const taskId = c.Labels[DockerLabel.taskId]
        const frameworkId = c.Labels[DockerLabel.frameworkId] ?? ''
        if (taskId === undefined) continue
        const running = c.State === 'running'
        found.push({ taskId, frameworkId, containerId: c.Id, running })
        if (tracked.has(taskId)) continue
        const t = track(taskId)
        t.containerId = c.Id
        const container = docker.getContainer(c.Id)
        const sandbox = c.Labels[DockerLabel.sandbox]
        // Only output from now on (to the second, so a line may repeat): the rest is already in the sandbox.
        const logsDone = running && sandbox !== undefined ? followLogs(container, sandbox, Math.floor(Date.now() / 1000)) : Promise.resolve()
        // Exited containers are watched too: their wait returns at once, so the agent gets
        // their terminal state through the same single 'exited' event.
        watch(t, container, logsDone, (e) => onEvent(taskId, e))
      }
      log.info({ agentId, containers: found.length }, 'recovered docker containers')
      return found
    },

    async usage(taskId: string) {
      const t = tracked.get(taskId)
      if (t === undefined || t.containerId === null) return undefined
      // one-shot: the Engine answers at once instead of waiting for a second sample.
      const stats = await docker.getContainer(t.containerId).stats({ stream: false, 'one-shot': true })
      return dockerUsage(stats as unknown as DockerStatsJson)
    },

    async runInContainer(taskId: string, cmd: readonly string[], timeoutMs: number, env?: Readonly<Record<string, string>>) {
      const t = tracked.get(taskId)
      if (t === undefined || t.containerId === null) throw new Error(`Task '${taskId}' has no container`)
      const container = docker.getContainer(t.containerId)
      // `docker exec`: the command joins the task's namespaces and cgroups and sees its filesystem.
      const exec = await container.exec({
        Cmd: [...cmd],
        AttachStdout: true,
        AttachStderr: true,
        ...(env && Object.keys(env).length > 0 ? { Env: Object.entries(env).map(([k, v]) => `${k}=${v}`) } : {}),
      })
      const stream = await exec.start({ hijack: true, stdin: false })
      let output = ''
      const sink = new PassThrough()
      sink.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-EXEC_OUTPUT_BYTES)
      })
      docker.modem.demuxStream(stream, sink, sink)
      let timer: NodeJS.Timeout | undefined
      const ended = await Promise.race([
        new Promise<boolean>((res) => {
          stream.once('end', () => res(true))
          stream.once('close', () => res(true))
          stream.once('error', () => res(true))
        }),
        new Promise<boolean>((res) => (timer = setTimeout(() => res(false), timeoutMs))),
      ])
      if (timer !== undefined) clearTimeout(timer)
      if (!ended) {
        stream.destroy()
        // The Engine has no call to stop an exec; its process is a host process we can end.
        try {
          const info = await exec.inspect()
          if (info.Running && info.Pid > 0) process.kill(info.Pid, 'SIGKILL')
        } catch (err) {
          log.debug({ err, taskId }, 'could not kill a timed-out exec')
        }
        throw new Error(`timed out after ${timeoutMs} ms`)
      }
      // The stream can end a moment before the Engine records the exit code.
      for (let attempt = 0; attempt < 20; attempt++) {
        const info = await exec.inspect()
        if (!info.Running && info.ExitCode !== null) return { exitCode: info.ExitCode, output }
        await sleep(25)
      }
      throw new Error('the command ended but its exit code is unknown')
    },

    async destroyAll(agentId: string): Promise<void> {
      const containers = await listByAgent(agentId)
      await Promise.all(
        containers.map(async (c) => {
          const t = [...tracked.values()].find((x) => x.containerId === c.Id)
          if (t !== undefined) t.killed = true
          try {
            await docker.getContainer(c.Id).remove({ force: true, v: true })
          } catch (err) {
            if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err
          }
          if (t !== undefined) await withTimeout(t.done, LOG_DRAIN_MS * 2)
        }),
      )
    },
  }
}

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
    hostConfig.CpuPeriod = CPU_PERIOD_US
    // The kernel refuses quotas below 1 ms.
    hostConfig.CpuQuota = Math.max(1000, Math.round(req.cpus * CPU_PERIOD_US))
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

  applyParameters(info.parameters, spec, hostConfig, env, labels, log)
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

/**
 * Maps the `docker run` flags that Marathon users pass most often onto the create body.
 * Unknown ones are logged and ignored rather than failing the task, as a missing
 * optimisation should not stop an app from running.
 */
function applyParameters(
  params: readonly { key: string; value: string }[],
  spec: Dockerode.ContainerCreateOptions,
  host: Dockerode.HostConfig,
  env: Record<string, string>,
  labels: Record<string, string>,
  log: Logger,
): void {
  const splitPair = (s: string, sep: string): [string, string] => {
    const i = s.indexOf(sep)
    return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)]
  }
  for (const { key, value } of params) {
    switch (key.replace(/^-+/, '')) {
      case 'env':
      case 'e': {
        const [k, v] = splitPair(value, '=')
        env[k] = v
        break
      }
      case 'label':
      case 'l': {
        const [k, v] = splitPair(value, '=')
        // Our own labels find the task again after a restart; never let a parameter move them.
        if (!k.startsWith('dromos.')) labels[k] = v
        break
      }
      case 'hostname':
      case 'h':
        if (host.NetworkMode !== 'host') spec.Hostname = value
        break
      case 'user':
      case 'u':
        spec.User = value
        break
      case 'workdir':
      case 'w':
        spec.WorkingDir = value
        break
      case 'entrypoint':
        spec.Entrypoint = value === '' ? [''] : [value]
        break
      case 'add-host':
        ;(host.ExtraHosts ??= []).push(value)
        break
      case 'dns':
        ;(host.Dns ??= []).push(value)
        break
      case 'dns-search':
        ;(host.DnsSearch ??= []).push(value)
        break
      case 'cap-add':
        ;(host.CapAdd ??= []).push(value)
        break
      case 'cap-drop':
        ;(host.CapDrop ??= []).push(value)
        break
      case 'volume':
      case 'v':
        ;(host.Binds ??= []).push(value)
        break
      case 'security-opt':
        ;(host.SecurityOpt ??= []).push(value)
        break
      case 'sysctl': {
        const [k, v] = splitPair(value, '=')
        host.Sysctls = { ...(host.Sysctls ?? {}), [k]: v }
        break
      }
      case 'tmpfs': {
        const [path, options] = splitPair(value, ':')
        host.Tmpfs = { ...(host.Tmpfs ?? {}), [path]: options }
        break
      }
      case 'shm-size': {
        const bytes = parseBytes(value)
        if (bytes === null) log.warn({ key, value }, 'ignoring docker parameter with a bad size')
        else host.ShmSize = bytes
        break
      }
      case 'memory-swap': {
        const bytes = value === '-1' ? -1 : parseBytes(value)
        if (bytes === null) log.warn({ key, value }, 'ignoring docker parameter with a bad size')
        else host.MemorySwap = bytes
        break
      }
      case 'init':
        host.Init = value !== 'false'
        break
      case 'ulimit': {
        // name=soft[:hard]
        const [name, limits] = splitPair(value, '=')
        const [soft, hard] = splitPair(limits, ':')
        const s = Number(soft)
        const h = hard === '' ? s : Number(hard)
        if (!Number.isInteger(s) || !Number.isInteger(h)) log.warn({ key, value }, 'ignoring bad ulimit parameter')
        else (host.Ulimits ??= []).push({ Name: name, Soft: s, Hard: h })
        break
      }
      default:
        log.warn({ key, value }, 'ignoring unsupported docker parameter')
    }
  }
}

/** Parses docker's size strings: 64m, 1g, 512k, 1024 (bytes). */
export function parseBytes(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(s.trim())
  if (m === null) return null
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as '' | 'b' | 'k' | 'm' | 'g']
  return Math.round(Number(m[1]) * unit)
}

/**
 * Reads a docker progress stream (pull, push, import) to its end. The Engine answers
 * 200 and reports failures inside the stream as `{error, errorDetail}`, so a pull that
 * "succeeded" at the HTTP level may still have failed.
 */
export function followProgress(stream: NodeJS.ReadableStream, timeoutMs = 0): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const events: unknown[] = []
    let buf = ''
    let failure: string | null = null
    let finished = false
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            finish(new Error(`timed out after ${timeoutMs} ms`))
            const destroy = (stream as { destroy?: () => void }).destroy
            if (typeof destroy === 'function') destroy.call(stream)
          }, timeoutMs)
        : null
    function finish(err: Error | null): void {
      if (finished) return
      finished = true
      if (timer !== null) clearTimeout(timer)
      if (err !== null) reject(err)
      else resolve(events)
    }
    function line(l: string): void {
      const text = l.trim()
      if (text === '') return
      let obj: unknown
      try {
        obj = JSON.parse(text)
      } catch {
        return
      }
      events.push(obj)
      if (obj !== null && typeof obj === 'object') {
        const o = obj as { error?: unknown; errorDetail?: { message?: unknown } }
        const msg = o.errorDetail?.message ?? o.error
        if (msg !== undefined && failure === null) failure = String(msg)
      }
    }
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    })
    const onEnd = () => {
      line(buf)
      buf = ''
      finish(failure === null ? null : new Error(failure))
    }
    stream.on('end', onEnd)
    stream.on('close', onEnd)
    stream.on('error', (err: Error) => finish(err))
  })
}

/**
 * Waits for the container to stop. The wait request is a long-lived HTTP call; if it breaks
 * (daemon restart, socket hiccup), fall back to inspecting until the container stops.
 */
async function waitForExit(container: Dockerode.Container): Promise<number | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = (await container.wait()) as { StatusCode?: number }
      return typeof r.StatusCode === 'number' ? r.StatusCode : null
    } catch (err) {
      if (statusOf(err) === 404) return null
      if (attempt >= 5) throw err
      await sleep(Math.min(5_000, 200 * 2 ** attempt))
      try {
        const info = await container.inspect()
        if (!info.State.Running) return info.State.ExitCode
      } catch (e) {
        if (statusOf(e) === 404) return null
      }
    }
  }
}

function ipAddressesOf(info: Dockerode.ContainerInspectInfo): string[] {
  const ips = Object.values(info.NetworkSettings.Networks ?? {})
    .map((n) => n.IPAddress)
    .filter((ip): ip is string => typeof ip === 'string' && ip !== '')
  return [...new Set(ips)]
}

/** Docker reports death by signal n as exit status 128 + n. */
function signalOf(exitCode: number | null): string | null {
  if (exitCode === null || exitCode <= 128 || exitCode > 128 + 64) return null
  const n = exitCode - 128
  const entry = Object.entries(osConstants.signals).find(([, num]) => num === n)
  return entry ? entry[0] : null
}

function exitMessage(exitCode: number | null, killed: boolean, oomKilled: boolean, error: string | undefined): string {
  const status = exitCode === null ? 'unknown status' : `status ${exitCode}`
  const detail = error !== undefined && error !== '' ? `: ${error}` : ''
  if (oomKilled) return `Container exceeded its memory limit and was killed (${status})${detail}`
  if (killed) return `Container killed (${status})${detail}`
  return `Container exited with ${status}${detail}`
}

function statusOf(err: unknown): number | undefined {
  if (err !== null && typeof err === 'object' && 'statusCode' in err) {
    const s = (err as { statusCode: unknown }).statusCode
    return typeof s === 'number' ? s : undefined
  }
  return undefined
}

function messageOf(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    // dockerode puts the Engine's JSON answer in `json`; its message is the useful part.
    const json = (err as { json?: unknown }).json
    if (json !== null && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
      return (json as { message: string }).message
    }
    if (err instanceof Error) return err.message
  }
  return String(err)
}

function endStream(s: WriteStream): Promise<void> {
  return new Promise((res) => {
    if (s.closed || s.destroyed) return res()
    s.end(() => res())
    s.once('error', () => res())
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms))
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise<void>((res) => (timer = setTimeout(res, ms)))])
  if (timer !== undefined) clearTimeout(timer)
}
