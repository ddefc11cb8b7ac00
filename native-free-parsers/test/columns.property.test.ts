/**
 * Property tests of the row-image codecs: for every column type, encode → decode gives the
 * value back, for random values and the edges (min/max, zero dates, negative zero
 * decimals, fsp 0–6, empty and 65535-byte strings, NULLs). Whole row images go through
 * the real rows-event decoder (null bitmaps, MINIMAL present bitmaps, several rows).
 */
import { deflateRawSync, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cursor, writePacked } from '../src/cursor.js';
import type { DecodeContext } from '../src/decoders/registry.js';
import { type RowImage, RowsEventData } from '../src/decoders/rows.js';
import type { TableMapData } from '../src/decoders/table-map.js';
import { EventType } from '../src/event-types.js';
import type { FormatDescription } from '../src/format-description.js';
import { codecOfCollation, decodeText, encodeText } from '../src/rows/charsets.js';
import {
  ByteWriter,
  type ColumnInfo,
  ColumnType,
  columnTypeName,
  decodeColumnValue,
  encodeColumnValue,
  encodeRowImage,
} from '../src/rows/columns.js';
import { decimalBinarySize, decodeDecimal, encodeDecimal } from '../src/rows/decimal-codec.js';
import {
  decodeJsonBinary,
  decodeJsonDiff,
  encodeJsonBinary,
  encodeJsonDiff,
  type JsonDiff,
  JsonOpaque,
  type JsonValue,
  jsonBinaryToText,
  jsonValueToText,
  MysqlJson,
  MysqlJsonDiff,
} from '../src/rows/json-binary.js';
import { valueToJson } from '../src/rows/row-json.js';

const RUNS = { numRuns: 300 };

function column(type: number, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return {
    ordinal: 1,
    name: null,
    type,
    typeName: columnTypeName(type),
    binlogType: type,
    meta: 0,
    nullable: true,
    ...extra,
  };
}

function roundTrip(c: ColumnInfo, v: unknown): { value: unknown; bytes: Buffer } {
  const w = new ByteWriter(8);
  encodeColumnValue(c, v, w);
  const bytes = Buffer.from(w.result());
  // Decode from the middle of a bigger buffer: decoders must respect offsets and bounds.
  const framed = Buffer.concat([Buffer.from([0xaa, 0xbb]), bytes, Buffer.from([0xcc])]);
  const { value, size } = decodeColumnValue(c, framed, 2, 2 + bytes.length);
  expect(size).toBe(bytes.length);
  return { value, bytes };
}

function expectRoundTrip(c: ColumnInfo, arb: fc.Arbitrary<unknown>, normalize: (v: unknown) => unknown = (v) => v) {
  fc.assert(
    fc.property(arb, (v) => {
      const { value } = roundTrip(c, v);
      expect(normalize(value)).toEqual(normalize(v));
      if (typeof v === 'number') expect(Object.is(value, v)).toBe(true);
    }),
    RUNS,
  );
}

// ---------------------------------------------------------------- arbitraries

const pad = (n: number, w: number) => String(n).padStart(w, '0');
const digits = (min: number, max: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((a) => a.join(''));
const fraction = (fsp: number) => (fsp === 0 ? fc.constant('') : digits(fsp, fsp).map((d) => `.${d}`));

/** Canonical decimal text for DECIMAL(p, s): no leading zeros, exactly s fraction digits, optional "-" (also "-0.00"). */
const decimalArb = (p: number, s: number) =>
  fc
    .tuple(fc.boolean(), digits(0, p - s), digits(s, s), fc.constantFrom('random', 'max', 'zero'))
    .map(([neg, int, frac, kind]) => {
      if (kind === 'max') {
        int = '9'.repeat(p - s);
        frac = '9'.repeat(s);
      } else if (kind === 'zero') {
        int = '';
        frac = '0'.repeat(s);
      }
      const i = int.replace(/^0+/, '') || '0';
      return `${neg ? '-' : ''}${i}${s > 0 ? `.${frac}` : ''}`;
    });

const dateArb = fc
  .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 31 }))
  .map(([y, m, d]) => `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`);

const hmsArb = (maxHour: number) =>
  fc.tuple(fc.integer({ min: 0, max: maxHour }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }));

const timeArb = (fsp: number) =>
  fc.tuple(fc.boolean(), hmsArb(838), fraction(fsp)).map(([neg, [h, m, s], f]) => {
    const body = `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}${f}`;
    // There is no negative zero time.
    return neg && /[1-9]/.test(body) ? `-${body}` : body;
  });

const datetimeArb = (fsp: number) =>
  fc
    .tuple(dateArb, hmsArb(23), fraction(fsp))
    .map(([d, [h, m, s], f]) => `${d} ${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}${f}`);

const timestampArb = (fsp: number) =>
  fc
    .tuple(
      fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff)),
      fraction(fsp),
    )
    .map(([s, f]) => `${s}${f}`);

const bytesArb = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

/** Strings whose encoding in `codec` is at most `maxBytes` bytes. */
function textArb(codec: ReturnType<typeof codecOfCollation>, maxBytes: number): fc.Arbitrary<string | Buffer> {
  switch (codec) {
    case 'utf8':
      return fc.string({ unit: 'binary', maxLength: Math.floor(maxBytes / 4) });
    case 'latin1':
      // Every byte decodes to something: generate bytes, take their reading.
      return bytesArb(maxBytes).map((b) => decodeText(b, 0, b.length, 'latin1'));
    case 'ucs2':
      return fc
        .array(
          fc.integer({ min: 0, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff),
          { maxLength: Math.floor(maxBytes / 2) },
        )
        .map((cs) => String.fromCharCode(...cs));
    case 'utf16':
    case 'utf16le':
    case 'utf32':
      return fc.string({ unit: 'binary', maxLength: Math.floor(maxBytes / 4) });
    case 'guess':
      // No charset: valid UTF-8 comes back as a string, anything else as bytes.
      return fc.oneof(
        fc.string({ unit: 'binary', maxLength: Math.floor(maxBytes / 4) }),
        bytesArb(maxBytes).map((b) => decodeText(b, 0, b.length, 'guess')),
      );
    default:
      return bytesArb(maxBytes);
  }
}

const CODECS: [string, number][] = [
  ['utf8mb4', 45],
  ['latin1', 8],
  ['binary', 63],
  ['ucs2', 35],
  ['utf16', 54],
  ['utf16le', 56],
  ['utf32', 60],
  ['cp1251 (not converted)', 51],
];

// ---------------------------------------------------------------- integers and floats

describe('integers', () => {
  const cases: [number, number][] = [
    [ColumnType.TINY, 8],
    [ColumnType.SHORT, 16],
    [ColumnType.INT24, 24],
    [ColumnType.LONG, 32],
  ];
  it.each(cases)('type %i (%i bits), signed and unsigned, min/max', (type, bits) => {
    const lo = -(2 ** (bits - 1));
    const hi = 2 ** (bits - 1) - 1;
    expectRoundTrip(
      column(type, { unsigned: false }),
      fc.oneof(fc.integer({ min: lo, max: hi }), fc.constantFrom(lo, hi, 0, -1)),
    );
    expectRoundTrip(
      column(type, { unsigned: true }),
      fc.oneof(fc.integer({ min: 0, max: 2 ** bits - 1 }), fc.constantFrom(0, 2 ** bits - 1)),
    );
    // Unknown signedness decodes signed; the unsigned reading survives the round trip bit for bit.
    const { value } = roundTrip(column(type, { unsigned: null }), 2 ** bits - 1);
    expect(value).toBe(-1);
  });

  it('LONGLONG, 64-bit exact', () => {
    const lo = -(2n ** 63n);
    const hi = 2n ** 63n - 1n;
    expectRoundTrip(
      column(ColumnType.LONGLONG, { unsigned: false }),
      fc.oneof(fc.bigInt(lo, hi), fc.constantFrom(lo, hi, 0n, -1n)),
    );
    expectRoundTrip(
      column(ColumnType.LONGLONG, { unsigned: true }),
      fc.oneof(fc.bigInt(0n, 2n ** 64n - 1n), fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 53n + 1n)),
    );
  });

  it('FLOAT and DOUBLE (incl. -0, NaN, infinities, subnormals)', () => {
    expectRoundTrip(column(ColumnType.FLOAT, { packLength: 4 }), fc.float());
    expectRoundTrip(column(ColumnType.DOUBLE, { packLength: 8 }), fc.double());
  });

  it('YEAR', () => {
    expectRoundTrip(column(ColumnType.YEAR), fc.oneof(fc.constant(0), fc.integer({ min: 1901, max: 2155 })));
  });
});

// ---------------------------------------------------------------- decimals

describe('NEWDECIMAL', () => {
  it('every precision/scale, random values, max, zero and negative zero', () => {
    const shape = fc
      .integer({ min: 1, max: 65 })
      .chain((p) => fc.tuple(fc.constant(p), fc.integer({ min: 0, max: Math.min(30, p) })));
    fc.assert(
      fc.property(
        shape.chain(([p, s]) => fc.tuple(fc.constant(p), fc.constant(s), decimalArb(p, s))),
        ([p, s, v]) => {
          const c = column(ColumnType.NEWDECIMAL, { precision: p, scale: s });
          const { value, bytes } = roundTrip(c, v);
          expect(value).toBe(v);
          expect(bytes.length).toBe(decimalBinarySize(p, s));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('matches MySQL bytes for known values', () => {
    // decimal2bin example from MySQL's strings/decimal.cc: 1234567890.1234 as DECIMAL(14,4).
    expect(encodeDecimal('1234567890.1234', 14, 4).toString('hex')).toBe('810dfb38d204d2');
    expect(encodeDecimal('-1234567890.1234', 14, 4).toString('hex')).toBe('7ef204c72dfb2d');
    expect(decodeDecimal(Buffer.from('7ef204c72dfb2d', 'hex'), 0, 14, 4)).toBe('-1234567890.1234');
    expect(encodeDecimal('-0.00', 4, 2)).not.toEqual(encodeDecimal('0.00', 4, 2));
    expect(() => encodeDecimal('100', 2, 0)).toThrow(RangeError);
    expect(encodeDecimal('1.50', 3, 1)).toEqual(encodeDecimal('1.5', 3, 1));
  });
});

// ---------------------------------------------------------------- temporal

describe('temporal types', () => {
  it('DATE / NEWDATE (incl. zero dates)', () => {
    expectRoundTrip(
      column(ColumnType.DATE),
      fc.oneof(dateArb, fc.constantFrom('0000-00-00', '9999-12-31', '1000-01-01')),
    );
    expectRoundTrip(column(ColumnType.NEWDATE), dateArb);
  });

  it.each([0, 1, 2, 3, 4, 5, 6])('TIME2, DATETIME2, TIMESTAMP2 with fsp %i', (fsp) => {
    expectRoundTrip(
      column(ColumnType.TIME2, { fsp }),
      fc.oneof(
        timeArb(fsp),
        fc.constantFrom(
          `-838:59:59${fsp ? `.${'0'.repeat(fsp)}` : ''}`,
          `838:59:59${fsp ? `.${'9'.repeat(fsp)}` : ''}`,
        ),
      ),
    );
    expectRoundTrip(
      column(ColumnType.DATETIME2, { fsp }),
      fc.oneof(datetimeArb(fsp), fc.constant(`0000-00-00 00:00:00${fsp ? `.${'0'.repeat(fsp)}` : ''}`)),
    );
    expectRoundTrip(column(ColumnType.TIMESTAMP2, { fsp }), timestampArb(fsp));
  });

  it('TIME2 negative values with fractions use the two-complement layout', () => {
    const c = column(ColumnType.TIME2, { fsp: 2 });
    expect(roundTrip(c, '-00:00:00.01').bytes.toString('hex')).toBe('7fffffff');
    expect(roundTrip(c, '-00:00:01.00').bytes.toString('hex')).toBe('7fffff00');
    expect(roundTrip(c, '-00:00:01.10').bytes.toString('hex')).toBe('7ffffef6');
  });

  it('old TIME, DATETIME, TIMESTAMP', () => {
    expectRoundTrip(column(ColumnType.TIME), timeArb(0));
    expectRoundTrip(column(ColumnType.DATETIME), fc.oneof(datetimeArb(0), fc.constant('0000-00-00 00:00:00')));
    expectRoundTrip(column(ColumnType.TIMESTAMP), timestampArb(0));
  });

  it.each([1, 2, 3, 4, 5, 6])('MariaDB hires TIME/DATETIME/TIMESTAMP with fsp %i', (fsp) => {
    expectRoundTrip(column(ColumnType.TIME, { fsp, hires: true }), timeArb(fsp));
    expectRoundTrip(column(ColumnType.DATETIME, { fsp, hires: true }), datetimeArb(fsp));
    expectRoundTrip(column(ColumnType.TIMESTAMP, { fsp, hires: true }), timestampArb(fsp));
  });
});

// ---------------------------------------------------------------- bits, enums, sets

describe('BIT, ENUM, SET', () => {
  it('BIT(1..64)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 64 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(fc.constantFrom('0', '1'), { minLength: n, maxLength: n }))),
        ([bits, arr]) => {
          const v = arr.join('');
          expect(roundTrip(column(ColumnType.BIT, { bits }), v).value).toBe(v);
        },
      ),
      RUNS,
    );
  });

  it('ENUM (1 and 2 bytes), SET (1–8 bytes)', () => {
    expectRoundTrip(column(ColumnType.ENUM, { packLength: 1 }), fc.integer({ min: 0, max: 255 }));
    expectRoundTrip(column(ColumnType.ENUM, { packLength: 2 }), fc.integer({ min: 0, max: 65535 }));
    for (const n of [1, 2, 3, 4])
      expectRoundTrip(column(ColumnType.SET, { packLength: n }), fc.integer({ min: 0, max: 2 ** (8 * n) - 1 }));
    expectRoundTrip(column(ColumnType.SET, { packLength: 8 }), fc.bigInt(0n, 2n ** 64n - 1n));
  });
});

// ---------------------------------------------------------------- strings

describe('strings', () => {
  it.each(CODECS)('CHAR / VARCHAR / BLOB in %s', (_name, collation) => {
    const codec = codecOfCollation(collation);
    const norm = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v);
    expectRoundTrip(column(ColumnType.STRING, { collation, maxLength: 40, lengthBytes: 1 }), textArb(codec, 40), norm);
    expectRoundTrip(
      column(ColumnType.STRING, { collation, maxLength: 1020, lengthBytes: 2 }),
      textArb(codec, 1020),
      norm,
    );
    expectRoundTrip(
      column(ColumnType.VARCHAR, { collation, maxLength: 255, lengthBytes: 1 }),
      textArb(codec, 255),
      norm,
    );
    expectRoundTrip(
      column(ColumnType.VARCHAR, { collation, maxLength: 65535, lengthBytes: 2 }),
      textArb(codec, 2000),
      norm,
    );
    for (const lengthBytes of [1, 2, 3, 4]) {
      expectRoundTrip(
        column(ColumnType.BLOB, { collation, lengthBytes }),
        textArb(codec, lengthBytes === 1 ? 255 : 3000),
        norm,
      );
    }
  });

  it('unknown charset: valid UTF-8 as text, other bytes as binary', () => {
    expectRoundTrip(
      column(ColumnType.VARCHAR, { collation: null, maxLength: 400, lengthBytes: 2 }),
      textArb('guess', 400),
      (v) => (Buffer.isBuffer(v) ? v.toString('hex') : v),
    );
    const { value } = roundTrip(
      column(ColumnType.BLOB, { collation: null, lengthBytes: 2 }),
      Buffer.from([0xff, 0xfe]),
    );
    expect(Buffer.isBuffer(value)).toBe(true);
  });

  it('empty and 65535-byte values', () => {
    for (const [type, extra] of [
      [ColumnType.VARCHAR, { maxLength: 65535, lengthBytes: 2 }],
      [ColumnType.BLOB, { lengthBytes: 2 }],
      [ColumnType.STRING, { maxLength: 255, lengthBytes: 1 }],
    ] as const) {
      for (const collation of [45, 63, 8]) {
        const c = column(type, { ...extra, collation });
        const max = type === ColumnType.STRING ? 255 : 65535;
        for (const v of [
          collation === 63 ? Buffer.alloc(0) : '',
          collation === 63 ? Buffer.alloc(max, 0xab) : 'y'.repeat(max),
        ]) {
          const { value, bytes } = roundTrip(c, v);
          expect(value).toEqual(v);
          expect(bytes.length).toBe((extra.lengthBytes ?? 1) + (typeof v === 'string' ? v.length : v.length));
        }
      }
    }
    expect(() => roundTrip(column(ColumnType.BLOB, { lengthBytes: 2, collation: 63 }), Buffer.alloc(65536))).toThrow(
      RangeError,
    );
  });

  it('MariaDB COMPRESSED columns: stored and zlib forms', () => {
    const c = column(ColumnType.BLOB_COMPRESSED, { collation: 45, lengthBytes: 2 });
    expectRoundTrip(c, textArb('utf8', 3000));
    expectRoundTrip(
      column(ColumnType.VARCHAR_COMPRESSED, { collation: 63, maxLength: 401, lengthBytes: 2 }),
      bytesArb(400),
      (v) => (v as Buffer).toString('hex'),
    );
    // What the server writes for longer values: raw deflate (0x88 | length bytes) or zlib (0x80 | …).
    const plain = Buffer.from('compress me '.repeat(40));
    for (const [header, body] of [
      [0x88 | 2, deflateRawSync(plain)],
      [0x80 | 2, deflateSync(plain)],
    ] as const) {
      const stored = Buffer.concat([Buffer.from([header, plain.length >> 8, plain.length & 0xff]), body]);
      const framed = Buffer.concat([Buffer.from([stored.length & 0xff, stored.length >> 8]), stored]);
      expect(decodeColumnValue(c, framed).value).toBe(plain.toString());
    }
  });

  it('charset codecs are lossless for what they decode', () => {
    fc.assert(
      fc.property(bytesArb(200), fc.constantFrom(...CODECS.map(([, id]) => codecOfCollation(id))), (b, codec) => {
        const v = decodeText(b, 0, b.length, codec);
        expect(Buffer.isBuffer(v) ? v : encodeText(v, codec)).toEqual(b);
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------- GEOMETRY, VECTOR

describe('GEOMETRY and VECTOR', () => {
  it('GEOMETRY bytes', () => {
    expectRoundTrip(column(ColumnType.GEOMETRY, { lengthBytes: 4 }), bytesArb(300), (v) =>
      (v as Buffer).toString('hex'),
    );
  });

  it('VECTOR float32 arrays', () => {
    expectRoundTrip(
      column(ColumnType.VECTOR, { lengthBytes: 4 }),
      fc.array(fc.float({ noNaN: true }), { maxLength: 64 }),
    );
  });
});

// ---------------------------------------------------------------- JSON

const jsonLeaf: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.integer({ min: -32768, max: 65535 }),
  fc.maxSafeInteger(),
  fc.oneof(fc.bigInt(-(2n ** 63n), -(2n ** 53n)), fc.bigInt(2n ** 53n, 2n ** 64n - 1n)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d) || Object.is(d, -0)),
  fc.string({ unit: 'binary' }),
  fc.string({ maxLength: 300 }),
  fc.constantFrom(
    JsonOpaque.decimal('-12.50', 10, 2),
    JsonOpaque.temporal(10, '2015-01-15'),
    JsonOpaque.temporal(11, '-23:24:25.123456'),
    JsonOpaque.temporal(12, '2012-03-18 11:30:45.000000'),
    new JsonOpaque(252, Buffer.from([0, 1, 2])),
  ),
);

const jsonValue: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonLeaf,
    fc.array(tie('v'), { maxLength: 6 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), tie('v'), { maxKeys: 6 }),
  ),
})).v;

describe('JSON binary', () => {
  it('encode → decode gives the value back; both text renderings agree', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        const bin = encodeJsonBinary(v);
        expect(decodeJsonBinary(bin)).toEqual(v);
        expect(jsonBinaryToText(bin)).toBe(jsonValueToText(v));
        const c = column(ColumnType.JSON, { lengthBytes: 4 });
        const { value } = roundTrip(c, new MysqlJson(bin));
        expect((value as MysqlJson).binary).toEqual(bin);
      }),
      { numRuns: 500 },
    );
  });

  it('the text is JSON that parses back to the value (when JSON can hold it)', () => {
    const plain = fc.letrec<{ v: JsonValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
        fc.string({ unit: 'binary' }),
        fc.array(tie('v'), { maxLength: 5 }),
        fc.dictionary(
          fc.string({ unit: 'binary', maxLength: 6 }).filter((k) => k !== '__proto__'),
          tie('v'),
          { maxKeys: 5 },
        ),
      ),
    })).v;
    fc.assert(
      fc.property(plain, (v) => {
        expect(JSON.parse(jsonBinaryToText(encodeJsonBinary(v)))).toEqual(v);
      }),
      RUNS,
    );
  });

  it('large containers (> 64 KiB) and edge scalars', () => {
    const big = { a: 'x'.repeat(70000), b: [1, 2, 3], c: { d: true } };
    const bin = encodeJsonBinary(big);
    expect(bin[0]).toBe(0x01); // large object
    expect(decodeJsonBinary(bin)).toEqual(big);
    const arr = Array.from({ length: 20000 }, (_, i) => i * 1000);
    expect(decodeJsonBinary(encodeJsonBinary(arr))).toEqual(arr);
    expect(encodeJsonBinary(arr)[0]).toBe(0x03);
    expect(jsonBinaryToText(encodeJsonBinary(1.5))).toBe('1.5');
    expect(jsonBinaryToText(encodeJsonBinary(-0))).toBe('-0.0');
    expect(jsonBinaryToText(Buffer.from([0x0b, ...Buffer.from(new Float64Array([3]).buffer)]))).toBe('3.0');
    expect(jsonBinaryToText(encodeJsonBinary(18446744073709551615n))).toBe('18446744073709551615');
    expect(jsonBinaryToText(Buffer.alloc(0))).toBe('null');
    const proto = JSON.parse('{"__proto__": 1}');
    expect(Object.keys(decodeJsonBinary(encodeJsonBinary(proto)) as object)).toEqual(['__proto__']);
  });

  it('reads documents whose offsets are not sequential (after in-place updates)', () => {
    // Small object {"a": "xy"} with a 3-byte gap before the string value.
    const doc = Buffer.from([
      0x00, 1, 0, 21, 0, 11, 0, 1, 0, 0x0c, 15, 0, 0x61, 0xde, 0xad, 0xbe, 2, 0x78, 0x79, 0, 0, 0,
    ]);
    expect(decodeJsonBinary(doc)).toEqual({ a: 'xy' });
    expect(jsonBinaryToText(doc)).toBe('{"a": "xy"}');
  });

  it('diff vectors (PARTIAL_UPDATE_ROWS)', () => {
    const op = fc.record({
      op: fc.constantFrom<JsonDiff['op']>('replace', 'insert', 'remove'),
      path: fc.string({ unit: 'binary', maxLength: 300 }).map((s) => `$.${s}`),
      value: jsonValue,
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 5 }), (ops) => {
        const diffs: JsonDiff[] = ops.map((o) =>
          o.op === 'remove' ? { op: o.op, path: o.path } : { op: o.op, path: o.path, value: MysqlJson.from(o.value) },
        );
        const bytes = encodeJsonDiff(new MysqlJsonDiff(diffs));
        const back = decodeJsonDiff(bytes, 0, bytes.length);
        expect(back.diffs.map((d) => ({ ...d, value: d.value?.value }))).toEqual(
          diffs.map((d) => ({ ...d, value: d.value?.value })),
        );
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------- whole row images

interface Catalog {
  col: Partial<ColumnInfo> & { type: number };
  arb: fc.Arbitrary<unknown>;
}

const CATALOG: Catalog[] = [
  { col: { type: ColumnType.TINY, unsigned: false }, arb: fc.integer({ min: -128, max: 127 }) },
  { col: { type: ColumnType.SHORT, unsigned: true }, arb: fc.integer({ min: 0, max: 65535 }) },
  { col: { type: ColumnType.INT24, unsigned: false }, arb: fc.integer({ min: -(2 ** 23), max: 2 ** 23 - 1 }) },
  { col: { type: ColumnType.LONG, unsigned: true }, arb: fc.integer({ min: 0, max: 2 ** 32 - 1 }) },
  { col: { type: ColumnType.LONGLONG, unsigned: false }, arb: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n) },
  { col: { type: ColumnType.DOUBLE, packLength: 8 }, arb: fc.double({ noNaN: true }) },
  { col: { type: ColumnType.NEWDECIMAL, precision: 20, scale: 6 }, arb: decimalArb(20, 6) },
  { col: { type: ColumnType.DATE }, arb: dateArb },
  { col: { type: ColumnType.TIME2, fsp: 3 }, arb: timeArb(3) },
  { col: { type: ColumnType.DATETIME2, fsp: 6 }, arb: datetimeArb(6) },
  { col: { type: ColumnType.TIMESTAMP2, fsp: 1 }, arb: timestampArb(1) },
  {
    col: { type: ColumnType.BIT, bits: 13 },
    arb: fc.array(fc.constantFrom('0', '1'), { minLength: 13, maxLength: 13 }).map((a) => a.join('')),
  },
  { col: { type: ColumnType.ENUM, packLength: 1 }, arb: fc.integer({ min: 0, max: 3 }) },
  { col: { type: ColumnType.SET, packLength: 8 }, arb: fc.bigInt(0n, 2n ** 64n - 1n) },
  { col: { type: ColumnType.VARCHAR, maxLength: 300, lengthBytes: 2, collation: 45 }, arb: textArb('utf8', 300) },
  { col: { type: ColumnType.STRING, maxLength: 16, lengthBytes: 1, collation: 63 }, arb: bytesArb(16) },
  { col: { type: ColumnType.BLOB, lengthBytes: 2, collation: 8 }, arb: textArb('latin1', 500) },
  { col: { type: ColumnType.JSON, lengthBytes: 4 }, arb: jsonValue.map((v) => MysqlJson.from(v)) },
  { col: { type: ColumnType.GEOMETRY, lengthBytes: 4 }, arb: bytesArb(50) },
];

const FD = { isMariaDB: false } as FormatDescription;

/** Build a rows event body from rows of values and decode it with the real decoder. */
function decodeEvent(
  type: number,
  columns: ColumnInfo[],
  before: number[],
  after: number[],
  rows: { before?: RowImage; after?: RowImage }[],
  opts: { v1?: boolean; extra?: Buffer; compress?: boolean } = {},
) {
  const w = new ByteWriter();
  let head = w.take(8);
  w.buf.writeUIntLE(42, head, 6);
  w.buf.writeUInt16LE(1, head + 6);
  if (!opts.v1) {
    const extra = opts.extra ?? Buffer.alloc(0);
    head = w.take(2);
    w.buf.writeUInt16LE(2 + extra.length, head);
    w.bytes(extra);
  }
  const p = w.take(9);
  w.pos = writePacked(w.buf, p, columns.length);
  const bitmap = (ordinals: number[]) => {
    const b = Buffer.alloc((columns.length + 7) >> 3);
    for (const o of ordinals) b[(o - 1) >> 3] |= 1 << ((o - 1) & 7);
    w.bytes(b);
  };
  const hasBefore = rows.some((r) => r.before);
  const hasAfter = rows.some((r) => r.after);
  bitmap(hasBefore ? before : after);
  if (hasBefore && hasAfter) bitmap(after);
  const images = new ByteWriter();
  for (const r of rows) {
    if (r.before) encodeRowImage(columns, before, r.before, images);
    if (r.after) encodeRowImage(columns, after, r.after, images);
  }
  let rowsPart = images.result();
  if (opts.compress) {
    // MariaDB: 0x80 | algorithm 0 << 4 | 4 length bytes, the length big-endian, a zlib stream.
    const len = Buffer.alloc(5);
    len[0] = 0x84;
    len.writeUInt32BE(rowsPart.length, 1);
    rowsPart = Buffer.concat([len, deflateSync(rowsPart)]);
  }
  w.bytes(rowsPart);
  const body = Buffer.from(w.result());
  const map: TableMapData = {
    tableId: 42,
    flags: 0,
    database: 'db',
    table: 't',
    columnCount: columns.length,
    columnTypes: columns.map((c) => c.binlogType),
    columns,
    optionalMetadata: [],
    notes: [],
  };
  const ctx: DecodeContext = {
    fd: FD,
    typeCode: type,
    flags: 0,
    serverId: 1,
    postHeaderLength: opts.v1 ? 8 : 10,
    tableMap: map,
  };
  return new RowsEventData(new Cursor(body), ctx);
}

describe('row images through the rows-event decoder', () => {
  const table = fc.array(fc.integer({ min: 0, max: CATALOG.length - 1 }), { minLength: 1, maxLength: 20 });

  it('random tables, present bitmaps (MINIMAL images), NULLs, several rows', () => {
    fc.assert(
      fc.property(
        table.chain((idx) => {
          const columns = idx.map((i, k) => column(CATALOG[i].col.type, { ...CATALOG[i].col, ordinal: k + 1 }));
          const subset = fc.subarray(
            columns.map((c) => c.ordinal),
            { minLength: 1 },
          );
          const image = (present: number[]) =>
            fc.tuple(...present.map((o) => fc.option(CATALOG[idx[o - 1]].arb, { nil: null }))).map((vals) => {
              const img: RowImage = {};
              present.forEach((o, k) => {
                img[o] = vals[k];
              });
              return img;
            });
          return fc
            .tuple(fc.constant(columns), subset, subset)
            .chain(([cols, before, after]) =>
              fc.tuple(
                fc.constant(cols),
                fc.constant(before),
                fc.constant(after),
                fc.array(fc.record({ before: image(before), after: image(after) }), { minLength: 1, maxLength: 4 }),
                fc.constantFrom(EventType.WRITE_ROWS, EventType.UPDATE_ROWS, EventType.DELETE_ROWS),
              ),
            );
        }),
        ([columns, before, after, rows, type]) => {
          const shaped = rows.map((r) =>
            type === EventType.WRITE_ROWS
              ? { after: r.after }
              : type === EventType.DELETE_ROWS
                ? { before: r.before }
                : r,
          );
          const ev = decodeEvent(type, columns, before, after, shaped);
          const norm = (x: unknown) => (x instanceof MysqlJson ? x.text : Buffer.isBuffer(x) ? x.toString('hex') : x);
          const normRows = (rs: { before?: RowImage; after?: RowImage }[]) =>
            rs.map((r) => ({
              before: r.before && Object.fromEntries(Object.entries(r.before).map(([k, v]) => [k, norm(v)])),
              after: r.after && Object.fromEntries(Object.entries(r.after).map(([k, v]) => [k, norm(v)])),
            }));
          expect(normRows(ev.rows)).toEqual(normRows(shaped));
          // The JSON form is lossless for these values: every present column, NULL as null.
          const json = JSON.parse(JSON.stringify(ev));
          expect(json.rows).toHaveLength(rows.length);
          for (const [i, r] of shaped.entries()) {
            for (const side of ['before', 'after'] as const) {
              const img = r[side];
              if (!img) continue;
              for (const [k, v] of Object.entries(img)) {
                const expected = valueToJson(columns[Number(k) - 1], v, (json.binary ?? []).includes(k));
                expect(json.rows[i][side][k]).toEqual(JSON.parse(JSON.stringify(expected)));
              }
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('rows-event framing', () => {
  const columns = [
    column(ColumnType.LONG, { unsigned: false }),
    column(ColumnType.VARCHAR, { ordinal: 2, maxLength: 40, lengthBytes: 1, collation: 45 }),
  ];
  const rows = [{ after: { 1: 7, 2: 'seven' } }, { after: { 1: -1, 2: null } }];

  it('v2 extra data: partition info (and unknown items kept raw)', () => {
    const ev = decodeEvent(EventType.WRITE_ROWS, columns, [], [1, 2], rows, { extra: Buffer.from([1, 5, 0]) });
    expect(ev.extraData).toEqual({ raw: 'AQUA', partition: { partitionId: 5 } });
    expect(ev.rows).toEqual(rows);
    const upd = decodeEvent(EventType.UPDATE_ROWS, columns, [1], [2], [{ before: { 1: 7 }, after: { 2: 'x' } }], {
      extra: Buffer.from([1, 5, 0, 3, 0, 9, 9]),
    });
    expect(upd.extraData).toMatchObject({ partition: { partitionId: 5, sourcePartitionId: 3 }, unknown: 'CQk=' });
    expect(upd.rows).toEqual([{ before: { 1: 7 }, after: { 2: 'x' } }]);
    expect(JSON.parse(JSON.stringify(upd))).toMatchObject({
      beforeColumns: [1],
      afterColumns: [2],
      extraData: { partition: { partitionId: 5 } },
    });
  });

  it('MariaDB compressed rows events, v1 and v2', () => {
    const v1 = decodeEvent(EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1, columns, [], [1, 2], rows, {
      v1: true,
      compress: true,
    });
    expect(v1).toMatchObject({ kind: 'insert', version: 1, compressed: true });
    expect(v1.rows).toEqual(rows);
    const v2 = decodeEvent(EventType.MARIADB_DELETE_ROWS_COMPRESSED, columns, [1, 2], [], [{ before: rows[0].after }], {
      compress: true,
    });
    expect(v2).toMatchObject({ kind: 'delete', version: 2, compressed: true });
    expect(v2.rows).toEqual([{ before: rows[0].after }]);
  });
});
