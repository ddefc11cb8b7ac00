/**
 * `masterha_secondary_check`: is the master reachable from other hosts? Meant as the
 * `secondary_check_script` the monitor runs when it loses the master. For each
 * `-s/--secondary_host`, in order, it logs in over SSH and tests a TCP connection from there
 * to the master; with `--ping_type=INSERT` it also tries a write with the `mysql` client
 * there.
 *
 * Exit codes (MHA's): 0 = no secondary host reaches the master (it is down: fail over),
 * 2 = a secondary host could not be reached over SSH (network problem: do not fail over),
 * 3 = the master is reachable from a secondary host (it is alive), 1 = usage/other error.
 *
 * Differences from MHA: the TCP test goes to `--master_ip` when given (MHA used the host
 * name: manager PR #88); the MySQL password is taken from MHA_MASTER_PASSWORD (the manager
 * sets it) and, for INSERT, handed to the remote client through stdin and MYSQL_PWD — never on a command line.
 */

import { parseSshOptions } from '../../manager/config/index.js';
import { sshConnectOptions } from '../../remote/hosts.js';
import { SshHost, shQuote } from '../../remote/ssh-host.js';
import {
  int,
  type OptionSpec,
  renderHelp,
  resolveSecret,
  runMhaTool,
  str,
  type ToolIO,
} from '../node-tools/options.js';

export const MASTER_PASSWORD_ENV = 'MHA_MASTER_PASSWORD';

export const SECONDARY_CHECK_SPECS: OptionSpec[] = [
  {
    name: 'secondary_host',
    kind: 'string',
    value: 'HOST',
    help: 'a host to test from (repeatable; -s HOST)',
  },
  { name: 'user', kind: 'string', value: 'USER', help: 'SSH user on the secondary hosts', default: 'root' },
  { name: 'port', kind: 'int', value: 'N', help: 'SSH port of the secondary hosts', default: '22' },
  {
    name: 'options',
    kind: 'string',
    value: '"SSH OPTIONS"',
    help: 'OpenSSH-style options (-i KEY, -o UserKnownHostsFile=…, -o StrictHostKeyChecking=…)',
  },
  { name: 'master_host', kind: 'string', value: 'HOST', help: 'the master; required' },
  { name: 'master_ip', kind: 'string', value: 'IP', help: 'its address (tested instead of master_host when given)' },
  { name: 'master_port', kind: 'int', value: 'N', help: 'MySQL port of the master', default: '3306' },
  { name: 'master_user', kind: 'string', value: 'USER', help: 'MySQL user for --ping_type=INSERT', default: 'root' },
  {
    name: 'master_password',
    kind: 'string',
    value: 'PASS',
    help: `UNSAFE (visible in ps): use ${MASTER_PASSWORD_ENV}`,
    secret: true,
  },
  {
    name: 'ping_type',
    kind: 'string',
    value: 'SELECT|CONNECT|INSERT',
    help: 'INSERT: a master that accepts TCP must also accept a write to count as alive',
    default: 'SELECT',
  },
  { name: 'timeout', kind: 'int', value: 'SEC', help: 'SSH connect timeout and TCP connect timeout', default: '5' },
];

/**
 * Pull the repeatable `-s/--secondary_host` values out of argv (Getopt::Long's `=s@`),
 * accepting any unique prefix of the name; the rest goes to the ordinary parser.
 */
export function extractSecondaryHosts(argv: string[]): { hosts: string[]; rest: string[] } {
  const hosts: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--?([A-Za-z_-]+)(=(.*))?$/s.exec(a);
    const name = m?.[1].toLowerCase().replace(/-/g, '_');
    if (m && name && 'secondary_host'.startsWith(name)) {
      if (m[2] !== undefined) hosts.push(m[3]);
      else if (i + 1 < argv.length) hosts.push(argv[++i]);
      else rest.push(a); // let the parser report the missing value
      continue;
    }
    rest.push(a);
  }
  return { hosts, rest };
}

/**
 * The remote test, run by the login shell on the secondary host: exit 3 when a TCP
 * connection to H:P opens within T seconds, 0 when it does not; 97 when the host has
 * none of bash+timeout, nc or perl to test with.
 */
export function tcpProbeCommand(host: string, port: number, timeoutSec: number): string {
  const script = [
    'h=$1; p=$2; t=$3',
    'if command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then',
    '  if timeout "$t" bash -c \'exec 3<>"/dev/tcp/$0/$1"\' "$h" "$p" 2>/dev/null; then exit 3; fi; exit 0',
    'elif command -v nc >/dev/null 2>&1; then',
    '  if nc -z -w "$t" "$h" "$p" >/dev/null 2>&1; then exit 3; fi; exit 0',
    'elif command -v perl >/dev/null 2>&1; then',
    '  perl -MIO::Socket::INET -e \'my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1], Proto => "tcp", Timeout => $ARGV[2]); exit($s ? 3 : 0)\' "$h" "$p" "$t"',
    '  exit $?',
    'fi',
    'exit 97',
  ].join('\n');
  return `sh -c ${shQuote(script)} sh ${shQuote(host)} ${shQuote(String(port))} ${shQuote(String(timeoutSec))}`;
}

const INSERT_SQL =
  'CREATE DATABASE IF NOT EXISTS infra; CREATE TABLE IF NOT EXISTS infra.chk_masterha (`key` tinyint NOT NULL primary key,`val` int(10) unsigned NOT NULL DEFAULT 0); INSERT INTO infra.chk_masterha values (1,unix_timestamp()) ON DUPLICATE KEY UPDATE val=unix_timestamp()';

export interface SecondaryCheckOptions {
  hosts: string[];
  user?: string;
  port?: number;
  options?: string;
  masterHost?: string;
  masterIp?: string;
  masterPort?: number;
  masterUser?: string;
  masterPassword?: string;
  pingType?: string;
  timeoutSec?: number;
}

export async function secondaryCheckTool(o: SecondaryCheckOptions, io: ToolIO): Promise<number> {
  if (!o.masterHost) {
    io.warn('--master_host=<master host> must be set.');
    return 1;
  }
  const timeoutSec = o.timeoutSec ?? 5;
  const target = o.masterIp ?? o.masterHost;
  const masterPort = o.masterPort ?? 3306;
  const ssh = parseSshOptions(o.options ?? '');
  for (const p of ssh.problems) io.warn(`--options: ${p}`);
  const insert = (o.pingType ?? 'SELECT').toUpperCase() === 'INSERT';
  for (const h of o.hosts) {
    let host: SshHost | undefined;
    let rc: number | null;
    try {
      host = await SshHost.connect(
        sshConnectOptions(
          {
            host: h,
            port: o.port ?? ssh.port ?? 22,
            user: o.user ?? ssh.user ?? 'root',
            connectionTimeoutSec: timeoutSec,
            // MHA's SSH_OPT_CHECK says StrictHostKeyChecking=no; learning a new key but refusing a changed one is the safe equivalent.
            options: { ...ssh, strictHostKeyChecking: ssh.strictHostKeyChecking ?? 'accept-new' },
          },
          { keepalive: false },
        ),
      );
      rc = (await host.exec(tcpProbeCommand(target, masterPort, timeoutSec), { timeoutMs: (timeoutSec + 10) * 1000 }))
        .code;
    } catch (err) {
      await host?.close().catch(() => {});
      io.out(`Monitoring server ${h} is NOT reachable!`);
      if (process.env.MHA_DEBUG) io.warn((err as Error).message);
      return 2;
    }
    try {
      if (rc === 0) {
        io.out(`Monitoring server ${h} is reachable, Master is not reachable from ${h}. OK.`);
        continue;
      }
      if (rc === 3) {
        if (insert) {
          // The password travels on stdin into MYSQL_PWD (readable only by the user, unlike argv).
          const cmd = [
            'sh -c',
            shQuote('IFS= read -r MYSQL_PWD; export MYSQL_PWD; exec mysql "$@"'),
            'sh',
            shQuote(`--host=${target}`),
            `--port=${masterPort}`,
            shQuote(`--user=${o.masterUser ?? 'root'}`),
            '--connect-timeout=3',
            '-e',
            shQuote(INSERT_SQL),
          ].join(' ');
          const stdin = `${o.masterPassword ?? ''}\n`;
          const r = await host.exec(cmd, { stdin, timeoutMs: 3000 + timeoutSec * 1000 }).catch(() => ({ code: 1 }));
          if (r.code !== 0) {
            io.out(`Monitoring server ${h} is reachable, Master is not writable from ${h}. OK.`);
            continue;
          }
        }
        io.out(`Master is reachable from ${h}!`);
        return 3;
      }
      io.out(
        rc === 97
          ? `Monitoring server ${h} is reachable, but has none of bash+timeout, nc or perl to test the master with!`
          : `Monitoring server ${h} is NOT reachable!`,
      );
      return 2;
    } finally {
      await host.close().catch(() => {});
    }
  }
  return 0;
}

export async function masterhaSecondaryCheckMain(argv: string[], io?: ToolIO): Promise<number> {
  const { hosts, rest } = extractSecondaryHosts(argv);
  return runMhaTool({
    tool: 'masterha_secondary_check',
    argv: rest,
    specs: SECONDARY_CHECK_SPECS,
    io,
    help: () =>
      renderHelp({
        synopsis:
          'masterha_secondary_check -s HOST [-s HOST ...] --master_host=HOST [--master_ip=IP] [--master_port=N] [options]',
        description:
          'Tests from each secondary host, over SSH and in order, whether a TCP connection to the master opens ' +
          '(and with --ping_type=INSERT whether it accepts a write). Stops at the first host that reaches the master ' +
          'or cannot be reached itself. The MySQL password for INSERT comes from ' +
          `${MASTER_PASSWORD_ENV} (the manager sets it) and reaches the remote client through stdin and MYSQL_PWD, never argv.`,
        specs: SECONDARY_CHECK_SPECS,
        exitCodes: [
          [0, 'the master is not reachable from any secondary host (master down)'],
          [1, 'usage error'],
          [2, 'a secondary host is not reachable over SSH (network problem)'],
          [3, 'the master is reachable from a secondary host (master alive)'],
        ],
      }),
    run: async (opts, _given, tio) => {
      const password = resolveSecret({
        envVar: MASTER_PASSWORD_ENV,
        option: str(opts, 'master_password'),
        optionName: 'master_password',
        io: tio,
      });
      return secondaryCheckTool(
        {
          hosts,
          user: str(opts, 'user'),
          port: int(opts, 'port'),
          options: str(opts, 'options'),
          masterHost: str(opts, 'master_host'),
          masterIp: str(opts, 'master_ip'),
          masterPort: int(opts, 'master_port'),
          masterUser: str(opts, 'master_user'),
          masterPassword: password,
          pingType: str(opts, 'ping_type'),
          timeoutSec: int(opts, 'timeout'),
        },
        tio,
      );
    },
  });
}
