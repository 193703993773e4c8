// Resources as the Mesos v0 JSON endpoints of master and agent write them.
import type { Resources } from '../core/resources.js'

/** A flat object: {"cpus":1,"mem":128,"disk":0,"gpus":0,"ports":"[31000-31001]"}. */
export function v0Resources(r: Resources): Record<string, number | string> {
  const out: Record<string, number | string> = { cpus: 0, mem: 0, disk: 0, gpus: 0 }
  for (const [k, v] of Object.entries(r.scalars)) out[k] = v
  for (const [k, v] of Object.entries(r.ranges)) out[k] = `[${v.map((x) => `${x.begin}-${x.end}`).join(', ')}]`
  return out
}
