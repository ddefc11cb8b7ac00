/**
 * The trials' write load: several sessions drawing from a mix of multi-statement
 * transactions, autocommit inserts, big transactions that span relay-log files, DDL, and
 * now and then a row over 16 MB. Every transaction is recorded: issued, and acknowledged
 * when its COMMIT returned OK.
 *
 * Each transaction starts with `INSERT INTO app.txlog … /* txn:N *\/`: the comment reaches
 * the binlog (statement text, or MariaDB's annotate event in row format), so the checker
 * can tell from `mariadb-binlog` output which transactions a binlog position covers,
 * without trusting the code under test.
 *
 * Invariants the checker verifies on every survivor:
 *  - every txlog row's transaction is complete: `rows` rows in app.orders with its txn;
 *  - app.counters.n of a session = the number of its txlog rows with inc=1 (nothing
 *    applied twice, nothing half-applied);
 *  - app.orders rows belong to a txlog transaction.
 */
import { type Connection, createConnection } from 'mysql2/promise';
import type { WorkloadPlan } from './plan.js';
import { Rng } from './rng.js';

export const WORKLOAD_DDL = [
  'CREATE DATABASE IF NOT EXISTS app',
  'CREATE TABLE IF NOT EXISTS app.txlog (txn INT PRIMARY KEY, session INT NOT NULL, `rows` INT NOT NULL, inc TINYINT NOT NULL, note VARCHAR(64))',
  'CREATE TABLE IF NOT EXISTS app.orders (id BIGINT PRIMARY KEY, txn INT NOT NULL, session INT NOT NULL, payload VARCHAR(2000), amount DECIMAL(14,2), created DATETIME(6), KEY (txn))',
  'CREATE TABLE IF NOT EXISTS app.counters (session INT PRIMARY KEY, n BIGINT NOT NULL)',
  'CREATE TABLE IF NOT EXISTS app.blobs (txn INT PRIMARY KEY, body LONGBLOB)',
];

export type TxnKind = 'small' | 'autocommit' | 'big' | 'ddl-dml' | 'update' | 'huge';

export interface TxnRecord {
  txn: number;
  session: number;
  kind: TxnKind;
  rows: number;
  /** COMMIT returned OK. */
  acked: boolean;
  /** COMMIT (or the statement) failed or never returned: outcome unknown. */
  failed?: string;
}

export interface WorkloadStats {
  txns: Map<number, TxnRecord>;
  ddl: number;
  errors: number;
  lastError?: string;
}

export interface WorkloadOptions {
  host: string;
  port: number;
  password?: string;
  plan: WorkloadPlan;
  seed: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Workload {
  readonly stats: WorkloadStats = { txns: new Map(), ddl: 0, errors: 0 };
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private readonly conns: Connection[] = [];
  private nextTxn = 1;
  private nextRow = 1;
  private nextDdlTable = 1;
  /** Tables created by DDL (and acknowledged), per session: DML goes into them. */
  private readonly ddlTables = new Map<number, string[]>();
  private readonly started = Date.now();

  constructor(private readonly opts: WorkloadOptions) {}

  static async prepare(c: Connection): Promise<void> {
    for (const s of WORKLOAD_DDL) await c.query(s);
  }

  private async connect(): Promise<Connection> {
    const c = await createConnection({
      host: this.opts.host,
      port: this.opts.port,
      user: 'root',
      password: this.opts.password ?? '',
      connectTimeout: 3000,
      multipleStatements: false,
    });
    c.on('error', () => {});
    this.conns.push(c);
    return c;
  }

  async start(): Promise<void> {
    this.running = true;
    const setup = await this.connect();
    for (let s = 1; s <= this.opts.plan.sessions; s++) {
      await setup.query('INSERT IGNORE INTO app.counters VALUES (?, 0)', [s]);
    }
    for (let s = 1; s <= this.opts.plan.sessions; s++) {
      const c = await this.connect();
      this.loops.push(this.loop(c, s, new Rng(this.opts.seed ^ (s * 0x9e3779b1))));
    }
    // Scheduled specials run on their own session numbers (after the regular ones).
    const special = this.opts.plan.sessions + 1;
    await setup.query('INSERT IGNORE INTO app.counters VALUES (?, 0)', [special]);
    if (this.opts.plan.hugeRowAtMs !== undefined) {
      const at = this.opts.plan.hugeRowAtMs;
      this.loops.push(
        (async () => {
          await sleep(at);
          if (this.running) await this.run(setup, special, 'huge', new Rng(this.opts.seed ^ 0x51ed));
        })(),
      );
    }
  }

  /** A big transaction now, on its own session (the kill is scheduled to land in or after it). */
  bigNow(): void {
    const s = this.opts.plan.sessions + 1;
    this.loops.push(
      (async () => {
        const c = await this.connect().catch(() => undefined);
        if (c && this.running) await this.run(c, s, 'big', new Rng(this.opts.seed ^ 0xb16));
      })(),
    );
  }

  private async loop(c: Connection, session: number, rng: Rng): Promise<void> {
    const p = this.opts.plan;
    const deadline = this.started + 600_000;
    while (this.running && Date.now() < deadline) {
      const kind = rng.weighted({
        small: p.weights.small,
        autocommit: p.weights.autocommit,
        big: p.weights.big,
        'ddl-dml': p.weights.ddl,
        update: p.weights.update,
      } as const);
      const ok = await this.run(c, session, kind, rng);
      if (!ok) return; // the master is gone or refused: this session stops
      const [lo, hi] = p.thinkMs;
      if (hi > 0) await sleep(rng.int(lo, hi));
    }
  }

  private payload(rng: Rng): string {
    const [lo, hi] = this.opts.plan.payloadBytes;
    return rng.text(rng.int(lo, hi));
  }

  /** One transaction; false when the connection failed. */
  private async run(c: Connection, session: number, kind: TxnKind, rng: Rng): Promise<boolean> {
    const txn = this.nextTxn++;
    if (kind === 'ddl-dml') {
      // A DDL statement (its own binlog group), then a transaction writing into the table.
      const own = this.ddlTables.get(session) ?? [];
      try {
        const roll = rng.next();
        if (own.length === 0 || roll < 0.4) {
          const t = `app.ddl_${this.nextDdlTable++}`;
          await c.query(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, txn INT, v VARCHAR(100)) /* ddl */`);
          own.push(t);
          this.ddlTables.set(session, own);
        } else if (roll < 0.8) {
          await c.query(`ALTER TABLE ${rng.pick(own)} ADD COLUMN c${txn} INT DEFAULT ${txn} /* ddl */`);
        } else if (own.length > 1) {
          const t = own.shift()!;
          await c.query(`DROP TABLE ${t} /* ddl */`);
        }
        this.stats.ddl++;
      } catch (err) {
        return this.failed(undefined, err);
      }
    }
    const rows =
      kind === 'autocommit' || kind === 'update'
        ? 0
        : kind === 'huge'
          ? 0
          : kind === 'big'
            ? rng.int(...this.opts.plan.bigRows)
            : rng.int(...this.opts.plan.smallRows);
    const rec: TxnRecord = { txn, session, kind, rows, acked: false };
    this.stats.txns.set(txn, rec);
    try {
      if (kind === 'autocommit') {
        await c.query(`INSERT INTO app.txlog VALUES (?, ?, 0, 0, ?) /* txn:${txn} */`, [txn, session, 'autocommit']);
        rec.acked = true;
        return true;
      }
      await c.query('BEGIN');
      await c.query(`INSERT INTO app.txlog VALUES (?, ?, ?, 1, ?) /* txn:${txn} */`, [txn, session, rows, kind]);
      if (kind === 'huge') {
        // Over 16 MB in one row: one event over the protocol's packet size, in either format.
        const chunk = rng.text(4096);
        const body = chunk.repeat(Math.ceil((16 * 1024 * 1024 + rng.int(1, 1024 * 1024)) / chunk.length));
        await c.query('INSERT INTO app.blobs VALUES (?, ?)', [txn, body]);
      } else if (kind === 'update') {
        // Statements whose effect depends on the data (applied twice, they would show).
        await c.query('UPDATE app.orders SET amount = amount + 1 WHERE session = ? ORDER BY id DESC LIMIT 3', [
          session,
        ]);
      } else {
        const per = kind === 'big' ? 50 : rows;
        for (let done = 0; done < rows; done += per) {
          const n = Math.min(per, rows - done);
          const values: unknown[] = [];
          for (let k = 0; k < n; k++) {
            values.push([this.nextRow++, txn, session, this.payload(rng), (rng.int(1, 1_000_000) / 100).toFixed(2)]);
          }
          await c.query('INSERT INTO app.orders (id, txn, session, payload, amount, created) VALUES ?', [
            values.map((v) => [...(v as unknown[]), new Date()]),
          ]);
        }
        if (kind === 'small' && rows > 1) {
          await c.query('UPDATE app.orders SET amount = amount * 2 WHERE txn = ?', [txn]);
        }
        if (kind === 'ddl-dml') {
          const own = this.ddlTables.get(session) ?? [];
          if (own.length > 0) {
            await c.query(`INSERT INTO ${own[own.length - 1]} (id, txn, v) VALUES (?, ?, ?)`, [
              this.nextRow++,
              txn,
              this.payload(rng).slice(0, 100),
            ]);
          }
        }
      }
      await c.query('UPDATE app.counters SET n = n + 1 WHERE session = ?', [session]);
      await c.query('COMMIT');
      rec.acked = true;
      return true;
    } catch (err) {
      return this.failed(rec, err);
    }
  }

  private failed(rec: TxnRecord | undefined, err: unknown): false {
    this.stats.errors++;
    this.stats.lastError = (err as Error).message;
    if (rec) rec.failed = (err as Error).message;
    return false;
  }

  get acked(): TxnRecord[] {
    return [...this.stats.txns.values()].filter((t) => t.acked);
  }

  /** Stop issuing; wait (bounded) for the sessions, then drop every connection. */
  async stop(waitMs = 5000): Promise<void> {
    this.running = false;
    await Promise.race([Promise.allSettled(this.loops), sleep(waitMs)]);
    for (const c of this.conns) c.destroy();
  }
}
