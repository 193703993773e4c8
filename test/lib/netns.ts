// Hosts for multi-host tests: each a network namespace with its own address on a bridge that
// the test creates (10.213.X.0/24, X picked at random; the bridge itself is .1, host i is
// .(10 + i)). Processes run inside a host with `ip netns exec`. A host is partitioned either
// by taking its link down ('link': its own sends fail at once, as on a host whose cable is
// pulled) or by dropping every packet in and out of it but loopback ('drop': iptables rules in
// its namespace; nothing fails, connections just hang, as behind a broken switch), and healed
// by undoing that. destroy() kills every process left in the namespaces and removes them (with
// any rules inside) and the bridge, also after a failed test. Needs root (CAP_NET_ADMIN) and
// iptables (one FORWARD rule for the bridge, removed with it). Traffic goes only to these
// addresses.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { AppsProcess } from './apps.js'
import { Proc } from './cluster.js'

export interface NetnsHost {
  readonly index: number
  /** The namespace's name, for `ip netns exec` (Proc's netns). */
  readonly netns: string
  readonly ip: string
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const iptables = (...args: string[]): string => execFileSync('iptables', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
/** iptables inside a host's namespace: its own tables, gone with it. */
const nsIptables = (netns: string, ...args: string[]): string => ip('netns', 'exec', netns, 'iptables', ...args)
/**
 * Docker's FORWARD policy is DROP, and with br_netfilter bridged frames go through it: hosts
 * on this bridge may talk to each other (and only this bridge's traffic is let through).
 */
const forwardRule = (bridge: string): string[] => ['FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']
/** The rules of a 'drop' partition, inside the host's namespace: everything but loopback. */
const dropRules: string[][] = [
  ['INPUT', '!', '-i', 'lo', '-j', 'DROP'],
  ['OUTPUT', '!', '-o', 'lo', '-j', 'DROP'],
]

/** How a host is cut off: its link down, or its packets dropped (see the file's header). */
export type PartitionMode = 'link' | 'drop'

/** Whether this process may create namespaces and links. */
export function canCreateNetns(): boolean {
  return process.getuid?.() === 0
}

export class NetnsHosts {
  /** The hosts cut off now, and how. */
  private readonly cut = new Map<number, PartitionMode>()

  private constructor(
    readonly id: string,
    readonly subnet: string,
    readonly bridge: string,
    readonly hosts: NetnsHost[],
  ) {}

  /** The address of the test's own end, on the bridge. */
  get gateway(): string {
    return `${this.subnet}.1`
  }

  static create(n: number): NetnsHosts {
    const id = randomBytes(2).toString('hex')
    const subnet = `10.213.${1 + (parseInt(id, 16) % 250)}`
    const bridge = `drb${id}`
    const created = new NetnsHosts(id, subnet, bridge, [])
    try {
      ip('link', 'add', bridge, 'type', 'bridge')
      ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge)
      ip('link', 'set', bridge, 'up')
      iptables('-I', ...forwardRule(bridge))
      for (let i = 1; i <= n; i++) {
        const netns = `dromos-${id}-h${i}`
        const outside = `drv${id}${i}`
        const inside = `dri${id}${i}`
        ip('netns', 'add', netns)
        created.hosts.push({ index: i, netns, ip: `${subnet}.${10 + i}` })
        ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside)
        ip('link', 'set', inside, 'netns', netns)
        ip('link', 'set', outside, 'master', bridge, 'up')
        ip('-n', netns, 'link', 'set', 'lo', 'up')
        ip('-n', netns, 'addr', 'add', `${subnet}.${10 + i}/24`, 'dev', inside)
        ip('-n', netns, 'link', 'set', inside, 'up')
      }
      return created
    } catch (err) {
      created.destroy()
      throw err
    }
  }

  host(i: number): NetnsHost {
    const h = this.hosts.find((x) => x.index === i)
    if (!h) throw new Error(`no host ${i}`)
    return h
  }

  /** Cuts the host off from every other one (and from the test's end); its processes run on. */
  partition(i: number, mode: PartitionMode = 'link'): void {
    const h = this.host(i)
    if (this.cut.has(i)) throw new Error(`host ${i} is cut off already`)
    if (mode === 'link') ip('-n', h.netns, 'link', 'set', `dri${this.id}${i}`, 'down')
    else for (const rule of dropRules) nsIptables(h.netns, '-w', '-I', ...rule)
    this.cut.set(i, mode)
  }

  /** Undoes partition(i); a host that is not cut off is left as it is. */
  heal(i: number): void {
    const h = this.host(i)
    const mode = this.cut.get(i)
    if (mode === 'link') ip('-n', h.netns, 'link', 'set', `dri${this.id}${i}`, 'up')
    else if (mode === 'drop') for (const rule of dropRules) nsIptables(h.netns, '-w', '-D', ...rule)
    this.cut.delete(i)
  }

  /** The processes running in the host's namespace (none once it is gone). */
  pids(i: number): number[] {
    try {
      return ip('netns', 'pids', this.host(i).netns).split('\n').filter(Boolean).map(Number)
    } catch {
      return []
    }
  }

  destroy(): void {
    for (const h of this.hosts) {
      for (const pid of this.pids(h.index)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // exited meanwhile
        }
      }
      try {
        ip('netns', 'del', h.netns)
      } catch {
        rmSync(`/run/netns/${h.netns}`, { force: true })
      }
    }
    try {
      iptables('-D', ...forwardRule(this.bridge))
    } catch {
      // not added
    }
    try {
      ip('link', 'del', this.bridge)
    } catch {
      // not created, or gone
    }
  }
}

/** `dromos apps` on a namespace host, on :8080, given the masters by address; ready when it returns. */
export async function startAppsOn(host: NetnsHost, masterList: string, dir: string): Promise<AppsProcess> {
  const apps = new AppsProcess({ masterUrl: masterList, dir }, join(dir, 'apps'))
  apps.port = 8080
  apps.url = `http://${host.ip}:8080`
  apps.proc = new Proc(['apps', '--ip', host.ip, '--port', '8080', '--master', masterList, '--work-dir', apps.workDir, '--log-level', 'debug'], join(dir, 'apps.log'), host.netns)
  await apps.waitReady()
  return apps
}
