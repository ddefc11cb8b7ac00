/**
 * The documented, lossless JSON form of rows events and row values (docs/row-json.md),
 * used by `mha binlog inspect --json --verbose`.
 *
 * Value rules, given the column (from the event's table map):
 *  - SQL NULL → null; a column outside a MINIMAL/NOBLOB image is absent.
 *  - TINY/SHORT/INT24/LONG/YEAR → number; LONGLONG → string (always, 64-bit exact).
 *  - FLOAT → the shortest number that reads back as the same float32; DOUBLE → number;
 *    -0, NaN and ±Infinity (never stored by MySQL, possible in hand-made events) → string.
 *  - NEWDECIMAL → string, exact ("-0.50").
 *  - DATE "YYYY-MM-DD", TIME "[-]HH:MM:SS[.f]", DATETIME "YYYY-MM-DD HH:MM:SS[.f]",
 *    TIMESTAMP "<epoch seconds>[.f]" — strings, fraction with exactly fsp digits.
 *  - BIT → string of '0'/'1', one per bit.
 *  - ENUM → the label when the table map has the labels, else the 1-based index (number).
 *    SET → the labels joined by "," when known, else the bitmask (number; string for 8-byte sets).
 *  - CHAR/VARCHAR/TEXT → string; binary data (BINARY/VARBINARY/BLOB, GEOMETRY, text that is
 *    not valid in its character set) → base64 string, and the column's ordinal is listed in
 *    the event's "binary" array: every non-null value of a listed column is base64.
 *  - JSON → string holding MySQL's JSON text; a partial update (PARTIAL_UPDATE_ROWS) →
 *    {"diff": [{"op": "replace"|"insert"|"remove", "path": "$.a", "value": "<JSON text>"}]}.
 *  - VECTOR → array of numbers (float32, shortest form).
 */
import type { RowChange, RowsEventData } from '../decoders/rows.js';
import { BinlogFormatError } from '../errors.js';
import { encodeText } from './charsets.js';
import { type ColumnInfo, ColumnType, columnCodec } from './columns.js';
import { MysqlJson, MysqlJsonDiff } from './json-binary.js';

export type RowJsonValue = null | number | string | number[] | { diff: { op: string; path: string; value?: string }[] };

/** The shortest decimal that reads back (through Math.fround) as the float32 `v`. */
export function shortestFloat32(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return v;
}

function specialNumber(v: number): string | null {
  if (Object.is(v, -0)) return '-0';
  if (!Number.isFinite(v)) return String(v);
  return null;
}

/** ENUM/SET label text, or null when the labels are unknown or do not cover the value. */
export function enumSetLabel(c: ColumnInfo, v: number | bigint): string | null {
  if (c.type === ColumnType.ENUM) {
    if (!c.enumValues) return null;
    const i = Number(v);
    if (i === 0) return '';
    return i <= c.enumValues.length ? c.enumValues[i - 1] : null;
  }
  if (!c.setValues) return null;
  let mask = BigInt(v);
  const out: string[] = [];
  for (let i = 0; mask > 0n; i++, mask >>= 1n) {
    if ((mask & 1n) === 0n) continue;
    if (i >= c.setValues.length) return null;
    out.push(c.setValues[i]);
  }
  return out.join(',');
}

function toBase64(c: ColumnInfo, v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'string') {
    const codec = columnCodec(c);
    return encodeText(v, codec === 'guess' || codec === 'binary' || codec === 'raw' ? 'utf8' : codec).toString(
      'base64',
    );
  }
  return Buffer.from(String(v)).toString('base64');
}

/**
 * One value in the JSON form. `binary`: the column is listed in the event's "binary"
 * array (its values are base64).
 */
export function valueToJson(c: ColumnInfo, v: unknown, binary = false): RowJsonValue {
  if (v === null || v === undefined) return null;
  if (binary && (Buffer.isBuffer(v) || typeof v === 'string')) return toBase64(c, v);
  switch (typeof v) {
    case 'number': {
      if (c.type === ColumnType.ENUM || c.type === ColumnType.SET) return enumSetLabel(c, v) ?? v;
      const special = specialNumber(v);
      if (special !== null) return special;
      return c.type === ColumnType.FLOAT ? shortestFloat32(v) : v;
    }
    case 'bigint':
      if (c.type === ColumnType.SET) return enumSetLabel(c, v) ?? String(v);
      return String(v);
    case 'string':
      return v;
  }
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof MysqlJson) return v.text;
  if (v instanceof MysqlJsonDiff) return v.toJSON();
  if (Array.isArray(v)) return v.map((x) => shortestFloat32(x as number));
  return String(v);
}

/**
 * Ordinals (as strings) of the event's columns whose values are binary (base64 in JSON):
 * present columns with a binary character set, GEOMETRY, and any column that holds a
 * Buffer in these rows (text not valid in its character set, or of an unknown one).
 */
export function binaryColumns(rows: RowChange[], columns: ColumnInfo[], present: Iterable<number>): string[] {
  const found = new Set<number>();
  for (const o of present) {
    const c = columns[o - 1];
    if (!c) continue;
    if (
      c.type === ColumnType.GEOMETRY ||
      (c.collation === 63 && c.type !== ColumnType.ENUM && c.type !== ColumnType.SET)
    ) {
      found.add(o);
    }
  }
  for (const row of rows) {
    for (const img of [row.before, row.after]) {
      if (!img) continue;
      for (const k in img) if (Buffer.isBuffer(img[k])) found.add(Number(k));
    }
  }
  return [...found].sort((a, b) => a - b).map(String);
}

function imageToJson(
  img: Record<number, unknown>,
  columns: ColumnInfo[],
  binary: Set<string>,
): Record<string, RowJsonValue> {
  const out: Record<string, RowJsonValue> = {};
  for (const k in img) out[k] = valueToJson(columns[Number(k) - 1], img[k], binary.has(k));
  return out;
}

/** The JSON form of a rows event (see the module comment and docs/row-json.md). */
export function rowsEventToJson(ev: RowsEventData): Record<string, unknown> {
  const out: Record<string, unknown> = {
    kind: ev.kind,
    version: ev.version,
    tableId: ev.tableId,
    flags: ev.flags,
    stmtEnd: ev.stmtEnd,
    extraData: ev.extraData,
    columnCount: ev.columnCount,
    beforeColumns: ev.beforeColumns,
    afterColumns: ev.afterColumns,
    table: ev.table,
  };
  if (ev.compressed) out.compressed = true;
  if (ev.partialJson) out.partialJson = true;
  let rows: RowChange[];
  try {
    rows = ev.rows;
  } catch (err) {
    out.rows = null;
    // The reason alone: the event's place is in the surrounding output.
    out.rowsError = err instanceof BinlogFormatError ? err.detail : (err as Error).message;
    return out;
  }
  const columns = ev.tableMap!.columns;
  const binary = binaryColumns(rows, columns, new Set([...(ev.beforeColumns ?? []), ...(ev.afterColumns ?? [])]));
  const set = new Set(binary);
  try {
    out.rows = rows.map((row) => {
      const r: Record<string, unknown> = {};
      if (row.before) r.before = imageToJson(row.before, columns, set);
      if (row.after) r.after = imageToJson(row.after, columns, set);
      return r;
    });
  } catch (err) {
    // A value decoded lazily (a JSON document) that turns out damaged: like rows that
    // cannot be decoded, not a failure of the whole rendering.
    out.rows = null;
    out.rowsError = err instanceof BinlogFormatError ? err.detail : (err as Error).message;
    return out;
  }
  if (binary.length > 0) out.binary = binary;
  if (ev.notes.length > 0) out.notes = ev.notes;
  return out;
}
