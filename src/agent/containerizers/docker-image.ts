// Making sure a task's image is there before its container is created: inspect, and pull
// when it is missing or the task asks for a fresh one.
import type Dockerode from 'dockerode'
import type { Logger } from 'pino'
import { messageOf, statusOf } from './docker-errors.js'
import { LaunchFailedError } from './types.js'

/** Inspects the image and pulls it when absent (always with forcePull); failures are launch failures. */
export async function prepareImage(
  engine: { readonly docker: Dockerode; readonly log: Logger; readonly pullTimeoutMs: number },
  o: { readonly image: string; readonly forcePull: boolean },
): Promise<void> {
  const { docker, log, pullTimeoutMs } = engine
  const { image, forcePull } = o
  if (!forcePull) {
    try {
      await docker.getImage(image).inspect()
      return
    } catch (err) {
      if (statusOf(err) !== 404) throw new LaunchFailedError(`Failed to inspect image '${image}': ${messageOf(err)}`)
    }
  }
  log.info({ image, forcePull }, 'pulling image')
  const started = Date.now()
  try {
    const stream = (await docker.pull(image)) as NodeJS.ReadableStream
    await followProgress(stream, pullTimeoutMs)
  } catch (err) {
    throw new LaunchFailedError(`Failed to pull image '${image}': ${messageOf(err)}`)
  }
  log.info({ image, ms: Date.now() - started }, 'pulled image')
}

/**
 * Reads a docker progress stream (pull, push, import) to its end. The Engine answers
 * 200 and reports failures inside the stream as `{error, errorDetail}`, so a pull that
 * "succeeded" at the HTTP level may still have failed.
 */
export function followProgress(stream: NodeJS.ReadableStream, timeoutMs = 0): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const events: unknown[] = []
    let buf = ''
    let failure: string | null = null
    let finished = false
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            finish(new Error(`timed out after ${timeoutMs} ms`))
            const destroy = (stream as { destroy?: () => void }).destroy
            if (typeof destroy === 'function') destroy.call(stream)
          }, timeoutMs)
        : null
    function finish(err: Error | null): void {
      if (finished) return
      finished = true
      if (timer !== null) clearTimeout(timer)
      if (err !== null) reject(err)
      else resolve(events)
    }
    function line(l: string): void {
      const text = l.trim()
      if (text === '') return
      let obj: unknown
      try {
        obj = JSON.parse(text)
      } catch {
        return
      }
      events.push(obj)
      if (obj !== null && typeof obj === 'object') {
        const o = obj as { error?: unknown; errorDetail?: { message?: unknown } }
        const msg = o.errorDetail?.message ?? o.error
        if (msg !== undefined && failure === null) failure = String(msg)
      }
    }
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    })
    const onEnd = () => {
      line(buf)
      buf = ''
      finish(failure === null ? null : new Error(failure))
    }
    stream.on('end', onEnd)
    stream.on('close', onEnd)
    stream.on('error', (err: Error) => finish(err))
  })
}
