// `dromos` subcommands. Importing this module runs the CLI.
import { Command, InvalidArgumentError } from 'commander'
import type { AgentFlags, AppsFlags, DnsFlags, LbFlags, MasterFlags, UpFlags } from './flags.js'
import { runAgent, runApps, runDns, runLb, runMaster, runUp, UpRefusedError } from './processes.js'
import { parseDurationMs } from '../core/duration.js'
import { registerAppCommands } from './app-commands.js'

const duration = (v: string): number => {
  try {
    return parseDurationMs(v)
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message)
  }
}
const int = (v: string): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`)
  return n
}

const program = new Command()
program.name('dromos').description('A cluster manager and PaaS in the line of Mesos, Marathon and marathon-lb').version('0.1.0')

program
  .command('master')
  .description('run a master (Mesos v1 scheduler and operator APIs on :5050)')
  .option('--ip <ip>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', int, 5050)
  .option('--hostname <name>', 'hostname to advertise (default: the ip)')
  .option('--work-dir <dir>', 'where the master keeps its state', '.dromos/master')
  .option('--allocation-interval <duration>', 'time between allocation passes', duration, 1000)
  .option('--offer-timeout <duration>', 'rescind offers not used within this time (0: never)', duration, 0)
  .option('--agent-ping-timeout <duration>', 'how long an agent may take to answer a ping', duration, 15_000)
  .option('--max-agent-ping-timeouts <n>', 'missed pings before an agent is unreachable', int, 5)
  .option('--agent-reregister-timeout <duration>', 'after a restart, how long the agents of the registry have to re-register', duration, 600_000)
  .option('--heartbeat-interval <duration>', 'scheduler stream heartbeat interval', duration, 15_000)
  .option('--weights <list>', 'role weights, e.g. "ops=2,dev=1"', '')
  .option('--max-body-bytes <n>', 'largest request body accepted', int, 4 * 1024 * 1024)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: MasterFlags) => {
    await runMaster(o)
  })

program
  .command('agent')
  .description('run an agent (runs tasks in Docker or as processes, on :5051)')
  .requiredOption('--master <url>', 'the master, e.g. 127.0.0.1:5050 or http://127.0.0.1:5050')
  .option('--ip <ip>', 'address to listen on and to advertise to the master', '127.0.0.1')
  .option('--port <port>', 'port to listen on', int, 5051)
  .option('--hostname <name>', 'hostname to advertise (default: this machine\'s)')
  .option('--work-dir <dir>', 'where sandboxes and the checkpoint live', '.dromos/agent')
  .option('--resources <spec>', 'e.g. "cpus:2;mem:4096;disk:10000;ports:[31000-32000]" (default: detected)')
  .option('--attributes <spec>', 'e.g. "rack:r1;zone:a"', '')
  .option('--containerizers <list>', 'comma-separated: docker,process (hollow: simulated tasks, for scale benchmarks)', 'docker,process')
  .option('--status-update-retry <duration>', 'first retry interval for unacknowledged status updates', duration, 10_000)
  .option('--max-body-bytes <n>', 'largest request body accepted', int, 4 * 1024 * 1024)
  .option('--log-level <level>', 'log level', 'info')
  .option('--count <n>', 'agents to run in this process, each with its own id, port and work dir (for hollow agents)', int)
  .option('--hostname-prefix <prefix>', 'with --count: agent i advertises <prefix><i>')
  .option('--port-base <port>', 'with --count: agent i listens on port-base + i (or give --port 0: each takes a free port)', int)
  .option('--hollow-start-ms <ms>', 'hollow containerizer: from launch to running, in ms ("5" or a range "0-10")', '0-10')
  .option('--hollow-check-ms <ms>', 'hollow containerizer: how long each health check takes to come back healthy, in ms', '0')
  .action(async (o: AgentFlags) => {
    await runAgent(o)
  })

program
  .command('apps')
  .description('run the Marathon-compatible apps framework (Marathon v2 REST API on :8080)')
  .requiredOption('--master <url>', 'the master, e.g. 127.0.0.1:5050 or http://127.0.0.1:5050')
  .option('--ip <ip>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', int, 8080)
  .option('--hostname <name>', 'hostname to advertise (default: the ip)')
  .option('--work-dir <dir>', 'where the framework keeps its state', '.dromos/apps')
  .option('--framework-name <name>', 'the framework name registered with the master', 'marathon')
  .option('--reconciliation-interval <duration>', 'time between task reconciliations with the master', duration, 60_000)
  .option('--max-body-bytes <n>', 'largest request body accepted', int, 4 * 1024 * 1024)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: AppsFlags) => {
    await runApps(o)
  })

program
  .command('lb')
  .description('run a load balancer: HAProxy driven from the apps framework\'s event stream')
  .option('--apps <url>', 'the apps framework', 'http://127.0.0.1:8080')
  .option('--group <name>', 'serve apps whose HAPROXY_GROUP label names this group (* for all)', 'external')
  .option('--bind-address <ip>', 'address HAProxy listens on', '0.0.0.0')
  .option('--http-port <port>', 'port for virtual hosts (HAPROXY_{n}_VHOST)', int, 80)
  .option('--https-port <port>', 'port for virtual hosts over TLS, routed by SNI', int, 443)
  .option('--ssl-certs <files>', 'PEM files (certificate and key), comma-separated, that the HTTPS port offers; the first is the default')
  .option('--app-id-port <port>', 'port routing by the X-Marathon-App-Id header to an app\'s first http port', int, 9091)
  .option('--strict-mode', 'serve only ports whose HAPROXY_{n}_ENABLED is true', false)
  .option('--stats-port <port>', 'HAProxy stats, /_lb/config, /_lb/state and /metrics', int, 9090)
  .option('--work-dir <dir>', 'where the HAProxy configuration and socket live', '.dromos/lb')
  .option('--haproxy <path>', 'the HAProxy binary', 'haproxy')
  .option('--always-reload', 'apply every change with a reload instead of the runtime API (for comparisons)', false)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: LbFlags) => {
    await runLb(o)
  })

program
  .command('dns')
  .description('answer Mesos-DNS A and SRV queries for running tasks, following the apps framework')
  .option('--apps <url>', 'the apps framework', 'http://127.0.0.1:8080')
  .option('--host <ip>', 'address to listen on (UDP)', '127.0.0.1')
  .option('--port <port>', 'port to listen on (UDP)', int, 8053)
  .option('--domain <domain>', 'the zone answered', 'mesos')
  .option('--framework <name>', 'the framework name in record names', 'marathon')
  .option('--master-ip <ip>', 'what leader.<domain> and master.<domain> answer', '127.0.0.1')
  .option('--ttl <seconds>', 'TTL of the answers', int, 5)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: DnsFlags) => {
    await runDns(o)
  })

program
  .command('up')
  .description('run a single-machine cluster: master on :5050 and one agent on :5051')
  .option('--work-dir <dir>', 'state and logs of the cluster', '.dromos')
  .option('--resources <spec>', 'the agent\'s resources (default: detected)')
  .option('--master-port <port>', 'the master\'s port', int, 5050)
  .option('--agent-port <port>', 'the agent\'s port', int, 5051)
  .option('--apps-port <port>', 'the apps framework\'s port', int, 8080)
  .option('--lb-http-port <port>', 'the load balancer\'s virtual host port', int, 80)
  .option('--lb-stats-port <port>', 'the load balancer\'s stats port', int, 9090)
  .option('--no-lb', 'do not start a load balancer')
  .option('--keep-tasks', 'leave tasks running when dromos up stops', false)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: UpFlags) => {
    await runUp(o)
  })

registerAppCommands(program)

program.parseAsync(process.argv).catch((e: unknown) => {
  const lines = e instanceof UpRefusedError ? e.lines : [(e as Error).message]
  for (const line of lines) process.stderr.write(`dromos: ${line}\n`)
  // 3: the ports a cluster needs are taken (another may run), as distinct from a failure.
  process.exit(e instanceof UpRefusedError ? 3 : 1)
})
