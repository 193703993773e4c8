// How a process task's command is started and how its end is known: the argv Mesos would
// exec, and the small shell around it that joins the task's cgroups, waits for the command
// and writes its exit status to the task's run directory, where a restarted agent reads it.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { TaskInfo } from '../../api/mesos.js'
import type { TaskCgroups } from './process-cgroups.js'
import { signalName } from './shared.js'

export interface CommandLine {
  /** What to exec, looked up on PATH when it has no slash. */
  readonly file: string
  readonly argv: readonly string[]
}

export interface SpawnPlan {
  readonly file: string
  readonly args: string[]
  readonly argv0: string
}

/**
 * The argv Mesos would exec: `sh -c value`, or the executable `value` with `arguments` as its
 * whole argv (argv[0] included, as with execvp(value, arguments)).
 */
export function commandArgv(command: NonNullable<TaskInfo['command']>): CommandLine {
  const value = command.value ?? ''
  if (command.shell) return { file: '/bin/sh', argv: ['/bin/sh', '-c', value] }
  return { file: value, argv: [command.arguments[0] ?? value, ...command.arguments.slice(1)] }
}

/**
 * Builds what to spawn: a small shell that joins the task's cgroups with its own pid (so the
 * command starts inside its limits), starts the command, waits for it, and writes its exit
 * status (128+n for signal n) to exitFile before ending the same way. Signals to the task's
 * process group reach the command; the shell only waits them out. bash's `exec -a` keeps the
 * argv[0] Mesos promises, and its subshell gives the command default SIGINT and SIGQUIT; where
 * there is no bash, argv[0] becomes the executable's path.
 */
export function wrap(cmd: CommandLine, cgroups: TaskCgroups, exitFile: string): SpawnPlan {
  const procsFiles = [cgroups.memory, cgroups.cpu].filter((d): d is string => d !== undefined).map((d) => path.join(d, 'cgroup.procs'))
  const [argv0 = cmd.file, ...rest] = cmd.argv
  const join = procsFiles.length > 0 ? `${procsFiles.map((f) => `echo $$ > ${shellQuote(f)}`).join(' && ')} || { echo 'dromos: cannot join the task cgroup' >&2; exit 125; }; ` : ''
  const bash = existsSync('/bin/bash')
  // Signals the wrapper waits out; the command gets them at their defaults.
  const sigs = 'HUP INT QUIT TERM USR1 USR2 ALRM PIPE TSTP TTIN TTOU'
  const start = bash ? `( trap - ${sigs}; exec -a "$0" "$@" ) &` : `( trap - ${sigs}; exec "$@" ) &`
  // $1 is the exit status file; after shift, "$@" is the command. wait returns early when a
  // signal arrives; once the command is gone, a last wait gives its own status. A status of
  // 128+n is taken as death by signal n, and the wrapper ends the same way (not for signals
  // that stop or are ignored by default, and without a core dump).
  const script =
    `x=$1; shift; ${join}trap : ${sigs}; ${start} c=$!; ` +
    `while kill -0 "$c" 2>/dev/null; do wait "$c"; done; wait "$c"; rc=$?; ` +
    `echo "$rc" > "$x"; ` +
    `if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then s=$((rc - 128)); ` +
    `case $s in 17|18|19|20|21|22|23|28) ;; *) trap - ${sigs}; ulimit -c 0; kill -"$s" $$ ;; esac; fi; exit "$rc"`
  if (bash) return { file: '/bin/bash', args: ['-c', script, argv0, exitFile, cmd.file, ...rest], argv0: 'bash' }
  return { file: '/bin/sh', args: ['-c', script, cmd.file, exitFile, cmd.file, ...rest], argv0: 'sh' }
}

export const exitStatusFile = (runDir: string): string => path.join(runDir, 'exit_status')

/** The wrapper of a task is alive when its pid runs a command line that names the task's exit file. */
export function wrapperAlive(pid: number, runDir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    // A zombie has an empty command line: gone as far as the task is concerned.
    return cmdline.includes(exitStatusFile(runDir))
  } catch {
    return false
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** Signals that stop a process or are ignored by default: a 128+n status is not a death by them. */
const NOT_FATAL = new Set([17, 18, 19, 20, 21, 22, 23, 28])

/** How a recovered task ended, from what its wrapper wrote (as the wrapper itself ends); killed by SIGKILL when it wrote nothing. */
export function readExitStatus(runDir: string): { code: number | null; signal: NodeJS.Signals | null } {
  let text: string
  try {
    text = readFileSync(exitStatusFile(runDir), 'utf8').trim()
  } catch {
    text = ''
  }
  const rc = Number(text)
  // Only SIGKILL stops the wrapper before it writes: the group was killed.
  if (text === '' || !Number.isInteger(rc)) return { code: null, signal: 'SIGKILL' }
  if (rc > 128 && rc < 160 && !NOT_FATAL.has(rc - 128)) {
    const name = signalName(rc - 128)
    if (name) return { code: null, signal: name }
  }
  return { code: rc, signal: null }
}
