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
import { z } from 'zod'
import type { ValidationDetail } from './errors.js'
import { AppValidationError } from './errors.js'
import type {
  AppDefinition,
  AppHealthCheck,
  Constraint,
  ConstraintOperator,
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

// ---------------------------------------------------------------------------------------------
// Path ids

/** Marathon's rule for one segment of an id (state/PathId.scala). */
const ID_SEGMENT = /^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/
/** The pattern as Marathon prints it in its error message. */
const ID_SEGMENT_PATTERN_TEXT = String.raw`^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$`
const RESERVED_LAST_SEGMENTS = ['restart', 'tasks', 'versions', '.', '..']

function rawSegments(raw: string): string[] {
  return raw.split('/').filter((s) => s.length > 0)
}

/** Absolute, canonical segments of `raw` (relative ids resolved against `base`; `.`/`..` applied; `..` stops at the root). */
function canonicalSegments(raw: string, base = '/'): string[] {
  const input = raw.startsWith('/') ? rawSegments(raw) : [...canonicalSegments(base), ...rawSegments(raw)]
  const out: string[] = []
  for (const s of input) {
    if (s === '.') continue
    if (s === '..') out.pop()
    else out.push(s)
  }
  return out
}

/** Normalizes a Marathon path id: `//a//b/` -> `/a/b`, `b` against base `/a` -> `/a/b`, `/a/./b/../c` -> `/a/c`. */
export function parseAppId(raw: string, base = '/'): string {
  return '/' + canonicalSegments(raw, base).join('/')
}

/** True when every segment of `id` satisfies Marathon's segment rule (`.` and `..` are navigation and allowed). */
export function isValidPathId(id: string): boolean {
  return rawSegments(id).every((s) => s === '.' || s === '..' || ID_SEGMENT.test(s))
}

/** The parent of a canonical absolute id (`/a/b` -> `/a`, `/a` -> `/`). */
export function parentId(id: string): string {
  const segs = canonicalSegments(id)
  return '/' + segs.slice(0, -1).join('/')
}

/** Marathon's pathIdValidator (+ nonEmptyPath) messages for canonical segments. */
function pathIdErrors(segs: readonly string[], requireNonEmpty: boolean): string[] {
  const errors: string[] = []
  if (!segs.every((s) => ID_SEGMENT.test(s))) errors.push(`must fully match regular expression '${ID_SEGMENT_PATTERN_TEXT}'`)
  const last = segs[segs.length - 1]
  if (last !== undefined && RESERVED_LAST_SEGMENTS.includes(last)) {
    errors.push(`must not end with any of the following reserved keywords: ${RESERVED_LAST_SEGMENTS.join(', ')}`)
  }
  if (requireNonEmpty && segs.length === 0) errors.push('Path must contain at least one path element')
  return errors
}

/** Collects (path, message) pairs and renders them as Marathon groups them: one entry per path. */
class Violations {
  private readonly byPath = new Map<string, string[]>()
  add(path: string, message: string): void {
    const list = this.byPath.get(path)
    if (!list) this.byPath.set(path, [message])
    else if (!list.includes(message)) list.push(message)
  }
  addAll(details: readonly ValidationDetail[], prefix = ''): void {
    for (const d of details) for (const e of d.errors) this.add(joinPath(prefix, d.path), e)
  }
  get empty(): boolean {
    return this.byPath.size === 0
  }
  details(): ValidationDetail[] {
    return [...this.byPath].map(([path, errors]) => ({ path, errors: [...errors] }))
  }
}

function joinPath(prefix: string, path: string): string {
  if (prefix === '') return path
  return path === '/' ? prefix : prefix + path
}

/** Marathon renders paths as `/field/sub` with array indices as `(i)`: `/healthChecks(0)/portIndex`. */
function renderPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '/'
  return path.map((p) => (typeof p === 'number' ? `(${p})` : `/${String(p)}`)).join('')
}

// ---------------------------------------------------------------------------------------------
// Defaults

export const AppDefaults = {
  instances: 1,
  cpus: 1,
  mem: 128,
  disk: 0,
  gpus: 0,
  backoffSeconds: 1,
  backoffFactor: 1.15,
  maxLaunchDelaySeconds: 300,
  killSelection: 'YOUNGEST_FIRST',
  upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
  unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
  healthCheck: { gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15 },
  readinessCheck: {
    name: 'readinessCheck',
    protocol: 'HTTP',
    path: '/',
    portName: 'http-api',
    intervalSeconds: 30,
    timeoutSeconds: 10,
    httpStatusCodesForReady: [200],
    preserveLastResponse: false,
  },
} as const

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
// Wire schemas (Marathon's RAML types, loosely: unknown fields are ignored as play-json does)

const LEGACY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const NETWORK_NAME = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/

const port = z.number().int().min(0).max(65535)
const nonNegInt = z.number().int().min(0)
const kvLabels = z.record(z.string(), z.string())
const protocolSchema = z.preprocess(
  (v) => (v === 'tcp,udp' ? 'udp,tcp' : v),
  z.enum(['tcp', 'udp', 'udp,tcp']),
)

const portMappingWire = z.object({
  containerPort: port.optional(),
  hostPort: port.optional(),
  servicePort: port.optional(),
  protocol: protocolSchema.optional(),
  name: z.string().regex(LEGACY_NAME).optional(),
  labels: kvLabels.optional(),
})

const dockerWire = z.object({
  image: z.string(),
  forcePullImage: z.boolean().optional(),
  privileged: z.boolean().optional(),
  parameters: z.array(z.object({ key: z.string().min(1), value: z.string() })).optional(),
  network: z.enum(['BRIDGE', 'HOST', 'NONE', 'USER']).optional(),
  portMappings: z.array(portMappingWire).optional(),
})

const volumeWire = z.object({
  containerPath: z.string(),
  hostPath: z.string().optional(),
  mode: z.enum(['RO', 'RW']).optional(),
  persistent: z.unknown().optional(),
  external: z.unknown().optional(),
  secret: z.unknown().optional(),
})

const containerWire = z.object({
  type: z.enum(['DOCKER', 'MESOS']).optional(),
  docker: dockerWire.optional(),
  portMappings: z.array(portMappingWire).optional(),
  volumes: z.array(volumeWire).optional(),
})

const networkWire = z.object({
  mode: z.enum(['container', 'container/bridge', 'host']).optional(),
  name: z.string().regex(NETWORK_NAME).optional(),
  labels: kvLabels.optional(),
})

const portDefinitionWire = z.object({
  port: port.optional(),
  protocol: protocolSchema.optional(),
  name: z.string().regex(LEGACY_NAME).optional(),
  labels: kvLabels.optional(),
})

const healthCheckWire = z.object({
  protocol: z.enum(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP']).optional(),
  path: z.string().optional(),
  portIndex: port.optional(),
  port: port.optional(),
  command: z.object({ value: z.string() }).optional(),
  gracePeriodSeconds: nonNegInt.optional(),
  intervalSeconds: nonNegInt.optional(),
  timeoutSeconds: nonNegInt.optional(),
  maxConsecutiveFailures: nonNegInt.optional(),
  delaySeconds: nonNegInt.optional(),
  ignoreHttp1xx: z.boolean().optional(),
  ipProtocol: z.enum(['IPv4', 'IPv6']).optional(),
})

const readinessCheckWire = z.object({
  name: z.string().min(1).optional(),
  protocol: z.enum(['HTTP', 'HTTPS']).optional(),
  path: z.string().min(1).optional(),
  portName: z.string().optional(),
  intervalSeconds: nonNegInt.optional(),
  timeoutSeconds: z.number().int().min(1).optional(),
  httpStatusCodesForReady: z.array(z.number().int().min(100).max(999)).min(1).optional(),
  preserveLastResponse: z.boolean().optional(),
})

const fetchWire = z.object({
  uri: z.string(),
  extract: z.boolean().optional(),
  executable: z.boolean().optional(),
  cache: z.boolean().optional(),
  destPath: z.string().optional(),
})

const unreachableWire = z.union([
  z.literal('disabled'),
  z.object({ inactiveAfterSeconds: nonNegInt.optional(), expungeAfterSeconds: nonNegInt.optional() }),
])

const ipAddressWire = z.object({
  discovery: z
    .object({
      ports: z
        .array(
          z.object({
            number: port.optional(),
            name: z.string().regex(LEGACY_NAME),
            protocol: protocolSchema.optional(),
            labels: kvLabels.optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  groups: z.array(z.string()).optional(),
  labels: kvLabels.optional(),
  networkName: z.string().min(1).optional(),
})

// Constraint values are strings in Marathon; a bare number (["hostname", "MAX_PER", 2]) is accepted too.
const constraintItem = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string())

const appWire = z.object({
  id: z.string().optional(),
  cmd: z.string().min(1).optional(),
  args: z.array(z.string()).optional(),
  user: z.string().optional(),
  instances: nonNegInt.optional(),
  cpus: z.number().min(0.001).optional(),
  mem: z.number().min(0).optional(),
  disk: z.number().min(0).optional(),
  gpus: nonNegInt.optional(),
  env: z.record(z.string(), z.unknown()).optional(),
  labels: kvLabels.optional(),
  constraints: z.array(z.array(constraintItem)).optional(),
  acceptedResourceRoles: z.array(z.string()).optional(),
  role: z.string().min(1).optional(),
  container: containerWire.optional(),
  networks: z.array(networkWire).optional(),
  portDefinitions: z.array(portDefinitionWire).optional(),
  ports: z.array(port).optional(),
  requirePorts: z.boolean().optional(),
  healthChecks: z.array(healthCheckWire).optional(),
  readinessChecks: z.array(readinessCheckWire).optional(),
  upgradeStrategy: z
    .object({
      minimumHealthCapacity: z.number().min(0).max(1).optional(),
      maximumOverCapacity: z.number().min(0).max(1).optional(),
    })
    .optional(),
  // Marathon wants whole seconds here; fractions are accepted (dromos tests back off faster).
  backoffSeconds: z.number().min(0).optional(),
  backoffFactor: z.number().min(1).optional(),
  maxLaunchDelaySeconds: z.number().min(0).optional(),
  killSelection: z.enum(['YOUNGEST_FIRST', 'OLDEST_FIRST']).optional(),
  unreachableStrategy: unreachableWire.optional(),
  taskKillGracePeriodSeconds: nonNegInt.optional(),
  dependencies: z.array(z.string()).optional(),
  fetch: z.array(fetchWire).optional(),
  uris: z.array(z.string()).optional(),
  ipAddress: ipAddressWire.optional(),
  secrets: z.record(z.string(), z.unknown()).optional(),
})
type AppWire = z.infer<typeof appWire>
type PortMappingWire = z.infer<typeof portMappingWire>
type PortDefinitionWire = z.infer<typeof portDefinitionWire>
type ContainerWire = z.infer<typeof containerWire>
type NetworkWire = z.infer<typeof networkWire>

/** Turns a zod issue into the message play-json (Marathon's RAML readers) gives for it. */
function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'error.path.missing'
      const byType: Record<string, string> = {
        int: 'error.expected.int',
        number: 'error.expected.jsnumber',
        string: 'error.expected.jsstring',
        boolean: 'error.expected.jsboolean',
        array: 'error.expected.jsarray',
        object: 'error.expected.jsobject',
        record: 'error.expected.jsobject',
      }
      return byType[issue.expected] ?? `error.expected.${issue.expected}`
    }
    case 'too_small':
      if (issue.origin === 'number') return `must be greater than or equal to ${String(issue.minimum)}`
      return 'error.minLength'
    case 'too_big':
      if (issue.origin === 'number') return `is greater than ${String(issue.maximum)}`
      return 'error.maxLength'
    case 'invalid_value':
      return 'error.unknown.enum.literal'
    case 'invalid_format':
      return 'error.pattern'
    default:
      return issue.message
  }
}

function collectZodIssues(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[], v: Violations, prefix: string): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path]
    if (issue.code === 'invalid_union') {
      // Report the branch that got past the type check (e.g. the object form of unreachableStrategy).
      const typed = issue.errors.find((branch) => !branch.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')))
      if (typed) collectZodIssues(typed, path, v, prefix)
      else v.add(joinPath(prefix, renderPath(path)), typeof issue.input === 'string' ? 'error.unknown.enum.literal' : 'error.expected.jsobject')
      continue
    }
    v.add(joinPath(prefix, renderPath(path)), issueMessage(issue))
  }
}

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

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** play-json reads `null` as an absent optional field; so do we (Marathon 1.4 GET output is full of nulls). */
function dropNulls(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(dropNulls)
  if (!isObject(x)) return x
  const out: Record<string, unknown> = {}
  for (const [k, val] of Object.entries(x)) if (val !== null) out[k] = dropNulls(val)
  return out
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
  const dockerNetwork = isObject(container) && isObject(container.docker) && container.docker.network !== undefined
  if ((has('ipAddress') || dockerNetwork) && !has('networks')) delete merged.networks
  if (!has('container') && isObject(merged.container) && (has('ports') || has('portDefinitions') || has('networks') || has('ipAddress'))) {
    const { portMappings: _dropped, ...rest } = merged.container
    merged.container = rest
  }
  return merged
}

function normalizeAppInto(raw: unknown, opts: NormalizeAppOptions, v: Violations, prefix: string): AppDefinition | undefined {
  if (!isObject(raw)) {
    v.add(joinPath(prefix, '/'), 'error.expected.jsobject')
    return undefined
  }
  let body = dropNulls(raw) as Record<string, unknown>
  if (opts.partial && opts.existing) body = mergePartial(opts.existing, body)
  const parsed = appWire.safeParse(body, { reportInput: true })
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
    else if (isObject(val) && 'secret' in val) v.add(`/env/${k}`, 'use of secret-references in the environment requires the secrets feature to be enabled')
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

function buildHealthCheck(hc: z.infer<typeof healthCheckWire>, i: number, portCount: number, v: Violations): AppHealthCheck {
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

// --- constraints (SchedulingValidation.complyWithAppConstraintRules)

const CONSTRAINT_OPERATORS: readonly ConstraintOperator[] = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS']
const MESOS_LITERAL_OR_FLOAT = /^[a-zA-Z0-9_/.-]*$/

function isJavaInt(s: string): boolean {
  if (!/^[+-]?\d+$/.test(s)) return false
  const n = Number(s)
  return n >= -2147483648 && n <= 2147483647
}

/** A canonical constraint, or Marathon's message for why it is not one. */
function parseConstraint(c: readonly string[]): Constraint | string {
  if (c.length < 2 || c.length > 3) return 'Each constraint must have either 2 or 3 fields'
  const [field, rawOp, rawValue] = c as [string, string, string | undefined]
  if (field === '') return 'illegal constraint specification'
  const op = rawOp.toUpperCase() as ConstraintOperator
  // Definitions in the wild write ["hostname", "UNIQUE", ""]: an empty value is no value.
  const value = rawValue === '' && (op === 'UNIQUE' || op === 'CLUSTER' || op === 'GROUP_BY') ? undefined : rawValue
  if (!CONSTRAINT_OPERATORS.includes(op)) return 'operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS'
  switch (op) {
    case 'UNIQUE':
      if (value !== undefined) return 'UNIQUE does not accept a value'
      break
    case 'CLUSTER':
      break
    case 'GROUP_BY':
      if (value !== undefined && !isJavaInt(value)) return 'GROUP BY must define an integer value or else no value at all'
      break
    case 'MAX_PER':
      if (value === undefined || !isJavaInt(value)) return 'MAX_PER requires an integer value'
      break
    case 'LIKE':
    case 'UNLIKE':
      if (value === undefined) return 'LIKE and UNLIKE require a non-empty, regular expression value'
      try {
        new RegExp(value)
      } catch {
        return 'is not a valid regular expression'
      }
      break
    case 'IS':
      if (!MESOS_LITERAL_OR_FLOAT.test(value ?? '')) {
        return 'IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)'
      }
      break
  }
  return value === undefined ? [field, op] : [field, op, value]
}

// --- validation

/** Marathon's validateOldAppAPI and the normalization errors of the 1.4 -> 1.5 migration. */
function validateDeprecated(w: AppWire, v: Violations): void {
  const c = w.container
  const type = c?.type ?? 'DOCKER'
  if (c?.docker?.network !== undefined && w.networks && w.networks.length > 0) v.add('/', 'must not specify both container.docker.network and networks')
  if (w.ipAddress && w.networks && w.networks.length > 0) v.add('/', 'must not specify both networks and ipAddress')
  const fixedPorts = (w.ports ?? []).filter((p) => p !== 0)
  if (new Set(fixedPorts).size !== fixedPorts.length) v.add('/', 'ports must be unique')
  const hasPorts = (w.ports?.length ?? 0) > 0 || (w.portDefinitions?.length ?? 0) > 0
  if (w.ipAddress && hasPorts) v.add('/', 'cannot specify both an IP address and port')
  if (w.ports && w.portDefinitions) {
    const same = w.ports.length === w.portDefinitions.length && w.ports.every((p, i) => (w.portDefinitions?.[i]?.port ?? 0) === p)
    if (!same) v.add('/', 'cannot specify both ports and port definitions')
  }
  ;(w.uris ?? []).forEach((u, i) => {
    if (!isValidUri(u)) v.add(`/uris(${i})`, 'URI has invalid syntax.')
  })
  if ((w.uris?.length ?? 0) > 0 && (w.fetch?.length ?? 0) > 0) v.add('/uris', 'may not be set in conjunction with fetch')
  if (w.ipAddress?.discovery !== undefined && c && type === 'DOCKER') v.add('/ipAddress', 'ipAddress/discovery is not allowed for Docker containers')
  if (c?.docker && type === 'MESOS') {
    if (c.docker.network !== undefined) v.add('/container/docker/network', 'must be empty')
    if ((c.docker.parameters?.length ?? 0) > 0) v.add('/container/docker/parameters', 'must be empty')
    if (c.docker.portMappings !== undefined) v.add('/container/docker/portMappings', 'must be empty')
  }
  if ((c?.portMappings?.length ?? 0) > 0 && (c?.docker?.portMappings?.length ?? 0) > 0) {
    v.add('/', 'cannot specify both portMappings and docker.portMappings')
  }
  if (c?.docker?.portMappings !== undefined) portNamesUnique(c.docker.portMappings, '/container/docker/portMappings', v)
}

/** java.net.URI accepts relative references but not spaces, control characters or broken %-escapes. */
function isValidUri(uri: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f"<>\\^`{|}]/.test(uri)) return false
  if (/%(?![0-9a-fA-F]{2})/.test(uri)) return false
  return !/^[^/?#]*:$/.test(uri) && !uri.startsWith(':')
}

function portNamesUnique(items: ReadonlyArray<{ name?: string | undefined }>, path: string, v: Violations): void {
  const names = items.flatMap((i) => (i.name !== undefined ? [i.name] : []))
  if (new Set(names).size !== names.length) v.add(path, 'Port names must be unique.')
}

const MARATHON_HEALTH_PROTOCOLS: readonly HealthProtocol[] = ['HTTP', 'HTTPS', 'TCP']
const MESOS_HEALTH_PROTOCOLS: readonly HealthProtocol[] = ['COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP']

/** Marathon's validateCanonicalAppAPI, on the migrated, defaulted definition. */
function validateCanonical(app: Omit<AppDefinition, 'version' | 'versionInfo'>, w: AppWire, given: ContainerWire | undefined, v: Violations): void {
  // cmd / args / container
  const cmd = app.cmd !== undefined
  const args = app.args !== undefined
  const givenType = given ? (given.type ?? 'DOCKER') : undefined
  const hasContainer = given !== undefined && (given.docker !== undefined || givenType === 'MESOS')
  if (!((cmd !== args) || (!(cmd && args) && hasContainer))) {
    v.add('/', "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
  }

  // container
  const c = app.container
  if (c) {
    if (c.type === 'DOCKER' && !c.docker) v.add('/container/docker', 'not defined')
    if (c.docker && c.docker.image.trim() === '') v.add('/container/docker/image', 'must not be empty')
    c.volumes.forEach((vol, i) => {
      const raw = given?.volumes?.[i]
      if (raw && (raw.persistent !== undefined || raw.external !== undefined || raw.secret !== undefined)) {
        v.add(`/container/volumes(${i})`, 'only host volumes are supported')
        return
      }
      if (vol.containerPath === '') v.add(`/container/volumes(${i})/containerPath`, 'must not be empty')
      if (raw?.hostPath === undefined) v.add(`/container/volumes(${i})/hostPath`, 'error.path.missing')
      else if (vol.hostPath === '') v.add(`/container/volumes(${i})/hostPath`, 'must not be empty')
    })
    if (c.portMappings) portNamesUnique(c.portMappings, '/container/portMappings', v)
    if (c.type === 'DOCKER' && app.networks.filter((n) => n.mode === 'container').length > 1) {
      v.add('/', 'may only specify a single container network when using the Docker container engine')
    }
  }
  if (app.gpus > 0 && c?.type === 'DOCKER') v.add('/', 'GPU resources only work with the Mesos containerizer')

  // networks (NetworkValidation.ramlNetworksValidator)
  const nets = app.networks
  if (nets.some((n) => n.mode === 'host' && ((n.name ?? '') !== '' || (n.labels !== undefined && Object.keys(n.labels).length > 0)))) {
    v.add('/networks', 'Host networks may not have names or labels')
  }
  if (nets.some((n) => n.mode === 'container/bridge' && (n.name ?? '') !== '')) v.add('/networks', 'Bridge networks may not have names')
  const names = nets.flatMap((n) => (n.name !== undefined ? [n.name] : []))
  const unnamedContainer = nets.filter((n) => n.mode === 'container' && n.name === undefined).length
  if (unnamedContainer > 1 || new Set(names).size !== names.length) v.add('/networks', 'Duplicate networks are not allowed')
  const count = (m: Network['mode']) => nets.filter((n) => n.mode === m).length
  const [h, b, ct] = [count('host'), count('container/bridge'), count('container')]
  if (!((h <= 1 && b === 0 && ct === 0) || (h === 0 && b <= 1 && ct === 0) || (h === 0 && b === 0 && ct > 0))) {
    v.add('/networks', 'May specify a single host network, single bridge network, or else 1-to-n container networks')
  }
  if (nets.some((n) => n.mode === 'container' && n.name === undefined)) {
    v.add('/networks', 'Network name must be specified when container network is selected.')
  }

  // ports
  portNamesUnique(app.portDefinitions, '/portDefinitions', v)
  const fixed = app.portDefinitions.map((p) => p.port).filter((p) => p !== 0)
  if (new Set(fixed).size !== fixed.length) v.add('/portDefinitions', 'Ports must be unique.')

  // health checks
  const portCount = c?.portMappings && c.portMappings.length > 0 ? c.portMappings.length : app.portDefinitions.length
  app.healthChecks.forEach((hc, i) => {
    if (MARATHON_HEALTH_PROTOCOLS.includes(hc.protocol)) {
      const ok = hc.portIndex !== undefined ? hc.portIndex < portCount : hc.port !== undefined || portCount === 1
      if (!ok) v.add(`/healthChecks(${i})`, 'Health check port indices must address an element of the ports array or container port mappings.')
    }
    const mesosHttp = hc.protocol === 'MESOS_HTTP' || hc.protocol === 'MESOS_HTTPS' || hc.protocol === 'MESOS_TCP'
    if ((hc.ipProtocol ?? 'IPv4') !== 'IPv4' && !(mesosHttp && c?.type === 'DOCKER')) {
      v.add(`/healthChecks(${i})`, 'IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health checks')
    }
  })
  const mesosChecks = app.healthChecks.filter((hc) => MESOS_HEALTH_PROTOCOLS.includes(hc.protocol) && hc.command === undefined).length
  if (mesosChecks > 1) v.add('/', 'AppDefinition can contain at most one Mesos health check')

  // readiness checks
  if (app.readinessChecks.length > 1) v.add('/readinessChecks', `got ${app.readinessChecks.length}, expected 1 or less`)
  const portNames = new Set((c?.portMappings ?? app.portDefinitions).flatMap((p) => (p.name !== undefined ? [p.name] : [])))
  app.readinessChecks.forEach((rc, i) => {
    if (!portNames.has(rc.portName)) v.add(`/readinessChecks(${i})/portName`, `No port definition reference for portName ${rc.portName}`)
    if (!(rc.timeoutSeconds < rc.intervalSeconds)) {
      v.add(`/readinessChecks(${i})/timeoutSeconds`, `got ${rc.timeoutSeconds}, expected less than ${rc.intervalSeconds}`)
    }
  })

  // fetch
  app.fetch.forEach((f, i) => {
    if (!isValidUri(f.uri)) v.add(`/fetch(${i})/uri`, 'URI has invalid syntax.')
  })

  // scheduling
  if (app.acceptedResourceRoles !== undefined && app.acceptedResourceRoles.length === 0) v.add('/acceptedResourceRoles', 'must not be empty')
  if (app.labels.MARATHON_SINGLE_INSTANCE_APP === 'true' && app.instances > 1) v.add('/', 'Single instance app may only have one instance')
  const u = app.unreachableStrategy
  if (u !== 'disabled' && u.inactiveAfterSeconds > u.expungeAfterSeconds) {
    v.add(
      '/unreachableStrategy/inactiveAfterSeconds',
      `inactiveAfterSeconds (${u.inactiveAfterSeconds}) must be less or equal to expungeAfterSeconds, which is ${u.expungeAfterSeconds}`,
    )
  }
  if (w.secrets !== undefined && Object.keys(w.secrets).length > 0) {
    v.add('/secrets', 'Feature secrets is not enabled. Enable with --enable_features secrets)')
  }
}

// --- versions

function stableStringify(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stableStringify).join(',')}]`
  if (isObject(x)) {
    const keys = Object.keys(x).filter((k) => x[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(x[k])}`).join(',')}}`
  }
  return JSON.stringify(x)
}

/** Marathon's VersionInfo: a scale-only change keeps lastConfigChangeAt. */
function versionInfoFor(
  app: Omit<AppDefinition, 'version' | 'versionInfo'>,
  existing: AppDefinition | undefined,
  now: string,
): AppDefinition['versionInfo'] {
  if (!existing) return { lastScalingAt: now, lastConfigChangeAt: now }
  const config = (a: Omit<AppDefinition, 'version' | 'versionInfo'>) => {
    const { instances: _i, ...rest } = a as AppDefinition
    const { version: _v, versionInfo: _vi, ...cfg } = rest
    return stableStringify(cfg)
  }
  if (config(app) === config(existing)) return { lastScalingAt: now, lastConfigChangeAt: existing.versionInfo.lastConfigChangeAt }
  return { lastScalingAt: now, lastConfigChangeAt: now }
}

// ---------------------------------------------------------------------------------------------
// appToJson: Marathon's GET shape, fields in the order Marathon writes them (RAML order)

function portDefinitionJson(p: PortDefinition): PortDefinition {
  return {
    port: p.port,
    ...(p.labels !== undefined ? { labels: { ...p.labels } } : {}),
    ...(p.name !== undefined ? { name: p.name } : {}),
    protocol: p.protocol,
  }
}

function portMappingJson(m: PortMapping): PortMapping {
  return {
    containerPort: m.containerPort,
    ...(m.hostPort !== undefined ? { hostPort: m.hostPort } : {}),
    ...(m.labels !== undefined ? { labels: { ...m.labels } } : {}),
    ...(m.name !== undefined ? { name: m.name } : {}),
    protocol: m.protocol,
    servicePort: m.servicePort,
  }
}

function healthCheckJson(hc: AppHealthCheck): AppHealthCheck {
  return {
    ...(hc.command !== undefined ? { command: { value: hc.command.value } } : {}),
    gracePeriodSeconds: hc.gracePeriodSeconds,
    ...(hc.ignoreHttp1xx !== undefined ? { ignoreHttp1xx: hc.ignoreHttp1xx } : {}),
    intervalSeconds: hc.intervalSeconds,
    maxConsecutiveFailures: hc.maxConsecutiveFailures,
    ...(hc.path !== undefined ? { path: hc.path } : {}),
    ...(hc.port !== undefined ? { port: hc.port } : {}),
    ...(hc.portIndex !== undefined ? { portIndex: hc.portIndex } : {}),
    protocol: hc.protocol,
    ...(hc.ipProtocol !== undefined ? { ipProtocol: hc.ipProtocol } : {}),
    timeoutSeconds: hc.timeoutSeconds,
    delaySeconds: hc.delaySeconds,
  }
}

function containerJson(c: ContainerSpec): ContainerSpec {
  return {
    type: c.type,
    ...(c.docker !== undefined
      ? {
          docker: {
            forcePullImage: c.docker.forcePullImage,
            image: c.docker.image,
            parameters: c.docker.parameters.map((p) => ({ key: p.key, value: p.value })),
            privileged: c.docker.privileged,
          },
        }
      : {}),
    volumes: c.volumes.map((vol) => ({ containerPath: vol.containerPath, hostPath: vol.hostPath, mode: vol.mode })),
    ...(c.portMappings !== undefined ? { portMappings: c.portMappings.map(portMappingJson) } : {}),
  }
}

/**
 * The app as Marathon's GET /v2/apps/{id} writes it (without the task counters). Unlike Marathon
 * 1.5+, empty collections are written rather than omitted, as Marathon 1.4 did: clients index
 * `app.healthChecks` and `app.env` without checking.
 */
export function appToJson(app: AppDefinition): AppDefinition {
  return {
    id: app.id,
    ...(app.acceptedResourceRoles !== undefined ? { acceptedResourceRoles: [...app.acceptedResourceRoles] } : {}),
    ...(app.args !== undefined ? { args: [...app.args] } : {}),
    backoffFactor: app.backoffFactor,
    backoffSeconds: app.backoffSeconds,
    ...(app.cmd !== undefined ? { cmd: app.cmd } : {}),
    constraints: app.constraints.map((c) => [...c] as Constraint),
    ...(app.container !== undefined ? { container: containerJson(app.container) } : {}),
    cpus: app.cpus,
    dependencies: [...app.dependencies],
    disk: app.disk,
    env: { ...app.env },
    fetch: app.fetch.map((f) => ({
      uri: f.uri,
      extract: f.extract,
      executable: f.executable,
      cache: f.cache,
      ...(f.destPath !== undefined ? { destPath: f.destPath } : {}),
    })),
    healthChecks: app.healthChecks.map(healthCheckJson),
    instances: app.instances,
    labels: { ...app.labels },
    maxLaunchDelaySeconds: app.maxLaunchDelaySeconds,
    mem: app.mem,
    gpus: app.gpus,
    networks: app.networks.map((n) => ({
      ...(n.name !== undefined ? { name: n.name } : {}),
      mode: n.mode,
      ...(n.labels !== undefined ? { labels: { ...n.labels } } : {}),
    })),
    portDefinitions: app.portDefinitions.map(portDefinitionJson),
    readinessChecks: app.readinessChecks.map((rc) => ({ ...rc, httpStatusCodesForReady: [...rc.httpStatusCodesForReady] })),
    requirePorts: app.requirePorts,
    ...(app.taskKillGracePeriodSeconds !== undefined ? { taskKillGracePeriodSeconds: app.taskKillGracePeriodSeconds } : {}),
    upgradeStrategy: {
      maximumOverCapacity: app.upgradeStrategy.maximumOverCapacity,
      minimumHealthCapacity: app.upgradeStrategy.minimumHealthCapacity,
    },
    ...(app.user !== undefined ? { user: app.user } : {}),
    version: app.version,
    versionInfo: { lastScalingAt: app.versionInfo.lastScalingAt, lastConfigChangeAt: app.versionInfo.lastConfigChangeAt },
    killSelection: app.killSelection,
    unreachableStrategy:
      app.unreachableStrategy === 'disabled'
        ? 'disabled'
        : {
            inactiveAfterSeconds: app.unreachableStrategy.inactiveAfterSeconds,
            expungeAfterSeconds: app.unreachableStrategy.expungeAfterSeconds,
          },
    ...(app.role !== undefined ? { role: app.role } : {}),
  }
}

// ---------------------------------------------------------------------------------------------
// Groups

/** A group of the body, flattened: its id and the dependencies it declares for all its apps. */
export interface GroupSpec {
  id: string
  dependencies: string[]
}

export interface NormalizeGroupOptions {
  now: string
  /** The group the body's relative ids resolve against (PUT /v2/groups/{id} passes that id); default `/`. */
  base?: string
  /** The current apps (or a lookup), so versionInfo carries over. */
  existing?: ReadonlyMap<string, AppDefinition> | ((appId: string) => AppDefinition | undefined)
}

export type NormalizeGroupResult =
  | {
      ok: true
      /** The (top) group the body names. */
      groupId: string
      /** Every app of the tree, with absolute ids. */
      apps: AppDefinition[]
      /** Every group of the tree, the top group first. */
      groups: GroupSpec[]
      /** `{scaleBy: f}`: scale every app of the group by f (the body holds nothing else). */
      scaleBy?: number
      /** `{version: v}`: roll the group back to version v (the body holds nothing else). */
      version?: string
    }
  | { ok: false; details: ValidationDetail[] }

export const CYCLIC_DEPENDENCIES = 'Dependency graph has cyclic dependencies.'

/**
 * Parses a /v2/groups body (`{id, apps, groups, dependencies}`, nested). App ids and
 * dependencies are relative to their group; each app must sit directly in its group.
 * Returns every app and group of the tree, flattened, the top group first.
 */
export function normalizeGroup(raw: unknown, opts: NormalizeGroupOptions): NormalizeGroupResult {
  const v = new Violations()
  const apps: AppDefinition[] = []
  const groups: GroupSpec[] = []
  const base = parseAppId(opts.base ?? '/')
  const lookup = opts.existing
  const existing = lookup === undefined ? undefined : typeof lookup === 'function' ? lookup : (appId: string) => lookup.get(appId)
  const groupId = walkGroup(raw, { parent: undefined, base, prefix: '', now: opts.now, existing }, v, apps, groups)

  // Rollback and scaling bodies stand alone (Marathon's theOnlyDefinedOptionIn).
  let scaleBy: number | undefined
  let version: string | undefined
  if (isObject(raw)) {
    const others = ['apps', 'groups', 'dependencies'].some((k) => raw[k] !== undefined && raw[k] !== null)
    if (raw.scaleBy !== undefined && raw.scaleBy !== null) {
      if (typeof raw.scaleBy !== 'number') v.add('/scaleBy', 'error.expected.jsnumber')
      else if (!(raw.scaleBy >= 0)) v.add('/scaleBy', 'must be greater than or equal to 0')
      else scaleBy = raw.scaleBy
      if (others || (raw.version !== undefined && raw.version !== null)) v.add('/scaleBy', 'not allowed in conjunction with other properties.')
    }
    if (raw.version !== undefined && raw.version !== null) {
      if (typeof raw.version !== 'string') v.add('/version', 'error.expected.jsstring')
      else version = raw.version
      if (others) v.add('/version', 'not allowed in conjunction with other properties.')
    }
  }

  if (v.empty && groupId !== undefined) {
    try {
      dependencyOrder(apps, groups)
    } catch (e) {
      if (!(e instanceof AppValidationError)) throw e
      v.addAll(e.details)
    }
  }
  if (!v.empty || groupId === undefined) return { ok: false, details: v.details() }
  return { ok: true, groupId, apps, groups, ...(scaleBy !== undefined ? { scaleBy } : {}), ...(version !== undefined ? { version } : {}) }
}

interface WalkContext {
  parent: string | undefined
  base: string
  prefix: string
  now: string
  existing: ((appId: string) => AppDefinition | undefined) | undefined
}

function walkGroup(raw: unknown, ctx: WalkContext, v: Violations, apps: AppDefinition[], groups: GroupSpec[]): string | undefined {
  const at = (p: string) => joinPath(ctx.prefix, p)
  if (!isObject(raw)) {
    v.add(at('/'), 'error.expected.jsobject')
    return undefined
  }
  const g = dropNulls(raw) as Record<string, unknown>

  let gid: string
  if (g.id === undefined) {
    if (ctx.parent !== undefined) {
      v.add(at('/id'), 'error.path.missing')
      return undefined
    }
    gid = ctx.base
  } else if (typeof g.id !== 'string') {
    v.add(at('/id'), 'error.expected.jsstring')
    return undefined
  } else {
    const segs = canonicalSegments(g.id, ctx.parent ?? ctx.base)
    gid = '/' + segs.join('/')
    for (const e of pathIdErrors(segs, ctx.parent !== undefined)) v.add(at('/id'), e)
    if (ctx.parent !== undefined && parentId(gid) !== ctx.parent) v.add(at('/id'), `Identifier is not child of '${ctx.parent}'`)
  }

  const dependencies: string[] = []
  if (g.dependencies !== undefined) {
    if (!Array.isArray(g.dependencies)) v.add(at('/dependencies'), 'error.expected.jsarray')
    else
      g.dependencies.forEach((d: unknown, i) => {
        if (typeof d !== 'string') return v.add(at(`/dependencies(${i})`), 'error.expected.jsstring')
        const segs = canonicalSegments(d, gid)
        for (const e of pathIdErrors(segs, false)) v.add(at(`/dependencies(${i})`), e)
        dependencies.push('/' + segs.join('/'))
      })
  }
  groups.push({ id: gid, dependencies })

  const appIds: string[] = []
  if (g.apps !== undefined) {
    if (!Array.isArray(g.apps)) v.add(at('/apps'), 'error.expected.jsarray')
    else
      g.apps.forEach((rawApp: unknown, i) => {
        const appPrefix = at(`/apps(${i})`)
        const appId = isObject(rawApp) && typeof rawApp.id === 'string' ? parseAppId(rawApp.id, gid) : undefined
        const existing = appId !== undefined ? ctx.existing?.(appId) : undefined
        const app = normalizeAppInto(rawApp, { now: ctx.now, base: gid, ...(existing ? { existing } : {}) }, v, appPrefix)
        if (appId !== undefined && appId !== '/' && parentId(appId) !== gid) v.add(`${appPrefix}/id`, `Identifier is not child of '${gid}'`)
        if (app) {
          if (appIds.includes(app.id)) v.add(at('/apps'), 'Elements must be unique.')
          appIds.push(app.id)
          apps.push(app)
        }
      })
  }

  if (g.groups !== undefined) {
    if (!Array.isArray(g.groups)) v.add(at('/groups'), 'error.expected.jsarray')
    else
      g.groups.forEach((child: unknown, i) => {
        const childId = walkGroup(child, { ...ctx, parent: gid, prefix: at(`/groups(${i})`) }, v, apps, groups)
        if (childId !== undefined && appIds.includes(childId)) v.add(at('/'), 'Groups and Applications may not have the same identifier.')
      })
  }
  return gid
}

// ---------------------------------------------------------------------------------------------
// Dependency order

function isUnder(id: string, group: string): boolean {
  return group === '/' ? true : id === group || id.startsWith(group + '/')
}

/**
 * Deployment levels, as Marathon's DeploymentPlan orders run specs: an app's level is the length
 * of the longest dependency chain below it, so level 0 holds the apps that depend on nothing.
 * A dependency names an app, or a group (all apps below it); unknown ids are ignored. A group's
 * dependencies apply to every app below it. Throws AppValidationError (422) on a cycle.
 */
export function dependencyOrder(
  apps: ReadonlyArray<Pick<AppDefinition, 'id' | 'dependencies'>>,
  groups: readonly GroupSpec[] = [],
): string[][] {
  const ids = apps.map((a) => a.id)
  const known = new Set(ids)
  const targets = (dep: string): string[] => (known.has(dep) ? [dep] : ids.filter((id) => isUnder(id, dep)))
  const edges = new Map<string, Set<string>>(ids.map((id) => [id, new Set<string>()]))
  for (const app of apps) for (const dep of app.dependencies) for (const t of targets(dep)) edges.get(app.id)?.add(t)
  for (const g of groups) {
    const members = ids.filter((id) => isUnder(id, g.id))
    for (const dep of g.dependencies) for (const t of targets(dep)) for (const m of members) edges.get(m)?.add(t)
  }

  const depth = new Map<string, number>()
  const onStack = new Set<string>()
  const visit = (id: string): number => {
    const known = depth.get(id)
    if (known !== undefined) return known
    if (onStack.has(id)) throw new AppValidationError([{ path: '/', errors: [CYCLIC_DEPENDENCIES] }])
    onStack.add(id)
    let d = 0
    for (const t of edges.get(id) ?? []) d = Math.max(d, visit(t) + 1)
    onStack.delete(id)
    depth.set(id, d)
    return d
  }
  const levels: string[][] = []
  for (const id of ids) {
    const d = visit(id)
    while (levels.length <= d) levels.push([])
    levels[d]?.push(id)
  }
  return levels.map((l) => [...new Set(l)].sort())
}
