import { describe, expect, it } from 'vitest'
import { applyStatusEvent } from '../api/status-patch.js'
import { hostEntries, serviceEntries } from './http.js'
import { buildRecords, createRecordsBuilder, hostsOf, taskName } from './records.js'
import type { DnsApp, Records } from './records.js'

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

  it('builds again what changed: a new copy of an app, a host with a new address, and merges two apps of one name', () => {
    const opts = { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1' }
    const app = { id: '/x', tasks: [{ id: 'x.aaaaaaaa-1', state: 'TASK_RUNNING', host: 'a', ports: [31000] }] }
    const first = buildRecords([app], { ...opts, hostAddresses: new Map([['a', '10.0.0.1']]) })
    expect(first.a.get('x.marathon.mesos')).toEqual(['10.0.0.1'])
    // The same copy, its host now at another address.
    expect(buildRecords([app], { ...opts, hostAddresses: new Map([['a', '10.0.0.9']]) }).a.get('x.marathon.mesos')).toEqual(['10.0.0.9'])
    expect(buildRecords([app], { ...opts, hostAddresses: new Map() }).a.has('x.marathon.mesos')).toBe(false)
    // A new copy with one more task; the first copy still gives what it gave.
    const hostAddresses = new Map([['a', '10.0.0.1'], ['b', '10.0.0.2']])
    const scaled = { ...app, tasks: [...app.tasks, { id: 'x.bbbbbbbb-2', state: 'TASK_RUNNING', host: 'b', ports: [31001] }] }
    expect(buildRecords([scaled], { ...opts, hostAddresses }).srv.get('_x._tcp.marathon.mesos')!.map((r) => r.port)).toEqual([31000, 31001])
    expect(buildRecords([app], { ...opts, hostAddresses }).srv.get('_x._tcp.marathon.mesos')!.map((r) => r.port)).toEqual([31000])
    // /x_y and /x-y are both the task x-y: their records are one name's.
    const twins = [
      { id: '/x_y', tasks: [{ id: 'x_y.cccccccc-3', state: 'TASK_RUNNING', host: 'a', ports: [31002] }] },
      { id: '/x-y', tasks: [{ id: 'x-y.dddddddd-4', state: 'TASK_RUNNING', host: 'b', ports: [31003] }, { id: 'x-y.eeeeeeee-5', state: 'TASK_RUNNING', host: 'a', ports: [31004] }] },
    ]
    const merged = buildRecords(twins, { ...opts, hostAddresses })
    expect(merged.a.get('x-y.marathon.mesos')).toEqual(['10.0.0.1', '10.0.0.2'])
    expect(merged.srv.get('_x-y._tcp.marathon.mesos')!.map((r) => r.port)).toEqual([31002, 31003, 31004])
    expect(buildRecords([twins[1]!], { ...opts, hostAddresses }).a.get('x-y.marathon.mesos')).toEqual(['10.0.0.2', '10.0.0.1'])
  })

  it('follows a status event applied to the copy of an app: a new task gets its records, one that ended loses them', () => {
    const opts = { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1', hostAddresses: new Map([['a', '10.0.0.1'], ['b', '10.0.0.2']]) }
    const app = { id: '/x', tasks: [{ id: 'x.aaaaaaaa-1', state: 'TASK_RUNNING', host: 'a', ports: [31000] }] }
    const started = applyStatusEvent(app, { eventType: 'status_update_event', appId: '/x', taskId: 'x.bbbbbbbb-2', taskStatus: 'TASK_RUNNING', host: 'b', ports: [31001] })!
    expect(buildRecords([started], opts).srv.get('_x._tcp.marathon.mesos')!.map((r) => r.port)).toEqual([31000, 31001])
    const ended = applyStatusEvent(started, { eventType: 'status_update_event', appId: '/x', taskId: 'x.aaaaaaaa-1', taskStatus: 'TASK_KILLED', host: 'a', ports: [31000] })!
    expect(buildRecords([ended], opts).a.get('x.marathon.mesos')).toEqual(['10.0.0.2'])
    expect(applyStatusEvent(ended, { eventType: 'status_update_event', appId: '/x', taskId: 'x.cccccccc-3', taskStatus: 'TASK_RUNNING' })).toBeUndefined()
  })

  it('keeps, update after update, the records a build from scratch gives', () => {
    const opts = { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1' }
    let hostAddresses = new Map([['a', '10.0.0.1'], ['b', '10.0.0.2'], ['c', '10.0.0.3']])
    // The records read straight off the apps, with no cache: what the builder must agree with.
    const naive = (list: DnsApp[], hosts: Map<string, string>): Records => {
      const a = new Map<string, string[]>([['leader.mesos', ['127.0.0.1']], ['master.mesos', ['127.0.0.1']]])
      const srv = new Map<string, Array<{ port: number; target: string }>>()
      const push = <V>(m: Map<string, V[]>, k: string, v: V) => m.set(k, [...(m.get(k) ?? []), v])
      for (const app of list) {
        for (const t of app.tasks ?? []) {
          const ip = hosts.get(t.host)
          if (t.state !== 'TASK_RUNNING' || ip === undefined) continue
          const target = `${taskName(app.id)}-${t.id.split('.').pop()!.slice(0, 8)}.marathon.mesos`
          for (const n of [`${taskName(app.id)}.marathon.mesos`, target]) if (!a.get(n)?.includes(ip)) push(a, n, ip)
          push(srv, `_${taskName(app.id)}._tcp.marathon.mesos`, { port: t.ports[0]!, target })
        }
      }
      return { a, srv }
    }
    const sorted = (r: Records) => ({ a: [...r.a].map(([n, ips]) => [n, [...ips].sort()]).sort(), srv: [...r.srv].map(([n, l]) => [n, l.map((x) => `${x.target}:${x.port}`).sort()]).sort() })
    const builder = createRecordsBuilder(opts)
    // A seeded walk: apps (two of them one task name) gain, lose and move tasks, and come and go.
    let seed = 7
    const rand = (n: number) => (seed = (seed * 16807) % 2147483647) % n
    const ids = ['/y', '/x_y', '/x-y']
    let apps: DnsApp[] = []
    for (let step = 0; step < 200; step++) {
      const id = ids[rand(ids.length)]!
      const current = apps.find((p) => p.id === id)
      const others = apps.filter((p) => p !== current)
      const task = { id: `${id.slice(1)}.${'abcdefgh'[rand(8)]!.repeat(8)}-${step}`, state: rand(4) === 0 ? 'TASK_STAGING' : 'TASK_RUNNING', host: 'abcd'[rand(4)]!, ports: [31000 + rand(50)] }
      if (rand(10) === 0) apps = others
      else if (!current || rand(3) === 0) apps = [...others, { id, tasks: [...(current?.tasks ?? []), task] }]
      else apps = [...others, { ...current, tasks: current.tasks!.slice(1) }]
      if (step % 50 === 49) hostAddresses = new Map([...hostAddresses, ['c', `10.0.1.${step}`]])
      expect(sorted(builder.update(apps, hostAddresses)), `step ${step}`).toEqual(sorted(naive(apps, hostAddresses)))
    }
    expect(apps.length).toBeGreaterThan(0)
  })
})
