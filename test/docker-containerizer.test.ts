// The docker containerizer against the real Docker engine: local images, pulls from a
// loopback registry, bridge and host networking, kill, OOM and sandbox logs.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { pino } from 'pino'
import { TaskInfoSchema } from '../src/api/mesos.js'
import { containerSpec, createDockerContainerizer } from '../src/agent/containerizers/docker.js'
import { LaunchFailedError } from '../src/agent/containerizers/types.js'
import type { ContainerEvent, Containerizer, LaunchRequest } from '../src/agent/containerizers/types.js'
import { BUSYBOX_TAG, INDEX_HTML, ensureBusyboxImage, removeImage } from './lib/images.js'
import { pushImage, startRegistry } from './lib/registry.js'
import type { Registry } from './lib/registry.js'

const docker = new Dockerode()
// Unique per run, so leftovers of other runs (or other engineers' agents) are never touched.
const agentId = `test-agent-${process.pid}-${Date.now().toString(36)}`
const frameworkId = 'test-framework'
const sandboxes: string[] = []

type Exited = Extract<ContainerEvent, { type: 'exited' }>

/** Collects a task's events; `exited` resolves with the one exit event. */
function recorder() {
  const events: ContainerEvent[] = []
  let resolveExited!: (e: Exited) => void
  const exited = new Promise<Exited>((res) => (resolveExited = res))
  const onEvent = (e: ContainerEvent) => {
    events.push(e)
    if (e.type === 'exited') resolveExited(e)
  }
  return { events, exited, onEvent }
}

let taskSeq = 0
function request(opts: {
  image?: string
  network?: 'HOST' | 'BRIDGE' | 'NONE' | 'USER'
  command?: string
  shell?: boolean
  arguments?: string[]
  portMappings?: { host_port: number; container_port: number }[]
  env?: Record<string, string>
  forcePull?: boolean
  memMb?: number
  uris?: Array<{ value: string; cache?: boolean }>
}): LaunchRequest {
  const taskId = `task-${++taskSeq}.${Date.now().toString(36)}`
  const sandboxDir = mkdtempSync(join(tmpdir(), 'dromos-sandbox-'))
  sandboxes.push(sandboxDir)
  const taskInfo = TaskInfoSchema.parse({
    name: taskId,
    task_id: { value: taskId },
    agent_id: { value: agentId },
    command: {
      ...(opts.command !== undefined ? { value: opts.command } : {}),
      shell: opts.shell ?? true,
      arguments: opts.arguments ?? [],
      uris: opts.uris ?? [],
    },
    container: {
      type: 'DOCKER',
      docker: {
        image: opts.image ?? BUSYBOX_TAG,
        network: opts.network ?? 'BRIDGE',
        port_mappings: opts.portMappings ?? [],
        force_pull_image: opts.forcePull ?? false,
      },
    },
  })
  return {
    agentId,
    frameworkId,
    taskInfo,
    sandboxDir,
    env: opts.env ?? {},
    hostPorts: (opts.portMappings ?? []).map((p) => p.host_port),
    cpus: 0.1,
    memMb: opts.memMb ?? 32,
  }
}

/** A port in the agents' usual range that nothing listens on right now. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 31000 + Math.floor(Math.random() * 1000)
    const ok = await new Promise<boolean>((res) => {
      const srv = createServer()
      srv.once('error', () => res(false))
      srv.listen(port, '0.0.0.0', () => srv.close(() => res(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port in 31000-32000')
}

/** httpd binds a moment after the container starts; retry until it answers. */
async function getText(url: string, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      // Bounded: docker-proxy may accept a connection before the container listens, and hold it.
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      return await res.text()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

/** The file's text, or nothing while it is not written yet. */
function readIfThere(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}

async function containerGone(id: string): Promise<boolean> {
  try {
    await docker.getContainer(id).inspect()
    return false
  } catch (err) {
    return (err as { statusCode?: number }).statusCode === 404
  }
}

function runningId(events: ContainerEvent[]): string {
  const running = events.find((e) => e.type === 'running')
  if (running?.type !== 'running') throw new Error('no running event')
  return running.containerId
}

afterAll(() => {
  for (const dir of sandboxes) rmSync(dir, { recursive: true, force: true })
})

describe('docker containerizer', () => {
  let dz: Containerizer

  beforeAll(async () => {
    await ensureBusyboxImage()
    dz = createDockerContainerizer({ docker })
  })

  afterAll(async () => {
    await dz.destroyAll(agentId)
  })

  it('supports DOCKER containers only', () => {
    expect(dz.supports(request({}).taskInfo)).toBe(true)
    const plain = TaskInfoSchema.parse({ name: 'x', task_id: { value: 'x' }, agent_id: { value: agentId }, command: { value: 'true' } })
    expect(dz.supports(plain)).toBe(false)
  })

  it('runs a local-only image in BRIDGE mode with a port mapping, and kills it', async () => {
    const hostPort = await freePort()
    const req = request({
      network: 'BRIDGE',
      command: 'httpd -f -p 8080 -h /www',
      portMappings: [{ host_port: hostPort, container_port: 8080 }],
    })
    const rec = recorder()
    await dz.launch(req, rec.onEvent)
    const running = rec.events[0]
    expect(running?.type).toBe('running')
    if (running?.type !== 'running') return
    expect(running.ipAddresses.length).toBe(1)

    const info = await docker.getContainer(running.containerId).inspect()
    expect(info.Config.Labels).toMatchObject({
      'dromos.agent_id': agentId,
      'dromos.framework_id': frameworkId,
      'dromos.task_id': req.taskInfo.task_id.value,
    })
    expect(info.HostConfig.Memory).toBe(32 * 1024 * 1024)
    expect(info.HostConfig.CpuQuota).toBe(10_000)

    expect(await getText(`http://127.0.0.1:${hostPort}/`)).toBe(INDEX_HTML)

    await dz.kill(req.taskInfo.task_id.value, 1_000)
    const exited = await rec.exited
    expect(exited).toMatchObject({ type: 'exited', killed: true, oomKilled: false })
    expect(await containerGone(running.containerId)).toBe(true)
    // Idempotent: a second kill of a gone task resolves at once.
    await dz.kill(req.taskInfo.task_id.value, 1_000)
    expect(rec.events.filter((e) => e.type === 'exited')).toHaveLength(1)
  })

  it('runs two HOST-network tasks on their own PORT0', async () => {
    const [p1, p2] = [await freePort(), await freePort()]
    const reqs = [p1, p2].map((port) =>
      request({ network: 'HOST', command: 'httpd -f -p $PORT0 -h /www', env: { PORT0: String(port) } }),
    )
    const recs = reqs.map(() => recorder())
    await Promise.all(reqs.map((r, i) => dz.launch(r, recs[i]!.onEvent)))
    expect(await getText(`http://127.0.0.1:${p1}/`)).toBe(INDEX_HTML)
    expect(await getText(`http://127.0.0.1:${p2}/`)).toBe(INDEX_HTML)
    for (const rec of recs) {
      const running = rec.events[0]
      expect(running?.type === 'running' && running.ipAddresses).toEqual([])
    }
    await Promise.all(reqs.map((r) => dz.kill(r.taskInfo.task_id.value, 0)))
    for (const rec of recs) expect((await rec.exited).killed).toBe(true)
  })

  it('writes stdout and stderr to the sandbox and reports the exit status', async () => {
    const req = request({ command: 'echo hello-out; echo hello-err >&2; exit 3' })
    const rec = recorder()
    await dz.launch(req, rec.onEvent)
    const exited = await rec.exited
    expect(exited).toMatchObject({ exitCode: 3, killed: false, oomKilled: false, message: 'Container exited with status 3' })
    expect(readFileSync(join(req.sandboxDir, 'stdout'), 'utf8')).toBe('hello-out\n')
    expect(readFileSync(join(req.sandboxDir, 'stderr'), 'utf8')).toBe('hello-err\n')
    expect(await containerGone(runningId(rec.events))).toBe(true)
  })

  it("fetches the command's URIs into the sandbox, where the container finds them, and fails the launch naming a URI it cannot fetch", async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/greeting.txt') return res.end('hello from a fetched file\n')
      res.statusCode = 404
      res.end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const req = request({ network: 'NONE', command: 'cat /mnt/mesos/sandbox/greeting.txt', uris: [{ value: `${base}/greeting.txt` }] })
      const rec = recorder()
      await dz.launch(req, rec.onEvent)
      expect((await rec.exited).exitCode).toBe(0)
      expect(readFileSync(join(req.sandboxDir, 'stdout'), 'utf8')).toBe('hello from a fetched file\n')

      const bad = request({ network: 'NONE', command: 'true', uris: [{ value: `${base}/missing.tgz` }] })
      const err = await dz.launch(bad, recorder().onEvent).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(LaunchFailedError)
      expect((err as Error).message).toContain(`${base}/missing.tgz`)
    } finally {
      server.close()
    }
  })

  it('with shell=false runs value and arguments as the Cmd', async () => {
    const req = request({ shell: false, command: 'echo', arguments: ['a', 'b c'] })
    const rec = recorder()
    await dz.launch(req, rec.onEvent)
    expect((await rec.exited).exitCode).toBe(0)
    expect(readFileSync(join(req.sandboxDir, 'stdout'), 'utf8')).toBe('a b c\n')
  })

  it('reports a task that outgrows its memory as OOM-killed', async () => {
    // dd reads into one 64 MiB buffer: a single process that outgrows 8 MiB at once.
    const req = request({ memMb: 8, command: 'dd if=/dev/zero of=/dev/null bs=64M count=1' })
    const rec = recorder()
    await dz.launch(req, rec.onEvent)
    const exited = await rec.exited
    expect(exited.oomKilled).toBe(true)
    expect(exited.killed).toBe(false)
    expect(exited.exitCode).toBe(137)
    expect(exited.signal).toBe('SIGKILL')
  })

  it('lets a restarted agent recover its running containers', async () => {
    const req = request({ command: 'trap "exit 0" TERM; echo ready; while true; do sleep 0.1; done' })
    await dz.launch(req, recorder().onEvent)
    // A SIGTERM that lands before the trap is set would be ignored (the shell is PID 1).
    await waitFor(() => readIfThere(join(req.sandboxDir, 'stdout')).includes('ready'))
    const taskId = req.taskInfo.task_id.value

    // A second containerizer stands for the agent after a restart: it knows only the labels.
    const restarted = createDockerContainerizer({ docker })
    const events: { taskId: string; e: ContainerEvent }[] = []
    const recovered = await restarted.recover(agentId, (id, e) => events.push({ taskId: id, e }))
    expect(recovered).toEqual([expect.objectContaining({ taskId, frameworkId, running: true })])

    await restarted.kill(taskId, 5_000)
    expect(events).toEqual([{ taskId, e: expect.objectContaining({ type: 'exited', exitCode: 0, killed: true }) }])
  })

  it('destroyAll removes every container of the agent', async () => {
    const req = request({ command: 'sleep 30' })
    const rec = recorder()
    await dz.launch(req, rec.onEvent)
    await dz.destroyAll(agentId)
    expect((await rec.exited).killed).toBe(true)
    expect(await containerGone(runningId(rec.events))).toBe(true)
    expect(await docker.listContainers({ all: true, filters: { label: [`dromos.agent_id=${agentId}`] } })).toEqual([])
  })

  describe('pulling from a registry', () => {
    let registry: Registry
    const localTags: string[] = []

    beforeAll(async () => {
      const port = await freePort()
      registry = await startRegistry({ port })
    })

    afterAll(async () => {
      await dz.destroyAll(agentId)
      for (const tag of localTags) await removeImage(tag, docker)
      // Pulls leave digest references (repo@sha256:…) behind as well as tags.
      for (const img of await docker.listImages()) {
        for (const ref of [...(img.RepoTags ?? []), ...(img.RepoDigests ?? [])]) {
          if (registry !== undefined && ref.startsWith(`${registry.url}/`)) await removeImage(ref, docker)
        }
      }
      await registry?.stop()
    })

    it('pulls a missing image, and pulls again when forced', async () => {
      const ref = `${registry.url}/dromos-test/pulled:1`
      localTags.push(ref)
      await pushImage(BUSYBOX_TAG, ref, docker)
      await removeImage(ref, docker)
      const firstId = (await docker.getImage(BUSYBOX_TAG).inspect()).Id

      const req1 = request({ image: ref, command: 'echo pulled' })
      const rec1 = recorder()
      await dz.launch(req1, rec1.onEvent)
      expect((await rec1.exited).exitCode).toBe(0)
      expect(readFileSync(join(req1.sandboxDir, 'stdout'), 'utf8')).toBe('pulled\n')
      expect((await docker.getImage(ref).inspect()).Id).toBe(firstId)

      // A different image under the same tag: only a real pull can bring it here.
      const scratch = await docker.createContainer({ Image: BUSYBOX_TAG })
      const variant = 'dromos-test/variant:1'
      localTags.push(variant)
      const committed = (await scratch.commit({ repo: 'dromos-test/variant', tag: '1', changes: 'LABEL dromos.variant=b' })) as { Id: string }
      await scratch.remove()
      await pushImage(variant, ref, docker)
      // pushImage tagged the variant locally as ref too; point ref back at the first image
      // so that the forced pull has something to replace.
      await docker.getImage(BUSYBOX_TAG).tag({ repo: `${registry.url}/dromos-test/pulled`, tag: '1' })
      expect((await docker.getImage(ref).inspect()).Id).toBe(firstId)

      const req2 = request({ image: ref, command: 'sleep 30', forcePull: true })
      const rec2 = recorder()
      await dz.launch(req2, rec2.onEvent)
      const info = await docker.getContainer(runningId(rec2.events)).inspect()
      expect(info.Image).toBe(committed.Id)
      expect(info.Image).not.toBe(firstId)
      await dz.kill(req2.taskInfo.task_id.value, 0)
      expect((await rec2.exited).killed).toBe(true)
    })

    it('fails the launch with the image name when the image does not exist', async () => {
      const ref = `${registry.url}/nope/missing:1`
      const rec = recorder()
      const launch = dz.launch(request({ image: ref, command: 'true' }), rec.onEvent)
      await expect(launch).rejects.toBeInstanceOf(LaunchFailedError)
      await expect(launch).rejects.toThrow(`Failed to pull image '${ref}'`)
      expect(rec.events).toEqual([])
    })
  })
})

// The create body is a pure function of the request; these cases need no engine.
describe('containerSpec', () => {
  const silent = pino({ level: 'silent' })
  const specOf = (req: LaunchRequest) => containerSpec(req, req.taskInfo.container!.docker!, silent)

  it('keeps the image entrypoint and default command when there is no command value', () => {
    const spec = specOf(request({}))
    expect(spec.Entrypoint).toBeUndefined()
    expect(spec.Cmd).toBeUndefined()
    expect(specOf(request({ shell: false, arguments: ['-x'] })).Cmd).toEqual(['-x'])
  })

  it('maps USER networking, limits and docker parameters', () => {
    const req = request({ network: 'USER', memMb: 1, portMappings: [{ host_port: 31001, container_port: 80 }] })
    const container = req.taskInfo.container as Record<string, unknown>
    container['network_infos'] = [{ name: 'apps-net' }]
    req.taskInfo.container!.docker!.parameters.push(
      { key: 'label', value: 'team=web' },
      { key: 'label', value: 'dromos.task_id=spoofed' },
      { key: 'env', value: 'A=1=2' },
      { key: 'workdir', value: '/www' },
      { key: 'memory-swap', value: '64m' },
      { key: 'no-such-flag', value: 'x' },
    )
    const spec = specOf(req)
    expect(spec.HostConfig?.NetworkMode).toBe('apps-net')
    expect(spec.HostConfig?.PortBindings).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '31001' }] })
    expect(spec.HostConfig?.Memory).toBe(6 * 1024 * 1024)
    expect(spec.HostConfig?.MemorySwap).toBe(64 * 1024 * 1024)
    expect(spec.HostConfig?.CpuShares).toBe(102)
    expect(spec.Labels).toMatchObject({ team: 'web', 'dromos.task_id': req.taskInfo.task_id.value })
    expect(spec.Env).toContain('A=1=2')
    expect(spec.WorkingDir).toBe('/www')
  })
})
