import { describe, expect, it } from 'vitest'
import { jsonSyntaxErrors, locateDetailPath, parseDetailPath, positionAt } from './json-source.js'

describe('positionAt', () => {
  it('counts lines and columns from 1', () => {
    expect(positionAt('ab\ncd', 0)).toEqual({ line: 1, column: 1 })
    expect(positionAt('ab\ncd', 4)).toEqual({ line: 2, column: 2 })
    expect(positionAt('ab\n', 3)).toEqual({ line: 2, column: 1 })
  })
})

describe('jsonSyntaxErrors', () => {
  it('says file:line:column and what was found, for each error', () => {
    const text = '{\n  "id": "/web",\n  "cpus": 0.1\n  "mem": 32,\n}\n'
    expect(jsonSyntaxErrors(text, 'web.json')).toEqual([
      "web.json:4:3: expected ',', found \"mem\"",
      'web.json:5:1: expected a property name in double quotes, found } (a trailing comma is not allowed)',
    ])
  })
  it('reports a cut-off file at its end, and nothing for valid JSON', () => {
    expect(jsonSyntaxErrors('{"id": "/x",', 'x.json')).toEqual(['x.json:1:13: expected a property name in double quotes, found the end of the input'])
    expect(jsonSyntaxErrors('{"id": "/x"}', 'x.json')).toEqual([])
    expect(jsonSyntaxErrors('{"a": 1} // no', 'c.json')[0]).toBe('c.json:1:10: comments are not allowed in JSON, found // no')
  })
})

describe('locateDetailPath', () => {
  const text = ['{', '  "id": "/web",', '  "cpus": -1,', '  "healthChecks": [', '    {"protocol": "HTTP", "portIndex": 3}', '  ]', '}'].join('\n')
  it('reads Marathon paths with (i) indexes', () => {
    expect(parseDetailPath('/healthChecks(0)/portIndex')).toEqual(['healthChecks', 0, 'portIndex'])
    expect(parseDetailPath('(1)/cpus')).toEqual([1, 'cpus'])
    expect(parseDetailPath('/apps(0)/container/volumes(2)')).toEqual(['apps', 0, 'container', 'volumes', 2])
  })
  it('points at the key of the field, or the object that lacks it', () => {
    expect(locateDetailPath(text, '/cpus')).toEqual({ line: 3, column: 3 })
    expect(locateDetailPath(text, '/healthChecks(0)/portIndex')).toEqual({ line: 5, column: 26 })
    expect(locateDetailPath(text, '/healthChecks(0)/path')).toEqual({ line: 5, column: 5 })
    expect(locateDetailPath(text, '/')).toEqual({ line: 1, column: 1 })
    expect(locateDetailPath('[{"id": "/a"}, {"id": "/b", "mem": -1}]', '(1)/mem')).toEqual({ line: 1, column: 29 })
  })
})
