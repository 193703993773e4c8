// The user a process task runs as, when its command names one other than the agent's.
import { execFile } from 'node:child_process'
import { chown, lchown, readdir } from 'node:fs/promises'
import { userInfo } from 'node:os'
import path from 'node:path'
import { errorMessage } from './shared.js'

export interface RunAs {
  readonly uid: number
  readonly gid: number
  readonly name: string
}

/** The uid and gid of `name`; undefined when it is the agent's own user. */
export async function lookupUser(name: string): Promise<RunAs | undefined> {
  if (name === userInfo().username) return undefined
  const id = async (flag: '-u' | '-g'): Promise<number> => {
    const out = await execText('id', [flag, name])
    const n = Number(out.trim())
    if (!Number.isInteger(n)) throw new Error(`unexpected output from id ${flag} ${name}: ${out}`)
    return n
  }
  try {
    return { name, uid: await id('-u'), gid: await id('-g') }
  } catch (err) {
    throw new Error(`Cannot run the task as user '${name}': ${errorMessage(err)}`)
  }
}

/** Gives dir and everything below it to user. */
export async function chownTree(dir: string, user: RunAs): Promise<void> {
  await chown(dir, user.uid, user.gid)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) await chownTree(p, user)
    else await lchown(p, user.uid, user.gid)
  }
}

function execText(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim() || err.message))
      else resolve(stdout)
    })
  })
}
