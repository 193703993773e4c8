// Reading the Docker Engine's error answers, as dockerode hands them over.
import { errorMessage } from './shared.js'

/** The HTTP status the Engine answered with (404 no such container, 409 conflict, …). */
export function statusOf(err: unknown): number | undefined {
  if (err !== null && typeof err === 'object' && 'statusCode' in err) {
    const s = (err as { statusCode: unknown }).statusCode
    return typeof s === 'number' ? s : undefined
  }
  return undefined
}

export function messageOf(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    // dockerode puts the Engine's JSON answer in `json`; its message is the useful part.
    const json = (err as { json?: unknown }).json
    if (json !== null && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
      return (json as { message: string }).message
    }
  }
  return errorMessage(err)
}
