/**
 * MySQL's binary JSON (sql-common/json_binary.h), both directions, and the diff vectors
 * of PARTIAL_UPDATE_ROWS events.
 *
 *   doc   := type value
 *   type  := 0x00 small object | 0x01 large object | 0x02 small array | 0x03 large array
 *          | 0x04 literal (0 null, 1 true, 2 false) | 0x05 int16 | 0x06 uint16 | 0x07 int32
 *          | 0x08 uint32 | 0x09 int64 | 0x0a uint64 | 0x0b double | 0x0c string | 0x0f opaque
 *
 * Containers: count, size, key entries (objects: offset + u16 length), value entries
 * (type + offset, or the value itself when it fits), then keys and values. Small
 * containers use u16 counts/offsets, large ones u32. Offsets are relative to the start
 * of the container (after its type byte) and are always followed, never assumed to be
 * sequential: a document updated in place can contain unused gaps.
 *
 * Two readings are offered: `jsonBinaryToText` prints MySQL's canonical text (what
 * JSON_EXTRACT / CAST AS CHAR show: `{"a": 1, "b": [1.5, "x"]}`), with every integer exact
 * and doubles distinguishable from integers ("1.0"); `decodeJsonBinary` builds a JS value
 * tree (integers beyond 2^53 as bigint, opaque scalars as JsonOpaque).
 */
import { EventDecodeError } from '../cursor.js';
import { decimalBinarySize, decodeDecimal, encodeDecimal } from './decimal-codec.js';
import { packedTemporalText, packTemporalText } from './temporal.js';

export const JsonType = {
  SMALL_OBJECT: 0x00,
  LARGE_OBJECT: 0x01,
  SMALL_ARRAY: 0x02,
  LARGE_ARRAY: 0x03,
  LITERAL: 0x04,
  INT16: 0x05,
  UINT16: 0x06,
  INT32: 0x07,
  UINT32: 0x08,
  INT64: 0x09,
  UINT64: 0x0a,
  DOUBLE: 0x0b,
  STRING: 0x0c,
  OPAQUE: 0x0f,
} as const;

/** MySQL field types that opaque JSON scalars carry and that we print specially. */
const OPAQUE_NEWDECIMAL = 246;
const OPAQUE_DATE = 10;
const OPAQUE_TIME = 11;
const OPAQUE_DATETIME = 12;
const OPAQUE_TIMESTAMP = 7;

/**
 * An opaque JSON scalar: a MySQL value of another SQL type stored inside a JSON document
 * (CAST(x AS JSON) of a DECIMAL, DATE, TIME, DATETIME, TIMESTAMP, BLOB, BIT, …).
 */
export class JsonOpaque {
  constructor(
    /** MySQL field type code (246 DECIMAL, 10 DATE, 11 TIME, 12 DATETIME, 7 TIMESTAMP, 252 BLOB, 16 BIT, …). */
    readonly fieldType: number,
    /** The stored bytes. */
    readonly data: Buffer,
  ) {}

  /** The value as MySQL prints it inside JSON text (without quotes for DECIMAL). */
  get text(): string {
    return opaqueText(this.fieldType, this.data);
  }

  /** Build a DECIMAL opaque from a decimal string. */
  static decimal(value: string, precision: number, scale: number): JsonOpaque {
    const body = encodeDecimal(value, precision, scale);
    return new JsonOpaque(OPAQUE_NEWDECIMAL, Buffer.concat([Buffer.from([precision, scale]), body]));
  }

  /** Build a DATE/TIME/DATETIME/TIMESTAMP opaque from its text ("2015-01-15", "-12:00:01.5", …). */
  static temporal(fieldType: 7 | 10 | 11 | 12, value: string): JsonOpaque {
    const kind = fieldType === OPAQUE_TIME ? 'time' : fieldType === OPAQUE_DATE ? 'date' : 'datetime';
    const data = Buffer.alloc(8);
    data.writeBigInt64LE(packTemporalText(value, kind));
    return new JsonOpaque(fieldType, data);
  }
}

export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonOpaque
  | JsonValue[]
  | { [key: string]: JsonValue };

function opaqueText(fieldType: number, data: Buffer): string {
  switch (fieldType) {
    case OPAQUE_NEWDECIMAL: {
      if (data.length >= 2) {
        const precision = data[0];
        const scale = data[1];
        if (data.length >= 2 + decimalBinarySize(precision, scale)) return decodeDecimal(data, 2, precision, scale);
      }
      break;
    }
    case OPAQUE_DATE:
    case OPAQUE_TIME:
    case OPAQUE_DATETIME:
    case OPAQUE_TIMESTAMP:
      if (data.length >= 8) {
        const kind = fieldType === OPAQUE_TIME ? 'time' : fieldType === OPAQUE_DATE ? 'date' : 'datetime';
        return packedTemporalText(data.readBigInt64LE(0), kind);
      }
      break;
  }
  return `base64:type${fieldType}:${data.toString('base64')}`;
}

// ---------------------------------------------------------------- reading

class JsonReader {
  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
  ) {}

  fail(what: string, at: number): never {
    throw new EventDecodeError(`JSON binary: ${what} at +${at - this.start}`);
  }

  check(p: number, n: number, what: string): void {
    if (p < this.start || p + n > this.end) this.fail(`${what} outside the document`, p);
  }

  /** Varint length of strings and opaque values: 7 bits per byte, low group first. */
  varlen(p: number): [number, number] {
    let len = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      this.check(p + i, 1, 'string length');
      const b = this.buf[p + i];
      len += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return [len, p + i + 1];
      mul *= 128;
    }
    return this.fail('string length too long', p);
  }
}

function isInlined(type: number, large: boolean): boolean {
  switch (type) {
    case JsonType.LITERAL:
    case JsonType.INT16:
    case JsonType.UINT16:
      return true;
    case JsonType.INT32:
    case JsonType.UINT32:
      return large;
    default:
      return false;
  }
}

function literal(r: JsonReader, b: number, at: number): null | boolean {
  if (b === 0) return null;
  if (b === 1) return true;
  if (b === 2) return false;
  return r.fail(`bad literal ${b}`, at);
}

const int64ToValue = (v: bigint): number | bigint =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;

/** Value of `type` whose bytes start at `p` (for containers: at their count field). */
function readValue(r: JsonReader, type: number, p: number, depth: number): JsonValue {
  const buf = r.buf;
  switch (type) {
    case JsonType.SMALL_OBJECT:
    case JsonType.LARGE_OBJECT:
    case JsonType.SMALL_ARRAY:
    case JsonType.LARGE_ARRAY:
      return readContainer(r, type, p, depth);
    case JsonType.LITERAL:
      r.check(p, 1, 'literal');
      return literal(r, buf[p], p);
    case JsonType.INT16:
      r.check(p, 2, 'int16');
      return buf.readInt16LE(p);
    case JsonType.UINT16:
      r.check(p, 2, 'uint16');
      return buf.readUInt16LE(p);
    case JsonType.INT32:
      r.check(p, 4, 'int32');
      return buf.readInt32LE(p);
    case JsonType.UINT32:
      r.check(p, 4, 'uint32');
      return buf.readUInt32LE(p);
    case JsonType.INT64:
      r.check(p, 8, 'int64');
      return int64ToValue(buf.readBigInt64LE(p));
    case JsonType.UINT64:
      r.check(p, 8, 'uint64');
      return int64ToValue(buf.readBigUInt64LE(p));
    case JsonType.DOUBLE:
      r.check(p, 8, 'double');
      return buf.readDoubleLE(p);
    case JsonType.STRING: {
      const [len, s] = r.varlen(p);
      r.check(s, len, 'string');
      return buf.toString('utf8', s, s + len);
    }
    case JsonType.OPAQUE: {
      r.check(p, 1, 'opaque type');
      const fieldType = buf[p];
      const [len, s] = r.varlen(p + 1);
      r.check(s, len, 'opaque value');
      return new JsonOpaque(fieldType, Buffer.from(buf.subarray(s, s + len)));
    }
    default:
      return r.fail(`unknown value type 0x${type.toString(16)}`, p);
  }
}

function readContainer(r: JsonReader, type: number, base: number, depth: number): JsonValue {
  if (depth > 150) r.fail('nesting too deep', base);
  const buf = r.buf;
  const large = type === JsonType.LARGE_OBJECT || type === JsonType.LARGE_ARRAY;
  const isObject = type === JsonType.SMALL_OBJECT || type === JsonType.LARGE_OBJECT;
  const os = large ? 4 : 2;
  r.check(base, 2 * os, 'container header');
  const count = large ? buf.readUInt32LE(base) : buf.readUInt16LE(base);
  const size = large ? buf.readUInt32LE(base + 4) : buf.readUInt16LE(base + 2);
  r.check(base, size, 'container');
  const keyEntries = base + 2 * os;
  const valueEntries = isObject ? keyEntries + count * (os + 2) : keyEntries;
  const ve = 1 + os;
  r.check(valueEntries, count * ve, 'value entries');
  const readEntry = (i: number): JsonValue => {
    const e = valueEntries + i * ve;
    const t = buf[e];
    if (isInlined(t, large)) return readValue(r, t, e + 1, depth + 1);
    const off = large ? buf.readUInt32LE(e + 1) : buf.readUInt16LE(e + 1);
    if (off >= size) r.fail('value offset beyond the container', e);
    return readValue(r, t, base + off, depth + 1);
  };
  if (!isObject) {
    const out: JsonValue[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = readEntry(i);
    return out;
  }
  const out: { [key: string]: JsonValue } = {};
  for (let i = 0; i < count; i++) {
    const k = keyEntries + i * (os + 2);
    const koff = large ? buf.readUInt32LE(k) : buf.readUInt16LE(k);
    const klen = buf.readUInt16LE(k + os);
    r.check(base + koff, klen, 'key');
    const key = buf.toString('utf8', base + koff, base + koff + klen);
    // defineProperty: a key named "__proto__" must stay a plain key.
    Object.defineProperty(out, key, { value: readEntry(i), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Decode a JSON document (type byte + value) into a JS value. An empty document (length
 * 0, written by non-strict inserts) is JSON null, as MySQL reads it.
 */
export function decodeJsonBinary(buf: Buffer, start = 0, end = buf.length): JsonValue {
  if (end <= start) return null;
  const r = new JsonReader(buf, start, end);
  return readValue(r, buf[start], start + 1, 0);
}

// ---------------------------------------------------------------- text

/** Shortest round-trip text of a double, MySQL style: exponent without "+", integral values as "N.0". */
export function formatJsonDouble(d: number): string {
  if (!Number.isFinite(d)) return String(d);
  if (Object.is(d, -0)) return '-0.0';
  let s = String(d);
  if (s.includes('e')) s = s.replace('e+', 'e');
  else if (!s.includes('.')) s += '.0';
  return s;
}

function textValue(r: JsonReader, type: number, p: number, depth: number, out: string[]): void {
  const buf = r.buf;
  switch (type) {
    case JsonType.SMALL_OBJECT:
    case JsonType.LARGE_OBJECT:
    case JsonType.SMALL_ARRAY:
    case JsonType.LARGE_ARRAY:
      textContainer(r, type, p, depth, out);
      return;
    case JsonType.DOUBLE:
      r.check(p, 8, 'double');
      out.push(formatJsonDouble(buf.readDoubleLE(p)));
      return;
    case JsonType.STRING: {
      const [len, s] = r.varlen(p);
      r.check(s, len, 'string');
      out.push(JSON.stringify(buf.toString('utf8', s, s + len)));
      return;
    }
    case JsonType.OPAQUE: {
      const v = readValue(r, type, p, depth) as JsonOpaque;
      out.push(v.fieldType === OPAQUE_NEWDECIMAL && /^-?\d/.test(v.text) ? v.text : JSON.stringify(v.text));
      return;
    }
    default:
      out.push(String(readValue(r, type, p, depth)));
  }
}

function textContainer(r: JsonReader, type: number, base: number, depth: number, out: string[]): void {
  if (depth > 150) r.fail('nesting too deep', base);
  const buf = r.buf;
  const large = type === JsonType.LARGE_OBJECT || type === JsonType.LARGE_ARRAY;
  const isObject = type === JsonType.SMALL_OBJECT || type === JsonType.LARGE_OBJECT;
  const os = large ? 4 : 2;
  r.check(base, 2 * os, 'container header');
  const count = large ? buf.readUInt32LE(base) : buf.readUInt16LE(base);
  const size = large ? buf.readUInt32LE(base + 4) : buf.readUInt16LE(base + 2);
  r.check(base, size, 'container');
  const keyEntries = base + 2 * os;
  const valueEntries = isObject ? keyEntries + count * (os + 2) : keyEntries;
  const ve = 1 + os;
  r.check(valueEntries, count * ve, 'value entries');
  out.push(isObject ? '{' : '[');
  for (let i = 0; i < count; i++) {
    if (i > 0) out.push(', ');
    if (isObject) {
      const k = keyEntries + i * (os + 2);
      const koff = large ? buf.readUInt32LE(k) : buf.readUInt16LE(k);
      const klen = buf.readUInt16LE(k + os);
      r.check(base + koff, klen, 'key');
      out.push(JSON.stringify(buf.toString('utf8', base + koff, base + koff + klen)), ': ');
    }
    const e = valueEntries + i * ve;
    const t = buf[e];
    if (isInlined(t, large)) {
      textValue(r, t, e + 1, depth + 1, out);
    } else {
      const off = large ? buf.readUInt32LE(e + 1) : buf.readUInt16LE(e + 1);
      if (off >= size) r.fail('value offset beyond the container', e);
      textValue(r, t, base + off, depth + 1, out);
    }
  }
  out.push(isObject ? '}' : ']');
}

/** MySQL's text form of a JSON document; an empty document prints as `null`. */
export function jsonBinaryToText(buf: Buffer, start = 0, end = buf.length): string {
  if (end <= start) return 'null';
  const r = new JsonReader(buf, start, end);
  const out: string[] = [];
  textValue(r, buf[start], start + 1, 0, out);
  return out.join('');
}

/** The text form of a JS JSON value (same rules as jsonBinaryToText; numbers print as integers when integral). */
export function jsonValueToText(v: JsonValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
    case 'bigint':
      return String(v);
    case 'number':
      return Number.isInteger(v) && !Object.is(v, -0) ? String(v) : formatJsonDouble(v);
    case 'string':
      return JSON.stringify(v);
  }
  if (v instanceof JsonOpaque) {
    const t = v.text;
    return v.fieldType === OPAQUE_NEWDECIMAL && /^-?\d/.test(t) ? t : JSON.stringify(t);
  }
  if (Array.isArray(v)) return `[${v.map(jsonValueToText).join(', ')}]`;
  const keys = sortedKeys(v);
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonValueToText(v[k])}`).join(', ')}}`;
}

// ---------------------------------------------------------------- writing

/** MySQL orders object keys by length, then bytes (it binary-searches them). */
function sortedKeys(o: { [key: string]: JsonValue }): string[] {
  const keys = Object.keys(o);
  const bytes = new Map(keys.map((k) => [k, Buffer.from(k, 'utf8')]));
  return keys.sort((a, b) => {
    const x = bytes.get(a)!;
    const y = bytes.get(b)!;
    return x.length - y.length || Buffer.compare(x, y);
  });
}

function varlenBytes(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

interface Encoded {
  type: number;
  /** Value bytes (for inlinable scalars: the inline value, little-endian, unpadded). */
  bytes: Buffer;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function encodeInteger(v: bigint): Encoded {
  if (v >= -32768n && v <= 32767n) {
    const b = Buffer.alloc(2);
    b.writeInt16LE(Number(v));
    return { type: JsonType.INT16, bytes: b };
  }
  if (v >= -2147483648n && v <= 2147483647n) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(Number(v));
    return { type: JsonType.INT32, bytes: b };
  }
  const b = Buffer.alloc(8);
  if (v >= INT64_MIN && v <= INT64_MAX) {
    b.writeBigInt64LE(v);
    return { type: JsonType.INT64, bytes: b };
  }
  if (v > INT64_MAX && v <= UINT64_MAX) {
    b.writeBigUInt64LE(v);
    return { type: JsonType.UINT64, bytes: b };
  }
  throw new RangeError(`JSON integer ${v} does not fit 64 bits`);
}

function encodeAny(v: JsonValue): Encoded {
  if (v === null) return { type: JsonType.LITERAL, bytes: Buffer.from([0]) };
  switch (typeof v) {
    case 'boolean':
      return { type: JsonType.LITERAL, bytes: Buffer.from([v ? 1 : 2]) };
    case 'bigint':
      return encodeInteger(v);
    case 'number': {
      if (Number.isInteger(v) && !Object.is(v, -0) && Number.isSafeInteger(v)) return encodeInteger(BigInt(v));
      if (!Number.isFinite(v)) throw new RangeError(`JSON cannot hold ${v}`);
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v);
      return { type: JsonType.DOUBLE, bytes: b };
    }
    case 'string': {
      const s = Buffer.from(v, 'utf8');
      return { type: JsonType.STRING, bytes: Buffer.concat([varlenBytes(s.length), s]) };
    }
  }
  if (v instanceof JsonOpaque) {
    return {
      type: JsonType.OPAQUE,
      bytes: Buffer.concat([Buffer.from([v.fieldType]), varlenBytes(v.data.length), v.data]),
    };
  }
  if (Array.isArray(v)) return encodeContainer(null, v);
  if (typeof v === 'object') {
    const keys = sortedKeys(v);
    return encodeContainer(
      keys,
      keys.map((k) => v[k]),
    );
  }
  throw new RangeError(`not a JSON value: ${String(v)}`);
}

function encodeContainer(keys: string[] | null, values: JsonValue[]): Encoded {
  const enc = values.map(encodeAny);
  const keyBytes = keys?.map((k) => Buffer.from(k, 'utf8')) ?? [];
  for (const k of keyBytes) if (k.length > 0xffff) throw new RangeError('JSON key longer than 65535 bytes');
  const small = tryContainer(false, keyBytes, enc, keys !== null);
  if (small) return small;
  return tryContainer(true, keyBytes, enc, keys !== null)!;
}

function tryContainer(large: boolean, keys: Buffer[], values: Encoded[], isObject: boolean): Encoded | null {
  const os = large ? 4 : 2;
  const count = values.length;
  const limit = large ? 0xffffffff : 0xffff;
  const header = 2 * os + (isObject ? count * (os + 2) : 0) + count * (1 + os);
  let size = header;
  for (const k of keys) size += k.length;
  for (const v of values) if (!isInlined(v.type, large)) size += v.bytes.length;
  if (size > limit) {
    if (large) throw new RangeError('JSON document larger than 4 GiB');
    return null;
  }
  const out = Buffer.alloc(size);
  let p = 0;
  const put = (n: number) => {
    if (large) out.writeUInt32LE(n, p);
    else out.writeUInt16LE(n, p);
    p += os;
  };
  put(count);
  put(size);
  let data = header;
  if (isObject) {
    for (const k of keys) {
      put(data);
      out.writeUInt16LE(k.length, p);
      p += 2;
      data += k.length;
    }
  }
  for (const v of values) {
    out[p++] = v.type;
    if (isInlined(v.type, large)) {
      v.bytes.copy(out, p, 0, Math.min(v.bytes.length, os));
      p += os;
    } else {
      put(data);
      data += v.bytes.length;
    }
  }
  for (const k of keys) {
    k.copy(out, p);
    p += k.length;
  }
  for (const v of values) {
    if (isInlined(v.type, large)) continue;
    v.bytes.copy(out, p);
    p += v.bytes.length;
  }
  return {
    type: large
      ? isObject
        ? JsonType.LARGE_OBJECT
        : JsonType.LARGE_ARRAY
      : isObject
        ? JsonType.SMALL_OBJECT
        : JsonType.SMALL_ARRAY,
    bytes: out,
  };
}

/** Encode a JS value as a MySQL JSON document (type byte + value), choosing small containers when they fit. */
export function encodeJsonBinary(v: JsonValue): Buffer {
  const e = encodeAny(v);
  return Buffer.concat([Buffer.from([e.type]), e.bytes]);
}

// ---------------------------------------------------------------- column values

/**
 * The value of a JSON column: the stored document, read lazily. `toJSON()` (used by
 * JSON.stringify) and `toString()` give MySQL's text form.
 */
export class MysqlJson {
  private cachedText: string | undefined;
  constructor(
    /** The document as stored (type byte + value); empty for the empty document. */
    readonly binary: Buffer,
  ) {}

  static from(value: JsonValue): MysqlJson {
    return new MysqlJson(encodeJsonBinary(value));
  }

  /** The document as a JS value tree. */
  get value(): JsonValue {
    return decodeJsonBinary(this.binary);
  }

  get text(): string {
    if (this.cachedText === undefined) this.cachedText = jsonBinaryToText(this.binary);
    return this.cachedText;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}

// ---------------------------------------------------------------- partial updates (diff vectors)

export const JsonDiffOperation = { REPLACE: 0, INSERT: 1, REMOVE: 2 } as const;
const OP_NAMES = ['replace', 'insert', 'remove'] as const;
export type JsonDiffOpName = (typeof OP_NAMES)[number];

export interface JsonDiff {
  op: JsonDiffOpName;
  /** A MySQL JSON path ("$.a[2]"). */
  path: string;
  /** New value (absent for remove). */
  value?: MysqlJson;
}

/**
 * The after-image value of a JSON column that PARTIAL_UPDATE_ROWS logged as a list of
 * changes to the before value instead of a whole document.
 */
export class MysqlJsonDiff {
  constructor(readonly diffs: JsonDiff[]) {}

  toJSON(): { diff: { op: JsonDiffOpName; path: string; value?: string }[] } {
    return {
      diff: this.diffs.map((d) =>
        d.value === undefined ? { op: d.op, path: d.path } : { op: d.op, path: d.path, value: d.value.text },
      ),
    };
  }

  /** mysqlbinlog's rendering: JSON_REPLACE(JSON_INSERT(@N, path, value), …). */
  toSql(column: string): string {
    let expr = column;
    for (const d of this.diffs) {
      const path = `'${d.path.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
      if (d.op === 'remove') expr = `JSON_REMOVE(${expr}, ${path})`;
      else {
        const fn = d.op === 'replace' ? 'JSON_REPLACE' : /\]$/.test(d.path) ? 'JSON_ARRAY_INSERT' : 'JSON_INSERT';
        expr = `${fn}(${expr}, ${path}, CAST('${d.value!.text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}' AS JSON))`;
      }
    }
    return expr;
  }
}

function readPacked(buf: Buffer, p: number, end: number): [number, number] {
  if (p >= end) throw new EventDecodeError('JSON diff: truncated length');
  const b = buf[p];
  if (b < 0xfb) return [b, p + 1];
  if (b === 0xfc && p + 3 <= end) return [buf.readUInt16LE(p + 1), p + 3];
  if (b === 0xfd && p + 4 <= end) return [buf.readUIntLE(p + 1, 3), p + 4];
  if (b === 0xfe && p + 9 <= end) return [Number(buf.readBigUInt64LE(p + 1)), p + 9];
  throw new EventDecodeError(`JSON diff: bad length prefix 0x${b.toString(16)}`);
}

/** Decode a diff vector occupying [start, end). */
export function decodeJsonDiff(buf: Buffer, start: number, end: number): MysqlJsonDiff {
  const diffs: JsonDiff[] = [];
  let p = start;
  while (p < end) {
    const op = buf[p++];
    if (op > 2) throw new EventDecodeError(`JSON diff: unknown operation ${op}`);
    let pathLen: number;
    [pathLen, p] = readPacked(buf, p, end);
    if (p + pathLen > end) throw new EventDecodeError('JSON diff: truncated path');
    const path = buf.toString('utf8', p, p + pathLen);
    p += pathLen;
    if (op === JsonDiffOperation.REMOVE) {
      diffs.push({ op: 'remove', path });
      continue;
    }
    let valueLen: number;
    [valueLen, p] = readPacked(buf, p, end);
    if (p + valueLen > end) throw new EventDecodeError('JSON diff: truncated value');
    diffs.push({ op: OP_NAMES[op], path, value: new MysqlJson(Buffer.from(buf.subarray(p, p + valueLen))) });
    p += valueLen;
  }
  return new MysqlJsonDiff(diffs);
}

function packedBytes(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

/** Encode a diff vector (without the column's length prefix). */
export function encodeJsonDiff(diff: MysqlJsonDiff): Buffer {
  const parts: Buffer[] = [];
  for (const d of diff.diffs) {
    const op = JsonDiffOperation[d.op.toUpperCase() as keyof typeof JsonDiffOperation];
    const path = Buffer.from(d.path, 'utf8');
    parts.push(Buffer.from([op]), packedBytes(path.length), path);
    if (d.op !== 'remove') {
      if (!d.value) throw new RangeError(`JSON diff ${d.op} ${d.path} needs a value`);
      parts.push(packedBytes(d.value.binary.length), d.value.binary);
    }
  }
  return Buffer.concat(parts);
}
