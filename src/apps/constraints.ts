// Marathon's placement constraints (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS) over an
// offer and the instances already placed: pure functions.
import type { AppDefinition, Constraint, Instance, OfferView } from './types.js'

/** Agent attributes by agent id, for constraints over instances that are already running. */
export type AgentAttributes = Readonly<Record<string, Readonly<Record<string, string>>>>

export const REGION_FIELD = '@region'
export const ZONE_FIELD = '@zone'

/**
 * Marathon formats scalar attributes with DecimalFormat("0.###") (marathon:src/main/scala/mesosphere/mesos/Constraints.scala):
 * at most three decimals, no trailing zeros. Half-even rounding is approximated by JS rounding.
 */
export function formatScalar(value: number): string {
  const rounded = Math.round(value * 1000) / 1000
  return Object.is(rounded, -0) ? '0' : String(rounded)
}

/** Where an instance sits, for constraint checks: an Instance, or a launch placed earlier in this pass. */
export type PlacedOn = Pick<Instance, 'agentId' | 'host'>

function isHostnameField(field: string): boolean {
  return field === 'hostname' || field === '@hostname'
}

export function offerFieldValue(offer: OfferView, field: string): string | undefined {
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
