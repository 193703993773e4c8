import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  appToJson,
  CYCLIC_DEPENDENCIES,
  dependencyOrder,
  isValidPathId,
  normalizeApp,
  normalizeGroup,
  parseAppId,
} from './definition.js'
import { AppValidationError, InvalidJsonError, parseJsonBody } from './errors.js'
import type { AppDefinition } from './types.js'

const now = '2024-05-01T10:00:00.000Z'
const later = '2024-05-02T10:00:00.000Z'

function ok(raw: unknown, opts: Partial<Parameters<typeof normalizeApp>[1]> = {}): AppDefinition {
  const r = normalizeApp(raw, { now, ...opts })
  if (!r.ok) throw new Error(`expected a valid app, got ${JSON.stringify(r.details)}`)
  return r.app
}

function details(raw: unknown, opts: Partial<Parameters<typeof normalizeApp>[1]> = {}) {
  const r = normalizeApp(raw, { now, ...opts })
  if (r.ok) throw new Error(`expected validation errors for ${JSON.stringify(raw)}`)
  return r.details
}

const ID_REGEX_MESSAGE = String.raw`must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$'`

describe('path ids', () => {
  it('normalizes slashes, dots and relative ids', () => {
    expect(parseAppId('//a//b/')).toBe('/a/b')
    expect(parseAppId('/a/b')).toBe(parseAppId('//a/b'))
    expect(parseAppId('b', '/a')).toBe('/a/b')
    expect(parseAppId('./b/../c', '/a')).toBe('/a/c')
    expect(parseAppId('../x', '/a/b')).toBe('/a/x')
    expect(parseAppId('/../../x')).toBe('/x')
    expect(parseAppId('/')).toBe('/')
    expect(parseAppId('')).toBe('/')
  })

  it('applies Marathon’s segment rule', () => {
    expect(isValidPathId('/prod/web-1')).toBe(true)
    expect(isValidPathId('/a.b/c-d.e')).toBe(true)
    expect(isValidPathId('../sibling')).toBe(true)
    expect(isValidPathId('/Prod')).toBe(false)
    expect(isValidPathId('/web_1')).toBe(false)
    expect(isValidPathId('/-web')).toBe(false)
    expect(isValidPathId('/web-')).toBe(false)
    expect(isValidPathId('/a..b')).toBe(false)
  })

  it('an app id given as //a//b/ is stored as /a/b', () => {
    expect(ok({ id: '//a//b/', cmd: 'sleep 1' }).id).toBe('/a/b')
    expect(ok({ id: 'web', cmd: 'sleep 1' }, { base: '/prod' }).id).toBe('/prod/web')
  })
})

describe('defaults', () => {
  it('fills every Marathon default for a minimal command app', () => {
    const app = ok({ id: '/sleep', cmd: 'sleep 1000' })
    expect(app).toEqual({
      id: '/sleep',
      cmd: 'sleep 1000',
      instances: 1,
      cpus: 1,
      mem: 128,
      disk: 0,
      gpus: 0,
      env: {},
      labels: {},
      constraints: [],
      networks: [{ mode: 'host' }],
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'default' }],
      requirePorts: false,
      healthChecks: [],
      readinessChecks: [],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
      backoffSeconds: 1,
      backoffFactor: 1.15,
      maxLaunchDelaySeconds: 300,
      killSelection: 'YOUNGEST_FIRST',
      unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
      dependencies: [],
      fetch: [],
      version: now,
      versionInfo: { lastScalingAt: now, lastConfigChangeAt: now },
    } satisfies AppDefinition)
  })

  it('fills health check and readiness check defaults', () => {
    const app = ok({
      id: '/web',
      cmd: 'serve',
      portDefinitions: [{ port: 0, name: 'http-api' }],
      healthChecks: [{ protocol: 'HTTP', path: '/health' }, { protocol: 'COMMAND', command: { value: 'true' } }],
      readinessChecks: [{}],
    })
    expect(app.healthChecks[0]).toEqual({
      protocol: 'HTTP',
      path: '/health',
      portIndex: 0,
      gracePeriodSeconds: 300,
      intervalSeconds: 60,
      timeoutSeconds: 20,
      maxConsecutiveFailures: 3,
      delaySeconds: 15,
    })
    expect(app.healthChecks[1]).toEqual({
      protocol: 'COMMAND',
      command: { value: 'true' },
      gracePeriodSeconds: 300,
      intervalSeconds: 60,
      timeoutSeconds: 20,
      maxConsecutiveFailures: 3,
      delaySeconds: 15,
    })
    expect(app.readinessChecks).toEqual([
      {
        name: 'readinessCheck',
        protocol: 'HTTP',
        path: '/',
        portName: 'http-api',
        intervalSeconds: 30,
        timeoutSeconds: 10,
        httpStatusCodesForReady: [200],
        preserveLastResponse: false,
      },
    ])
  })

  it('a health check with an explicit port gets no portIndex', () => {
    const app = ok({ id: '/web', cmd: 'serve', healthChecks: [{ protocol: 'TCP', port: 8080 }] })
    expect(app.healthChecks[0]?.port).toBe(8080)
    expect(app.healthChecks[0]?.portIndex).toBeUndefined()
  })

  it('fills fetch defaults and keeps an explicit unreachableStrategy', () => {
    const app = ok({
      id: '/f',
      cmd: 'x',
      fetch: [{ uri: 'https://example.com/a.sh', executable: true }],
      unreachableStrategy: 'disabled',
    })
    expect(app.fetch).toEqual([{ uri: 'https://example.com/a.sh', extract: true, executable: true, cache: false }])
    expect(app.unreachableStrategy).toBe('disabled')
    expect(ok({ id: '/g', cmd: 'x', unreachableStrategy: { inactiveAfterSeconds: 60 } }).unreachableStrategy).toEqual({
      inactiveAfterSeconds: 60,
      expungeAfterSeconds: 600,
    })
  })

  it('treats null as an absent field, as Marathon 1.4 clients send them', () => {
    const app = ok({ id: '/n', cmd: 'x', args: null, container: null, user: null, constraints: null })
    expect(app.container).toBeUndefined()
    expect(app.args).toBeUndefined()
    expect(app.constraints).toEqual([])
  })
})

describe('networking', () => {
  it('a Docker app without networks gets bridge networking and one default port mapping', () => {
    const app = ok({ id: '/nginx', container: { type: 'DOCKER', docker: { image: 'nginx:1.25' } } })
    expect(app.networks).toEqual([{ mode: 'container/bridge' }])
    expect(app.portDefinitions).toEqual([])
    expect(app.container).toEqual({
      type: 'DOCKER',
      docker: { image: 'nginx:1.25', forcePullImage: false, privileged: false, parameters: [] },
      portMappings: [{ containerPort: 0, hostPort: 0, servicePort: 0, protocol: 'tcp', name: 'default' }],
      volumes: [],
    })
  })

  it('the container type defaults to DOCKER, as in Marathon’s RAML', () => {
    const app = ok({ id: '/nginx', container: { docker: { image: 'nginx' } } })
    expect(app.container?.type).toBe('DOCKER')
    expect(app.networks).toEqual([{ mode: 'container/bridge' }])
  })

  it('turns the port definitions of a Docker app into port mappings', () => {
    const app = ok({
      id: '/web',
      container: { docker: { image: 'web' } },
      portDefinitions: [
        { port: 0, name: 'http', labels: { VIP_0: '/web:80' } },
        { port: 10101, protocol: 'udp', name: 'stats' },
      ],
      healthChecks: [{ protocol: 'HTTP', portIndex: 1 }],
    })
    expect(app.portDefinitions).toEqual([])
    expect(app.container?.portMappings).toEqual([
      { containerPort: 0, hostPort: 0, servicePort: 0, protocol: 'tcp', name: 'http', labels: { VIP_0: '/web:80' } },
      { containerPort: 0, hostPort: 0, servicePort: 10101, protocol: 'udp', name: 'stats' },
    ])
    expect(app.healthChecks[0]?.portIndex).toBe(1)
  })

  it('requirePorts on a Docker app pins the host port and is then cleared', () => {
    const app = ok({ id: '/web', container: { docker: { image: 'web' } }, ports: [8080], requirePorts: true })
    expect(app.container?.portMappings).toEqual([{ containerPort: 0, hostPort: 8080, servicePort: 8080, protocol: 'tcp' }])
    expect(app.requirePorts).toBe(false)
  })

  it('explicit host networking keeps port definitions for a Docker app', () => {
    const app = ok({ id: '/web', networks: [{ mode: 'host' }], container: { docker: { image: 'web' } } })
    expect(app.networks).toEqual([{ mode: 'host' }])
    expect(app.portDefinitions).toEqual([{ port: 0, protocol: 'tcp', name: 'default' }])
    expect(app.container?.portMappings).toBeUndefined()
  })

  it('explicit container/bridge keeps given port mappings, hostPort defaulting to 0', () => {
    const app = ok({
      id: '/web',
      networks: [{ mode: 'container/bridge' }],
      container: { docker: { image: 'web' }, portMappings: [{ containerPort: 80, name: 'http' }] },
    })
    expect(app.container?.portMappings).toEqual([{ containerPort: 80, hostPort: 0, servicePort: 0, protocol: 'tcp', name: 'http' }])
  })

  it('a non-Docker app without networks is host networked', () => {
    const app = ok({ id: '/m', cmd: 'x', container: { type: 'MESOS' } })
    expect(app.networks).toEqual([{ mode: 'host' }])
    expect(app.portDefinitions).toEqual([{ port: 0, protocol: 'tcp', name: 'default' }])
  })

  it('container networks leave hostPort absent unless given', () => {
    const app = ok({
      id: '/c',
      networks: [{ mode: 'container', name: 'dcos' }],
      container: { docker: { image: 'x' }, portMappings: [{ containerPort: 80, name: 'http' }] },
    })
    expect(app.container?.portMappings).toEqual([{ containerPort: 80, servicePort: 0, protocol: 'tcp', name: 'http' }])
  })
})

describe('legacy fields (Marathon 1.4 API)', () => {
  it('ports become portDefinitions', () => {
    expect(ok({ id: '/p', cmd: 'x', ports: [0, 9000] }).portDefinitions).toEqual([
      { port: 0, protocol: 'tcp' },
      { port: 9000, protocol: 'tcp' },
    ])
  })

  it('uris become fetch, archives extracted', () => {
    expect(ok({ id: '/u', cmd: 'x', uris: ['https://h/app.tgz', 'https://h/run.sh'] }).fetch).toEqual([
      { uri: 'https://h/app.tgz', extract: true, executable: false, cache: false },
      { uri: 'https://h/run.sh', extract: false, executable: false, cache: false },
    ])
  })

  it('docker.network BRIDGE and docker.portMappings become networks and container.portMappings', () => {
    const app = ok({
      id: '/old',
      container: {
        type: 'DOCKER',
        docker: {
          image: 'nginx',
          network: 'BRIDGE',
          portMappings: [{ containerPort: 80, hostPort: 0, servicePort: 10019, protocol: 'tcp', name: 'http' }],
        },
      },
    })
    expect(app.networks).toEqual([{ mode: 'container/bridge' }])
    expect(app.container?.portMappings).toEqual([{ containerPort: 80, hostPort: 0, servicePort: 10019, protocol: 'tcp', name: 'http' }])
    expect(app.container?.docker).toEqual({ image: 'nginx', forcePullImage: false, privileged: false, parameters: [] })
  })

  it('docker.network HOST means host networking', () => {
    const app = ok({ id: '/h', container: { docker: { image: 'x', network: 'HOST' } }, ports: [0] })
    expect(app.networks).toEqual([{ mode: 'host' }])
    expect(app.portDefinitions).toEqual([{ port: 0, protocol: 'tcp' }])
  })

  it('docker.network USER with ipAddress.networkName becomes a named container network', () => {
    const app = ok({
      id: '/user',
      container: { docker: { image: 'x', network: 'USER', portMappings: [{ containerPort: 0, name: 'port-name' }] } },
      ipAddress: { networkName: 'network-name' },
    })
    expect(app.networks).toEqual([{ mode: 'container', name: 'network-name' }])
    expect(app.container?.portMappings).toEqual([{ containerPort: 0, servicePort: 0, protocol: 'tcp', name: 'port-name' }])
  })

  it('ipAddress alone means a MESOS container on that network, discovery ports becoming mappings', () => {
    const app = ok({
      id: '/ip',
      cmd: 'x',
      ipAddress: { networkName: 'overlay', labels: { a: 'b' }, discovery: { ports: [{ number: 8080, name: 'rest', protocol: 'tcp' }] } },
    })
    expect(app.networks).toEqual([{ mode: 'container', name: 'overlay', labels: { a: 'b' } }])
    expect(app.container?.type).toBe('MESOS')
    expect(app.container?.portMappings).toEqual([{ containerPort: 8080, servicePort: 0, protocol: 'tcp', name: 'rest' }])
  })

  it('constraint operators are accepted in any case and written upper-case', () => {
    const app = ok({ id: '/c', cmd: 'x', constraints: [['hostname', 'unique'], ['rack', 'group_by', '3'], ['zone', 'max_per', 2]] })
    expect(app.constraints).toEqual([
      ['hostname', 'UNIQUE'],
      ['rack', 'GROUP_BY', '3'],
      ['zone', 'MAX_PER', '2'],
    ])
  })

  it('a health check with a command and no protocol is a COMMAND check', () => {
    expect(ok({ id: '/h', cmd: 'x', healthChecks: [{ command: { value: 'true' } }] }).healthChecks[0]?.protocol).toBe('COMMAND')
  })
})

describe('invalid definitions (422 details)', () => {
  const cases: Array<[name: string, raw: unknown, path: string, message?: string]> = [
    ['body is not an object', [1, 2], '/', 'error.expected.jsobject'],
    ['missing id', { cmd: 'x' }, '/id', 'error.path.missing'],
    ['id with upper case', { id: '/Web', cmd: 'x' }, '/id', ID_REGEX_MESSAGE],
    ['id with an underscore', { id: '/my_app', cmd: 'x' }, '/id', ID_REGEX_MESSAGE],
    ['id ending in a reserved word', { id: '/a/tasks', cmd: 'x' }, '/id', 'must not end with any of the following reserved keywords: restart, tasks, versions, ., ..'],
    ['id is the root', { id: '/', cmd: 'x' }, '/id', 'Path must contain at least one path element'],
    ['id is not a string', { id: 12, cmd: 'x' }, '/id', 'error.expected.jsstring'],
    ['both cmd and args', { id: '/a', cmd: 'x', args: ['y'] }, '/', "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."],
    ['neither cmd, args nor container', { id: '/a' }, '/', "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."],
    ['empty cmd', { id: '/a', cmd: '' }, '/cmd', 'error.minLength'],
    ['negative instances', { id: '/a', cmd: 'x', instances: -1 }, '/instances', 'must be greater than or equal to 0'],
    ['fractional instances', { id: '/a', cmd: 'x', instances: 1.5 }, '/instances', 'error.expected.int'],
    ['instances as a string', { id: '/a', cmd: 'x', instances: '3' }, '/instances', 'error.expected.jsnumber'],
    ['negative cpus', { id: '/a', cmd: 'x', cpus: -1 }, '/cpus', 'must be greater than or equal to 0.001'],
    ['negative mem', { id: '/a', cmd: 'x', mem: -5 }, '/mem', 'must be greater than or equal to 0'],
    ['negative disk', { id: '/a', cmd: 'x', disk: -1 }, '/disk', 'must be greater than or equal to 0'],
    ['GPUs with Docker', { id: '/a', gpus: 1, container: { docker: { image: 'x' } } }, '/', 'GPU resources only work with the Mesos containerizer'],
    ['unknown constraint operator', { id: '/a', cmd: 'x', constraints: [['hostname', 'SPREAD']] }, '/constraints(0)', 'operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS'],
    ['constraint with one field', { id: '/a', cmd: 'x', constraints: [['hostname']] }, '/constraints(0)', 'Each constraint must have either 2 or 3 fields'],
    ['LIKE without a value', { id: '/a', cmd: 'x', constraints: [['hostname', 'LIKE']] }, '/constraints(0)', 'LIKE and UNLIKE require a non-empty, regular expression value'],
    ['UNLIKE with a broken regex', { id: '/a', cmd: 'x', constraints: [[], ['rack', 'UNLIKE', '[a-']] }, '/constraints(1)', 'is not a valid regular expression'],
    ['MAX_PER not an integer', { id: '/a', cmd: 'x', constraints: [['rack', 'MAX_PER', 'two']] }, '/constraints(0)', 'MAX_PER requires an integer value'],
    ['MAX_PER without a value', { id: '/a', cmd: 'x', constraints: [['rack', 'MAX_PER']] }, '/constraints(0)', 'MAX_PER requires an integer value'],
    ['UNIQUE with a value', { id: '/a', cmd: 'x', constraints: [['hostname', 'UNIQUE', 'x']] }, '/constraints(0)', 'UNIQUE does not accept a value'],
    ['GROUP_BY with a non-integer', { id: '/a', cmd: 'x', constraints: [['rack', 'GROUP_BY', 'x']] }, '/constraints(0)', 'GROUP BY must define an integer value or else no value at all'],
    ['duplicate port names', { id: '/a', cmd: 'x', portDefinitions: [{ name: 'http' }, { name: 'http' }] }, '/portDefinitions', 'Port names must be unique.'],
    ['duplicate fixed ports', { id: '/a', cmd: 'x', portDefinitions: [{ port: 8080 }, { port: 8080 }] }, '/portDefinitions', 'Ports must be unique.'],
    ['invalid port name', { id: '/a', cmd: 'x', portDefinitions: [{ name: 'HTTP' }] }, '/portDefinitions(0)/name', 'error.pattern'],
    ['port out of range', { id: '/a', cmd: 'x', portDefinitions: [{ port: 70000 }] }, '/portDefinitions(0)/port', 'is greater than 65535'],
    ['duplicate port mapping names', { id: '/a', container: { docker: { image: 'x' }, portMappings: [{ name: 'p' }, { name: 'p' }] } }, '/container/portMappings', 'Port names must be unique.'],
    ['health check portIndex out of range', { id: '/a', cmd: 'x', healthChecks: [{ protocol: 'HTTP', portIndex: 1 }] }, '/healthChecks(0)', 'Health check port indices must address an element of the ports array or container port mappings.'],
    ['HTTP health check on an app without ports', { id: '/a', cmd: 'x', portDefinitions: [], healthChecks: [{ protocol: 'HTTP' }] }, '/healthChecks(0)', 'Health check port indices must address an element of the ports array or container port mappings.'],
    ['COMMAND health check without a command', { id: '/a', cmd: 'x', healthChecks: [{ protocol: 'COMMAND' }] }, '/healthChecks(0)/command', 'error.path.missing'],
    ['negative health check grace period', { id: '/a', cmd: 'x', healthChecks: [{ gracePeriodSeconds: -1 }] }, '/healthChecks(0)/gracePeriodSeconds', 'must be greater than or equal to 0'],
    ['unknown health check protocol', { id: '/a', cmd: 'x', healthChecks: [{ protocol: 'GRPC' }] }, '/healthChecks(0)/protocol', 'error.unknown.enum.literal'],
    ['two Mesos health checks', { id: '/a', cmd: 'x', healthChecks: [{ protocol: 'MESOS_HTTP' }, { protocol: 'MESOS_TCP' }] }, '/', 'AppDefinition can contain at most one Mesos health check'],
    ['minimumHealthCapacity above 1', { id: '/a', cmd: 'x', upgradeStrategy: { minimumHealthCapacity: 1.5 } }, '/upgradeStrategy/minimumHealthCapacity', 'is greater than 1'],
    ['maximumOverCapacity below 0', { id: '/a', cmd: 'x', upgradeStrategy: { maximumOverCapacity: -0.1 } }, '/upgradeStrategy/maximumOverCapacity', 'must be greater than or equal to 0'],
    ['backoffFactor below 1', { id: '/a', cmd: 'x', backoffFactor: 0.5 }, '/backoffFactor', 'must be greater than or equal to 1'],
    ['dependency that is not a path id', { id: '/a', cmd: 'x', dependencies: ['/ok', '/Not_OK'] }, '/dependencies(1)', ID_REGEX_MESSAGE],
    ['readiness check on an unknown port name', { id: '/a', cmd: 'x', readinessChecks: [{ portName: 'http-api' }] }, '/readinessChecks(0)/portName', 'No port definition reference for portName http-api'],
    ['readiness timeout not below interval', { id: '/a', cmd: 'x', portDefinitions: [{ name: 'http-api' }], readinessChecks: [{ intervalSeconds: 5, timeoutSeconds: 5 }] }, '/readinessChecks(0)/timeoutSeconds', 'got 5, expected less than 5'],
    ['empty docker image', { id: '/a', container: { docker: { image: '' } } }, '/container/docker/image', 'must not be empty'],
    ['docker without an image', { id: '/a', container: { docker: {} } }, '/container/docker/image', 'error.path.missing'],
    ['DOCKER container without docker', { id: '/a', cmd: 'x', container: { type: 'DOCKER' } }, '/container/docker', 'not defined'],
    ['invalid container type', { id: '/a', cmd: 'x', container: { type: 'RKT' } }, '/container/type', 'error.unknown.enum.literal'],
    ['port mappings with host networking', { id: '/a', networks: [{ mode: 'host' }], container: { docker: { image: 'x' }, portMappings: [{ containerPort: 80 }] } }, '/', 'portMappings are not allowed with host-networking'],
    ['unknown network mode', { id: '/a', cmd: 'x', networks: [{ mode: 'overlay' }] }, '/networks(0)/mode', 'error.unknown.enum.literal'],
    ['container network without a name', { id: '/a', cmd: 'x', networks: [{ mode: 'container' }] }, '/networks', 'Network name must be specified when container network is selected.'],
    ['host and bridge networks together', { id: '/a', cmd: 'x', networks: [{ mode: 'host' }, { mode: 'container/bridge' }] }, '/networks', 'May specify a single host network, single bridge network, or else 1-to-n container networks'],
    ['named bridge network', { id: '/a', cmd: 'x', networks: [{ mode: 'container/bridge', name: 'br' }] }, '/networks', 'Bridge networks may not have names'],
    ['env value not a string', { id: '/a', cmd: 'x', env: { PORT: 8080 } }, '/env/PORT', 'error.expected.jsstring'],
    ['env secret reference', { id: '/a', cmd: 'x', env: { PW: { secret: 'db' } } }, '/env/PW', 'use of secret-references in the environment requires the secrets feature to be enabled'],
    ['label value not a string', { id: '/a', cmd: 'x', labels: { HAPROXY_0_PORT: 80 } }, '/labels/HAPROXY_0_PORT', 'error.expected.jsstring'],
    ['invalid killSelection', { id: '/a', cmd: 'x', killSelection: 'RANDOM' }, '/killSelection', 'error.unknown.enum.literal'],
    ['unreachableStrategy inactive after expunge', { id: '/a', cmd: 'x', unreachableStrategy: { inactiveAfterSeconds: 700, expungeAfterSeconds: 600 } }, '/unreachableStrategy/inactiveAfterSeconds', 'inactiveAfterSeconds (700) must be less or equal to expungeAfterSeconds, which is 600'],
    ['unreachableStrategy unknown string', { id: '/a', cmd: 'x', unreachableStrategy: 'never' }, '/unreachableStrategy', 'error.unknown.enum.literal'],
    ['unreachableStrategy negative', { id: '/a', cmd: 'x', unreachableStrategy: { inactiveAfterSeconds: -1 } }, '/unreachableStrategy/inactiveAfterSeconds', 'must be greater than or equal to 0'],
    ['docker.network together with networks', { id: '/a', container: { docker: { image: 'x', network: 'BRIDGE' } }, networks: [{ mode: 'container/bridge' }] }, '/', 'must not specify both container.docker.network and networks'],
    ['ports and different portDefinitions', { id: '/a', cmd: 'x', ports: [1000], portDefinitions: [{ port: 2000 }] }, '/', 'cannot specify both ports and port definitions'],
    ['uris together with fetch', { id: '/a', cmd: 'x', uris: ['http://a/b'], fetch: [{ uri: 'http://c/d' }] }, '/uris', 'may not be set in conjunction with fetch'],
    ['fetch uri with a space', { id: '/a', cmd: 'x', fetch: [{ uri: 'http://a/b c' }] }, '/fetch(0)/uri', 'URI has invalid syntax.'],
    ['MESOS container with docker.network', { id: '/a', container: { type: 'MESOS', docker: { image: 'x', network: 'BRIDGE' } } }, '/container/docker/network', 'must be empty'],
    ['docker network NONE', { id: '/a', container: { docker: { image: 'x', network: 'NONE' } } }, '/container/docker/network', 'unsupported docker network type NONE'],
    ['empty acceptedResourceRoles', { id: '/a', cmd: 'x', acceptedResourceRoles: [] }, '/acceptedResourceRoles', 'must not be empty'],
    ['host volume without hostPath', { id: '/a', container: { docker: { image: 'x' }, volumes: [{ containerPath: '/data', mode: 'RW' }] } }, '/container/volumes(0)/hostPath', 'error.path.missing'],
    ['invalid volume mode', { id: '/a', container: { docker: { image: 'x' }, volumes: [{ containerPath: '/d', hostPath: '/d', mode: 'RX' }] } }, '/container/volumes(0)/mode', 'error.unknown.enum.literal'],
    ['single-instance app with 2 instances', { id: '/a', cmd: 'x', instances: 2, labels: { MARATHON_SINGLE_INSTANCE_APP: 'true' } }, '/', 'Single instance app may only have one instance'],
  ]

  it.each(cases)('%s', (_name, raw, path, message) => {
    const d = details(raw)
    const entry = d.find((x) => x.path === path)
    expect(entry, JSON.stringify(d)).toBeDefined()
    if (message !== undefined) expect(entry?.errors).toContain(message)
  })

  it('has at least 20 distinct cases', () => {
    expect(new Set(cases.map((c) => c[0])).size).toBeGreaterThanOrEqual(20)
  })

  it('groups several errors by path, as Marathon renders them', () => {
    const d = details({ id: '/a', cmd: 'x', instances: -1, cpus: -1, upgradeStrategy: { minimumHealthCapacity: 2, maximumOverCapacity: 2 } })
    expect(d).toEqual([
      { path: '/instances', errors: ['must be greater than or equal to 0'] },
      { path: '/cpus', errors: ['must be greater than or equal to 0.001'] },
      { path: '/upgradeStrategy/minimumHealthCapacity', errors: ['is greater than 1'] },
      { path: '/upgradeStrategy/maximumOverCapacity', errors: ['is greater than 1'] },
    ])
  })

  it('AppValidationError carries Marathon’s 422 body', () => {
    const d = details({ id: '/a', cmd: 'x', upgradeStrategy: { minimumHealthCapacity: 1.5 } })
    const err = new AppValidationError(d)
    expect(err.status).toBe(422)
    expect(err.body).toEqual({
      message: 'Object is not valid',
      details: [{ path: '/upgradeStrategy/minimumHealthCapacity', errors: ['is greater than 1'] }],
    })
  })

  it('parseJsonBody turns bad JSON into Marathon’s 400 body', () => {
    expect(parseJsonBody('{"id":"/a"}')).toEqual({ id: '/a' })
    let caught: unknown
    try {
      parseJsonBody('{"id":"/test"')
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(InvalidJsonError)
    const err = caught as InvalidJsonError
    expect(err.status).toBe(400)
    expect(err.body.message).toBe('Invalid JSON')
    expect(err.details).toHaveLength(1)
    expect(err.details[0]?.path).toBe('/')
    expect(err.details[0]?.errors[0]).toMatch(/.+/)
    expect(() => parseJsonBody('')).toThrow(InvalidJsonError)
  })
})

describe('documented examples', () => {
  // Marathon's "Bridged Networking Mode" example (docs/native-docker.md), with the scheduling,
  // upgrade, label and fetch fields of the docs' app example filled in.
  const bridgedWebapp = {
    id: 'bridged-webapp',
    cmd: 'python3 -m http.server 8080',
    cpus: 0.5,
    mem: 64.0,
    instances: 2,
    networks: [{ mode: 'container/bridge' }],
    container: {
      type: 'DOCKER',
      docker: { image: 'python:3', forcePullImage: false, privileged: false, parameters: [{ key: 'label', value: 'tier=web' }] },
      portMappings: [
        { containerPort: 8080, hostPort: 0, servicePort: 9000, protocol: 'tcp', name: 'http', labels: { VIP_0: '/bridged-webapp:8080' } },
        { containerPort: 161, hostPort: 0, protocol: 'udp' },
      ],
      volumes: [{ containerPath: '/data', hostPath: '/var/data', mode: 'RO' }],
    },
    healthChecks: [{ protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 5, intervalSeconds: 20, maxConsecutiveFailures: 3 }],
    readinessChecks: [{ name: 'ready', protocol: 'HTTP', path: '/', portName: 'http', intervalSeconds: 10, timeoutSeconds: 3, httpStatusCodesForReady: [200], preserveLastResponse: true }],
    upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.2 },
    constraints: [['hostname', 'UNIQUE'], ['rack_id', 'GROUP_BY', '2'], ['hostname', 'LIKE', 'srv2.*']],
    labels: { owner: 'zeus', note: 'Away from olympus', HAPROXY_GROUP: 'external' },
    env: { XPS1: 'Test', XPS2: 'Rest' },
    fetch: [
      { uri: 'https://foo.com/setup.py' },
      { uri: 'https://foo.com/archive.zip', executable: false, extract: true, cache: true, destPath: 'newname.zip' },
    ],
    backoffSeconds: 1,
    backoffFactor: 1.15,
    maxLaunchDelaySeconds: 3600,
    taskKillGracePeriodSeconds: 30,
    killSelection: 'OLDEST_FIRST',
    dependencies: ['/prod/db'],
    user: 'nobody',
  }

  it('accepts the bridged webapp as is', () => {
    const app = ok(bridgedWebapp)
    expect(app.id).toBe('/bridged-webapp')
    expect(app.networks).toEqual([{ mode: 'container/bridge' }])
    expect(app.portDefinitions).toEqual([])
    expect(app.container).toEqual({
      type: 'DOCKER',
      docker: { image: 'python:3', forcePullImage: false, privileged: false, parameters: [{ key: 'label', value: 'tier=web' }] },
      portMappings: [
        { containerPort: 8080, hostPort: 0, servicePort: 9000, protocol: 'tcp', name: 'http', labels: { VIP_0: '/bridged-webapp:8080' } },
        { containerPort: 161, hostPort: 0, servicePort: 0, protocol: 'udp' },
      ],
      volumes: [{ containerPath: '/data', hostPath: '/var/data', mode: 'RO' }],
    })
    expect(app.healthChecks).toEqual([
      { protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 5, intervalSeconds: 20, maxConsecutiveFailures: 3, timeoutSeconds: 20, delaySeconds: 15 },
    ])
    expect(app.readinessChecks).toEqual(bridgedWebapp.readinessChecks)
    expect(app.upgradeStrategy).toEqual(bridgedWebapp.upgradeStrategy)
    expect(app.constraints).toEqual(bridgedWebapp.constraints)
    expect(app.labels).toEqual(bridgedWebapp.labels)
    expect(app.env).toEqual(bridgedWebapp.env)
    expect(app.fetch).toEqual([
      { uri: 'https://foo.com/setup.py', extract: true, executable: false, cache: false },
      { uri: 'https://foo.com/archive.zip', extract: true, executable: false, cache: true, destPath: 'newname.zip' },
    ])
    expect(app).toMatchObject({
      cpus: 0.5,
      mem: 64,
      instances: 2,
      maxLaunchDelaySeconds: 3600,
      taskKillGracePeriodSeconds: 30,
      killSelection: 'OLDEST_FIRST',
      dependencies: ['/prod/db'],
      user: 'nobody',
    })
  })

  it('writes it back in Marathon’s field order and reads the same app again', () => {
    const app = ok(bridgedWebapp)
    const json = appToJson(app)
    expect(Object.keys(json).slice(0, 7)).toEqual(['id', 'backoffFactor', 'backoffSeconds', 'cmd', 'constraints', 'container', 'cpus'])
    expect(Object.keys(json).slice(-4)).toEqual(['version', 'versionInfo', 'killSelection', 'unreachableStrategy'])
    expect(normalizeApp(JSON.parse(JSON.stringify(json)), { now })).toEqual({ ok: true, app })
  })
})

describe('updates', () => {
  const existing = ok({
    id: '/web',
    cmd: 'serve',
    instances: 1,
    labels: { a: 'b' },
    portDefinitions: [{ port: 0, name: 'http' }],
    healthChecks: [{ protocol: 'HTTP', path: '/h' }],
  })

  it('a partial PUT changes only the fields it names', () => {
    const app = ok({ instances: 3 }, { existing, partial: true, now: later })
    expect(app).toEqual({ ...existing, instances: 3, version: later, versionInfo: { lastScalingAt: later, lastConfigChangeAt: now } })
  })

  it('a partial PUT of a config field is a config change', () => {
    const app = ok({ cmd: 'serve --fast', labels: { c: 'd' } }, { existing, partial: true, now: later })
    expect(app.cmd).toBe('serve --fast')
    expect(app.labels).toEqual({ c: 'd' })
    expect(app.healthChecks).toEqual(existing.healthChecks)
    expect(app.versionInfo).toEqual({ lastScalingAt: later, lastConfigChangeAt: later })
  })

  it('a partial PUT with the deprecated ports replaces portDefinitions', () => {
    const app = ok({ ports: [0, 0] }, { existing, partial: true, now: later })
    expect(app.portDefinitions).toEqual([
      { port: 0, protocol: 'tcp' },
      { port: 0, protocol: 'tcp' },
    ])
  })

  it('a partial PUT of ports re-derives a bridged app’s port mappings', () => {
    const docker = ok({ id: '/d', container: { docker: { image: 'x' } } })
    const app = ok({ portDefinitions: [{ port: 0, name: 'a' }, { port: 0, name: 'b' }] }, { existing: docker, partial: true, now: later })
    expect(app.container?.portMappings?.map((m) => m.name)).toEqual(['a', 'b'])
  })

  it('the body id must name the app being updated', () => {
    expect(ok({ id: 'web', instances: 2 }, { existing, partial: true }).instances).toBe(2)
    expect(details({ id: '/other', instances: 2 }, { existing, partial: true })).toEqual([
      { path: '/id', errors: ["'/web' does not match definition's id ('/other')"] },
    ])
    expect(details({ id: '/other', cmd: 'x' }, { idFromPath: '/web' })[0]?.path).toBe('/id')
  })

  it('a PUT to a new id takes the id from the path', () => {
    expect(ok({ cmd: 'x' }, { idFromPath: '//new//app' }).id).toBe('/new/app')
  })

  it('a full (non-partial) PUT replaces the definition but keeps versionInfo when only scaling', () => {
    const body = { ...appToJson(existing), instances: 5 }
    const app = ok(body, { existing, now: later })
    expect(app.versionInfo).toEqual({ lastScalingAt: later, lastConfigChangeAt: now })
    const replaced = ok({ cmd: 'other' }, { existing, now: later })
    expect(replaced.labels).toEqual({})
    expect(replaced.versionInfo.lastConfigChangeAt).toBe(later)
  })

  it('a partial update is validated after the merge', () => {
    expect(details({ instances: -2 }, { existing, partial: true })).toEqual([{ path: '/instances', errors: ['must be greater than or equal to 0'] }])
  })
})

describe('groups', () => {
  it('resolves nested app ids against their group and flattens the tree', () => {
    const r = normalizeGroup(
      {
        id: '/prod',
        apps: [{ id: 'db', cmd: 'db' }],
        groups: [
          {
            id: 'web',
            dependencies: ['../db'],
            apps: [
              { id: 'frontend', cmd: 'serve', dependencies: ['backend'] },
              { id: '/prod/web/backend', cmd: 'serve' },
            ],
          },
        ],
      },
      { now },
    )
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.groupId).toBe('/prod')
    expect(r.apps.map((a) => a.id)).toEqual(['/prod/db', '/prod/web/frontend', '/prod/web/backend'])
    expect(r.apps[1]?.dependencies).toEqual(['/prod/web/backend'])
    expect(r.groups).toEqual([
      { id: '/prod', dependencies: [] },
      { id: '/prod/web', dependencies: ['/prod/db'] },
    ])
    expect(dependencyOrder(r.apps, r.groups)).toEqual([['/prod/db'], ['/prod/web/backend'], ['/prod/web/frontend']])
  })

  it('reports app errors under the app’s position in the tree', () => {
    const r = normalizeGroup(
      {
        id: '/prod',
        apps: [{ id: 'a', cmd: 'x', cpus: -1 }],
        groups: [{ id: 'web', apps: [{ id: '/elsewhere/b', cmd: 'x' }, { cmd: 'x' }] }],
      },
      { now },
    )
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.details).toEqual([
      { path: '/apps(0)/cpus', errors: ['must be greater than or equal to 0.001'] },
      { path: '/groups(0)/apps(0)/id', errors: ["Identifier is not child of '/prod/web'"] },
      { path: '/groups(0)/apps(1)/id', errors: ['error.path.missing'] },
    ])
  })

  it('relative ids resolve against the base given for PUT /v2/groups/{id}', () => {
    const r = normalizeGroup({ apps: [{ id: 'x', cmd: 'x' }] }, { now, base: '/team' })
    expect(r.ok && r.groupId).toBe('/team')
    expect(r.ok && r.apps[0]?.id).toBe('/team/x')
  })

  it('rejects an app and a group with the same id, and nested groups without id', () => {
    const r = normalizeGroup({ id: '/p', apps: [{ id: 'x', cmd: 'x' }], groups: [{ id: 'x' }, { apps: [] }] }, { now })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.details).toContainEqual({ path: '/', errors: ['Groups and Applications may not have the same identifier.'] })
    expect(r.details).toContainEqual({ path: '/groups(1)/id', errors: ['error.path.missing'] })
  })

  it('rejects cyclic dependencies with Marathon’s message', () => {
    const r = normalizeGroup(
      {
        id: '/c',
        apps: [
          { id: 'a', cmd: 'x', dependencies: ['b'] },
          { id: 'b', cmd: 'x', dependencies: ['/c/a'] },
        ],
      },
      { now },
    )
    expect(r).toEqual({ ok: false, details: [{ path: '/', errors: ['Dependency graph has cyclic dependencies.'] }] })
  })

  it('passes scaleBy and version through, alone', () => {
    expect(normalizeGroup({ id: '/p', scaleBy: 2 }, { now })).toMatchObject({ ok: true, groupId: '/p', scaleBy: 2, apps: [] })
    expect(normalizeGroup({ id: '/p', version: now }, { now })).toMatchObject({ ok: true, version: now })
    const r = normalizeGroup({ id: '/p', scaleBy: 2, apps: [{ id: 'a', cmd: 'x' }] }, { now })
    expect(r.ok).toBe(false)
  })

  it('carries versionInfo over from existing apps', () => {
    const existing = ok({ id: '/p/a', cmd: 'x' })
    const r = normalizeGroup({ id: '/p', apps: [{ id: 'a', cmd: 'x', instances: 4 }] }, { now: later, existing: new Map([[existing.id, existing]]) })
    expect(r.ok && r.apps[0]?.versionInfo).toEqual({ lastScalingAt: later, lastConfigChangeAt: now })
  })
})

describe('dependencyOrder', () => {
  const app = (id: string, ...dependencies: string[]) => ({ id, dependencies })

  it('levels apps by their longest dependency chain', () => {
    expect(dependencyOrder([app('/a', '/b'), app('/b', '/c'), app('/c'), app('/d', '/c')])).toEqual([['/c'], ['/b', '/d'], ['/a']])
  })

  it('a dependency on a group waits for every app below it; unknown ids are ignored', () => {
    expect(dependencyOrder([app('/web', '/db', '/nowhere'), app('/db/pg'), app('/db/cache', '/db/pg')])).toEqual([['/db/pg'], ['/db/cache'], ['/web']])
  })

  it('group dependencies apply to all their apps', () => {
    expect(dependencyOrder([app('/web/a'), app('/web/b'), app('/db')], [{ id: '/web', dependencies: ['/db'] }])).toEqual([['/db'], ['/web/a', '/web/b']])
  })

  it('throws a 422 on cycles, self-dependencies included', () => {
    expect(() => dependencyOrder([app('/a', '/b'), app('/b', '/a')])).toThrow(AppValidationError)
    try {
      dependencyOrder([app('/a', '/a')])
    } catch (e) {
      expect((e as AppValidationError).body).toEqual({ message: 'Object is not valid', details: [{ path: '/', errors: [CYCLIC_DEPENDENCIES] }] })
    }
  })
})

describe('round trip', () => {
  const segment = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/)
  const name = fc.stringMatching(/^[a-z]([a-z0-9-]{0,5}[a-z0-9])?$/)
  const labels = fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,6}$/), fc.string({ maxLength: 8 }), { maxKeys: 3 })
  const portDef = fc.record(
    { port: fc.constantFrom(0, 0, 8080, 9000), protocol: fc.constantFrom('tcp', 'udp', 'udp,tcp'), name, labels },
    { requiredKeys: [] },
  )
  const mapping = fc.record(
    { containerPort: fc.integer({ min: 0, max: 65535 }), hostPort: fc.constantFrom(0, 31000), servicePort: fc.constantFrom(0, 10001), protocol: fc.constantFrom('tcp', 'udp'), name, labels },
    { requiredKeys: [] },
  )
  const healthCheck = fc.oneof(
    fc.record(
      { protocol: fc.constantFrom('HTTP', 'HTTPS', 'TCP', 'MESOS_HTTP'), path: fc.constant('/health'), portIndex: fc.constant(0), gracePeriodSeconds: fc.nat(600), intervalSeconds: fc.nat(60), timeoutSeconds: fc.nat(30), maxConsecutiveFailures: fc.nat(5), delaySeconds: fc.nat(30), ignoreHttp1xx: fc.boolean() },
      { requiredKeys: ['protocol'] },
    ),
    fc.record({ protocol: fc.constant('COMMAND'), command: fc.record({ value: fc.string({ minLength: 1, maxLength: 10 }) }) }),
  )
  const constraint = fc.oneof(
    fc.constant(['hostname', 'UNIQUE']),
    fc.tuple(fc.constant('rack'), fc.constantFrom('group_by', 'MAX_PER'), fc.integer({ min: 1, max: 9 }).map(String)),
    fc.tuple(fc.constant('zone'), fc.constantFrom('LIKE', 'UNLIKE'), fc.constantFrom('a.*', 'b|c')),
    fc.constant(['zone', 'CLUSTER', 'east']),
  )
  const dockerContainer = fc.record(
    {
      type: fc.constant('DOCKER'),
      docker: fc.record({ image: fc.constantFrom('nginx', 'python:3'), forcePullImage: fc.boolean(), privileged: fc.boolean() }, { requiredKeys: ['image'] }),
      portMappings: fc.array(mapping, { maxLength: 3 }),
      volumes: fc.array(fc.record({ containerPath: fc.constant('/data'), hostPath: fc.constant('/srv'), mode: fc.constantFrom('RO', 'RW') }), { maxLength: 2 }),
    },
    { requiredKeys: ['docker'] },
  )
  const rawApp = fc.record(
    {
      id: fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => '/' + s.join('/')),
      cmd: fc.string({ minLength: 1, maxLength: 12 }),
      instances: fc.nat(5),
      cpus: fc.constantFrom(0.1, 0.5, 1, 2),
      mem: fc.constantFrom(32, 128, 1024),
      disk: fc.nat(100),
      env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,6}$/), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
      labels,
      constraints: fc.array(constraint, { maxLength: 3 }),
      container: fc.oneof(dockerContainer, fc.constant({ type: 'MESOS' })),
      networks: fc.constantFrom([{ mode: 'host' }], [{ mode: 'container/bridge' }], [{ mode: 'container', name: 'dcos' }]),
      portDefinitions: fc.array(portDef, { maxLength: 3 }),
      ports: fc.array(fc.constant(0), { maxLength: 2 }),
      requirePorts: fc.boolean(),
      healthChecks: fc.array(healthCheck, { maxLength: 1 }),
      upgradeStrategy: fc.record({ minimumHealthCapacity: fc.double({ min: 0, max: 1, noNaN: true }), maximumOverCapacity: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: [] }),
      backoffSeconds: fc.nat(10),
      killSelection: fc.constantFrom('YOUNGEST_FIRST', 'OLDEST_FIRST'),
      unreachableStrategy: fc.oneof(fc.constant('disabled'), fc.record({ inactiveAfterSeconds: fc.nat(100), expungeAfterSeconds: fc.integer({ min: 100, max: 1000 }) })),
      taskKillGracePeriodSeconds: fc.nat(60),
      dependencies: fc.array(fc.array(segment, { minLength: 1, maxLength: 2 }).map((s) => '/' + s.join('/')), { maxLength: 2 }),
      uris: fc.array(fc.constantFrom('https://h/a.tgz', 'https://h/b.sh'), { maxLength: 2 }),
      user: fc.constantFrom('root', 'nobody'),
    },
    { requiredKeys: ['id', 'cmd'] },
  ).map((raw) => {
    // ports and portDefinitions together are rejected (Marathon does too); keep one of them.
    if (raw.ports === undefined || raw.portDefinitions === undefined) return raw
    const { ports: _ports, ...rest } = raw
    return rest
  })

  it('normalizeApp(appToJson(app)) gives back app for valid apps', () => {
    let valid = 0
    let total = 0
    fc.assert(
      fc.property(rawApp, (raw) => {
        total++
        const first = normalizeApp(raw, { now })
        if (!first.ok) return
        valid++
        const json = JSON.parse(JSON.stringify(appToJson(first.app))) as unknown
        expect(normalizeApp(json, { now })).toEqual({ ok: true, app: first.app })
        // A Marathon client that PUTs back what it GOT changes nothing.
        expect(normalizeApp(json, { now: later, existing: first.app, partial: true })).toEqual({
          ok: true,
          app: { ...first.app, version: later, versionInfo: { lastScalingAt: later, lastConfigChangeAt: now } },
        })
      }),
      { numRuns: 300 },
    )
    // The generator must mostly produce valid apps, or the property says little.
    expect(valid / total).toBeGreaterThan(0.5)
  })
})
