import { once } from 'node:events';
import { createReadStream, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { BinlogFormatError } from './errors.js';
import type { BinlogEvent } from './event.js';
import { HEADER_LENGTH } from './event-types.js';
import { decodeFormatDescription, type FormatDescription } from './format-description.js';
import { BinlogParser, type ParserOptions } from './parser.js';

export type ByteSource = Readable | AsyncIterable<Buffer | Uint8Array>;

const toBuffer = (c: Buffer | Uint8Array | string): Buffer =>
  Buffer.isBuffer(c)
    ? c
    : typeof c === 'string'
      ? Buffer.from(c, 'latin1')
      : Buffer.from(c.buffer, c.byteOffset, c.byteLength);

/**
 * Events in batches: one array per input chunk. The cheapest way to consume a log from
 * async code — one await per chunk instead of one per event.
 */
export async function* readEventBatches(source: ByteSource, opts: ParserOptions = {}): AsyncGenerator<BinlogEvent[]> {
  const parser = new BinlogParser(opts);
  let batch: BinlogEvent[] = [];
  const sink = (e: BinlogEvent) => {
    batch.push(e);
  };
  for await (const chunk of source as AsyncIterable<Buffer | Uint8Array>) {
    parser.push(toBuffer(chunk), sink);
    if (batch.length > 0) {
      const out = batch;
      batch = [];
      yield out;
    }
  }
  parser.end();
}

/** Events one by one from any byte stream (file, SSH channel, socket, stdin). */
export async function* readEvents(source: ByteSource, opts: ParserOptions = {}): AsyncGenerator<BinlogEvent> {
  for await (const batch of readEventBatches(source, opts)) yield* batch;
}

export interface FileReadOptions extends Omit<ParserOptions, 'file' | 'formatDescription'> {
  /** Events starting at or after this file offset are not read (mysqlbinlog --stop-position). */
  stopOffset?: number;
  /** Read chunk size (default 1 MiB). */
  chunkSize?: number;
}

/** The format description at offset 4 of a binlog file, read with two small reads. */
export async function readFileFormatDescription(path: string): Promise<{ fd: FormatDescription; end: number }> {
  const fh = await fsp.open(path, 'r');
  try {
    const head = Buffer.alloc(4 + HEADER_LENGTH);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead < 4 || head.readUInt32BE(0) !== 0xfe62696e) {
      throw new BinlogFormatError({ file: path, offset: 0, reason: 'bad-magic', message: 'not a binlog or relay log' });
    }
    if (bytesRead < head.length) {
      throw new BinlogFormatError({
        file: path,
        offset: 4,
        reason: 'truncated',
        message: 'file ends inside the first event header',
      });
    }
    const size = head.readUInt32LE(4 + 9);
    if (size < HEADER_LENGTH || size > 1 << 20) {
      throw new BinlogFormatError({
        file: path,
        offset: 4,
        reason: 'bad-length',
        message: `first event has impossible length ${size}`,
      });
    }
    const ev = Buffer.alloc(size);
    const r = await fh.read(ev, 0, size, 4);
    if (r.bytesRead < size) {
      throw new BinlogFormatError({
        file: path,
        offset: 4,
        reason: 'truncated',
        message: 'file ends inside the format description',
      });
    }
    if (ev[4] !== 15) {
      throw new BinlogFormatError({
        file: path,
        offset: 4,
        reason: 'bad-event',
        message: `first event is type ${ev[4]}, expected FORMAT_DESCRIPTION`,
      });
    }
    return { fd: decodeFormatDescription(ev), end: 4 + size };
  } finally {
    await fh.close();
  }
}

/**
 * Events of a binlog or relay-log file. With `startOffset` the reading starts mid-file
 * (the file's first format description is read first, so the events can be decoded).
 * Note that in a relay log a later master FDE may govern `startOffset`; callers that
 * need that pass the FDE through `readEvents` with `formatDescription` instead.
 */
export async function* readFileEventBatches(path: string, opts: FileReadOptions = {}): AsyncGenerator<BinlogEvent[]> {
  const startOffset = opts.startOffset ?? 0;
  const parserOpts: ParserOptions = { ...opts, file: path };
  if (startOffset > 4) {
    parserOpts.formatDescription = (await readFileFormatDescription(path)).fd;
  } else {
    parserOpts.startOffset = 0;
  }
  const stream = createReadStream(path, {
    start: startOffset > 4 ? startOffset : 0,
    highWaterMark: opts.chunkSize ?? 1 << 20,
  });
  const stop = opts.stopOffset;
  try {
    for await (const batch of readEventBatches(stream, parserOpts)) {
      if (stop === undefined) {
        yield batch;
        continue;
      }
      // Like mysqlbinlog --stop-position: the first event starting at or after it ends the read.
      const cut = batch.findIndex((e) => !e.inPayload && e.offset >= stop);
      if (cut < 0) {
        yield batch;
        continue;
      }
      if (cut > 0) yield batch.slice(0, cut);
      return;
    }
  } finally {
    stream.destroy();
    if (!stream.closed) await once(stream, 'close').catch(() => {});
  }
}

export async function* readFileEvents(path: string, opts: FileReadOptions = {}): AsyncGenerator<BinlogEvent> {
  for await (const batch of readFileEventBatches(path, opts)) yield* batch;
}

/** Parse a whole in-memory log synchronously (tests, small files). */
export function parseBuffer(buf: Buffer, opts: ParserOptions = {}): BinlogEvent[] {
  const parser = new BinlogParser(opts);
  const out: BinlogEvent[] = [];
  parser.push(buf, (e) => out.push(e));
  parser.end();
  return out;
}
