import { Cursor, EventDecodeError } from './cursor.js';
import { decoderFor } from './decoders/registry.js';
import { BinlogFormatError } from './errors.js';
import { eventTypeName, HEADER_LENGTH } from './event-types.js';
import { type FormatDescription, postHeaderLength } from './format-description.js';

/**
 * One event as framed from a log. Header fields are read from `raw` on access, and the
 * body is decoded on first access to `data`, so a scan that only needs positions pays
 * for neither.
 */
export class BinlogEvent {
  /** The whole event: header, body and checksum trailer (a view, not a copy). */
  readonly raw: Buffer;
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

  constructor(raw: Buffer, offset: number, typeCode: number, fd: FormatDescription, file?: string, payloadIndex = -1) {
    this.raw = raw;
    this.offset = offset;
    this.typeCode = typeCode;
    this.fd = fd;
    this.file = file;
    this.payloadIndex = payloadIndex;
    this.tableMap = undefined;
    this.decoded = undefined;
  }

  get timestamp(): number {
    return this.raw.readUInt32LE(0);
  }
  /** Type code as written in the file (differs from typeCode only for pre-GA 5.1 files). */
  get rawTypeCode(): number {
    return this.raw[4];
  }
  get type(): string {
    return eventTypeName(this.typeCode);
  }
  get serverId(): number {
    return this.raw.readUInt32LE(5);
  }
  get length(): number {
    return this.raw.length;
  }
  /** Header log_pos: the end position in the *originating* binlog (a master position in relay logs; 0 inside payloads). */
  get endLogPos(): number {
    return this.raw.readUInt32LE(13);
  }
  get flags(): number {
    return this.raw.readUInt16LE(17);
  }
  /** Offset just past this event in its file. */
  get nextOffset(): number {
    return this.payloadIndex >= 0 ? this.offset : this.offset + this.raw.length;
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
    return this.raw.subarray(HEADER_LENGTH, this.raw.length - this.checksumLength);
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

  private decode(): object {
    const decoder = decoderFor(this.typeCode);
    if (!decoder) return { raw: this.body.toString('base64') };
    const end = this.raw.length - this.checksumLength;
    try {
      return decoder(new Cursor(this.raw, HEADER_LENGTH, end), {
        fd: this.fd,
        typeCode: this.typeCode,
        flags: this.flags,
        serverId: this.serverId,
        postHeaderLength: postHeaderLength(this.fd, this.typeCode),
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
