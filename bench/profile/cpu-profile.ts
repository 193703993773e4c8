// Preloaded with `NODE_OPTIONS=--import <this file>` (Node 20 refuses --cpu-prof there): profiles
// the process's CPU from start to exit, as `node --cpu-prof` does, into
// $DROMOS_CPU_PROF_DIR/<pid>.cpuprofile (open it in Chrome DevTools or speedscope).
import { mkdirSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'

const dir = process.env.DROMOS_CPU_PROF_DIR
if (dir) {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.start')
  // An in-process session answers synchronously, so the profile is written before the exit.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
