import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandUri } from './fetcher.js'
import { fetchUri } from './fetcher.js'

describe('fetcher cache', () => {
  let root: string
  let server: http.Server
  let base: string
  const hits = new Map<string, number>()

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dromos-fetcher-'))
    server = http.createServer((req, res) => {
      hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1)
      // Slow enough that concurrent fetches overlap.
      setTimeout(() => res.end(`body of ${req.url}\n`.padEnd(1000, '.')), 100)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await rm(root, { recursive: true, force: true })
  })

  const uri = (p: string, cache: boolean): CommandUri => ({ value: `${base}${p}`, cache, extract: true, executable: false })
  let n = 0
  const sandbox = (): string => path.join(root, `sandbox-${++n}`)

  it('downloads a cached URI once for many sandboxes, concurrent ones included, and every time when not cached', async () => {
    const cacheDir = path.join(root, 'cache-a')
    const targets = await Promise.all([1, 2, 3].map(() => fetchUri(uri('/a.txt', true), sandbox(), { cacheDir })))
    targets.push(await fetchUri(uri('/a.txt', true), sandbox(), { cacheDir }))
    expect(hits.get('/a.txt')).toBe(1)
    for (const t of targets) expect(await readFile(t, 'utf8')).toMatch(/^body of \/a\.txt\n/)
    // Each sandbox has its own copy: a task changing its file leaves the cache alone.
    expect(new Set(targets).size).toBe(4)

    await fetchUri(uri('/b.txt', false), sandbox(), { cacheDir })
    await fetchUri(uri('/b.txt', false), sandbox(), { cacheDir })
    expect(hits.get('/b.txt')).toBe(2)
    expect(readdirSync(cacheDir)).toHaveLength(1)
  })

  it('evicts the least recently used files when the cache outgrows its size', async () => {
    const cacheDir = path.join(root, 'cache-b')
    // Room for two 1000-byte files.
    const opts = { cacheDir, cacheMaxBytes: 2500 }
    await fetchUri(uri('/c1', true), sandbox(), opts)
    await new Promise((r) => setTimeout(r, 20))
    await fetchUri(uri('/c2', true), sandbox(), opts)
    await new Promise((r) => setTimeout(r, 20))
    // c1 used again: c2 is now the least recently used.
    await fetchUri(uri('/c1', true), sandbox(), opts)
    await new Promise((r) => setTimeout(r, 20))
    await fetchUri(uri('/c3', true), sandbox(), opts)
    expect(readdirSync(cacheDir)).toHaveLength(2)
    expect(hits.get('/c1')).toBe(1)
    await fetchUri(uri('/c1', true), sandbox(), opts)
    expect(hits.get('/c1')).toBe(1)
    await fetchUri(uri('/c2', true), sandbox(), opts)
    expect(hits.get('/c2')).toBe(2)
  })

  it('without a cache directory, fetches cached URIs directly and keeps nothing', async () => {
    const target = await fetchUri(uri('/d.txt', true), sandbox())
    expect(existsSync(target)).toBe(true)
    await fetchUri(uri('/d.txt', true), sandbox())
    expect(hits.get('/d.txt')).toBe(2)
  })
})
