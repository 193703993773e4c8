// The shell of a blue/green deployment (zdd.ts decides): reads the apps framework and every lb's
// /_lb/state, carries out one step, and goes round again until the new colour has taken over
// (or, in a hybrid deployment, serves its share beside the old) or the deployment has been
// reverted.
import { spawn } from 'node:child_process'
import type { MarathonApp, MarathonClient } from '../api/marathon-client.js'
import { MarathonApiError } from '../api/marathon-client.js'
import type { Clock } from '../core/clock.js'
import { assertNever } from '../core/errors.js'
import { DeploymentLabel, deploymentGroupOf } from './deployment-groups.js'
import type { LbView, PreviousColour, ZddDefinition, ZddPickUp, ZddShift } from './zdd.js'
import { hybridShareOf, startZdd, ZddDirection, ZddError, ZddExit, zddStep } from './zdd.js'

/** Tasks already on their way out: killed once, never again. */
const GOING: ReadonlySet<string> = new Set(['TASK_KILLING', 'TASK_KILLED', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST', 'TASK_GONE'])

export interface ZddOptions {
  readonly client: MarathonClient
  /** Each lb's stats URL (where /_lb/state answers). */
  readonly lbUrls: readonly string[]
  readonly definition: ZddDefinition
  readonly clock: Clock
  readonly say: (line: string) => void
  readonly stepDelayMs: number
  readonly maxWaitMs: number
  readonly initialInstances: number
  /** zdd.py's --new-instances: end with this many of the new colour beside the old (0: replace the old). */
  readonly newInstances: number
  /** How to pick up a deployment the group is in the middle of. */
  readonly pickUp: ZddPickUp
  /** Print the definition (or the pick-up) and stop there. */
  readonly dryRun: boolean
  /** Run before each kill with the leaving app's JSON, the task ids and the arriving app's JSON, as zdd.py's. */
  readonly preKillHook?: string | undefined
  /** Asked before creating, killing and deleting; zdd.py asks unless --force. */
  readonly confirm: (question: string) => Promise<boolean>
}

export const ZddOutcome = { done: 'done', dryRun: 'dry-run', reverted: 'reverted', declined: 'declined', stopped: 'stopped' } as const
export type ZddOutcome = (typeof ZddOutcome)[keyof typeof ZddOutcome]

export interface ZddResult {
  /** The app that serves the group now. */
  readonly appId: string
  readonly colour: string
  readonly outcome: ZddOutcome
}

function servicePortOf(app: MarathonApp): number {
  const a = app as unknown as { container?: { portMappings?: Array<{ servicePort?: number }> }; portDefinitions?: Array<{ port?: number }> }
  return a.container?.portMappings?.[0]?.servicePort ?? a.portDefinitions?.[0]?.port ?? 0
}

async function lbView(url: string, group: string): Promise<LbView | undefined> {
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/_lb/state`, { signal: AbortSignal.timeout(5000) })
    if (!res.ok) return undefined
    const state = (await res.json()) as { backends?: Array<{ appId: string; portIndex: number; servers: Array<{ taskId: string; draining: boolean }> }> }
    const backend = (state.backends ?? []).find((b) => b.appId === group && b.portIndex === 0)
    const servers = backend?.servers ?? []
    return { serving: new Set(servers.filter((s) => !s.draining).map((s) => s.taskId)), draining: new Set(servers.filter((s) => s.draining).map((s) => s.taskId)) }
  } catch {
    return undefined
  }
}

/** Waits, a step at a time and at most maxWaitMs, until an app and the deployment removing it are gone. */
async function waitGone(opts: ZddOptions, id: string): Promise<void> {
  const until = opts.clock.now() + opts.maxWaitMs
  while (opts.clock.now() < until) {
    const present = await opts.client.getApp(id).then(
      () => true,
      (e: unknown) => {
        if (e instanceof MarathonApiError && e.status === 404) return false
        throw e
      },
    )
    // The app reads as gone before the deployment that removes it ends, and that deployment still holds its id.
    if (!present && !(await opts.client.listDeployments()).some((d) => d.affectedApps.includes(id))) return
    await new Promise((r) => setTimeout(r, opts.stepDelayMs))
  }
  throw new ZddError(`${id} is still there after ${Math.round(opts.maxWaitMs / 1000)} s`)
}

function colourOf(app: MarathonApp): PreviousColour {
  return { id: app.id, instances: app.instances, labels: (app.labels ?? {}) as Record<string, string>, servicePort: servicePortOf(app) }
}

/** zdd.py's pre-kill hook: a non-zero exit stops the deployment where it stands, for an operator. */
async function runPreKillHook(hook: string, leaving: MarathonApp, taskIds: readonly string[], arriving: MarathonApp): Promise<void> {
  const status = await new Promise<number | string>((resolve) => {
    const child = spawn(hook, [JSON.stringify(leaving), JSON.stringify(taskIds), JSON.stringify(arriving)], { stdio: ['ignore', 'inherit', 'inherit'] })
    child.on('error', (e) => resolve(e.message))
    child.on('exit', (code, signal) => resolve(code ?? String(signal)))
  })
  if (status !== 0) {
    throw new ZddError(
      `the pre-kill hook ${hook} failed (${typeof status === 'number' ? `exit status ${status}` : status}) before killing ${taskIds.join(', ')} of ${leaving.id}; ` +
        `both colours run on: pick the deployment up with --resume or --complete-prev`,
    )
  }
}

export async function runZdd(opts: ZddOptions): Promise<ZddResult> {
  const { client, clock, say } = opts
  const group = deploymentGroupOf(opts.definition)
  if (group === undefined) throw new ZddError(`${opts.definition.id}: define the ${DeploymentLabel.group} label`, ZddExit.missingField)
  const members = (await client.listApps()).filter((a) => deploymentGroupOf(a as { labels?: Record<string, string> }) === group)
  const start = startZdd(opts.definition, members.map(colourOf), { ...opts.pickUp, now: new Date(clock.now()), initialInstances: opts.initialInstances, newInstances: opts.newInstances })
  if (start.kind === 'pick-up') {
    say(`${group}: ${start.why}, to ${start.shift.target} instance(s)`)
    if (opts.dryRun) return { appId: start.shift.old, colour: '', outcome: ZddOutcome.dryRun }
    return shift(opts, group, start.shift)
  }
  const next = start.definition
  const old = start.previous
  if (old && members.some((a) => a.id === old.id && a.deployments.length > 0)) throw new ZddError(`${old.id} is being deployed; try again once it is done`)
  // As zdd.py, the definition to deploy is printed first.
  say(`final app definition:\n${JSON.stringify(next, null, 2)}`)
  const colour = next.labels![DeploymentLabel.colour]!
  if (opts.dryRun) return { appId: next.id, colour, outcome: ZddOutcome.dryRun }
  if (!(await opts.confirm('Continue with deployment?'))) return { appId: old?.id ?? next.id, colour: '', outcome: ZddOutcome.declined }
  await client.createApp(next)
  say(`${next.id}: ${colour} created with ${next.instances} instance(s)${old ? ` beside ${old.id}` : ''}`)
  if (!old) return { appId: next.id, colour, outcome: ZddOutcome.done }
  const share = hybridShareOf(next.labels!)
  return shift(opts, group, { next: next.id, old: old.id, target: Number(next.labels![DeploymentLabel.targetInstances]), direction: ZddDirection.forward, ...(share > 0 ? { newInstances: share } : {}) })
}

/** Moves the group's traffic from one colour to the other, one decided step at a time, to the end. */
async function shift(opts: ZddOptions, group: string, first: ZddShift): Promise<ZddResult> {
  const { client, clock, say } = opts
  let { next, old, direction } = first
  const { target } = first
  let startedAt = clock.now()
  let lastWhy = ''
  for (;;) {
    const [newApp, oldApp] = await Promise.all([client.getApp(next), client.getApp(old)])
    const views = (await Promise.all(opts.lbUrls.map((u) => lbView(u, group)))).filter((v): v is LbView => v !== undefined)
    const step = zddStep({
      direction,
      target,
      next: { instances: newApp.instances, deploying: newApp.deployments.length > 0, taskIds: (newApp.tasks ?? []).map((t) => t.id) },
      old: { instances: oldApp.instances, taskIds: (oldApp.tasks ?? []).filter((t) => !GOING.has(t.state)).map((t) => t.id) },
      lbs: views.length === opts.lbUrls.length ? views : [],
      elapsedMs: clock.now() - startedAt,
      maxWaitMs: opts.maxWaitMs,
      newInstances: first.newInstances ?? 0,
    })
    const outcome = direction === first.direction ? ZddOutcome.done : ZddOutcome.reverted
    const result = (outcomeNow: ZddOutcome): ZddResult => ({ appId: next, colour: String(newApp.labels?.[DeploymentLabel.colour] ?? ''), outcome: outcomeNow })
    switch (step.kind) {
      case 'wait':
        if (step.why !== lastWhy) say(`${next}: waiting for ${step.why}`)
        lastWhy = step.why
        break
      case 'kill':
        if (opts.preKillHook !== undefined) {
          say(`${next}: calling the pre-kill hook ${opts.preKillHook}`)
          await runPreKillHook(opts.preKillHook, oldApp, step.taskIds, newApp)
        }
        if (!(await opts.confirm(`Kill ${step.taskIds.join(', ')} of ${old}?`))) return { ...result(ZddOutcome.declined), appId: old }
        say(`${next}: killing ${step.taskIds.length} ${direction === ZddDirection.forward ? 'drained ' : ''}instance(s) of ${old}`)
        await client.killTasks(step.taskIds, { scale: true, force: true })
        break
      case 'scale':
        say(`${next}: scaling to ${step.instances} of ${target}`)
        await client.scaleApp(next, step.instances, { force: true })
        break
      case 'finish':
        if (!(await opts.confirm(`Delete ${old}?`))) return { ...result(ZddOutcome.declined), appId: old }
        await client.deleteApp(old, { force: true }).catch((e: unknown) => {
          if (!(e instanceof MarathonApiError && e.status === 404)) throw e
        })
        await waitGone(opts, old)
        say(`${next}: took over; ${old} removed`)
        return result(outcome)
      case 'keep-both':
        // As zdd.py, a hybrid deployment leaves the old colour in place: --complete-cur or
        // --complete-prev makes the group one colour again.
        say(`${next}: ${newApp.instances} instance(s) serve beside ${oldApp.instances} of ${old}, as a hybrid deployment; ${old} stays`)
        return result(outcome)
      case 'revert':
        say(`${next}: ${step.reason}; going back to ${old}`)
        ;[next, old] = [old, next]
        direction = ZddDirection.back
        startedAt = clock.now()
        break
      case 'stop':
        say(`${next}: ${step.reason}; both colours run on: pick the deployment up with --resume, --complete-cur or --complete-prev`)
        return { ...result(ZddOutcome.stopped), appId: old }
      default:
        return assertNever(step)
    }
    await new Promise((r) => setTimeout(r, opts.stepDelayMs))
  }
}
