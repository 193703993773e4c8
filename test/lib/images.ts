// Test images, built locally: no registry on the internet is reachable from the test
// machines, so the image is a rootfs of the static busybox binary, imported with
// `docker import` through the Engine API.
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { followProgress } from '../../src/agent/containerizers/docker.js'

export const BUSYBOX_TAG = 'dromos-test/busybox:1'
export const INDEX_HTML = '<html><body>dromos test image</body></html>\n'

// Bumped when the rootfs changes, so a cached image from an older helper is rebuilt.
const IMAGE_VERSION = '2'
const VERSION_LABEL = 'dromos.test-image'
const BUSYBOX = '/bin/busybox'

/**
 * Builds the busybox test image under `tag` unless an image of the current version is
 * already there. Every busybox applet is linked in /bin; /www/index.html is for httpd.
 */
export async function ensureBusyboxImage(tag = BUSYBOX_TAG, docker: Dockerode = new Dockerode()): Promise<string> {
  try {
    const info = await docker.getImage(tag).inspect()
    if (info.Config.Labels?.[VERSION_LABEL] === IMAGE_VERSION) return info.Id
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err
  }
  const root = mkdtempSync(join(tmpdir(), 'dromos-rootfs-'))
  try {
    buildRootfs(root)
    const [repo, imageTag] = splitTag(tag)
    // `tar` writes the archive to stdout; the Engine reads it as the import's body.
    const tar = spawn('tar', ['-C', root, '--owner=0', '--group=0', '--numeric-owner', '-c', '.'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const tarExit = new Promise<void>((res, rej) =>
      tar.on('exit', (code) => (code === 0 ? res() : rej(new Error(`tar exited with ${code}`)))),
    )
    const stream = await docker.importImage(tar.stdout, {
      repo,
      tag: imageTag,
      changes: ['CMD ["/bin/sh"]', `LABEL ${VERSION_LABEL}=${IMAGE_VERSION}`, 'ENV PATH=/bin'],
    })
    await followProgress(stream)
    await tarExit
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
  return (await docker.getImage(tag).inspect()).Id
}

/** Removes an image; absent images are fine. */
export async function removeImage(tag: string, docker: Dockerode = new Dockerode()): Promise<void> {
  try {
    await docker.getImage(tag).remove({ force: true })
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err
  }
}

function buildRootfs(root: string): void {
  for (const dir of ['bin', 'www', 'tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(join(root, dir))
  chmodSync(join(root, 'tmp'), 0o1777)
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'))
  chmodSync(join(root, 'bin', 'busybox'), 0o755)
  // `busybox --list` names every applet this build has; linking them all costs nothing.
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'))
  for (const applet of applets) symlinkSync('busybox', join(root, 'bin', applet))
  writeFileSync(join(root, 'www', 'index.html'), INDEX_HTML)
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n')
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n')
}

/** 'host:5000/a/b:1' -> ['host:5000/a/b', '1']; a colon before the last '/' is a port. */
export function splitTag(ref: string): [string, string] {
  const i = ref.lastIndexOf(':')
  if (i < 0 || ref.slice(i).includes('/')) return [ref, 'latest']
  return [ref.slice(0, i), ref.slice(i + 1)]
}
