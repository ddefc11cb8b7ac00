/**
 * Binlog events → the SQL statements that re-apply them, the way `mysqlbinlog | mysql`
 * does, without mysqlbinlog.
 *
 * Statement events carry their session context (timestamp, pseudo thread id, the option
 * bits of Q_FLAGS2, sql_mode, auto_increment, character sets, time zone, lc_time_names,
 * collation_database, default database, INSERT_ID/LAST_INSERT_ID, RAND seeds, user
 * variables); like mysqlbinlog, only what changed since the previous statement is
 * emitted. Row events travel as `BINLOG '…'` statements: the format description once
 * (and again when it changes), then each statement's table maps and rows events in one
 * statement, raw bytes as in the file. GTIDs are preserved (MariaDB gtid_domain_id /
 * server_id / gtid_seq_no, MySQL GTID_NEXT).
 *
 * The renderer is pure: events in, statements out, no I/O. One `SqlRenderer` is one
 * target session; feed it the events of several files in order (each file starting with
 * its format description) and the context carries over, so a transaction that spans two
 * files is not cut (reference/mha-behaviour.md §3.11: no ROLLBACK at file boundaries).
 */
import { basename } from 'node:path';
import {
  type BinlogEvent,
  BinlogStatementGrouper,
  binlogStatement,
  EventFlag,
  EventType,
  type ExecuteLoadQueryData,
  type FormatDescription,
  formatDescriptionKey,
  type GtidData,
  HEADER_LENGTH,
  type IntvarData,
  inflateMariadbBlock,
  type LoadBlockData,
  type LoadFileIdData,
  type MariadbGtidData,
  MariadbGtidExtraFlag,
  postHeaderLength,
  type QueryData,
  type QueryStatusVars,
  type RandData,
  ROWS_EVENT_TYPES,
  type RowsQueryData,
  type RowsStatementGroup,
  type UserVarData,
  UserVarType,
  type XaPrepareData,
} from '@mha-ts/native-free-parsers';
import { collationById } from './collations.js';

/** Where a rendered statement came from. */
export interface EventRef {
  /** Base name of the log file. */
  file: string;
  /** Offset of the (first) event the statement renders. */
  offset: number;
  /** Offset just past the (last) event the statement renders. */
  end: number;
  /** Header end_log_pos of that event (the master position, in relay logs). */
  endLogPos: number;
  /** GTID of the transaction the statement belongs to, when the log has one. */
  gtid?: string;
}

export type StatementKind =
  /** Session setup: pseudo_slave_mode, sql_log_bin, … */
  | 'session'
  /** Context of the next statement: SET TIMESTAMP, USE, INSERT_ID, user variables, … */
  | 'context'
  /** GTID of the next transaction. */
  | 'gtid'
  /** START TRANSACTION / XA START / BEGIN. */
  | 'begin'
  /** A statement from a QUERY event. */
  | 'query'
  /** LOAD DATA LOCAL INFILE rebuilt from BEGIN_LOAD_QUERY/APPEND_BLOCK/EXECUTE_LOAD_QUERY. */
  | 'load'
  /** BINLOG '<format description>'. */
  | 'format'
  /** BINLOG '<table maps + rows events>'. */
  | 'rows'
  /** COMMIT for an XID event, XA PREPARE for an XA_PREPARE event. */
  | 'commit'
  /** ROLLBACK the renderer adds for a transaction that can never complete. */
  | 'rollback';

export interface RenderedStatement {
  /** The statement, without a terminating `;`. */
  sql: string;
  /**
   * The exact bytes to send, when `sql` cannot represent them: a statement whose bytes
   * are not valid UTF-8 (latin1 literals, binary strings). `sql` is then only for display.
   */
  sqlBytes?: Buffer;
  kind: StatementKind;
  event: EventRef;
  /** Content for `LOAD DATA LOCAL INFILE` (kind 'load'). */
  localInfile?: Buffer;
  /** The name the LOAD DATA statement asks for (the client must answer with localInfile). */
  localInfileName?: string;
  /** The last statement rendered for `event`: once it succeeds, the event is applied. */
  completesEvent: boolean;
  /** Once it succeeds, a transaction or a statement outside one is complete. */
  endsTransaction: boolean;
  /** The error the statement raised on the source (QUERY error_code); the same error on the target is success. */
  expectedErrorCode?: number;
  /** Comment lines for a dry-run listing (ANNOTATE_ROWS / ROWS_QUERY text); never sent. */
  comments?: string[];
}

export interface RenderOptions {
  /** false: `SET @@session.sql_log_bin=0` at session start; true: `=1`; undefined: leave as is. */
  sqlLogBin?: boolean;
  /** Session preamble as mysqlbinlog writes it (pseudo_slave_mode=1, completion_type=0, …). Default true. */
  preamble?: boolean;
  /** Preserve GTIDs (gtid_seq_no / GTID_NEXT statements). Default true. */
  gtids?: boolean;
  /**
   * Roll back an open transaction when a format description says its server restarted
   * (the SQL thread's rule: not artificial, not a relay log's own, created ≠ 0). Default true.
   */
  rollbackOnSourceRestart?: boolean;
  /** File name for events that carry none (parseBuffer without `file`). */
  file?: string;
}

/** A log the renderer cannot turn into SQL (unknown event, INCIDENT, unknown collation). */
export class SqlRenderError extends Error {
  readonly file: string;
  readonly offset: number;
  readonly eventType: string;
  constructor(opts: { file: string; offset: number; eventType: string; message: string }) {
    super(`${opts.file}:${opts.offset} (${opts.eventType}): ${opts.message}`);
    this.name = 'SqlRenderError';
    this.file = opts.file;
    this.offset = opts.offset;
    this.eventType = opts.eventType;
  }
}

/** Q_FLAGS2 option bits (thd->options), MySQL and MariaDB. */
const Option = {
  AUTO_IS_NULL: 1 << 14,
  NO_CHECK_CONSTRAINT_CHECKS: 1 << 15,
  NOT_AUTOCOMMIT: 1 << 19,
  EXPLICIT_DEF_TIMESTAMP: 1 << 24,
  NO_FOREIGN_KEY_CHECKS: 1 << 26,
  RELAXED_UNIQUE_CHECKS: 1 << 27,
  IF_EXISTS: 1 << 28,
  INSERT_HISTORY: 1 << 30,
} as const;

interface FlagOption {
  bit: number;
  /** The variable is ON when the bit is clear. */
  inverted: boolean;
  name: string;
  /** MariaDB version from which the bit is written (undefined: every server). */
  mariadbSince?: number;
}

/** In mysqlbinlog's order. MariaDB bits checked against MariaDB 10.11 binlogs. */
const FLAG_OPTIONS: FlagOption[] = [
  { bit: Option.NO_FOREIGN_KEY_CHECKS, inverted: true, name: 'foreign_key_checks' },
  { bit: Option.AUTO_IS_NULL, inverted: false, name: 'sql_auto_is_null' },
  { bit: Option.RELAXED_UNIQUE_CHECKS, inverted: true, name: 'unique_checks' },
  { bit: Option.NOT_AUTOCOMMIT, inverted: true, name: 'autocommit' },
  { bit: Option.NO_CHECK_CONSTRAINT_CHECKS, inverted: true, name: 'check_constraint_checks', mariadbSince: 100201 },
  { bit: Option.IF_EXISTS, inverted: false, name: 'sql_if_exists', mariadbSince: 100502 },
  // Written by 10.11 (seen in the fixtures); older servers leave the bit 0 whatever the
  // session had, so printing it for them would force a value the source never had.
  {
    bit: Option.EXPLICIT_DEF_TIMESTAMP,
    inverted: false,
    name: 'explicit_defaults_for_timestamp',
    mariadbSince: 101100,
  },
  { bit: Option.INSERT_HISTORY, inverted: false, name: 'system_versioning_insert_history', mariadbSince: 101100 },
];

/** Transaction keywords that keep the default database on SUPPRESS_USE events (mysqlbinlog's is_trans_keyword). */
const TRANS_KEYWORD =
  /^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|SAVEPOINT|RELEASE\s+SAVEPOINT|XA\s+(START|BEGIN|END|PREPARE|COMMIT|ROLLBACK))\b/i;
const BEGIN_RE = /^\s*(BEGIN|START\s+TRANSACTION)\b/i;
const END_RE = /^\s*(COMMIT|ROLLBACK)\b(?!\s+TO\b)/i;
const XA_START_RE = /^\s*XA\s+(START|BEGIN)\b/i;
const XA_END_TRX_RE = /^\s*XA\s+(COMMIT|ROLLBACK)\b/i;

/** Events that never become SQL. */
const SILENT = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.ROTATE,
  EventType.STOP,
  EventType.HEARTBEAT,
  EventType.HEARTBEAT_V2,
  EventType.IGNORABLE,
  EventType.PREVIOUS_GTIDS,
  EventType.TRANSACTION_CONTEXT,
  EventType.VIEW_CHANGE,
  EventType.TRANSACTION_PAYLOAD,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.MARIADB_START_ENCRYPTION,
  EventType.MARIADB_ANNOTATE_ROWS,
  EventType.ROWS_QUERY,
]);

/** `name` with backticks doubled, in backticks. */
export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A single-quoted SQL string literal (ASCII-safe escaping). */
export function quoteString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

function versionNumber(fd: FormatDescription): number {
  const [a, b, c] = fd.versionSplit;
  return a * 10000 + b * 100 + c;
}

/**
 * One target session. Call {@link push} for every event in order, then {@link finish}.
 */
export class SqlRenderer {
  private readonly opts: Required<Omit<RenderOptions, 'sqlLogBin' | 'file'>> &
    Pick<RenderOptions, 'sqlLogBin' | 'file'>;
  private started = false;
  // What the target session already has (mysqlbinlog's PRINT_EVENT_INFO).
  private db = '';
  private threadIdPrinted = false;
  private threadId = 0;
  private flags2: number | undefined;
  private sqlMode: bigint | undefined;
  private autoInc = '';
  private charset = '';
  private timeZone = '';
  private lcTimeNames = -1;
  private collationDatabase = -1;
  private mysqlVars = new Map<string, number>();
  private gtidDomain: number | undefined;
  private gtidServer: number | undefined;
  private allowParallel: boolean | undefined;
  private gtidNextSet = false;
  private sentFormat: string | undefined;
  // Log state.
  private fdEvent: BinlogEvent | undefined;
  private seenFormat = false;
  /** Table maps and rows events of the statement being collected (grouped by the writer, as mysqlbinlog groups them). */
  private readonly rows = new BinlogStatementGrouper<BinlogEvent>();
  /** Offset just past the last event collected. */
  private pendingRowsEnd = 0;
  private pendingComments: string[] = [];
  private readonly loadFiles = new Map<number, Buffer[]>();
  private payloadEnd: number | undefined;
  private payloadEndLogPos = 0;
  private lastEvent: BinlogEvent | undefined;
  private inTrx = false;
  private xaActive = false;
  private gtid: string | undefined;

  constructor(opts: RenderOptions = {}) {
    this.opts = {
      preamble: opts.preamble ?? true,
      gtids: opts.gtids ?? true,
      rollbackOnSourceRestart: opts.rollbackOnSourceRestart ?? true,
      sqlLogBin: opts.sqlLogBin,
      file: opts.file,
    };
  }

  /** A transaction is open on the target (begun, not yet committed or rolled back). */
  get inTransaction(): boolean {
    return this.inTrx;
  }

  /** Statements for one event (often none: context is held until the statement that needs it). */
  push(ev: BinlogEvent): RenderedStatement[] {
    const out: RenderedStatement[] = [];
    if (!this.started) {
      this.started = true;
      this.sessionStart(ev, out);
    }
    const type = ev.typeCode;
    if (this.rows.pending && type !== EventType.TABLE_MAP && !ROWS_EVENT_TYPES.has(type) && !SILENT.has(type)) {
      // A statement's rows end with STMT_END_F; a data event before it means a cut log.
      // (Rotations and format descriptions may sit inside a statement in relay logs.)
      this.flushRows(out);
    }
    this.lastEvent = ev;
    if (type === EventType.TRANSACTION_PAYLOAD && !ev.inPayload) {
      this.payloadEnd = ev.offset + ev.length;
      this.payloadEndLogPos = ev.endLogPos;
    } else if (!ev.inPayload) {
      this.payloadEnd = undefined;
    }

    switch (type) {
      case EventType.FORMAT_DESCRIPTION:
        this.formatDescription(ev, out);
        break;
      case EventType.QUERY:
      case EventType.MARIADB_QUERY_COMPRESSED:
        this.query(ev, out);
        break;
      case EventType.EXECUTE_LOAD_QUERY:
        this.executeLoad(ev, out);
        break;
      case EventType.BEGIN_LOAD_QUERY: {
        const d = ev.data as LoadBlockData;
        this.loadFiles.set(d.fileId, [Buffer.from(d.data)]);
        break;
      }
      case EventType.APPEND_BLOCK: {
        const d = ev.data as LoadBlockData;
        const parts = this.loadFiles.get(d.fileId);
        if (!parts) throw this.error(ev, `APPEND_BLOCK for file id ${d.fileId} without its BEGIN_LOAD_QUERY`);
        parts.push(Buffer.from(d.data));
        break;
      }
      case EventType.DELETE_FILE:
        this.loadFiles.delete((ev.data as LoadFileIdData).fileId);
        break;
      case EventType.INTVAR: {
        const d = ev.data as IntvarData;
        const name = d.type === 1 ? 'LAST_INSERT_ID' : d.type === 2 ? 'INSERT_ID' : undefined;
        if (!name) throw this.error(ev, `INTVAR of unknown type ${d.type}`);
        out.push(this.stmt(ev, 'context', `SET ${name}=${d.value}`, true));
        break;
      }
      case EventType.RAND: {
        const d = ev.data as RandData;
        out.push(this.stmt(ev, 'context', `SET @@RAND_SEED1=${d.seed1}, @@RAND_SEED2=${d.seed2}`, true));
        break;
      }
      case EventType.USER_VAR:
        out.push(this.stmt(ev, 'context', this.userVar(ev), true));
        break;
      case EventType.XID:
        out.push(this.stmt(ev, 'commit', 'COMMIT', true, { endsTransaction: true }));
        this.inTrx = false;
        break;
      case EventType.XA_PREPARE: {
        const d = ev.data as XaPrepareData;
        out.push(
          this.stmt(ev, 'commit', d.onePhase ? `XA COMMIT ${d.xid} ONE PHASE` : `XA PREPARE ${d.xid}`, true, {
            endsTransaction: true,
          }),
        );
        this.inTrx = false;
        this.xaActive = false;
        break;
      }
      case EventType.MARIADB_GTID:
        this.mariadbGtid(ev, out);
        break;
      case EventType.GTID:
      case EventType.ANONYMOUS_GTID:
      case EventType.GTID_TAGGED: {
        const d = ev.data as GtidData;
        this.gtid = d.gtid === 'ANONYMOUS' ? undefined : d.gtid;
        if (this.opts.gtids) {
          // A tag (MySQL 8.3+) is free text read from the log: quoted like any other string.
          out.push(this.stmt(ev, 'gtid', `SET @@SESSION.GTID_NEXT=${quoteString(d.gtid)}`, true));
          this.gtidNextSet = true;
        }
        break;
      }
      case EventType.TABLE_MAP:
        this.addRows(ev, out);
        break;
      case EventType.MARIADB_ANNOTATE_ROWS:
      case EventType.ROWS_QUERY:
        this.pendingComments.push(...(ev.data as RowsQueryData).sql.split('\n').map((l) => `Q> ${l}`));
        break;
      case EventType.INCIDENT:
        throw this.error(ev, 'the source logged an INCIDENT (events may be missing); refusing to apply past it');
      case EventType.LOAD:
      case EventType.NEW_LOAD:
      case EventType.CREATE_FILE:
      case EventType.EXEC_LOAD:
      case EventType.START_V3:
        throw this.error(ev, 'events of MySQL < 5.0.3 (legacy LOAD DATA / START_V3) are not supported');
      default:
        if (ROWS_EVENT_TYPES.has(type)) {
          this.addRows(ev, out);
        } else if (!SILENT.has(type) && !(ev.flags & EventFlag.IGNORABLE)) {
          throw this.error(ev, `event type ${ev.type} cannot be re-applied`);
        }
    }
    return out;
  }

  /**
   * End of input: rows events without their statement end are dropped, a transaction
   * still open is rolled back (it can never complete), GTID_NEXT goes back to AUTOMATIC.
   */
  finish(): RenderedStatement[] {
    const out: RenderedStatement[] = [];
    const last = this.lastEvent;
    this.rows.take();
    this.pendingComments = [];
    if (!last) return out;
    if (this.inTrx && !this.xaActive) {
      out.push(
        this.stmt(last, 'rollback', 'ROLLBACK', false, {
          endsTransaction: false,
          comments: ['incomplete transaction at the end of the input'],
        }),
      );
      this.inTrx = false;
    }
    if (this.gtidNextSet) {
      out.push(this.stmt(last, 'session', "SET @@SESSION.GTID_NEXT='AUTOMATIC'", false));
      this.gtidNextSet = false;
    }
    return out;
  }

  // ---- session ----

  private sessionStart(ev: BinlogEvent, out: RenderedStatement[]): void {
    if (this.opts.preamble) {
      out.push(this.stmt(ev, 'session', 'SET @@session.pseudo_slave_mode=1', false));
      if (ev.fd.isMariaDB) out.push(this.stmt(ev, 'session', 'SET @@session.max_delayed_threads=0', false));
      out.push(this.stmt(ev, 'session', 'SET @@session.completion_type=0', false));
    }
    if (this.opts.sqlLogBin !== undefined) {
      out.push(this.stmt(ev, 'session', `SET @@session.sql_log_bin=${this.opts.sqlLogBin ? 1 : 0}`, false));
    }
  }

  private formatDescription(ev: BinlogEvent, out: RenderedStatement[]): void {
    const first = !this.seenFormat;
    this.seenFormat = true;
    this.fdEvent = ev;
    if (first || !this.opts.rollbackOnSourceRestart || !this.inTrx || this.xaActive) return;
    // created (4 bytes after version 2 + server version 50) ≠ 0: written at server startup.
    const created = ev.raw.readUInt32LE(HEADER_LENGTH + 2 + 50);
    if (created !== 0 && !(ev.flags & (EventFlag.ARTIFICIAL | EventFlag.RELAY_LOG))) {
      out.push(
        this.stmt(ev, 'rollback', 'ROLLBACK', true, {
          comments: ['the source restarted: its unfinished transaction was rolled back there too'],
        }),
      );
      this.inTrx = false;
    }
  }

  // ---- statements ----

  /** The statement bytes of a QUERY / EXECUTE_LOAD_QUERY event as written. */
  private statementBytes(ev: BinlogEvent): Buffer {
    const ph = postHeaderLength(ev.fd, ev.typeCode);
    const raw = ev.raw;
    const dbLen = raw[HEADER_LENGTH + 8];
    const statusLen = ph >= 13 ? raw.readUInt16LE(HEADER_LENGTH + 11) : 0;
    const start = HEADER_LENGTH + ph + statusLen + dbLen + 1;
    const stmt = raw.subarray(start, raw.length - ev.checksumLength);
    return ev.typeCode === EventType.MARIADB_QUERY_COMPRESSED ? inflateMariadbBlock(stmt, 'QUERY_COMPRESSED') : stmt;
  }

  private query(ev: BinlogEvent, out: RenderedStatement[]): void {
    const d = ev.data as QueryData;
    const vars = d.statusVars;
    const flags3 = vars.gtidFlags3 ?? 0;
    const bytes = this.statementBytes(ev);
    const sqlText = d.sql;
    this.queryHeader(ev, d, out);
    if (
      flags3 &
      (MariadbGtidExtraFlag.START_ALTER | MariadbGtidExtraFlag.COMMIT_ALTER | MariadbGtidExtraFlag.ROLLBACK_ALTER)
    ) {
      // Two-phase ALTER (binlog_alter_two_phase): mariadb-binlog hands these to the server as events.
      this.ensureFormat(ev, out);
      out.push(this.stmt(ev, 'query', binlogStatement([ev.raw]), true, { endsTransaction: !this.inTrx }));
      return;
    }
    const wasInTrx = this.inTrx;
    let endsTransaction = !wasInTrx;
    if (BEGIN_RE.test(sqlText)) {
      this.inTrx = true;
      endsTransaction = false;
    } else if (XA_START_RE.test(sqlText)) {
      this.inTrx = true;
      this.xaActive = true;
      endsTransaction = false;
    } else if (END_RE.test(sqlText)) {
      this.inTrx = false;
      endsTransaction = true;
    } else if (XA_END_TRX_RE.test(sqlText)) {
      this.inTrx = false;
      this.xaActive = false;
      endsTransaction = true;
    }
    const st = this.stmt(ev, 'query', sqlText, true, { endsTransaction });
    if (!Buffer.from(sqlText, 'utf8').equals(bytes)) st.sqlBytes = Buffer.from(bytes);
    if (d.errorCode !== 0) st.expectedErrorCode = d.errorCode;
    out.push(st);
  }

  private executeLoad(ev: BinlogEvent, out: RenderedStatement[]): void {
    const d = ev.data as ExecuteLoadQueryData;
    const parts = this.loadFiles.get(d.fileId);
    if (!parts) throw this.error(ev, `EXECUTE_LOAD_QUERY for file id ${d.fileId} without its BEGIN_LOAD_QUERY`);
    this.loadFiles.delete(d.fileId);
    const bytes = this.statementBytes(ev);
    if (d.fnPosStart > d.fnPosEnd || d.fnPosEnd > bytes.length) {
      throw this.error(ev, `file name range ${d.fnPosStart}..${d.fnPosEnd} outside the ${bytes.length}-byte statement`);
    }
    const name = `mha-load-${basename(this.fileOf(ev))}-${ev.offset}-${d.fileId}`;
    const dup = d.dupHandling === 2 ? ' REPLACE' : d.dupHandling === 1 ? ' IGNORE' : '';
    const rebuilt = Buffer.concat([
      bytes.subarray(0, d.fnPosStart),
      Buffer.from(` LOCAL INFILE ${quoteString(name)}${dup} INTO`),
      bytes.subarray(d.fnPosEnd),
    ]);
    this.queryHeader(ev, d, out);
    const text = rebuilt.toString('utf8');
    const st = this.stmt(ev, 'load', text, true, { endsTransaction: !this.inTrx });
    if (!Buffer.from(text, 'utf8').equals(rebuilt)) st.sqlBytes = rebuilt;
    st.localInfile = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    st.localInfileName = name;
    if (d.errorCode !== 0) st.expectedErrorCode = d.errorCode;
    out.push(st);
  }

  /** mysqlbinlog's print_query_header: USE, SET TIMESTAMP and the session variables that changed. */
  private queryHeader(ev: BinlogEvent, d: QueryData, out: RenderedStatement[]): void {
    const ctx = (sql: string) => out.push(this.stmt(ev, 'context', sql, false));
    const vars: QueryStatusVars = d.statusVars;
    const mariadb = ev.fd.isMariaDB;

    if (ev.flags & EventFlag.SUPPRESS_USE) {
      if (!TRANS_KEYWORD.test(d.sql)) this.db = '';
    } else if (d.database !== this.db) {
      this.db = d.database;
      if (d.database) ctx(`USE ${quoteIdentifier(d.database)}`);
    }

    const micro = vars.hrnow ?? vars.microseconds;
    ctx(`SET TIMESTAMP=${ev.timestamp}${micro ? `.${String(micro).padStart(6, '0')}` : ''}`);

    if (!this.threadIdPrinted || (ev.flags & EventFlag.THREAD_SPECIFIC && d.threadId !== this.threadId)) {
      ctx(`SET @@session.pseudo_thread_id=${d.threadId}`);
      this.threadId = d.threadId;
      this.threadIdPrinted = true;
    }

    if (vars.flags2 !== undefined) {
      const changed = this.flags2 === undefined ? 0xffffffff : (this.flags2 ^ vars.flags2) >>> 0;
      const version = versionNumber(ev.fd);
      const sets: string[] = [];
      for (const o of FLAG_OPTIONS) {
        if (o.mariadbSince !== undefined && (!mariadb || version < o.mariadbSince)) continue;
        if (!(changed & o.bit)) continue;
        const on = ((vars.flags2 & o.bit) !== 0) !== o.inverted;
        sets.push(`@@session.${o.name}=${on ? 1 : 0}`);
      }
      if (sets.length) ctx(`SET ${sets.join(', ')}`);
      this.flags2 = vars.flags2;
    }

    if (vars.sqlMode !== undefined && vars.sqlMode !== this.sqlMode) {
      ctx(`SET @@session.sql_mode=${vars.sqlMode}`);
      this.sqlMode = vars.sqlMode;
    }

    const inc = vars.autoIncrementIncrement ?? 1;
    const off = vars.autoIncrementOffset ?? 1;
    if (`${inc},${off}` !== this.autoInc) {
      ctx(`SET @@session.auto_increment_increment=${inc}, @@session.auto_increment_offset=${off}`);
      this.autoInc = `${inc},${off}`;
    }

    if (vars.charset) {
      const key = `${vars.charset.client},${vars.charset.connection},${vars.charset.server}`;
      if (key !== this.charset) {
        // character_set_client takes a name (a number only for default collations).
        const client = collationById(vars.charset.client, mariadb)?.charset ?? String(vars.charset.client);
        ctx(
          `SET @@session.character_set_client=${client}, @@session.collation_connection=${vars.charset.connection}, ` +
            `@@session.collation_server=${vars.charset.server}`,
        );
        this.charset = key;
      }
    }

    if (vars.characterSetCollations?.length) {
      const pairs = vars.characterSetCollations.map((p) => {
        const cs = collationById(p.charsetId, mariadb)?.charset;
        const coll = collationById(p.collationId, mariadb)?.name;
        if (!cs || !coll)
          throw this.error(ev, `unknown collation id in character_set_collations (${p.charsetId}/${p.collationId})`);
        return `${cs}=${coll}`;
      });
      ctx(`SET @@session.character_set_collations=${quoteString(pairs.join(','))}`);
    }

    if (vars.timeZone && vars.timeZone !== this.timeZone) {
      ctx(`SET @@session.time_zone=${quoteString(vars.timeZone)}`);
      this.timeZone = vars.timeZone;
    }

    const lc = vars.lcTimeNames ?? 0;
    if (lc !== this.lcTimeNames) {
      ctx(`SET @@session.lc_time_names=${lc}`);
      this.lcTimeNames = lc;
    }

    const cdb = vars.charsetDatabase ?? 0;
    if (cdb !== this.collationDatabase) {
      ctx(`SET @@session.collation_database=${cdb ? cdb : 'DEFAULT'}`);
      this.collationDatabase = cdb;
    }

    // MySQL 8 session variables (absent from MariaDB events).
    const mysqlVar = (name: string, value: number | undefined) => {
      if (value === undefined || this.mysqlVars.get(name) === value) return;
      ctx(`SET @@session.${name}=${value}`);
      this.mysqlVars.set(name, value);
    };
    if (!mariadb) {
      mysqlVar('explicit_defaults_for_timestamp', vars.explicitDefaultsForTimestamp);
      mysqlVar('default_collation_for_utf8mb4', vars.defaultCollationForUtf8mb4);
      mysqlVar('sql_require_primary_key', vars.sqlRequirePrimaryKey);
      mysqlVar('default_table_encryption', vars.defaultTableEncryption);
    }
  }

  private userVar(ev: BinlogEvent): string {
    const d = ev.data as UserVarData;
    const target = `SET @${quoteIdentifier(d.name)}:=`;
    if (d.isNull) return `${target}NULL`;
    switch (d.typeCode) {
      case UserVarType.REAL: {
        // Exponent notation keeps the variable a DOUBLE (a plain 0.5 would be a DECIMAL),
        // and toExponential() gives the shortest form that round-trips.
        return `${target}${(d.value as number).toExponential()}`;
      }
      case UserVarType.INT:
      case UserVarType.DECIMAL:
        return `${target}${String(d.value)}`;
      case UserVarType.STRING: {
        const coll = collationById(d.charset ?? 0, ev.fd.isMariaDB);
        if (!coll) throw this.error(ev, `user variable @${d.name} has unknown collation id ${d.charset}`);
        const bytes = this.userVarBytes(ev);
        return `${target}_${coll.charset} X'${bytes.toString('hex')}' COLLATE ${quoteIdentifier(coll.name)}`;
      }
      default:
        throw this.error(ev, `user variable @${d.name} of type ${d.type} cannot be rendered`);
    }
  }

  /** The raw value bytes of a STRING user variable (the decoded text may not round-trip). */
  private userVarBytes(ev: BinlogEvent): Buffer {
    const raw = ev.raw;
    let p = HEADER_LENGTH;
    const nameLen = raw.readUInt32LE(p);
    p += 4 + nameLen + 1 + 1 + 4; // name, is_null, type, charset
    const valLen = raw.readUInt32LE(p);
    p += 4;
    return raw.subarray(p, p + valLen);
  }

  // ---- GTIDs ----

  private mariadbGtid(ev: BinlogEvent, out: RenderedStatement[]): void {
    const d = ev.data as MariadbGtidData;
    this.gtid = d.gtid;
    let gtidStmt: RenderedStatement | undefined;
    if (this.opts.gtids) {
      const sets: string[] = [];
      const allowParallel = d.allowParallel;
      if (this.allowParallel !== allowParallel) {
        sets.push(`@@session.skip_parallel_replication=${allowParallel ? 0 : 1}`);
        this.allowParallel = allowParallel;
      }
      if (this.gtidDomain !== d.domain) {
        sets.push(`@@session.gtid_domain_id=${d.domain}`);
        this.gtidDomain = d.domain;
      }
      if (this.gtidServer !== d.serverId) {
        sets.push(`@@session.server_id=${d.serverId}`);
        this.gtidServer = d.serverId;
      }
      sets.push(`@@session.gtid_seq_no=${d.seq}`);
      gtidStmt = this.stmt(ev, 'gtid', `SET ${sets.join(', ')}`, false);
      out.push(gtidStmt);
    }
    if (d.preparedXa && d.xid) {
      out.push(this.stmt(ev, 'begin', `XA START ${d.xid.xid}`, true));
      this.inTrx = true;
      this.xaActive = true;
    } else if (!d.standalone) {
      out.push(this.stmt(ev, 'begin', 'START TRANSACTION', true));
      this.inTrx = true;
    } else if (gtidStmt) {
      gtidStmt.completesEvent = true;
    }
  }

  // ---- rows ----

  /** A table map or rows event; its statement is rendered once the writer's grouper says it is complete. */
  private addRows(ev: BinlogEvent, out: RenderedStatement[]): void {
    this.pendingRowsEnd = this.endOf(ev);
    const done = this.rows.add(ev, this.fdEvent);
    if (done) this.renderRows(done, out);
  }

  /** The statement being collected, cut short by a data event. */
  private flushRows(out: RenderedStatement[]): void {
    const p = this.rows.take();
    if (p) this.renderRows(p, out);
  }

  private renderRows(p: RowsStatementGroup<BinlogEvent>, out: RenderedStatement[]): void {
    const first = p.events[0];
    const last = p.events[p.events.length - 1];
    this.ensureFormat(first, out, p.fde);
    const st = this.stmt(first, 'rows', p.sql, true, { endsTransaction: !this.inTrx });
    st.event.end = this.pendingRowsEnd;
    if (!last.inPayload) st.event.endLogPos = last.endLogPos;
    if (this.pendingComments.length) st.comments = this.pendingComments;
    this.pendingComments = [];
    out.push(st);
  }

  /** BINLOG '<format description>' before the first BINLOG statement, and again when the format changes. */
  private ensureFormat(ev: BinlogEvent, out: RenderedStatement[], fde = this.fdEvent): void {
    const key = formatDescriptionKey(ev.fd);
    if (key === this.sentFormat) return;
    if (!fde)
      throw this.error(ev, 'row events before any FORMAT_DESCRIPTION: start the input at the beginning of a log');
    out.push(this.stmt(fde, 'format', binlogStatement([fde.raw]), false));
    this.sentFormat = key;
  }

  // ---- helpers ----

  private fileOf(ev: BinlogEvent): string {
    return ev.file ?? this.opts.file ?? '';
  }

  private endOf(ev: BinlogEvent): number {
    return ev.inPayload && this.payloadEnd !== undefined ? this.payloadEnd : ev.offset + ev.length;
  }

  private stmt(
    ev: BinlogEvent,
    kind: StatementKind,
    sql: string,
    completesEvent: boolean,
    extra: { endsTransaction?: boolean; comments?: string[] } = {},
  ): RenderedStatement {
    const event: EventRef = {
      file: basename(this.fileOf(ev)),
      offset: ev.offset,
      end: this.endOf(ev),
      endLogPos: ev.inPayload && this.payloadEnd !== undefined ? this.payloadEndLogPos : ev.endLogPos,
    };
    if (this.gtid !== undefined && kind !== 'session' && kind !== 'format') event.gtid = this.gtid;
    const st: RenderedStatement = { sql, kind, event, completesEvent, endsTransaction: extra.endsTransaction ?? false };
    if (extra.comments) st.comments = extra.comments;
    return st;
  }

  private error(ev: BinlogEvent, message: string): SqlRenderError {
    return new SqlRenderError({ file: basename(this.fileOf(ev)), offset: ev.offset, eventType: ev.type, message });
  }
}

/** All statements for a sequence of events (one session), ending with {@link SqlRenderer.finish}. */
export function* renderEvents(events: Iterable<BinlogEvent>, opts: RenderOptions = {}): Generator<RenderedStatement> {
  const r = new SqlRenderer(opts);
  for (const ev of events) yield* r.push(ev);
  yield* r.finish();
}

/** The same over an async source (readFileEvents, readEvents over SFTP, …). */
export async function* renderEventsAsync(
  events: AsyncIterable<BinlogEvent> | Iterable<BinlogEvent>,
  opts: RenderOptions = {},
): AsyncGenerator<RenderedStatement> {
  const r = new SqlRenderer(opts);
  for await (const ev of events) yield* r.push(ev);
  yield* r.finish();
}

/**
 * A statement as dry-run text: `# at file:offset`, comment lines, then the statement
 * terminated by `;`. `previous` suppresses a repeated `# at` line.
 */
export function formatStatement(st: RenderedStatement, previous?: RenderedStatement): string {
  let text = '';
  if (!previous || previous.event.file !== st.event.file || previous.event.offset !== st.event.offset) {
    text += `# at ${st.event.file}:${st.event.offset}\n`;
  }
  for (const c of st.comments ?? []) text += `# ${c}\n`;
  if (st.localInfile) text += `# LOCAL INFILE ${st.localInfileName}: ${st.localInfile.length} bytes\n`;
  text += `${st.sql};\n`;
  return text;
}
