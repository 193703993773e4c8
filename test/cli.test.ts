// `dromos app|task|deployment|events` end to end: the real bin/dromos CLI, run as a shell user
// would, against a real master, agent and `dromos apps`. Exit codes and output are the contract.
import type { ChildProcess } from 'node:child_process'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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

/** This environment without what would force colour on or off (a test runner may set FORCE_COLOR). */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.FORCE_COLOR
  delete env.NO_COLOR
  return env
}

function dromos(args: string[], opts: { url?: string; master?: string; input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((res) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...plainEnv(), DROMOS_APPS: opts.url ?? apps.url, DROMOS_MASTER: opts.master ?? cluster.masterUrl, ...opts.env }, timeout: opts.timeoutMs ?? 60_000 },
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

  it('app restart replaces every task, and its progress never counts more running than instances', async () => {
    const before = (await apps.app(id)).tasks.map((t: { id: string }) => t.id) as string[]
    const r = await dromos(['app', 'restart', id])
    expect(r.code).toBe(0)
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(`restarting ${id}`))
    expect(lines.length).toBeGreaterThan(0)
    for (const l of lines) {
      for (const [, running, target] of l.matchAll(/(\d+)\/(\d+) running/g)) expect(Number(running)).toBeLessThanOrEqual(Number(target))
    }
    // The middle of it was seen, with the old tasks counted apart.
    expect(lines.some((l) => /: new \d\/3 running(, \d staged)?; old \d draining$/.test(l))).toBe(true)
    expect(r.stderr).toContain(`restarted: ${id} 3/3 running`)
    const after = (await apps.app(id)).tasks.filter((t: { state: string }) => t.state === 'TASK_RUNNING').map((t: { id: string }) => t.id) as string[]
    expect(after).toHaveLength(3)
    for (const t of after) expect(before).not.toContain(t)
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
    const bad = join(dir, 'bad.json')
    expect(r.stderr).toContain(`dromos: ${bad}: Object is not valid`)
    // Each error at the line and column of its field (JSON.stringify puts one field a line).
    expect(r.stderr).toMatch(new RegExp(`^  ${bad}:4:3: /cpus: \\S`, 'm'))
    expect(r.stderr).toMatch(new RegExp(`^  ${bad}:5:3: /instances: \\S`, 'm'))
    expect(await apps.app('/cli/bad')).toBeUndefined()

    // A group of several apps with several errors: every one is reported, each where it is.
    const group = { id: '/cli/badgrp', apps: [{ id: 'm1', cmd: 'sleep 1', mem: -5 }, { id: 'm2', cmd: 'sleep 1', cpus: -1, disk: -3 }] }
    const many = await dromos(['app', 'deploy', writeJson('many.json', group)])
    expect(many.code).toBe(2)
    const errorLines = many.stderr.split('\n').filter((l) => l.startsWith(`  ${join(dir, 'many.json')}:`))
    expect(errorLines.length).toBeGreaterThanOrEqual(3)
    expect(errorLines.some((l) => /:7:7: \/apps\(0\)\/mem: /.test(l))).toBe(true)
    expect(errorLines.some((l) => /:12:7: \/apps\(1\)\/cpus: /.test(l))).toBe(true)
    expect(errorLines.some((l) => /:13:7: \/apps\(1\)\/disk: /.test(l))).toBe(true)

    const broken = await dromos(['app', 'deploy', writeJson('broken.json', '{\n  "id": "/cli/x",\n  "cmd": "sleep 1"\n  "cpus": 0.1,\n}\n')])
    expect(broken.code).toBe(2)
    expect(broken.stderr).toContain(`dromos: ${join(dir, 'broken.json')} is not valid JSON`)
    expect(broken.stderr).toContain(`  ${join(dir, 'broken.json')}:4:3: expected ',', found "cpus"`)
    expect(broken.stderr).toContain(`  ${join(dir, 'broken.json')}:5:1: expected a property name in double quotes, found } (a trailing comma is not allowed)`)
    const cut = await dromos(['app', 'deploy', '-'], { input: '{"id": "/cli/x",' })
    expect(cut.code).toBe(2)
    expect(cut.stderr).toContain('  <stdin>:1:17: expected a property name in double quotes, found the end of the input')
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

  it('app deploy follows its deployment across a restart of dromos apps', async () => {
    // Healthy only after 4 s: the deployment is still running while dromos apps is away.
    const slow = {
      ...sleeper('/cli/slow', 1),
      cmd: 'sleep 4 && touch ready; sleep 600',
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'test -f ready' }, gracePeriodSeconds: 60, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 30, delaySeconds: 0 }],
    }
    const following = dromos(['app', 'deploy', writeJson('slow.json', slow)])
    await waitUntil('the deployment to start', async () => ((await apps.app('/cli/slow'))?.deployments.length ?? 0) > 0)
    await apps.proc.stop()
    // Long enough that the watch looks while no one answers.
    await new Promise((r) => setTimeout(r, 1500))
    apps.proc.restart()
    await apps.waitReady()
    const r = await following
    expect(r.stderr).toContain('/cli/slow: dromos apps is not answering (')
    expect(r.stderr).toContain('deployed: /cli/slow 1/1 running, 1/1 healthy')
    expect(r.code).toBe(0)
    expect((await dromos(['app', 'rm', '/cli/slow'])).code).toBe(0)
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

describe('dromos status / agent list / framework list / queue / logs / group', () => {
  it('status sums up the master, the agent, the frameworks and the apps; exit 5 names what cannot be reached', async () => {
    const r = await dromos(['status'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^MASTER\\s+${cluster.masterUrl}: leader, version \\S+, up \\S+$`, 'm'))
    expect(r.stdout).toMatch(/^AGENTS\s+1 active; used cpus [\d.]+\/4, mem [\d.]+\/2048 MB, disk [\d.]+\/1000 MB$/m)
    expect(r.stdout).toMatch(/^FRAMEWORKS\s+1 active: marathon \(\d+ tasks?\)$/m)
    expect(r.stdout).toMatch(new RegExp(`^APPS\\s+\\d+ apps? at ${apps.url}, \\d+/\\d+ instances running`, 'm'))
    expect(r.stdout).toMatch(/^DEPLOYMENTS\s+/m)
    const j = await dromos(['status', '--json'])
    expect(j.code).toBe(0)
    const parsed = JSON.parse(j.stdout) as { master: { slaves: Array<{ id: string }> }; apps: unknown[]; deployments: unknown[]; queue: unknown[] }
    expect(parsed.master.slaves).toHaveLength(1)
    expect(Array.isArray(parsed.apps)).toBe(true)
    const nowhere = `http://127.0.0.1:${await freePort()}`
    const down = await dromos(['status', '--master', nowhere])
    expect(down.code).toBe(5)
    expect(down.stdout).toMatch(new RegExp(`^MASTER\\s+cannot reach the master at ${nowhere}: `, 'm'))
    expect(down.stdout).toMatch(/^APPS\s+\d+ apps? at /m)
  })

  it('agent list shows the agent with used/total; framework list shows dromos apps; both as JSON too', async () => {
    const state = await cluster.state()
    const agentId = state.slaves[0].id as string
    const r = await dromos(['agent', 'list'])
    expect(r.code).toBe(0)
    const [header, ...rows] = r.stdout.trim().split('\n')
    expect(header).toMatch(/^ID\s+HOSTNAME\s+ADDRESS\s+CPUS\s+MEM\s+DISK\s+TASKS\s+ATTRIBUTES\s+REGISTERED$/)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatch(new RegExp(`^${agentId}\\s+\\S+\\s+127\\.0\\.0\\.1:${cluster.agents[0]!.port}\\s+[\\d.]+/4\\s+[\\d.]+/2048\\s+[\\d.]+/1000\\s+\\d+\\s+`))
    const j = await dromos(['agent', 'list', '--json', '--master', cluster.masterUrl])
    expect(j.code).toBe(0)
    expect((JSON.parse(j.stdout) as Array<{ id: string }>).map((a) => a.id)).toEqual([agentId])
    const f = await dromos(['framework', 'list'])
    expect(f.code).toBe(0)
    expect(f.stdout).toMatch(/^ID\s+NAME\s+ACTIVE\s+ROLES\s+TASKS\s+CPUS\s+MEM\s+REGISTERED$/m)
    expect(f.stdout).toMatch(/^\S+\s+marathon\s+yes\s+\S+\s+\d+\s+/m)
    const fj = await dromos(['framework', 'list', '--json'])
    expect((JSON.parse(fj.stdout) as Array<{ name: string; active: boolean }>).find((x) => x.name === 'marathon')?.active).toBe(true)
    expect((await dromos(['framework', 'list'], { master: `http://127.0.0.1:${await freePort()}` })).code).toBe(5)
  })

  it('queue says why an app waits, as a table and as JSON', async () => {
    await apps.req('POST', '/v2/apps', { id: '/cli/waits', cmd: 'sleep 600', cpus: 64, mem: 16, portDefinitions: [] })
    try {
      const r = await waitUntil('the offers to be declined', async () => {
        const q = await dromos(['queue'])
        return q.stdout.includes('not enough cpus') ? q : undefined
      })
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^APP\s+TO LAUNCH\s+WAITING\s+WHY$/m)
      expect(r.stdout).toMatch(/^\/cli\/waits\s+1\s+\S+\s+last offers of 1 agent declined: 1 not enough cpus$/m)
      const j = await dromos(['queue', '--json'])
      const item = (JSON.parse(j.stdout) as Array<{ app: { id: string }; count: number; processedOffersSummary: unknown }>).find((q) => q.app.id === '/cli/waits')
      expect(item?.count).toBe(1)
      expect(item?.processedOffersSummary).toBeDefined()
    } finally {
      await apps.req('DELETE', '/v2/apps/cli/waits?force=true')
    }
  })

  it("logs prints a task's stdout or stderr from its sandbox; -f follows it and ends with the task", async () => {
    const talker = {
      id: '/cli/talker',
      cmd: 'echo "hello from $MESOS_TASK_ID"; echo oops >&2; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done',
      cpus: 0.1,
      mem: 16,
      instances: 1,
    }
    expect((await dromos(['app', 'deploy', writeJson('talker.json', talker)])).code).toBe(0)
    const taskId = (await apps.app('/cli/talker')).tasks[0].id as string
    const out = await waitUntil('the task to write', async () => {
      const r = await dromos(['logs', taskId])
      return r.stdout.includes('tick-2') ? r : undefined
    })
    expect(out.code).toBe(0)
    expect(out.stdout.split('\n')[0]).toBe(`hello from ${taskId}`)
    expect(out.stdout).not.toContain('oops')
    const err = await dromos(['logs', taskId.slice(0, -4), '--stderr'])
    expect(err.code).toBe(0)
    expect(err.stdout).toBe('oops\n')
    const tail = await dromos(['logs', taskId, '--tail', '2'])
    expect(tail.code).toBe(0)
    const tailLines = tail.stdout.split('\n')
    expect(tailLines).toHaveLength(3)
    expect(tailLines[2]).toBe('')
    expect(tailLines[1]).toMatch(/^tick-\d+$/)
    expect(Number(tailLines[1]!.slice(5)) - Number(tailLines[0]!.slice(5))).toBe(1)
    const unknown = await dromos(['logs', 'no-such-task'])
    expect(unknown.code).toBe(4)
    expect(unknown.stderr).toContain('no-such-task')

    const child = spawn(process.execPath, [BIN, 'logs', '-f', '--interval', '200', taskId], { env: { ...process.env, DROMOS_MASTER: cluster.masterUrl }, stdio: ['ignore', 'pipe', 'pipe'] })
    let followed = ''
    child.stdout!.on('data', (c: Buffer) => (followed += c.toString()))
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
    const ticks = (): number[] => [...followed.matchAll(/tick-(\d+)/g)].map((m) => Number(m[1]))
    const first = await waitUntil('some ticks', async () => ticks().length > 0 && Math.max(...ticks()))
    await waitUntil('ticks written after the follow began', async () => Math.max(...ticks()) >= first + 5, 20_000)
    // Consecutive: nothing is lost or printed twice between reads.
    const seen = ticks()
    expect(seen).toEqual(seen.map((_, i) => seen[0]! + i))
    // The task ends (its app removed, so it is not replaced): the follow prints the rest and ends.
    expect((await dromos(['app', 'rm', '/cli/talker'])).code).toBe(0)
    expect(await Promise.race([exited, new Promise((res) => setTimeout(() => res('still following'), 15_000))])).toBe(0)
    if (child.exitCode === null) child.kill('SIGKILL')
  })

  it('group list and group show show the groups of a group definition, and its apps with their counts', async () => {
    const def = {
      id: '/cli/grp',
      apps: [{ id: 'front', cmd: 'sleep 600', cpus: 0.1, mem: 16, instances: 1 }],
      groups: [{ id: '/cli/grp/back', apps: [{ id: '/cli/grp/back/db', cmd: 'sleep 600', cpus: 0.1, mem: 16, instances: 2 }] }],
    }
    const deployed = await dromos(['app', 'deploy', writeJson('grp.json', def)])
    expect(deployed.code).toBe(0)
    try {
      const list = await dromos(['group', 'list'])
      expect(list.code).toBe(0)
      expect(list.stdout).toMatch(/^ID\s+APPS\s+GROUPS\s+INSTANCES\s+DEPENDENCIES\s+VERSION$/m)
      expect(list.stdout).toMatch(/^\/cli\/grp\s+1 \(2 in all\)\s+1\s+3\s+-\s+\S+$/m)
      expect(list.stdout).toMatch(/^\/cli\/grp\/back\s+1\s+0\s+2\s+/m)
      const show = await dromos(['group', 'show', '/cli/grp'])
      expect(show.code).toBe(0)
      expect(show.stdout).toMatch(/^ID\s+\/cli\/grp$/m)
      expect(show.stdout).toMatch(/^\/cli\/grp\/front\s+1\/1\s+/m)
      expect(show.stdout).toMatch(/^\/cli\/grp\/back\/db\s+2\/2\s+/m)
      expect(show.stdout).toMatch(/^\/cli\/grp\/back\s+1\s+0\s+2\s+/m)
      const j = await dromos(['group', 'show', 'cli/grp', '--json'])
      expect((JSON.parse(j.stdout) as { id: string; groups: Array<{ id: string }> }).groups.map((g) => g.id)).toEqual(['/cli/grp/back'])
      expect((await dromos(['group', 'show', '/cli/no-such-group'])).code).toBe(4)
    } finally {
      await apps.req('DELETE', '/v2/groups/cli/grp?force=true')
      await waitUntil('the group to be gone', async () => (await apps.app('/cli/grp/front')) === undefined && (await apps.app('/cli/grp/back/db')) === undefined)
    }
  })

  it('colours tables on a terminal only, and never with NO_COLOR', async () => {
    const run = (env: Record<string, string>): Promise<CliResult> =>
      new Promise((res) => {
        // `script` gives the CLI a pseudo-terminal as its stdout.
        execFile('script', ['-qec', `${process.execPath} ${BIN} task list --app ${id}`, '/dev/null'], { env: { ...plainEnv(), TERM: 'xterm', DROMOS_APPS_URL: apps.url, ...env }, timeout: 30_000 }, (e, stdout, stderr) =>
          res({ code: e ? Number(e.code ?? -1) : 0, stdout, stderr }),
        )
      })
    const id = '/cli/colours'
    expect((await dromos(['app', 'deploy', writeJson('colours.json', sleeper(id, 1))])).code).toBe(0)
    try {
      const tty = await run({})
      expect(tty.code).toBe(0)
      expect(tty.stdout).toContain('\x1b[32mTASK_RUNNING\x1b[39m')
      expect(tty.stdout).toContain('\x1b[1mID\x1b[22m')
      const noColour = await run({ NO_COLOR: '1' })
      expect(noColour.stdout).toContain('TASK_RUNNING')
      expect(noColour.stdout).not.toContain('\x1b[')
      const piped = await dromos(['task', 'list', '--app', id])
      expect(piped.stdout).toContain('TASK_RUNNING')
      expect(piped.stdout).not.toContain('\x1b[')
      // A deployment followed on a terminal: a spinner with the status line, then the outcome.
      const followed = await new Promise<CliResult>((res) => {
        // A terminal 120 columns wide, as a user's is: the spinner redraws its one line.
        execFile('script', ['-qec', `stty cols 120 rows 40; ${process.execPath} ${BIN} app scale ${id} 2`, '/dev/null'], { env: { ...plainEnv(), TERM: 'xterm', DROMOS_APPS: apps.url }, timeout: 60_000 }, (e, stdout, stderr) =>
          res({ code: e ? Number(e.code ?? -1) : 0, stdout, stderr }),
        )
      })
      expect(followed.code).toBe(0)
      // A braille frame of the spinner, in its colour, before the status line.
      expect(followed.stdout.replaceAll('\x1b[39m', '')).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] scaling \/cli\/colours/)
      expect(followed.stdout).toMatch(/scaled: .*\/cli\/colours/)
    } finally {
      await apps.req('DELETE', `/v2/apps${id}?force=true`)
    }
  })

  it('completion bash completes subcommands and options from the command tree', async () => {
    const complete = (words: string[]): Promise<string> =>
      new Promise((res, rej) => {
        const script = `source <(${process.execPath} ${BIN} completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _dromos; echo "\${COMPREPLY[*]}"`
        execFile('bash', ['-c', script], { timeout: 30_000, env: { ...process.env, DROMOS_APPS: apps.url } }, (e, stdout, stderr) => (e ? rej(new Error(stderr)) : res(stdout.trim())))
      })
    expect((await complete(['dromos', 'app', 's'])).split(' ').sort()).toEqual(['scale', 'show'])
    expect(await complete(['dromos', 'agent', 'l'])).toBe('list')
    expect(await complete(['dromos', 'app', 'deploy', '--ti'])).toBe('--timeout')
    expect(await complete(['dromos', 'logs', '--std'])).toBe('--stderr')
    // An option's value is not taken for a subcommand.
    expect(await complete(['dromos', 'app', '--apps', 'list', 'sc'])).toBe('scale')
    expect(await complete(['dromos', 'sta'])).toBe('status')
    expect((await dromos(['completion', 'fish'])).code).toBe(2)
    // Ids from the cluster: the apps, tasks and deployments dromos apps knows now.
    expect((await apps.req('POST', '/v2/apps', sleeper('/complete/me', 1))).status).toBe(201)
    await apps.waitDeployed('/complete/me')
    expect((await complete(['dromos', 'app', 'show', '/complete/'])).split(' ')).toEqual(['/complete/me'])
    const [task] = (await apps.app('/complete/me')).tasks as Array<{ id: string }>
    expect((await complete(['dromos', 'task', 'kill', 'complete_me.'])).split(' ')).toEqual([task!.id])
    expect((await complete(['dromos', 'logs', 'complete_me.'])).split(' ')).toEqual([task!.id])
    // An --apps on the line is the one asked; one that cannot be reached offers nothing, silently.
    expect(await complete(['dromos', 'app', 'show', '--apps', `http://127.0.0.1:${await freePort()}`, '/complete/'])).toBe('')
    expect((await apps.req('DELETE', '/v2/apps/complete/me?force=true')).status).toBe(200)
  })
})

describe('several instances in --apps and --master', () => {
  it('asks each in turn until one answers, as for an HA cluster with one instance down', async () => {
    const gone = `http://127.0.0.1:${await freePort()}`
    const listed = await dromos(['app', 'list', '--json'], { url: `${gone},${apps.url}` })
    expect(listed.code, listed.stderr).toBe(0)
    expect(Array.isArray(JSON.parse(listed.stdout))).toBe(true)
    const status = await dromos(['status'], { url: `${gone},${apps.url}`, master: `${gone},${cluster.masterUrl}` })
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toContain(`${cluster.masterUrl}: leader`)
    // None answering is the same error, naming the last one asked.
    const none = await dromos(['app', 'list'], { url: `${gone},http://127.0.0.1:${await freePort()}` })
    expect(none.code).toBe(5)
    expect(none.stderr).toMatch(/cannot reach dromos apps at http:\/\/127\.0\.0\.1:\d+/)
  })
})

describe('dromos open', () => {
  it('hands the web UI\'s URL to $BROWSER, prints it with --print, and says when dromos apps cannot be reached', async () => {
    const printed = await dromos(['open', '--print'])
    expect(printed).toMatchObject({ code: 0, stdout: `${apps.url}/\n` })
    // A real program as the browser: it writes down what it was asked to open.
    const dir = mkdtempSync(join(tmpdir(), 'dromos-open-'))
    try {
      const seen = join(dir, 'seen')
      const browser = join(dir, 'browser')
      writeFileSync(browser, `#!/bin/sh\necho "$1" > ${seen}\n`, { mode: 0o755 })
      const opened = await dromos(['open'], { env: { BROWSER: browser } })
      expect(opened.code).toBe(0)
      expect(opened.stderr).toContain(`opened ${apps.url}/ with ${browser}`)
      expect(await waitUntil('the browser to be run', async () => readFileSync(seen, 'utf8').trim()).catch(() => '')).toBe(`${apps.url}/`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    const down = await dromos(['open', '--print'], { url: `http://127.0.0.1:${await freePort()}` })
    expect(down.code).toBe(5)
  })
})

describe('dromos events', () => {
  function follow(args: string[]): { child: ChildProcess; lines: string[]; stderr: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [BIN, 'events', ...args], { env: { ...process.env, DROMOS_APPS_URL: apps.url }, stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: string[] = []
    let err = ''
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()))
    let buf = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      const parts = buf.split('\n')
      buf = parts.pop()!
      lines.push(...parts)
    })
    return { child, lines, stderr: () => err, exited: new Promise((res) => child.once('exit', (code) => res(code))) }
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

  it('events reconnects when dromos apps restarts, saying so on stderr; --no-reconnect exits 1', async () => {
    const before = await subscribers()
    const events = follow(['--json'])
    const once = follow(['--no-reconnect'])
    await waitUntil('both event streams to attach', async () => (await subscribers()) >= before + 2)
    await apps.restart()
    expect(await once.exited).toBe(1)
    expect(once.stderr()).toContain('dromos: the event stream ')
    await waitUntil('the stream to be reopened', async () => events.stderr().includes('dromos: reconnected to '), 30_000)
    expect(events.stderr()).toMatch(/dromos: the event stream (was closed by dromos apps|broke: .*); reconnecting in \d+m?s/)
    expect(events.child.exitCode).toBeNull()
    const seen = events.lines.length
    expect((await apps.req('POST', '/v2/apps', sleeper('/cli/after-restart', 0))).status).toBe(201)
    await waitUntil('an event from the restarted dromos apps', async () =>
      events.lines.slice(seen).some((l) => (JSON.parse(l) as { eventType: string; appDefinition?: { id?: string } }).appDefinition?.id === '/cli/after-restart'),
    )
    events.child.kill('SIGINT')
    expect(await events.exited).toBe(0)
  })
})
