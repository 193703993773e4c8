// `dromos app|task|deployment|events`: a shell user's view of dromos apps, spoken to only
// through the Marathon v2 API client in api/. Progress goes to stderr, results to stdout, and
// the exit code says what happened (see EXIT_CODES_HELP). This file holds `dromos app`; the
// others are in task-commands.ts, deployment-commands.ts and events-command.ts.
import type { Command } from 'commander'
import { classifyDefinition, locateInvalid, normalizeId, readDefinitionText, sendDefinition } from './app-definition.js'
import { applyChange } from './apply-change.js'
import type { JsonFlag, WaitFlags } from './command-plumbing.js'
import { clientOf, countArg, DEFAULT_APPS_URL, json, out, run, tableColours, topLevel, waitOptions } from './command-plumbing.js'
import { registerDeploymentCommands } from './deployment-commands.js'
import { registerEventsCommand } from './events-command.js'
import { jsonSyntaxErrors } from './json-source.js'
import { registerTaskCommands } from './task-commands.js'
import {
  APP_HEADER,
  appRows,
  appRuns,
  CliError,
  EXIT_CODES_HELP,
  ExitCode,
  formatNumber,
  rolloutCounts,
  table,
  TASK_HEADER,
  taskRows,
  waitingReason,
} from './format.js'

export { classifyDefinition } from './app-definition.js'
export { clientOf, DEFAULT_APPS_URL, json, out, run, tableColours, topLevel, usageExits } from './command-plumbing.js'

export function registerAppCommands(program: Command): void {
  const app = topLevel(program, 'app', 'deploy, inspect, scale, restart and remove apps (Marathon app definitions)')

  waitOptions(app.command('deploy').description('create or update apps from a Marathon JSON file and follow the deployment').argument('<file>', 'app JSON file, or - for stdin'))
    .addHelpText(
      'after',
      `
FILE holds one of:
  an app          {"id": "/web", ...}: created (POST /v2/apps), or, when /web exists, its
                  definition is replaced (PUT /v2/apps/web): fields left out take their defaults
  an array of apps  [{...}, {...}]: one deployment for all (PUT /v2/apps)
  a group         {"id": "/prod", "apps": [...], "groups": [...]}: POST /v2/groups, or PUT when
                  it exists (apps of the group not in the file are removed)

Progress goes to stderr, one line per change (redrawn in place on a terminal):
  deploying /web: step 1/2 ScaleApplication /web: 2/3 running, 1/3 healthy
While tasks of an older definition are left, the new ones are counted against the target:
  deploying /web: step 1/1 RestartApplication /web: new 1/3 running, 0/3 healthy; old 3 draining
A syntax error, and each error dromos apps finds, is printed as FILE:LINE:COLUMN: message.
Done means the deployment is over and every app has its instances running (and healthy).
`,
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (file: string, o: WaitFlags, cmd: Command) => {
        const text = readDefinitionText(file)
        const name = file === '-' ? '<stdin>' : file
        let raw: unknown
        try {
          raw = JSON.parse(text)
        } catch (e) {
          const lines = jsonSyntaxErrors(text, name)
          throw new CliError(ExitCode.Usage, `${name} is not valid JSON`, lines.length > 0 ? lines : [`${name}: ${(e as Error).message}`])
        }
        const def = classifyDefinition(raw)
        const appIds = def.kind === 'app' ? (def.id ? [def.id] : []) : def.ids
        return applyChange(cmd, {
          wait: o.wait,
          timeout: o.timeout,
          verb: 'deploying',
          doneVerb: 'deployed',
          appIds,
          send: (client) => sendDefinition(client, { def, force: o.force === true }).catch((e: unknown) => Promise.reject(locateInvalid(e, { text, name }))),
        })
      }),
    )

  app
    .command('list')
    .description('list apps: running/target instances, health, resources, what they run, deployments')
    .option('--json', 'print the apps as JSON')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const client = clientOf(cmd)
        if (o.json) return out(json(await client.listApps()))
        // The tasks tell old from new in the middle of a rollout (see rolloutCounts).
        const apps = await client.listApps({ embed: ['apps.tasks', 'apps.counts', 'apps.deployments'] })
        const deployments = apps.some((a) => a.deployments.length > 0) ? await client.listDeployments() : []
        out(table(APP_HEADER, appRows(apps, deployments), tableColours()))
      }),
    )

  app
    .command('show')
    .description('show an app with its tasks and last task failure')
    .argument('<id>', 'app id, e.g. /web')
    .option('--json', 'print the app as JSON (GET /v2/apps/{id})')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (id: string, o: JsonFlag, cmd: Command) => {
        const a = await clientOf(cmd).getApp(id)
        if (o.json) return out(json(a))
        const failure = a.lastTaskFailure as { state?: string; message?: string; timestamp?: string; taskId?: string } | undefined
        const rows: Array<[string, string]> = [
          ['ID', a.id],
          ['VERSION', a.version ?? '-'],
          ['INSTANCES', rolloutCounts(a)],
          ['CPUS', formatNumber(a.cpus)],
          ['MEM', formatNumber(a.mem)],
          ['DISK', formatNumber(a.disk)],
          ['RUNS', appRuns(a)],
          ['HEALTH CHECKS', a.healthChecks.map((h) => String(h.protocol ?? '?')).join(', ') || '-'],
          ['DEPLOYMENTS', a.deployments.map((d) => d.id).join(', ') || '-'],
        ]
        if (failure) rows.push(['LAST FAILURE', `${failure.state ?? ''} ${failure.taskId ?? ''} ${failure.timestamp ?? ''} ${failure.message ?? ''}`.replace(/\s+/g, ' ').trim()])
        const waiting = (await clientOf(cmd).queue()).find((q) => q.app.id === a.id)
        if (waiting) rows.push(['WAITING', waitingReason(waiting)])
        const width = Math.max(...rows.map(([k]) => k.length))
        out(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n')
        const tasks = a.tasks ?? []
        if (tasks.length > 0) out('\n' + table(TASK_HEADER, taskRows(tasks, Date.now()), tableColours()))
      }),
    )

  waitOptions(app.command('scale').description('set the number of instances and follow the deployment').argument('<id>', 'app id').argument('<instances>', 'instances', countArg))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (id: string, instances: number, o: WaitFlags, cmd: Command) =>
        applyChange(cmd, {
          wait: o.wait,
          timeout: o.timeout,
          verb: 'scaling',
          doneVerb: 'scaled',
          appIds: [normalizeId(id)],
          send: async (client) => {
            // PUT would create a missing app from {instances}; scaling means the app exists.
            await client.getApp(id)
            return { deploymentId: (await client.scaleApp(id, instances, { force: o.force })).deploymentId }
          },
        }),
      ),
    )

  waitOptions(app.command('restart').description('replace every instance (rolling, as the upgrade strategy says) and follow the deployment').argument('<id>', 'app id'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (id: string, o: WaitFlags, cmd: Command) =>
        applyChange(cmd, {
          wait: o.wait,
          timeout: o.timeout,
          verb: 'restarting',
          doneVerb: 'restarted',
          appIds: [normalizeId(id)],
          send: async (client) => ({ deploymentId: (await client.restartApp(id, { force: o.force })).deploymentId }),
        }),
      ),
    )

  waitOptions(app.command('rm').alias('remove').description('remove an app and its tasks, and follow the deployment').argument('<id>', 'app id'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (id: string, o: WaitFlags, cmd: Command) =>
        applyChange(cmd, {
          wait: o.wait,
          timeout: o.timeout,
          verb: 'removing',
          doneVerb: 'removed',
          appIds: [normalizeId(id)],
          removing: [normalizeId(id)],
          send: async (client) => ({ deploymentId: (await client.deleteApp(id, { force: o.force })).deploymentId }),
        }),
      ),
    )

  app
    .command('versions')
    .description('list the stored versions of an app, newest first')
    .argument('<id>', 'app id')
    .option('--json', 'print the versions as a JSON array')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (id: string, o: JsonFlag, cmd: Command) => {
        const versions = [...(await clientOf(cmd).appVersions(id))].sort().reverse()
        out(o.json ? json(versions) : versions.map((v) => `${v}\n`).join(''))
      }),
    )

  registerTaskCommands(program)
  registerDeploymentCommands(program)
  registerEventsCommand(program)

  program.addHelpText(
    'after',
    `\nThe app, task, deployment, events, queue, group and status commands talk to dromos apps at --apps <url> (env DROMOS_APPS, default ${DEFAULT_APPS_URL});\nstatus, agent list, framework list and logs read the master at --master <url> (env DROMOS_MASTER, default http://127.0.0.1:5050).\nTables are coloured on a terminal only, never with NO_COLOR set; --json on list and show commands is for scripts.\nShell completion: source <(dromos completion bash)\n${EXIT_CODES_HELP}`,
  )
}
