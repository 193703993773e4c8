// The life of a started container: its logs follow into the sandbox, and its exit is waited
// for, read (status, OOM kill), reported once and the container removed. Launch and recover
// both hand their containers here, so a recovered task gets exactly one 'exited' too.
import { createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'
import type Dockerode from 'dockerode'
import type { Logger } from 'pino'
import { statusOf } from './docker-errors.js'
import { kernelLoggedOomKill } from './docker-oom.js'
import { sandboxLogFile, signalName, sleep } from './shared.js'
import type { ContainerEvent } from './types.js'

// How long to wait for the log stream to drain after the container exited.
export const LOG_DRAIN_MS = 5_000

/** The task a watched container belongs to, as the containerizer tracks it. */
export interface WatchedTask {
  readonly taskId: string
  /** Read when the container has exited: set if kill() stopped it. */
  readonly killed: boolean
  /** Called once 'exited' was emitted and the container removed. */
  readonly settle: () => void
}

/**
 * Follows the container's logs into the sandbox. `docker logs --follow` rather than attach:
 * it replays what was written before we got there, so a task that exits at once still
 * leaves its output, and the stream ends only after the last byte once the container stops.
 */
export function followLogs(
  engine: { readonly docker: Dockerode; readonly log: Logger },
  o: { readonly container: Dockerode.Container; readonly sandboxDir: string; readonly sinceSec: number },
): Promise<void> {
  const { docker, log } = engine
  const { container, sandboxDir, sinceSec } = o
  const stdout = createWriteStream(sandboxLogFile(sandboxDir, 'stdout'), { flags: 'a' })
  const stderr = createWriteStream(sandboxLogFile(sandboxDir, 'stderr'), { flags: 'a' })
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

/** Waits for the container to stop, reports it once, removes it. */
export function watchExit(
  log: Logger,
  o: {
    readonly task: WatchedTask
    readonly container: Dockerode.Container
    readonly logsDone: Promise<void>
    readonly emit: (e: ContainerEvent) => void
  },
): void {
  const { task: t, container, logsDone, emit } = o
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
    let oomKilled = state?.OOMKilled ?? false
    if (state && !oomKilled && state.ExitCode === 137 && !t.killed) oomKilled = kernelLoggedOomKill(container.id)
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

/** Docker reports death by signal n as exit status 128 + n. */
function signalOf(exitCode: number | null): string | null {
  if (exitCode === null || exitCode <= 128 || exitCode > 128 + 64) return null
  return signalName(exitCode - 128) ?? null
}

function exitMessage(exitCode: number | null, killed: boolean, oomKilled: boolean, error: string | undefined): string {
  const status = exitCode === null ? 'unknown status' : `status ${exitCode}`
  const detail = error !== undefined && error !== '' ? `: ${error}` : ''
  if (oomKilled) return `Container exceeded its memory limit and was killed (${status})${detail}`
  if (killed) return `Container killed (${status})${detail}`
  return `Container exited with ${status}${detail}`
}

function endStream(s: WriteStream): Promise<void> {
  return new Promise((res) => {
    if (s.closed || s.destroyed) return res()
    s.end(() => res())
    s.once('error', () => res())
  })
}

/** Waits for p, but no longer than ms. */
export async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise<void>((res) => (timer = setTimeout(res, ms)))])
  if (timer !== undefined) clearTimeout(timer)
}
