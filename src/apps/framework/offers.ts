// Offers: one placement decision over every offer of a pass (placeApps), applied as it comes
// back: instances recorded, tasks launched with an ACCEPT per offer, the rest declined, and
// offers suppressed once nothing waits for launches. The launches in flight are bounded
// (FrameworkContext.maxLaunchesInFlight): a pass launches no more than the room left.
import type { OfferWire, TaskInfo } from '../../api/mesos.js'
import { newUuid } from '../../core/ids.js'
import { offerViewFromWire } from '../offer-view.js'
import { placeApps } from '../placement.js'
import { isAlive } from '../reconcile.js'
import { servicePortsOf } from '../service-ports.js'
import { instanceIdFor, taskIdFor } from '../task-ids.js'
import { buildTaskInfo } from '../task-info.js'
import type { Instance, OfferView } from '../types.js'
import { Condition } from '../types.js'
import type { FrameworkContext } from './context.js'
import { nowIso } from './context.js'
import type { LaunchNeed, LaunchQueue } from './launch-queue.js'

export type OfferHandler = (offers: OfferWire[]) => Promise<void>

export function createOfferHandler(ctx: FrameworkContext, launchQueue: LaunchQueue): OfferHandler {
  const { state, log } = ctx

  /** An ACCEPT names the offers of one agent; every offer declined goes in one DECLINE. Nothing waits for the master's answers. */
  function answer(views: readonly OfferView[], tasksByOffer: ReadonlyMap<string, TaskInfo[]>, refuseSeconds: number): void {
    const client = ctx.client
    if (!client) return
    for (const view of views) {
      const tasks = tasksByOffer.get(view.id)
      if (!tasks) continue
      client.accept([view.id], tasks, 1).catch((e: unknown) => {
        log.warn({ err: (e as Error).message, offerId: view.id }, 'offer answer failed')
        // Whether the master launched them is unknown: ask at once rather than at the next
        // periodic reconciliation. Tasks it never saw come back as gone and are replaced.
        client.reconcile(tasks.map((t) => ({ taskId: t.task_id.value, agentId: view.agentId }))).catch(() => undefined)
      })
    }
    const declined = views.filter((v) => !tasksByOffer.has(v.id)).map((v) => v.id)
    if (declined.length > 0) client.decline(declined, refuseSeconds).catch((e: unknown) => log.warn({ err: (e as Error).message, offers: declined.length }, 'offer answer failed'))
  }

  let passes = 0
  /**
   * The apps in the order the pass looks at them. When the room for launches is short of what
   * they all want, each pass starts one app further on, so that no app waits behind another
   * for ever (Marathon shuffles its matchers for each offer).
   */
  function takeTurns(ready: LaunchNeed[], room: number): LaunchNeed[] {
    const wantedCount = ready.reduce((n, w) => n + w.count, 0)
    if (room >= wantedCount || ready.length < 2) return ready
    const start = passes++ % ready.length
    return [...ready.slice(start), ...ready.slice(0, start)]
  }

  return async function onOffers(offers) {
    const client = ctx.client
    if (!client) return
    const views = offers.map(offerViewFromWire)
    const ipOf = new Map(offers.map((o) => [o.id.value, o.url?.address?.ip ?? o.hostname]))
    const byId = new Map(views.map((v) => [v.id, v]))
    const wanted = launchQueue.needs()
    launchQueue.endSatisfiedAttempts(wanted)
    const room = Math.max(0, ctx.maxLaunchesInFlight - state.launchesInFlight())
    const ready = takeTurns(wanted.filter(({ app }) => !launchQueue.launchDelayActive(app)), room)
    const blocked = ready.length < wanted.length
    const appById = new Map(ready.map((w) => [w.app.id, w.app]))
    // One decision over every offer of the pass, applied as it comes back.
    // Ports can clash on the offered agents only; with no room, nothing is placed to clash.
    const portsInUse = room === 0 ? [] : [...new Set(views.map((v) => v.agentId))].flatMap((agentId) => [...state.instancesOnAgent(agentId)].filter(isAlive))
    const now = ctx.clock.now()
    const placement = placeApps({
      // `app` is the target the launch queue decided with: its kept decision, with its instances.
      demands: ready.map(({ app, count }) => ({ app, count, running: ctx.decide(app.id, app, now).alive })),
      offers: views,
      portsInUse,
      maxLaunches: room,
    })
    launchQueue.noteOffers(offers, ready, placement)
    const tasksByOffer = new Map<string, TaskInfo[]>()
    // The pass's instances go to the store in one batch, and the answers leave once it is
    // written: an instance is stored before its task can run, as Marathon does. The queue
    // waits for neither: deploys, updates and the next offers go on.
    await state.batch(async () => {
      for (const launch of placement.launches) {
        const app = appById.get(launch.appId)!
        const view = byId.get(launch.offerId)!
        const uuid = newUuid()
        const taskId = taskIdFor(app.id, uuid)
        const servicePorts = servicePortsOf(app)
        const instance: Instance = {
          instanceId: instanceIdFor(app.id, uuid),
          taskId,
          appId: app.id,
          version: app.version,
          configVersion: app.versionInfo.lastConfigChangeAt,
          agentId: launch.agentId,
          agentIp: ipOf.get(launch.offerId) ?? launch.hostname,
          agentAttributes: view.attributes,
          host: launch.hostname,
          hostPorts: launch.hostPorts,
          servicePorts,
          condition: Condition.Provisioned,
          mesosState: 'TASK_STAGING',
          stagedAt: nowIso(ctx),
          ipAddresses: [],
          goal: 'Running',
        }
        await state.apply({ type: 'instance-put', instance })
        const info = buildTaskInfo({ app, taskId, offer: view, hostPorts: launch.hostPorts, servicePorts })
        tasksByOffer.set(view.id, [...(tasksByOffer.get(view.id) ?? []), info])
      }
      state.afterWrites(() => answer(views, tasksByOffer, wanted.length > 0 || blocked ? 1 : 30))
    })
    if (wanted.length === 0 && !blocked && !ctx.suppressed) {
      ctx.suppressed = true
      client.suppress().catch(() => (ctx.suppressed = false))
    }
  }
}
