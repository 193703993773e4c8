// `dromos app|task|deployment|events`: a shell user's view of dromos apps, spoken to only
// through the Marathon v2 API client in api/. Progress goes to stderr, results to stdout, and
// the exit code says what happened (see EXIT_CODES_HELP).
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { InvalidArgumentError, Option } from 'commander'
import type { DeploymentResult, MarathonApp, MarathonClient, MarathonEventStream } from '../api/marathon-client.js'
import { MarathonApiError, MarathonUnreachableError, createMarathonClient } from '../api/marathon-client.js'
import { parseDurationMs } from '../core/duration.js'
import { createProgress, WATCH_EVENT_TYPES, watchDeployment } from './deployment-watch.js'
import {
  APP_HEADER,
  appCounts,
  appRows,
  appRuns,
  CliError,
  DEPLOYMENT_HEADER,
  deploymentRows,
  describeError,
  eventLine,
  EXIT_CODES_HELP,
  ExitCode,
  formatNumber,
  table,
  TASK_HEADER,
  taskRows,
  waitingReason,
} from './format.js'

export const DEFAULT_APPS_URL = 'http://127.0.0.1:8080'

// Boolean flags are absent (undefined) unless given.
interface WaitFlags {
  force?: boolean
  wait: boolean
  timeout: number
}
interface JsonFlag {
  json?: boolean
}

// ---- plumbing ----

const durationArg = (v: string): number => {
  try {
    return parseDurationMs(v)
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message)
  }
}
const countArg = (v: string): number => {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`)
  return n
}
const collect = (v: string, acc: string[]): string[] => [...acc, ...v.split(',').map((s) => s.trim()).filter(Boolean)]

function clientOf(cmd: Command): MarathonClient {
  const url = (cmd.optsWithGlobals() as { apps?: string }).apps ?? DEFAULT_APPS_URL
  return createMarathonClient({ baseUrl: url })
}

const normalizeId = (id: string): string => `/${id.split('/').filter(Boolean).join('/')}`

async function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return
  await new Promise<void>((resolve) => {
    stream.once('drain', resolve)
    stream.once('error', () => resolve())
  })
}

/** Runs an action: errors become their messages on stderr and their exit codes. */
function run<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
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

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`
const out = (text: string): void => void process.stdout.write(text)

/** Commander's own errors (unknown option, bad argument) are usage errors: exit 2. */
function usageExits(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0)
    process.exit(ExitCode.Usage)
  })
}

function waitOptions(cmd: Command): Command {
  return cmd
    .option('--force', `override a deployment that holds the app (it is cancelled)`)
    .option('--no-wait', 'print the deployment id and exit instead of following the deployment')
    .addOption(new Option('--timeout <duration>', 'how long to follow the deployment, e.g. 90s, 10m').argParser(durationArg).default(600_000, '10m'))
}

// ---- following a change ----

interface ChangeSpec extends Pick<WaitFlags, 'wait' | 'timeout'> {
  readonly verb: string
  readonly doneVerb: string
  readonly appIds: readonly string[]
  readonly removing?: readonly string[]
  /** Sends the change and says which deployment it started (and, when known then, which apps). */
  readonly send: (client: MarathonClient) => Promise<{ deploymentId: string; appIds?: readonly string[] }>
}

async function applyChange(cmd: Command, spec: ChangeSpec): Promise<number> {
  const client = clientOf(cmd)
  let events: MarathonEventStream | undefined
  if (spec.wait) {
    // Subscribe first: a small deployment can finish before the change's answer arrives.
    events = await client.openEvents({ eventTypes: WATCH_EVENT_TYPES }).catch((e: unknown) => {
      if (e instanceof MarathonUnreachableError) throw e
      return undefined
    })
  }
  try {
    const sent = await spec.send(client)
    if (!spec.wait) {
      out(`${sent.deploymentId}\n`)
      return ExitCode.Ok
    }
    const appIds = [...new Set([...spec.appIds, ...(sent.appIds ?? [])])]
    const progress = createProgress(process.stderr)
    const outcome = await watchDeployment({
      client,
      deploymentId: sent.deploymentId,
      appIds,
      removing: spec.removing ?? [],
      verb: spec.verb,
      timeoutMs: spec.timeout,
      events,
      progress,
    })
    if (!outcome.ok) {
      progress.finish(`dromos: ${outcome.reason}`)
      return ExitCode.Failed
    }
    // The watch may have learned more apps from the deployment (a group's, a rollback's).
    const summary = [...outcome.apps.keys()]
      .map((id) => {
        const app = outcome.apps.get(id)
        if (app) return `${id} ${appCounts(app)}`
        return spec.doneVerb === 'removed' ? id : `${id} removed`
      })
      .join('; ')
    progress.finish(`${spec.doneVerb}: ${summary || '(no apps)'} (deployment ${sent.deploymentId})`)
    return ExitCode.Ok
  } finally {
    events?.close()
  }
}

// ---- app deploy: reading and classifying the definition ----

type Definition =
  | { readonly kind: 'app'; readonly body: Record<string, unknown>; readonly id: string | undefined }
  | { readonly kind: 'apps'; readonly body: unknown[]; readonly ids: string[] }
  | { readonly kind: 'group'; readonly body: Record<string, unknown>; readonly id: string; readonly ids: string[] }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function readDefinitionText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (e) {
    throw new CliError(ExitCode.Usage, `cannot read ${file === '-' ? 'stdin' : file}: ${(e as Error).message}`)
  }
}

export function classifyDefinition(raw: unknown): Definition {
  if (Array.isArray(raw)) {
    return { kind: 'apps', body: raw, ids: raw.flatMap((a) => (isObject(a) && typeof a.id === 'string' ? [normalizeId(a.id)] : [])) }
  }
  if (!isObject(raw)) throw new CliError(ExitCode.Usage, 'expected a JSON object (an app or a group with "apps") or an array of apps')
  const looksLikeGroup = (Array.isArray(raw.apps) || Array.isArray(raw.groups)) && raw.cmd === undefined && raw.args === undefined && raw.container === undefined
  if (looksLikeGroup) {
    const id = typeof raw.id === 'string' ? normalizeId(raw.id) : '/'
    return { kind: 'group', body: raw, id, ids: groupAppIds(raw, id) }
  }
  return { kind: 'app', body: raw, id: typeof raw.id === 'string' && raw.id.trim() !== '' ? normalizeId(raw.id) : undefined }
}

/** App ids in a group definition; relative ids are relative to their group. */
function groupAppIds(group: Record<string, unknown>, groupId: string): string[] {
  const resolve = (id: string, base: string): string => (id.startsWith('/') ? normalizeId(id) : normalizeId(`${base}/${id}`))
  const ids: string[] = []
  for (const a of Array.isArray(group.apps) ? group.apps : []) if (isObject(a) && typeof a.id === 'string') ids.push(resolve(a.id, groupId))
  for (const g of Array.isArray(group.groups) ? group.groups : []) {
    if (isObject(g) && typeof g.id === 'string') ids.push(...groupAppIds(g, resolve(g.id, groupId)))
  }
  return ids
}

async function existingApp(client: MarathonClient, id: string): Promise<MarathonApp | undefined> {
  try {
    return await client.getApp(id)
  } catch (e) {
    if (e instanceof MarathonApiError && e.status === 404) return undefined
    throw e
  }
}

async function groupExists(client: MarathonClient, id: string): Promise<boolean> {
  try {
    await client.getGroup(id)
    return true
  } catch (e) {
    if (e instanceof MarathonApiError && e.status === 404) return false
    throw e
  }
}

/** Creates the app, or replaces the definition of the one there. */
async function sendDefinition(client: MarathonClient, { def, force }: { def: Definition; force: boolean }): Promise<{ deploymentId: string; appIds?: readonly string[] }> {
  const fromResult = (r: DeploymentResult) => ({ deploymentId: r.deploymentId })
  switch (def.kind) {
    case 'apps':
      return fromResult(await client.putApps(def.body, { force, partial: false }))
    case 'group':
      return fromResult((await groupExists(client, def.id)) ? await client.updateGroup(def.id, def.body, { force }) : await client.createGroup(def.body, { force }))
    case 'app': {
      if (def.id === undefined || !(await existingApp(client, def.id))) {
        try {
          const created = await client.createApp(def.body, { force })
          const deploymentId = created.deployments[0]?.id
          if (!deploymentId) throw new CliError(ExitCode.Failed, `dromos apps created ${created.id} but named no deployment`)
          return { deploymentId, appIds: [created.id] }
        } catch (e) {
          // Created by someone else since we looked: update it instead.
          if (!(e instanceof MarathonApiError && e.status === 409 && !e.locked && def.id !== undefined)) throw e
        }
      }
      return fromResult(await client.updateApp(def.id!, def.body, { force, partial: false }))
    }
  }
}

// ---- registration ----

/**
 * `--apps` sits on each top-level command, not on the program: commander lets program options
 * appear after the subcommand and would take `dromos lb --apps URL` away from `lb`.
 */
function topLevel(program: Command, name: string, description: string): Command {
  return usageExits(program.command(name).description(description))
    .configureHelp({ showGlobalOptions: true })
    .addOption(new Option('--apps <url>', 'URL of dromos apps (the Marathon v2 API)').env('DROMOS_APPS_URL').default(DEFAULT_APPS_URL))
    .addHelpText('after', EXIT_CODES_HELP)
}

export function registerAppCommands(program: Command): void {
  // ---- app ----
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
Done means the deployment is over and every app has its instances running (and healthy).
`,
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (file: string, o: WaitFlags, cmd: Command) => {
        const text = readDefinitionText(file)
        let raw: unknown
        try {
          raw = JSON.parse(text)
        } catch (e) {
          throw new CliError(ExitCode.Usage, `${file === '-' ? 'stdin' : file} is not valid JSON: ${(e as Error).message}`)
        }
        const def = classifyDefinition(raw)
        const appIds = def.kind === 'app' ? (def.id ? [def.id] : []) : def.ids
        return applyChange(cmd, {
          wait: o.wait,
          timeout: o.timeout,
          verb: 'deploying',
          doneVerb: 'deployed',
          appIds,
          send: (client) => sendDefinition(client, { def, force: o.force === true }),
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
        const apps = await client.listApps()
        if (o.json) return out(json(apps))
        const deployments = apps.some((a) => a.deployments.length > 0) ? await client.listDeployments() : []
        out(table(APP_HEADER, appRows(apps, deployments)))
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
          ['INSTANCES', appCounts(a)],
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
        if (tasks.length > 0) out('\n' + table(TASK_HEADER, taskRows(tasks, Date.now())))
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

  // ---- task ----
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
        out(o.json ? json(tasks) : table(TASK_HEADER, taskRows(tasks, Date.now())))
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

  // ---- deployment ----
  const deployment = topLevel(program, 'deployment', 'list deployments in progress, roll them back or stop them')

  deployment
    .command('list')
    .description('list deployments in progress')
    .option('--json', 'print the deployments as JSON')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const ds = await clientOf(cmd).listDeployments()
        out(o.json ? json(ds) : table(DEPLOYMENT_HEADER, deploymentRows(ds)))
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

  // ---- events ----
  topLevel(program, 'events', 'follow the event stream of dromos apps (/v2/events): one line per event, or JSON lines')
    .option('--type <type>', 'only events of this type (repeatable, or comma-separated), e.g. status_update_event', collect, [] as string[])
    .option('--json', 'print each event as one line of JSON')
    .action(
      run(async (o: JsonFlag & { type: string[] }, cmd: Command) => {
        const stream = await clientOf(cmd).openEvents({ eventTypes: o.type })
        let stopped = false
        const stop = (): void => {
          stopped = true
          stream.close()
        }
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
        // A closed pipe (`| head`) ends the command quietly.
        process.stdout.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'EPIPE') stop()
        })
        for await (const e of stream) {
          if (stopped) break
          process.stdout.write(o.json ? `${JSON.stringify(e)}\n` : `${eventLine(e)}\n`)
        }
        if (stopped) return ExitCode.Ok
        throw new CliError(ExitCode.Failed, 'the event stream was closed by dromos apps')
      }),
    )

  program.addHelpText('after', `\nThe app, task, deployment and events commands talk to dromos apps at --apps <url> (env DROMOS_APPS_URL, default ${DEFAULT_APPS_URL}).\n${EXIT_CODES_HELP}`)
}
