import { describe, expect, it } from 'vitest'
import { colourEnabled, coloursFor } from './colour.js'
import { table } from './format.js'

describe('colourEnabled', () => {
  it('colours a terminal only; NO_COLOR wins, FORCE_COLOR forces, TERM=dumb does not', () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true)
    expect(colourEnabled({ isTTY: false }, {})).toBe(false)
    expect(colourEnabled({}, {})).toBe(false)
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false)
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true)
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe(false)
    expect(colourEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true)
    expect(colourEnabled({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false)
    expect(colourEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false)
  })
})

describe('table with colours', () => {
  it('pads by the plain text, so the columns line up as without colour', () => {
    const rows = [['/a', 'TASK_RUNNING', '1/2'], ['/long', 'TASK_FAILED', '2/2']]
    const coloured = table(['ID', 'STATE', 'INSTANCES'], rows, coloursFor({ isTTY: true }, {}))
    expect(coloured.replace(new RegExp(String.raw`\x1b\[\d+m`, 'g'), '')).toBe(table(['ID', 'STATE', 'INSTANCES'], rows))
    expect(coloured).toContain('\x1b[32mTASK_RUNNING\x1b[39m ')
    expect(coloured).toContain('\x1b[31mTASK_FAILED\x1b[39m  ')
    expect(coloured).toContain('\x1b[33m1/2\x1b[39m')
    expect(coloured).toContain('\x1b[32m2/2\x1b[39m')
    expect(table(['ID'], [['/a']], coloursFor({ isTTY: false }, {}))).toBe('ID\n/a\n')
  })
})
