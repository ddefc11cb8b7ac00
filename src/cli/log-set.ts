import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  type BinlogEvent,
  BinlogFormatError,
  type ByteSource,
  EventType,
  readEventBatches,
  readFileEventBatches,
} from '@mha-ts/native-free-parsers';
import { InvalidArgumentError } from 'commander';
import { compareLogFileNames, parseIndexFile, parseLogFileName } from '../engine/log-files.js';
import { CliError, ExitCode } from './exit-codes.js';

/** One file of a log set, or standard input. */
export interface LogInput {
  /** Path to read; null for standard input. */
  path: string | null;
  /** Name for messages and listings (the path as given, or `<stdin>`). */
  name: string;
  /** Size in bytes (null for stdin). */
  size: number | null;
}

const INDEX_SUFFIX = '.index';

async function statOrNull(path: string) {
  try {
    return await fsp.stat(path);
  } catch {
    return null;
  }
}

function unreadable(path: string, err: unknown): CliError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new CliError(`${path}: cannot read (${code})`, ExitCode.BAD_INPUT);
}

/** Sort `<base>.<digits>` names numerically within their series (mysql-bin.999999 < mysql-bin.1000000). */
function numericOrder(paths: string[]): string[] {
  return paths.slice().sort((a, b) => compareLogFileNames(basename(a), basename(b)));
}

/** The files an index file names (resolved next to the index), in numeric order. */
async function filesOfIndex(indexPath: string): Promise<string[]> {
  let text: string;
  try {
    text = await fsp.readFile(indexPath, 'utf8');
  } catch (err) {
    throw unreadable(indexPath, err);
  }
  const names = parseIndexFile(text);
  if (names.length === 0) throw new CliError(`${indexPath}: index file lists no log files`, ExitCode.BAD_INPUT);
  const dir = dirname(indexPath);
  return numericOrder(names.map((n) => join(dir, n)));
}

/**
 * The log series of a directory: `<base>.index` when the directory has exactly one index
 * (or one for `base`), else the `<base>.<digits>` files of its only series; numeric order.
 */
export async function filesOfDirectory(dir: string, base?: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    throw unreadable(dir, err);
  }
  const bases = new Set<string>();
  for (const n of names) {
    const p = parseLogFileName(n);
    if (p) bases.add(p.base);
  }
  const indexes = names.filter((n) => n.endsWith(INDEX_SUFFIX));
  let chosen = base;
  if (chosen === undefined) {
    if (bases.size === 1) chosen = [...bases][0];
    else {
      const withIndex = indexes.map((n) => n.slice(0, -INDEX_SUFFIX.length)).filter((b) => bases.has(b));
      if (withIndex.length === 1) chosen = withIndex[0];
    }
  }
  if (chosen === undefined) {
    if (bases.size === 0)
      throw new CliError(`${dir}: no binlog or relay-log files (NAME.NUMBER) in this directory`, ExitCode.BAD_INPUT);
    throw new CliError(
      `${dir}: several log series (${[...bases].sort().join(', ')}); name the index file or the files`,
      ExitCode.USAGE,
    );
  }
  if (names.includes(`${chosen}${INDEX_SUFFIX}`)) return filesOfIndex(join(dir, `${chosen}${INDEX_SUFFIX}`));
  const files = names.filter((n) => parseLogFileName(n)?.base === chosen).map((n) => join(dir, n));
  if (files.length === 0) throw new CliError(`${dir}: no ${chosen}.NUMBER files`, ExitCode.BAD_INPUT);
  return numericOrder(files);
}

/**
 * Expand command-line log arguments into the files to read, in order: a directory gives its
 * log series, an index file (NAME.index) the files it lists, `-` standard input. Files of
 * one series given one by one (a shell glob) are read in numeric order of their suffixes,
 * never string order; anything else keeps the order given.
 */
export async function expandLogArgs(args: string[]): Promise<LogInput[]> {
  if (args.includes('-')) {
    if (args.length > 1) throw new CliError('"-" (standard input) cannot be combined with files', ExitCode.USAGE);
    return [{ path: null, name: '<stdin>', size: null }];
  }
  const paths: string[] = [];
  for (const arg of args) {
    const st = await statOrNull(arg);
    if (st === null) {
      throw new CliError(`${arg}: cannot read (no such file or directory)`, ExitCode.BAD_INPUT);
    }
    if (st.isDirectory()) paths.push(...(await filesOfDirectory(arg)));
    else if (arg.endsWith(INDEX_SUFFIX)) paths.push(...(await filesOfIndex(arg)));
    else paths.push(arg);
  }
  const seriesOf = (p: string) => parseLogFileName(basename(p))?.base;
  const first = seriesOf(paths[0]);
  const oneSeries =
    first !== undefined && paths.every((p) => seriesOf(p) === first && dirname(p) === dirname(paths[0]));
  const ordered = oneSeries ? numericOrder([...new Set(paths)]) : paths;
  const inputs: LogInput[] = [];
  for (const path of ordered) {
    const st = await statOrNull(path);
    if (st === null || !st.isFile()) {
      throw new CliError(
        `${path}: cannot read (${st === null ? 'no such file' : 'not a regular file'})`,
        ExitCode.BAD_INPUT,
      );
    }
    inputs.push({ path, name: path, size: st.size });
  }
  return inputs;
}

export interface ReadLogSetOptions {
  headerOnly?: boolean;
  verifyChecksum?: boolean;
  /** First file: start at this offset (an event boundary). */
  startPosition?: number;
  /** Last file: stop at the first event starting at or after this offset. */
  stopPosition?: number;
  progress?: ProgressReporter;
}

/** Events of one file of a log set: `fileStart` marks the first (possibly empty) batch of each file. */
export interface LogSetBatch {
  input: LogInput;
  fileIndex: number;
  fileStart: boolean;
  events: BinlogEvent[];
}

/**
 * The events of a log set, file after file, in batches. Format errors become exit code 2
 * (bad input) naming the file and offset.
 */
export async function* readLogSet(inputs: LogInput[], opts: ReadLogSetOptions = {}): AsyncGenerator<LogSetBatch> {
  let doneBytes = 0;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i];
    const first = i === 0;
    const last = i === inputs.length - 1;
    const startPosition = first ? opts.startPosition : undefined;
    const stopPosition = last ? opts.stopPosition : undefined;
    const parserOpts = { headerOnly: opts.headerOnly, verifyChecksum: opts.verifyChecksum };
    let batches: AsyncIterable<BinlogEvent[]>;
    if (input.path === null) {
      if (startPosition && startPosition > 4)
        throw new CliError('--start-position cannot be used with stdin', ExitCode.USAGE);
      batches = readEventBatches(process.stdin as ByteSource, { ...parserOpts, file: input.name });
    } else {
      batches = readFileEventBatches(input.path, {
        ...parserOpts,
        startOffset: startPosition,
        stopOffset: stopPosition,
      });
    }
    yield { input, fileIndex: i, fileStart: true, events: [] };
    try {
      for await (const batch of batches) {
        const events = batch;
        if (input.path === null && stopPosition !== undefined) {
          const cut = events.findIndex((e) => !e.inPayload && e.offset >= stopPosition);
          if (cut >= 0) {
            if (cut > 0) yield { input, fileIndex: i, fileStart: false, events: events.slice(0, cut) };
            break;
          }
        }
        if (events.length === 0) continue;
        const tail = events[events.length - 1];
        opts.progress?.update(doneBytes + tail.offset + (tail.inPayload ? 0 : tail.length));
        yield { input, fileIndex: i, fileStart: false, events };
      }
    } catch (err) {
      throw asCliError(err, input);
    }
    doneBytes += input.size ?? 0;
    opts.progress?.update(doneBytes);
  }
}

/** Map read/format errors to the CLI's exit codes. */
export function asCliError(err: unknown, input?: LogInput): unknown {
  if (err instanceof CliError) return err;
  if (err instanceof BinlogFormatError) return new CliError(err.message, ExitCode.BAD_INPUT);
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && /^E[A-Z]+$/.test(code)) return unreadable(input?.name ?? (err as { path?: string }).path ?? '?', err);
  return err;
}

/** Total bytes of a log set (null when one input has no known size, e.g. stdin). */
export function totalSize(inputs: LogInput[]): number | null {
  let total = 0;
  for (const i of inputs) {
    if (i.size === null) return null;
    total += i.size;
  }
  return total;
}

// ---------------------------------------------------------------------------------------
// Progress on stderr

/** Inputs above this size get a progress bar (when stderr is a terminal). */
export const PROGRESS_MIN_BYTES = 4 << 20;

export interface ProgressReporter {
  update(bytesDone: number): void;
  stop(): void;
}

/**
 * A progress bar on stderr for long reads, or undefined. Only when stderr is a terminal,
 * the output is not JSON, the input is over PROGRESS_MIN_BYTES and — for commands that
 * stream their output to stdout — stdout is not the same terminal.
 */
export async function createProgress(
  inputs: LogInput[],
  opts: { json?: boolean; streamsToStdout?: boolean },
): Promise<ProgressReporter | undefined> {
  const total = totalSize(inputs);
  if (!process.stderr.isTTY || opts.json || total === null || total <= PROGRESS_MIN_BYTES) return undefined;
  if (opts.streamsToStdout && process.stdout.isTTY) return undefined;
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'reading logs [{bar}] {percentage}% | {done}/{size} MiB | eta {eta_formatted}',
      clearOnComplete: true,
      hideCursor: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const mib = (n: number) => (n / (1 << 20)).toFixed(1);
  bar.start(total, 0, { done: mib(0), size: mib(total) });
  let stopped = false;
  return {
    update(bytesDone: number) {
      if (!stopped) bar.update(Math.min(bytesDone, total), { done: mib(bytesDone) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Argument parsers shared by the binlog commands

export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError('must be a non-negative integer');
  }
  return n;
}

export function positiveInt(v: string): number {
  const n = nonNegativeInt(v);
  if (n === 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Repeatable option, values also split on commas. */
export function collectList(v: string, prev: string[] | undefined): string[] {
  return [
    ...(prev ?? []),
    ...v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

const HEADER_TYPES = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.ROTATE,
  EventType.STOP,
  EventType.PREVIOUS_GTIDS,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
]);

/** Whether a file is a relay log, as far as its events tell: see LogKindDetector. */
export type LogKind = 'binlog' | 'relay';

/**
 * Tells a relay log from a binary log while reading it. In a binary log every event's
 * end_log_pos is its own offset + length; a relay log carries master positions (and a
 * fake rotate with end_log_pos 0) right after the replica's format description, before
 * any master data — so the kind is known by the time the first transaction starts.
 */
export class LogKindDetector {
  relay = false;
  /** A data event (not a file header or rotate) was seen: an answer of 'binlog' is backed by evidence. */
  sawData = false;

  observe(e: BinlogEvent): void {
    if (!this.sawData && !HEADER_TYPES.has(e.typeCode)) this.sawData = true;
    if (this.relay || e.inPayload || e.offset === 4) return;
    if (e.endLogPos !== e.offset + e.length || (e.typeCode === EventType.FORMAT_DESCRIPTION && e.offset > 4)) {
      this.relay = true;
    }
  }

  get kind(): LogKind {
    return this.relay ? 'relay' : 'binlog';
  }
}
