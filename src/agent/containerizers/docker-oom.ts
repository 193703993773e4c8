// Whether the kernel OOM-killed a container, from the kernel's own log. The Engine sets
// State.OOMKilled from an event that its shim starts watching for only once the task has
// started: a task that outgrows its memory in its first moments can be killed before that
// watch is in place (seen under load on cgroup v1), and the Engine then reports a plain 137.
// The kernel logs every memory-cgroup kill with the cgroup it happened in, for example
//   oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/docker/<id>,task_memcg=/docker/<id>,task=dd,pid=7,uid=0
// (or /system.slice/docker-<id>.scope with the systemd cgroup driver).
import { closeSync, constants, openSync, readSync } from 'node:fs'

/** Whether one of these kernel log records tells of an OOM kill in the container's cgroup. */
export function oomKillLogged(records: readonly string[], containerId: string): boolean {
  if (containerId.length < 12) return false
  return records.some((record) => {
    const message = record.slice(record.indexOf(';') + 1)
    if (!message.startsWith('oom-kill:')) return false
    const memcg = /(?:^|,)oom_memcg=([^,\s]*)/.exec(message.slice('oom-kill:'.length))?.[1] ?? ''
    return memcg.includes(containerId)
  })
}

/**
 * Reads the kernel's log ring (/dev/kmsg, one record per read, without blocking at its end)
 * and answers whether it tells of an OOM kill in the container's cgroup. An agent that may
 * not read the log answers false: the Engine's flag is then all there is. The reads are
 * synchronous: a few thousand records take milliseconds, where a thread-pool round trip per
 * record would take a hundred times as long, and this runs only for an unexplained SIGKILL.
 */
export function kernelLoggedOomKill(containerId: string, path = '/dev/kmsg'): boolean {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch {
    return false
  }
  const records: string[] = []
  const buf = Buffer.alloc(8192)
  try {
    for (;;) {
      try {
        const bytesRead = readSync(fd, buf, 0, buf.length, null)
        if (bytesRead === 0) break
        records.push(buf.toString('utf8', 0, bytesRead))
      } catch (err) {
        // EPIPE: the ring overwrote the record about to be read; the next read goes on.
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') continue
        break // EAGAIN: the end of the ring.
      }
    }
  } finally {
    closeSync(fd)
  }
  return oomKillLogged(records, containerId)
}
