/**
 * A bounds-checked little-endian reader over one event's bytes. Decoders use it; the
 * framing hot path does not (it reads the 19-byte header directly).
 *
 * Reading past `end` throws EventDecodeError; the parser turns that into a
 * BinlogFormatError that names the file and offset.
 */
export class EventDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventDecodeError';
  }
}

export class Cursor {
  pos: number;
  end: number;
  readonly buf: Buffer;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what = 'field'): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new EventDecodeError(`${what} needs ${n} bytes at +${this.pos}, only ${this.end - this.pos} left`);
    }
  }

  skip(n: number): void {
    this.need(n, 'skip');
    this.pos += n;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u16be(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Unsigned little-endian of 1..6 bytes as a Number (exact). */
  uintLE(n: number): number {
    this.need(n);
    const v = this.buf.readUIntLE(this.pos, n);
    this.pos += n;
    return v;
  }

  u48(): number {
    return this.uintLE(6);
  }

  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** u64 that callers treat as a Number (sizes, positions); exact up to 2^53. */
  u64n(): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new EventDecodeError(`64-bit value ${v} too large at +${this.pos - 8}`);
    return Number(v);
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** MySQL length-encoded ("packed") integer; 0xFB (NULL) is not valid inside events. */
  packed(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) return this.u64n();
    throw new EventDecodeError(`invalid packed-integer prefix 0x${first.toString(16)} at +${this.pos - 1}`);
  }

  bytes(n: number): Buffer {
    this.need(n, 'bytes');
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  rest(): Buffer {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }

  /** Fixed-width string (binlog identifiers are ASCII/UTF-8). */
  str(n: number, encoding: BufferEncoding = 'utf8'): string {
    return this.bytes(n).toString(encoding);
  }

  /** NUL-terminated string. */
  cstr(): string {
    const i = this.buf.indexOf(0, this.pos);
    if (i < 0 || i >= this.end) throw new EventDecodeError(`unterminated string at +${this.pos}`);
    const v = this.buf.toString('utf8', this.pos, i);
    this.pos = i + 1;
    return v;
  }

  /** One length byte, then that many bytes. */
  lstr8(): string {
    return this.str(this.u8());
  }

  restString(): string {
    return this.rest().toString('utf8');
  }
}

/** Packed-integer length of `v` when encoded (writer side). */
export function packedLength(v: number): number {
  if (v < 0xfb) return 1;
  if (v < 0x10000) return 3;
  if (v < 0x1000000) return 4;
  return 9;
}

/** Encode a packed integer into `buf` at `pos`; returns the new position. */
export function writePacked(buf: Buffer, pos: number, v: number): number {
  if (v < 0xfb) {
    buf[pos] = v;
    return pos + 1;
  }
  if (v < 0x10000) {
    buf[pos] = 0xfc;
    buf.writeUInt16LE(v, pos + 1);
    return pos + 3;
  }
  if (v < 0x1000000) {
    buf[pos] = 0xfd;
    buf.writeUIntLE(v, pos + 1, 3);
    return pos + 4;
  }
  buf[pos] = 0xfe;
  buf.writeBigUInt64LE(BigInt(v), pos + 1);
  return pos + 9;
}
