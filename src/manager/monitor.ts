import { spawn } from 'node:child_process';
import { ServerConnection, type ServerError } from '../mysql/server-connection.js';
import type { FileAccess } from '../remote/file-access.js';
import type { Config, ServerConfig } from './config/index.js';
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
}

export interface MasterDeath {
  sshReachable: boolean;
  /** When the first failed ping happened, for the report's detection time. */
  firstFailureAt: Date;
  detectedAt: Date;
  evidence: string[];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

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
  let failures = 0;
  let firstFailureAt: Date | undefined;
  let announced = false;
  try {
    for (let iteration = 0; !signal?.aborted; iteration++) {
      const t0 = Date.now();
      let failed: string | undefined;
      try {
        if (!conn) {
          conn = await ServerConnection.open(addressOf(master), {
            connectTimeoutMs: Math.max(interval, 1000),
            queryTimeoutMs: Math.max(interval, 1000),
          });
          const got = await conn.one<{ l: unknown }>('SELECT GET_LOCK(?, 0) AS l', [MONITOR_LOCK]);
          if (Number(got?.l) !== 1) {
            throw new MonitorError(
              "Target master's advisory lock is already held by someone. Please check whether you monitor the same master from multiple monitoring processes.",
            );
          }
          if (!announced || failures > 0)
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
        }
        conn?.conn.destroy();
        conn = undefined;
      }
      if (!failed) {
        if (failures > 0) log.info(`Ping(${config.app.pingType}) succeeded again after ${failures} failure(s).`);
        failures = 0;
        firstFailureAt = undefined;
        await status.set('PING_OK', master.hostname);
      } else {
        failures++;
        firstFailureAt ??= new Date(t0);
        log.warning(`Got error on MySQL ping: ${failed}`);
        log.warning(`Connection failed ${failures} time(s)..`);
        await status.set('PING_FAILING', master.hostname);
        if (failures >= threshold) {
          const verdict = await confirmMasterDeath(opts);
          if (verdict.dead) {
            log.warning('Master is not reachable from health checker!');
            log.warning(`Master ${name} is not reachable!`);
            log.warning(verdict.sshReachable ? 'SSH is reachable.' : 'SSH is NOT reachable.');
            await status.set('PING_FAILED', master.hostname);
            return {
              sshReachable: verdict.sshReachable,
              firstFailureAt,
              detectedAt: new Date(),
              evidence: verdict.evidence,
            };
          }
          log.warning(
            `Master ${name} is unreachable from here but alive: ${verdict.evidence.join('; ')}. Not failing over; checking again.`,
          );
          failures = 0;
        }
      }
      const spent = Date.now() - t0;
      await sleep(Math.max(0, (failed ? Math.min(interval, 1000) : interval) - spent), signal);
    }
    throw new MonitorError('monitoring stopped');
  } finally {
    await conn?.close();
  }
}

export class MonitorError extends Error {}

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
): Promise<{ dead: boolean; sshReachable: boolean; evidence: string[] }> {
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
  return { dead: isDead, sshReachable, evidence };
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
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', `${script} ${args.join(' ')}`], {
      env: { ...process.env, MHA_MASTER_PASSWORD: master.password.reveal() },
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
    child.on('error', () => resolve(1));
  });
}
