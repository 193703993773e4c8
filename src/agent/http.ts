// The agent's HTTP surface: internal endpoints the master calls, the v0 endpoints (endpoints.ts), and the
// sandbox files API (`/files/browse`, `/files/read`, `/files/download`).
import { createReadStream } from 'node:fs'
import { open, readdir, realpath, stat } from 'node:fs/promises'
import type { Server } from 'node:http'
import { basename, join, resolve, sep } from 'node:path'
import type { Logger } from 'pino'
import type { Agent } from './agent.js'
import { registerAgentEndpoints } from './endpoints.js'
import { wholeUtf8Length } from './sandbox.js'
import type { RequestContext, Router } from '../api/http.js'
import { createRouter, listen, parseBody, sendJson, sendText } from '../api/http.js'
import type { TaskResultsWire } from '../api/internal.js'
import { AcknowledgementsSchema, AgentInternalPath, FrameworkMessageSchema, KillTaskSchema, LaunchTasksSchema, parseLaunchedTasks, ShutdownFrameworkSchema } from '../api/internal.js'
import { BadRequestError, NotFoundError } from '../core/errors.js'

const accepted = (ctx: RequestContext): void => {
  ctx.res.writeHead(202, { 'Content-Length': 0 })
  ctx.res.end()
}

/** What one files/read answers at most: 16 pages, as Mesos. */
const MAX_READ_BYTES = 16 * 4096

export async function startAgentHttp(opts: { agent: Agent; log: Logger; host: string; port: number; maxBodyBytes: number }): Promise<Server> {
  return listen({ router: agentRouter(opts), host: opts.host, port: opts.port, log: opts.log })
}

/** The routes of the agent's HTTP surface, for a listener of its own or one bound before the agent was made. */
export function agentRouter(opts: { agent: Agent; log: Logger; maxBodyBytes: number }): Router {
  const { agent, log, maxBodyBytes } = opts
  const router = createRouter({ log })

  router.on('GET', AgentInternalPath.ping, (ctx) => {
    const ok = agent.ping(ctx.url.searchParams.get('agent_id'), ctx.url.searchParams.get('master_id'), ctx.url.searchParams.get('master'))
    sendJson(ctx.res, ok ? 200 : 409, { agent_id: agent.agentId() ?? null })
  })
  router.on('POST', AgentInternalPath.launch, async (ctx) => {
    const body = await parseBody(ctx, LaunchTasksSchema, maxBodyBytes)
    const launches = parseLaunchedTasks(body.task_infos)
    // Answered before the launches start, as each was when it came alone: what goes wrong
    // later is the task's status update.
    sendJson(ctx.res, 200, { results: launches.map((l) => ('task' in l ? { task_id: l.task.task_id.value } : { task_id: l.taskId, error: l.error })) } satisfies TaskResultsWire)
    for (const l of launches) {
      if ('task' in l) agent.launch(body.framework_id, body.framework_info, l.task).catch((e: unknown) => log.error({ err: e }, 'launch failed'))
    }
  })
  router.on('POST', AgentInternalPath.kill, async (ctx) => {
    const body = await parseBody(ctx, KillTaskSchema, maxBodyBytes)
    accepted(ctx)
    agent.kill(body.framework_id, body.task_id, body.grace_period_ms).catch((e: unknown) => log.error({ err: e }, 'kill failed'))
  })
  router.on('POST', AgentInternalPath.ack, async (ctx) => {
    const body = await parseBody(ctx, AcknowledgementsSchema, maxBodyBytes)
    // Applied in the order given; the answer waits for all of them to be checkpointed.
    await Promise.all(body.acks.map((a) => agent.acknowledge(a.framework_id, a.task_id, a.uuid)))
    accepted(ctx)
  })
  router.on('POST', AgentInternalPath.shutdownFramework, async (ctx) => {
    const body = await parseBody(ctx, ShutdownFrameworkSchema, maxBodyBytes)
    accepted(ctx)
    agent.shutdownFramework(body.framework_id).catch((e: unknown) => log.error({ err: e }, 'framework shutdown failed'))
  })
  router.on('POST', AgentInternalPath.message, async (ctx) => {
    const body = await parseBody(ctx, FrameworkMessageSchema, maxBodyBytes)
    // Command tasks have no executor to talk to; the message is logged and dropped, as Mesos
    // drops messages for executors that do not exist.
    log.info({ frameworkId: body.framework_id, executorId: body.executor_id, bytes: body.data.length }, 'framework message dropped: no custom executors')
    accepted(ctx)
  })

  registerAgentEndpoints(router, agent)
  router.on('GET', '/health', (ctx) => sendText(ctx.res, 200, ''))

  // ---- sandbox files ----
  // Only sandboxes are served, as Mesos serves only the directories it attaches. The rest of
  // the work directory holds the checkpoint, whose TaskInfos carry the tasks' environment.
  const workRoot = resolve(agent.opts.workDir, 'slaves')
  async function safePath(ctx: RequestContext): Promise<string> {
    const path = ctx.url.searchParams.get('path')
    if (!path) throw new BadRequestError("Expecting 'path' to be present")
    let real: string
    try {
      real = await realpath(resolve(path))
    } catch {
      throw new NotFoundError(`No such file or directory: '${path}'`)
    }
    const root = await realpath(workRoot).catch(() => workRoot)
    if (real !== root && !real.startsWith(root + sep)) throw new NotFoundError(`'${path}' is not in a sandbox on this agent`)
    return real
  }

  router.on('GET', '/files/browse', async (ctx) => {
    const dir = await safePath(ctx)
    const st = await stat(dir)
    if (!st.isDirectory()) throw new BadRequestError(`'${dir}' is not a directory`)
    const entries = await readdir(dir)
    const out = []
    for (const name of entries.sort()) {
      const p = join(dir, name)
      const s = await stat(p).catch(() => undefined)
      if (!s) continue
      out.push({ path: p, nlink: s.nlink, size: s.size, mtime: Math.floor(s.mtimeMs / 1000), mode: modeString(s.mode, s.isDirectory()), uid: String(s.uid), gid: String(s.gid) })
    }
    sendJson(ctx.res, 200, out)
  })

  router.on('GET', '/files/read', async (ctx) => {
    const file = await safePath(ctx)
    const st = await stat(file)
    if (st.isDirectory()) throw new BadRequestError(`'${file}' is a directory`)
    const offsetParam = ctx.url.searchParams.get('offset')
    const lengthParam = ctx.url.searchParams.get('length')
    // As Mesos' files/read: no offset (or -1) is the end of the file, and a read at or past
    // the end answers the file's size as its offset, so that a reader sees a file that shrank.
    const offset = offsetParam === null ? -1 : Number(offsetParam)
    if (!Number.isInteger(offset) || offset < -1) throw new BadRequestError("'offset' must be an integer >= -1")
    const start = offset === -1 ? st.size : offset
    if (start >= st.size) return sendJson(ctx.res, 200, { data: '', offset: st.size })
    const length = lengthParam === null ? st.size - start : Number(lengthParam)
    if (!Number.isInteger(length) || length < 0) throw new BadRequestError("'length' must be a non-negative integer")
    // Mesos reads at most 16 pages at a time.
    const n = Math.min(length, MAX_READ_BYTES, st.size - start)
    const buf = Buffer.alloc(n)
    const fh = await open(file, 'r')
    try {
      await fh.read(buf, 0, n, start)
    } finally {
      await fh.close()
    }
    // Mesos sends the bytes as they are; a JSON string holds text, so a character cut at the end waits for the next read.
    sendJson(ctx.res, 200, { data: buf.subarray(0, wholeUtf8Length(buf)).toString('utf8'), offset: start })
  })

  router.on('GET', '/files/download', async (ctx) => {
    const file = await safePath(ctx)
    const st = await stat(file)
    if (st.isDirectory()) throw new BadRequestError(`'${file}' is a directory`)
    ctx.res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': st.size,
      'Content-Disposition': `attachment; filename=${basename(file)}`,
    })
    createReadStream(file).pipe(ctx.res)
  })

  return router
}

function modeString(mode: number, dir: boolean): string {
  const bits = 'rwxrwxrwx'
  let s = dir ? 'd' : '-'
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : '-'
  return s
}
