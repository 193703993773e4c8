// Finds where a field of a JSON text is, so that a validation error (Marathon's details[].path,
// such as /portDefinitions(0)/port) can be shown at its line in the editor.

type Key = string | number

/** Marathon's path: `/a/b(0)/c` → ['a', 'b', 0, 'c']. */
export function parseMarathonPath(path: string): Key[] {
  const keys: Key[] = []
  for (const segment of path.split('/')) {
    const m = /^([^()]*)((?:\(\d+\))*)$/.exec(segment)
    if (!m) {
      keys.push(segment)
      continue
    }
    if (m[1]) keys.push(m[1])
    for (const index of m[2]!.matchAll(/\((\d+)\)/g)) keys.push(Number(index[1]))
  }
  return keys
}

/** Where a JSON text stops being JSON. */
export class JsonSyntaxError extends Error {
  constructor(readonly offset: number) {
    super(`Not JSON from offset ${offset}`)
  }
}

const LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/

/** The offset where each value (or its key) starts, by its path joined with NUL; throws JsonSyntaxError. */
function valueOffsets(text: string): Map<string, number> {
  const out = new Map<string, number>()
  let i = 0
  const fail = (): never => {
    throw new JsonSyntaxError(i)
  }
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++
  }
  const expect = (c: string): void => {
    if (text[i] !== c) fail()
    i++
  }
  const str = (): string => {
    const start = i
    expect('"')
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\n') fail()
      i += text[i] === '\\' ? 2 : 1
    }
    expect('"')
    return JSON.parse(text.slice(start, i)) as string
  }
  const value = (path: Key[], keyOffset: number): void => {
    ws()
    out.set(path.join('\u0000'), keyOffset >= 0 ? keyOffset : i)
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') {
        i++
        return
      }
      for (;;) {
        ws()
        const at = i
        const key = str()
        ws()
        expect(':')
        value([...path, key], at)
        ws()
        if (text[i] === ',') i++
        else break
      }
      expect('}')
    } else if (c === '[') {
      i++
      ws()
      if (text[i] === ']') {
        i++
        return
      }
      for (let n = 0; ; n++) {
        value([...path, n], -1)
        ws()
        if (text[i] === ',') i++
        else break
      }
      expect(']')
    } else if (c === '"') str()
    else {
      const m = LITERAL.exec(text.slice(i, i + 64))
      if (!m) fail()
      i += m![0].length
    }
  }
  value([], -1)
  ws()
  if (i < text.length) fail()
  return out
}

const lineAt = (text: string, offset: number): number => text.slice(0, offset).split('\n').length

/**
 * The 1-based line of the field a path names; a field that is missing falls back to the
 * nearest of its parents that is there. Undefined when the text is not JSON enough to say.
 */
export function lineOfPath(text: string, path: string): number | undefined {
  let offsets: Map<string, number>
  try {
    offsets = valueOffsets(text)
  } catch {
    return undefined
  }
  const keys = parseMarathonPath(path)
  for (let n = keys.length; n >= 0; n--) {
    const at = offsets.get(keys.slice(0, n).join('\u0000'))
    if (at !== undefined) return lineAt(text, at)
  }
  return undefined
}

/** The 1-based line where a text that JSON.parse refused stops being JSON. */
export function syntaxErrorLine(text: string): number | undefined {
  try {
    valueOffsets(text)
    return undefined
  } catch (e) {
    return e instanceof JsonSyntaxError ? lineAt(text, Math.min(e.offset, text.length)) : undefined
  }
}
