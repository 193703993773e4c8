// The stored versions of an app, and what changed between any two of them as a JSON diff.
// Each changed line carries its sign and a spoken "removed"/"added", not its colour alone.
import { useEffect, useState } from 'react'
import { api } from '../api.ts'
import { ErrorBox, since } from '../components.tsx'
import type { DiffLine } from '../json-diff.ts'
import { definitionDiff, diffCounts } from '../json-diff.ts'

/** Versions never change: each is read once per page. */
function useVersionDefinitions(appId: string, wanted: ReadonlyArray<string | undefined>) {
  const [defs, setDefs] = useState<ReadonlyMap<string, unknown>>(new Map())
  const [error, setError] = useState<Error>()
  const key = wanted.join(' ')
  useEffect(() => setDefs(new Map()), [appId])
  useEffect(() => {
    let live = true
    for (const v of wanted) {
      if (!v || defs.has(v)) continue
      api.appVersion(appId, v).then(
        (d) => live && setDefs((m) => new Map(m).set(v, d)),
        (e: unknown) => live && setError(e instanceof Error ? e : new Error(String(e))),
      )
    }
    return () => {
      live = false
    }
    // defs is read to skip what is loaded; a load changes it but needs no new round.
  }, [appId, key])
  return { defs, error }
}

function DiffRow({ line }: { line: DiffLine }) {
  if (line.kind === 'folded') {
    return (
      <tr className="diff-folded">
        <td colSpan={4}>
          ⋯ {line.count} unchanged line{line.count === 1 ? '' : 's'}
        </td>
      </tr>
    )
  }
  const sign = line.kind === 'removed' ? '−' : line.kind === 'added' ? '+' : ' '
  const spoken = line.kind === 'same' ? '' : line.kind
  const Mark = line.kind === 'removed' ? 'del' : line.kind === 'added' ? 'ins' : 'span'
  return (
    <tr className={`diff-${line.kind}`} data-kind={line.kind}>
      <td className="ln">{'oldNo' in line ? line.oldNo : ''}</td>
      <td className="ln">{'newNo' in line ? line.newNo : ''}</td>
      <td className="sign">
        <span aria-hidden="true">{sign}</span>
        {spoken && <span className="sr-only">{spoken}</span>}
      </td>
      <td className="code">
        <Mark>{line.text}</Mark>
      </td>
    </tr>
  )
}

export function VersionDiff({ appId, versions, current }: { appId: string; versions: readonly string[]; current: string }) {
  // ISO timestamps: newest first.
  const sorted = [...versions].sort().reverse()
  const [chosenFrom, setFrom] = useState<string>()
  const [chosenTo, setTo] = useState<string>()
  // Until a choice is made, the latest change: the version before the newest, to the newest.
  const to = chosenTo ?? sorted[0]
  const from = chosenFrom ?? sorted.find((v) => to !== undefined && v < to) ?? sorted[1]
  const { defs, error } = useVersionDefinitions(appId, [from, to])
  if (sorted.length < 2) return <p className="empty">Only one version is stored: there is nothing to compare yet.</p>
  const before = from ? defs.get(from) : undefined
  const after = to ? defs.get(to) : undefined
  const lines = before !== undefined && after !== undefined ? definitionDiff(before, after) : undefined
  const counts = lines && diffCounts(lines)
  const option = (v: string) => (
    <option key={v} value={v}>
      {since(v)}
      {v === current ? ' (current)' : ''}
    </option>
  )
  return (
    <div className="version-diff" data-testid="version-compare">
      <div className="compare">
        <label>
          From
          <select value={from} onChange={(e) => setFrom(e.target.value)} data-testid="diff-from">
            {sorted.map(option)}
          </select>
        </label>
        <label>
          To
          <select value={to} onChange={(e) => setTo(e.target.value)} data-testid="diff-to">
            {sorted.map(option)}
          </select>
        </label>
        {counts && (
          <span className="muted" data-testid="diff-summary">
            {counts.removed === 0 && counts.added === 0
              ? 'No change to the definition.'
              : `${counts.removed} line${counts.removed === 1 ? '' : 's'} removed, ${counts.added} added`}
          </span>
        )}
      </div>
      <ErrorBox error={error} />
      {lines ? (
        <div className="diff-wrap">
          <table className="diff" data-testid="version-diff">
            <caption className="sr-only">
              Changes from the version of {since(from)} to that of {since(to)}
            </caption>
            <thead className="sr-only">
              <tr>
                <th scope="col">Line before</th>
                <th scope="col">Line after</th>
                <th scope="col">Change</th>
                <th scope="col">Text</th>
              </tr>
            </thead>
            <tbody>
              {lines.map((l, i) => (
                <DiffRow key={i} line={l} />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        !error && <p className="muted">Loading…</p>
      )}
    </div>
  )
}
