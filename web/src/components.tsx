// Small building blocks: instance and resource bars, a confirmation dialog, a status badge.
import type { ReactNode } from 'react'
import { Component, useEffect, useRef } from 'react'
import type { App } from './api.ts'

/** Healthy, running and staged instances against the target, as stacked segments. */
export function InstanceBar({ app }: { app: App }) {
  const hasChecks = (app.healthChecks?.length ?? 0) > 0
  const healthy = hasChecks ? app.tasksHealthy : 0
  const running = Math.max(0, app.tasksRunning - healthy)
  const staged = app.tasksStaged
  const total = Math.max(app.instances, app.tasksRunning + staged, 1)
  const pct = (n: number): string => `${(100 * n) / total}%`
  const label = hasChecks
    ? `${app.tasksHealthy} healthy, ${app.tasksRunning} running, ${staged} staged of ${app.instances}`
    : `${app.tasksRunning} running, ${staged} staged of ${app.instances}`
  return (
    <div className="instances" title={label} aria-label={label} role="img">
      <div className="bar">
        <span className="seg healthy" style={{ width: pct(healthy) }} />
        <span className="seg running" style={{ width: pct(running) }} />
        <span className="seg staged" style={{ width: pct(staged) }} />
      </div>
      <span className="count" data-testid="instance-count">
        {hasChecks ? `${app.tasksHealthy}/${app.instances}` : `${app.tasksRunning}/${app.instances}`}
      </span>
    </div>
  )
}

export function ResourceBar({ used, total, unit = '' }: { used: number; total: number; unit?: string }) {
  const share = total > 0 ? Math.min(1, used / total) : 0
  const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2))
  const label = `${fmt(used)} of ${fmt(total)}${unit} used`
  return (
    <div className="resource" title={label} role="meter" aria-valuemin={0} aria-valuemax={total} aria-valuenow={used} aria-label={label}>
      <div className="bar">
        <span className={`seg ${share > 0.9 ? 'full' : 'used'}`} style={{ width: `${share * 100}%` }} />
      </div>
      <span className="count">
        {fmt(used)} / {fmt(total)}
        {unit}
      </span>
    </div>
  )
}

export type AppStatus = 'Deploying' | 'Waiting' | 'Suspended' | 'Running' | 'Unhealthy'

export function appStatus(app: App, waiting: boolean): AppStatus {
  if (app.deployments.length > 0) return waiting ? 'Waiting' : 'Deploying'
  if (app.instances === 0 && app.tasksRunning === 0) return 'Suspended'
  if (waiting) return 'Waiting'
  if (app.tasksUnhealthy > 0) return 'Unhealthy'
  return 'Running'
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{status}</span>
}

/**
 * A modal dialog (the browser's own <dialog>: it keeps the focus inside and Escape cancels).
 * `children` holds the question, and any input the action needs.
 */
export function ConfirmDialog(props: {
  title: string
  confirmLabel: string
  danger?: boolean
  busy?: boolean
  error?: string | undefined
  onConfirm: () => void
  onCancel: () => void
  children?: ReactNode
}) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const d = ref.current
    if (!d || d.open) return
    d.showModal()
    // The first [data-autofocus] inside: an input the action needs, else the safe button.
    d.querySelector<HTMLElement>('[data-autofocus]')?.focus()
  }, [])
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="dialog-title" onCancel={props.onCancel} data-testid="confirm-dialog">
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault()
          props.onConfirm()
        }}
      >
        <h2 id="dialog-title">{props.title}</h2>
        {props.children}
        {props.error && (
          <p className="error" role="alert">
            {props.error}
          </p>
        )}
        <div className="dialog-buttons">
          {/* Enter must not destroy by accident: a dangerous action starts on Cancel. */}
          <button type="button" onClick={props.onCancel} {...(props.danger ? { 'data-autofocus': true } : {})}>
            Cancel
          </button>
          <button type="submit" className={props.danger ? 'danger' : 'primary'} disabled={props.busy} {...(props.danger ? {} : { 'data-autofocus': true })}>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  )
}

export function ErrorBox({ error }: { error: Error | undefined }) {
  if (!error) return null
  return (
    <p className="error" role="alert">
      {error.message}
    </p>
  )
}

export const imageOrCmd = (app: App): string => app.container?.docker?.image ?? app.cmd ?? app.args?.join(' ') ?? ''

export function since(iso: string | undefined): string {
  if (!iso) return ''
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString()
}

/** Shows what broke instead of a blank page; the next navigation tries again. */
export class ErrorBoundary extends Component<{ path: string; children: ReactNode }, { error: Error | undefined; path: string }> {
  override state = { error: undefined as Error | undefined, path: this.props.path }
  static getDerivedStateFromError(error: Error): Partial<{ error: Error }> {
    return { error }
  }
  static getDerivedStateFromProps(props: { path: string }, state: { error: Error | undefined; path: string }) {
    return props.path === state.path ? null : { error: undefined, path: props.path }
  }
  override render() {
    if (!this.state.error) return this.props.children
    return (
      <p className="error" role="alert">
        This page failed: {this.state.error.message}
      </p>
    )
  }
}

export interface Column {
  label: string
  /** Right-aligned, for quantities. */
  num?: boolean
}

/** A table that scrolls sideways on a narrow screen, with a header row of `columns`. */
export function DataTable({ columns, testId, children }: { columns: ReadonlyArray<string | Column>; testId?: string; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            {columns.map((c) => {
              const col = typeof c === 'string' ? { label: c } : c
              return (
                <th key={col.label} scope="col" className={col.num ? 'num' : undefined}>
                  {col.label}
                </th>
              )
            })}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  )
}
