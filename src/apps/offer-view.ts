// An offer as placement sees it: resources as plain numbers, attributes as the strings
// constraints compare.
import type { OfferWire } from '../api/mesos.js'
import { resourcesFromWire } from '../api/mesos.js'
import { normalizeRanges } from '../core/resources.js'
import { formatScalar, REGION_FIELD, ZONE_FIELD } from './constraints.js'
import type { OfferView } from './types.js'

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
