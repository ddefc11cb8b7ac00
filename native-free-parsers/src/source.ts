import { promises as fsp } from 'node:fs';
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
 * Events per batch at most. A batch's events (and what the consumer decodes from them,
 * cached on each event) stay reachable until the consumer asks for the next batch; small
 * batches keep that live set small, so decoded rows die young instead of being promoted
 * by the GC — which is what keeps a full decode's RSS flat.
 */
const MAX_BATCH = 256;

/**
 * Events in batches: the events of each input chunk, in arrays of at most MAX_BATCH. The
 * cheapest way to consume a log from async code — one await per batch, not per event.
 */
export async function* readEventBatches(source: ByteSource, opts: ParserOptions = {}): AsyncGenerator<BinlogEvent[]> {
  const parser = new BinlogParser(opts);
  let batch: BinlogEvent[] = [];
  const sink = (e: BinlogEvent) => {
    batch.push(e);
  };
  for await (const chunk of source as AsyncIterable<Buffer | Uint8Array>) {
    parser.push(toBuffer(chunk), sink);
    if (batch.length === 0) continue;
    const out = batch;
    batch = [];
    if (out.length <= MAX_BATCH) {
      yield out;
      continue;
    }
    for (let i = 0; i < out.length; i += MAX_BATCH) {
      const part = out.slice(i, i + MAX_BATCH);
      // Drop this part from the chunk's array, so it is freed once the consumer lets go of it.
      out.fill(undefined as unknown as BinlogEvent, i, i + part.length);
      yield part;
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
  /** Read chunk size (default 256 KiB; 1 MiB for header-only reads). */
  chunkSize?: number;
}

/**
 * Default read size. Events are views of their chunk, so a chunk lives as long as any of
 * its events; chunks still alive when the GC runs get promoted and are only freed by a
 * full collection. Smaller chunks keep that floating garbage — and so the RSS of a full
 * decode — low (measured on a 268 MB OLTP binlog: peak RSS ~150 MB with 1 MiB chunks,
 * ~95 MB with 256 KiB, same throughput).
 */
const DEFAULT_CHUNK_SIZE = 256 << 10;
/** Header-only scans allocate little per event, so bigger reads cost no RSS and save time. */
const HEADER_ONLY_CHUNK_SIZE = 1 << 20;

/** Reads kept in flight ahead of the parser, so file reads overlap with parsing. */
const READ_AHEAD = 2;

/**
 * A file's bytes from `start`, in chunks of `chunkSize`, each in its own fresh buffer
 * (events are views of the chunks, so a chunk is never reused). Up to READ_AHEAD reads
 * run while the caller parses the current chunk.
 */
export async function* readFileChunks(path: string, start = 0, chunkSize = DEFAULT_CHUNK_SIZE): AsyncGenerator<Buffer> {
  const fh = await fsp.open(path, 'r');
  let next = start;
  let eof = false;
  const inFlight: Promise<Buffer>[] = [];
  const issue = () => {
    const pos = next;
    next += chunkSize;
    const buf = Buffer.allocUnsafeSlow(chunkSize);
    inFlight.push(fh.read(buf, 0, chunkSize, pos).then(({ bytesRead }) => buf.subarray(0, bytesRead)));
  };
  try {
    for (let i = 0; i < READ_AHEAD; i++) issue();
    while (inFlight.length > 0) {
      const chunk = await inFlight.shift()!;
      if (chunk.length === 0) break;
      if (chunk.length < chunkSize) eof = true;
      if (!eof) issue();
      yield chunk;
      if (eof) break;
    }
  } finally {
    // Let reads still in flight finish before the handle closes.
    await Promise.allSettled(inFlight);
    await fh.close();
  }
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
  const chunks = readFileChunks(
    path,
    startOffset > 4 ? startOffset : 0,
    opts.chunkSize ?? (opts.headerOnly ? HEADER_ONLY_CHUNK_SIZE : DEFAULT_CHUNK_SIZE),
  );
  const stop = opts.stopOffset;
  try {
    for await (const batch of readEventBatches(chunks, parserOpts)) {
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
    await chunks.return(undefined);
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
