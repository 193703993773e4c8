// Blue/green deployments with zero downtime, as marathon-lb's zdd.py: the new colour starts on the
// deployment's alternate service port beside the old one, the load balancers serve both in one
// backend (see deployment-groups.ts), and each step decides from scratch, from what the apps
// framework and every lb report, whether to wait, kill old instances the lbs have drained, scale
// the new colour up, finish by removing the old colour, or give up and go back. A hybrid
// deployment (zdd.py's --new-instances) stops with both colours serving, the new one at its
// share. A group found running two colours (an interrupted or a hybrid deployment) is picked up
// where it stands, toward either.
import { byDeploymentStart, DeploymentLabel, deploymentGroupOf } from './deployment-groups.js'

export type Colour = 'blue' | 'green'

/** An app definition as a JSON file holds it: only what the deployment reads or writes. */
export interface ZddDefinition {
  id: string
  instances?: number
  labels?: Record<string, string>
  portDefinitions?: Array<{ port: number } & Record<string, unknown>>
  container?: { portMappings?: Array<{ servicePort?: number } & Record<string, unknown>> } & Record<string, unknown>
  [key: string]: unknown
}

/** zdd.py's exit statuses, which scripts around it test. */
export const ZddExit = { declinedOrReverted: 1, failed: 2, invalidFlags: 3, missingField: 4 } as const

export class ZddError extends Error {
  readonly code = 'ZDD'
  constructor(
    message: string,
    readonly exitStatus: number = ZddExit.failed,
  ) {
    super(message)
  }
}

function servicePortOf(def: ZddDefinition): number | undefined {
  return def.container?.portMappings?.[0]?.servicePort ?? def.portDefinitions?.[0]?.port
}

function withServicePort(def: ZddDefinition, port: number): ZddDefinition {
  const mappings = def.container?.portMappings
  if (mappings && mappings.length > 0) return { ...def, container: { ...def.container, portMappings: mappings.map((m, i) => (i === 0 ? { ...m, servicePort: port } : m)) } }
  const ports = def.portDefinitions ?? []
  return { ...def, portDefinitions: ports.map((p, i) => (i === 0 ? { ...p, port } : p)) }
}

/** A colour of the group, as the apps framework runs it. */
export interface PreviousColour {
  readonly id: string
  readonly instances: number
  readonly labels: Record<string, string>
  /** Its first service port as the apps framework assigned it. */
  readonly servicePort: number
}

/**
 * The new colour's definition: the other colour and the other of the two service ports, as
 * zdd.py's prepare_deploy. HAPROXY_0_PORT keeps the port the lbs serve the group on, while the
 * apps framework sees each colour on its own service port.
 */
export function prepareColour(def: ZddDefinition, previous: PreviousColour | undefined, opts: { now: Date; initialInstances: number; newInstances?: number }): ZddDefinition {
  const group = deploymentGroupOf(def)
  const alt = Number(def.labels?.[DeploymentLabel.altPort])
  const port = servicePortOf(def)
  if (group === undefined) throw new ZddError(`${def.id}: define the ${DeploymentLabel.group} label`, ZddExit.missingField)
  if (!Number.isInteger(alt) || alt <= 0) throw new ZddError(`${def.id}: define the ${DeploymentLabel.altPort} label as a port`, ZddExit.missingField)
  if (!port) throw new ZddError(`${def.id}: the first port needs a fixed service port, which the load balancers serve the group on`, ZddExit.missingField)
  const colour: Colour = previous?.labels[DeploymentLabel.colour] === 'blue' ? 'green' : 'blue'
  const nextPort = previous === undefined ? port : previous.servicePort === alt ? Number(previous.labels.HAPROXY_0_PORT ?? port) : alt
  const target = previous?.instances ?? def.instances ?? 1
  // As zdd.py: a share larger than the group is the whole group; the first colour has none.
  const share = previous === undefined ? 0 : Math.max(0, Math.min(opts.newInstances ?? 0, target))
  const id = `${def.id.startsWith('/') ? def.id : `/${def.id}`}-${colour}`
  return withServicePort(
    {
      ...def,
      id,
      instances: previous === undefined ? target : Math.max(1, Math.min(opts.initialInstances, share > 0 ? share : target)),
      labels: {
        ...def.labels,
        HAPROXY_APP_ID: def.id,
        HAPROXY_0_PORT: String(port),
        [DeploymentLabel.targetInstances]: String(target),
        [DeploymentLabel.newInstances]: String(share),
        [DeploymentLabel.colour]: colour,
        [DeploymentLabel.startedAt]: opts.now.toISOString(),
      },
    },
    nextPort,
  )
}

/** How an interrupted deployment is to be picked up (zdd.py's --resume, --complete-cur, --complete-prev). */
export interface ZddPickUp {
  readonly resume: boolean
  readonly completeCur: boolean
  readonly completePrev: boolean
}

/**
 * Which way traffic moves. Forward, to the colour deployed last: the lbs drain the other as the
 * new one becomes healthy. Back, to the colour deployed first: the lbs still drain that one's
 * instances against the newer colour's healthy ones, so it is brought to the target, and the
 * newer colour's instances go once every lb has all of it.
 */
export const ZddDirection = { forward: 'forward', back: 'back' } as const
export type ZddDirection = (typeof ZddDirection)[keyof typeof ZddDirection]

/** A shift of traffic between the two colours of a group. */
export interface ZddShift {
  /** The colour traffic moves to, and the one it leaves. */
  readonly next: string
  readonly old: string
  readonly target: number
  readonly direction: ZddDirection
  /** A hybrid deployment's share of the new colour (HAPROXY_DEPLOYMENT_NEW_INSTANCES); 0 or absent: all of it. */
  readonly newInstances?: number
}

/** The share of a hybrid deployment that a colour's labels record; 0 for a whole one. */
export function hybridShareOf(labels: Readonly<Record<string, string>>): number {
  const n = Number(labels[DeploymentLabel.newInstances])
  return Number.isInteger(n) && n > 0 ? n : 0
}

export type ZddStart =
  | { readonly kind: 'create'; readonly definition: ZddDefinition; readonly previous?: PreviousColour }
  | { readonly kind: 'pick-up'; readonly shift: ZddShift; readonly why: string }

const PICK_UP_FLAGS = '--resume (-r) or --complete-cur (-c) to finish it toward the newer colour, or --complete-prev (-p) to go back to the older'

/**
 * How `zdd` begins, from the definition and the group's colours as the apps framework runs them:
 * create the next colour, or, where two already run, pick the deployment between them up as the
 * flags ask, as zdd.py's do_zdd and safe_resume_deploy.
 */
export function startZdd(def: ZddDefinition, running: readonly PreviousColour[], opts: ZddPickUp & { now: Date; initialInstances: number; newInstances?: number }): ZddStart {
  if (opts.completeCur && opts.completePrev) throw new ZddError('--complete-cur and --complete-prev go one way each: give one of them', ZddExit.invalidFlags)
  const colours = [...running].sort(byDeploymentStart)
  if (colours.length > 2) throw new ZddError(`${colours.map((c) => c.id).join(', ')} all run in one deployment group; remove all but two`)
  const [older, newer] = colours
  if (older === undefined || newer === undefined) {
    if (opts.completeCur || opts.completePrev) throw new ZddError('--complete-cur and --complete-prev finish a deployment in progress, and the group runs one colour', ZddExit.invalidFlags)
    // As zdd.py, --resume with nothing to resume is an ordinary deployment.
    return older === undefined ? { kind: 'create', definition: prepareColour(def, undefined, opts) } : { kind: 'create', definition: prepareColour(def, older, opts), previous: older }
  }
  const share = hybridShareOf(newer.labels)
  if (!opts.resume && !opts.completeCur && !opts.completePrev) {
    const group = deploymentGroupOf(def) ?? def.id
    if (share > 0) {
      throw new ZddError(
        `${group} runs a hybrid deployment: ${older.id} and ${newer.id} both serve; move it all to the newer colour with --complete-cur (-c), ` +
          `back to the older with --complete-prev (-p), or carry the hybrid deployment on with --resume (-r)`,
      )
    }
    throw new ZddError(`a deployment of ${group} is in progress: ${older.id} and ${newer.id} both run; pick it up with ${PICK_UP_FLAGS}`)
  }
  // The newer colour holds the group's size before the deployment; going back restores that too.
  const target = Number(newer.labels[DeploymentLabel.targetInstances]) || older.instances
  if (opts.completePrev) return { kind: 'pick-up', shift: { next: older.id, old: newer.id, target, direction: ZddDirection.back }, why: `going back from ${newer.id} to ${older.id}` }
  // As zdd.py's, --resume carries a hybrid deployment on, and --complete-cur makes it whole.
  if (share > 0 && !opts.completeCur) {
    return { kind: 'pick-up', shift: { next: newer.id, old: older.id, target, direction: ZddDirection.forward, newInstances: share }, why: `resuming the hybrid deployment of ${share} of ${newer.id} beside ${older.id}` }
  }
  return { kind: 'pick-up', shift: { next: newer.id, old: older.id, target, direction: ZddDirection.forward }, why: `resuming the deployment from ${older.id} to ${newer.id}` }
}

/** What one lb shows of the group's backend: the task ids it sends traffic to, and those it drains. */
export interface LbView {
  readonly serving: ReadonlySet<string>
  readonly draining: ReadonlySet<string>
}

export interface ZddObserved {
  readonly direction: ZddDirection
  readonly target: number
  /** The colour traffic moves to. */
  readonly next: { readonly instances: number; readonly deploying: boolean; readonly taskIds: readonly string[] }
  /** The colour traffic leaves: its instances, and its tasks not yet being killed. */
  readonly old: { readonly instances: number; readonly taskIds: readonly string[] }
  readonly lbs: readonly LbView[]
  readonly elapsedMs: number
  readonly maxWaitMs: number
  /** A hybrid deployment's share of the new colour; 0 or absent: all of it. */
  readonly newInstances?: number
}

export type ZddStep =
  | { readonly kind: 'wait'; readonly why: string }
  | { readonly kind: 'kill'; readonly taskIds: readonly string[] }
  | { readonly kind: 'scale'; readonly instances: number }
  | { readonly kind: 'finish' }
  /** A hybrid deployment is where it stops: both colours serve, the new one at its share. */
  | { readonly kind: 'keep-both' }
  /** Go back: shift the other way. */
  | { readonly kind: 'revert'; readonly reason: string }
  /** Going back did not finish either: leave both colours for an operator. */
  | { readonly kind: 'stop'; readonly reason: string }

/** The next step of a deployment from what is observed now; safe to decide again after any step. */
export function zddStep(o: ZddObserved): ZddStep {
  const share = o.direction === ZddDirection.forward ? Math.min(o.newInstances ?? 0, o.target) : 0
  if (share > 0 && hybridDone(o, share)) return { kind: 'keep-both' }
  if (share === 0 && o.next.instances >= o.target && o.old.instances === 0 && o.old.taskIds.length === 0) return { kind: 'finish' }
  if (o.elapsedMs > o.maxWaitMs) {
    const reason = `the ${o.direction === ZddDirection.forward ? 'new' : 'previous'} colour did not take over within ${Math.round(o.maxWaitMs / 1000)} s`
    return o.direction === ZddDirection.forward ? { kind: 'revert', reason } : { kind: 'stop', reason }
  }
  if (o.lbs.length === 0) return { kind: 'wait', why: 'no load balancer answers' }
  if (o.next.deploying) return { kind: 'wait', why: `${o.direction === ZddDirection.forward ? 'the new' : 'the previous'} colour is still deploying` }
  return o.direction === ZddDirection.forward ? forwardStep(o, share) : backStep(o)
}

/**
 * zdd.py's ready_to_delete_old_app for a hybrid deployment: the new colour at its share and the
 * old at the rest. dromos also waits until every lb serves all of the new colour and drains
 * none of the old, where zdd.py waits out --max-wait for a drain that does not come.
 */
function hybridDone(o: ZddObserved, share: number): boolean {
  if (o.next.instances !== share || o.old.instances !== o.target - share || o.old.taskIds.length !== o.old.instances) return false
  if (o.lbs.length === 0) return false
  const allServed = o.next.taskIds.length === share && o.next.taskIds.every((id) => o.lbs.every((lb) => lb.serving.has(id)))
  return allServed && !o.old.taskIds.some((id) => o.lbs.some((lb) => lb.draining.has(id)))
}

/** Back to the colour deployed first: all of it at once, since the lbs drain it against the other anyway, then the other goes. */
function backStep(o: ZddObserved): ZddStep {
  if (o.next.instances < o.target) return { kind: 'scale', instances: o.target }
  const present = o.next.taskIds.filter((id) => o.lbs.every((lb) => lb.serving.has(id) || lb.draining.has(id)))
  if (present.length < o.next.instances) return { kind: 'wait', why: `${present.length}/${o.next.instances} previous instances healthy at every load balancer` }
  // Killing the newer colour's instances takes their drain off as many of these.
  if (o.old.taskIds.length > 0) return { kind: 'kill', taskIds: o.old.taskIds }
  return { kind: 'finish' }
}

/** Forward, to the whole target, or with a share (a hybrid deployment) to that share of it. */
function forwardStep(o: ZddObserved, share: number): ZddStep {
  // Old instances every lb has drained go, scaling the old colour down with them.
  const everyLbDrained = o.old.taskIds.filter((id) => o.lbs.every((lb) => lb.draining.has(id) && !lb.serving.has(id)))
  // A hybrid deployment keeps the rest of the group in the old colour, whatever an lb shows.
  const drained = share > 0 ? everyLbDrained.slice(0, Math.max(0, o.old.instances - (o.target - share))) : everyLbDrained
  if (drained.length > 0) return { kind: 'kill', taskIds: drained }
  if (o.old.taskIds.some((id) => o.lbs.some((lb) => lb.draining.has(id)))) return { kind: 'wait', why: 'every load balancer to drain the same old instances' }
  const up = o.next.taskIds.filter((id) => o.lbs.every((lb) => lb.serving.has(id)))
  if (up.length < o.next.instances) return { kind: 'wait', why: `${up.length}/${o.next.instances} new instances served by every load balancer` }
  // Half as many again each time, as zdd.py: a hybrid one up to its share; a whole one straight
  // to the target once past the old colour.
  const grown = Math.floor(o.next.instances + (o.next.instances + 1) / 2)
  if (share > 0 && o.next.instances < share) return { kind: 'scale', instances: Math.min(grown, share) }
  if (share === 0 && o.next.instances < o.target) return { kind: 'scale', instances: grown >= o.old.instances ? o.target : Math.min(grown, o.target) }
  return { kind: 'wait', why: `the load balancers to drain ${o.old.taskIds.length} old instances` }
}
