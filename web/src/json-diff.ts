// The difference between two versions of an app definition, as lines of canonical JSON (keys
// sorted, two-space indent: jsdiff's diffJson), with the unchanged runs between changes
// folded down to a few lines of context.
import { diffJson } from 'diff'

/** What a version stores besides its definition: it always differs, so it is left out. */
const VERSION_FIELDS = ['version', 'versionInfo']

export type DiffLine =
  | { kind: 'same'; text: string; oldNo: number; newNo: number }
  | { kind: 'removed'; text: string; oldNo: number }
  | { kind: 'added'; text: string; newNo: number }
  | { kind: 'folded'; count: number }

function withoutVersion(def: unknown): unknown {
  if (def === null || typeof def !== 'object' || Array.isArray(def)) return def
  return Object.fromEntries(Object.entries(def).filter(([k]) => !VERSION_FIELDS.includes(k)))
}

/** The lines of a diff chunk (a chunk's value ends in a newline, except perhaps the last). */
const linesOf = (value: string): string[] => value.replace(/\n$/, '').split('\n')

/**
 * The lines from `before` to `after`, keeping `context` unchanged lines on each side of a
 * change. Numbers are 1-based lines of each side's canonical JSON.
 */
export function definitionDiff(before: unknown, after: unknown, context = 3): DiffLine[] {
  const all: DiffLine[] = []
  let oldNo = 1
  let newNo = 1
  for (const chunk of diffJson(withoutVersion(before) as object, withoutVersion(after) as object)) {
    for (const text of linesOf(chunk.value)) {
      if (chunk.removed) all.push({ kind: 'removed', text, oldNo: oldNo++ })
      else if (chunk.added) all.push({ kind: 'added', text, newNo: newNo++ })
      else all.push({ kind: 'same', text, oldNo: oldNo++, newNo: newNo++ })
    }
  }
  const changed = all.map((l) => l.kind !== 'same')
  const near = (i: number): boolean => {
    for (let j = Math.max(0, i - context); j <= Math.min(all.length - 1, i + context); j++) if (changed[j]) return true
    return false
  }
  const out: DiffLine[] = []
  for (let i = 0; i < all.length; ) {
    if (near(i)) {
      out.push(all[i]!)
      i++
      continue
    }
    let j = i
    while (j < all.length && !near(j)) j++
    // Folding a single line saves nothing: its marker takes the same room.
    if (j - i === 1) out.push(all[i]!)
    else out.push({ kind: 'folded', count: j - i })
    i = j
  }
  return out
}

/** How many lines were added and removed. */
export function diffCounts(lines: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0
  let removed = 0
  for (const l of lines) {
    if (l.kind === 'added') added++
    else if (l.kind === 'removed') removed++
  }
  return { added, removed }
}
