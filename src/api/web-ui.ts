// Serves the web UI (web/dist, one build) beside a process's JSON endpoints: the master's and
// the apps framework's. The UI routes on the client, so an HTML request for a path that is no
// file gets index.html; any other request for an unknown path keeps its plain 404.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, extname, join, normalize, sep } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { Handler, RequestContext, Router } from './http.js'
import { sendText } from './http.js'

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * The built UI of this checkout: web/dist above `fromDir` (the compiled dist/src/cli, or the
 * sources), or undefined when the UI is not built.
 */
export function findWebUiDir(fromDir: string): string | undefined {
  for (let d = fromDir; ; d = dirname(d)) {
    const candidate = join(d, 'web', 'dist')
    if (existsSync(join(candidate, 'index.html'))) return candidate
    if (dirname(d) === d) return undefined
  }
}

function notFound(ctx: RequestContext): void {
  sendText(ctx.res, 404, `No endpoint at '${ctx.url.pathname}'`)
}

/** The file under `dir` that a URL path names, or undefined (no such file, or outside `dir`). */
function fileOf(dir: string, pathname: string): string | undefined {
  const file = normalize(join(dir, pathname))
  if (!file.startsWith(dir + sep)) return undefined
  try {
    return statSync(file).isFile() ? file : undefined
  } catch {
    return undefined
  }
}

function sendFile(ctx: RequestContext, file: string, cacheControl: string): void {
  const body = readFileSync(file)
  ctx.res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': cacheControl,
    'X-Content-Type-Options': 'nosniff',
  })
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body)
}

/**
 * Registers the UI as the router's fallback: it runs only when no route of the API knows the
 * path, so it never shadows one. Without a built UI, `/` says how to build it.
 */
export function serveWebUi(router: Router, dir: string | undefined): void {
  const handler: Handler = (ctx) => {
    const method = ctx.req.method ?? 'GET'
    const { pathname } = ctx.url
    if (method !== 'GET' && method !== 'HEAD') return notFound(ctx)
    if (!dir) return pathname === '/' ? sendText(ctx.res, 404, "No endpoint at '/': the web UI is not built (run make build)") : notFound(ctx)
    const file = pathname === '/' ? undefined : fileOf(dir, pathname)
    // Vite names assets by content hash: they never change under their name.
    if (file) return sendFile(ctx, file, pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache')
    const wantsHtml = String(ctx.req.headers.accept ?? '').includes('text/html')
    if (pathname === '/' || (wantsHtml && extname(pathname) === '')) return sendFile(ctx, join(dir, 'index.html'), 'no-cache')
    notFound(ctx)
  }
  router.fallback(handler)
}

/**
 * Answers with what a GET of `target` answers (status, body and its type). The apps UI reads
 * the master's state through its own server: the master is always reachable from there, and
 * the browser need not reach the master's address, nor the master answer CORS.
 */
export async function relayGet(ctx: RequestContext, target: string, timeoutMs = 10_000): Promise<void> {
  let r: Response
  try {
    r = await fetch(target, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (e) {
    return sendText(ctx.res, 502, `Cannot reach ${target}: ${(e as Error).message}`)
  }
  // Streamed as it comes: a downloaded sandbox file may be large.
  const headers: Record<string, string> = { 'Content-Type': r.headers.get('content-type') ?? 'application/octet-stream' }
  for (const h of ['content-length', 'content-disposition']) {
    const v = r.headers.get(h)
    if (v !== null) headers[h] = v
  }
  ctx.res.writeHead(r.status, headers)
  if (!r.body || ctx.req.method === 'HEAD') return void ctx.res.end()
  await pipeline(Readable.fromWeb(r.body as WebReadableStream), ctx.res).catch(() => ctx.res.destroy())
}
