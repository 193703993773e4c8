import { describe, expect, it } from 'vitest'
import { assignServicePorts, servicePortConflicts } from './service-ports.js'
import { testApp } from './testing.js'
import type { AppDefinition } from './types.js'

const withPorts = (id: string, ...ports: number[]): AppDefinition => testApp({ id, portDefinitions: ports.map((port) => ({ port, protocol: 'tcp' as const })) })
const bridged = (id: string, ...servicePorts: number[]): AppDefinition =>
  testApp({
    id,
    networks: [{ mode: 'container/bridge' }],
    container: { type: 'DOCKER', docker: { image: 'x', forcePullImage: false, privileged: false, parameters: [] }, portMappings: servicePorts.map((servicePort) => ({ containerPort: 80, hostPort: 0, servicePort, protocol: 'tcp' })), volumes: [] },
  } as Partial<AppDefinition>)
const stored = (...apps: AppDefinition[]): Map<string, AppDefinition> => new Map(apps.map((a) => [a.id, a]))

describe('service ports', () => {
  it('refuses a port another app holds, in Marathon words, for port definitions and port mappings alike', () => {
    const current = stored(withPorts('/a', 10005), bridged('/b', 10006))
    expect(servicePortConflicts({ put: [withPorts('/c', 10005)], current })).toEqual([
      { path: '/', errors: ['Requested service port 10005 conflicts with a service port in app /a'] },
    ])
    expect(servicePortConflicts({ put: [bridged('/c', 10006)], current })[0]?.errors).toEqual(['Requested service port 10006 conflicts with a service port in app /b'])
  })

  it('lets an app keep its own ports, take the ports of an app removed in the same change, and leaves 0 to assignment', () => {
    const current = stored(withPorts('/a', 10005), withPorts('/b', 10007))
    expect(servicePortConflicts({ put: [withPorts('/a', 10005, 0)], current })).toEqual([])
    expect(servicePortConflicts({ put: [withPorts('/c', 10007)], current, removed: ['/b'] })).toEqual([])
    expect(servicePortConflicts({ put: [withPorts('/c', 0, 0)], current })).toEqual([])
  })

  it('refuses two apps of one change that ask for the same port', () => {
    const d = servicePortConflicts({ put: [withPorts('/x', 10010), withPorts('/y', 10010)], current: stored() })
    expect(d[0]?.errors).toContain('Requested service port 10010 conflicts with a service port in app /y')
  })

  it('assigns free ports from 10000, keeps ports at their index across updates, and never hands out a held one', () => {
    const current = stored(withPorts('/a', 10000, 10002))
    const [c] = assignServicePorts({ put: [withPorts('/c', 0, 0)], current })
    expect(c!.portDefinitions.map((p) => p.port)).toEqual([10001, 10003])
    const [again] = assignServicePorts({ put: [withPorts('/c', 0, 0, 0)], current: stored(...current.values(), c!) })
    expect(again!.portDefinitions.map((p) => p.port)).toEqual([10001, 10003, 10004])
  })
})
