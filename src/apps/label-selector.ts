// Marathon's label selector of GET /v2/apps?label=: parsing it, and matching an app's labels.

export interface LabelSelector {
  key: string
  test: (value: string) => boolean
}

/**
 * Parses Marathon's label selector (api/v2/LabelSelector.scala): comma-separated `key`,
 * `key==value`, `key!=value`, `key in (a, b)`, `key notin (a, b)`. A term is made of
 * [A-Za-z0-9._-]; any other character is escaped with a backslash. Throws on bad syntax.
 */
export function parseLabelSelector(input: string): LabelSelector[] {
  let pos = 0
  const ws = (): void => {
    while (pos < input.length && /\s/.test(input[pos]!)) pos++
  }
  const fail = (): never => {
    throw new Error(`Can not parse label selector ${input}. Reason: unexpected input at position ${pos}`)
  }
  const term = (): string => {
    ws()
    let out = ''
    while (pos < input.length) {
      const c = input[pos]!
      if (c === '\\' && pos + 1 < input.length) {
        out += input[pos + 1]
        pos += 2
      } else if (/[-A-Za-z0-9_.]/.test(c)) {
        out += c
        pos++
      } else break
    }
    if (out === '') fail()
    return out
  }
  const selectors: LabelSelector[] = []
  ws()
  if (pos === input.length) return selectors
  for (;;) {
    const key = term()
    ws()
    const rest = input.slice(pos)
    const setOp = /^(notin|in)\s*\(/.exec(rest)
    if (setOp) {
      pos += setOp[0].length
      const values: string[] = []
      ws()
      if (input[pos] !== ')') {
        for (;;) {
          values.push(term())
          ws()
          if (input[pos] === ',') pos++
          else break
        }
      }
      ws()
      if (input[pos] !== ')') fail()
      pos++
      const notin = setOp[1] === 'notin'
      selectors.push({ key, test: (v) => values.includes(v) !== notin })
    } else if (rest.startsWith('==') || rest.startsWith('!=')) {
      const equal = rest.startsWith('==')
      pos += 2
      const value = term()
      selectors.push({ key, test: (v) => (v === value) === equal })
    } else selectors.push({ key, test: () => true })
    ws()
    if (pos === input.length) return selectors
    if (input[pos] !== ',') fail()
    pos++
  }
}

/** Whether every selector holds; as in Marathon, each one needs its label to be present. */
export function labelMatches(labels: Readonly<Record<string, string>>, selector: string | readonly LabelSelector[]): boolean {
  const parsed = typeof selector === 'string' ? parseLabelSelector(selector) : selector
  return parsed.every((s) => Object.prototype.hasOwnProperty.call(labels, s.key) && s.test(labels[s.key]!))
}

