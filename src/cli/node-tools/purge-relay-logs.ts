/**
 * `purge_relay_logs` (MHA node tool) and `mha relay purge`: let a replica delete the
 * relay logs it has applied while relay_log_purge stays off the rest of the time (MHA
 * needs old relay logs for recovery). Runs on the replica's own host: hard links make the
 * server's unlink of big files cheap, and the failover lock keeps it out of a failover.
 */
import { lookup } from 'node:dns/promises';
import { promises as fsp, readFileSync, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { parseIndexFile } from '../../engine/log-files.js';
import { parseRelayLogInfo } from '../../engine/relay-log-info.js';
import { purgeRelayLogs } from '../../engine/relay-purge.js';
import { ServerConnection } from '../../mysql/server-connection.js';
import {
  addKebabOptions,
  bool,
  fromCamel,
  int,
  mhaTime,
  type OptionSpec,
  type ParsedOptions,
  renderHelp,
  resolveSecret,
  runMhaTool,
  runModernTool,
  str,
  ToolFailure,
  type ToolIO,
} from './options.js';

export const TOOL = 'purge_relay_logs';
export const PASSWORD_ENV = 'MHA_PASSWORD';

export const PURGE_SPECS: OptionSpec[] = [
  { name: 'user', kind: 'string', value: 'USER', help: 'MySQL user', default: 'root' },
  {
    name: 'password',
    kind: 'string',
    value: 'PASS',
    help: `UNSAFE (visible in ps): MySQL password; use ${PASSWORD_ENV} or --password_file`,
    secret: true,
  },
  { name: 'password_file', kind: 'string', value: 'FILE', help: 'file holding the MySQL password (mode 0600)' },
  { name: 'host', kind: 'string', value: 'HOST', help: 'the replica; must be this machine', default: '127.0.0.1' },
  { name: 'port', kind: 'int', value: 'N', help: 'MySQL port', default: '3306' },
  { name: 'socket', kind: 'string', value: 'PATH', help: 'unix socket (instead of host and port)' },
  {
    name: 'defaults_file',
    kind: 'string',
    value: 'FILE',
    help: 'read user, password, host, port, socket from its [client] group',
  },
  {
    name: 'workdir',
    kind: 'string',
    value: 'DIR',
    help: 'where hard links are made (same filesystem as the relay logs)',
    default: '/var/tmp',
  },
  {
    name: 'relay_log_info',
    kind: 'string',
    value: 'FILE',
    help: "the replica's relay-log.info (only reported; the server finds its relay logs)",
  },
  {
    name: 'disable_relay_log_purge',
    kind: 'flag',
    help: 'if relay_log_purge is ON, turn it OFF and go on (else exit 0)',
  },
  {
    name: 'use_hardlink',
    kind: 'int',
    value: '0|1',
    help: '1: hard-link the applied relay logs into workdir first, so the server unlinks cheaply; 0: hold them open instead',
    default: '1',
  },
];

const EXIT_CODES: [number, string][] = [
  [0, 'purged, or nothing to do ("relay_log_purge is enabled. Exit.")'],
  [1, 'failure: not local, not a replica, cannot connect, lock held by a failover, relay log index unreadable'],
];

export function purgeHelp(): string {
  return renderHelp({
    synopsis: `${TOOL} [--user=USER] [--host=127.0.0.1] [--port=3306] [--workdir=DIR] [--disable_relay_log_purge]`,
    description:
      'Delete the relay logs a replica has applied, without blocking its SQL thread: under the advisory lock\n' +
      "'MHA_Master_High_Availability_Failover' (so never during a failover) it runs SET GLOBAL relay_log_purge=1;\n" +
      'FLUSH NO_WRITE_TO_BINLOG RELAY LOGS; waits for the SQL thread to drop the old files; SET GLOBAL relay_log_purge=0.\n' +
      'Run it from cron on each replica (MHA needs relay_log_purge=0).',
    specs: PURGE_SPECS,
    exitCodes: EXIT_CODES,
    notes: `Passwords: set ${PASSWORD_ENV} in the environment, or use --password_file=FILE (mode 0600) or a --defaults_file
with a [client] password. --password is accepted for MHA compatibility, prints a warning and is removed from the
process title; it is never printed or logged.`,
  });
}

export interface PurgeCliOptions {
  user?: string;
  passwordOption?: string;
  passwordFile?: string;
  host?: string;
  port?: number;
  socket?: string;
  defaultsFile?: string;
  workdir: string;
  relayLogInfo?: string;
  disableRelayLogPurge: boolean;
  useHardlink: boolean;
}

export function purgeOptionsFrom(o: ParsedOptions): PurgeCliOptions {
  return {
    user: str(o, 'user'),
    passwordOption: o.password === undefined ? undefined : String(o.password),
    passwordFile: str(o, 'password_file'),
    host: str(o, 'host'),
    port: int(o, 'port') || undefined,
    socket: str(o, 'socket'),
    defaultsFile: str(o, 'defaults_file'),
    workdir: str(o, 'workdir') ?? '/var/tmp',
    relayLogInfo: str(o, 'relay_log_info'),
    disableRelayLogPurge: bool(o, 'disable_relay_log_purge'),
    useHardlink: o.use_hardlink === undefined ? true : bool(o, 'use_hardlink'),
  };
}

/** The [client] (and [client-mariadb]) groups of a MySQL option file. */
export function readClientDefaults(path: string, io: ToolIO): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ToolFailure(`cannot read --defaults_file ${path}: ${(err as NodeJS.ErrnoException).code}`, 1);
  }
  const out: Record<string, string> = {};
  let inGroup = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const g = /^\[([^\]]+)\]$/.exec(line);
    if (g) {
      inGroup = ['client', 'client-mariadb', 'client-server'].includes(g[1].trim().toLowerCase());
      continue;
    }
    if (!inGroup) continue;
    const m = /^([A-Za-z0-9_-]+)\s*(?:=\s*(.*))?$/.exec(line);
    if (!m) continue;
    let v = (m[2] ?? '').trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1].toLowerCase().replace(/-/g, '_')] = v;
  }
  if (out.password !== undefined && (statSync(path).mode & 0o077) !== 0) {
    io.warn(`WARNING: ${path} holds a password and is readable by other users; chmod 600 it.`);
  }
  return out;
}

function isLoopback(addr: string): boolean {
  return /^127\./.test(addr) || addr === '::1' || /^::ffff:127\./.test(addr);
}

/**
 * MHA requires the server to be this machine (it works on the server's files). Checked
 * on the address the connection would use, against this machine's interfaces.
 */
export async function isLocalHost(host: string): Promise<boolean> {
  if (host === 'localhost' || host === hostname() || isLoopback(host)) return true;
  let addr: string;
  try {
    addr = (await lookup(host)).address;
  } catch {
    return false;
  }
  if (isLoopback(addr)) return true;
  const mine = Object.values(networkInterfaces())
    .flat()
    .map((i) => i?.address);
  return mine.includes(addr);
}

async function relayIndexPath(server: ServerConnection): Promise<string> {
  const indexVar = await server.variable('relay_log_index');
  const datadir = (await server.variable('datadir')) ?? '';
  if (indexVar) return isAbsolute(indexVar) ? indexVar : join(datadir, indexVar);
  return `${(await server.variable('relay_log_basename')) ?? join(datadir, 'relay-bin')}.index`;
}

export async function purgeRelayLogsTool(opts: PurgeCliOptions, io: ToolIO): Promise<number> {
  const defaults = opts.defaultsFile ? readClientDefaults(opts.defaultsFile, io) : {};
  const socket = opts.socket ?? defaults.socket;
  const host = opts.host ?? defaults.host ?? '127.0.0.1';
  const port = opts.port ?? (defaults.port ? Number(defaults.port) : 3306);
  const user = opts.user ?? defaults.user ?? 'root';
  if (!socket && !(await isLocalHost(host))) {
    throw new ToolFailure(`--host(${host}) must be local address (localhost, 127.0.0.1, etc)!`, 1);
  }
  const password =
    resolveSecret({
      file: opts.passwordFile,
      envVar: PASSWORD_ENV,
      option: opts.passwordOption,
      optionName: 'password',
      io,
    }) ?? defaults.password;

  io.out(`${mhaTime()}: purge_relay_logs script started.`);
  let server: ServerConnection;
  try {
    server = await ServerConnection.open(
      { host, port, user, password, socketPath: socket },
      { connectTimeoutMs: 10_000, queryTimeoutMs: 60_000 },
    );
  } catch (err) {
    throw new ToolFailure(` Failed to get DB Handle on ${host}! ${(err as Error).message}`, 1);
  }
  const held: FileHandle[] = [];
  try {
    if (!(await server.replicaStatus())) {
      throw new ToolFailure(' Target mysql server is not defined as replication slave.', 1);
    }
    const purgeOn = (await server.variable('relay_log_purge')) === 'ON';
    if (purgeOn) {
      if (!opts.disableRelayLogPurge) {
        io.out(' relay_log_purge is enabled. Exit.');
        return 0;
      }
      io.out(' relay_log_purge is enabled. Disabling..');
    }

    const infoPath = await findRelayLogInfo(server, opts.relayLogInfo);
    if (infoPath) {
      io.out(` Found relay_log.info: ${infoPath}`);
      try {
        const info = parseRelayLogInfo(await fsp.readFile(infoPath, 'utf8'), infoPath);
        io.out(` Current relay log file: ${info.relayLogFile}`);
      } catch (err) {
        if (opts.relayLogInfo) throw new ToolFailure(` ${(err as Error).message}`, 1);
      }
    } else if (opts.relayLogInfo) {
      throw new ToolFailure(` ${opts.relayLogInfo} does NOT exist.`, 1);
    }

    const indexPath = await relayIndexPath(server);
    let before: string[];
    try {
      before = parseIndexFile(await fsp.readFile(indexPath, 'utf8'));
    } catch (err) {
      throw new ToolFailure(` cannot read the relay log index ${indexPath}: ${(err as NodeJS.ErrnoException).code}`, 1);
    }
    const dir = dirname(indexPath);
    if (!opts.useHardlink) {
      // MHA's other mode: hold the files open, so the server's unlink only drops names.
      for (const f of before) {
        io.out(` Opening ${join(dir, f)} ..`);
        try {
          held.push(await fsp.open(join(dir, f), 'r'));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    } else {
      io.out(` Creating hard links for unused relay log files under ${opts.workdir} ..`);
    }
    io.out(
      ' Executing SET GLOBAL relay_log_purge=1; FLUSH LOGS; sleeping a few seconds so that SQL thread can delete older relay log files (if it keeps up); SET GLOBAL relay_log_purge=0; ..',
    );
    let result: Awaited<ReturnType<typeof purgeRelayLogs>>;
    try {
      result = await purgeRelayLogs(server, {
        workdir: opts.workdir,
        disableRelayLogPurge: opts.disableRelayLogPurge,
        useHardLinks: opts.useHardlink,
        log: (line) => io.out(`  ${line}`),
      });
    } catch (err) {
      const m = (err as Error).message;
      if (/could not take the lock/.test(m)) {
        throw new ToolFailure(' Getting advisory lock failed. Maybe failover script is running?', 1);
      }
      throw new ToolFailure(` ${m}`, 1);
    }
    if (result.status === 'skipped') {
      io.out(` ${result.reason}. Exit.`);
      return 0;
    }
    if (opts.useHardlink) {
      io.out(
        result.hardLinked
          ? ` Hard links made for ${before.length - 1} unused relay log file(s) and removed after the purge.`
          : ' Old relay logs not found or not linkable here. No hard links made.',
      );
    }
    io.out(
      ` ok. Removed ${result.removed.length} relay log file(s)${result.removed.length ? ` (${result.removed[0]}${result.removed.length > 1 ? ` .. ${result.removed.at(-1)}` : ''})` : ''}; kept ${result.kept.join(', ')}.`,
    );
    io.out(`${mhaTime()}: All relay log purging operations succeeded.`);
    return 0;
  } finally {
    for (const fh of held) await fh.close().catch(() => {});
    await server.close();
  }
}

async function findRelayLogInfo(server: ServerConnection, given?: string): Promise<string | undefined> {
  if (given) return (await isFilePath(given)) ? given : undefined;
  const name = (await server.variable('relay_log_info_file')) ?? 'relay-log.info';
  const path = isAbsolute(name) ? name : join((await server.variable('datadir')) ?? '', name);
  return (await isFilePath(path)) ? path : undefined;
}

async function isFilePath(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
}

/** `purge_relay_logs …` (MHA spelling). */
export function purgeRelayLogsMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: TOOL,
    argv,
    specs: PURGE_SPECS,
    help: purgeHelp,
    run: (o, _given, io) => purgeRelayLogsTool(purgeOptionsFrom(o), io),
    io,
  });
}

/** `mha relay purge` (kebab-case spelling; no argv password). */
export function registerRelayPurge(program: Command): Command {
  const relay =
    program.commands.find((c) => c.name() === 'relay') ??
    program.command('relay').description("replica relay-log maintenance (MHA's purge_relay_logs)");
  const cmd = relay
    .command('purge')
    .description("delete the relay logs a replica has applied, safely (MHA's purge_relay_logs)");
  addKebabOptions(
    cmd,
    PURGE_SPECS.filter((s) => !s.secret && s.name !== 'use_hardlink'),
  );
  cmd.option('--no-hardlink', 'hold the relay logs open instead of hard-linking them (MHA --use_hardlink=0)');
  cmd.addHelpText(
    'after',
    `\nPasswords: ${PASSWORD_ENV} in the environment, --password-file (mode 0600) or --defaults-file.\n\nExit codes:\n${EXIT_CODES.map(
      ([c, m]) => `  ${String(c).padEnd(3)} ${m}`,
    ).join('\n')}`,
  );
  cmd.action(async (raw: Record<string, unknown>) => {
    const o = fromCamel(raw);
    o.use_hardlink = raw.hardlink === false ? 0 : 1;
    await runModernTool((io) => purgeRelayLogsTool(purgeOptionsFrom(o), io), 'purging relay logs failed');
  });
  return cmd;
}
