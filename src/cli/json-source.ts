// Where things are in a definition file: JSON syntax errors and the paths of the server's 422
// details, as `file:line:column` so that an editor can jump there. Pure: text in, text out.
import type { Node, ParseError } from 'jsonc-parser'
import { findNodeAtLocation, parseTree, printParseErrorCode } from 'jsonc-parser'

export interface SourcePosition {
  /** 1-based */
  readonly line: number
  /** 1-based, in UTF-16 code units as editors count them */
  readonly column: number
}

export function positionAt(text: string, offset: number): SourcePosition {
  let line = 1
  let lineStart = 0
  const end = Math.max(0, Math.min(offset, text.length))
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      lineStart = i + 1
    }
  }
  return { line, column: end - lineStart + 1 }
}

// Keyed by printParseErrorCode's names: the enum itself is a const enum of the typings.
const ERROR_WORDS: Readonly<Record<string, string>> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: "expected ':'",
  CommaExpected: "expected ','",
  CloseBraceExpected: "expected ',' or '}'",
  CloseBracketExpected: "expected ',' or ']'",
  EndOfFileExpected: 'expected the end of the input',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'unterminated comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unterminated number',
  InvalidUnicode: 'invalid unicode escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'control character in a string (escape it)',
}

const MAX_SYNTAX_ERRORS = 20

/**
 * The syntax errors of a JSON text, one `name:line:column: message` line each, in order; none
 * when it parses. `name` is the file as the user gave it.
 */
export function jsonSyntaxErrors(text: string, name: string): string[] {
  const errors: ParseError[] = []
  parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false })
  // The parser's recovery reports a cascade at one spot (a value, then a '}', ...): the first says it.
  const distinct = errors.filter((e, i) => errors.findIndex((x) => x.offset === e.offset) === i)
  const lines = distinct.slice(0, MAX_SYNTAX_ERRORS).map((e) => {
    const { line, column } = positionAt(text, e.offset)
    return `${name}:${line}:${column}: ${ERROR_WORDS[printParseErrorCode(e.error)] ?? 'invalid JSON'}${found(text, e)}`
  })
  if (distinct.length > MAX_SYNTAX_ERRORS) lines.push(`${name}: ${distinct.length - MAX_SYNTAX_ERRORS} more errors`)
  return lines
}

function found(text: string, e: ParseError): string {
  if (e.offset >= text.length) return ', found the end of the input'
  const token = text.slice(e.offset, e.offset + Math.max(1, e.length)).split('\n')[0]!
  if (token.trim() === '') return ''
  const shown = token.length > 24 ? `${token.slice(0, 23)}…` : token
  // A ',' before a closing bracket is the usual slip.
  const trailing = (token === '}' || token === ']') && /,\s*$/.test(text.slice(0, e.offset)) ? ' (a trailing comma is not allowed)' : ''
  return `, found ${shown}${trailing}`
}

/**
 * A path as dromos apps (and Marathon) name them in 422 details: `/cpus`,
 * `/healthChecks(0)/portIndex`, `/apps(1)/id`, `(0)/cpus` for the first of an array of apps.
 */
export function parseDetailPath(path: string): Array<string | number> {
  const segments: Array<string | number> = []
  for (const part of path.split('/')) {
    if (part === '') continue
    const m = /^(.*?)((?:\(\d+\))+)$/.exec(part)
    if (m) {
      if (m[1]) segments.push(m[1])
      for (const i of m[2]!.matchAll(/\((\d+)\)/g)) segments.push(Number(i[1]))
    } else if (/^\d+$/.test(part)) segments.push(Number(part))
    else segments.push(part)
  }
  return segments
}

/**
 * Where a detail path points in the text: the value at the path, else (a missing field) the
 * nearest enclosing object or array that is there. Undefined when the text does not parse.
 */
export function locateDetailPath(text: string, path: string): SourcePosition | undefined {
  const root = parseTree(text, [], { disallowComments: true, allowTrailingComma: false })
  if (!root) return undefined
  const segments = parseDetailPath(path)
  for (let n = segments.length; n >= 0; n--) {
    const node: Node | undefined = n === 0 ? root : findNodeAtLocation(root, segments.slice(0, n))
    if (node) {
      // A property's key is where the eye goes; an element or the root, its value.
      const at = node.parent?.type === 'property' ? node.parent.offset : node.offset
      return positionAt(text, at)
    }
  }
  return undefined
}
