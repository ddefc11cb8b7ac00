/**
 * One benchmark contender, run in its own process so that its peak RSS is its own:
 *
 *   node dist/bench/worker.js MODE FILE
 *
 * MODE:
 *   raw-stream  fs.createReadStream, 1 MiB chunks, every byte summed into a checksum-ish
 *               value (the I/O path the parser's file reader uses)
 *   raw-sync    fs.readSync into a 1 MiB buffer in a loop (the cheapest way Node has)
 *   raw-chunks  readFileChunks: the parser's own file reader (fresh 1 MiB buffer per chunk,
 *               two reads in flight), no parsing
 *   header      readFileEventBatches(FILE, { headerOnly: true }): every event's type,
 *               offset, length and end_log_pos
 *   decode      readFileEventBatches(FILE): CRC32 verified, every event's body decoded,
 *               every row of every rows event decoded and every value read
 *   decode-nocrc the same without checking CRC32 trailers (what mariadb-binlog does
 *               unless given --verify-binlog-checksum)
 *   find        FILE is a JSON spec: findRelayLogPosition on a relay-log set, counting
 *               the bytes actually delivered by the file access
 *
 * Prints one JSON line: bytes, events, rows, values, ms (work only, after module
 * loading), maxRssKB (peak RSS: VmHWM), plus mode-specific fields.
 */
import { closeSync, createReadStream, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  type BinlogEvent,
  ROWS_EVENT_TYPES,
  type RowsEventData,
  readFileChunks,
  readFileEventBatches,
} from '@mha-ts/native-free-parsers';
import { findRelayLogPosition, type MasterPosition } from '../src/engine/relay-position-finder.js';
import { LocalFileAccess } from '../src/remote/file-access.js';

export interface WorkerResult {
  mode: string;
  bytes: number;
  events: number;
  rows: number;
  values: number;
  ms: number;
  maxRssKB: number;
  /** Mode-specific details (find: the finder's answer and the bytes read). */
  extra?: Record<string, unknown>;
  /** A value derived from everything read, so no work can be optimised away. */
  check: number;
}

export interface FindSpec {
  relayDir: string;
  relayFiles: string[];
  target: MasterPosition;
  latest?: MasterPosition;
}

async function rawStream(file: string): Promise<Omit<WorkerResult, 'mode' | 'ms' | 'maxRssKB'>> {
  let bytes = 0;
  let check = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    bytes += b.length;
    // Touch one byte per 4 KiB page so the data is really there without timing a byte loop.
    for (let i = 0; i < b.length; i += 4096) check = (check + b[i]) | 0;
  }
  return { bytes, events: 0, rows: 0, values: 0, check };
}

async function rawChunks(file: string): Promise<Omit<WorkerResult, 'mode' | 'ms' | 'maxRssKB'>> {
  let bytes = 0;
  let check = 0;
  for await (const b of readFileChunks(file)) {
    bytes += b.length;
    for (let i = 0; i < b.length; i += 4096) check = (check + b[i]) | 0;
  }
  return { bytes, events: 0, rows: 0, values: 0, check };
}

function rawSync(file: string): Omit<WorkerResult, 'mode' | 'ms' | 'maxRssKB'> {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  let check = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, bytes);
      if (n === 0) break;
      bytes += n;
      for (let i = 0; i < n; i += 4096) check = (check + buf[i]) | 0;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, events: 0, rows: 0, values: 0, check };
}

async function headerScan(file: string): Promise<Omit<WorkerResult, 'mode' | 'ms' | 'maxRssKB'>> {
  let events = 0;
  let check = 0;
  let bytes = 0;
  for await (const batch of readFileEventBatches(file, { headerOnly: true })) {
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i];
      events++;
      check = (check + e.typeCode + e.endLogPos) | 0;
      bytes = e.offset + e.length;
    }
  }
  return { bytes, events, rows: 0, values: 0, check };
}

function touch(v: unknown): number {
  if (typeof v === 'number') return v | 0;
  if (typeof v === 'string') return v.length;
  if (v === null || v === undefined) return 1;
  if (typeof v === 'bigint') return Number(v & 0xffn);
  if (Buffer.isBuffer(v)) return v.length;
  return 7;
}

async function fullDecode(
  file: string,
  verifyChecksum: boolean,
): Promise<Omit<WorkerResult, 'mode' | 'ms' | 'maxRssKB'>> {
  let events = 0;
  let rows = 0;
  let values = 0;
  let check = 0;
  let bytes = 0;
  for await (const batch of readFileEventBatches(file, { verifyChecksum })) {
    for (let i = 0; i < batch.length; i++) {
      const e: BinlogEvent = batch[i];
      events++;
      bytes = e.offset + e.length;
      const data = e.data;
      if (!ROWS_EVENT_TYPES.has(e.typeCode)) {
        check = (check + (data === null ? 0 : 1)) | 0;
        continue;
      }
      const d = data as RowsEventData;
      const before = d.beforeColumns;
      const after = d.afterColumns;
      for (const change of d.rows) {
        rows++;
        const b = change.before;
        if (b && before) {
          for (let k = 0; k < before.length; k++) check = (check + touch(b[before[k]])) | 0;
          values += before.length;
        }
        const a = change.after;
        if (a && after) {
          for (let k = 0; k < after.length; k++) check = (check + touch(a[after[k]])) | 0;
          values += after.length;
        }
      }
    }
  }
  return { bytes, events, rows, values, check };
}

/** Counts what the finder's streams and reads actually deliver. */
class CountingFileAccess extends LocalFileAccess {
  delivered = 0;
  override stream(path: string, start?: number, end?: number): Readable {
    const s = super.stream(path, start, end);
    s.on('data', (c: Buffer) => {
      this.delivered += c.length;
    });
    return s;
  }
  override async read(path: string, position: number, length: number): Promise<Buffer> {
    const b = await super.read(path, position, length);
    this.delivered += b.length;
    return b;
  }
}

async function find(specPath: string): Promise<Omit<WorkerResult, 'mode' | 'ms' | 'maxRssKB'>> {
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as FindSpec;
  const access = new CountingFileAccess();
  const result = await findRelayLogPosition({
    access,
    relayDir: spec.relayDir,
    relayFiles: spec.relayFiles,
    target: spec.target,
    ...(spec.latest ? { latest: spec.latest } : {}),
  });
  let total = 0;
  for (const f of spec.relayFiles) total += statSync(`${spec.relayDir}/${f}`).size;
  return {
    bytes: access.delivered,
    events: 0,
    rows: 0,
    values: 0,
    check: result.bytesRead,
    extra: { result, totalBytes: total, delivered: access.delivered },
  };
}

/**
 * Peak RSS of this process. VmHWM belongs to the process's own address space, so it starts
 * afresh at exec; getrusage's ru_maxrss does not (after fork+exec it still counts the
 * parent's resident size at the fork), so it is only the fallback off Linux.
 */
function peakRssKB(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

async function main(): Promise<void> {
  const [mode, file] = process.argv.slice(2);
  if (!mode || !file)
    throw new Error('usage: worker.js raw-sync|raw-chunks|raw-stream|header|decode|decode-nocrc|find FILE');
  const t0 = process.hrtime.bigint();
  let r: Omit<WorkerResult, 'mode' | 'ms' | 'maxRssKB'>;
  switch (mode) {
    case 'raw-stream':
      r = await rawStream(file);
      break;
    case 'raw-sync':
      r = rawSync(file);
      break;
    case 'raw-chunks':
      r = await rawChunks(file);
      break;
    case 'header':
      r = await headerScan(file);
      break;
    case 'decode':
      r = await fullDecode(file, true);
      break;
    case 'decode-nocrc':
      r = await fullDecode(file, false);
      break;
    case 'find':
      r = await find(file);
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const out: WorkerResult = { mode, ...r, ms, maxRssKB: peakRssKB() };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
