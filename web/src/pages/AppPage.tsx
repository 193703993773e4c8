import { useState } from 'react'
import type { App, QueueItem, Task } from '../api.ts'
import { api, ApiError, appPath, request } from '../api.ts'
import { appStatus, ConfirmDialog, DataTable, ErrorBox, imageOrCmd, InstanceBar, since, StatusBadge } from '../components.tsx'
import type { LiveEvent } from '../live.ts'
import { appsOf, useLive } from '../live.ts'
import { editUrl, Link, navigate } from '../router.tsx'
import { TaskLog } from './TaskLog.tsx'
import { VersionDiff } from './VersionDiff.tsx'

const REASONS: Readonly<Record<string, string>> = {
  UnfulfilledRole: 'the offer’s role is not accepted',
  UnfulfilledConstraint: 'a constraint is not met',
  NoCorrespondingReservationFound: 'no matching reservation',
  AgentMaintenance: 'the agent is in maintenance',
  InsufficientCpus: 'not enough CPUs',
  InsufficientMemory: 'not enough memory',
  InsufficientDisk: 'not enough disk',
  InsufficientGpus: 'not enough GPUs',
  InsufficientPorts: 'the ports are not free',
  DeclinedScarceResources: 'it would use scarce resources',
}

/** Why the app's instances wait, from the queue's processedOffersSummary. */
export function whyItWaits(q: QueueItem): string {
  const s = q.processedOffersSummary
  const head = `${q.count} instance${q.count === 1 ? '' : 's'} waiting to launch`
  if (q.delay.timeLeftSeconds > 0) return `${head}: backing off for ${q.delay.timeLeftSeconds} s after failures.`
  const declined = s.rejectSummaryLastOffers.filter((r) => r.declined > 0)
  if (s.processedOffersCount === 0) return `${head}: no offer received yet.`
  if (declined.length === 0) return `${head}: ${s.processedOffersCount} offers processed, none declined.`
  const reasons = declined.map((r) => `${REASONS[r.reason] ?? r.reason} (${r.declined} of ${r.processed} offers)`)
  return `${head}: the last offers were declined because ${reasons.join('; ')}.`
}

const QUEUE_REFRESH_MS = 3000

type Action = 'scale' | 'restart' | 'suspend' | 'destroy'

function Actions({ app, onDone }: { app: App; onDone: () => void }) {
  const [action, setAction] = useState<Action>()
  const [instances, setInstances] = useState(String(app.instances))
  const [force, setForce] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError>()
  const open = (a: Action): void => {
    setAction(a)
    setInstances(String(app.instances))
    setForce(false)
    setError(undefined)
  }
  const close = (): void => setAction(undefined)
  const run = async (): Promise<void> => {
    const q = force ? '?force=true' : ''
    setBusy(true)
    try {
      if (action === 'scale') await request('PUT', `${appPath(app.id)}${q}`, { instances: Number(instances) })
      else if (action === 'suspend') await request('PUT', `${appPath(app.id)}${q}`, { instances: 0 })
      else if (action === 'restart') await request('POST', `${appPath(app.id)}/restart${q}`)
      else if (action === 'destroy') await request('DELETE', `${appPath(app.id)}${q}`)
      close()
      if (action === 'destroy') navigate('/')
      else onDone()
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, String(e)))
    } finally {
      setBusy(false)
    }
  }
  const dialogs: Record<Action, { title: string; confirm: string; danger?: boolean; body: string }> = {
    scale: { title: `Scale ${app.id}`, confirm: 'Scale', body: '' },
    restart: { title: `Restart ${app.id}?`, confirm: 'Restart', body: 'Every instance is replaced, following the upgrade strategy.' },
    suspend: { title: `Suspend ${app.id}?`, confirm: 'Suspend', body: 'The app is scaled to 0 instances; its definition is kept.' },
    destroy: { title: `Destroy ${app.id}?`, confirm: 'Destroy', danger: true, body: 'Its instances are killed and its definition is deleted.' },
  }
  const d = action ? dialogs[action] : undefined
  return (
    <div className="actions">
      <button onClick={() => open('scale')}>Scale</button>
      <button onClick={() => open('restart')}>Restart</button>
      <button onClick={() => open('suspend')} disabled={app.instances === 0}>
        Suspend
      </button>
      <Link to={editUrl(app.id)} className="button">
        Edit
      </Link>
      <button className="danger" onClick={() => open('destroy')}>
        Destroy
      </button>
      {action && d && (
        <ConfirmDialog
          title={d.title}
          confirmLabel={d.confirm}
          {...(d.danger ? { danger: true } : {})}
          busy={busy}
          error={error?.message}
          onCancel={close}
          onConfirm={() => void run()}
        >
          {d.body && <p>{d.body}</p>}
          {action === 'scale' && (
            <label className="field">
              Instances
              <input type="number" min={0} value={instances} onChange={(e) => setInstances(e.target.value)} data-testid="scale-instances" data-autofocus />
            </label>
          )}
          {error?.status === 409 && (
            <label className="check">
              <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} /> Override the running deployment (force)
            </label>
          )}
        </ConfirmDialog>
      )}
    </div>
  )
}

function TaskLinks({ task }: { task: Task }) {
  if (task.ports.length === 0) return <span>{task.host}</span>
  return (
    <>
      {task.ports.map((p) => (
        <a key={p} href={`http://${task.host}:${p}/`} target="_blank" rel="noreferrer" className="mono">
          {task.host}:{p}
        </a>
      ))}
    </>
  )
}

function Health({ task, checks }: { task: Task; checks: number }) {
  if (checks === 0) return <span className="muted">no checks</span>
  return (
    <ul className="checks">
      {Array.from({ length: checks }, (_, i) => {
        const r = task.healthCheckResults[i]
        const state = !r ? 'unknown' : r.alive ? 'healthy' : r.consecutiveFailures > 0 ? 'unhealthy' : 'unknown'
        const detail = r?.lastFailureCause ? ` (${r.lastFailureCause})` : ''
        return (
          <li key={i} className={`health-${state}`} data-testid="health">
            check {i + 1}: {state}
            {state === 'unhealthy' ? detail : ''}
          </li>
        )
      })}
    </ul>
  )
}

export function AppPage({ id }: { id: string }) {
  const concerns = (e: LiveEvent): boolean => {
    const ids = appsOf(e)
    return ids === undefined || ids.includes(id)
  }
  const app = useLive(() => api.app(id), concerns, `app:${id}`)
  const a = app.data
  // No event tells of declined offers: while a deployment is under way, the queue is re-read.
  const deploying = (a?.deployments.length ?? 0) > 0
  const queue = useLive(api.queue, concerns, `queue:${id}`, deploying ? QUEUE_REFRESH_MS : undefined)
  const versions = useLive(() => api.versions(id), concerns, `versions:${id}`)
  const waiting = queue.data?.find((q) => q.app.id === id)
  // The task whose logs are open; kept when it ends, so its last output stays readable.
  const [logTask, setLogTask] = useState<Task>()
  // The focus goes back to the button that opened the view, if its task is still listed.
  const closeLog = (taskId: string): void => {
    setLogTask(undefined)
    requestAnimationFrame(() => document.querySelector<HTMLElement>(`[data-log-task="${CSS.escape(taskId)}"]`)?.focus())
  }
  if (app.error instanceof ApiError && app.error.status === 404) {
    return (
      <section>
        <h1>{id}</h1>
        <p className="empty">
          This app does not exist (any more). <Link to="/">All applications</Link>
        </p>
      </section>
    )
  }
  return (
    <section aria-labelledby="app-title">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/">Applications</Link> / <span>{id}</span>
      </nav>
      <ErrorBox error={app.error} />
      {a && (
        <>
          <div className="toolbar">
            <h1 id="app-title">{a.id}</h1>
            <StatusBadge status={appStatus(a, !!waiting)} />
            <InstanceBar app={a} />
            <Actions app={a} onDone={app.reload} />
          </div>
          {waiting && (
            <p className="waiting" role="status" data-testid="why-waiting">
              {whyItWaits(waiting)}
            </p>
          )}
          {a.deployments.length > 0 && (
            <p className="muted">
              Deployment in progress: {a.deployments.map((d) => d.id).join(', ')} — <Link to="/deployments">see deployments</Link>
            </p>
          )}
          {a.lastTaskFailure?.message && (
            <p className="muted">
              Last task failure ({a.lastTaskFailure.state}, {since(a.lastTaskFailure.timestamp)}): {a.lastTaskFailure.message}
            </p>
          )}
          <dl className="summary">
            <dt>CPUs</dt>
            <dd>{a.cpus}</dd>
            <dt>Memory</dt>
            <dd>{a.mem} MiB</dd>
            <dt>Image or command</dt>
            <dd className="mono">{imageOrCmd(a)}</dd>
            <dt>Version</dt>
            <dd>{since(a.version)}</dd>
          </dl>
          <h2>Tasks</h2>
          {(a.tasks ?? []).length === 0 ? (
            <p className="empty">No tasks.</p>
          ) : (
            <DataTable columns={['Task', 'Address', 'State', 'Health', 'Started', 'Version', 'Logs']} testId="tasks-table">
              {(a.tasks ?? []).map((t) => (
                <tr key={t.id}>
                  <td className="mono truncate" title={t.id}>
                    {t.id}
                  </td>
                  <td>
                    <TaskLinks task={t} />
                  </td>
                  <td>{t.state.replace(/^TASK_/, '').toLowerCase()}</td>
                  <td>
                    <Health task={t} checks={a.healthChecks?.length ?? 0} />
                  </td>
                  <td>{since(t.startedAt ?? t.stagedAt)}</td>
                  <td>{t.version === a.version ? 'current' : since(t.version)}</td>
                  <td>
                    <button
                      className="small-button"
                      aria-expanded={logTask?.id === t.id}
                      aria-controls={logTask?.id === t.id ? 'task-log' : undefined}
                      aria-label={`Logs of ${t.id}`}
                      data-log-task={t.id}
                      onClick={() => setLogTask(logTask?.id === t.id ? undefined : t)}
                    >
                      Logs
                    </button>
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
          {logTask && <TaskLog key={logTask.id} task={logTask} onClose={() => closeLog(logTask.id)} />}
          <div className="columns">
            <div>
              <h2>Configuration</h2>
              <pre className="json" data-testid="app-config">
                {JSON.stringify(configOf(a), null, 2)}
              </pre>
            </div>
            <div>
              <h2>Versions</h2>
              <ol className="versions">
                {(versions.data ?? []).map((v) => (
                  <li key={v}>
                    {since(v)} {v === a.version && <span className="muted">(current)</span>}
                  </li>
                ))}
              </ol>
            </div>
          </div>
          <h2 id="changes-title">Changes between versions</h2>
          <VersionDiff appId={a.id} versions={versions.data ?? []} current={a.version} />
        </>
      )}
    </section>
  )
}

/** The definition alone, without the fields that describe the running state. */
export function configOf(app: App): Record<string, unknown> {
  const { tasks: _t, tasksStaged: _s, tasksRunning: _r, tasksHealthy: _h, tasksUnhealthy: _u, deployments: _d, lastTaskFailure: _f, ...config } = app
  return config
}
