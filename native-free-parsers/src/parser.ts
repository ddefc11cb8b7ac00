import { crc32 } from './crc32.js';
import { EventDecodeError } from './cursor.js';
import { BinlogFormatError } from './errors.js';
import { BinlogEvent } from './event.js';
import { EventFlag, EventType, eventTypeName, HEADER_LENGTH, ROWS_EVENT_TYPES } from './event-types.js';
import { decodeFormatDescription, type FormatDescription, postHeaderLength } from './format-description.js';
import { EventFramer } from './framer.js';
import { unwrapTransactionPayload } from './payload.js';

export interface ParserOptions {
  /** Name used in errors and carried by events. */
  file?: string;
  /** Verify CRC32 trailers (default true; never in header-only mode). */
  verifyChecksum?: boolean;
  /**
   * Frame and read headers only: no checksum, no body decoding, no payload unwrapping.
   * Format descriptions are still read (they define the framing of what follows).
   */
  headerOnly?: boolean;
  /**
   * File offset of the first byte given to the parser. Above 0 the input starts mid-file
   * (no magic number) and `formatDescription` must say how to read it.
   */
  startOffset?: number;
  formatDescription?: FormatDescription;
  /** Yield the events inside MySQL TRANSACTION_PAYLOAD events after the payload event (default true). */
  unwrapPayloads?: boolean;
}

/** CRC-32 of any message followed by its own CRC-32 (little-endian): the check's constant residue. */
const CRC32_RESIDUE = 0x2144df1c;

/** Events up to this size have their CRC computed in JavaScript, in place. */
const SMALL_EVENT = 1024;

/** CRC-32 slice-by-8 tables (T[0] is the classic byte table). */
const CRC_TABLES = ((): Int32Array[] => {
  const t = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k][n] = (t[k - 1][n] >>> 8) ^ t[0][t[k - 1][n] & 0xff];
  return t;
})();

/** CRC-32 (zlib's) of bytes [s, e) of `b`, eight bytes per step. */
function crc32Range(b: Buffer, s: number, e: number): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let crc = -1;
  let i = s;
  for (; i + 8 <= e; i += 8) {
    const a = crc ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
    crc =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[b[i + 4]] ^
      t2[b[i + 5]] ^
      t1[b[i + 6]] ^
      t0[b[i + 7]];
  }
  for (; i < e; i++) crc = t0[(crc ^ b[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** Table maps remembered (with their bytes) to skip decoding identical ones; forgotten past this. */
const MAX_REMEMBERED_TABLE_MAPS = 4096;

/** A rows event's table map, by table id, as the parser last saw it. */
export interface TableMapLike {
  tableId: number;
}

/**
 * The synchronous core: push chunks, receive events. It keeps the state a log needs to
 * be read — the format description in force, checksum algorithm, table maps — and knows
 * nothing about where bytes come from (file, stream, socket).
 */
export class BinlogParser {
  readonly file: string | undefined;
  private readonly framer: EventFramer;
  private readonly verify: boolean;
  private readonly headerOnly: boolean;
  private readonly unwrap: boolean;
  private fd: FormatDescription | undefined;
  /** The first format description of the input (a relay log's own). */
  private firstFd: FormatDescription | undefined;
  private inUse = false;
  private encrypted = false;
  private readonly tableMaps = new Map<number, object>();
  /**
   * The last table map decoded per table id, with its body bytes: servers write the same
   * TABLE_MAP before every statement, and an identical one is not decoded (nor its row
   * decoders compiled) again.
   */
  private readonly tableMapBodies = new Map<number, { body: Buffer; map: TableMapLike }>();
  private sink: (e: BinlogEvent) => void = () => {};
  private readonly onFrame = (buf: Buffer, start: number, size: number, offset: number) =>
    this.handleFrame(buf, start, size, offset);

  constructor(opts: ParserOptions = {}) {
    this.file = opts.file;
    this.headerOnly = opts.headerOnly ?? false;
    this.verify = !this.headerOnly && (opts.verifyChecksum ?? true);
    this.unwrap = !this.headerOnly && (opts.unwrapPayloads ?? true);
    const startOffset = opts.startOffset ?? 0;
    this.fd = opts.formatDescription;
    this.firstFd = opts.formatDescription;
    if (startOffset > 0 && !this.fd) {
      throw new Error('BinlogParser: startOffset > 0 needs the formatDescription of the file');
    }
    this.framer = new EventFramer({ file: this.file, startOffset });
    this.framer.liveHint = () => this.inUse;
  }

  /** Format description in force (undefined before the first one). */
  get formatDescription(): FormatDescription | undefined {
    return this.fd;
  }
  /** The input's first format description (for a relay log: the replica's own). */
  get firstFormatDescription(): FormatDescription | undefined {
    return this.firstFd;
  }
  /** Whether the file's first FDE says the server still had it open (or crashed). */
  get fileInUse(): boolean {
    return this.inUse;
  }
  /** File offset where the next event starts. */
  get position(): number {
    return this.framer.offset;
  }

  push(chunk: Buffer, sink: (e: BinlogEvent) => void): void {
    this.sink = sink;
    this.framer.pushRanges(chunk, this.onFrame);
  }

  end(): void {
    this.framer.end();
  }

  private error(offset: number, frame: Buffer | undefined, reason: BinlogFormatError['reason'], message: string) {
    return new BinlogFormatError({
      file: this.file,
      offset,
      eventType: frame ? eventTypeName(frame[4]) : undefined,
      reason,
      message,
    });
  }

  /** One framed event: bytes [start, start + size) of `buf`. */
  private handleFrame(buf: Buffer, start: number, size: number, offset: number): void {
    if (this.encrypted) {
      throw this.error(
        offset,
        undefined,
        'encrypted',
        'encrypted binlog (MariaDB encrypt_binlog=ON): events after START_ENCRYPTION cannot be read without the server key',
      );
    }
    const rawType = buf[start + 4];
    if (rawType === EventType.FORMAT_DESCRIPTION) {
      this.formatDescriptionFrame(buf.subarray(start, start + size), offset);
      return;
    }
    const fd = this.fd;
    if (!fd) {
      const frame = buf.subarray(start, start + size);
      if (rawType === EventType.START_V3) {
        throw this.error(offset, frame, 'unsupported-format', 'binlog format v1/v3 (MySQL 3.23–4.x) is not supported');
      }
      throw this.error(offset, frame, 'bad-event', `first event is type ${rawType}, expected FORMAT_DESCRIPTION`);
    }
    const typeCode = fd.typeMap ? fd.typeMap[rawType] : rawType;
    const csLen = fd.checksumLength;
    if (size < HEADER_LENGTH + csLen) {
      throw this.error(
        offset,
        buf.subarray(start, start + size),
        'bad-length',
        `event of ${size} bytes cannot hold a checksum`,
      );
    }
    if (this.verify && csLen > 0) {
      // CRC32 over the event *with* its stored trailer leaves a constant residue when the
      // trailer is right. Small events are checked in place (no view, no native call);
      // large ones by zlib's native CRC.
      const ok =
        size <= SMALL_EVENT
          ? crc32Range(buf, start, start + size) === CRC32_RESIDUE
          : crc32(buf.subarray(start, start + size)) === CRC32_RESIDUE;
      if (!ok) this.verifyChecksum(buf.subarray(start, start + size), offset, size - csLen, false);
    }
    const event = new BinlogEvent(buf, offset, typeCode, fd, this.file, -1, start, size);
    if (!this.headerOnly) this.track(event);
    this.sink(event);
    if (typeCode === EventType.MARIADB_START_ENCRYPTION) this.encrypted = true;
    if (typeCode === EventType.TRANSACTION_PAYLOAD && this.unwrap) this.emitPayload(event);
  }

  private formatDescriptionFrame(frame: Buffer, offset: number): void {
    let fd: FormatDescription;
    try {
      fd = decodeFormatDescription(frame);
    } catch (err) {
      if (err instanceof EventDecodeError) {
        const unsupported = /format version/.test(err.message);
        throw this.error(offset, frame, unsupported ? 'unsupported-format' : 'bad-event', err.message);
      }
      throw err;
    }
    // The FDE's own CRC is computed with BINLOG_IN_USE cleared (the server flips the bit
    // in place when it closes the file), and it exists even when the algorithm is OFF.
    if (this.verify && fd.checksumAlgorithm !== null && fd.checksumAlgorithm !== 255) {
      this.verifyChecksum(frame, offset, frame.length - 4, true);
    }
    if (!this.firstFd) this.firstFd = fd;
    if (!this.fd) this.inUse = (frame.readUInt16LE(17) & EventFlag.BINLOG_IN_USE) !== 0;
    this.fd = fd;
    this.tableMaps.clear();
    this.tableMapBodies.clear();
    this.sink(new BinlogEvent(frame, offset, EventType.FORMAT_DESCRIPTION, fd, this.file));
  }

  private verifyChecksum(frame: Buffer, offset: number, end: number, isFde: boolean): void {
    const stored = frame.readUInt32LE(end);
    let actual: number;
    const flags = frame.readUInt16LE(17);
    if (isFde && flags & EventFlag.BINLOG_IN_USE) {
      const patched = Buffer.from([frame[17] & ~EventFlag.BINLOG_IN_USE, frame[18]]);
      actual = crc32(frame.subarray(19, end), crc32(patched, crc32(frame.subarray(0, 17))));
    } else {
      actual = crc32(frame.subarray(0, end));
    }
    if (actual !== stored) {
      throw this.error(
        offset,
        frame,
        'checksum-mismatch',
        `CRC32 mismatch: stored ${stored.toString(16).padStart(8, '0')}, computed ${actual.toString(16).padStart(8, '0')}`,
      );
    }
  }

  /** Keep table maps so rows events can be decoded later, even out of order. */
  private track(event: BinlogEvent): void {
    const t = event.typeCode;
    if (t === EventType.TABLE_MAP) {
      const idLen = postHeaderLength(event.fd, t) === 6 ? 4 : 6;
      if (event.length >= HEADER_LENGTH + idLen) {
        const seen = this.tableMapBodies.get(event.uintAt(HEADER_LENGTH, idLen));
        if (seen !== undefined && event.bodyEquals(seen.body)) {
          event.adoptData(seen.map);
          this.tableMaps.set(seen.map.tableId, seen.map);
          return;
        }
      }
      const map = event.data as TableMapLike;
      this.tableMaps.set(map.tableId, map);
      if (this.tableMapBodies.size >= MAX_REMEMBERED_TABLE_MAPS) this.tableMapBodies.clear();
      this.tableMapBodies.set(map.tableId, { body: Buffer.from(event.body), map });
    } else if (ROWS_EVENT_TYPES.has(t)) {
      const idLen = postHeaderLength(event.fd, t) === 6 ? 4 : 6;
      if (event.length >= HEADER_LENGTH + idLen) {
        event.tableMap = this.tableMaps.get(event.uintAt(HEADER_LENGTH, idLen));
      }
    }
  }

  private emitPayload(event: BinlogEvent): void {
    const inner = unwrapTransactionPayload(event);
    let index = 0;
    for (const frame of inner) {
      const child = new BinlogEvent(frame, event.offset, frame[4], event.fd, this.file, index++);
      this.track(child);
      this.sink(child);
    }
  }
}
