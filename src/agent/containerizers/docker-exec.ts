// Running a command inside a task's container (`docker exec`), as COMMAND health checks of
// Docker tasks do in Mesos.
import { PassThrough } from 'node:stream'
import type Dockerode from 'dockerode'
import type { Logger } from 'pino'
import { sleep } from './shared.js'

// How much of a command's output is kept (its tail).
const EXEC_OUTPUT_BYTES = 4096

/**
 * Runs cmd in the container with env added to its environment. Resolves with the exit code
 * and the tail of the output; rejects when the command did not end within timeoutMs (it is
 * then killed).
 */
export async function execInContainer(
  engine: { readonly docker: Dockerode; readonly log: Logger },
  o: {
    readonly taskId: string
    readonly container: Dockerode.Container
    readonly cmd: readonly string[]
    readonly timeoutMs: number
    readonly env: Readonly<Record<string, string>> | undefined
  },
): Promise<{ exitCode: number; output: string }> {
  const { docker, log } = engine
  const { taskId, container, cmd, timeoutMs, env } = o
  // `docker exec`: the command joins the task's namespaces and cgroups and sees its filesystem.
  const exec = await container.exec({
    Cmd: [...cmd],
    AttachStdout: true,
    AttachStderr: true,
    ...(env && Object.keys(env).length > 0 ? { Env: Object.entries(env).map(([k, v]) => `${k}=${v}`) } : {}),
  })
  const stream = await exec.start({ hijack: true, stdin: false })
  let output = ''
  const sink = new PassThrough()
  sink.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-EXEC_OUTPUT_BYTES)
  })
  docker.modem.demuxStream(stream, sink, sink)
  let timer: NodeJS.Timeout | undefined
  const ended = await Promise.race([
    new Promise<boolean>((res) => {
      stream.once('end', () => res(true))
      stream.once('close', () => res(true))
      stream.once('error', () => res(true))
    }),
    new Promise<boolean>((res) => (timer = setTimeout(() => res(false), timeoutMs))),
  ])
  if (timer !== undefined) clearTimeout(timer)
  if (!ended) {
    stream.destroy()
    // The Engine has no call to stop an exec; its process is a host process we can end.
    try {
      const info = await exec.inspect()
      if (info.Running && info.Pid > 0) process.kill(info.Pid, 'SIGKILL')
    } catch (err) {
      log.debug({ err, taskId }, 'could not kill a timed-out exec')
    }
    throw new Error(`timed out after ${timeoutMs} ms`)
  }
  // The stream can end a moment before the Engine records the exit code.
  for (let attempt = 0; attempt < 20; attempt++) {
    const info = await exec.inspect()
    if (!info.Running && info.ExitCode !== null) return { exitCode: info.ExitCode, output }
    await sleep(25)
  }
  throw new Error('the command ended but its exit code is unknown')
}
