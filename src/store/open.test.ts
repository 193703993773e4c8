import { describe, expect, it } from 'vitest'
import { parseStoreUrl, StoreUrlError } from './open.js'

describe('parseStoreUrl', () => {
  it('is SQLite in the work dir by default', () => {
    expect(parseStoreUrl(undefined)).toEqual({ backend: 'sqlite' })
    expect(parseStoreUrl('')).toEqual({ backend: 'sqlite' })
    expect(parseStoreUrl('sqlite:')).toEqual({ backend: 'sqlite' })
  })

  it('takes a SQLite file', () => {
    expect(parseStoreUrl('sqlite:///var/lib/dromos/state.db')).toEqual({ backend: 'sqlite', path: '/var/lib/dromos/state.db' })
    expect(parseStoreUrl('sqlite:state.db')).toEqual({ backend: 'sqlite', path: 'state.db' })
  })

  it('takes etcd endpoints and a root', () => {
    expect(parseStoreUrl('etcd://h1:2379,h2:2379')).toEqual({
      backend: 'etcd',
      endpoints: ['http://h1:2379', 'http://h2:2379'],
      root: '/dromos/',
    })
    expect(parseStoreUrl('etcd://127.0.0.1:2379/prod/dromos')).toEqual({
      backend: 'etcd',
      endpoints: ['http://127.0.0.1:2379'],
      root: '/prod/dromos/',
    })
    expect(parseStoreUrl('etcd://[::1]:2379/')).toEqual({ backend: 'etcd', endpoints: ['http://[::1]:2379'], root: '/' })
  })

  it('refuses what it cannot use, naming the reason', () => {
    expect(() => parseStoreUrl('etcd://')).toThrow(StoreUrlError)
    expect(() => parseStoreUrl('etcd://h1')).toThrow(/endpoint 'h1' is not host:port/)
    expect(() => parseStoreUrl('consul://h:8500')).toThrow(/unknown scheme/)
  })
})
