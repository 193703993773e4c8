import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteStore } from './sqlite.js'

describe('sqlite store', () => {
  const dirs: string[] = []
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('keeps values across reopen and lists by prefix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dromos-store-'))
    dirs.push(dir)
    const file = join(dir, 'state.db')
    const a = openSqliteStore(file)
    await a.put('frameworks/f1', { name: 'one' })
    await a.put('frameworks/f2', { name: 'two' })
    await a.put('agents/a1', { hostname: 'h' })
    await a.delete('frameworks/f2')
    await a.close()
    const b = openSqliteStore(file)
    expect(await b.get('frameworks/f1')).toEqual({ name: 'one' })
    expect(await b.get('frameworks/f2')).toBeUndefined()
    expect((await b.list('frameworks/')).map(([k]) => k)).toEqual(['frameworks/f1'])
    await b.close()
  })
})
