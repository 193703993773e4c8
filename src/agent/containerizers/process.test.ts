import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { TaskInfoSchema } from '../../api/mesos.js'
import { cgroupName, cgroupsWritable, createProcessContainerizer } from './process.js'
import type { ContainerEvent } from './types.js'
import { LaunchFailedError } from './types.js'

type Exited = Extract<ContainerEvent, { type: 'exited' }>

const canUseCgroups = await cgroupsWritable()
// The pyenv shim is a bash script that needs the caller's environment; the real binary doesn't.
const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim()

let root: string
let seq = 0
// A run directory of this file's own: recover() reads every task of the agent id below it,
// and another run of this suite on the machine uses the same agent id.
const runDir = path.join(tmpdir(), `dromos-process-test-${process.pid}`)
const containerizer = createProcessContainerizer({ runDir })

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dromos-process-'))
  // Tasks that run as another user must be able to reach their sandbox below this directory.
  await chmod(root, 0o755)
})

afterEach(async () => {
  await containerizer.destroyAll('agent-1')
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
  await rm(runDir, { recursive: true, force: true })
})

interface StartOptions {
  command: Record<string, unknown>
  memMb?: number
  cpus?: number
  container?: Record<string, unknown>
}

async function start(opts: StartOptions) {
  seq += 1
  const taskId = `app_test.${seq}-${process.pid}`
  const sandboxDir = path.join(root, `sandbox-${seq}`)
  await mkdir(sandboxDir, { recursive: true, mode: 0o755 })
  const taskInfo = TaskInfoSchema.parse({
    name: 'test',
    task_id: { value: taskId },
    agent_id: { value: 'agent-1' },
    command: opts.command,
    ...(opts.container ? { container: opts.container } : {}),
  })
  const events: ContainerEvent[] = []
  let resolveExited!: (e: Exited) => void
  const exited = new Promise<Exited>((resolve) => (resolveExited = resolve))
  await containerizer.launch(
    {
      agentId: 'agent-1',
      frameworkId: 'fw-1',
      taskInfo,
      sandboxDir,
      env: { TASK_MARKER: 'marker-value' },
      hostPorts: [],
      cpus: opts.cpus ?? 0.1,
      memMb: opts.memMb ?? 64,
    },
    (e) => {
      events.push(e)
      if (e.type === 'exited') resolveExited(e)
    },
  )
  return { taskId, sandboxDir, events, exited }
}

async function launchError(opts: StartOptions): Promise<LaunchFailedError> {
  try {
    await start(opts)
  } catch (err) {
    expect(err).toBeInstanceOf(LaunchFailedError)
    return err as LaunchFailedError
  }
  throw new Error('launch succeeded but was expected to fail')
}

describe('process containerizer', () => {
  it('supports everything but DOCKER containers', () => {
    const base = { name: 't', task_id: { value: 't' }, agent_id: { value: 'a' } }
    expect(containerizer.supports(TaskInfoSchema.parse(base))).toBe(true)
    expect(containerizer.supports(TaskInfoSchema.parse({ ...base, container: { type: 'MESOS' } }))).toBe(true)
    expect(containerizer.supports(TaskInfoSchema.parse({ ...base, container: { type: 'DOCKER', docker: { image: 'x' } } }))).toBe(false)
  })

  it('runs a shell command in the sandbox with its environment and keeps its output', async () => {
    const t = await start({ command: { value: 'echo "hello $TASK_MARKER"; pwd; echo oops >&2' } })
    const exited = await t.exited
    expect(t.events[0]).toMatchObject({ type: 'running', ipAddresses: ['127.0.0.1'] })
    expect((t.events[0] as { containerId: string }).containerId).toMatch(/^process-\d+$/)
    expect(t.events.filter((e) => e.type === 'exited')).toHaveLength(1)
    expect(exited).toMatchObject({ exitCode: 0, signal: null, killed: false, oomKilled: false })
    expect(await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8')).toBe(`hello marker-value\n${t.sandboxDir}\n`)
    expect(await readFile(path.join(t.sandboxDir, 'stderr'), 'utf8')).toBe('oops\n')
  })

  it('sees the exit of commands that end at once, however many start together', async () => {
    const tasks = await Promise.all(Array.from({ length: 20 }, () => start({ command: { value: 'true' }, memMb: 0, cpus: 0 })))
    const exits = await Promise.all(tasks.map((t) => Promise.race([t.exited, new Promise((r) => setTimeout(() => r('unseen'), 5000))])))
    expect(exits.filter((e) => e === 'unseen')).toEqual([])
    for (const e of exits) expect(e).toMatchObject({ exitCode: 0, killed: false })
  })

  it('reports a nonzero exit code as such', async () => {
    const t = await start({ command: { value: 'exit 3' } })
    const exited = await t.exited
    expect(exited).toMatchObject({ exitCode: 3, killed: false, oomKilled: false })
    expect(exited.message).toContain('3')
  })

  // Without limits the process is spawned directly; with them, through the cgroup-joining wrapper.
  it.each([
    { limits: 'with', memMb: 32, cpus: 0.1 },
    { limits: 'without', memMb: 0, cpus: 0 },
  ])('execs value with arguments as the whole argv when shell is false ($limits limits)', async ({ memMb, cpus }) => {
    const t = await start({
      command: { shell: false, value: '/bin/sh', arguments: ['custom-argv0', '-c', 'echo "$0"; exit 4'] },
      memMb,
      cpus,
    })
    expect((await t.exited).exitCode).toBe(4)
    expect(await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8')).toBe('custom-argv0\n')
  })

  it('reports the signal a command died of, and keeps SIGINT and SIGTERM at their defaults for it', async () => {
    const t = await start({ command: { value: 'grep -E "^Sig(Ign|Cgt)" /proc/self/status; kill -INT $$; sleep 5' } })
    const exited = await t.exited
    expect(exited).toMatchObject({ exitCode: null, signal: 'SIGINT', killed: false })
    expect(exited.message).toContain('SIGINT')
    // The wrapper's traps are not inherited: HUP, INT, QUIT and TERM are not ignored by the command.
    const ignored = BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/m.exec(await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8'))![1]}`)
    for (const signal of [1, 2, 3, 15]) expect((ignored >> BigInt(signal - 1)) & 1n).toBe(0n)
  })

  it('reports an exit status above 128 that is no fatal signal as a plain exit', async () => {
    // 147 is 128 + SIGSTOP: the wrapper must not stop itself.
    const t = await start({ command: { value: 'exit 147' } })
    const exited = await Promise.race([t.exited, new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 5000))])
    expect(exited).toMatchObject({ exitCode: 147, signal: null, killed: false })
  })

  it('lets the command handle signals sent to its process group that the wrapper waits out', async () => {
    const t = await start({ command: { value: `trap 'echo got-usr1' USR1; echo ready; while true; do sleep 0.05; done` } })
    await waitFor(async () => (await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8')).includes('ready'))
    const pid = Number(/^process-(\d+)$/.exec((t.events[0] as { containerId: string }).containerId)![1])
    process.kill(-pid, 'SIGUSR1')
    await waitFor(async () => (await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8')).includes('got-usr1'))
    expect(t.events.filter((e) => e.type === 'exited')).toEqual([])
    await containerizer.kill(t.taskId, 1000)
    expect(await t.exited).toMatchObject({ killed: true })
  })

  it('kill() stops a task with SIGTERM, and the whole process group with it', async () => {
    const t = await start({ command: { value: 'sleep 30 & sleep 30; wait' } })
    const begun = Date.now()
    await containerizer.kill(t.taskId, 5_000)
    const exited = await t.exited
    expect(Date.now() - begun).toBeLessThan(2_000)
    expect(exited).toMatchObject({ killed: true, oomKilled: false })
    // Idempotent, also once the task is gone.
    await containerizer.kill(t.taskId, 5_000)
    expect(t.events.filter((e) => e.type === 'exited')).toHaveLength(1)
  })

  it('kill() escalates to SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const t = await start({ command: { value: `trap '' TERM; echo ready; while true; do sleep 0.05; done` } })
    await waitFor(async () => (await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8')).includes('ready'))
    const begun = Date.now()
    await Promise.all([containerizer.kill(t.taskId, 400), containerizer.kill(t.taskId, 400)])
    const elapsed = Date.now() - begun
    const exited = await t.exited
    expect(elapsed).toBeGreaterThanOrEqual(350)
    expect(elapsed).toBeLessThan(3_000)
    expect(exited).toMatchObject({ killed: true, signal: 'SIGKILL', oomKilled: false })
  })

  it('fails the launch for a user that does not exist', async () => {
    const err = await launchError({ command: { value: 'true', user: 'no-such-user-dromos' } })
    expect(err.message).toContain('no-such-user-dromos')
  })

  it.skipIf(process.getuid?.() !== 0)('runs the task as the requested user and hands it the sandbox', async () => {
    const t = await start({ command: { value: 'id -u > uid; echo ok > written-by-task', user: 'nobody' } })
    expect((await t.exited).exitCode).toBe(0)
    const expected = execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim()
    expect((await readFile(path.join(t.sandboxDir, 'uid'), 'utf8')).trim()).toBe(expected)
    expect((await stat(path.join(t.sandboxDir, 'written-by-task'))).uid).toBe(Number(expected))
  })

  describe.skipIf(!canUseCgroups)('with cgroup v1 limits', () => {
    it('starts the command inside its memory and cpu cgroups with the requested limits', async () => {
      const script = [
        'grep -E ":(memory|cpu):" /proc/self/cgroup',
        'cpu=$(grep ":cpu:" /proc/self/cgroup | cut -d: -f3)',
        'mem=$(grep ":memory:" /proc/self/cgroup | cut -d: -f3)',
        'echo "quota $(cat /sys/fs/cgroup/cpu$cpu/cpu.cfs_quota_us)"',
        'echo "shares $(cat /sys/fs/cgroup/cpu$cpu/cpu.shares)"',
        'echo "limit $(cat /sys/fs/cgroup/memory$mem/memory.limit_in_bytes)"',
      ].join('; ')
      const t = await start({ command: { value: script }, cpus: 0.5, memMb: 48 })
      expect((await t.exited).exitCode).toBe(0)
      const out = await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8')
      const name = cgroupName(t.taskId)
      expect(out).toContain(`memory:/dromos/${name}`)
      expect(out).toContain(`cpu:/dromos/${name}`)
      expect(out).toContain('quota 50000')
      expect(out).toContain('shares 512')
      expect(out).toContain(`limit ${48 * 1024 * 1024}`)
      // The cgroups go away with the task.
      expect(existsSync(`/sys/fs/cgroup/memory/dromos/${name}`)).toBe(false)
      expect(existsSync(`/sys/fs/cgroup/cpu/dromos/${name}`)).toBe(false)
    })

    it('reports a task that outgrows its memory limit as OOM-killed', async () => {
      const t = await start({
        command: { value: `exec ${python} -c "b = bytearray(200 * 1024 * 1024); import time; time.sleep(5)"` },
        memMb: 16,
      })
      const exited = await t.exited
      expect(exited).toMatchObject({ oomKilled: true, killed: false })
      expect(exited.message).toMatch(/^Memory limit exceeded: Requested: 16 MiB/)
      expect(existsSync(`/sys/fs/cgroup/memory/dromos/${cgroupName(t.taskId)}`)).toBe(false)
    })

    it('destroys the whole task when a child process is OOM-killed', async () => {
      // The shell survives the OOM kill of its child; Mesos would still destroy the container.
      const t = await start({
        command: { value: `${python} -c "b = bytearray(200 * 1024 * 1024)"; sleep 30` },
        memMb: 16,
      })
      const exited = await t.exited
      expect(exited.oomKilled).toBe(true)
    })
  })

  describe('fetching URIs', () => {
    let server: http.Server
    let base: string
    let bundle: Buffer
    let zipBundle: Buffer

    beforeAll(async () => {
      const src = path.join(root, 'bundle-src')
      await mkdir(path.join(src, 'data'), { recursive: true })
      await writeFile(path.join(src, 'data', 'hello.txt'), 'hello from the bundle\n')
      await writeFile(path.join(src, 'data', 'tool.sh'), '#!/bin/sh\necho tool ran\n', { mode: 0o755 })
      execFileSync('tar', ['-czf', path.join(root, 'bundle.tar.gz'), '-C', src, 'data'])
      bundle = await readFile(path.join(root, 'bundle.tar.gz'))
      execFileSync(python, ['-m', 'zipfile', '-c', path.join(root, 'bundle.zip'), path.join(src, 'data')])
      zipBundle = await readFile(path.join(root, 'bundle.zip'))

      server = http.createServer((req, res) => {
        if (req.url === '/bundle.tar.gz') return res.end(bundle)
        if (req.url === '/files/bundle.zip') return res.end(zipBundle)
        if (req.url === '/slow.tar.gz') return void setTimeout(() => res.end(bundle), 400)
        if (req.url === '/bin/start.sh') return res.end('#!/bin/sh\necho started with "$@"\n')
        res.statusCode = 404
        res.end('not found')
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    it('downloads and extracts archives and marks executables before the command runs', async () => {
      const t = await start({
        command: {
          value: 'cat data/hello.txt && ./start.sh now && ./data/tool.sh',
          uris: [
            { value: `${base}/bundle.tar.gz` },
            { value: `${base}/bin/start.sh`, executable: true },
          ],
        },
      })
      expect((await t.exited).exitCode).toBe(0)
      expect(await readFile(path.join(t.sandboxDir, 'stdout'), 'utf8')).toBe('hello from the bundle\nstarted with now\ntool ran\n')
      expect((await stat(path.join(t.sandboxDir, 'start.sh'))).mode & 0o111).not.toBe(0)
      // Mesos leaves the archive next to what it unpacked.
      expect(existsSync(path.join(t.sandboxDir, 'bundle.tar.gz'))).toBe(true)
    })

    it('honours output_file and extract:false, and reads file:// and plain paths', async () => {
      const t = await start({
        command: {
          value: 'ls',
          uris: [
            { value: `${base}/files/bundle.zip`, output_file: 'zipped/copy.zip' },
            { value: `${base}/bundle.tar.gz`, output_file: 'kept.tar.gz', extract: false },
            { value: `file://${path.join(root, 'bundle.tar.gz')}`, output_file: 'from-file-url.tgz', extract: false },
            { value: path.join(root, 'bundle.zip'), extract: false },
          ],
        },
      })
      expect((await t.exited).exitCode).toBe(0)
      // An archive fetched into a subdirectory unpacks there.
      expect(await readFile(path.join(t.sandboxDir, 'zipped', 'data', 'hello.txt'), 'utf8')).toBe('hello from the bundle\n')
      expect(existsSync(path.join(t.sandboxDir, 'zipped', 'copy.zip'))).toBe(true)
      expect(await readFile(path.join(t.sandboxDir, 'kept.tar.gz'))).toEqual(bundle)
      expect(await readFile(path.join(t.sandboxDir, 'from-file-url.tgz'))).toEqual(bundle)
      expect(await readFile(path.join(t.sandboxDir, 'bundle.zip'))).toEqual(zipBundle)
      expect(existsSync(path.join(t.sandboxDir, 'data'))).toBe(false)
    })

    it('fails the launch and names the URI when a fetch fails', async () => {
      const uri = `${base}/missing.tar.gz`
      const err = await launchError({ command: { value: 'true', uris: [{ value: uri }] } })
      expect(err.reason).toBe('REASON_CONTAINER_LAUNCH_FAILED')
      expect(err.message).toContain(uri)
      expect(err.message).toContain('404')
    })

    it('gives up a launch that is killed while its URIs are still being fetched', async () => {
      const sandboxDir = path.join(root, 'sandbox-killed-during-fetch')
      await mkdir(sandboxDir)
      const taskInfo = TaskInfoSchema.parse({
        name: 'slow',
        task_id: { value: 'killed-during-fetch' },
        agent_id: { value: 'agent-1' },
        command: { value: 'echo should-not-run', uris: [{ value: `${base}/slow.tar.gz` }] },
      })
      const events: ContainerEvent[] = []
      const launching = containerizer.launch(
        { agentId: 'agent-1', frameworkId: 'fw-1', taskInfo, sandboxDir, env: {}, hostPorts: [], cpus: 0.1, memMb: 32 },
        (e) => events.push(e),
      )
      const outcome = launching.then(
        () => 'launched',
        (err: unknown) => err,
      )
      await containerizer.kill('killed-during-fetch', 1_000)
      const err = await outcome
      expect(err).toBeInstanceOf(LaunchFailedError)
      expect((err as LaunchFailedError).reason).toBe('REASON_TASK_KILLED_DURING_LAUNCH')
      expect(events).toEqual([])
      expect(existsSync(path.join(sandboxDir, 'stdout'))).toBe(false)
    })

    it('refuses URIs it cannot fetch and output files outside the sandbox', async () => {
      const hdfs = await launchError({ command: { value: 'true', uris: [{ value: 'hdfs://namenode/x.tgz' }] } })
      expect(hdfs.message).toContain('hdfs://namenode/x.tgz')
      const escape = await launchError({
        command: { value: 'true', uris: [{ value: `${base}/bin/start.sh`, output_file: '../escaped.sh' }] },
      })
      expect(escape.message).toContain('leaves the sandbox')
      expect(existsSync(path.join(root, 'escaped.sh'))).toBe(false)
    })
  })

  it('destroyAll() kills every running task, and recover() finds nothing after a restart', async () => {
    const a = await start({ command: { value: 'sleep 30' } })
    const b = await start({ command: { value: 'sleep 30' } })
    await containerizer.destroyAll('agent-1')
    expect(await a.exited).toMatchObject({ killed: true })
    expect(await b.exited).toMatchObject({ killed: true })
    expect(await containerizer.recover('agent-1', () => undefined)).toEqual([])
  })
})

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}
