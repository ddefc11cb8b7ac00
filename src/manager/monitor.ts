import { ServerConnection, type ServerError } from '../mysql/server-connection.js';
import type { FileAccess } from '../remote/file-access.js';
import type { Config, ServerConfig } from './config/index.js';
import { runCommand } from './hooks.js';
import type { ManagerLog } from './log.js';
import type { StatusFile } from './status-file.js';
import { ALIVE_ERROR_CODES, addressOf, inspectServer, replicatesFrom, serverName } from './topology.js';

export const MONITOR_LOCK = 'MHA_Master_High_Availability_Monitor';

export interface MonitorOptions {
  config: Config;
  master: ServerConfig;
  log: ManagerLog;
  status: StatusFile;
  accessFor: (server: ServerConfig) => FileAccess;
  /** Stop monitoring (SIGTERM, masterha_stop). */
  signal?: AbortSignal;
  /** Failures in a row before the master is examined (MHA: 4). */
  failuresBeforeCheck?: number;
  /** Told the outcome and duration of every ping (the daemon's metrics). */
  onPing?: (ok: boolean, latencyMs: number) => void;
}

export interface MasterDeath {
  sshReachable: boolean;
  /** When the first failed ping happened, for the report's detection time. */
  firstFailureAt: Date;
  detectedAt: Date;
  evidence: string[];
}

const sleep = (ms: number, signal?: AbortSignal, wake?: Promise<void>) =>
  new Promise<void>((resolve) => {
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    wake?.then(done);
  });

/** Nothing listens on the master's port while its host answers: mysqld is gone, or not yet there. */
function isRefused(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(e?.message ?? ''));
}

/** A session that was working ended under us (reset, closed, lost) — not a timeout. */
function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = String(e?.code ?? '');
  return (
    code === 'PROTOCOL_CONNECTION_LOST' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    /connection is in closed state|Connection lost|ECONNRESET|EPIPE/i.test(String(e?.message ?? ''))
  );
}

/**
 * Ping the master every ping_interval until it stops answering, then make sure it is dead
 * and not just cut off from us: through the replicas (are their I/O threads cut off
 * too?), through SSH (is the host there?), and through secondary_check_script — by
 * majority rather than MHA's first failure. Returns when the master is dead; throws when
 * monitoring cannot go on (lock held by another manager, aborted).
 */
export async function monitorMaster(opts: MonitorOptions): Promise<MasterDeath> {
  const { config, master, log, status, signal } = opts;
  const interval = config.app.pingInterval * 1000;
  const threshold = opts.failuresBeforeCheck ?? 4;
  const name = serverName(master);
  log.info(`Set master ping interval ${config.app.pingInterval} seconds.`);
  if (config.app.secondaryCheckScript) log.info(`Set secondary check script: ${config.app.secondaryCheckScript}`);
  else {
    log.warning(
      'secondary_check_script is not defined. It is highly recommended setting it to check master reachability from two or more routes.',
    );
  }
  log.info(`Starting ping health check on ${name}..`);
  let conn: ServerConnection | undefined;
  /** Our last session on the master: after a partition it may still hold the monitor lock. */
  let lastSessionId: number | undefined;
  let failures = 0;
  let firstFailureAt: Date | undefined;
  let announced = false;
  /** The previous ping failed (failures may have been reset by a confirmation since). */
  let lastFailed = false;
  /** Resolves when the monitor's session to the master ends by itself (mysqld died): wakes the sleep. */
  let sessionEnded: Promise<void> | undefined;
  try {
    while (!signal?.aborted) {
      const t0 = Date.now();
      let failed: string | undefined;
      /** This attempt found nothing listening on the master's port. */
      let refused = false;
      /** The session we had was lost: look again at once rather than after a ping interval. */
      let lost = false;
      try {
        if (!conn) {
          conn = await ServerConnection.open(addressOf(master), {
            connectTimeoutMs: Math.max(interval, 1000),
            queryTimeoutMs: Math.max(interval, 1000),
          });
          // A session of ours cut off by the network lingers on the master until its
          // wait_timeout: keep that short (the ping keeps the live one busy).
          await conn.query(`SET SESSION wait_timeout=${Math.max(4 * config.app.pingInterval, 10)}`);
          await takeMonitorLock(conn, lastSessionId, log);
          lastSessionId = conn.conn.threadId ?? undefined;
          const c = conn;
          sessionEnded = new Promise<void>((resolve) => {
            c.conn.once('error', () => resolve());
            c.conn.once('end', () => resolve());
          });
          if (!announced || lastFailed)
            log.info(`Ping(${config.app.pingType}) succeeded, waiting until MySQL doesn't respond..`);
          announced = true;
        }
        await ping(conn, config.app.pingType);
      } catch (err) {
        if (err instanceof MonitorError) throw err;
        const e = err as ServerError;
        if (e.errno !== undefined && ALIVE_ERROR_CODES.has(e.errno)) {
          log.warning(`Got MySQL error ${e.errno}, but this is not a MySQL crash. Continue health check..`);
        } else {
          failed = e.message;
          refused = isRefused(err);
          lost = conn !== undefined && isConnectionLost(err);
        }
        conn?.conn.destroy();
        conn = undefined;
        sessionEnded = undefined;
      }
      opts.onPing?.(!failed, Date.now() - t0);
      if (!failed) {
        if (failures > 0) log.info(`Ping(${config.app.pingType}) succeeded again after ${failures} failure(s).`);
        failures = 0;
        lastFailed = false;
        firstFailureAt = undefined;
        await status.set('PING_OK', master.hostname);
      } else {
        failures++;
        lastFailed = true;
        firstFailureAt ??= new Date(t0);
        log.warning(`Got error on MySQL ping: ${failed}`);
        log.warning(`Connection failed ${failures} time(s)..`);
        await status.set('PING_FAILING', master.hostname);
        // From the second failure on — or at once when the connection was refused (the host
        // answers, nothing listens on the port) — ask the replicas: when they lost the master
        // too (and nobody sees it alive), that is independent evidence and waiting for MHA's
        // four failures only delays the failover. Without any vote, wait for the threshold.
        const early = (failures >= Math.min(2, threshold) || refused) && failures < threshold;
        if (early || failures >= threshold) {
          const verdict = await confirmMasterDeath(opts);
          if (verdict.dead && (!early || verdict.deadVotes > 0)) {
            log.warning('Master is not reachable from health checker!');
            log.warning(`Master ${name} is not reachable!`);
            log.warning(verdict.sshReachable ? 'SSH is reachable.' : 'SSH is NOT reachable.');
            for (const e of verdict.evidence) log.info(`  ${e}`);
            await status.set('PING_FAILED', master.hostname);
            return {
              sshReachable: verdict.sshReachable,
              firstFailureAt,
              detectedAt: new Date(),
              evidence: verdict.evidence,
            };
          }
          if (verdict.dead || (early && verdict.aliveVotes === 0)) {
            // Not decided yet: keep pinging.
          } else {
            log.warning(
              `Master ${name} is unreachable from here but alive: ${verdict.evidence.join('; ')}. Not failing over; checking again.`,
            );
            await status.set('RETRYING_MONITOR', master.hostname);
            failures = 0;
          }
        }
      }
      const spent = Date.now() - t0;
      // A lost session is looked at again at once (a refusal then tells mysqld is gone); a
      // healthy one is pinged every interval, or at once when it ends by itself.
      const wait = lost ? 0 : failed ? Math.min(interval, 1000) : interval;
      await sleep(Math.max(0, wait - spent), signal, failed ? undefined : sessionEnded);
    }
    throw new MonitorError('monitoring stopped');
  } finally {
    await conn?.close();
  }
}

export class MonitorError extends Error {}

/**
 * GET_LOCK(MHA_Master_High_Availability_Monitor) so a second manager on the same master
 * is refused. When the holder is our own previous session — cut off by a partition that
 * has healed, its close lost on the way — that session is killed and the lock taken,
 * instead of mistaking ourselves for another manager (MHA manager#139's cousin).
 */
async function takeMonitorLock(conn: ServerConnection, lastSessionId: number | undefined, log: ManagerLog) {
  const held =
    "Target master's advisory lock is already held by someone. Please check whether you monitor the same master from multiple monitoring processes.";
  const got = await conn.one<{ l: unknown }>('SELECT GET_LOCK(?, 0) AS l', [MONITOR_LOCK]);
  if (Number(got?.l) === 1) return;
  const holder = await conn.one<{ h: unknown }>('SELECT IS_USED_LOCK(?) AS h', [MONITOR_LOCK]);
  if (holder?.h === null || holder?.h === undefined) {
    // Released between the two statements: try once more, briefly.
    const again = await conn.query<{ l: unknown }>('SELECT GET_LOCK(?, 2) AS l', [MONITOR_LOCK], 5000);
    if (Number(again[0]?.l) === 1) return;
    throw new MonitorError(held);
  }
  if (lastSessionId === undefined || Number(holder.h) !== lastSessionId) throw new MonitorError(held);
  log.warning(
    `The monitor lock is still held by this monitor's previous session ${lastSessionId}, cut off from us. Killing that session.`,
  );
  await conn.query(`KILL CONNECTION ${lastSessionId}`).catch((e: Error) => {
    log.warning(`Killing session ${lastSessionId} failed: ${e.message}. Waiting for its wait_timeout.`);
  });
  const wait = 30;
  const got2 = await conn.query<{ l: unknown }>('SELECT GET_LOCK(?, ?) AS l', [MONITOR_LOCK, wait], wait * 1000 + 5000);
  if (Number(got2[0]?.l) !== 1) throw new MonitorError(held);
}

async function ping(conn: ServerConnection, type: 'SELECT' | 'CONNECT' | 'INSERT'): Promise<void> {
  if (type === 'INSERT') {
    await conn.query('CREATE DATABASE IF NOT EXISTS infra');
    await conn.query(
      'CREATE TABLE IF NOT EXISTS infra.chk_masterha (`key` tinyint NOT NULL primary key, `val` int(10) unsigned NOT NULL DEFAULT 0)',
    );
    await conn.query(
      'INSERT INTO infra.chk_masterha VALUES (1, UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE val=UNIX_TIMESTAMP()',
    );
  } else {
    await conn.query('SELECT 1 AS Value');
  }
}

/**
 * Ask every other route whether the master is gone. Each source votes dead / alive /
 * unknown; the master counts as dead only when no source says alive and a majority of
 * those that could answer say dead.
 */
async function confirmMasterDeath(
  opts: MonitorOptions,
): Promise<{ dead: boolean; deadVotes: number; aliveVotes: number; sshReachable: boolean; evidence: string[] }> {
  const { config, master, log } = opts;
  const evidence: string[] = [];
  let dead = 0;
  let alive = 0;
  // The replicas: an I/O thread still connected means the master is there.
  const replicas = await Promise.all(
    config.servers
      .filter((s) => s !== master)
      .map((s) => inspectServer(s, { connectTimeoutMs: 2000 }).catch(() => undefined)),
  );
  for (const r of replicas) {
    if (!r?.alive || !r.replica || !replicatesFrom(r, master)) continue;
    if (r.replica.ioRunning && r.replica.lastIoErrno === 0) {
      alive++;
      evidence.push(`${r.name}: I/O thread still connected to the master`);
    } else if (r.replica.ioState === 'No' && r.replica.lastIoErrno === 0) {
      // Stopped by someone (STOP SLAVE), not by the master going away: it knows nothing.
      evidence.push(`${r.name}: I/O thread stopped (no vote)`);
    } else {
      dead++;
      evidence.push(`${r.name}: I/O thread lost the master (errno ${r.replica.lastIoErrno})`);
    }
  }
  await Promise.allSettled(replicas.map((r) => r?.conn?.close()));
  // SSH: a reachable host tells us the binlog can be saved; it is not a vote on mysqld.
  let sshReachable = false;
  try {
    const access = opts.accessFor(master);
    await Promise.race([
      access.list(master.masterBinlogDirs[0] ?? '/var/lib/mysql'),
      new Promise((_, rej) =>
        setTimeout(() => rej(new Error('timeout')), master.ssh.connectionTimeoutSec * 1000 + 1000),
      ),
    ]);
    sshReachable = true;
    log.info(`HealthCheck: SSH to ${master.hostname} is reachable.`);
  } catch {
    log.warning(`HealthCheck: SSH to ${master.hostname} is NOT reachable.`);
  }
  if (config.app.secondaryCheckScript) {
    const code = await runSecondaryCheck(config.app.secondaryCheckScript, master, config);
    if (code === 0) {
      dead++;
      evidence.push('secondary_check_script: master down');
    } else if (code === 3) {
      alive++;
      evidence.push('secondary_check_script: master alive');
    } else {
      evidence.push(`secondary_check_script: exit ${code} (network problem, no vote)`);
    }
  }
  const voted = dead + alive;
  const isDead = alive === 0 && (voted === 0 || dead * 2 > voted);
  return { dead: isDead, deadVotes: dead, aliveVotes: alive, sshReachable, evidence };
}

async function runSecondaryCheck(script: string, master: ServerConfig, config: Config): Promise<number> {
  const args = [
    `--user=${master.ssh.user}`,
    `--master_host=${master.hostname}`,
    `--master_ip=${master.ip ?? master.hostname}`,
    `--master_port=${master.port}`,
    `--master_user=${master.user}`,
    `--ping_type=${config.app.pingType}`,
  ];
  // Without a shell: the host and user names above reach the script as arguments, never as code.
  const r = await runCommand(script, args, {
    env: { MHA_MASTER_PASSWORD: master.password.reveal() },
    timeoutMs: 60_000,
    collectOutput: false,
  });
  return r.code;
}
