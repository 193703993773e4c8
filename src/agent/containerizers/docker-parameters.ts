// The `docker run` flags of a task's docker parameters, onto the create-container body.
import type Dockerode from 'dockerode'
import type { Logger } from 'pino'

/** Flags that may repeat, each adding one entry to a list of the host config. */
const LIST_FLAGS = new Map<string, 'ExtraHosts' | 'Dns' | 'DnsSearch' | 'CapAdd' | 'CapDrop' | 'Binds' | 'SecurityOpt'>([
  ['add-host', 'ExtraHosts'],
  ['dns', 'Dns'],
  ['dns-search', 'DnsSearch'],
  ['cap-add', 'CapAdd'],
  ['cap-drop', 'CapDrop'],
  ['volume', 'Binds'],
  ['v', 'Binds'],
  ['security-opt', 'SecurityOpt'],
])

/**
 * Maps the `docker run` flags that Marathon users pass most often onto the create body.
 * Unknown ones are logged and ignored rather than failing the task, as a missing
 * optimisation should not stop an app from running.
 */
export function applyParameters(
  params: readonly { key: string; value: string }[],
  into: {
    readonly spec: Dockerode.ContainerCreateOptions
    readonly host: Dockerode.HostConfig
    readonly env: Record<string, string>
    readonly labels: Record<string, string>
    readonly log: Logger
  },
): void {
  const { spec, host, env, labels, log } = into
  const splitPair = (s: string, sep: string): [string, string] => {
    const i = s.indexOf(sep)
    return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)]
  }
  for (const { key, value } of params) {
    const flag = key.replace(/^-+/, '')
    const list = LIST_FLAGS.get(flag)
    if (list !== undefined) {
      ;(host[list] ??= []).push(value)
      continue
    }
    switch (flag) {
      case 'env':
      case 'e': {
        const [k, v] = splitPair(value, '=')
        env[k] = v
        break
      }
      case 'label':
      case 'l': {
        const [k, v] = splitPair(value, '=')
        // Our own labels find the task again after a restart; never let a parameter move them.
        if (!k.startsWith('dromos.')) labels[k] = v
        break
      }
      case 'hostname':
      case 'h':
        if (host.NetworkMode !== 'host') spec.Hostname = value
        break
      case 'user':
      case 'u':
        spec.User = value
        break
      case 'workdir':
      case 'w':
        spec.WorkingDir = value
        break
      case 'entrypoint':
        spec.Entrypoint = value === '' ? [''] : [value]
        break
      case 'sysctl': {
        const [k, v] = splitPair(value, '=')
        host.Sysctls = { ...(host.Sysctls ?? {}), [k]: v }
        break
      }
      case 'tmpfs': {
        const [path, options] = splitPair(value, ':')
        host.Tmpfs = { ...(host.Tmpfs ?? {}), [path]: options }
        break
      }
      case 'shm-size': {
        const bytes = parseBytes(value)
        if (bytes === null) log.warn({ key, value }, 'ignoring docker parameter with a bad size')
        else host.ShmSize = bytes
        break
      }
      case 'memory-swap': {
        const bytes = value === '-1' ? -1 : parseBytes(value)
        if (bytes === null) log.warn({ key, value }, 'ignoring docker parameter with a bad size')
        else host.MemorySwap = bytes
        break
      }
      case 'init':
        host.Init = value !== 'false'
        break
      case 'ulimit': {
        // name=soft[:hard]
        const [name, limits] = splitPair(value, '=')
        const [soft, hard] = splitPair(limits, ':')
        const s = Number(soft)
        const h = hard === '' ? s : Number(hard)
        if (!Number.isInteger(s) || !Number.isInteger(h)) log.warn({ key, value }, 'ignoring bad ulimit parameter')
        else (host.Ulimits ??= []).push({ Name: name, Soft: s, Hard: h })
        break
      }
      default:
        log.warn({ key, value }, 'ignoring unsupported docker parameter')
    }
  }
}

/** Parses docker's size strings: 64m, 1g, 512k, 1024 (bytes). */
export function parseBytes(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(s.trim())
  if (m === null) return null
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as '' | 'b' | 'k' | 'm' | 'g']
  return Math.round(Number(m[1]) * unit)
}
