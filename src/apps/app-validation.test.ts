import { describe, expect, it } from 'vitest'
import { AppValidationError } from './errors.js'
import { invalidAppDetails as details } from './testing.js'

const ID_REGEX_MESSAGE = String.raw`must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$'`

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
})
