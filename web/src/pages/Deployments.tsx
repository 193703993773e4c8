import { useState } from 'react'
import type { Deployment } from '../api.ts'
import { api, ApiError, request } from '../api.ts'
import { ConfirmDialog, ErrorBox, InstanceBar, since } from '../components.tsx'
import type { LiveEvent } from '../live.ts'
import { useLive } from '../live.ts'
import { appUrl, Link } from '../router.tsx'

const deploymentEvent = (e: LiveEvent): boolean => e.eventType.startsWith('deployment_') || e.eventType === 'api_post_event' || e.eventType === 'stream_reconnected' || e.eventType === 'group_change_success'

export function Deployments() {
  const list = useLive(api.deployments, deploymentEvent, 'deployments')
  // The current step's progress is its apps' instances: every status update may move it.
  const apps = useLive(api.apps, () => true, 'deployments-apps')
  const appById = new Map((apps.data ?? []).map((a) => [a.id, a]))
  const [pending, setPending] = useState<{ d: Deployment; force: boolean }>()
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  const cancel = async (): Promise<void> => {
    if (!pending) return
    setBusy(true)
    try {
      await request('DELETE', `/v2/deployments/${encodeURIComponent(pending.d.id)}${pending.force ? '?force=true' : ''}`)
      setPending(undefined)
      list.reload()
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e))
    } finally {
      setBusy(false)
    }
  }
  return (
    <section aria-labelledby="deployments-title">
      <h1 id="deployments-title">Deployments</h1>
      <ErrorBox error={list.error} />
      {list.data && list.data.length === 0 && <p className="empty">No deployment in progress.</p>}
      {(list.data ?? []).map((d) => (
        <article key={d.id} className="card" data-testid="deployment">
          <header className="toolbar">
            <h2 className="mono">{d.id}</h2>
            <span className="muted">started with version {since(d.version)}</span>
            <div className="actions">
              <button onClick={() => setPending({ d, force: false })}>Rollback</button>
              <button className="danger" onClick={() => setPending({ d, force: true })}>
                Force stop
              </button>
            </div>
          </header>
          <p>
            Apps:{' '}
            {d.affectedApps.map((a) => (
              <Link key={a} to={appUrl(a)} className="label">
                {a}
              </Link>
            ))}
          </p>
          <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={d.totalSteps} aria-valuenow={d.currentStep} aria-label={`step ${d.currentStep} of ${d.totalSteps}`}>
            <span style={{ width: `${(100 * Math.max(0, d.currentStep - 1)) / Math.max(1, d.totalSteps)}%` }} />
          </div>
          <ol className="steps">
            {d.steps.map((s, i) => (
              <li key={i} className={i + 1 < d.currentStep ? 'done' : i + 1 === d.currentStep ? 'current' : 'todo'}>
                <span className="step-no">Step {i + 1}</span>
                {s.actions.map((a, j) => {
                  const app = i + 1 === d.currentStep ? appById.get(a.app) : undefined
                  return (
                    <span key={j} className="step-action">
                      {a.action} {a.app}
                      {app && <InstanceBar app={app} />}
                    </span>
                  )
                })}
                {i + 1 === d.currentStep && <span className="muted"> (in progress)</span>}
              </li>
            ))}
          </ol>
        </article>
      ))}
      {pending && (
        <ConfirmDialog
          title={pending.force ? 'Force stop this deployment?' : 'Roll this deployment back?'}
          confirmLabel={pending.force ? 'Force stop' : 'Rollback'}
          danger={pending.force}
          busy={busy}
          error={error}
          onCancel={() => {
            setPending(undefined)
            setError(undefined)
          }}
          onConfirm={() => void cancel()}
        >
          <p>
            {pending.force
              ? 'The deployment stops where it is, and no rollback is started: its apps stay as they are now.'
              : 'A new deployment brings its apps back to the versions they had before.'}
          </p>
        </ConfirmDialog>
      )}
    </section>
  )
}
