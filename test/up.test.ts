// `dromos up`: one command gives a working cluster; Ctrl-C stops it and its containers.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, Proc, waitUntil } from './lib/cluster.js'
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
