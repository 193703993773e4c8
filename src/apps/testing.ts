// Builders of domain values for the apps framework's unit tests: one complete, valid app and
// instance that each test changes only where it matters, and normalizeApp with the definition
// tests' version.
import type { ValidationDetail } from './errors.js'
import type { NormalizeAppOptions } from './normalize-app.js'
import { normalizeApp } from './normalize-app.js'
import type { AppDefinition, Instance } from './types.js'
import { Condition } from './types.js'

export const T0 = '2026-01-01T00:00:00.000Z'

export function testApp(over: Partial<AppDefinition> = {}): AppDefinition {
  return {
    id: '/web',
    cmd: 'python3 -m http.server $PORT0',
    instances: 1,
    cpus: 0.5,
    mem: 128,
    disk: 0,
    gpus: 0,
    env: {},
    labels: {},
    constraints: [],
    networks: [{ mode: 'host' }],
    portDefinitions: [],
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
    version: T0,
    versionInfo: { lastScalingAt: T0, lastConfigChangeAt: T0 },
    ...over,
  }
}

let seq = 0

/** A running instance of /web; each call gets new ids and a later stagedAt. */
export function testInstance(over: Partial<Instance> = {}): Instance {
  seq++
  return {
    instanceId: `web.instance-${seq}`,
    taskId: `web.${seq}`,
    appId: '/web',
    version: T0,
    configVersion: T0,
    agentId: 'a1',
    host: 'h1',
    agentIp: '127.0.0.1',
    hostPorts: [],
    servicePorts: [],
    condition: Condition.Running,
    mesosState: 'TASK_RUNNING',
    stagedAt: new Date(Date.parse(T0) + seq * 1000).toISOString(),
    ipAddresses: [],
    goal: 'Running',
    ...over,
  }
}

/** The version normalizeApp gives definitions in the definition tests, and a later one. */
export const NOW = '2024-05-01T10:00:00.000Z'
export const LATER = '2024-05-02T10:00:00.000Z'

/** normalizeApp at NOW, for a definition the test expects to be valid. */
export function validApp(raw: unknown, opts: Partial<NormalizeAppOptions> = {}): AppDefinition {
  const r = normalizeApp(raw, { now: NOW, ...opts })
  if (!r.ok) throw new Error(`expected a valid app, got ${JSON.stringify(r.details)}`)
  return r.app
}

/** normalizeApp at NOW, for a definition the test expects to be refused: Marathon's 422 details. */
export function invalidAppDetails(raw: unknown, opts: Partial<NormalizeAppOptions> = {}): ValidationDetail[] {
  const r = normalizeApp(raw, { now: NOW, ...opts })
  if (r.ok) throw new Error(`expected validation errors for ${JSON.stringify(raw)}`)
  return r.details
}
