/**
 * MySQL's binary NEWDECIMAL format (decimal2bin / bin2decimal), both directions.
 *
 * Digits are grouped by 9 into 4-byte big-endian words; the integer part starts with a
 * partial group of (precision - scale) % 9 digits, the fraction ends with a partial group
 * of scale % 9 digits. The top bit of the first byte is the sign, stored inverted
 * (1 = positive); a negative number has every byte additionally XORed with 0xFF.
 *
 * Values are exact decimal strings: "-12.50", "0.000", "7". A negative zero ("-0.00",
 * which the format can represent) decodes as such and encodes back to the same bytes.
 */
import { EventDecodeError } from '../cursor.js';

const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** Bytes a DECIMAL(precision, scale) value takes in a row image. */
export function decimalBinarySize(precision: number, scale: number): number {
  const intg = precision - scale;
  return ((intg / 9) | 0) * 4 + DIG2BYTES[intg % 9] + ((scale / 9) | 0) * 4 + DIG2BYTES[scale % 9];
}

function checkShape(precision: number, scale: number): void {
  if (!(precision >= 1 && precision <= 65 && scale >= 0 && scale <= 30 && scale <= precision)) {
    throw new EventDecodeError(`invalid DECIMAL(${precision},${scale})`);
  }
}

/** Read `n` bytes big-endian at `p` (bytes XORed with `mask`; the first byte of the value also has its top bit flipped). */
function group(buf: Buffer, p: number, n: number, mask: number, first: boolean): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    let b = buf[p + i] ^ mask;
    if (first && i === 0) b ^= 0x80;
    v = v * 256 + b;
  }
  return v;
}

/**
 * Decode DECIMAL(precision, scale) at `pos`. Throws EventDecodeError when a digit group
 * holds more digits than it may (a corrupt value).
 */
export function decodeDecimal(buf: Buffer, pos: number, precision: number, scale: number): string {
  checkShape(precision, scale);
  const intg = precision - scale;
  const intg0 = (intg / 9) | 0;
  const intg0x = intg % 9;
  const frac0 = (scale / 9) | 0;
  const frac0x = scale % 9;
  const size = decimalBinarySize(precision, scale);
  if (pos + size > buf.length) throw new EventDecodeError(`DECIMAL(${precision},${scale}) needs ${size} bytes`);
  const negative = (buf[pos] & 0x80) === 0;
  const mask = negative ? 0xff : 0;
  let p = pos;
  let first = true;
  let intText = '';
  if (intg0x > 0) {
    const n = DIG2BYTES[intg0x];
    const v = group(buf, p, n, mask, first);
    if (v >= POW10[intg0x]) throw new EventDecodeError(`DECIMAL(${precision},${scale}) digit group out of range`);
    if (v !== 0) intText = String(v);
    p += n;
    first = false;
  }
  for (let i = 0; i < intg0; i++) {
    const v = group(buf, p, 4, mask, first);
    if (v >= 1e9) throw new EventDecodeError(`DECIMAL(${precision},${scale}) digit group out of range`);
    intText = intText === '' ? (v === 0 ? '' : String(v)) : intText + String(v).padStart(9, '0');
    p += 4;
    first = false;
  }
  let fracText = '';
  for (let i = 0; i < frac0; i++) {
    const v = group(buf, p, 4, mask, first);
    if (v >= 1e9) throw new EventDecodeError(`DECIMAL(${precision},${scale}) digit group out of range`);
    fracText += String(v).padStart(9, '0');
    p += 4;
    first = false;
  }
  if (frac0x > 0) {
    const n = DIG2BYTES[frac0x];
    const v = group(buf, p, n, mask, first);
    if (v >= POW10[frac0x]) throw new EventDecodeError(`DECIMAL(${precision},${scale}) digit group out of range`);
    fracText += String(v).padStart(frac0x, '0');
  }
  const text = (intText === '' ? '0' : intText) + (scale > 0 ? `.${fracText}` : '');
  return negative ? `-${text}` : text;
}

const DECIMAL_RE = /^([+-])?(\d*)(?:\.(\d*))?$/;

/** Write `n` bytes big-endian of `v` at `p`. */
function putGroup(out: Buffer, p: number, n: number, v: number): void {
  for (let i = n - 1; i >= 0; i--) {
    out[p + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

/**
 * Encode a decimal string as DECIMAL(precision, scale). Fraction digits beyond `scale`
 * are rejected (no silent rounding); missing ones are zero. Throws RangeError when the
 * value does not fit.
 */
export function encodeDecimal(value: string, precision: number, scale: number): Buffer {
  checkShape(precision, scale);
  const m = DECIMAL_RE.exec(value.trim());
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
    throw new RangeError(`not a decimal number: ${JSON.stringify(value)}`);
  }
  const negative = m[1] === '-';
  const intDigits = m[2].replace(/^0+/, '');
  let fracDigits = m[3] ?? '';
  const intg = precision - scale;
  if (intDigits.length > intg) throw new RangeError(`${value} does not fit DECIMAL(${precision},${scale})`);
  if (fracDigits.length > scale) {
    if (/[^0]/.test(fracDigits.slice(scale))) throw new RangeError(`${value} has more than ${scale} fraction digits`);
    fracDigits = fracDigits.slice(0, scale);
  }
  fracDigits = fracDigits.padEnd(scale, '0');
  const intPadded = intDigits.padStart(intg, '0');
  const intg0 = (intg / 9) | 0;
  const intg0x = intg % 9;
  const frac0 = (scale / 9) | 0;
  const frac0x = scale % 9;
  const out = Buffer.alloc(decimalBinarySize(precision, scale));
  let p = 0;
  let d = 0;
  if (intg0x > 0) {
    putGroup(out, p, DIG2BYTES[intg0x], Number(intPadded.slice(0, intg0x)));
    p += DIG2BYTES[intg0x];
    d = intg0x;
  }
  for (let i = 0; i < intg0; i++, d += 9, p += 4) putGroup(out, p, 4, Number(intPadded.slice(d, d + 9)));
  d = 0;
  for (let i = 0; i < frac0; i++, d += 9, p += 4) putGroup(out, p, 4, Number(fracDigits.slice(d, d + 9)));
  if (frac0x > 0) putGroup(out, p, DIG2BYTES[frac0x], Number(fracDigits.slice(d, d + frac0x)));
  if (negative) for (let i = 0; i < out.length; i++) out[i] ^= 0xff;
  out[0] ^= 0x80;
  return out;
}
