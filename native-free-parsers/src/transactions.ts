import type { BinlogEvent } from './event.js';
import { EventType, ROWS_EVENT_TYPES } from './event-types.js';

/** How an event relates to the transaction boundaries of the log. */
export type TransactionRole =
  /** Not part of any transaction: format descriptions, rotates, GTID lists, … */
  | 'outside'
  /** Opens a transaction (a GTID event, BEGIN, or the first event of an implicit one). */
  | 'begin'
  | 'inside'
  /** Closes the open transaction (XID, COMMIT, ROLLBACK, XA PREPARE, the statement of a standalone GTID). */
  | 'end'
  /** A complete transaction in one event (an autocommitted statement without GTIDs). */
  | 'single';

const NOT_IN_TRANSACTIONS = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.ROTATE,
  EventType.STOP,
  EventType.PREVIOUS_GTIDS,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.MARIADB_START_ENCRYPTION,
  EventType.HEARTBEAT,
  EventType.HEARTBEAT_V2,
  EventType.INCIDENT,
  EventType.IGNORABLE,
  EventType.LARGE_TRANSACTION_HEADER,
  EventType.TRANSACTION_PAYLOAD,
]);

/** Events that carry the statement a group ends with when there is no COMMIT. */
const STATEMENTS = new Set<number>([EventType.QUERY, EventType.MARIADB_QUERY_COMPRESSED, EventType.EXECUTE_LOAD_QUERY]);

/** Events that precede the statement they belong to (statement-based logging). */
const PRELUDE = new Set<number>([
  EventType.INTVAR,
  EventType.RAND,
  EventType.USER_VAR,
  EventType.BEGIN_LOAD_QUERY,
  EventType.APPEND_BLOCK,
  EventType.TABLE_MAP,
  EventType.ROWS_QUERY,
  EventType.MARIADB_ANNOTATE_ROWS,
]);

const sqlOf = (e: BinlogEvent): string => {
  const d = e.data as { sql?: string };
  return (d.sql ?? '').trimStart().slice(0, 16).toUpperCase();
};

/**
 * Follows transaction boundaries through a log: GTID-framed (MariaDB, MySQL), BEGIN…COMMIT
 * (logs without GTIDs), XA, standalone DDL. One instance per ordered event stream;
 * MySQL transaction payloads are seen through their inner events.
 */
export class TransactionTracker {
  private open = false;
  /** The open group ends at its next statement (standalone GTID, MySQL DDL after a GTID). */
  private endsAtStatement = false;
  /** The open group started implicitly (prelude events without BEGIN). */
  private implicit = false;
  /** The GTID event that opened the current transaction, if any. */
  gtidEvent: BinlogEvent | undefined;

  get inTransaction(): boolean {
    return this.open;
  }

  observe(e: BinlogEvent): TransactionRole {
    const t = e.typeCode;
    if (NOT_IN_TRANSACTIONS.has(t)) return 'outside';
    if (
      t === EventType.MARIADB_GTID ||
      t === EventType.GTID ||
      t === EventType.ANONYMOUS_GTID ||
      t === EventType.GTID_TAGGED
    ) {
      this.open = true;
      this.implicit = false;
      this.gtidEvent = e;
      // MariaDB says it in the flags; MySQL DDL has a GTID and no BEGIN.
      this.endsAtStatement =
        t === EventType.MARIADB_GTID ? (e.data as { standalone?: boolean }).standalone === true : true;
      return 'begin';
    }
    if (t === EventType.XID || t === EventType.XA_PREPARE) return this.close();
    if (STATEMENTS.has(t)) {
      const sql = sqlOf(e);
      if (sql.startsWith('BEGIN') || sql.startsWith('START TRANSACT') || (sql.startsWith('XA START') && !this.open)) {
        if (this.open && !this.endsAtStatement && !this.implicit) return 'inside';
        const wasOpen = this.open;
        this.open = true;
        this.endsAtStatement = false;
        this.implicit = false;
        return wasOpen ? 'inside' : 'begin';
      }
      if (sql.startsWith('XA START')) {
        this.endsAtStatement = false;
        return 'inside';
      }
      if (
        sql.startsWith('COMMIT') ||
        sql.startsWith('ROLLBACK') ||
        sql.startsWith('XA COMMIT') ||
        sql.startsWith('XA ROLLBACK')
      ) {
        return this.open ? this.close() : 'single';
      }
      if (!this.open) return 'single';
      if (this.endsAtStatement || this.implicit) return this.close();
      return 'inside';
    }
    // Prelude and rows events: inside the open transaction, or an implicit one.
    if (!this.open) {
      this.open = true;
      this.implicit = true;
      this.endsAtStatement = false;
      this.gtidEvent = undefined;
      if (ROWS_EVENT_TYPES.has(t) && this.rowsEndStatement(e)) return this.close('single');
      return 'begin';
    }
    if (this.implicit && ROWS_EVENT_TYPES.has(t) && this.rowsEndStatement(e)) return this.close();
    if (PRELUDE.has(t) || ROWS_EVENT_TYPES.has(t)) return 'inside';
    return 'inside';
  }

  private rowsEndStatement(e: BinlogEvent): boolean {
    // STMT_END_F in the rows flags (after the 6- or 4-byte table id).
    const idLen = e.typeCode >= EventType.PRE_GA_WRITE_ROWS && e.typeCode <= EventType.PRE_GA_DELETE_ROWS ? 4 : 6;
    return e.raw.length > 19 + idLen + 1 && (e.raw.readUInt16LE(19 + idLen) & 1) === 1;
  }

  private close(role: TransactionRole = 'end'): TransactionRole {
    this.open = false;
    this.implicit = false;
    this.endsAtStatement = false;
    return role;
  }
}
