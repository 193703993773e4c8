import { describe, expect, it } from 'vitest'
import type { AgentState } from './api.ts'
import { sandboxOf } from './api.ts'

describe('sandboxOf', () => {
  const state: AgentState = {
    frameworks: [
      {
        id: 'f1',
        executors: [{ id: 'app.1', directory: '/w/slaves/s/frameworks/f1/executors/app.1/runs/r1' }],
        completed_executors: [{ id: 'app.0', directory: '/w/slaves/s/frameworks/f1/executors/app.0/runs/r0' }],
      },
    ],
    completed_frameworks: [{ id: 'f0', executors: [], completed_executors: [{ id: 'old.0', directory: '/w/old' }] }],
  }

  it('finds a running task’s sandbox, and an ended one’s, by the executor that has its id', () => {
    expect(sandboxOf(state, 'app.1')).toBe('/w/slaves/s/frameworks/f1/executors/app.1/runs/r1')
    expect(sandboxOf(state, 'app.0')).toBe('/w/slaves/s/frameworks/f1/executors/app.0/runs/r0')
    expect(sandboxOf(state, 'old.0')).toBe('/w/old')
    expect(sandboxOf(state, 'nope')).toBeUndefined()
  })
})
