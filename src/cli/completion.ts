// `dromos completion bash`: a bash completion script written from the command tree itself, so
// that it knows every subcommand and option there is, and never goes stale.
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import type { MarathonClient, MarathonGroup } from '../api/marathon-client.js'
import { createMarathonClient } from '../api/marathon-client.js'
import { DEFAULT_APPS_URL } from './command-plumbing.js'

interface Node {
  /** "app deploy": the words after `dromos` */
  readonly path: string
  readonly subcommands: string[]
  readonly options: string[]
  /** Options that take a value (the next word is not a subcommand). */
  readonly valued: string[]
  /** Whether the command takes a file argument. */
  readonly files: boolean
  /** What its first argument names, when the cluster knows the ones there are. */
  readonly ids?: IdKind
}

export type IdKind = 'app' | 'task' | 'deployment' | 'group'
const ID_KINDS: readonly IdKind[] = ['app', 'task', 'deployment', 'group']

/** `app show <id>` names an app, `task kill <taskIds...>` tasks, `logs <task>` a task. */
function idKindOf(cmd: Command): IdKind | undefined {
  const first = cmd.registeredArguments[0]?.name()
  if (first === 'task' || first === 'taskIds') return 'task'
  const parent = cmd.parent?.name()
  if (first === 'id' && ID_KINDS.includes(parent as IdKind)) return parent as IdKind
  return undefined
}

/** The hidden command the completion script asks for ids. */
const COMPLETE_IDS = '__complete'

export function commandTree(program: Command): Node[] {
  const nodes: Node[] = []
  const walk = (cmd: Command, path: string[]): void => {
    const ancestors: Command[] = []
    for (let c: Command | null = cmd; c; c = c.parent) ancestors.push(c)
    const options = ancestors.flatMap((c) => c.options).filter((o) => !o.hidden)
    const longs = (o: (typeof options)[number]): string[] => [o.long, o.short].filter((f): f is string => typeof f === 'string')
    const ids = idKindOf(cmd)
    const visible = cmd.commands.filter((c) => c.name() !== COMPLETE_IDS)
    nodes.push({
      path: path.join(' '),
      subcommands: visible.flatMap((c) => [c.name(), ...c.aliases()]),
      options: [...new Set([...options.flatMap(longs), '--help'])],
      valued: [...new Set(options.filter((o) => o.required || o.optional).flatMap(longs))],
      files: cmd.registeredArguments.some((a) => a.name() === 'file'),
      ...(ids ? { ids } : {}),
    })
    for (const c of visible) walk(c, [...path, c.name()])
  }
  walk(program, [])
  return nodes
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/** `self`: the dromos that printed the script, asked for the ids the cluster has. */
export function bashCompletion(program: Command, self: string): string {
  const name = program.name()
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  const cases = (pick: (n: Node) => string): string =>
    commandTree(program)
      .map((n) => `    ${quote(n.path)}) echo ${quote(pick(n))} ;;`)
      .join('\n')
  return `# bash completion for ${name}; load it with:  source <(${name} completion bash)
${fn}_words() {
  case "$1" in
${cases((n) => n.subcommands.join(' '))}
  esac
}
${fn}_options() {
  case "$1" in
${cases((n) => n.options.join(' '))}
  esac
}
${fn}_valued() {
  case "$1" in
${cases((n) => n.valued.join(' '))}
  esac
}
${fn}_files() {
  case "$1" in
${commandTree(program)
  .filter((n) => n.files)
  .map((n) => `    ${quote(n.path)}) return 0 ;;`)
  .join('\n')}
  esac
  return 1
}
${fn}_ids() {
  case "$1" in
${commandTree(program)
  .filter((n) => n.ids)
  .map((n) => `    ${quote(n.path)}) echo ${n.ids} ;;`)
  .join('\n')}
  esac
}
${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} path="" word i skip=0 apps="" kind
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if ((skip)); then skip=0; continue; fi
    if [[ $word == -* ]]; then
      [[ $word == --apps ]] && apps=\${COMP_WORDS[i+1]}
      [[ $word != *=* && " $(${fn}_valued "$path") " == *" $word "* ]] && skip=1
      continue
    fi
    if [[ " $(${fn}_words "$path") " == *" $word "* ]]; then path="\${path:+$path }$word"; fi
  done
  if [[ $prev == -* && " $(${fn}_valued "$path") " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${fn}_words "$path")" -- "$cur"))
    if ${fn}_files "$path"; then COMPREPLY+=($(compgen -f -- "$cur")); fi
    kind=$(${fn}_ids "$path")
    if [[ -n $kind ]]; then COMPREPLY+=($(compgen -W "$(${quote(self)} ${COMPLETE_IDS} "$kind" \${apps:+--apps "$apps"} 2>/dev/null)" -- "$cur")); fi
  fi
}
complete -F ${fn} ${name}
`
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(dromos completion bash)')
    .argument('<shell>', 'the shell; bash is the one there is', (v: string) => {
      if (v !== 'bash') throw new InvalidArgumentError(`no completion for '${v}' (there is: bash)`)
      return v
    })
    .exitOverride((err) => process.exit(err.code === 'commander.helpDisplayed' ? 0 : 2))
    .action(() => {
      process.stdout.write(bashCompletion(program, process.argv[1] ? resolve(process.argv[1]) : program.name()))
    })
  // What the script asks: the ids of one kind that dromos apps knows now, one a line. Quiet
  // and quick: a completion must never print an error into the command line.
  program
    .command(COMPLETE_IDS, { hidden: true })
    .argument('<kind>')
    .option('--apps <url>', 'dromos apps', process.env.DROMOS_APPS || process.env.DROMOS_APPS_URL || DEFAULT_APPS_URL)
    .action(async (kind: string, o: { apps: string }) => {
      try {
        const ids = await idsOf(createMarathonClient({ baseUrl: o.apps, requestTimeoutMs: 2000 }), kind)
        process.stdout.write(ids.map((id) => `${id}\n`).join(''))
      } catch {
        // nothing to offer
      }
    })
}

async function idsOf(client: MarathonClient, kind: string): Promise<string[]> {
  switch (kind) {
    case 'app':
      return (await client.listApps()).map((a) => a.id)
    case 'task':
      return (await client.listTasks()).map((t) => t.id)
    case 'deployment':
      return (await client.listDeployments()).map((d) => d.id)
    case 'group': {
      const ids: string[] = []
      const walk = (g: MarathonGroup): void => {
        ids.push(g.id)
        for (const sub of g.groups ?? []) walk(sub)
      }
      walk(await client.getGroup('/'))
      return ids
    }
    default:
      return []
  }
}
