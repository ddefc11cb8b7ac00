import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { compareLogFileNames, logFilesOf, parseIndexFile, parseLogFileName } from '../engine/log-files.js';
import { findRelayLogPosition, type RelayFindResult } from '../engine/relay-position-finder.js';
import { LocalFileAccess } from '../remote/file-access.js';
import { CliError, ExitCode } from './exit-codes.js';
import { asCliError, nonNegativeInt } from './log-set.js';

export interface FindOptions {
  relayLogDir: string;
  relayLogBase?: string;
  masterFile: string;
  masterPos: number;
  latestFile?: string;
  latestPos?: number;
  json?: boolean;
}

/** What `find` prints in JSON (and exits with): found/has-all exit 0, not-present exit 3. */
export interface FindReport {
  status: 'found' | 'has-all' | 'not-present';
  relay_file: string | null;
  offset: number | null;
  method: 'fast' | 'scan' | null;
  bytes_read: number;
  master_file: string;
  master_pos: number;
  relay_dir: string;
  relay_files: string[];
  reason?: string;
}

async function readIndex(path: string): Promise<string[]> {
  try {
    return parseIndexFile(await fsp.readFile(path, 'utf8'));
  } catch (err) {
    throw asCliError(err, { path, name: path, size: null });
  }
}

/**
 * The relay logs of a directory, oldest first: `<base>.index` (or relay-log.index) when
 * present, else the `<base>.NUMBER` files in numeric order. Without a base, the one relay
 * series of the directory (names containing "relay"), or its only series.
 */
export async function relayFilesOf(dir: string, base?: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    throw asCliError(err, { path: dir, name: dir, size: null });
  }
  let files: string[];
  if (base !== undefined) {
    files = names.includes(`${base}.index`) ? await readIndex(join(dir, `${base}.index`)) : logFilesOf(names, base);
  } else if (names.includes('relay-log.index')) {
    files = await readIndex(join(dir, 'relay-log.index'));
  } else {
    const bases = [...new Set(names.map((n) => parseLogFileName(n)?.base).filter((b): b is string => !!b))];
    const relayBases = bases.filter((b) => /relay/i.test(b));
    const chosen = relayBases.length === 1 ? relayBases[0] : bases.length === 1 ? bases[0] : undefined;
    if (chosen === undefined) {
      if (bases.length === 0)
        throw new CliError(`${dir}: no relay-log files (NAME.NUMBER) in this directory`, ExitCode.BAD_INPUT);
      throw new CliError(
        `${dir}: several log series (${bases.sort().join(', ')}); choose one with --relay-log-base`,
        ExitCode.USAGE,
      );
    }
    files = names.includes(`${chosen}.index`)
      ? await readIndex(join(dir, `${chosen}.index`))
      : logFilesOf(names, chosen);
  }
  if (files.length === 0)
    throw new CliError(`${dir}: no relay-log files${base ? ` named ${base}.NUMBER` : ''}`, ExitCode.BAD_INPUT);
  const missing = files.filter((f) => !names.includes(f));
  if (missing.length) {
    throw new CliError(
      `${dir}: the relay-log index names files that are not there: ${missing.join(', ')}`,
      ExitCode.BAD_INPUT,
    );
  }
  // Numeric order, whatever order the index had.
  return files.slice().sort(compareLogFileNames);
}

export async function find(opts: FindOptions): Promise<FindReport> {
  if ((opts.latestFile === undefined) !== (opts.latestPos === undefined)) {
    throw new CliError('--latest-file and --latest-pos go together', ExitCode.USAGE);
  }
  const relayFiles = await relayFilesOf(opts.relayLogDir, opts.relayLogBase);
  let r: RelayFindResult;
  try {
    r = await findRelayLogPosition({
      access: new LocalFileAccess(),
      relayDir: opts.relayLogDir,
      relayFiles,
      target: { file: opts.masterFile, pos: opts.masterPos },
      latest: opts.latestFile !== undefined ? { file: opts.latestFile, pos: opts.latestPos! } : undefined,
    });
  } catch (err) {
    const e = asCliError(err);
    if (e instanceof CliError) throw e;
    throw new CliError(`${opts.relayLogDir}: ${(err as Error).message}`, ExitCode.BAD_INPUT);
  }
  const base = {
    bytes_read: r.bytesRead,
    master_file: opts.masterFile,
    master_pos: opts.masterPos,
    relay_dir: opts.relayLogDir,
    relay_files: relayFiles,
  };
  if (r.status === 'found') {
    return { status: 'found', relay_file: r.relayFile, offset: r.offset, method: r.method, ...base };
  }
  return {
    status: r.status === 'has-all' ? 'has-all' : 'not-present',
    relay_file: null,
    offset: null,
    method: null,
    ...base,
    reason: r.reason,
  };
}

export function formatFindText(r: FindReport): string {
  const target = `${r.master_file}:${r.master_pos}`;
  if (r.status === 'found') {
    return `found: the events after master position ${target} start at ${r.relay_file}:${r.offset}\n(${r.method === 'fast' ? 'fast path' : 'scan'}, ${r.bytes_read} bytes read)\n`;
  }
  if (r.status === 'has-all') {
    return `has-all: the relay logs hold nothing after master position ${target}; a server at that position lacks nothing they have (${r.reason})\n`;
  }
  return `not present: ${r.reason}\n`;
}

/** `mha binlog find`. */
export function defineFindCommand(parent: Command): Command {
  return parent
    .command('find')
    .description(
      "where, in a replica's relay logs, the events after a master position start (MHA's apply_diff_relay_logs --command=find)",
    )
    .requiredOption('--relay-log-dir <dir>', 'directory holding the relay logs')
    .requiredOption('--master-file <file>', 'master binlog file of the position (e.g. mysql-bin.000042)')
    .requiredOption(
      '--master-pos <n>',
      'master position: the end of the last event the lagging server has',
      nonNegativeInt,
    )
    .option(
      '--relay-log-base <name>',
      'relay log base name (default: relay-log.index, else the one relay series in the directory)',
    )
    .option('--latest-file <file>', 'master file this replica has read up to (Master_Log_File): enables the fast path')
    .option('--latest-pos <n>', 'master position this replica has read up to (Read_Master_Log_Pos)', nonNegativeInt)
    .option(
      '--json',
      'one JSON object: status (found, has-all, not-present), relay_file, offset, method, bytes_read, …',
    )
    .addHelpText(
      'after',
      '\nStatus: "found" (exit 0) gives the relay file and offset; "has-all" (exit 0): nothing follows the position;\n"not present" (exit 3): no relay log holds the position (purged, or never received).',
    )
    .action(async (opts: FindOptions) => {
      const r = await find(opts);
      process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : formatFindText(r));
      if (r.status === 'not-present') throw new FindNotPresent();
    });
}

/** Ends the command with exit 3 after the report was printed (no further message). */
export class FindNotPresent extends CliError {
  constructor() {
    super('', ExitCode.NOT_FOUND);
  }
}
