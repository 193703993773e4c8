#!/usr/bin/env node
// A complete Mesos v1 HTTP framework in one file, with no dependencies: it subscribes,
// launches one task on the first offer that fits, prints every status update, acknowledges
// them, and exits when the task ends (Ctrl-C kills the task and tears the framework down).
//
//   node examples/hello-framework.mjs                         # a shell command
//   node examples/hello-framework.mjs --docker busybox:latest --cmd 'echo hi from docker'
//   node examples/hello-framework.mjs --master http://127.0.0.1:5050 --cmd 'sleep 30'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: {
    master: { type: 'string', default: 'http://127.0.0.1:5050' },
    cmd: { type: 'string', default: 'echo "hello from $MESOS_TASK_ID on $HOST"; sleep 2' },
    docker: { type: 'string' },
    cpus: { type: 'string', default: '0.1' },
    mem: { type: 'string', default: '32' },
  },
})
const master = args.master.startsWith('http') ? args.master : `http://${args.master}`
const api = `${master}/api/v1/scheduler`
const taskId = `hello-${Date.now()}`
let frameworkId
let streamId
let launched = false

async function call(body) {
  const r = await fetch(api, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId },
    body: JSON.stringify({ framework_id: { value: frameworkId }, ...body }),
  })
  if (r.status !== 202) console.error(`${body.type} answered ${r.status}: ${await r.text()}`)
}

async function onEvent(event) {
  switch (event.type) {
    case 'SUBSCRIBED':
      frameworkId = event.subscribed.framework_id.value
      console.log(`subscribed as framework ${frameworkId}`)
      break
    case 'OFFERS':
      for (const offer of event.offers.offers) {
        if (launched) {
          await call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 60 } } })
          continue
        }
        launched = true
        console.log(`launching ${taskId} on ${offer.hostname}`)
        const task = {
          name: 'hello',
          task_id: { value: taskId },
          agent_id: offer.agent_id,
          resources: [
            { name: 'cpus', type: 'SCALAR', scalar: { value: Number(args.cpus) } },
            { name: 'mem', type: 'SCALAR', scalar: { value: Number(args.mem) } },
          ],
          command: { shell: true, value: args.cmd },
          ...(args.docker ? { container: { type: 'DOCKER', docker: { image: args.docker, network: 'HOST' } } } : {}),
        }
        await call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: [task] } }] } })
      }
      break
    case 'UPDATE': {
      const s = event.update.status
      console.log(`${s.task_id.value}: ${s.state}${s.message ? ` (${s.message})` : ''}`)
      if (s.uuid) await call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } })
      if (['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED'].includes(s.state)) {
        await call({ type: 'TEARDOWN' })
        process.exit(s.state === 'TASK_FINISHED' ? 0 : 1)
      }
      break
    }
    case 'ERROR':
      console.error(`error: ${event.error.message}`)
      process.exit(1)
  }
}

process.on('SIGINT', async () => {
  if (frameworkId) await call({ type: 'TEARDOWN' })
  process.exit(130)
})

const res = await fetch(api, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
  body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'hello-framework', roles: ['*'], capabilities: [{ type: 'MULTI_ROLE' }] } } }),
})
if (res.status !== 200) {
  console.error(`SUBSCRIBE answered ${res.status}: ${await res.text()}`)
  process.exit(1)
}
streamId = res.headers.get('mesos-stream-id')

// RecordIO: "<length>\n<json>" records, possibly split across chunks.
let buffer = Buffer.alloc(0)
for await (const chunk of res.body) {
  buffer = Buffer.concat([buffer, chunk])
  for (;;) {
    const nl = buffer.indexOf(10)
    if (nl < 0) break
    const length = Number(buffer.subarray(0, nl).toString())
    if (buffer.length < nl + 1 + length) break
    const record = buffer.subarray(nl + 1, nl + 1 + length).toString()
    buffer = buffer.subarray(nl + 1 + length)
    await onEvent(JSON.parse(record))
  }
}
