import { describe, expect, it } from 'vitest'
import { AppValidationError } from './errors.js'
import { CYCLIC_DEPENDENCIES, dependencyOrder, normalizeGroup } from './groups.js'
import { LATER as later, NOW as now, validApp as ok } from './testing.js'

describe('groups', () => {
  it('resolves nested app ids against their group and flattens the tree', () => {
    const r = normalizeGroup(
      {
        id: '/prod',
        apps: [{ id: 'db', cmd: 'db' }],
        groups: [
          {
            id: 'web',
            dependencies: ['../db'],
            apps: [
              { id: 'frontend', cmd: 'serve', dependencies: ['backend'] },
              { id: '/prod/web/backend', cmd: 'serve' },
            ],
          },
        ],
      },
      { now },
    )
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.groupId).toBe('/prod')
    expect(r.apps.map((a) => a.id)).toEqual(['/prod/db', '/prod/web/frontend', '/prod/web/backend'])
    expect(r.apps[1]?.dependencies).toEqual(['/prod/web/backend'])
    expect(r.groups).toEqual([
      { id: '/prod', dependencies: [] },
      { id: '/prod/web', dependencies: ['/prod/db'] },
    ])
    expect(dependencyOrder(r.apps, r.groups)).toEqual([['/prod/db'], ['/prod/web/backend'], ['/prod/web/frontend']])
  })

  it('reports app errors under the app’s position in the tree', () => {
    const r = normalizeGroup(
      {
        id: '/prod',
        apps: [{ id: 'a', cmd: 'x', cpus: -1 }],
        groups: [{ id: 'web', apps: [{ id: '/elsewhere/b', cmd: 'x' }, { cmd: 'x' }] }],
      },
      { now },
    )
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.details).toEqual([
      { path: '/apps(0)/cpus', errors: ['must be greater than or equal to 0.001'] },
      { path: '/groups(0)/apps(0)/id', errors: ["Identifier is not child of '/prod/web'"] },
      { path: '/groups(0)/apps(1)/id', errors: ['error.path.missing'] },
    ])
  })

  it('relative ids resolve against the base given for PUT /v2/groups/{id}', () => {
    const r = normalizeGroup({ apps: [{ id: 'x', cmd: 'x' }] }, { now, base: '/team' })
    expect(r.ok && r.groupId).toBe('/team')
    expect(r.ok && r.apps[0]?.id).toBe('/team/x')
  })

  it('rejects an app and a group with the same id, and nested groups without id', () => {
    const r = normalizeGroup({ id: '/p', apps: [{ id: 'x', cmd: 'x' }], groups: [{ id: 'x' }, { apps: [] }] }, { now })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.details).toContainEqual({ path: '/', errors: ['Groups and Applications may not have the same identifier.'] })
    expect(r.details).toContainEqual({ path: '/groups(1)/id', errors: ['error.path.missing'] })
  })

  it('rejects cyclic dependencies with Marathon’s message', () => {
    const r = normalizeGroup(
      {
        id: '/c',
        apps: [
          { id: 'a', cmd: 'x', dependencies: ['b'] },
          { id: 'b', cmd: 'x', dependencies: ['/c/a'] },
        ],
      },
      { now },
    )
    expect(r).toEqual({ ok: false, details: [{ path: '/', errors: ['Dependency graph has cyclic dependencies.'] }] })
  })

  it('passes scaleBy and version through, alone', () => {
    expect(normalizeGroup({ id: '/p', scaleBy: 2 }, { now })).toMatchObject({ ok: true, groupId: '/p', scaleBy: 2, apps: [] })
    expect(normalizeGroup({ id: '/p', version: now }, { now })).toMatchObject({ ok: true, version: now })
    const r = normalizeGroup({ id: '/p', scaleBy: 2, apps: [{ id: 'a', cmd: 'x' }] }, { now })
    expect(r.ok).toBe(false)
  })

  it('carries versionInfo over from existing apps', () => {
    const existing = ok({ id: '/p/a', cmd: 'x' })
    const r = normalizeGroup({ id: '/p', apps: [{ id: 'a', cmd: 'x', instances: 4 }] }, { now: later, existing: new Map([[existing.id, existing]]) })
    expect(r.ok && r.apps[0]?.versionInfo).toEqual({ lastScalingAt: later, lastConfigChangeAt: now })
  })
})

describe('dependencyOrder', () => {
  const app = (id: string, ...dependencies: string[]) => ({ id, dependencies })

  it('levels apps by their longest dependency chain', () => {
    expect(dependencyOrder([app('/a', '/b'), app('/b', '/c'), app('/c'), app('/d', '/c')])).toEqual([['/c'], ['/b', '/d'], ['/a']])
  })

  it('a dependency on a group waits for every app below it; unknown ids are ignored', () => {
    expect(dependencyOrder([app('/web', '/db', '/nowhere'), app('/db/pg'), app('/db/cache', '/db/pg')])).toEqual([['/db/pg'], ['/db/cache'], ['/web']])
  })

  it('group dependencies apply to all their apps', () => {
    expect(dependencyOrder([app('/web/a'), app('/web/b'), app('/db')], [{ id: '/web', dependencies: ['/db'] }])).toEqual([['/db'], ['/web/a', '/web/b']])
  })

  it('throws a 422 on cycles, self-dependencies included', () => {
    expect(() => dependencyOrder([app('/a', '/b'), app('/b', '/a')])).toThrow(AppValidationError)
    try {
      dependencyOrder([app('/a', '/a')])
    } catch (e) {
      expect((e as AppValidationError).body).toEqual({ message: 'Object is not valid', details: [{ path: '/', errors: [CYCLIC_DEPENDENCIES] }] })
    }
  })
})
