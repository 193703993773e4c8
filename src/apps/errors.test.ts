import { describe, expect, it } from 'vitest'
import { InvalidJsonError, parseJsonBody } from './errors.js'

describe('request bodies', () => {
  it('parseJsonBody turns bad JSON into Marathon’s 400 body', () => {
    expect(parseJsonBody('{"id":"/a"}')).toEqual({ id: '/a' })
    let caught: unknown
    try {
      parseJsonBody('{"id":"/test"')
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(InvalidJsonError)
    const err = caught as InvalidJsonError
    expect(err.status).toBe(400)
    expect(err.body.message).toBe('Invalid JSON')
    expect(err.details).toHaveLength(1)
    expect(err.details[0]?.path).toBe('/')
    expect(err.details[0]?.errors[0]).toMatch(/.+/)
    expect(() => parseJsonBody('')).toThrow(InvalidJsonError)
  })
})
