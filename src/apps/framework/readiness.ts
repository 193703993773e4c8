// Readiness checks: while an instance is not yet ready, its app's first readiness check is
// polled over HTTP(S); the first ready answer marks the instance ready, which lets a
// deployment go on. The last result is kept for the deployment's readinessCheckResults.
import { httpGet } from '../../api/probes.js'
import { isAlive } from '../reconcile.js'
import type { AppDefinition, Instance } from '../types.js'
import type { FrameworkContext } from './context.js'

/** Marathon's ReadinessCheckResult; lastResponse only when the check preserves it. */
export interface ReadinessCheckResult {
  readonly name: string
  readonly taskId: string
  readonly ready: boolean
  readonly lastResponse?: { readonly status: number; readonly contentType: string; readonly body: string }
}

/** The most of a readiness response body kept for lastResponse. */
const READINESS_BODY_LIMIT = 16 * 1024

export interface ReadinessChecks {
  /** Polls the app's readiness check of the instance until it answers ready. */
  poll(app: AppDefinition, inst: Instance): void
  /** Stops polling the instance and forgets its last result. */
  stop(instanceId: string): void
  /** The last result of each instance of the app still being checked, while a deployment runs. */
  resultsOf(appId: string): ReadinessCheckResult[]
}

function portNames(app: AppDefinition): string[] {
  if (app.container?.portMappings && app.networks.some((n) => n.mode !== 'host')) return app.container.portMappings.map((p) => p.name ?? '')
  return app.portDefinitions.map((p) => p.name ?? '')
}

export function createReadinessChecks(ctx: FrameworkContext): ReadinessChecks {
  const { state, log } = ctx
  /** instance id -> its last readiness check result */
  const readinessResults = new Map<string, ReadinessCheckResult>()
  const readiness = new Map<string, NodeJS.Timeout>()

  function poll(app: AppDefinition, inst: Instance): void {
    const rc = app.readinessChecks[0]!
    const names = portNames(app)
    const idx = Math.max(0, names.indexOf(rc.portName))
    const port = inst.hostPorts[idx]
    if (port === undefined) return
    const attempt = async (): Promise<void> => {
      const cur = state.instances.get(inst.instanceId)
      if (!cur || !isAlive(cur)) return
      let ready = false
      let lastResponse: ReadinessCheckResult['lastResponse']
      try {
        // A self-signed certificate passes, as for health checks.
        const r = await httpGet({
          scheme: rc.protocol === 'HTTPS' ? 'https' : 'http',
          host: inst.agentIp,
          port,
          path: rc.path,
          signal: AbortSignal.timeout(rc.timeoutSeconds * 1000),
          maxBodyBytes: READINESS_BODY_LIMIT,
          userAgent: 'dromos-readiness-check',
        })
        ready = rc.httpStatusCodesForReady.includes(r.status)
        if (rc.preserveLastResponse) lastResponse = r
        log.debug({ instanceId: inst.instanceId, status: r.status, ready }, 'readiness check')
      } catch (e) {
        log.debug({ instanceId: inst.instanceId, err: (e as Error).message }, 'readiness check failed')
        ready = false
      }
      if (!state.instances.has(inst.instanceId)) return
      readinessResults.set(inst.instanceId, { name: rc.name, taskId: inst.taskId, ready, ...(lastResponse ? { lastResponse } : {}) })
      if (ready) {
        readiness.delete(inst.instanceId)
        await ctx.enqueueResult(async () => {
          const now = state.instances.get(inst.instanceId)
          if (now && now.ready !== true) await state.apply({ type: 'instance-put', instance: { ...now, ready: true } })
          ctx.tickSoon()
        })
        return
      }
      readiness.set(inst.instanceId, setTimeout(run, rc.intervalSeconds * 1000))
    }
    const run = (): void => void attempt().catch((e: unknown) => log.warn({ err: (e as Error).message, instanceId: inst.instanceId }, 'readiness check failed to record'))
    readiness.set(inst.instanceId, setTimeout(run, 0))
  }

  return {
    poll,
    stop(instanceId) {
      readinessResults.delete(instanceId)
      const r = readiness.get(instanceId)
      if (r) clearTimeout(r)
      readiness.delete(instanceId)
    },
    resultsOf(appId) {
      if (!state.deploymentOf(appId)) return []
      return state
        .instancesOf(appId)
        .map((i) => readinessResults.get(i.instanceId))
        .filter((r): r is ReadinessCheckResult => r !== undefined)
    },
  }
}
