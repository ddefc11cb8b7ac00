/**
 * After a failover the old master may come back: a partition heals, a power switch is
 * switched on again, systemd restarts mysqld. It then starts writable (read_only is
 * rarely in a master's my.cnf) next to the new master, and any client still pointed at it
 * writes into a server nobody replicates from. MHA never looks at it again; here the
 * manager keeps trying, for a bounded time, to reach it and set it read_only.
 */
import { ServerConnection, type ServerError } from '../mysql/server-connection.js';
import type { ReplicationDialect } from '../mysql/server-version.js';
import type { ServerConfig } from './config/index.js';
import type { FailoverReport } from './failover.js';
import type { ManagerLog } from './log.js';
import { addressOf, serverName } from './topology.js';

export interface OldMasterFenceOptions {
  /** The old master, as configured. */
  server: ServerConfig;
  log: ManagerLog;
  signal?: AbortSignal;
  /** Stop trying at this time (epoch ms). */
  untilMs: number;
  /** Between attempts (default 3 s). */
  intervalMs?: number;
  /** Per attempt (default 2 s): a host still cut off must not hold an attempt for long. */
  connectTimeoutMs?: number;
  /** Asked before the server is changed; throws when this manager may no longer act (manager HA). */
  beforeAction?: (action: string) => Promise<void>;
}

export type OldMasterFenceResult =
  /** It was reachable and writable: now read_only (and super_read_only where it exists). */
  | { result: 'fenced'; attempts: number; statements: string[]; at: Date }
  /** It was reachable and already read-only: nothing done. */
  | { result: 'already-read-only'; attempts: number; at: Date }
  /** Never reached (or never could be fenced) before untilMs. */
  | { result: 'gave-up'; attempts: number; lastError?: string }
  | { result: 'aborted'; attempts: number };

/** What makes a server refuse writes, strongest last: super_read_only also stops SUPER users (MySQL ≥ 5.7.8). */
export function fenceStatements(dialect: Pick<ReplicationDialect, 'superReadOnly'>): string[] {
  return dialect.superReadOnly
    ? ['SET GLOBAL read_only=1', 'SET GLOBAL super_read_only=1']
    : ['SET GLOBAL read_only=1'];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

const isOn = (v: unknown) => v !== null && v !== undefined && (Number(v) === 1 || String(v).toUpperCase() === 'ON');

/**
 * Try to reach the old master every intervalMs until untilMs; the first time it answers,
 * make it read-only (if it is not already) and return. Never throws.
 */
export async function fenceOldMasterWhenBack(opts: OldMasterFenceOptions): Promise<OldMasterFenceResult> {
  const { server, log, signal } = opts;
  const name = serverName(server);
  const interval = opts.intervalMs ?? 3000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
  let attempts = 0;
  let lastError: string | undefined;
  while (!signal?.aborted && Date.now() < opts.untilMs) {
    attempts++;
    const t0 = Date.now();
    let conn: ServerConnection | undefined;
    try {
      conn = await ServerConnection.open(addressOf(server), {
        connectTimeoutMs: Math.min(connectTimeoutMs, Math.max(200, opts.untilMs - t0)),
        // SET GLOBAL read_only waits for running commits; a server that holds it that long is retried.
        queryTimeoutMs: 10_000,
      });
      const stmts = fenceStatements(conn.dialect);
      const state = await readOnlyState(conn);
      if (state.readOnly && (!conn.dialect.superReadOnly || state.superReadOnly)) {
        log.info(`Old master ${name} is reachable again and already read-only: nothing to fence.`);
        return { result: 'already-read-only', attempts, at: new Date() };
      }
      log.warning(
        `Old master ${name} is reachable again and writable (read_only=${state.readOnly ? 1 : 0}): making it read-only so it cannot take writes next to the new master.`,
      );
      await opts.beforeAction?.(`make old master ${name} read-only`);
      for (const sql of stmts) await conn.query(sql);
      const after = await readOnlyState(conn);
      if (!after.readOnly || (conn.dialect.superReadOnly && !after.superReadOnly)) {
        throw new Error(`read_only still ${after.readOnly ? 1 : 0} after ${stmts.join('; ')}`);
      }
      log.info(`Executed ${stmts.join('; ')} on old master ${name}: it is fenced.`);
      return { result: 'fenced', attempts, statements: stmts, at: new Date() };
    } catch (err) {
      const e = err as ServerError;
      const first = lastError === undefined;
      lastError = e.message;
      // The first failure says what is going on; the rest only at debug level, every few seconds for minutes.
      if (first)
        log.info(`Old master ${name} is not reachable (${e.message}); trying again every ${interval / 1000}s.`);
      else log.debug(`Old master ${name} still not fenced: ${e.message}`);
    } finally {
      await conn?.close();
    }
    await sleep(Math.min(Math.max(0, interval - (Date.now() - t0)), Math.max(0, opts.untilMs - Date.now())), signal);
  }
  if (signal?.aborted) return { result: 'aborted', attempts };
  log.warning(
    `Gave up making old master ${name} read-only after ${attempts} attempt(s)${lastError ? ` (last: ${lastError})` : ''}. If it comes back, set read_only=1 on it before anything reaches it.`,
  );
  return { result: 'gave-up', attempts, lastError };
}

async function readOnlyState(conn: ServerConnection): Promise<{ readOnly: boolean; superReadOnly: boolean }> {
  const row = await conn.one<{ ro: unknown; sro?: unknown }>(
    conn.dialect.superReadOnly
      ? 'SELECT @@global.read_only AS ro, @@global.super_read_only AS sro'
      : 'SELECT @@global.read_only AS ro',
  );
  return { readOnly: isOn(row?.ro), superReadOnly: isOn(row?.sro) };
}

/** How long the manager keeps trying after a failover (10 minutes). */
export const OLD_MASTER_FENCE_MS = 10 * 60_000;

/**
 * The manager's side: one background fence per failover, all stopped together when the
 * manager stops. A one-shot manager (exit after failover, MHA's way) does not wait for it.
 */
export class OldMasterFences {
  private readonly stopAll = new AbortController();
  private readonly running = new Set<Promise<OldMasterFenceResult>>();

  constructor(
    private readonly log: ManagerLog,
    private readonly opts: {
      signal?: AbortSignal;
      beforeAction?: (action: string) => Promise<void>;
      windowMs?: number;
    } = {},
  ) {
    opts.signal?.addEventListener('abort', () => this.stopAll.abort(), { once: true });
  }

  /** After a failover that opened a new master (exit code 0 or 10). */
  afterFailover(oldMaster: ServerConfig, report: FailoverReport, exitAfterFailover: boolean | undefined): void {
    if (report.exitCode === 1 || !report.newMaster) return;
    const name = serverName(oldMaster);
    if (exitAfterFailover) {
      this.log.info(
        `Not watching old master ${name} (exit after failover): make sure it stays read-only if it comes back.`,
      );
      return;
    }
    const windowMs = this.opts.windowMs ?? OLD_MASTER_FENCE_MS;
    // Even a power switch's "off" is not forever: watched in every case.
    this.log.info(
      `Watching old master ${name} for ${Math.round(windowMs / 60_000)} min: if it comes back writable it is set read-only.`,
    );
    const p = fenceOldMasterWhenBack({
      server: oldMaster,
      log: this.log,
      signal: this.stopAll.signal,
      untilMs: Date.now() + windowMs,
      beforeAction: this.opts.beforeAction,
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** Stops every fence and waits for them (each ends within one attempt). */
  async stop(): Promise<void> {
    this.stopAll.abort();
    await Promise.allSettled([...this.running]);
  }
}
