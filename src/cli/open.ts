// `dromos open`: the web UI in a browser. It checks first that dromos apps serves the UI, then
// hands its URL to $BROWSER (as git and others do), else to xdg-open; with --print, or when
// no opener is found, it prints the URL.
import { spawn } from 'node:child_process'
import type { Command } from 'commander'
import { clientOf, out, run, topLevel } from './command-plumbing.js'
import { ExitCode } from './format.js'
import { MarathonUnreachableError } from '../api/marathon-client.js'

function launch(command: string, url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true, shell: false })
    child.once('error', () => resolve(false))
    child.once('spawn', () => {
      child.unref()
      resolve(true)
    })
  })
}

export function registerOpenCommand(program: Command): void {
  topLevel(program, 'open', 'open the web UI of dromos apps in a browser ($BROWSER, else xdg-open)')
    .option('--print', 'print the UI\'s URL instead of opening it')
    .action(
      run(async (o: { print?: boolean }, cmd: Command) => {
        const base = clientOf(cmd).baseUrl
        const url = `${base}/`
        let res: Response
        try {
          res = await fetch(url, { headers: { Accept: 'text/html' }, signal: AbortSignal.timeout(10_000) })
          await res.arrayBuffer()
        } catch (e) {
          throw new MarathonUnreachableError(base, (e as Error).message)
        }
        if (!res.ok || !String(res.headers.get('content-type')).includes('text/html')) {
          process.stderr.write(`dromos: ${url} serves no web UI (${res.status}); build it with make build\n`)
          return ExitCode.Failed
        }
        if (o.print) {
          out(`${url}\n`)
          return ExitCode.Ok
        }
        for (const opener of [process.env.BROWSER, 'xdg-open'].filter((b): b is string => !!b)) {
          if (await launch(opener, url)) {
            process.stderr.write(`dromos: opened ${url} with ${opener}\n`)
            return ExitCode.Ok
          }
        }
        process.stderr.write('dromos: no browser to open (set BROWSER); the UI is at:\n')
        out(`${url}\n`)
        return ExitCode.Ok
      }),
    )
}
