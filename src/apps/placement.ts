// Placement of app instances on offers: a pure function of its arguments. The scheduler shell
// feeds in offers and instances and carries out the launches it gets back. Behaviour follows
// Marathon's (sources named inline as `marathon:<path>`), with dynamic ports chosen
// deterministically unless an rng is passed.
import type { Range } from '../core/resources.js'
import { normalizeRanges } from '../core/resources.js'
import type { AgentAttributes, PlacedOn } from './constraints.js'
import { constraintRelevantInstances, meetsConstraints, offerFieldValue } from './constraints.js'
import type { PortAssignment } from './ports.js'
import { assignPorts, subtractPorts } from './ports.js'
import type { AppDefinition, Instance, OfferView } from './types.js'

/** Marathon's NoOfferMatchReason names (marathon:src/main/scala/mesosphere/mesos/NoOfferMatchReason.scala). */
export const NoOfferMatchReason = {
  InsufficientCpus: 'InsufficientCpus',
  InsufficientMemory: 'InsufficientMemory',
  InsufficientDisk: 'InsufficientDisk',
  InsufficientGpus: 'InsufficientGpus',
  InsufficientPorts: 'InsufficientPorts',
  UnfulfilledRole: 'UnfulfilledRole',
  UnfulfilledConstraint: 'UnfulfilledConstraint',
} as const
export type NoOfferMatchReason = (typeof NoOfferMatchReason)[keyof typeof NoOfferMatchReason]

export type Scalars = Pick<OfferView, 'cpus' | 'mem' | 'disk' | 'gpus'>

// Mesos keeps scalars to three decimals; compare the same way so 0.1 + 0.2 fits in 0.3.
export const milli = (v: number): number => Math.round(v * 1000)

/** The scalar resources the app needs that the offer lacks (empty when it fits). */
export function missingScalars(app: Scalars, offer: Scalars): NoOfferMatchReason[] {
  const out: NoOfferMatchReason[] = []
  if (milli(app.cpus) > milli(offer.cpus)) out.push(NoOfferMatchReason.InsufficientCpus)
  if (milli(app.mem) > milli(offer.mem)) out.push(NoOfferMatchReason.InsufficientMemory)
  if (milli(app.disk) > milli(offer.disk)) out.push(NoOfferMatchReason.InsufficientDisk)
  if (milli(app.gpus) > milli(offer.gpus)) out.push(NoOfferMatchReason.InsufficientGpus)
  return out
}

/** Whether one instance of the app fits the offer's cpus, mem, disk, gpus and ports. */
export function resourcesFit(app: AppDefinition, offer: OfferView): boolean {
  return missingScalars(app, offer).length === 0 && assignPorts(app, offer) !== undefined
}

/**
 * acceptedResourceRoles names the roles whose resources the app may use. dromos does not model
 * reservations, so every resource is unreserved ("*") and allocated to `offer.role`: "*" in the
 * list therefore accepts any offer, and another role accepts offers allocated to it.
 */
export function roleAccepted(app: Pick<AppDefinition, 'acceptedResourceRoles'>, offer: Pick<OfferView, 'role'>): boolean {
  const roles = app.acceptedResourceRoles
  if (roles === undefined || roles.length === 0) return true
  return roles.includes('*') || roles.includes(offer.role)
}

// ---------------------------------------------------------------------------------------------
// Placing a batch of instances
// ---------------------------------------------------------------------------------------------

export interface Launch {
  offerId: string
  agentId: string
  hostname: string
  hostPorts: number[]
  portResources: Range[]
  /** 0-based position of this launch in the pass; the caller maps it to a new instance id. */
  instanceIndex: number
}

export interface PlaceInstancesInput {
  app: AppDefinition
  offers: readonly OfferView[]
  /** The app's non-terminal instances. */
  running: readonly Instance[]
  /** How many new instances are wanted. */
  count: number
  /** When given, only offers allocated to this role are used. */
  role?: string
  /** Attributes of agents that run instances but have no offer in this pass. */
  agentAttributes?: AgentAttributes
  /** Host ports that instances of other apps hold: never given again, even by a stale offer. */
  portsInUse?: readonly PortsInUse[]
  /** The same as portsInUse, by agent: what placeApps passes, so that each app does not go over every instance again. */
  takenPorts?: ReadonlyMap<string, ReadonlySet<number>>
  /** For Marathon-style random dynamic ports; omit for the lowest free ports. */
  rng?: () => number
}

export type PortsInUse = Pick<Instance, 'agentId' | 'hostPorts'>

export interface PlacementResult {
  launches: Launch[]
  /** Offers that got no launch, with every reason their last try failed (empty when count was reached first). */
  unmatched: Array<{ offerId: string; reasons: NoOfferMatchReason[] }>
  /** The offers with what the launches took off them, in input order: what a next app may use. */
  remaining: OfferView[]
}

interface OfferState {
  offer: OfferView
  left: Scalars & { ports: Range[] }
  launched: number
  done: boolean
  reasons: NoOfferMatchReason[]
}

/**
 * Places up to `count` new instances. Offers are taken round-robin, one instance per offer per
 * round, so that instances spread when they can and pack when they must; each launch's resources
 * are taken off its offer before the next try, and constraints see every launch made earlier in
 * the pass.
 */
export function placeInstances(input: PlaceInstancesInput): PlacementResult {
  const { app } = input
  const want = Math.max(0, Math.floor(input.count))

  // Where the app's instances run, and those agents' attributes, matter to its constraints
  // only: an app without constraints does not go over its instances for them.
  const constrained = app.constraints.length > 0
  const attributes: Record<string, Readonly<Record<string, string>>> = { ...(input.agentAttributes ?? {}) }
  if (constrained) for (const i of input.running) if (i.agentAttributes) attributes[i.agentId] = i.agentAttributes
  for (const o of input.offers) attributes[o.agentId] = o.attributes

  const placed: PlacedOn[] = constrained ? constraintRelevantInstances(app, input.running).map((i) => ({ agentId: i.agentId, host: i.host })) : []

  // Offers never list ports in use, but a stale offer must still not double-book a port. An
  // agent's set is copied from input.takenPorts the first time it is asked for.
  const takenPorts = new Map<string, Set<number>>()
  const taken = (agentId: string): Set<number> => {
    let set = takenPorts.get(agentId)
    if (!set) takenPorts.set(agentId, (set = new Set(input.takenPorts?.get(agentId))))
    return set
  }
  // Only the offered agents' ports are ever looked up.
  const offered = new Set(input.offers.map((o) => o.agentId))
  for (const list of [input.running, input.portsInUse ?? []]) for (const i of list) if (i.hostPorts.length > 0 && offered.has(i.agentId)) for (const p of i.hostPorts) taken(i.agentId).add(p)

  const states: OfferState[] = input.offers.map((offer) => ({
    offer,
    left: { cpus: offer.cpus, mem: offer.mem, disk: offer.disk, gpus: offer.gpus, ports: normalizeRanges(offer.ports) },
    launched: 0,
    done: false,
    reasons: [],
  }))

  const usable = (o: OfferView): boolean => (input.role === undefined || o.role === input.role) && roleAccepted(app, o) && resourcesFit(app, o)
  const groupValues = new Map<string, Set<string>>()
  for (const [field, operator] of app.constraints) {
    if (operator !== 'GROUP_BY') continue
    const values = new Set<string>()
    for (const o of input.offers) {
      const v = offerFieldValue(o, field)
      if (v !== undefined && usable(o)) values.add(v)
    }
    groupValues.set(field, values)
  }

  const tryOffer = (s: OfferState): PortAssignment | NoOfferMatchReason[] => {
    const reasons: NoOfferMatchReason[] = []
    if ((input.role !== undefined && s.offer.role !== input.role) || !roleAccepted(app, s.offer)) reasons.push(NoOfferMatchReason.UnfulfilledRole)
    if (!meetsConstraints(app, { offer: s.offer, placed, agentAttributes: attributes, groupValues })) reasons.push(NoOfferMatchReason.UnfulfilledConstraint)
    reasons.push(...missingScalars(app, s.left))
    const rng = input.rng
    const ports = assignPorts(app, s.left, { exclude: taken(s.offer.agentId), ...(rng ? { rng } : {}) })
    if (ports === undefined) reasons.push(NoOfferMatchReason.InsufficientPorts)
    return reasons.length === 0 && ports ? ports : reasons
  }

  const launches: Launch[] = []
  let progress = true
  while (launches.length < want && progress) {
    progress = false
    for (const s of states) {
      if (launches.length >= want) break
      if (s.done) continue
      const result = tryOffer(s)
      if (Array.isArray(result)) {
        s.reasons = result
        // Resources only shrink and roles do not change, but a GROUP_BY constraint can come to
        // hold again once other groups catch up, so only constraint failures get another round.
        s.done = result.some((r) => r !== NoOfferMatchReason.UnfulfilledConstraint)
        continue
      }
      const l = s.left
      l.cpus = (milli(l.cpus) - milli(app.cpus)) / 1000
      l.mem = (milli(l.mem) - milli(app.mem)) / 1000
      l.disk = (milli(l.disk) - milli(app.disk)) / 1000
      l.gpus = (milli(l.gpus) - milli(app.gpus)) / 1000
      l.ports = subtractPorts(l.ports, result.hostPorts)
      for (const p of result.hostPorts) taken(s.offer.agentId).add(p)
      placed.push({ agentId: s.offer.agentId, host: s.offer.hostname })
      launches.push({
        offerId: s.offer.id,
        agentId: s.offer.agentId,
        hostname: s.offer.hostname,
        hostPorts: result.hostPorts,
        portResources: result.portResources,
        instanceIndex: launches.length,
      })
      s.launched++
      progress = true
    }
  }

  const unmatched = states.flatMap((s) => (s.launched === 0 ? [{ offerId: s.offer.id, reasons: s.reasons }] : []))
  const remaining = states.map((s) => ({ ...s.offer, ...s.left }))
  return { launches, unmatched, remaining }
}

/** What one app asks of an offer pass. */
export interface AppDemand {
  app: AppDefinition
  /** How many new instances are wanted. */
  count: number
  /** The app's non-terminal instances. */
  running: readonly Instance[]
}

export interface PlaceAppsInput {
  /** In priority order: an earlier app gets first pick of every offer. */
  demands: readonly AppDemand[]
  offers: readonly OfferView[]
  role?: string
  agentAttributes?: AgentAttributes
  /** Every live instance's host ports, of all apps. */
  portsInUse?: readonly PortsInUse[]
  rng?: () => number
  /** At most this many launches in the pass, of all apps together: the apps after the last one it reaches are not looked at. */
  maxLaunches?: number
}

export interface PlaceAppsResult {
  launches: Array<Launch & { appId: string }>
  /** Per app looked at, the offers it could not use and why (for the queue's offer summary). */
  unmatched: Array<{ appId: string; offers: PlacementResult['unmatched'] }>
  remaining: OfferView[]
}

/**
 * One offer pass for every app that wants instances: each app is placed over all the offers at
 * once (so constraints see every agent offered), on what the apps before it left. This is the
 * only place where launches are decided and their resources accounted.
 */
export function placeApps(input: PlaceAppsInput): PlaceAppsResult {
  let offers = input.offers
  // Only the offered agents' ports can matter, gathered once for every app of the pass.
  const offered = new Set(offers.map((o) => o.agentId))
  const takenPorts = new Map<string, Set<number>>()
  const take = (i: PortsInUse): void => {
    if (!offered.has(i.agentId)) return
    let set = takenPorts.get(i.agentId)
    if (!set) takenPorts.set(i.agentId, (set = new Set()))
    for (const p of i.hostPorts) set.add(p)
  }
  for (const i of input.portsInUse ?? []) take(i)
  const launches: PlaceAppsResult['launches'] = []
  const unmatched: PlaceAppsResult['unmatched'] = []
  const maxLaunches = input.maxLaunches ?? Infinity
  for (const d of input.demands) {
    if (d.count <= 0) continue
    const room = maxLaunches - launches.length
    if (room <= 0) break
    const r = placeInstances({
      app: d.app,
      offers,
      running: d.running,
      count: Math.min(d.count, room),
      ...(input.role !== undefined ? { role: input.role } : {}),
      ...(input.agentAttributes ? { agentAttributes: input.agentAttributes } : {}),
      takenPorts,
      ...(input.rng ? { rng: input.rng } : {}),
    })
    for (const l of r.launches) {
      launches.push({ ...l, appId: d.app.id })
      take(l)
    }
    unmatched.push({ appId: d.app.id, offers: r.unmatched })
    offers = r.remaining
  }
  return { launches, unmatched, remaining: [...offers] }
}
