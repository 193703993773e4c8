// Runs tasks without a DOCKER container as plain host processes, the way the Mesos
// containerizer does with its posix launcher and cgroups isolators:
//
// - each task is its own session and process group, so kill() reaches its children;
// - memory and CPU are limited with cgroup v1 when the hierarchy is writable. The child
//   joins its cgroups itself, before it execs the command, so not one instruction of the
//   task runs unlimited;
// - stdout and stderr go to files in the sandbox, where the sandbox browser finds them;
// - a small shell waits for the command and writes its exit status to the task's run
//   directory, so that an agent restarted meanwhile re-attaches to the task (it outlives the
//   agent in its own session) and still learns how it ended, as Mesos does with checkpointing.
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { access, chown, lchown, mkdir, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises'
import { constants as osConstants, tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import type { Logger } from 'pino'
import type { TaskInfo } from '../../api/mesos.js'
import type { FetcherSettings } from '../fetcher.js'
import { FetchFailedError, fetchUris } from '../fetcher.js'
import type { ContainerEvent, Containerizer, LaunchRequest, RecoveredContainer } from './types.js'
import { LaunchFailedError } from './types.js'
import { cgroupUsage } from './usage.js'

export interface ProcessContainerizerOptions {
  readonly log?: Logger
  /** Where the cgroup v1 controllers are mounted (memory/, cpu/ below it). */
  readonly cgroupRoot?: string
  /** Grace used by destroyAll(). */
  readonly destroyGraceMs?: number
  /**
   * Where each task's run files go (what recover() needs, and the exit status its wrapper
   * writes). The agent gives a directory of its work dir, so that they outlive a restart.
   */
  readonly runDir?: string
  /** The agent's fetcher cache. */
  readonly fetcher?: FetcherSettings
}

/** What recover() reads back about a task: written at launch, removed when the task is gone. */
interface RunMeta {
  readonly agentId: string
  readonly frameworkId: string
  readonly taskId: string
  readonly pid: number
  readonly cgroups: TaskCgroups
}

const CFS_PERIOD_US = 100_000
const DEFAULT_PATH = '/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin'
/** How often a running task's memory cgroup is read for OOM kills. */
const OOM_POLL_MS = 250
/** How often a task recovered after a restart (not our child: no exit event) is looked for. */
const RECOVERED_POLL_MS = 250

interface RunAs {
  readonly uid: number
  readonly gid: number
  readonly name: string
}

/** The cgroup directories one task was given; either may be missing if that controller isn't usable. */
interface TaskCgroups {
  readonly memory?: string
  readonly cpu?: string
}

interface RunningTask {
  readonly taskId: string
  readonly frameworkId: string
  /** The task's run files (meta.json, exit_status). */
  readonly runDir: string
  child?: ChildProcess
  /** The wrapper's pid, also for tasks recovered after a restart (which have no child). */
  pid?: number
  cgroups: TaskCgroups
  /** Set by kill(): the exit that follows is reported as killed. */
  killRequested: boolean
  /** The shortest grace asked for by a kill() that came before there was a process to signal. */
  pendingKillGraceMs?: number
  /** Set when the memory cgroup's OOM killer fired and we destroyed the rest of the task. */
  oomMessage?: string
  /** Set once the task's wrapper is gone. */
  exited?: boolean
  readonly done: Promise<void>
  markDone(): void
  readonly timers: Set<NodeJS.Timeout>
}

export function createProcessContainerizer(opts: ProcessContainerizerOptions = {}): Containerizer {
  const log = opts.log?.child({ component: 'process-containerizer' })
  const cgroupRoot = opts.cgroupRoot ?? '/sys/fs/cgroup'
  const destroyGraceMs = opts.destroyGraceMs ?? 2_000
  const runRoot = opts.runDir ?? path.join(tmpdir(), `dromos-process-${process.getuid?.() ?? 0}`)
  const tasks = new Map<string, RunningTask>()

  async function launch(req: LaunchRequest, onEvent: (e: ContainerEvent) => void): Promise<void> {
    const taskId = req.taskInfo.task_id.value
    const command = req.taskInfo.command
    if (!command?.value) throw new LaunchFailedError(`Task '${taskId}' has no command to run`, 'REASON_TASK_INVALID')
    if (tasks.has(taskId)) throw new LaunchFailedError(`Task '${taskId}' is already running on this agent`, 'REASON_TASK_INVALID')

    let markDone!: () => void
    const done = new Promise<void>((resolve) => (markDone = resolve))
    const runDir = path.join(runRoot, cgroupName(taskId))
    const task: RunningTask = { taskId, frameworkId: req.frameworkId, runDir, cgroups: {}, killRequested: false, done, markDone, timers: new Set() }
    tasks.set(taskId, task)
    const tlog = log?.child({ taskId })

    // Everything before spawn can fail; each failure undoes what was set up and reports a launch failure.
    const abandon = async (err: LaunchFailedError): Promise<never> => {
      tasks.delete(taskId)
      await removeCgroups(task.cgroups, tlog)
      await rm(runDir, { recursive: true, force: true }).catch(() => undefined)
      markDone()
      throw err
    }

    let runAs: RunAs | undefined
    try {
      runAs = command.user ? await lookupUser(command.user) : undefined
    } catch (err) {
      return abandon(new LaunchFailedError(errorMessage(err), 'REASON_CONTAINER_LAUNCH_FAILED'))
    }

    try {
      await fetchUris(command.uris, req.sandboxDir, { ...opts.fetcher, ...(tlog ? { log: tlog } : {}) })
    } catch (err) {
      const message = err instanceof FetchFailedError ? err.message : `Failed to fetch URIs: ${errorMessage(err)}`
      return abandon(new LaunchFailedError(message, 'REASON_CONTAINER_LAUNCH_FAILED'))
    }
    if (task.killRequested) return abandon(new LaunchFailedError(`Task '${taskId}' was killed before it started`, 'REASON_TASK_KILLED_DURING_LAUNCH'))

    // Mesos hands the sandbox to the task's user, so the task can write next to its files.
    if (runAs) {
      try {
        await chownTree(req.sandboxDir, runAs)
      } catch (err) {
        return abandon(new LaunchFailedError(`Cannot give the sandbox to user '${runAs.name}': ${errorMessage(err)}`))
      }
    }

    try {
      // A leftover of an earlier task with this id must not pass for this one's exit status.
      await rm(runDir, { recursive: true, force: true })
      // The agent's own directory (the task may pass through it, not change it): the task's
      // user owns only the exit status file its wrapper writes.
      await mkdir(runRoot, { recursive: true, mode: 0o711 })
      await mkdir(runDir, { mode: 0o711 })
      await writeFile(exitStatusFile(runDir), '', { mode: 0o644 })
      if (runAs) await chown(exitStatusFile(runDir), runAs.uid, runAs.gid)
    } catch (err) {
      return abandon(new LaunchFailedError(`Cannot create the task's run directory ${runDir}: ${errorMessage(err)}`))
    }

    task.cgroups = await createCgroups({ cgroupRoot, taskId, cpus: req.cpus, memMb: req.memMb, ...(runAs ? { runAs } : {}) }, tlog)

    const env: Record<string, string> = { ...req.env }
    env.PATH ??= process.env.PATH ?? DEFAULT_PATH
    if (runAs) {
      env.USER ??= runAs.name
      env.LOGNAME ??= runAs.name
    }

    const commandLine = commandArgv(command)
    const plan = wrap(commandLine, task.cgroups, exitStatusFile(runDir))

    let stdoutFd: number | undefined
    let stderrFd: number | undefined
    let child: ChildProcess
    try {
      stdoutFd = openSync(path.join(req.sandboxDir, 'stdout'), 'a')
      stderrFd = openSync(path.join(req.sandboxDir, 'stderr'), 'a')
      child = spawn(plan.file, plan.args, {
        argv0: plan.argv0,
        cwd: req.sandboxDir,
        env,
        // A new session makes the task a process-group leader, so signals reach its children.
        detached: true,
        stdio: ['ignore', stdoutFd, stderrFd],
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      })
      task.child = child
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve)
        child.once('error', reject)
      })
    } catch (err) {
      return abandon(new LaunchFailedError(`Cannot start '${commandLine.argv.join(' ')}': ${errorMessage(err)}`))
    } finally {
      // The child holds its own copies; ours would only leak.
      if (stdoutFd !== undefined) closeSync(stdoutFd)
      if (stderrFd !== undefined) closeSync(stderrFd)
    }

    const pid = child.pid as number
    task.pid = pid
    tlog?.info({ pid, cgroups: task.cgroups }, 'task started')
    const meta: RunMeta = { agentId: req.agentId, frameworkId: req.frameworkId, taskId, pid, cgroups: task.cgroups }
    // Written synchronously: the exit listener below must be in place before the next turn of
    // the event loop, or a command that ends at once would exit unseen.
    try {
      writeFileSync(path.join(runDir, 'meta.json'), JSON.stringify(meta))
    } catch (err) {
      tlog?.warn({ err: errorMessage(err) }, 'cannot write the task run file; it will not be recovered after an agent restart')
    }

    if (task.cgroups.memory) watchForOom(task, task.cgroups.memory, pid, tlog)

    child.once('exit', (code, signal) => {
      finish(task, pid, code, signal, onEvent, tlog).catch((err: unknown) => tlog?.error({ err }, 'exit handling failed'))
    })

    onEvent({ type: 'running', containerId: `process-${pid}`, ipAddresses: ['127.0.0.1'] })
    // kill() may have come while we set up cgroups or spawned; honour it now that there is a process.
    if (task.pendingKillGraceMs !== undefined) terminate(task, pid, task.pendingKillGraceMs)
  }

  async function finish(
    task: RunningTask,
    pid: number,
    code: number | null,
    signal: NodeJS.Signals | null,
    onEvent: (e: ContainerEvent) => void,
    tlog: Logger | undefined,
    killGroup = true,
  ): Promise<void> {
    task.exited = true
    for (const t of task.timers) clearTimeout(t)
    task.timers.clear()
    // The command's leftovers die with it, as when Mesos destroys a container. A group whose
    // leader ended while the agent was down may carry a reused id by now: its cgroups serve.
    if (killGroup) signalGroup(pid, 'SIGKILL')

    let oomMessage = task.oomMessage
    if (!oomMessage && task.cgroups.memory) oomMessage = await oomAfterExit(task.cgroups.memory, code, signal)
    await removeCgroups(task.cgroups, tlog)

    const oomKilled = oomMessage !== undefined
    const killed = task.killRequested && !oomKilled
    const message =
      oomMessage ??
      (killed
        ? `Task killed${signal ? ` by ${signal}` : ''}`
        : signal
          ? `Command terminated with signal ${signal}`
          : `Command exited with status ${code ?? 'unknown'}`)
    tlog?.info({ pid, exitCode: code, signal, killed, oomKilled }, 'task exited')
    await rm(task.runDir, { recursive: true, force: true }).catch(() => undefined)
    tasks.delete(task.taskId)
    task.markDone()
    onEvent({ type: 'exited', exitCode: code, signal, killed, oomKilled, message })
  }

  /**
   * Mesos destroys the whole container at the first OOM kill instead of leaving a task that
   * lost one of its processes; polling the counter is the simplest way to notice from Node.
   */
  function watchForOom(task: RunningTask, memoryCgroup: string, pid: number, tlog: Logger | undefined): void {
    const poll = async (): Promise<void> => {
      const oom = await readOomState(memoryCgroup)
      if (!tasks.has(task.taskId) || task.exited) return
      if (oom.oomKills > 0) {
        task.oomMessage = oomMessageFor(memoryCgroup, oom)
        tlog?.warn({ pid }, 'task exceeded its memory limit; destroying it')
        signalGroup(pid, 'SIGKILL')
        return
      }
      schedule()
    }
    const schedule = (): void => {
      const t = setTimeout(() => {
        task.timers.delete(t)
        poll().catch((err: unknown) => tlog?.warn({ err }, 'cannot read memory.oom_control'))
      }, OOM_POLL_MS)
      t.unref()
      task.timers.add(t)
    }
    schedule()
  }

  async function kill(taskId: string, gracePeriodMs: number): Promise<void> {
    const task = tasks.get(taskId)
    if (!task) return
    task.killRequested = true
    const pid = task.pid
    if (pid !== undefined) terminate(task, pid, gracePeriodMs)
    // Without a pid the task is still being prepared: launch() gives up if it is still
    // fetching, or signals the process as soon as it has one.
    else task.pendingKillGraceMs = Math.min(task.pendingKillGraceMs ?? Infinity, gracePeriodMs)
    await task.done
  }

  function terminate(task: RunningTask, pid: number, gracePeriodMs: number): void {
    signalGroup(pid, 'SIGTERM')
    const t = setTimeout(() => signalGroup(pid, 'SIGKILL'), Math.max(0, gracePeriodMs))
    task.timers.add(t)
  }

  /**
   * Tasks run in their own sessions and outlive the agent; their stdio goes to files. After a
   * restart, each task's run files say which process is its wrapper: a live one is watched
   * until it goes, and the exit status it wrote says how the task ended.
   */
  async function recover(agentId: string, onEvent: (taskId: string, e: ContainerEvent) => void): Promise<RecoveredContainer[]> {
    const found: RecoveredContainer[] = []
    const dirs = await readdir(runRoot).catch(() => [] as string[])
    for (const name of dirs) {
      const runDir = path.join(runRoot, name)
      let meta: RunMeta
      try {
        meta = JSON.parse(await readFile(path.join(runDir, 'meta.json'), 'utf8')) as RunMeta
      } catch {
        continue
      }
      if (meta.agentId !== agentId || tasks.has(meta.taskId) || !Number.isInteger(meta.pid) || meta.pid <= 1) continue
      const running = wrapperAlive(meta.pid, runDir)
      let markDone!: () => void
      const done = new Promise<void>((resolve) => (markDone = resolve))
      const task: RunningTask = { taskId: meta.taskId, frameworkId: meta.frameworkId, runDir, pid: meta.pid, cgroups: meta.cgroups, killRequested: false, done, markDone, timers: new Set() }
      tasks.set(meta.taskId, task)
      const tlog = log?.child({ taskId: meta.taskId })
      found.push({ taskId: meta.taskId, frameworkId: meta.frameworkId, containerId: `process-${meta.pid}`, running })
      const emit = (e: ContainerEvent): void => onEvent(meta.taskId, e)
      const ended = (killGroup: boolean): void => {
        const { code, signal } = readExitStatus(runDir)
        finish(task, meta.pid, code, signal, emit, tlog, killGroup).catch((err: unknown) => tlog?.error({ err }, 'exit handling failed'))
      }
      if (!running) {
        // Ended while the agent was down: reported once the agent has taken the list.
        setImmediate(() => ended(false))
        continue
      }
      if (task.cgroups.memory) watchForOom(task, task.cgroups.memory, meta.pid, tlog)
      const poll = (): void => {
        const t = setTimeout(() => {
          task.timers.delete(t)
          if (wrapperAlive(meta.pid, runDir)) poll()
          else ended(true)
        }, RECOVERED_POLL_MS)
        task.timers.add(t)
      }
      poll()
      tlog?.info({ pid: meta.pid }, 're-attached to a task that outlived the agent')
    }
    log?.info({ agentId, tasks: found.length }, 'recovered process tasks')
    return found
  }

  return {
    name: 'process',
    supports: (task: TaskInfo) => task.container?.type !== 'DOCKER',
    launch,
    kill,
    recover,
    async usage(taskId: string) {
      const t = tasks.get(taskId)
      if (!t || t.exited || t.pid === undefined) return undefined
      return cgroupUsage({ ...t.cgroups, pid: t.pid })
    },
    async destroyAll(_agentId: string): Promise<void> {
      await Promise.all([...tasks.keys()].map((id) => kill(id, destroyGraceMs)))
    },
  }
}

// ---- command line ----

interface CommandLine {
  /** What to exec, looked up on PATH when it has no slash. */
  readonly file: string
  readonly argv: readonly string[]
}

interface SpawnPlan {
  readonly file: string
  readonly args: string[]
  readonly argv0: string
}

/**
 * The argv Mesos would exec: `sh -c value`, or the executable `value` with `arguments` as its
 * whole argv (argv[0] included, as with execvp(value, arguments)).
 */
function commandArgv(command: NonNullable<TaskInfo['command']>): CommandLine {
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
function wrap(cmd: CommandLine, cgroups: TaskCgroups, exitFile: string): SpawnPlan {
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

const exitStatusFile = (runDir: string): string => path.join(runDir, 'exit_status')

/** The wrapper of a task is alive when its pid runs a command line that names the task's exit file. */
function wrapperAlive(pid: number, runDir: string): boolean {
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
function readExitStatus(runDir: string): { code: number | null; signal: NodeJS.Signals | null } {
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
    const name = Object.entries(osConstants.signals).find(([, n]) => n === rc - 128)?.[0]
    if (name) return { code: null, signal: name as NodeJS.Signals }
  }
  return { code: rc, signal: null }
}

// ---- users ----

async function lookupUser(name: string): Promise<RunAs | undefined> {
  if (name === userInfo().username) return undefined
  const id = async (flag: '-u' | '-g'): Promise<number> => {
    const out = await execText('id', [flag, name])
    const n = Number(out.trim())
    if (!Number.isInteger(n)) throw new Error(`unexpected output from id ${flag} ${name}: ${out}`)
    return n
  }
  try {
    return { name, uid: await id('-u'), gid: await id('-g') }
  } catch (err) {
    throw new Error(`Cannot run the task as user '${name}': ${errorMessage(err)}`)
  }
}

async function chownTree(dir: string, user: RunAs): Promise<void> {
  await chown(dir, user.uid, user.gid)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) await chownTree(p, user)
    else await lchown(p, user.uid, user.gid)
  }
}

// ---- cgroups ----

/** cgroup directory names: readable, bounded, and unique even when sanitising merges two ids. */
export function cgroupName(taskId: string): string {
  const readable = taskId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 160)
  const hash = createHash('sha1').update(taskId).digest('hex').slice(0, 8)
  return `${readable}-${hash}`
}

async function createCgroups(
  o: { cgroupRoot: string; taskId: string; cpus: number; memMb: number; runAs?: RunAs },
  log: Logger | undefined,
): Promise<TaskCgroups> {
  const name = cgroupName(o.taskId)
  const result: { memory?: string; cpu?: string } = {}

  const memory = path.join(o.cgroupRoot, 'memory', 'dromos', name)
  if (o.memMb > 0) {
    try {
      await makeCgroup(memory)
      const bytes = String(Math.floor(o.memMb * 1024 * 1024))
      await writeFile(path.join(memory, 'memory.limit_in_bytes'), bytes)
      // Without this the task could swap past its limit; kernels without swap accounting lack the file.
      await writeFile(path.join(memory, 'memory.memsw.limit_in_bytes'), bytes).catch(() => undefined)
      if (o.runAs) await chown(path.join(memory, 'cgroup.procs'), o.runAs.uid, o.runAs.gid)
      result.memory = memory
    } catch (err) {
      log?.warn({ err: errorMessage(err), cgroup: memory }, 'memory cgroup not usable; running the task without a memory limit')
      await rmdirRetry(memory).catch(() => undefined)
    }
  }

  const cpu = path.join(o.cgroupRoot, 'cpu', 'dromos', name)
  if (o.cpus > 0) {
    try {
      await makeCgroup(cpu)
      await writeFile(path.join(cpu, 'cpu.shares'), String(Math.max(2, Math.floor(o.cpus * 1024))))
      await writeFile(path.join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US)).catch(() => undefined)
      // The kernel refuses quotas under 1 ms.
      await writeFile(path.join(cpu, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(o.cpus * CFS_PERIOD_US)))).catch(
        (err: unknown) => log?.warn({ err: errorMessage(err) }, 'cannot set a CFS quota; the task is limited by cpu.shares only'),
      )
      if (o.runAs) await chown(path.join(cpu, 'cgroup.procs'), o.runAs.uid, o.runAs.gid)
      result.cpu = cpu
    } catch (err) {
      log?.warn({ err: errorMessage(err), cgroup: cpu }, 'cpu cgroup not usable; running the task without a CPU limit')
      await rmdirRetry(cpu).catch(() => undefined)
    }
  }
  return result
}

async function makeCgroup(dir: string): Promise<void> {
  // A cgroup filesystem has its control files; a plain directory (no controller mounted) doesn't.
  const parent = path.dirname(path.dirname(dir))
  await access(path.join(parent, 'cgroup.procs'))
  await mkdir(dir, { recursive: true })
  await access(path.join(dir, 'cgroup.procs'))
}

async function removeCgroups(cgroups: TaskCgroups, log: Logger | undefined): Promise<void> {
  for (const dir of [cgroups.memory, cgroups.cpu]) {
    if (!dir) continue
    try {
      await killCgroupMembers(dir)
      await rmdirRetry(dir)
    } catch (err) {
      log?.warn({ err: errorMessage(err), cgroup: dir }, 'cannot remove task cgroup')
    }
  }
}

/** Processes that left the task's process group still sit in its cgroup, and block rmdir. */
async function killCgroupMembers(dir: string): Promise<void> {
  const text = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const pid = Number(line)
    if (!Number.isInteger(pid) || pid <= 0) continue
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
}

async function rmdirRetry(dir: string): Promise<void> {
  // rmdir fails with EBUSY until the kernel has reaped the last member; that takes a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir)
      return
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      if (attempt >= 20) throw err
      if (attempt % 5 === 4) await killCgroupMembers(dir)
      await sleep(50)
    }
  }
}

interface OomState {
  readonly oomKills: number
  readonly failcnt: number
  readonly maxUsageBytes: number | undefined
  readonly limitBytes: number | undefined
}

async function readOomState(memoryCgroup: string): Promise<OomState> {
  const read = (file: string): Promise<string> => readFile(path.join(memoryCgroup, file), 'utf8').catch(() => '')
  const [control, failcnt, maxUsage, limit] = await Promise.all([
    read('memory.oom_control'),
    read('memory.failcnt'),
    read('memory.max_usage_in_bytes'),
    read('memory.limit_in_bytes'),
  ])
  const oomKills = Number(/^oom_kill\s+(\d+)/m.exec(control)?.[1] ?? 0)
  const num = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s.trim()))
  return { oomKills, failcnt: num(failcnt) ?? 0, maxUsageBytes: num(maxUsage), limitBytes: num(limit) }
}

/**
 * Decides after the fact whether memory was why the task died. Kernels without the oom_kill
 * counter leave only failcnt; with it, a SIGKILL (or a shell reporting 128+9) is taken as the OOM killer.
 */
async function oomAfterExit(memoryCgroup: string, code: number | null, signal: NodeJS.Signals | null): Promise<string | undefined> {
  const oom = await readOomState(memoryCgroup)
  const diedOfKill = signal === 'SIGKILL' || code === 137
  if (oom.oomKills > 0 && (diedOfKill || code !== 0)) return oomMessageFor(memoryCgroup, oom)
  if (oom.oomKills === 0 && oom.failcnt > 0 && diedOfKill) return oomMessageFor(memoryCgroup, oom)
  return undefined
}

function oomMessageFor(memoryCgroup: string, oom: OomState): string {
  const mib = (b: number | undefined): string => (b === undefined ? 'unknown' : `${Math.round(b / 1024 / 1024)} MiB`)
  return `Memory limit exceeded: Requested: ${mib(oom.limitBytes)}, Maximal used: ${mib(oom.maxUsageBytes)} (cgroup ${path.basename(memoryCgroup)})`
}

// ---- small helpers ----

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is gone already.
  }
}

function execText(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim() || err.message))
      else resolve(stdout)
    })
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Whether tasks launched here would get cgroup limits; lets callers (and tests) say so up front. */
export async function cgroupsWritable(cgroupRoot = '/sys/fs/cgroup'): Promise<boolean> {
  const probe = path.join(cgroupRoot, 'memory', 'dromos', `probe-${process.pid}`)
  try {
    await makeCgroup(probe)
    await writeFile(path.join(probe, 'memory.limit_in_bytes'), String(64 * 1024 * 1024))
    return true
  } catch {
    return false
  } finally {
    await rmdir(probe).catch(() => undefined)
  }
}
