import { randomUUID } from 'node:crypto'

// Mesos ids look like `<uuid>-S0` (agents), `<uuid>-0000` (frameworks) and
// `<uuid>-O12` (offers): a per-master-run prefix and a counter.
export function newMasterRunId(): string {
  return randomUUID()
}

export function newUuid(): string {
  return randomUUID()
}

/** A status update uuid: 16 random bytes, base64 as in the proto's JSON mapping. */
export function newUpdateUuid(): string {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64')
}
