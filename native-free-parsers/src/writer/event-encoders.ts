/**
 * Event encoders: the decoded `data` of an event (what `BinlogEvent.data` returns) back to
 * the bytes a server writes. `encodeEvent(type, data, opts)` builds the whole event —
 * common header, body, CRC32 trailer — so decode → encode gives the original bytes for
 * every event whose decoded form keeps all of them. Where it does not — zlib streams
 * (Node's zlib is not the server's), text that is not valid UTF-8, status variables after
 * an unknown code, bitmap padding a server sets its own way — the result decodes to the
 * same data (native-free-parsers/test/writer.test.ts lists the fixture events concerned).
 *
 * Bodies are written as the servers write them: QUERY status variables in the servers'
 * order, MariaDB GTIDs padded to 19 bytes, MySQL GTIDs in the 5.6/5.7/8.0 layout their
 * fields call for, TABLE_MAP optional metadata regenerated from the column information
 * in the order it was listed, rows events from decoded row values through the row-image
 * codecs (MariaDB COMPRESSED columns and compressed rows events re-compressed with zlib).
 */
import { deflateRawSync, deflateSync } from 'node:zlib';
import { writePacked } from '../cursor.js';
import type { BinlogCheckpointData } from '../decoders/binlog-checkpoint.js';
import type { FormatDescriptionData } from '../decoders/format-description.js';
import type { GtidData } from '../decoders/gtid.js';
import type { HeartbeatData } from '../decoders/heartbeat.js';
import type { IncidentData } from '../decoders/incident.js';
import type { IntvarData } from '../decoders/intvar.js';
import type { LargeTransactionHeaderData } from '../decoders/large-transaction-header.js';
import type { LegacyLoadData, LoadBlockData, LoadFileIdData } from '../decoders/load-data.js';
import type { MariadbGtidData } from '../decoders/mariadb-gtid.js';
import { MariadbGtidExtraFlag, MariadbGtidFlag } from '../decoders/mariadb-gtid.js';
import type { MariadbGtidListData } from '../decoders/mariadb-gtid-list.js';
import type { EncodedGtidSetEntry, PreviousGtidsData } from '../decoders/previous-gtids.js';
import type { QueryStatusVars } from '../decoders/query.js';
import { QueryStatusCode } from '../decoders/query.js';
import type { RandData } from '../decoders/rand.js';
import type { RotateData } from '../decoders/rotate.js';
import type { RowChange, RowImage } from '../decoders/rows.js';
import type { RowsQueryData } from '../decoders/rows-query.js';
import type { StartEncryptionData } from '../decoders/start-encryption.js';
import { type TableMapData, TableMapMetadata } from '../decoders/table-map.js';
import type { TransactionContextData } from '../decoders/transaction-context.js';
import { type UserVarData, UserVarType } from '../decoders/user-var.js';
import type { ViewChangeData } from '../decoders/view-change.js';
import type { XaPrepareData } from '../decoders/xa-prepare.js';
import type { XidData } from '../decoders/xid.js';
import { EventType } from '../event-types.js';
import { type FormatDescription, postHeaderLength } from '../format-description.js';
import { encodeText } from '../rows/charsets.js';
import {
  ByteWriter,
  type ColumnInfo,
  ColumnType,
  columnCodec,
  encodeColumnValue,
  isCharacterType,
  isNumericType,
} from '../rows/columns.js';
import { encodeDecimal } from '../rows/decimal-codec.js';
import { MysqlJsonDiff } from '../rows/json-binary.js';
import { buildEvent } from './event-writer.js';

/** How to frame an encoded event. */
export interface EncodeOptions {
  /** The format description in force for the event (post-header lengths, checksums, server flavour). */
  fd: FormatDescription;
  timestamp?: number;
  serverId?: number;
  /** Header log_pos (end position of the event in its file; 0 inside payloads). */
  logPos?: number;
  flags?: number;
  /**
   * Append a CRC32 trailer. Default: as `fd` says (for a FORMAT_DESCRIPTION: when it
   * carries a checksum-algorithm byte). Events inside a TRANSACTION_PAYLOAD have none.
   */
  checksum?: boolean;
  /** Rows events: the table map their values are encoded with (default: `data.tableMap`). */
  tableMap?: TableMapData;
}

/** Thrown for a type that has no encoder, or data the encoder cannot write. */
export class EventEncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventEncodeError';
  }
}

// ---------------------------------------------------------------- input shapes

/**
 * QUERY / QUERY_COMPRESSED / EXECUTE_LOAD_QUERY input: a decoded QueryData, or fields
 * for a new event (everything but `sql` may be left out).
 */
export interface QueryEventInput {
  threadId?: number;
  execTime?: number;
  errorCode?: number;
  database?: string;
  sql: string;
  /** Statement bytes to write instead of `sql` as UTF-8 (statements with latin1/binary literals). */
  sqlBytes?: Buffer;
  statusVars?: QueryStatusVars;
  /**
   * The status-variable block exactly as written (taken instead of `statusVars`): needed
   * to reproduce an event whose block holds a code the decoder does not know, or codes in
   * an order other than the servers' own.
   */
  statusVarsRaw?: Buffer;
  /** EXECUTE_LOAD_QUERY. */
  fileId?: number;
  fnPosStart?: number;
  fnPosEnd?: number;
  dupHandling?: number;
}

/** Rows events input: a decoded RowsEventData, or fields for a new event. */
export interface RowsEventInput {
  tableId: number;
  flags?: number;
  /** v2 extra data: `{ raw: base64 }` as decoded, or a Buffer. */
  extraData?: { raw: string } | Buffer | null;
  columnCount?: number;
  /** Ordinals in before images (UPDATE, DELETE); default every column. */
  beforeColumns?: number[] | null;
  /** Ordinals in after images (INSERT, UPDATE); default every column. */
  afterColumns?: number[] | null;
  rows: RowChange[];
  /** Pre-GA 5.1 (v0) images are table records: 1 (default) when their null bits start with the reserved bit of fixed-format tables, else 0. */
  nullBitOffset?: number;
  /** The table map in force (RowsEventData carries it). */
  tableMap?: TableMapData;
}

/** TRANSACTION_PAYLOAD input: the decoded header plus the payload bytes (or the inner events, stored uncompressed). */
export interface TransactionPayloadInput {
  compressionType?: number;
  uncompressedSize?: number;
  /** The payload exactly as stored (compressed). */
  payload?: Buffer;
  /** Inner events (no checksums, log_pos 0): written uncompressed (compression NONE). */
  events?: Buffer[];
}

// ---------------------------------------------------------------- body writer

/** Little-endian body builder over the growable row writer. */
class Body {
  readonly w = new ByteWriter(256);
  get length(): number {
    return this.w.pos;
  }
  u8(v: number): void {
    const p = this.w.take(1);
    this.w.buf[p] = v & 0xff;
  }
  u16(v: number): void {
    const p = this.w.take(2);
    this.w.buf.writeUInt16LE(v & 0xffff, p);
  }
  u24(v: number): void {
    const p = this.w.take(3);
    this.w.buf.writeUIntLE(v, p, 3);
  }
  u32(v: number): void {
    const p = this.w.take(4);
    this.w.buf.writeUInt32LE(v >>> 0, p);
  }
  i32(v: number): void {
    const p = this.w.take(4);
    this.w.buf.writeInt32LE(v, p);
  }
  uintLE(v: number, n: number): void {
    const p = this.w.take(n);
    this.w.buf.writeUIntLE(v, p, n);
  }
  u64(v: bigint | number): void {
    const p = this.w.take(8);
    this.w.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), p);
  }
  i64(v: bigint | number): void {
    const p = this.w.take(8);
    this.w.buf.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), p);
  }
  /** MySQL packed (length-encoded) integer. */
  packed(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new EventEncodeError(`packed integer ${v} out of range`);
    const p = this.w.take(9);
    this.w.pos = writePacked(this.w.buf, p, v);
  }
  bytes(b: Uint8Array): void {
    this.w.bytes(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  zeros(n: number): void {
    if (n <= 0) return;
    const p = this.w.take(n);
    this.w.buf.fill(0, p, p + n);
  }
  /** Zero-fill up to `length` bytes from `start` (a post-header longer than the fields written). */
  padTo(start: number, length: number): void {
    this.zeros(start + length - this.w.pos);
  }
  result(): Buffer {
    return Buffer.from(this.w.result());
  }
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

function fromBase64(v: string | Buffer | Uint8Array): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(v);
}

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new EventEncodeError(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** Bytes needed for `len` in MariaDB's compressed headers (1–4). */
function lengthBytes(len: number): number {
  if (len < 0x100) return 1;
  if (len < 0x10000) return 2;
  if (len < 0x1000000) return 3;
  return 4;
}

/**
 * MariaDB compressed event data (QUERY_COMPRESSED statements, compressed rows):
 * `0x80 | length bytes`, the length big-endian, then zlib `compress()` output.
 */
export function compressMariadbEventData(data: Buffer): Buffer {
  const lb = lengthBytes(data.length);
  const head = Buffer.alloc(1 + lb);
  head[0] = 0x80 | lb;
  head.writeUIntBE(data.length, 1, lb);
  return Buffer.concat([head, deflateSync(data)]);
}

/**
 * A MariaDB COMPRESSED column value as the server stores it (Field_longstr::compress,
 * field_comp.cc compress_zlib) with the default settings: values shorter than
 * column_compression_threshold (100) and values that do not shrink are stored as is
 * after a 0 header byte; others as header `0x80 | 8 (raw deflate, wrap OFF) | length
 * bytes`, the length big-endian, and a raw deflate stream of column_compression_zlib_level
 * (6). Empty stays empty.
 */
export function compressMariadbColumn(plain: Buffer, opts: { level?: number; threshold?: number } = {}): Buffer {
  const level = opts.level ?? 6;
  const threshold = opts.threshold ?? 100;
  if (plain.length === 0) return plain;
  if (plain.length >= threshold && plain.length > 1 && level > 0) {
    const lb = lengthBytes(plain.length);
    const stream = deflateRawSync(plain, { level });
    if (stream.length <= plain.length - lb - 1) {
      const head = Buffer.alloc(1 + lb);
      head[0] = 0x80 | 8 | lb;
      head.writeUIntBE(plain.length, 1, lb);
      return Buffer.concat([head, stream]);
    }
  }
  return Buffer.concat([Buffer.from([0]), plain]);
}

// ---------------------------------------------------------------- per-type encoders

interface EncodeContext {
  fd: FormatDescription;
  type: number;
  postHeaderLength: number;
  tableMap?: TableMapData;
}

type BodyEncoder = (b: Body, data: never, ctx: EncodeContext) => void;

const encoders = new Map<number, BodyEncoder>();
function register<T>(types: number | number[], fn: (b: Body, data: T, ctx: EncodeContext) => void): void {
  for (const t of Array.isArray(types) ? types : [types]) encoders.set(t, fn as BodyEncoder);
}

// FORMAT_DESCRIPTION ------------------------------------------------------------
const ALG_CODES: Record<string, number> = { none: 0, crc32: 1, undef: 255 };

register<FormatDescriptionData>(EventType.FORMAT_DESCRIPTION, (b, d) => {
  b.u16(d.binlogVersion);
  const version = Buffer.alloc(50);
  version.write(d.serverVersion.slice(0, 50), 'latin1');
  b.bytes(version);
  b.u32(d.createTimestamp);
  b.u8(d.commonHeaderLength);
  b.bytes(Uint8Array.from(d.postHeaderLengths));
  if (d.checksumAlgorithm !== 'absent') b.u8(ALG_CODES[d.checksumAlgorithm] ?? 255);
});

// ROTATE ------------------------------------------------------------------------
register<RotateData>(EventType.ROTATE, (b, d, ctx) => {
  const start = b.length;
  if (ctx.postHeaderLength >= 8) {
    b.u64(d.position);
    b.padTo(start, ctx.postHeaderLength);
  }
  b.bytes(utf8(d.nextFile));
});

// QUERY family ------------------------------------------------------------------
const OVER_MAX_DBS_IN_EVENT_MTS = 254;
const GTID_FLAGS3_ALTER_SEQ = MariadbGtidExtraFlag.COMMIT_ALTER | MariadbGtidExtraFlag.ROLLBACK_ALTER;

/** Status variables in the order MySQL and MariaDB write them (Query_log_event::write). */
export function encodeQueryStatusVars(v: QueryStatusVars, fd?: FormatDescription): Buffer {
  const b = new Body();
  const Q = QueryStatusCode;
  if (v.flags2 !== undefined) {
    b.u8(Q.FLAGS2);
    b.u32(v.flags2);
  }
  if (v.sqlMode !== undefined) {
    b.u8(Q.SQL_MODE);
    b.u64(v.sqlMode);
  }
  if (v.catalog !== undefined) {
    const cat = utf8(v.catalog);
    const [maj, min, pat] = fd?.versionSplit ?? [0, 0, 0];
    // 5.0.0–5.0.3 wrote Q_CATALOG_CODE (NUL-terminated); later servers Q_CATALOG_NZ_CODE.
    if (!fd?.isMariaDB && maj === 5 && min === 0 && pat < 4) {
      b.u8(Q.CATALOG);
      b.u8(cat.length);
      b.bytes(cat);
      b.u8(0);
    } else {
      b.u8(Q.CATALOG_NZ);
      b.u8(cat.length);
      b.bytes(cat);
    }
  }
  if (v.autoIncrementIncrement !== undefined || v.autoIncrementOffset !== undefined) {
    b.u8(Q.AUTO_INCREMENT);
    b.u16(v.autoIncrementIncrement ?? 1);
    b.u16(v.autoIncrementOffset ?? 1);
  }
  if (v.charset) {
    b.u8(Q.CHARSET);
    b.u16(v.charset.client);
    b.u16(v.charset.connection);
    b.u16(v.charset.server);
  }
  if (v.timeZone !== undefined) {
    const tz = utf8(v.timeZone);
    b.u8(Q.TIME_ZONE);
    b.u8(tz.length);
    b.bytes(tz);
  }
  if (v.lcTimeNames !== undefined) {
    b.u8(Q.LC_TIME_NAMES);
    b.u16(v.lcTimeNames);
  }
  if (v.charsetDatabase !== undefined) {
    b.u8(Q.CHARSET_DATABASE);
    b.u16(v.charsetDatabase);
  }
  if (v.tableMapForUpdate !== undefined) {
    b.u8(Q.TABLE_MAP_FOR_UPDATE);
    b.u64(v.tableMapForUpdate);
  }
  if (v.masterDataWritten !== undefined) {
    b.u8(Q.MASTER_DATA_WRITTEN);
    b.u32(v.masterDataWritten);
  }
  if (v.invoker) {
    const user = utf8(v.invoker.user);
    const host = utf8(v.invoker.host);
    b.u8(Q.INVOKER);
    b.u8(user.length);
    b.bytes(user);
    b.u8(host.length);
    b.bytes(host);
  }
  if (v.updatedDbNames !== undefined || v.updatedDbNamesOverflow) {
    b.u8(Q.UPDATED_DB_NAMES);
    if (v.updatedDbNamesOverflow) b.u8(OVER_MAX_DBS_IN_EVENT_MTS);
    else {
      const names = v.updatedDbNames ?? [];
      b.u8(names.length);
      for (const n of names) {
        b.bytes(utf8(n));
        b.u8(0);
      }
    }
  }
  if (v.microseconds !== undefined) {
    b.u8(Q.MICROSECONDS);
    b.u24(v.microseconds);
  }
  if (v.explicitDefaultsForTimestamp !== undefined) {
    b.u8(Q.EXPLICIT_DEFAULTS_FOR_TIMESTAMP);
    b.u8(v.explicitDefaultsForTimestamp);
  }
  if (v.ddlXid !== undefined) {
    b.u8(Q.DDL_LOGGED_WITH_XID);
    b.u64(v.ddlXid);
  }
  if (v.defaultCollationForUtf8mb4 !== undefined) {
    b.u8(Q.DEFAULT_COLLATION_FOR_UTF8MB4);
    b.u16(v.defaultCollationForUtf8mb4);
  }
  if (v.sqlRequirePrimaryKey !== undefined) {
    b.u8(Q.SQL_REQUIRE_PRIMARY_KEY);
    b.u8(v.sqlRequirePrimaryKey);
  }
  if (v.defaultTableEncryption !== undefined) {
    b.u8(Q.DEFAULT_TABLE_ENCRYPTION);
    b.u8(v.defaultTableEncryption);
  }
  if (v.hrnow !== undefined) {
    b.u8(Q.MARIADB_HRNOW);
    b.u24(v.hrnow);
  }
  if (v.xid !== undefined) {
    b.u8(Q.MARIADB_XID);
    b.u64(v.xid);
  }
  if (v.gtidFlags3 !== undefined) {
    b.u8(Q.MARIADB_GTID_FLAGS3);
    b.u8(v.gtidFlags3);
    if (v.gtidFlags3 & GTID_FLAGS3_ALTER_SEQ) b.u64(v.startAlterSeqNo ?? 0n);
  }
  if (v.characterSetCollations !== undefined) {
    b.u8(Q.MARIADB_CHARACTER_SET_COLLATIONS);
    b.u8(v.characterSetCollations.length);
    for (const p of v.characterSetCollations) {
      b.u16(p.charsetId);
      b.u16(p.collationId);
    }
  }
  return b.result();
}

function encodeQuery(b: Body, d: QueryEventInput, ctx: EncodeContext): void {
  const ph = ctx.postHeaderLength;
  if (ph < 11) throw new EventEncodeError(`QUERY post-header length ${ph} is below 11`);
  const status = d.statusVarsRaw ? Buffer.from(d.statusVarsRaw) : encodeQueryStatusVars(d.statusVars ?? {}, ctx.fd);
  if (status.length > 0 && ph < 13) throw new EventEncodeError('this format has no room for QUERY status variables');
  const db = utf8(d.database ?? '');
  if (db.length > 255) throw new EventEncodeError(`database name of ${db.length} bytes`);
  const start = b.length;
  b.u32(d.threadId ?? 0);
  b.u32(d.execTime ?? 0);
  b.u8(db.length);
  b.u16(d.errorCode ?? 0);
  if (ph >= 13) b.u16(status.length);
  if (ctx.type === EventType.EXECUTE_LOAD_QUERY) {
    if (ph < 26) throw new EventEncodeError(`EXECUTE_LOAD_QUERY post-header length ${ph} is below 26`);
    b.u32(d.fileId ?? 0);
    b.u32(d.fnPosStart ?? 0);
    b.u32(d.fnPosEnd ?? 0);
    b.u8(d.dupHandling ?? 0);
  }
  b.padTo(start, ph);
  b.bytes(status);
  b.bytes(db);
  b.u8(0);
  const statement = d.sqlBytes ? Buffer.from(d.sqlBytes) : utf8(d.sql);
  b.bytes(ctx.type === EventType.MARIADB_QUERY_COMPRESSED ? compressMariadbEventData(statement) : statement);
}
register<QueryEventInput>(
  [EventType.QUERY, EventType.EXECUTE_LOAD_QUERY, EventType.MARIADB_QUERY_COMPRESSED],
  encodeQuery,
);

// Small fixed events --------------------------------------------------------------
register<XidData>(EventType.XID, (b, d) => b.u64(d.xid));
register<IntvarData>(EventType.INTVAR, (b, d) => {
  b.u8(d.type);
  b.u64(d.value);
});
register<RandData>(EventType.RAND, (b, d) => {
  b.u64(d.seed1);
  b.u64(d.seed2);
});
register<object>([EventType.STOP, EventType.IGNORABLE, EventType.SLAVE], () => {});
register<BinlogCheckpointData>(EventType.MARIADB_BINLOG_CHECKPOINT, (b, d) => {
  const name = utf8(d.binlogFile);
  b.u32(name.length);
  b.bytes(name);
});
register<RowsQueryData>(EventType.MARIADB_ANNOTATE_ROWS, (b, d) => b.bytes(utf8(d.sql)));
register<RowsQueryData>(EventType.ROWS_QUERY, (b, d) => {
  const sql = utf8(d.sql);
  // write_str_at_most_255_bytes: the length byte is the length mod 256; readers ignore it.
  b.u8(sql.length & 0xff);
  b.bytes(sql);
});
register<StartEncryptionData>(EventType.MARIADB_START_ENCRYPTION, (b, d) => {
  b.u8(d.scheme);
  b.u32(d.keyVersion);
  b.bytes(Buffer.from(d.nonce, 'hex'));
});
register<IncidentData>(EventType.INCIDENT, (b, d, ctx) => {
  const start = b.length;
  b.u16(d.incident);
  b.padTo(start, ctx.postHeaderLength);
  const msg = utf8(d.message);
  b.u8(msg.length);
  b.bytes(msg);
});
register<HeartbeatData>([EventType.HEARTBEAT, EventType.HEARTBEAT_V2], (b, d, ctx) => {
  const name = utf8(d.logFile);
  if (ctx.type === EventType.HEARTBEAT) {
    b.bytes(name);
    return;
  }
  b.packed(1);
  b.packed(name.length);
  b.bytes(name);
  if (d.position !== undefined) {
    const pos = new Body();
    pos.packed(d.position);
    b.packed(2);
    b.packed(pos.length);
    b.bytes(pos.result());
  }
});
register<LargeTransactionHeaderData>(EventType.LARGE_TRANSACTION_HEADER, (b, d) => {
  b.u8(d.version);
  b.u64(d.terminatingEventOffset);
  b.u8(d.terminatingEventType);
  b.zeros(d.paddingLength);
});

// USER_VAR ------------------------------------------------------------------------
const LATIN1_COLLATIONS = new Set([5, 8, 15, 31, 47, 48, 49, 94]);
const BINARY_COLLATION = 63;

function userVarValue(d: UserVarData): Buffer {
  const v = d.value;
  switch (d.typeCode) {
    case UserVarType.STRING:
      if (d.bytes) return Buffer.from(d.bytes);
      if (Buffer.isBuffer(v)) return v;
      return Buffer.from(
        String(v ?? ''),
        LATIN1_COLLATIONS.has(d.charset ?? 0) && d.charset !== BINARY_COLLATION ? 'latin1' : 'utf8',
      );
    case UserVarType.REAL: {
      const out = Buffer.alloc(8);
      out.writeDoubleLE(Number(v));
      return out;
    }
    case UserVarType.INT: {
      const out = Buffer.alloc(8);
      out.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v as bigint | number)));
      return out;
    }
    case UserVarType.DECIMAL: {
      const precision = d.precision ?? 0;
      const scale = d.scale ?? 0;
      return Buffer.concat([Buffer.from([precision, scale]), encodeDecimal(String(v), precision, scale)]);
    }
    default:
      if (Buffer.isBuffer(v)) return Buffer.from(v);
      throw new EventEncodeError(`USER_VAR of type ${d.typeCode} needs its value as bytes`);
  }
}

register<UserVarData>(EventType.USER_VAR, (b, d) => {
  const name = utf8(d.name);
  b.u32(name.length);
  b.bytes(name);
  b.u8(d.isNull ? 1 : 0);
  if (!d.isNull) {
    const value = userVarValue(d);
    b.u8(d.typeCode ?? UserVarType.STRING);
    b.u32(d.charset ?? BINARY_COLLATION);
    b.u32(value.length);
    b.bytes(value);
  }
  const flags = d.flags ?? (d.unsigned ? 1 : undefined);
  if (flags !== undefined) b.u8(flags);
});

// MariaDB GTID / GTID_LIST ------------------------------------------------------
/** Gtid_log_event::write pads short events to GTID_HEADER_LEN. */
const MARIADB_GTID_MIN_BODY = 19;

register<MariadbGtidData>(EventType.MARIADB_GTID, (b, d) => {
  const flags = d.flags;
  b.u64(d.seq);
  b.u32(d.domain);
  b.u8(flags);
  if (flags & MariadbGtidFlag.GROUP_COMMIT_ID) b.u64(d.commitId ?? 0n);
  if (flags & (MariadbGtidFlag.PREPARED_XA | MariadbGtidFlag.COMPLETED_XA)) {
    if (!d.xid) throw new EventEncodeError('MariaDB GTID with an XA flag needs its xid');
    const gtrid = Buffer.from(d.xid.gtrid, 'hex');
    const bqual = Buffer.from(d.xid.bqual, 'hex');
    b.i32(d.xid.formatId);
    b.u8(gtrid.length);
    b.u8(bqual.length);
    b.bytes(gtrid);
    b.bytes(bqual);
  }
  const fx = d.flagsExtra ?? 0;
  if (fx > 0) {
    b.u8(fx);
    if (fx & MariadbGtidExtraFlag.MULTI_ENGINE) b.u8(d.extraEngines ?? 0);
    if (fx & GTID_FLAGS3_ALTER_SEQ) b.u64(d.startAlterSeqNo ?? 0n);
    if (fx & MariadbGtidExtraFlag.THREAD_ID) b.u32(d.threadId ?? 0);
  }
  if (d.extra) b.bytes(d.extra);
  b.padTo(0, MARIADB_GTID_MIN_BODY);
});

/** An empty GTID list is written with two zero bytes after its count word (seen on every MariaDB 10.x fixture). */
const MARIADB_GTID_LIST_MIN_BODY = 6;

register<MariadbGtidListData>(EventType.MARIADB_GTID_LIST, (b, d) => {
  b.u32(((d.gtids.length & 0x0fffffff) | ((d.flags & 0xf) << 28)) >>> 0);
  for (const g of d.gtids) {
    b.u32(g.domain);
    b.u32(g.server);
    b.u64(g.seq);
  }
  b.padTo(0, MARIADB_GTID_LIST_MIN_BODY);
});

// MySQL GTID ------------------------------------------------------------------------
const LOGICAL_TIMESTAMP_TYPECODE = 2;
const COMMIT_TS_ORIGINAL_BIT = 1n << 55n;
const SERVER_VERSION_ORIGINAL_BIT = 0x80000000;

function uint7(b: Body, v: bigint): void {
  const p = b.w.take(7);
  b.w.buf.writeUIntLE(Number(v & 0xffffffffffffn), p, 6);
  b.w.buf[p + 6] = Number((v >> 48n) & 0xffn);
}

/** GTID / ANONYMOUS_GTID: 5.6 (25 bytes), 5.7 (+ logical clock), 8.0 (+ timestamps, length, versions, ticket). */
register<GtidData>([EventType.GTID, EventType.ANONYMOUS_GTID], (b, d) => {
  b.u8(d.flags);
  b.bytes(uuidBytes(d.sid));
  b.i64(d.gno);
  if (d.lastCommitted === undefined) return;
  b.u8(LOGICAL_TIMESTAMP_TYPECODE);
  b.i64(d.lastCommitted);
  b.i64(d.sequenceNumber ?? 0n);
  if (d.immediateCommitTimestamp === undefined) return;
  const imm = d.immediateCommitTimestamp;
  const orig = d.originalCommitTimestamp ?? imm;
  if (orig !== imm) {
    uint7(b, imm | COMMIT_TS_ORIGINAL_BIT);
    uint7(b, orig);
  } else uint7(b, imm);
  if (d.transactionLength === undefined) return;
  b.packed(d.transactionLength);
  if (d.immediateServerVersion === undefined) return;
  const iv = d.immediateServerVersion;
  const ov = d.originalServerVersion ?? iv;
  if (ov !== iv) {
    b.u32((iv | SERVER_VERSION_ORIGINAL_BIT) >>> 0);
    b.u32(ov);
  } else b.u32(iv);
  if (d.commitGroupTicket !== undefined) b.u64(d.commitGroupTicket);
});

// mysql::serialization (GTID_TAGGED, tagged GTID sets) ---------------------------------
/** Variable-length unsigned integer of mysql::serialization (1–9 bytes). */
export function encodeVarlenUnsigned(v: bigint): Buffer {
  if (v < 0n || v >= 1n << 64n) throw new EventEncodeError(`varlen integer ${v} out of range`);
  const out: number[] = [];
  let n = 1;
  while (n < 9 && v >= 1n << BigInt(7 * n)) n++;
  if (n === 9) {
    out.push(0xff);
    for (let i = 0; i < 8; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  } else {
    // n - 1 one bits and a zero mark the length; the value follows.
    const x = (v << BigInt(n)) | ((1n << BigInt(n - 1)) - 1n);
    for (let i = 0; i < n; i++) out.push(Number((x >> BigInt(8 * i)) & 0xffn));
  }
  return Buffer.from(out);
}

function writeVarlenUnsigned(b: Body, v: bigint): void {
  b.bytes(encodeVarlenUnsigned(v));
}

function writeVarlenSigned(b: Body, v: bigint): void {
  writeVarlenUnsigned(b, v >= 0n ? v << 1n : ((-v - 1n) << 1n) | 1n);
}

function writeVarlenString(b: Body, s: string): void {
  const bytes = utf8(s);
  writeVarlenUnsigned(b, BigInt(bytes.length));
  b.bytes(bytes);
}

/** Gtid_event::define_fields(): ids 0–11; ids 2 and up after the uuid are optional. */
register<GtidData>(EventType.GTID_TAGGED, (b, d) => {
  const fields = new Body();
  const field = (id: number, write: () => void) => {
    writeVarlenUnsigned(fields, BigInt(id));
    write();
  };
  field(0, () => writeVarlenUnsigned(fields, BigInt(d.flags)));
  field(1, () => {
    for (const byte of uuidBytes(d.sid)) writeVarlenUnsigned(fields, BigInt(byte));
  });
  field(2, () => writeVarlenSigned(fields, d.gno));
  field(3, () => writeVarlenString(fields, d.tag));
  if (d.lastCommitted !== undefined) field(4, () => writeVarlenSigned(fields, d.lastCommitted!));
  if (d.sequenceNumber !== undefined) field(5, () => writeVarlenSigned(fields, d.sequenceNumber!));
  const imm = d.immediateCommitTimestamp;
  if (imm !== undefined) field(6, () => writeVarlenUnsigned(fields, imm));
  if (d.originalCommitTimestamp !== undefined && d.originalCommitTimestamp !== imm)
    field(7, () => writeVarlenUnsigned(fields, d.originalCommitTimestamp!));
  if (d.transactionLength !== undefined) field(8, () => writeVarlenUnsigned(fields, BigInt(d.transactionLength!)));
  const iv = d.immediateServerVersion;
  if (iv !== undefined) field(9, () => writeVarlenUnsigned(fields, BigInt(iv)));
  if (d.originalServerVersion !== undefined && d.originalServerVersion !== iv)
    field(10, () => writeVarlenUnsigned(fields, BigInt(d.originalServerVersion!)));
  if (d.commitGroupTicket !== undefined) field(11, () => writeVarlenUnsigned(fields, d.commitGroupTicket!));
  // Message: format version, size (of the whole message, version byte included), last non-ignorable field id, fields.
  const head = new Body();
  writeVarlenUnsigned(head, 1n);
  const tail = new Body();
  // "Last non-ignorable field": 0 as MySQL 9 writes it (every field after gtid_flags may be skipped by older readers).
  writeVarlenUnsigned(tail, 0n);
  tail.bytes(fields.result());
  const rest = tail.result();
  let size = head.length + 1 + rest.length;
  for (;;) {
    const s = new Body();
    writeVarlenUnsigned(s, BigInt(size));
    const total = head.length + s.length + rest.length;
    if (total === size) {
      b.bytes(head.result());
      b.bytes(s.result());
      b.bytes(rest);
      return;
    }
    size = total;
  }
});

// PREVIOUS_GTIDS --------------------------------------------------------------------
/** Gtid_set::encode: untagged (format 0) or tagged (format 1, 8.3+). */
export function encodeGtidSet(sids: readonly EncodedGtidSetEntry[], tagged: boolean): Buffer {
  const b = new Body();
  const n = BigInt(sids.length);
  b.u64(tagged ? (1n << 56n) | (n << 8n) | 1n : n);
  for (const e of sids) {
    b.bytes(uuidBytes(e.sid));
    if (tagged) writeVarlenString(b, e.tag);
    b.u64(e.intervals.length);
    for (const [s, end] of e.intervals) {
      b.i64(s);
      b.i64(end);
    }
  }
  return b.result();
}

register<PreviousGtidsData>(EventType.PREVIOUS_GTIDS, (b, d) => b.bytes(encodeGtidSet(d.sids, d.tagged)));

// XA_PREPARE --------------------------------------------------------------------------
register<XaPrepareData>(EventType.XA_PREPARE, (b, d) => {
  const gtrid = Buffer.from(d.gtrid, 'hex');
  const bqual = Buffer.from(d.bqual, 'hex');
  b.u8(d.onePhase ? 1 : 0);
  b.i32(d.formatId);
  b.u32(gtrid.length);
  b.u32(bqual.length);
  b.bytes(gtrid);
  b.bytes(bqual);
});

// Group replication -------------------------------------------------------------------
register<TransactionContextData>(EventType.TRANSACTION_CONTEXT, (b, d, ctx) => {
  const uuid = utf8(d.serverUuid);
  const start = b.length;
  b.u8(uuid.length);
  b.u32(d.threadId);
  b.u8(d.gtidSpecified ? 1 : 0);
  b.u32(d.snapshotVersion.length);
  b.u32(d.writeSet.length);
  b.u32(d.readSet.length);
  b.padTo(start, Math.max(18, ctx.postHeaderLength));
  b.bytes(uuid);
  b.bytes(d.snapshotVersion);
  for (const item of [...d.writeSet, ...d.readSet]) {
    const s = utf8(item);
    b.u16(s.length);
    b.bytes(s);
  }
});

register<ViewChangeData>(EventType.VIEW_CHANGE, (b, d, ctx) => {
  const start = b.length;
  const id = Buffer.alloc(40);
  id.write(d.viewId, 'utf8');
  b.bytes(id);
  b.u64(d.seqNumber);
  b.u32(d.certificationInfo.length);
  b.padTo(start, Math.max(52, ctx.postHeaderLength));
  for (const { key, value } of d.certificationInfo) {
    const k = utf8(key);
    const v = utf8(value);
    b.u16(k.length);
    b.bytes(k);
    b.u32(v.length);
    b.bytes(v);
  }
  if (d.extra) b.bytes(d.extra);
});

// TRANSACTION_PAYLOAD -----------------------------------------------------------------
register<TransactionPayloadInput>(EventType.TRANSACTION_PAYLOAD, (b, d) => {
  let payload: Buffer;
  let compression = d.compressionType ?? 255;
  let uncompressed = d.uncompressedSize ?? 0;
  if (d.payload) payload = Buffer.from(d.payload);
  else if (d.events) {
    payload = Buffer.concat(d.events);
    compression = 255;
    uncompressed = payload.length;
  } else throw new EventEncodeError('TRANSACTION_PAYLOAD needs its payload bytes or its events');
  const field = (type: number, value: number) => {
    const v = new Body();
    v.packed(value);
    b.packed(type);
    b.packed(v.length);
    b.bytes(v.result());
  };
  // Transaction_payload_event::write_data_header order: compression type, uncompressed size, payload size, end mark.
  field(2, compression);
  field(3, uncompressed);
  field(1, payload.length);
  b.packed(0);
  b.bytes(payload);
});

// LOAD DATA -----------------------------------------------------------------------------
register<LoadBlockData>([EventType.BEGIN_LOAD_QUERY, EventType.APPEND_BLOCK], (b, d, ctx) => {
  const start = b.length;
  b.u32(d.fileId);
  b.padTo(start, ctx.postHeaderLength);
  b.bytes(d.data);
});
register<LoadFileIdData>([EventType.EXEC_LOAD, EventType.DELETE_FILE], (b, d, ctx) => {
  const start = b.length;
  b.u32(d.fileId);
  b.padTo(start, ctx.postHeaderLength);
});

register<LegacyLoadData>([EventType.LOAD, EventType.NEW_LOAD, EventType.CREATE_FILE], (b, d, ctx) => {
  const isCreate = ctx.type === EventType.CREATE_FILE;
  const loadPh = isCreate ? postHeaderLength(ctx.fd, EventType.LOAD) : ctx.postHeaderLength;
  const table = utf8(d.table);
  const db = utf8(d.database);
  const start = b.length;
  b.u32(d.threadId);
  b.u32(d.execTime);
  b.u32(d.skipLines);
  b.u8(table.length);
  b.u8(db.length);
  b.u32(d.fields.length);
  b.padTo(start, Math.max(18, loadPh));
  if (isCreate) {
    const cf = b.length;
    b.u32(d.fileId ?? 0);
    b.padTo(cf, Math.max(4, ctx.postHeaderLength));
  }
  const strs = [d.fieldTerminator, d.enclosedBy, d.lineTerminator, d.lineStarter, d.escapedBy];
  if (ctx.type === EventType.LOAD) {
    for (const s of strs) b.u8(s.length > 0 ? Buffer.from(s, 'latin1')[0] : 0);
    b.u8(d.optFlags);
    let empty = d.emptyFlags;
    if (empty === undefined) {
      empty = 0;
      strs.forEach((s, i) => {
        if (s === '') empty! |= 1 << i;
      });
    }
    b.u8(empty);
  } else {
    for (const s of strs) {
      const x = Buffer.from(s, 'latin1');
      b.u8(x.length);
      b.bytes(x);
    }
    b.u8(d.optFlags);
  }
  const names = d.fields.map(utf8);
  for (const n of names) b.u8(n.length);
  for (const n of names) {
    b.bytes(n);
    b.u8(0);
  }
  b.bytes(table);
  b.u8(0);
  b.bytes(db);
  b.u8(0);
  b.bytes(utf8(d.fileName));
  if (isCreate) {
    b.u8(0);
    if (d.data) b.bytes(d.data);
  }
});

// TABLE_MAP -------------------------------------------------------------------------------
/** The metadata bytes of one column, from the type listed in the table map and its `meta`. */
function writeColumnMetadata(b: Body, listed: number, c: ColumnInfo): void {
  const meta = c.meta;
  switch (listed) {
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.BLOB_COMPRESSED:
    case ColumnType.GEOMETRY:
    case ColumnType.JSON:
    case ColumnType.VECTOR:
    case ColumnType.TIME2:
    case ColumnType.DATETIME2:
    case ColumnType.TIMESTAMP2:
      b.u8(meta);
      return;
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
    case ColumnType.VARCHAR_COMPRESSED:
      b.u16(meta);
      return;
    case ColumnType.NEWDECIMAL:
    case ColumnType.STRING:
    case ColumnType.ENUM:
    case ColumnType.SET:
      // (precision, scale) / (real type or length bits, length): high byte first.
      b.u8(meta >> 8);
      b.u8(meta & 0xff);
      return;
    case ColumnType.BIT:
      b.u8(meta & 0xff);
      b.u8(meta >> 8);
      return;
    case ColumnType.TYPED_ARRAY: {
      const element = c.elementType ?? 0;
      b.u8(element);
      writeColumnMetadata(b, element, c);
      return;
    }
    default:
  }
}

/** MSB-first bitmap (SIGNEDNESS, COLUMN_VISIBILITY). */
function msbBitmap(bits: boolean[]): Buffer {
  const out = Buffer.alloc((bits.length + 7) >> 3);
  bits.forEach((on, i) => {
    if (on) out[i >> 3] |= 0x80 >> (i & 7);
  });
  return out;
}

/**
 * DEFAULT_CHARSET-style TLV: the collation most columns use (the lowest id on a tie, as
 * the servers pick it), then (index, collation) for every column that differs.
 */
function defaultCharsetTlv(b: Body, ids: number[]): void {
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  let def = 0;
  let max = 0;
  for (const [id, n] of [...counts].sort((x, y) => x[0] - y[0])) {
    if (n > max) {
      max = n;
      def = id;
    }
  }
  b.packed(def);
  ids.forEach((id, i) => {
    if (id !== def) {
      b.packed(i);
      b.packed(id);
    }
  });
}

function stringLists(b: Body, lists: string[][]): void {
  for (const list of lists) {
    b.packed(list.length);
    for (const s of list) {
      const x = utf8(s);
      b.packed(x.length);
      b.bytes(x);
    }
  }
}

function optionalMetadataValue(type: number, m: TableMapData, mariadb: boolean): Buffer {
  const cols = m.columns;
  const numeric = cols.filter((c) => isNumericType(c.type));
  const character = cols.filter((c) => isCharacterType(c.type, mariadb));
  const enumSet = cols.filter((c) => c.type === ColumnType.ENUM || c.type === ColumnType.SET);
  const b = new Body();
  const collation = (c: ColumnInfo) => {
    if (c.collation === null || c.collation === undefined)
      throw new EventEncodeError(`@${c.ordinal}: charset metadata listed but the column has no collation`);
    return c.collation;
  };
  switch (type) {
    case TableMapMetadata.SIGNEDNESS:
      b.bytes(msbBitmap(numeric.map((c) => c.unsigned === true)));
      break;
    case TableMapMetadata.DEFAULT_CHARSET:
      defaultCharsetTlv(b, character.map(collation));
      break;
    case TableMapMetadata.COLUMN_CHARSET:
      for (const c of character) b.packed(collation(c));
      break;
    case TableMapMetadata.COLUMN_NAME:
      for (const c of cols) {
        if (c.name === null) break;
        const x = utf8(c.name);
        b.packed(x.length);
        b.bytes(x);
      }
      break;
    case TableMapMetadata.SET_STR_VALUE:
      stringLists(
        b,
        cols.filter((c) => c.type === ColumnType.SET).map((c) => c.setValues ?? []),
      );
      break;
    case TableMapMetadata.ENUM_STR_VALUE:
      stringLists(
        b,
        cols.filter((c) => c.type === ColumnType.ENUM).map((c) => c.enumValues ?? []),
      );
      break;
    case TableMapMetadata.GEOMETRY_TYPE:
      for (const c of cols) if (c.type === ColumnType.GEOMETRY) b.packed(c.geometryType ?? 0);
      break;
    case TableMapMetadata.SIMPLE_PRIMARY_KEY:
      for (const k of m.primaryKey ?? []) b.packed(k.ordinal - 1);
      break;
    case TableMapMetadata.PRIMARY_KEY_WITH_PREFIX:
      for (const k of m.primaryKey ?? []) {
        b.packed(k.ordinal - 1);
        b.packed(k.prefix);
      }
      break;
    case TableMapMetadata.ENUM_AND_SET_DEFAULT_CHARSET:
      defaultCharsetTlv(b, enumSet.map(collation));
      break;
    case TableMapMetadata.ENUM_AND_SET_COLUMN_CHARSET:
      for (const c of enumSet) b.packed(collation(c));
      break;
    case TableMapMetadata.COLUMN_VISIBILITY:
      b.bytes(msbBitmap(cols.map((c) => c.visible !== false)));
      break;
    case TableMapMetadata.VECTOR_DIMENSIONALITY:
      for (const c of cols) if (c.type === ColumnType.VECTOR) b.packed(c.dimension ?? 0);
      break;
    default:
      throw new EventEncodeError(`optional metadata type ${type} has no encoder`);
  }
  return b.result();
}

/** TABLE_MAP body from its decoded form (column metadata, null bitmap and the optional metadata TLVs in their order). */
register<TableMapData>(EventType.TABLE_MAP, (b, m, ctx) => {
  const ph = ctx.postHeaderLength;
  const start = b.length;
  b.uintLE(m.tableId, ph === 6 ? 4 : 6);
  b.u16(m.flags);
  b.padTo(start, ph);
  const db = utf8(m.database);
  const table = utf8(m.table);
  b.u8(db.length);
  b.bytes(db);
  b.u8(0);
  b.u8(table.length);
  b.bytes(table);
  b.u8(0);
  b.packed(m.columnCount);
  const listed = m.columnTypes ?? m.columns.map((c) => c.binlogType);
  b.bytes(Uint8Array.from(listed));
  // Pre-GA 5.1 table maps end after the column types.
  if (m.notes?.some((n) => n.startsWith('pre-GA table map'))) return;
  const meta = new Body();
  m.columns.forEach((c, i) => {
    writeColumnMetadata(meta, listed[i], c);
  });
  b.packed(meta.length);
  b.bytes(meta.result());
  const nulls = Buffer.alloc((m.columnCount + 7) >> 3);
  m.columns.forEach((c, i) => {
    if (c.nullable) nulls[i >> 3] |= 1 << (i & 7);
  });
  b.bytes(nulls);
  const unknown = [...(m.unknownMetadata ?? [])];
  for (const type of m.optionalMetadata ?? []) {
    let value: Buffer;
    if (Object.values(TableMapMetadata).includes(type as never))
      value = optionalMetadataValue(type, m, ctx.fd.isMariaDB);
    else {
      const i = unknown.findIndex((u) => u.type === type);
      if (i < 0) throw new EventEncodeError(`optional metadata type ${type} listed without its bytes`);
      value = fromBase64(unknown[i].data);
      unknown.splice(i, 1);
    }
    b.u8(type);
    b.packed(value.length);
    b.bytes(value);
  }
});

// Rows events ------------------------------------------------------------------------------
const ROWS_KIND = new Map<number, { kind: 'insert' | 'update' | 'delete'; version: 0 | 1 | 2; compressed: boolean }>([
  [EventType.PRE_GA_WRITE_ROWS, { kind: 'insert', version: 0, compressed: false }],
  [EventType.PRE_GA_UPDATE_ROWS, { kind: 'update', version: 0, compressed: false }],
  [EventType.PRE_GA_DELETE_ROWS, { kind: 'delete', version: 0, compressed: false }],
  [EventType.WRITE_ROWS_V1, { kind: 'insert', version: 1, compressed: false }],
  [EventType.UPDATE_ROWS_V1, { kind: 'update', version: 1, compressed: false }],
  [EventType.DELETE_ROWS_V1, { kind: 'delete', version: 1, compressed: false }],
  [EventType.WRITE_ROWS, { kind: 'insert', version: 2, compressed: false }],
  [EventType.UPDATE_ROWS, { kind: 'update', version: 2, compressed: false }],
  [EventType.DELETE_ROWS, { kind: 'delete', version: 2, compressed: false }],
  [EventType.PARTIAL_UPDATE_ROWS, { kind: 'update', version: 2, compressed: false }],
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1, { kind: 'insert', version: 1, compressed: true }],
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1, { kind: 'update', version: 1, compressed: true }],
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1, { kind: 'delete', version: 1, compressed: true }],
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED, { kind: 'insert', version: 2, compressed: true }],
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED, { kind: 'update', version: 2, compressed: true }],
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED, { kind: 'delete', version: 2, compressed: true }],
]);

/** value_options bit of PARTIAL_UPDATE after images. */
const PARTIAL_JSON_UPDATES = 1;

/**
 * How a server fills the bits the bitmaps do not use (the decoded form does not keep
 * them). Observed on the fixtures: MySQL, and MariaDB up to 10.5, set every bit of a
 * full columns-present bitmap (bitmap_set_all); MariaDB 10.11 only the columns' bits.
 * Null bitmaps start from all ones on MariaDB and MySQL 5.x, from zeros on MySQL 8.0+.
 */
export interface RowsBitmapStyle {
  fullColumnsAllOnes: boolean;
  nullsStartAllOnes: boolean;
}

export function rowsBitmapStyle(fd: FormatDescription): RowsBitmapStyle {
  const [major, minor] = fd.versionSplit;
  if (fd.isMariaDB) return { fullColumnsAllOnes: major < 10 || (major === 10 && minor < 6), nullsStartAllOnes: true };
  return { fullColumnsAllOnes: true, nullsStartAllOnes: major < 8 };
}

function columnsBitmap(ordinals: number[], n: number, style: RowsBitmapStyle): Buffer {
  const out = Buffer.alloc((n + 7) >> 3);
  if (style.fullColumnsAllOnes && ordinals.length === n) return out.fill(0xff);
  for (const o of ordinals) out[(o - 1) >> 3] |= 1 << ((o - 1) & 7);
  return out;
}

function compressedColumnBytes(c: ColumnInfo, value: unknown): Buffer {
  let plain: Buffer;
  if (Buffer.isBuffer(value)) plain = value;
  else if (value instanceof Uint8Array) plain = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  else if (typeof value === 'string') {
    const codec = columnCodec(c);
    plain = encodeText(value, codec === 'binary' || codec === 'raw' || codec === 'guess' ? 'utf8' : codec);
  } else throw new EventEncodeError(`@${c.ordinal}: expected a string or Buffer, got ${typeof value}`);
  return compressMariadbColumn(plain);
}

/**
 * One row image: null bitmap over the present columns (after `nullBitOffset` reserved
 * bits), then the values of the present, non-NULL columns. MariaDB COMPRESSED columns are
 * compressed as the server does it; every other value goes through encodeColumnValue.
 */
export function encodeRowImageValues(
  columns: ColumnInfo[],
  present: number[],
  image: RowImage,
  w: ByteWriter,
  opts: { nullBitOffset?: number; nullsStartAllOnes?: boolean } = {},
): void {
  // With nullsStartAllOnes the bitmap starts as ones and the bit of every non-NULL value is
  // cleared (unused trailing bits stay set); else NULL values set theirs. The reserved
  // leading bits of pre-GA images are always set.
  const offset = opts.nullBitOffset ?? 0;
  const ones = opts.nullsStartAllOnes ?? false;
  const nbytes = (present.length + offset + 7) >> 3;
  const nulls = w.take(nbytes);
  w.buf.fill(ones ? 0xff : 0, nulls, nulls + nbytes);
  for (let bit = 0; bit < offset; bit++) w.buf[nulls + (bit >> 3)] |= 1 << (bit & 7);
  present.forEach((ordinal, k) => {
    const c = columns[ordinal - 1];
    if (!c) throw new EventEncodeError(`row image names column @${ordinal}, the table has ${columns.length}`);
    const v = image[ordinal];
    const bit = k + offset;
    const isNull = v === null || v === undefined;
    if (isNull && !ones) w.buf[nulls + (bit >> 3)] |= 1 << (bit & 7);
    if (!isNull && ones) w.buf[nulls + (bit >> 3)] &= ~(1 << (bit & 7));
    if (isNull) return;
    if (c.type === ColumnType.VARCHAR_COMPRESSED || c.type === ColumnType.BLOB_COMPRESSED) {
      const data = compressedColumnBytes(c, v);
      const lb = c.lengthBytes!;
      const p = w.take(lb);
      w.buf.writeUIntLE(data.length, p, lb);
      w.bytes(data);
      return;
    }
    encodeColumnValue(c, v, w);
  });
}

/** The rows part of a rows event (before any MariaDB event compression). */
export function encodeRows(
  kind: 'insert' | 'update' | 'delete',
  map: TableMapData,
  before: number[] | null,
  after: number[] | null,
  rows: RowChange[],
  opts: { partialJson?: boolean; nullBitOffset?: number; nullsStartAllOnes?: boolean } = {},
): Buffer {
  const w = new ByteWriter(1024);
  const cols = map.columns;
  const jsonCols = cols.filter((c) => c.type === ColumnType.JSON);
  rows.forEach((row, i) => {
    try {
      if (kind !== 'insert') {
        if (!row.before) throw new EventEncodeError('missing before image');
        encodeRowImageValues(cols, before!, row.before, w, opts);
      }
      if (kind !== 'delete') {
        if (!row.after) throw new EventEncodeError('missing after image');
        if (opts.partialJson) {
          const p = w.take(1);
          w.buf[p] = PARTIAL_JSON_UPDATES;
          const bits = Buffer.alloc((jsonCols.length + 7) >> 3);
          jsonCols.forEach((c, j) => {
            if (row.after![c.ordinal] instanceof MysqlJsonDiff) bits[j >> 3] |= 1 << (j & 7);
          });
          w.bytes(bits);
        }
        encodeRowImageValues(cols, after!, row.after, w, opts);
      }
    } catch (err) {
      const e = err as Error;
      throw new EventEncodeError(`${map.database}.${map.table} row ${i + 1}: ${e.message}`);
    }
  });
  return Buffer.from(w.result());
}

function encodeRowsEvent(b: Body, d: RowsEventInput, ctx: EncodeContext): void {
  const info = ROWS_KIND.get(ctx.type)!;
  const map = ctx.tableMap ?? d.tableMap;
  if (!map) throw new EventEncodeError(`rows event for table id ${d.tableId} needs its table map`);
  const ph = ctx.postHeaderLength;
  const start = b.length;
  b.uintLE(d.tableId, ph === 6 ? 4 : 6);
  b.u16(d.flags ?? 0);
  if (info.version === 2) {
    const extra = d.extraData ? (Buffer.isBuffer(d.extraData) ? d.extraData : fromBase64(d.extraData.raw)) : null;
    b.u16(2 + (extra?.length ?? 0));
    if (extra) b.bytes(extra);
  } else b.padTo(start, ph);
  const n = d.columnCount ?? map.columnCount;
  const all = Array.from({ length: n }, (_, i) => i + 1);
  const before = info.kind === 'insert' ? null : (d.beforeColumns ?? all);
  const after = info.kind === 'delete' ? null : (d.afterColumns ?? all);
  const style = rowsBitmapStyle(ctx.fd);
  b.packed(n);
  if (info.kind === 'insert') b.bytes(columnsBitmap(after!, n, style));
  else {
    b.bytes(columnsBitmap(before!, n, style));
    // Pre-GA 5.1 UPDATE events have one bitmap for both images.
    if (info.kind === 'update' && info.version !== 0) b.bytes(columnsBitmap(after!, n, style));
  }
  const rows = encodeRows(info.kind, map, before, after, d.rows, {
    partialJson: ctx.type === EventType.PARTIAL_UPDATE_ROWS,
    nullsStartAllOnes: style.nullsStartAllOnes,
    nullBitOffset: info.version === 0 ? (d.nullBitOffset ?? 1) : 0,
  });
  b.bytes(info.compressed ? compressMariadbEventData(rows) : rows);
}
register<RowsEventInput>([...ROWS_KIND.keys()], encodeRowsEvent);

// ---------------------------------------------------------------- entry points

/** Whether `type` has a body encoder (otherwise only a `{ raw }` body can be written). */
export function hasEncoder(type: number): boolean {
  return encoders.has(type);
}

/** The type code to write in the header: pre-GA 5.1 files number some types differently. */
function fileTypeCode(type: number, fd: FormatDescription): number {
  const map = fd.typeMap;
  if (!map || map[type] === type) return type;
  const i = map.indexOf(type);
  return i >= 0 ? i : type;
}

/**
 * The body (between the common header and the checksum) of an event of GA type `type`.
 * `{ raw: <base64> }` data (what undecodable events decode to) is written back as is.
 */
export function encodeEventBody(
  type: number,
  data: object,
  opts: { fd: FormatDescription; tableMap?: TableMapData },
): Buffer {
  const enc = encoders.get(type);
  if (!enc) {
    const raw = (data as { raw?: unknown }).raw;
    if (typeof raw === 'string' || Buffer.isBuffer(raw)) return fromBase64(raw);
    throw new EventEncodeError(`no encoder for event type ${type}`);
  }
  const b = new Body();
  const tableMap = opts.tableMap ?? (data as { tableMap?: TableMapData }).tableMap;
  (enc as (b: Body, d: object, ctx: EncodeContext) => void)(b, data, {
    fd: opts.fd,
    type,
    postHeaderLength: postHeaderLength(opts.fd, type),
    tableMap,
  });
  return b.result();
}

/**
 * Encode a whole event — header, body from `data`, CRC32 trailer — from the decoded data
 * of GA type `type` (or fields for a new event of that type).
 */
export function encodeEvent(type: number, data: object, opts: EncodeOptions): Buffer {
  const body = encodeEventBody(type, data, opts);
  const checksum =
    opts.checksum ??
    (type === EventType.FORMAT_DESCRIPTION
      ? (data as FormatDescriptionData).checksumAlgorithm !== 'absent'
      : opts.fd.checksumLength > 0);
  return buildEvent(fileTypeCode(type, opts.fd), body, {
    timestamp: opts.timestamp,
    serverId: opts.serverId,
    logPos: opts.logPos,
    flags: opts.flags,
    checksum,
  });
}

/** What reencodeEvent needs of an event (a BinlogEvent has all of it). */
export interface EncodableEvent {
  typeCode: number;
  data: object;
  fd: FormatDescription;
  timestamp: number;
  serverId: number;
  endLogPos: number;
  flags: number;
  checksumLength: number;
  tableMap?: object;
  /** The event's bytes: a TRANSACTION_PAYLOAD's compressed payload is taken from them. */
  raw?: Buffer;
}

/**
 * An event encoded again from its decoded data, with its own header fields unless
 * `patch` changes them (log_pos for a new place in a file, say).
 */
export function reencodeEvent(
  ev: EncodableEvent,
  patch: Partial<Omit<EncodeOptions, 'fd'>> & { fd?: FormatDescription } = {},
): Buffer {
  let data = ev.data;
  const payloadStart = (data as { payloadStart?: number }).payloadStart;
  if (ev.typeCode === EventType.TRANSACTION_PAYLOAD && ev.raw && payloadStart !== undefined) {
    // No zstd compressor here: the header is encoded, the compressed bytes are carried over.
    data = { ...data, payload: ev.raw.subarray(payloadStart, ev.raw.length - ev.checksumLength) };
  }
  return encodeEvent(ev.typeCode, data, {
    fd: patch.fd ?? ev.fd,
    timestamp: patch.timestamp ?? ev.timestamp,
    serverId: patch.serverId ?? ev.serverId,
    logPos: patch.logPos ?? ev.endLogPos,
    flags: patch.flags ?? ev.flags,
    // A format description's own trailer follows its algorithm byte (encodeEvent's default).
    checksum: patch.checksum ?? (ev.typeCode === EventType.FORMAT_DESCRIPTION ? undefined : ev.checksumLength > 0),
    tableMap: patch.tableMap ?? (ev.tableMap as TableMapData | undefined),
  });
}
