/**
 * A write load that follows the master across a planned switch, as an application behind
 * a read_only-aware proxy does: each session writes to the server it believes is the
 * master; when a write fails it rolls back, finds the server with read_only=0 (polling all
 * of them every few ms) and goes on there with fresh ids. It records every acknowledged
 * commit (id, server, time) and every failed write (time, server, error), so a test can
 * check that errors happened only inside the switch's write-block window, that nothing
 * acknowledged was lost, and measure the window as clients saw it: from the first
 * rejected write to the first write accepted by the new master.
 */
import { type Connection, createConnection } from 'mysql2/promise';
import type { MariaDbLab } from './mariadb-lab.js';

export interface FollowingLoadOptions {
  hosts: string[];
  port?: number;
  user: string;
  password?: string;
  connections?: number;
  rowsPerTransaction?: number;
  payloadBytes?: number;
  /** Pause between transactions per session (ms); 0 = as fast as possible. */
  pauseMs?: number;
  /** How often a session looks for the writable server after a failure. */
  pollMs?: number;
  /** First row id (two loads on one table need disjoint ids). */
  idBase?: number;
}

export interface WriteFailure {
  at: number;
  host: string;
  message: string;
}

export interface LoadCommit {
  at: number;
  host: string;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FollowingLoad {
  readonly acknowledged = new Set<number>();
  readonly failures: WriteFailure[] = [];
  readonly commits: LoadCommit[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private nextId: number;

  constructor(private readonly opts: FollowingLoadOptions) {
    this.nextId = opts.idBase ?? 1;
  }

  private connect(host: string): Promise<Connection> {
    return createConnection({
      host,
      port: this.opts.port ?? 3306,
      user: this.opts.user,
      password: this.opts.password ?? '',
      connectTimeout: 2000,
    }).then((c) => {
      c.on('error', () => {});
      return c;
    });
  }

  async start(): Promise<void> {
    this.running = true;
    for (let i = 0; i < (this.opts.connections ?? 4); i++) this.loops.push(this.session(i));
    // Wait until every session has committed once, so the load is really running.
    const deadline = Date.now() + 10_000;
    while (this.commits.length < (this.opts.connections ?? 4) && Date.now() < deadline) await sleep(20);
  }

  /** The server with read_only=0, polled until found (bounded). */
  private async findWritable(conns: Map<string, Connection>): Promise<string> {
    const deadline = Date.now() + 60_000;
    while (this.running && Date.now() < deadline) {
      for (const host of this.opts.hosts) {
        try {
          let c = conns.get(host);
          if (!c) {
            c = await this.connect(host);
            conns.set(host, c);
          }
          const [rows] = await c.query('SELECT @@global.read_only AS ro');
          if (Number((rows as Array<{ ro: unknown }>)[0].ro) === 0) return host;
        } catch {
          conns.get(host)?.destroy();
          conns.delete(host);
        }
      }
      await sleep(this.opts.pollMs ?? 2);
    }
    throw new Error('no writable server');
  }

  private async session(n: number): Promise<void> {
    const per = this.opts.rowsPerTransaction ?? 2;
    const payload = 'p'.repeat(this.opts.payloadBytes ?? 100);
    const conns = new Map<string, Connection>();
    let host = this.opts.hosts[0];
    const deadline = Date.now() + 600_000;
    try {
      while (this.running && Date.now() < deadline) {
        let c = conns.get(host);
        try {
          if (!c) {
            c = await this.connect(host);
            conns.set(host, c);
          }
          const ids: number[] = [];
          await c.query('BEGIN');
          for (let k = 0; k < per; k++) {
            const id = this.nextId++;
            ids.push(id);
            await c.query('INSERT INTO app.orders VALUES (?, ?, ?, ?, NOW(6))', [id, n, payload, id / 100]);
          }
          await c.query('COMMIT');
          const at = now();
          for (const id of ids) this.acknowledged.add(id);
          this.commits.push({ at, host });
          if (this.opts.pauseMs) await sleep(this.opts.pauseMs);
        } catch (err) {
          this.failures.push({ at: now(), host, message: (err as Error).message });
          try {
            await c?.query('ROLLBACK');
          } catch {
            c?.destroy();
            conns.delete(host);
          }
          if (!this.running) break;
          host = await this.findWritable(conns);
        }
      }
    } finally {
      for (const c of conns.values()) c.destroy();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.race([Promise.allSettled(this.loops), sleep(15_000)]);
  }

  /**
   * The window as clients saw it: first failed write at or after `from` → first commit
   * acknowledged by `newHost` after that failure.
   */
  clientWindow(from: number, newHost: string): { firstFailure?: number; firstOnNew?: number; ms?: number } {
    const firstFailure = this.failures.filter((f) => f.at >= from).sort((a, b) => a.at - b.at)[0]?.at;
    if (firstFailure === undefined) return {};
    const firstOnNew = this.commits
      .filter((c) => c.host === newHost && c.at >= firstFailure)
      .sort((a, b) => a.at - b.at)[0]?.at;
    return {
      firstFailure,
      firstOnNew,
      ms: firstOnNew === undefined ? undefined : Math.round((firstOnNew - firstFailure) * 10) / 10,
    };
  }
}

/**
 * A switch kills client sessions on the old master, the lab's own admin sessions among
 * them; forget them so the lab opens new ones.
 */
export function dropLabSessions(lab: MariaDbLab): void {
  const states = (lab as unknown as { states?: Map<string, { admin?: { destroy(): void } }> }).states;
  for (const st of states?.values() ?? []) {
    try {
      st.admin?.destroy();
    } catch {
      // already closed
    }
    st.admin = undefined;
  }
}
