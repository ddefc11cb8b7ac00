/**
 * TABLE_MAP_EVENT (19): the table a following rows event refers to, its column types and
 * per-column metadata, nullability, and the optional metadata TLVs of
 * binlog_row_metadata=MINIMAL/FULL (MySQL 8.0.1+, MariaDB 10.5+).
 *
 * Post-header: table_id u48 (u32 when the post-header is 6 bytes, pre-GA 5.1), flags u16.
 * Body: db (len u8, bytes, NUL), table (len u8, bytes, NUL), column_count packed,
 * column_type[count], metadata_len packed, metadata, null bitmap, then TLVs
 * (type u8, length packed, value) to the end of the event.
 */
import { type Cursor, EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { charsetOfCollation } from '../rows/charsets.js';
import {
  type ColumnDecoder,
  type ColumnInfo,
  ColumnType,
  columnCodec,
  columnTypeName,
  compileColumnDecoder,
  compileJsonDiffDecoder,
  isCharacterType,
  isIntegerType,
  isNumericType,
} from '../rows/columns.js';
import { type DecodeContext, registerDecoder } from './registry.js';

/** Optional metadata TLV types (enum Table_map_log_event::Optional_metadata_field_type). */
export const TableMapMetadata = {
  SIGNEDNESS: 1,
  DEFAULT_CHARSET: 2,
  COLUMN_CHARSET: 3,
  COLUMN_NAME: 4,
  SET_STR_VALUE: 5,
  ENUM_STR_VALUE: 6,
  GEOMETRY_TYPE: 7,
  SIMPLE_PRIMARY_KEY: 8,
  PRIMARY_KEY_WITH_PREFIX: 9,
  ENUM_AND_SET_DEFAULT_CHARSET: 10,
  ENUM_AND_SET_COLUMN_CHARSET: 11,
  COLUMN_VISIBILITY: 12,
  VECTOR_DIMENSIONALITY: 13,
} as const;

export interface TableMapData {
  tableId: number;
  /** Post-header flags (reserved; 1 = BIT_LEN_EXACT on some servers). */
  flags: number;
  database: string;
  table: string;
  columnCount: number;
  /** Column types as listed (STRING hides ENUM/SET; see columns[].type). */
  columnTypes: number[];
  columns: ColumnInfo[];
  /** Primary key from SIMPLE_PRIMARY_KEY / PRIMARY_KEY_WITH_PREFIX metadata: 1-based ordinals, prefix 0 = whole column. */
  primaryKey?: { ordinal: number; prefix: number }[];
  /** Optional metadata TLV types present, in the order written (empty: binlog_row_metadata=NO_LOG or a pre-8.0.1 server). */
  optionalMetadata: number[];
  /** TLVs of types this decoder does not know, kept as written. */
  unknownMetadata?: { type: number; data: string }[];
  /**
   * What could not be known from the binlog and how values are shown instead (e.g. no
   * SIGNEDNESS metadata: integers decoded as signed). Empty when nothing was assumed.
   */
  notes: string[];
}

/** What the rows decoder needs from a table map, built once per table map. */
export interface CompiledTable {
  decoders: ColumnDecoder[];
  /** Per column: index among the table's JSON columns (partial-update bitmap), or -1. */
  jsonIndex: Int32Array;
  jsonCount: number;
  /** Per column: decoder of a partial JSON (diff vector) value, or null. */
  jsonDiffDecoders: (ColumnDecoder | null)[];
}

const COMPILED = Symbol('compiledTable');

/**
 * The per-column decoders of a table map, compiled on first use and cached on the object
 * (under a symbol, so it stays out of JSON output and enumeration).
 */
export function compiledTable(map: TableMapData): CompiledTable {
  const holder = map as unknown as { [COMPILED]?: CompiledTable };
  let c = holder[COMPILED];
  if (!c) {
    const jsonIndex = new Int32Array(map.columns.length).fill(-1);
    let jsonCount = 0;
    const jsonDiffDecoders: (ColumnDecoder | null)[] = [];
    for (const col of map.columns) {
      if (col.type === ColumnType.JSON) {
        jsonIndex[col.ordinal - 1] = jsonCount++;
        jsonDiffDecoders.push(compileJsonDiffDecoder(col));
      } else jsonDiffDecoders.push(null);
    }
    c = { decoders: map.columns.map(compileColumnDecoder), jsonIndex, jsonCount, jsonDiffDecoders };
    Object.defineProperty(map, COMPILED, { value: c, enumerable: false, configurable: true });
  }
  return c;
}

/** What a column without metadata (pre-GA 5.1 table maps) is assumed to be. */
function bareDefaults(type: number, col: ColumnInfo): void {
  switch (type) {
    case ColumnType.STRING:
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
      col.maxLength = 255;
      col.lengthBytes = 1;
      return;
    case ColumnType.BLOB:
      col.lengthBytes = 2;
      return;
    case ColumnType.FLOAT:
      col.packLength = 4;
      return;
    case ColumnType.DOUBLE:
      col.packLength = 8;
      return;
  }
}

/**
 * What an external schema knows and the binlog may not: names, signedness, collations,
 * ENUM/SET labels, and the precision of MariaDB "hires" temporal columns. Keyed by
 * 1-based ordinal.
 */
export interface ColumnOverride {
  name?: string;
  unsigned?: boolean;
  collation?: number;
  enumValues?: string[];
  setValues?: string[];
  /** Fractional-seconds precision; on an old-format TIME/DATETIME/TIMESTAMP column it selects MariaDB's hires format. */
  fsp?: number;
}

/**
 * Complete a table map from an external schema (e.g. information_schema.COLUMNS) before
 * its rows are decoded. Replaces the notes that the overrides make moot and drops the
 * compiled decoders so they are rebuilt.
 */
export function applyColumnOverrides(map: TableMapData, overrides: Record<number, ColumnOverride>): void {
  for (const [key, o] of Object.entries(overrides)) {
    const c = map.columns[Number(key) - 1];
    if (!c) throw new RangeError(`${map.database}.${map.table} has no column @${key}`);
    if (o.name !== undefined) c.name = o.name;
    if (o.unsigned !== undefined && isNumericType(c.type)) c.unsigned = o.unsigned;
    if (o.collation !== undefined) {
      c.collation = o.collation;
      c.charset = charsetOfCollation(o.collation) ?? null;
    }
    if (o.enumValues !== undefined && c.type === ColumnType.ENUM) c.enumValues = o.enumValues;
    if (o.setValues !== undefined && c.type === ColumnType.SET) c.setValues = o.setValues;
    if (o.fsp !== undefined) {
      if (!(o.fsp >= 0 && o.fsp <= 6)) throw new RangeError(`fsp ${o.fsp} is not 0..6`);
      c.fsp = o.fsp;
      if (c.type === ColumnType.TIME || c.type === ColumnType.DATETIME || c.type === ColumnType.TIMESTAMP)
        c.hires = o.fsp > 0;
    }
  }
  map.notes = [...map.notes, 'columns completed from an external schema'];
  delete (map as unknown as { [COMPILED]?: CompiledTable })[COMPILED];
}

/** Read one column's metadata bytes; returns the fields it defines. */
function readColumnMetadata(body: Cursor, type: number, col: ColumnInfo): void {
  switch (type) {
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE: {
      const v = body.u8();
      col.meta = v;
      col.packLength = v;
      return;
    }
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.BLOB_COMPRESSED:
    case ColumnType.GEOMETRY:
    case ColumnType.JSON:
    case ColumnType.VECTOR: {
      const v = body.u8();
      col.meta = v;
      col.lengthBytes = v;
      return;
    }
    case ColumnType.TIME2:
    case ColumnType.DATETIME2:
    case ColumnType.TIMESTAMP2: {
      const v = body.u8();
      col.meta = v;
      col.fsp = v;
      return;
    }
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
    case ColumnType.VARCHAR_COMPRESSED: {
      const v = body.u16();
      col.meta = v;
      col.maxLength = v;
      col.lengthBytes = v > 255 ? 2 : 1;
      return;
    }
    case ColumnType.NEWDECIMAL: {
      const precision = body.u8();
      const scale = body.u8();
      col.meta = (precision << 8) | scale;
      col.precision = precision;
      col.scale = scale;
      return;
    }
    case ColumnType.BIT: {
      const rest = body.u8();
      const bytes = body.u8();
      col.meta = rest | (bytes << 8);
      col.bits = bytes * 8 + rest;
      return;
    }
    case ColumnType.STRING:
    case ColumnType.ENUM:
    case ColumnType.SET: {
      const b0 = body.u8();
      const b1 = body.u8();
      col.meta = (b0 << 8) | b1;
      let real: number = type;
      let len = b1;
      if (b0 !== 0) {
        if ((b0 & 0x30) !== 0x30) {
          // CHAR longer than 255 bytes: two length bits hide in the type byte.
          real = b0 | 0x30;
          len = b1 | (((b0 & 0x30) ^ 0x30) << 4);
        } else {
          real = b0;
        }
      }
      col.type = real;
      if (real === ColumnType.ENUM || real === ColumnType.SET) {
        col.packLength = len;
      } else {
        col.maxLength = len;
        col.lengthBytes = len > 255 ? 2 : 1;
      }
      return;
    }
    case ColumnType.TYPED_ARRAY: {
      const element = body.u8();
      col.elementType = element;
      const inner: ColumnInfo = { ...col, type: element, binlogType: element };
      readColumnMetadata(body, element, inner);
      col.meta = inner.meta;
      return;
    }
    default:
      col.meta = 0;
  }
}

const decodeName = (b: Buffer) => b.toString('utf8');

function readPackedList(c: Cursor, end: number): number[] {
  const out: number[] = [];
  while (c.pos < end) out.push(c.packed());
  return out;
}

/** MSB-first bitmap → booleans (SIGNEDNESS, COLUMN_VISIBILITY). */
function msbBits(b: Buffer, n: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((b[i >> 3] & (0x80 >> (i & 7))) !== 0);
  return out;
}

function readStringLists(c: Cursor, end: number): string[][] {
  const out: string[][] = [];
  while (c.pos < end) {
    const n = c.packed();
    const list: string[] = [];
    for (let i = 0; i < n; i++) list.push(decodeName(c.bytes(c.packed())));
    out.push(list);
  }
  return out;
}

/** DEFAULT_CHARSET-style TLV: default collation, then (index, collation) exceptions → one collation per column of the subset. */
function readDefaultCharset(c: Cursor, end: number, count: number): number[] {
  const def = c.packed();
  const out = new Array<number>(count).fill(def);
  while (c.pos < end) {
    const index = c.packed();
    const collation = c.packed();
    if (index < count) out[index] = collation;
  }
  return out;
}

export function decodeTableMap(body: Cursor, ctx: DecodeContext): TableMapData {
  const post = ctx.postHeaderLength;
  const idLen = post === 6 ? 4 : 6;
  const postStart = body.pos;
  const tableId = body.uintLE(idLen);
  const flags = body.u16();
  if (post > idLen + 2) body.pos = postStart + post;
  const database = decodeName(body.bytes(body.u8()));
  body.skip(1);
  const table = decodeName(body.bytes(body.u8()));
  body.skip(1);
  const columnCount = body.packed();
  const columnTypes = Array.from(body.bytes(columnCount));
  // Pre-GA 5.1 table maps end here: no column metadata, no null bitmap.
  const bare = body.remaining === 0;
  const metaLen = bare ? 0 : body.packed();
  const metaEnd = body.pos + metaLen;
  body.need(metaLen, 'column metadata');
  const columns: ColumnInfo[] = new Array(columnCount);
  for (let i = 0; i < columnCount; i++) {
    const t = columnTypes[i];
    const col: ColumnInfo = {
      ordinal: i + 1,
      name: null,
      type: t,
      typeName: '',
      binlogType: t,
      meta: 0,
      nullable: true,
    };
    if (bare) bareDefaults(t, col);
    else {
      if (body.pos > metaEnd)
        throw new EventDecodeError(`column metadata overruns its ${metaLen} bytes at column ${i + 1}`);
      readColumnMetadata(body, t, col);
    }
    col.typeName = columnTypeName(col.type);
    columns[i] = col;
  }
  if (body.pos > metaEnd) throw new EventDecodeError(`column metadata overruns its ${metaLen} bytes`);
  body.pos = metaEnd;
  const nullBytes = (columnCount + 7) >> 3;
  const nulls = bare ? null : body.bytes(nullBytes);
  for (let i = 0; i < columnCount; i++) columns[i].nullable = nulls ? (nulls[i >> 3] & (1 << (i & 7))) !== 0 : true;

  const mariadb = ctx.fd.isMariaDB;
  const numeric = columns.filter((c) => isNumericType(c.type));
  const character = columns.filter((c) => isCharacterType(c.type, mariadb));
  const enumSet = columns.filter((c) => c.type === ColumnType.ENUM || c.type === ColumnType.SET);
  const optionalMetadata: number[] = [];
  const unknownMetadata: { type: number; data: string }[] = [];
  let primaryKey: { ordinal: number; prefix: number }[] | undefined;
  let charsetsKnown = false;
  let signednessKnown = false;

  while (body.remaining > 0) {
    const type = body.u8();
    const len = body.packed();
    body.need(len, `optional metadata ${type}`);
    const end = body.pos + len;
    optionalMetadata.push(type);
    switch (type) {
      case TableMapMetadata.SIGNEDNESS: {
        const bits = msbBits(body.bytes(len), numeric.length);
        numeric.forEach((c, i) => {
          c.unsigned = bits[i];
        });
        signednessKnown = true;
        break;
      }
      case TableMapMetadata.DEFAULT_CHARSET: {
        const ids = readDefaultCharset(body, end, character.length);
        character.forEach((c, i) => {
          c.collation = ids[i];
        });
        charsetsKnown = true;
        break;
      }
      case TableMapMetadata.COLUMN_CHARSET: {
        const ids = readPackedList(body, end);
        character.forEach((c, i) => {
          if (i < ids.length) c.collation = ids[i];
        });
        charsetsKnown = true;
        break;
      }
      case TableMapMetadata.COLUMN_NAME: {
        for (const c of columns) {
          if (body.pos >= end) break;
          c.name = decodeName(body.bytes(body.packed()));
        }
        break;
      }
      case TableMapMetadata.SET_STR_VALUE: {
        const lists = readStringLists(body, end);
        columns
          .filter((c) => c.type === ColumnType.SET)
          .forEach((c, i) => {
            if (i < lists.length) c.setValues = lists[i];
          });
        break;
      }
      case TableMapMetadata.ENUM_STR_VALUE: {
        const lists = readStringLists(body, end);
        columns
          .filter((c) => c.type === ColumnType.ENUM)
          .forEach((c, i) => {
            if (i < lists.length) c.enumValues = lists[i];
          });
        break;
      }
      case TableMapMetadata.GEOMETRY_TYPE: {
        const kinds = readPackedList(body, end);
        columns
          .filter((c) => c.type === ColumnType.GEOMETRY)
          .forEach((c, i) => {
            if (i < kinds.length) c.geometryType = kinds[i];
          });
        break;
      }
      case TableMapMetadata.SIMPLE_PRIMARY_KEY:
        primaryKey = readPackedList(body, end).map((i) => ({ ordinal: i + 1, prefix: 0 }));
        break;
      case TableMapMetadata.PRIMARY_KEY_WITH_PREFIX: {
        const list = readPackedList(body, end);
        primaryKey = [];
        for (let i = 0; i + 1 < list.length; i += 2) primaryKey.push({ ordinal: list[i] + 1, prefix: list[i + 1] });
        break;
      }
      case TableMapMetadata.ENUM_AND_SET_DEFAULT_CHARSET: {
        const ids = readDefaultCharset(body, end, enumSet.length);
        enumSet.forEach((c, i) => {
          c.collation = ids[i];
        });
        break;
      }
      case TableMapMetadata.ENUM_AND_SET_COLUMN_CHARSET: {
        const ids = readPackedList(body, end);
        enumSet.forEach((c, i) => {
          if (i < ids.length) c.collation = ids[i];
        });
        break;
      }
      case TableMapMetadata.COLUMN_VISIBILITY: {
        const bits = msbBits(body.bytes(len), columnCount);
        columns.forEach((c, i) => {
          c.visible = bits[i];
        });
        break;
      }
      case TableMapMetadata.VECTOR_DIMENSIONALITY: {
        const dims = readPackedList(body, end);
        columns
          .filter((c) => c.type === ColumnType.VECTOR)
          .forEach((c, i) => {
            if (i < dims.length) c.dimension = dims[i];
          });
        break;
      }
      default:
        unknownMetadata.push({ type, data: body.bytes(len).toString('base64') });
    }
    if (body.pos > end) throw new EventDecodeError(`optional metadata ${type} overruns its ${len} bytes`);
    body.pos = end;
  }

  for (const c of numeric) if (c.unsigned === undefined) c.unsigned = null;
  for (const c of character) if (c.collation === undefined) c.collation = null;
  for (const c of enumSet) if (c.collation === undefined) c.collation = null;
  for (const c of [...character, ...enumSet])
    c.charset = c.collation === null ? null : (charsetOfCollation(c.collation!) ?? null);

  const notes: string[] = [];
  if (!signednessKnown && numeric.some((c) => isIntegerType(c.type))) {
    notes.push('no SIGNEDNESS metadata: integer columns are decoded as signed');
  }
  const textual = character.filter((c) => c.type !== ColumnType.GEOMETRY);
  if (!charsetsKnown && textual.length > 0) {
    notes.push(
      'no charset metadata: string columns are shown as text when their bytes are valid UTF-8, otherwise as binary',
    );
  }
  const raw = textual.filter((c) => columnCodec(c) === 'raw');
  if (raw.length > 0) {
    const names = [...new Set(raw.map((c) => c.charset ?? `collation ${c.collation}`))].join(', ');
    notes.push(`character set ${names} is not converted: those values are shown as binary`);
  }
  if (enumSet.some((c) => (c.type === ColumnType.ENUM ? !c.enumValues : !c.setValues))) {
    notes.push('no ENUM/SET value metadata: ENUM values are shown as 1-based indexes and SET values as bitmasks');
  }
  if (bare)
    notes.push('pre-GA table map without column metadata: CHAR/VARCHAR lengths are assumed to fit one length byte');
  if (
    mariadb &&
    columns.some((c) => c.type === ColumnType.TIME || c.type === ColumnType.DATETIME || c.type === ColumnType.TIMESTAMP)
  ) {
    notes.push(
      'old-format TIME/DATETIME/TIMESTAMP columns are decoded without fractional seconds; MariaDB "hires" columns with a precision need it from the table definition (applyColumnOverrides)',
    );
  }
  if (columns.some((c) => c.type === ColumnType.DECIMAL)) {
    notes.push('old DECIMAL columns (MySQL < 5.0.3) cannot be decoded: the binlog does not carry their length');
  }

  const out: TableMapData = {
    tableId,
    flags,
    database,
    table,
    columnCount,
    columnTypes,
    columns,
    optionalMetadata,
    notes,
  };
  if (primaryKey) out.primaryKey = primaryKey;
  if (unknownMetadata.length > 0) out.unknownMetadata = unknownMetadata;
  return out;
}

registerDecoder(EventType.TABLE_MAP, decodeTableMap);
