/** Renders Mesos-style metric names (`master/tasks_running`) as Prometheus gauges (`dromos_master_tasks_running`). */
export function renderPrometheus(metrics: Readonly<Record<string, number>>, prefix = 'dromos'): string {
  const lines: string[] = []
  for (const [name, value] of Object.entries(metrics)) {
    const metric = `${prefix}_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`
    lines.push(`# TYPE ${metric} gauge`, `${metric} ${Number.isFinite(value) ? value : 0}`)
  }
  return lines.join('\n') + '\n'
}
