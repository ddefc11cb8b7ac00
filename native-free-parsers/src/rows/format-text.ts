/**
 * The readable text form of rows events, in the spirit of `mysqlbinlog -v`:
 *
 *   ### INSERT INTO `db`.`t`
 *   ### SET
 *   ###   @1=1
 *   ###   @2='abc'
 *
 * Differences from mysqlbinlog (on purpose, see docs/row-json.md): integers honour
 * SIGNEDNESS metadata (without it a negative value also shows its unsigned reading, as
 * mysqlbinlog does: `-1 (255)`); FLOAT/DOUBLE print their shortest exact form; DATE uses
 * dashes; YEAR 0 prints 0000; quotes, backslashes and control characters in strings are
 * escaped; binary values print as X'hex'; ENUM/SET print their labels when known; JSON
 * prints its text and partial JSON updates as JSON_REPLACE/JSON_INSERT/JSON_REMOVE calls.
 * With `verbose: 2` every value is followed by a comment with the column name (when
 * logged), its type and the metadata.
 */
import type { RowChange, RowImage, RowsEventData } from '../decoders/rows.js';
import { BinlogFormatError } from '../errors.js';
import { type ColumnInfo, ColumnType, columnSqlType } from './columns.js';
import { MysqlJson, MysqlJsonDiff } from './json-binary.js';
import { enumSetLabel, shortestFloat32 } from './row-json.js';

export interface RowsTextOptions {
  /** 1 (default): values; 2: also a type/metadata comment per value (mysqlbinlog -vv). */
  verbose?: number;
}

const INT_BITS: Record<number, number> = {
  [ColumnType.TINY]: 8,
  [ColumnType.SHORT]: 16,
  [ColumnType.INT24]: 24,
  [ColumnType.LONG]: 32,
  [ColumnType.LONGLONG]: 64,
};

/** SQL string literal: quotes, backslashes and control characters escaped. */
export function sqlString(s: string): string {
  return `'${s.replace(/[\\'\x00-\x1f\x7f]/g, (ch) => {
    if (ch === '\\') return '\\\\';
    if (ch === "'") return "\\'";
    return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  })}'`;
}

const hex = (b: Buffer) => `X'${b.toString('hex')}'`;

function numberText(v: number): string {
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

/** One value as it appears after `@N=`. */
export function valueToText(c: ColumnInfo, v: unknown, ordinal: number): string {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v)) return hex(v);
  switch (c.type) {
    case ColumnType.TINY:
    case ColumnType.SHORT:
    case ColumnType.INT24:
    case ColumnType.LONG:
    case ColumnType.LONGLONG: {
      const text = String(v);
      if (c.unsigned === null && typeof v === 'number' && v < 0) return `${text} (${v + 2 ** INT_BITS[c.type]})`;
      if (c.unsigned === null && typeof v === 'bigint' && v < 0n) return `${text} (${v + 2n ** 64n})`;
      return text;
    }
    case ColumnType.FLOAT:
      return numberText(shortestFloat32(v as number));
    case ColumnType.DOUBLE:
      return numberText(v as number);
    case ColumnType.YEAR:
      return String(v).padStart(4, '0');
    case ColumnType.TIMESTAMP:
    case ColumnType.TIMESTAMP2:
      return String(v);
    case ColumnType.BIT:
      return `b'${v}'`;
    case ColumnType.ENUM: {
      const label = enumSetLabel(c, v as number);
      return label === null ? String(v) : sqlString(label);
    }
    case ColumnType.SET: {
      const label = enumSetLabel(c, v as number | bigint);
      if (label !== null) return sqlString(label);
      return `b'${BigInt(v as number | bigint)
        .toString(2)
        .padStart((c.packLength ?? 1) * 8, '0')}'`;
    }
    case ColumnType.NEWDECIMAL:
      return String(v);
    case ColumnType.VECTOR:
      return `[${(v as number[]).map((x) => numberText(shortestFloat32(x))).join(',')}]`;
  }
  if (v instanceof MysqlJsonDiff) return v.toSql(`@${ordinal}`);
  if (v instanceof MysqlJson) return sqlString(v.text);
  return sqlString(String(v));
}

function imageLines(ev: RowsEventData, img: RowImage, verbose: number, out: string[]): void {
  const columns = ev.tableMap!.columns;
  for (const k in img) {
    const ordinal = Number(k);
    const c = columns[ordinal - 1];
    const v = img[ordinal];
    let line = `###   @${ordinal}=${valueToText(c, v, ordinal)}`;
    if (verbose >= 2) {
      const name = c.name === null ? '' : `${c.name} `;
      line += ` /* ${name}${columnSqlType(c)} meta=${c.meta} nullable=${c.nullable ? 1 : 0} is_null=${v === null ? 1 : 0} */`;
    }
    out.push(line);
  }
}

const quoteIdent = (s: string) => `\`${s.replace(/`/g, '``')}\``;

/**
 * The text form of a rows event, one line per array element. A rows event without its
 * table map (or whose rows cannot be decoded) gives a single explanatory line.
 */
export function rowsEventTextLines(ev: RowsEventData, opts: RowsTextOptions = {}): string[] {
  const verbose = opts.verbose ?? 1;
  const map = ev.tableMap;
  if (!map) return [`### Row event for unknown table #${ev.tableId}`];
  let rows: RowChange[];
  try {
    rows = ev.rows;
  } catch (err) {
    const why = err instanceof BinlogFormatError ? err.detail : (err as Error).message;
    return [`### Rows of ${ev.table} cannot be decoded: ${why}`];
  }
  const name = `${quoteIdent(map.database)}.${quoteIdent(map.table)}`;
  const out: string[] = [];
  for (const note of map.notes) out.push(`# Note: ${note}`);
  try {
    for (const row of rows) {
      if (ev.kind === 'insert') {
        out.push(`### INSERT INTO ${name}`, '### SET');
        imageLines(ev, row.after!, verbose, out);
      } else if (ev.kind === 'delete') {
        out.push(`### DELETE FROM ${name}`, '### WHERE');
        imageLines(ev, row.before!, verbose, out);
      } else {
        out.push(`### UPDATE ${name}`, '### WHERE');
        imageLines(ev, row.before!, verbose, out);
        out.push('### SET');
        imageLines(ev, row.after!, verbose, out);
      }
    }
  } catch (err) {
    // A lazily decoded value (a JSON document) that is damaged.
    const why = err instanceof BinlogFormatError ? err.detail : (err as Error).message;
    out.push(`### Rows of ${ev.table} cannot be decoded: ${why}`);
  }
  return out;
}

export function formatRowsEventText(ev: RowsEventData, opts: RowsTextOptions = {}): string {
  return rowsEventTextLines(ev, opts).join('\n');
}
