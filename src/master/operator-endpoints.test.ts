import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { buildRoles, quantitiesJson, roleAncestors } from './operator-endpoints.js'

const res = (cpus: number, mem: number) => ({ scalars: { cpus, mem }, ranges: {} })

describe('roles of /master/roles', () => {
  it('counts ranges, leaves zeros out and sorts by name, as ResourceQuantities', () => {
    expect(quantitiesJson({ scalars: { mem: 64, cpus: 0, disk: 10 }, ranges: { ports: [{ begin: 31000, end: 31004 }] } })).toEqual({ disk: 10, mem: 64, ports: 5 })
    expect(Object.keys(quantitiesJson({ scalars: { mem: 1, cpus: 1 }, ranges: {} }))).toEqual(['cpus', 'mem'])
  })

  it('knows the ancestors of a hierarchical role', () => {
    expect(roleAncestors('a/b/c')).toEqual(['a/b', 'a'])
    expect(roleAncestors('*')).toEqual([])
  })

  it('lists weighted roles without frameworks, and frameworks by id', () => {
    const roles = buildRoles({
      weights: { ops: 2 },
      frameworks: [{ id: 'f1', roles: ['web'] }],
      tasks: [
        { frameworkId: 'f1', role: 'web', state: 'TASK_RUNNING', resources: res(1, 128) },
        { frameworkId: 'f1', role: 'web', state: 'TASK_FINISHED', resources: res(4, 512) },
      ],
      offers: [{ frameworkId: 'f1', role: 'web', resources: res(0.5, 64) }],
    })
    expect(roles).toEqual([
      { name: 'ops', weight: 2, quota: { role: 'ops', guarantee: {}, limit: {}, consumed: {} }, resources: {}, allocated: {}, offered: {}, reserved: {}, frameworks: [] },
      {
        name: 'web',
        weight: 1,
        quota: { role: 'web', guarantee: {}, limit: {}, consumed: { cpus: 1, mem: 128 } },
        resources: { cpus: 1.5, mem: 192 },
        allocated: { cpus: 1, mem: 128 },
        offered: { cpus: 0.5, mem: 64 },
        reserved: {},
        frameworks: ['f1'],
      },
    ])
  })

  it('property: a role holds what its children hold, plus its own', () => {
    const role = fc.constantFrom('a', 'a/b', 'a/c', 'a/b/d', 'e')
    const task = fc.record({ frameworkId: fc.constantFrom('f1', 'f2'), role, state: fc.constantFrom('TASK_RUNNING', 'TASK_STAGING', 'TASK_KILLED'), resources: fc.integer({ min: 1, max: 8 }).map((c) => res(c, c * 64)) })
    fc.assert(
      fc.property(fc.array(task, { maxLength: 20 }), (tasks) => {
        const roles = new Map(buildRoles({ weights: {}, frameworks: [], tasks, offers: [] }).map((r) => [r.name as string, r]))
        const cpus = (name: string) => ((roles.get(name)?.allocated as Record<string, number> | undefined)?.cpus ?? 0)
        const own = (name: string) => tasks.filter((t) => t.role === name && t.state !== 'TASK_KILLED').reduce((a, t) => a + t.resources.scalars.cpus, 0)
        for (const name of roles.keys()) {
          const children = [...roles.keys()].filter((c) => c.startsWith(`${name}/`) && !c.slice(name.length + 1).includes('/'))
          expect(cpus(name)).toBeCloseTo(own(name) + children.reduce((a, c) => a + cpus(c), 0))
          for (const ancestor of roleAncestors(name)) expect(roles.has(ancestor)).toBe(true)
        }
      }),
    )
  })
})
