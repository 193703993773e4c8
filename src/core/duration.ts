// Durations in the Mesos flag style: "500ms", "1secs", "2mins", "1hrs", "3days"; a bare
// number is seconds.
const UNITS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, ms: 1, s: 1000, sec: 1000, secs: 1000, m: 60_000, min: 60_000, mins: 60_000,
  h: 3_600_000, hr: 3_600_000, hrs: 3_600_000, d: 86_400_000, day: 86_400_000, days: 86_400_000,
  w: 604_800_000, weeks: 604_800_000,
}

export function parseDurationMs(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  if (!m) throw new Error(`Invalid duration '${text}': expected e.g. 500ms, 15secs, 2mins`)
  const value = Number(m[1])
  const unit = (m[2] ?? '').toLowerCase()
  if (unit === '') return value * 1000
  const factor = UNITS[unit]
  if (factor === undefined) throw new Error(`Invalid duration unit '${unit}' in '${text}'`)
  return value * factor
}
