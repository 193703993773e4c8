// A throwaway Docker registry (the distribution `registry` binary from Debian) on loopback,
// so tests can exercise the pull path without the internet. Docker treats 127.0.0.0/8
// registries as insecure, so plain HTTP works.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { followProgress } from '../../src/agent/containerizers/docker.js'
import { splitTag } from './images.js'

const REGISTRY_BIN = '/usr/bin/docker-registry'

export interface Registry {
  /** host:port, to prefix image names with. */
  readonly url: string
  stop(): Promise<void>
}

export async function startRegistry({ port = 5000, timeoutMs = 15_000 }: { port?: number; timeoutMs?: number } = {}): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'dromos-registry-'))
  const config = join(dir, 'config.yml')
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  )
  const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const url = `127.0.0.1:${port}`
  const stop = async () => {
    await killChild(child)
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) {
      await stop()
      throw new Error(`registry exited with ${child.exitCode}: ${stderr}`)
    }
    try {
      const res = await fetch(`http://${url}/v2/`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`registry on ${url} did not answer within ${timeoutMs} ms: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { url, stop }
}

/** Tags a local image as `registryTag` and pushes it; fails on any error reported in the push stream. */
export async function pushImage(localTag: string, registryTag: string, docker: Dockerode = new Dockerode()): Promise<void> {
  const [repo, tag] = splitTag(registryTag)
  await docker.getImage(localTag).tag({ repo, tag })
  // An empty auth header: the Engine wants one, the loopback registry needs none.
  const stream = (await docker.getImage(repo).push({ tag, authconfig: {} })) as NodeJS.ReadableStream
  await followProgress(stream)
}

function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    child.once('exit', () => {
      clearTimeout(timer)
      res()
    })
    child.kill('SIGTERM')
  })
}
