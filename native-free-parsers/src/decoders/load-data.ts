import { type Cursor, EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { postHeaderLength } from '../format-description.js';
import { type DecodeContext, registerDecoder } from './registry.js';

/**
 * LOAD DATA INFILE events.
 *
 * Modern (5.0.3+, all fixtures): BEGIN_LOAD_QUERY(file id, first block) →
 * APPEND_BLOCK(file id, block)* → EXECUTE_LOAD_QUERY (a QUERY, see query.ts) or
 * DELETE_FILE on error.
 *
 * Legacy (3.23–5.0.2): LOAD, NEW_LOAD, CREATE_FILE(+APPEND_BLOCK)*, EXEC_LOAD. Their
 * layout below follows MySQL 5.0 `Load_log_event::copy_log_event` / `sql_ex_info::init`
 * / `Create_file_log_event`; no fixture contains one, so it is only checked against
 * hand-built bytes:
 *   post-header (18): thread_id u32, exec_time u32, skip_lines u32, table_name_len u8,
 *                     db_len u8, num_fields u32
 *   [CREATE_FILE: file_id u32 — its own post-header, after LOAD's]
 *   sql_ex: LOAD: 5 single bytes (field term, enclosed, line term, line start, escaped),
 *           opt_flags u8, empty_flags u8; NEW_LOAD/CREATE_FILE: 5 × (len u8 + bytes), opt_flags u8
 *   field_lens[num_fields] u8, field names (each + NUL), table + NUL, db + NUL,
 *   file name (LOAD/NEW_LOAD: to the end; CREATE_FILE: + NUL, then the first data block).
 */

/** APPEND_BLOCK (9) and BEGIN_LOAD_QUERY (17). */
export interface LoadBlockData {
  fileId: number;
  /** The block of the loaded file carried by this event. */
  data: Buffer;
}

/** EXEC_LOAD (10) and DELETE_FILE (11). */
export interface LoadFileIdData {
  fileId: number;
}

/** The sql_ex part of a legacy LOAD: how the input file is delimited. */
export interface LoadSqlEx {
  fieldTerminator: string;
  enclosedBy: string;
  lineTerminator: string;
  lineStarter: string;
  escapedBy: string;
  /** 1 DUMPFILE, 2 OPT_ENCLOSED, 4 REPLACE, 8 IGNORE. */
  optFlags: number;
  /** Old format only: which of the single-byte strings are empty (bit 0 field term … bit 4 escaped). */
  emptyFlags?: number;
}

/** LOAD (6), NEW_LOAD (12), CREATE_FILE (8). */
export interface LegacyLoadData extends LoadSqlEx {
  threadId: number;
  execTime: number;
  skipLines: number;
  database: string;
  table: string;
  fields: string[];
  /** Name of the file on the source. */
  fileName: string;
  /** CREATE_FILE only. */
  fileId?: number;
  /** CREATE_FILE only: the first block of the file. */
  data?: Buffer;
}

const LOAD_HEADER_LEN = 18;
const EMPTY_FLAGS = [0x01, 0x02, 0x04, 0x08, 0x10] as const;

registerDecoder([EventType.APPEND_BLOCK, EventType.BEGIN_LOAD_QUERY], (body, ctx): LoadBlockData => {
  const start = body.pos;
  const fileId = body.u32();
  if (ctx.postHeaderLength > 4) body.skip(start + ctx.postHeaderLength - body.pos);
  return { fileId, data: body.rest() };
});

registerDecoder([EventType.EXEC_LOAD, EventType.DELETE_FILE], (body): LoadFileIdData => ({ fileId: body.u32() }));

function readSqlEx(c: Cursor, newFormat: boolean): LoadSqlEx {
  if (newFormat) {
    const s = () => c.str(c.u8(), 'latin1');
    return {
      fieldTerminator: s(),
      enclosedBy: s(),
      lineTerminator: s(),
      lineStarter: s(),
      escapedBy: s(),
      optFlags: c.u8(),
    };
  }
  const chars = c.bytes(5);
  const optFlags = c.u8();
  const emptyFlags = c.u8();
  const at = (i: number) => (emptyFlags & EMPTY_FLAGS[i] ? '' : chars.toString('latin1', i, i + 1));
  return {
    fieldTerminator: at(0),
    enclosedBy: at(1),
    lineTerminator: at(2),
    lineStarter: at(3),
    escapedBy: at(4),
    optFlags,
    emptyFlags,
  };
}

/** A NUL-terminated string of the announced length. */
function terminated(c: Cursor, len: number, what: string): string {
  const s = c.str(len);
  if (c.u8() !== 0) throw new EventDecodeError(`${what} is not NUL-terminated at +${c.pos - 1}`);
  return s;
}

function decodeLegacyLoad(body: Cursor, ctx: DecodeContext): LegacyLoadData {
  const type = ctx.typeCode;
  const isCreateFile = type === EventType.CREATE_FILE;
  const loadHeaderLen = isCreateFile ? postHeaderLength(ctx.fd, EventType.LOAD) : ctx.postHeaderLength;
  if (loadHeaderLen < LOAD_HEADER_LEN) {
    throw new EventDecodeError(`LOAD post-header length ${loadHeaderLen} is below ${LOAD_HEADER_LEN}`);
  }
  const start = body.pos;
  const threadId = body.u32();
  const execTime = body.u32();
  const skipLines = body.u32();
  const tableLen = body.u8();
  const dbLen = body.u8();
  const numFields = body.u32();
  body.skip(start + loadHeaderLen - body.pos);
  let fileId: number | undefined;
  if (isCreateFile) {
    const cfStart = body.pos;
    fileId = body.u32();
    body.skip(cfStart + Math.max(4, ctx.postHeaderLength) - body.pos);
  }
  const sqlEx = readSqlEx(body, type !== EventType.LOAD);
  if (numFields > body.remaining) {
    throw new EventDecodeError(`LOAD with ${numFields} fields cannot fit in ${body.remaining} bytes`);
  }
  const lens = body.bytes(numFields);
  const fields: string[] = [];
  for (let i = 0; i < numFields; i++) fields.push(terminated(body, lens[i], 'LOAD field name'));
  const table = terminated(body, tableLen, 'LOAD table name');
  const database = terminated(body, dbLen, 'LOAD database name');
  const out: LegacyLoadData = { threadId, execTime, skipLines, database, table, fields, fileName: '', ...sqlEx };
  if (isCreateFile) {
    out.fileName = body.cstr();
    out.fileId = fileId;
    out.data = body.rest();
  } else {
    // The server NUL-terminates the name in memory; a written NUL, if any, ends it.
    const rest = body.rest();
    const nul = rest.indexOf(0);
    out.fileName = rest.toString('utf8', 0, nul < 0 ? rest.length : nul);
  }
  return out;
}

registerDecoder([EventType.LOAD, EventType.NEW_LOAD, EventType.CREATE_FILE], decodeLegacyLoad);
