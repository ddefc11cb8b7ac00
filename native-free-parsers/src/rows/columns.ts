/**
 * Column types of row images: what TABLE_MAP says about a column (ColumnInfo), how its
 * values are read from a row image (compiled once per table map into ColumnDecoder
 * closures) and written back (encodeColumnValue, for the writer and the property tests).
 *
 * JS values, by type (the decoded `rows` of a rows event hold exactly these):
 *
 * | type                                  | value                                                       |
 * |---------------------------------------|-------------------------------------------------------------|
 * | TINY, SHORT, INT24, LONG              | number (signed unless SIGNEDNESS metadata says unsigned)     |
 * | LONGLONG                              | bigint                                                      |
 * | FLOAT, DOUBLE                         | number (FLOAT: the float32 value)                           |
 * | NEWDECIMAL                            | string, exact ("-12.50")                                    |
 * | YEAR                                  | number (0 or 1901..2155)                                    |
 * | DATE, TIME, DATETIME, TIMESTAMP (+2)  | string (see temporal.ts)                                    |
 * | BIT                                   | string of '0'/'1', one char per bit ("0101")                 |
 * | ENUM                                  | number: 1-based index (0 = the '' error value)              |
 * | SET                                   | number bitmask (bigint for 8-byte sets)                     |
 * | CHAR, VARCHAR, TEXT (BLOB family)     | string when the charset is text, Buffer when binary          |
 * | JSON                                  | MysqlJson (binary document; text via .text / toJSON)        |
 * | GEOMETRY                              | Buffer (SRID u32 LE + WKB)                                  |
 * | VECTOR                                | number[] (float32 elements)                                  |
 * | NULL (type 6) / SQL NULL              | null                                                        |
 *
 * Buffers are views into the event bytes (no copy); copy them to keep them beyond the event.
 */
import { inflateRawSync, inflateSync } from 'node:zlib';
import { EventDecodeError } from '../cursor.js';
import { codecOfCollation, decodeText, encodeText, type TextCodec } from './charsets.js';
import { decimalBinarySize, decodeDecimal, encodeDecimal } from './decimal-codec.js';
import { decodeJsonDiff, encodeJsonDiff, MysqlJson, MysqlJsonDiff } from './json-binary.js';
import {
  datetime2Size,
  datetimeHiresSize,
  decodeDate,
  decodeDatetime2,
  decodeDatetimeHires,
  decodeDatetimeOld,
  decodeTime2,
  decodeTimeHires,
  decodeTimeOld,
  decodeTimestamp2,
  decodeTimestampHires,
  decodeTimestampOld,
  encodeDate,
  encodeDatetime2,
  encodeDatetimeHires,
  encodeDatetimeOld,
  encodeTime2,
  encodeTimeHires,
  encodeTimeOld,
  encodeTimestamp2,
  encodeTimestampHires,
  encodeTimestampOld,
  time2Size,
  timeHiresSize,
  timestamp2Size,
  timestampHiresSize,
} from './temporal.js';

/** MySQL/MariaDB field type codes (enum_field_types). */
export const ColumnType = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  TYPED_ARRAY: 20,
  /** MariaDB 10.3+ `COMPRESSED` BLOB/TEXT. */
  BLOB_COMPRESSED: 140,
  /** MariaDB 10.3+ `COMPRESSED` VARCHAR/VARBINARY. */
  VARCHAR_COMPRESSED: 141,
  /** MySQL 9.0+. */
  VECTOR: 242,
  INVALID: 243,
  BOOL: 244,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

const TYPE_NAMES: string[] = [];
for (const [name, code] of Object.entries(ColumnType)) TYPE_NAMES[code] = name;

export function columnTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `UNKNOWN_${type}`;
}

export const GEOMETRY_TYPE_NAMES = [
  'GEOMETRY',
  'POINT',
  'LINESTRING',
  'POLYGON',
  'MULTIPOINT',
  'MULTILINESTRING',
  'MULTIPOLYGON',
  'GEOMETRYCOLLECTION',
];

/** One column of a table map, with everything the TABLE_MAP (and its optional metadata) says about it. */
export interface ColumnInfo {
  /** 1-based position in the table (the N of mysqlbinlog's @N). */
  ordinal: number;
  /** From COLUMN_NAME metadata (binlog_row_metadata=FULL); null when not logged. */
  name: string | null;
  /** Real type: for STRING columns the type hidden in the metadata (STRING, ENUM or SET). */
  type: number;
  typeName: string;
  /** Type code as listed in the TABLE_MAP. */
  binlogType: number;
  /** TABLE_MAP metadata as one number, as mysqlbinlog -vv prints it (`meta=`). */
  meta: number;
  nullable: boolean;
  /** Integer, FLOAT, DOUBLE, DECIMAL and YEAR columns: true/false from SIGNEDNESS metadata, null when not logged. */
  unsigned?: boolean | null;
  /** Character, ENUM and SET columns: collation id from the charset metadata, null when not logged. */
  collation?: number | null;
  /** Character set of `collation` (e.g. "utf8mb4", "latin1", "binary"), null when unknown. */
  charset?: string | null;
  /** CHAR/VARCHAR: maximum length in bytes. */
  maxLength?: number;
  /** Bytes of the length prefix: CHAR/VARCHAR 1 or 2; BLOB/TEXT, JSON, GEOMETRY, VECTOR 1–4. */
  lengthBytes?: number;
  /** FLOAT/DOUBLE: 4/8; ENUM: 1–2; SET: 1–8 (bytes of the stored value). */
  packLength?: number;
  /**
   * TIME2/DATETIME2/TIMESTAMP2: fractional-seconds digits 0–6. For the old TIME/DATETIME/
   * TIMESTAMP types only when an external schema says so (MariaDB "hires" columns, see `hires`).
   */
  fsp?: number;
  /**
   * MariaDB "hires" TIME/DATETIME/TIMESTAMP (tables from MariaDB 5.3–10.1.1, or
   * mysql56_temporal_format=OFF) with fractional seconds: the binlog does not say so;
   * set through applyColumnOverrides() from the table definition.
   */
  hires?: boolean;
  /** BIT: width in bits. */
  bits?: number;
  /** NEWDECIMAL. */
  precision?: number;
  scale?: number;
  /** MariaDB COMPRESSED column (values are stored zlib-compressed; decoded values are the plain data). */
  compressed?: boolean;
  /** From ENUM_STR_VALUE / SET_STR_VALUE metadata. */
  enumValues?: string[];
  setValues?: string[];
  /** GEOMETRY subtype from GEOMETRY_TYPE metadata (0 GEOMETRY, 1 POINT, …). */
  geometryType?: number;
  /** VECTOR: number of float32 elements (VECTOR_DIMENSIONALITY metadata). */
  dimension?: number;
  /** From COLUMN_VISIBILITY metadata (false = INVISIBLE column). */
  visible?: boolean;
  /** TYPED_ARRAY: element type and its metadata. */
  elementType?: number;
}

export function isIntegerType(t: number): boolean {
  return (
    t === ColumnType.TINY ||
    t === ColumnType.SHORT ||
    t === ColumnType.INT24 ||
    t === ColumnType.LONG ||
    t === ColumnType.LONGLONG
  );
}

/** Columns that get a bit in SIGNEDNESS metadata (YEAR and old DECIMAL included, as servers write it). */
export function isNumericType(t: number): boolean {
  switch (t) {
    case ColumnType.TINY:
    case ColumnType.SHORT:
    case ColumnType.INT24:
    case ColumnType.LONG:
    case ColumnType.LONGLONG:
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
    case ColumnType.NEWDECIMAL:
    case ColumnType.DECIMAL:
    case ColumnType.YEAR:
      return true;
    default:
      return false;
  }
}

export function isBlobType(t: number): boolean {
  return (
    t === ColumnType.BLOB || t === ColumnType.TINY_BLOB || t === ColumnType.MEDIUM_BLOB || t === ColumnType.LONG_BLOB
  );
}

/**
 * Columns counted by DEFAULT_CHARSET/COLUMN_CHARSET metadata (real types; ENUM/SET have
 * their own lists). MariaDB counts GEOMETRY and its COMPRESSED types too.
 */
export function isCharacterType(t: number, mariadb: boolean): boolean {
  switch (t) {
    case ColumnType.STRING:
    case ColumnType.VAR_STRING:
    case ColumnType.VARCHAR:
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
      return true;
    // MySQL 9 counts VECTOR among the character columns of DEFAULT_CHARSET / COLUMN_CHARSET
    // (seen in vector.binlog: its TEXT column's collation is only right when VECTOR counts).
    case ColumnType.VECTOR:
      return !mariadb;
    case ColumnType.GEOMETRY:
    case ColumnType.BLOB_COMPRESSED:
    case ColumnType.VARCHAR_COMPRESSED:
      return mariadb;
    default:
      return false;
  }
}

/** A short SQL-ish type for display: "INT UNSIGNED", "VARCHAR(80 bytes)", "DATETIME(3)". */
export function columnSqlType(c: ColumnInfo): string {
  const u = c.unsigned ? ' UNSIGNED' : '';
  switch (c.type) {
    case ColumnType.TINY:
      return `TINYINT${u}`;
    case ColumnType.SHORT:
      return `SMALLINT${u}`;
    case ColumnType.INT24:
      return `MEDIUMINT${u}`;
    case ColumnType.LONG:
      return `INT${u}`;
    case ColumnType.LONGLONG:
      return `BIGINT${u}`;
    case ColumnType.FLOAT:
      return `FLOAT${u}`;
    case ColumnType.DOUBLE:
      return `DOUBLE${u}`;
    case ColumnType.NEWDECIMAL:
      return `DECIMAL(${c.precision},${c.scale})${u}`;
    case ColumnType.TIME:
    case ColumnType.DATETIME:
    case ColumnType.TIMESTAMP:
      return c.hires && c.fsp ? `${c.typeName}(${c.fsp})` : c.typeName;
    case ColumnType.TIME2:
      return c.fsp ? `TIME(${c.fsp})` : 'TIME';
    case ColumnType.DATETIME2:
      return c.fsp ? `DATETIME(${c.fsp})` : 'DATETIME';
    case ColumnType.TIMESTAMP2:
      return c.fsp ? `TIMESTAMP(${c.fsp})` : 'TIMESTAMP';
    case ColumnType.NEWDATE:
      return 'DATE';
    case ColumnType.BIT:
      return `BIT(${c.bits})`;
    case ColumnType.ENUM:
      return c.enumValues
        ? `ENUM(${c.enumValues.map(sqlQuote).join(',')})`
        : `ENUM(${c.packLength} byte${c.packLength === 1 ? '' : 's'})`;
    case ColumnType.SET:
      return c.setValues ? `SET(${c.setValues.map(sqlQuote).join(',')})` : `SET(${c.packLength} bytes)`;
    case ColumnType.STRING:
      return `${c.charset === 'binary' ? 'BINARY' : 'CHAR'}(${c.maxLength} bytes)`;
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
      return `${c.charset === 'binary' ? 'VARBINARY' : 'VARCHAR'}(${c.maxLength} bytes)`;
    case ColumnType.VARCHAR_COMPRESSED:
      return `VARCHAR(${c.maxLength} bytes) COMPRESSED`;
    case ColumnType.BLOB:
    case ColumnType.BLOB_COMPRESSED: {
      const size = ['TINY', '', 'MEDIUM', 'LONG'][(c.lengthBytes ?? 2) - 1] ?? '';
      const kind = c.charset === 'binary' ? 'BLOB' : c.charset ? 'TEXT' : 'BLOB/TEXT';
      const name = kind === 'BLOB/TEXT' ? `${size}BLOB/${size}TEXT` : `${size}${kind}`;
      return c.type === ColumnType.BLOB_COMPRESSED ? `${name} COMPRESSED` : name;
    }
    case ColumnType.GEOMETRY:
      return c.geometryType !== undefined ? (GEOMETRY_TYPE_NAMES[c.geometryType] ?? 'GEOMETRY') : 'GEOMETRY';
    case ColumnType.VECTOR:
      return c.dimension !== undefined ? `VECTOR(${c.dimension})` : 'VECTOR';
    default:
      return c.typeName;
  }
}

function sqlQuote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

// ---------------------------------------------------------------- reading

/** A row image being read: the decoders advance `pos`; `end` bounds every read. */
export class RowReader {
  buf: Buffer;
  pos: number;
  end: number;
  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }
}

export type ColumnDecoder = (r: RowReader) => unknown;

function overrun(r: RowReader, n: number): never {
  throw new EventDecodeError(`value needs ${n} bytes at +${r.pos}, only ${r.end - r.pos} left in the rows`);
}

/** Claim `n` bytes; returns their start. */
function take(r: RowReader, n: number): number {
  const p = r.pos;
  if (p + n > r.end) overrun(r, n);
  r.pos = p + n;
  return p;
}

/** Length found by the last takeLengthPrefixed (saves returning a tuple per value). */
let lastLength = 0;

/** Read a little-endian length of `lb` (1–4) bytes, then claim that many bytes; returns their start. */
function takeLengthPrefixed(r: RowReader, lb: number): number {
  const p = take(r, lb);
  const buf = r.buf;
  let len: number;
  switch (lb) {
    case 1:
      len = buf[p];
      break;
    case 2:
      len = buf[p] | (buf[p + 1] << 8);
      break;
    case 3:
      len = buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16);
      break;
    case 4:
      len = buf.readUInt32LE(p);
      break;
    default:
      // From a damaged table map (a BLOB/JSON/GEOMETRY pack length): found by fuzzing,
      // it used to read past the claimed bytes and fail with Node's RangeError.
      throw new EventDecodeError(`length prefix of ${lb} bytes (a table map says 1–4)`);
  }
  lastLength = len;
  return take(r, len);
}

/**
 * MariaDB compressed column data: header byte 0 = stored as is; else 0x80 | method << 4
 * (8 = zlib) | 8 if raw deflate | bytes of the original length, the original length
 * big-endian, then the deflate stream.
 */
export function inflateMariadbColumn(data: Buffer): Buffer {
  if (data.length === 0) return data;
  const h = data[0];
  if (h === 0) return data.subarray(1);
  if ((h & 0x80) === 0 || h >> 4 !== 8)
    throw new EventDecodeError(`compressed column: unknown header 0x${h.toString(16)}`);
  const lb = h & 7;
  if (1 + lb > data.length) throw new EventDecodeError('compressed column: truncated header');
  const original = lb === 0 ? 0 : data.readUIntBE(1, lb);
  const stream = data.subarray(1 + lb);
  let out: Buffer;
  try {
    out = h & 8 ? inflateRawSync(stream) : inflateSync(stream);
  } catch (err) {
    throw new EventDecodeError(`compressed column does not inflate: ${(err as Error).message}`);
  }
  if (out.length !== original)
    throw new EventDecodeError(`compressed column inflated to ${out.length} bytes, header says ${original}`);
  return out;
}

function bitString(buf: Buffer, p: number, bytes: number, bits: number): string {
  let s = '';
  for (let i = 0; i < bytes; i++) s += (buf[p + i] | 0x100).toString(2).slice(1);
  return s.slice(s.length - bits);
}

function float32Array(buf: Buffer, s: number, len: number): number[] | Buffer {
  if (len % 4 !== 0) return buf.subarray(s, s + len);
  const out = new Array<number>(len / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(s + 4 * i);
  return out;
}

/** The text codec a character column's values go through. */
export function columnCodec(c: ColumnInfo): TextCodec {
  return codecOfCollation(c.collation);
}

/**
 * Build the decoder of one column. Called once per table map (the result is cached with
 * it), so nothing here is per row.
 */
export function compileColumnDecoder(c: ColumnInfo): ColumnDecoder {
  const unsigned = c.unsigned === true;
  if (c.fsp !== undefined && !(c.fsp >= 0 && c.fsp <= 6))
    return unsupported(c, `fractional-seconds precision ${c.fsp}`);
  switch (c.type) {
    case ColumnType.TINY:
      return unsigned ? (r) => r.buf[take(r, 1)] : (r) => r.buf.readInt8(take(r, 1));
    case ColumnType.SHORT:
      return unsigned ? (r) => r.buf.readUInt16LE(take(r, 2)) : (r) => r.buf.readInt16LE(take(r, 2));
    case ColumnType.INT24:
      return unsigned ? (r) => r.buf.readUIntLE(take(r, 3), 3) : (r) => r.buf.readIntLE(take(r, 3), 3);
    case ColumnType.LONG:
      return unsigned ? (r) => r.buf.readUInt32LE(take(r, 4)) : (r) => r.buf.readInt32LE(take(r, 4));
    case ColumnType.LONGLONG:
      return unsigned ? (r) => r.buf.readBigUInt64LE(take(r, 8)) : (r) => r.buf.readBigInt64LE(take(r, 8));
    case ColumnType.FLOAT:
      return (r) => r.buf.readFloatLE(take(r, 4));
    case ColumnType.DOUBLE:
      return (r) => r.buf.readDoubleLE(take(r, 8));
    case ColumnType.NEWDECIMAL: {
      const precision = c.precision!;
      const scale = c.scale!;
      const size = decimalBinarySize(precision, scale);
      return (r) => decodeDecimal(r.buf, take(r, size), precision, scale);
    }
    case ColumnType.YEAR:
      return (r) => {
        const v = r.buf[take(r, 1)];
        return v === 0 ? 0 : 1900 + v;
      };
    case ColumnType.DATE:
    case ColumnType.NEWDATE:
      return (r) => decodeDate(r.buf, take(r, 3));
    case ColumnType.TIME: {
      const fsp = c.fsp ?? 0;
      if (c.hires && fsp > 0) return (r) => decodeTimeHires(r.buf, take(r, timeHiresSize(fsp)), fsp);
      return (r) => decodeTimeOld(r.buf, take(r, 3));
    }
    case ColumnType.DATETIME: {
      const fsp = c.fsp ?? 0;
      if (c.hires && fsp > 0) return (r) => decodeDatetimeHires(r.buf, take(r, datetimeHiresSize(fsp)), fsp);
      return (r) => decodeDatetimeOld(r.buf, take(r, 8));
    }
    case ColumnType.TIMESTAMP: {
      const fsp = c.fsp ?? 0;
      if (c.hires && fsp > 0) return (r) => decodeTimestampHires(r.buf, take(r, timestampHiresSize(fsp)), fsp);
      return (r) => decodeTimestampOld(r.buf, take(r, 4));
    }
    case ColumnType.TIMESTAMP2: {
      const fsp = c.fsp!;
      const size = timestamp2Size(fsp);
      return (r) => decodeTimestamp2(r.buf, take(r, size), fsp);
    }
    case ColumnType.DATETIME2: {
      const fsp = c.fsp!;
      const size = datetime2Size(fsp);
      return (r) => decodeDatetime2(r.buf, take(r, size), fsp);
    }
    case ColumnType.TIME2: {
      const fsp = c.fsp!;
      const size = time2Size(fsp);
      return (r) => decodeTime2(r.buf, take(r, size), fsp);
    }
    case ColumnType.BIT: {
      const bits = c.bits!;
      const bytes = (bits + 7) >> 3;
      return (r) => bitString(r.buf, take(r, bytes), bytes, bits);
    }
    case ColumnType.ENUM: {
      const n = c.packLength!;
      if (n !== 1 && n !== 2) return unsupported(c, `ENUM pack length ${n}`);
      return n === 1 ? (r) => r.buf[take(r, 1)] : (r) => r.buf.readUInt16LE(take(r, 2));
    }
    case ColumnType.SET: {
      const n = c.packLength!;
      if (n < 1 || n > 8) return unsupported(c, `SET pack length ${n}`);
      if (n <= 6) return (r) => r.buf.readUIntLE(take(r, n), n);
      return (r) => {
        const p = take(r, n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(r.buf[p + i]);
        return v;
      };
    }
    case ColumnType.STRING:
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB: {
      const lb = c.lengthBytes!;
      const codec = columnCodec(c);
      if (codec === 'binary' || codec === 'raw') {
        return (r) => {
          const s = takeLengthPrefixed(r, lb);
          return r.buf.subarray(s, s + lastLength);
        };
      }
      return (r) => {
        const s = takeLengthPrefixed(r, lb);
        return decodeText(r.buf, s, s + lastLength, codec);
      };
    }
    case ColumnType.VARCHAR_COMPRESSED:
    case ColumnType.BLOB_COMPRESSED: {
      const lb = c.lengthBytes!;
      const codec = columnCodec(c);
      return (r) => {
        const s = takeLengthPrefixed(r, lb);
        const plain = inflateMariadbColumn(r.buf.subarray(s, s + lastLength));
        return codec === 'binary' || codec === 'raw' ? plain : decodeText(plain, 0, plain.length, codec);
      };
    }
    case ColumnType.JSON: {
      const lb = c.lengthBytes!;
      return (r) => {
        const s = takeLengthPrefixed(r, lb);
        return new MysqlJson(r.buf.subarray(s, s + lastLength));
      };
    }
    case ColumnType.GEOMETRY: {
      const lb = c.lengthBytes!;
      return (r) => {
        const s = takeLengthPrefixed(r, lb);
        return r.buf.subarray(s, s + lastLength);
      };
    }
    case ColumnType.VECTOR: {
      const lb = c.lengthBytes!;
      return (r) => {
        const s = takeLengthPrefixed(r, lb);
        return float32Array(r.buf, s, lastLength);
      };
    }
    case ColumnType.NULL:
      return () => null;
    case ColumnType.DECIMAL:
      return unsupported(c, 'old DECIMAL (MySQL < 5.0.3): the binlog does not carry its length');
    default:
      return unsupported(c, `column type ${c.typeName}`);
  }
}

function unsupported(c: ColumnInfo, what: string): ColumnDecoder {
  return () => {
    throw new EventDecodeError(`cannot decode @${c.ordinal}: ${what}`);
  };
}

/** Decoder of a JSON column's partial-update value (PARTIAL_UPDATE_ROWS after images). */
export function compileJsonDiffDecoder(c: ColumnInfo): ColumnDecoder {
  const lb = c.lengthBytes!;
  return (r) => {
    const s = takeLengthPrefixed(r, lb);
    return decodeJsonDiff(r.buf, s, s + lastLength);
  };
}

/** Read one value of column `c` from `buf` at `pos` (convenience; the row decoder uses compiled decoders). */
export function decodeColumnValue(
  c: ColumnInfo,
  buf: Buffer,
  pos = 0,
  end = buf.length,
): { value: unknown; size: number } {
  const r = new RowReader(buf, pos, end);
  const value = compileColumnDecoder(c)(r);
  return { value, size: r.pos - pos };
}

// ---------------------------------------------------------------- writing

/** A growable output buffer. */
export class ByteWriter {
  buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.alloc(size);
  }

  /** Reserve `n` bytes; returns their start. */
  take(n: number): number {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  bytes(b: Buffer): void {
    const p = this.take(b.length); // take() may replace this.buf: read it after
    b.copy(this.buf, p);
  }

  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function lengthPrefixed(w: ByteWriter, lb: number, data: Buffer, c: ColumnInfo): void {
  const max = lb >= 4 ? 0xffffffff : 2 ** (8 * lb) - 1;
  if (data.length > max) throw new RangeError(`@${c.ordinal}: ${data.length} bytes do not fit a ${lb}-byte length`);
  const p = w.take(lb);
  w.buf.writeUIntLE(data.length, p, lb);
  w.bytes(data);
}

function intValue(c: ColumnInfo, v: unknown, bits: number): number {
  const n = typeof v === 'bigint' ? Number(v) : (v as number);
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw new RangeError(`@${c.ordinal}: not an integer: ${String(v)}`);
  const lo = c.unsigned ? 0 : -(2 ** (bits - 1));
  const hi = c.unsigned ? 2 ** bits - 1 : 2 ** (bits - 1) - 1;
  // Accept either reading of the bits (a value decoded with unknown signedness is signed).
  if (n < -(2 ** (bits - 1)) || n > 2 ** bits - 1)
    throw new RangeError(`@${c.ordinal}: ${n} out of range ${lo}..${hi}`);
  return n < 0 ? n + 2 ** bits : n;
}

function textBytes(c: ColumnInfo, v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string') {
    const codec = columnCodec(c);
    return encodeText(v, codec === 'binary' || codec === 'raw' || codec === 'guess' ? 'utf8' : codec);
  }
  throw new RangeError(`@${c.ordinal}: expected a string or Buffer, got ${typeof v}`);
}

/**
 * Append the row-image bytes of `value` (never null: SQL NULL lives in the null bitmap)
 * for column `c`. Accepts what the decoder returns (and numbers for bigint columns).
 */
export function encodeColumnValue(c: ColumnInfo, value: unknown, w: ByteWriter): void {
  // Always take() before reading w.buf: take() may replace the buffer.
  let p: number;
  switch (c.type) {
    case ColumnType.TINY:
      p = w.take(1);
      w.buf[p] = intValue(c, value, 8);
      return;
    case ColumnType.SHORT:
      p = w.take(2);
      w.buf.writeUInt16LE(intValue(c, value, 16), p);
      return;
    case ColumnType.INT24:
      p = w.take(3);
      w.buf.writeUIntLE(intValue(c, value, 24), p, 3);
      return;
    case ColumnType.LONG:
      p = w.take(4);
      w.buf.writeUInt32LE(intValue(c, value, 32), p);
      return;
    case ColumnType.LONGLONG: {
      const v = BigInt(value as bigint | number);
      if (v < -(2n ** 63n) || v >= 2n ** 64n) throw new RangeError(`@${c.ordinal}: ${v} does not fit 64 bits`);
      p = w.take(8);
      w.buf.writeBigUInt64LE(BigInt.asUintN(64, v), p);
      return;
    }
    case ColumnType.FLOAT:
      p = w.take(4);
      w.buf.writeFloatLE(value as number, p);
      return;
    case ColumnType.DOUBLE:
      p = w.take(8);
      w.buf.writeDoubleLE(value as number, p);
      return;
    case ColumnType.NEWDECIMAL:
      w.bytes(encodeDecimal(String(value), c.precision!, c.scale!));
      return;
    case ColumnType.YEAR: {
      const y = value as number;
      if (!(y === 0 || (y >= 1901 && y <= 2155))) throw new RangeError(`@${c.ordinal}: YEAR ${y} out of range`);
      p = w.take(1);
      w.buf[p] = y === 0 ? 0 : y - 1900;
      return;
    }
    case ColumnType.DATE:
    case ColumnType.NEWDATE:
      p = w.take(3);
      encodeDate(value as string, w.buf, p);
      return;
    case ColumnType.TIME:
      if (c.hires && c.fsp) {
        p = w.take(timeHiresSize(c.fsp));
        encodeTimeHires(value as string, c.fsp, w.buf, p);
      } else {
        p = w.take(3);
        encodeTimeOld(value as string, w.buf, p);
      }
      return;
    case ColumnType.DATETIME:
      if (c.hires && c.fsp) {
        p = w.take(datetimeHiresSize(c.fsp));
        encodeDatetimeHires(value as string, c.fsp, w.buf, p);
      } else {
        p = w.take(8);
        encodeDatetimeOld(value as string, w.buf, p);
      }
      return;
    case ColumnType.TIMESTAMP:
      if (c.hires && c.fsp) {
        p = w.take(timestampHiresSize(c.fsp));
        encodeTimestampHires(value as string, c.fsp, w.buf, p);
      } else {
        p = w.take(4);
        encodeTimestampOld(value as string, w.buf, p);
      }
      return;
    case ColumnType.TIMESTAMP2:
      p = w.take(timestamp2Size(c.fsp!));
      encodeTimestamp2(value as string, c.fsp!, w.buf, p);
      return;
    case ColumnType.DATETIME2:
      p = w.take(datetime2Size(c.fsp!));
      encodeDatetime2(value as string, c.fsp!, w.buf, p);
      return;
    case ColumnType.TIME2:
      p = w.take(time2Size(c.fsp!));
      encodeTime2(value as string, c.fsp!, w.buf, p);
      return;
    case ColumnType.BIT: {
      const bits = c.bits!;
      const s = value as string;
      if (!/^[01]*$/.test(s) || s.length > bits) throw new RangeError(`@${c.ordinal}: not a BIT(${bits}) string: ${s}`);
      const bytes = (bits + 7) >> 3;
      p = w.take(bytes);
      const full = s.padStart(bytes * 8, '0');
      for (let i = 0; i < bytes; i++) w.buf[p + i] = Number.parseInt(full.slice(i * 8, i * 8 + 8), 2);
      return;
    }
    case ColumnType.ENUM:
      p = w.take(c.packLength!);
      w.buf.writeUIntLE(value as number, p, c.packLength!);
      return;
    case ColumnType.SET: {
      const n = c.packLength!;
      p = w.take(n);
      let v = BigInt(value as number | bigint);
      for (let i = 0; i < n; i++, v >>= 8n) w.buf[p + i] = Number(v & 0xffn);
      return;
    }
    case ColumnType.STRING:
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING: {
      const data = textBytes(c, value);
      if (data.length > c.maxLength!)
        throw new RangeError(`@${c.ordinal}: ${data.length} bytes exceed the column's ${c.maxLength}`);
      lengthPrefixed(w, c.lengthBytes!, data, c);
      return;
    }
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.GEOMETRY:
      lengthPrefixed(w, c.lengthBytes!, textBytes(c, value), c);
      return;
    case ColumnType.VARCHAR_COMPRESSED:
    case ColumnType.BLOB_COMPRESSED: {
      // Stored form (header byte 0, no compression): valid for MariaDB, byte-exact re-encoding is not a goal here.
      const plain = textBytes(c, value);
      lengthPrefixed(w, c.lengthBytes!, plain.length === 0 ? plain : Buffer.concat([Buffer.from([0]), plain]), c);
      return;
    }
    case ColumnType.JSON: {
      if (value instanceof MysqlJsonDiff) lengthPrefixed(w, c.lengthBytes!, encodeJsonDiff(value), c);
      else if (value instanceof MysqlJson) lengthPrefixed(w, c.lengthBytes!, value.binary, c);
      else throw new RangeError(`@${c.ordinal}: JSON columns take a MysqlJson (MysqlJson.from(value))`);
      return;
    }
    case ColumnType.VECTOR: {
      if (Buffer.isBuffer(value)) {
        lengthPrefixed(w, c.lengthBytes!, value, c);
        return;
      }
      const arr = value as number[];
      const b = Buffer.alloc(arr.length * 4);
      for (let i = 0; i < arr.length; i++) b.writeFloatLE(arr[i], i * 4);
      lengthPrefixed(w, c.lengthBytes!, b, c);
      return;
    }
    case ColumnType.NULL:
      return;
    default:
      throw new RangeError(`@${c.ordinal}: cannot encode column type ${c.typeName}`);
  }
}

/**
 * Append one row image: the null bitmap over the `present` columns (1-based ordinals, in
 * table order) and the values of the present, non-NULL ones. `image` is keyed by ordinal
 * like a decoded row; a missing or null entry is SQL NULL.
 */
export function encodeRowImage(
  columns: ColumnInfo[],
  present: number[],
  image: Record<number, unknown>,
  w: ByteWriter,
): void {
  const nulls = w.take((present.length + 7) >> 3);
  w.buf.fill(0, nulls, nulls + ((present.length + 7) >> 3));
  present.forEach((ordinal, k) => {
    const v = image[ordinal];
    if (v === null || v === undefined) {
      w.buf[nulls + (k >> 3)] |= 1 << (k & 7);
      return;
    }
    encodeColumnValue(columns[ordinal - 1], v, w);
  });
}
