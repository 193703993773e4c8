import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { BatchStore, StoreWrite } from './store.js'

/** The embedded backend: one SQLite file, WAL journal, synchronous commits. */
export function openSqliteStore(path: string): BatchStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
  const getStmt = db.prepare<[string], { value: string }>('SELECT value FROM kv WHERE key = ?')
  const putStmt = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
  const delStmt = db.prepare('DELETE FROM kv WHERE key = ?')
  const listStmt = db.prepare<[string, string], { key: string; value: string }>(
    'SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key',
  )
  const applyAll = db.transaction((writes: readonly StoreWrite[]) => {
    for (const w of writes) {
      if (w.op === 'put') putStmt.run(w.key, JSON.stringify(w.value))
      else delStmt.run(w.key)
    }
  })
  return {
    async get<T>(key: string) {
      const row = getStmt.get(key)
      return row ? (JSON.parse(row.value) as T) : undefined
    },
    async put(key, value) {
      putStmt.run(key, JSON.stringify(value))
    },
    async delete(key) {
      delStmt.run(key)
    },
    async batch(writes) {
      applyAll(writes)
    },
    async list<T>(prefix: string) {
      // Every key with the prefix sorts between prefix and prefix + U+FFFF.
      return listStmt.all(prefix, prefix + '\uffff').map((r) => [r.key, JSON.parse(r.value) as T] as [string, T])
    },
    async close() {
      db.close()
    },
  }
}
