/**
 * Grouping of events into the `BINLOG '<base64>'` statements a server executes, the way
 * mysqlbinlog prints them: the format description in force first (again whenever it
 * changes), then one statement per SQL statement — its table maps and rows events up to
 * the one flagged STMT_END_F. The engine's SQL renderer builds its BINLOG statements
 * with the grouper below; statement events (QUERY etc.) are its business, not this one's.
 */
import { Cursor } from '../cursor.js';
import { inflateMariadbEventData } from '../decoders/rows.js';
import { CHECKSUM_LENGTH, EventType, HEADER_LENGTH, ROWS_EVENT_TYPES } from '../event-types.js';
import { decodeFormatDescription, type FormatDescription, postHeaderLength } from '../format-description.js';
import { binlogStatement } from './binlog-statement.js';
import { writeChecksum } from './event-writer.js';

/** What grouping needs of an event (a BinlogEvent has it). */
export interface StatementEventLike {
  /** The whole event (for events from a TRANSACTION_PAYLOAD: without a checksum). */
  raw: Buffer;
  /** GA type code. */
  typeCode: number;
  /** The format description in force for the event. */
  fd: FormatDescription;
  /** Whether it came out of a MySQL TRANSACTION_PAYLOAD (no checksum of its own). */
  inPayload?: boolean;
}

/** STMT_END_F of the rows-event post-header flags. */
export const ROWS_STMT_END_F = 0x0001;

/** Events that may sit between the rows events of one statement without ending it (relay logs rotate mid-statement). */
const TRANSPARENT = new Set<number>([
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

/** TABLE_MAP or a rows event: what goes into a rows BINLOG statement. */
export function isRowsStatementEvent(typeCode: number): boolean {
  return typeCode === EventType.TABLE_MAP || ROWS_EVENT_TYPES.has(typeCode);
}

/** Post-header flags of a rows event (table id: 4 bytes under a 6-byte post-header, else 6). */
export function rowsEventFlags(ev: StatementEventLike): number {
  const ph = postHeaderLength(ev.fd, ev.typeCode);
  return ev.raw.readUInt16LE(HEADER_LENGTH + (ph === 6 ? 4 : 6));
}

/** A rows event flagged STMT_END_F: the last event of its statement. */
export function endsRowsStatement(ev: StatementEventLike): boolean {
  return ROWS_EVENT_TYPES.has(ev.typeCode) && (rowsEventFlags(ev) & ROWS_STMT_END_F) !== 0;
}

/** MariaDB compressed rows event types → the plain types with the same layout. */
const UNCOMPRESSED = new Map<number, number>([
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1, EventType.WRITE_ROWS_V1],
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1, EventType.UPDATE_ROWS_V1],
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1, EventType.DELETE_ROWS_V1],
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED, EventType.WRITE_ROWS],
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED, EventType.UPDATE_ROWS],
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED, EventType.DELETE_ROWS],
]);

/**
 * A MariaDB compressed rows event (166–171) as the plain rows event it stands for: same
 * header (type and size changed), post-header and bitmaps, the rows inflated, the
 * checksum recomputed. MariaDB refuses compressed rows events in BINLOG statements;
 * mariadb-binlog converts them the same way (row_log_event_uncompress).
 */
export function uncompressRowsEvent(ev: StatementEventLike): Buffer {
  const plainType = UNCOMPRESSED.get(ev.typeCode);
  if (plainType === undefined) return ev.raw;
  const cs = ev.inPayload ? 0 : ev.fd.checksumLength;
  const end = ev.raw.length - cs;
  const c = new Cursor(ev.raw, HEADER_LENGTH, end);
  const ph = postHeaderLength(ev.fd, ev.typeCode);
  c.skip(ph === 6 ? 6 : 8); // table id, flags
  const v2 =
    plainType === EventType.WRITE_ROWS || plainType === EventType.UPDATE_ROWS || plainType === EventType.DELETE_ROWS;
  if (v2) c.skip(c.u16() - 2); // extra data, its length counting itself
  const n = c.packed();
  const bitmaps = plainType === EventType.UPDATE_ROWS_V1 || plainType === EventType.UPDATE_ROWS ? 2 : 1;
  c.skip(bitmaps * Math.ceil(n / 8)); // not (n + 7) >> 3: 32-bit arithmetic wraps on a damaged count
  const rows = inflateMariadbEventData(ev.raw.subarray(c.pos, end));
  const out = Buffer.alloc(c.pos + rows.length + cs);
  ev.raw.copy(out, 0, 0, c.pos);
  rows.copy(out, c.pos);
  out[4] = plainType;
  out.writeUInt32LE(out.length, 9);
  if (cs) writeChecksum(out);
  return out;
}

/**
 * The event as the server must see it inside BINLOG: MariaDB compressed rows events as
 * their plain form (uncompressRowsEvent); events from a TRANSACTION_PAYLOAD with the
 * checksum their format description promises (the server checks it).
 */
export function binlogEventBytes(ev: StatementEventLike): Buffer {
  if (UNCOMPRESSED.has(ev.typeCode)) return uncompressRowsEvent(ev);
  if (!ev.inPayload || ev.fd.checksumLength === 0) return ev.raw;
  const out = Buffer.alloc(ev.raw.length + CHECKSUM_LENGTH);
  ev.raw.copy(out);
  out.writeUInt32LE(out.length, 9);
  writeChecksum(out);
  return out;
}

/** Equal keys: the two format descriptions decode events alike (no new format statement needed). */
export function formatDescriptionKey(fd: FormatDescription): string {
  return `${fd.serverVersion}|${fd.checksumAlgorithm}|${fd.commonHeaderLength}|${Buffer.from(fd.rawPostHeaderLengths).toString('hex')}`;
}

/** One statement's table maps and rows events. */
export interface RowsStatementGroup<E> {
  /** The format-description event in force when the statement began, as given to add(). */
  fde: E | undefined;
  events: E[];
  /** The events' bytes as the statement carries them. */
  parts: Buffer[];
  /** `BINLOG '<base64>'`. */
  sql: string;
  /** false: cut off before its STMT_END_F (a data event came first, or the input ended). */
  complete: boolean;
}

/**
 * Collects TABLE_MAP and rows events into statements. Feed them in file order with
 * add(); it returns the statement its STMT_END_F event completes. take() hands out what
 * is pending (a statement cut short).
 */
export class BinlogStatementGrouper<E extends StatementEventLike> {
  private cur: { fde: E | undefined; events: E[]; parts: Buffer[] } | undefined;

  /** A statement is being collected. */
  get pending(): boolean {
    return this.cur !== undefined;
  }

  /** Add a TABLE_MAP or rows event; `fde` is the format-description event in force. */
  add(ev: E, fde?: E): RowsStatementGroup<E> | undefined {
    if (!isRowsStatementEvent(ev.typeCode)) {
      throw new Error(`event type ${ev.typeCode} does not belong in a rows BINLOG statement`);
    }
    if (!this.cur) this.cur = { fde, events: [], parts: [] };
    this.cur.events.push(ev);
    this.cur.parts.push(binlogEventBytes(ev));
    return endsRowsStatement(ev) ? this.close(true) : undefined;
  }

  /** The pending (incomplete) statement, if any; the grouper is empty afterwards. */
  take(): RowsStatementGroup<E> | undefined {
    return this.cur ? this.close(false) : undefined;
  }

  private close(complete: boolean): RowsStatementGroup<E> {
    const c = this.cur!;
    this.cur = undefined;
    return { ...c, sql: binlogStatement(c.parts), complete };
  }
}

/** One BINLOG statement of binlogStatementsFor. */
export interface BinlogStatement {
  kind: 'format' | 'rows';
  sql: string;
  /** The events it carries, as carried. */
  events: Buffer[];
  /** rows: false when cut off before STMT_END_F (only with `incomplete: 'keep'`). */
  complete: boolean;
}

export interface BinlogStatementsOptions {
  /** Format description for Buffer events before any FORMAT_DESCRIPTION in the input. */
  fd?: FormatDescription;
  /**
   * Table maps and rows events without their STMT_END_F (a data event came first, or the
   * input ended): 'drop' them (default — what a replica's SQL thread does), or 'keep'.
   */
  incomplete?: 'drop' | 'keep';
}

function asEvent(e: StatementEventLike | Buffer, fd: FormatDescription | undefined): StatementEventLike {
  if (!Buffer.isBuffer(e)) return e;
  const raw = e[4];
  if (raw === EventType.FORMAT_DESCRIPTION) return { raw: e, typeCode: raw, fd: decodeFormatDescription(e) };
  if (!fd) throw new Error('binlogStatementsFor: events before any format description (pass opts.fd)');
  return { raw: e, typeCode: fd.typeMap ? fd.typeMap[raw] : raw, fd };
}

/**
 * The BINLOG statements that apply `events` (BinlogEvents, or whole event buffers —
 * a FORMAT_DESCRIPTION among them sets the format for the buffers after it) as
 * mysqlbinlog prints them: the format description statement before the first rows
 * statement and again when the format changes, then one statement per SQL statement.
 * Events other than format descriptions, table maps and rows events are not rendered
 * here (statement events become SQL in the engine's renderer); a data event among a
 * statement's rows events cuts it short.
 */
export function binlogStatementsFor(
  events: Iterable<StatementEventLike | Buffer>,
  opts: BinlogStatementsOptions = {},
): BinlogStatement[] {
  const out: BinlogStatement[] = [];
  const grouper = new BinlogStatementGrouper<StatementEventLike>();
  let fd = opts.fd;
  let fde: StatementEventLike | undefined;
  let sent: string | undefined;
  const emit = (g: RowsStatementGroup<StatementEventLike> | undefined) => {
    if (!g || (!g.complete && opts.incomplete !== 'keep')) return;
    const first = g.events[0];
    const key = formatDescriptionKey(first.fd);
    if (key !== sent) {
      if (!g.fde) throw new Error('binlogStatementsFor: rows events before any FORMAT_DESCRIPTION event');
      out.push({ kind: 'format', sql: binlogStatement([g.fde.raw]), events: [g.fde.raw], complete: true });
      sent = key;
    }
    out.push({ kind: 'rows', sql: g.sql, events: g.parts, complete: g.complete });
  };
  for (const item of events) {
    const ev = asEvent(item, fd);
    if (ev.typeCode === EventType.FORMAT_DESCRIPTION) {
      fde = ev;
      fd = ev.fd;
      continue;
    }
    if (isRowsStatementEvent(ev.typeCode)) emit(grouper.add(ev, fde));
    else if (!TRANSPARENT.has(ev.typeCode)) emit(grouper.take());
  }
  emit(grouper.take());
  return out;
}
