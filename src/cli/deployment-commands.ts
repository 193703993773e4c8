// `dromos deployment list|rollback`: deployments in progress, rolled back or stopped.
import type { Command } from 'commander'
import { Option } from 'commander'
import { applyChange } from './apply-change.js'
import type { JsonFlag, WaitFlags } from './command-plumbing.js'
import { clientOf, durationArg, json, out, run, tableColours, topLevel } from './command-plumbing.js'
import { CliError, DEPLOYMENT_HEADER, deploymentRows, EXIT_CODES_HELP, ExitCode, table } from './format.js'

export function registerDeploymentCommands(program: Command): void {
  const deployment = topLevel(program, 'deployment', 'list deployments in progress, roll them back or stop them')

  deployment
    .command('list')
    .description('list deployments in progress')
    .option('--json', 'print the deployments as JSON')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const ds = await clientOf(cmd).listDeployments()
        out(o.json ? json(ds) : table(DEPLOYMENT_HEADER, deploymentRows(ds), tableColours()))
      }),
    )

  deployment
    .command('rollback')
    .description('cancel a deployment and roll its apps back to where they were (a new deployment, followed); with --force just stop it where it is')
    .argument('<id>', 'deployment id (dromos deployment list)')
    .option('--force', 'stop the deployment without rolling back')
    .option('--no-wait', 'print the rollback deployment id instead of following it')
    .addOption(new Option('--timeout <duration>', 'how long to follow the rollback').argParser(durationArg).default(600_000, '10m'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (id: string, o: WaitFlags, cmd: Command) => {
        const client = clientOf(cmd)
        const current = (await client.listDeployments()).find((d) => d.id === id)
        if (!current) throw new CliError(ExitCode.NotFound, `deployment ${id} does not exist (it may have finished)`)
        if (o.force) {
          await client.cancelDeployment(id, { force: true })
          process.stderr.write(`stopped deployment ${id} without rollback; ${current.affectedApps.join(', ')} stay${current.affectedApps.length === 1 ? 's' : ''} as they are\n`)
          return ExitCode.Ok
        }
        return applyChange(cmd, {
          wait: o.wait,
          timeout: o.timeout,
          verb: 'rolling back',
          doneVerb: 'rolled back',
          appIds: current.affectedApps,
          send: async (c) => {
            const r = await c.cancelDeployment(id)
            if (!r) throw new CliError(ExitCode.Failed, `dromos apps stopped deployment ${id} but started no rollback`)
            return { deploymentId: r.deploymentId }
          },
        })
      }),
    )
}
