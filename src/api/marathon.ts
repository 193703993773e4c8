// Marathon's app and group JSON as its RAML types define them, in zod: what a client sends to
// /v2/apps and /v2/groups and what the server writes back. The apps framework parses request
// bodies with these schemas (then migrates, defaults and validates them into its domain
// types), and the typed client reads responses with them. The schemas are loose, as play-json
// is: unknown fields are kept, not refused, so a client sees everything the server sent.
import { z } from 'zod'

export function isJsonObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** play-json reads `null` as an absent optional field; so do we (Marathon 1.4 GET output is full of nulls). */
export function dropNulls(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(dropNulls)
  if (!isJsonObject(x)) return x
  const out: Record<string, unknown> = {}
  for (const [k, val] of Object.entries(x)) if (val !== null) out[k] = dropNulls(val)
  return out
}

/** Marathon's defaults for the fields an app definition may leave out. */
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

// ---- the app (Marathon's RAML App; the read-only fields version and versionInfo are left out,
// as the server ignores them in a request)

const LEGACY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const NETWORK_NAME = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/

const port = z.number().int().min(0).max(65535)
const nonNegInt = z.number().int().min(0)
const kvLabels = z.record(z.string(), z.string())
const protocolSchema = z.preprocess(
  (v) => (v === 'tcp,udp' ? 'udp,tcp' : v),
  z.enum(['tcp', 'udp', 'udp,tcp']),
)

export const PortMappingSchema = z.looseObject({
  containerPort: port.optional(),
  hostPort: port.optional(),
  servicePort: port.optional(),
  protocol: protocolSchema.optional(),
  name: z.string().regex(LEGACY_NAME).optional(),
  labels: kvLabels.optional(),
})

export const DockerSchema = z.looseObject({
  image: z.string(),
  forcePullImage: z.boolean().optional(),
  privileged: z.boolean().optional(),
  parameters: z.array(z.looseObject({ key: z.string().min(1), value: z.string() })).optional(),
  network: z.enum(['BRIDGE', 'HOST', 'NONE', 'USER']).optional(),
  portMappings: z.array(PortMappingSchema).optional(),
})

export const VolumeSchema = z.looseObject({
  containerPath: z.string(),
  hostPath: z.string().optional(),
  mode: z.enum(['RO', 'RW']).optional(),
  persistent: z.unknown().optional(),
  external: z.unknown().optional(),
  secret: z.unknown().optional(),
})

export const ContainerSchema = z.looseObject({
  type: z.enum(['DOCKER', 'MESOS']).optional(),
  docker: DockerSchema.optional(),
  portMappings: z.array(PortMappingSchema).optional(),
  volumes: z.array(VolumeSchema).optional(),
})

export const NetworkSchema = z.looseObject({
  mode: z.enum(['container', 'container/bridge', 'host']).optional(),
  name: z.string().regex(NETWORK_NAME).optional(),
  labels: kvLabels.optional(),
})

export const PortDefinitionSchema = z.looseObject({
  port: port.optional(),
  protocol: protocolSchema.optional(),
  name: z.string().regex(LEGACY_NAME).optional(),
  labels: kvLabels.optional(),
})

export const HealthCheckSchema = z.looseObject({
  protocol: z.enum(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP']).optional(),
  path: z.string().optional(),
  portIndex: port.optional(),
  port: port.optional(),
  command: z.looseObject({ value: z.string() }).optional(),
  gracePeriodSeconds: nonNegInt.optional(),
  intervalSeconds: nonNegInt.optional(),
  timeoutSeconds: nonNegInt.optional(),
  maxConsecutiveFailures: nonNegInt.optional(),
  delaySeconds: nonNegInt.optional(),
  ignoreHttp1xx: z.boolean().optional(),
  ipProtocol: z.enum(['IPv4', 'IPv6']).optional(),
})

export const ReadinessCheckSchema = z.looseObject({
  name: z.string().min(1).optional(),
  protocol: z.enum(['HTTP', 'HTTPS']).optional(),
  path: z.string().min(1).optional(),
  portName: z.string().optional(),
  intervalSeconds: nonNegInt.optional(),
  timeoutSeconds: z.number().int().min(1).optional(),
  httpStatusCodesForReady: z.array(z.number().int().min(100).max(999)).min(1).optional(),
  preserveLastResponse: z.boolean().optional(),
})

export const FetchSchema = z.looseObject({
  uri: z.string(),
  extract: z.boolean().optional(),
  executable: z.boolean().optional(),
  cache: z.boolean().optional(),
  destPath: z.string().optional(),
})

export const UnreachableStrategySchema = z.union([
  z.literal('disabled'),
  z.looseObject({ inactiveAfterSeconds: nonNegInt.optional(), expungeAfterSeconds: nonNegInt.optional() }),
])

export const IpAddressSchema = z.looseObject({
  discovery: z
    .object({
      ports: z
        .array(
          z.looseObject({
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

export const AppSchema = z.looseObject({
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
  container: ContainerSchema.optional(),
  networks: z.array(NetworkSchema).optional(),
  portDefinitions: z.array(PortDefinitionSchema).optional(),
  ports: z.array(port).optional(),
  requirePorts: z.boolean().optional(),
  healthChecks: z.array(HealthCheckSchema).optional(),
  readinessChecks: z.array(ReadinessCheckSchema).optional(),
  upgradeStrategy: z
    .looseObject({
      minimumHealthCapacity: z.number().min(0).max(1).optional(),
      maximumOverCapacity: z.number().min(0).max(1).optional(),
    })
    .optional(),
  // Marathon wants whole seconds here; fractions are accepted (dromos tests back off faster).
  backoffSeconds: z.number().min(0).optional(),
  backoffFactor: z.number().min(1).optional(),
  maxLaunchDelaySeconds: z.number().min(0).optional(),
  killSelection: z.enum(['YOUNGEST_FIRST', 'OLDEST_FIRST']).optional(),
  unreachableStrategy: UnreachableStrategySchema.optional(),
  taskKillGracePeriodSeconds: nonNegInt.optional(),
  dependencies: z.array(z.string()).optional(),
  fetch: z.array(FetchSchema).optional(),
  uris: z.array(z.string()).optional(),
  ipAddress: IpAddressSchema.optional(),
  secrets: z.record(z.string(), z.unknown()).optional(),
})
export type AppWire = z.infer<typeof AppSchema>
export type PortMappingWire = z.infer<typeof PortMappingSchema>
export type PortDefinitionWire = z.infer<typeof PortDefinitionSchema>
export type ContainerWire = z.infer<typeof ContainerSchema>
export type NetworkWire = z.infer<typeof NetworkSchema>
export type HealthCheckWire = z.infer<typeof HealthCheckSchema>

// ---- the group (Marathon's RAML Group, as GET /v2/groups writes it)

export interface GroupWire {
  id: string
  apps: AppWire[]
  groups: GroupWire[]
  dependencies?: string[] | undefined
  version?: string | undefined
  [k: string]: unknown
}

export const GroupSchema: z.ZodType<GroupWire> = z.lazy(() =>
  z.looseObject({
    id: z.string(),
    apps: z.array(AppSchema).default([]),
    groups: z.array(GroupSchema).default([]),
    dependencies: z.array(z.string()).optional(),
    version: z.string().optional(),
  }),
)
