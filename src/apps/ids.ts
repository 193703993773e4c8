// Marathon's path ids (state/PathId.scala): apps and groups are named by absolute paths such as
// `/prod/web`; relative ids resolve against a group, and `.`/`..` navigate.

/** Marathon's rule for one segment of an id (state/PathId.scala). */
const ID_SEGMENT = /^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/
/** The pattern as Marathon prints it in its error message. */
const ID_SEGMENT_PATTERN_TEXT = String.raw`^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$`
const RESERVED_LAST_SEGMENTS = ['restart', 'tasks', 'versions', '.', '..']

function rawSegments(raw: string): string[] {
  return raw.split('/').filter((s) => s.length > 0)
}

/** Absolute, canonical segments of `raw` (relative ids resolved against `base`; `.`/`..` applied; `..` stops at the root). */
export function canonicalSegments(raw: string, base = '/'): string[] {
  const input = raw.startsWith('/') ? rawSegments(raw) : [...canonicalSegments(base), ...rawSegments(raw)]
  const out: string[] = []
  for (const s of input) {
    if (s === '.') continue
    if (s === '..') out.pop()
    else out.push(s)
  }
  return out
}

/** Normalizes a Marathon path id: `//a//b/` -> `/a/b`, `b` against base `/a` -> `/a/b`, `/a/./b/../c` -> `/a/c`. */
export function parseAppId(raw: string, base = '/'): string {
  return '/' + canonicalSegments(raw, base).join('/')
}

/** True when every segment of `id` satisfies Marathon's segment rule (`.` and `..` are navigation and allowed). */
export function isValidPathId(id: string): boolean {
  return rawSegments(id).every((s) => s === '.' || s === '..' || ID_SEGMENT.test(s))
}

/** The parent of a canonical absolute id (`/a/b` -> `/a`, `/a` -> `/`). */
export function parentId(id: string): string {
  const segs = canonicalSegments(id)
  return '/' + segs.slice(0, -1).join('/')
}

/** Marathon's pathIdValidator (+ nonEmptyPath) messages for canonical segments. */
export function pathIdErrors(segs: readonly string[], requireNonEmpty: boolean): string[] {
  const errors: string[] = []
  if (!segs.every((s) => ID_SEGMENT.test(s))) errors.push(`must fully match regular expression '${ID_SEGMENT_PATTERN_TEXT}'`)
  const last = segs[segs.length - 1]
  if (last !== undefined && RESERVED_LAST_SEGMENTS.includes(last)) {
    errors.push(`must not end with any of the following reserved keywords: ${RESERVED_LAST_SEGMENTS.join(', ')}`)
  }
  if (requireNonEmpty && segs.length === 0) errors.push('Path must contain at least one path element')
  return errors
}

