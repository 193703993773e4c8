// Marathon's app validation rules, with Marathon's messages: the checks of the deprecated
// (pre-1.5) fields before they are migrated (AppValidation.validateOldAppAPI), the constraint
// rules (SchedulingValidation), and the checks of the migrated, defaulted definition
// (validateCanonicalAppAPI).
import type { AppWire, ContainerWire } from '../api/marathon.js'
import type { AppDefinition, Constraint, ConstraintOperator, HealthProtocol, Network } from './types.js'
import type { Violations } from './violations.js'

// --- constraints (SchedulingValidation.complyWithAppConstraintRules)

const CONSTRAINT_OPERATORS: readonly ConstraintOperator[] = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS']
const MESOS_LITERAL_OR_FLOAT = /^[a-zA-Z0-9_/.-]*$/

function isJavaInt(s: string): boolean {
  if (!/^[+-]?\d+$/.test(s)) return false
  const n = Number(s)
  return n >= -2147483648 && n <= 2147483647
}

/** A canonical constraint, or Marathon's message for why it is not one. */
export function parseConstraint(c: readonly string[]): Constraint | string {
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
export function validateDeprecated(w: AppWire, v: Violations): void {
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
export function validateCanonical(app: Omit<AppDefinition, 'version' | 'versionInfo'>, w: AppWire, given: ContainerWire | undefined, v: Violations): void {
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
