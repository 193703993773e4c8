import { useEffect, useMemo, useRef, useState } from 'react'
import type { ErrorDetail } from '../api.ts'
import { api, ApiError, appPath, request } from '../api.ts'
import { lineOfPath, syntaxErrorLine } from '../json-locate.ts'
import { appUrl, Link, navigate } from '../router.tsx'
import { configOf } from './AppPage.tsx'

const TEMPLATE = {
  id: '/my-app',
  cmd: 'mkdir -p w && echo hello > w/index.html && exec busybox httpd -f -p $PORT0 -h w',
  instances: 1,
  cpus: 0.1,
  mem: 32,
  portDefinitions: [{ port: 0, name: 'http' }],
  healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 5, gracePeriodSeconds: 30 }],
  labels: {},
}

interface Problem extends ErrorDetail {
  line: number | undefined
}

const LINE_HEIGHT_EM = 1.5

export function AppEditor({ id }: { id?: string }) {
  const editing = id !== undefined
  const [text, setText] = useState(editing ? '' : JSON.stringify(TEMPLATE, null, 2))
  const [loadError, setLoadError] = useState<string>()
  const [problems, setProblems] = useState<Problem[]>([])
  const [message, setMessage] = useState<string>()
  const [force, setForce] = useState(false)
  const [locked, setLocked] = useState(false)
  const [busy, setBusy] = useState(false)
  const area = useRef<HTMLTextAreaElement>(null)
  const gutter = useRef<HTMLDivElement>(null)

  useEffect(() => {
    if (!editing) return
    api.app(id).then(
      (app) => {
        const { version: _v, versionInfo: _vi, ...config } = configOf(app)
        setText(JSON.stringify(config, null, 2))
      },
      (e: unknown) => setLoadError(String((e as Error).message)),
    )
  }, [editing, id])

  const lines = useMemo(() => text.split('\n').length, [text])
  const errorLines = useMemo(() => new Set(problems.map((p) => p.line).filter((l) => l !== undefined)), [problems])

  const goToLine = (line: number | undefined): void => {
    const el = area.current
    if (!el || line === undefined) return
    const all = el.value.split('\n')
    const start = all.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0)
    el.focus()
    el.setSelectionRange(start, start + (all[line - 1]?.length ?? 0))
  }

  const submit = async (): Promise<void> => {
    setProblems([])
    setMessage(undefined)
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (e) {
      const msg = (e as Error).message
      setMessage('The definition is not valid JSON.')
      setProblems([{ path: '/', errors: [msg], line: syntaxErrorLine(text) }])
      return
    }
    const q = force ? '?force=true' : ''
    setBusy(true)
    try {
      if (editing) await request('PUT', `${appPath(id)}${q}`, body)
      else await request('POST', `/v2/apps${q}`, body)
      const target = editing ? id : String((body as { id?: unknown }).id ?? '')
      navigate(appUrl(target.startsWith('/') ? target : `/${target}`))
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, String(e))
      setMessage(err.message)
      setLocked(err.status === 409 && err.deployments.length > 0)
      setProblems(err.details.map((d) => ({ ...d, line: lineOfPath(text, d.path) })))
    } finally {
      setBusy(false)
    }
  }

  return (
    <section aria-labelledby="editor-title">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/">Applications</Link> / {editing ? <Link to={appUrl(id)}>{id}</Link> : <span>new</span>}
      </nav>
      <h1 id="editor-title">{editing ? `Edit ${id}` : 'Create an application'}</h1>
      {loadError && (
        <p className="error" role="alert">
          {loadError}
        </p>
      )}
      <form
        className="editor-grid"
        onSubmit={(e) => {
          e.preventDefault()
          void submit()
        }}
      >
        <div className="editor" style={{ lineHeight: `${LINE_HEIGHT_EM}em` }}>
          <div className="gutter" ref={gutter} aria-hidden="true">
            {Array.from({ length: lines }, (_, i) => (
              <div key={i} className={errorLines.has(i + 1) ? 'error-line' : undefined}>
                {i + 1}
              </div>
            ))}
          </div>
          <textarea
            ref={area}
            aria-label="App definition (JSON)"
            data-testid="app-json"
            spellCheck={false}
            value={text}
            rows={Math.max(18, Math.min(lines + 1, 40))}
            onChange={(e) => setText(e.target.value)}
            onScroll={(e) => {
              if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault()
                void submit()
              }
            }}
          />
        </div>
        <aside className="problems" aria-live="polite">
          {message && (
            <p className="error" role="alert" data-testid="submit-error">
              {message}
            </p>
          )}
          {problems.length > 0 && (
            <ul>
              {problems.map((p, i) => (
                <li key={i} data-path={p.path} data-testid="field-error">
                  <button type="button" className="link" onClick={() => goToLine(p.line)} title="Show this field in the editor">
                    <code>{p.path}</code>
                    {p.line !== undefined && <span className="muted"> line {p.line}</span>}
                  </button>
                  <ul>
                    {p.errors.map((e, j) => (
                      <li key={j}>{e}</li>
                    ))}
                  </ul>
                </li>
              ))}
            </ul>
          )}
          {locked && (
            <label className="check">
              <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} /> Override the running deployment (force)
            </label>
          )}
          <div className="dialog-buttons">
            <button type="submit" className="primary" disabled={busy}>
              {editing ? 'Save changes' : 'Create app'}
            </button>
          </div>
          <p className="muted small">Ctrl+Enter submits. Fields follow Marathon’s app definition.</p>
        </aside>
      </form>
    </section>
  )
}
