import type { MasterState, Role } from '../api.ts'
import { masterBase, request, scalar } from '../api.ts'
import { DataTable, ErrorBox, ResourceBar } from '../components.tsx'
import type { LiveEvent } from '../live.ts'
import { useLive } from '../live.ts'

/** Events after which the master's accounting may have changed. */
const clusterEvent = (e: LiveEvent): boolean =>
  e.eventType !== 'api_post_event' && e.eventType !== 'health_status_changed_event' && e.eventType !== 'instance_health_changed_event'

export function Cluster({ mode }: { mode: 'apps' | 'master' }) {
  const base = masterBase(mode)
  const state = useLive(() => request<MasterState>('GET', `${base}/state`), clusterEvent, `cluster:${mode}`)
  const roles = useLive(() => request<{ roles: Role[] }>('GET', `${base}/roles`).then((r) => r.roles), clusterEvent, `roles:${mode}`)
  const s = state.data
  return (
    <section aria-labelledby="cluster-title">
      <h1 id="cluster-title">Cluster</h1>
      <ErrorBox error={state.error} />
      {s && (
        <>
          <p className="muted">
            Master {s.hostname}, version {s.version}: {s.slaves.length} agent{s.slaves.length === 1 ? '' : 's'}, {s.frameworks.length} framework
            {s.frameworks.length === 1 ? '' : 's'}.
          </p>
          <h2>Agents</h2>
          {s.slaves.length === 0 ? (
            <p className="empty">No agent is registered.</p>
          ) : (
            <DataTable columns={['Host', 'CPUs', 'Memory', 'Disk', 'Ports', 'Attributes']} testId="agents-table">
              {s.slaves.map((a) => (
                <tr key={a.id} data-agent-id={a.id}>
                  <td>
                    <div>{a.hostname}</div>
                    <div className="mono small muted" title={a.id}>
                      {a.id}
                    </div>
                  </td>
                  <td>
                    <ResourceBar used={scalar(a.used_resources, 'cpus')} total={scalar(a.resources, 'cpus')} />
                  </td>
                  <td>
                    <ResourceBar used={scalar(a.used_resources, 'mem')} total={scalar(a.resources, 'mem')} unit=" MiB" />
                  </td>
                  <td>
                    <ResourceBar used={scalar(a.used_resources, 'disk')} total={scalar(a.resources, 'disk')} unit=" MiB" />
                  </td>
                  <td className="mono small">
                    <div>{String(a.resources.ports ?? '')}</div>
                    {a.used_resources.ports ? <div className="muted">used {String(a.used_resources.ports)}</div> : null}
                  </td>
                  <td>
                    {Object.entries(a.attributes).map(([k, v]) => (
                      <span key={k} className="label">
                        {k}={String(v)}
                      </span>
                    ))}
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
          <h2>Frameworks</h2>
          <DataTable columns={['Name', 'State', 'Roles', { label: 'Tasks', num: true }, { label: 'CPUs', num: true }, { label: 'Memory', num: true }]} testId="frameworks-table">
            {s.frameworks.map((f) => (
              <tr key={f.id}>
                <td>
                  {f.webui_url ? <a href={f.webui_url}>{f.name}</a> : f.name}
                  <div className="mono small muted">{f.id}</div>
                </td>
                <td>{f.active ? 'active' : 'inactive'}</td>
                <td>{f.roles.join(', ')}</td>
                <td className="num">{f.tasks.length}</td>
                <td className="num">{scalar(f.used_resources, 'cpus')}</td>
                <td className="num">{scalar(f.used_resources, 'mem')} MiB</td>
              </tr>
            ))}
          </DataTable>
          {roles.data && (
            <>
              <h2>Roles</h2>
              <DataTable columns={['Role', { label: 'Weight', num: true }, { label: 'Frameworks', num: true }, 'Allocated']}>
                {roles.data.map((r) => (
                  <tr key={r.name}>
                    <td className="mono">{r.name}</td>
                    <td className="num">{r.weight}</td>
                    <td className="num">{r.frameworks.length}</td>
                    <td>
                      {Object.entries(r.allocated ?? r.resources)
                        .filter(([, v]) => typeof v === 'number' && v > 0)
                        .map(([k, v]) => `${k} ${String(v)}`)
                        .join(', ') || '—'}
                    </td>
                  </tr>
                ))}
              </DataTable>
            </>
          )}
        </>
      )}
    </section>
  )
}
