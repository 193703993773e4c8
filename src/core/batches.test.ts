import { describe, expect, it } from 'vitest'
import { createTickBatcher } from './batches.js'

const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('createTickBatcher', () => {
  it('sends the items of one turn as one batch per key, in order, each settling with its own result', async () => {
    const sent: Array<[string, number[]]> = []
    const b = createTickBatcher<number, string>({
      send: async (key, items) => {
        sent.push([key, [...items]])
        return items.map((n) => `${key}:${n}`)
      },
    })
    const results = await Promise.all([b.add('a', 1), b.add('b', 2), b.add('a', 3), b.add('a', 4)])
    expect(results).toEqual(['a:1', 'b:2', 'a:3', 'a:4'])
    expect(sent).toEqual([
      ['a', [1, 3, 4]],
      ['b', [2]],
    ])
  })

  it('adds no wait beyond the turn: an item of a later turn goes in a batch of its own', async () => {
    const sent: number[][] = []
    const b = createTickBatcher<number, void>({
      send: async (_key, items) => {
        sent.push([...items])
        return items.map(() => undefined)
      },
    })
    const first = b.add('a', 1)
    await turn()
    expect(sent).toEqual([[1]])
    await Promise.all([first, b.add('a', 2)])
    expect(sent).toEqual([[1], [2]])
  })

  it('rejects every item of a batch that failed, and only those', async () => {
    const b = createTickBatcher<number, number>({
      send: async (key, items) => {
        if (key === 'down') throw new Error('unreachable')
        return items
      },
    })
    const down = [b.add('down', 1), b.add('down', 2)].map((p) => p.then(() => 'ok', (e: Error) => e.message))
    const up = b.add('up', 3)
    expect(await Promise.all(down)).toEqual(['unreachable', 'unreachable'])
    expect(await up).toBe(3)
  })

  it('rejects an item the answer has no result for, and a send that throws at once', async () => {
    const short = createTickBatcher<number, number>({ send: async (_key, items) => items.slice(0, 1) })
    const settled = await Promise.allSettled([short.add('a', 1), short.add('a', 2)])
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected'])
    const throwing = createTickBatcher<number, number>({
      send: () => {
        throw new Error('bad body')
      },
    })
    await expect(throwing.add('a', 1)).rejects.toThrow('bad body')
  })

  it('splits a turn of more than maxItems', async () => {
    const sizes: number[] = []
    const b = createTickBatcher<number, number>({
      maxItems: 2,
      send: async (_key, items) => {
        sizes.push(items.length)
        return items
      },
    })
    expect(await Promise.all([1, 2, 3, 4, 5].map((n) => b.add('a', n)))).toEqual([1, 2, 3, 4, 5])
    expect(sizes).toEqual([2, 2, 1])
  })
})
