// What the dns tests share.
import type { DnsApp } from './records.js'

/** An app of n running tasks, each on its own host, and the hosts' addresses. */
export function appOf(id: string, n: number): { app: DnsApp; hostAddresses: Map<string, string> } {
  const tasks = Array.from({ length: n }, (_, i) => ({ id: `${id.slice(1)}.${String(i).padStart(8, '0')}`, state: 'TASK_RUNNING', host: `h${i}`, ports: [31000 + (i % 1000)] }))
  const hostAddresses = new Map(tasks.map((t, i) => [t.host, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`]))
  return { app: { id, portDefinitions: [{ protocol: 'tcp' }], networks: [{ mode: 'host' }], tasks }, hostAddresses }
}
