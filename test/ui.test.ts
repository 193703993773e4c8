// The web UI, in headless Chromium (Debian's, driven by playwright-core) against a real
// master, agent and `dromos apps`: create an app in the JSON editor, watch it become healthy
// through the event stream, scale it, see a validation error at its field, see why an app
// waits and roll its deployment back, and see the agent on the master's own UI.
// Screenshots go to the test's temp dir and to test-artifacts/ui/.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess } from './lib/apps.js'
import { TestCluster } from './lib/cluster.js'
import { readResponse } from './lib/http.js'

const REPO = join(import.meta.dirname, '..')
const ARTIFACTS = join(REPO, 'test-artifacts', 'ui')
const CHROMIUM = '/usr/bin/chromium'

let cluster: TestCluster
let apps: AppsProcess
let browser: Browser
let page: Page
let shots = ''
let agentId = ''

/** A property of the focused element (the test's tsconfig has no DOM types: an expression). */
function focused(property: 'textContent' | 'dataset.testid'): Promise<string | undefined> {
  return page.evaluate(`document.activeElement?.${property}`)
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

beforeAll(async () => {
  if (!existsSync(join(REPO, 'web', 'dist', 'index.html'))) throw new Error('web/dist is not built: run npm run build:web (make test does)')
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (make test does), or apt-get install chromium`)
  cluster = await TestCluster.start({
    // The agent is named by its address, so that the UI's host:port links lead to the tasks.
    agents: [{ hostname: '127.0.0.1', attributes: 'rack:r1;zone:a', resources: 'cpus:2;mem:1024;disk:1000;ports:[31700-31799]' }],
  })
  agentId = ((await cluster.state()) as { slaves: Array<{ id: string }> }).slaves[0]!.id
  apps = await AppsProcess.start(cluster)
  shots = join(cluster.dir, 'screenshots')
  mkdirSync(shots, { recursive: true })
  // As root, Chromium runs only without its sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
  page = await browser.newPage({ viewport: { width: 1366, height: 860 } })
})

afterAll(async () => {
  await browser?.close()
  if (shots && existsSync(shots)) {
    mkdirSync(ARTIFACTS, { recursive: true })
    for (const f of readdirSync(shots)) copyFileSync(join(shots, f), join(ARTIFACTS, f))
  }
  await apps?.removeAllApps()
  await apps?.proc.stop()
  await cluster?.stop()
})

describe('serving', () => {
  it('apps and the master serve the UI at / and keep their JSON endpoints', async () => {
    for (const base of [apps.url, cluster.masterUrl]) {
      const root = await readResponse(await fetch(`${base}/`))
      expect(root.status).toBe(200)
      expect(root.type).toContain('text/html')
      expect(root.text).toContain('<div id="root">')
      const script = /src="(\/assets\/[^"]+\.js)"/.exec(root.text)![1]!
      const asset = await fetch(`${base}${script}`)
      expect(asset.status).toBe(200)
      expect(asset.headers.get('content-type')).toContain('text/javascript')
      // A client-side route is the UI for a browser, and stays a 404 for an API client.
      expect((await readResponse(await fetch(`${base}/deployments`, { headers: { Accept: 'text/html' } }))).text).toContain('<div id="root">')
      const unknown = await readResponse(await fetch(`${base}/no/such/endpoint`))
      expect(unknown.status).toBe(404)
      expect(unknown.text).toBe("No endpoint at '/no/such/endpoint'")
      expect((await fetch(`${base}/no/such/endpoint`, { method: 'POST' })).status).toBe(404)
      expect((await fetch(`${base}/../../etc/passwd`)).status).toBe(404)
    }
    expect((await readResponse(await fetch(`${apps.url}/v2/apps`))).json).toEqual({ apps: [] })
    expect((await readResponse(await fetch(`${apps.url}/ping`))).text).toBe('pong')
    expect((await readResponse(await fetch(`${cluster.masterUrl}/master/state`))).json.slaves).toHaveLength(1)
    // The apps UI reads the master through its own server.
    expect((await readResponse(await fetch(`${apps.url}/dromos/master/state`))).json.slaves[0].id).toBe(agentId)
  })
})

describe('the apps UI', () => {
  const web = {
    id: '/ui/web',
    cmd: 'mkdir -p w && echo ok > w/index.html && exec busybox httpd -f -p $PORT0 -h w',
    cpus: 0.1,
    mem: 32,
    instances: 1,
    portDefinitions: [{ port: 0, name: 'http' }],
    labels: { team: 'web' },
    healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 30, delaySeconds: 0 }],
  }
  const row = () => page.locator(`tr[data-app-id="${web.id}"]`)

  it('creates an app in the JSON editor and shows it healthy, live', async () => {
    await page.goto(`${apps.url}/`)
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor()
    await page.getByText('No applications yet').waitFor()
    await page.getByRole('link', { name: 'Create app' }).click()
    await page.getByTestId('app-json').fill(JSON.stringify(web, null, 2))
    await page.getByRole('button', { name: 'Create app' }).click()
    await page.waitForURL(`${apps.url}/apps/ui/web`)
    await page.getByRole('heading', { name: web.id }).waitFor()
    // Back on the list before the instance is healthy: what follows arrives by events.
    await page.getByRole('link', { name: 'Applications' }).first().click()
    await row().getByTestId('instance-count').filter({ hasText: '1/1' }).waitFor({ timeout: 30_000 })
    await row().locator('.badge', { hasText: 'Running' }).waitFor()
    expect(await row().textContent()).toContain('team=web')
    await shot('01-apps-list')

    // With nothing happening in the cluster the UI asks nothing: no polling loop.
    const requests: string[] = []
    const onRequest = (r: { url(): string }): void => void requests.push(r.url())
    page.on('request', onRequest)
    await page.waitForTimeout(3000)
    page.off('request', onRequest)
    expect(requests).toEqual([])

    // The filter box: by id, by label.
    const filter = page.getByRole('searchbox', { name: /Filter applications/ })
    await filter.fill('team=db')
    await page.getByText('No application matches').waitFor()
    await filter.fill('team=web')
    await row().waitFor()
    await filter.fill('nosuch')
    await page.getByText('No application matches').waitFor()
    await filter.fill('ui/we')
    await row().waitFor()
    await filter.fill('')
  })

  it('scales the app to 2 through the confirmation dialog and shows 2 healthy tasks', async () => {
    await row().getByRole('link', { name: web.id }).click()
    await page.getByRole('button', { name: 'Scale' }).click()
    const dialog = page.getByTestId('confirm-dialog')
    expect(await focused('dataset.testid')).toBe('scale-instances')
    await dialog.getByTestId('scale-instances').fill('2')
    await dialog.getByRole('button', { name: 'Scale' }).click()
    await dialog.waitFor({ state: 'detached' })
    const tasks = page.getByTestId('tasks-table').locator('tbody tr')
    await page.getByTestId('instance-count').filter({ hasText: '2/2' }).waitFor({ timeout: 30_000 })
    expect(await tasks.count()).toBe(2)
    await expect.poll(() => page.getByTestId('health').filter({ hasText: 'healthy' }).count()).toBe(2)
    // Each task's address is a link to it, and it answers.
    const href = await tasks.first().locator('a').first().getAttribute('href')
    expect(href).toMatch(/^http:\/\/127\.0\.0\.1:317\d\d\/$/)
    expect((await (await fetch(href!)).text()).trim()).toBe('ok')
    expect(await page.getByTestId('app-config').textContent()).toContain('"instances": 2')
    await shot('02-app-page')
    // The top of the page, small enough for the README (docs/ui-app.png is a copy of it).
    await page.screenshot({ path: join(shots, 'readme-app-page.png'), clip: { x: 0, y: 0, width: 1366, height: 430 } })
    await page.getByRole('link', { name: 'Applications' }).first().click()
    await row().getByTestId('instance-count').filter({ hasText: '2/2' }).waitFor()
  })

  it('edits the app in the JSON editor, and the list follows', async () => {
    await page.goto(`${apps.url}/apps/ui/web`)
    const before = (await apps.app(web.id)).version
    await page.getByRole('link', { name: 'Edit' }).click()
    await page.waitForURL(`${apps.url}/edit/ui/web`)
    const editor = page.getByTestId('app-json')
    await expect.poll(async () => (await editor.inputValue()).includes('"team": "web"')).toBe(true)
    const config = JSON.parse(await editor.inputValue()) as Record<string, unknown>
    expect(config).not.toHaveProperty('tasks')
    expect(config).not.toHaveProperty('version')
    await editor.fill((await editor.inputValue()).replace('"team": "web"', '"team": "frontend"'))
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.waitForURL(`${apps.url}/apps/ui/web`)
    await expect.poll(async () => (await page.getByTestId('app-config').textContent()) ?? '').toContain('"team": "frontend"')
    // dromos restarts the tasks on a label change for now (see plan.ts configDiffers).
    const after = await apps.waitDeployed(web.id)
    expect(after.version).not.toBe(before)
    await page.getByRole('link', { name: 'Applications' }).first().click()
    await row().getByText('team=frontend').waitFor()
    await row().getByTestId('instance-count').filter({ hasText: '2/2' }).waitFor({ timeout: 30_000 })
  })

  it('shows a validation error at the field it concerns', async () => {
    await page.goto(`${apps.url}/new`)
    const text = JSON.stringify({ id: '/ui/bad', cmd: 'sleep 100', cpus: -1, mem: 16 }, null, 2)
    await page.getByTestId('app-json').fill(text)
    await page.getByRole('button', { name: 'Create app' }).click()
    const error = page.locator('[data-testid="field-error"][data-path="/cpus"]')
    await error.waitFor()
    // At its line: "cpus" is on the fourth line of the definition.
    expect(await error.textContent()).toMatch(/\/cpus\s*line 4/)
    expect(await page.locator('.gutter .error-line').allTextContents()).toEqual(['4'])
    await page.getByTestId('submit-error').waitFor()
    await shot('03-validation-error')
    // A JSON syntax error is shown at its line too, before anything is sent.
    await page.getByTestId('app-json').fill('{\n  "id": "/ui/bad",\n  "cpus": ,\n}')
    await page.getByRole('button', { name: 'Create app' }).click()
    await page.getByText('The definition is not valid JSON.').waitFor()
    expect(await page.locator('.gutter .error-line').allTextContents()).toEqual(['3'])
    expect((await apps.req('GET', '/v2/apps/ui/bad')).status).toBe(404)
  })

  it('says why an app waits, and rolls its deployment back from the deployments page', async () => {
    const big = { id: '/ui/too-big', cmd: 'sleep 600', cpus: 1.5, mem: 16, instances: 2 }
    await page.goto(`${apps.url}/new`)
    await page.getByTestId('app-json').fill(JSON.stringify(big, null, 2))
    await page.getByRole('button', { name: 'Create app' }).click()
    await page.waitForURL(`${apps.url}/apps/ui/too-big`)
    const why = page.getByTestId('why-waiting')
    await why.filter({ hasText: 'not enough CPUs' }).waitFor({ timeout: 30_000 })
    expect(await why.textContent()).toContain('1 instance waiting to launch')
    await shot('04-why-waiting')
    await page.getByRole('link', { name: /^Deployments/ }).click()
    const card = page.getByTestId('deployment').filter({ hasText: big.id })
    await card.waitFor()
    await shot('05-deployments')
    await card.getByRole('button', { name: 'Rollback' }).click()
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Rollback' }).click()
    // Rolling a creation back removes the app; the list follows.
    await page.getByText('No deployment in progress.').waitFor({ timeout: 30_000 })
    expect((await apps.req('GET', '/v2/apps/ui/too-big')).status).toBe(404)
  })

  it('shows the cluster: the agent with its resources and attributes, and the framework', async () => {
    await page.goto(`${apps.url}/cluster`)
    const agent = page.locator(`tr[data-agent-id="${agentId}"]`)
    await agent.waitFor()
    expect(await agent.textContent()).toContain('rack=r1')
    // Two instances of 0.1 CPUs run on it.
    await agent.getByRole('meter').first().filter({ hasText: '0.20 / 2' }).waitFor()
    expect(await page.getByTestId('frameworks-table').textContent()).toContain('marathon')
    await shot('06-cluster')
  })

  it('fits a laptop screen', async () => {
    await page.setViewportSize({ width: 1024, height: 700 })
    await page.goto(`${apps.url}/`)
    await row().waitFor()
    await shot('07-apps-list-1024')
    // The app page's actions are reachable from the keyboard.
    await row().getByRole('link', { name: web.id }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: web.id }).waitFor()
    // The focus moves into the dialog, on its confirmation; a destroy starts on Cancel.
    for (const [action, focusedButton] of [['Restart', 'Restart'], ['Destroy', 'Cancel']] as const) {
      await page.getByRole('button', { name: action }).focus()
      await page.keyboard.press('Enter')
      await page.getByTestId('confirm-dialog').waitFor()
      expect(await focused('textContent')).toBe(focusedButton)
      await page.keyboard.press('Escape')
      await page.getByTestId('confirm-dialog').waitFor({ state: 'detached' })
    }
    await page.setViewportSize({ width: 1366, height: 860 })
  })
})

describe('the master UI', () => {
  it('lists the agent at the master’s own port', async () => {
    await page.goto(`${cluster.masterUrl}/`)
    const agent = page.locator(`tr[data-agent-id="${agentId}"]`)
    await agent.waitFor()
    expect(await agent.textContent()).toContain('zone=a')
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor()
    // The master's event stream keeps it live: a third instance shows in the agent's usage.
    await apps.req('PUT', '/v2/apps/ui/web', { instances: 3 })
    await agent.getByRole('meter').first().filter({ hasText: '0.30 / 2' }).waitFor({ timeout: 30_000 })
    await shot('08-master')
  })
})
