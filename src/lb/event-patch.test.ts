import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { applyEvent, taskOfInstance } from './event-patch.js'
import type { LbApp, LbTask, Routes } from './routes.js'
import { routes } from './routes.js'

const HEALTH = [{ protocol: 'HTTP', path: '/health', portIndex: 0, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3 }]

function app(over: Partial<LbApp> = {}): LbApp {
  return {
    id: '/web',
    labels: { HAPROXY_GROUP: 'external' },
    portDefinitions: [{ port: 10000 }],
    instances: 2,
    tasks: [{ id: 'web.a', state: 'TASK_RUNNING', host: '127.0.0.1', ports: [31000] }],
    ...over,
  }
}

function status(taskId: string, taskStatus: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { eventType: 'status_update_event', appId: '/web', taskId, taskStatus, host: '127.0.0.1', ports: [31001], ipAddresses: [], version: 'v1', ...over }
}

const health = (instanceId: string, alive: boolean): Record<string, unknown> => ({ eventType: 'health_status_changed_event', appId: '/web', instanceId, alive, version: 'v1' })

/** Task ids and ports of the first backend, draining ones marked. */
function served(a: LbApp | undefined, group = 'external'): string[] {
  const b = routes(a ? [a] : [], { group }).backends[0]
  return (b?.servers ?? []).map((s) => `${s.taskId}@${s.address}:${s.port}${s.draining ? ' draining' : ''}`)
}

describe('applyEvent', () => {
  it('serves a task from its TASK_RUNNING event where the app checks no health, and drops it when it ends', () => {
    const up = applyEvent(app(), status('web.b', 'TASK_RUNNING'))!
    expect(served(up)).toEqual(['web.a@127.0.0.1:31000', 'web.b@127.0.0.1:31001'])
    expect(served(applyEvent(up, status('web.b', 'TASK_KILLING')))).toEqual(['web.a@127.0.0.1:31000', 'web.b@127.0.0.1:31001 draining'])
    const gone = applyEvent(up, status('web.b', 'TASK_FAILED'))!
    expect(gone.tasks!.map((t) => t.id)).toEqual(['web.a'])
    // A task that ended and is not in the copy: nothing to patch.
    expect(applyEvent(app(), status('web.z', 'TASK_KILLED'))).toBeUndefined()
  })

  it('waits for the first healthy result where the app checks health, and takes a failing task out at once', () => {
    const checked = app({ healthChecks: HEALTH, tasks: [{ id: 'web.a', state: 'TASK_RUNNING', host: '127.0.0.1', ports: [31000], healthCheckResults: [{ alive: true }] }] })
    const running = applyEvent(checked, status('web.b', 'TASK_RUNNING'))!
    expect(served(running)).toEqual(['web.a@127.0.0.1:31000'])
    // Marathon's instance ids, in dromos's legacy form and Marathon's own.
    const healthy = applyEvent(running, health('web.instance-b', true))!
    expect(served(healthy)).toEqual(['web.a@127.0.0.1:31000', 'web.b@127.0.0.1:31001'])
    expect(served(applyEvent(healthy, health('web.instance-a', false)))).toEqual(['web.b@127.0.0.1:31001'])
    // No such instance in the copy, or an app without checks: only a read can tell.
    expect(applyEvent(healthy, health('web.instance-x', true))).toBeUndefined()
    expect(applyEvent(app(), health('web.instance-a', false))).toBeUndefined()
  })

  it('lets a task in on one passing check only when the app has no other; takes it out on any failing one', () => {
    const two = app({ healthChecks: [...HEALTH, { protocol: 'TCP', portIndex: 0 }], tasks: [{ id: 'web.a', state: 'TASK_RUNNING', host: 'h', ports: [31000], healthCheckResults: [{ alive: true }, { alive: true }] }] })
    expect(applyEvent(two, health('web.instance-a', true))).toBeUndefined()
    expect(served(applyEvent(two, health('web.instance-a', false)))).toEqual([])
  })

  it('keeps a task being killed so on a late TASK_RUNNING, and never changes the copy it is given', () => {
    const killing = Object.freeze(app({ tasks: [Object.freeze({ id: 'web.a', state: 'TASK_KILLING', host: '127.0.0.1', ports: [31000] }) as LbTask] }))
    const late = applyEvent(killing, status('web.a', 'TASK_RUNNING'))!
    expect(late.tasks![0]!.state).toBe('TASK_KILLING')
    expect(killing.tasks![0]!.state).toBe('TASK_KILLING')
    expect(served(late)).toEqual(['web.a@127.0.0.1:31000 draining'])
  })

  it('routes a new task by each of its service ports, and by its container address on a container network', () => {
    const twoPorts = app({ portDefinitions: [{ port: 10000 }, { port: 10001 }], labels: { HAPROXY_GROUP: 'external' }, tasks: [] })
    const up = applyEvent(twoPorts, status('web.b', 'TASK_RUNNING', { ports: [31005, 31006] }))!
    expect(routes([up], { group: 'external' }).backends.map((b) => `${b.servicePort}:${b.servers.map((s) => s.port).join(',')}`)).toEqual(['10000:31005', '10001:31006'])
    const bridged = app({ networks: [{ mode: 'container' }], container: { portMappings: [{ containerPort: 8080, servicePort: 10000 }] }, portDefinitions: [], tasks: [] })
    const inNet = applyEvent(bridged, status('web.c', 'TASK_RUNNING', { ports: [], ipAddresses: [{ ipAddress: '172.17.0.5', protocol: 'IPv4' }] }))!
    expect(served(inNet)).toEqual(['web.c@172.17.0.5:8080'])
  })

  it('patches an app the lb does not expose without routing it', () => {
    const other = app({ labels: { HAPROXY_GROUP: 'internal' } })
    const up = applyEvent(other, status('web.b', 'TASK_RUNNING'))!
    expect(up.tasks).toHaveLength(2)
    expect(routes([up], { group: 'external' }).backends).toEqual([])
  })

  it('leaves readiness to the read: with readiness checks, only events that take traffic away are applied', () => {
    const ready = app({ readinessChecks: [{ name: 'ready' }], healthChecks: HEALTH, tasks: [{ id: 'web.a', state: 'TASK_RUNNING', host: '127.0.0.1', ports: [31000], healthCheckResults: [{ alive: true }] }] })
    expect(applyEvent(ready, status('web.b', 'TASK_RUNNING'))).toBeUndefined()
    expect(applyEvent(ready, health('web.instance-a', true))).toBeUndefined()
    expect(served(applyEvent(ready, health('web.instance-a', false)))).toEqual([])
    expect(served(applyEvent(ready, status('web.a', 'TASK_KILLED')))).toEqual([])
  })

  it('applies only task status and health events of its own app', () => {
    expect(applyEvent(app(), { ...status('web.b', 'TASK_RUNNING'), appId: '/other' })).toBeUndefined()
    expect(applyEvent(app(), { eventType: 'instance_changed_event', runSpecId: '/web', instanceId: 'web.instance-a', condition: 'Killed' })).toBeUndefined()
    expect(applyEvent(app(), status('web.b', 'TASK_RUNNING', { ports: 'x' }))).toBeUndefined()
  })

  it('knows the task ids of an instance in both of Marathon forms', () => {
    expect(taskOfInstance('web.1234', 'web.instance-1234')).toBe(true)
    expect(taskOfInstance('web.instance-1234._app.2', 'web.instance-1234')).toBe(true)
    expect(taskOfInstance('web.12345', 'web.instance-1234')).toBe(false)
    expect(taskOfInstance('web.instance-12345._app.1', 'web.instance-1234')).toBe(false)
  })
})

/**
 * The apps framework as a model: an app's tasks change, and each change sends the events the
 * framework sends (status updates, health changes). The truth is what a read of the app answers.
 */
type Step =
  | { kind: 'launch' }
  | { kind: 'run' | 'kill' | 'killed' | 'fail' | 'lateRunning'; pick: number }
  | { kind: 'health'; pick: number; alive: boolean }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ kind: 'launch' }),
  fc.record({ kind: fc.constantFrom('run' as const, 'kill' as const, 'killed' as const, 'fail' as const, 'lateRunning' as const), pick: fc.nat(7) }),
  fc.record({ kind: fc.constant('health' as const), pick: fc.nat(7), alive: fc.boolean() }),
)

describe('applyEvent against reads (property)', () => {
  it('the routes of the patched copy are those of a read after every event, or the event is left to the read', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.array(stepArb, { maxLength: 40 }), (checked, exposed, bridged, steps) => {
        let truth: LbApp = {
          id: '/web',
          labels: { HAPROXY_GROUP: exposed ? 'external' : 'internal' },
          portDefinitions: bridged ? [] : [{ port: 10000 }, { port: 10001 }],
          ...(bridged ? { networks: [{ mode: 'container' }], container: { portMappings: [{ containerPort: 8080, servicePort: 10000 }] } } : {}),
          ...(checked ? { healthChecks: HEALTH } : {}),
          instances: 4,
          tasks: [],
        }
        let copy: LbApp = truth
        let next = 0
        const sameRoutes = (): void => {
          const r = (a: LbApp): Routes => routes([a], { group: 'external' })
          expect(r(copy)).toEqual(r(truth))
        }
        const send = (e: Record<string, unknown>): void => {
          // Left to the read: the copy becomes what the read answers.
          copy = applyEvent(copy, e) ?? truth
          sameRoutes()
        }
        const setTask = (id: string, t: LbTask | undefined): void => {
          const tasks = (truth.tasks ?? []).filter((x) => x.id !== id)
          truth = { ...truth, tasks: t ? [...tasks, t].sort((a, b) => a.id.localeCompare(b.id)) : tasks }
        }
        for (const step of steps) {
          const tasks = truth.tasks ?? []
          if (step.kind === 'launch') {
            const id = `web.${next++}`
            const t: LbTask = { id, state: 'TASK_STARTING', host: '127.0.0.1', ports: bridged ? [] : [31000 + next, 32000 + next], ...(bridged ? { ipAddresses: [{ ipAddress: `10.0.0.${next}` }] } : {}) }
            setTask(id, t)
            send(status(id, 'TASK_STARTING', { ports: t.ports, ipAddresses: bridged ? [{ ipAddress: `10.0.0.${next}`, protocol: 'IPv4' }] : [] }))
            continue
          }
          const t = tasks[step.pick % Math.max(1, tasks.length)]
          if (!t) continue
          const ev = (state: string): Record<string, unknown> => status(t.id, state, { ports: t.ports, ipAddresses: t.ipAddresses ?? [] })
          if (step.kind === 'run' && t.state === 'TASK_STARTING') {
            setTask(t.id, { ...t, state: 'TASK_RUNNING' })
            send(ev('TASK_RUNNING'))
          } else if (step.kind === 'health' && checked && t.state === 'TASK_RUNNING') {
            setTask(t.id, { ...t, healthCheckResults: [{ alive: step.alive }] })
            send(health(t.id.replace('web.', 'web.instance-'), step.alive))
          } else if (step.kind === 'kill' && t.state === 'TASK_RUNNING') {
            setTask(t.id, { ...t, state: 'TASK_KILLING' })
            send(ev('TASK_KILLING'))
          } else if (step.kind === 'lateRunning' && t.state === 'TASK_KILLING') {
            // The framework keeps the task killing; the update still says running.
            send(ev('TASK_RUNNING'))
          } else if (step.kind === 'killed' && t.state === 'TASK_KILLING') {
            setTask(t.id, undefined)
            send(ev('TASK_KILLED'))
          } else if (step.kind === 'fail') {
            setTask(t.id, undefined)
            send(ev('TASK_FAILED'))
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})
