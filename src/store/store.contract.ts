// What every Store backend promises, as tests that sqlite.test.ts and test/etcd.test.ts
// run against their backend.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BatchStore } from './store.js'

/**
 * open(space) opens an empty store for a space not used before, and the same store again
 * when given the same space (to test reopening).
 */
export function describeStoreContract(name: string, open: (space: string) => Promise<BatchStore>): void {
  describe(`${name} store contract`, () => {
    const opened: BatchStore[] = []
    let spaces = 0
    let space = ''
    beforeEach(() => {
      space = `space${++spaces}`
    })
    const openStore = async () => {
      const s = await open(space)
      opened.push(s)
      return s
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close()
    })

    it('gets what was put, JSON values of every kind, and undefined for a missing key', async () => {
      const s = await openStore()
      const values = { obj: { a: 1, b: [true, null, 'x'] }, arr: [1, 2], str: 'é ü', num: 4.5, nul: null, empty: '' }
      for (const [k, v] of Object.entries(values)) await s.put(`values/${k}`, v)
      for (const [k, v] of Object.entries(values)) expect(await s.get(`values/${k}`)).toEqual(v)
      expect(await s.get('values/missing')).toBeUndefined()
    })

    it('overwrites, deletes, and deleting a missing key is no error', async () => {
      const s = await openStore()
      await s.put('k', 1)
      await s.put('k', 2)
      expect(await s.get('k')).toBe(2)
      await s.delete('k')
      expect(await s.get('k')).toBeUndefined()
      await s.delete('k')
    })

    it('lists exactly the keys with the prefix, in key order', async () => {
      const s = await openStore()
      const keys = ['a/b', 'a/a', 'a/', 'a0', 'a.', 'a/b/c', 'a/\u00e9', 'b/a', 'a']
      for (const k of keys) await s.put(k, k)
      const listed = await s.list<string>('a/')
      expect(listed.map(([k]) => k)).toEqual(['a/', 'a/a', 'a/b', 'a/b/c', 'a/\u00e9'])
      expect(listed.every(([k, v]) => k === v)).toBe(true)
      expect((await s.list('')).map(([k]) => k)).toEqual([...keys].sort(byUtf8))
      expect(await s.list('none/')).toEqual([])
    })

    it('lists more entries than one page holds', async () => {
      const s = await openStore()
      const keys = Array.from({ length: 1234 }, (_, i) => `many/${String(i).padStart(5, '0')}`)
      for (let i = 0; i < keys.length; i += 100) {
        await s.batch(keys.slice(i, i + 100).map((key) => ({ op: 'put', key, value: Number(key.slice(5)) })))
      }
      const listed = await s.list<number>('many/')
      expect(listed.length).toBe(keys.length)
      expect(listed.map(([k]) => k)).toEqual(keys)
      expect(listed.every(([k, v]) => Number(k.slice(5)) === v)).toBe(true)
    })

    it('applies a batch as a whole, the last write of a key winning', async () => {
      const s = await openStore()
      await s.put('batch/old', 'old')
      await s.batch([
        { op: 'put', key: 'batch/a', value: 1 },
        { op: 'put', key: 'batch/b', value: 2 },
        { op: 'delete', key: 'batch/old' },
        { op: 'put', key: 'batch/a', value: 3 },
        { op: 'delete', key: 'batch/b' },
      ])
      expect(await s.list('batch/')).toEqual([['batch/a', 3]])
      await s.batch([])
    })

    it('keeps values across reopen', async () => {
      const a = await openStore()
      await a.put('durable/x', { n: 1 })
      await a.close()
      opened.splice(opened.indexOf(a), 1)
      const b = await openStore()
      expect(await b.get('durable/x')).toEqual({ n: 1 })
    })
  })
}

function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
