import type { MasterState, Role, V0Resources } from '../api.ts'
import { dominantShareOf, masterBase, masterMetricsPath, request, scalar } from '../api.ts'
import { DataTable, ErrorBox, ResourceBar } from '../components.tsx'
import type { LiveEvent } from '../live.ts'
import { useEventFeed, useLive } from '../live.ts'

/** Events after which the master's accounting may have changed. */
const clusterEvent = (e: LiveEvent): boolean =>
  e.eventType !== 'api_post_event' && e.eventType !== 'health_status_changed_event' && e.eventType !== 'instance_health_changed_event'

/** No event tells of offers made or declined: while this page is open, it is re-read. */
const OFFERS_REFRESH_MS = 5000

const quantities = (r: V0Resources | undefined): string =>
  Object.entries(r ?? {})
    .filter(([, v]) => typeof v === 'number' && v > 0)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? String(v) : (v as number).toFixed(2)}`)
    .join(', ') || '—'

const percent = (share: number | undefined): string => (share === undefined ? '—' : `${(share * 100).toFixed(1)} %`)

export function Cluster({ mode }: { mode: 'apps' | 'master' }) {
  const base = masterBase(mode)
  const state = useLive(() => request<MasterState>('GET', `${base}/state`), clusterEvent, `cluster:${mode}`, OFFERS_REFRESH_MS)
  const roles = useLive(() => request<{ roles: Role[] }>('GET', `${base}/roles`).then((r) => r.roles), clusterEvent, `roles:${mode}`, OFFERS_REFRESH_MS)
  const metrics = useLive(() => request<Record<string, number>>('GET', masterMetricsPath(mode)), clusterEvent, `metrics:${mode}`, OFFERS_REFRESH_MS)
  const s = state.data
  const offers = s?.frameworks.flatMap((f) => f.offers.map((o) => ({ ...o, framework: f.name }))) ?? []
  const hostOf = (agentId: string): string => s?.slaves.find((a) => a.id === agentId)?.hostname ?? agentId
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
              <p className="muted small">
                Dominant share: the largest fraction of the cluster’s CPUs, memory or disk that a role’s frameworks use or hold in offers. The allocator
                offers an agent to the role of the lowest share divided by its weight.
              </p>
              <DataTable
                columns={[
                  'Role',
                  { label: 'Weight', num: true },
                  { label: 'Frameworks', num: true },
                  'Allocated',
                  'Offered',
                  { label: 'Dominant share', num: true },
                  { label: 'Share ÷ weight', num: true },
                ]}
                testId="roles-table"
              >
                {roles.data.map((r) => {
                  const share = metrics.data ? dominantShareOf(metrics.data, r.name) : undefined
                  return (
                    <tr key={r.name} data-role={r.name}>
                      <td className="mono">{r.name}</td>
                      <td className="num">{r.weight}</td>
                      <td className="num">{r.frameworks.length}</td>
                      <td>{quantities(r.allocated ?? r.resources)}</td>
                      <td>{quantities(r.offered)}</td>
                      <td className="num" data-testid="role-share">
                        {percent(share)}
                      </td>
                      <td className="num">{percent(share === undefined ? undefined : share / (r.weight > 0 ? r.weight : 1))}</td>
                    </tr>
                  )
                })}
              </DataTable>
            </>
          )}
          <h2>Outstanding offers</h2>
          {offers.length === 0 ? (
            <p className="empty" data-testid="no-offers">
              No offer is outstanding: every framework has answered the offers it got.
            </p>
          ) : (
            <DataTable columns={['Offer', 'Framework', 'Agent', 'Resources']} testId="offers-table">
              {offers.map((o) => (
                <tr key={o.id} data-offer-id={o.id}>
                  <td className="mono small">{o.id}</td>
                  <td>{o.framework}</td>
                  <td>{hostOf(o.slave_id)}</td>
                  <td>{quantities(o.resources)}</td>
                </tr>
              ))}
            </DataTable>
          )}
        </>
      )}
      <EventFeed />
    </section>
  )
}

/** The events of the live stream since the page opened, newest first. */
function EventFeed() {
  const entries = useEventFeed()
  return (
    <>
      <h2 id="event-feed-title">Events</h2>
      {entries.length === 0 ? (
        <p className="empty">No event since this page opened.</p>
      ) : (
        <div role="log" aria-labelledby="event-feed-title" data-testid="event-feed">
          <DataTable columns={['Time', 'Event', 'What']}>
            {entries.map((e) => (
              <tr key={e.seq} data-event-type={e.type}>
                <td className="mono small">{e.at.toLocaleTimeString()}</td>
                <td className="mono small">{e.type}</td>
                <td className="small">{e.what}</td>
              </tr>
            ))}
          </DataTable>
        </div>
      )}
    </>
  )
}
