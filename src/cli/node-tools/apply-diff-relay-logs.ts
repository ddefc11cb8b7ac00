/**
 * `apply_diff_relay_logs` (MHA node tool) and `mha binlog apply`.
 *
 * - find: where, in this replica's relay logs, the events after another server's master
 *   position begin;
 * - generate / generate_and_send: write those events as one binlog (and scp it to the
 *   server that lacks them);
 * - apply: concatenate binlog files (exec→read diff, read→latest diff, the dead master's
 *   tail) into one stream and execute it on a server, without mysqlbinlog or mysql;
 * - test: check that a replica can be recovered here.
 */
import { lookup } from 'node:dns/promises';
import { createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import {
  type BinlogEvent,
  EventType,
  MariadbGtidList,
  MysqlGtidSet,
  parseMariadbGtid,
  readFileEvents,
} from '@mha-ts/native-free-parsers';
import type { Command } from 'commander';
import { ApplyError, type ApplySummary, applyEvents, writeSqlScript } from '../../engine/apply.js';
import type { ExecutedGtids } from '../../engine/concatenate.js';
import { binlogTail, readFormatDescription, relayTail, type TailState } from '../../engine/log-sources.js';
import { findRelayLogPosition, type RelayFindResult } from '../../engine/relay-position-finder.js';
import { ServerConnection } from '../../mysql/server-connection.js';
import { LocalFileAccess } from '../../remote/file-access.js';
import { describeIncompleteTail, writeBinlogFile } from './binlog-output.js';
import { filesFrom, isFile, type RelayLocation, relayFromDir, relayFromInfo } from './log-location.js';
import {
  addKebabOptions,
  bool,
  fromCamel,
  int,
  localTimestamp,
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
import { sendFile, sshExec } from './remote-copy.js';

export const TOOL = 'apply_diff_relay_logs';
export const PASSWORD_ENV = 'MHA_SLAVE_PASSWORD';

/**
 * Exit codes. MHA exits 1 for every failure and keeps its status codes (node:lib/MHA/NodeConst.pm)
 * internal; here the failures that have one exit with it, so callers can tell them apart.
 * Target_Has_Received_All_Relay_Logs (2) is a success, reported by its line.
 */
export const ApplyDiffExit = {
  OK: 0,
  FAILED: 1,
  RELAY_LOG_NOT_FOUND: 10,
  APPLYING_FAILED: 22,
} as const;

const COMMANDS = ['test', 'find', 'generate', 'generate_and_send', 'apply'] as const;
type ApplyDiffCommand = (typeof COMMANDS)[number];

export const APPLY_DIFF_SPECS: OptionSpec[] = [
  { name: 'command', kind: 'string', value: COMMANDS.join('|'), help: 'what to do (see above)' },
  { name: 'relay_log_info', kind: 'string', value: 'FILE', help: "this replica's relay-log.info" },
  {
    name: 'relay_dir',
    kind: 'string',
    value: 'DIR',
    help: 'relay log directory (with --current_relay_log; else the datadir for relay-log.info)',
  },
  {
    name: 'current_relay_log',
    kind: 'string',
    value: 'FILE',
    help: 'a relay log name of the series (relay_log_info_repository=TABLE)',
  },
  {
    name: 'datadir',
    kind: 'string',
    value: 'DIR',
    help: 'what relative names in relay-log.info are relative to',
    default: '--relay_dir',
  },
  {
    name: 'server_id',
    kind: 'int',
    value: 'N',
    help: "this replica's server_id (accepted; own events are recognised without it)",
  },
  { name: 'latest_mlf', kind: 'string', value: 'FILE', help: "this replica's Master_Log_File (enables the fast path)" },
  { name: 'latest_rmlp', kind: 'int', value: 'N', help: "this replica's Read_Master_Log_Pos" },
  { name: 'target_mlf', kind: 'string', value: 'FILE', help: "the lagging server's Master_Log_File" },
  { name: 'target_rmlp', kind: 'int', value: 'N', help: "the lagging server's Read_Master_Log_Pos" },
  {
    name: 'diff_file_readtolatest',
    kind: 'string',
    value: 'FILE',
    help: 'generate: the diff binlog to write (and send to the same path)',
  },
  {
    name: 'scp_user',
    kind: 'string',
    value: 'USER',
    help: 'generate_and_send: ssh user on the receiving host',
    default: 'root',
  },
  { name: 'scp_host', kind: 'string', value: 'HOST', help: 'generate_and_send: the receiving host' },
  { name: 'scp_port', kind: 'int', value: 'N', help: 'its ssh port', default: '22' },
  {
    name: 'ssh_options',
    kind: 'string',
    value: 'OPTS',
    help: 'ssh/scp options (MHA ssh_options; key-based, BatchMode is forced)',
  },
  { name: 'apply_files', kind: 'string', value: 'F1,F2,..', help: 'apply: binlog files, in order' },
  { name: 'slave_user', kind: 'string', value: 'USER', help: 'apply/test: MySQL user', default: 'root' },
  {
    name: 'slave_pass',
    kind: 'string',
    value: 'PASS',
    help: `UNSAFE (visible in ps): MySQL password; use ${PASSWORD_ENV} or --password_file`,
    secret: true,
  },
  { name: 'password_file', kind: 'string', value: 'FILE', help: 'file holding the MySQL password (mode 0600)' },
  {
    name: 'slave_host',
    kind: 'string',
    value: 'HOST',
    help: 'apply/test: the server (for messages and file names)',
    default: '127.0.0.1',
  },
  {
    name: 'slave_ip',
    kind: 'string',
    value: 'IP',
    help: 'apply/test: address to connect to',
    default: 'slave_host resolved',
  },
  { name: 'slave_port', kind: 'int', value: 'N', help: 'apply/test: MySQL port', default: '3306' },
  { name: 'workdir', kind: 'string', value: 'DIR', help: 'work files (total binlog, apply log)', default: '/var/tmp' },
  { name: 'timestamp', kind: 'string', value: 'TS', help: 'suffix of work file names', default: 'now' },
  {
    name: 'disable_log_bin',
    kind: 'int',
    value: '0|1',
    help: 'apply with sql_log_bin=0 (not written to the target binlog)',
    default: '0',
  },
  { name: 'no_apply', kind: 'flag', help: 'apply: prepare only; the SQL is written to a file in workdir' },
  {
    name: 'handle_raw_binlog',
    kind: 'int',
    value: '0|1',
    help: 'accepted for compatibility: files are always binary logs',
  },
  {
    name: 'target_version',
    kind: 'string',
    value: 'VERSION',
    help: 'accepted for compatibility (the version is read from the server)',
  },
  { name: 'master_server_id', kind: 'int', value: 'N', help: 'accepted for compatibility (unused, as in MHA)' },
  { name: 'manager_version', kind: 'string', value: 'VERSION', help: 'accepted for compatibility' },
  {
    name: 'client_bindir',
    kind: 'string',
    value: 'DIR',
    help: 'accepted for compatibility (no client programs are run)',
  },
  { name: 'client_libdir', kind: 'string', value: 'DIR', help: 'accepted for compatibility' },
  { name: 'debug', kind: 'flag', help: 'print more' },
];

const EXIT_CODES: [number, string][] = [
  [0, 'success; also "Target slave has received all relay logs." (MHA status 2: nothing to generate)'],
  [1, 'failure: bad options, a missing or unreadable relay/binlog file, a corrupt log, ssh/scp or connection errors'],
  [10, "the target position is not in this replica's relay logs (MHA Relay_Log_Not_Found: purged or never received)"],
  [
    22,
    'applying failed (MHA Applying_SQL_File_Failed): "FATAL: applying log files failed …" names the event and error',
  ],
];

export function applyDiffHelp(): string {
  return renderHelp({
    synopsis: `${TOOL} --command=test|find|generate|generate_and_send|apply [options]`,
    description: [
      'MHA node tool for recovering replicas, on a pure-TypeScript binlog engine (no mysqlbinlog, no mysql client).',
      '  test               check relay logs, the MySQL account (a test table with sql_log_bin=0) and, with',
      '                     --scp_host, ssh to the receiving host',
      '  find               find --target_mlf:--target_rmlp in this replica\'s relay logs ("Target relay log FOUND!")',
      '  generate           write the relay-log events after that position to --diff_file_readtolatest',
      '  generate_and_send  the same, then scp it (same path) to --scp_user@--scp_host',
      '  apply              join --apply_files into one binlog stream and execute it on the server; transactions',
      '                     the server already executed (by GTID) are skipped, a trailing incomplete transaction',
      '                     is not applied and is reported',
    ].join('\n'),
    specs: APPLY_DIFF_SPECS,
    exitCodes: EXIT_CODES,
    notes: `Passwords: set ${PASSWORD_ENV} in the environment or use --password_file=FILE (mode 0600). --slave_pass is accepted
for MHA compatibility, prints a warning and is removed from the process title; it is never printed or logged.`,
  });
}

export interface ApplyDiffOptions {
  command: ApplyDiffCommand;
  relayLogInfo?: string;
  relayDir?: string;
  currentRelayLog?: string;
  datadir?: string;
  latestMlf?: string;
  latestRmlp?: number;
  targetMlf?: string;
  targetRmlp?: number;
  diffFile?: string;
  scpUser: string;
  scpHost?: string;
  scpPort: number;
  sshOptions?: string;
  applyFiles: string[];
  slaveUser: string;
  slavePassOption?: string;
  passwordFile?: string;
  slaveHost: string;
  slaveIp?: string;
  slavePort: number;
  workdir: string;
  timestamp: string;
  disableLogBin: boolean;
  noApply: boolean;
  debug: boolean;
}

export function applyDiffOptionsFrom(o: ParsedOptions): ApplyDiffOptions {
  const command = str(o, 'command') ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new ToolFailure(
      `Invalid command ${command}. Either [test|find|generate|generate_and_send|apply] command must be set.`,
      1,
    );
  }
  const ts = str(o, 'timestamp');
  return {
    command: command as ApplyDiffCommand,
    relayLogInfo: str(o, 'relay_log_info'),
    relayDir: str(o, 'relay_dir'),
    currentRelayLog: str(o, 'current_relay_log'),
    datadir: str(o, 'datadir') ?? str(o, 'relay_dir'),
    latestMlf: str(o, 'latest_mlf'),
    latestRmlp: int(o, 'latest_rmlp'),
    targetMlf: str(o, 'target_mlf'),
    targetRmlp: int(o, 'target_rmlp'),
    diffFile: str(o, 'diff_file_readtolatest'),
    scpUser: str(o, 'scp_user') ?? 'root',
    scpHost: str(o, 'scp_host'),
    scpPort: int(o, 'scp_port') || 22,
    sshOptions: str(o, 'ssh_options'),
    applyFiles: (str(o, 'apply_files') ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean),
    slaveUser: str(o, 'slave_user') ?? 'root',
    slavePassOption: o.slave_pass === undefined ? undefined : String(o.slave_pass),
    passwordFile: str(o, 'password_file'),
    slaveHost: str(o, 'slave_host') ?? '127.0.0.1',
    slaveIp: str(o, 'slave_ip'),
    slavePort: int(o, 'slave_port') || 3306,
    workdir: str(o, 'workdir') ?? '/var/tmp',
    timestamp: ts && ts !== '0' ? ts : localTimestamp(),
    disableLogBin: bool(o, 'disable_log_bin'),
    noApply: bool(o, 'no_apply'),
    debug: bool(o, 'debug'),
  };
}

export async function applyDiffRelayLogs(opts: ApplyDiffOptions, io: ToolIO): Promise<number> {
  try {
    await fsp.mkdir(opts.workdir, { recursive: true });
  } catch (err) {
    throw new ToolFailure(`cannot create workdir ${opts.workdir}: ${(err as NodeJS.ErrnoException).code}`, 1);
  }
  switch (opts.command) {
    case 'test':
      return checkEnvironment(opts, io);
    case 'find':
      return find(opts, io);
    case 'generate':
    case 'generate_and_send':
      return generate(opts, io);
    case 'apply':
      return apply(opts, io);
  }
}

// ---------------------------------------------------------------- relay logs

async function locateRelayLogs(opts: ApplyDiffOptions, io: ToolIO): Promise<RelayLocation> {
  let loc: RelayLocation;
  if (opts.relayDir && opts.currentRelayLog) {
    loc = await relayFromDir(opts.relayDir, opts.currentRelayLog);
  } else if (opts.relayLogInfo) {
    loc = await relayFromInfo(opts.relayLogInfo, opts.datadir);
    io.out(`    Opening ${opts.relayLogInfo} ... ok.`);
  } else {
    throw new ToolFailure(
      'ERROR: Either (--relay_dir=s, --current_relay_log=s) or (--relay_log_info=s) must be set.',
      1,
    );
  }
  io.out(`    Relay log found at ${loc.dir}, up to ${loc.end}`);
  return loc;
}

type Found = Extract<RelayFindResult, { status: 'found' }>;

async function findTarget(
  opts: ApplyDiffOptions,
  loc: RelayLocation,
  io: ToolIO,
): Promise<Found | { status: 'has-all' }> {
  if (!opts.targetMlf) throw new ToolFailure('--target_mlf (target master log file name) must be set.', 1);
  if (!opts.targetRmlp) throw new ToolFailure('--target_rmlp (target master read log pos) must be set.', 1);
  const target = { file: opts.targetMlf, pos: opts.targetRmlp };
  const latest =
    opts.latestMlf && opts.latestRmlp !== undefined ? { file: opts.latestMlf, pos: opts.latestRmlp } : undefined;
  let r: RelayFindResult;
  try {
    r = await findRelayLogPosition({
      access: new LocalFileAccess(),
      relayDir: loc.dir,
      relayFiles: loc.files,
      target,
      latest,
    });
  } catch (err) {
    throw new ToolFailure(`reading relay logs in ${loc.dir} failed: ${(err as Error).message}`, 1);
  }
  if (opts.debug) io.out(`  Read ${r.bytesRead} bytes of relay logs.`);
  if (r.status === 'has-all') {
    if (opts.debug) io.out(`  ${r.reason}`);
    return { status: 'has-all' };
  }
  if (r.status === 'not-found') {
    io.out(` Target relay log position NOT FOUND: ${r.reason}.`);
    throw new ToolFailure(
      `ERROR: this replica's relay logs (${loc.dir}) do not hold ${target.file}:${target.pos}. Maybe some logs were purged.`,
      ApplyDiffExit.RELAY_LOG_NOT_FOUND,
    );
  }
  if (r.method === 'fast') io.out(' Fast relay log position search succeeded.');
  else if (latest && latest.file === target.file) {
    io.out(' Fast relay log position search failed. Reading relay logs to find..');
  }
  io.out(` Target relay log file/position found. start_file:${r.relayFile}, start_pos:${r.offset}.`);
  return r;
}

async function find(opts: ApplyDiffOptions, io: ToolIO): Promise<number> {
  const loc = await locateRelayLogs(opts, io);
  const r = await findTarget(opts, loc, io);
  if (r.status === 'has-all') {
    io.out('Target slave has received all relay logs.');
    return ApplyDiffExit.OK;
  }
  io.out('Target relay log FOUND!');
  return ApplyDiffExit.OK;
}

async function generate(opts: ApplyDiffOptions, io: ToolIO): Promise<number> {
  const send = opts.command === 'generate_and_send';
  if (send && (!opts.scpUser || !opts.scpHost))
    throw new ToolFailure('ERROR: --scp_user and --scp_host must be set.', 1);
  const out = opts.diffFile;
  if (!out) throw new ToolFailure('ERROR: --diff_file_readtolatest=<Diff file name> must be set.', 1);
  await fsp.mkdir(dirname(out), { recursive: true });
  await fsp.rm(out, { force: true });

  const loc = await locateRelayLogs(opts, io);
  const r = await findTarget(opts, loc, io);
  if (r.status === 'has-all') {
    io.out('Target slave has received all relay logs.');
    return ApplyDiffExit.OK;
  }
  const files = await filesFrom(loc.dir, r.relayFile);
  io.out(` Concat binary/relay logs from ${r.relayFile} pos ${r.offset} to ${files.at(-1)} EOF into ${out} ..`);
  const tail: TailState = { partialTail: false };
  let report: Awaited<ReturnType<typeof writeBinlogFile>>;
  try {
    report = await writeBinlogFile(
      [
        {
          kind: 'read-to-latest',
          events: relayTail({ access: new LocalFileAccess(), dir: loc.dir, files, offset: r.offset, tail }),
        },
      ],
      out,
    );
  } catch (err) {
    throw new ToolFailure(`generating ${out} failed: ${(err as Error).message}`, 1);
  }
  if (tail.partialTail)
    io.out(`  ${join(loc.dir, files.at(-1)!)} ends inside an event being written: kept up to the last complete event.`);
  if (report.pieces[0].events === 0) {
    await fsp.rm(out, { force: true });
    io.out('Target slave has received all relay logs.');
    return ApplyDiffExit.OK;
  }
  const incomplete = describeIncompleteTail(report);
  if (incomplete) {
    io.out(
      `  The last transaction (${incomplete}) is incomplete in the relay logs: kept at the end; applied only if completed later.`,
    );
  }
  io.out(' Concat succeeded.');
  io.out(` Generating diff relay log succeeded. Saved at ${out} .`);
  if (!send) return ApplyDiffExit.OK;

  const who = `${opts.scpUser}@${opts.scpHost}`;
  try {
    await sendFile(
      { user: opts.scpUser, host: opts.scpHost!, port: opts.scpPort, sshOptions: opts.sshOptions },
      out,
      out,
      io.out,
    );
  } catch (err) {
    throw new ToolFailure(
      `ERROR: scp ${hostname()}:${out} to ${who}(${opts.scpPort}) failed! ${(err as Error).message}`,
      1,
    );
  }
  io.out(` scp ${hostname()}:${out} to ${who}(${opts.scpPort}) succeeded.`);
  return ApplyDiffExit.OK;
}

// ---------------------------------------------------------------- server side

async function slaveAddress(opts: ApplyDiffOptions): Promise<string> {
  if (opts.slaveIp) return opts.slaveIp;
  try {
    return (await lookup(opts.slaveHost)).address;
  } catch (err) {
    throw new ToolFailure(`cannot resolve --slave_host ${opts.slaveHost}: ${(err as NodeJS.ErrnoException).code}`, 1);
  }
}

function password(opts: ApplyDiffOptions, io: ToolIO): string | undefined {
  return resolveSecret({
    file: opts.passwordFile,
    envVar: PASSWORD_ENV,
    option: opts.slavePassOption,
    optionName: 'slave_pass',
    io,
  });
}

async function connect(opts: ApplyDiffOptions, ip: string, pass: string | undefined): Promise<ServerConnection> {
  try {
    return await ServerConnection.open(
      { host: ip, port: opts.slavePort, user: opts.slaveUser, password: pass },
      { connectTimeoutMs: 10_000, queryTimeoutMs: 60_000 },
    );
  } catch (err) {
    throw new ToolFailure(`Failed to connect to ${opts.slaveHost}:${opts.slavePort}: ${(err as Error).message}`, 1);
  }
}

/** MySQL ≥ 5.7.8: super_read_only blocks even SUPER; MHA lifts it (keeping read_only) while applying. */
async function liftSuperReadOnly(server: ServerConnection, io: ToolIO): Promise<() => Promise<void>> {
  const value = await server.variable('super_read_only');
  if (value !== 'ON' && value !== '1') return async () => {};
  io.out('disabling super_read_only, enabling read_only, so that the applying can be done on the slave');
  await server.query('SET GLOBAL super_read_only=OFF');
  await server.query('SET GLOBAL read_only=ON');
  return async () => {
    io.out('enabling super_read_only again after applying');
    await server.query('SET GLOBAL super_read_only=ON');
  };
}

async function checkEnvironment(opts: ApplyDiffOptions, io: ToolIO): Promise<number> {
  io.out('  Checking slave recovery environment settings..');
  const loc = await locateRelayLogs(opts, io);
  io.out(`    Temporary relay log file is ${join(loc.dir, loc.end)}`);
  const pass = password(opts, io);
  const ip = await slaveAddress(opts);
  const server = await connect(opts, ip, pass);
  try {
    let restore = async () => {};
    const sro = await server.variable('super_read_only');
    if (sro === 'ON' || sro === '1') {
      io.out('    Checking if super_read_only is defined and turned on.. enabled:');
      restore = await liftSuperReadOnly(server, io);
    } else {
      io.out('    Checking if super_read_only is defined and turned on.. not present or turned off, ignoring.');
    }
    io.out('    Testing mysql connection and privileges..');
    try {
      await server.query('SET SESSION sql_log_bin=0');
      await server.query('CREATE TABLE IF NOT EXISTS mysql.apply_diff_relay_logs_test(id int) ENGINE=MyISAM');
      await server.query('INSERT INTO mysql.apply_diff_relay_logs_test VALUES(1)');
      await server.query('UPDATE mysql.apply_diff_relay_logs_test SET id=id+1 WHERE id=1');
      await server.query('DELETE FROM mysql.apply_diff_relay_logs_test');
      await server.query('DROP TABLE mysql.apply_diff_relay_logs_test');
    } catch (err) {
      throw new ToolFailure(
        `mysql test statements failed on ${opts.slaveHost}:${opts.slavePort}: ${(err as Error).message}`,
        1,
      );
    } finally {
      await restore().catch(() => {});
    }
    io.out('     done.');
  } finally {
    await server.close();
  }

  io.out(`    Testing relay log parsing (${loc.end})..`);
  try {
    const { fd } = await readFormatDescription(new LocalFileAccess(), join(loc.dir, loc.end));
    if (opts.debug) io.out(`     server ${fd.serverVersion}, checksum ${fd.checksumAlgorithm ?? 'none'}`);
  } catch (err) {
    throw new ToolFailure(`parsing ${join(loc.dir, loc.end)} failed: ${(err as Error).message}`, 1);
  }
  io.out('     done.');

  if (opts.scpHost) {
    io.out(`    Testing connecting to remote slave ${opts.scpHost}(${opts.scpPort}) via ssh..`);
    const r = await sshExec(
      { user: opts.scpUser, host: opts.scpHost, port: opts.scpPort, sshOptions: opts.sshOptions },
      'exit 0',
      60_000,
    );
    if (r.code !== 0) throw new ToolFailure(`ssh failed with rc ${r.code}:0! ${r.stderr.trim()}`, 1);
    io.out('     done.');
  }
  return ApplyDiffExit.OK;
}

async function executedGtids(server: ServerConnection): Promise<ExecutedGtids> {
  if (server.version.flavor === 'mariadb') {
    // gtid_current_pos takes a domain's GTID from gtid_slave_pos unless the binlog's last one
    // carries this server's own server_id — so transactions applied by a client session with
    // the master's server_id (a previous apply, mysqlbinlog | mysql) are only in gtid_binlog_pos.
    const row = await server.one<{ c: string | null; b: string | null }>(
      'SELECT @@GLOBAL.gtid_current_pos AS c, @@GLOBAL.gtid_binlog_pos AS b',
    );
    return {
      mariadb: MariadbGtidList.parse(String(row?.c ?? '')).union(MariadbGtidList.parse(String(row?.b ?? ''))),
    };
  }
  let row: { g: string | null } | undefined;
  try {
    row = await server.one<{ g: string | null }>('SELECT @@GLOBAL.gtid_executed AS g');
  } catch {
    return {}; // MySQL < 5.6: no GTIDs
  }
  return { mysql: MysqlGtidSet.parse(String(row?.g ?? '').replace(/\s+/g, '')) };
}

/** Was this GTID (text form) in the target's executed set before the run? */
function executedContains(executed: ExecutedGtids, gtid: string): boolean {
  try {
    if (executed.mariadb && /^\d+-\d+-\d+$/.test(gtid)) return executed.mariadb.contains(parseMariadbGtid(gtid));
    const m = /^(.*):(\d+)$/.exec(gtid);
    if (executed.mysql && m) {
      const [sid, tag] = m[1].split(':');
      return executed.mysql.containsGtid(sid, BigInt(m[2]), tag || undefined);
    }
  } catch {
    // not a GTID we can read: count it as repeated
  }
  return false;
}

/** GTID → where its transaction starts in the apply files, for failure messages. */
function recordGtids(
  events: AsyncIterable<BinlogEvent>,
  file: string,
  map: Map<string, string>,
): AsyncGenerator<BinlogEvent> {
  return (async function* () {
    for await (const e of events) {
      if (
        e.typeCode === EventType.MARIADB_GTID ||
        e.typeCode === EventType.GTID ||
        e.typeCode === EventType.GTID_TAGGED
      ) {
        const g = (e.data as { gtid?: string }).gtid;
        if (g && !map.has(g)) map.set(g, `${file}:${e.offset}`);
      }
      yield e;
    }
  })();
}

async function apply(opts: ApplyDiffOptions, io: ToolIO): Promise<number> {
  const files = opts.applyFiles;
  if (files.length === 0) throw new ToolFailure('ERROR: --apply_files must be set.', 1);
  for (const f of files) {
    if (!(await isFile(f))) throw new ToolFailure(`ERROR: ${f} not found!`, 1);
    try {
      await readFormatDescription(new LocalFileAccess(), f);
    } catch (err) {
      throw new ToolFailure(
        `ERROR: ${f} is not a binary log (${(err as Error).message}); mysqlbinlog text files (handle_raw_binlog=0) are not supported`,
        1,
      );
    }
  }
  const pass = password(opts, io);
  const tag = `${opts.slaveHost}_${opts.slavePort}`;
  const total = join(opts.workdir, `total_binlog_for_${tag}.${opts.timestamp}.binlog`);
  const logPath = join(opts.workdir, `relay_log_apply_for_${tag}_${opts.timestamp}_err.log`);

  let server: ServerConnection | undefined;
  let restoreSro = async () => {};
  let ip = '';
  let executed: ExecutedGtids = {};
  if (!opts.noApply) {
    ip = await slaveAddress(opts);
    server = await connect(opts, ip, pass);
  }
  try {
    if (server) {
      try {
        executed = await executedGtids(server);
      } catch (err) {
        throw new ToolFailure(
          `reading executed GTIDs on ${opts.slaveHost}:${opts.slavePort} failed: ${(err as Error).message}`,
          1,
        );
      }
      restoreSro = await liftSuperReadOnly(server, io);
    }

    const access = new LocalFileAccess();
    const sources = new Map<string, string>();
    const tails: TailState[] = [];
    io.out(` Concat all apply files to ${total} ..`);
    let report: Awaited<ReturnType<typeof writeBinlogFile>>;
    try {
      report = await writeBinlogFile(
        files.map((f) => {
          const tail: TailState = { partialTail: false };
          tails.push(tail);
          return {
            kind: 'binlog' as const,
            events: recordGtids(
              binlogTail({ access, dir: dirname(f), files: [basename(f)], startPos: 4, tail }),
              f,
              sources,
            ),
          };
        }),
        total,
        executed,
      );
    } catch (err) {
      throw new ToolFailure(`reading the apply files failed: ${(err as Error).message}`, 1);
    }
    io.out(`All apply target binary logs are concatinated at ${total} .`);
    tails.forEach((t, i) => {
      if (t.partialTail)
        io.out(`  ${files[i]} ends inside an event (a write cut short): read up to the last complete event.`);
    });
    const onTarget = [...new Set(report.skipped.filter((g) => executedContains(executed, g)))];
    const repeated = report.skipped.filter((g) => !executedContains(executed, g));
    const range = (l: string[]) => `GTIDs ${l[0]}${l.length > 1 ? ` .. ${l.at(-1)}` : ''}`;
    if (onTarget.length > 0) {
      io.out(
        `  Skipped ${onTarget.length} transaction(s) ${opts.slaveHost}:${opts.slavePort} already executed (${range(onTarget)}).`,
      );
    }
    if (repeated.length > 0) {
      io.out(`  Skipped ${repeated.length} transaction(s) repeated in the apply files (${range(repeated)}).`);
    }
    const incomplete = describeIncompleteTail(report);
    if (incomplete) {
      io.out(
        `  The last transaction (${incomplete}) is incomplete: it was never committed on the master and is not applied.`,
      );
    }
    const events = () => readFileEvents(total, { stopOffset: report.completeBytes });
    const sqlLogBin = opts.disableLogBin ? false : undefined;

    if (opts.noApply || !server) {
      const sqlPath = join(opts.workdir, `relay_log_apply_for_${tag}_${opts.timestamp}.sql`);
      const out = createWriteStream(sqlPath, { mode: 0o600 });
      try {
        await writeSqlScript(events(), out, { sqlLogBin });
      } finally {
        await new Promise<void>((r) => out.end(r));
      }
      io.out(` --no_apply: not applying. The statements are in ${sqlPath} .`);
      return ApplyDiffExit.OK;
    }

    io.out(
      `Applying differential binary/relay log files ${files.join(',')} on ${opts.slaveHost}:${opts.slavePort}. This may take long time...`,
    );
    const log = await openLog(logPath);
    let summary: ApplySummary;
    try {
      summary = await applyEvents({ host: ip, port: opts.slavePort, user: opts.slaveUser, password: pass }, events(), {
        sqlLogBin,
        log: (line) => log.write(`${line}\n`),
      });
    } catch (err) {
      if (!(err instanceof ApplyError)) throw err;
      log.write(`${err.message}\n${err.sql ? `statement: ${err.sql}\n` : ''}`);
      reportApplyFailure(err, total, sources, logPath, io);
      return ApplyDiffExit.APPLYING_FAILED;
    } finally {
      await new Promise<void>((r) => log.end(r));
    }
    io.out(
      ` Applied ${summary.transactions} transaction(s), ${summary.statements} statement(s), ${summary.bytes} bytes in ${summary.durationMs} ms.`,
    );
    io.out('Applying log files succeeded.');
    return ApplyDiffExit.OK;
  } finally {
    await restoreSro().catch((err) =>
      io.warn(`WARNING: could not re-enable super_read_only: ${(err as Error).message}`),
    );
    await server?.close();
  }
}

async function openLog(path: string): Promise<WriteStream> {
  const s = createWriteStream(path, { flags: 'a', mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    s.once('open', () => resolve());
    s.once('error', reject);
  });
  return s;
}

function reportApplyFailure(
  err: ApplyError,
  total: string,
  sources: Map<string, string>,
  logPath: string,
  io: ToolIO,
): void {
  const where = `${join(dirname(total), err.file || basename(total))}:${err.offset}`;
  const from = err.gtid ? sources.get(err.gtid) : undefined;
  const what = err.serverError
    ? `${err.serverError.name} (${err.serverError.code}): ${err.serverError.sqlMessage}`
    : ((err.cause as Error | undefined)?.message ?? err.reason);
  io.out(
    `FATAL: applying log files failed at ${where}${err.gtid ? ` (GTID ${err.gtid}${from ? `, transaction from ${from}` : ''})` : ''}: ${what}`,
  );
  if (err.sql) io.out(`  Failing statement: ${err.sql}`);
  io.out(
    `  ${err.appliedCount} statement(s) applied; ${
      err.lastCommittedPosition
        ? `the last complete transaction ends at ${err.lastCommittedPosition.file}:${err.lastCommittedPosition.pos}${err.lastCommittedPosition.gtid ? ` (GTID ${err.lastCommittedPosition.gtid})` : ''}`
        : 'no transaction was completed'
    }. The open transaction was rolled back.`,
  );
  io.out(`  Apply log: ${hostname()}:${logPath}`);
}

// ---------------------------------------------------------------- entry points

/** `apply_diff_relay_logs …` (MHA spelling). */
export function applyDiffRelayLogsMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: TOOL,
    argv,
    specs: APPLY_DIFF_SPECS,
    help: applyDiffHelp,
    run: (o, _given, io) => applyDiffRelayLogs(applyDiffOptionsFrom(o), io),
    io,
  });
}

const APPLY_MODERN_SPECS: OptionSpec[] = [
  { name: 'host', kind: 'string', value: 'host', help: 'the server to apply to (default 127.0.0.1)' },
  { name: 'ip', kind: 'string', value: 'ip', help: 'address to connect to (default: host resolved)' },
  { name: 'port', kind: 'int', value: 'n', help: 'MySQL port (default 3306)' },
  { name: 'user', kind: 'string', value: 'user', help: 'MySQL user (default root)' },
  {
    name: 'password_file',
    kind: 'string',
    value: 'file',
    help: `file holding the password (mode 0600); else ${PASSWORD_ENV}`,
  },
  { name: 'disable_log_bin', kind: 'flag', help: 'apply with sql_log_bin=0' },
  {
    name: 'workdir',
    kind: 'string',
    value: 'dir',
    help: 'where the joined binlog and the apply log go (default /var/tmp)',
  },
  { name: 'timestamp', kind: 'string', value: 'ts', help: 'suffix of work file names (default: now)' },
  { name: 'dry_run', kind: 'flag', help: 'do not connect or apply: write the SQL to a file in workdir' },
];

/** `mha binlog apply FILE...` (modern spelling of --command=apply). */
export function registerBinlogApply(binlog: Command): Command {
  const cmd = binlog
    .command('apply')
    .description(
      "apply binlog files to a server as one stream, without mysqlbinlog (MHA's apply_diff_relay_logs --command=apply)",
    )
    .argument('<files...>', 'binlog files, in order (e.g. exec→read diff, read→latest diff, saved master binlog)');
  addKebabOptions(cmd, APPLY_MODERN_SPECS);
  cmd.addHelpText(
    'after',
    `\nPasswords: ${PASSWORD_ENV} in the environment, or --password-file (mode 0600); never on the command line.\n\nExit codes:\n${EXIT_CODES.filter(
      ([c]) => c !== 10,
    )
      .map(([c, m]) => `  ${String(c).padEnd(3)} ${m}`)
      .join('\n')}`,
  );
  cmd.action(async (files: string[], raw: Record<string, unknown>) => {
    const m = fromCamel(raw);
    const o: ParsedOptions = {
      command: 'apply',
      apply_files: files.join(','),
      slave_host: m.host,
      slave_ip: m.ip,
      slave_port: m.port,
      slave_user: m.user,
      password_file: m.password_file,
      disable_log_bin: m.disable_log_bin ? 1 : 0,
      workdir: m.workdir,
      timestamp: m.timestamp,
      no_apply: m.dry_run,
    };
    await runModernTool((io) => applyDiffRelayLogs(applyDiffOptionsFrom(o), io), 'applying log files failed');
  });
  return cmd;
}
