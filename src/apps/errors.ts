// The errors of the Marathon API, each carrying the body Marathon answers with. The one
// mapper in http.ts sends `status` and `body` as they are.
import { jsonDepth, MAX_JSON_DEPTH } from '../api/http.js'
import { DromosError } from '../core/errors.js'

export interface ValidationDetail {
  path: string
  errors: string[]
}

/** A Marathon error body: always `{message}` and sometimes more. */
export class MarathonError extends DromosError {
  readonly body: { message: string } & Record<string, unknown>
  constructor(status: number, message: string, extra: Record<string, unknown> = {}, code = 'MARATHON') {
    super(code, status, message)
    this.body = { message, ...extra }
  }
}

/** Marathon's 422: `{message: 'Object is not valid', details: [{path, errors}]}`. */
export class AppValidationError extends MarathonError {
  constructor(readonly details: ValidationDetail[]) {
    super(422, 'Object is not valid', { details }, 'INVALID_OBJECT')
  }
}

/** Marathon's 400 for a body that is not JSON: `{message: 'Invalid JSON', details: [{path: '/', errors: [reason]}]}`. */
export class InvalidJsonError extends MarathonError {
  readonly details: ValidationDetail[]
  constructor(reason: string, path = '/') {
    const details = [{ path, errors: [reason] }]
    super(400, 'Invalid JSON', { details }, 'INVALID_JSON')
    this.details = details
  }
}

/** Marathon's 409 for a change to apps that running deployments hold, with those deployments. */
export class AppLockedError extends MarathonError {
  constructor(
    readonly appIds: readonly string[],
    readonly deploymentIds: readonly string[],
  ) {
    super(
      409,
      `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.`,
      { deployments: deploymentIds.map((id) => ({ id })) },
      'APP_LOCKED',
    )
  }
}

/** Parses a request body, turning bad JSON into InvalidJsonError (400). */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw new InvalidJsonError('No content to map due to end-of-input')
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw new InvalidJsonError(`JSON is nested deeper than ${MAX_JSON_DEPTH} levels`)
  try {
    return JSON.parse(text) as unknown
  } catch (e) {
    throw new InvalidJsonError((e as Error).message)
  }
}
