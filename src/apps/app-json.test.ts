import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AppInfoSchema } from '../api/marathon-client.js'
import { appToJson } from './app-json.js'
import { normalizeApp } from './normalize-app.js'
import { LATER as later, NOW as now, validApp as ok } from './testing.js'

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
        // The typed client reads what the server writes, and leaves it as it is.
        expect(AppInfoSchema.parse(json)).toMatchObject(json as Record<string, unknown>)
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
