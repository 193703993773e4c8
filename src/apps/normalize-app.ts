// App definitions at the REST boundary: Marathon's app JSON (including the pre-1.5 fields that
// clients still send) is parsed once here, migrated, defaulted and validated into an
// AppDefinition; everything after this trusts the result. Validation failures come back as
// Marathon's 422 details, with Marathon's paths (`/healthChecks(0)/portIndex`) and, where
// Marathon has one, its message text.
//
// The pipeline follows Marathon's AppNormalization/AppValidation: JSON shape (zod) ->
// deprecated-API checks -> migration to the canonical 1.5 API -> defaults -> canonical
// validation. The one deliberate difference from Marathon: a DOCKER app without `networks`
// gets bridge networking, with its port definitions turned into port mappings.
//
// The wire schema is Marathon's, in api/marathon.ts; the rules are in app-validation.ts.
import { configDiffers } from './plan.js'
import { AppDefaults, AppSchema, dropNulls, isJsonObject } from '../api/marathon.js'
import type { AppWire, ContainerWire, HealthCheckWire, NetworkWire, PortDefinitionWire, PortMappingWire } from '../api/marathon.js'
import { appToJson } from './app-json.js'
import { parseConstraint, validateCanonical, validateDeprecated } from './app-validation.js'
import type { ValidationDetail } from './errors.js'
import { AppValidationError } from './errors.js'
import { canonicalSegments, parseAppId, pathIdErrors } from './ids.js'
import type {
  AppDefinition,
  AppHealthCheck,
  Constraint,
  ContainerSpec,
  FetchUri,
  HealthProtocol,
  Network,
  PortDefinition,
  PortMapping,
  Protocol,
  ReadinessCheck,
  UnreachableStrategy,
  Volume,
} from './types.js'
import { collectZodIssues, joinPath, Violations } from './violations.js'

// ---------------------------------------------------------------------------------------------
// Marathon's port and networking defaults

/** Marathon's DefaultPortDefinitions: one dynamic port named "default". */
const defaultPortDefinitions = (): PortDefinition[] => [{ port: 0, protocol: 'tcp', name: 'default' }]
/** Marathon's DefaultPortMappings. */
const defaultPortMapping = (hostPort: number | undefined): PortMapping => ({
  containerPort: 0,
  ...(hostPort !== undefined ? { hostPort } : {}),
  servicePort: 0,
  protocol: 'tcp',
  name: 'default',
})
/** Marathon's mesos_bridge_name default: an ipAddress naming it asks for bridge networking. */
const MESOS_BRIDGE_NAME = 'mesos-bridge'
/** FetchUri.isExtract: archives Mesos can unpack. */
const EXTRACTABLE = ['.tgz', '.tar.gz', '.tbz2', '.tar.bz2', '.txz', '.tar.xz', '.zip']

// ---------------------------------------------------------------------------------------------
// normalizeApp

export interface NormalizeAppOptions {
  /** The version this definition gets (ISO-8601). */
  now: string
  /** The app as it is now, for PUT: versionInfo carries over, and with `partial` the body is merged onto it. */
  existing?: AppDefinition
  /** PUT semantics of Marathon's default: fields absent from the body keep their current value. */
  partial?: boolean
  /** The id from the URL (`PUT /v2/apps/{id}`); a body id must name the same app. */
  idFromPath?: string
  /** Relative ids and dependencies resolve against this group (default `/`). */
  base?: string
}

export type NormalizeAppResult = { ok: true; app: AppDefinition } | { ok: false; details: ValidationDetail[] }

export function normalizeApp(raw: unknown, opts: NormalizeAppOptions): NormalizeAppResult {
  const v = new Violations()
  const app = normalizeAppInto(raw, opts, v, '')
  return app && v.empty ? { ok: true, app } : { ok: false, details: v.details() }
}

/** normalizeApp that throws AppValidationError (422) instead of returning details. */
export function parseAppOrThrow(raw: unknown, opts: NormalizeAppOptions): AppDefinition {
  const r = normalizeApp(raw, opts)
  if (!r.ok) throw new AppValidationError(r.details)
  return r.app
}

/**
 * A partial update replaces the top-level fields it names. A deprecated field in the body replaces
 * its canonical successor (`ports` -> portDefinitions, `uris` -> fetch, `ipAddress` and
 * `docker.network` -> networks), and a change of ports or networks without a container re-derives
 * the port mappings instead of keeping the old ones.
 */
function mergePartial(existing: AppDefinition, body: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...(appToJson(existing) as unknown as Record<string, unknown>), ...body }
  const has = (k: string) => Object.prototype.hasOwnProperty.call(body, k)
  if (has('uris') && !has('fetch')) delete merged.fetch
  if (has('ports') && !has('portDefinitions')) delete merged.portDefinitions
  const container = body.container
  const dockerNetwork = isJsonObject(container) && isJsonObject(container.docker) && container.docker.network !== undefined
  if ((has('ipAddress') || dockerNetwork) && !has('networks')) delete merged.networks
  if (!has('container') && isJsonObject(merged.container) && (has('ports') || has('portDefinitions') || has('networks') || has('ipAddress'))) {
    const { portMappings: _dropped, ...rest } = merged.container
    merged.container = rest
  }
  return merged
}

export function normalizeAppInto(raw: unknown, opts: NormalizeAppOptions, v: Violations, prefix: string): AppDefinition | undefined {
  if (!isJsonObject(raw)) {
    v.add(joinPath(prefix, '/'), 'error.expected.jsobject')
    return undefined
  }
  let body = dropNulls(raw) as Record<string, unknown>
  if (opts.partial && opts.existing) body = mergePartial(opts.existing, body)
  const parsed = AppSchema.safeParse(body, { reportInput: true })
  if (!parsed.success) {
    collectZodIssues(parsed.error.issues, [], v, prefix)
    return undefined
  }
  const local = new Violations()
  const app = buildApp(parsed.data, opts, local)
  v.addAll(local.details(), prefix)
  return local.empty ? app : undefined
}

function buildApp(w: AppWire, opts: NormalizeAppOptions, v: Violations): AppDefinition | undefined {
  const base = opts.base ?? '/'

  // --- id
  const target = opts.idFromPath !== undefined ? parseAppId(opts.idFromPath) : opts.existing?.id
  let id = '/'
  if (w.id === undefined) {
    if (target === undefined) v.add('/id', 'error.path.missing')
    else id = target
  } else {
    const segs = canonicalSegments(w.id, base)
    id = '/' + segs.join('/')
    for (const e of pathIdErrors(segs, true)) v.add('/id', e)
    if (target !== undefined && target !== id) v.add('/id', `'${target}' does not match definition's id ('${id}')`)
  }

  // --- the deprecated API, checked before it is migrated (Marathon's validateOldAppAPI)
  validateDeprecated(w, v)
  if (!v.empty) return undefined

  // --- migrate to the canonical API and fill defaults
  const fetch: FetchUri[] =
    w.uris && w.uris.length > 0
      ? w.uris.map((uri) => ({ uri, extract: isExtract(uri), executable: false, cache: false }))
      : (w.fetch ?? []).map((f) => ({
          uri: f.uri,
          extract: f.extract ?? true,
          executable: f.executable ?? false,
          cache: f.cache ?? false,
          ...(f.destPath !== undefined ? { destPath: f.destPath } : {}),
        }))

  const givenContainer: ContainerWire | undefined = w.container ?? (w.ipAddress ? { type: 'MESOS' } : undefined)
  const containerType = givenContainer ? (givenContainer.type ?? 'DOCKER') : undefined
  let networks = translateNetworks(w, v)
  if (!v.empty) return undefined
  const defaultedBridge = networks.length === 0 && containerType === 'DOCKER'
  if (networks.length === 0) networks = defaultedBridge ? [{ mode: 'container/bridge' }] : [{ mode: 'host' }]
  const hostMode = networks.some((n) => n.mode === 'host')
  const bridgeMode = networks.some((n) => n.mode === 'container/bridge')

  const requirePortsGiven = w.requirePorts ?? false
  const migratedPortDefinitions: PortDefinitionWire[] | undefined = w.portDefinitions ?? w.ports?.map((p) => ({ port: p }))

  // Port mappings given anywhere: container.portMappings, the old docker.portMappings, or ipAddress.discovery.
  let givenMappings: PortMappingWire[] | undefined = givenContainer?.portMappings
  if (givenMappings === undefined && givenContainer?.docker?.portMappings !== undefined) givenMappings = givenContainer.docker.portMappings
  const discoveryPorts = w.ipAddress?.discovery?.ports
  if (givenMappings === undefined && containerType === 'MESOS' && discoveryPorts && discoveryPorts.length > 0) {
    givenMappings = discoveryPorts.map((p) => ({
      containerPort: p.number ?? 0,
      name: p.name,
      ...(p.protocol !== undefined ? { protocol: p.protocol } : {}),
      ...(p.labels !== undefined ? { labels: p.labels } : {}),
    }))
  }

  let portDefinitions: PortDefinition[] = []
  let portMappings: PortMapping[] | undefined
  if (hostMode) {
    portDefinitions = migratedPortDefinitions ? migratedPortDefinitions.map(toPortDefinition) : defaultPortDefinitions()
    if (givenMappings && givenMappings.length > 0) v.add('/', 'portMappings are not allowed with host-networking')
  } else {
    const hostPortDefault = bridgeMode ? 0 : undefined
    if (givenMappings) portMappings = givenMappings.map((m) => toPortMapping(m, hostPortDefault))
    else if (migratedPortDefinitions) {
      // A port definition asked for a (service) port; in bridge mode it becomes a mapping whose
      // container port follows the dynamic host port, or the fixed one if requirePorts said so.
      portMappings = migratedPortDefinitions.map((d) => {
        const pd = toPortDefinition(d)
        const hostPort = bridgeMode ? (requirePortsGiven ? pd.port : 0) : undefined
        return {
          containerPort: 0,
          ...(hostPort !== undefined ? { hostPort } : {}),
          servicePort: pd.port,
          protocol: pd.protocol,
          ...(pd.name !== undefined ? { name: pd.name } : {}),
          ...(pd.labels !== undefined ? { labels: pd.labels } : {}),
        }
      })
    } else portMappings = [defaultPortMapping(hostPortDefault)]
  }

  const container: ContainerSpec | undefined =
    givenContainer || !hostMode ? buildContainer(givenContainer, containerType ?? 'MESOS', portMappings) : undefined

  const appPortCount = hostMode ? portDefinitions.length : (portMappings?.length ?? 0)
  const healthChecks = (w.healthChecks ?? []).map((hc, i) => buildHealthCheck(hc, i, appPortCount, v))
  const readinessChecks: ReadinessCheck[] = (w.readinessChecks ?? []).map((rc) => {
    const d = AppDefaults.readinessCheck
    return {
      name: rc.name ?? d.name,
      protocol: rc.protocol ?? d.protocol,
      path: rc.path ?? d.path,
      portName: rc.portName ?? d.portName,
      intervalSeconds: rc.intervalSeconds ?? d.intervalSeconds,
      timeoutSeconds: rc.timeoutSeconds ?? d.timeoutSeconds,
      httpStatusCodesForReady: rc.httpStatusCodesForReady ?? [...d.httpStatusCodesForReady],
      preserveLastResponse: rc.preserveLastResponse ?? d.preserveLastResponse,
    }
  })

  const env: Record<string, string> = {}
  for (const [k, val] of Object.entries(w.env ?? {})) {
    if (typeof val === 'string') env[k] = val
    else if (isJsonObject(val) && 'secret' in val) v.add(`/env/${k}`, 'use of secret-references in the environment requires the secrets feature to be enabled')
    else v.add(`/env/${k}`, 'error.expected.jsstring')
  }

  const constraints: Constraint[] = []
  ;(w.constraints ?? []).forEach((c, i) => {
    const parsed = parseConstraint(c)
    if (typeof parsed === 'string') v.add(`/constraints(${i})`, parsed)
    else constraints.push(parsed)
  })

  const unreachableStrategy: UnreachableStrategy =
    w.unreachableStrategy === 'disabled'
      ? 'disabled'
      : {
          inactiveAfterSeconds: w.unreachableStrategy?.inactiveAfterSeconds ?? AppDefaults.unreachableStrategy.inactiveAfterSeconds,
          expungeAfterSeconds: w.unreachableStrategy?.expungeAfterSeconds ?? AppDefaults.unreachableStrategy.expungeAfterSeconds,
        }

  const dependencies: string[] = []
  ;(w.dependencies ?? []).forEach((dep, i) => {
    const segs = canonicalSegments(dep, base)
    for (const e of pathIdErrors(segs, false)) v.add(`/dependencies(${i})`, e)
    dependencies.push('/' + segs.join('/'))
  })

  const args = w.args && w.args.length > 0 ? w.args : undefined
  const draft: Omit<AppDefinition, 'version' | 'versionInfo'> = {
    id,
    ...(w.cmd !== undefined ? { cmd: w.cmd } : {}),
    ...(args !== undefined ? { args: [...args] } : {}),
    ...(w.user !== undefined ? { user: w.user } : {}),
    instances: w.instances ?? AppDefaults.instances,
    cpus: w.cpus ?? AppDefaults.cpus,
    mem: w.mem ?? AppDefaults.mem,
    disk: w.disk ?? AppDefaults.disk,
    gpus: w.gpus ?? AppDefaults.gpus,
    env,
    labels: { ...(w.labels ?? {}) },
    constraints,
    ...(w.acceptedResourceRoles !== undefined ? { acceptedResourceRoles: [...w.acceptedResourceRoles] } : {}),
    ...(w.role !== undefined ? { role: w.role } : {}),
    ...(container !== undefined ? { container } : {}),
    networks,
    portDefinitions,
    // requirePorts only means something for host networking.
    requirePorts: hostMode ? requirePortsGiven : false,
    healthChecks,
    readinessChecks,
    upgradeStrategy: {
      minimumHealthCapacity: w.upgradeStrategy?.minimumHealthCapacity ?? AppDefaults.upgradeStrategy.minimumHealthCapacity,
      maximumOverCapacity: w.upgradeStrategy?.maximumOverCapacity ?? AppDefaults.upgradeStrategy.maximumOverCapacity,
    },
    backoffSeconds: w.backoffSeconds ?? AppDefaults.backoffSeconds,
    backoffFactor: w.backoffFactor ?? AppDefaults.backoffFactor,
    maxLaunchDelaySeconds: w.maxLaunchDelaySeconds ?? AppDefaults.maxLaunchDelaySeconds,
    killSelection: w.killSelection ?? AppDefaults.killSelection,
    unreachableStrategy,
    ...(w.taskKillGracePeriodSeconds !== undefined ? { taskKillGracePeriodSeconds: w.taskKillGracePeriodSeconds } : {}),
    dependencies,
    fetch,
  }

  validateCanonical(draft, w, givenContainer, v)
  if (!v.empty) return undefined

  return { ...draft, version: opts.now, versionInfo: versionInfoFor(draft, opts.existing, opts.now) }
}

function isExtract(uri: string): boolean {
  let path = uri
  try {
    path = new URL(uri).pathname
  } catch {
    path = uri.split(/[?#]/)[0] ?? uri
  }
  return EXTRACTABLE.some((ext) => path.endsWith(ext))
}

/** Marathon's NetworkTranslation: the 1.4 `ipAddress` / `docker.network` become `networks`. */
function translateNetworks(w: AppWire, v: Violations): Network[] {
  const dockerNetwork = w.container?.docker?.network
  const ip = w.ipAddress
  const labels = ip?.labels !== undefined && Object.keys(ip.labels).length > 0 ? { labels: { ...ip.labels } } : {}
  if (dockerNetwork !== undefined) {
    switch (dockerNetwork) {
      case 'HOST':
        return [{ mode: 'host' }]
      case 'BRIDGE':
        return [{ mode: 'container/bridge', ...labels }]
      case 'USER':
        return [{ mode: 'container', ...(ip?.networkName !== undefined ? { name: ip.networkName } : {}), ...labels }]
      case 'NONE':
        v.add('/container/docker/network', 'unsupported docker network type NONE')
        return []
    }
  }
  if (ip) {
    if (ip.networkName === MESOS_BRIDGE_NAME) return [{ mode: 'container/bridge', ...labels }]
    return [{ mode: 'container', ...(ip.networkName !== undefined ? { name: ip.networkName } : {}), ...labels }]
  }
  return (w.networks ?? []).map((n: NetworkWire) => ({
    mode: n.mode ?? 'container',
    ...(n.name !== undefined ? { name: n.name } : {}),
    ...(n.labels !== undefined ? { labels: { ...n.labels } } : {}),
  }))
}

function toPortDefinition(d: PortDefinitionWire): PortDefinition {
  return {
    port: d.port ?? 0,
    protocol: (d.protocol ?? 'tcp') as Protocol,
    ...(d.name !== undefined ? { name: d.name } : {}),
    ...(d.labels !== undefined ? { labels: { ...d.labels } } : {}),
  }
}

function toPortMapping(m: PortMappingWire, hostPortDefault: number | undefined): PortMapping {
  const hostPort = m.hostPort ?? hostPortDefault
  return {
    containerPort: m.containerPort ?? 0,
    ...(hostPort !== undefined ? { hostPort } : {}),
    servicePort: m.servicePort ?? 0,
    protocol: (m.protocol ?? 'tcp') as Protocol,
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.labels !== undefined ? { labels: { ...m.labels } } : {}),
  }
}

function buildContainer(c: ContainerWire | undefined, type: 'DOCKER' | 'MESOS', portMappings: PortMapping[] | undefined): ContainerSpec {
  const volumes: Volume[] = (c?.volumes ?? []).map((vol) => ({
    containerPath: vol.containerPath,
    hostPath: vol.hostPath ?? '',
    mode: vol.mode ?? 'RW',
  }))
  const d = c?.docker
  return {
    type,
    ...(d
      ? {
          docker: {
            image: d.image,
            forcePullImage: d.forcePullImage ?? false,
            privileged: d.privileged ?? false,
            parameters: (d.parameters ?? []).map((p) => ({ key: p.key, value: p.value })),
          },
        }
      : {}),
    ...(portMappings !== undefined ? { portMappings } : {}),
    volumes,
  }
}

function buildHealthCheck(hc: HealthCheckWire, i: number, portCount: number, v: Violations): AppHealthCheck {
  const d = AppDefaults.healthCheck
  // Old clients send {command: {...}} without a protocol; a command means COMMAND.
  const protocol: HealthProtocol = hc.protocol ?? (hc.command !== undefined ? 'COMMAND' : 'HTTP')
  if (protocol === 'COMMAND' && hc.command === undefined) v.add(`/healthChecks(${i})/command`, 'error.path.missing')
  if (protocol !== 'COMMAND' && hc.command !== undefined) v.add(`/healthChecks(${i})/protocol`, `illegal protocol ${protocol} specified with command`)
  // Marathon re-adds portIndex 0 (once the default) when neither port nor portIndex is given.
  const portIndex = hc.portIndex ?? (protocol !== 'COMMAND' && hc.port === undefined && portCount > 0 ? 0 : undefined)
  return {
    protocol,
    ...(hc.path !== undefined ? { path: hc.path } : {}),
    ...(portIndex !== undefined && protocol !== 'COMMAND' ? { portIndex } : {}),
    ...(hc.port !== undefined && protocol !== 'COMMAND' ? { port: hc.port } : {}),
    ...(hc.command !== undefined && protocol === 'COMMAND' ? { command: { value: hc.command.value } } : {}),
    gracePeriodSeconds: hc.gracePeriodSeconds ?? d.gracePeriodSeconds,
    intervalSeconds: hc.intervalSeconds ?? d.intervalSeconds,
    timeoutSeconds: hc.timeoutSeconds ?? d.timeoutSeconds,
    maxConsecutiveFailures: hc.maxConsecutiveFailures ?? d.maxConsecutiveFailures,
    delaySeconds: hc.delaySeconds ?? d.delaySeconds,
    ...(hc.ignoreHttp1xx !== undefined ? { ignoreHttp1xx: hc.ignoreHttp1xx } : {}),
    ...(hc.ipProtocol !== undefined ? { ipProtocol: hc.ipProtocol } : {}),
  }
}

// --- versions

/** Marathon's VersionInfo: a change that restarts nothing keeps lastConfigChangeAt. */
function versionInfoFor(
  app: Omit<AppDefinition, 'version' | 'versionInfo'>,
  existing: AppDefinition | undefined,
  now: string,
): AppDefinition['versionInfo'] {
  if (!existing || configDiffers(existing, app)) return { lastScalingAt: now, lastConfigChangeAt: now }
  return { lastScalingAt: now, lastConfigChangeAt: existing.versionInfo.lastConfigChangeAt }
}
