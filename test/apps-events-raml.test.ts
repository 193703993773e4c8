// Every event a real `dromos apps` publishes, on /v2/events and to an http_callback
// subscriber, read with the strict schemas of test/lib/marathon-events.ts: an app created,
// scaled, restarted, its tasks killed (plain, wiped and with scale), one health check that passes
// and one that fails until the instance is killed, a group changed and removed, a deployment
// cancelled, apps deleted, a second stream attached and detached, the framework restarted and
// the callback unsubscribed. Any event type Marathon does not have, or an event with a key
// Marathon does not write for its type or without one it does, fails the test. Process tasks
// only, on one agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventStream, startAppsCluster, startCallbackSubscriber, stopAppsCluster } from './lib/apps.js'
import type { AppsProcess, CallbackSubscriber } from './lib/apps.js'
import type { TestCluster } from './lib/cluster.js'
import { waitUntil } from './lib/cluster.js'
import { eventProblems } from './lib/marathon-events.js'

let cluster: TestCluster
let apps: AppsProcess
let sub: CallbackSubscriber | undefined

beforeAll(async () => {
  ({ cluster, apps } = await startAppsCluster({ hostname: 'agent-e', resources: 'cpus:4;mem:2048;disk:1000;ports:[31700-31799]' }))
})

afterAll(async () => {
  await stopAppsCluster({ cluster, apps })
  await sub?.close()
})

const WEB = '/evr/web'
const SICK = '/evr/sick'
const STUCK = '/evr/stuck'
const GROUP = '/evr/grp'

const served = {
  id: WEB,
  cmd: 'exec python3 -m http.server $PORT0 --bind 127.0.0.1',
  cpus: 0.05,
  mem: 32,
  instances: 1,
  portDefinitions: [{ port: 0, name: 'http' }],
  healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3 }],
}

describe('/v2/events and http callbacks carry exactly what Marathon sends', () => {
  it('every event of a lifecycle matches its eventType, with no unknown type, no extra key and no missing one', async () => {
    const stream = new EventStream(apps.url)
    await stream.waitFor((e) => e.eventType === 'event_stream_attached', 'the event stream')
    sub = await startCallbackSubscriber()
    const subscribed = await apps.req('POST', `/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(sub.url)}`)
    expect(subscribed.status).toBe(200)
    const other = new EventStream(apps.url)
    await waitUntil('a second stream', async () => stream.events.filter((e) => e.eventType === 'event_stream_attached').length >= 2, 10_000, 50)
    await other.close()
    await stream.waitFor((e) => e.eventType === 'event_stream_detached', 'the second stream to detach')

    const success = (id: string, what: string) => stream.waitFor((e) => e.eventType === 'deployment_success' && e.id === id, what, 60_000)

    // An app whose health check passes, scaled, restarted, one task killed, one killed with scale.
    const created = await apps.req('POST', '/v2/apps', served)
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    await success(created.body.deployments[0].id, 'the web app to deploy')
    await stream.waitFor((e) => e.eventType === 'health_status_changed_event' && e.appId === WEB && e.alive === true, 'the web app to be healthy', 30_000)
    const scaled = await apps.req('PUT', `/v2/apps${WEB}`, { instances: 2 })
    await success(scaled.body.deploymentId, 'the scale-up')
    const restarted = await apps.req('POST', `/v2/apps${WEB}/restart`)
    await success(restarted.body.deploymentId, 'the restart')
    const tasks = (await apps.app(WEB)).tasks as Array<{ id: string }>
    expect(tasks).toHaveLength(2)
    expect((await apps.req('DELETE', `/v2/apps${WEB}/tasks/${tasks[0]!.id}`)).status).toBe(200)
    await stream.waitFor((e) => e.eventType === 'status_update_event' && e.taskId === tasks[0]!.id && e.taskStatus === 'TASK_KILLED', 'the killed task')
    // A task killed with ?wipe=true is forgotten at once: its TASK_KILLED is of an unknown task.
    await waitUntil('the replacement to run', async () => (await apps.app(WEB)).tasksRunning === 2, 30_000)
    const replacement = ((await apps.app(WEB)).tasks as Array<{ id: string }>).find((t) => t.id !== tasks[1]!.id)!
    expect((await apps.req('DELETE', `/v2/apps${WEB}/tasks/${replacement.id}?wipe=true`)).status).toBe(200)
    await stream.waitFor((e) => e.eventType === 'unknown_instance_terminated_event' && e.runSpecId === WEB, 'unknown_instance_terminated_event')
    await waitUntil('the wiped task to be replaced', async () => (await apps.app(WEB)).tasksRunning === 2, 30_000)
    const killScale = await apps.req('DELETE', `/v2/apps${WEB}/tasks/${tasks[1]!.id}?scale=true`)
    expect(killScale.status, JSON.stringify(killScale.body)).toBe(200)
    await success(killScale.body.deploymentId, 'the kill with scale')

    // An app whose health check fails until the framework kills the instance.
    const sick = await apps.req('POST', '/v2/apps', {
      id: SICK,
      cmd: 'sleep 600',
      cpus: 0.05,
      mem: 16,
      portDefinitions: [{ port: 0, name: 'http' }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 2 }],
      backoffSeconds: 60,
    })
    expect(sick.status).toBe(201)
    const kill = await stream.waitFor((e) => e.eventType === 'unhealthy_instance_kill_event' && e.appId === SICK, 'the sick instance to be killed', 30_000)

    // A group put and removed.
    const group = await apps.req('PUT', `/v2/groups${GROUP}`, { apps: [{ id: `${GROUP}/one`, cmd: 'sleep 600', cpus: 0.05, mem: 16 }] })
    expect(group.status, JSON.stringify(group.body)).toBe(200)
    await success(group.body.deploymentId, 'the group deployment')
    const groupGone = await apps.req('DELETE', `/v2/groups${GROUP}`)
    await success(groupGone.body.deploymentId, 'the group removal')

    // A deployment that cannot finish, cancelled: deployment_failed, and the rollback.
    const stuck = await apps.req('POST', '/v2/apps', { id: STUCK, cmd: 'sleep 600', cpus: 0.05, mem: 16, constraints: [['hostname', 'LIKE', 'nowhere']] })
    expect(stuck.status).toBe(201)
    // A change to the locked app is refused, and its plan published as failed, as Marathon does.
    const locked = await apps.req('PUT', `/v2/apps${STUCK}`, { cmd: 'sleep 601' })
    expect(locked.status, JSON.stringify(locked.body)).toBe(409)
    const refused = await stream.waitFor(
      (e) => e.eventType === 'deployment_failed' && e.id !== stuck.body.deployments[0].id && e.plan.steps.some((s: { actions: Array<{ app: string }> }) => s.actions.some((a) => a.app === STUCK)),
      'deployment_failed of the refused change',
    )
    expect(refused.reason).toBe(locked.body.message)
    const changeFailed = await stream.waitFor((e) => e.eventType === 'group_change_failed', 'group_change_failed of the refused change')
    expect(changeFailed).toMatchObject({ groupId: '/evr', version: refused.plan.version, reason: locked.body.message })
    const cancelled = await apps.req('DELETE', `/v2/deployments/${stuck.body.deployments[0].id}`)
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200)
    await stream.waitFor((e) => e.eventType === 'deployment_failed' && e.id === stuck.body.deployments[0].id, 'deployment_failed')
    await success(cancelled.body.deploymentId, 'the rollback')
    // Deployed again, replaced by a forced change, and that one stopped without a rollback.
    const again = await apps.req('POST', '/v2/apps', { id: STUCK, cmd: 'sleep 600', cpus: 0.05, mem: 16, constraints: [['hostname', 'LIKE', 'nowhere']] })
    expect(again.status, JSON.stringify(again.body)).toBe(201)
    const forced = await apps.req('PUT', `/v2/apps${STUCK}?force=true`, { cmd: 'sleep 602' })
    expect(forced.status, JSON.stringify(forced.body)).toBe(200)
    await stream.waitFor((e) => e.eventType === 'deployment_failed' && e.id === again.body.deployments[0].id, 'deployment_failed of the replaced deployment')
    const stopped = await apps.req('DELETE', `/v2/deployments/${forced.body.deploymentId}?force=true`)
    expect(stopped.status, JSON.stringify(stopped.body)).toBeLessThan(300)
    await stream.waitFor((e) => e.eventType === 'deployment_failed' && e.id === forced.body.deploymentId, 'deployment_failed of the stopped deployment')
    const stuckGone = await apps.req('DELETE', `/v2/apps${STUCK}?force=true`)
    await success(stuckGone.body.deploymentId, 'the removal of the stuck app')

    // The sick app's deployment never ends (its instance never gets healthy): force replaces it.
    for (const id of [SICK, WEB]) {
      const del = await apps.req('DELETE', `/v2/apps${id}?force=true`)
      expect(del.status, JSON.stringify(del.body)).toBe(200)
      await success(del.body.deploymentId, `the removal of ${id}`)
      await stream.waitFor((e) => e.eventType === 'app_terminated_event' && e.appId === id, `app_terminated_event of ${id}`)
    }
    await waitUntil('the tasks to stop', async () => (await apps.req('GET', '/v2/tasks')).body.tasks.length === 0, 30_000)
    await waitUntil('the checks to be removed', async () => stream.events.filter((e) => e.eventType === 'remove_health_check_event').length >= 2, 30_000, 100)
    // The callback gets what the stream got from the subscribe_event on.
    const sinceSubscribe = (): number => stream.events.length - stream.events.findIndex((e) => e.eventType === 'subscribe_event')
    await waitUntil('the callback to catch up', async () => sub!.received.length >= sinceSubscribe(), 30_000, 100)

    // The framework restarted re-registers; the callback, kept in the store, hears it.
    const before = sub.received.length
    await apps.restart()
    await waitUntil('scheduler_reregistered_event at the callback', async () => sub!.received.slice(before).some((e) => e.eventType === 'scheduler_reregistered_event'), 30_000, 100)
    const after = new EventStream(apps.url)
    await after.waitFor((e) => e.eventType === 'event_stream_attached', 'the stream after the restart')
    await apps.req('DELETE', `/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(sub.url)}`)
    await after.waitFor((e) => e.eventType === 'unsubscribe_event', 'unsubscribe_event')
    await after.close()
    await stream.close()

    const all = [
      ...stream.events.map((e) => ['/v2/events', e] as const),
      ...after.events.map((e) => ['/v2/events after the restart', e] as const),
      ...sub.received.map((e) => ['callback', e] as const),
    ]
    const problems = all.flatMap(([where, e]) => eventProblems(e).map((p) => `${where} ${String(e.eventType)}: ${p}`))
    expect([...new Set(problems)]).toEqual([])

    const seen = new Set(all.map(([, e]) => e.eventType))
    for (const type of [
      'event_stream_attached',
      'event_stream_detached',
      'subscribe_event',
      'unsubscribe_event',
      'api_post_event',
      'group_change_success',
      'deployment_info',
      'deployment_step_success',
      'deployment_success',
      'deployment_failed',
      'group_change_failed',
      'status_update_event',
      'instance_changed_event',
      'add_health_check_event',
      'remove_health_check_event',
      'health_status_changed_event',
      'instance_health_changed_event',
      'failed_health_check_event',
      'unhealthy_instance_kill_event',
      'unknown_instance_terminated_event',
      'app_terminated_event',
      'scheduler_reregistered_event',
    ]) {
      expect(seen, `no ${type} seen`).toContain(type)
    }

    // Values Marathon derives in its own way.
    const of = (type: string) => stream.events.filter((e) => e.eventType === type)
    expect(of('group_change_success').find((e) => e.version === created.body.version)?.groupId).toBe('/evr')
    expect(of('group_change_success').find((e) => e.version === group.body.version)?.groupId).toBe('/evr')
    expect(of('group_change_success').find((e) => e.version === killScale.body.version)?.groupId).toBe('/')
    const failed = of('failed_health_check_event').filter((e) => e.appId === SICK)
    expect(failed.length).toBeGreaterThanOrEqual(2)
    expect(failed.map((e) => e.taskId)).toContain(kill.instanceId)
    // Marathon's DeploymentCanceledException, once per deployment, however it was cancelled: a
    // rollback, a forced change or a stop.
    for (const id of [stuck.body.deployments[0].id, again.body.deployments[0].id, forced.body.deploymentId]) {
      expect(of('deployment_failed').filter((e) => e.id === id).map((e) => e.reason), id).toEqual(['The upgrade has been cancelled'])
    }
    expect(of('add_health_check_event').filter((e) => e.appId === WEB).map((e) => e.healthCheck.path)).toContain('/')
    const callbackTypes = sub.received.slice(0, before).map((e) => e.eventType)
    expect(callbackTypes[0]).toBe('subscribe_event')
  })
})
