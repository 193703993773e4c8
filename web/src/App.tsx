// The shell: which server this is (apps answers /v2/info, the master does not), the navigation,
// the live-events connection and the routes.
import { useEffect, useState } from 'react'
import { api, request } from './api.ts'
import { ErrorBoundary } from './components.tsx'
import { followAppsEvents, followMasterEvents, useConnected, useLive } from './live.ts'
import { AppEditor } from './pages/AppEditor.tsx'
import { AppPage } from './pages/AppPage.tsx'
import { AppsList } from './pages/AppsList.tsx'
import { Cluster } from './pages/Cluster.tsx'
import { Deployments } from './pages/Deployments.tsx'
import { Link, usePath } from './router.tsx'

type Mode = 'apps' | 'master'

async function detectMode(): Promise<Mode> {
  try {
    await request('GET', '/v2/info')
    return 'apps'
  } catch {
    return 'master'
  }
}

function Page({ mode, path }: { mode: Mode; path: string }) {
  if (mode === 'master') return <Cluster mode="master" />
  if (path === '/new') return <AppEditor />
  if (path.startsWith('/edit/')) return <AppEditor id={decodeURIComponent(path.slice('/edit'.length))} />
  if (path.startsWith('/apps/')) return <AppPage id={decodeURIComponent(path.slice('/apps'.length))} />
  if (path === '/deployments') return <Deployments />
  if (path === '/cluster') return <Cluster mode="apps" />
  return <AppsList />
}

function DeploymentCount() {
  const list = useLive(api.deployments, (e) => e.eventType.startsWith('deployment_') || e.eventType === 'api_post_event' || e.eventType === 'stream_reconnected', 'nav-deployments')
  const n = list.data?.length ?? 0
  return n > 0 ? <span className="pill" aria-label={`${n} in progress`}>{n}</span> : null
}

export function App() {
  const [mode, setMode] = useState<Mode>()
  const path = usePath()
  const connected = useConnected()
  useEffect(() => {
    void detectMode().then(setMode)
  }, [])
  useEffect(() => {
    if (!mode) return
    return mode === 'apps' ? followAppsEvents() : followMasterEvents()
  }, [mode])
  useEffect(() => {
    document.title = mode === 'master' ? 'dromos master' : 'dromos'
  }, [mode])
  const current = (p: string): 'page' | undefined => {
    const active = p === '/' ? path === '/' || path.startsWith('/apps/') || path === '/new' || path.startsWith('/edit/') : path.startsWith(p)
    return active ? 'page' : undefined
  }
  return (
    <>
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">dromos{mode === 'master' ? ' master' : ''}</span>
        {mode === 'apps' && (
          <nav aria-label="Main">
            <Link to="/" aria-current={current('/')}>
              Applications
            </Link>
            <Link to="/deployments" aria-current={current('/deployments')}>
              Deployments <DeploymentCount />
            </Link>
            <Link to="/cluster" aria-current={current('/cluster')}>
              Cluster
            </Link>
          </nav>
        )}
        <span className={`live ${connected ? 'on' : 'off'}`} role="status" data-testid="live">
          {connected ? 'live' : 'connecting…'}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {mode && (
          <ErrorBoundary path={path}>
            <Page mode={mode} path={path} />
          </ErrorBoundary>
        )}
      </main>
    </>
  )
}
