// `dromos` subcommands. Importing this module runs the CLI.
import { Command, InvalidArgumentError, Option } from 'commander'
import type { AgentFlags, AppsFlags, DnsFlags, LbFlags, MasterFlags, UpFlags, ZddFlags } from './flags.js'
import { runAgent, runApps, runDns, runLb, runMaster, runUp, UpRefusedError } from './processes.js'
import { DEFAULT_MAX_LAUNCHES_IN_FLIGHT } from '../apps/framework.js'
import { runZddCommand } from './zdd.js'
import { parseDurationMs } from '../core/duration.js'
import { DROMOS_VERSION } from '../core/version.js'
import { registerAppCommands } from './app-commands.js'
import { registerClusterCommands } from './cluster-commands.js'
import { registerCompletion } from './completion.js'
import { registerOpenCommand } from './open.js'

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
program.name('dromos').description('A cluster manager and PaaS in the line of Mesos, Marathon and marathon-lb').version(DROMOS_VERSION)

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
  .option('--store <url>', 'etcd://h1:2379,h2:2379[/root]: keep the registry in etcd and elect a leader among the masters (default: SQLite in the work dir)')
  .option('--leader-lease <duration>', 'with etcd: how long a leader that stopped answering keeps the others waiting', duration, 2000)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: MasterFlags) => {
    await runMaster(o)
  })

// Not a required option: `dromos agent list` reads the same --master (or DROMOS_MASTER), with a default.
const agent = program
  .command('agent')
  .description('run an agent (runs tasks in Docker or as processes, on :5051); `dromos agent list` lists the agents')
  .addOption(new Option('--master <url>', 'the master, e.g. 127.0.0.1:5050, or the masters of an HA cluster: h1:5050,h2:5050,h3:5050 (required to run an agent)').env('DROMOS_MASTER'))
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
  .action(async (o: Partial<Pick<AgentFlags, 'master'>> & Omit<AgentFlags, 'master'>) => {
    const master = o.master ?? agent.error("error: required option '--master <url>' not specified")
    await runAgent({ ...o, master })
  })

program
  .command('apps')
  .description('run the Marathon-compatible apps framework (Marathon v2 REST API on :8080)')
  .requiredOption('--master <url>', 'the master, e.g. 127.0.0.1:5050, or the masters of an HA cluster: h1:5050,h2:5050,h3:5050')
  .option('--ip <ip>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', int, 8080)
  .option('--hostname <name>', 'hostname to advertise (default: the ip)')
  .option('--work-dir <dir>', 'where the framework keeps its state', '.dromos/apps')
  .option('--framework-name <name>', 'the framework name registered with the master', 'marathon')
  .option('--reconciliation-interval <duration>', 'time between task reconciliations with the master', duration, 60_000)
  .option('--max-body-bytes <n>', 'largest request body accepted', int, 4 * 1024 * 1024)
  .option('--max-launches-in-flight <n>', 'at most this many instances launched and not yet running, of all apps; the rest wait for offers after those start', int, DEFAULT_MAX_LAUNCHES_IN_FLIGHT)
  .option('--store <url>', 'etcd://h1:2379,h2:2379[/root]: keep the state in etcd and elect a leader among the instances; standbys forward to it (default: SQLite in the work dir)')
  .option('--leader-lease <duration>', 'with etcd: how long a leader that stopped answering keeps the others waiting', duration, 2000)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: AppsFlags) => {
    await runApps(o)
  })

const lb = program
  .command('lb')
  .description('run a load balancer: HAProxy driven from the apps framework\'s event stream')
  .option('--apps <url>', 'dromos apps, or its instances in HA: h1:8080,h2:8081', 'http://127.0.0.1:8080')
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

lb.command('zdd')
  .description('deploy a new colour of a blue/green app (HAPROXY_DEPLOYMENT_GROUP) with zero downtime, as marathon-lb\'s zdd.py')
  .argument('[file]', 'the app definition (JSON) with HAPROXY_DEPLOYMENT_GROUP and HAPROXY_DEPLOYMENT_ALT_PORT labels')
  .option('-j, --json <file>', 'the app definition, as zdd.py takes it')
  .option('--lb <urls>', 'each load balancer\'s stats URL, comma-separated', 'http://127.0.0.1:9090')
  .option('-l, --marathon-lb <urls>', 'zdd.py\'s name for --lb')
  .option('-m, --marathon <url>', 'zdd.py\'s name for the --apps of `dromos lb`')
  .option('-i, --initial-instances <n>', 'instances of the new colour to start with', int, 1)
  .option('-n, --new-instances <n>', 'a hybrid deployment: end with n instances of the new colour serving beside the rest of the old one, which stays (0: replace the old)', int, 0)
  .addOption(new Option('-s, --step-delay <duration>', 'time between steps (a bare number is seconds)').argParser(duration).default(1000, '1s'))
  .addOption(new Option('-w, --max-wait <duration>', 'how long the new colour may take to take over before the deployment is reverted').argParser(duration).default(300_000, '5m'))
  .option('-r, --resume', 'where the group runs two colours (an interrupted zdd), carry on moving traffic to the newer one', false)
  .option('-c, --complete-cur', 'where the group runs two colours, move all traffic to the newer one (as --resume)', false)
  .option('-p, --complete-prev', 'where the group runs two colours, move all traffic back to the older one and remove the newer', false)
  .option('--pre-kill-hook <path>', 'run before each kill with the leaving app\'s JSON, the task ids (JSON) and the arriving app\'s JSON; a non-zero exit stops the deployment')
  .option('-f, --force', 'do not ask before creating, killing and deleting (zdd.py asks; dromos asks only on a terminal)', false)
  .option('-d, --dry-run', 'print the definition to deploy (or the deployment to pick up) and stop', false)
  .addHelpText('after', '\nThe apps framework is the one of `dromos lb --apps <url>` (default http://127.0.0.1:8080), given before or after zdd.')
  // --apps is the one of `dromos lb`, which takes it wherever it stands on the command line.
  .action(async (file: string | undefined, o: Omit<ZddFlags, 'apps'>) => {
    await runZddCommand(file, { ...o, apps: (lb.opts() as LbFlags).apps })
  })

program
  .command('dns')
  .description('answer Mesos-DNS A and SRV queries for running tasks, following the apps framework')
  .option('--apps <url>', 'dromos apps, or its instances in HA: h1:8080,h2:8081', 'http://127.0.0.1:8080')
  .option('--host <ip>', 'address to listen on (UDP and TCP)', '127.0.0.1')
  .option('--port <port>', 'port to listen on (UDP and TCP)', int, 8053)
  .option('--domain <domain>', 'the zone answered', 'mesos')
  .option('--framework <name>', 'the framework name in record names', 'marathon')
  .option('--master-ip <ip>', 'what leader.<domain> and master.<domain> answer', '127.0.0.1')
  .option('--ttl <seconds>', 'TTL of the answers', int, 5)
  .option('--http-port <port>', "port of the HTTP interface (Mesos-DNS's /v1/hosts/<name>, /v1/services/<name>) on --host", int, 8123)
  .option('--no-http', 'serve no HTTP interface')
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
  .option('--ha', 'HA: 3 etcd members, masters on --master-port, +2, +4 and dromos apps on --apps-port, +1, each its own process, restarted when it exits', false)
  .option('--etcd-port <port>', 'with --ha: the etcd members\' client ports are this, +2, +4 (peers: each + 1)', int, 2379)
  .option('--log-level <level>', 'log level', 'info')
  .action(async (o: UpFlags) => {
    await runUp(o)
  })

registerAppCommands(program)
registerClusterCommands(program, { agent })
registerOpenCommand(program)
registerCompletion(program)

program.parseAsync(process.argv).catch((e: unknown) => {
  const lines = e instanceof UpRefusedError ? e.lines : [(e as Error).message]
  for (const line of lines) process.stderr.write(`dromos: ${line}\n`)
  // 3: the ports a cluster needs are taken (another may run), as distinct from a failure.
  process.exit(e instanceof UpRefusedError ? 3 : 1)
})
