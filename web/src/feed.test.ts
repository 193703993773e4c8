import { describe, expect, it } from 'vitest'
import { describeAppsEvent, describeMasterEvent } from './feed.ts'

describe('the event feed', () => {
  it('says what a Marathon event concerns', () => {
    expect(describeAppsEvent({ eventType: 'status_update_event', appId: '/web', taskId: 'web.1', taskStatus: 'TASK_RUNNING' })).toBe('/web web.1 TASK_RUNNING')
    expect(describeAppsEvent({ eventType: 'deployment_info', plan: { id: 'p1', steps: [], version: 'v' }, currentStep: { actions: [{ action: 'ScaleApplication', app: '/web' }] } })).toBe(
      'deployment p1 ScaleApplication /web',
    )
    expect(describeAppsEvent({ eventType: 'deployment_failed', id: 'p1', reason: 'The upgrade has been cancelled' })).toBe('deployment p1 The upgrade has been cancelled')
    expect(describeAppsEvent({ eventType: 'group_change_failed', groupId: '/web', version: 'v', reason: 'App is locked' })).toBe('/web v App is locked')
    expect(describeAppsEvent({ eventType: 'instance_health_changed_event', runSpecId: '/web', instanceId: 'i', healthy: null })).toBe('/web i health unknown')
    expect(describeAppsEvent({ eventType: 'something_new', appId: '/x' })).toBe('/x')
  })

  it('says what a master operator event concerns', () => {
    expect(describeMasterEvent({ type: 'TASK_UPDATED', task_updated: { state: 'TASK_RUNNING', status: { task_id: { value: 't1' } } } })).toBe('t1 TASK_RUNNING')
    expect(describeMasterEvent({ type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { hostname: 'h1', id: { value: 'a1' } } } } })).toBe('h1 a1')
    expect(describeMasterEvent({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { name: 'marathon', id: { value: 'f1' } } } })).toBe('marathon f1')
    expect(describeMasterEvent({ type: 'HEARTBEAT' })).toBe('')
  })
})
