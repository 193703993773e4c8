// The dns's answer to one query, in process: decoding the query, finding the records, shuffling
// them and encoding the reply with compressed names, cut to the transport (src/dns/answer.ts),
// against dns-packet's encode of the same records as they stand (no shuffle, no compression, no
// cut), the baseline, in the same run. Rounds alternate between the two; the table prints the
// median time an answer, the reply's bytes and the ratio to the baseline.
//
//   npx tsc -p tsconfig.json && node dist/bench/dns-answer.js [--tasks 1000] [--answers 200] [--rounds 7]
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import * as packet from 'dns-packet'
import { answer } from '../src/dns/answer.js'
import type { Transport } from '../src/dns/answer.js'
import { buildRecords } from '../src/dns/records.js'
import { appOf } from '../src/dns/testing.js'
import { exitWith, fmt, median, pad } from './lib.js'

const { values: argv } = parseArgs({ options: { tasks: { type: 'string', default: '1000' }, answers: { type: 'string', default: '200' }, rounds: { type: 'string', default: '7' } } })
const TASKS = Number(argv.tasks)
const ANSWERS = Number(argv.answers)
const ROUNDS = Number(argv.rounds)

async function main(): Promise<void> {
  const { app, hostAddresses } = appOf('/bench/web', TASKS)
  const records = buildRecords([app], { framework: 'marathon', domain: 'mesos', masterIp: '127.0.0.1', hostAddresses })
  const opts = { domain: 'mesos', ttl: 60, serial: 1 }
  const cases: Array<{ name: string; qname: string; type: 'SRV' | 'A'; transport: Transport }> = [
    { name: `SRV of ${TASKS} tasks, TCP`, qname: '_web.bench._tcp.marathon.mesos', type: 'SRV', transport: 'tcp' },
    { name: `SRV of ${TASKS} tasks, UDP (cut to 512 bytes)`, qname: '_web.bench._tcp.marathon.mesos', type: 'SRV', transport: 'udp' },
    { name: `A of ${TASKS} tasks, TCP`, qname: 'web.bench.marathon.mesos', type: 'A', transport: 'tcp' },
    { name: 'A of leader.mesos, UDP', qname: 'leader.mesos', type: 'A', transport: 'udp' },
  ]
  process.stdout.write(`dns-answer: ${TASKS} tasks, ${ANSWERS} answers a round, ${ROUNDS} rounds\n\n`)
  process.stdout.write(`${'query'.padEnd(40)}${pad('dromos', 12)}${pad('bytes', 9)}${pad('dns-packet', 12)}${pad('bytes', 9)}${pad('ratio', 8)}\n`)
  for (const c of cases) {
    const query = packet.encode({ id: 1, type: 'query', flags: packet.RECURSION_DESIRED, questions: [{ name: c.qname, type: c.type }] })
    // The baseline: the same records, written by dns-packet as they are.
    const baseline = (): Buffer => {
      const q = packet.decode(query)
      const srv = records.srv.get(c.qname) ?? []
      const answers: packet.Answer[] =
        c.type === 'SRV'
          ? srv.map((r) => ({ type: 'SRV', name: c.qname, ttl: 60, data: { priority: 0, weight: 0, port: r.port, target: r.target } }))
          : (records.a.get(c.qname) ?? []).map((ip) => ({ type: 'A', name: c.qname, ttl: 60, data: ip }))
      const additionals: packet.Answer[] = c.type === 'SRV' ? srv.map((r) => ({ type: 'A', name: r.target, ttl: 60, data: records.a.get(r.target)![0]! })) : []
      return packet.encode({ id: q.id ?? 0, type: 'response', flags: packet.AUTHORITATIVE_ANSWER, questions: q.questions ?? [], answers, additionals })
    }
    const ours = (): Buffer => answer(query, records, opts, c.transport)!
    const sizes = { ours: ours().length, baseline: baseline().length }
    const times: { ours: number[]; baseline: number[] } = { ours: [], baseline: [] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [which, fn] of (round % 2 === 0 ? [['ours', ours], ['baseline', baseline]] : [['baseline', baseline], ['ours', ours]]) as Array<['ours' | 'baseline', () => Buffer]>) {
        const t0 = performance.now()
        for (let i = 0; i < ANSWERS; i++) fn()
        times[which].push((performance.now() - t0) / ANSWERS)
      }
    }
    const [o, b] = [median(times.ours), median(times.baseline)]
    process.stdout.write(`${c.name.padEnd(40)}${pad(`${fmt(o, 3)} ms`, 12)}${pad(String(sizes.ours), 9)}${pad(`${fmt(b, 3)} ms`, 12)}${pad(String(sizes.baseline), 9)}${pad(fmt(o / b, 2), 8)}\n`)
  }
  await Promise.resolve()
}

exitWith('dns-answer', main())
