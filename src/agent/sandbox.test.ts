import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { makeSandbox, sandboxPath, wholeUtf8Length } from './sandbox.js'

describe('makeSandbox', () => {
  it('points runs/latest at the first run of a task, and at each run after it', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'dromos-sandbox-'))
    try {
      const log = pino({ level: 'silent' })
      const first = sandboxPath({ workDir, agentId: 'a1', frameworkId: 'f1', taskId: 't1' })
      await makeSandbox(first, log)
      const runs = join(first, '..')
      expect(await readlink(join(runs, 'latest'))).toBe(first.split('/').at(-1))
      const second = sandboxPath({ workDir, agentId: 'a1', frameworkId: 'f1', taskId: 't1' })
      await makeSandbox(second, log)
      expect(await readlink(join(runs, 'latest'))).toBe(second.split('/').at(-1))
      // Both runs, the link, and no link left half made.
      expect((await readdir(runs)).sort()).toEqual([first.split('/').at(-1), second.split('/').at(-1), 'latest'].sort())
    } finally {
      await rm(workDir, { recursive: true, force: true })
    }
  })
})

describe('wholeUtf8Length', () => {
  it('cuts a character split at the end, and nothing else', () => {
    const text = Buffer.from('ab€😀', 'utf8') // 1 + 1 + 3 + 4 bytes
    expect(wholeUtf8Length(text)).toBe(9)
    expect(wholeUtf8Length(text.subarray(0, 8))).toBe(5)
    expect(wholeUtf8Length(text.subarray(0, 4))).toBe(2)
    expect(wholeUtf8Length(text.subarray(0, 2))).toBe(2)
    // Only a fragment: sent as it is.
    expect(wholeUtf8Length(text.subarray(2, 4))).toBe(2)
  })

  it('reading a text in chunks of any size, advancing by the bytes of the text received, gives the text back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.integer({ min: 4, max: 20 }), (s, chunk) => {
        const file = Buffer.from(s, 'utf8')
        let offset = 0
        let out = ''
        while (offset < file.length) {
          const buf = file.subarray(offset, offset + chunk)
          const text = buf.subarray(0, wholeUtf8Length(buf)).toString('utf8')
          out += text
          offset += Buffer.byteLength(text, 'utf8')
        }
        expect(out).toBe(s)
      }),
    )
  })
})
