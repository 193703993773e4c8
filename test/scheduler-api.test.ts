// The Mesos v1 scheduler API end to end: real master and agent processes, real Docker,
// real processes, and a framework that speaks only JSON over HTTP.
import Dockerode from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestCluster, waitUntil } from './lib/cluster.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from './lib/images.js'
import { offeredPorts, ports, scalar, TestFramework } from './lib/scheduler.js'

const docker = new Dockerode()
let cluster: TestCluster
const frameworks: TestFramework[] = []

async function subscribe(opts: Partial<Parameters<typeof TestFramework.subscribe>[0]> = {}): Promise<TestFramework> {
  const f = await TestFramework.subscribe({ master: cluster.masterUrl, ...opts })
  frameworks.push(f)
  return f
}

async function teardown(f: TestFramework): Promise<void> {
  await f.call({ type: 'TEARDOWN' })
  f.close()
}

beforeAll(async () => {
  await ensureBusyboxImage()
  cluster = await TestCluster.start({ masterArgs: ['--heartbeat-interval', '1s'] })
})

afterAll(async () => {
  for (const f of frameworks) if (!f.closed) await teardown(f).catch(() => undefined)
  await cluster?.stop()
})

describe('SUBSCRIBE', () => {
  it('opens a RecordIO stream with a stream id, one record per chunk, and heartbeats', async () => {
    const f = await subscribe({ name: 'subscriber' })
    expect(f.statusCode).toBe(200)
    expect(f.streamId).toMatch(/^[0-9a-f-]{36}$/)
    expect(f.frameworkId).not.toBe('')
    const subscribed = f.events[0]!
    expect(subscribed.type).toBe('SUBSCRIBED')
    expect(subscribed.subscribed.heartbeat_interval_seconds).toBe(1)
    expect(subscribed.subscribed.master_info.port).toBe(cluster.masterPort)
    // The first chunk is exactly one record: "<length>\n<json>" with no newline inside the JSON.
    const first = f.chunks[0]!
    const nl = first.indexOf('\n')
    expect(Number(first.slice(0, nl))).toBe(Buffer.byteLength(first.slice(nl + 1)))
    expect(first.slice(nl + 1)).not.toContain('\n')
    await f.waitFor((e) => e.type === 'HEARTBEAT', { what: 'HEARTBEAT', timeoutMs: 5000 })
    await teardown(f)
  })

  it('enforces MULTI_ROLE as Mesos: roles[] only with the capability, valid role names, allocation_info only for MULTI_ROLE frameworks', async () => {
    const refused = async (info: Record<string, unknown>): Promise<string> => {
      const r = await fetch(`${cluster.masterUrl}/api/v1/scheduler`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'bad-roles', ...info } } }),
      })
      expect(r.status).toBe(200)
      // The stream says why in an ERROR event and closes.
      const text = await r.text()
      const event = JSON.parse(text.slice(text.indexOf('\n') + 1)) as { type: string; error: { message: string } }
      expect(event.type).toBe('ERROR')
      return event.error.message
    }
    expect(await refused({ roles: ['web'] })).toMatch(/'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable/)
    expect(await refused({ roles: ['-web'], capabilities: [{ type: 'MULTI_ROLE' }] })).toMatch(/starts with a dash/)
    expect(await refused({ roles: ['a/*'], capabilities: [{ type: 'MULTI_ROLE' }] })).toMatch(/cannot include '\*' as a component/)
    expect(await refused({ role: 'web', roles: ['web'], capabilities: [{ type: 'MULTI_ROLE' }] })).toMatch(/'FrameworkInfo.role' must not be set/)
    expect((await cluster.state()).frameworks.some((f: { name: string }) => f.name === 'bad-roles')).toBe(false)

    const old = await subscribe({ name: 'single-role', multiRole: false })
    const offer = (await old.waitOffers()).offers.offers[0]
    expect(offer.allocation_info).toBeUndefined()
    expect(offer.resources.every((r: Record<string, unknown>) => r.allocation_info === undefined && r.role === '*')).toBe(true)
    await teardown(old)
    const multi = await subscribe({ name: 'multi-role' })
    const mo = (await multi.waitOffers()).offers.offers[0]
    expect(mo.allocation_info).toEqual({ role: '*' })
    expect(mo.resources.every((r: { allocation_info?: { role: string } }) => r.allocation_info?.role === '*')).toBe(true)
    await teardown(multi)
  })

  it('accepts protobuf-style explicit nulls and keeps the framework id on re-subscription', async () => {
    const f = await subscribe({ name: 'nulls', failoverTimeout: 60, extraInfo: { principal: null, webui_url: null, labels: null, hostname: null } })
    const id = f.frameworkId
    f.close()
    const again = await subscribe({ name: 'nulls', frameworkId: id, failoverTimeout: 60 })
    expect(again.frameworkId).toBe(id)
    expect(again.streamId).not.toBe(f.streamId)
    const state = await cluster.state()
    expect(state.frameworks.filter((x: { id: string }) => x.id === id)).toHaveLength(1)
    await teardown(again)
    const after = await cluster.state()
    expect(after.frameworks.some((x: { id: string }) => x.id === id)).toBe(false)
    expect(after.completed_frameworks.some((x: { id: string }) => x.id === id)).toBe(true)
  })
})

describe('Docker tasks', () => {
  it('runs a BRIDGE task from a local-only image, serves on its host port, and KILL removes it', async () => {
    const f = await subscribe({ name: 'bridge', capabilities: ['TASK_KILLING_STATE'] })
    const offer = (await f.waitOffers()).offers.offers[0]
    const [hostPort] = offeredPorts(offer, 1)
    await f.launch(offer, [
      {
        name: 'web',
        task_id: { value: 'web-1' },
        resources: [scalar('cpus', 0.1), scalar('mem', 32), ports(hostPort!)],
        command: { shell: true, value: 'exec httpd -f -p 8080 -h /www' },
        container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'BRIDGE', port_mappings: [{ host_port: hostPort, container_port: 8080, protocol: 'tcp' }] } },
      },
    ])
    const running = await f.waitUpdate('web-1', 'TASK_RUNNING')
    expect(running.update.status.agent_id.value).toBe(offer.agent_id.value)
    expect(f.updatesOf('web-1').map((s) => s.state)).toEqual(['TASK_STARTING', 'TASK_RUNNING'])
    const body = await waitUntil('task to answer', async () => {
      const r = await fetch(`http://127.0.0.1:${hostPort}/`)
      return r.ok ? r.text() : undefined
    })
    expect(body).toContain('dromos test image')
    const containers = await docker.listContainers({ filters: { label: ['dromos.task_id=web-1'] } })
    expect(containers).toHaveLength(1)

    await f.mustCall({ type: 'KILL', kill: { task_id: { value: 'web-1' }, agent_id: offer.agent_id } })
    await f.waitUpdate('web-1', 'TASK_KILLING')
    await f.waitUpdate('web-1', 'TASK_KILLED')
    const left = await docker.listContainers({ all: true, filters: { label: ['dromos.task_id=web-1'] } })
    expect(left).toHaveLength(0)
    await teardown(f)
  })

  it('gives two HOST-network tasks on one agent their own PORT0', async () => {
    const f = await subscribe({ name: 'host' })
    const offer = (await f.waitOffers()).offers.offers[0]
    const [p1, p2] = offeredPorts(offer, 2)
    const task = (id: string, port: number) => ({
      name: id,
      task_id: { value: id },
      resources: [scalar('cpus', 0.1), scalar('mem', 32), ports(port)],
      command: { shell: true, value: 'mkdir -p /tmp/w && echo "$MESOS_TASK_ID on $PORT0" > /tmp/w/index.html && exec httpd -f -p $PORT0 -h /tmp/w' },
      container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'HOST' } },
    })
    await f.launch(offer, [task('host-a', p1!), task('host-b', p2!)])
    await f.waitUpdate('host-a', 'TASK_RUNNING')
    await f.waitUpdate('host-b', 'TASK_RUNNING')
    for (const [id, port] of [['host-a', p1], ['host-b', p2]] as const) {
      const text = await waitUntil(`${id} to answer`, async () => {
        const r = await fetch(`http://127.0.0.1:${port}/`)
        return r.ok ? r.text() : undefined
      })
      expect(text.trim()).toBe(`${id} on ${port}`)
    }
    await teardown(f)
    await waitUntil('containers to go', async () => (await docker.listContainers({ all: true, filters: { label: ['dromos.framework_id=' + f.frameworkId] } })).length === 0)
  })

  it('fails a task whose image exists nowhere with a message naming the image', async () => {
    const f = await subscribe({ name: 'missing-image' })
    const offer = (await f.waitOffers()).offers.offers[0]
    const image = '127.0.0.1:1/dromos-test/missing:404'
    await f.launch(offer, [
      { name: 'x', task_id: { value: 'missing-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], container: { type: 'DOCKER', docker: { image, network: 'NONE' } } },
    ])
    const failed = await f.waitUpdate('missing-1', 'TASK_FAILED')
    expect(failed.update.status.message).toContain(image)
    expect(failed.update.status.reason).toBe('REASON_CONTAINER_LAUNCH_FAILED')
    await teardown(f)
  })
})

describe('process tasks', () => {
  it('fails a task over its memory limit with REASON_CONTAINER_LIMITATION_MEMORY', async () => {
    const f = await subscribe({ name: 'oom' })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [
      {
        name: 'hog',
        task_id: { value: 'hog-1' },
        resources: [scalar('cpus', 0.1), scalar('mem', 16)],
        command: { value: 'python3 -c "b = bytearray(200 * 1024 * 1024); import time; time.sleep(30)"' },
      },
    ])
    const failed = await f.waitUpdate('hog-1', 'TASK_FAILED')
    expect(failed.update.status.reason).toBe('REASON_CONTAINER_LIMITATION_MEMORY')
    await teardown(f)
  })

  it('finishes a command that exits 0 and fails one that exits 3', async () => {
    const f = await subscribe({ name: 'exit-codes' })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [
      { name: 'ok', task_id: { value: 'ok-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'echo hello from $MESOS_TASK_ID' } },
      { name: 'bad', task_id: { value: 'bad-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'exit 3' } },
    ])
    await f.waitUpdate('ok-1', 'TASK_FINISHED')
    const failed = await f.waitUpdate('bad-1', 'TASK_FAILED')
    expect(failed.update.status.message).toMatch(/3/)
    await teardown(f)
  })
})

describe('status updates', () => {
  it('frees the resources of a task that ended on its agent before its earlier updates are acknowledged (latest_state)', async () => {
    const f = await subscribe({ name: 'latest-state', autoAck: false })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [{ name: 'quick', task_id: { value: 'latest-1' }, resources: [scalar('cpus', 1), scalar('mem', 32)], command: { value: 'true' } }], { refuse_seconds: 0 })
    const starting = await f.waitUpdate('latest-1', 'TASK_STARTING')
    const used = async (): Promise<number> => (await cluster.state()).frameworks.find((x: { id: string }) => x.id === f.frameworkId)?.used_resources.cpus ?? -1
    // The task has ended on the agent; the framework has not acknowledged even its first update.
    await waitUntil('the ended task to free its cpus', async () => (await used()) === 0, 15_000)
    expect(f.updatesOf('latest-1').map((s) => s.state)).toEqual(expect.arrayContaining(['TASK_STARTING']))
    expect(f.updatesOf('latest-1').some((s) => s.state === 'TASK_FINISHED')).toBe(false)
    // Reconciliation still reports the state of the updates the framework was sent.
    const from = f.events.length
    await f.mustCall({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'latest-1' } }] } })
    expect((await f.waitUpdate('latest-1', () => true, { from })).update.status.state).toBe('TASK_STARTING')
    // Acknowledged in order, the rest arrives in order.
    await f.acknowledge(starting.update.status)
    await f.acknowledge((await f.waitUpdate('latest-1', 'TASK_RUNNING')).update.status)
    await f.acknowledge((await f.waitUpdate('latest-1', 'TASK_FINISHED')).update.status)
    await teardown(f)
  })

  it('re-delivers an update until it is acknowledged, and not after', async () => {
    const f = await subscribe({ name: 'acks', autoAck: false })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [{ name: 's', task_id: { value: 'sleep-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } }])
    const first = await f.waitUpdate('sleep-1', 'TASK_STARTING')
    const index = f.events.indexOf(first)
    // The agent retries every second at first: the same update (same uuid) comes again.
    const again = await f.waitUpdate('sleep-1', 'TASK_STARTING', { from: index + 1, timeoutMs: 10_000 })
    expect(again.update.status.uuid).toBe(first.update.status.uuid)
    // RUNNING waits behind the unacknowledged STARTING.
    expect(f.updatesOf('sleep-1').every((s) => s.state === 'TASK_STARTING')).toBe(true)
    await f.acknowledge(first.update.status)
    const running = await f.waitUpdate('sleep-1', 'TASK_RUNNING')
    await f.acknowledge(running.update.status)
    const ackedAt = f.events.length
    // Three retry intervals later, neither update has come again.
    await new Promise((r) => setTimeout(r, 3500))
    const later = f.events.slice(ackedAt).filter((e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'sleep-1')
    expect(later).toEqual([])
    await teardown(f)
  })

  it('takes a batch of acknowledgements in one request where its SUBSCRIBE answer says so (a dromos extension), and refuses a bad batch by name', async () => {
    const f = await subscribe({ name: 'batched-acks', autoAck: false })
    expect(f.headers['dromos-batched-calls']).toBe('ACKNOWLEDGE')
    const offer = (await f.waitOffers()).offers.offers[0]
    const task = (id: string): Record<string, unknown> => ({ name: id, task_id: { value: id }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } })
    await f.launch(offer, [task('batch-1'), task('batch-2')])
    const starting = [await f.waitUpdate('batch-1', 'TASK_STARTING'), await f.waitUpdate('batch-2', 'TASK_STARTING')].map((e) => e.update.status)
    const batch = (calls: unknown[], streamId = f.streamId) =>
      fetch(`${cluster.masterUrl}/api/v1/scheduler`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId }, body: JSON.stringify(calls) })
    const ack = (s: { agent_id: unknown; task_id: unknown; uuid: string }, over: Record<string, unknown> = {}) => ({
      type: 'ACKNOWLEDGE',
      framework_id: { value: f.frameworkId },
      acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid, ...over },
    })

    // Refused whole before any is taken: empty, another call type, or a call without its body.
    for (const bad of [[], [ack(starting[0]!), { type: 'KILL', framework_id: { value: f.frameworkId }, kill: { task_id: { value: 'batch-1' } } }], [{ type: 'ACKNOWLEDGE', framework_id: { value: f.frameworkId } }]]) {
      const r = await batch(bad)
      expect(r.status).toBe(400)
      expect(await r.text()).toMatch(/^Failed to validate request/)
    }
    const wrongStream = await batch([ack(starting[0]!), ack(starting[1]!)], '00000000-0000-0000-0000-000000000000')
    expect(wrongStream.status).toBe(400)
    expect(await wrongStream.text()).toMatch(/^Call 0 of the batch: The stream ID/)
    const unknownAgent = await batch([ack(starting[0]!, { uuid: 'not-the-uuid' }), ack(starting[1]!, { agent_id: { value: 'no-such-agent' } })])
    expect(unknownAgent.status).toBe(400)
    expect(await unknownAgent.text()).toBe('Call 1 of the batch: Unknown agent no-such-agent')
    // None of those acknowledged anything: RUNNING still waits behind each STARTING.
    await new Promise((r) => setTimeout(r, 1500))
    expect(f.updatesOf('batch-1').concat(f.updatesOf('batch-2')).every((s) => s.state === 'TASK_STARTING')).toBe(true)

    // Both in one request: each task's next update follows.
    const taken = await batch(starting.map((s) => ack(s)))
    expect(taken.status).toBe(202)
    await f.waitUpdate('batch-1', 'TASK_RUNNING')
    await f.waitUpdate('batch-2', 'TASK_RUNNING')
    expect((await f.call({ type: 'REVIVE' })).status).toBe(202)
    await teardown(f)
  })

  it('answers RECONCILE truthfully for known and unknown tasks, explicit and implicit', async () => {
    const f = await subscribe({ name: 'reconcile', capabilities: ['PARTITION_AWARE'] })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [{ name: 'r', task_id: { value: 'rec-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } }])
    await f.waitUpdate('rec-1', 'TASK_RUNNING')
    let from = f.events.length
    await f.mustCall({
      type: 'RECONCILE',
      reconcile: { tasks: [{ task_id: { value: 'rec-1' } }, { task_id: { value: 'ghost' }, agent_id: offer.agent_id }, { task_id: { value: 'ghost-2' }, agent_id: { value: 'no-such-agent' } }] },
    })
    const known = await f.waitUpdate('rec-1', 'TASK_RUNNING', { from })
    expect(known.update.status.reason).toBe('REASON_RECONCILIATION')
    expect(known.update.status.uuid).toBeUndefined()
    await f.waitUpdate('ghost', 'TASK_GONE', { from })
    await f.waitUpdate('ghost-2', 'TASK_UNKNOWN', { from })
    from = f.events.length
    await f.mustCall({ type: 'RECONCILE', reconcile: { tasks: [] } })
    await f.waitUpdate('rec-1', 'TASK_RUNNING', { from })
    await teardown(f)
  })
})

describe('offers', () => {
  it('honours DECLINE refuse_seconds, and REVIVE brings the offer back at once', async () => {
    const f = await subscribe({ name: 'decline' })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.mustCall({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 3600 } } })
    const from = f.events.length
    // Ten allocation passes (100 ms each) later, the agent has not been offered again.
    await new Promise((r) => setTimeout(r, 1000))
    expect(f.events.slice(from).filter((e) => e.type === 'OFFERS')).toEqual([])
    await f.mustCall({ type: 'REVIVE', revive: {} })
    const back = await f.waitOffers({ from, timeoutMs: 5000 })
    expect(back.offers.offers[0].agent_id.value).toBe(offer.agent_id.value)
    // A short refusal expires by itself.
    const from2 = f.events.length
    await f.mustCall({ type: 'DECLINE', decline: { offer_ids: [back.offers.offers[0].id], filters: { refuse_seconds: 0.5 } } })
    await f.waitOffers({ from: from2, timeoutMs: 5000 })
    await teardown(f)
  })

  it('a refusal holds only while it covers what is free: resources freed later are offered at once (Mesos offer filters)', async () => {
    const f = await subscribe({ name: 'freed' })
    const offer = (await f.waitOffers()).offers.offers[0]
    // The task takes part of the agent; the rest is refused for an hour.
    await f.launch(offer, [{ name: 'short', task_id: { value: 'freed-1' }, resources: [scalar('cpus', 0.5), scalar('mem', 64)], command: { value: 'sleep 2' } }], { refuse_seconds: 3600 })
    await f.waitUpdate('freed-1', 'TASK_RUNNING')
    const from = f.events.length
    await new Promise((r) => setTimeout(r, 800))
    expect(f.events.slice(from).filter((e) => e.type === 'OFFERS')).toEqual([])
    // The task ends: what is free now is more than was refused, so it comes back within the hour.
    await f.waitUpdate('freed-1', 'TASK_FINISHED', { timeoutMs: 10_000 })
    const back = await f.waitOffers({ from, timeoutMs: 5000 })
    const cpus = back.offers.offers[0].resources.find((r: { name: string }) => r.name === 'cpus').scalar.value
    expect(cpus).toBeGreaterThan(offer.resources.find((r: { name: string }) => r.name === 'cpus').scalar.value - 0.5)
    // A negative refuse_seconds is the 5 s default, not no filter at all.
    const from2 = f.events.length
    await f.mustCall({ type: 'DECLINE', decline: { offer_ids: [back.offers.offers[0].id], filters: { refuse_seconds: -1 } } })
    await new Promise((r) => setTimeout(r, 1500))
    expect(f.events.slice(from2).filter((e) => e.type === 'OFFERS')).toEqual([])
    await teardown(f)
  })

  it('ignores DECLINE of offers that are gone or not its own (202), and declines the valid ones it names', async () => {
    const f = await subscribe({ name: 'stale-decline' })
    const first = (await f.waitOffers()).offers.offers[0]
    let from = f.events.length
    await f.mustCall({ type: 'DECLINE', decline: { offer_ids: [first.id], filters: { refuse_seconds: 0 } } })
    const second = (await f.waitOffers({ from, timeoutMs: 5000 })).offers.offers[0]
    expect(second.id.value).not.toBe(first.id.value)
    // As Master::decline: unknown offer ids are skipped, the call is not refused.
    const stale = await f.call({ type: 'DECLINE', decline: { offer_ids: [first.id, { value: 'no-such-offer' }, second.id], filters: { refuse_seconds: 3600 } } })
    expect(stale.status, stale.text).toBe(202)
    from = f.events.length
    await new Promise((r) => setTimeout(r, 1000))
    // The valid offer among them was declined, with its filter.
    expect(f.events.slice(from).filter((e) => e.type === 'OFFERS')).toEqual([])

    // Another framework's offer is not the decliner's to discard: it stays valid for its owner.
    const g = await subscribe({ name: 'offer-owner' })
    const owned = (await g.waitOffers()).offers.offers[0]
    const foreign = await f.call({ type: 'DECLINE', decline: { offer_ids: [owned.id] } })
    expect(foreign.status, foreign.text).toBe(202)
    await g.launch(owned, [{ name: 'o', task_id: { value: 'owned-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } }])
    await g.waitUpdate('owned-1', 'TASK_RUNNING')
    expect(g.updatesOf('owned-1').some((s) => s.state === 'TASK_LOST')).toBe(false)
    await teardown(g)
    await teardown(f)
  })

  it('SUPPRESS stops offers until REVIVE', async () => {
    const f = await subscribe({ name: 'suppress' })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.mustCall({ type: 'SUPPRESS', suppress: {} })
    await f.mustCall({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 0 } } })
    const from = f.events.length
    await new Promise((r) => setTimeout(r, 1000))
    expect(f.events.slice(from).filter((e) => e.type === 'OFFERS')).toEqual([])
    await f.mustCall({ type: 'REVIVE', revive: { roles: ['*'] } })
    await f.waitOffers({ from, timeoutMs: 5000 })
    await teardown(f)
  })

  it('shares an agent between two frameworks by DRF', async () => {
    const a = await subscribe({ name: 'drf-a' })
    const offer = (await a.waitOffers()).offers.offers[0]
    const b = await subscribe({ name: 'drf-b' })
    // a takes half the agent's cpus; what it does not use returns to the pool.
    await a.launch(offer, [{ name: 'half', task_id: { value: 'drf-a-1' }, resources: [scalar('cpus', 1), scalar('mem', 64)], command: { value: 'sleep 60' } }], { refuse_seconds: 0 })
    await a.waitUpdate('drf-a-1', 'TASK_RUNNING')
    // b, with the lower dominant share, is offered the rest.
    const toB = await b.waitOffers()
    const cpus = toB.offers.offers[0].resources.find((r: { name: string }) => r.name === 'cpus').scalar.value
    expect(cpus).toBeCloseTo(1, 3)
    await teardown(a)
    await teardown(b)
  })

  it('ACCEPT as Mesos: no offer ids drops the tasks, an invalid call still uses up its offers, LAUNCH_GROUP tasks fail, other operations are refused', async () => {
    const f = await subscribe({ name: 'accept-rules', capabilities: ['PARTITION_AWARE'] })
    const task = (id: string): Record<string, unknown> => ({ name: id, task_id: { value: id }, agent_id: { value: 'x' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } })
    await f.mustCall({ type: 'ACCEPT', accept: { offer_ids: [], operations: [{ type: 'LAUNCH', launch: { task_infos: [task('no-offer-1')] } }] } })
    const dropped = (await f.waitUpdate('no-offer-1', 'TASK_DROPPED')).update.status
    expect(dropped.reason).toBe('REASON_INVALID_OFFERS')
    expect(dropped.message).toMatch(/No offers specified/)

    // An offer named beside an invalid one is used up all the same: it is not valid afterwards.
    const offer = (await f.waitOffers()).offers.offers[0]
    const from = f.events.length
    await f.mustCall({ type: 'ACCEPT', accept: { offer_ids: [offer.id, { value: 'no-such-offer' }], operations: [{ type: 'LAUNCH', launch: { task_infos: [{ ...task('bad-offers-1'), agent_id: offer.agent_id }] } }], filters: { refuse_seconds: 0 } } })
    expect((await f.waitUpdate('bad-offers-1', 'TASK_DROPPED')).update.status.message).toMatch(/no-such-offer/)
    await f.mustCall({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: [{ ...task('reuse-1'), agent_id: offer.agent_id }] } }] } })
    expect((await f.waitUpdate('reuse-1', 'TASK_DROPPED')).update.status.message).toMatch(/no longer valid/)

    // Operations dromos does not carry out are refused before any offer is used.
    // The discarded offer's resources went back to the pool and are offered again.
    const next = (await f.waitOffers({ from, timeoutMs: 5000 })).offers.offers[0]
    expect(next.id.value).not.toBe(offer.id.value)
    const reserve = await f.call({ type: 'ACCEPT', accept: { offer_ids: [next.id], operations: [{ type: 'RESERVE', reserve: { resources: [] } }] } })
    expect(reserve.status).toBe(400)
    expect(reserve.text).toMatch(/RESERVE not supported/)
    // The offer is still valid: a LAUNCH_GROUP on it fails its tasks with a reason, and a LAUNCH beside it runs.
    await f.mustCall({
      type: 'ACCEPT',
      accept: {
        offer_ids: [next.id],
        operations: [
          { type: 'LAUNCH_GROUP', launch_group: { executor: {}, task_group: { tasks: [{ ...task('group-1'), agent_id: next.agent_id }] } } },
          { type: 'LAUNCH', launch: { task_infos: [{ ...task('after-group-1'), agent_id: next.agent_id }] } },
        ],
      },
    })
    expect((await f.waitUpdate('group-1', 'TASK_ERROR')).update.status.reason).toBe('REASON_TASK_GROUP_INVALID')
    await f.waitUpdate('after-group-1', 'TASK_RUNNING')
    await teardown(f)
  })

  it('validates health checks as Mesos: a negative duration fails that task with TASK_ERROR, 0 is accepted, the call is never refused', async () => {
    const f = await subscribe({ name: 'health-validation' })
    const offer = (await f.waitOffers()).offers.offers[0]
    const task = (id: string, health: Record<string, unknown>): Record<string, unknown> => ({
      name: id,
      task_id: { value: id },
      resources: [scalar('cpus', 0.1), scalar('mem', 32)],
      command: { value: 'sleep 60' },
      health_check: { type: 'COMMAND', command: { value: 'true' }, ...health },
    })
    await f.launch(offer, [task('hc-negative', { interval_seconds: -1 }), task('hc-zero', { interval_seconds: 0, delay_seconds: 0, grace_period_seconds: 0 })])
    const bad = (await f.waitUpdate('hc-negative', 'TASK_ERROR')).update.status
    expect(bad.reason).toBe('REASON_TASK_INVALID')
    expect(bad.message).toMatch(/Expecting 'interval_seconds' to be non-negative/)
    await f.waitUpdate('hc-zero', 'TASK_RUNNING')
    // Checked over and over without a busy loop, and reported healthy.
    await f.waitFor((e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'hc-zero' && e.update.status.healthy === true, { what: 'hc-zero healthy', timeoutMs: 15_000 })
    await teardown(f)
  })

  it('rejects a task that asks for more than the offer with TASK_ERROR, and a duplicate id too', async () => {
    const f = await subscribe({ name: 'invalid' })
    const offer = (await f.waitOffers()).offers.offers[0]
    await f.launch(offer, [
      { name: 'big', task_id: { value: 'big-1' }, resources: [scalar('cpus', 64), scalar('mem', 32)], command: { value: 'true' } },
      { name: 'nothing', task_id: { value: 'empty-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)] },
      { name: 'ok', task_id: { value: 'dup-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } },
      { name: 'dup', task_id: { value: 'dup-1' }, resources: [scalar('cpus', 0.1), scalar('mem', 32)], command: { value: 'sleep 60' } },
    ])
    const big = await f.waitUpdate('big-1', 'TASK_ERROR')
    expect(big.update.status.reason).toBe('REASON_TASK_INVALID')
    expect(big.update.status.message).toMatch(/more resources/)
    await f.waitUpdate('empty-1', 'TASK_ERROR')
    await f.waitUpdate('dup-1', 'TASK_ERROR')
    await f.waitUpdate('dup-1', 'TASK_RUNNING')
    await teardown(f)
  })
})

describe('bad input', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${cluster.masterUrl}/api/v1/scheduler`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body })

  it('refuses malformed, deeply nested, oversized and unauthenticated calls and keeps serving', async () => {
    const malformed = await post('{"type": "SUBSCRIBE",')
    expect(malformed.status).toBe(400)
    expect(await malformed.text()).toMatch(/JSON/)

    const nested = await post('['.repeat(100_000) + ']'.repeat(100_000))
    expect(nested.status).toBe(400)
    expect(await nested.text()).toMatch(/nested/)

    const big = await post(JSON.stringify({ type: 'SUBSCRIBE', pad: 'x'.repeat(5 * 1024 * 1024) }))
    expect(big.status).toBe(413)

    const unknownType = await post(JSON.stringify({ type: 'FLY' }))
    expect(unknownType.status).toBe(400)

    const f = await subscribe({ name: 'bad-input' })
    const noStream = await f.call({ type: 'REVIVE' }, { streamId: null })
    expect(noStream.status).toBe(400)
    expect(noStream.text).toMatch(/Mesos-Stream-Id/)
    const wrongStream = await f.call({ type: 'REVIVE' }, { streamId: '00000000-0000-0000-0000-000000000000' })
    expect(wrongStream.status).toBe(400)
    // As Mesos: a framework the master does not know is a bad request.
    const unknown = await post(JSON.stringify({ type: 'REVIVE', framework_id: { value: 'nope' } }), { 'Mesos-Stream-Id': f.streamId })
    expect(unknown.status).toBe(400)
    expect(await unknown.text()).toBe('Framework cannot be found')

    // The master and the framework's stream both survive.
    expect((await fetch(`${cluster.masterUrl}/health`)).status).toBe(200)
    expect((await f.call({ type: 'REVIVE' })).status).toBe(202)
    expect(f.closed).toBe(false)
    await teardown(f)
  })
})
