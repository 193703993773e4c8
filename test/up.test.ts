// `dromos up`: one command gives a working cluster; Ctrl-C stops it and its containers.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, freePortRun, killTasksUnder, Proc, waitUntil } from './lib/cluster.js'
import { processesWhere } from './lib/proc.js'
import { BUSYBOX_TAG, ensureBusyboxImage } from './lib/images.js'
import { offeredPorts, ports, scalar, TestFramework } from './lib/scheduler.js'

const docker = new Dockerode()
const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

async function upAndLaunch(extra: string[]): Promise<{ proc: Proc; dir: string; taskLabel: string; hostPort: number }> {
  await ensureBusyboxImage()
  const dir = mkdtempSync(join(tmpdir(), 'dromos-up-'))
  dirs.push(dir)
  const masterPort = await freePort()
  const agentPort = await freePort()
  const appsPort = await freePort()
  const lbHttpPort = await freePort()
  const lbStatsPort = await freePort()
  const proc = new Proc(
    ['up', '--work-dir', join(dir, 'state'), '--master-port', String(masterPort), '--agent-port', String(agentPort), '--apps-port', String(appsPort), '--lb-http-port', String(lbHttpPort), '--lb-stats-port', String(lbStatsPort), '--resources', 'cpus:1;mem:512;ports:[31200-31210]', ...extra],
    join(dir, 'up.out'),
  )
  const master = `http://127.0.0.1:${masterPort}`
  await waitUntil('the agent to register', async () => {
    const s = (await (await fetch(`${master}/master/state`)).json()) as { slaves: unknown[] }
    return s.slaves.length === 1
  })
  const f = await TestFramework.subscribe({ master, name: 'up-test' })
  const offer = (await f.waitOffers()).offers.offers[0]
  const [hostPort] = offeredPorts(offer, 1)
  const taskId = `up-web-${Date.now()}`
  await f.launch(offer, [
    {
      name: 'web',
      task_id: { value: taskId },
      resources: [scalar('cpus', 0.1), scalar('mem', 32), ports(hostPort!)],
      command: { value: 'exec httpd -f -p 80 -h /www' },
      container: { type: 'DOCKER', docker: { image: BUSYBOX_TAG, network: 'BRIDGE', port_mappings: [{ host_port: hostPort, container_port: 80 }] } },
    },
  ])
  await f.waitUpdate(taskId, 'TASK_RUNNING')
  await waitUntil('the task to answer', async () => (await fetch(`http://127.0.0.1:${hostPort}/`)).ok)
  f.close()
  return { proc, dir, taskLabel: `dromos.task_id=${taskId}`, hostPort: hostPort! }
}

describe('dromos up', () => {
  it('runs tasks, writes its log to the work dir, and Ctrl-C removes its containers', async () => {
    const { proc, dir, taskLabel } = await upAndLaunch([])
    expect(existsSync(join(dir, 'state', 'dromos.log'))).toBe(true)
    proc.child.kill('SIGINT')
    expect(await proc.exited).toBe(0)
    const left = await docker.listContainers({ all: true, filters: { label: [taskLabel] } })
    expect(left).toHaveLength(0)
  })

  it('a second dromos up on the same ports says which ports are taken and by what, starts nothing, and exits 3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dromos-up-'))
    dirs.push(dir)
    const [masterPort, agentPort, appsPort] = [await freePort(), await freePort(), await freePort()]
    const args = (state: string) => ['up', '--work-dir', join(dir, state), '--master-port', String(masterPort), '--agent-port', String(agentPort), '--apps-port', String(appsPort), '--no-lb', '--resources', 'cpus:1;mem:256;ports:[31211-31212]']
    const first = new Proc(args('one'), join(dir, 'one.out'))
    try {
      await waitUntil('the first cluster to answer', async () => (await fetch(`http://127.0.0.1:${appsPort}/v2/info`)).ok)
      const second = new Proc(args('two'), join(dir, 'two.out'))
      expect(await second.exited).toBe(3)
      const err = readFileSync(join(dir, 'two.out'), 'utf8')
      expect(err).toContain(`port ${masterPort} (master, --master-port) is taken by pid ${first.child.pid}`)
      expect(err).toContain(`port ${appsPort} (apps, --apps-port) is taken by pid ${first.child.pid}`)
      expect(err).toMatch(/a dromos cluster may already run/)
      expect(err).not.toMatch(/\n\s+at /)
      expect(existsSync(join(dir, 'two'))).toBe(false)
      // The first cluster did not notice.
      expect((await fetch(`http://127.0.0.1:${masterPort}/health`)).ok).toBe(true)
    } finally {
      first.child.kill('SIGINT')
      await first.exited
    }
  })

  it('leaves the containers running with --keep-tasks', async () => {
    const { proc, taskLabel, hostPort } = await upAndLaunch(['--keep-tasks'])
    proc.child.kill('SIGINT')
    expect(await proc.exited).toBe(0)
    const left = await docker.listContainers({ filters: { label: [taskLabel] } })
    expect(left).toHaveLength(1)
    expect((await fetch(`http://127.0.0.1:${hostPort}/`)).ok).toBe(true)
    await docker.getContainer(left[0]!.Id).remove({ force: true })
  })
})

describe('dromos up --ha', () => {
  it('runs 3 etcd members, 3 masters and 2 dromos apps as processes; a killed leader is replaced and started again, and no task is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dromos-up-ha-'))
    dirs.push(dir)
    // Each base is followed by the ports up --ha adds to it (masters +2, +4; apps +1; etcd +1…+5).
    // One run of free ports for all of them: masters at +0, +2, +4, apps at +6, +7, etcd at +8…+13, the agent at +14.
    const base = await freePortRun(15)
    const [masterPort, appsPort, etcdPort, agentPort] = [base, base + 6, base + 8, base + 14]
    const state = join(dir, 'state')
    const proc = new Proc(
      ['up', '--ha', '--no-lb', '--work-dir', state, '--master-port', String(masterPort), '--apps-port', String(appsPort), '--etcd-port', String(etcdPort), '--agent-port', String(agentPort), '--resources', 'cpus:1;mem:512;ports:[31220-31230]'],
      join(dir, 'up.out'),
    )
    try {
      const masters = [masterPort, masterPort + 2, masterPort + 4]
      const apps = [appsPort, appsPort + 1]
      const elected = async (port: number): Promise<boolean> =>
        ((await (await fetch(`http://127.0.0.1:${port}/metrics/snapshot`, { signal: AbortSignal.timeout(1000) })).json()) as Record<string, number>)['master/elected'] === 1
      const leadingMaster = async (): Promise<number | undefined> => {
        for (const p of masters) if (await elected(p).catch(() => false)) return p
        return undefined
      }
      const pidOf = (name: string): number => Number(readFileSync(join(state, 'pids', `${name}.pid`), 'utf8'))
      const tasksVia = async (port: number): Promise<string[]> =>
        (((await (await fetch(`http://127.0.0.1:${port}/v2/apps/ha-up/tasks`)).json()) as { tasks: Array<{ id: string; state: string }> }).tasks)
          .filter((t) => t.state === 'TASK_RUNNING')
          .map((t) => t.id)
          .sort()

      await waitUntil('the agent to register with the leading master', async () => {
        const leader = await leadingMaster()
        if (!leader) return false
        const s = (await (await fetch(`http://127.0.0.1:${leader}/master/state`)).json()) as { slaves: unknown[]; frameworks: unknown[] }
        return s.slaves.length === 1 && s.frameworks.length === 1
      }, 60_000)
      // Both apps instances answer once one leads and has recovered, and the other knows it
      // (a 503 "Could not determine the current leader" until then).
      for (const port of apps) await waitUntil(`dromos apps on :${port} to answer`, async () => (await fetch(`http://127.0.0.1:${port}/v2/apps`)).status === 200, 30_000)
      const created = await fetch(`http://127.0.0.1:${apps[1]}/v2/apps`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id: '/ha-up', cmd: 'sleep 3600', instances: 2, cpus: 0.05, mem: 16 }) })
      expect(created.status).toBe(201)
      const before = await waitUntil('two running tasks', async () => {
        const t = await tasksVia(apps[0]!)
        return t.length === 2 ? t : undefined
      })

      // Kill the leading master: another leads, and the killed one comes back as a standby.
      const leader = (await leadingMaster())!
      const name = `master-${masters.indexOf(leader) + 1}`
      const killedPid = pidOf(name)
      process.kill(killedPid, 'SIGKILL')
      await waitUntil('another master to lead', async () => {
        const now = await leadingMaster()
        return now !== undefined && now !== leader
      })
      await waitUntil(`${name} to be started again`, async () => pidOf(name) !== killedPid && (await fetch(`http://127.0.0.1:${leader}/health`)).ok)
      expect(readFileSync(join(dir, 'up.out'), 'utf8')).toContain(`${name} exited (SIGKILL); starting it again`)

      // Kill the leading dromos apps: the other serves the same tasks.
      const appsLeader = ((await (await fetch(`http://127.0.0.1:${apps[0]}/v2/leader`)).json()) as { leader: string }).leader
      const appsName = `apps-${apps.findIndex((p) => appsLeader.endsWith(`:${p}`)) + 1}`
      process.kill(pidOf(appsName), 'SIGKILL')
      const other = apps.find((p) => !appsLeader.endsWith(`:${p}`))!
      await waitUntil('the other dromos apps to lead', async () => {
        const r = await fetch(`http://127.0.0.1:${other}/v2/leader`)
        return r.ok && ((await r.json()) as { leader: string }).leader === `127.0.0.1:${other}`
      })
      expect(await waitUntil('the tasks through the new leader', async () => ((await tasksVia(other)).length === 2 ? tasksVia(other) : undefined))).toEqual(before)

      const pids = ['etcd-1', 'etcd-2', 'etcd-3', 'master-1', 'master-2', 'master-3', 'apps-1', 'apps-2'].map(pidOf)
      proc.child.kill('SIGINT')
      expect(await proc.exited).toBe(0)
      // Nothing it started is left running.
      const running = pids.filter((pid) => {
        try {
          process.kill(pid, 0)
          return true
        } catch {
          return false
        }
      })
      expect(running).toEqual([])
    } catch (err) {
      // What each process said last, for whoever reads the failure.
      const logs = join(state, 'logs')
      const files = [join(dir, 'up.out'), ...(existsSync(logs) ? readdirSync(logs).map((f) => join(logs, f)) : [])]
      for (const f of files) console.log(`--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-15).join('\n')}`)
      throw err
    } finally {
      await proc.stop('SIGINT')
      // A failed test must not leave its cluster running: whatever up --ha did not stop in
      // time (each process names a directory below its work dir) is ended here, and the
      // tasks, which outlive their agent on purpose, with their process groups.
      killTasksUnder(state)
      for (const pid of processesWhere((p) => p.argv().some((a) => a.startsWith(`${state}/`)))) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // ended already
        }
      }
    }
  }, 180_000)
})
