// The web UI, in headless Chromium (Debian's, driven by playwright-core) against a real
// master, agent and `dromos apps`: create an app in the JSON editor, watch it become healthy
// through the event stream, scale it, see a validation error at its field, see why an app
// waits and roll its deployment back, compare two versions of an app, read and follow a task's
// stdout and stderr, see roles' shares and outstanding offers, and see the agent on the
// master's own UI.
// Screenshots go to the test's temp dir and to test-artifacts/ui/.
import { randomUUID } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppsProcess } from './lib/apps.js'
import { TestCluster } from './lib/cluster.js'
import { readResponse } from './lib/http.js'
import { TestFramework } from './lib/scheduler.js'

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

/**
 * The lowest WCAG contrast ratio of the text of the elements `selector` matches against the
 * first opaque background behind each (computed in the page; the test has no DOM types).
 */
function lowestContrast(selector: string): Promise<number> {
  return page.evaluate(`(() => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number)
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4) }
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
    }
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor)
        if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c
      }
      return [255, 255, 255]
    }
    const els = [...document.querySelectorAll(${JSON.stringify(selector)})]
    if (els.length === 0) return 0
    return Math.min(...els.map((el) => {
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el))
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)
    }))
  })()`)
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

beforeAll(async () => {
  if (!existsSync(join(REPO, 'web', 'dist', 'index.html'))) throw new Error('web/dist is not built: run npm run build:web (make test does)')
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (make test does), or apt-get install chromium`)
  cluster = await TestCluster.start({
    masterArgs: ['--weights', 'batch=2'],
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

  it('shows what changed between two versions of the app as a diff', async () => {
    await page.goto(`${apps.url}/apps/ui/web`)
    const versions = (await apps.req('GET', '/v2/apps/ui/web/versions')).body.versions as string[]
    // Created, scaled to 2, relabelled.
    expect(versions.length).toBeGreaterThanOrEqual(3)
    const diff = page.getByTestId('version-diff')
    const removed = diff.locator('tr[data-kind="removed"]')
    const added = diff.locator('tr[data-kind="added"]')
    // At first the latest change: the label, and nothing else.
    await removed.filter({ hasText: '"team": "web"' }).waitFor()
    expect((await removed.locator('.code').allTextContents()).map((t) => t.trim())).toEqual(['"team": "web"'])
    expect((await added.locator('.code').allTextContents()).map((t) => t.trim())).toEqual(['"team": "frontend"'])
    expect(await page.getByTestId('diff-summary').textContent()).toBe('1 line removed, 1 added')
    // Not by colour alone: each changed line carries its sign, and says what it is.
    expect(await removed.locator('.sign').first().textContent()).toBe('−removed')
    expect(await added.locator('.sign').first().textContent()).toBe('+added')
    // From the first version: the scale shows too.
    const sorted = [...versions].sort()
    await page.getByTestId('diff-from').selectOption(sorted[0]!)
    await removed.filter({ hasText: '"instances": 1' }).waitFor()
    await added.filter({ hasText: '"instances": 2' }).waitFor()
    expect(await removed.filter({ hasText: '"team": "web"' }).count()).toBe(1)
    // The same version on both sides: no change.
    await page.getByTestId('diff-to').selectOption(sorted[0]!)
    await page.getByTestId('diff-summary').filter({ hasText: 'No change to the definition.' }).waitFor()
    expect(await removed.count()).toBe(0)
    await page.getByTestId('diff-to').selectOption(sorted.at(-1)!)
    // Readable: AA contrast (4.5:1) for every part of a diff line.
    for (const part of ['.ln', '.sign', '.code', '.diff-folded td']) {
      expect(await lowestContrast(`[data-testid="version-diff"] ${part}`), part).toBeGreaterThanOrEqual(4.5)
    }
    await page.getByTestId('version-diff').scrollIntoViewIfNeeded()
    await shot('09-version-diff')
    // The diff alone, for the README (docs/ui-diff.png is a copy of it).
    await page.getByTestId('version-compare').screenshot({ path: join(shots, 'readme-version-diff.png') })
  })

  it('reads a task’s stdout and stderr, follows it while the view is open, and asks nothing once it is closed', async () => {
    const marker = `marker-${randomUUID()}`
    const go = join(cluster.dir, `go-${marker}`)
    const logs = {
      id: '/ui/logs',
      // The second line waits for the test, so it can only arrive by following.
      // 100 kB before the marker: the view opens on the last 64 KiB. The € is 3 bytes of UTF-8:
      // the view must count bytes, not characters, to read on exactly where it stopped.
      cmd: `yes filler | head -n 14286; echo "€ ${marker} first"; echo "${marker} on stderr" >&2; while [ ! -e ${go} ]; do sleep 0.2; done; echo "€ ${marker} second"; exec sleep 600`,
      cpus: 0.1,
      mem: 16,
      instances: 1,
    }
    expect((await apps.req('POST', '/v2/apps', logs)).status).toBe(201)
    await apps.waitDeployed(logs.id)
    await page.goto(`${apps.url}/apps/ui/logs`)
    const logButton = page.getByTestId('tasks-table').getByRole('button', { name: /^Logs of / })
    await logButton.waitFor()
    // From the keyboard: the view opens and takes the focus.
    await logButton.focus()
    await page.keyboard.press('Enter')
    const view = page.getByTestId('task-log')
    await view.waitFor()
    expect(await logButton.getAttribute('aria-expanded')).toBe('true')
    await expect.poll(() => focused('textContent')).toMatch(/^Logs of ui_logs\./)
    const text = view.getByTestId('log-text')
    await text.filter({ hasText: `${marker} first` }).waitFor({ timeout: 15_000 })
    expect(await text.textContent()).not.toContain('on stderr')
    expect(await text.textContent()).not.toContain(`${marker} second`)

    // Followed: more output appears without a reload, and the view asks about once a second.
    const reads: string[] = []
    const onRequest = (r: { url(): string }): void => {
      if (r.url().includes('/files/read')) reads.push(r.url())
    }
    page.on('request', onRequest)
    writeFileSync(go, '')
    await text.filter({ hasText: `${marker} second` }).waitFor({ timeout: 10_000 })
    // Each byte once: nothing read twice, nothing skipped.
    expect(await text.textContent()).toMatch(new RegExp(`\\nfiller\\n€ ${marker} first\\n€ ${marker} second\\n$`))
    // The start of the file is left out, and said so.
    expect(await view.getByText(/^The first \d+ KiB are not shown\.$/).count()).toBe(1)
    expect((await text.textContent())!.length).toBeLessThan(70_000)
    await page.waitForTimeout(3000)
    expect(reads.length).toBeGreaterThanOrEqual(2)
    expect(reads.length).toBeLessThanOrEqual(8)
    // Each read asks only for what lies past the last one.
    const offsets = reads.map((u) => Number(new URL(u).searchParams.get('offset')))
    expect(offsets.every((o, i) => i === 0 || o >= offsets[i - 1]!)).toBe(true)
    expect(offsets.at(-1)).toBeGreaterThan(0)
    await shot('10-task-log')
    for (const part of ['pre.log', '.switch label', 'h3']) {
      expect(await lowestContrast(`[data-testid="task-log"] ${part}`), part).toBeGreaterThanOrEqual(4.5)
    }

    // stderr, by the switch (a radio group: arrow keys move it).
    await view.getByRole('radio', { name: 'stdout' }).focus()
    await page.keyboard.press('ArrowRight')
    expect(await view.getByRole('radio', { name: 'stderr' }).isChecked()).toBe(true)
    await text.filter({ hasText: `${marker} on stderr` }).waitFor()
    expect(await text.getAttribute('data-stream')).toBe('stderr')
    expect(await text.textContent()).not.toContain(`${marker} first`)

    // Downloaded whole, through the same relay, as the agent's files/download sends it.
    const href = await view.getByTestId('log-download').getAttribute('href')
    const download = await fetch(new URL(href!, apps.url))
    expect(download.status).toBe(200)
    expect(download.headers.get('content-disposition')).toBe('attachment; filename=stderr')
    expect(await download.text()).toBe(`${marker} on stderr\n`)
    // A log truncated under the view (as a rotation leaves it) is read afresh, and the view says so.
    const stderrPath = new URL(href!, apps.url).searchParams.get('path')!
    writeFileSync(stderrPath, 'rotated\n')
    await text.filter({ hasText: 'rotated' }).waitFor({ timeout: 10_000 })
    expect(await text.textContent()).toBe('rotated\n')
    expect(await view.getByTestId('log-truncated').textContent()).toMatch(/^The file was truncated or replaced at /)

    // Paused, then closed: no more reads.
    await view.getByTestId('log-follow').uncheck()
    await page.waitForTimeout(500)
    reads.length = 0
    await page.waitForTimeout(2500)
    expect(reads).toEqual([])
    await view.getByTestId('log-follow').check()
    await expect.poll(() => reads.length, { timeout: 5000 }).toBeGreaterThan(0)
    await view.getByRole('button', { name: 'Close logs' }).focus()
    await page.keyboard.press('Enter')
    await view.waitFor({ state: 'detached' })
    // The focus returns to the button that opened the view.
    await expect.poll(() => focused('textContent')).toBe('Logs')
    expect(await logButton.getAttribute('aria-expanded')).toBe('false')
    await page.waitForTimeout(500)
    reads.length = 0
    await page.waitForTimeout(2500)
    page.off('request', onRequest)
    expect(reads).toEqual([])

    // The relay is read-only and reaches only sandboxes.
    const agentState = (await readResponse(await fetch(`${apps.url}/dromos/agent/${agentId}/state`))).json
    expect(agentState.id).toBe(agentId)
    expect((await fetch(`${apps.url}/dromos/agent/${agentId}/files/read?path=/etc/passwd&offset=0`)).status).toBe(404)
    expect((await fetch(`${apps.url}/dromos/agent/no-such-agent/state`)).status).toBe(404)
    expect((await fetch(`${apps.url}/dromos/agent/${agentId}/state`, { method: 'POST' })).status).toBe(405)

    expect((await apps.req('DELETE', '/v2/apps/ui/logs')).status).toBe(200)
    await expect.poll(async () => (await apps.req('GET', '/v2/tasks')).body.tasks.filter((t: { appId: string }) => t.appId === logs.id).length, { timeout: 30_000 }).toBe(0)
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

    // A framework of role batch (weight 2) that holds what it is offered.
    const holder = await TestFramework.subscribe({ master: cluster.masterUrl, name: 'ui-holder', roles: ['batch'] })
    try {
      const offer = (await holder.waitOffers({ timeoutMs: 40_000 })).offers.offers[0]
      const offerRow = page.locator(`tr[data-offer-id="${offer.id.value as string}"]`)
      await offerRow.waitFor({ timeout: 15_000 })
      expect(await offerRow.textContent()).toContain('ui-holder')
      expect(await offerRow.textContent()).toContain('127.0.0.1')
      const batch = page.locator('tr[data-role="batch"]')
      // Its share is what the master's allocator reports, and halved by its weight.
      const metrics = (await readResponse(await fetch(`${cluster.masterUrl}/metrics/snapshot`))).json as Record<string, number>
      const share = metrics['allocator/mesos/roles/batch/shares/dominant']!
      expect(share).toBeGreaterThan(0)
      await batch.getByTestId('role-share').filter({ hasText: `${(share * 100).toFixed(1)} %` }).waitFor()
      const cells = await batch.locator('td').allTextContents()
      expect(cells[1]).toBe('2')
      expect(cells[6]).toBe(`${((share / 2) * 100).toFixed(1)} %`)
      await shot('06-cluster')
    } finally {
      await holder.mustCall({ type: 'TEARDOWN' })
      holder.close()
    }
    // The offer goes with its framework; the page follows within its refresh.
    await page.getByTestId('no-offers').waitFor({ timeout: 15_000 })

    // The live event feed: what happens while the page is open, newest first.
    expect((await apps.req('POST', '/v2/apps', { id: '/ui/feed', cmd: 'sleep 1', cpus: 0.01, mem: 8, instances: 0 })).status).toBe(201)
    const feed = page.getByTestId('event-feed')
    await feed.locator('tr[data-event-type="api_post_event"]').filter({ hasText: '/v2/apps' }).waitFor({ timeout: 15_000 })
    await feed.locator('tr[data-event-type="deployment_success"]').first().waitFor({ timeout: 15_000 })
    const types = await feed.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-type')))
    expect(types.indexOf('deployment_success')).toBeGreaterThanOrEqual(0)
    expect(types.indexOf('deployment_success')).toBeLessThan(types.indexOf('deployment_info'))
    expect(await feed.locator('tr[data-event-type="deployment_info"]').first().textContent()).toContain('/ui/feed')
    await shot('06b-cluster-events')
    expect((await apps.req('DELETE', '/v2/apps/ui/feed?force=true')).status).toBe(200)
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
    // The master's own metrics give the roles' shares here.
    await page.locator('tr[data-role="*"]').getByTestId('role-share').filter({ hasText: /^[1-9]\d*\.\d %$/ }).waitFor({ timeout: 15_000 })
    await shot('08-master')
  })
})
