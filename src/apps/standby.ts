// A dromos apps that does not lead: as Marathon's LeaderProxyFilter, it forwards every
// request to the leader and streams the answer back, marking it with `Via: 1.1 host:port`
// so that a loop between two instances ends in 502. /v2/events is redirected (302) to the
// leader instead, as Marathon does unless told to proxy events. With no leader known, or
// while this instance has just been elected and recovers, it answers 503 "Could not
// determine the current leader". /ping and GET /v2/leader are its own.
import { request } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { Router } from '../api/http.js'
import { sendJson, sendText } from '../api/http.js'
import type { LeaderPhase } from '../api/leader-phase.js'

export const NO_LEADER = 'Could not determine the current leader'

export interface AppsStandbyOptions {
  readonly log: Logger
  /** This instance's host:port, as it campaigns. */
  readonly self: string
  readonly phase: () => LeaderPhase
}

export function createAppsStandby({ log, self, phase }: AppsStandbyOptions): Pick<Router, 'handle'> {
  const via = `1.1 ${self}`

  function leader(): string | undefined {
    const p = phase()
    return p.phase === 'standby' ? p.leader() : undefined
  }

  function forward(req: IncomingMessage, res: ServerResponse, target: string): void {
    const [host, port] = splitHostPort(target)
    const headers = { ...req.headers, host: target, via: req.headers.via ? `${req.headers.via}, ${via}` : via }
    const upstream = request({ host, port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
      answer.on('error', () => res.destroy())
    })
    upstream.on('error', (err) => {
      log.warn({ leader: target, err: err.message }, 'forwarding to the leader failed')
      if (!res.headersSent) sendJson(res, 502, { message: `The leader at ${target} did not answer: ${err.message}` })
      else res.destroy()
    })
    // A client that goes away takes the forwarded request (an event stream, say) with it.
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  }

  return {
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://standby')
      if (req.method === 'GET' && url.pathname === '/ping') return sendText(res, 200, 'pong')
      const target = leader()
      if (req.method === 'GET' && url.pathname === '/v2/leader') {
        return target ? sendJson(res, 200, { leader: target }) : sendJson(res, 404, { message: 'There is no leader' })
      }
      if (target === undefined || target === self) return sendJson(res, 503, { message: NO_LEADER })
      if (String(req.headers.via ?? '').split(',').some((v) => v.trim() === via)) {
        log.error({ path: url.pathname, via: req.headers.via }, 'proxy loop: refusing the request')
        return sendJson(res, 502, { message: 'Detected proxying loop.' })
      }
      if (url.pathname === '/v2/events') {
        res.writeHead(302, { Location: `http://${target}${req.url ?? ''}`, 'Content-Length': 0 })
        return void res.end()
      }
      forward(req, res, target)
    },
  }
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':')
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))]
}
