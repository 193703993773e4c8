// The apps framework: a Mesos framework (through the v1 scheduler HTTP API only) that keeps
// Marathon apps at their target. The decisions are pure (reconcile.ts, plan.ts,
// placement.ts); the shell that runs them is in framework/: offers, status updates, health
// and readiness checks, kills, API changes, deployments and the reconciling pass, which share
// one FrameworkContext. This module wires them together and owns the connection's lifecycle.
import type { Logger } from 'pino'
import type { OfferWire } from '../api/mesos.js'
import type { SchedulerClient, SchedulerClientOptions } from '../api/scheduler-client.js'
import { createSchedulerClient } from '../api/scheduler-client.js'
import { parseMasterList } from '../api/masters.js'
import type { Clock } from '../core/clock.js'
import type { Store } from '../store/store.js'
import type { OfferStats } from './offer-stats.js'
import type { HealthJson } from './health.js'
import type { EventBus } from './events.js'
import type { AppsState, DeploymentRecord } from './state.js'
import { createAppsState } from './state.js'
import type { AppDefinition, DeploymentPlan, Instance } from './types.js'
import type { PlanJson } from './event-payloads.js'
import { Condition } from './types.js'
import type { DeployChange } from './framework/changes.js'
import { createChanges } from './framework/changes.js'
import { createChecks } from './framework/checks.js'
import type { FrameworkContext } from './framework/context.js'
import { createSerialQueue } from './framework/context.js'
import { createDecisions } from './framework/decisions.js'
import { createKills } from './framework/kills.js'
import { createLaunchQueue } from './framework/launch-queue.js'
import { createOfferHandler } from './framework/offers.js'
import { planJson } from './framework/publish.js'
import type { ReadinessCheckResult } from './framework/readiness.js'
import { createSchedulerEvents } from './framework/scheduler-events.js'
import { createStatusUpdateHandler } from './framework/status-updates.js'
import { createReconcilingPass } from './framework/tick.js'

export type { DeployChange } from './framework/changes.js'
export type { ReadinessCheckResult } from './framework/readiness.js'

/** The launches in flight allowed unless told otherwise (--max-launches-in-flight). */
export const DEFAULT_MAX_LAUNCHES_IN_FLIGHT = 5000

export interface AppsFrameworkOptions {
  readonly store: Store
  readonly master: string
  readonly log: Logger
  readonly clock: Clock
  readonly events: EventBus
  readonly frameworkName: string
  readonly hostname: string
  readonly webuiUrl?: string
  readonly role?: string
  /** Interval of the reconciling pass. */
  readonly tickMs?: number
  /**
   * How long an instance with ports shows as killing before it is killed, so that load
   * balancers drain it first.
   */
  readonly killDrainMs?: number
  /** Interval of implicit task reconciliation with the master. */
  readonly reconcileIntervalMs?: number
  readonly failoverTimeoutSeconds?: number
  /**
   * At most this many instances launched and not yet running or ended, of all apps
   * (DEFAULT_MAX_LAUNCHES_IN_FLIGHT): a storm of launches is fed to the agents as they start
   * tasks, not all at once.
   */
  readonly maxLaunchesInFlight?: number
  /** Opens the scheduler API connection to the master (the real HTTP client unless a test records the calls). */
  readonly connect?: (o: SchedulerClientOptions) => SchedulerClient
}

export interface AppsFramework {
  readonly state: AppsState
  readonly events: EventBus
  start(): Promise<void>
  stop(): Promise<void>
  connected(): boolean
  /** The master the framework subscribes to: the leader, as far as it knows. */
  master(): string
  frameworkId(): string | undefined
  /** Stores the change and starts the deployment that carries it out. */
  deploy(change: DeployChange, opts: { force: boolean }): Promise<DeploymentRecord>
  killInstances(instanceIds: readonly string[], opts: { scale: boolean; wipe: boolean; force: boolean }): Promise<{ killed: Instance[]; deployment?: DeploymentRecord }>
  cancelDeployment(id: string, force: boolean): Promise<DeploymentRecord | undefined>
  resetDelay(appId: string): Promise<boolean>
  /** Apps waiting for launches, for /v2/queue. */
  queue(): Array<{ app: AppDefinition; count: number; delay?: { until: number }; offers?: OfferStats<OfferWire> }>
  deploymentsOf(appId: string): DeploymentRecord[]
  /** The last readiness check result of each instance of the app still being checked, while a deployment runs. */
  readinessResultsOf(appId: string): ReadinessCheckResult[]
  /** Marathon's healthCheckResults of an instance: one entry for each of its checks that has run. */
  healthResultsOf(instanceId: string): HealthJson[]
  planJson(plan: DeploymentPlan): PlanJson
}

export function createAppsFramework(opts: AppsFrameworkOptions): AppsFramework {
  const { log, clock, events, store } = opts
  const state = createAppsState({ store, log: log.child({ component: 'apps-state' }) })
  const tickMs = opts.tickMs ?? 1000
  let tickTimer: NodeJS.Timeout | undefined
  let reconcileTimer: NodeJS.Timeout | undefined
  const queue = createSerialQueue(log)
  const ctx: FrameworkContext = {
    state,
    log,
    clock,
    events,
    client: undefined,
    suppressed: false,
    enqueue: queue.enqueue,
    enqueueResult: queue.enqueueResult,
    enqueueBatch: queue.enqueueBatch,
    // Every part asks for passes and the pass drives every part, so the pass is made last;
    // nothing asks for one before start() or an API change.
    decide: createDecisions(state),
    maxLaunchesInFlight: opts.maxLaunchesInFlight ?? DEFAULT_MAX_LAUNCHES_IN_FLIGHT,
    tickSoon: () => pass.soon(),
  }
  const launchQueue = createLaunchQueue(ctx)
  // A failing check kills its instance and a kill stops the instance's checks: `kills`,
  // made next, is looked up only when a check kills.
  const checks = createChecks(ctx, { noteFailure: launchQueue.noteFailure, kill: (i) => kills.killInstance(i, 'Decommissioned') })
  const kills = createKills(ctx, { stopChecks: checks.stop, killDrainMs: opts.killDrainMs ?? 1000 })
  const changes = createChanges(ctx, { kills, stopChecks: checks.stop, restartHealthChecks: checks.restartHealthChecks })
  const scheduler = createSchedulerEvents(ctx, {
    master: opts.master,
    onOffers: createOfferHandler(ctx, launchQueue),
    onUpdate: createStatusUpdateHandler(ctx, { checks, launchQueue }),
  })
  const pass = createReconcilingPass(ctx, { kills, launchQueue, stopChecks: checks.stop })

  return {
    state,
    events,
    async start() {
      await state.load()
      for (const i of state.instances.values()) if (i.condition === Condition.Running) checks.start(i)
      const client = (opts.connect ?? createSchedulerClient)({
        masters: parseMasterList(opts.master),
        log: log.child({ component: 'scheduler-client' }),
        frameworkInfo: {
          user: 'root',
          name: opts.frameworkName,
          roles: [opts.role ?? '*'],
          failover_timeout: opts.failoverTimeoutSeconds ?? 604_800,
          checkpoint: true,
          hostname: opts.hostname,
          capabilities: [{ type: 'MULTI_ROLE' }, { type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }],
          ...(opts.webuiUrl ? { webui_url: opts.webuiUrl } : {}),
        },
        ...(state.frameworkId ? { frameworkId: state.frameworkId } : {}),
        onEvent: scheduler.onEvent,
        onDisconnected: () => events.publish('scheduler_disconnected_event', {}),
      })
      ctx.client = client
      client.start()
      tickTimer = setInterval(ctx.tickSoon, tickMs)
      reconcileTimer = setInterval(() => void scheduler.reconcileTasks(), opts.reconcileIntervalMs ?? 60_000)
    },
    async stop() {
      pass.stop()
      if (tickTimer) clearInterval(tickTimer)
      if (reconcileTimer) clearInterval(reconcileTimer)
      checks.stopAll()
      ctx.client?.stop()
      await queue.drained()
    },
    connected: () => ctx.client?.connected() ?? false,
    master: () => ctx.client?.master() ?? parseMasterList(opts.master)[0]!,
    frameworkId: () => state.frameworkId,
    deploy: (change, o) => queue.enqueueResult(() => changes.deploy(change, o)),
    killInstances: (ids, o) => queue.enqueueResult(() => changes.killInstances(ids, o)),
    cancelDeployment: (id, force) => queue.enqueueResult(() => changes.cancelDeployment(id, force)),
    resetDelay: (appId) => queue.enqueueResult(() => changes.resetDelay(appId)),
    queue: launchQueue.entries,
    readinessResultsOf: checks.readinessResultsOf,
    healthResultsOf: checks.healthResultsOf,
    deploymentsOf(appId) {
      return [...state.deployments.values()].filter((d) => d.affectedApps.includes(appId))
    },
    planJson,
  }
}
