// The text/plain form of GET /v2/tasks and GET /v2/apps/{id}/tasks (Marathon's
// EndpointsHelper, as in 1.10): for each app, one line per service port,
//
//   <app id with '/' as '_'>\t<service port>\t<host>:<host port>\t<host>:<host port>\t...
//
// with one `host:port` column per running instance. An app without service ports gets one
// line with ' ' as its port and the running instances' hosts. Ports of container networks
// (no host port) show as `<container ip>:<container port>`, only for the networks named in
// ?containerNetworks= (`*` for all).
import { servicePortsOf } from './service-ports.js'
import type { AppDefinition, Instance } from './types.js'
import { Condition } from './types.js'

/** The app id as Marathon's PathId.safePath writes it: `/prod/web` → `prod_web`. */
export function safePath(appId: string): string {
  return appId.split('/').filter(Boolean).join('_')
}

/** ?containerNetworks=a,b (comma-separated; `*` names every network). */
export function parseContainerNetworks(param: string | null): (name: string) => boolean {
  const names = new Set((param ?? '').split(','))
  return names.has('*') ? () => true : (name) => names.has(name)
}

export function endpointsText(opts: {
  readonly apps: readonly AppDefinition[]
  readonly instancesOf: (appId: string) => readonly Instance[]
  readonly containerNetwork?: (name: string) => boolean
}): string {
  const includeNetwork = opts.containerNetwork ?? parseContainerNetworks(null)
  let out = ''
  for (const app of opts.apps) {
    const running = opts.instancesOf(app.id).filter((i) => i.condition === Condition.Running)
    const id = safePath(app.id)
    const servicePorts = servicePortsOf(app)
    if (servicePorts.length === 0) {
      out += `${id}\t \t${running.map((i) => `${i.host}\t`).join('')}\n`
      continue
    }
    servicePorts.forEach((servicePort, index) => {
      out += `${id}\t${servicePort}\t${running.map((i) => endpointColumns(app, i, index, includeNetwork)).join('')}\n`
    })
  }
  return out
}

/** The `address:port\t` of one instance for the app's index-th port, or '' when it has none. */
function endpointColumns(app: AppDefinition, inst: Instance, index: number, includeNetwork: (name: string) => boolean): string {
  const hostNetworking = app.networks.length === 0 || app.networks.some((n) => n.mode === 'host')
  const mapping = hostNetworking ? undefined : app.container?.portMappings?.[index]
  if (mapping && mapping.hostPort === undefined) {
    // A container network port: the instance's own address and the container port.
    const networkNames = app.networks.filter((n) => n.mode === 'container').map((n) => n.name ?? '')
    const address = inst.ipAddresses[0]?.ipAddress
    if (!networkNames.some(includeNetwork) || address === undefined) return ''
    return `${address}:${mapping.containerPort}\t`
  }
  // The instance's host ports hold one entry per mapping that has a host port.
  const hostPortIndex = mapping ? (app.container?.portMappings ?? []).slice(0, index).filter((m) => m.hostPort !== undefined).length : index
  const hostPort = inst.hostPorts[hostPortIndex]
  return hostPort === undefined ? '' : `${inst.host}:${hostPort}\t`
}

/** The q-value an Accept header gives a media type: its best match, `type/*` and `*\/*` included. */
function acceptQuality(accept: string, mediaType: string): number {
  const [type] = mediaType.split('/')
  let best = 0
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase())
    if (range !== mediaType && range !== `${type}/*` && range !== '*/*') continue
    const q = params.find((p) => p.startsWith('q='))
    best = Math.max(best, q ? Number(q.slice(2)) || 0 : 1)
  }
  return best
}

/**
 * Whether a tasks request asks for the text form. Marathon offers text/plain at a tenth of
 * JSON's quality (qs=0.1), so text wins only when the client prefers it that strongly.
 */
export function prefersText(accept: string | undefined): boolean {
  if (!accept) return false
  return acceptQuality(accept, 'text/plain') * 0.1 > acceptQuality(accept, 'application/json')
}
