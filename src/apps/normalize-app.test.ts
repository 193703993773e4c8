import { describe, expect, it } from 'vitest'
import { appToJson } from './app-json.js'
import { invalidAppDetails as details, LATER as later, NOW as now, validApp as ok } from './testing.js'
import type { AppDefinition } from './types.js'

describe('ids', () => {
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
