// The strict event schemas of test/lib/marathon-events.ts against hand-written payloads: the
// ones Marathon writes pass, and an extra key, a missing key, a wrong type or an unknown
// eventType fail. No cluster: these check the checker.
import { describe, expect, it } from 'vitest'
import { eventProblems, expectMarathonEvent } from './lib/marathon-events.js'

const ts = '2026-12-01T14:48:46.120Z'
const plan = { id: '2e72dbf1-2b2a-4204-b628-e8bd160945dd', steps: [{ actions: [{ action: 'ScaleApplication', app: '/prod/web' }] }], version: ts }

const good: Record<string, Record<string, unknown>> = {
  status_update_event: {
    slaveId: 'b2b0f3b6-8f55-4f3a-9a35-6a3c4e1f0d7e-S0',
    taskId: 'prod_web.0664256e-6771-11e5-94e1-be5b2935a987',
    taskStatus: 'TASK_RUNNING',
    message: '',
    appId: '/prod/web',
    host: 'agent-a',
    ipAddresses: [{ ipAddress: '10.0.0.3', protocol: 'IPv4' }],
    ports: [31182],
    version: ts,
    eventType: 'status_update_event',
    timestamp: ts,
  },
  instance_changed_event: {
    instanceId: 'prod_web.instance-0664256e-6771-11e5-94e1-be5b2935a987',
    condition: 'Running',
    runSpecId: '/prod/web',
    agentId: null,
    host: 'agent-a',
    runSpecVersion: ts,
    timestamp: ts,
    eventType: 'instance_changed_event',
  },
  failed_health_check_event: {
    appId: '/prod/web',
    eventType: 'failed_health_check_event',
    healthCheck: { protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 2, delaySeconds: 15 },
    taskId: 'prod_web.instance-0664256e-6771-11e5-94e1-be5b2935a987',
    timestamp: ts,
  },
  unhealthy_instance_kill_event: {
    appId: '/prod/web',
    taskId: 'prod_web.0664256e-6771-11e5-94e1-be5b2935a987',
    instanceId: 'prod_web.instance-0664256e-6771-11e5-94e1-be5b2935a987',
    version: ts,
    reason: 'ConnectionAttemptFailedException: Connection attempt to 10.0.0.3:31182 failed',
    host: 'agent-a',
    eventType: 'unhealthy_instance_kill_event',
    timestamp: ts,
  },
  deployment_info: { plan, currentStep: plan.steps[0], eventType: 'deployment_info', timestamp: ts },
  deployment_failed: { id: plan.id, plan, eventType: 'deployment_failed', timestamp: ts, reason: 'The upgrade has been cancelled' },
  instance_health_changed_event: {
    instanceId: 'prod_web.instance-0664256e-6771-11e5-94e1-be5b2935a987',
    runSpecId: '/prod/web',
    healthy: null,
    runSpecVersion: ts,
    timestamp: ts,
    eventType: 'instance_health_changed_event',
  },
  framework_message_event: { executorId: 'e', slaveId: 'S0', message: [104, -1], eventType: 'framework_message_event', timestamp: ts },
  scheduler_disconnected_event: { eventType: 'scheduler_disconnected_event', timestamp: ts },
}

describe('Marathon event schemas', () => {
  it.each(Object.entries(good))('accept a %s as Marathon writes it', (_type, e) => {
    expect(eventProblems(e)).toEqual([])
    expectMarathonEvent(e, 'hand-written')
  })

  it('refuse an extra key', () => {
    expect(eventProblems({ ...good.status_update_event, instanceId: 'x' }).join()).toMatch(/instanceId/)
    // dromos used to send the whole groups with the plan, as Marathon 1.7 did without ?plan-format=light.
    expect(eventProblems({ ...good.deployment_info, plan: { ...plan, original: { id: '/' }, target: { id: '/' } } }).join()).toMatch(/original.*target/)
    expect(eventProblems({ ...good.failed_health_check_event, instanceId: good.failed_health_check_event!.taskId })).not.toEqual([])
  })

  it('refuse a missing key', () => {
    const { ipAddresses: _, ...noIps } = good.status_update_event!
    expect(eventProblems(noIps).join()).toMatch(/ipAddresses/)
    const { timestamp: __, ...noTime } = good.instance_changed_event!
    expect(eventProblems(noTime).join()).toMatch(/timestamp/)
    const { agentId: ___, ...noAgent } = good.instance_changed_event!
    expect(eventProblems(noAgent).join()).toMatch(/agentId/)
  })

  it('refuse wrong types and formats', () => {
    expect(eventProblems({ ...good.status_update_event, ports: ['31182'] })).not.toEqual([])
    expect(eventProblems({ ...good.status_update_event, taskStatus: 'RUNNING' })).not.toEqual([])
    expect(eventProblems({ ...good.status_update_event, appId: 'prod/web' })).not.toEqual([])
    // Marathon's Timestamp always writes the milliseconds.
    expect(eventProblems({ ...good.status_update_event, timestamp: '2026-12-01T14:48:46Z' })).not.toEqual([])
    expect(eventProblems({ ...good.deployment_info, currentStep: 1 })).not.toEqual([])
    expect(eventProblems({ ...good.framework_message_event, message: 'aGk=' })).not.toEqual([])
  })

  it('refuse an eventType Marathon does not have', () => {
    expect(eventProblems({ eventType: 'stream_reconnected', timestamp: ts })).toEqual(['eventType: stream_reconnected is not an event Marathon emits'])
    expect(() => expectMarathonEvent({ timestamp: ts }, 'no type')).toThrow(/eventType/)
  })
})
