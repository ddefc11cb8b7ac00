import { EventDecodeError } from './cursor.js';

/**
 * MySQL's binary DECIMAL (NEWDECIMAL) format, used by row images, USER_VAR events and
 * JSON opaque values. Digits are packed nine per 4-byte big-endian word; the leading
 * integer group and the trailing fraction group hold the leftover digits in 1–4 bytes.
 * The top bit of the first byte is the sign, stored inverted (1 = positive); a negative
 * number additionally has every byte complemented.
 */

/** Bytes used by a group of 0–9 decimal digits. */
const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;
const DIGITS_PER_WORD = 9;
const WORD_BYTES = 4;
/**
 * Column DECIMALs have precision ≤ 65 and scale ≤ 30, but a decimal value in a USER_VAR
 * event is written with precision = its integer + fraction digits, which can reach
 * MySQL's buffer limit of 9 words × 9 digits.
 */
const MAX_PRECISION = 81;

function checkShape(precision: number, scale: number): void {
  if (
    !Number.isInteger(precision) ||
    !Number.isInteger(scale) ||
    precision < 1 ||
    precision > MAX_PRECISION ||
    scale < 0 ||
    scale > precision
  ) {
    throw new EventDecodeError(`invalid DECIMAL(${precision},${scale})`);
  }
}

/** Bytes a binary DECIMAL(precision, scale) occupies. */
export function binaryDecimalSize(precision: number, scale: number): number {
  checkShape(precision, scale);
  const intg = precision - scale;
  return (
    Math.floor(intg / DIGITS_PER_WORD) * WORD_BYTES +
    DIG2BYTES[intg % DIGITS_PER_WORD] +
    Math.floor(scale / DIGITS_PER_WORD) * WORD_BYTES +
    DIG2BYTES[scale % DIGITS_PER_WORD]
  );
}

/**
 * Decodes a binary DECIMAL(precision, scale) starting at `offset` into its exact text
 * form, as MySQL prints it: `-12.340`, `0.05`, `7` (scale 0). Leading zeros of the
 * integer part are dropped (one `0` stays); the fraction always has `scale` digits; a
 * negative zero prints without its sign.
 */
export function decodeBinaryDecimal(buf: Buffer, precision: number, scale: number, offset = 0): string {
  const size = binaryDecimalSize(precision, scale);
  if (offset < 0 || offset + size > buf.length) {
    throw new EventDecodeError(
      `DECIMAL(${precision},${scale}) needs ${size} bytes at +${offset}, only ${Math.max(0, buf.length - offset)} left`,
    );
  }
  const negative = (buf[offset] & 0x80) === 0;
  const mask = negative ? 0xff : 0;
  let pos = offset;
  const byteAt = (i: number) => (buf[i] ^ mask ^ (i === offset ? 0x80 : 0)) & 0xff;
  /** A big-endian group of `n` bytes that must hold at most `digits` decimal digits. */
  const group = (n: number, digits: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + byteAt(pos++);
    if (v >= 10 ** digits) {
      throw new EventDecodeError(`DECIMAL(${precision},${scale}) digit group ${v} has more than ${digits} digits`);
    }
    return v;
  };

  const intg = precision - scale;
  const leadDigits = intg % DIGITS_PER_WORD;
  let intPart = '';
  if (leadDigits > 0) intPart += String(group(DIG2BYTES[leadDigits], leadDigits));
  for (let i = 0; i < Math.floor(intg / DIGITS_PER_WORD); i++) {
    intPart += String(group(WORD_BYTES, DIGITS_PER_WORD)).padStart(DIGITS_PER_WORD, '0');
  }
  intPart = intPart.replace(/^0+/, '') || '0';

  let frac = '';
  for (let i = 0; i < Math.floor(scale / DIGITS_PER_WORD); i++) {
    frac += String(group(WORD_BYTES, DIGITS_PER_WORD)).padStart(DIGITS_PER_WORD, '0');
  }
  const tailDigits = scale % DIGITS_PER_WORD;
  if (tailDigits > 0) frac += String(group(DIG2BYTES[tailDigits], tailDigits)).padStart(tailDigits, '0');

  const isZero = intPart === '0' && !/[1-9]/.test(frac);
  const text = frac ? `${intPart}.${frac}` : intPart;
  return negative && !isZero ? `-${text}` : text;
}
