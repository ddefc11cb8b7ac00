import { Cursor, EventDecodeError } from './cursor.js';
import { decoderFor } from './decoders/registry.js';
import { BinlogFormatError } from './errors.js';
import { eventTypeName, HEADER_LENGTH } from './event-types.js';
import { type FormatDescription, postHeaderLength } from './format-description.js';

/**
 * One event as framed from a log. Header fields are read from the bytes on access, and
 * the body is decoded on first access to `data`, so a scan that only needs positions pays
 * for neither. An event framed out of a read chunk keeps the chunk and its place in it:
 * the `raw` view is only made when asked for (no per-event Buffer object on a scan).
 */
export class BinlogEvent {
  /** The bytes holding the event (a read chunk, or the event itself) and where it starts there. */
  private readonly buf: Buffer;
  private readonly start: number;
  private readonly size: number;
  private rawView: Buffer | undefined;
  /** Byte offset of the event in its file (for events inside a TRANSACTION_PAYLOAD: the payload event's offset). */
  readonly offset: number;
  /** GA type code (pre-GA 5.1 renumbering already undone). */
  readonly typeCode: number;
  /** Format description in force for this event (for an FDE: the one it defines). */
  readonly fd: FormatDescription;
  /** Source file name, when the parser was told. */
  readonly file: string | undefined;
  /** Index inside the enclosing TRANSACTION_PAYLOAD, or -1 for a top-level event. */
  readonly payloadIndex: number;
  /** Table map in force for a rows event (set by the parser; undefined otherwise). */
  tableMap: object | undefined;
  private decoded: object | undefined;

  /**
   * `raw` is the whole event; or, with `start` and `length`, the event is bytes
   * [start, start + length) of `raw` (how the parser hands out events of a chunk).
   */
  constructor(
    raw: Buffer,
    offset: number,
    typeCode: number,
    fd: FormatDescription,
    file?: string,
    payloadIndex = -1,
    start = 0,
    length = raw.length - start,
  ) {
    this.buf = raw;
    this.start = start;
    this.size = length;
    this.rawView = start === 0 && length === raw.length ? raw : undefined;
    this.offset = offset;
    this.typeCode = typeCode;
    this.fd = fd;
    this.file = file;
    this.payloadIndex = payloadIndex;
    this.tableMap = undefined;
    this.decoded = undefined;
  }

  /** The whole event: header, body and checksum trailer (a view, not a copy). */
  get raw(): Buffer {
    if (this.rawView === undefined) this.rawView = this.buf.subarray(this.start, this.start + this.size);
    return this.rawView;
  }
  get timestamp(): number {
    return u32(this.buf, this.start);
  }
  /** Type code as written in the file (differs from typeCode only for pre-GA 5.1 files). */
  get rawTypeCode(): number {
    return this.buf[this.start + 4];
  }
  get type(): string {
    return eventTypeName(this.typeCode);
  }
  get serverId(): number {
    return u32(this.buf, this.start + 5);
  }
  get length(): number {
    return this.size;
  }
  /** Header log_pos: the end position in the *originating* binlog (a master position in relay logs; 0 inside payloads). */
  get endLogPos(): number {
    return u32(this.buf, this.start + 13);
  }
  get flags(): number {
    const b = this.buf;
    const p = this.start + 17;
    return b[p] | (b[p + 1] << 8);
  }
  /** Offset just past this event in its file. */
  get nextOffset(): number {
    return this.payloadIndex >= 0 ? this.offset : this.offset + this.size;
  }
  get inPayload(): boolean {
    return this.payloadIndex >= 0;
  }
  /** Bytes of checksum trailer this event carries (0 or 4). */
  get checksumLength(): number {
    return this.payloadIndex >= 0 ? 0 : this.fd.checksumLength;
  }
  /** The body: after the common header, before the checksum. */
  get body(): Buffer {
    return this.buf.subarray(this.start + HEADER_LENGTH, this.start + this.size - this.checksumLength);
  }

  /** True when a decoder exists for this type (otherwise `data` is `{ raw: <base64> }`). */
  get known(): boolean {
    return decoderFor(this.typeCode) !== undefined;
  }

  /** The decoded body. Throws BinlogFormatError naming file/offset when the body is malformed. */
  get data(): object {
    if (this.decoded === undefined) this.decoded = this.decode();
    return this.decoded;
  }

  /**
   * @internal The parser hands an event the decoded body of an earlier event with the
   * same body bytes (a table map repeated for every statement), so it is decoded once.
   */
  adoptData(data: object): void {
    this.decoded = data;
  }

  /** @internal A little-endian unsigned field of `byteLength` (1–6) bytes at `at` in the event; no view is made. */
  uintAt(at: number, byteLength: number): number {
    return this.buf.readUIntLE(this.start + at, byteLength);
  }

  /** @internal Whether this event's body (header and checksum excluded) equals `other`; no view is made. */
  bodyEquals(other: Buffer): boolean {
    const s = this.start + HEADER_LENGTH;
    const e = this.start + this.size - this.checksumLength;
    return e - s === other.length && this.buf.compare(other, 0, other.length, s, e) === 0;
  }

  private decode(): object {
    const decoder = decoderFor(this.typeCode);
    if (!decoder) return { raw: this.body.toString('base64') };
    const end = this.size - this.checksumLength;
    try {
      return decoder(new Cursor(this.raw, HEADER_LENGTH, end), {
        fd: this.fd,
        typeCode: this.typeCode,
        flags: this.flags,
        serverId: this.serverId,
        postHeaderLength: postHeaderLength(this.fd, this.typeCode),
        tableMap: this.tableMap,
        file: this.file,
        offset: this.offset,
      });
    } catch (err) {
      if (err instanceof BinlogFormatError) throw err;
      const reason = err instanceof EventDecodeError ? err.message : `decoder failed: ${(err as Error).message}`;
      throw new BinlogFormatError({
        file: this.file,
        offset: this.offset,
        eventType: this.type,
        reason: err instanceof Error && /encrypt/i.test(err.message) ? 'encrypted' : 'bad-event',
        message: reason,
      });
    }
  }
}

/** Little-endian u32 at `p` (bounds are the framer's business: every event has its 19-byte header). */
function u32(b: Buffer, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
}
