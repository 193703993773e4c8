#!/usr/bin/env node
// Runs the test suite with vitest, streams its output, then prints one summary line,
// alone and last:
//
//   N passed, N failed            (or)   N passed, N failed, N skipped
//
// Extra command-line arguments are passed on to `vitest run` (file filters, -t, ...).
// Exit status: 0 only if vitest succeeded, nothing failed and at least one test ran.
//
// "failed" counts failed tests, plus each test file that failed without a failing test
// (for instance a file that does not import, or a failing beforeAll), so that a broken
// file can never hide behind "0 failed".
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const tmp = mkdtempSync(join(tmpdir(), 'dromos-tests-'))
const jsonFile = join(tmp, 'vitest.json')

const args = [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile=${jsonFile}`,
  ...process.argv.slice(2),
]

const child = spawn('npx', args, { cwd: repoRoot, stdio: 'inherit' })

// Let Ctrl-C / a CI timeout reach vitest, then summarise whatever it reported.
const forward = (signal) => {
  if (child.exitCode === null) child.kill(signal)
}
process.on('SIGINT', forward)
process.on('SIGTERM', forward)

const { code, signal } = await new Promise((resolve) => {
  child.on('error', (err) => {
    console.error(`run-tests: cannot start vitest: ${err.message}`)
    resolve({ code: 127, signal: null })
  })
  child.on('exit', (code, signal) => resolve({ code, signal }))
})

let report = null
if (existsSync(jsonFile)) {
  try {
    report = JSON.parse(readFileSync(jsonFile, 'utf8'))
  } catch (err) {
    console.error(`run-tests: cannot read the vitest JSON report: ${err.message}`)
  }
}
rmSync(tmp, { recursive: true, force: true })

let passed = 0
let failed = 0
let skipped = 0
const problems = []
if (report) {
  passed = report.numPassedTests ?? 0
  failed = report.numFailedTests ?? 0
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
  for (const file of report.testResults ?? []) {
    const rel = relative(repoRoot, file.name ?? '')
    const name = rel && !rel.startsWith('..') ? rel : file.name
    const failedTests = (file.assertionResults ?? []).filter((t) => t.status === 'failed')
    for (const t of failedTests) problems.push(`FAIL ${name} > ${t.fullName || t.title}`)
    if (file.status === 'failed' && failedTests.length === 0) {
      failed += 1
      const message = String(file.message ?? '').split('\n')[0]
      problems.push(`FAIL ${name}${message ? `: ${message}` : ''}`)
    }
  }
} else {
  problems.push('vitest wrote no JSON report')
}

const vitestFailed = signal !== null || code !== 0
if (vitestFailed) {
  problems.push(`vitest exited with ${signal ? `signal ${signal}` : `code ${code}`}`)
}
if (passed + failed === 0) problems.push('no tests ran')

if (problems.length > 0) {
  console.log('')
  for (const p of problems) console.log(`run-tests: ${p}`)
}

let summary = `${passed} passed, ${failed} failed`
if (skipped > 0) summary += `, ${skipped} skipped`
console.log(summary)

process.exitCode = vitestFailed || failed > 0 || passed + failed === 0 ? 1 : 0
