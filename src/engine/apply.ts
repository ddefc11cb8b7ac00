/**
 * Re-applies binlog events on a server over one mysql2 connection, as
 * `mysqlbinlog files… | mysql` would, without either program: events are rendered by
 * {@link SqlRenderer} and executed in order in one session, so context (temporary
 * tables, user variables, an open transaction) carries across files.
 *
 * - The connection uses the `binary` character set: statements reach the server as the
 *   exact bytes the source logged (latin1 literals, binary strings), and each
 *   statement's own character_set_client is set by its context, as with `mysql --binary-mode`.
 * - max_allowed_packet cannot be raised for a session (it is read-only there), and a big
 *   row event becomes a BINLOG statement inside a transaction, where reconnecting would
 *   lose the transaction. So, like MHA (which sets it to 1 GiB before applying diffs),
 *   the global value is raised before the first statement when the session's is lower,
 *   the session reconnects, and the original is restored at the end — also on failure.
 * - The first failing statement stops the run with an {@link ApplyError} naming the
 *   event (file:offset, GTID), the server's error, and the last fully applied position.
 * - Dry run: the statements go to a stream as text (`# at file:offset`, `;`-terminated).
 *
 * Connection options are never logged or put into errors.
 */
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { type BinlogEvent, type FileReadOptions, readFileEvents } from '@mha-ts/native-free-parsers';
import { type Connection, createConnection } from 'mysql2/promise';
import {
  formatStatement,
  type RenderedStatement,
  type RenderOptions,
  renderEventsAsync,
  SqlRenderError,
} from './sql-renderer.js';

/** Where to apply. The password is only ever sent over the protocol. */
export interface ApplyTarget {
  host: string;
  port?: number;
  user: string;
  password?: string;
  /** Unix socket instead of TCP. */
  socketPath?: string;
}

export interface ApplyOptions extends RenderOptions {
  /** Bound on establishing the connection (each time). Default 10 s. */
  connectTimeoutMs?: number;
  /** Bound on each statement. Default 1 h (a re-applied ALTER can be long). */
  queryTimeoutMs?: number;
  /**
   * max_allowed_packet the session needs; the global is raised to it (and restored) when
   * the session's is lower. Default 1 GiB, the server maximum (what MHA sets). 0: leave
   * the server alone (a statement larger than the limit then fails).
   */
  maxAllowedPacket?: number;
  /** Progress and decisions, one line each (never a password). */
  log?: (line: string) => void;
  /** Dry run: write the SQL text here instead of connecting (see {@link writeSqlScript}). */
  dryRun?: Writable;
}

export interface AppliedPosition {
  file: string;
  /** Offset just past the last applied event. */
  pos: number;
  /** Header end_log_pos of that event (the master position, in relay logs). */
  endLogPos: number;
  gtid?: string;
}

export interface ApplySummary {
  statements: number;
  /** Transactions (and statements outside one) completed. */
  transactions: number;
  /** Bytes of SQL (and LOCAL INFILE content) sent or written. */
  bytes: number;
  durationMs: number;
  /** End of the last event whose statements all succeeded. */
  lastAppliedPosition?: AppliedPosition;
  /** End of the last completed transaction: where a resumed run starts. */
  lastCommittedPosition?: AppliedPosition;
  /** The input ended inside a transaction, which was rolled back. */
  incompleteTransactionRolledBack: boolean;
  /** Statements whose source error (QUERY error_code) the target reproduced, counted as applied. */
  expectedErrors: number;
  /** max_allowed_packet was raised for the run (and restored to this value). */
  maxAllowedPacketRestoredTo?: number;
  /** Which executor ran: one statement per round trip, or batched (apply-fast.ts). */
  mode?: 'plain' | 'fast';
  /** Fast path: multi-statement packets sent. */
  batches?: number;
  /** Fast path: global settings changed for the run and restored to these values. */
  settingsRestored?: Partial<Record<string, number>>;
}

export interface ServerError {
  /** Server error number (1062 …). */
  code: number;
  /** Symbolic name (ER_DUP_ENTRY …). */
  name: string;
  sqlState?: string;
  sqlMessage: string;
}

/** A failed apply: what failed, why, and how far the target got. */
export class ApplyError extends Error {
  readonly file: string;
  readonly offset: number;
  readonly gtid: string | undefined;
  /** The failing statement, cut to 300 characters. */
  readonly sql: string | undefined;
  /** Present when the server refused the statement. */
  readonly serverError: ServerError | undefined;
  /** Statements that succeeded before the failure. */
  readonly appliedCount: number;
  readonly lastAppliedPosition: AppliedPosition | undefined;
  readonly lastCommittedPosition: AppliedPosition | undefined;
  readonly reason: 'server-error' | 'timeout' | 'connection' | 'render' | 'setup' | 'aborted';
  override readonly cause: unknown;

  constructor(opts: {
    file: string;
    offset: number;
    gtid?: string;
    sql?: string;
    serverError?: ServerError;
    appliedCount: number;
    lastAppliedPosition?: AppliedPosition;
    lastCommittedPosition?: AppliedPosition;
    reason: ApplyError['reason'];
    detail: string;
    cause?: unknown;
  }) {
    const where = `${opts.file}:${opts.offset}${opts.gtid ? ` (GTID ${opts.gtid})` : ''}`;
    const what = opts.serverError
      ? `${opts.serverError.name} (${opts.serverError.code}): ${opts.serverError.sqlMessage}`
      : opts.detail;
    const resume = opts.lastCommittedPosition
      ? `last complete transaction ends at ${opts.lastCommittedPosition.file}:${opts.lastCommittedPosition.pos}`
      : 'no transaction was completed';
    super(
      `applying ${where} failed: ${what}; ${opts.appliedCount} statements applied, ${resume}. ` +
        'Fix the cause on the target, then resume from that position.',
    );
    this.name = 'ApplyError';
    this.file = opts.file;
    this.offset = opts.offset;
    this.gtid = opts.gtid;
    this.sql = opts.sql;
    this.serverError = opts.serverError;
    this.appliedCount = opts.appliedCount;
    this.lastAppliedPosition = opts.lastAppliedPosition;
    this.lastCommittedPosition = opts.lastCommittedPosition;
    this.reason = opts.reason;
    this.cause = opts.cause;
  }
}

const GIB = 1024 * 1024 * 1024;
/** @internal shared with apply-fast.ts */
export const DEFAULTS = { connectTimeoutMs: 10_000, queryTimeoutMs: 3_600_000, maxAllowedPacket: GIB };
/** Room for the packet header and command byte on top of a statement. @internal */
export const PACKET_OVERHEAD = 1024;
const INFILE_CHUNK = 64 * 1024;
const ASCII = /^[\x00-\x7f]*$/;

type EventSource = AsyncIterable<BinlogEvent> | Iterable<BinlogEvent>;

/** The events of several log files in order, as one stream (one session for the renderer). */
export async function* eventsOfFiles(paths: string[], opts: FileReadOptions = {}): AsyncGenerator<BinlogEvent> {
  for (const p of paths) yield* readFileEvents(p, opts);
}

/** Renders and executes `events` on `target`; see the module comment. */
export async function applyEvents(
  target: ApplyTarget,
  events: EventSource,
  opts: ApplyOptions = {},
): Promise<ApplySummary> {
  if (opts.dryRun) return writeSqlScript(events, opts.dryRun, opts);
  return applyStatements(target, renderEventsAsync(events, opts), opts);
}

/** Renders `events` to `out` as SQL text instead of executing them. */
export async function writeSqlScript(
  events: EventSource,
  out: Writable,
  opts: RenderOptions = {},
): Promise<ApplySummary> {
  const t0 = Date.now();
  const p = new Progress();
  let previous: RenderedStatement | undefined;
  try {
    for await (const st of renderEventsAsync(events, opts)) {
      const text = formatStatement(st, previous);
      if (st.sqlBytes) {
        // Header and comments as text, the statement as its exact bytes.
        const head = text.slice(0, text.length - st.sql.length - 2);
        await write(out, head);
        await write(out, st.sqlBytes);
        await write(out, ';\n');
      } else {
        await write(out, text);
      }
      p.done(st, byteLength(st));
      previous = st;
    }
  } catch (err) {
    if (err instanceof SqlRenderError) throw p.renderError(err);
    throw err;
  }
  return p.summary(t0);
}

/** Executes rendered statements in order over one connection. */
export async function applyStatements(
  target: ApplyTarget,
  statements: AsyncIterable<RenderedStatement> | Iterable<RenderedStatement>,
  opts: ApplyOptions = {},
): Promise<ApplySummary> {
  const t0 = Date.now();
  const o = { ...DEFAULTS, ...opts };
  const log = opts.log ?? (() => {});
  const p = new Progress();
  const session = new Session(target, o.connectTimeoutMs, o.queryTimeoutMs, log);
  let current: RenderedStatement | undefined;
  try {
    try {
      await session.open();
      if (o.maxAllowedPacket > 0) await session.ensureMaxAllowedPacket(o.maxAllowedPacket);
    } catch (err) {
      throw p.failure(undefined, err, 'setup');
    }
    try {
      for await (const st of statements) {
        current = st;
        const bytes = byteLength(st);
        if (o.maxAllowedPacket > 0 && bytes + PACKET_OVERHEAD > session.maxPacket) {
          throw p.failure(
            st,
            new Error(`statement of ${bytes} bytes exceeds max_allowed_packet ${session.maxPacket}`),
            'setup',
          );
        }
        try {
          await session.execute(st);
        } catch (err) {
          const se = serverErrorOf(err);
          if (se && st.expectedErrorCode === se.code) {
            p.expectedErrors++;
            log(`${st.event.file}:${st.event.offset}: error ${se.code} as on the source, continuing`);
          } else {
            throw err;
          }
        }
        p.done(st, bytes);
      }
    } catch (err) {
      if (err instanceof ApplyError) throw err;
      if (err instanceof SqlRenderError) throw p.renderError(err);
      throw p.failure(current, err);
    }
    const summary = p.summary(t0);
    const restored = await session.close();
    if (restored !== undefined) summary.maxAllowedPacketRestoredTo = restored;
    summary.durationMs = Date.now() - t0;
    log(
      `applied ${summary.statements} statements, ${summary.transactions} transactions, ${summary.bytes} bytes in ${summary.durationMs} ms`,
    );
    return summary;
  } catch (err) {
    await session.abort();
    throw err;
  }
}

// ---- internals ----

/**
 * mysql2 options of an apply session. @internal
 * - charset BINARY: statements are sent as the bytes the source logged (module comment);
 * - no session tracking: mysql2 would follow every SET character_set_client (the
 *   statements' context) and re-encode the next statements;
 * - no placeholder rewriting.
 */
export function applyConnectionOptions(target: ApplyTarget, connectTimeoutMs: number, multipleStatements: boolean) {
  return {
    host: target.host,
    port: target.port ?? 3306,
    user: target.user,
    password: target.password ?? '',
    socketPath: target.socketPath,
    connectTimeout: connectTimeoutMs,
    charset: 'BINARY',
    flags: ['-SESSION_TRACK'],
    queryFormat: (sql: string) => sql,
    multipleStatements,
    supportBigNumbers: true,
    bigNumberStrings: true,
  };
}

/**
 * The statement as mysql2 must be given it: with the binary connection charset it writes
 * each character as one byte (latin1), so the statement's bytes go in as latin1 characters. @internal
 */
export function wireText(st: RenderedStatement): string {
  if (st.sqlBytes) return st.sqlBytes.toString('latin1');
  if (st.kind === 'rows' || st.kind === 'format' || ASCII.test(st.sql)) return st.sql;
  return Buffer.from(st.sql, 'utf8').toString('latin1');
}

/** LOCAL INFILE content as the stream mysql2 asks for. @internal */
export function infileStream(content: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < content.length; i += INFILE_CHUNK) yield content.subarray(i, i + INFILE_CHUNK);
    })(),
  );
}

/** @internal */
export function byteLength(st: RenderedStatement): number {
  return st.sqlBytes ? st.sqlBytes.length : Buffer.byteLength(st.sql, 'utf8');
}

async function write(out: Writable, chunk: string | Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/** @internal */
export function serverErrorOf(err: unknown): ServerError | undefined {
  const e = err as { errno?: unknown; code?: unknown; sqlState?: unknown; sqlMessage?: unknown };
  if (typeof e?.errno !== 'number' || typeof e.sqlMessage !== 'string') return undefined;
  return {
    code: e.errno,
    name: typeof e.code === 'string' ? e.code : String(e.errno),
    sqlState: typeof e.sqlState === 'string' ? e.sqlState : undefined,
    // The session's results are binary: messages arrive as UTF-8 bytes read as latin1.
    sqlMessage: Buffer.from(e.sqlMessage, 'latin1').toString('utf8'),
  };
}

/** Counts and positions of a run. @internal */
export class Progress {
  statements = 0;
  transactions = 0;
  bytes = 0;
  expectedErrors = 0;
  rolledBack = false;
  lastApplied: AppliedPosition | undefined;
  lastCommitted: AppliedPosition | undefined;

  done(st: RenderedStatement, bytes: number): void {
    this.statements++;
    this.bytes += bytes + (st.localInfile?.length ?? 0);
    const pos: AppliedPosition = { file: st.event.file, pos: st.event.end, endLogPos: st.event.endLogPos };
    if (st.event.gtid) pos.gtid = st.event.gtid;
    if (st.completesEvent) this.lastApplied = pos;
    if (st.endsTransaction) {
      this.transactions++;
      this.lastCommitted = pos;
    }
    if (st.kind === 'rollback' && !st.completesEvent) this.rolledBack = true;
  }

  summary(t0: number): ApplySummary {
    const s: ApplySummary = {
      statements: this.statements,
      transactions: this.transactions,
      bytes: this.bytes,
      durationMs: Date.now() - t0,
      incompleteTransactionRolledBack: this.rolledBack,
      expectedErrors: this.expectedErrors,
    };
    if (this.lastApplied) s.lastAppliedPosition = this.lastApplied;
    if (this.lastCommitted) s.lastCommittedPosition = this.lastCommitted;
    return s;
  }

  failure(st: RenderedStatement | undefined, err: unknown, reason?: ApplyError['reason']): ApplyError {
    const serverError = serverErrorOf(err);
    const code = (err as { code?: unknown })?.code;
    const r: ApplyError['reason'] =
      reason ??
      (serverError
        ? 'server-error'
        : code === 'PROTOCOL_SEQUENCE_TIMEOUT' || code === 'ETIMEDOUT'
          ? 'timeout'
          : 'connection');
    return new ApplyError({
      file: st?.event.file ?? '',
      offset: st?.event.offset ?? 0,
      gtid: st?.event.gtid,
      sql: st ? (st.sql.length > 300 ? `${st.sql.slice(0, 300)}…` : st.sql) : undefined,
      serverError,
      appliedCount: this.statements,
      lastAppliedPosition: this.lastApplied,
      lastCommittedPosition: this.lastCommitted,
      reason: r,
      detail: err instanceof Error ? err.message : String(err),
      cause: err,
    });
  }

  renderError(err: SqlRenderError): ApplyError {
    return new ApplyError({
      file: err.file,
      offset: err.offset,
      appliedCount: this.statements,
      lastAppliedPosition: this.lastApplied,
      lastCommittedPosition: this.lastCommitted,
      reason: 'render',
      detail: err.message,
      cause: err,
    });
  }
}

/** The one connection of a run, with the max_allowed_packet change to undo. */
class Session {
  private conn: Connection | undefined;
  private restorePacket: number | undefined;
  maxPacket = 0;
  private inTransaction = false;

  constructor(
    private readonly target: ApplyTarget,
    private readonly connectTimeoutMs: number,
    private readonly queryTimeoutMs: number,
    private readonly log: (line: string) => void,
  ) {}

  private describe(): string {
    return this.target.socketPath
      ? `${this.target.user}@${this.target.socketPath}`
      : `${this.target.user}@${this.target.host}:${this.target.port ?? 3306}`;
  }

  private async connect(): Promise<Connection> {
    const conn = await createConnection(applyConnectionOptions(this.target, this.connectTimeoutMs, false));
    // A dropped connection must not surface as an unhandled 'error' event.
    conn.on('error', () => {});
    return conn;
  }

  async open(): Promise<void> {
    this.conn = await this.connect();
    this.log(`connected to ${this.describe()}`);
    this.maxPacket = await this.sessionMaxPacket();
  }

  private async sessionMaxPacket(): Promise<number> {
    const [rows] = await this.conn!.query({
      sql: 'SELECT @@session.max_allowed_packet AS p',
      timeout: this.queryTimeoutMs,
    });
    return Number((rows as { p: string | number }[])[0].p);
  }

  async ensureMaxAllowedPacket(want: number): Promise<void> {
    if (this.maxPacket >= want) return;
    const [rows] = await this.conn!.query({
      sql: 'SELECT @@global.max_allowed_packet AS g',
      timeout: this.queryTimeoutMs,
    });
    const original = Number((rows as { g: string | number }[])[0].g);
    if (original < want) {
      await this.conn!.query({ sql: `SET GLOBAL max_allowed_packet=${want}`, timeout: this.queryTimeoutMs });
      this.restorePacket = original;
      this.log(`raised global max_allowed_packet from ${original} to ${want} for the run`);
    }
    await this.endQuietly(this.conn!);
    this.conn = await this.connect();
    this.maxPacket = await this.sessionMaxPacket();
  }

  async execute(st: RenderedStatement): Promise<void> {
    const sql = wireText(st);
    const infile = st.localInfile;
    const options: Parameters<Connection['query']>[0] = { sql, timeout: this.queryTimeoutMs };
    if (infile) {
      (options as { infileStreamFactory?: (path: string) => Readable }).infileStreamFactory = () =>
        infileStream(infile);
    }
    try {
      await this.conn!.query(options);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
        // The statement may still be running: the connection is unusable.
        this.conn?.destroy();
        this.conn = undefined;
      }
      throw err;
    }
    if (st.kind === 'begin') this.inTransaction = true;
    else if (st.endsTransaction || st.kind === 'rollback') this.inTransaction = false;
  }

  /** Normal end: restore max_allowed_packet, close. Returns the restored value. */
  async close(): Promise<number | undefined> {
    const restored = await this.restore();
    if (this.conn) await this.endQuietly(this.conn);
    this.conn = undefined;
    return restored;
  }

  /** After a failure: roll back what is open (best effort), restore, close. */
  async abort(): Promise<void> {
    if (this.conn && this.inTransaction) {
      await this.conn.query({ sql: 'ROLLBACK', timeout: this.connectTimeoutMs }).catch(() => {});
    }
    await this.restore().catch(() => {});
    if (this.conn) await this.endQuietly(this.conn);
    this.conn = undefined;
  }

  private async restore(): Promise<number | undefined> {
    const value = this.restorePacket;
    if (value === undefined) return undefined;
    let conn = this.conn;
    let own = false;
    try {
      if (!conn) {
        conn = await this.connect();
        own = true;
      }
      await conn.query({ sql: `SET GLOBAL max_allowed_packet=${value}`, timeout: this.connectTimeoutMs });
      this.restorePacket = undefined;
      this.log(`restored global max_allowed_packet to ${value}`);
      return value;
    } finally {
      if (own && conn) await this.endQuietly(conn);
    }
  }

  private async endQuietly(conn: Connection): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        conn.end(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.connectTimeoutMs);
        }),
      ]);
    } catch {
      // closing is best effort
    } finally {
      if (timer) clearTimeout(timer);
      conn.destroy();
    }
  }
}
