import { describe, expect, it } from 'vitest'
import { coalesceBatches } from './coalesce.js'
import { openSqliteStore } from './sqlite.js'
import type { StoreWrite } from './store.js'

describe('coalesceBatches', () => {
  it('writes the batches of one turn in one batch of the store, and a read sees what waits', async () => {
    const inner = openSqliteStore(':memory:')
    const batches: number[] = []
    const counted = { ...inner, batch: (ws: readonly StoreWrite[]) => (batches.push(ws.length), inner.batch(ws)) }
    const store = coalesceBatches(counted)
    const a = store.batch([
      { op: 'put', key: 'a/1', value: 1 },
      { op: 'put', key: 'a/2', value: 2 },
    ])
    const b = store.put('b/1', 3)
    await Promise.all([a, b])
    expect(batches).toEqual([3])
    void store.delete('a/1')
    // Not yet written when read: the read writes it first.
    expect(await store.list('')).toEqual([
      ['a/2', 2],
      ['b/1', 3],
    ])
    expect(batches).toEqual([3, 1])
    await store.close()
  })
})
