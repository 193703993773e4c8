// A task's stdout or stderr, read from its sandbox through the agent's files API and followed
// while the view is open. A files API sends no event: the view asks for what lies past the
// offset it has read, once a second, only while it is open, following and the page visible.
import { useEffect, useRef, useState } from 'react'
import type { Task } from '../api.ts'
import { agentApi, sandboxOf } from '../api.ts'

export type LogStream = 'stdout' | 'stderr'

/** The tail shown when the view opens; earlier output stays in the sandbox. */
const TAIL_BYTES = 64 * 1024
const CHUNK_BYTES = 64 * 1024
/** What the view keeps: past it, the oldest lines go. */
const KEEP_CHARS = 512 * 1024
const POLL_MS = 1000

const utf8Bytes = (s: string): number => new TextEncoder().encode(s).length

interface Tail {
  text: string
  /** The bytes before the text that the view does not show. */
  skipped: number
  /** Where the next read starts. */
  offset: number
  /** When the file was last found shorter than what had been read (truncated, or rotated). */
  truncatedAt?: Date
}

/** Where a view of a file opens: its last TAIL_BYTES. */
async function openTail(agentId: string, path: string, truncatedAt?: Date): Promise<Tail> {
  const { offset: size } = await agentApi.read(agentId, path, -1)
  const start = Math.max(0, size - TAIL_BYTES)
  return { text: '', skipped: start, offset: start, ...(truncatedAt ? { truncatedAt } : {}) }
}

/** Reads `path` from its tail on, and follows it while `follow` holds. */
function useFileTail(agentId: string, path: string | undefined, follow: boolean): { tail: Tail | undefined; error: string | undefined } {
  const [tail, setTail] = useState<Tail>()
  const [error, setError] = useState<string>()
  const tailRef = useRef<Tail | undefined>(undefined)
  useEffect(() => {
    tailRef.current = undefined
    setTail(undefined)
    setError(undefined)
  }, [agentId, path])
  useEffect(() => {
    if (!path) return
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const update = (t: Tail): void => {
      tailRef.current = t
      setTail(t)
    }
    const readMore = async (): Promise<void> => {
      let t = tailRef.current ?? (await openTail(agentId, path))
      // Read up to the end of the file, a chunk at a time.
      for (;;) {
        const chunk = await agentApi.read(agentId, path, t.offset, CHUNK_BYTES)
        if (stopped) return
        // A read past the end answers the file's size: the file shrank under the view (a log
        // truncated or rotated). What it holds now is read afresh, and the view says so.
        if (chunk.offset < t.offset) {
          t = await openTail(agentId, path, new Date())
          update(t)
          continue
        }
        const bytes = utf8Bytes(chunk.data)
        let text: string = t.text + chunk.data
        let skipped: number = t.skipped
        if (text.length > KEEP_CHARS) {
          // Drop whole lines from the start.
          const cut = text.indexOf('\n', text.length - KEEP_CHARS)
          const from = cut < 0 ? text.length - KEEP_CHARS : cut + 1
          skipped += utf8Bytes(text.slice(0, from))
          text = text.slice(from)
        }
        t = { text, skipped, offset: t.offset + bytes, ...(t.truncatedAt ? { truncatedAt: t.truncatedAt } : {}) }
        update(t)
        // A short read reached the end (a read may fall short by a character cut at its end).
        if (bytes < CHUNK_BYTES - 3) return
      }
    }
    const tick = async (): Promise<void> => {
      timer = undefined
      try {
        await readMore()
        if (!stopped) setError(undefined)
      } catch (e) {
        if (!stopped) setError(e instanceof Error ? e.message : String(e))
      }
      if (!stopped && follow && document.visibilityState === 'visible') timer = setTimeout(() => void tick(), POLL_MS)
    }
    const onVisibility = (): void => {
      if (document.visibilityState === 'visible' && follow && !timer && !stopped) void tick()
    }
    void tick()
    document.addEventListener('visibilitychange', onVisibility)
    return () => {
      stopped = true
      if (timer) clearTimeout(timer)
      document.removeEventListener('visibilitychange', onVisibility)
    }
  }, [agentId, path, follow])
  return { tail, error }
}

const kib = (n: number): string => `${Math.max(1, Math.round(n / 1024))} KiB`

export function TaskLog({ task, onClose }: { task: Task; onClose: () => void }) {
  const [stream, setStream] = useState<LogStream>('stdout')
  const [follow, setFollow] = useState(true)
  const [sandbox, setSandbox] = useState<string>()
  const [sandboxError, setSandboxError] = useState<string>()
  const pre = useRef<HTMLPreElement>(null)
  const headingRef = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    let live = true
    setSandbox(undefined)
    setSandboxError(undefined)
    agentApi.state(task.slaveId).then(
      (s) => {
        if (!live) return
        const dir = sandboxOf(s, task.id)
        if (dir) setSandbox(dir)
        else setSandboxError('The agent has no sandbox of this task (any more).')
      },
      (e: unknown) => live && setSandboxError(e instanceof Error ? e.message : String(e)),
    )
    return () => {
      live = false
    }
  }, [task.id, task.slaveId])
  useEffect(() => headingRef.current?.focus(), [task.id])
  const { tail, error } = useFileTail(task.slaveId, sandbox && `${sandbox}/${stream}`, follow)
  // While following, the newest line stays in sight, unless the reader scrolled up to read.
  const atEnd = useRef(true)
  useEffect(() => {
    const el = pre.current
    if (el && follow && atEnd.current) el.scrollTop = el.scrollHeight
  }, [tail?.text, follow])
  const onScroll = (): void => {
    const el = pre.current
    if (el) atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24
  }
  const problem = sandboxError ?? error
  return (
    <section className="task-log" aria-labelledby="task-log-title" data-testid="task-log" id="task-log">
      <div className="toolbar">
        <h3 id="task-log-title" tabIndex={-1} ref={headingRef}>
          Logs of <span className="mono">{task.id}</span>
        </h3>
        <fieldset className="switch">
          <legend className="sr-only">Stream</legend>
          {(['stdout', 'stderr'] as const).map((s) => (
            <label key={s} className={s === stream ? 'on' : undefined}>
              <input type="radio" name="log-stream" value={s} checked={s === stream} onChange={() => {
                  atEnd.current = true
                  setStream(s)
                }} />
              {s}
            </label>
          ))}
        </fieldset>
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} data-testid="log-follow" /> Follow
        </label>
        {sandbox && (
          <a className="button" href={agentApi.downloadUrl(task.slaveId, `${sandbox}/${stream}`)} download={`${task.id}.${stream}`} data-testid="log-download">
            Download {stream}
          </a>
        )}
        <button onClick={onClose} className="close">
          Close logs
        </button>
      </div>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      {tail?.truncatedAt && (
        <p className="muted small" role="status" data-testid="log-truncated">
          The file was truncated or replaced at {tail.truncatedAt.toLocaleTimeString()}: shown from its new content.
        </p>
      )}
      {tail && tail.skipped > 0 && <p className="muted small">The first {kib(tail.skipped)} are not shown.</p>}
      <pre className="log" ref={pre} onScroll={onScroll} tabIndex={0} aria-label={`${stream} of ${task.id}`} data-testid="log-text" data-stream={stream}>
        {tail ? tail.text || `(${stream} is empty)` : 'Loading…'}
      </pre>
      <p className="muted small" data-testid="log-status">
        {tail ? `${tail.offset} bytes read` : ''}
        {tail && (follow ? ', following' : ', paused')}
      </p>
    </section>
  )
}
