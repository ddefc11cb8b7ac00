import { constants as bufferConstants } from 'node:buffer';
import { inflateSync } from 'node:zlib';
import { type Cursor, EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { type DecodeContext, registerDecoder } from './registry.js';

/** Status-variable codes of QUERY events (MySQL `statement_events.h`, MariaDB `log_event.h`). */
export const QueryStatusCode = {
  FLAGS2: 0,
  SQL_MODE: 1,
  CATALOG: 2,
  AUTO_INCREMENT: 3,
  CHARSET: 4,
  TIME_ZONE: 5,
  CATALOG_NZ: 6,
  LC_TIME_NAMES: 7,
  CHARSET_DATABASE: 8,
  TABLE_MAP_FOR_UPDATE: 9,
  MASTER_DATA_WRITTEN: 10,
  INVOKER: 11,
  UPDATED_DB_NAMES: 12,
  MICROSECONDS: 13,
  EXPLICIT_DEFAULTS_FOR_TIMESTAMP: 16,
  DDL_LOGGED_WITH_XID: 17,
  DEFAULT_COLLATION_FOR_UTF8MB4: 18,
  SQL_REQUIRE_PRIMARY_KEY: 19,
  DEFAULT_TABLE_ENCRYPTION: 20,
  MARIADB_HRNOW: 128,
  MARIADB_XID: 129,
  MARIADB_GTID_FLAGS3: 130,
  MARIADB_CHARACTER_SET_COLLATIONS: 131,
} as const;

/** Q_UPDATED_DB_NAMES count meaning "more databases than an event lists" (OVER_MAX_DBS_IN_EVENT_MTS). */
const OVER_MAX_DBS_IN_EVENT_MTS = 254;
/** MariaDB Gtid_log_event::FL_COMMIT_ALTER_E1 | FL_ROLLBACK_ALTER_E1: Q_GTID_FLAGS3 carries a start-alter seq_no. */
const GTID_FLAGS3_ALTER_SEQ = 0x04 | 0x08;

/** The status variables present in a QUERY event; a field is absent when its code was not written. */
export interface QueryStatusVars {
  /** Q_FLAGS2_CODE: OPTION_AUTO_IS_NULL, NOT_AUTOCOMMIT, NO_FOREIGN_KEY_CHECKS, RELAXED_UNIQUE_CHECKS bits. */
  flags2?: number;
  /** Q_SQL_MODE_CODE (64-bit mask). */
  sqlMode?: bigint;
  /** Q_CATALOG_CODE (5.0.0–5.0.3) or Q_CATALOG_NZ_CODE. */
  catalog?: string;
  autoIncrementIncrement?: number;
  autoIncrementOffset?: number;
  /** Q_CHARSET_CODE: character_set_client, collation_connection, collation_server ids. */
  charset?: { client: number; connection: number; server: number };
  timeZone?: string;
  lcTimeNames?: number;
  charsetDatabase?: number;
  tableMapForUpdate?: bigint;
  masterDataWritten?: number;
  invoker?: { user: string; host: string };
  /** Q_UPDATED_DB_NAMES: databases the statement touched (empty with updatedDbNamesOverflow). */
  updatedDbNames?: string[];
  /** Q_UPDATED_DB_NAMES said "too many to list" (count 254). */
  updatedDbNamesOverflow?: boolean;
  /** Q_MICROSECONDS: fractional part of the event timestamp. */
  microseconds?: number;
  explicitDefaultsForTimestamp?: number;
  /** Q_DDL_LOGGED_WITH_XID: xid of an atomic DDL. */
  ddlXid?: bigint;
  defaultCollationForUtf8mb4?: number;
  sqlRequirePrimaryKey?: number;
  defaultTableEncryption?: number;
  /** MariaDB Q_HRNOW: microseconds of the event timestamp. */
  hrnow?: number;
  /** MariaDB Q_XID. */
  xid?: bigint;
  /** MariaDB Q_GTID_FLAGS3 (Gtid_log_event flags_extra). */
  gtidFlags3?: number;
  /** MariaDB Q_GTID_FLAGS3 with COMMIT/ROLLBACK ALTER: seq_no of the START ALTER. */
  startAlterSeqNo?: bigint;
  /** MariaDB Q_CHARACTER_SET_COLLATIONS: @@character_set_collations pairs. */
  characterSetCollations?: { charsetId: number; collationId: number }[];
}

export interface QueryData {
  threadId: number;
  execTime: number;
  errorCode: number;
  /** Default database ('' when none). */
  database: string;
  /** The statement, decoded as UTF-8. */
  sql: string;
  statusVars: QueryStatusVars;
  /** First status-variable code this decoder does not know; the rest of the block was skipped. */
  unknownStatusCode?: number;
}

/** EXECUTE_LOAD_QUERY (18): a QUERY whose statement names a file rebuilt from BEGIN_LOAD_QUERY/APPEND_BLOCK. */
export interface ExecuteLoadQueryData extends QueryData {
  fileId: number;
  /** Byte range of the file-name part inside the statement, to be replaced by the rebuilt file. */
  fnPosStart: number;
  fnPosEnd: number;
  /** 0 ERROR, 1 IGNORE, 2 REPLACE. */
  dupHandling: number;
  dupHandlingName: string;
}

/** MariaDB QUERY_COMPRESSED (165), statement already inflated. */
export interface QueryCompressedData extends QueryData {
  compressedLength: number;
}

const dupNames: Record<number, string> = { 0: 'ERROR', 1: 'IGNORE', 2: 'REPLACE' };

/** Reads the status block [start, end); stops at the first unknown code. */
function readStatusVars(c: Cursor, end: number): { vars: QueryStatusVars; unknown?: number } {
  const vars: QueryStatusVars = {};
  const saved = c.end;
  c.end = end; // reads of a value must not run into the database name
  try {
    while (c.pos < end) {
      const code = c.u8();
      switch (code) {
        case QueryStatusCode.FLAGS2:
          vars.flags2 = c.u32();
          break;
        case QueryStatusCode.SQL_MODE:
          vars.sqlMode = c.u64();
          break;
        case QueryStatusCode.CATALOG: {
          // 5.0.0–5.0.3: length, string, NUL.
          vars.catalog = c.str(c.u8());
          c.skip(1);
          break;
        }
        case QueryStatusCode.AUTO_INCREMENT:
          vars.autoIncrementIncrement = c.u16();
          vars.autoIncrementOffset = c.u16();
          break;
        case QueryStatusCode.CHARSET:
          vars.charset = { client: c.u16(), connection: c.u16(), server: c.u16() };
          break;
        case QueryStatusCode.TIME_ZONE:
          vars.timeZone = c.lstr8();
          break;
        case QueryStatusCode.CATALOG_NZ:
          vars.catalog = c.lstr8();
          break;
        case QueryStatusCode.LC_TIME_NAMES:
          vars.lcTimeNames = c.u16();
          break;
        case QueryStatusCode.CHARSET_DATABASE:
          vars.charsetDatabase = c.u16();
          break;
        case QueryStatusCode.TABLE_MAP_FOR_UPDATE:
          vars.tableMapForUpdate = c.u64();
          break;
        case QueryStatusCode.MASTER_DATA_WRITTEN:
          vars.masterDataWritten = c.u32();
          break;
        case QueryStatusCode.INVOKER: {
          const user = c.lstr8();
          vars.invoker = { user, host: c.lstr8() };
          break;
        }
        case QueryStatusCode.UPDATED_DB_NAMES: {
          const count = c.u8();
          vars.updatedDbNames = [];
          if (count === OVER_MAX_DBS_IN_EVENT_MTS) vars.updatedDbNamesOverflow = true;
          else for (let i = 0; i < count; i++) vars.updatedDbNames.push(c.cstr());
          break;
        }
        case QueryStatusCode.MICROSECONDS:
          vars.microseconds = c.u24();
          break;
        case QueryStatusCode.EXPLICIT_DEFAULTS_FOR_TIMESTAMP:
          vars.explicitDefaultsForTimestamp = c.u8();
          break;
        case QueryStatusCode.DDL_LOGGED_WITH_XID:
          vars.ddlXid = c.u64();
          break;
        case QueryStatusCode.DEFAULT_COLLATION_FOR_UTF8MB4:
          vars.defaultCollationForUtf8mb4 = c.u16();
          break;
        case QueryStatusCode.SQL_REQUIRE_PRIMARY_KEY:
          vars.sqlRequirePrimaryKey = c.u8();
          break;
        case QueryStatusCode.DEFAULT_TABLE_ENCRYPTION:
          vars.defaultTableEncryption = c.u8();
          break;
        case QueryStatusCode.MARIADB_HRNOW:
          vars.hrnow = c.u24();
          break;
        case QueryStatusCode.MARIADB_XID:
          vars.xid = c.u64();
          break;
        case QueryStatusCode.MARIADB_GTID_FLAGS3: {
          const f = c.u8();
          vars.gtidFlags3 = f;
          if (f & GTID_FLAGS3_ALTER_SEQ) vars.startAlterSeqNo = c.u64();
          break;
        }
        case QueryStatusCode.MARIADB_CHARACTER_SET_COLLATIONS: {
          // count, then count × (character set id u16, collation id u16). MariaDB 11.x;
          // layout per third-party analysis, not seen in a fixture.
          const count = c.u8();
          c.need(count * 4, 'character set collations');
          const pairs: { charsetId: number; collationId: number }[] = [];
          for (let i = 0; i < count; i++) pairs.push({ charsetId: c.u16(), collationId: c.u16() });
          vars.characterSetCollations = pairs;
          break;
        }
        default:
          // Codes have no length prefix: nothing after an unknown one can be read.
          return { vars, unknown: code };
      }
    }
    return { vars };
  } catch (err) {
    if (err instanceof EventDecodeError) {
      throw new EventDecodeError(`QUERY status variables: ${err.message}`);
    }
    throw err;
  } finally {
    c.end = saved;
  }
}

/**
 * The common QUERY layout: post-header (thread id, exec time, db length, error code,
 * status length — 11 bytes in 3.23/4.x without the status length), `extra` reads the
 * rest of a longer post-header (EXECUTE_LOAD_QUERY), then status variables, the database
 * name + NUL and the statement.
 */
function readQuery<T extends object>(
  body: Cursor,
  ctx: DecodeContext,
  extra?: (c: Cursor) => T,
): { base: Omit<QueryData, 'sql'>; extra: T | undefined; statement: Buffer } {
  const start = body.pos;
  const ph = ctx.postHeaderLength;
  if (ph < 11) throw new EventDecodeError(`QUERY post-header length ${ph} is below 11`);
  body.need(ph, 'QUERY post-header');
  const threadId = body.u32();
  const execTime = body.u32();
  const dbLen = body.u8();
  const errorCode = body.u16();
  const statusLen = ph >= 13 ? body.u16() : 0;
  const more = extra ? extra(body) : undefined;
  body.pos = start + ph;
  body.need(statusLen, 'QUERY status variables');
  const statusEnd = body.pos + statusLen;
  const { vars, unknown } = readStatusVars(body, statusEnd);
  body.pos = statusEnd;
  const database = body.str(dbLen);
  if (body.u8() !== 0) throw new EventDecodeError(`QUERY database name is not NUL-terminated at +${body.pos - 1}`);
  const base: Omit<QueryData, 'sql'> = { threadId, execTime, errorCode, database, statusVars: vars };
  if (unknown !== undefined) base.unknownStatusCode = unknown;
  return { base, extra: more, statement: body.rest() };
}

registerDecoder(EventType.QUERY, (body, ctx): QueryData => {
  const { base, statement } = readQuery(body, ctx);
  return { ...base, sql: statement.toString('utf8') };
});

registerDecoder(EventType.EXECUTE_LOAD_QUERY, (body, ctx): ExecuteLoadQueryData => {
  if (ctx.postHeaderLength < 26) {
    throw new EventDecodeError(`EXECUTE_LOAD_QUERY post-header length ${ctx.postHeaderLength} is below 26`);
  }
  const { base, extra, statement } = readQuery(body, ctx, (c) => ({
    fileId: c.u32(),
    fnPosStart: c.u32(),
    fnPosEnd: c.u32(),
    dupHandling: c.u8(),
  }));
  const e = extra!;
  return {
    ...base,
    sql: statement.toString('utf8'),
    ...e,
    dupHandlingName: dupNames[e.dupHandling] ?? `UNKNOWN_${e.dupHandling}`,
  };
});

/**
 * MariaDB compressed block: header byte `0x80 | algorithm << 4 | length bytes` (algorithm
 * 0 = zlib), the uncompressed length big-endian in 1–4 bytes, then a zlib stream.
 */
export function inflateMariadbBlock(block: Buffer, what = 'compressed block'): Buffer {
  if (block.length < 1) throw new EventDecodeError(`${what}: empty`);
  const h = block[0];
  if ((h & 0x80) === 0) throw new EventDecodeError(`${what}: header byte 0x${h.toString(16)} lacks the 0x80 marker`);
  const algorithm = (h >> 4) & 0x07;
  if (algorithm !== 0) throw new EventDecodeError(`${what}: unknown compression algorithm ${algorithm}`);
  const lenBytes = h & 0x07;
  if (lenBytes < 1 || lenBytes > 4) throw new EventDecodeError(`${what}: invalid length size ${lenBytes}`);
  if (block.length < 1 + lenBytes) throw new EventDecodeError(`${what}: truncated length`);
  const expected = block.readUIntBE(1, lenBytes);
  let out: Buffer;
  try {
    // Cap the output at the announced size: a corrupt or hostile block cannot balloon.
    const maxOutputLength = Math.max(1, Math.min(expected, bufferConstants.MAX_LENGTH));
    out = inflateSync(block.subarray(1 + lenBytes), { maxOutputLength });
  } catch (err) {
    throw new EventDecodeError(`${what}: zlib stream does not inflate: ${(err as Error).message}`);
  }
  if (out.length !== expected) {
    throw new EventDecodeError(`${what}: inflated to ${out.length} bytes, header says ${expected}`);
  }
  return out;
}

registerDecoder(EventType.MARIADB_QUERY_COMPRESSED, (body, ctx): QueryCompressedData => {
  const { base, statement } = readQuery(body, ctx);
  const sql = inflateMariadbBlock(statement, 'QUERY_COMPRESSED statement').toString('utf8');
  return { ...base, sql, compressedLength: statement.length };
});
