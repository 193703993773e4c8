// What every `dromos` client command is made of: its --apps option and help, argument parsers,
// the client it talks through, and running its action (output, errors, exit codes).
import type { Command } from 'commander'
import { InvalidArgumentError, Option } from 'commander'
import type { MarathonClient } from '../api/marathon-client.js'
import { createMarathonClient } from '../api/marathon-client.js'
import { parseDurationMs } from '../core/duration.js'
import type { Colours } from './colour.js'
import { coloursFor } from './colour.js'
import { describeError, EXIT_CODES_HELP, ExitCode } from './format.js'

export const DEFAULT_APPS_URL = 'http://127.0.0.1:8080'

// Boolean flags are absent (undefined) unless given.
export interface WaitFlags {
  force?: boolean
  wait: boolean
  timeout: number
}
export interface JsonFlag {
  json?: boolean
}

export const durationArg = (v: string): number => {
  try {
    return parseDurationMs(v)
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message)
  }
}
export const countArg = (v: string): number => {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`)
  return n
}
export const collect = (v: string, acc: string[]): string[] => [...acc, ...v.split(',').map((s) => s.trim()).filter(Boolean)]

export function clientOf(cmd: Command): MarathonClient {
  const url = (cmd.optsWithGlobals() as { apps?: string }).apps ?? DEFAULT_APPS_URL
  return createMarathonClient({ baseUrl: url })
}

async function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return
  await new Promise<void>((resolve) => {
    stream.once('drain', resolve)
    stream.once('error', () => resolve())
  })
}

/** Runs an action: errors become their messages on stderr and their exit codes. */
export function run<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code: number
    try {
      code = (await fn(...args)) ?? ExitCode.Ok
    } catch (e) {
      const d = describeError(e)
      process.stderr.write(d.lines.join('\n') + '\n')
      code = d.exitCode
    }
    await flushed(process.stdout)
    await flushed(process.stderr)
    // Exit now: a keep-alive socket or a closed stream's timer must not hold the shell.
    process.exit(code)
  }
}

/** Colour for tables on a terminal only (and never with NO_COLOR). */
export const tableColours = (): Colours => coloursFor(process.stdout, process.env)

export const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`
export const out = (text: string): void => void process.stdout.write(text)

/** Commander's own errors (unknown option, bad argument) are usage errors: exit 2. */
export function usageExits(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0)
    process.exit(ExitCode.Usage)
  })
}

export function waitOptions(cmd: Command): Command {
  return cmd
    .option('--force', `override a deployment that holds the app (it is cancelled)`)
    .option('--no-wait', 'print the deployment id and exit instead of following the deployment')
    .addOption(new Option('--timeout <duration>', 'how long to follow the deployment, e.g. 90s, 10m').argParser(durationArg).default(600_000, '10m'))
}

/**
 * `--apps` sits on each top-level command, not on the program: commander lets program options
 * appear after the subcommand and would take `dromos lb --apps URL` away from `lb`.
 */
export function topLevel(program: Command, name: string, description: string): Command {
  return usageExits(program.command(name).description(description))
    .configureHelp({ showGlobalOptions: true })
    // DROMOS_APPS, and DROMOS_APPS_URL as it was first called.
    .addOption(new Option('--apps <url>', 'URL of dromos apps (the Marathon v2 API), or its instances in HA: h1:8080,h2:8081').env('DROMOS_APPS').default(process.env.DROMOS_APPS_URL || DEFAULT_APPS_URL))
    .addHelpText('after', EXIT_CODES_HELP)
}
