/**
 * Rows events: WRITE/UPDATE/DELETE_ROWS v0 (pre-GA 5.1, 4-byte table ids), v1, v2 (with
 * extra data), MySQL PARTIAL_UPDATE_ROWS (JSON diffs) and MariaDB's compressed rows
 * events (v1 and v2).
 *
 * Post-header: table_id u48 (u32 when the post-header is 6 bytes), flags u16, v2:
 * extra_len u16 (counting itself) + extra data. Body: column_count packed, columns-present
 * bitmap, UPDATE: a second bitmap (after image), then the rows to the end of the event —
 * for MariaDB compressed events as one zlib block (header 0x80 | alg << 4 | len_bytes,
 * the uncompressed length big-endian, a zlib stream).
 *
 * Decoding is lazy twice over: the event body is decoded when `event.data` is read, and
 * the row values only when `rows` is read (or the data is serialised). Row images are
 * decoded with the table map's compiled per-column decoders.
 */
import { inflateSync } from 'node:zlib';
import { type Cursor, EventDecodeError } from '../cursor.js';
import { BinlogFormatError } from '../errors.js';
import { EventType, eventTypeName } from '../event-types.js';
import { RowReader } from '../rows/columns.js';
import { formatRowsEventText, type RowsTextOptions } from '../rows/format-text.js';
import { rowsEventToJson } from '../rows/row-json.js';
import { type DecodeContext, registerDecoder } from './registry.js';
import { type CompiledTable, compiledTable, type TableMapData } from './table-map.js';

/** Rows event flags (post-header). */
export const RowsEventFlag = {
  STMT_END: 0x0001,
  NO_FOREIGN_KEY_CHECKS: 0x0002,
  RELAXED_UNIQUE_CHECKS: 0x0004,
  COMPLETE_ROWS: 0x0008,
} as const;

export type RowsKind = 'insert' | 'update' | 'delete';

/** One row image: values keyed by 1-based column ordinal; columns outside a MINIMAL/NOBLOB image are absent. */
export type RowImage = Record<number, unknown>;

/** One row of a rows event: INSERT has `after`, DELETE `before`, UPDATE both. */
export interface RowChange {
  before?: RowImage;
  after?: RowImage;
}

/** v2 extra data (rows_event.h extra_row_info). */
export interface RowsExtraData {
  /** The bytes as written (base64), for re-encoding. */
  raw: string;
  /** NDB cluster info (type 0). */
  ndb?: { format: number; data: string };
  /** Partition info (type 1); sourcePartitionId for UPDATE. */
  partition?: { partitionId: number; sourcePartitionId?: number };
  /** Bytes after an unknown item type (base64). */
  unknown?: string;
}

const WRITE = new Set<number>([
  EventType.PRE_GA_WRITE_ROWS,
  EventType.WRITE_ROWS_V1,
  EventType.WRITE_ROWS,
  EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_WRITE_ROWS_COMPRESSED,
]);
const UPDATE = new Set<number>([
  EventType.PRE_GA_UPDATE_ROWS,
  EventType.UPDATE_ROWS_V1,
  EventType.UPDATE_ROWS,
  EventType.PARTIAL_UPDATE_ROWS,
  EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_UPDATE_ROWS_COMPRESSED,
]);
const V2 = new Set<number>([
  EventType.WRITE_ROWS,
  EventType.UPDATE_ROWS,
  EventType.DELETE_ROWS,
  EventType.PARTIAL_UPDATE_ROWS,
  EventType.MARIADB_WRITE_ROWS_COMPRESSED,
  EventType.MARIADB_UPDATE_ROWS_COMPRESSED,
  EventType.MARIADB_DELETE_ROWS_COMPRESSED,
]);
const COMPRESSED = new Set<number>([
  EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_WRITE_ROWS_COMPRESSED,
  EventType.MARIADB_UPDATE_ROWS_COMPRESSED,
  EventType.MARIADB_DELETE_ROWS_COMPRESSED,
]);
const PRE_GA = new Set<number>([
  EventType.PRE_GA_WRITE_ROWS,
  EventType.PRE_GA_UPDATE_ROWS,
  EventType.PRE_GA_DELETE_ROWS,
]);

/** value_options bit of PARTIAL_UPDATE after images. */
const PARTIAL_JSON_UPDATES = 1;

/** Decompress MariaDB's compressed block (log_event.cc binlog_buf_uncompress). */
export function inflateMariadbEventData(block: Buffer): Buffer {
  if (block.length < 1) throw new EventDecodeError('compressed rows: empty block');
  const h = block[0];
  const alg = (h >> 4) & 7;
  const lb = h & 7;
  if ((h & 0x80) === 0 || alg !== 0 || lb < 1 || lb > 4) {
    throw new EventDecodeError(`compressed rows: unsupported header 0x${h.toString(16)}`);
  }
  if (block.length < 1 + lb) throw new EventDecodeError('compressed rows: truncated header');
  const expected = block.readUIntBE(1, lb);
  let out: Buffer;
  try {
    out = inflateSync(block.subarray(1 + lb));
  } catch (err) {
    throw new EventDecodeError(`compressed rows do not inflate: ${(err as Error).message}`);
  }
  if (out.length !== expected)
    throw new EventDecodeError(`compressed rows inflated to ${out.length} bytes, header says ${expected}`);
  return out;
}

function parseExtraData(extra: Buffer, update: boolean): RowsExtraData {
  const out: RowsExtraData = { raw: extra.toString('base64') };
  let p = 0;
  while (p < extra.length) {
    const type = extra[p];
    if (type === 0 && p + 2 < extra.length + 1) {
      const len = extra[p + 1];
      if (len < 2 || p + 1 + len > extra.length) break;
      out.ndb = { format: extra[p + 2], data: extra.subarray(p + 3, p + 1 + len).toString('base64') };
      p += 1 + len;
    } else if (type === 1 && p + 3 <= extra.length) {
      out.partition = { partitionId: extra.readUInt16LE(p + 1) };
      p += 3;
      if (update && p + 2 <= extra.length) {
        out.partition.sourcePartitionId = extra.readUInt16LE(p);
        p += 2;
      }
    } else break;
  }
  if (p < extra.length) out.unknown = extra.subarray(p).toString('base64');
  return out;
}

function bitmapOrdinals(b: Buffer, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (b[i >> 3] & (1 << (i & 7))) out.push(i + 1);
  return out;
}

/** The decoded body of a rows event. `rows` is decoded on first access. */
export class RowsEventData {
  /** INSERT (WRITE_ROWS), UPDATE (incl. PARTIAL_UPDATE) or DELETE. */
  readonly kind: RowsKind;
  /** 0 pre-GA 5.1, 1, or 2 (extra data; PARTIAL_UPDATE and MariaDB's compressed v2 events too). */
  readonly version: 0 | 1 | 2;
  /** MariaDB compressed rows event (rows part was zlib-compressed). */
  readonly compressed: boolean;
  /** MySQL PARTIAL_UPDATE_ROWS: after images may hold JSON diffs. */
  readonly partialJson: boolean;
  readonly tableId: number;
  readonly flags: number;
  /** STMT_END_F: last event of the statement (table ids are released after it). */
  readonly stmtEnd: boolean;
  /** v2 extra data; null for v0/v1 and when empty. */
  readonly extraData: RowsExtraData | null;
  readonly columnCount: number;
  /** Ordinals of the columns in before images (UPDATE, DELETE); null for INSERT. */
  readonly beforeColumns: number[] | null;
  /** Ordinals of the columns in after images (INSERT, UPDATE); null for DELETE. */
  readonly afterColumns: number[] | null;
  /** "db.table" from the table map, null when no table map was seen for tableId. */
  readonly table: string | null;
  /** The table map in force (not serialised). */
  readonly #tableMap: TableMapData | undefined;
  /** The table map in force (not serialised). */
  get tableMap(): TableMapData | undefined {
    return this.#tableMap;
  }
  readonly #source: Buffer;
  readonly #rowsStart: number;
  readonly #rowsEnd: number;
  readonly #presentBefore: Int32Array | null;
  readonly #presentAfter: Int32Array | null;
  #rowsData: Buffer | undefined;
  #decodedRows: RowChange[] | undefined;
  /** Where the event is: the rows are decoded lazily, and their errors must still say it. */
  readonly #file: string | undefined;
  readonly #offset: number;
  readonly #typeCode: number;

  constructor(body: Cursor, ctx: DecodeContext) {
    const type = ctx.typeCode;
    this.kind = WRITE.has(type) ? 'insert' : UPDATE.has(type) ? 'update' : 'delete';
    this.version = PRE_GA.has(type) ? 0 : V2.has(type) ? 2 : 1;
    this.compressed = COMPRESSED.has(type);
    this.partialJson = type === EventType.PARTIAL_UPDATE_ROWS;
    const post = ctx.postHeaderLength;
    const idLen = post === 6 ? 4 : 6;
    this.tableId = body.uintLE(idLen);
    this.flags = body.u16();
    this.stmtEnd = (this.flags & RowsEventFlag.STMT_END) !== 0;
    let extra: RowsExtraData | null = null;
    if (this.version === 2) {
      const extraLen = body.u16();
      if (extraLen < 2) throw new EventDecodeError(`rows event extra-data length ${extraLen} is below 2`);
      if (extraLen > 2) extra = parseExtraData(body.bytes(extraLen - 2), this.kind === 'update');
    }
    this.extraData = extra;
    this.columnCount = body.packed();
    const n = this.columnCount;
    // Not `(n + 7) >> 3`: a damaged count of 2^32 + k wraps to a few bytes in 32-bit
    // arithmetic, and the bitmap loop then ran over billions of columns (found by fuzzing).
    const bitmapBytes = Math.ceil(n / 8);
    const first = bitmapOrdinals(body.bytes(bitmapBytes), n);
    // Pre-GA 5.1 UPDATE events have one bitmap for both images.
    const second =
      this.kind !== 'update' ? null : this.version === 0 ? first : bitmapOrdinals(body.bytes(bitmapBytes), n);
    this.beforeColumns = this.kind === 'insert' ? null : first;
    this.afterColumns = this.kind === 'insert' ? first : second;
    this.#presentBefore = this.beforeColumns ? Int32Array.from(this.beforeColumns, (o) => o - 1) : null;
    this.#presentAfter = this.afterColumns ? Int32Array.from(this.afterColumns, (o) => o - 1) : null;
    const map = ctx.tableMap as TableMapData | undefined;
    this.#tableMap = map && map.tableId === this.tableId ? map : undefined;
    this.table = this.tableMap ? `${this.tableMap.database}.${this.tableMap.table}` : null;
    this.#source = body.buf;
    this.#rowsStart = body.pos;
    this.#rowsEnd = body.end;
    body.pos = body.end;
    this.#rowsData = undefined;
    this.#decodedRows = undefined;
    this.#file = ctx.file;
    this.#offset = ctx.offset ?? 0;
    this.#typeCode = type;
    // Internals are #private (out of enumeration, console.log and deep equality) rather
    // than hidden with defineProperty, which made every rows event a slow dictionary-mode
    // object (bench/).
  }

  /** The rows part of the event (decompressed for MariaDB compressed events). Throws BinlogFormatError. */
  get rowsBytes(): Buffer {
    if (this.#rowsData === undefined) {
      const raw = this.#source.subarray(this.#rowsStart, this.#rowsEnd);
      try {
        this.#rowsData = this.compressed ? inflateMariadbEventData(raw) : raw;
      } catch (err) {
        throw this.#typed(err);
      }
    }
    return this.#rowsData;
  }

  /**
   * The rows, decoded with the table map in force. Throws BinlogFormatError (naming the
   * event's file and offset) when there is no table map for the table id (reading started
   * after it) or a value cannot be decoded — like every other failure of the parser.
   */
  get rows(): RowChange[] {
    if (this.#decodedRows === undefined) {
      try {
        this.#decodedRows = this.decodeRows();
      } catch (err) {
        throw this.#typed(err);
      }
    }
    return this.#decodedRows;
  }

  #typed(err: unknown): BinlogFormatError {
    if (err instanceof BinlogFormatError) return err;
    const e = err as Error;
    return new BinlogFormatError({
      file: this.#file,
      offset: this.#offset,
      eventType: eventTypeName(this.#typeCode),
      reason: 'bad-event',
      message: err instanceof EventDecodeError ? e.message : `decoder failed: ${e?.message ?? String(err)}`,
    });
  }

  private decodeRows(): RowChange[] {
    if (this.version !== 0) return this.decodeRowsWith(0);
    // Pre-GA 5.1 images are table records: their null bytes start with a reserved bit for
    // fixed-format tables. The binlog does not say which; take the reading that fits.
    try {
      return this.decodeRowsWith(1);
    } catch {
      return this.decodeRowsWith(0);
    }
  }

  private decodeRowsWith(nullOffset: number): RowChange[] {
    const map = this.tableMap;
    if (!map) {
      throw new EventDecodeError(
        `no TABLE_MAP for table id ${this.tableId} before this rows event (start reading at the statement's TABLE_MAP)`,
      );
    }
    if (map.columnCount !== this.columnCount) {
      throw new EventDecodeError(
        `rows event has ${this.columnCount} columns, its TABLE_MAP ${map.columnCount} (${this.table})`,
      );
    }
    const compiled = compiledTable(map);
    const buf = this.rowsBytes;
    const r = new RowReader(buf, 0, buf.length);
    const rows: RowChange[] = [];
    const state = { column: -1 };
    try {
      while (r.pos < r.end) {
        const at = r.pos;
        const change: RowChange = {};
        if (this.kind === 'insert')
          change.after = readImage(r, this.#presentAfter!, compiled, false, nullOffset, state);
        else if (this.kind === 'delete')
          change.before = readImage(r, this.#presentBefore!, compiled, false, nullOffset, state);
        else {
          change.before = readImage(r, this.#presentBefore!, compiled, false, nullOffset, state);
          change.after = readImage(r, this.#presentAfter!, compiled, this.partialJson, nullOffset, state);
        }
        // A row of no bytes (no column present in its images) cannot be followed by more:
        // without this, damaged bitmaps made the loop add empty rows until memory ran out.
        if (r.pos === at) {
          state.column = -1;
          throw new EventDecodeError(`a row with no column present, and ${r.end - r.pos} more bytes of rows`);
        }
        rows.push(change);
      }
    } catch (err) {
      if (!(err instanceof EventDecodeError)) throw err;
      const c = state.column;
      const where = c >= 0 ? `, column @${c + 1} (${map.columns[c].typeName})` : '';
      throw new EventDecodeError(`${this.table} row ${rows.length + 1}${where}: ${err.message}`);
    }
    return rows;
  }

  /** Notes of the table map on what the binlog did not say (signedness, charsets, ENUM/SET labels). */
  get notes(): string[] {
    return this.tableMap?.notes ?? [];
  }

  /** The documented JSON form (docs/row-json.md); JSON.stringify uses it. */
  toJSON(): Record<string, unknown> {
    return rowsEventToJson(this);
  }

  /** mysqlbinlog -v style text (`### INSERT INTO \`db\`.\`t\`` …). */
  toText(opts: RowsTextOptions = {}): string {
    return formatRowsEventText(this, opts);
  }
}

/**
 * One row image: [PARTIAL_UPDATE after images: value_options packed, partial-JSON bitmap
 * over all JSON columns] null bitmap over the present columns, then the values of the
 * present, non-NULL columns.
 */
function readImage(
  r: RowReader,
  present: Int32Array,
  t: CompiledTable,
  partial: boolean,
  nullOffset: number,
  state: { column: number },
): RowImage {
  const buf = r.buf;
  let partialBits = -1;
  if (partial && readPacked(r) & PARTIAL_JSON_UPDATES) partialBits = take(r, (t.jsonCount + 7) >> 3);
  const count = present.length;
  const nulls = take(r, (count + nullOffset + 7) >> 3);
  const decoders = t.decoders;
  const img: RowImage = {};
  for (let k = 0; k < count; k++) {
    const i = present[k];
    const b = k + nullOffset;
    state.column = i;
    if (buf[nulls + (b >> 3)] & (1 << (b & 7))) {
      img[i + 1] = null;
      continue;
    }
    const j = partialBits >= 0 ? t.jsonIndex[i] : -1;
    img[i + 1] = j >= 0 && buf[partialBits + (j >> 3)] & (1 << (j & 7)) ? t.jsonDiffDecoders[i]!(r) : decoders[i](r);
  }
  state.column = -1;
  return img;
}

function take(r: RowReader, n: number): number {
  const p = r.pos;
  if (p + n > r.end) throw new EventDecodeError(`row image needs ${n} bytes at +${p}, only ${r.end - p} left`);
  r.pos = p + n;
  return p;
}

function readPacked(r: RowReader): number {
  const b = r.buf[take(r, 1)];
  if (b < 0xfb) return b;
  if (b === 0xfc) return r.buf.readUInt16LE(take(r, 2));
  if (b === 0xfd) return r.buf.readUIntLE(take(r, 3), 3);
  if (b === 0xfe) return Number(r.buf.readBigUInt64LE(take(r, 8)));
  throw new EventDecodeError(`invalid packed integer 0x${b.toString(16)}`);
}

registerDecoder(
  [
    EventType.PRE_GA_WRITE_ROWS,
    EventType.PRE_GA_UPDATE_ROWS,
    EventType.PRE_GA_DELETE_ROWS,
    EventType.WRITE_ROWS_V1,
    EventType.UPDATE_ROWS_V1,
    EventType.DELETE_ROWS_V1,
    EventType.WRITE_ROWS,
    EventType.UPDATE_ROWS,
    EventType.DELETE_ROWS,
    EventType.PARTIAL_UPDATE_ROWS,
    EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1,
    EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1,
    EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1,
    EventType.MARIADB_WRITE_ROWS_COMPRESSED,
    EventType.MARIADB_UPDATE_ROWS_COMPRESSED,
    EventType.MARIADB_DELETE_ROWS_COMPRESSED,
  ],
  (body, ctx) => new RowsEventData(body, ctx),
);
