// `dromos lb zdd`: a blue/green deployment driven from the command line (src/lb/zdd-run.ts).
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { createMarathonClient } from '../api/marathon-client.js'
import { systemClock } from '../core/clock.js'
import type { ZddDefinition } from '../lb/zdd.js'
import { ZddError, ZddExit } from '../lb/zdd.js'
import { runZdd, ZddOutcome } from '../lb/zdd-run.js'
import type { ZddFlags } from './flags.js'

/** zdd.py's query_yes_no, yes by default. */
async function askYesNo(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  try {
    for (;;) {
      const answer = (await rl.question(`${question} [Y/n] `)).trim().toLowerCase()
      if (answer === '' || ['y', 'ye', 'yes'].includes(answer)) return true
      if (['n', 'no'].includes(answer)) return false
      process.stdout.write("Please respond with 'yes' or 'no' (or 'y' or 'n').\n")
    }
  } finally {
    rl.close()
  }
}

/**
 * `dromos lb zdd`: exits 0 once the new colour has taken over (or with --dry-run), 1 when it was
 * reverted, declined or left for an operator, and zdd.py's statuses on errors (2, 3 for flags
 * that do not go together, 4 for a definition that lacks a label or port).
 */
export async function runZddCommand(file: string | undefined, flags: ZddFlags): Promise<void> {
  const path = flags.json ?? file
  if (path === undefined) {
    process.stderr.write('dromos: give the app definition, as an argument or with --json\n')
    process.exitCode = ZddExit.invalidFlags
    return
  }
  const definition = JSON.parse(readFileSync(path, 'utf8')) as ZddDefinition
  // zdd.py asks unless --force; where nobody can answer, dromos goes ahead as with --force.
  const ask = !flags.force && process.stdin.isTTY === true
  try {
    const result = await runZdd({
      client: createMarathonClient({ baseUrl: flags.marathon ?? flags.apps }),
      lbUrls: (flags.marathonLb ?? flags.lb).split(',').map((u) => u.trim()).filter(Boolean),
      definition,
      clock: systemClock,
      say: (line) => void process.stdout.write(`${line}\n`),
      stepDelayMs: flags.stepDelay,
      maxWaitMs: flags.maxWait,
      initialInstances: flags.initialInstances,
      newInstances: flags.newInstances,
      pickUp: { resume: flags.resume, completeCur: flags.completeCur, completePrev: flags.completePrev },
      dryRun: flags.dryRun,
      preKillHook: flags.preKillHook,
      confirm: ask ? askYesNo : () => Promise.resolve(true),
    })
    if (result.outcome === ZddOutcome.reverted) process.stderr.write(`dromos: the deployment was reverted; ${result.appId} serves on\n`)
    if (result.outcome === ZddOutcome.declined) process.stderr.write('dromos: stopped where asked\n')
    if (result.outcome === ZddOutcome.reverted || result.outcome === ZddOutcome.declined || result.outcome === ZddOutcome.stopped) process.exitCode = ZddExit.declinedOrReverted
  } catch (e) {
    if (!(e instanceof ZddError)) throw e
    process.stderr.write(`dromos: ${e.message}\n`)
    process.exitCode = e.exitStatus
  }
}
