// The docker containerizer: runs DOCKER tasks through the Docker Engine API, as the Mesos
// docker containerizer does with the docker CLI. It owns nothing but containers; the agent
// owns task state. Containers carry labels (agent, framework, task, sandbox) so that a
// restarted agent finds its tasks again without any local bookkeeping.
//
// This file tracks the tasks and runs launch, kill and recovery; the image (docker-image.ts),
// the create body (docker-spec.ts, docker-parameters.ts), a started container's logs and exit
// (docker-watch.ts) and `docker exec` (docker-exec.ts) have their own files.
import Dockerode from 'dockerode'
import { pino } from 'pino'
import type { Logger } from 'pino'
import type { FetcherSettings } from '../fetcher.js'
import { messageOf, statusOf } from './docker-errors.js'
import { execInContainer } from './docker-exec.js'
import { prepareImage } from './docker-image.js'
import { DockerLabel, containerName, containerSpec } from './docker-spec.js'
import { LOG_DRAIN_MS, followLogs, watchExit, withTimeout } from './docker-watch.js'
import { fetchIntoSandbox, isDockerTask, whenGone } from './shared.js'
import type { ContainerEvent, Containerizer, LaunchRequest, RecoveredContainer } from './types.js'
import { LaunchFailedError } from './types.js'
import type { DockerStatsJson } from './usage.js'
import { dockerUsage } from './usage.js'

export { CONTAINER_SANDBOX, DockerLabel, containerName, containerSpec } from './docker-spec.js'
export { parseBytes } from './docker-parameters.js'
export { followProgress } from './docker-image.js'

export interface DockerContainerizerOptions {
  docker?: Dockerode
  log?: Logger
  /** Upper bound for one image pull; the launch fails when it is exceeded. */
  pullTimeoutMs?: number
  /** The agent's fetcher cache. */
  fetcher?: FetcherSettings
}

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
    const { done, settle } = whenGone()
    const t: Tracked = { taskId, containerId: null, killed: false, stopping: null, done, settle }
    tracked.set(taskId, t)
    void done.then(() => {
      if (tracked.get(taskId) === t) tracked.delete(taskId)
    })
    return t
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

    supports: isDockerTask,

    async launch(req: LaunchRequest, onEvent: (e: ContainerEvent) => void): Promise<void> {
      const taskId = req.taskInfo.task_id.value
      const info = req.taskInfo.container?.docker
      if (req.taskInfo.container?.type !== 'DOCKER' || info === undefined) {
        throw new LaunchFailedError(`Task '${taskId}' has no docker container info`)
      }
      if (tracked.has(taskId)) throw new LaunchFailedError(`Task '${taskId}' is already running in a container`)
      const t = track(taskId)
      const tlog = log.child({ taskId, image: info.image })
      const giveUpIfKilled = (): void => {
        if (t.killed) throw new LaunchFailedError(`Task '${taskId}' was killed during launch`, 'REASON_TASK_KILLED_DURING_LAUNCH')
      }
      let container: Dockerode.Container | null = null
      try {
        // The command's URIs land in the sandbox, which the container sees at /mnt/mesos/sandbox.
        await fetchIntoSandbox({ uris: req.taskInfo.command?.uris ?? [], sandboxDir: req.sandboxDir, fetcher: opts.fetcher, log: tlog })
        giveUpIfKilled()
        await prepareImage({ docker, log, pullTimeoutMs }, { image: info.image, forcePull: info.force_pull_image })
        giveUpIfKilled()
        const spec = containerSpec(req, info, tlog)
        try {
          container = await createContainer(req, containerName(req.agentId, taskId), spec)
          t.containerId = container.id
          giveUpIfKilled()
          await container.start()
        } catch (err) {
          if (err instanceof LaunchFailedError) throw err
          throw new LaunchFailedError(`Failed to start container for task '${taskId}' from image '${info.image}': ${messageOf(err)}`)
        }
        const logsDone = followLogs({ docker, log }, { container, sandboxDir: req.sandboxDir, sinceSec: 0 })
        let ipAddresses: string[] = []
        try {
          ipAddresses = ipAddressesOf(await container.inspect())
        } catch (err) {
          tlog.warn({ err }, 'inspecting started container failed')
        }
        tlog.info({ containerId: container.id, ipAddresses }, 'container running')
        onEvent({ type: 'running', containerId: container.id, ipAddresses })
        watchExit(log, { task: t, container, logsDone, emit: onEvent })
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
        const logsDone =
          running && sandbox !== undefined
            ? followLogs({ docker, log }, { container, sandboxDir: sandbox, sinceSec: Math.floor(Date.now() / 1000) })
            : Promise.resolve()
        // Exited containers are watched too: their wait returns at once, so the agent gets
        // their terminal state through the same single 'exited' event.
        watchExit(log, { task: t, container, logsDone, emit: (e) => onEvent(taskId, e) })
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
      return execInContainer({ docker, log }, { taskId, container: docker.getContainer(t.containerId), cmd, timeoutMs, env })
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

function ipAddressesOf(info: Dockerode.ContainerInspectInfo): string[] {
  const ips = Object.values(info.NetworkSettings.Networks ?? {})
    .map((n) => n.IPAddress)
    .filter((ip): ip is string => typeof ip === 'string' && ip !== '')
  return [...new Set(ips)]
}
