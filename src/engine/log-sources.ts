import {
  BinlogEvent,
  BinlogParser,
  BinlogTruncatedError,
  decodeFormatDescription,
  EventType,
  type FormatDescription,
  HEADER_LENGTH,
  RelayLogTracker,
} from '@mha-ts/native-free-parsers';
import type { FileAccess } from '../remote/file-access.js';

const join = (dir: string, name: string) => (dir.endsWith('/') ? dir + name : `${dir}/${name}`);

/** Where a log's readable part ended. */
export interface TailState {
  /** The last file ended inside an event the server was still writing (or died writing). */
  partialTail: boolean;
}

/** Header events a later file repeats: a concatenation keeps only the first file's. */
const FILE_HEADER_TYPES = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.PREVIOUS_GTIDS,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.ROTATE,
  EventType.STOP,
]);

/** The format description at offset 4 of a log file, through any FileAccess. */
export async function readFormatDescription(
  access: FileAccess,
  path: string,
): Promise<{ fd: FormatDescription; raw: Buffer }> {
  const head = await access.read(path, 0, 4 + HEADER_LENGTH);
  if (head.length < 4 + HEADER_LENGTH || head.readUInt32BE(0) !== 0xfe62696e) {
    throw new Error(`${path} (${access.description}): not a binlog or relay log`);
  }
  const size = head.readUInt32LE(4 + 9);
  const raw = await access.read(path, 4, size);
  if (raw.length < size || raw[4] !== EventType.FORMAT_DESCRIPTION) {
    throw new Error(`${path} (${access.description}): no format description at offset 4`);
  }
  return { fd: decodeFormatDescription(raw), raw };
}

async function* eventsOf(
  access: FileAccess,
  path: string,
  start: number,
  fd: FormatDescription | undefined,
  tail: TailState,
  isLast: boolean,
): AsyncGenerator<BinlogEvent> {
  const parser = new BinlogParser(
    start > 4 && fd ? { file: path, startOffset: start, formatDescription: fd } : { file: path },
  );
  let batch: BinlogEvent[] = [];
  const sink = (e: BinlogEvent) => batch.push(e);
  for await (const chunk of access.stream(path, start > 4 ? start : 0)) {
    parser.push(chunk as Buffer, sink);
    if (batch.length) {
      const out = batch;
      batch = [];
      yield* out;
    }
  }
  try {
    parser.end();
  } catch (err) {
    // A dead master's last binlog (or a live relay log) may end mid-event: that event
    // never completed, so it was never committed. Anything else is corruption.
    if (err instanceof BinlogTruncatedError && isLast && (err.live || start > 4 || parser.fileInUse)) {
      tail.partialTail = true;
      return;
    }
    throw err;
  }
}

/**
 * The events of a binlog from `start` (file, position) to the end of the last file — what
 * a dead master wrote after the position a replica had read. Later files' header events
 * are left out so the result can become one file with a single format description.
 */
export async function* binlogTail(opts: {
  access: FileAccess;
  dir: string;
  /** Binlog files, base names in numeric order, the first one being the start file. */
  files: string[];
  startPos: number;
  tail?: TailState;
}): AsyncGenerator<BinlogEvent> {
  const tail = opts.tail ?? { partialTail: false };
  for (let i = 0; i < opts.files.length; i++) {
    const path = join(opts.dir, opts.files[i]);
    const first = i === 0;
    const { fd, raw } = await readFormatDescription(opts.access, path);
    const start = first ? Math.max(opts.startPos, 4) : 4;
    if (first && start > 4) yield new BinlogEvent(raw, 4, EventType.FORMAT_DESCRIPTION, fd, path);
    for await (const e of eventsOf(opts.access, path, start, fd, tail, i === opts.files.length - 1)) {
      if (FILE_HEADER_TYPES.has(e.typeCode) && !e.inPayload) {
        if (first && e.typeCode === EventType.FORMAT_DESCRIPTION) yield e;
        continue;
      }
      if (first && e.offset < opts.startPos) continue;
      yield e;
    }
  }
}

/**
 * The master events of a replica's relay logs from (file, offset) to the end: the
 * replica's own bookkeeping, fake rotates and the masters' repeated headers are left out.
 * The format description in force at the start offset is yielded first.
 */
export async function* relayTail(opts: {
  access: FileAccess;
  dir: string;
  /** Relay files in numeric order, the first one being the start file. */
  files: string[];
  offset: number;
  tail?: TailState;
}): AsyncGenerator<BinlogEvent> {
  const tail = opts.tail ?? { partialTail: false };
  const tracker = new RelayLogTracker();
  let fdYielded = false;
  for (let i = 0; i < opts.files.length; i++) {
    const path = join(opts.dir, opts.files[i]);
    const first = i === 0;
    tracker.startRelayFile();
    // Read from the file start: the format description that governs the start offset can
    // be the master's, written anywhere before it.
    let lastFde: BinlogEvent | undefined;
    for await (const e of eventsOf(opts.access, path, 0, undefined, tail, i === opts.files.length - 1)) {
      const origin = tracker.observe(e);
      if (e.typeCode === EventType.FORMAT_DESCRIPTION) {
        lastFde = e;
        continue;
      }
      if (first && e.offset < opts.offset) continue;
      if (!fdYielded && lastFde) {
        fdYielded = true;
        yield lastFde;
      }
      if (origin.writtenBy !== 'master' || (FILE_HEADER_TYPES.has(e.typeCode) && !e.inPayload)) continue;
      yield e;
    }
  }
}
