// `dromos events`: the event stream of dromos apps, one line (or JSON line) per event.
import type { Command } from 'commander'
import type { JsonFlag } from './command-plumbing.js'
import { clientOf, collect, run, topLevel } from './command-plumbing.js'
import { followEvents } from './events-follow.js'
import { CliError, eventLine, ExitCode } from './format.js'

export function registerEventsCommand(program: Command): void {
  topLevel(program, 'events', 'follow the event stream of dromos apps (/v2/events): one line per event, or JSON lines')
    .option('--type <type>', 'only events of this type (repeatable, or comma-separated), e.g. status_update_event', collect, [] as string[])
    .option('--json', 'print each event as one line of JSON')
    .option('--no-reconnect', 'exit (1) when the stream breaks instead of reopening it')
    .addHelpText('after', '\nWhen dromos apps goes away (a restart, a failover) the stream is reopened with backoff, 0.5s up to 10s,\nsaying so on stderr; events sent while it was away are not replayed.')
    .action(
      run(async (o: JsonFlag & { type: string[]; reconnect: boolean }, cmd: Command) => {
        const controller = new AbortController()
        const stop = (): void => controller.abort()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
        // A closed pipe (`| head`) ends the command quietly.
        process.stdout.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'EPIPE') stop()
        })
        const broken = await followEvents({
          client: clientOf(cmd),
          eventTypes: o.type,
          reconnect: o.reconnect,
          signal: controller.signal,
          onEvent: (e) => void process.stdout.write(o.json ? `${JSON.stringify(e)}\n` : `${eventLine(e)}\n`),
          warn: (line) => void process.stderr.write(`${line}\n`),
        })
        if (broken === undefined) return ExitCode.Ok
        throw new CliError(ExitCode.Failed, broken)
      }),
    )
}
