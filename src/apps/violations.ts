// Validation failures as Marathon reports them: (path, message) pairs grouped by path, with
// Marathon's paths (`/healthChecks(0)/portIndex`) and, for a body that does not fit the wire
// schema, the messages play-json gives. The 422 itself is AppValidationError (errors.ts).
import type { z } from 'zod'
import type { ValidationDetail } from './errors.js'

/** Collects (path, message) pairs and renders them as Marathon groups them: one entry per path. */
export class Violations {
  private readonly byPath = new Map<string, string[]>()
  add(path: string, message: string): void {
    const list = this.byPath.get(path)
    if (!list) this.byPath.set(path, [message])
    else if (!list.includes(message)) list.push(message)
  }
  addAll(details: readonly ValidationDetail[], prefix = ''): void {
    for (const d of details) for (const e of d.errors) this.add(joinPath(prefix, d.path), e)
  }
  get empty(): boolean {
    return this.byPath.size === 0
  }
  details(): ValidationDetail[] {
    return [...this.byPath].map(([path, errors]) => ({ path, errors: [...errors] }))
  }
}

export function joinPath(prefix: string, path: string): string {
  if (prefix === '') return path
  return path === '/' ? prefix : prefix + path
}

/** Marathon renders paths as `/field/sub` with array indices as `(i)`: `/healthChecks(0)/portIndex`. */
function renderPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '/'
  return path.map((p) => (typeof p === 'number' ? `(${p})` : `/${String(p)}`)).join('')
}

/** Turns a zod issue into the message play-json (Marathon's RAML readers) gives for it. */
function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'error.path.missing'
      const byType: Record<string, string> = {
        int: 'error.expected.int',
        number: 'error.expected.jsnumber',
        string: 'error.expected.jsstring',
        boolean: 'error.expected.jsboolean',
        array: 'error.expected.jsarray',
        object: 'error.expected.jsobject',
        record: 'error.expected.jsobject',
      }
      return byType[issue.expected] ?? `error.expected.${issue.expected}`
    }
    case 'too_small':
      if (issue.origin === 'number') return `must be greater than or equal to ${String(issue.minimum)}`
      return 'error.minLength'
    case 'too_big':
      if (issue.origin === 'number') return `is greater than ${String(issue.maximum)}`
      return 'error.maxLength'
    case 'invalid_value':
      return 'error.unknown.enum.literal'
    case 'invalid_format':
      return 'error.pattern'
    default:
      return issue.message
  }
}

export function collectZodIssues(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[], v: Violations, prefix: string): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path]
    if (issue.code === 'invalid_union') {
      // Report the branch that got past the type check (e.g. the object form of unreachableStrategy).
      const typed = issue.errors.find((branch) => !branch.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')))
      if (typed) collectZodIssues(typed, path, v, prefix)
      else v.add(joinPath(prefix, renderPath(path)), typeof issue.input === 'string' ? 'error.unknown.enum.literal' : 'error.expected.jsobject')
      continue
    }
    v.add(joinPath(prefix, renderPath(path)), issueMessage(issue))
  }
}
