/**
 * A write load that remembers every commit the master acknowledged, so a test can check
 * after a failover that none of them was lost.
 */
import { type Connection, createConnection } from 'mysql2/promise';

export interface LoadStats {
  /** Ids of rows whose transaction's COMMIT returned OK. */
  acknowledged: Set<number>;
  errors: number;
  lastError?: string;
}

export interface LoadOptions {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** Parallel sessions. */
  connections?: number;
  /** Rows per transaction (1 = autocommit inserts). */
  rowsPerTransaction?: number;
  payloadBytes?: number;
}

export const LOAD_DDL = [
  'CREATE DATABASE IF NOT EXISTS app',
  'CREATE TABLE IF NOT EXISTS app.orders (id INT PRIMARY KEY, session INT, payload VARCHAR(2000), amount DECIMAL(12,2), created DATETIME(6))',
];

export class LoadGenerator {
  readonly stats: LoadStats = { acknowledged: new Set(), errors: 0 };
  private running = false;
  private loops: Promise<void>[] = [];
  private nextId = 1;

  constructor(private readonly opts: LoadOptions) {}

  async start(): Promise<void> {
    this.running = true;
    const n = this.opts.connections ?? 2;
    for (let i = 0; i < n; i++) {
      const conn = await createConnection({
        host: this.opts.host,
        port: this.opts.port,
        user: this.opts.user ?? 'root',
        password: this.opts.password ?? '',
        connectTimeout: 2000,
      });
      conn.on('error', () => {});
      this.loops.push(this.loop(conn, i));
    }
  }

  private async loop(conn: Connection, session: number): Promise<void> {
    const per = this.opts.rowsPerTransaction ?? 3;
    const payload = 'p'.repeat(this.opts.payloadBytes ?? 200);
    // Bounded: a load never runs more than 10 minutes or 10 million rows.
    const deadline = Date.now() + 600_000;
    while (this.running && Date.now() < deadline && this.nextId < 10_000_000) {
      const ids: number[] = [];
      try {
        await conn.query('BEGIN');
        for (let k = 0; k < per; k++) {
          const id = this.nextId++;
          ids.push(id);
          await conn.query('INSERT INTO app.orders VALUES (?, ?, ?, ?, NOW(6))', [id, session, payload, id / 100]);
        }
        await conn.query('COMMIT');
        for (const id of ids) this.stats.acknowledged.add(id);
      } catch (err) {
        this.stats.errors++;
        this.stats.lastError = (err as Error).message;
        break; // the master is gone (or refused): this session stops
      }
    }
    conn.destroy();
  }

  /** Stop (waiting for the sessions to end, bounded). */
  async stop(): Promise<LoadStats> {
    this.running = false;
    await Promise.race([Promise.allSettled(this.loops), new Promise((r) => setTimeout(r, 15_000))]);
    return this.stats;
  }

  /** Resolves when every session has ended by itself (e.g. the master died). */
  async ended(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.allSettled(this.loops), new Promise((r) => setTimeout(r, timeoutMs))]);
  }
}
