import type { MasterState, Role } from '../api.ts'
import { masterBase, request, scalar } from '../api.ts'
import { ErrorBox, ResourceBar } from '../components.tsx'
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
            <div className="table-wrap">
              <table data-testid="agents-table">
                <thead>
                  <tr>
                    <th scope="col">Host</th>
                    <th scope="col">CPUs</th>
                    <th scope="col">Memory</th>
                    <th scope="col">Disk</th>
                    <th scope="col">Ports</th>
                    <th scope="col">Attributes</th>
                  </tr>
                </thead>
                <tbody>
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
                </tbody>
              </table>
            </div>
          )}
          <h2>Frameworks</h2>
          <div className="table-wrap">
            <table data-testid="frameworks-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">Roles</th>
                  <th scope="col" className="num">
                    Tasks
                  </th>
                  <th scope="col" className="num">
                    CPUs
                  </th>
                  <th scope="col" className="num">
                    Memory
                  </th>
                </tr>
              </thead>
              <tbody>
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
              </tbody>
            </table>
          </div>
          {roles.data && (
            <>
              <h2>Roles</h2>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Role</th>
                      <th scope="col" className="num">
                        Weight
                      </th>
                      <th scope="col" className="num">
                        Frameworks
                      </th>
                      <th scope="col">Allocated</th>
                    </tr>
                  </thead>
                  <tbody>
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
                  </tbody>
                </table>
              </div>
            </>
          )}
        </>
      )}
    </section>
  )
}
