import { describe, expect, it } from 'vitest'
import { testInstance } from '../testing.js'
import { Condition } from '../types.js'
import { marathonTaskJson } from './views.js'

const extra = { healthCheckResults: [], role: '*' }

describe('marathonTaskJson', () => {
  it('writes every array field of a task, empty ones too, as Marathon 1.7+ does', () => {
    const json = marathonTaskJson(testInstance({ hostPorts: [], servicePorts: [], ipAddresses: [] }), extra)
    expect(json).toMatchObject({ ports: [], servicePorts: [], ipAddresses: [], localVolumes: [], healthCheckResults: [], role: '*' })
    // startedAt is optional and not set yet; the rest of an active task is there.
    expect(Object.keys(json).sort()).toEqual(
      ['appId', 'healthCheckResults', 'host', 'id', 'ipAddresses', 'localVolumes', 'ports', 'role', 'servicePorts', 'slaveId', 'stagedAt', 'state', 'version'].sort(),
    )
  })

  it('leaves out the times and version, and the host ports, of a task no longer active', () => {
    const i = testInstance({ condition: Condition.UnreachableInactive, mesosState: 'TASK_UNREACHABLE', startedAt: '2024-05-01T10:00:01.000Z', hostPorts: [31000], servicePorts: [10000] })
    const json = marathonTaskJson(i, extra)
    expect(json).not.toHaveProperty('stagedAt')
    expect(json).not.toHaveProperty('startedAt')
    expect(json).not.toHaveProperty('version')
    expect(json).toMatchObject({ ports: [], servicePorts: [10000], state: 'TASK_UNREACHABLE' })
    expect(marathonTaskJson({ ...i, condition: Condition.Unreachable }, extra)).toMatchObject({ ports: [31000], startedAt: '2024-05-01T10:00:01.000Z', version: i.version })
  })
})
