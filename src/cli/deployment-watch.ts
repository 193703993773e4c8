// Follows one deployment to its end. The event stream says when to look again (and carries
// deployment_success / deployment_failed); GET /v2/deployments and GET /v2/apps/{id} say where
// things stand. Success is the deployment no longer listed and every app at its target counts.
import type { Ora } from 'ora'
import ora from 'ora'
import type { MarathonApp, MarathonClient, MarathonDeployment, MarathonEvent, MarathonEventStream } from '../api/marathon-client.js'
import { MarathonApiError, MarathonUnreachableError } from '../api/marathon-client.js'
import { appReached, progressLine } from './format.js'

/** The event types a watch reacts to (the server filters the stream to these). */
export const WATCH_EVENT_TYPES = [
  'deployment_info',
  'deployment_step_success',
  'deployment_step_failure',
  'deployment_success',
  'deployment_failed',
  'status_update_event',
  'instance_changed_event',
  'health_status_changed_event',
  'instance_health_changed_event',
  'app_terminated_event',
] as const

const TERMINAL_STATES = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR'])

/** Where the progress goes: one redrawn line on a terminal, a line per change otherwise. */
export interface Progress {
  update(line: string): void
  /** Ends the status line, then prints `line` on its own. */
  finish(line?: string): void
}

/** 90s, 10m, 1h30m */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  const h = Math.floor(m / 60)
  const rest = (n: number, unit: string): string => (n > 0 ? `${n}${unit}` : '')
  return h > 0 ? `${h}h${rest(m % 60, 'm')}` : `${m}m${rest(s % 60, 's')}`
}

export function createProgress(out: NodeJS.WriteStream): Progress {
  // A terminal that says it has no columns (a pseudo-terminal nobody sized) gets lines too:
  // a spinner cannot redraw in place without knowing where lines wrap. So does a dumb one.
  if (out.isTTY !== true || !(out.columns > 0) || process.env.TERM === 'dumb') {
    let last = ''
    return {
      update(line) {
        if (line === last) return
        last = line
        out.write(`${line}\n`)
      },
      finish(line) {
        if (line !== undefined) out.write(`${line}\n`)
      },
    }
  }
  // On a terminal: a spinner with the status line, redrawn in place (ora), which the final
  // line replaces. It is enabled here, by the same test as above: ora would also turn itself
  // off wherever a CI variable is set, and a terminal is a terminal.
  let spinner: Ora | undefined
  return {
    update(line) {
      const width = Math.max(10, out.columns - 3)
      const text = line.length > width ? `${line.slice(0, width - 1)}…` : line
      if (!spinner) spinner = ora({ text, stream: out, discardStdin: false, isEnabled: true }).start()
      else if (spinner.text !== text) spinner.text = text
    },
    finish(line) {
      // Without a final line, the last status stays on the screen.
      if (line === undefined) spinner?.stopAndPersist()
      else spinner?.stop()
      spinner = undefined
      if (line !== undefined) out.write(`${line}\n`)
    },
  }
}

export interface WatchOptions {
  readonly client: MarathonClient
  readonly deploymentId: string
  /** Apps the change names; the deployment's affectedApps are added once it is seen. */
  readonly appIds: readonly string[]
  /** Apps the change removes: done when they are gone. */
  readonly removing?: readonly string[]
  readonly verb: string
  readonly timeoutMs: number
  /** Opened before the change was sent, so that no event of it is missed. */
  readonly events?: MarathonEventStream | undefined
  readonly progress: Progress
  /** How often to look without a nudge from the event stream. */
  readonly pollMs?: number
  /** How long a deployment may be gone, without deployment_success, before its apps must be at their targets. */
  readonly vanishGraceMs?: number
  /** How long dromos apps may not answer (a restart, a failover) before the watch gives up with its error. */
  readonly awayGraceMs?: number
  readonly now?: () => number
}

export type WatchOutcome =
  | { readonly ok: true; readonly apps: ReadonlyMap<string, MarathonApp | null> }
  | { readonly ok: false; readonly reason: string; readonly timedOut: boolean }

/** No answer, or "not ready" (503) while a restarted dromos apps recovers: worth waiting out. */
function awayWhileRestarting(e: unknown): e is MarathonUnreachableError | MarathonApiError {
  return e instanceof MarathonUnreachableError || (e instanceof MarathonApiError && (e.status === 502 || e.status === 503))
}

export async function watchDeployment(opts: WatchOptions): Promise<WatchOutcome> {
  const { client, deploymentId, progress } = opts
  const now = opts.now ?? Date.now
  const deadline = now() + opts.timeoutMs
  const appIds = [...opts.appIds]
  const removing = new Set(opts.removing ?? [])
  const apps = new Map<string, MarathonApp | null>()
  const tasksLeft = new Map<string, number>()
  let deployment: MarathonDeployment | undefined
  let sawSuccess = false
  let failure: string | undefined
  let eventsAlive = opts.events !== undefined
  let goneSince: number | undefined
  let awaySince: number | undefined

  let wake: (() => void) | undefined
  // A nudge while no one sleeps is kept, so the next sleep is short.
  let nudged = false
  const nudge = (): void => {
    const w = wake
    wake = undefined
    if (w) w()
    else nudged = true
  }
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (nudged) {
        nudged = false
        setTimeout(resolve, 50)
        return
      }
      const t = setTimeout(() => {
        wake = undefined
        resolve()
      }, ms)
      wake = () => {
        clearTimeout(t)
        // Let a burst of events land before looking again.
        setTimeout(resolve, 50)
      }
    })

  const ofThisDeployment = (e: MarathonEvent): boolean => e.id === deploymentId || (e.plan as { id?: string } | undefined)?.id === deploymentId
  const consume = async (stream: MarathonEventStream): Promise<void> => {
    try {
      for await (const e of stream) {
        if (e.eventType === 'deployment_success' && ofThisDeployment(e)) sawSuccess = true
        else if ((e.eventType === 'deployment_failed' || e.eventType === 'deployment_step_failure') && ofThisDeployment(e)) {
          // The first failure reported is the one that ended it.
          failure ??= typeof e.reason === 'string' && e.reason ? e.reason : 'failed'
        }
        nudge()
      }
    } catch {
      // Polling alone carries on.
    } finally {
      eventsAlive = false
    }
  }
  const consuming = opts.events ? consume(opts.events) : Promise.resolve()

  async function refresh(): Promise<boolean> {
    const listed = (await client.listDeployments()).find((d) => d.id === deploymentId)
    if (listed) {
      deployment = listed
      for (const id of listed.affectedApps) if (!appIds.includes(id)) appIds.push(id)
      for (const step of listed.steps) for (const a of step.actions) if (a.action === 'StopApplication') removing.add(a.app)
    } else {
      deployment = undefined
    }
    await Promise.all(
      appIds.map(async (id) => {
        try {
          apps.set(id, await client.getApp(id))
        } catch (e) {
          if (e instanceof MarathonApiError && e.status === 404) apps.set(id, null)
          else throw e
        }
      }),
    )
    // Removed apps are gone from /v2/apps at once; their tasks stop after.
    tasksLeft.clear()
    if (appIds.some((id) => apps.get(id) === null)) {
      for (const t of await client.listTasks()) {
        if (apps.get(t.appId) === null && !TERMINAL_STATES.has(t.state)) tasksLeft.set(t.appId, (tasksLeft.get(t.appId) ?? 0) + 1)
      }
    }
    return listed !== undefined
  }

  const onSigint = (): void => {
    progress.finish(`interrupted; deployment ${deploymentId} carries on (see dromos deployment list; to undo it: dromos deployment rollback ${deploymentId})`)
    process.exit(130)
  }
  process.once('SIGINT', onSigint)
  try {
    for (;;) {
      let listed: boolean
      try {
        listed = await refresh()
        awaySince = undefined
      } catch (e) {
        // A restarted (or failed over) dromos apps resumes the deployment: wait for it, a while.
        awaySince ??= now()
        if (!awayWhileRestarting(e) || now() - awaySince > (opts.awayGraceMs ?? 60_000)) throw e
        progress.update(`${opts.verb} ${appIds.join(', ')}: dromos apps is not answering (${e instanceof MarathonUnreachableError ? e.reason : e.message}); still following`)
        if (now() >= deadline) {
          return { ok: false, reason: `timed out after ${formatDuration(opts.timeoutMs)}; dromos apps stopped answering while deployment ${deploymentId} ran (${e.message})`, timedOut: true }
        }
        await sleep(Math.min(1000, Math.max(0, deadline - now())))
        continue
      }
      progress.update(progressLine({ verb: opts.verb, appIds, deployment, apps, tasksLeft }))
      if (failure !== undefined) return { ok: false, reason: `deployment ${deploymentId} failed: ${failure}`, timedOut: false }
      const reached = appIds.every((id) => {
        const app = apps.get(id) ?? null
        // An app gone after the deployment succeeded was removed by it (a rollback of a create).
        return appReached(app, removing.has(id) || (app === null && !listed && sawSuccess))
      })
      if (!listed) {
        goneSince ??= now()
        if (reached) return { ok: true, apps }
        // Gone with no word of success: give the event (or the counts) a moment, then call it failed.
        if (!sawSuccess && now() - goneSince > (opts.vanishGraceMs ?? 10_000)) {
          const where = progressLine({ verb: 'ended with', appIds, apps })
          return { ok: false, reason: `deployment ${deploymentId} is gone without reaching its target (${where})`, timedOut: false }
        }
      }
      if (now() >= deadline) {
        const where = progressLine({ verb: 'at', appIds, deployment, apps })
        return {
          ok: false,
          reason: `timed out after ${formatDuration(opts.timeoutMs)}; deployment ${deploymentId} ${listed ? 'is still running' : 'is gone'} (${where})${listed ? `; to undo it: dromos deployment rollback ${deploymentId}` : ''}`,
          timedOut: true,
        }
      }
      await sleep(Math.min(eventsAlive ? (opts.pollMs ?? 1000) : 500, Math.max(0, deadline - now())))
    }
  } finally {
    process.removeListener('SIGINT', onSigint)
    opts.events?.close()
    await consuming
  }
}
