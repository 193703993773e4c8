import { describe, expect, it } from 'vitest'
import { lineOfPath, parseMarathonPath, syntaxErrorLine } from './json-locate.ts'

const app = JSON.stringify(
  { id: '/a', cpus: -1, portDefinitions: [{ port: 1 }, { port: 70000, name: 'x' }], container: { docker: { image: 'i' } }, labels: {}, args: [] },
  null,
  2,
)

describe('json-locate', () => {
  it('reads Marathon paths', () => {
    expect(parseMarathonPath('/portDefinitions(1)/port')).toEqual(['portDefinitions', 1, 'port'])
    expect(parseMarathonPath('(0)/id')).toEqual([0, 'id'])
    expect(parseMarathonPath('/')).toEqual([])
  })

  it('finds the line of a field, or of its nearest parent when it is missing', () => {
    const lines = app.split('\n')
    const lineOf = (needle: string): number => lines.findIndex((l) => l.includes(needle)) + 1
    expect(lineOfPath(app, '/cpus')).toBe(lineOf('"cpus"'))
    expect(lineOfPath(app, '/portDefinitions(1)/port')).toBe(lineOf('70000'))
    expect(lineOfPath(app, '/portDefinitions(1)')).toBe(lineOf('70000') - 1)
    expect(lineOfPath(app, '/container/docker/image')).toBe(lineOf('"image"'))
    expect(lineOfPath(app, '/container/docker/network')).toBe(lineOf('"docker"'))
    expect(lineOfPath(app, '/mem')).toBe(1)
  })

  it('finds where a text stops being JSON', () => {
    expect(syntaxErrorLine('{\n  "id": "/a",\n  "cpus": ,\n}')).toBe(3)
    expect(syntaxErrorLine('{\n  "id": "/a",\n}')).toBe(3)
    expect(syntaxErrorLine('{"a": [1, 2}')).toBe(1)
    expect(syntaxErrorLine('{"a": 1}\n\nx')).toBe(3)
    expect(syntaxErrorLine(app)).toBeUndefined()
  })
})
