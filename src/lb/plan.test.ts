import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Applied } from './plan.js'
import type { RenderOptions } from './plan.js'
import { MIN_SLOTS, planChange, renderConfig } from './plan.js'
import type { Backend, LbApp, Routes } from './routes.js'
import { backendName, bindArgsWanted, mayServe, routes } from './routes.js'

function backend(name: string, servers: Array<[string, number, boolean?]>, over: Partial<Backend> = {}): Backend {
  return {
    name,
    appId: `/${name}`,
    portIndex: 0,
    servicePort: 10000,
    mode: 'http',
    balance: 'roundrobin',
    sticky: false,
    vhosts: [],
    weight: 0,
    redirectToHttps: false,
    hsts: false,
    servers: servers.map(([taskId, port, draining]) => ({ taskId, address: '127.0.0.1', port, draining: draining ?? false })),
    capacity: 0,
    ...over,
  }
}

const RENDER: RenderOptions = { bindAddress: '127.0.0.1', httpPort: 8081, httpsPort: 8443, appIdPort: 8091, sslCerts: [], statsPort: 9090, apiPort: 4000, socketPath: '/tmp/x.sock' }

/** A model of HAProxy's server table: applies runtime commands the way HAProxy does. */
function simulate(applied: Applied, commands: readonly string[]): Map<string, { addr: string; state: string }> {
  const table = new Map<string, { addr: string; state: string }>()
  for (const [name, b] of applied.backends) {
    for (let n = 1; n <= b.slots; n++) table.set(`${name}/srv${n}`, { addr: '127.0.0.1:1', state: 'maint' })
  }
  for (const c of commands) {
    let m = /^set server (\S+) addr (\S+) port (\d+)$/.exec(c)
    if (m) {
      const s = table.get(m[1]!)
      if (!s) throw new Error(`no such server ${m[1]}`)
      s.addr = `${m[2]}:${m[3]}`
      continue
    }
    m = /^set server (\S+) state (ready|drain|maint)$/.exec(c)
    if (!m) throw new Error(`unexpected command ${c}`)
    const s = table.get(m[1]!)
    if (!s) throw new Error(`no such server ${m[1]}`)
    s.state = m[2]!
  }
  return table
}

function tableOf(applied: Applied): Map<string, { addr: string; state: string }> {
  const table = new Map<string, { addr: string; state: string }>()
  for (const [name, b] of applied.backends) {
    for (let n = 1; n <= b.slots; n++) {
      const s = b.used.get(n)
      table.set(`${name}/srv${n}`, s ? { addr: `${s.address}:${s.port}`, state: s.draining ? 'drain' : 'ready' } : { addr: '127.0.0.1:1', state: 'maint' })
    }
  }
  return table
}

describe('planChange', () => {
  it('reloads for the first configuration and when frontends change, not for members', () => {
    const first = planChange(undefined, { backends: [backend('web_10000', [['a', 31000]])] })
    expect(first.reload).toBe(true)
    expect(first.next.backends.get('web_10000')!.slots).toBe(MIN_SLOTS)
    const members = planChange(first.next, { backends: [backend('web_10000', [['a', 31000], ['b', 31001]])] })
    expect(members.reload).toBe(false)
    expect(members.commands).toEqual(['set server web_10000/srv2 addr 127.0.0.1 port 31001', 'set server web_10000/srv2 state ready'])
    const vhost = planChange(members.next, { backends: [backend('web_10000', [['a', 31000], ['b', 31001]], { vhosts: ['x.test'] })] })
    expect(vhost.reload).toBe(true)
  })

  it('grows a backend by doubling its slots when it outgrows them, keeping room for a rolling restart', () => {
    const first = planChange(undefined, { backends: [backend('web_10000', [['a', 1]])] })
    const three = planChange(first.next, { backends: [backend('web_10000', [1, 2, 3].map((p) => [`t${p}`, p] as [string, number]))] })
    expect(three.reload).toBe(false)
    const five = planChange(first.next, { backends: [backend('web_10000', [1, 2, 3, 4, 5].map((p) => [`t${p}`, p] as [string, number]))] })
    expect(five.reload).toBe(true)
    expect(five.next.backends.get('web_10000')!.slots).toBe(16)
    // Three instances restarted side by side with three new ones fit without a reload.
    const six = planChange(planChange(undefined, { backends: [backend('web_10000', [1, 2, 3].map((p) => [`t${p}`, p] as [string, number]))] }).next, {
      backends: [backend('web_10000', [1, 2, 3, 4, 5, 6].map((p) => [`t${p}`, p] as [string, number]))],
    })
    expect(six.reload).toBe(false)
    // The task kept its slot across the reload.
    expect([...five.next.backends.get('web_10000')!.used.values()].map((s) => s.taskId).sort()).toEqual(['t1', 't2', 't3', 't4', 't5'])
  })

  it("sizes slots for the app's capacity ahead of its deployments, and reloads when the capacity grows, not mid-deployment", () => {
    const ids = (n: number, from = 1): Array<[string, number]> => Array.from({ length: n }, (_, i) => [`t${from + i}`, from + i])
    // A new app with 3 instances and the default overcapacity (1): no servers yet, room for 6.
    const created = planChange(undefined, { backends: [backend('web_10000', [], { capacity: 6 })] })
    expect(created.next.backends.get('web_10000')!.slots).toBeGreaterThanOrEqual(6)
    const running = planChange(created.next, { backends: [backend('web_10000', ids(3), { capacity: 6 })] })
    expect(running.reload).toBe(false)
    // A rolling restart: three new instances beside the three old ones, then the old ones drain.
    const restarting = planChange(running.next, { backends: [backend('web_10000', [...ids(3).map(([t, p]) => [t, p, true] as [string, number, boolean]), ...ids(3, 4)], { capacity: 6 })] })
    expect(restarting.reload).toBe(false)
    // Scaled to 10: the reload comes with the new definition, before any new instance serves.
    const scaled = planChange(running.next, { backends: [backend('web_10000', ids(3), { capacity: 20 })] })
    expect(scaled.reload).toBe(true)
    expect(scaled.next.backends.get('web_10000')!.slots).toBeGreaterThanOrEqual(20)
    const grown = planChange(scaled.next, { backends: [backend('web_10000', [...ids(10), ...ids(10, 11)], { capacity: 20 })] })
    expect(grown.reload).toBe(false)
  })

  it('drains a task being killed, and frees its slot once it is gone', () => {
    const first = planChange(undefined, { backends: [backend('web_10000', [['a', 1], ['b', 2]])] })
    const draining = planChange(first.next, { backends: [backend('web_10000', [['a', 1], ['b', 2, true]])] })
    expect(draining.commands).toEqual(['set server web_10000/srv2 state drain'])
    const gone = planChange(draining.next, { backends: [backend('web_10000', [['a', 1]])] })
    expect(gone.commands).toEqual(['set server web_10000/srv2 state maint'])
  })

  it('runtime commands bring HAProxy to exactly the routes, whatever the sequence (property)', () => {
    const serversArb = fc.uniqueArray(fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), port: fc.integer({ min: 31000, max: 31010 }), draining: fc.boolean() }), {
      selector: (s) => s.id,
      maxLength: 6,
    })
    fc.assert(
      fc.property(fc.array(serversArb, { minLength: 1, maxLength: 12 }), (steps) => {
        let applied: Applied | undefined
        let table = new Map<string, { addr: string; state: string }>()
        for (const servers of steps) {
          const r: Routes = { backends: [backend('web_10000', servers.map((s) => [s.id, s.port, s.draining]))] }
          const change = planChange(applied, r)
          table = change.reload ? tableOf(change.next) : simulate(applied!, [...serialize(table), ...change.commands])
          applied = change.next
          // What HAProxy serves equals the routes: each server once, in the right state.
          const live = [...table.values()].filter((s) => s.state !== 'maint').map((s) => `${s.addr}/${s.state}`).sort()
          expect(live).toEqual(servers.map((s) => `127.0.0.1:${s.port}/${s.draining ? 'drain' : 'ready'}`).sort())
        }
      }),
    )
  })

  it('renders every slot, used or free, and vhost rules', () => {
    const change = planChange(undefined, {
      backends: [backend('web_10000', [['a', 31000], ['b', 31001, true]], { vhosts: ['web.test'], path: '/api' })],
    })
    const cfg = renderConfig(change.next, RENDER)
    expect(cfg).toContain('server srv1 127.0.0.1:31000\n')
    expect(cfg).toContain('server srv2 127.0.0.1:31001 disabled')
    expect(cfg).toContain('server srv4 127.0.0.1:1 disabled')
    expect(cfg).toContain('bind 127.0.0.1:10000')
    expect(cfg).toMatch(/acl host_0 req\.hdr\(host\),field\(1,:\),lower -m str web\.test/)
    expect(cfg).toContain('use_backend web_10000 if host_0 path_0')
  })
})

/** The commands that recreate a table on fresh slots (the simulation starts from maint). */
function serialize(table: Map<string, { addr: string; state: string }>): string[] {
  const out: string[] = []
  for (const [name, s] of table) {
    const [addr, port] = s.addr.split(':')
    out.push(`set server ${name} addr ${addr} port ${port}`, `set server ${name} state ${s.state}`)
  }
  return out
}

describe('routes', () => {
  const app = (over: Partial<LbApp>): LbApp => ({
    id: '/shop/web',
    labels: { HAPROXY_GROUP: 'external' },
    networks: [{ mode: 'container/bridge' }],
    container: { portMappings: [{ containerPort: 8080, hostPort: 0, servicePort: 10005 }] },
    healthChecks: [{}],
    tasks: [
      { id: 't1', state: 'TASK_RUNNING', host: 'a', ports: [31000], healthCheckResults: [{ alive: true }] },
      { id: 't2', state: 'TASK_RUNNING', host: 'a', ports: [31001], healthCheckResults: [{ alive: false }] },
      { id: 't3', state: 'TASK_STAGING', host: 'a', ports: [31002] },
      { id: 't4', state: 'TASK_KILLING', host: 'a', ports: [31003] },
      { id: 't5', state: 'TASK_RUNNING', host: 'a', ports: [31004], healthCheckResults: [] },
    ],
    ...over,
  })

  it('admits running healthy tasks, drains killing ones, and leaves out the rest', () => {
    const r = routes([app({})], { group: 'external' })
    expect(r.backends).toHaveLength(1)
    const b = r.backends[0]!
    expect(b.name).toBe(backendName('/shop/web', 10005))
    expect(b.name).toBe('shop_web_10005')
    expect(b.mode).toBe('tcp')
    expect(b.servers.map((s) => `${s.taskId}:${s.port}:${s.draining}`)).toEqual(['t1:31000:false', 't4:31003:true'])
  })

  it('says an app may be served wherever routes() serves any of its ports, and no longer follows one it never serves', () => {
    const groups = fc.constantFrom('external', 'internal', 'external, internal', ' internal ,x')
    const labels = fc.record({ HAPROXY_GROUP: groups, HAPROXY_0_GROUP: groups, HAPROXY_1_GROUP: groups, HAPROXY_1_PORT: fc.constant('10777') }, { requiredKeys: [] })
    const mappings = [
      { containerPort: 8080, hostPort: 0, servicePort: 10005 },
      { containerPort: 8081, hostPort: 0, servicePort: 10006 },
    ]
    let served = 0
    let skipped = 0
    fc.assert(
      fc.property(labels, fc.constantFrom('external', 'internal', '*'), (l, group) => {
        const a = app({ labels: l as Record<string, string>, container: { portMappings: mappings } })
        const backends = routes([a], { group }).backends.length
        if (backends > 0) served++
        if (!mayServe(a, group)) skipped++
        // Never a route for an app the lb would stop following.
        return backends === 0 || mayServe(a, group)
      }),
    )
    expect(served).toBeGreaterThan(0)
    expect(skipped).toBeGreaterThan(0)
    expect(mayServe(app({ labels: {} }), '*')).toBe(true)
    expect(mayServe(app({ labels: { HAPROXY_1_GROUP: 'internal' } }), 'internal')).toBe(true)
    expect(mayServe(app({ labels: { HAPROXY_GROUP: 'internal', HAPROXY_0_VHOST: 'internal' } }), 'external')).toBe(false)
  })

  it('honours HAPROXY_GROUP, _PORT, _MODE, _VHOST, _BALANCE and readiness', () => {
    expect(routes([app({ labels: { HAPROXY_GROUP: 'internal' } })], { group: 'external' }).backends).toHaveLength(0)
    expect(routes([app({ labels: { HAPROXY_GROUP: 'internal' } })], { group: '*' }).backends).toHaveLength(1)
    const b = routes([app({ labels: { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: '10555', HAPROXY_0_VHOST: 'A.test, b.test', HAPROXY_0_BALANCE: 'leastconn' } })], { group: 'external' }).backends[0]!
    expect(b.servicePort).toBe(10555)
    expect(b.vhosts).toEqual(['a.test', 'b.test'])
    expect(b.mode).toBe('http')
    expect(b.balance).toBe('leastconn')
  })

  it('gates tasks on readiness as Marathon reports it: while a deployment runs, by result or version', () => {
    const task = (id: string, version: string) => ({ id, state: 'TASK_RUNNING', host: 'a', ports: [1], version, healthCheckResults: [{ alive: true }] })
    const served = (over: Partial<LbApp>): string[] =>
      routes([app({ readinessChecks: [{}], version: 'v2', tasks: [task('old', 'v1'), task('new', 'v2')], ...over })], { group: 'external' }).backends[0]!.servers.map((s) => s.taskId)
    // Once no deployment runs, every task passed its checks (or never needed them).
    expect(served({})).toEqual(['new', 'old'])
    // A task of the version being deployed waits for its first result; older ones serve on.
    expect(served({ deployments: [{ id: 'd' }] })).toEqual(['old'])
    expect(served({ deployments: [{ id: 'd' }], readinessCheckResults: [{ taskId: 'new', ready: true }] })).toEqual(['new', 'old'])
    expect(served({ deployments: [{ id: 'd' }], readinessCheckResults: [{ taskId: 'new', ready: false }, { taskId: 'old', ready: false }] })).toEqual([])
  })

  it('serves an app only in its HAPROXY_GROUP, a port by its own HAPROXY_{n}_GROUP, and an unlabelled app only with *', () => {
    const two = (labels: Record<string, string>): LbApp =>
      app({ labels, networks: [{ mode: 'host' }], portDefinitions: [{ port: 10020 }, { port: 10021 }], container: {} })
    const ports = (r: ReturnType<typeof routes>): number[] => r.backends.map((b) => b.servicePort)
    expect(ports(routes([two({})], { group: 'external' }))).toEqual([])
    expect(ports(routes([two({})], { group: '*' }))).toEqual([10020, 10021])
    expect(ports(routes([two({ HAPROXY_GROUP: 'internal,external' })], { group: 'external' }))).toEqual([10020, 10021])
    expect(ports(routes([two({ HAPROXY_GROUP: 'external', HAPROXY_1_GROUP: 'internal' })], { group: 'external' }))).toEqual([10020])
    expect(ports(routes([two({ HAPROXY_1_GROUP: 'internal' })], { group: 'internal' }))).toEqual([10021])
  })

  it('leaves out, with the reason, a route HAProxy would refuse or that takes a port already served, and serves the rest', () => {
    const r = routes(
      [
        app({ id: '/a', labels: { HAPROXY_GROUP: 'external' } }),
        app({ id: '/b', labels: { HAPROXY_GROUP: 'external' } }),
        app({ id: '/c', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: '10006', HAPROXY_0_BALANCE: 'bogus; stats enable' } }),
        app({ id: '/d', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: '10007', HAPROXY_0_VHOST: 'ok.test,bad host' } }),
        app({ id: '/e', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: '80' } }),
        app({ id: '/f', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: '10008', HAPROXY_0_PATH: 'no-slash' } }),
        app({ id: '/g', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: '10009', HAPROXY_0_BALANCE: 'hdr(host)', HAPROXY_0_VHOST: '*.example.test' } }),
      ],
      { group: 'external', reservedPorts: [80, 9090] },
    )
    expect(r.backends.map((b) => b.appId)).toEqual(['/a', '/g'])
    expect(r.rejected?.map((x) => [x.appId, x.servicePort])).toEqual([
      ['/b', 10005],
      ['/c', 10006],
      ['/d', 10007],
      ['/e', 80],
      ['/f', 10008],
    ])
    expect(r.rejected?.[0]?.reason).toBe('service port 10005 is already served for app /a')
  })

  it("carries the app's capacity: instances times one plus the deployment's overcapacity", () => {
    expect(routes([app({ instances: 3 })], { group: 'external' }).backends[0]!.capacity).toBe(6)
    expect(routes([app({ instances: 3, upgradeStrategy: { maximumOverCapacity: 0 } })], { group: 'external' }).backends[0]!.capacity).toBe(3)
    expect(routes([app({ instances: 5, upgradeStrategy: { maximumOverCapacity: 0.5 } })], { group: 'external' }).backends[0]!.capacity).toBe(8)
    expect(routes([app({})], { group: 'external' }).backends[0]!.capacity).toBe(0)
  })

  it('uses host ports in host networking, with the port definition as service port', () => {
    const r = routes([{ id: '/h', labels: { HAPROXY_GROUP: 'external' }, portDefinitions: [{ port: 10010 }, { port: 10011 }], networks: [{ mode: 'host' }], tasks: [{ id: 't', state: 'TASK_RUNNING', host: '10.0.0.9', ports: [31000, 31001] }] }], { group: 'external' })
    expect(r.backends.map((b) => `${b.servicePort}->${b.servers[0]!.address}:${b.servers[0]!.port}`)).toEqual(['10010->10.0.0.9:31000', '10011->10.0.0.9:31001'])
  })
})

describe('routes (properties)', () => {
  const taskArb = fc.record({
    id: fc.uuid(),
    state: fc.constantFrom('TASK_RUNNING', 'TASK_STAGING', 'TASK_KILLING', 'TASK_FAILED'),
    alive: fc.option(fc.boolean(), { nil: undefined }),
    port: fc.integer({ min: 31000, max: 32000 }),
  })
  const appArb = fc.record({
    name: fc.stringMatching(/^[a-z]{1,6}$/),
    servicePort: fc.integer({ min: 10000, max: 10020 }),
    checked: fc.boolean(),
    group: fc.constantFrom(undefined, 'external', 'internal'),
    tasks: fc.array(taskArb, { maxLength: 6 }),
  })

  it('never routes to a task that is not running and healthy, drains only killing ones, and keeps service ports unique', () => {
    fc.assert(
      fc.property(fc.uniqueArray(appArb, { selector: (a) => a.name, maxLength: 6 }), (specs) => {
        const apps: LbApp[] = specs.map((a) => ({
          id: `/${a.name}`,
          labels: a.group ? { HAPROXY_GROUP: a.group } : {},
          portDefinitions: [{ port: a.servicePort }],
          networks: [{ mode: 'host' }],
          healthChecks: a.checked ? [{}] : [],
          tasks: a.tasks.map((t) => ({ id: t.id, state: t.state, host: '127.0.0.1', ports: [t.port], ...(t.alive === undefined ? {} : { healthCheckResults: [{ alive: t.alive }] }) })),
        }))
        const r = routes(apps, { group: 'external' })
        expect(new Set(r.backends.map((b) => b.servicePort)).size).toBe(r.backends.length)
        for (const b of r.backends) {
          const spec = specs.find((a) => `/${a.name}` === b.appId)!
          expect(spec.group).toBe('external')
          for (const s of b.servers) {
            const t = spec.tasks.find((x) => x.id === s.taskId)!
            if (s.draining) expect(t.state).toBe('TASK_KILLING')
            else {
              expect(t.state).toBe('TASK_RUNNING')
              if (spec.checked) expect(t.alive).toBe(true)
            }
          }
        }
      }),
    )
  })
})

describe('marathon-lb labels', () => {
  const hc = { protocol: 'HTTP', path: '/health', portIndex: 0, intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 3 }
  const web = (id: string, servicePort: number, labels: Record<string, string>, over: Partial<LbApp> = {}): LbApp => ({
    id,
    labels: { HAPROXY_GROUP: 'external', ...labels },
    portDefinitions: [{ port: servicePort }],
    networks: [{ mode: 'host' }],
    tasks: [{ id: `${id}.t1`, state: 'TASK_RUNNING', host: '127.0.0.1', ports: [31000] }],
    ...over,
  })
  const one = (app: LbApp, opts: Partial<Parameters<typeof routes>[1]> = {}): Backend | undefined => routes([app], { group: 'external', ...opts }).backends[0]
  const reasons = (apps: LbApp[], opts: Partial<Parameters<typeof routes>[1]> = {}): string[] =>
    (routes(apps, { group: 'external', ...opts }).rejected ?? []).map((r) => `${r.appId}: ${r.reason}`)
  const render = (r: Routes, over: Partial<RenderOptions> = {}): string => renderConfig(planChange(undefined, r).next, { ...RENDER, ...over })

  it('HAPROXY_{n}_ENABLED false leaves a port out, and --strict-mode serves only ports enabled', () => {
    expect(one(web('/a', 10000, { HAPROXY_0_ENABLED: 'false' }))).toBeUndefined()
    expect(one(web('/a', 10000, { HAPROXY_0_ENABLED: 'no' }))).toBeUndefined()
    expect(one(web('/a', 10000, {}))).toBeDefined()
    expect(one(web('/a', 10000, {}), { strict: true })).toBeUndefined()
    expect(one(web('/a', 10000, { HAPROXY_0_ENABLED: 'true' }), { strict: true })).toBeDefined()
    // Left out, not refused: nothing to report.
    expect(reasons([web('/a', 10000, { HAPROXY_0_ENABLED: 'false' })])).toEqual([])
  })

  it('orders the HTTP rules by HAPROXY_{n}_BACKEND_WEIGHT, a path weighing 1 unless told, and routes a path without a host', () => {
    const r = routes(
      [
        web('/plain', 10000, { HAPROXY_0_VHOST: 'w.test' }),
        web('/api', 10001, { HAPROXY_0_VHOST: 'w.test', HAPROXY_0_PATH: '/api' }),
        web('/any', 10002, { HAPROXY_0_PATH: '/any' }),
        web('/heavy', 10003, { HAPROXY_0_VHOST: 'w.test', HAPROXY_0_BACKEND_WEIGHT: '5' }),
      ],
      { group: 'external' },
    )
    expect(r.backends.map((b) => [b.appId, b.weight, b.mode])).toEqual([
      ['/any', 1, 'http'],
      ['/api', 1, 'http'],
      ['/heavy', 5, 'http'],
      ['/plain', 0, 'http'],
    ])
    const cfg = render(r)
    const uses = cfg.split('\n').filter((l) => l.includes('use_backend') && l.includes(' host_') || /use_backend \S+ if path_/.test(l))
    expect(uses.filter((l) => !l.includes('dromos_lb_api')).slice(0, 4)).toEqual([
      '  use_backend heavy_10003 if host_0',
      '  use_backend api_10001 if host_1 path_1',
      '  use_backend any_10002 if path_2',
      '  use_backend plain_10000 if host_3',
    ])
    expect(reasons([web('/w', 10000, { HAPROXY_0_BACKEND_WEIGHT: 'heavy' })])).toEqual(["/w: backend weight 'heavy' is not an integer"])
  })

  it('binds the service port where HAPROXY_{n}_BIND_ADDR says, with HAPROXY_{n}_BIND_OPTIONS, when this machine has the address and HAProxy takes the options', () => {
    const b = one(web('/a', 10000, { HAPROXY_0_BIND_ADDR: '10.1.2.3', HAPROXY_0_BIND_OPTIONS: 'backlog 64' }), { localAddresses: ['10.1.2.3'] })!
    expect(render({ backends: [b] })).toContain('  bind 10.1.2.3:10000 backlog 64\n')
    expect(one(web('/a', 10000, { HAPROXY_0_BIND_ADDR: '127.0.0.2' }))!.bindAddress).toBe('127.0.0.2')
    const refused = (args: string): string | undefined => (args.includes('bogus') ? "unknown keyword 'bogus'" : undefined)
    expect(
      reasons(
        [
          web('/far', 10000, { HAPROXY_0_BIND_ADDR: '192.0.2.7' }),
          web('/name', 10001, { HAPROXY_0_BIND_ADDR: 'example.test' }),
          web('/opts', 10002, { HAPROXY_0_BIND_OPTIONS: 'bogus 1' }),
          web('/lines', 10003, { HAPROXY_0_BIND_OPTIONS: 'backlog 1\n  stats enable' }),
          web('/cert', 10004, { HAPROXY_0_SSL_CERT: '/nowhere/bogus.pem' }),
        ],
        { bindProblem: refused },
      ),
    ).toEqual([
      "/cert: HAProxy refuses 'ssl crt /nowhere/bogus.pem': unknown keyword 'bogus'",
      "/far: bind address '192.0.2.7' is not an address of this machine",
      "/lines: bind options 'backlog 1\n  stats enable' must be one line of printable text",
      "/name: bind address 'example.test' is not an address of this machine",
      "/opts: HAProxy refuses 'bogus 1': unknown keyword 'bogus'",
    ])
    expect(bindArgsWanted([web('/a', 1, { HAPROXY_0_BIND_OPTIONS: 'backlog 64', HAPROXY_1_SSL_CERT: '/c.pem' })]).sort()).toEqual(['backlog 64', 'ssl crt /c.pem'])
  })

  it('sticks a client to its instance by a cookie naming the slot in http mode, by source address in tcp mode', () => {
    const http = render({ backends: [one(web('/a', 10000, { HAPROXY_0_MODE: 'http', HAPROXY_0_STICKY: 'true' }))!] })
    expect(http).toContain('  cookie mesosphere_server_id insert indirect nocache\n')
    expect(http).toContain('  server srv1 127.0.0.1:31000 cookie srv1\n')
    expect(http).toContain('  server srv2 127.0.0.1:1 cookie srv2 disabled\n')
    expect(http).not.toContain('stick on src')
    const tcp = render({ backends: [one(web('/a', 10000, { HAPROXY_0_STICKY: 'true' }))!] })
    expect(tcp).toContain('  stick on src\n')
    expect(tcp).not.toContain('cookie')
  })

  it("checks servers from HAProxy as the app's health check of that port says, and makes the port http when it is HTTP", () => {
    const b = one(web('/a', 10000, {}, { healthChecks: [hc], tasks: [{ id: 't1', state: 'TASK_RUNNING', host: '127.0.0.1', ports: [31000], healthCheckResults: [{ alive: true }] }] }))!
    expect(b.mode).toBe('http')
    expect(b.check).toEqual({ kind: 'http', path: '/health', ssl: false, intervalSeconds: 2, timeoutSeconds: 1, fall: 4 })
    const cfg = render({ backends: [b] })
    expect(cfg).toContain('  option httpchk GET /health\n  timeout check 1s\n')
    expect(cfg).toContain('  server srv1 127.0.0.1:31000 check inter 2s fall 4\n')
    expect(one(web('/a', 10000, { HAPROXY_0_MODE: 'tcp' }, { healthChecks: [hc] }))!.check?.kind).toBe('tcp')
    expect(one(web('/a', 10000, {}, { healthChecks: [{ ...hc, protocol: 'MESOS_TCP' }] }))!.check).toMatchObject({ kind: 'tcp', fall: 4 })
    // A check of another port, or a command, is not HAProxy's to run.
    expect(one(web('/a', 10000, {}, { healthChecks: [{ ...hc, portIndex: 1 }] }))!.check).toBeUndefined()
    expect(one(web('/a', 10000, {}, { healthChecks: [{ protocol: 'COMMAND' }] }))!.check).toBeUndefined()
    expect(reasons([web('/a', 10000, {}, { healthChecks: [{ ...hc, path: '/a b' }] })])).toEqual(["/a: health check path '/a b' must start with / and hold no spaces or quotes"])
  })

  it('refuses a virtual host or path in tcp mode, which HAProxy cannot route from its HTTP port', () => {
    expect(reasons([web('/a', 10000, { HAPROXY_0_MODE: 'tcp', HAPROXY_0_VHOST: 'a.test' })])).toEqual(['/a: a virtual host or path needs http mode, not tcp'])
  })

  it('offers TLS by SNI on the HTTPS port with the default and the apps\' certificates, redirects HTTP and adds HSTS', () => {
    const tls = one(web('/a', 10000, { HAPROXY_0_VHOST: 'web.test', HAPROXY_0_SSL_CERT: '/certs/web.pem', HAPROXY_0_REDIRECT_TO_HTTPS: 'true', HAPROXY_0_USE_HSTS: 'true' }))!
    const cfg = render({ backends: [tls] }, { sslCerts: ['/certs/default.pem'] })
    expect(cfg).toContain('frontend dromos_https_in\n  bind 127.0.0.1:8443 ssl crt /certs/default.pem crt /certs/web.pem\n  mode http\n')
    expect(cfg).toContain('  acl host_0 ssl_fc_sni,lower -m str web.test\n')
    expect(cfg).toContain('  bind 127.0.0.1:10000 ssl crt /certs/web.pem\n')
    expect(cfg).toContain('  http-request redirect code 301 location https://%[req.hdr(host),field(1,:)]:8443%[capture.req.uri] if host_0\n')
    expect(render({ backends: [tls] }, { httpsPort: 443 })).toContain('  redirect scheme https code 301 if host_0\n')
    expect(cfg).toContain('  http-response set-header Strict-Transport-Security max-age=15768000\n')
    // No certificate at all: no HTTPS port.
    const plain = one(web('/b', 10001, { HAPROXY_0_VHOST: 'b.test' }))!
    expect(render({ backends: [plain] })).not.toContain('dromos_https_in')
  })

  it("routes X-Marathon-App-Id to each app's first http port", () => {
    const app: LbApp = { ...web('/shop/web', 10000, { HAPROXY_1_MODE: 'http', HAPROXY_2_MODE: 'http' }), portDefinitions: [{ port: 10000 }, { port: 10001 }, { port: 10002 }] }
    const cfg = render(routes([app, web('/raw', 10005, {})], { group: 'external' }))
    const appIdRules = cfg.split('\n').filter((l) => l.includes('x-marathon-app-id'))
    expect(appIdRules).toEqual(['  use_backend shop_web_10001 if { req.hdr(x-marathon-app-id) -m str -i /shop/web }'])
    expect(cfg).toContain('frontend dromos_appid_in\n  bind 127.0.0.1:8091\n  mode http\n')
  })
})
