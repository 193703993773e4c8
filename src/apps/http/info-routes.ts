// What dromos apps says of itself: /v2/info, the leader (and giving leadership up), /ping and
// /metrics in Marathon's Dropwizard shape.
import { sendJson, sendText } from '../../api/http.js'
import { MarathonError } from '../errors.js'
import type { EventSubscriptions } from '../event-subscriptions.js'
import type { RouteContext } from './context.js'

export const MARATHON_VERSION = '1.11.0'

export function registerInfoRoutes({ router, fw, opts }: RouteContext, subscriptions: Pick<EventSubscriptions, 'list' | 'stats'>): void {
  const { state } = fw

  const leader = `${opts.hostname}:${opts.port}`
  router.on('GET', '/v2/info', (ctx) =>
    sendJson(ctx.res, 200, {
      name: 'marathon',
      version: MARATHON_VERSION,
      buildref: 'dromos',
      elected: true,
      leader,
      frameworkId: fw.frameworkId() ?? null,
      marathon_config: {
        master: opts.master,
        framework_name: 'marathon',
        hostname: opts.hostname,
        failover_timeout: 604800,
        features: [],
        mesos_role: '*',
        task_launch_timeout: 300000,
        // Marathon's defaults; dromos expunges lost tasks by their unreachableStrategy alone.
        task_lost_expunge_initial_delay: 300000,
        task_lost_expunge_interval: 30000,
      },
      // No ZooKeeper: Marathon's keys describe dromos' own store (SQLite, or etcd in HA).
      zookeeper_config: opts.store
        ? { zk: opts.store.url, zk_timeout: opts.store.timeoutMs, zk_connection_timeout: opts.store.timeoutMs, zk_session_timeout: opts.store.sessionTimeoutMs, zk_max_versions: opts.store.maxVersions }
        : {},
      http_config: { http_port: opts.port, https_port: 8443 },
    }),
  )
  router.on('GET', '/v2/leader', (ctx) => sendJson(ctx.res, 200, { leader }))
  router.on('DELETE', '/v2/leader', (ctx) => {
    const { abdicate } = opts
    if (!abdicate) throw new MarathonError(400, 'This dromos apps runs alone (no --store etcd://): there is no other instance to take over')
    ctx.res.once('finish', () => setImmediate(abdicate))
    sendJson(ctx.res, 200, { message: 'Leadership abdicated' })
  })

  router.on('GET', '/ping', (ctx) => sendText(ctx.res, 200, 'pong'))
  router.on('GET', '/metrics', (ctx) => {
    const instances = [...state.instances.values()]
    const callbacks = subscriptions.stats()
    const gauges: Record<string, { value: number }> = {
      'marathon.apps.active.gauge': { value: state.apps.size },
      'marathon.deployments.active.gauge': { value: state.deployments.size },
      'marathon.instances.running.gauge': { value: instances.filter((i) => i.condition === 'Running').length },
      // Launched and not yet running: the count the bound on launches in flight is kept by.
      'marathon.instances.staged.gauge': { value: state.launchesInFlight() },
      'marathon.instances.launch-overdue.gauge': { value: fw.queue().reduce((n, q) => n + q.count, 0) },
      'marathon.http.event-streams.active.gauge': { value: fw.events.subscriberCount() },
      'marathon.mesos.connected.gauge': { value: fw.connected() ? 1 : 0 },
      'marathon.http.event-callbacks.subscribers.gauge': { value: subscriptions.list().length },
      'marathon.http.event-callbacks.queued.gauge': { value: callbacks.queued },
    }
    const counters: Record<string, { count: number }> = {
      'marathon.http.event-callbacks.delivered.counter': { count: callbacks.delivered },
      'marathon.http.event-callbacks.failed.counter': { count: callbacks.failed },
      'marathon.http.event-callbacks.dropped.counter': { count: callbacks.dropped },
    }
    sendJson(ctx.res, 200, { version: '4.0.0', gauges, counters, histograms: {}, meters: {}, timers: {} })
  })
}
