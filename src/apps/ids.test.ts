import { describe, expect, it } from 'vitest'
import { isValidPathId, parseAppId } from './ids.js'

describe('path ids', () => {
  it('normalizes slashes, dots and relative ids', () => {
    expect(parseAppId('//a//b/')).toBe('/a/b')
    expect(parseAppId('/a/b')).toBe(parseAppId('//a/b'))
    expect(parseAppId('b', '/a')).toBe('/a/b')
    expect(parseAppId('./b/../c', '/a')).toBe('/a/c')
    expect(parseAppId('../x', '/a/b')).toBe('/a/x')
    expect(parseAppId('/../../x')).toBe('/x')
    expect(parseAppId('/')).toBe('/')
    expect(parseAppId('')).toBe('/')
  })

  it('applies Marathon’s segment rule', () => {
    expect(isValidPathId('/prod/web-1')).toBe(true)
    expect(isValidPathId('/a.b/c-d.e')).toBe(true)
    expect(isValidPathId('../sibling')).toBe(true)
    expect(isValidPathId('/Prod')).toBe(false)
    expect(isValidPathId('/web_1')).toBe(false)
    expect(isValidPathId('/-web')).toBe(false)
    expect(isValidPathId('/web-')).toBe(false)
    expect(isValidPathId('/a..b')).toBe(false)
  })
})
