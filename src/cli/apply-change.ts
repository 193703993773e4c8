// Sending a change to dromos apps and following the deployment it starts, to done or failed.
import type { Command } from 'commander'
import type { MarathonClient, MarathonEventStream } from '../api/marathon-client.js'
import { MarathonUnreachableError } from '../api/marathon-client.js'
import type { WaitFlags } from './command-plumbing.js'
import { clientOf, out } from './command-plumbing.js'
import { createProgress, WATCH_EVENT_TYPES, watchDeployment } from './deployment-watch.js'
import { appCounts, ExitCode } from './format.js'

export interface ChangeSpec extends Pick<WaitFlags, 'wait' | 'timeout'> {
  readonly verb: string
  readonly doneVerb: string
  readonly appIds: readonly string[]
  readonly removing?: readonly string[]
  /** Sends the change and says which deployment it started (and, when known then, which apps). */
  readonly send: (client: MarathonClient) => Promise<{ deploymentId: string; appIds?: readonly string[] }>
}

export async function applyChange(cmd: Command, spec: ChangeSpec): Promise<number> {
  const client = clientOf(cmd)
  let events: MarathonEventStream | undefined
  if (spec.wait) {
    // Subscribe first: a small deployment can finish before the change's answer arrives.
    events = await client.openEvents({ eventTypes: WATCH_EVENT_TYPES }).catch((e: unknown) => {
      if (e instanceof MarathonUnreachableError) throw e
      return undefined
    })
  }
  try {
    const sent = await spec.send(client)
    if (!spec.wait) {
      out(`${sent.deploymentId}\n`)
      return ExitCode.Ok
    }
    const appIds = [...new Set([...spec.appIds, ...(sent.appIds ?? [])])]
    const progress = createProgress(process.stderr)
    const outcome = await watchDeployment({
      client,
      deploymentId: sent.deploymentId,
      appIds,
      removing: spec.removing ?? [],
      verb: spec.verb,
      timeoutMs: spec.timeout,
      events,
      progress,
    })
    if (!outcome.ok) {
      progress.finish(`dromos: ${outcome.reason}`)
      return ExitCode.Failed
    }
    // The watch may have learned more apps from the deployment (a group's, a rollback's).
    const summary = [...outcome.apps.keys()]
      .map((id) => {
        const app = outcome.apps.get(id)
        if (app) return `${id} ${appCounts(app)}`
        return spec.doneVerb === 'removed' ? id : `${id} removed`
      })
      .join('; ')
    progress.finish(`${spec.doneVerb}: ${summary || '(no apps)'} (deployment ${sent.deploymentId})`)
    return ExitCode.Ok
  } finally {
    events?.close()
  }
}
