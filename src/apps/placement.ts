// Placement of app instances on offers, and the Mesos TaskInfo for each launch. Everything here
// is a pure function of its arguments: the scheduler shell feeds in offers and instances and
// carries out the launches it gets back. Behaviour follows Marathon's (sources named inline as
// `marathon:<path>`), with dynamic ports chosen deterministically unless an rng is passed.
import type { OfferWire, TaskInfo } from '../api/mesos.js'
import { resourcesFromWire } from '../api/mesos.js'
import type { Range } from '../core/resources.js'
import { normalizeRanges, rangesContain, valuesToRanges } from '../core/resources.js'
import type { AppDefinition, Constraint, Instance, OfferView, PortMapping } from './types.js'

// ---------------------------------------------------------------------------------------------
// Offers
// ---------------------------------------------------------------------------------------------

/** Agent attributes by agent id, for constraints over instances that are already running. */
export type AgentAttributes = Readonly<Record<string, Readonly<Record<string, string>>>>

/**
 * Marathon formats scalar attributes with DecimalFormat("0.###") (marathon:src/main/scala/mesosphere/mesos/Constraints.scala):
 * at most three decimals, no trailing zeros. Half-even rounding is approximated by JS rounding.
 */
export function formatScalar(value: number): string {
  const rounded = Math.round(value * 1000) / 1000
  return Object.is(rounded, -0) ? '0' : String(rounded)
}

export function offerViewFromWire(offer: OfferWire): OfferView {
  const resources = resourcesFromWire(offer.resources)
  const attributes: Record<string, string> = {}
  for (const a of offer.attributes) {
    // Constraints compare formatted strings; ranges and sets are formatted as Mesos prints them.
    if (a.type === 'TEXT' && a.text) attributes[a.name] = a.text.value
    else if (a.type === 'SCALAR' && a.scalar) attributes[a.name] = formatScalar(a.scalar.value)
    else if (a.type === 'RANGES' && a.ranges) {
      const sorted = [...a.ranges.range].sort((x, y) => x.begin - y.begin)
      attributes[a.name] = `[${sorted.map((r) => `${r.begin}-${r.end}`).join(',')}]`
    } else if (a.type === 'SET' && a.set) attributes[a.name] = `{${[...a.set.item].sort().join(',')}}`
  }
  // Fault domains back the @region and @zone constraint fields.
  const domain = (offer as { domain?: { fault_domain?: { region?: { name?: string }; zone?: { name?: string } } } }).domain
  const region = domain?.fault_domain?.region?.name
  const zone = domain?.fault_domain?.zone?.name
  if (region !== undefined) attributes[REGION_FIELD] = region
  if (zone !== undefined) attributes[ZONE_FIELD] = zone
  const role = offer.allocation_info?.role ?? offer.resources.find((r) => r.role !== undefined)?.role ?? '*'
  return {
    id: offer.id.value,
    agentId: offer.agent_id.value,
    hostname: offer.hostname,
    attributes,
    cpus: resources.scalars['cpus'] ?? 0,
    mem: resources.scalars['mem'] ?? 0,
    disk: resources.scalars['disk'] ?? 0,
    gpus: resources.scalars['gpus'] ?? 0,
    ports: normalizeRanges(resources.ranges['ports'] ?? []),
    role,
  }
}

// ---------------------------------------------------------------------------------------------
// Constraints (marathon:src/main/scala/mesosphere/mesos/Constraints.scala)
// ---------------------------------------------------------------------------------------------

const REGION_FIELD = '@region'
const ZONE_FIELD = '@zone'

/** Where an instance sits, for constraint checks: an Instance, or a launch placed earlier in this pass. */
export type PlacedOn = Pick<Instance, 'agentId' | 'host'>

function isHostnameField(field: string): boolean {
  return field === 'hostname' || field === '@hostname'
}

function offerFieldValue(offer: OfferView, field: string): string | undefined {
  return isHostnameField(field) ? offer.hostname : offer.attributes[field]
}

function placedFieldValue(placed: PlacedOn, field: string, agentAttributes: AgentAttributes): string | undefined {
  return isHostnameField(field) ? placed.host : agentAttributes[placed.agentId]?.[field]
}

/** Java's String.matches: the whole value must match. An invalid pattern matches nothing. */
function fullMatch(value: string, pattern: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(value)
  } catch {
    return false
  }
}

const SCALAR_VALUE = /^[0-9]+(?:\.[0-9]+)?$/

function countByValue(placed: readonly PlacedOn[], field: string, agentAttributes: AgentAttributes): Map<string | undefined, number> {
  const counts = new Map<string | undefined, number>()
  for (const p of placed) {
    const v = placedFieldValue(p, field, agentAttributes)
    counts.set(v, (counts.get(v) ?? 0) + 1)
  }
  return counts
}

/**
 * Whether one constraint holds for an offer, given where the app's instances already are.
 * As in Marathon, an offer without the field fails every operator except UNLIKE.
 */
export function meetsConstraint(
  constraint: Constraint,
  input: { offer: OfferView; placed: readonly PlacedOn[]; agentAttributes?: AgentAttributes; groupValues?: ReadonlyMap<string, ReadonlySet<string>> },
): boolean {
  const [field, operator, value = ''] = constraint
  const agentAttributes = input.agentAttributes ?? {}
  const offerValue = offerFieldValue(input.offer, field)
  if (offerValue === undefined) return operator === 'UNLIKE'
  switch (operator) {
    case 'LIKE':
      return value !== '' && fullMatch(offerValue, value)
    case 'UNLIKE':
      return value !== '' && !fullMatch(offerValue, value)
    case 'IS':
      return offerValue === (SCALAR_VALUE.test(value) ? formatScalar(Number(value)) : value)
    case 'UNIQUE':
      return input.placed.every((p) => placedFieldValue(p, field, agentAttributes) !== offerValue)
    case 'CLUSTER': {
      if (value !== '') return offerValue === value
      // Without a value the first instance's value pins all the others.
      const first = input.placed[0]
      return first === undefined || placedFieldValue(first, field, agentAttributes) === offerValue
    }
    case 'MAX_PER': {
      const max = /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN
      if (!Number.isFinite(max)) return false
      return (countByValue(input.placed, field, agentAttributes).get(offerValue) ?? 0) < max
    }
    case 'GROUP_BY': {
      // Marathon up to 1.9 (and its docs): a value not seen yet is always acceptable; a known value
      // only when at least `value` groups exist and it is among the least used. Instances whose
      // agent lacks the field count as one more group, as in Marathon. (1.10 changed this to
      // fill groups up to instances/value; its code divides by zero when no value is given.)
      const minGroups = value === 'inf' ? Number.MAX_SAFE_INTEGER : /^\d+$/.test(value) ? Number(value) : 0
      const counts = countByValue(input.placed, field, agentAttributes)
      // Values offered in this pass that could host an instance are groups too, with none yet:
      // without them one pass would fill the first group it sees before the others.
      for (const v of input.groupValues?.get(field) ?? []) if (!counts.has(v)) counts.set(v, 0)
      const mine = counts.get(offerValue)
      if (mine === undefined || mine === 0) return true
      return counts.size >= minGroups && mine === Math.min(...counts.values())
    }
  }
}

/**
 * Whether every constraint of the app holds for the offer. `placed` holds the app's non-terminal
 * instances, including launches placed earlier in the same pass; `agentAttributes` gives the
 * attributes of the agents they run on (an agent missing from it counts as lacking every attribute).
 */
export function meetsConstraints(
  app: Pick<AppDefinition, 'constraints'>,
  input: { offer: OfferView; placed: readonly PlacedOn[]; agentAttributes?: AgentAttributes; groupValues?: ReadonlyMap<string, ReadonlySet<string>> },
): boolean {
  return app.constraints.every((c) => meetsConstraint(c, input))
}

/**
 * Marathon ignores instances of older configurations when checking constraints, so that a new
 * instance may land next to an old one that will be killed once the new one is up
 * (marathon:src/main/scala/mesosphere/mesos/ResourceMatcher.scala, meetsAllConstraints).
 */
export function constraintRelevantInstances<T extends Pick<Instance, 'version'>>(app: AppDefinition, instances: readonly T[]): T[] {
  const since = Date.parse(app.versionInfo.lastConfigChangeAt)
  if (Number.isNaN(since)) return [...instances]
  return instances.filter((i) => {
    const v = Date.parse(i.version)
    return Number.isNaN(v) || v >= since
  })
}

// ---------------------------------------------------------------------------------------------
// Resources and roles
// ---------------------------------------------------------------------------------------------

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

type Scalars = Pick<OfferView, 'cpus' | 'mem' | 'disk' | 'gpus'>

// Mesos keeps scalars to three decimals; compare the same way so 0.1 + 0.2 fits in 0.3.
const milli = (v: number): number => Math.round(v * 1000)

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
// Ports (marathon:src/main/scala/mesosphere/marathon/tasks/PortsMatcher.scala)
// ---------------------------------------------------------------------------------------------

/** One requested host port: none (container-only mapping), any free one, or a fixed one. */
export type HostPortRequest = { kind: 'none' } | { kind: 'dynamic' } | { kind: 'fixed'; port: number }

function hasPortMappings(app: AppDefinition): boolean {
  return (app.container?.portMappings?.length ?? 0) > 0
}

/**
 * Host ports the app asks for, one per port mapping when the container has any (Marathon then
 * ignores portDefinitions), else one per port definition. With requirePorts a definition's port
 * is the host port; a port of 0 stays dynamic.
 */
export function hostPortRequests(app: AppDefinition): HostPortRequest[] {
  if (hasPortMappings(app)) {
    return (app.container?.portMappings ?? []).map((m): HostPortRequest => {
      if (m.hostPort === undefined) return { kind: 'none' }
      return m.hostPort === 0 ? { kind: 'dynamic' } : { kind: 'fixed', port: m.hostPort }
    })
  }
  return app.portDefinitions.map((d): HostPortRequest => (app.requirePorts && d.port !== 0 ? { kind: 'fixed', port: d.port } : { kind: 'dynamic' }))
}

/** How many host ports one instance takes. */
export function portsNeeded(app: AppDefinition): number {
  return hostPortRequests(app).filter((r) => r.kind !== 'none').length
}

function subtractPorts(ranges: readonly Range[], ports: Iterable<number>): Range[] {
  let out = normalizeRanges(ranges)
  for (const p of ports) {
    const next: Range[] = []
    for (const r of out) {
      if (p < r.begin || p > r.end) next.push(r)
      else {
        if (p > r.begin) next.push({ begin: r.begin, end: p - 1 })
        if (p < r.end) next.push({ begin: p + 1, end: r.end })
      }
    }
    out = next
  }
  return out
}

/** Ports of `ranges` in order, starting `offset` ports in and wrapping around. */
function* portsFrom(ranges: readonly Range[], offset: number): Generator<number> {
  let skip = offset
  let startRange = 0
  for (; startRange < ranges.length; startRange++) {
    const r = ranges[startRange]!
    const size = r.end - r.begin + 1
    if (skip < size) break
    skip -= size
  }
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[(startRange + i) % ranges.length]!
    const from = i === 0 ? r.begin + skip : r.begin
    for (let p = from; p <= r.end; p++) yield p
  }
  const first = ranges[startRange]
  if (first && skip > 0) for (let p = first.begin; p < first.begin + skip; p++) yield p
}

export interface PortAssignment {
  /** The host ports, in the order of the app's port mappings (or definitions), skipping mappings without one. */
  hostPorts: number[]
  /** The same ports as ranges, for the task's `ports` resource. */
  portResources: Range[]
}

/**
 * Picks host ports for one instance from the offer. Fixed ports must be offered; dynamic ones are
 * the lowest free ports, or, given `rng`, free ports from a random starting point (as Marathon
 * does, so that a port freed by one task is not handed straight to the next). `exclude` holds
 * ports that are taken even though the offer lists them (say, by launches earlier in this pass).
 */
export function assignPorts(
  app: AppDefinition,
  offer: Pick<OfferView, 'ports'>,
  options: { rng?: () => number; exclude?: Iterable<number> } = {},
): PortAssignment | undefined {
  const requests = hostPortRequests(app)
  const free = subtractPorts(offer.ports, options.exclude ?? [])
  const fixed = requests.flatMap((r) => (r.kind === 'fixed' ? [r.port] : []))
  if (new Set(fixed).size !== fixed.length) return undefined
  if (!fixed.every((p) => rangesContain(free, [{ begin: p, end: p }]))) return undefined
  const pool = subtractPorts(free, fixed)
  const dynamicCount = requests.filter((r) => r.kind === 'dynamic').length
  const poolSize = pool.reduce((n, r) => n + (r.end - r.begin + 1), 0)
  if (dynamicCount > poolSize) return undefined
  const offset = options.rng && poolSize > 0 ? Math.min(poolSize - 1, Math.floor(options.rng() * poolSize)) : 0
  const dynamic = portsFrom(pool, offset)
  const hostPorts: number[] = []
  for (const r of requests) {
    if (r.kind === 'fixed') hostPorts.push(r.port)
    else if (r.kind === 'dynamic') hostPorts.push(dynamic.next().value as number)
  }
  return { hostPorts, portResources: valuesToRanges(hostPorts) }
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

  const attributes: Record<string, Readonly<Record<string, string>>> = { ...(input.agentAttributes ?? {}) }
  for (const i of input.running) if (i.agentAttributes) attributes[i.agentId] = i.agentAttributes
  for (const o of input.offers) attributes[o.agentId] = o.attributes

  const placed: PlacedOn[] = constraintRelevantInstances(app, input.running).map((i) => ({ agentId: i.agentId, host: i.host }))

  // Offers never list ports in use, but a stale offer must still not double-book a port.
  const takenPorts = new Map<string, Set<number>>()
  const taken = (agentId: string): Set<number> => {
    let set = takenPorts.get(agentId)
    if (!set) takenPorts.set(agentId, (set = new Set()))
    return set
  }
  for (const i of [...input.running, ...(input.portsInUse ?? [])]) for (const p of i.hostPorts) taken(i.agentId).add(p)

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
}

export interface PlaceAppsResult {
  launches: Array<Launch & { appId: string }>
  /** Per app, the offers it could not use and why (for the queue's offer summary). */
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
  const portsInUse: PortsInUse[] = [...(input.portsInUse ?? [])]
  const launches: PlaceAppsResult['launches'] = []
  const unmatched: PlaceAppsResult['unmatched'] = []
  for (const d of input.demands) {
    if (d.count <= 0) continue
    const r = placeInstances({
      app: d.app,
      offers,
      running: d.running,
      count: d.count,
      ...(input.role !== undefined ? { role: input.role } : {}),
      ...(input.agentAttributes ? { agentAttributes: input.agentAttributes } : {}),
      portsInUse,
      ...(input.rng ? { rng: input.rng } : {}),
    })
    for (const l of r.launches) {
      launches.push({ ...l, appId: d.app.id })
      portsInUse.push(l)
    }
    unmatched.push({ appId: d.app.id, offers: r.unmatched })
    offers = r.remaining
  }
  return { launches, unmatched, remaining: [...offers] }
}

// ---------------------------------------------------------------------------------------------
// Ids (marathon:src/main/scala/mesosphere/marathon/state/PathId.scala, core/task/Task.scala,
// core/instance/Instance.scala)
// ---------------------------------------------------------------------------------------------

/** `/prod/web` -> `prod_web` (PathId.safePath). */
export function safeAppId(appId: string): string {
  return appId.split('/').filter((s) => s !== '').join('_')
}

/** `/prod/web` -> `web.prod`: the task name and discovery name (PathId.toHostname). */
export function appHostname(appId: string): string {
  return appId
    .split('/')
    .filter((s) => s !== '')
    .reverse()
    .join('.')
}

/** `prod_web.instance-<uuid>` (Instance.Id.idString). */
export function instanceIdFor(appId: string, uuid: string): string {
  return `${safeAppId(appId)}.instance-${uuid}`
}

/** `prod_web.<uuid>`: Marathon's task id format before instances (Task.LegacyId), which it still parses. */
export function taskIdFor(appId: string, uuid: string): string {
  return `${safeAppId(appId)}.${uuid}`
}

/** `prod_web.instance-<uuid>._app.<n>`: Marathon 1.6+ task ids (Task.TaskIdWithIncarnation). */
export function taskIdForInstance(instanceId: string, incarnation = 1): string {
  return `${instanceId}._app.${incarnation}`
}

const TASK_ID_WITH_INSTANCE = /^(.+)\.(?:instance-|marathon-)[^_.]+[._][^.]+(?:\.\d+)?$/
const LEGACY_TASK_ID = /^(.+)[._][^_.]+(?:\.\d+)?$/

/** The app id a Marathon-format task id belongs to, or undefined when it is not one. */
export function appIdFromTaskId(taskId: string): string | undefined {
  const m = TASK_ID_WITH_INSTANCE.exec(taskId) ?? LEGACY_TASK_ID.exec(taskId)
  return m?.[1] ? `/${m[1].split('_').join('/')}` : undefined
}

// ---------------------------------------------------------------------------------------------
// TaskInfo (marathon:src/main/scala/mesosphere/mesos/TaskBuilder.scala, EnvironmentHelper.scala,
// PortDiscovery.scala, api/serialization/ContainerSerializer.scala, core/health/HealthCheck.scala)
// ---------------------------------------------------------------------------------------------

type WireResource = TaskInfo['resources'][number]
type WireHealthCheck = NonNullable<TaskInfo['health_check']>
type WireContainer = NonNullable<TaskInfo['container']>
type WireCommand = NonNullable<TaskInfo['command']>

function isHostNetworking(app: AppDefinition): boolean {
  return app.networks.length === 0 || app.networks.every((n) => n.mode === 'host')
}

/** One entry per port mapping (or definition): its host port, or undefined when it has none. */
function alignHostPorts(app: AppDefinition, hostPorts: readonly number[]): Array<number | undefined> {
  let next = 0
  return hostPortRequests(app).map((r) => (r.kind === 'none' ? undefined : hostPorts[next++]))
}

/** Scala's Double.toString for the values apps use: 1 -> "1.0", 0.5 -> "0.5". */
function scalaDouble(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n)
}

const LABEL_ENV_PREFIX = 'MARATHON_APP_LABEL_'
const MAX_ENV_LENGTH = 512

function labelsEnv(labels: Record<string, string>): Array<[string, string]> {
  const valid = Object.entries(labels)
    .filter(([k, v]) => k.length < MAX_ENV_LENGTH - LABEL_ENV_PREFIX.length && v.length < MAX_ENV_LENGTH)
    .map(([k, v]): [string, string] => [k.replace(/[^a-zA-Z0-9_]+/g, '_').toUpperCase(), v])
  return [['MARATHON_APP_LABELS', valid.map(([k]) => k).join(' ')], ...valid.map(([k, v]): [string, string] => [`${LABEL_ENV_PREFIX}${k}`, v])]
}

interface PortRequestEnv {
  name: string | undefined
  port: number // container port with mappings, else the declared (service) port; may be 0
}

/**
 * PORT<i>, PORT_<declared port>, PORT_<NAME>, PORT and PORTS (EnvironmentHelper.portsEnv).
 * A mapping without host port gets its container port; a container port of 0 there gets a
 * generated one, which Marathon draws at random above 1024 and we take as the lowest unused.
 */
function portsEnv(requested: readonly PortRequestEnv[], hostPorts: ReadonlyArray<number | undefined>): Array<[string, string]> {
  if (hostPorts.length === 0) return []
  const env: Array<[string, string]> = []
  const consumed = new Set<number>([...requested.map((r) => r.port), ...hostPorts.filter((p): p is number => p !== undefined)])
  const generated = new Map<number, number>()
  let candidate = 1025
  const generate = (): number => {
    while (consumed.has(candidate)) candidate++
    consumed.add(candidate)
    return candidate
  }
  hostPorts.forEach((host, i) => {
    if (host !== undefined) env.push([`PORT${i}`, String(host)])
    else {
      const req = requested[i]
      if (req === undefined) return
      const port = req.port === 0 ? generate() : req.port
      if (req.port === 0) generated.set(i, port)
      env.push([`PORT${i}`, String(port)])
    }
  })
  const effective = (i: number): number | undefined => hostPorts[i] ?? (requested[i]?.port === 0 ? generated.get(i) : requested[i]?.port)
  hostPorts.forEach((_, i) => {
    const req = requested[i]
    const port = effective(i)
    if (req === undefined || port === undefined) return
    env.push([`PORT_${req.port !== 0 ? req.port : port}`, String(port)])
  })
  hostPorts.forEach((_, i) => {
    const req = requested[i]
    const port = effective(i)
    if (req?.name !== undefined && port !== undefined) env.push([`PORT_${req.name.toUpperCase()}`, String(port)])
  })
  const assigned = [...hostPorts.filter((p): p is number => p !== undefined), ...generated.values()]
  if (assigned[0] !== undefined) env.push(['PORT', String(assigned[0])])
  env.push(['PORTS', assigned.join(',')])
  return env
}

export interface BuildTaskInfoInput {
  app: AppDefinition
  taskId: string
  offer: OfferView
  /** From the launch: host ports in port-mapping (or definition) order. */
  hostPorts: readonly number[]
  /** The app's service ports; used for PORT_<port> when a port definition's port is 0. */
  servicePorts: readonly number[]
  /** Marathon's --env_vars_prefix: prefixes the port variables and HOST. */
  envVarsPrefix?: string
}

/** Environment variables Marathon gives a task; the app's own `env` wins over generated ones. */
export function taskEnvironment(input: BuildTaskInfoInput): Record<string, string> {
  const { app } = input
  const env: Record<string, string> = {}
  const set = (entries: Iterable<[string, string]>, prefix = ''): void => {
    for (const [k, v] of entries) env[prefix + k] = v
  }
  const docker = app.container?.type === 'DOCKER' ? app.container.docker : undefined
  set([
    ['MESOS_TASK_ID', input.taskId],
    ['MARATHON_APP_ID', app.id],
    ['MARATHON_APP_VERSION', app.version],
    ...(docker ? [['MARATHON_APP_DOCKER_IMAGE', docker.image] as [string, string]] : []),
    ['MARATHON_APP_RESOURCE_CPUS', scalaDouble(app.cpus)],
    ['MARATHON_APP_RESOURCE_MEM', scalaDouble(app.mem)],
    ['MARATHON_APP_RESOURCE_DISK', scalaDouble(app.disk)],
    ['MARATHON_APP_RESOURCE_GPUS', String(Math.trunc(app.gpus))],
  ])
  set(labelsEnv(app.labels))
  const requested: PortRequestEnv[] = hasPortMappings(app)
    ? (app.container?.portMappings ?? []).map((m) => ({ name: m.name, port: m.containerPort }))
    : app.portDefinitions.map((d, i) => ({ name: d.name, port: d.port !== 0 ? d.port : (input.servicePorts[i] ?? 0) }))
  const prefix = input.envVarsPrefix ?? ''
  set(portsEnv(requested, alignHostPorts(app, input.hostPorts)), prefix)
  set([['HOST', input.offer.hostname]], prefix)
  set(Object.entries(app.env))
  return env
}

function commandInfo(app: AppDefinition, env: Record<string, string>): WireCommand {
  const command: WireCommand = {
    shell: true,
    arguments: [],
    environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
    uris: app.fetch.map((f) => ({
      value: f.uri,
      extract: f.extract,
      executable: f.executable,
      cache: f.cache,
      ...(f.destPath !== undefined ? { output_file: f.destPath } : {}),
    })),
  }
  if (app.cmd !== undefined && app.cmd !== '') command.value = app.cmd
  else command.shell = false
  // args win over cmd; the command executor wants argv[0] as the value when there is no container.
  if (app.args !== undefined && app.args.length > 0) {
    command.shell = false
    command.arguments = [...app.args]
    if (app.container === undefined) command.value = app.args[0]!
    else delete command.value
  }
  if (app.user !== undefined) command.user = app.user
  return command
}

function resources(app: AppDefinition, offer: OfferView, hostPorts: readonly number[]): WireResource[] {
  const alloc = { role: '*', allocation_info: { role: offer.role } }
  const out: WireResource[] = []
  const scalar = (name: string, value: number): void => {
    if (value > 0) out.push({ name, type: 'SCALAR', scalar: { value }, ...alloc })
  }
  scalar('cpus', app.cpus)
  scalar('mem', app.mem)
  scalar('disk', app.disk)
  scalar('gpus', app.gpus)
  if (hostPorts.length > 0) {
    out.push({ name: 'ports', type: 'RANGES', ranges: { range: valuesToRanges(hostPorts).map((r) => ({ begin: r.begin, end: r.end })) }, ...alloc })
  }
  return out
}

/** Protocol strings like "udp,tcp" become one entry per protocol, as Marathon does. */
function protocols(p: string): string[] {
  return p.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

function wireLabels(labels: Readonly<Record<string, string>>): { labels: Array<{ key: string; value: string }> } {
  return { labels: Object.entries(labels).map(([key, value]) => ({ key, value })) }
}

/** The mapping with its host port bound, and container port 0 replaced by that host port. */
function boundMappings(app: AppDefinition, aligned: ReadonlyArray<number | undefined>): Array<PortMapping & { hostPort: number }> {
  const out: Array<PortMapping & { hostPort: number }> = []
  ;(app.container?.portMappings ?? []).forEach((m, i) => {
    const host = aligned[i]
    if (host === undefined) return
    out.push({ ...m, hostPort: host, containerPort: m.containerPort === 0 ? host : m.containerPort })
  })
  return out
}

function containerInfo(app: AppDefinition, taskId: string, aligned: ReadonlyArray<number | undefined>): WireContainer | undefined {
  const c = app.container
  if (c === undefined && isHostNetworking(app)) return undefined
  const bound = boundMappings(app, aligned)
  const volumes = (c?.volumes ?? []).map((v) => ({ container_path: v.containerPath, host_path: v.hostPath, mode: v.mode }))
  const containerNetworks = app.networks.filter((n) => n.mode === 'container')
  if (c?.type === 'DOCKER' && c.docker) {
    // The last network decides, as in ContainerSerializer; no networks means host.
    const last = app.networks[app.networks.length - 1]
    const network = last?.mode === 'container' ? 'USER' : last?.mode === 'container/bridge' ? 'BRIDGE' : 'HOST'
    const info: WireContainer = {
      type: 'DOCKER',
      docker: {
        image: c.docker.image,
        network,
        port_mappings: bound.flatMap((m) => protocols(m.protocol).map((protocol) => ({ host_port: m.hostPort, container_port: m.containerPort, protocol }))),
        privileged: c.docker.privileged,
        parameters: [...c.docker.parameters, { key: 'label', value: `MESOS_TASK_ID=${taskId}` }],
        force_pull_image: c.docker.forcePullImage,
      },
      volumes,
    }
    const named = containerNetworks.find((n) => n.name !== undefined)
    if (named?.name !== undefined) info['network_infos'] = [{ name: named.name }]
    return info
  }
  // The Mesos containerizer: optional Docker image, and a NetworkInfo per non-host network.
  const info: WireContainer = { type: 'MESOS', volumes }
  info['mesos'] = c?.docker ? { image: { type: 'DOCKER', docker: { name: c.docker.image }, cached: !c.docker.forcePullImage } } : {}
  const networkInfos = app.networks
    .filter((n) => n.mode !== 'host')
    .map((n) => ({
      name: n.mode === 'container/bridge' ? 'mesos-bridge' : (n.name ?? ''),
      ip_addresses: [{}],
      ...(n.labels && Object.keys(n.labels).length > 0 ? { labels: wireLabels(n.labels) } : {}),
      port_mappings: bound.flatMap((m) => protocols(m.protocol).map((protocol) => ({ host_port: m.hostPort, container_port: m.containerPort, protocol }))),
    }))
  if (networkInfos.length > 0) info['network_infos'] = networkInfos
  return info
}

/**
 * The port a Mesos health check probes: its fixed `port`, else the port at `portIndex` (0 when
 * unset). Mesos probes from inside the container's network, so a mapping's container port comes
 * before its host port (MesosHealthCheckWithPorts.effectivePort).
 */
function healthCheckPort(
  check: AppDefinition['healthChecks'][number],
  app: AppDefinition,
  aligned: ReadonlyArray<number | undefined>,
): number | undefined {
  if (check.port !== undefined) return check.port
  const index = check.portIndex ?? 0
  if (hasPortMappings(app)) {
    const m = app.container?.portMappings?.[index]
    if (m === undefined) return undefined
    const host = aligned[index]
    if (m.containerPort !== 0) return m.containerPort
    return host
  }
  return aligned[index]
}

/** The first Mesos-run health check (Mesos takes one); Marathon-run HTTP/HTTPS/TCP checks stay out. */
function healthCheckInfo(app: AppDefinition, aligned: ReadonlyArray<number | undefined>): WireHealthCheck | undefined {
  for (const check of app.healthChecks) {
    const timing = {
      delay_seconds: check.delaySeconds,
      interval_seconds: check.intervalSeconds,
      timeout_seconds: check.timeoutSeconds,
      consecutive_failures: check.maxConsecutiveFailures,
      grace_period_seconds: check.gracePeriodSeconds,
    }
    switch (check.protocol) {
      case 'COMMAND':
        if (check.command === undefined) continue
        return { type: 'COMMAND', command: { value: check.command.value, shell: true, arguments: [], uris: [] }, ...timing }
      case 'MESOS_HTTP':
      case 'MESOS_HTTPS': {
        const port = healthCheckPort(check, app, aligned)
        if (port === undefined) continue
        const scheme = check.protocol === 'MESOS_HTTP' ? 'http' : 'https'
        return { type: 'HTTP', http: { port, path: check.path ?? '/', scheme }, ...timing }
      }
      case 'MESOS_TCP': {
        const port = healthCheckPort(check, app, aligned)
        if (port === undefined) continue
        return { type: 'TCP', tcp: { port }, ...timing }
      }
      default:
        continue
    }
  }
  return undefined
}

interface DiscoveryPort {
  number: number
  protocol: string
  name?: string
  labels?: { labels: Array<{ key: string; value: string }> }
}

/** DiscoveryInfo as Marathon sets it, which Mesos-DNS reads (PortDiscovery.generateForApp). */
function discoveryInfo(app: AppDefinition, aligned: ReadonlyArray<number | undefined>): Record<string, unknown> {
  const ports: DiscoveryPort[] = []
  const port = (number: number, protocol: string, name: string | undefined, labels: Record<string, string>): DiscoveryPort => ({
    number,
    protocol,
    ...(name !== undefined ? { name } : {}),
    ...(Object.keys(labels).length > 0 ? { labels: wireLabels(labels) } : {}),
  })
  if (isHostNetworking(app) && !hasPortMappings(app)) {
    app.portDefinitions.forEach((d, i) => {
      const host = aligned[i]
      if (host === undefined) return
      for (const p of protocols(d.protocol)) ports.push(port(host, p, d.name, d.labels ?? {}))
    })
  } else {
    const networkNames = app.networks.flatMap((n) => (n.mode === 'container' && n.name !== undefined ? [n.name] : []))
    ;(app.container?.portMappings ?? []).forEach((m, i) => {
      const host = aligned[i]
      for (const p of protocols(m.protocol)) {
        if (host !== undefined) ports.push(port(host, p, m.name, { ...m.labels, 'network-scope': 'host' }))
        else for (const net of networkNames) ports.push(port(m.containerPort, p, m.name, { ...m.labels, 'network-scope': 'container', 'network-name': net }))
      }
    })
  }
  return { visibility: 'FRAMEWORK', name: appHostname(app.id), ports: { ports } }
}

/** The Mesos TaskInfo (wire JSON) for one launch. */
export function buildTaskInfo(input: BuildTaskInfoInput): TaskInfo {
  const { app, offer } = input
  const aligned = alignHostPorts(app, input.hostPorts)
  const task: TaskInfo = {
    name: appHostname(app.id),
    task_id: { value: input.taskId },
    agent_id: { value: offer.agentId },
    resources: resources(app, offer, input.hostPorts),
    command: commandInfo(app, taskEnvironment(input)),
  }
  const container = containerInfo(app, input.taskId, aligned)
  if (container) task.container = container
  const health = healthCheckInfo(app, aligned)
  if (health) task.health_check = health
  if (app.taskKillGracePeriodSeconds !== undefined) {
    task.kill_policy = { grace_period: { nanoseconds: Math.round(app.taskKillGracePeriodSeconds * 1e9) } }
  }
  if (Object.keys(app.labels).length > 0) task.labels = wireLabels(app.labels)
  task['discovery'] = discoveryInfo(app, aligned)
  return task
}
