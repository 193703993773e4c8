import { describe, expect, it } from 'vitest'
import type { MarathonApp, MarathonGroup, QueueItem } from '../api/marathon-client.js'
import { MasterStateSchema } from '../api/mesos-client.js'
import { agentRows, frameworkRows, groupRows, queueRows, statusRows } from './cluster-format.js'

const NOW = Date.parse('2026-01-01T01:00:00Z')
const T0 = Date.parse('2026-01-01T00:00:00Z') / 1000

const state = MasterStateSchema.parse({
  version: '1.11.0',
  pid: 'master@10.0.0.1:5050',
  leader: 'master@10.0.0.1:5050',
  start_time: T0,
  activated_slaves: 2,
  unreachable_slaves: 1,
  slaves: [
    { id: 'a2', pid: 'slave(1)@10.0.0.3:5051', hostname: 'h2', resources: { cpus: 2, mem: 1024, disk: 100, ports: '[31000-31099]' }, used_resources: { cpus: 0, mem: 0, disk: 0 }, attributes: {}, registered_time: T0 },
    { id: 'a1', pid: 'slave(1)@10.0.0.2:5051', hostname: 'h1', resources: { cpus: 4, mem: 2048, disk: 1000 }, used_resources: { cpus: 0.3, mem: 48, disk: 0 }, attributes: { rack: 'r1' }, registered_time: T0 },
  ],
  frameworks: [
    { id: 'f1', name: 'marathon', active: true, roles: ['*'], registered_time: T0, used_resources: { cpus: 0.3, mem: 48 }, tasks: [{ id: 't1', slave_id: 'a1' }, { id: 't2', slave_id: 'a1' }, { id: 't3', slave_id: 'a1' }] },
  ],
  completed_frameworks: [{ id: 'f0', name: 'old', active: false, role: 'dev' }],
})

describe('agentRows and frameworkRows', () => {
  it('show used of total, live tasks and attributes, by hostname', () => {
    expect(agentRows(state, NOW)).toEqual([
      ['a1', 'h1', '10.0.0.2:5051', '0.3/4', '48/2048', '0/1000', '3', 'rack:r1', '60m ago'],
      ['a2', 'h2', '10.0.0.3:5051', '0/2', '0/1024', '0/100', '0', '-', '60m ago'],
    ])
    expect(frameworkRows(state, NOW)).toEqual([
      ['f1', 'marathon', 'yes', '*', '3', '0.3', '48', '60m ago'],
      ['f0', 'old', 'no', 'dev', '0', '0', '0', '-'],
    ])
  })
})

describe('statusRows', () => {
  const app = (over: Partial<MarathonApp>): MarathonApp =>
    ({ id: '/x', instances: 2, cpus: 0.1, mem: 16, disk: 0, healthChecks: [], tasksStaged: 0, tasksRunning: 2, tasksHealthy: 0, tasksUnhealthy: 0, deployments: [], ...over }) as MarathonApp
  it('sums the agents and apps, and names what could not be read', () => {
    const rows = statusRows({
      masterUrl: 'http://m:5050',
      master: { state },
      appsUrl: 'http://a:8080',
      apps: {
        apps: [app({ id: '/a' }), app({ id: '/b', instances: 3, tasksRunning: 1, tasksHealthy: 1, healthChecks: [{ protocol: 'HTTP' }] })],
        deployments: [{ id: 'd1', version: 'v', affectedApps: ['/b'], steps: [], currentActions: [{ action: 'ScaleApplication', app: '/b' }], currentStep: 1, totalSteps: 1 }],
        queue: [{ app: app({ id: '/b' }), count: 2 } as QueueItem],
      },
      nowMs: NOW,
    })
    expect(rows).toEqual([
      ['MASTER', 'http://m:5050: leader, version 1.11.0, up 60m'],
      ['AGENTS', '2 active, 1 unreachable; used cpus 0.3/6, mem 48/3072 MB, disk 0/1100 MB'],
      ['FRAMEWORKS', '1 active: marathon (3 tasks)'],
      ['APPS', '2 apps at http://a:8080, 3/5 instances running, 1/3 healthy, 1 app waiting for offers (dromos queue)'],
      ['DEPLOYMENTS', 'd1 /b step 1/1 ScaleApplication'],
    ])
    const down = statusRows({ masterUrl: 'http://m:5050', master: { error: 'cannot reach the master' }, appsUrl: 'http://a:8080', apps: { error: 'cannot reach dromos apps' }, nowMs: NOW })
    expect(down).toEqual([['MASTER', 'cannot reach the master'], ['APPS', 'cannot reach dromos apps']])
  })
  it('says when the master is not the leader', () => {
    const follower = MasterStateSchema.parse({ ...state, pid: 'master@10.0.0.9:5050' })
    expect(statusRows({ masterUrl: 'http://m', master: { state: follower }, appsUrl: 'a', apps: { error: 'x' }, nowMs: NOW })[0]![1]).toContain('not the leader (leader: master@10.0.0.1:5050)')
  })
})

describe('queueRows and groupRows', () => {
  it('say why each app waits, without repeating the count', () => {
    const item = { app: { id: '/big' }, count: 1, since: '2026-01-01T00:59:00Z', processedOffersSummary: { processedOffersCount: 3, unusedOffersCount: 3, rejectSummaryLastOffers: [{ reason: 'InsufficientCpus', declined: 1, processed: 1 }] } } as unknown as QueueItem
    expect(queueRows([item], NOW)).toEqual([['/big', '1', '60s', 'last offers of 1 agent declined: 1 not enough cpus']])
  })
  it('count apps in and below each group', () => {
    const root = { id: '/', apps: [], groups: [{ id: '/p', apps: [{ id: '/p/a', instances: 2 }], groups: [{ id: '/p/q', apps: [{ id: '/p/q/b' }], groups: [], dependencies: ['/p'] }], version: 'v1' }] } as unknown as MarathonGroup
    expect(groupRows(root)).toEqual([
      ['/', '0 (2 in all)', '1', '3', '-', '-'],
      ['/p', '1 (2 in all)', '1', '3', '-', 'v1'],
      ['/p/q', '1', '0', '1', '/p', '-'],
    ])
  })
})
