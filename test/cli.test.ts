// `dromos app|task|deployment|events` end to end: the real bin/dromos CLI, run as a shell user
// would, against a real master, agent and `dromos apps`. Exit codes and output are the contract.
import type { ChildProcess } from 'node:child_process'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess } from './lib/apps.js'
import { freePort, TestCluster, waitUntil } from './lib/cluster.js'

const BIN = resolve(import.meta.dirname, '..', 'bin', 'dromos')

let cluster: TestCluster
let apps: AppsProcess
let dir: string

interface CliResult {
  code: number
  stdout: string
  stderr: string
}

function dromos(args: string[], opts: { url?: string; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((res) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, DROMOS_APPS_URL: opts.url ?? apps.url }, timeout: opts.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        res({ code, stdout, stderr })
      },
    )
    if (opts.input !== undefined) child.stdin?.end(opts.input)
    else child.stdin?.end()
  })
}

function writeJson(name: string, value: unknown): string {
  const file = join(dir, name)
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2))
  return file
}

const sleeper = (id: string, instances: number): Record<string, unknown> => ({ id, cmd: 'sleep 600', cpus: 0.1, mem: 16, instances })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dromos-cli-'))
  // Host ports of its own: other suites on this machine use 31000-31599.
  cluster = await TestCluster.start({ agents: [{ resources: 'cpus:4;mem:2048;disk:1000;ports:[29100-29199]' }] })
  apps = await AppsProcess.start(cluster)
})

afterAll(async () => {
  if (apps) {
    const list = await apps.req('GET', '/v2/apps')
    for (const a of list.body.apps ?? []) await apps.req('DELETE', `/v2/apps${a.id}?force=true`)
    await waitUntil('apps to stop their tasks', async () => (await apps.req('GET', '/v2/tasks')).body.tasks.length === 0, 30_000).catch(() => undefined)
    await apps.proc.stop()
  }
  await cluster?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('dromos app / task / deployment', () => {
  const id = '/cli/sleeper'

  it('app deploy creates the app from a JSON file, follows the deployment and exits 0', async () => {
    const r = await dromos(['app', 'deploy', writeJson('sleeper.json', sleeper(id, 2))])
    expect(r.stderr).toContain(`deploying ${id}`)
    expect(r.stderr).toMatch(/\d\/2 running/)
    expect(r.stderr).toContain(`deployed: ${id} 2/2 running`)
    expect(r.code).toBe(0)
    // Done means done: the counts are there when the command returns.
    const app = await apps.app(id)
    expect(app.tasksRunning).toBe(2)
    expect(app.deployments).toEqual([])
  })

  it('app list shows the app with 2 running, as JSON and as a table', async () => {
    const r = await dromos(['app', 'list', '--json'])
    expect(r.code).toBe(0)
    const listed = (JSON.parse(r.stdout) as Array<{ id: string; tasksRunning: number; instances: number }>).find((a) => a.id === id)
    expect(listed).toMatchObject({ tasksRunning: 2, instances: 2 })
    const t = await dromos(['app', 'list'])
    expect(t.code).toBe(0)
    const [header, ...rows] = t.stdout.trim().split('\n')
    expect(header).toMatch(/^ID\s+INSTANCES\s+HEALTHY\s+CPUS\s+MEM\s+IMAGE\/CMD\s+DEPLOYING$/)
    expect(rows.find((l) => l.startsWith(id))).toMatch(new RegExp(`^${id}\\s+2/2\\s+-\\s+0.1\\s+16\\s+sleep 600\\s+-$`))
  })

  it('app deploy of the same file again updates in place (PUT), and app versions lists both versions', async () => {
    const r = await dromos(['app', 'deploy', '-'], { input: JSON.stringify({ ...sleeper(id, 2), env: { COLOUR: 'blue' } }) })
    expect(r.code).toBe(0)
    expect((await apps.app(id)).env).toEqual({ COLOUR: 'blue' })
    const v = await dromos(['app', 'versions', id])
    expect(v.code).toBe(0)
    expect(v.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(2)
  })

  it('app scale ID 3 exits 0 with 3 running; task list --app shows 3', async () => {
    const r = await dromos(['app', 'scale', id, '3'])
    expect(r.stderr).toContain(`scaling ${id}`)
    expect(r.code).toBe(0)
    const show = await dromos(['app', 'show', id, '--json'])
    expect(show.code).toBe(0)
    expect(JSON.parse(show.stdout)).toMatchObject({ instances: 3, tasksRunning: 3 })
    const tasks = await dromos(['task', 'list', '--app', id, '--json'])
    expect(tasks.code).toBe(0)
    expect(JSON.parse(tasks.stdout)).toHaveLength(3)
    const table = await dromos(['task', 'list', '--app', id])
    const [header, ...rows] = table.stdout.trim().split('\n')
    expect(header).toMatch(/^ID\s+APP\s+HOST\s+PORTS\s+STATE\s+HEALTH\s+STAGED$/)
    expect(rows).toHaveLength(3)
    for (const row of rows) expect(row).toContain('TASK_RUNNING')
  })

  it('task kill ID --scale leaves 2; an unknown task exits 4 and kills nothing', async () => {
    const tasks = JSON.parse((await dromos(['task', 'list', '--app', id, '--json'])).stdout) as Array<{ id: string }>
    const victim = tasks[0]!.id
    const missing = await dromos(['task', 'kill', victim, 'no-such-task'])
    expect(missing.code).toBe(4)
    expect(missing.stderr).toContain('no-such-task')
    const r = await dromos(['task', 'kill', victim, '--scale'])
    expect(r.code).toBe(0)
    const app = await apps.app(id)
    expect(app.instances).toBe(2)
    expect(app.tasksRunning).toBe(2)
    // The victim may still be listed while it stops, but it is not one of the 2 running.
    expect(app.tasks.filter((t: { state: string }) => t.state === 'TASK_RUNNING').map((t: { id: string }) => t.id)).not.toContain(victim)
  })

  it('app deploy of an invalid definition exits 2 and prints the path of each error', async () => {
    const r = await dromos(['app', 'deploy', writeJson('bad.json', { id: '/cli/bad', cmd: 'sleep 1', cpus: -1, instances: -2 })])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Object is not valid')
    expect(r.stderr).toMatch(/^\s*\/cpus: /m)
    expect(r.stderr).toMatch(/^\s*\/instances: /m)
    expect(await apps.app('/cli/bad')).toBeUndefined()
    const json = await dromos(['app', 'deploy', writeJson('broken.json', '{"id": "/cli/x",')])
    expect(json.code).toBe(2)
    expect(json.stderr).toContain('not valid JSON')
  })

  it('a locked app exits 3 with the deployment id; deployment list shows it; deployment rollback undoes it', async () => {
    // Never healthy (its check is `false`) and never killed for it (long grace): the deployment cannot finish.
    const stuck = {
      ...sleeper('/cli/stuck', 1),
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'false' }, gracePeriodSeconds: 600, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
    }
    // Following it with a short timeout: exit 1, and the hint names the deployment.
    const timedOut = await dromos(['app', 'deploy', writeJson('stuck.json', stuck), '--timeout', '2s'])
    expect(timedOut.code).toBe(1)
    expect(timedOut.stderr).toContain('timed out after 2s')
    const deploymentId = /deployment rollback (\S+)/.exec(timedOut.stderr)?.[1]
    expect(deploymentId).toBeTruthy()

    const locked = await dromos(['app', 'scale', '/cli/stuck', '2'])
    expect(locked.code).toBe(3)
    expect(locked.stderr).toContain(deploymentId)
    expect(locked.stderr).toContain('--force')

    const list = await dromos(['deployment', 'list', '--json'])
    expect(list.code).toBe(0)
    expect((JSON.parse(list.stdout) as Array<{ id: string; affectedApps: string[] }>).find((d) => d.id === deploymentId)?.affectedApps).toEqual(['/cli/stuck'])
    const table = await dromos(['deployment', 'list'])
    expect(table.stdout).toMatch(new RegExp(`^${deploymentId}\\s+/cli/stuck\\s+2/2\\s+ScaleApplication /cli/stuck`, 'm'))

    // The app did not exist before the deployment: rolling back removes it.
    const rollback = await dromos(['deployment', 'rollback', deploymentId!])
    expect(rollback.stderr).toContain('rolling back /cli/stuck')
    expect(rollback.code).toBe(0)
    expect(await apps.app('/cli/stuck')).toBeUndefined()
    expect((await dromos(['deployment', 'rollback', deploymentId!])).code).toBe(4)

    // --no-wait prints the deployment id; rollback --force stops it where it is.
    const again = await dromos(['app', 'deploy', writeJson('stuck.json', stuck), '--no-wait'])
    expect(again.code).toBe(0)
    const second = again.stdout.trim()
    expect(second).toMatch(/^[0-9a-f-]{8,}$/)
    const stop = await dromos(['deployment', 'rollback', second, '--force'])
    expect(stop.code).toBe(0)
    expect((await apps.req('GET', '/v2/deployments')).body).toEqual([])
    expect(await apps.app('/cli/stuck')).toBeDefined()
    expect((await dromos(['app', 'rm', '/cli/stuck'])).code).toBe(0)
  })

  it('app show says why an app waits: what the offers lacked', async () => {
    await apps.req('POST', '/v2/apps', { id: '/cli/toobig', cmd: 'sleep 600', cpus: 64, mem: 16, portDefinitions: [] })
    try {
      const show = await waitUntil('the offers to be declined', async () => {
        const r = await dromos(['app', 'show', '/cli/toobig'])
        return r.stdout.includes('not enough cpus') ? r : undefined
      })
      expect(show.code).toBe(0)
      expect(show.stdout).toMatch(/WAITING\s+1 to launch; last offers of 1 agent declined: 1 not enough cpus/)
    } finally {
      await apps.req('DELETE', '/v2/apps/cli/toobig?force=true')
    }
  })

  it('app rm exits 0 and the app is gone; then app show exits 4', async () => {
    const r = await dromos(['app', 'rm', id])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`removed: ${id} (deployment `)
    expect(await apps.app(id)).toBeUndefined()
    const show = await dromos(['app', 'show', id])
    expect(show.code).toBe(4)
    expect(show.stderr).toContain('does not exist')
    // Scaling a missing app is "not found", and does not create it.
    const scale = await dromos(['app', 'scale', id, '2', '--no-wait'])
    expect(scale.code).toBe(4)
    expect(await apps.app(id)).toBeUndefined()
  })

  it('exits 5 when dromos apps cannot be reached, naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const r = await dromos(['app', 'list'], { url })
    expect(r.code).toBe(5)
    expect(r.stderr).toContain(`cannot reach dromos apps at ${url}: `)
    const flag = await dromos(['task', 'list', '--apps', url])
    expect(flag.code).toBe(5)
  })

  it('usage errors exit 2', async () => {
    expect((await dromos(['app', 'scale', id, 'many'])).code).toBe(2)
    expect((await dromos(['app', 'no-such-command'])).code).toBe(2)
  })
})

describe('dromos events', () => {
  function follow(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [BIN, 'events', ...args], { env: { ...process.env, DROMOS_APPS_URL: apps.url }, stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: string[] = []
    let buf = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      const parts = buf.split('\n')
      buf = parts.pop()!
      lines.push(...parts)
    })
    return { child, lines, exited: new Promise((res) => child.once('exit', (code) => res(code))) }
  }
  const subscribers = async (): Promise<number> => (await apps.req('GET', '/metrics')).body.gauges['marathon.http.event-streams.active.gauge'].value

  it('events --json prints one JSON event per line, filtered by --type, and exits 0 on SIGINT', async () => {
    const before = await subscribers()
    const all = follow(['--json'])
    const deploys = follow(['--type', 'deployment_info,deployment_success'])
    await waitUntil('both event streams to attach', async () => (await subscribers()) >= before + 2)
    const created = await apps.req('POST', '/v2/apps', sleeper('/cli/events', 1))
    expect(created.status).toBe(201)
    const events = await waitUntil('a deployment_success line', async () => {
      const parsed = all.lines.map((l) => JSON.parse(l) as { eventType: string; timestamp: string; id?: string })
      return parsed.some((e) => e.eventType === 'deployment_success') ? parsed : undefined
    })
    for (const e of events) expect(e.timestamp).toBeTruthy()
    expect(events.map((e) => e.eventType)).toContain('api_post_event')
    await waitUntil('the filtered stream to see the deployment end', async () => deploys.lines.some((l) => l.includes(' deployment_success ')))
    for (const l of deploys.lines) expect(l).toMatch(/^\S+ (deployment_info|deployment_success) \S+/)
    expect(deploys.lines.some((l) => / deployment_info \S+ step=2\/2 \(ScaleApplication \/cli\/events\)$/.test(l))).toBe(true)
    all.child.kill('SIGINT')
    deploys.child.kill('SIGINT')
    expect(await all.exited).toBe(0)
    expect(await deploys.exited).toBe(0)
  })
})
