import { BinlogFormatError, BinlogTruncatedError } from './errors.js';
import { BINLOG_MAGIC, HEADER_LENGTH, MAX_EVENT_SIZE } from './event-types.js';

export interface FramerOptions {
  file?: string | undefined;
  /** File offset of the first byte pushed. 0 means the input starts with the magic number. */
  startOffset?: number;
  maxEventSize?: number;
}

/** Receives each complete event: its bytes and its file offset. */
export type FrameSink = (frame: Buffer, offset: number) => void;

/**
 * Receives each complete event as a place in a buffer — bytes [start, start + length) of
 * `buf` — and its file offset: no Buffer object is made per event.
 */
export type FrameRangeSink = (buf: Buffer, start: number, length: number, offset: number) => void;

/**
 * Cuts a byte stream into events using only the size field of each 19-byte header.
 * Complete events inside a chunk are handed out as views of that chunk (no copy); an event
 * that straddles chunks is kept as a list of views and joined once when complete, so at
 * most one event is ever buffered, whatever its size.
 */
export class EventFramer {
  private readonly file: string | undefined;
  private readonly maxEventSize: number;
  /** File offset of the next byte expected. */
  private pos: number;
  private magicSeen: number;
  private readonly magic: Buffer = Buffer.alloc(4);
  /** Pieces of the event being assembled, and how many bytes they hold. */
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  /** Size of the event being assembled (0 until its header is complete). */
  private pendingSize = 0;
  private pendingOffset = 0;
  /** Called to ask whether a short tail is a live file's partial write. */
  liveHint: () => boolean = () => false;

  constructor(opts: FramerOptions = {}) {
    this.file = opts.file;
    this.pos = opts.startOffset ?? 0;
    this.magicSeen = this.pos === 0 ? 0 : 4;
    this.maxEventSize = opts.maxEventSize ?? MAX_EVENT_SIZE;
  }

  /** Offset of the next event that will be framed (or of the one being assembled). */
  get offset(): number {
    return this.pieceBytes > 0 ? this.pendingOffset : this.pos;
  }

  push(chunk: Buffer, sink: FrameSink): void {
    this.pushRanges(chunk, (buf, start, length, offset) =>
      sink(start === 0 && length === buf.length ? buf : buf.subarray(start, start + length), offset),
    );
  }

  /** Like push, but events are handed out as ranges of the chunk (see FrameRangeSink). */
  pushRanges(chunk: Buffer, sink: FrameRangeSink): void {
    let i = 0;
    const len = chunk.length;
    if (this.magicSeen < 4) {
      while (this.magicSeen < 4 && i < len) this.magic[this.magicSeen++] = chunk[i++];
      this.pos += i;
      if (this.magicSeen < 4) return;
      if (!this.magic.equals(BINLOG_MAGIC)) {
        throw new BinlogFormatError({
          file: this.file,
          offset: 0,
          reason: 'bad-magic',
          message: `not a binlog or relay log: magic number is ${this.magic.toString('hex')}, expected fe62696e`,
        });
      }
    }
    if (this.pieceBytes > 0) {
      i = this.continuePending(chunk, i, sink);
      if (this.pieceBytes > 0) return;
    }
    while (len - i >= HEADER_LENGTH) {
      const size = (chunk[i + 9] | (chunk[i + 10] << 8) | (chunk[i + 11] << 16)) + chunk[i + 12] * 0x1000000;
      if (size < HEADER_LENGTH || size > this.maxEventSize) this.checkSize(size, this.pos);
      if (len - i < size) break;
      const offset = this.pos;
      this.pos += size;
      sink(chunk, i, size, offset);
      i += size;
    }
    if (i < len) {
      this.pendingOffset = this.pos;
      this.pendingSize = len - i >= HEADER_LENGTH ? chunk.readUInt32LE(i + 9) : 0;
      this.pieces.push(chunk.subarray(i));
      this.pieceBytes = len - i;
      this.pos += len - i;
    }
  }

  private continuePending(chunk: Buffer, start: number, sink: FrameRangeSink): number {
    let i = start;
    if (this.pendingSize === 0) {
      // Header still incomplete: gather up to 19 bytes first.
      const take = Math.min(HEADER_LENGTH - this.pieceBytes, chunk.length - i);
      this.pieces.push(chunk.subarray(i, i + take));
      this.pieceBytes += take;
      this.pos += take;
      i += take;
      if (this.pieceBytes < HEADER_LENGTH) return i;
      const head = Buffer.concat(this.pieces, HEADER_LENGTH);
      this.pieces = [head];
      this.pendingSize = head.readUInt32LE(9);
      this.checkSize(this.pendingSize, this.pendingOffset);
    }
    const need = this.pendingSize - this.pieceBytes;
    const take = Math.min(need, chunk.length - i);
    if (take > 0) {
      this.pieces.push(chunk.subarray(i, i + take));
      this.pieceBytes += take;
      this.pos += take;
      i += take;
    }
    if (this.pieceBytes === this.pendingSize) {
      const frame = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces, this.pendingSize);
      const offset = this.pendingOffset;
      this.pieces = [];
      this.pieceBytes = 0;
      this.pendingSize = 0;
      sink(frame, 0, frame.length, offset);
    }
    return i;
  }

  private checkSize(size: number, offset: number): void {
    if (size < HEADER_LENGTH || size > this.maxEventSize) {
      throw new BinlogFormatError({
        file: this.file,
        offset,
        reason: 'bad-length',
        message: `impossible event length ${size} (must be ${HEADER_LENGTH}..${this.maxEventSize})`,
      });
    }
  }

  /** The input is over: anything still buffered is a truncated event. */
  end(): void {
    if (this.magicSeen < 4) {
      throw new BinlogFormatError({
        file: this.file,
        offset: 0,
        reason: this.magicSeen === 0 ? 'bad-magic' : 'truncated',
        message: this.magicSeen === 0 ? 'empty input: not a binlog' : 'input ends inside the magic number',
      });
    }
    if (this.pieceBytes > 0) {
      const live = this.liveHint();
      throw new BinlogTruncatedError({
        file: this.file,
        offset: this.pendingOffset,
        live,
        partialBytes: this.pieceBytes,
        expectedBytes: this.pendingSize,
        message:
          `input ends inside an event: ${this.pieceBytes} of ${this.pendingSize || 'at least 19'} bytes present` +
          (live ? ' (the file is still being written: partial tail)' : ' (file truncated or corrupt)'),
      });
    }
  }
}
