// appToJson: an AppDefinition as Marathon's GET /v2/apps/{id} writes it, fields in the order
// Marathon writes them (RAML order).
import type { AppDefinition, AppHealthCheck, Constraint, ContainerSpec, PortDefinition, PortMapping } from './types.js'

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

export function healthCheckJson(hc: AppHealthCheck): AppHealthCheck {
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
