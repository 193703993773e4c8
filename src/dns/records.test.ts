import * as packet from 'dns-packet'
import { describe, expect, it } from 'vitest'
import { hostEntries, serviceEntries } from './http.js'
import { buildRecords, hostsOf, taskName } from './records.js'
import { answer } from './server.js'

const apps = [
  {
    id: '/prod/web',
    portDefinitions: [{ protocol: 'tcp' }, { protocol: 'udp' }],
    networks: [{ mode: 'host' }],
    tasks: [
      { id: 'prod_web.aaaaaaaa-1', state: 'TASK_RUNNING', host: 'a', ports: [31000, 31001] },
      { id: 'prod_web.bbbbbbbb-2', state: 'TASK_RUNNING', host: 'b', ports: [31002, 31003] },
      { id: 'prod_web.cccccccc-3', state: 'TASK_STAGING', host: 'c', ports: [31004, 31005] },
      { id: 'prod_web.dddddddd-4', state: 'TASK_RUNNING', host: 'unresolved', ports: [31006, 31007] },
    ],
  },
]

describe('Mesos-DNS records', () => {
  const hostAddresses = new Map([['a', '10.0.0.1'], ['b', '10.0.0.2'], ['c', '10.0.0.3']])
  const records = buildRecords(apps, { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1', hostAddresses })

  it('resolves the hosts of running tasks only, and leaves out a task whose host has no address', () => {
    expect(hostsOf(apps)).toEqual(['a', 'b', 'unresolved'])
    expect([...records.a.keys()].filter((n) => n.includes('dddddddd'))).toEqual([])
  })

  it('names tasks as Mesos does for Marathon apps', () => {
    expect(taskName('/prod/web')).toBe('web.prod')
    expect(taskName('/a_b/C')).toBe('c.a-b')
  })

  it('has A records for running tasks only, and SRV records per port and protocol', () => {
    expect(records.a.get('web.prod.marathon.mesos')).toEqual(['10.0.0.1', '10.0.0.2'])
    expect(records.a.get('leader.mesos')).toEqual(['127.0.0.1'])
    expect(records.srv.get('_web.prod._tcp.marathon.mesos')!.map((r) => r.port)).toEqual([31000, 31002])
    expect(records.srv.get('_web.prod._udp.marathon.mesos')!.map((r) => r.port)).toEqual([31001, 31003])
    for (const r of records.srv.get('_web.prod._tcp.marathon.mesos')!) expect(records.a.get(r.target)).toHaveLength(1)
  })

  it('answers A, SRV with glue, NXDOMAIN, and refuses other zones', () => {
    const ask = (name: string, type: 'A' | 'SRV') => packet.decode(answer({ id: 7, type: 'query', flags: packet.RECURSION_DESIRED, questions: [{ name, type }] }, records, { domain: 'mesos', ttl: 5 })) as packet.DecodedPacket & { rcode: string }
    const a = ask('web.prod.marathon.mesos', 'A')
    expect(a.id).toBe(7)
    expect(a.rcode).toBe('NOERROR')
    expect(a.answers!.map((x) => (x as { data: string }).data)).toEqual(['10.0.0.1', '10.0.0.2'])
    const srv = ask('_web.prod._tcp.marathon.mesos', 'SRV')
    expect(srv.answers).toHaveLength(2)
    expect(srv.additionals!.every((x) => x.type === 'A')).toBe(true)
    expect(ask('nothing.marathon.mesos', 'A').rcode).toBe('NXDOMAIN')
    expect(ask('example.com', 'A').rcode).toBe('REFUSED')
  })

  it("gives the records over HTTP as Mesos-DNS's /v1/hosts and /v1/services do", () => {
    expect(hostEntries(records, 'Web.Prod.marathon.mesos.')).toEqual([
      { host: 'web.prod.marathon.mesos.', ip: '10.0.0.1' },
      { host: 'web.prod.marathon.mesos.', ip: '10.0.0.2' },
    ])
    expect(hostEntries(records, 'web.prod.*.marathon.mesos')).toHaveLength(2)
    expect(hostEntries(records, 'nothing.marathon.mesos')).toEqual([{ host: '', ip: '' }])
    const services = serviceEntries(records, '_web.prod._udp.marathon.mesos')
    expect(services.map((e) => [e.service, e.ip, e.port])).toEqual([
      ['_web.prod._udp.marathon.mesos', '10.0.0.1', '31001'],
      ['_web.prod._udp.marathon.mesos', '10.0.0.2', '31003'],
    ])
    for (const e of services) expect(e.host).toMatch(/^web\.prod-[a-z]{8}\.marathon\.mesos\.$/)
    expect(serviceEntries(records, '_nothing._tcp.marathon.mesos')).toEqual([{ service: '', host: '', ip: '', port: '' }])
  })
})
