// `dromos task list|kill`: the tasks of apps, and killing them (replaced, or scaled away).
import type { Command } from 'commander'
import { Option } from 'commander'
import { applyChange } from './apply-change.js'
import type { JsonFlag, WaitFlags } from './command-plumbing.js'
import { clientOf, durationArg, json, out, run, tableColours, topLevel } from './command-plumbing.js'
import { CliError, EXIT_CODES_HELP, ExitCode, table, TASK_HEADER, taskRows } from './format.js'

export function registerTaskCommands(program: Command): void {
  const task = topLevel(program, 'task', 'list and kill the tasks of apps')

  task
    .command('list')
    .description('list tasks: id, app, host, ports, state, health, when staged')
    .option('--app <id>', 'only the tasks of this app')
    .option('--json', 'print the tasks as JSON')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (o: JsonFlag & { app?: string }, cmd: Command) => {
        const tasks = await clientOf(cmd).listTasks(o.app !== undefined ? { appId: o.app } : {})
        out(o.json ? json(tasks) : table(TASK_HEADER, taskRows(tasks, Date.now()), tableColours()))
      }),
    )

  task
    .command('kill')
    .description('kill tasks; without --scale their app starts replacements, with --scale it shrinks (a deployment, followed)')
    .argument('<taskIds...>', 'task ids (dromos task list)')
    .option('--scale', 'lower the app\'s instances by the tasks killed instead of replacing them')
    .option('--wipe', 'forget the tasks at once (and their reservations)')
    .option('--force', 'override a deployment that holds the app (with --scale)')
    .option('--no-wait', 'with --scale: print the deployment id instead of following it')
    .addOption(new Option('--timeout <duration>', 'how long to follow the deployment (with --scale)').argParser(durationArg).default(600_000, '10m'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (taskIds: string[], o: WaitFlags & { scale?: boolean; wipe?: boolean }, cmd: Command) => {
        const client = clientOf(cmd)
        const known = await client.listTasks()
        const unknown = taskIds.filter((id) => !known.some((t) => t.id === id))
        if (unknown.length > 0) throw new CliError(ExitCode.NotFound, `no such task${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (nothing was killed)`)
        const appIds = [...new Set(known.filter((t) => taskIds.includes(t.id)).map((t) => t.appId))]
        if (!o.scale) {
          const r = await client.killTasks(taskIds, { wipe: o.wipe, force: o.force })
          const killed = r.tasks.length > 0 ? r.tasks.map((t) => t.id) : taskIds
          out(killed.map((id) => `killed ${id}\n`).join(''))
          return ExitCode.Ok
        }
        return applyChange(cmd, {
          wait: o.wait,
          timeout: o.timeout,
          verb: 'scaling',
          doneVerb: 'scaled',
          appIds,
          send: async (c) => {
            const r = await c.killTasks(taskIds, { scale: true, wipe: o.wipe, force: o.force })
            if (!r.deployment) throw new CliError(ExitCode.Failed, 'dromos apps killed the tasks but started no deployment to scale down')
            return { deploymentId: r.deployment.deploymentId }
          },
        })
      }),
    )
}
