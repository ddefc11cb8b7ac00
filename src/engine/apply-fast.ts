/**
 * The fast path of re-application — the default of applyRecoveryPlan — in the same single
 * session and order as apply.ts's plain path (one statement per round trip), but:
 *
 * - **batched**: many statements per round trip, as one multi-statement COM_QUERY packet
 *   (up to `batchBytes` / `batchStatements`). The server runs a packet's statements in
 *   order and stops at the first error; the client counts the responses that came back
 *   before it (not their more-results flag, which MariaDB gets wrong after a BINLOG
 *   statement), so the failing statement — and everything applied before it — is known
 *   exactly. An error the source had too (QUERY error_code) is accepted and the rest of
 *   the packet sent again.
 * - **pipelined**: the next packet is read, parsed and rendered while the server executes
 *   the current one (never sent before the current one succeeded: a packet after a
 *   failed one would run statements past the failure).
 * - **rows straight from the event bytes**: the table maps and rows events of a
 *   transaction become one `BINLOG '…'` statement, base64-encoded in one go
 *   ({@link renderForFastPath}); `binlog_annotate_row_events` is off for them, repeated
 *   `SET TIMESTAMP`s are dropped, consecutive context `SET`s joined.
 * - **under relaxed durability** (`durability: 'relaxed'`, the default when
 *   `settingsStore` or `stateDir` is given): innodb_flush_log_at_trx_commit=2, sync_binlog=0 and buffered redo-log
 *   writes while applying, so the source transactions still commit one by one, with their
 *   GTIDs, but without waiting for the disk each time; restored with a durable flush
 *   before returning (apply-settings.ts tells why this is crash-safe, and records the
 *   change so that a killed run is restored later).
 *
 * LOAD DATA statements (LOCAL INFILE content) are sent alone. bench/RESULTS.md has the
 * measurements ("Apply benchmark").
 */
import { basename } from 'node:path';
import {
  type BinlogEvent,
  EventType,
  type FormatDescription,
  formatDescriptionKey,
  postHeaderLength,
} from '@mha-ts/native-free-parsers';
import { type Connection, createConnection } from 'mysql2';
import {
  ApplyError,
  type ApplyOptions,
  type ApplySummary,
  type ApplyTarget,
  applyConnectionOptions,
  byteLength,
  DEFAULTS,
  infileStream,
  PACKET_OVERHEAD,
  Progress,
  serverErrorOf,
  wireText,
} from './apply.js';
import { type SettingsRecordStore, TargetSettings } from './apply-settings.js';
import { type RenderedStatement, type RenderOptions, SqlRenderError, SqlRenderer } from './sql-renderer.js';

export interface FastApplyOptions extends ApplyOptions {
  /** Bytes of SQL per multi-statement packet (a larger single statement goes alone). Default 1 MiB. */
  batchBytes?: number;
  /** Statements per packet. Default 4000. */
  batchStatements?: number;
  /**
   * Consecutive rows statements of one transaction (each a table map and its rows
   * events) are sent as one `BINLOG '…'` statement of up to this many bytes: the server
   * parses, decodes and dispatches one statement instead of several. 0: one each.
   * Default 16 MiB.
   */
  joinRowsBytes?: number;
  /** Consecutive context `SET`s as one `SET a, b, …` (not across sql_mode / character_set_client). Default true. */
  joinSets?: boolean;
  /**
   * 'relaxed' (default): innodb_flush_log_at_trx_commit=2 / sync_binlog=0 for the run,
   * restored and flushed at the end — only when `settingsStore` or `stateDir` is given,
   * where the change is recorded. 'keep': leave durability settings alone.
   */
  durability?: 'relaxed' | 'keep';
  /**
   * Where the settings change is recorded; wins over `stateDir`. With manager HA the
   * cluster's shared store, so that whichever manager leads next can restore it.
   */
  settingsStore?: SettingsRecordStore;
  /** The settings change is recorded in a state file in this directory (the manager's workdir). */
  stateDir?: string;
  /** Stop between packets (the open transaction is rolled back, settings restored). */
  signal?: AbortSignal;
}

const FAST_DEFAULTS = {
  batchBytes: 1024 * 1024,
  batchStatements: 4000,
  joinRowsBytes: 16 * 1024 * 1024,
  joinSets: true,
};

type EventSource = AsyncIterable<BinlogEvent> | Iterable<BinlogEvent>;

/** Renders and executes `events` on `target` in multi-statement packets; see the module comment. */
export async function applyEventsFast(
  target: ApplyTarget,
  events: EventSource,
  opts: FastApplyOptions = {},
): Promise<ApplySummary> {
  // A joined BINLOG statement (base64: 4/3 of its bytes) must fit the session's max_allowed_packet.
  let joinBytes = opts.joinRowsBytes ?? FAST_DEFAULTS.joinRowsBytes;
  return applyStatementsFast(
    target,
    renderForFastPath(events, opts, () => joinBytes),
    opts,
    (maxPacket) => {
      joinBytes = Math.max(0, Math.min(joinBytes, Math.floor(((maxPacket - 64 * 1024) * 3) / 4)));
    },
  );
}

/** Rows events as they are logged (not MariaDB-compressed: those the renderer converts). */
const PLAIN_ROWS = new Set<number>([
  EventType.WRITE_ROWS_V1,
  EventType.UPDATE_ROWS_V1,
  EventType.DELETE_ROWS_V1,
  EventType.WRITE_ROWS,
  EventType.UPDATE_ROWS,
  EventType.DELETE_ROWS,
  EventType.PARTIAL_UPDATE_ROWS,
]);

/**
 * {@link SqlRenderer}'s statements, except that the table maps and rows events of an open
 * transaction become `BINLOG '…'` statements here, straight from the event bytes: the
 * consecutive ones of a transaction as one statement of up to `joinBytes` (cut only where
 * a statement's rows end, STMT_END_F), base64-encoded in one go. Otherwise the renderer
 * groups them per statement and line-wraps the base64 — most of the client's work on a
 * row-format diff. The server runs such a statement's events in order, closing the
 * tables at each statement end, as the separate statements would. Everything else —
 * rows outside a transaction, compressed rows, MySQL payloads — goes to the renderer;
 * ANNOTATE_ROWS / ROWS_QUERY inside a transaction (comments for a dry run) are dropped.
 * `joinBytes` 0: the renderer's statements unchanged.
 */
export async function* renderForFastPath(
  events: EventSource,
  opts: RenderOptions,
  joinLimit: number | (() => number),
): AsyncGenerator<RenderedStatement> {
  const r = new SqlRenderer(opts);
  const limit = typeof joinLimit === 'number' ? () => joinLimit : joinLimit;
  if (limit() <= 0) {
    for await (const ev of events) yield* r.push(ev);
    yield* r.finish();
    return;
  }
  let fde: BinlogEvent | undefined;
  let sentFormat: string | undefined;
  let keyFd: FormatDescription | undefined;
  let key = '';
  let gtid: string | undefined;
  let pending: BinlogEvent[] = [];
  let pendingBytes = 0;
  const formatKey = (fd: FormatDescription) => {
    if (fd !== keyFd) {
      keyFd = fd;
      key = formatDescriptionKey(fd);
    }
    return key;
  };
  const flush = (): RenderedStatement[] => {
    const evs = pending;
    pending = [];
    pendingBytes = 0;
    const out: RenderedStatement[] = [];
    const first = evs[0];
    const last = evs[evs.length - 1];
    const file = basename(first.file ?? opts.file ?? '');
    const k = formatKey(first.fd);
    if (k !== sentFormat && fde) {
      out.push({
        sql: `BINLOG '${fde.raw.toString('base64')}'`,
        kind: 'format',
        event: { file, offset: fde.offset, end: fde.offset + fde.length, endLogPos: fde.endLogPos },
        completesEvent: false,
        endsTransaction: false,
      });
      sentFormat = k;
    }
    const raw = evs.length === 1 ? first.raw : Buffer.concat(evs.map((e) => e.raw));
    const event: RenderedStatement['event'] = {
      file,
      offset: first.offset,
      end: last.offset + last.length,
      endLogPos: last.endLogPos,
    };
    if (gtid !== undefined) event.gtid = gtid;
    out.push({
      sql: `BINLOG '${raw.toString('base64')}'`,
      kind: 'rows',
      event,
      completesEvent: true,
      endsTransaction: false,
    });
    return out;
  };
  for await (const ev of events) {
    const t = ev.typeCode;
    if (ev.inPayload) {
      // MySQL transaction payloads: the renderer's business.
    } else if (t === EventType.FORMAT_DESCRIPTION) {
      fde = ev;
    } else if (r.inTransaction && fde && (t === EventType.TABLE_MAP || PLAIN_ROWS.has(t))) {
      pending.push(ev);
      pendingBytes += ev.raw.length;
      if (pendingBytes >= limit() && t !== EventType.TABLE_MAP && statementEnds(ev)) yield* flush();
      continue;
    } else if (r.inTransaction && (t === EventType.MARIADB_ANNOTATE_ROWS || t === EventType.ROWS_QUERY)) {
      continue;
    }
    if (pending.length) yield* flush();
    if (t === EventType.MARIADB_GTID || t === EventType.GTID || t === EventType.GTID_TAGGED) {
      const g = (ev.data as { gtid?: string }).gtid;
      gtid = g === 'ANONYMOUS' ? undefined : g;
    } else if (t === EventType.ANONYMOUS_GTID) {
      gtid = undefined;
    }
    yield* r.push(ev);
    // Logs without GTIDs: no stale GTID on the next transaction's rows.
    if (!r.inTransaction) gtid = undefined;
  }
  // Rows of a transaction the input ends inside: it is rolled back, like the renderer drops them.
  pending = [];
  yield* r.finish();
}

/** STMT_END_F in a rows event's flags (after its 6-byte table id, 4 in the oldest format). */
function statementEnds(ev: BinlogEvent): boolean {
  const idLen = postHeaderLength(ev.fd, ev.typeCode) === 6 ? 4 : 6;
  const at = 19 + idLen;
  return ev.raw.length > at + 1 && (ev.raw.readUInt16LE(at) & 1) === 1;
}

/**
 * One statement of a packet: a rendered statement, or several context `SET`s joined into
 * one (`SET a=1, b=2` — evaluated left to right, as the separate statements were).
 */
interface Entry {
  /** The statement reported on failure (the first of `parts`). */
  st: RenderedStatement;
  parts: RenderedStatement[];
  text: string;
  /** Rows statements joined into one BINLOG statement: their base64 chunks, until the packet is sent. */
  rows?: string[];
  rowsBytes?: number;
}

/**
 * The base64 text of a `BINLOG '…'` statement. The server decodes a BINLOG statement's
 * text as several base64 chunks one after the other (each with its own padding; what
 * mysqlbinlog relies on too), so chunks are joined without decoding them.
 */
function binlogChunk(text: string): string {
  return text.slice(text.indexOf("'") + 1, text.lastIndexOf("'"));
}

/** A rows statement inside a transaction: it can share a BINLOG statement with its neighbours. */
function joinableRows(st: RenderedStatement): boolean {
  return st.kind === 'rows' && !st.endsTransaction && st.sqlBytes === undefined;
}

interface Batch {
  entries: Entry[];
  bytes: number;
}

const emptyBatch = (): Batch => ({ entries: [], bytes: 0 });

/** A statement whose last line may end in a `--`/`#` comment needs a newline before the `;` that follows it. */
function separatorAfter(e: Entry): string {
  const k = e.st.kind;
  if (k === 'rows' || k === 'format' || k === 'gtid' || k === 'commit' || k === 'begin') return ';\n';
  const text = e.text;
  const lastLine = text.slice(text.lastIndexOf('\n') + 1);
  return lastLine.includes('--') || lastLine.includes('#') ? '\n;\n' : ';\n';
}

/** Context the renderer writes as `SET x=…` (never GTID_NEXT, which MySQL wants alone). */
function mergeableSet(st: RenderedStatement): boolean {
  return (
    (st.kind === 'context' || st.kind === 'gtid' || st.kind === 'session') &&
    st.sqlBytes === undefined &&
    st.sql.startsWith('SET ') &&
    !/GTID_NEXT/i.test(st.sql)
  );
}

const PARSE_CONTEXT = /sql_mode|character_set_client/i;

/** Statements of the fast path's own (not rendered from the log): not counted in the summary. */
const SYNTHETIC = new WeakSet<RenderedStatement>();

function joinBatch(entries: Entry[]): string {
  for (const e of entries) {
    if (e.rows) {
      e.text = `BINLOG '${e.rows.join('\n')}'`;
      e.rows = undefined;
    }
  }
  if (entries.length === 1) return entries[0].text;
  let sql = '';
  const last = entries.length - 1;
  for (let i = 0; i < last; i++) sql += entries[i].text + separatorAfter(entries[i]);
  return sql + entries[last].text;
}

/** Executes rendered statements in order, batched, over one connection. */
export async function applyStatementsFast(
  target: ApplyTarget,
  statements: AsyncIterable<RenderedStatement> | Iterable<RenderedStatement>,
  opts: FastApplyOptions = {},
  /** Told the session's max_allowed_packet once connected, before the first statement is read. */
  onSession?: (maxPacket: number) => void,
): Promise<ApplySummary> {
  const t0 = Date.now();
  const o = {
    connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    queryTimeoutMs: opts.queryTimeoutMs ?? DEFAULTS.queryTimeoutMs,
    maxAllowedPacket: opts.maxAllowedPacket ?? DEFAULTS.maxAllowedPacket,
    batchBytes: opts.batchBytes ?? FAST_DEFAULTS.batchBytes,
    batchStatements: opts.batchStatements ?? FAST_DEFAULTS.batchStatements,
    joinRowsBytes: opts.joinRowsBytes ?? FAST_DEFAULTS.joinRowsBytes,
    joinSets: opts.joinSets ?? FAST_DEFAULTS.joinSets,
  };
  const log = opts.log ?? (() => {});
  const p = new Progress();
  const relax =
    (opts.durability ?? 'relaxed') === 'relaxed' && (opts.settingsStore !== undefined || opts.stateDir !== undefined);
  let settings: TargetSettings | undefined;
  const session = new BatchSession(target, o.connectTimeoutMs, o.queryTimeoutMs, log);
  let batches = 0;
  let current: RenderedStatement | undefined;

  const completed = (e: Entry) => {
    for (const part of e.parts) if (!SYNTHETIC.has(part)) p.done(part, byteLength(part));
    session.track(e.parts);
  };

  /** Runs a batch to its end: accepted source errors resume with the rest. Throws ApplyError. */
  const execute = async (b: Batch): Promise<void> => {
    let entries = b.entries;
    while (entries.length > 0) {
      batches++;
      const tb = performance.now();
      const r = await session.run(joinBatch(entries), entries);
      (globalThis as { __busy?: number }).__busy =
        ((globalThis as { __busy?: number }).__busy ?? 0) + performance.now() - tb;
      for (let i = 0; i < r.completed; i++) completed(entries[i]);
      if (r.error === undefined) return;
      const failed = entries[r.completed];
      const se = serverErrorOf(r.error);
      if (failed && se && failed.parts.length === 1 && failed.st.expectedErrorCode === se.code) {
        p.expectedErrors++;
        log(`${failed.st.event.file}:${failed.st.event.offset}: error ${se.code} as on the source, continuing`);
        completed(failed);
        entries = entries.slice(r.completed + 1);
        continue;
      }
      throw p.failure(failed?.st, r.error);
    }
  };

  try {
    try {
      settings = await TargetSettings.change(
        { ...target, port: target.port ?? 3306 },
        { relaxDurability: relax, maxAllowedPacket: o.maxAllowedPacket },
        { store: opts.settingsStore, stateDir: opts.stateDir, log, connectTimeoutMs: o.connectTimeoutMs },
      );
      await session.open();
      onSession?.(session.maxPacket);
    } catch (err) {
      if (err instanceof ApplyError) throw err;
      throw p.failure(undefined, err, 'setup');
    }
    let batch = emptyBatch();
    let inflight: Promise<void> | undefined;
    const settle = async () => {
      const run = inflight;
      inflight = undefined;
      if (run) await run;
    };
    const send = async (b: Batch) => {
      await settle();
      if (opts.signal?.aborted) throw aborted(p, b.entries[0]?.st);
      const run = execute(b);
      run.catch(() => {}); // observed when settled
      inflight = run;
    };
    const add = (st: RenderedStatement, text: string, bytes: number) => {
      const prev = batch.entries[batch.entries.length - 1];
      if (
        o.joinRowsBytes > 0 &&
        prev &&
        joinableRows(st) &&
        joinableRows(prev.st) &&
        (prev.rowsBytes ?? byteLength(prev.st)) + bytes <= Math.min(o.joinRowsBytes, session.maxPacket - 64 * 1024)
      ) {
        prev.rows ??= [binlogChunk(prev.text)];
        prev.rows.push(binlogChunk(text));
        prev.rowsBytes = (prev.rowsBytes ?? byteLength(prev.st)) + bytes;
        prev.parts.push(st);
        batch.bytes += bytes;
        return;
      }
      // Not after sql_mode or character_set_client: the next SET is parsed under them.
      if (o.joinSets && prev && mergeableSet(st) && mergeableSet(prev.st) && !PARSE_CONTEXT.test(prev.text)) {
        prev.text += `, ${text.slice(4)}`;
        prev.parts.push(st);
        batch.bytes += bytes - 2;
        return;
      }
      batch.entries.push({ st, parts: [st], text });
      batch.bytes += bytes + 3;
    };
    try {
      /** The session's fixed timestamp as last set (undefined: unknown). */
      let timestamp: string | undefined;
      for await (const st of statements) {
        current = st;
        // The renderer sets the timestamp before every statement, as mysqlbinlog does; a
        // session keeps a SET TIMESTAMP until the next one, so a repeat changes nothing —
        // unless a BINLOG statement ran since (row events set the session's time to theirs).
        if (st.kind === 'context' && st.sql.startsWith('SET TIMESTAMP=')) {
          if (st.sql === timestamp) continue;
          timestamp = st.sql;
        } else if (st.kind !== 'gtid' && st.kind !== 'begin' && st.kind !== 'commit' && st.kind !== 'context') {
          if (st.kind !== 'query' || /^\s*(BINLOG|SET)\b/i.test(st.sql)) timestamp = undefined;
        }
        const bytes = byteLength(st);
        if (o.maxAllowedPacket > 0 && bytes + PACKET_OVERHEAD > session.maxPacket) {
          throw p.failure(
            st,
            new Error(`statement of ${bytes} bytes exceeds max_allowed_packet ${session.maxPacket}`),
            'setup',
          );
        }
        if (st.localInfile) {
          if (batch.entries.length) await send(batch);
          batch = emptyBatch();
          await settle();
          await execute({ entries: [{ st, parts: [st], text: wireText(st) }], bytes });
          continue;
        }
        const limit = Math.min(o.batchBytes, session.maxPacket - PACKET_OVERHEAD);
        if (
          batch.entries.length > 0 &&
          (batch.bytes + bytes + 3 > limit || batch.entries.length >= o.batchStatements)
        ) {
          await send(batch);
          batch = emptyBatch();
        }
        const annotate = session.annotateFor(st);
        if (annotate) add(annotate, annotate.sql, annotate.sql.length);
        add(st, wireText(st), bytes);
      }
      if (batch.entries.length) await send(batch);
      await settle();
    } catch (err) {
      if (inflight) await (inflight as Promise<void>).catch(() => {});
      if (err instanceof ApplyError) throw err;
      if (err instanceof SqlRenderError) throw p.renderError(err);
      throw p.failure(current, err);
    }
    await session.close();
    const summary = p.summary(t0);
    summary.mode = 'fast';
    summary.batches = batches;
    const restored = await settings.restore();
    if (Object.keys(restored).length) summary.settingsRestored = restored;
    if (restored.max_allowed_packet !== undefined) summary.maxAllowedPacketRestoredTo = restored.max_allowed_packet;
    summary.durationMs = Date.now() - t0;
    log(
      `applied ${summary.statements} statements, ${summary.transactions} transactions, ${summary.bytes} bytes in ${summary.durationMs} ms (${batches} packets)`,
    );
    return summary;
  } catch (err) {
    await session.abort();
    if (settings) {
      try {
        await settings.restore();
      } catch (restoreErr) {
        log(`restoring the target's settings failed: ${(restoreErr as Error).message} (recorded for the next start)`);
        if (err instanceof ApplyError) {
          (err as { message: string }).message +=
            ` The target's settings could not be restored (${(restoreErr as Error).message}); they are restored at the manager's next start.`;
        }
      }
    }
    throw err;
  }
}

function aborted(p: Progress, st: RenderedStatement | undefined): ApplyError {
  return p.failure(st, new Error('the apply was aborted'), 'aborted');
}

/** The run's connection: multi-statement packets, results counted. */
class BatchSession {
  private conn: Connection | undefined;
  maxPacket = 0;
  private inTransaction = false;
  /** MariaDB's binlog_annotate_row_events of the session (undefined: the server has none). */
  private annotate: boolean | undefined;

  constructor(
    private readonly target: ApplyTarget,
    private readonly connectTimeoutMs: number,
    private readonly queryTimeoutMs: number,
    private readonly log: (line: string) => void,
  ) {}

  private connect(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const conn = createConnection(applyConnectionOptions(this.target, this.connectTimeoutMs, true));
      conn.once('connect', () => {
        // A dropped connection must not surface as an unhandled 'error' event.
        conn.on('error', () => {});
        resolve(conn);
      });
      conn.once('error', reject);
    });
  }

  async open(): Promise<void> {
    this.conn = await this.connect();
    const t = this.target;
    this.log(`connected to ${t.socketPath ? `${t.user}@${t.socketPath}` : `${t.user}@${t.host}:${t.port ?? 3306}`}`);
    const rows = await this.query('SELECT @@session.max_allowed_packet AS p');
    this.maxPacket = Number((rows as { p: string | number }[])[0].p);
    try {
      const a = await this.query('SELECT @@session.binlog_annotate_row_events AS a');
      this.annotate = Number((a as { a: string | number }[])[0].a) === 1;
    } catch {
      this.annotate = undefined;
    }
  }

  /**
   * MariaDB annotates the row events a statement logs with the statement's text: for a
   * `BINLOG '…'` statement that is the whole base64 text again, doubling what the target
   * writes to its binlog. Annotations stay on for statements (their text is the source's
   * statement) and go off for BINLOG statements: the statement that switches, when needed.
   */
  annotateFor(st: RenderedStatement): RenderedStatement | undefined {
    if (this.annotate === undefined) return undefined;
    if (st.kind !== 'rows' && st.kind !== 'query' && st.kind !== 'load') return undefined;
    const want = st.kind !== 'rows';
    if (want === this.annotate) return undefined;
    this.annotate = want;
    const set: RenderedStatement = {
      sql: `SET @@session.binlog_annotate_row_events=${want ? 1 : 0}`,
      kind: 'session',
      event: st.event,
      completesEvent: false,
      endsTransaction: false,
    };
    SYNTHETIC.add(set);
    return set;
  }

  private query(sql: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.conn!.query({ sql, timeout: this.queryTimeoutMs }, (err: unknown, rows: unknown) =>
        err ? reject(err) : resolve(rows),
      );
    });
  }

  /**
   * One packet of `sts`; resolves (never rejects) with how many statements completed and
   * the error that stopped it. A statement with LOCAL INFILE content goes through mysql2's
   * own query (alone); every other packet through {@link CountedBatch}.
   */
  run(sql: string, entries: Entry[]): Promise<{ completed: number; error?: unknown }> {
    return new Promise((resolve) => {
      const conn = this.conn;
      if (!conn) {
        resolve({ completed: 0, error: new Error('connection closed') });
        return;
      }
      let settled = false;
      const timer = setTimeout(() => {
        const err = Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
        // The statements may still be running: the connection is unusable.
        conn.destroy();
        this.conn = undefined;
        finish(batch ? batch.completed : 0, err);
      }, this.queryTimeoutMs);
      const finish = (completed: number, error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(error === undefined ? { completed } : { completed, error });
      };
      let batch: CountedBatch | undefined;
      if (entries.length === 1 && entries[0].st.localInfile) {
        const content = entries[0].st.localInfile;
        const options = { sql, infileStreamFactory: () => infileStream(content) };
        conn.query(options as never, (err: unknown) => finish(err ? 0 : 1, err ?? undefined));
        return;
      }
      batch = new CountedBatch(sql, entries.length, (err) => finish(batch!.completed, err ?? undefined));
      (conn as unknown as { addCommand(c: unknown): void }).addCommand(batch);
    });
  }

  /** Follow the open transaction over completed statements, for abort(). */
  track(sts: RenderedStatement[]): void {
    for (const st of sts) {
      if (st.kind === 'begin') this.inTransaction = true;
      else if (st.endsTransaction || st.kind === 'rollback') this.inTransaction = false;
    }
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (c) await endQuietly(c, this.connectTimeoutMs);
  }

  /** After a failure: roll back what is open (best effort), close. */
  async abort(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (!c) return;
    if (this.inTransaction) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.connectTimeoutMs);
        c.query({ sql: 'ROLLBACK', timeout: this.connectTimeoutMs }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await endQuietly(c, this.connectTimeoutMs);
  }
}

async function endQuietly(conn: Connection, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    conn.end(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  conn.destroy();
}

/** The part of a mysql2 packet this module reads (the parser's own Packet class is not exported). */
interface WirePacket {
  peekByte(): number;
  isError(): boolean;
  isEOF(): boolean;
  asError(encoding: string): Error;
  readLengthCodedNumber(): number | null;
}

interface WireConnection {
  clientEncoding: string;
  config: { clientFlags: number };
  serverCapabilityFlags?: number;
  _resetSequenceId(): void;
  writePacket(p: { buffer: Buffer; length(): number; writeHeader(seq: number): void }): void;
  destroy(): void;
}

const CLIENT_QUERY_ATTRIBUTES = 1 << 27;
type State = ((packet: WirePacket, conn: WireConnection) => State) | null;

/**
 * A COM_QUERY of several statements whose responses are counted rather than followed by
 * their SERVER_MORE_RESULTS_EXISTS flag: MariaDB 10.11 sends the OK of a `BINLOG '…'`
 * statement without that flag even when more statements follow (mysql2's own query then
 * stops early and fails on the next response). The server runs the statements in order
 * and stops at the first error, so `expected` responses — OKs, or result sets, each
 * counted once — or one ERR end the command. A command object of mysql2's connection
 * queue (execute / onResult), like its own commands.
 */
class CountedBatch {
  completed = 0;
  private next: State = null;
  private columns = 0;

  constructor(
    private readonly sql: string,
    private readonly expected: number,
    readonly onResult: (err: Error | null) => void,
  ) {}

  execute(packet: WirePacket | undefined, conn: WireConnection): boolean {
    if (!this.next) {
      this.next = this.start;
      conn._resetSequenceId();
    }
    if (packet?.isError()) {
      this.onResult(packet.asError(conn.clientEncoding));
      return true;
    }
    this.next = this.next.call(this, packet as WirePacket, conn);
    return this.next === null;
  }

  private start(_packet: WirePacket, conn: WireConnection): State {
    const flags = conn.config.clientFlags & (conn.serverCapabilityFlags ?? 0);
    const head = flags & CLIENT_QUERY_ATTRIBUTES ? 7 : 5;
    const buffer = Buffer.allocUnsafe(head + Buffer.byteLength(this.sql, 'latin1'));
    buffer[4] = 0x03; // COM_QUERY
    if (head === 7) {
      buffer[5] = 0; // no query attributes
      buffer[6] = 1;
    }
    buffer.write(this.sql, head, 'latin1');
    conn.writePacket({
      buffer,
      length: () => buffer.length,
      writeHeader(seq: number) {
        buffer.writeUIntLE(Math.min(buffer.length - 4, 0xffffff), 0, 3);
        buffer[3] = seq;
      },
    });
    return this.response;
  }

  private response(packet: WirePacket, conn: WireConnection): State {
    const first = packet.peekByte();
    if (first === 0x00) return this.statementDone();
    if (first === 0xfb) {
      // LOCAL INFILE request: never batched, so never expected. Answering with no data
      // would load nothing and succeed; dropping the connection makes the server fail it.
      conn.destroy();
      this.onResult(new Error('the server asked for a LOCAL INFILE inside a batch'));
      return null;
    }
    // A result set (SELECT of a data-changing function, logged as is): skip it.
    this.columns = Number(packet.readLengthCodedNumber());
    return this.columns > 0 ? this.column : this.columnsEof;
  }

  private column(): State {
    this.columns--;
    return this.columns > 0 ? this.column : this.columnsEof;
  }

  private columnsEof(): State {
    return this.row;
  }

  private row(packet: WirePacket): State {
    return packet.isEOF() ? this.statementDone() : this.row;
  }

  private statementDone(): State {
    this.completed++;
    if (this.completed < this.expected) return this.response;
    this.onResult(null);
    return null;
  }
}
