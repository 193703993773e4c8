import { describe, expect, it } from 'vitest'
import { definitionDiff, diffCounts } from './json-diff.ts'

const base = {
  id: '/web',
  cmd: 'serve',
  cpus: 0.1,
  mem: 32,
  instances: 1,
  labels: { team: 'web' },
  env: { A: '1', B: '2', C: '3', D: '4', E: '5', F: '6', G: '7', H: '8' },
  version: '2026-01-01T00:00:00.000Z',
  versionInfo: { lastConfigChangeAt: '2026-01-01T00:00:00.000Z' },
}

describe('definitionDiff', () => {
  it('shows a changed field as its old line removed and its new line added', () => {
    const after = { ...base, labels: { team: 'frontend' }, version: '2026-01-02T00:00:00.000Z' }
    const lines = definitionDiff(base, after)
    expect(lines.filter((l) => l.kind === 'removed').map((l) => l.text.trim())).toEqual(['"team": "web"'])
    expect(lines.filter((l) => l.kind === 'added').map((l) => l.text.trim())).toEqual(['"team": "frontend"'])
    expect(diffCounts(lines)).toEqual({ added: 1, removed: 1 })
  })

  it('leaves out the version fields, so equal definitions have no change', () => {
    const lines = definitionDiff(base, { ...base, version: 'later', versionInfo: {} })
    expect(diffCounts(lines)).toEqual({ added: 0, removed: 0 })
    expect(lines.every((l) => !('text' in l) || !l.text.includes('version'))).toBe(true)
  })

  it('compares keys in any order', () => {
    const reordered = Object.fromEntries(Object.entries(base).reverse())
    expect(diffCounts(definitionDiff(base, reordered))).toEqual({ added: 0, removed: 0 })
  })

  it('folds unchanged runs down to the context around each change, and numbers both sides', () => {
    const after = { ...base, instances: 2 }
    const lines = definitionDiff(base, after, 2)
    const kinds = lines.map((l) => l.kind)
    expect(kinds.filter((k) => k === 'same')).toHaveLength(4)
    expect(kinds[0]).toBe('folded')
    expect(kinds.at(-1)).toBe('folded')
    const folded = lines.filter((l) => l.kind === 'folded').reduce((n, l) => n + l.count, 0)
    // Every line of the old side is shown or folded (the version fields take 4 lines).
    const oldSide = JSON.stringify(base, null, 2).split('\n').length - 4
    expect(folded + lines.filter((l) => l.kind !== 'added' && l.kind !== 'folded').length).toBe(oldSide)
    const removed = lines.find((l) => l.kind === 'removed')
    const added = lines.find((l) => l.kind === 'added')
    expect(removed && 'oldNo' in removed && removed.oldNo).toBe(added && 'newNo' in added && added.newNo)
  })

  it('shows an added field as added lines only', () => {
    const lines = definitionDiff(base, { ...base, disk: 100 })
    expect(diffCounts(lines)).toEqual({ added: 1, removed: 0 })
    expect(lines.find((l) => l.kind === 'added')).toMatchObject({ text: '  "disk": 100,' })
  })
})
