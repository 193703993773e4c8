// What each route module of the Marathon API is given, and the request helpers they share:
// query flags, the 422 of an invalid body, and the answer to a change that started a deployment.
import type { Logger } from 'pino'
import type { RequestContext, Router } from '../../api/http.js'
import { AppValidationError, MarathonError } from '../errors.js'
import type { CallbackDeliveryOptions, EventSubscriptions } from '../event-subscriptions.js'
import type { AppsFramework } from '../framework.js'
import type { DeploymentRecord } from '../state.js'
import type { HttpViews } from './views.js'

export interface AppsHttpOptions {
  readonly framework: AppsFramework
  readonly log: Logger
  readonly host: string
  readonly port: number
  readonly master: string
  readonly hostname: string
  readonly maxBodyBytes?: number
  readonly now: () => Date
  /** Serves the web UI's static files, when there is one. */
  readonly staticDir?: string
  /** How events reach the /v2/eventSubscriptions callback URLs. */
  readonly callbacks?: Omit<CallbackDeliveryOptions, 'log'>
  /**
   * The callback subscriptions, when the caller started them before the framework (so that
   * the events of its start reach the callbacks too); it then closes them itself.
   */
  readonly subscriptions?: EventSubscriptions
  /** With HA: DELETE /v2/leader gives leadership up (after the answer is sent). */
  readonly abdicate?: () => void
  /**
   * Where the state lives, for /v2/info's zookeeper_config (Marathon's keys, dromos' store):
   * its URL, the deadline of a store call, the leader lease and the versions kept of an app.
   */
  readonly store?: { readonly url: string; readonly timeoutMs: number; readonly sessionTimeoutMs: number; readonly maxVersions: number }
}

export type AppsRouterOptions = Omit<AppsHttpOptions, 'host'> & { readonly port: number }

export interface RouteContext {
  readonly router: Router
  readonly fw: AppsFramework
  readonly opts: AppsRouterOptions
  readonly views: HttpViews
  /** The request's body as JSON, within the body size limit. */
  readonly jsonBody: (ctx: RequestContext) => Promise<unknown>
}

const bool = (v: string | null): boolean => v === 'true' || v === '1' || v === ''

export function invalid(details: Array<{ path: string; errors: string[] }>): never {
  throw new AppValidationError(details)
}

export const embedParams = (url: URL): string[] => url.searchParams.getAll('embed')

export const deployed = (d: DeploymentRecord) => ({ version: d.version, deploymentId: d.id })

export const force = (ctx: RequestContext): boolean => bool(ctx.url.searchParams.get('force'))

/** ?scale, ?wipe and ?force of the task-kill endpoints; scale and wipe exclude each other, as in Marathon. */
export function killFlags(ctx: RequestContext): { scale: boolean; wipe: boolean; force: boolean } {
  const scale = bool(ctx.url.searchParams.get('scale'))
  const wipe = bool(ctx.url.searchParams.get('wipe'))
  if (scale && wipe) throw new MarathonError(400, 'You cannot use scale and wipe at the same time.')
  return { scale, wipe, force: force(ctx) }
}
