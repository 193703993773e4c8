import { useMemo, useState } from 'react'
import type { App } from '../api.ts'
import { api } from '../api.ts'
import { appStatus, DataTable, ErrorBox, imageOrCmd, InstanceBar, StatusBadge } from '../components.tsx'
import { useLive } from '../live.ts'
import { appUrl, Link } from '../router.tsx'

/**
 * Whether an app matches the filter: each word must match, as `key=value` (a label), or as
 * part of the id, a label key or a label value.
 */
export function matchesFilter(app: App, filter: string): boolean {
  const labels = Object.entries(app.labels ?? {})
  return filter
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => {
      const eq = word.indexOf('=')
      if (eq > 0) {
        const k = word.slice(0, eq)
        const v = word.slice(eq + 1)
        return labels.some(([lk, lv]) => lk.toLowerCase() === k && lv.toLowerCase().includes(v))
      }
      return app.id.toLowerCase().includes(word) || labels.some(([k, v]) => k.toLowerCase().includes(word) || v.toLowerCase().includes(word))
    })
}

export function AppsList() {
  const apps = useLive(api.apps, () => true, 'apps')
  const queue = useLive(api.queue, () => true, 'queue')
  const [filter, setFilter] = useState('')
  const waiting = useMemo(() => new Set((queue.data ?? []).map((q) => q.app.id)), [queue.data])
  const shown = (apps.data ?? []).filter((a) => matchesFilter(a, filter))
  return (
    <section aria-labelledby="apps-title">
      <div className="toolbar">
        <h1 id="apps-title">Applications</h1>
        <input
          type="search"
          className="filter"
          placeholder="Filter by id or label (key=value)"
          aria-label="Filter applications by id or label"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <Link to="/new" className="button primary">
          Create app
        </Link>
      </div>
      <ErrorBox error={apps.error} />
      {apps.data && apps.data.length === 0 && (
        <p className="empty">
          No applications yet. <Link to="/new">Create one</Link>.
        </p>
      )}
      {shown.length > 0 && (
        <DataTable columns={['ID', 'Status', 'Instances', { label: 'CPUs', num: true }, { label: 'Memory', num: true }, 'Image or command', 'Labels']} testId="apps-table">
          {shown.map((app) => (
            <tr key={app.id} data-app-id={app.id}>
              <td>
                <Link to={appUrl(app.id)}>{app.id}</Link>
              </td>
              <td>
                <StatusBadge status={appStatus(app, waiting.has(app.id))} />
                {app.deployments.length > 0 && <span className="muted"> {app.deployments.length} deployment{app.deployments.length > 1 ? 's' : ''}</span>}
              </td>
              <td>
                <InstanceBar app={app} />
              </td>
              <td className="num">{app.cpus}</td>
              <td className="num">{app.mem} MiB</td>
              <td className="mono truncate" title={imageOrCmd(app)}>
                {imageOrCmd(app)}
              </td>
              <td>
                {Object.entries(app.labels ?? {}).map(([k, v]) => (
                  <span key={k} className="label">
                    {k}={v}
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {apps.data && apps.data.length > 0 && shown.length === 0 && <p className="empty">No application matches “{filter}”.</p>}
    </section>
  )
}
