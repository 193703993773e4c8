import { describe, expect, it } from 'vitest'
import { MasterStateSchema } from '../api/mesos-client.js'
import { findTask, lastLines } from './cluster-commands.js'
import { CliError, ExitCode } from './format.js'

const state = MasterStateSchema.parse({
  frameworks: [{ id: 'f', tasks: [{ id: 'web.a1' }, { id: 'web.a2' }], completed_tasks: [{ id: 'db.b1', state: 'TASK_FINISHED' }, { id: 'web.a1', state: 'TASK_KILLED' }] }],
})

const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (e) {
    return e instanceof CliError ? e.exitCode : -1
  }
  return undefined
}

describe('findTask', () => {
  it('takes an exact id, or a prefix only one task has, live or completed', () => {
    expect(findTask(state, 'web.a1').id).toBe('web.a1')
    expect(findTask(state, 'db').id).toBe('db.b1')
  })
  it('says not found (4) for nothing, usage (2) for a prefix of several', () => {
    expect(codeOf(() => findTask(state, 'nope'))).toBe(ExitCode.NotFound)
    expect(codeOf(() => findTask(state, 'web.a'))).toBe(ExitCode.Usage)
  })
})

describe('lastLines', () => {
  it('keeps the last n lines, with or without a final newline', () => {
    expect(lastLines('a\nb\nc\n', 2)).toBe('b\nc\n')
    expect(lastLines('a\nb\nc', 2)).toBe('b\nc')
    expect(lastLines('a\n', 5)).toBe('a\n')
    expect(lastLines('a\nb\n', 0)).toBe('')
    expect(lastLines('', 3)).toBe('')
  })
})
