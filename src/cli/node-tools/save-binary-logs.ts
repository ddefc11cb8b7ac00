/**
 * `save_binary_logs` (MHA node tool) and `mha binlog save`: copy the events after a
 * position — of a dead master's binary logs, or of a replica's own relay logs — into one
 * binlog file with a single format description, ready for apply_diff_relay_logs.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { TailState } from '../../engine/log-sources.js';
import { binlogTail, relayTail } from '../../engine/log-sources.js';
import { LocalFileAccess } from '../../remote/file-access.js';
import { describeIncompleteTail, writeBinlogFile } from './binlog-output.js';
import { filesFrom, findDirHolding, findDirWithPrefix, isRelayLog, relayFromInfo } from './log-location.js';
import {
  addKebabOptions,
  bool,
  fromCamel,
  int,
  type OptionSpec,
  type ParsedOptions,
  renderHelp,
  runMhaTool,
  runModernTool,
  str,
  ToolFailure,
  type ToolIO,
} from './options.js';

export const TOOL = 'save_binary_logs';

/** MHA's exit codes (node:bin/save_binary_logs). */
export const SaveExit = { OK: 0, FAILED: 1, EVENT_NOT_EXISTS: 10 } as const;

export const SAVE_SPECS: OptionSpec[] = [
  {
    name: 'command',
    kind: 'string',
    value: 'test|save',
    help: 'test: check the logs and the output directory; save: write the file',
  },
  { name: 'start_file', kind: 'string', value: 'FILE', help: 'binary (or relay) log file to start from' },
  { name: 'start_pos', kind: 'int', value: 'N', help: 'position in start_file (an event boundary) to start from' },
  {
    name: 'binlog_dir',
    kind: 'string',
    value: 'DIR[,DIR..]',
    help: 'directories to look in; the first one holding start_file wins',
    default: '/var/lib/mysql',
  },
  {
    name: 'binlog_prefix',
    kind: 'string',
    value: 'PREFIX',
    help: 'test mode without start_file: check the logs <PREFIX>.N',
  },
  { name: 'output_file', kind: 'string', value: 'FILE', help: 'the binlog to write (its directory is created)' },
  {
    name: 'relay_log_info',
    kind: 'string',
    value: 'FILE',
    help: "read a replica's relay logs (found through this relay-log.info) instead of binary logs; the replica's own events are left out",
  },
  { name: 'datadir', kind: 'string', value: 'DIR', help: 'what relative names in relay-log.info are relative to' },
  {
    name: 'handle_raw_binlog',
    kind: 'int',
    value: '0|1',
    help: '1: binary output. 0 (mysqlbinlog text) is not supported: a binary log is written and a warning printed',
    default: '1',
  },
  { name: 'skip_filter', kind: 'int', value: '0|1', help: 'accepted for compatibility (text mode only)' },
  { name: 'disable_log_bin', kind: 'int', value: '0|1', help: 'accepted for compatibility (applies at apply time)' },
  { name: 'oldest_version', kind: 'string', value: 'VERSION', help: 'accepted for compatibility' },
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
  [0, 'saved (or, with --command=test, the logs and the output directory are usable)'],
  [1, 'failed: "Failed to save binary log: <reason>" on stderr (missing or unreadable file, corrupt log, bad option)'],
  [10, 'no events after the start position: "Event not exists." (nothing to save; no file is left)'],
];

export function saveHelp(): string {
  return renderHelp({
    synopsis: `${TOOL} --command=save --start_file=FILE --start_pos=N --output_file=FILE [--binlog_dir=DIR,..] [--relay_log_info=FILE [--datadir=DIR]]`,
    description:
      'Concatenate binary or relay logs from a file/position to the end of the newest log into one binary log\n' +
      '(a single format description; later files contribute their events only). MHA runs it on the dead\n' +
      'master (its binlog tail) and on a replica (its relay log from Relay_Log_Pos). Files are taken in numeric\norder; a missing or unreadable file is an error.',
    specs: SAVE_SPECS,
    exitCodes: EXIT_CODES,
    notes:
      'The last transaction may be incomplete (the server died writing it, or the replica had not received all of\n' +
      'it): it is kept at the end of the file and reported, because a later diff may complete it; apply_diff_relay_logs\n' +
      'applies it only if it is complete.',
  });
}

export interface SaveOptions {
  command: 'test' | 'save';
  startFile?: string;
  startPos?: number;
  binlogDir: string;
  binlogPrefix?: string;
  outputFile?: string;
  relayLogInfo?: string;
  datadir?: string;
  handleRawBinlog: boolean;
  debug: boolean;
}

export function saveOptionsFrom(o: ParsedOptions): SaveOptions {
  const command = str(o, 'command');
  if (command !== 'test' && command !== 'save') {
    throw new ToolFailure(
      command ? `Invalid command ${command}. Set --command=[test|save]` : 'Set --command=[test|save]',
      1,
    );
  }
  return {
    command,
    startFile: str(o, 'start_file'),
    startPos: int(o, 'start_pos'),
    binlogDir: str(o, 'binlog_dir') ?? '/var/lib/mysql',
    binlogPrefix: str(o, 'binlog_prefix'),
    outputFile: str(o, 'output_file'),
    relayLogInfo: str(o, 'relay_log_info'),
    datadir: str(o, 'datadir'),
    handleRawBinlog: o.handle_raw_binlog === undefined ? true : bool(o, 'handle_raw_binlog'),
    debug: bool(o, 'debug'),
  };
}

function binlogNotFound(dirs: string): ToolFailure {
  return new ToolFailure(
    `Binlog not found from ${dirs}! If you got this error at MHA Manager, please set "master_binlog_dir=/path/to/binlog_directory_of_the_master" correctly in the MHA Manager's configuration file and try again.`,
    1,
  );
}

export async function saveBinaryLogs(opts: SaveOptions, io: ToolIO): Promise<number> {
  if (!opts.startFile && !(opts.command === 'test' && opts.binlogPrefix)) {
    throw new ToolFailure('Set --start_file=<starting_binlog_filename>', 1);
  }
  if (opts.command === 'save' && opts.startPos === undefined) {
    throw new ToolFailure('Set --start_pos=<starting_binlog_pos>', 1);
  }
  if (opts.startPos !== undefined && opts.startPos < 0) throw new ToolFailure('--start_pos must not be negative', 1);
  if (!opts.handleRawBinlog) {
    io.warn(
      'WARNING: --handle_raw_binlog=0 (mysqlbinlog text output) is not supported; writing a binary log instead (apply_diff_relay_logs of mha-ts applies either).',
    );
  }

  // Where the logs are.
  let dir: string;
  let startFile: string;
  let relayMode = opts.relayLogInfo !== undefined;
  if (relayMode) {
    const loc = await relayFromInfo(opts.relayLogInfo!, opts.datadir);
    dir = loc.dir;
    startFile = opts.startFile ? basename(opts.startFile) : loc.current;
  } else if (opts.startFile) {
    const found = await findDirHolding(opts.startFile, opts.binlogDir);
    if (!found) throw binlogNotFound(opts.binlogDir);
    dir = found;
    startFile = opts.startFile;
  } else {
    const found = await findDirWithPrefix(opts.binlogPrefix!, opts.binlogDir);
    if (!found) throw binlogNotFound(opts.binlogDir);
    dir = found.dir;
    startFile = found.first;
  }
  const files = await filesFrom(dir, startFile);
  if (!relayMode && (await isRelayLog(join(dir, startFile)))) {
    relayMode = true;
    io.out(`  ${startFile} is a relay log: reading it as one (the replica's own events are left out).`);
  }

  if (!opts.outputFile) throw new ToolFailure('Set --output_file=<output_file_path>', 1);
  const outDir = dirname(opts.outputFile);
  try {
    await fsp.mkdir(outDir, { recursive: true });
  } catch (err) {
    throw new ToolFailure(`cannot create ${outDir}: ${(err as NodeJS.ErrnoException).code}`, 1);
  }
  io.out(`  Creating ${outDir} if not exists..    ok.`);

  if (opts.command === 'test') {
    io.out('  Checking output directory is accessible or not..');
    try {
      const fh = await fsp.open(opts.outputFile, 'wx');
      await fh.close();
      await fsp.rm(opts.outputFile, { force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new ToolFailure(`${code}:${opts.outputFile}`, 1);
      // An existing file: check it can be written without touching it.
      await fsp.access(opts.outputFile, 2).catch(() => {
        throw new ToolFailure(`EACCES:${opts.outputFile}`, 1);
      });
    }
    io.out('   ok.');
    io.out(`  Binlog found at ${dir}, up to ${files.at(-1)}`);
    return SaveExit.OK;
  }

  const startPos = opts.startPos!;
  const out = opts.outputFile;
  io.out(` Concat binary/relay logs from ${startFile} pos ${startPos} to ${files.at(-1)} EOF into ${out} ..`);
  const access = new LocalFileAccess();
  const tail: TailState = { partialTail: false };
  const events = relayMode
    ? relayTail({ access, dir, files, offset: startPos, tail })
    : binlogTail({ access, dir, files, startPos, tail });
  await fsp.rm(out, { force: true });
  let report: Awaited<ReturnType<typeof writeBinlogFile>>;
  try {
    report = await writeBinlogFile([{ kind: relayMode ? 'exec-to-read' : 'master-tail', events }], out);
  } catch (err) {
    throw new ToolFailure(`${(err as Error).message}`, 1);
  }
  if (opts.debug) {
    io.out(`  Read ${files.length} file(s) from ${join(dir, startFile)}; wrote ${report.bytes} bytes.`);
  }
  if (tail.partialTail) {
    io.out(
      `  ${join(dir, files.at(-1)!)} ends inside an event (a write cut short): saved up to the last complete event.`,
    );
  }
  if (report.pieces[0].events === 0) {
    await fsp.rm(out, { force: true });
    io.out(` ${out} has no effective data events.`);
    io.out('Event not exists.');
    return SaveExit.EVENT_NOT_EXISTS;
  }
  const incomplete = describeIncompleteTail(report);
  if (incomplete) {
    io.out(
      `  The last transaction (${incomplete}) is incomplete: kept at the end of ${out} (bytes ${report.completeBytes}..${report.bytes}); it is applied only if a later file completes it.`,
    );
  }
  io.out(` Saved ${report.transactions} transaction(s), ${report.bytes} bytes.`);
  io.out(' Concat succeeded.');
  return SaveExit.OK;
}

/** `save_binary_logs …` (MHA spelling). */
export function saveBinaryLogsMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: TOOL,
    argv,
    specs: SAVE_SPECS,
    help: saveHelp,
    failureLine: (m) => `Failed to save binary log: ${m}`,
    run: (o, _given, io) => saveBinaryLogs(saveOptionsFrom(o), io),
    io,
  });
}

/** `mha binlog save` (kebab-case spelling of the same options). */
export function registerBinlogSave(binlog: Command): Command {
  const specs = SAVE_SPECS.filter(
    (s) => !['command', 'handle_raw_binlog'].includes(s.name) && !/compatibility/.test(s.help),
  );
  const cmd = binlog
    .command('save')
    .description("save the events after a binlog (or relay-log) position into one binlog file (MHA's save_binary_logs)")
    .option('--test', 'only check that the logs and the output directory are usable (--command=test)');
  addKebabOptions(cmd, specs);
  cmd.addHelpText('after', `\nExit codes:\n${EXIT_CODES.map(([c, m]) => `  ${String(c).padEnd(3)} ${m}`).join('\n')}`);
  cmd.action(async (raw: Record<string, unknown>) => {
    const o = fromCamel(raw);
    o.command = raw.test ? 'test' : 'save';
    await runModernTool(
      (io) => saveBinaryLogs(saveOptionsFrom(o), io),
      'Event not exists: no binlog events after the start position',
    );
  });
  return cmd;
}
