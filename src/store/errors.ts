// The store's errors carry what a caller needs to decide: retry later (the store cannot be
// reached) or stop acting as leader (a fenced write was refused).
import { DromosError } from '../core/errors.js'

/** The store did not answer in time or refused the connection; the same call may succeed later. */
export class StoreUnavailableError extends DromosError {
  readonly retryable = true
  constructor(
    readonly operation: string,
    readonly endpoints: readonly string[],
    readonly timeoutMs: number,
    override readonly cause: unknown,
  ) {
    super(
      'STORE_UNAVAILABLE',
      503,
      `Store ${operation} failed: etcd at ${endpoints.join(',')} is unavailable (${describeCause(cause)}; each attempt waits at most ${timeoutMs} ms)`,
    )
  }
}

/**
 * A fenced write was refused because this process no longer holds the election key it
 * won (deposed, lease expired, or resigned). Nothing of the write was applied.
 */
export class NotLeaderError extends DromosError {
  readonly retryable = false
  constructor(
    readonly electionKey: string,
    readonly leaderRevision: string,
    readonly operation: string,
    readonly keys: readonly string[],
  ) {
    super(
      'NOT_LEADER',
      503,
      `Not the leader: ${operation} of ${keys.join(', ')} refused, election key ${electionKey} (revision ${leaderRevision}) is gone`,
    )
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
}
