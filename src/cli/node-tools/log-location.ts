/**
 * Where a host's binary or relay logs are, found the way MHA's node tools find them
 * (a comma-separated binlog_dir list, relay-log.info, or a relay dir plus the current
 * relay log) — but ordered by number, never by string, and with every gap or unreadable
 * file reported instead of skipped.
 */
import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { type BinlogEvent, BinlogParser, EventFlag, EventType } from '@mha-ts/native-free-parsers';
import { compareLogFileNames, logFilesOf, parseLogFileName } from '../../engine/log-files.js';
import { parseRelayLogInfo, type RelayLogInfo } from '../../engine/relay-log-info.js';
import { ToolFailure } from './options.js';

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The first directory of a comma-separated list that holds `file` (MHA: find_correct_binlog_dir). */
export async function findDirHolding(file: string, dirs: string): Promise<string | null> {
  for (const d of splitDirs(dirs)) if (await isFile(join(d, file))) return d;
  return null;
}

/** The first directory of the list that holds any `<prefix>.<digits>` file, and its first file. */
export async function findDirWithPrefix(prefix: string, dirs: string): Promise<{ dir: string; first: string } | null> {
  for (const d of splitDirs(dirs)) {
    let names: string[];
    try {
      names = await fsp.readdir(d);
    } catch {
      continue;
    }
    const files = logFilesOf(names, prefix);
    if (files.length > 0) return { dir: d, first: files[0] };
  }
  return null;
}

export function splitDirs(dirs: string): string[] {
  return dirs
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d.length > 0)
    .map((d) => (d.length > 1 ? d.replace(/\/+$/, '') : d));
}

/** All `<base>.<digits>` files of `dir` with the same base as `name`, in numeric order. */
export async function sameSeries(dir: string, name: string): Promise<string[]> {
  const p = parseLogFileName(name);
  if (!p) throw new ToolFailure(`${name} is not a binary/relay log name (<prefix>.<number>)`, 1);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    throw new ToolFailure(`cannot list ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
  }
  return logFilesOf(names, p.base);
}

/**
 * The files from `start` to the newest of its series, checking that none is missing in
 * between (MHA croaks "Target file … not found!") and that each one can be opened.
 */
export async function filesFrom(dir: string, start: string): Promise<string[]> {
  const series = await sameSeries(dir, start);
  const first = series.findIndex((f) => compareLogFileNames(f, start) >= 0);
  if (first < 0 || series[first] !== start) throw new ToolFailure(`Target file ${join(dir, start)} not found!`, 1);
  const files = series.slice(first);
  for (let i = 1; i < files.length; i++) {
    const prev = parseLogFileName(files[i - 1])!;
    const cur = parseLogFileName(files[i])!;
    if (cur.number !== prev.number + 1) {
      const missing = `${prev.base}.${String(prev.number + 1).padStart(prev.digits.length, '0')}`;
      throw new ToolFailure(
        `Target file ${join(dir, missing)} not found! (${files[i - 1]} is followed by ${files[i]})`,
        1,
      );
    }
  }
  for (const f of files) await assertReadable(join(dir, f));
  return files;
}

export async function assertReadable(path: string): Promise<void> {
  try {
    const fh = await fsp.open(path, 'r');
    await fh.close();
  } catch (err) {
    throw new ToolFailure(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
  }
}

export interface RelayLocation {
  dir: string;
  /** Base name of the relay file relay-log.info names (the SQL thread's), when known. */
  current: string;
  /** The newest relay file of the series. */
  end: string;
  /** All relay files of the series, oldest first. */
  files: string[];
  info?: RelayLogInfo;
}

/**
 * Relay logs from relay-log.info (MHA: get_relaydir_and_filename_from_rinfo): a relative
 * relay file name is relative to `datadir`, which defaults to relay-log.info's directory.
 */
export async function relayFromInfo(relayLogInfo: string, datadir?: string): Promise<RelayLocation> {
  let text: string;
  try {
    text = await fsp.readFile(relayLogInfo, 'utf8');
  } catch (err) {
    throw new ToolFailure(
      `Could not open relay-log-info file ${relayLogInfo} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`,
      1,
    );
  }
  let info: RelayLogInfo;
  try {
    info = parseRelayLogInfo(text, relayLogInfo);
  } catch (err) {
    throw new ToolFailure((err as Error).message, 1);
  }
  const base = datadir ?? dirname(relayLogInfo);
  const path = isAbsolute(info.relayLogFile) ? info.relayLogFile : join(base, info.relayLogFile.replace(/^\.\//, ''));
  return withSeries(dirname(path), path.replace(/^.*\//, ''), info);
}

/** Relay logs from a directory and the current relay file (MHA: --relay_dir + --current_relay_log). */
export async function relayFromDir(dir: string, current: string): Promise<RelayLocation> {
  return withSeries(dir, current.replace(/^.*\//, ''));
}

async function withSeries(dir: string, current: string, info?: RelayLogInfo): Promise<RelayLocation> {
  const files = await sameSeries(dir, current);
  if (files.length === 0)
    throw new ToolFailure(`Failed to get relay log end file! (no ${current} series in ${dir})`, 1);
  const end = files.at(-1)!;
  await assertReadable(join(dir, end));
  return { dir, current, end, files, info };
}

/**
 * Whether a log file is a relay log rather than a binary log, from its first events: a
 * relay log starts with the replica's own format description (RELAY_LOG flag), then the
 * master's artificial rotate and format description. MHA's manager passes relay logs as
 * --binlog_dir for relay_log_info_repository=TABLE; they must still be read as relay logs.
 */
export async function isRelayLog(path: string): Promise<boolean> {
  let head: Buffer;
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const events: BinlogEvent[] = [];
  const parser = new BinlogParser({ file: path, headerOnly: true });
  try {
    parser.push(head, (e) => {
      if (events.length < 8) events.push(e);
    });
  } catch {
    // only the first events matter
  }
  const fdes = events.filter((e) => e.typeCode === EventType.FORMAT_DESCRIPTION).length;
  return fdes >= 2 || events.some((e) => (e.flags & (EventFlag.ARTIFICIAL | EventFlag.RELAY_LOG)) !== 0);
}
