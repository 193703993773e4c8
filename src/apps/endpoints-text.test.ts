import { describe, expect, it } from 'vitest'
import { endpointsText, parseContainerNetworks, prefersText, safePath } from './endpoints-text.js'
import { testApp, testInstance } from './testing.js'
import type { AppDefinition, Instance } from './types.js'
import { Condition } from './types.js'

const text = (apps: AppDefinition[], instances: Instance[], containerNetworks: string | null = null): string =>
  endpointsText({ apps, instancesOf: (id) => instances.filter((i) => i.appId === id), containerNetwork: parseContainerNetworks(containerNetworks) })

describe('endpointsText', () => {
  it('writes one line per service port with the running instances as host:port', () => {
    const app = testApp({ id: '/prod/web', portDefinitions: [{ port: 10001, protocol: 'tcp' }, { port: 10002, protocol: 'tcp' }] })
    const instances = [
      testInstance({ appId: '/prod/web', host: 'h1', hostPorts: [31001, 31002] }),
      testInstance({ appId: '/prod/web', host: 'h2', hostPorts: [31005, 31006] }),
      testInstance({ appId: '/prod/web', host: 'h3', hostPorts: [31007, 31008], condition: Condition.Staging }),
    ]
    expect(text([app], instances)).toBe('prod_web\t10001\th1:31001\th2:31005\t\nprod_web\t10002\th1:31002\th2:31006\t\n')
  })

  it("gives an app without service ports ' ' as its port and the hosts", () => {
    const app = testApp({ id: '/sleeper' })
    const instances = [testInstance({ appId: '/sleeper', host: 'h1' }), testInstance({ appId: '/sleeper', host: 'h2' })]
    expect(text([app], instances)).toBe('sleeper\t \th1\th2\t\n')
    expect(text([app], [])).toBe('sleeper\t \t\n')
  })

  it('maps bridge ports to the host ports of the mappings that have one', () => {
    const app = testApp({
      id: '/bridged',
      networks: [{ mode: 'container/bridge' }],
      container: {
        type: 'DOCKER',
        volumes: [],
        portMappings: [
          { containerPort: 80, hostPort: 0, servicePort: 10010, protocol: 'tcp' },
          { containerPort: 81, hostPort: 0, servicePort: 10011, protocol: 'tcp' },
        ],
      },
    })
    const inst = testInstance({ appId: '/bridged', host: 'h1', hostPorts: [31010, 31011] })
    expect(text([app], [inst])).toBe('bridged\t10010\th1:31010\t\nbridged\t10011\th1:31011\t\n')
  })

  it('lists container-network ports as ip:containerPort only for the networks asked for', () => {
    const app = testApp({
      id: '/overlay',
      networks: [{ mode: 'container', name: 'dcos' }],
      container: {
        type: 'DOCKER',
        volumes: [],
        portMappings: [
          { containerPort: 8080, servicePort: 10020, protocol: 'tcp' },
          { containerPort: 9090, hostPort: 0, servicePort: 10021, protocol: 'tcp' },
        ],
      },
    })
    const inst = testInstance({ appId: '/overlay', host: 'h1', hostPorts: [31020], ipAddresses: [{ ipAddress: '9.0.0.7', protocol: 'IPv4' }] })
    expect(text([app], [inst])).toBe('overlay\t10020\t\noverlay\t10021\th1:31020\t\n')
    expect(text([app], [inst], 'dcos')).toBe('overlay\t10020\t9.0.0.7:8080\t\noverlay\t10021\th1:31020\t\n')
    expect(text([app], [inst], '*')).toBe(text([app], [inst], 'other,dcos'))
  })

  it('names apps as PathId.safePath does', () => {
    expect(safePath('/a/b/c')).toBe('a_b_c')
    expect(safePath('/x')).toBe('x')
  })
})

describe('prefersText', () => {
  it('picks text only when the client prefers it to JSON by more than the server prefers JSON', () => {
    expect(prefersText('text/plain')).toBe(true)
    expect(prefersText('text/*')).toBe(true)
    expect(prefersText('text/plain, application/json;q=0.05')).toBe(true)
    expect(prefersText(undefined)).toBe(false)
    expect(prefersText('*/*')).toBe(false)
    expect(prefersText('application/json')).toBe(false)
    expect(prefersText('text/plain, application/json')).toBe(false)
    expect(prefersText('text/plain, */*;q=0.5')).toBe(false)
  })
})
