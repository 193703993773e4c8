// What the docker and process containerizers do the same way: which tasks each runs, fetching
// a task's URIs into its sandbox, where its output goes, the CFS quota its CPUs give, how a
// 128+n exit status names a signal, and the promise that says a task is gone.
import { constants as osConstants } from 'node:os'
import path from 'node:path'
import type { Logger } from 'pino'
import type { TaskInfo } from '../../api/mesos.js'
import type { CommandUri, FetcherSettings } from '../fetcher.js'
import { FetchFailedError, fetchUris } from '../fetcher.js'
import { LaunchFailedError } from './types.js'

/** DOCKER containers run in the docker containerizer; every other task is a process task. */
export function isDockerTask(task: TaskInfo): boolean {
  return task.container?.type === 'DOCKER'
}

/** Fetches the command's URIs into the sandbox; any failure is the task's launch failure. */
export async function fetchIntoSandbox(o: {
  uris: readonly CommandUri[]
  sandboxDir: string
  fetcher: FetcherSettings | undefined
  log: Logger | undefined
}): Promise<void> {
  try {
    await fetchUris(o.uris, o.sandboxDir, { ...o.fetcher, ...(o.log ? { log: o.log } : {}) })
  } catch (err) {
    throw new LaunchFailedError(err instanceof FetchFailedError ? err.message : `Failed to fetch URIs: ${errorMessage(err)}`)
  }
}

/** The files in the sandbox that a task's stdout and stderr are appended to, where the sandbox browser finds them. */
export function sandboxLogFile(sandboxDir: string, stream: 'stdout' | 'stderr'): string {
  return path.join(sandboxDir, stream)
}

/** CFS period for the CPU limit, as Mesos and Docker use it. */
export const CFS_PERIOD_US = 100_000

/** The CFS quota for `cpus` CPUs per period; the kernel refuses quotas below 1 ms. */
export function cfsQuotaUs(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CFS_PERIOD_US))
}

/** The name of signal number n (9 → SIGKILL); a status of 128+n reports death by it. */
export function signalName(n: number): NodeJS.Signals | undefined {
  return Object.entries(osConstants.signals).find(([, num]) => num === n)?.[0] as NodeJS.Signals | undefined
}

/** A promise that settles once, when the one who holds `settle` says the task is gone. */
export function whenGone(): { readonly done: Promise<void>; readonly settle: () => void } {
  let settle!: () => void
  const done = new Promise<void>((resolve) => (settle = resolve))
  return { done, settle }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
