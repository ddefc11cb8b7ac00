/**
 * Temporal column encodings of row images, both directions. Values are strings, so that
 * zero dates ("0000-00-00"), out-of-range times and every fractional precision survive:
 *
 *   DATE, NEWDATE            "YYYY-MM-DD"
 *   TIME, TIME2              "[-]HH:MM:SS[.ffffff]"   (hours may exceed 24, up to 838 or more)
 *   DATETIME, DATETIME2      "YYYY-MM-DD HH:MM:SS[.ffffff]"
 *   TIMESTAMP, TIMESTAMP2    "<seconds since the epoch, UTC>[.ffffff]"  (as mysqlbinlog prints it)
 *
 * The fraction has exactly `fsp` digits (0 = no dot). Old TIME/DATETIME/TIMESTAMP (types
 * 11/12/7, pre-5.6.4 tables) have no fraction.
 */
import { EventDecodeError } from '../cursor.js';

const TWO24 = 0x1000000;
const TIMEF_INT_OFS = 0x800000;
const TIMEF_OFS = 0x800000000000;
const DATETIMEF_INT_OFS = 0x8000000000;

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad4 = (n: number): string => (n >= 1000 ? String(n) : String(n).padStart(4, '0'));

/** Microseconds → `fsp` digits with a leading dot (empty for fsp 0). */
export function fractionText(micros: number, fsp: number): string {
  if (fsp <= 0) return '';
  return `.${String(micros).padStart(6, '0').slice(0, fsp)}`;
}

/** Bytes of the fractional part of TIME2/DATETIME2/TIMESTAMP2 for `fsp`. */
export function fractionBytes(fsp: number): number {
  return (fsp + 1) >> 1;
}

function fractionMicros(text: string | undefined, what: string, value: string): number {
  if (text === undefined || text === '') return 0;
  if (text.length > 6) throw new RangeError(`${what} ${JSON.stringify(value)}: more than 6 fraction digits`);
  return Number(text.padEnd(6, '0'));
}

// ---------------------------------------------------------------- DATE (10), NEWDATE (14)

/** 3 bytes LE: day (5 bits) | month (4 bits) | year. */
export function decodeDate(buf: Buffer, p: number): string {
  const v = buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16);
  return `${pad4(v >>> 9)}-${pad2((v >>> 5) & 15)}-${pad2(v & 31)}`;
}

const DATE_RE = /^(\d{1,4})-(\d{1,2})-(\d{1,2})$/;

export function encodeDate(value: string, out: Buffer, p: number): void {
  const m = DATE_RE.exec(value);
  if (!m) throw new RangeError(`not a DATE: ${JSON.stringify(value)}`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo > 15 || d > 31) throw new RangeError(`DATE out of range: ${value}`);
  const v = (y << 9) | (mo << 5) | d;
  out[p] = v & 0xff;
  out[p + 1] = (v >> 8) & 0xff;
  out[p + 2] = (v >> 16) & 0xff;
}

// ---------------------------------------------------------------- old TIME (11)

/** Signed 3-byte LE integer HHMMSS (MySQL < 5.6.4, MariaDB with mysql56_temporal_format=OFF). */
export function decodeTimeOld(buf: Buffer, p: number): string {
  const raw = buf.readIntLE(p, 3);
  const v = raw < 0 ? -raw : raw;
  const h = Math.floor(v / 10000);
  return `${raw < 0 ? '-' : ''}${pad2(h)}:${pad2(Math.floor(v / 100) % 100)}:${pad2(v % 100)}`;
}

const TIME_RE = /^(-)?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d*))?$/;

export function encodeTimeOld(value: string, out: Buffer, p: number): void {
  const m = TIME_RE.exec(value);
  if (!m || (m[5] !== undefined && /[^0]/.test(m[5])))
    throw new RangeError(`not a TIME without fraction: ${JSON.stringify(value)}`);
  const v = Number(m[2]) * 10000 + Number(m[3]) * 100 + Number(m[4]);
  out.writeIntLE(m[1] ? -v : v, p, 3);
}

// ---------------------------------------------------------------- old DATETIME (12)

/** 8 bytes LE: the decimal number YYYYMMDDhhmmss. */
export function decodeDatetimeOld(buf: Buffer, p: number): string {
  const v = Number(buf.readBigUInt64LE(p));
  const d = Math.floor(v / 1000000);
  const t = v % 1000000;
  return `${pad4(Math.floor(d / 10000))}-${pad2(Math.floor(d / 100) % 100)}-${pad2(d % 100)} ${pad2(Math.floor(t / 10000))}:${pad2(Math.floor(t / 100) % 100)}:${pad2(t % 100)}`;
}

const DATETIME_RE = /^(\d{1,4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d*))?$/;

export function encodeDatetimeOld(value: string, out: Buffer, p: number): void {
  const m = DATETIME_RE.exec(value);
  if (!m || (m[7] !== undefined && /[^0]/.test(m[7])))
    throw new RangeError(`not a DATETIME without fraction: ${JSON.stringify(value)}`);
  const v =
    BigInt(Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3])) * 1000000n +
    BigInt(Number(m[4]) * 10000 + Number(m[5]) * 100 + Number(m[6]));
  out.writeBigUInt64LE(v, p);
}

// ---------------------------------------------------------------- old TIMESTAMP (7)

export function decodeTimestampOld(buf: Buffer, p: number): string {
  return String(buf.readUInt32LE(p));
}

const TIMESTAMP_RE = /^(\d+)(?:\.(\d*))?$/;

export function encodeTimestampOld(value: string, out: Buffer, p: number): void {
  const m = TIMESTAMP_RE.exec(value);
  if (!m || (m[2] !== undefined && /[^0]/.test(m[2])))
    throw new RangeError(`not a TIMESTAMP without fraction: ${JSON.stringify(value)}`);
  out.writeUInt32LE(Number(m[1]), p);
}

// ---------------------------------------------------------------- fractions of the *2 types

/** Fraction of TIMESTAMP2/DATETIME2 (big-endian, unsigned for valid values) in microseconds. */
function readFraction(buf: Buffer, p: number, fsp: number): number {
  switch (fsp) {
    case 0:
      return 0;
    case 1:
    case 2:
      return buf[p] * 10000;
    case 3:
    case 4:
      return buf.readUInt16BE(p) * 100;
    default:
      return buf.readUIntBE(p, 3);
  }
}

function writeFraction(micros: number, fsp: number, out: Buffer, p: number): void {
  switch (fsp) {
    case 0:
      return;
    case 1:
    case 2:
      out[p] = Math.trunc(micros / 10000);
      return;
    case 3:
    case 4:
      out.writeUInt16BE(Math.trunc(micros / 100), p);
      return;
    default:
      out.writeUIntBE(micros, p, 3);
  }
}

function checkFsp(fsp: number): void {
  if (!(fsp >= 0 && fsp <= 6)) throw new EventDecodeError(`fractional-seconds precision ${fsp} is not 0..6`);
}

/** Keep only what `fsp` digits can hold (the server stores exactly that). */
function truncateMicros(micros: number, fsp: number): number {
  const unit = 10 ** (6 - fsp);
  return Math.floor(micros / unit) * unit;
}

// ---------------------------------------------------------------- TIMESTAMP2 (17)

export function timestamp2Size(fsp: number): number {
  return 4 + fractionBytes(fsp);
}

export function decodeTimestamp2(buf: Buffer, p: number, fsp: number): string {
  return String(buf.readUInt32BE(p)) + fractionText(readFraction(buf, p + 4, fsp), fsp);
}

export function encodeTimestamp2(value: string, fsp: number, out: Buffer, p: number): void {
  checkFsp(fsp);
  const m = TIMESTAMP_RE.exec(value);
  if (!m) throw new RangeError(`not a TIMESTAMP (seconds[.fraction]): ${JSON.stringify(value)}`);
  out.writeUInt32BE(Number(m[1]), p);
  writeFraction(truncateMicros(fractionMicros(m[2], 'TIMESTAMP', value), fsp), fsp, out, p + 4);
}

// ---------------------------------------------------------------- DATETIME2 (18)

export function datetime2Size(fsp: number): number {
  return 5 + fractionBytes(fsp);
}

/**
 * 5 bytes BE minus 0x8000000000: sign(1) | year*13+month (17) | day (5) | hour (5) |
 * minute (6) | second (6); then the fraction.
 */
export function decodeDatetime2(buf: Buffer, p: number, fsp: number): string {
  let v = buf.readUIntBE(p, 5) - DATETIMEF_INT_OFS;
  if (v < 0) v = -v; // never written by a server; keep the digits readable
  const ymd = Math.floor(v / 131072);
  const hms = v % 131072;
  const ym = ymd >>> 5;
  return (
    `${pad4(Math.floor(ym / 13))}-${pad2(ym % 13)}-${pad2(ymd & 31)} ` +
    `${pad2(hms >>> 12)}:${pad2((hms >>> 6) & 63)}:${pad2(hms & 63)}` +
    fractionText(readFraction(buf, p + 5, fsp), fsp)
  );
}

export function encodeDatetime2(value: string, fsp: number, out: Buffer, p: number): void {
  checkFsp(fsp);
  const m = DATETIME_RE.exec(value);
  if (!m) throw new RangeError(`not a DATETIME: ${JSON.stringify(value)}`);
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (mo > 12 || d > 31 || h > 31 || mi > 63 || s > 63) throw new RangeError(`DATETIME out of range: ${value}`);
  const ym = y * 13 + mo;
  const v = (ym * 32 + d) * 131072 + ((h << 12) | (mi << 6) | s);
  out.writeUIntBE(v + DATETIMEF_INT_OFS, p, 5);
  writeFraction(truncateMicros(fractionMicros(m[7], 'DATETIME', value), fsp), fsp, out, p + 5);
}

// ---------------------------------------------------------------- TIME2 (19)

export function time2Size(fsp: number): number {
  return 3 + fractionBytes(fsp);
}

/**
 * TIME2 as MySQL's packed value (int part << 24 | microseconds, negative for negative
 * times). fsp 0–4: 3-byte BE int part + 0/1/2 fraction bytes, where a negative value with
 * a non-zero fraction is stored as the two's complement of int + fraction; fsp 5–6: one
 * 6-byte BE number.
 */
function time2Packed(buf: Buffer, p: number, fsp: number): number {
  switch (fsp) {
    case 0:
      return (buf.readUIntBE(p, 3) - TIMEF_INT_OFS) * TWO24;
    case 1:
    case 2: {
      let intpart = buf.readUIntBE(p, 3) - TIMEF_INT_OFS;
      let frac = buf[p + 3];
      if (intpart < 0 && frac !== 0) {
        intpart++;
        frac -= 0x100;
      }
      return intpart * TWO24 + frac * 10000;
    }
    case 3:
    case 4: {
      let intpart = buf.readUIntBE(p, 3) - TIMEF_INT_OFS;
      let frac = buf.readUInt16BE(p + 3);
      if (intpart < 0 && frac !== 0) {
        intpart++;
        frac -= 0x10000;
      }
      return intpart * TWO24 + frac * 100;
    }
    default:
      return buf.readUIntBE(p, 6) - TIMEF_OFS;
  }
}

export function decodeTime2(buf: Buffer, p: number, fsp: number): string {
  const packed = time2Packed(buf, p, fsp);
  const abs = packed < 0 ? -packed : packed;
  const hms = Math.floor(abs / TWO24);
  const frac = abs % TWO24;
  return (
    `${packed < 0 ? '-' : ''}${pad2((hms >>> 12) & 1023)}:${pad2((hms >>> 6) & 63)}:${pad2(hms & 63)}` +
    fractionText(frac, fsp)
  );
}

export function encodeTime2(value: string, fsp: number, out: Buffer, p: number): void {
  checkFsp(fsp);
  const m = TIME_RE.exec(value);
  if (!m) throw new RangeError(`not a TIME: ${JSON.stringify(value)}`);
  const h = Number(m[2]);
  const mi = Number(m[3]);
  const s = Number(m[4]);
  if (h > 1023 || mi > 63 || s > 63) throw new RangeError(`TIME out of range: ${value}`);
  const micros = truncateMicros(fractionMicros(m[5], 'TIME', value), fsp);
  let packed = ((h << 12) | (mi << 6) | s) * TWO24 + micros;
  if (m[1]) packed = -packed;
  // MY_PACKED_TIME_GET_INT_PART is an arithmetic shift (floor); GET_FRAC_PART a C remainder.
  const intpart = Math.floor(packed / TWO24);
  const fracpart = packed % TWO24;
  switch (fsp) {
    case 0:
      out.writeUIntBE(intpart + TIMEF_INT_OFS, p, 3);
      return;
    case 1:
    case 2:
      out.writeUIntBE(intpart + TIMEF_INT_OFS, p, 3);
      out[p + 3] = Math.trunc(fracpart / 10000) & 0xff;
      return;
    case 3:
    case 4:
      out.writeUIntBE(intpart + TIMEF_INT_OFS, p, 3);
      out.writeUInt16BE(Math.trunc(fracpart / 100) & 0xffff, p + 3);
      return;
    default:
      out.writeUIntBE(packed + TIMEF_OFS, p, 6);
  }
}

// ---------------------------------------------------------------- packed temporals inside JSON

/**
 * MySQL's in-memory packed temporal (TIME_to_longlong_*_packed), as stored in opaque
 * JSON scalars: int part << 24 | microseconds, negative for negative times.
 */
export function packedTemporalText(packed: bigint, kind: 'date' | 'time' | 'datetime'): string {
  const neg = packed < 0n;
  const abs = neg ? -packed : packed;
  const intpart = Number(abs >> 24n);
  const frac = Number(abs & 0xffffffn);
  if (kind === 'time') {
    const hms = intpart;
    return `${neg ? '-' : ''}${pad2((hms >>> 12) & 1023)}:${pad2((hms >>> 6) & 63)}:${pad2(hms & 63)}${fractionText(frac, 6)}`;
  }
  const ymd = Math.floor(intpart / 131072);
  const hms = intpart % 131072;
  const ym = ymd >>> 5;
  const date = `${pad4(Math.floor(ym / 13))}-${pad2(ym % 13)}-${pad2(ymd & 31)}`;
  if (kind === 'date') return date;
  return `${date} ${pad2(hms >>> 12)}:${pad2((hms >>> 6) & 63)}:${pad2(hms & 63)}${fractionText(frac, 6)}`;
}

/** The inverse of packedTemporalText (for the JSON encoder). */
export function packTemporalText(value: string, kind: 'date' | 'time' | 'datetime'): bigint {
  if (kind === 'time') {
    const m = TIME_RE.exec(value);
    if (!m) throw new RangeError(`not a TIME: ${JSON.stringify(value)}`);
    const hms = (Number(m[2]) << 12) | (Number(m[3]) << 6) | Number(m[4]);
    const v = (BigInt(hms) << 24n) | BigInt(fractionMicros(m[5], 'TIME', value));
    return m[1] ? -v : v;
  }
  const m = kind === 'date' ? DATE_RE.exec(value) : DATETIME_RE.exec(value);
  if (!m) throw new RangeError(`not a ${kind.toUpperCase()}: ${JSON.stringify(value)}`);
  const ymd = ((Number(m[1]) * 13 + Number(m[2])) << 5) | Number(m[3]);
  const hms = kind === 'date' ? 0 : (Number(m[4]) << 12) | (Number(m[5]) << 6) | Number(m[6]);
  const frac = kind === 'date' ? 0 : fractionMicros(m[7], 'DATETIME', value);
  return (((BigInt(ymd) << 17n) | BigInt(hms)) << 24n) | BigInt(frac);
}

// ---------------------------------------------------------------- MariaDB "hires" temporals

/*
 * MariaDB 5.3–10.1.1 tables (and later ones with mysql56_temporal_format=OFF) store
 * TIME/DATETIME/TIMESTAMP with fractional seconds in their own big-endian formats under
 * the old type codes 11/12/7, and the TABLE_MAP carries no precision for them: decoding
 * needs the fsp from the table definition (see applyColumnOverrides). With fsp 0 the
 * ordinary old formats apply.
 */
const TIME_HIRES_BYTES = [3, 4, 4, 5, 5, 5, 6];
const DATETIME_HIRES_BYTES = [5, 6, 6, 7, 7, 7, 8];
const TIME_MAX_SECONDS_PLUS_1 = 3020400; // 838:59:59 + 1s

export function timeHiresSize(fsp: number): number {
  return TIME_HIRES_BYTES[fsp];
}
export function datetimeHiresSize(fsp: number): number {
  return DATETIME_HIRES_BYTES[fsp];
}
export function timestampHiresSize(fsp: number): number {
  return 4 + fractionBytes(fsp);
}

function readBigUIntBE(buf: Buffer, p: number, n: number): bigint {
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[p + i]);
  return v;
}

function writeBigUIntBE(v: bigint, out: Buffer, p: number, n: number): void {
  for (let i = n - 1; i >= 0; i--, v >>= 8n) out[p + i] = Number(v & 0xffn);
}

export function decodeTimestampHires(buf: Buffer, p: number, fsp: number): string {
  const frac = fsp === 0 ? 0 : buf.readUIntBE(p + 4, fractionBytes(fsp)) * 10 ** (6 - fsp);
  return String(buf.readUInt32BE(p)) + fractionText(frac, fsp);
}

export function encodeTimestampHires(value: string, fsp: number, out: Buffer, p: number): void {
  const m = TIMESTAMP_RE.exec(value);
  if (!m) throw new RangeError(`not a TIMESTAMP (seconds[.fraction]): ${JSON.stringify(value)}`);
  out.writeUInt32BE(Number(m[1]), p);
  if (fsp > 0)
    out.writeUIntBE(Math.floor(fractionMicros(m[2], 'TIMESTAMP', value) / 10 ** (6 - fsp)), p + 4, fractionBytes(fsp));
}

export function decodeDatetimeHires(buf: Buffer, p: number, fsp: number): string {
  let t = readBigUIntBE(buf, p, DATETIME_HIRES_BYTES[fsp]) * 10n ** BigInt(6 - fsp);
  const usec = Number(t % 1000000n);
  t /= 1000000n;
  const sec = Number(t % 60n);
  t /= 60n;
  const min = Number(t % 60n);
  t /= 60n;
  const hour = Number(t % 24n);
  t /= 24n;
  const day = Number(t % 32n);
  t /= 32n;
  const month = Number(t % 13n);
  const year = Number(t / 13n);
  return `${pad4(year)}-${pad2(month)}-${pad2(day)} ${pad2(hour)}:${pad2(min)}:${pad2(sec)}${fractionText(usec, fsp)}`;
}

export function encodeDatetimeHires(value: string, fsp: number, out: Buffer, p: number): void {
  const m = DATETIME_RE.exec(value);
  if (!m) throw new RangeError(`not a DATETIME: ${JSON.stringify(value)}`);
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(BigInt);
  const usec = BigInt(fractionMicros(m[7], 'DATETIME', value));
  const packed = (((((y * 13n + mo) * 32n + d) * 24n + h) * 60n + mi) * 60n + s) * 1000000n + usec;
  writeBigUIntBE(packed / 10n ** BigInt(6 - fsp), out, p, DATETIME_HIRES_BYTES[fsp]);
}

export function decodeTimeHires(buf: Buffer, p: number, fsp: number): string {
  const scale = 10 ** (6 - fsp);
  const packed = buf.readUIntBE(p, TIME_HIRES_BYTES[fsp]) - TIME_MAX_SECONDS_PLUS_1 * 10 ** fsp;
  const total = Math.abs(packed) * scale;
  const usec = total % 1000000;
  const t = Math.floor(total / 1000000);
  const sign = packed < 0 ? '-' : '';
  return `${sign}${pad2(Math.floor(t / 3600))}:${pad2(Math.floor(t / 60) % 60)}:${pad2(t % 60)}${fractionText(usec, fsp)}`;
}

export function encodeTimeHires(value: string, fsp: number, out: Buffer, p: number): void {
  const m = TIME_RE.exec(value);
  if (!m) throw new RangeError(`not a TIME: ${JSON.stringify(value)}`);
  const total =
    (Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4])) * 1000000 + fractionMicros(m[5], 'TIME', value);
  const shifted = Math.floor(total / 10 ** (6 - fsp));
  out.writeUIntBE((m[1] ? -shifted : shifted) + TIME_MAX_SECONDS_PLUS_1 * 10 ** fsp, p, TIME_HIRES_BYTES[fsp]);
}
