import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { openSqliteStore } from './sqlite.js'
import { describeStoreContract } from './store.contract.js'

const dir = mkdtempSync(join(tmpdir(), 'dromos-store-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describeStoreContract('sqlite', async (space) => openSqliteStore(join(dir, `${space}.db`)))
