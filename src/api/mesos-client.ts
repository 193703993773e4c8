// A small typed client of the Mesos v0 JSON endpoints the CLI reads: the master's
// /master/state, an agent's /state, and an agent's sandbox files (/files/read). Responses are
// parsed once here with zod; fields the schemas do not name pass through, so `--json` shows
// everything the server sent. Real Mesos serves the same shapes.
import type { Instances } from './instances.js'
import { createInstances, InstanceUnreachable, parseInstanceList } from './instances.js'
import { z } from 'zod'
import { normalizeBaseUrl } from './marathon-client.js'

// ---- wire shapes ----

/** v0 resources: scalars by name, ranges as "[31000-31099]". */
export const V0ResourcesSchema = z.record(z.string(), z.union([z.number(), z.string()]))
export type V0Resources = z.infer<typeof V0ResourcesSchema>

export const V0TaskSchema = z.looseObject({
  id: z.string(),
  name: z.string().default(''),
  framework_id: z.string().default(''),
  executor_id: z.string().default(''),
  slave_id: z.string().default(''),
  state: z.string().default(''),
  resources: V0ResourcesSchema.default({}),
  statuses: z.array(z.looseObject({ state: z.string(), timestamp: z.number() })).default([]),
})
export type V0Task = z.infer<typeof V0TaskSchema>

export const V0AgentSchema = z.looseObject({
  id: z.string(),
  pid: z.string().default(''),
  hostname: z.string().default(''),
  port: z.number().optional(),
  resources: V0ResourcesSchema.default({}),
  used_resources: V0ResourcesSchema.default({}),
  offered_resources: V0ResourcesSchema.default({}),
  attributes: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  active: z.boolean().default(true),
  registered_time: z.number().optional(),
  version: z.string().optional(),
})
export type V0Agent = z.infer<typeof V0AgentSchema>

export const V0FrameworkSchema = z.looseObject({
  id: z.string(),
  name: z.string().default(''),
  active: z.boolean().default(false),
  role: z.string().optional(),
  roles: z.array(z.string()).optional(),
  hostname: z.string().default(''),
  webui_url: z.string().default(''),
  registered_time: z.number().optional(),
  used_resources: V0ResourcesSchema.default({}),
  offered_resources: V0ResourcesSchema.default({}),
  tasks: z.array(V0TaskSchema).default([]),
  unreachable_tasks: z.array(V0TaskSchema).default([]),
  completed_tasks: z.array(V0TaskSchema).default([]),
})
export type V0Framework = z.infer<typeof V0FrameworkSchema>

export const MasterStateSchema = z.looseObject({
  version: z.string().default(''),
  id: z.string().default(''),
  pid: z.string().default(''),
  hostname: z.string().default(''),
  leader: z.string().default(''),
  leader_info: z.looseObject({ hostname: z.string().optional(), port: z.number().optional() }).optional(),
  start_time: z.number().optional(),
  elected_time: z.number().optional(),
  activated_slaves: z.number().default(0),
  deactivated_slaves: z.number().default(0),
  unreachable_slaves: z.number().default(0),
  slaves: z.array(V0AgentSchema).default([]),
  frameworks: z.array(V0FrameworkSchema).default([]),
  completed_frameworks: z.array(V0FrameworkSchema).default([]),
})
export type MasterState = z.infer<typeof MasterStateSchema>

const AgentExecutorSchema = z.looseObject({
  id: z.string(),
  directory: z.string().default(''),
  tasks: z.array(V0TaskSchema).default([]),
  completed_tasks: z.array(V0TaskSchema).default([]),
  queued_tasks: z.array(V0TaskSchema).default([]),
})
const AgentFrameworkSchema = z.looseObject({
  id: z.string(),
  executors: z.array(AgentExecutorSchema).default([]),
  completed_executors: z.array(AgentExecutorSchema).default([]),
})
export const AgentStateSchema = z.looseObject({
  id: z.string().default(''),
  hostname: z.string().default(''),
  frameworks: z.array(AgentFrameworkSchema).default([]),
  completed_frameworks: z.array(AgentFrameworkSchema).default([]),
})
export type AgentState = z.infer<typeof AgentStateSchema>

export const FileChunkSchema = z.looseObject({ data: z.string(), offset: z.number() })
export type FileChunk = z.infer<typeof FileChunkSchema>

// ---- errors ----

/** No answer at all from a master or an agent. */
export class MesosUnreachableError extends Error {
  readonly code = 'MESOS_UNREACHABLE'
  constructor(
    readonly what: 'master' | 'agent',
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach the ${what} at ${url}: ${reason}`)
  }
}

/** An error status, or an answer that is not the expected JSON. */
export class MesosApiError extends Error {
  readonly code = 'MESOS_API'
  constructor(
    readonly status: number,
    readonly request: { readonly method: string; readonly url: string },
    message: string,
  ) {
    super(message)
  }
}

// ---- helpers ----

/** `slave(1)@10.0.0.5:5051` → `http://10.0.0.5:5051`; undefined when the pid names no address. */
export function agentUrlFromPid(pid: string): string | undefined {
  const m = /@([^@:\s]+):(\d+)$/.exec(pid)
  return m ? `http://${m[1]}:${m[2]}` : undefined
}

/** The sandbox directory of a task in an agent's /state: its executor's `directory`. */
export function sandboxOf(state: AgentState, taskId: string): { directory: string; state: string } | undefined {
  for (const f of [...state.frameworks, ...state.completed_frameworks]) {
    for (const e of [...f.executors, ...f.completed_executors]) {
      const task = [...e.tasks, ...e.queued_tasks, ...e.completed_tasks].find((t) => t.id === taskId)
      // A command task's executor carries the task's id.
      if (task || e.id === taskId) return { directory: e.directory, state: task?.state ?? '' }
    }
  }
  return undefined
}

// ---- the client ----

export interface MesosClient {
  readonly masterUrl: string
  masterState(): Promise<MasterState>
  agentState(agentUrl: string): Promise<AgentState>
  /** GET /files/read on an agent; `offset: -1` answers only the file's size (in `offset`). */
  readFile(agentUrl: string, file: { path: string; offset: number; length?: number }): Promise<FileChunk>
}

export interface MesosClientOptions {
  /** e.g. http://127.0.0.1:5050; a bare host:port gets http:// */
  readonly masterUrl: string
  readonly requestTimeoutMs?: number
}

function reasonOf(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (err?.name === 'TimeoutError') return 'timed out'
  return err?.cause?.message ?? err?.cause?.code ?? err?.message ?? String(e)
}

export function createMesosClient(opts: MesosClientOptions): MesosClient {
  // The masters of an HA cluster (`h1:5050,h2:5052`): standbys redirect to the leader, and
  // fetch follows; one that is down makes the next one asked.
  const masters = createInstances(parseInstanceList(opts.masterUrl, normalizeBaseUrl))
  const timeoutMs = opts.requestTimeoutMs ?? 30_000

  async function get<T>(what: 'master' | 'agent', base: string | Instances, path: string, schema: z.ZodType<T>): Promise<T> {
    const instances = typeof base === 'string' ? createInstances([base]) : base
    let res: Response
    let text: string
    let url: string
    try {
      const answer = await instances.fetch(path, () => ({ headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) }))
      res = answer.res
      url = `${answer.base}${path}`
      text = await res.text()
    } catch (e) {
      const u = e instanceof InstanceUnreachable ? e : undefined
      throw new MesosUnreachableError(what, u?.base ?? instances.current(), reasonOf(u?.cause ?? e))
    }
    const request = { method: 'GET', url }
    if (!res.ok) throw new MesosApiError(res.status, request, `GET ${url} answered ${res.status}: ${text.slice(0, 200).trim() || res.statusText}`)
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new MesosApiError(res.status, request, `GET ${url} did not answer JSON`)
    }
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new MesosApiError(res.status, request, `GET ${url} answered an unexpected shape: ${parsed.error.issues.map((i) => `${i.path.join('/') || '/'}: ${i.message}`).join('; ')}`)
    return parsed.data
  }

  return {
    get masterUrl() {
      return masters.current()
    },
    masterState: () => get('master', masters, '/master/state', MasterStateSchema),
    agentState: (agentUrl) => get('agent', normalizeBaseUrl(agentUrl), '/state', AgentStateSchema),
    readFile(agentUrl, file) {
      const q = new URLSearchParams({ path: file.path, offset: String(file.offset) })
      if (file.length !== undefined) q.set('length', String(file.length))
      return get('agent', normalizeBaseUrl(agentUrl), `/files/read?${q.toString()}`, FileChunkSchema)
    },
  }
}
