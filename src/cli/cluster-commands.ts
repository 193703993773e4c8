// `dromos status|agent list|framework list|queue|logs|group`: the cluster as a shell user sees
// it, read from the master's v0 JSON (and the agents' sandboxes) and from dromos apps, only
// through the typed clients in api/.
import type { Command } from 'commander'
import { InvalidArgumentError, Option } from 'commander'
import type { MarathonClient } from '../api/marathon-client.js'
import type { MasterState, MesosClient, V0Task } from '../api/mesos-client.js'
import { agentUrlFromPid, createMesosClient, sandboxOf } from '../api/mesos-client.js'
import { clientOf, json, out, run, tableColours, topLevel, usageExits } from './command-plumbing.js'
import {
  AGENT_HEADER,
  agentRows,
  flattenGroups,
  FRAMEWORK_HEADER,
  frameworkRows,
  GROUP_HEADER,
  groupRows,
  keyValues,
  QUEUE_HEADER,
  queueRows,
  statusRows,
} from './cluster-format.js'
import { APP_HEADER, appRows, CliError, describeError, EXIT_CODES_HELP, ExitCode, table } from './format.js'

export const DEFAULT_MASTER_URL = 'http://127.0.0.1:5050'

interface JsonFlag {
  json?: boolean
}

function masterOption(): Option {
  return new Option('--master <url>', 'URL of the master (its /master/state)').env('DROMOS_MASTER').default(DEFAULT_MASTER_URL)
}

function mesosOf(cmd: Command): MesosClient {
  const url = (cmd.optsWithGlobals() as { master?: string }).master ?? DEFAULT_MASTER_URL
  return createMesosClient({ masterUrl: url })
}

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR'])

/** A task of the master's state by its id, or by a prefix only it has. */
export function findTask(state: MasterState, idOrPrefix: string): V0Task {
  const all = state.frameworks.flatMap((f) => [...f.tasks, ...f.unreachable_tasks, ...f.completed_tasks])
  const exact = all.find((t) => t.id === idOrPrefix)
  if (exact) return exact
  const matches = [...new Map(all.filter((t) => t.id.startsWith(idOrPrefix)).map((t) => [t.id, t])).values()]
  if (matches.length === 1) return matches[0]!
  if (matches.length === 0) throw new CliError(ExitCode.NotFound, `no task ${idOrPrefix} is known to the master (dromos task list shows the tasks of apps)`)
  throw new CliError(ExitCode.Usage, `${idOrPrefix} names ${matches.length} tasks; give more of the id`, matches.slice(0, 10).map((t) => t.id))
}

interface LogsFlags {
  follow?: boolean
  stderr?: boolean
  tail?: number
  interval: number
}

/** How far back `--tail` looks for its lines: a long line may make fewer show. */
const TAIL_WINDOW = 1024 * 1024

/** The last `lines` lines of a text (a last line without its newline counts). */
export function lastLines(text: string, lines: number): string {
  if (lines <= 0 || text === '') return ''
  const parts = text.split('\n')
  const trailing = parts.at(-1) === '' ? parts.pop() : undefined
  return parts.slice(-lines).join('\n') + (trailing === undefined ? '' : '\n')
}

const CHUNK = 64 * 1024

async function printLogs(mesos: MesosClient, taskArg: string, o: LogsFlags, signal: AbortSignal): Promise<number> {
  const state = await mesos.masterState()
  const task = findTask(state, taskArg)
  const agent = state.slaves.find((a) => a.id === task.slave_id)
  const agentUrl = agent ? agentUrlFromPid(agent.pid) : undefined
  if (!agentUrl) throw new CliError(ExitCode.NotFound, `the agent of task ${task.id} (${task.slave_id || 'none'}) is not active on the master`)
  const sandbox = sandboxOf(await mesos.agentState(agentUrl), task.id)
  if (!sandbox?.directory) throw new CliError(ExitCode.NotFound, `agent ${agent!.hostname} (${agentUrl}) has no sandbox for task ${task.id}`)
  const path = `${sandbox.directory}/${o.stderr ? 'stderr' : 'stdout'}`
  let offset = 0
  let ended = TERMINAL.has(sandbox.state)
  if (o.tail !== undefined) {
    const size = (await mesos.readFile(agentUrl, { path, offset: -1 })).offset
    const from = Math.max(0, size - TAIL_WINDOW)
    let text = ''
    for (let at = from; at < size; ) {
      const { data } = await mesos.readFile(agentUrl, { path, offset: at, length: Math.min(CHUNK, size - at) })
      const read = Buffer.byteLength(data)
      if (read === 0) break
      text += data
      at += read
    }
    // A window that starts mid-line drops that partial line.
    if (from > 0) text = text.slice(text.indexOf('\n') + 1)
    process.stdout.write(lastLines(text, o.tail))
    // Without -f that is all: what the task wrote since the size was read is not the tail.
    if (!o.follow) return ExitCode.Ok
    offset = size
  }
  for (;;) {
    // The size first: the read answers text, so the bytes it covered are counted from the size.
    const size = (await mesos.readFile(agentUrl, { path, offset: -1 })).offset
    while (offset < size && !signal.aborted) {
      const length = Math.min(CHUNK, size - offset)
      const chunk = await mesos.readFile(agentUrl, { path, offset, length })
      if (!process.stdout.write(chunk.data)) await new Promise((r) => process.stdout.once('drain', r))
      // The text may stop short of a character the read cut: the next read starts at it.
      const read = Buffer.byteLength(chunk.data)
      if (read === 0) break
      offset += read
    }
    if (!o.follow || signal.aborted || (ended && offset >= size)) return ExitCode.Ok
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.interval)
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
    })
    // One more read after the task ends: what it wrote last.
    if (!ended) ended = TERMINAL.has(sandboxOf(await mesos.agentState(agentUrl), task.id)?.state ?? 'TASK_GONE')
  }
}

export function registerClusterCommands(program: Command, opts: { agent: Command }): void {
  // ---- status ----
  topLevel(program, 'status', 'a summary of the cluster: the master, agents (used/total), frameworks, apps and deployments')
    .addOption(masterOption())
    .option('--json', 'print {master, apps, deployments, queue} as JSON')
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const mesos = mesosOf(cmd)
        const apps = clientOf(cmd)
        const errorOf = (e: unknown): { error: string } => ({ error: (describeError(e).lines[0] ?? '').replace(/^dromos: /, '') })
        const [master, fromApps] = await Promise.all([
          mesos.masterState().then((state) => ({ state }), errorOf),
          Promise.all([apps.listApps(), apps.listDeployments(), apps.queue()]).then(([a, deployments, queue]) => ({ apps: a, deployments, queue }), errorOf),
        ])
        if (o.json) out(json({ master: 'error' in master ? master : master.state, ...('error' in fromApps ? { apps: fromApps } : fromApps) }))
        else out(keyValues(statusRows({ masterUrl: mesos.masterUrl, master, appsUrl: apps.baseUrl, apps: fromApps, nowMs: Date.now() })))
        // What could not be read is said in its line; the exit code says it too.
        return 'error' in master || 'error' in fromApps ? ExitCode.Unreachable : ExitCode.Ok
      }),
    )

  // ---- agent list (beside `dromos agent`, which runs one) ----
  usageExits(opts.agent.command('list'))
    .description('list the agents the master knows: address, cpus/mem/disk used of total, tasks, attributes')
    .option('--json', 'print the agents as JSON (the slaves of /master/state)')
    .addHelpText('after', `\nThe master is --master <url> of \`dromos agent\` (env DROMOS_MASTER, default ${DEFAULT_MASTER_URL}).\n${EXIT_CODES_HELP}`)
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const state = await mesosOf(cmd).masterState()
        out(o.json ? json(state.slaves) : table(AGENT_HEADER, agentRows(state, Date.now()), tableColours()))
      }),
    )

  // ---- framework list ----
  const framework = usageExits(program.command('framework').description('the frameworks registered with the master'))
    .configureHelp({ showGlobalOptions: true })
    .addOption(masterOption())
    .addHelpText('after', EXIT_CODES_HELP)
  framework
    .command('list')
    .description('list frameworks: name, whether connected, roles, tasks, resources used')
    .option('--json', 'print the frameworks as JSON (of /master/state)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const state = await mesosOf(cmd).masterState()
        out(o.json ? json([...state.frameworks, ...state.completed_frameworks]) : table(FRAMEWORK_HEADER, frameworkRows(state, Date.now()), tableColours()))
      }),
    )

  // ---- queue ----
  topLevel(program, 'queue', 'apps waiting for launches (/v2/queue), and why: what the last offers lacked, or a back-off')
    .option('--json', 'print the queue as JSON')
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const queue = await clientOf(cmd).queue()
        out(o.json ? json(queue) : table(QUEUE_HEADER, queueRows(queue, Date.now()), tableColours()))
      }),
    )

  // ---- logs ----
  usageExits(program.command('logs').description("print a task's stdout (or stderr) from its sandbox on its agent; -f follows it"))
    .argument('<task>', 'task id, or a prefix only it has (dromos task list)')
    .addOption(masterOption())
    .option('-f, --follow', 'keep printing what the task writes, until it ends or Ctrl-C')
    .option('--stderr', 'the task\'s stderr instead of its stdout')
    .option('--tail <lines>', 'only the last lines (then, with -f, what follows)', (v: string) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`)
      return n
    })
    .addOption(
      new Option('--interval <ms>', 'with -f: how often to look for more, in ms')
        .argParser((v: string) => {
          const n = Number(v)
          if (!Number.isInteger(n) || n < 50) throw new InvalidArgumentError(`'${v}' is not a whole number of ms, at least 50`)
          return n
        })
        .default(1000),
    )
    .addHelpText('after', '\nThe task is found in the master\'s /master/state, its sandbox in its agent\'s /state, and the file is\nread through the agent\'s /files/read, as the Mesos CLI does.')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (taskArg: string, o: LogsFlags, cmd: Command) => {
        const controller = new AbortController()
        process.once('SIGINT', () => controller.abort())
        process.stdout.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'EPIPE') controller.abort()
        })
        return printLogs(mesosOf(cmd), taskArg, o, controller.signal)
      }),
    )

  // ---- group ----
  const group = topLevel(program, 'group', 'list and show app groups (/v2/groups)')
  group
    .command('list')
    .description('list every group: apps in it (and below), subgroups, instances, dependencies')
    .option('--json', 'print the root group as JSON (GET /v2/groups)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (o: JsonFlag, cmd: Command) => {
        const root = await clientOf(cmd).getGroup('/')
        out(o.json ? json(root) : table(GROUP_HEADER, groupRows(root), tableColours()))
      }),
    )
  group
    .command('show')
    .description('show a group: its apps with their counts, and its subgroups')
    .argument('<id>', 'group id, e.g. /prod')
    .option('--json', 'print the group as JSON (GET /v2/groups/{id})')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (id: string, o: JsonFlag, cmd: Command) => {
        const client: MarathonClient = clientOf(cmd)
        const g = await client.getGroup(id)
        if (o.json) return out(json(g))
        const inGroup = new Set(flattenGroups(g).flatMap((x) => x.apps.map((a) => a.id)))
        const apps = (await client.listApps({ embed: ['apps.tasks', 'apps.counts', 'apps.deployments'] })).filter((a) => inGroup.has(a.id))
        const deployments = apps.some((a) => a.deployments.length > 0) ? await client.listDeployments() : []
        out(keyValues([['ID', g.id], ['VERSION', g.version ?? '-'], ['DEPENDENCIES', (g.dependencies ?? []).join(', ') || '-']]))
        if (apps.length > 0) out('\n' + table(APP_HEADER, appRows(apps, deployments), tableColours()))
        if (g.groups.length > 0) out('\n' + table(GROUP_HEADER, groupRows(g).slice(1)))
      }),
    )
}
