import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { HealthCheckSchema } from './mesos.js'
import type { HealthCheckHandle, HealthResult, ProbeOutcome } from './probes.js'
import { httpGet, startHealthCheck, startProbeLoop } from './probes.js'

let sandboxDir: string
const handles: HealthCheckHandle[] = []

beforeAll(async () => {
  sandboxDir = await mkdtemp(path.join(tmpdir(), 'dromos-health-'))
})

afterEach(() => {
  for (const h of handles.splice(0)) h.stop()
})

afterAll(async () => {
  await rm(sandboxDir, { recursive: true, force: true })
})

/** Starts a check with fast defaults and records what it reports, with times since start. */
function watch(check: Record<string, unknown>, env: Record<string, string> = {}) {
  const results: HealthResult[] = []
  const failures: { message: string; atMs: number }[] = []
  const startedAt = Date.now()
  const handle = startHealthCheck({
    check: HealthCheckSchema.parse({
      delay_seconds: 0,
      interval_seconds: 0.1,
      timeout_seconds: 0.5,
      consecutive_failures: 3,
      grace_period_seconds: 0,
      ...check,
    }),
    host: '127.0.0.1',
    env,
    sandboxDir,
    onResult: (r) => results.push(r),
    onFailed: (message) => failures.push({ message, atMs: Date.now() - startedAt }),
  })
  handles.push(handle)
  return { results, failures, handle }
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(20)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

describe('HTTP health checks', () => {
  let server: http.Server
  let port: number
  let status = 200
  let requests = 0

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests += 1
      res.statusCode = req.url === '/health' ? status : 404
      res.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('reports the first result and each change between healthy and unhealthy', async () => {
    status = 200
    const { results, failures } = watch({ type: 'HTTP', http: { port, path: '/health' }, consecutive_failures: 100 })
    await waitFor(() => results.length === 1)
    expect(results[0]).toEqual({ healthy: true, consecutiveFailures: 0 })

    // Unchanged results are not reported again.
    const before = requests
    await waitFor(() => requests >= before + 3)
    expect(results).toHaveLength(1)

    status = 500
    await waitFor(() => results.length === 2)
    expect(results[1]).toMatchObject({ healthy: false, consecutiveFailures: 1 })
    expect(results[1]?.message).toContain('500')

    status = 302
    await waitFor(() => results.length === 3)
    expect(results[2]).toEqual({ healthy: true, consecutiveFailures: 0 })
    expect(failures).toEqual([])
  })

  it('calls onFailed once after consecutive failures and stops checking', async () => {
    status = 500
    const { results, failures } = watch({ type: 'HTTP', http: { port, path: '/health' }, consecutive_failures: 3 })
    await waitFor(() => failures.length === 1)
    expect(failures[0]?.message).toMatch(/failed 3 consecutive times/)
    // As Mesos: every counted failure is reported, with the count so far.
    expect(results.map((r) => [r.healthy, r.consecutiveFailures])).toEqual([
      [false, 1],
      [false, 2],
      [false, 3],
    ])
    const after = requests
    await sleep(350)
    expect(failures).toHaveLength(1)
    expect(requests).toBe(after)
  })

  it('with consecutive_failures 0 fails the task at its first counted failure, as Mesos does', async () => {
    status = 500
    const { results, failures } = watch({ type: 'HTTP', http: { port, path: '/health' }, consecutive_failures: 0 })
    await waitFor(() => failures.length === 1)
    expect(failures[0]?.message).toMatch(/failed 1 consecutive times/)
    expect(results).toHaveLength(1)
  })

  it('treats a path the task does not serve as a failure', async () => {
    status = 200
    const { results } = watch({ type: 'HTTP', http: { port, path: '/nope' }, consecutive_failures: 100 })
    await waitFor(() => results.length === 1)
    expect(results[0]).toMatchObject({ healthy: false })
    expect(results[0]?.message).toContain('404')
  })
})

describe('HTTP 1xx answers (Marathon ignoreHttp1xx)', () => {
  let server: net.Server
  let port: number
  let head = 'HTTP/1.1 102 Processing'

  beforeAll(async () => {
    // A task that answers only an informational head and then hangs up.
    server = net.createServer((socket) => {
      socket.once('data', () => socket.end(`${head}\r\n\r\n`))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  async function firstOutcome(ignoreHttp1xx: boolean): Promise<ProbeOutcome> {
    return new Promise((resolve) => {
      const check = HealthCheckSchema.parse({ type: 'HTTP', http: { port, path: '/' }, delay_seconds: 0, interval_seconds: 0.1, timeout_seconds: 0.5, consecutive_failures: 3, grace_period_seconds: 0 })
      handles.push(startProbeLoop({ check, host: '127.0.0.1', env: {}, sandboxDir, ignoreHttp1xx }, (o) => (resolve(o), 'stop')))
    })
  }

  it('counts a 1xx answer neither way when set, and as a failure when not', async () => {
    for (const h of ['HTTP/1.1 102 Processing', 'HTTP/1.1 101 Switching Protocols']) {
      head = h
      expect(await firstOutcome(true)).toMatchObject({ kind: 'ignored' })
      const failed = await firstOutcome(false)
      expect(failed).toMatchObject({ kind: 'unhealthy' })
      expect(failed.kind === 'unhealthy' && failed.message).toContain(h.split(' ')[1])
    }
  })

  it('never ignores a final answer: 200-399 is healthy, 400 and up a failure', async () => {
    head = 'HTTP/1.1 204 No Content\r\nContent-Length: 0'
    expect(await firstOutcome(true)).toEqual({ kind: 'healthy' })
    head = 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0'
    expect(await firstOutcome(true)).toMatchObject({ kind: 'unhealthy' })
  })
})

describe('grace period', () => {
  it('ignores failures during the grace period, then counts them', async () => {
    const { results, failures } = watch({
      type: 'COMMAND',
      command: { value: 'exit 1' },
      grace_period_seconds: 0.5,
      consecutive_failures: 2,
    })
    await sleep(400)
    expect(results).toEqual([])
    expect(failures).toEqual([])
    await waitFor(() => failures.length === 1)
    expect(failures[0]?.atMs).toBeGreaterThanOrEqual(500)
    expect(results.map((r) => r.consecutiveFailures)).toEqual([1, 2])
  })

  it('stops applying once the first check succeeded', async () => {
    const marker = path.join(sandboxDir, 'grace-ok')
    await writeFile(marker, '')
    const { results, failures } = watch({
      type: 'COMMAND',
      command: { value: 'test -f grace-ok' },
      grace_period_seconds: 30,
      consecutive_failures: 2,
    })
    await waitFor(() => results.length === 1)
    expect(results[0]?.healthy).toBe(true)
    await rm(marker)
    await waitFor(() => failures.length === 1, 2_000)
    expect(results.map((r) => r.healthy)).toEqual([true, false, false])
  })

  it('waits delay_seconds before the first check', async () => {
    const { results } = watch({ type: 'COMMAND', command: { value: 'true' }, delay_seconds: 0.3 })
    await sleep(200)
    expect(results).toEqual([])
    await waitFor(() => results.length === 1)
  })
})

describe('TCP health checks', () => {
  it('is healthy while something listens and fails when nothing does', async () => {
    const server = net.createServer((socket) => socket.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port

    const { results, failures } = watch({ type: 'TCP', tcp: { port }, consecutive_failures: 2 })
    await waitFor(() => results.length === 1)
    expect(results[0]?.healthy).toBe(true)

    await new Promise<void>((resolve) => server.close(() => resolve()))
    await waitFor(() => failures.length === 1)
    expect(results.map((r) => r.healthy)).toEqual([true, false, false])
    expect(results[1]?.message).toContain(`127.0.0.1:${port}`)
  })
})

describe('COMMAND health checks', () => {
  it('runs in the sandbox with the task environment and the check own variables', async () => {
    await writeFile(path.join(sandboxDir, 'present'), '')
    const { results } = watch(
      {
        type: 'COMMAND',
        command: {
          value: 'test -f present && [ "$TASK_VAR" = task ] && [ "$CHECK_VAR" = check ]',
          environment: { variables: [{ name: 'CHECK_VAR', value: 'check' }] },
        },
      },
      { TASK_VAR: 'task' },
    )
    await waitFor(() => results.length === 1)
    expect(results[0]?.healthy).toBe(true)
  })

  it('fails a check that outlives its timeout, killing it', async () => {
    const { results } = watch({
      type: 'COMMAND',
      command: { value: 'sleep 5' },
      timeout_seconds: 0.2,
      consecutive_failures: 100,
    })
    const begun = Date.now()
    await waitFor(() => results.length === 1)
    expect(Date.now() - begun).toBeLessThan(1_500)
    expect(results[0]).toMatchObject({ healthy: false })
    expect(results[0]?.message).toContain('timed out')
  })

  it('takes the type from the filled-in section and rejects a check without one', () => {
    const { handle } = watch({ command: { value: 'true' } })
    handle.stop()
    expect(() => watch({})).toThrow(/no type/)
  })
})

describe('COMMAND health checks through a command runner (in a container)', () => {
  function watchWith(check: Record<string, unknown>, runCommand: Parameters<typeof startHealthCheck>[0]['runCommand']) {
    const results: HealthResult[] = []
    const failures: string[] = []
    const handle = startHealthCheck({
      check: HealthCheckSchema.parse({ delay_seconds: 0, interval_seconds: 0.05, timeout_seconds: 0.2, consecutive_failures: 2, grace_period_seconds: 0, ...check }),
      host: '127.0.0.1',
      env: { ON_HOST: '1' },
      sandboxDir,
      ...(runCommand ? { runCommand } : {}),
      onResult: (r) => results.push(r),
      onFailed: (message) => failures.push(message),
    })
    handles.push(handle)
    return { results, failures }
  }

  it('hands the argv, the check\'s own environment and the timeout to the runner instead of spawning on the host', async () => {
    const calls: Array<{ argv: readonly string[]; env: Readonly<Record<string, string>>; timeoutMs: number }> = []
    const { results } = watchWith(
      { type: 'COMMAND', command: { value: 'test -f /www/index.html', environment: { variables: [{ name: 'CHECK', value: 'yes' }] } } },
      async (argv, env, timeoutMs) => {
        calls.push({ argv, env, timeoutMs })
        return { exitCode: 0 }
      },
    )
    await waitFor(() => results.length > 0)
    expect(results[0]!.healthy).toBe(true)
    expect(calls[0]).toEqual({ argv: ['/bin/sh', '-c', 'test -f /www/index.html'], env: { CHECK: 'yes' }, timeoutMs: 200 })
  })

  it('fails on a non-zero exit code, a rejection, and a runner that outlives the timeout', async () => {
    const exit = watchWith({ type: 'COMMAND', command: { value: 'false' } }, async () => ({ exitCode: 3, output: 'first\nlast line' }))
    const rejected = watchWith({ type: 'COMMAND', command: { value: 'x' } }, async () => {
      throw new Error('no such container')
    })
    const slow = watchWith({ type: 'COMMAND', command: { value: 'sleep 9' } }, () => new Promise(() => undefined))
    await waitFor(() => exit.failures.length > 0 && rejected.failures.length > 0 && slow.failures.length > 0)
    expect(exit.results[0]).toMatchObject({ healthy: false, message: 'command exited with code 3: last line' })
    expect(rejected.results[0]!.message).toMatch(/no such container/)
    expect(slow.results[0]!.message).toMatch(/timed out/)
  })
})

describe('httpGet', () => {
  let server: https.Server
  let port: number

  beforeAll(async () => {
    // A self-signed certificate, as tasks usually have (a test fixture: no CA knows it).
    const dir = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'tls')
    server = https.createServer({ key: await readFile(path.join(dir, 'key.pem')), cert: await readFile(path.join(dir, 'cert.pem')) }, (req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write('data: never ends\n\n')
        return
      }
      res.writeHead(req.url === '/ready' ? 200 : 503, { 'content-type': 'text/plain' })
      res.end(`answer for ${req.url} `.repeat(50))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
  })

  afterAll(() => {
    server.closeAllConnections()
    server.close()
  })

  it('reads a task served over HTTPS with a self-signed certificate, keeping at most maxBodyBytes of the body', async () => {
    const signal = AbortSignal.timeout(5000)
    const ok = await httpGet({ scheme: 'https', host: '127.0.0.1', port, path: '/ready', signal, maxBodyBytes: 30 })
    expect(ok).toEqual({ status: 200, contentType: 'text/plain', body: 'answer for /ready answer for /' })
    const busy = await httpGet({ scheme: 'https', host: '127.0.0.1', port, path: '/busy', signal, maxBodyBytes: 10 })
    expect(busy.status).toBe(503)
    // The platform's fetch refuses the same certificate.
    await expect(fetch(`https://127.0.0.1:${port}/ready`)).rejects.toThrow()
  })

  it('answers from the head when no body is kept, so an endless body does not hold it up, and rejects on abort', async () => {
    const head = await httpGet({ scheme: 'https', host: '127.0.0.1', port, path: '/stream', signal: AbortSignal.timeout(2000) })
    expect(head).toEqual({ status: 200, contentType: 'text/event-stream', body: '' })
    await expect(httpGet({ scheme: 'https', host: '127.0.0.1', port, path: '/stream', signal: AbortSignal.timeout(300), maxBodyBytes: 100 })).rejects.toThrow()
  })
})
