/**
 * Collation ids (as found in TABLE_MAP optional metadata) → character sets, and the text
 * codecs the row decoder can apply losslessly in both directions.
 *
 * Ids are the union of MariaDB 10.11's and MySQL 8.x's tables; the two servers never give
 * one id two different character sets.
 */
import { isUtf8 } from 'node:buffer';

const CHARSET_IDS: Record<string, number[]> = {
  armscii8: [32, 64, 1056, 1088],
  ascii: [11, 65, 1035, 1089],
  big5: [1, 84, 1025, 1108],
  binary: [63],
  cp1250: [26, 34, 44, 66, 99, 1050, 1090],
  cp1251: [14, 23, 50, 51, 52, 1074, 1075],
  cp1256: [57, 67, 1081, 1091],
  cp1257: [29, 58, 59, 1082, 1083],
  cp850: [4, 80, 1028, 1104],
  cp852: [40, 81, 1064, 1105],
  cp866: [36, 68, 1060, 1092],
  cp932: [95, 96, 1119, 1120],
  dec8: [3, 69, 1027, 1093],
  eucjpms: [97, 98, 1121, 1122],
  euckr: [19, 85, 1043, 1109],
  gb18030: [248, 249, 250],
  gb2312: [24, 86, 1048, 1110],
  gbk: [28, 87, 1052, 1111],
  geostd8: [92, 93, 1116, 1117],
  greek: [25, 70, 1049, 1094],
  hebrew: [16, 71, 1040, 1095],
  hp8: [6, 72, 1030, 1096],
  keybcs2: [37, 73, 1061, 1097],
  koi8r: [7, 74, 1031, 1098],
  koi8u: [22, 75, 1046, 1099],
  latin1: [5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071],
  latin2: [2, 9, 21, 27, 77, 1033, 1101],
  latin5: [30, 78, 1054, 1102],
  latin7: [20, 41, 42, 79, 1065, 1103],
  macce: [38, 43, 1062, 1067],
  macroman: [39, 53, 1063, 1077],
  sjis: [13, 88, 1037, 1112],
  swe7: [10, 82, 1034, 1106],
  tis620: [18, 89, 1042, 1113],
  ucs2: [35, 90, ...range(128, 151), 159, 640, 641, 642, 1059, 1114, 1152, 1174],
  ujis: [12, 91, 1036, 1115],
  utf16: [54, 55, ...range(101, 124), 672, 673, 674, 1078, 1079, 1125, 1147],
  utf16le: [56, 62, 1080, 1086],
  utf32: [60, 61, ...range(160, 183), 736, 737, 738, 1084, 1085, 1184, 1206],
  utf8mb3: [33, 76, 83, ...range(192, 215), 223, 576, 577, 578, 1057, 1107, 1216, 1238],
  // 255–323: MySQL 8 utf8mb4_0900_* collations.
  utf8mb4: [45, 46, ...range(224, 247), ...range(255, 323), 608, 609, 610, 1069, 1070, 1248, 1270],
};

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

const BY_ID = new Map<number, string>();
for (const [name, ids] of Object.entries(CHARSET_IDS)) for (const id of ids) BY_ID.set(id, name);

export const BINARY_COLLATION = 63;

/** Character set of a collation id, or undefined when the id is not in our table. */
export function charsetOfCollation(id: number): string | undefined {
  return BY_ID.get(id);
}

/**
 * How a column's bytes become a JS value:
 * - 'utf8' (utf8mb3/utf8mb4/ascii), 'latin1' (MySQL latin1 = cp1252), 'ucs2'/'utf16' (big-endian),
 *   'utf16le', 'utf32' (big-endian): decoded to a string (a Buffer if the bytes are not valid);
 * - 'binary': a Buffer;
 * - 'guess': the charset is unknown (no optional metadata): a string when the bytes are valid
 *   UTF-8, else a Buffer;
 * - 'raw': a charset we cannot decode and re-encode losslessly (gbk, sjis, cp1251, …): a Buffer.
 */
export type TextCodec = 'utf8' | 'latin1' | 'ucs2' | 'utf16' | 'utf16le' | 'utf32' | 'binary' | 'guess' | 'raw';

export function codecOfCollation(id: number | null | undefined): TextCodec {
  if (id === null || id === undefined) return 'guess';
  const cs = BY_ID.get(id);
  switch (cs) {
    case undefined:
      return 'guess';
    case 'binary':
      return 'binary';
    case 'utf8mb3':
    case 'utf8mb4':
    case 'ascii':
      return 'utf8';
    case 'latin1':
      return 'latin1';
    case 'ucs2':
    case 'utf16':
    case 'utf16le':
    case 'utf32':
      return cs;
    default:
      return 'raw';
  }
}

// cp1252 bytes 0x80–0x9F; the five undefined ones map to the same code point (as MySQL does).
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];
const CP1252_DECODE = new Map<string, string>();
const CP1252_ENCODE = new Map<string, string>();
for (let i = 0; i < 32; i++) {
  const from = String.fromCharCode(0x80 + i);
  const to = String.fromCharCode(CP1252_HIGH[i]);
  CP1252_DECODE.set(from, to);
  CP1252_ENCODE.set(to, from);
}
const C1_RE = /[\x80-\x9f]/g;
const C1_TEST = /[\x80-\x9f]/;
const CP1252_SPECIAL_RE =
  /[\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]/g;

function swap16(b: Buffer): Buffer {
  const c = Buffer.from(b);
  if (c.length % 2 === 0) c.swap16();
  return c;
}

/** Decode bytes [s, e) of `buf` with `codec`; falls back to a Buffer (a view, not a copy) when the bytes are not text. */
export function decodeText(buf: Buffer, s: number, e: number, codec: TextCodec): string | Buffer {
  switch (codec) {
    case 'utf8':
    case 'guess': {
      const str = buf.toString('utf8', s, e);
      if (str.includes('\ufffd') && !isUtf8(buf.subarray(s, e))) return buf.subarray(s, e);
      return str;
    }
    case 'latin1': {
      const str = buf.toString('latin1', s, e);
      return C1_TEST.test(str) ? str.replace(C1_RE, (c) => CP1252_DECODE.get(c)!) : str;
    }
    case 'utf16le':
      if ((e - s) % 2 !== 0) return buf.subarray(s, e);
      return checkedUtf16(buf.subarray(s, e), buf.toString('utf16le', s, e), 'utf16le');
    case 'ucs2':
    case 'utf16': {
      if ((e - s) % 2 !== 0) return buf.subarray(s, e);
      return checkedUtf16(buf.subarray(s, e), swap16(buf.subarray(s, e)).toString('utf16le'), codec);
    }
    case 'utf32': {
      if ((e - s) % 4 !== 0) return buf.subarray(s, e);
      let str = '';
      for (let p = s; p < e; p += 4) {
        const cp = buf.readUInt32BE(p);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return buf.subarray(s, e);
        str += String.fromCodePoint(cp);
      }
      return str;
    }
    default:
      return buf.subarray(s, e);
  }
}

/** Keep the string only if encoding it back gives the same bytes (lone surrogates do not). */
function checkedUtf16(bytes: Buffer, str: string, codec: TextCodec): string | Buffer {
  return encodeText(str, codec).equals(bytes) ? str : bytes;
}

/** The inverse of decodeText for string values. Throws RangeError for characters the charset lacks. */
export function encodeText(value: string, codec: TextCodec): Buffer {
  switch (codec) {
    case 'latin1': {
      const mapped = value.replace(CP1252_SPECIAL_RE, (c) => CP1252_ENCODE.get(c)!);
      if (/[^\x00-\xff]/.test(mapped))
        throw new RangeError(`text not representable in latin1: ${JSON.stringify(value)}`);
      return Buffer.from(mapped, 'latin1');
    }
    case 'utf16le':
      return Buffer.from(value, 'utf16le');
    case 'ucs2':
    case 'utf16':
      return Buffer.from(value, 'utf16le').swap16();
    case 'utf32': {
      const cps = Array.from(value, (c) => c.codePointAt(0)!);
      const b = Buffer.alloc(cps.length * 4);
      for (let i = 0; i < cps.length; i++) b.writeUInt32BE(cps[i], i * 4);
      return b;
    }
    default:
      return Buffer.from(value, 'utf8');
  }
}
