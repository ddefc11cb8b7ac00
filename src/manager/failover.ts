import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { MariadbGtidList, MysqlGtidSet } from '@mha-ts/native-free-parsers';
import { concatenatePieces } from '../engine/concatenate.js';
import { compareLogFileNames, logFilesOf, parseIndexFile, parseLogFileName } from '../engine/log-files.js';
import { binlogTail } from '../engine/log-sources.js';
import { applyRecoveryPlan, type RecoveryResult } from '../engine/recover.js';
import { type DeadMasterBinlogs, planRecovery, type RelayLogSet } from '../engine/recovery-plan.js';
import { findRelayLogPosition } from '../engine/relay-position-finder.js';
import { FAILOVER_LOCK } from '../engine/relay-purge.js';
import { type ChangeSourceSpec, changeSourceStatement, mhaChangeSourceDisplay } from '../mysql/replication-sql.js';
import type { FileAccess } from '../remote/file-access.js';
import { LocalFileAccess } from '../remote/file-access.js';
import type { Config, ServerConfig } from './config/index.js';
import { type FailoverProgress, type FailoverState, type Fence, fileFailoverState, noFence } from './failover-state.js';
import {
  type ErrantFinding,
  type ErrantPolicy,
  findErrantTransactions,
  GtidDivergence,
  type GtidReplication,
  gtidReplicationOf,
  mariadbStream,
  mariadbUseGtid,
  orderByGtid,
  receivedText,
  replicatesByGtid,
  waitGtidsExecuted,
} from './gtid.js';
import { runHook } from './hooks.js';
import type { ManagerLog } from './log.js';
import {
  addressOf,
  changeMasterAndStart,
  closeAll,
  compareMasterPositions,
  executedGtids,
  inspectServer,
  readMariadbGtids,
  readMysqlGtids,
  refreshReplica,
  replicatesFrom,
  type ServerState,
  serverName,
} from './topology.js';

export interface FailoverOptions {
  config: Config;
  /** The master that died (as configured). */
  deadMaster: ServerConfig;
  log: ManagerLog;
  /** File access (and so SSH reachability) for a configured server's host. */
  accessFor: (server: ServerConfig) => FileAccess;
  /** Known from the monitor: true / false, or undefined to check now. */
  sshReachable?: boolean;
  newMaster?: { host: string; port?: number };
  ignoreLastFailover?: boolean;
  lastFailoverMinute?: number;
  skipSaveMasterBinlog?: boolean;
  skipChangeMaster?: boolean;
  skipDisableReadOnly?: boolean;
  /** Bound on waiting for a replica's SQL thread to apply its relay logs. */
  relayApplyTimeoutMs?: number;
  /**
   * GTID topologies: what to do when a replica has errant transactions (GTIDs its master
   * never had). `refuse` (default): stop before anything is changed. `exclude`: never promote
   * or repoint such a replica (it needs rebuilding; exit 10). `ignore`: proceed as MHA does.
   */
  errantTransactions?: ErrantPolicy;
  /** Bound on every GTID wait (MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET), seconds. Default 60. */
  gtidWaitTimeoutSec?: number;
  /** How the monitor found the master dead (for the report). */
  detection?: { firstFailureAt: Date; detectedAt: Date; evidence: string[] };
  /** Guard, progress and reports (default: files in the manager's workdir). */
  state?: FailoverState;
  /** Asked before every change to a server; throws when this manager may no longer act. */
  fence?: Fence;
}

export interface PhaseTiming {
  phase: string;
  startedAt: string;
  ms: number;
}

export interface ServerOutcome {
  server: string;
  role: 'new master' | 'replica';
  status: 'ok' | 'failed' | 'skipped';
  message: string;
  diff?: { pieces: string[]; transactions: number; skippedGtids: number; bytes: number; applyMs?: number };
}

export interface FailoverReport {
  app: string;
  deadMaster: string;
  newMaster?: string;
  status: 'succeeded' | 'partially failed' | 'failed';
  exitCode: 0 | 10 | 1;
  startedAt: string;
  finishedAt: string;
  phases: PhaseTiming[];
  latestPosition?: { file: string; pos: number };
  /** 'mariadb' / 'mysql' when every replica replicated by GTID (and still does afterwards). */
  gtidMode?: GtidReplication;
  /** GTID position of the most advanced replica (GTID mode). */
  latestGtid?: string;
  /** Replicas found holding GTIDs their master never had, and what was done about it. */
  errantTransactions?: Array<ErrantFinding & { action: 'refused' | 'excluded' | 'ignored' }>;
  /** Every alive replica's positions (of the dead master's binlog) when Phase 3.1 read them. */
  replicaPositions?: Record<string, { read: { file: string; pos: number }; exec: { file: string; pos: number } }>;
  savedMasterBinlog?: { file: string; bytes: number } | { skipped: string };
  changeMasterStatement?: string;
  newMasterPosition?: { file: string; pos: number; gtid?: string };
  servers: ServerOutcome[];
  detection?: { firstFailureAt: string; detectedAt: string; evidence: string[] };
  error?: string;
  /** The phase a failed failover stopped in. */
  stoppedIn?: string;
  /** Set when this run finished a failover an earlier run had interrupted. */
  resumed?: { newMaster: string; phase: string; repointedBefore: string[] };
  lines: string[];
}

export class FailoverAbort extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Dead-master failover, MHA's phases 1–5: check, fence, pick the latest, save the dead
 * master's binlog, pick the new master, bring it level and open it, bring every other
 * replica level and repoint it, clean up, report.
 */
export async function runDeadMasterFailover(opts: FailoverOptions): Promise<FailoverReport> {
  const { config, log } = opts;
  const app = config.app.name;
  const workdir = config.app.managerWorkdir;
  const started = new Date();
  const stamp = started.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const report: FailoverReport = {
    app,
    deadMaster: serverName(opts.deadMaster),
    status: 'failed',
    exitCode: 1,
    startedAt: started.toISOString(),
    finishedAt: '',
    phases: [],
    servers: [],
    lines: [],
    detection: opts.detection
      ? {
          firstFailureAt: opts.detection.firstFailureAt.toISOString(),
          detectedAt: opts.detection.detectedAt.toISOString(),
          evidence: opts.detection.evidence,
        }
      : undefined,
  };
  const state = opts.state ?? fileFailoverState(workdir, app);
  const guard = state.guard;
  const fence = opts.fence ?? noFence;
  let servers: ServerState[] = [];
  let fenced = false;
  let errorMarked = false;
  let progressRecord: FailoverProgress | undefined;
  let saveProgressRecord: (() => Promise<void>) | undefined;
  let recoveredNewMaster: string | undefined;
  let phaseStart = Date.now();
  let phaseName = '';
  const phase = (name: string) => {
    if (phaseName)
      report.phases.push({
        phase: phaseName,
        startedAt: new Date(phaseStart).toISOString(),
        ms: Date.now() - phaseStart,
      });
    phaseName = name;
    phaseStart = Date.now();
    if (name) log.info(`* ${name}..`);
  };
  for (const s of config.servers) {
    log.addSecret(s.password.reveal());
    log.addSecret(s.replPassword?.reveal());
  }

  try {
    await fsp.mkdir(workdir, { recursive: true, mode: 0o700 });
    log.info('MHA::MasterFailover version 0.58 (mha-ts).');
    log.info('Starting master failover.');
    report.lines.push(
      `Master ${serverName(opts.deadMaster)} is down!`,
      '',
      'Started automated(non-interactive) failover.',
    );

    // ---- Phase 1: configuration check ------------------------------------------------
    phase('Phase 1: Configuration Check Phase');
    const others = config.servers.filter((s) => s !== opts.deadMaster);
    servers = await Promise.all(others.map((s) => inspectServer(s)));
    const dead = servers.filter((s) => !s.alive);
    const alive = servers.filter((s) => s.alive);
    const deadCheck = await inspectServer(opts.deadMaster, { connectTimeoutMs: 1000 }).catch((e: Error) => {
      throw new FailoverAbort(
        `The master ${serverName(opts.deadMaster)} is reachable via MySQL (${e.message}) ! Stop failover.`,
      );
    });
    if (deadCheck.alive) {
      await deadCheck.conn?.close();
      throw new FailoverAbort(`The master ${serverName(opts.deadMaster)} is reachable via MySQL ! Stop failover.`);
    }
    log.info('Dead Servers:');
    log.info(`  ${serverName(opts.deadMaster)}`);
    for (const d of dead) log.info(`  ${d.name}`);
    for (const d of dead) {
      if (!d.config.ignoreFail)
        throw new FailoverAbort(`Server ${d.name} is dead, but must be alive! Check server settings.`);
    }
    // An earlier run of this failover that got as far as opening a new master left its
    // progress: this run finishes it with the same new master instead of choosing another.
    const interrupted = await resumableProgress(state, opts, log);
    const recordedNewMaster = interrupted?.newMaster;
    const isRecordedNewMaster = (s: ServerState) =>
      recordedNewMaster !== undefined &&
      s.config.hostname === recordedNewMaster.hostname &&
      s.config.port === recordedNewMaster.port;
    const alreadyRepointed: ServerState[] = [];
    let finishedNewMaster: ServerState | undefined;
    let replicas = alive.filter((s) => {
      if (!s.replica) {
        if (s.config.ignoreFail) return false;
        if (isRecordedNewMaster(s)) {
          // Interrupted in Phase 5 (or later): whether that is the end depends on the others.
          finishedNewMaster = s;
          return false;
        }
        // A writable non-replica may already be a master (an earlier, partly completed
        // failover, or an operator's promotion): promoting another would make two.
        throw new FailoverAbort(
          `${s.name} is alive and not a replica of the dead master ${serverName(opts.deadMaster)} (read_only=${s.readOnly ? 1 : 0}): it may already be the new master. Check the topology before failing over; nothing was changed.`,
        );
      }
      if (!replicatesFrom(s, opts.deadMaster)) {
        if (recordedNewMaster && replicatesFromAddress(s, recordedNewMaster)) {
          alreadyRepointed.push(s);
          return false;
        }
        if (s.config.ignoreFail) return false;
        throw new FailoverAbort(
          `Slave ${s.name} replicates from ${s.replica.masterHost}:${s.replica.masterPort}, not from the dead master ${serverName(opts.deadMaster)}.`,
        );
      }
      return true;
    });
    if (finishedNewMaster) {
      const nm: ServerState = finishedNewMaster;
      if (replicas.length > 0) {
        throw new FailoverAbort(
          `The interrupted failover already completed on the new master ${nm.name} (it no longer replicates), but ${replicas.map((r) => r.name).join(', ')} still replicate(s) from the dead master and cannot be recovered from its relay logs any more. Repoint or rebuild them from ${nm.name}.`,
        );
      }
      // Every server had been moved; only the records were left to write.
      log.info(
        `The failover interrupted in ${interrupted!.phase} had already moved every server to ${nm.name}; completing its records.`,
      );
      report.resumed = {
        newMaster: nm.name,
        phase: interrupted!.phase,
        repointedBefore: alreadyRepointed.map((r) => r.name),
      };
      report.newMaster = nm.name;
      report.servers.push(
        { server: nm.name, role: 'new master', status: 'ok', message: 'Opened by the interrupted failover.' },
        ...alreadyRepointed.map(
          (r): ServerOutcome => ({
            server: r.name,
            role: 'replica',
            status: 'ok',
            message: `OK: repointed to ${nm.name} by the interrupted failover.`,
          }),
        ),
      );
      report.lines.push(`Completed the records of the failover to ${nm.name} interrupted in ${interrupted!.phase}.`);
      report.exitCode = dead.length === 0 ? 0 : 10;
      report.status = report.exitCode === 0 ? 'succeeded' : 'partially failed';
      phase('');
      await guard.clear();
      await guard.markComplete();
      await state.progress.clear();
      throw ALREADY_DONE;
    }
    if (interrupted) {
      if (recordedNewMaster && !replicas.some(isRecordedNewMaster)) {
        throw new FailoverAbort(
          `The interrupted failover's new master ${recordedNewMaster.name} is not alive or no longer replicates from the dead master; resolve it by hand (it was to be opened at ${JSON.stringify(interrupted.newMasterPosition)}).`,
        );
      }
      log.info(
        `Resuming the failover interrupted in ${interrupted.phase}: new master ${recordedNewMaster?.name ?? '(not chosen yet)'}; already repointed: ${alreadyRepointed.map((r) => r.name).join(', ') || '(none)'}.`,
      );
      report.resumed = {
        newMaster: recordedNewMaster?.name ?? '',
        phase: interrupted.phase,
        repointedBefore: alreadyRepointed.map((r) => r.name),
      };
      report.lines.push(`Resumed the failover interrupted in ${interrupted.phase}.`);
    }
    if (replicas.length === 0) throw new FailoverAbort("There is no alive slave. We can't do failover");
    for (const r of replicas) {
      if (!r.replica!.sqlRunning && r.replica!.lastSqlErrno !== 0 && !r.config.ignoreFail) {
        throw new FailoverAbort(`Replication on ${r.name} fails! Check server settings. (${r.replica!.lastSqlError})`);
      }
    }
    const { mode: gtidMode, fileBased } = gtidReplicationOf(replicas);
    report.gtidMode = gtidMode;
    if (gtidMode === 'none' && replicas.some(replicatesByGtid)) {
      log.warning(
        `Not every slave replicates by GTID (${fileBased.map((r) => r.name).join(', ')} use file/position): failing over by file/position; the GTID slaves are switched to file/position replication.`,
      );
    }
    log.info(`GTID failover mode = ${gtidMode === 'none' ? 0 : 1}${gtidMode === 'none' ? '' : ` (${gtidMode})`}`);
    const excluded: ServerState[] = [];
    if (gtidMode !== 'none') {
      const policy = opts.errantTransactions ?? 'refuse';
      const findings = findErrantTransactions(replicas, [], gtidMode);
      const action = policy === 'refuse' ? 'refused' : policy === 'exclude' ? 'excluded' : 'ignored';
      report.errantTransactions = findings.map((f) => ({ ...f, action }));
      for (const f of findings) {
        const line = `Errant transactions on ${f.server}: ${f.gtids} (GTIDs its master never had: written on the replica itself).`;
        if (policy === 'ignore') log.warning(`${line} Ignored (--errant_transactions=ignore).`);
        else log.error(line);
        report.lines.push(line);
      }
      if (findings.length > 0 && policy === 'refuse') {
        throw new FailoverAbort(
          `Errant transactions found on ${findings.map((f) => f.server).join(', ')}; refusing to fail over (--errant_transactions=refuse). Nothing was changed. Remove them (MariaDB: inspect the binlog, then rebuild the replica or re-apply those transactions on every server; MySQL: inject empty transactions for them on the other servers) or re-run with --errant_transactions=exclude (never promote or repoint those replicas) or =ignore.`,
        );
      }
      if (policy === 'exclude') {
        for (const f of findings) {
          const r = replicas.find((x) => x.name === f.server)!;
          excluded.push(r);
          log.warning(`${r.name} is excluded from the failover: it is neither promoted nor repointed.`);
        }
        replicas = replicas.filter((r) => !excluded.includes(r));
        if (replicas.length === 0) throw new FailoverAbort('Every alive slave has errant transactions.');
      }
    }
    // Finishing a failover whose manager died is not a second failover: the guard's error
    // flag is what the interruption left. One that stopped on an error waits for an operator.
    const refusal = await guard.refusal({
      ignoreLastFailover: (opts.ignoreLastFailover ?? false) || (interrupted !== undefined && !interrupted.error),
      lastFailoverMinute: opts.lastFailoverMinute ?? 480,
    });
    if (refusal) throw new FailoverAbort(refusal);
    await fence('Phase 1: lock the replicas and start their SQL threads');
    for (const r of replicas) {
      const got = await r.conn!.one<{ l: unknown }>('SELECT GET_LOCK(?, 1) AS l', [FAILOVER_LOCK]);
      if (Number(got?.l) !== 1) {
        throw new FailoverAbort(
          `Getting advisory lock failed on ${r.name}. Maybe failover script or purge_relay_logs script is running on the same slave?`,
        );
      }
      // Not after an interruption: the earlier run stopped the SQL threads once they had
      // applied what they could, and may have applied the rest of their relay logs itself —
      // a restarted SQL thread would apply that again.
      if (!r.replica!.sqlRunning && !interrupted)
        await r.conn!.query(r.conn!.dialect.startReplica.replace(/$/, ' SQL_THREAD'));
    }
    if (interrupted) log.info("Resuming: the replicas' SQL threads are left as the interrupted run left them.");
    log.info(`Alive Slaves: ${replicas.map((r) => r.name).join(', ')}`);
    log.info(gtidMode === 'none' ? 'Starting Non-GTID based failover.' : 'Starting GTID based failover.');
    log.info('** Phase 1: Configuration Check Phase completed.');

    // ---- Phase 2: fence the dead master ----------------------------------------------
    phase('Phase 2: Dead Master Shutdown Phase');
    await fence("Phase 2: stop the replicas' I/O threads and fence the dead master");
    await guard.markError(); // until we finish, a crash here must block the next automatic failover
    // From here on a rerun must know this failover was under way (and, once chosen, its new master).
    const progress: FailoverProgress = {
      app,
      deadMaster: {
        hostname: opts.deadMaster.hostname,
        ip: opts.deadMaster.ip ?? opts.deadMaster.hostname,
        port: opts.deadMaster.port,
      },
      newMaster: recordedNewMaster,
      newMasterPosition: interrupted?.newMasterPosition,
      phase: 'Phase 2: Dead Master Shutdown Phase',
      repointed: alreadyRepointed.map((r) => r.name),
      updatedAt: new Date().toISOString(),
    };
    // Replicas are repointed in parallel: their records are written one after the other.
    let progressWrites = Promise.resolve();
    const saveProgress = () => {
      const snapshot = { ...progress, repointed: [...progress.repointed], updatedAt: new Date().toISOString() };
      progressWrites = progressWrites.catch(() => {}).then(() => state.progress.save(snapshot));
      return progressWrites;
    };
    progressRecord = progress;
    saveProgressRecord = saveProgress;
    await saveProgress();
    errorMarked = true;
    // Freezing every replica's read position first makes "latest" a fixed target.
    await Promise.all(
      replicas.map(async (r) => {
        await r.conn!.query(`${r.conn!.dialect.stopReplica} IO_THREAD`);
        for (let i = 0; i < 100; i++) {
          const st = await refreshReplica(r);
          if (!st?.ioRunning) return;
          await sleep(100);
        }
        throw new FailoverAbort(`Stopping IO thread on ${r.name} failed.`);
      }),
    );
    let sshReachable = opts.sshReachable;
    const masterAccess = opts.accessFor(opts.deadMaster);
    if (sshReachable === undefined) {
      sshReachable = await withTimeout(
        masterAccess.list(opts.deadMaster.masterBinlogDirs[0] ?? '/var/lib/mysql').then(() => true),
        opts.deadMaster.ssh.connectionTimeoutSec * 1000 + 2000,
      ).catch(() => false);
    }
    log.info(sshReachable ? 'SSH is reachable.' : 'SSH is NOT reachable.');
    const masterArgs = {
      orig_master_host: opts.deadMaster.hostname,
      orig_master_ip: opts.deadMaster.ip ?? opts.deadMaster.hostname,
      orig_master_port: opts.deadMaster.port,
      ssh_user: opts.deadMaster.ssh.user,
    };
    if (config.app.masterIpFailoverScript) {
      const r = await runHook(log, config.app.masterIpFailoverScript, {
        command: sshReachable ? 'stopssh' : 'stop',
        ...masterArgs,
      });
      if (r.code === 10) log.info('master_ip_failover_script returned 10. Proceeding.');
      else if (r.code !== 0)
        throw new FailoverAbort(`Failed to stop the master IP address (master_ip_failover_script exit ${r.code}).`);
      report.lines.push(`Invalidated master IP address on ${serverName(opts.deadMaster)}`);
    } else {
      log.warning('master_ip_failover_script is not set. Skipping invalidating dead master IP address.');
    }
    if (config.app.shutdownScript) {
      const r = await runHook(log, config.app.shutdownScript, {
        command: sshReachable ? 'stopssh' : 'stop',
        ssh_user: opts.deadMaster.ssh.user,
        host: opts.deadMaster.hostname,
        ip: opts.deadMaster.ip ?? opts.deadMaster.hostname,
        port: opts.deadMaster.port,
        pid_file: opts.deadMaster.masterPidFile,
      });
      if (r.code === 0) {
        log.info('Power off done.');
        report.lines.push(`Power off ${serverName(opts.deadMaster)}.`);
        sshReachable = false;
      } else if (r.code === 10) {
        log.info('SSH reachable. Shutting down mysqld done.');
        sshReachable = true;
      } else {
        throw new FailoverAbort(`shutdown_script failed with exit code ${r.code}.`);
      }
    } else {
      log.warning('shutdown_script is not set. Skipping explicit shutting down of the dead master.');
    }
    fenced = true;
    log.info('* Phase 2: Dead Master Shutdown Phase completed.');

    // ---- Phase 3.1: latest replicas --------------------------------------------------
    phase('Phase 3: Master Recovery Phase');
    phase('Phase 3.1: Getting Latest Slaves Phase');
    for (const r of replicas) await refreshReplica(r);
    let sorted = [...replicas].sort((a, b) =>
      compareMasterPositions(b.replica!.positions.read, a.replica!.positions.read),
    );
    let latest = sorted.filter(
      (r) => compareMasterPositions(r.replica!.positions.read, sorted[0].replica!.positions.read) === 0,
    );
    if (gtidMode !== 'none') {
      // GTID topologies: the most advanced replica is the one whose received GTIDs contain
      // everybody else's (per domain for MariaDB, as sets for MySQL).
      for (const r of replicas) await (gtidMode === 'mariadb' ? readMariadbGtids(r) : readMysqlGtids(r));
      try {
        ({ sorted, latest } = orderByGtid(replicas, gtidMode));
      } catch (err) {
        if (err instanceof GtidDivergence) throw new FailoverAbort(err.message);
        throw err;
      }
      report.latestGtid = receivedText(latest[0], gtidMode);
      log.info(`The latest GTID position on all slaves is ${report.latestGtid}`);
      for (const r of replicas) log.info(`  ${r.name}: received ${receivedText(r, gtidMode) || '(nothing)'}`);
    }
    const latestPos = latest[0].replica!.positions.read;
    const oldestPos = sorted.at(-1)!.replica!.positions.read;
    if (sorted.some((r) => compareMasterPositions(r.replica!.positions.read, latestPos) > 0)) {
      log.warning(
        `The latest slave by GTID ${latest[0].name} is not the latest by binlog file/position (${latestPos.file}:${latestPos.pos}).`,
      );
    }
    report.latestPosition = latestPos;
    report.replicaPositions = Object.fromEntries(
      replicas.map((r) => [r.name, { read: r.replica!.positions.read, exec: r.replica!.positions.exec }]),
    );
    log.info(`The latest binary log file/position on all slaves is ${latestPos.file}:${latestPos.pos}`);
    log.info(
      `Latest slaves (Slaves that received relay log files to the latest):\n${latest.map((r) => `  ${r.name}`).join('\n')}`,
    );
    log.info(`The oldest binary log file/position on all slaves is ${oldestPos.file}:${oldestPos.pos}`);

    // ---- Phase 3.2: save the dead master's binlog ------------------------------------
    phase("Phase 3.2: Saving Dead Master's Binlog Phase");
    let masterBinlogs: DeadMasterBinlogs | undefined;
    if (opts.skipSaveMasterBinlog) {
      report.savedMasterBinlog = { skipped: '--skip_save_master_binlog' };
    } else if (!sshReachable) {
      const msg =
        "Dead Master is not SSH reachable. Could not save it's binlogs. Transactions that were not sent to the latest slave (Read_Master_Log_Pos to the tail of the dead master's binlog) were lost.";
      log.warning(msg);
      report.savedMasterBinlog = { skipped: 'dead master not reachable over SSH' };
      report.lines.push(msg);
    } else {
      masterBinlogs = await saveDeadMasterBinlog(opts, masterAccess, latestPos, workdir, stamp, report);
    }
    // [binlogN] servers keep copies of the master's binlog (mysqlbinlog --read-from-remote-server,
    // a binlog router): when the master's own could not be read, the longest tail among them.
    const noEvents = JSON.stringify(report.savedMasterBinlog ?? '').includes('no events after');
    if (!masterBinlogs && !noEvents && !opts.skipSaveMasterBinlog && config.binlogServers.length > 0) {
      let best: { binlogs: DeadMasterBinlogs; saved: FailoverReport['savedMasterBinlog'] } | undefined;
      const before = report.savedMasterBinlog;
      for (const b of config.binlogServers) {
        log.info(`Saving the dead master's binlog from the binlog server ${b.hostname}..`);
        const got = await saveDeadMasterBinlog(
          opts,
          // accessFor only reads the SSH settings, which binlog server blocks have too.
          opts.accessFor(b as unknown as ServerConfig),
          latestPos,
          workdir,
          stamp,
          report,
          { hostname: b.hostname, port: b.port, dirs: b.masterBinlogDirs },
        ).catch((e: Error) => {
          log.warning(`Binlog server ${b.hostname}: ${e.message}`);
          return undefined;
        });
        const saved = report.savedMasterBinlog;
        if (got && saved && 'bytes' in saved && (!best || (best.saved as { bytes: number }).bytes < saved.bytes)) {
          best = { binlogs: got, saved };
        }
      }
      masterBinlogs = best?.binlogs;
      report.savedMasterBinlog = best?.saved ?? before;
      if (best)
        report.lines.push(`Saved the dead master's binlog tail from a binlog server (${JSON.stringify(best.saved)}).`);
    }

    // ---- Phase 3.3: new master --------------------------------------------------------
    phase('Phase 3.3: Determining New Master Phase');
    const base = latest[0];
    // MySQL GTID failover works like MHA's: the new master catches up by auto-position
    // replication from the latest slave, the others by auto-position from the new master —
    // no relay logs, no SSH to the slaves. Every other mode recovers from relay logs.
    const baseRelay = gtidMode === 'mysql' ? undefined : await relayLogSetOf(opts, base);
    if (baseRelay) {
      // The latest replica's relay logs must reach back to every other replica's position.
      for (const r of replicas) {
        if (latest.includes(r)) continue;
        const found = await findRelayLogPosition({
          access: baseRelay.access,
          relayDir: baseRelay.dir,
          relayFiles: baseRelay.files,
          target: r.replica!.positions.read,
          latest: latestPos,
        });
        if (found.status === 'not-found') {
          log.warning(
            `${r.name}: the latest slave ${base.name} does not have its relay logs (${found.reason}); it cannot be recovered and cannot be the new master.`,
          );
          (r as ServerState & { lackRelayLog?: boolean }).lackRelayLog = true;
        }
      }
      log.info(`${base.name} has all relay logs for recovery.`);
      report.lines.push(`The latest slave ${base.name} has all relay logs for recovery.`);
    }
    if (config.app.checkReplDelay) await measureUnappliedRelayLog(opts, replicas, latestPos);
    const newMaster = recordedNewMaster
      ? replicas.find(isRecordedNewMaster)!
      : selectNewMaster(opts, replicas, latest, latestPos, gtidMode);
    log.info(`New master is ${newMaster.name}`);
    report.lines.push(`Selected ${newMaster.name} as a new master.`);
    report.newMaster = newMaster.name;
    log.raw(
      `From:\n${serverName(opts.deadMaster)} (current master)\n${replicas.map((r) => ` +--${r.name}`).join('\n')}\n\nTo:\n${newMaster.name} (new master)\n${replicas
        .filter((r) => r !== newMaster)
        .map((r) => ` +--${r.name}`)
        .join('\n')}`,
    );

    // ---- Phase 3.4/3.5: bring the new master level ------------------------------------
    const gtidWaitSec = opts.gtidWaitTimeoutSec ?? 60;
    let nmOutcome: ServerOutcome;
    if (gtidMode === 'mysql') {
      phase('Phase 3.3: New Master Recovery Phase');
      log.info('*NOTICE: If any error happens from this phase, manual recovery is needed.');
      await fence(`Phase 3.3: recover ${newMaster.name} by GTID replication`);
      nmOutcome = await recoverByGtidReplication(opts, newMaster, base, masterBinlogs, workdir, stamp, gtidWaitSec);
    } else {
      phase('Phase 3.4: New Master Diff Log Generation Phase');
      log.info('*NOTICE: If any error happens from this phase, manual recovery is needed.');
      phase('Phase 3.5: Master Log Apply Phase');
      await fence(`Phase 3.5: apply the diff to ${newMaster.name}`);
      nmOutcome = await recoverServer(
        opts,
        newMaster,
        latest.includes(newMaster) ? undefined : { state: base, relay: baseRelay! },
        masterBinlogs,
        workdir,
        stamp,
        'new master',
      );
    }
    report.servers.push(nmOutcome);
    if (nmOutcome.status !== 'ok')
      throw new FailoverAbort(`Recovering the new master ${newMaster.name} failed: ${nmOutcome.message}`);
    recoveredNewMaster = newMaster.name;
    const nmConn = newMaster.conn!;
    const ms = await nmConn.one(nmConn.dialect.showBinaryLogStatus);
    if (!ms) throw new FailoverAbort(`${newMaster.name}: SHOW MASTER STATUS returned nothing (log_bin off?)`);
    const newPos = { file: String(ms.File), pos: Number(ms.Position) };
    if (nmConn.dialect.gtidKind === 'mariadb') await readMariadbGtids(newMaster);
    else if (nmConn.dialect.gtidKind === 'mysql') await readMysqlGtids(newMaster);
    const newGtid = newMaster.gtid?.binlogPos ?? newMaster.mysqlGtid?.executed;
    report.newMasterPosition = { ...newPos, gtid: newGtid || undefined };
    const repl = newMaster.config.replUser ?? opts.deadMaster.replUser ?? 'repl';
    // Address the new master the way the replicas addressed the dead one (MHA's
    // use_ip_for_change_master): by `ip` only when they used the configured ip. With a
    // proxy or NAT between the manager and the servers, `ip` is the manager's route and
    // `hostname` the replicas'.
    const dm = opts.deadMaster;
    const useIp = dm.ip !== undefined && dm.ip !== dm.hostname && replicas.some((r) => r.replica!.masterHost === dm.ip);
    const newMasterHost = useIp ? (newMaster.config.ip ?? newMaster.config.hostname) : newMaster.config.hostname;
    const sourceSpec = (r: ServerState): ChangeSourceSpec => ({
      host: newMasterHost,
      port: newMaster.config.port,
      user: repl,
      password: newMaster.config.replPassword?.reveal() ?? r.config.replPassword?.reveal() ?? '',
      ...(gtidMode === 'none'
        ? { position: newPos }
        : { gtid: gtidMode === 'mysql' ? ('auto' as const) : mariadbUseGtid(r) }),
    });
    const d = nmConn.dialect;
    const changeMaster =
      gtidMode === 'none'
        ? mhaChangeSourceDisplay(d, {
            host: newMasterHost,
            port: newMaster.config.port,
            file: newPos.file,
            pos: newPos.pos,
            user: repl,
          })
        : changeSourceStatement(d, { ...sourceSpec(newMaster), password: '' }).display;
    report.changeMasterStatement = changeMaster;
    log.info(` All other slaves should start replication from here. Statement should be: ${changeMaster}`);
    // From here on a rerun must finish this failover with this new master.
    progress.newMaster = {
      name: newMaster.name,
      hostname: newMaster.config.hostname,
      ip: newMaster.config.ip ?? newMaster.config.hostname,
      port: newMaster.config.port,
    };
    progress.newMasterPosition = report.newMasterPosition;
    progress.phase = 'Phase 3.6: open the new master';
    await fence(`record the failover's progress (new master ${newMaster.name})`);
    await saveProgress();
    if (config.app.masterIpFailoverScript) {
      await fence('master_ip_failover_script --command=start');
      const r = await runHook(
        log,
        config.app.masterIpFailoverScript,
        {
          command: 'start',
          ...masterArgs,
          new_master_host: newMaster.config.hostname,
          new_master_ip: newMaster.config.ip ?? newMaster.config.hostname,
          new_master_port: newMaster.config.port,
          new_master_user: newMaster.config.user,
          new_master_password: 'xxx',
        },
        { env: { MHA_NEW_MASTER_PASSWORD: newMaster.config.password.reveal() } },
      );
      if (r.code !== 0 && r.code !== 10)
        throw new FailoverAbort(`master_ip_failover_script --command=start failed with exit code ${r.code}.`);
    }
    if (!opts.skipDisableReadOnly) {
      // Opening the new master only now: the old one is fenced, so there is never a second writer.
      if (!fenced) throw new FailoverAbort('internal: new master opened before the dead master was fenced');
      await fence(`SET GLOBAL read_only=0 on ${newMaster.name}`);
      await nmConn.query('SET GLOBAL read_only=0');
      log.info(`Setting read_only=0 on ${newMaster.name}..`);
    }
    log.info('** Finished master recovery successfully.');

    // ---- Phase 4: every other replica, in parallel ------------------------------------
    phase('Phase 4: Slaves Recovery Phase');
    progress.phase = 'Phase 4: Slaves Recovery Phase';
    await saveProgress();
    const rest = replicas.filter((r) => r !== newMaster);
    let recoveries: Promise<ServerOutcome>[];
    // GTID replicas fetch whatever they lack from the new master's binlog (MHA's GTID way),
    // which needs every transaction of the stream in that binlog: log_slave_updates on,
    // and the recovery applied with binary logging (not disable_log_bin). Otherwise each one
    // is brought level from the relay logs first, as without GTIDs.
    const byGtidReplication =
      gtidMode === 'mysql' ||
      (gtidMode === 'mariadb' &&
        newMaster.logSlaveUpdates !== false &&
        !newMaster.config.disableLogBin &&
        !opts.skipChangeMaster);
    const waitTarget = (r: ServerState): string => {
      if (gtidMode !== 'mariadb' || !newGtid) return newGtid ?? '';
      // Only the domains this replica replicates (another domain of the new master's own
      // history may never have reached it).
      const mine = mariadbStream(r);
      return MariadbGtidList.from(
        MariadbGtidList.parse(newGtid)
          .gtids()
          .filter((g) => mine.get(g.domain) !== undefined),
      ).toString();
    };
    if (byGtidReplication) {
      log.info('* Phase 4.1: Starting Slaves in parallel..');
      recoveries = rest.map((r) =>
        Promise.resolve<ServerOutcome>({ server: r.name, role: 'replica', status: 'ok', message: '' }),
      );
    } else {
      log.info('* Phase 4.1: Starting Parallel Slave Diff Log Generation Phase..');
      log.info('* Phase 4.2: Starting Parallel Slave Log Apply Phase..');
      recoveries = rest.map((r): Promise<ServerOutcome> => {
        if ((r as ServerState & { lackRelayLog?: boolean }).lackRelayLog) {
          return Promise.resolve({
            server: r.name,
            role: 'replica',
            status: 'failed',
            message: 'ERROR: the latest slave lacks the relay logs this slave needs; could not recover.',
          });
        }
        return fence(`Phase 4: apply the diff to ${r.name}`).then(() =>
          recoverServer(
            opts,
            r,
            latest.includes(r) ? undefined : { state: base, relay: baseRelay! },
            masterBinlogs,
            workdir,
            stamp,
            'replica',
          ),
        );
      });
    }
    const allRecovered = Promise.allSettled(recoveries);
    const outcomes = await Promise.all(
      rest.map(async (r, i): Promise<ServerOutcome> => {
        const out = await recoveries[i];
        if (out.status !== 'ok' || opts.skipChangeMaster) return out;
        // The others are recovered from the latest slave's relay logs, and CHANGE MASTER /
        // RESET SLAVE delete a replica's relay logs: repoint it only once they are done.
        if (r === base) await allRecovered;
        try {
          await fence(`Phase 4: repoint ${r.name} to ${newMaster.name}`);
          await changeMasterAndStart(r, sourceSpec(r));
          progress.repointed.push(r.name);
          await saveProgress().catch((e: Error) =>
            log.warning(`Could not record that ${r.name} was repointed (a rerun finds it anyway): ${e.message}`),
          );
          if (byGtidReplication) {
            await waitGtidsExecuted(r, waitTarget(r), gtidWaitSec);
            out.message = `OK: Slave started, replicating from ${newMaster.name} by GTID (${gtidMode === 'mysql' ? 'auto-position' : `MASTER_USE_GTID=${mariadbUseGtid(r)}`}); it executed everything the new master had.`;
            log.info(`${r.name}: ${out.message}`);
          } else {
            out.message = `OK: Applying all logs succeeded. Slave started, replicating from ${newMaster.name}${gtidMode === 'mariadb' ? ' (MASTER_USE_GTID)' : ''}`;
          }
        } catch (err) {
          out.status = 'failed';
          out.message = `WARN: Applying all logs succeeded. But starting slave failed: ${(err as Error).message}`;
        }
        return out;
      }),
    );
    for (const x of excluded) {
      outcomes.push({
        server: x.name,
        role: 'replica',
        status: 'skipped',
        message: `ERROR: excluded (errant transactions ${report.errantTransactions?.find((f) => f.server === x.name)?.gtids}); not repointed, rebuild it from ${newMaster.name}.`,
      });
    }
    for (const x of alreadyRepointed) {
      // The interruption may have come between CHANGE MASTER and START SLAVE.
      let message = `OK: already repointed to ${newMaster.name} by the interrupted failover.`;
      let status: ServerOutcome['status'] = 'ok';
      try {
        const st = await refreshReplica(x);
        if (!st?.ioRunning || !st.sqlRunning) {
          await fence(`start replication on ${x.name}`);
          await x.conn!.query(x.conn!.dialect.startReplica);
          message = `OK: already repointed to ${newMaster.name} by the interrupted failover; replication started.`;
        }
      } catch (err) {
        status = 'failed';
        message = `WARN: repointed to ${newMaster.name} by the interrupted failover, but starting it failed: ${(err as Error).message}`;
      }
      log.info(`${x.name}: ${message}`);
      outcomes.push({ server: x.name, role: 'replica', status, message });
    }
    for (const d of dead) {
      outcomes.push({
        server: d.name,
        role: 'replica',
        status: 'skipped',
        message: `ERROR: not reachable when the failover started (${d.error ?? 'dead'}); not recovered or repointed (ignore_fail). Repoint it to ${newMaster.name} or rebuild it.`,
      });
    }
    report.servers.push(...outcomes);
    for (const o of outcomes) report.lines.push(`${o.server}: ${o.message}`);
    const failed = outcomes.filter((o) => o.status !== 'ok');
    if (failed.length === 0) log.info('All new slave servers recovered successfully.');

    // ---- Phase 5: new master cleanup -------------------------------------------------
    phase('Phase 5: New master cleanup phase');
    if (!newMaster.config.skipResetSlave) {
      await fence(`Phase 5: reset replication on ${newMaster.name}`);
      await newMaster.conn!.query(newMaster.conn!.dialect.stopReplica);
      await newMaster.conn!.query(newMaster.conn!.dialect.resetReplicaAll);
      log.info(` ${newMaster.name}: Resetting slave info succeeded.`);
      report.lines.push(`${newMaster.name}: Resetting slave info succeeded.`);
    }
    phase('');
    report.exitCode = failed.length === 0 && dead.length === 0 ? 0 : 10;
    report.status = report.exitCode === 0 ? 'succeeded' : 'partially failed';
    const final =
      report.exitCode === 0
        ? `Master failover to ${newMaster.name} completed successfully.`
        : `Master failover to ${newMaster.name} done, but recovery on slave partially failed.`;
    log.info(final);
    report.lines.push(final);
    await guard.clear();
    await guard.markComplete();
    await state.progress.clear();
  } catch (err) {
    if (err === ALREADY_DONE) return finishReport(opts, report, state);
    const stoppedIn = phaseName;
    phase('');
    const msg = (err as Error).message;
    log.error(msg);
    report.error = msg;
    report.stoppedIn = stoppedIn || undefined;
    report.lines.push("Got Error so couldn't continue failover from here.", msg);
    if (stoppedIn) report.lines.push(`Stopped in ${stoppedIn}.`);
    if (recoveredNewMaster) {
      const note = `The new master ${recoveredNewMaster} was recovered (all logs applied, replication stopped) but is still read_only; no other slave was changed. Fix the cause, then open it or re-run the failover with --ignore_last_failover.`;
      log.error(note);
      report.lines.push(note);
    }
    // A failover refused or stopped in Phase 1 touched nothing: the flag files stay as they
    // were (a refusal must keep refusing). From Phase 2 on, the error flag blocks the next
    // automatic failover until an operator has looked.
    if (errorMarked) log.error('Failover error flag (the failover.error file, or its etcd record) was set.');
    // A failover that stopped on an error (not one whose manager died) waits for an
    // operator like MHA's: its progress says so, and a rerun needs --ignore_last_failover.
    if (progressRecord && saveProgressRecord) {
      progressRecord.error = msg;
      await saveProgressRecord().catch(() => {});
    }
    report.exitCode = 1;
    report.status = 'failed';
  } finally {
    for (const s of servers) await s.conn?.query('SELECT RELEASE_LOCK(?)', [FAILOVER_LOCK]).catch(() => {});
    await closeAll(servers);
    report.finishedAt = new Date().toISOString();
  }
  return finishReport(opts, report, state);
}

/** A sentinel: the failover found nothing left to do but its records. */
const ALREADY_DONE = Symbol('failover already done');

/** The report in the log, to report_script, and kept in the failover state. */
async function finishReport(
  opts: FailoverOptions,
  report: FailoverReport,
  state: FailoverState,
): Promise<FailoverReport> {
  const { config, log } = opts;
  report.finishedAt ||= new Date().toISOString();
  const subject = writeFailoverReport(log, report);
  if (config.app.reportScript) {
    // MHA's report_script contract; its exit code is only logged.
    const r = await runHook(log, config.app.reportScript, {
      orig_master_host: opts.deadMaster.hostname,
      new_master_host: report.newMaster ? report.newMaster.replace(/\(.*$/, '') : undefined,
      new_slave_hosts: report.servers
        .filter((s) => s.role === 'replica' && s.status === 'ok')
        .map((s) => s.server.replace(/\(.*$/, ''))
        .join(','),
      conf: config.app.confFile,
      subject,
      body: report.lines.join('\n'),
    }).catch((e: Error) => ({ code: -1, output: e.message }));
    if (r.code !== 0) log.warning(`report_script exited with ${r.code}.`);
  }
  await state.saveReport(report).catch((e: Error) => log.warning(`Could not keep the failover report: ${e.message}`));
  return report;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The relay logs of a replica, read through its host's file access. */
async function relayLogSetOf(opts: FailoverOptions, s: ServerState): Promise<RelayLogSet> {
  const access = opts.accessFor(s.config);
  if (!s.relayLogIndex) throw new FailoverAbort(`${s.name}: relay log index unknown`);
  const files = parseIndexFile(await access.readText(s.relayLogIndex));
  return { access, dir: dirname(s.relayLogIndex), files };
}

/**
 * Save the dead master's binlog from the latest replica's read position into one binlog
 * file in the manager's workdir (MHA's saved_master_binlog_from_… file), reading only
 * that tail over SSH, so every server's recovery then reads it locally.
 */
async function saveDeadMasterBinlog(
  opts: FailoverOptions,
  access: FileAccess,
  from: { file: string; pos: number },
  workdir: string,
  stamp: string,
  report: FailoverReport,
  /** Where the binlogs are: the dead master (default) or a [binlogN] server. */
  source?: { hostname: string; port: number; dirs: string[] },
): Promise<DeadMasterBinlogs | undefined> {
  const { log } = opts;
  const deadMaster = source ?? {
    hostname: opts.deadMaster.hostname,
    port: opts.deadMaster.port,
    dirs: opts.deadMaster.masterBinlogDirs,
  };
  const base = parseLogFileName(from.file);
  for (const dir of deadMaster.dirs.length ? deadMaster.dirs : ['/var/lib/mysql']) {
    let names: string[];
    try {
      names = await access.list(dir);
    } catch (err) {
      log.warning(`Listing ${dir} on the dead master failed: ${(err as Error).message}`);
      continue;
    }
    if (!names.includes(from.file) || !base) continue;
    const files = logFilesOf(names, base.base).filter((f) => compareLogFileNames(f, from.file) >= 0);
    const name = `saved_master_binlog_from_${deadMaster.hostname}_${deadMaster.port}_${stamp}.binlog`;
    const out = await fsp.open(join(workdir, name), 'w', 0o600);
    let concat: Awaited<ReturnType<typeof concatenatePieces>>;
    try {
      concat = await concatenatePieces(
        [{ kind: 'master-tail', events: binlogTail({ access, dir, files, startPos: from.pos }) }],
        async (chunk) => {
          await out.write(chunk);
        },
      );
    } finally {
      await out.close();
    }
    if (concat.transactions === 0) {
      log.info('Additional events were not found from the orig master. No need to save.');
      report.savedMasterBinlog = { skipped: 'no events after the latest replica position' };
      return undefined;
    }
    log.info(
      `Saved the dead master's binlog ${files[0]}:${from.pos}..${files.at(-1)} (${concat.transactions} transaction(s), ${concat.bytes} bytes) to ${join(workdir, name)}.`,
    );
    if (concat.incompleteTail)
      log.warning(
        `The dead master's last transaction was never completed (${concat.incompleteTail.gtid ?? 'no GTID'}); it is not recovered.`,
      );
    report.savedMasterBinlog = { file: join(workdir, name), bytes: concat.bytes };
    return { access: new LocalFileAccess(), dir: workdir, files: [name], savedFrom: from };
  }
  const msg = `Binlog not found from ${deadMaster.dirs.join(',')}${source ? ` on ${source.hostname}` : ''}! If you got this error at MHA Manager, please set "master_binlog_dir=/path/to/binlog_directory_of_the_master" correctly in the MHA Manager's configuration file and try again.`;
  log.warning(`${msg} Failed to save binary log events from the orig master.`);
  report.savedMasterBinlog = { skipped: msg };
  return undefined;
}

/** MHA's select_new_master, without its rotation bug (positions compare numerically). */
function selectNewMaster(
  opts: FailoverOptions,
  replicas: ServerState[],
  latest: ServerState[],
  latestPos: { file: string; pos: number },
  gtidMode: GtidReplication = 'none',
): ServerState {
  const { config, log } = opts;
  const bad = new Set<ServerState>();
  const delayOnly = new Set<ServerState>();
  for (const r of replicas) {
    const why = r.config.noMaster
      ? 'no_master is set'
      : !r.logBin
        ? 'log-bin is not set'
        : gtidMode !== 'none' && r.logSlaveUpdates === false
          ? 'log_slave_updates is off (GTID slaves could not find their position in its binlog)'
          : (r as ServerState & { lackRelayLog?: boolean }).lackRelayLog
            ? 'the latest slave lacks its relay logs'
            : config.app.checkReplDelay && delayedTooMuch(r, latestPos)
              ? 'SQL Thread delays too much'
              : undefined;
    if (why) {
      bad.add(r);
      if (why === 'SQL Thread delays too much') delayOnly.add(r);
      log.info(`${r.name} cannot be the new master: ${why}.`);
    }
  }
  if (opts.newMaster) {
    const wanted = replicas.find(
      (r) =>
        (r.config.hostname === opts.newMaster!.host || r.config.ip === opts.newMaster!.host) &&
        (opts.newMaster!.port === undefined || r.config.port === opts.newMaster!.port),
    );
    if (!wanted) throw new FailoverAbort(`${opts.newMaster.host} is not alive!`);
    if (bad.has(wanted)) throw new FailoverAbort(`${wanted.name} is bad as a new master!`);
    return wanted;
  }
  const ok = (r: ServerState) => !bad.has(r);
  const candidates = replicas.filter((r) => r.config.candidateMaster);
  const pick =
    (config.app.latestPriority ? latest.find((r) => r.config.candidateMaster && ok(r)) : undefined) ??
    candidates.find(ok) ??
    (config.app.latestPriority ? latest.find(ok) : undefined) ??
    replicas.find(ok);
  if (!pick && delayOnly.size > 0) {
    // Every candidate is merely slow to recover: a slow failover beats no master at all.
    const slow = latest.find((r) => delayOnly.has(r)) ?? replicas.find((r) => delayOnly.has(r))!;
    log.warning(
      `Every possible new master is behind by more than ${REPL_DELAY_LIMIT / 1e6} MB of relay log (check_repl_delay); choosing ${slow.name} anyway: its recovery will take longer.`,
    );
    return slow;
  }
  if (!pick) {
    throw new FailoverAbort(
      'None of existing slaves matches as a new master. Maybe preferred node is misconfigured or all slaves are too  far behind.',
    );
  }
  return pick;
}

const REPL_DELAY_LIMIT = 100_000_000;
const unappliedBytes = new WeakMap<ServerState, number>();

/**
 * check_repl_delay in bytes: what a replica's SQL thread has still to execute of its relay
 * logs (from Relay_Log_File:Relay_Log_Pos to the end of the last one), plus what it never
 * received when that is in the same binlog file as the latest position. MHA refused any
 * binlog file difference (manager#143), which with a small max_binlog_size refuses a replica
 * a few KB behind.
 */
async function measureUnappliedRelayLog(
  opts: FailoverOptions,
  replicas: ServerState[],
  latestPos: { file: string; pos: number },
): Promise<void> {
  await Promise.all(
    replicas.map(async (r) => {
      try {
        const set = await relayLogSetOf(opts, r);
        const { relayFile, relayPos, read } = r.replica!.positions;
        const from = set.files.indexOf(relayFile);
        if (from < 0) return;
        let bytes = 0;
        for (const f of set.files.slice(from)) {
          const size = await set.access.size(`${set.dir}/${f}`);
          if (size === null) return;
          bytes += f === relayFile ? Math.max(0, size - relayPos) : size;
        }
        if (compareLogFileNames(read.file, latestPos.file) === 0) bytes += Math.max(0, latestPos.pos - read.pos);
        unappliedBytes.set(r, bytes);
      } catch {
        // Unknown: delayedTooMuch falls back to positions.
      }
    }),
  );
}

function delayedTooMuch(r: ServerState, latestPos: { file: string; pos: number }): boolean {
  const measured = unappliedBytes.get(r);
  if (measured !== undefined) return measured > REPL_DELAY_LIMIT;
  const exec = r.replica!.positions.exec;
  if (compareLogFileNames(exec.file, latestPos.file) < 0) {
    // Without relay-log sizes: a file difference is all we know; allow a few rotations.
    const e = parseLogFileName(exec.file);
    const l = parseLogFileName(latestPos.file);
    return !e || !l || l.number - e.number > 3;
  }
  return latestPos.pos > exec.pos + REPL_DELAY_LIMIT;
}

/** A failover progress record left by an earlier, interrupted run for this dead master. */
async function resumableProgress(
  state: FailoverState,
  opts: FailoverOptions,
  log: ManagerLog,
): Promise<FailoverProgress | undefined> {
  const p = await state.progress.load();
  if (!p) return undefined;
  const dm = opts.deadMaster;
  if (state.guard.errorFlagged && !(await state.guard.errorFlagged())) {
    log.warning(
      `Ignoring the progress record of a failover of ${p.deadMaster.hostname}:${p.deadMaster.port} (${p.updatedAt}): its error flag was cleared, so an operator has handled it.`,
    );
    await state.progress.clear();
    return undefined;
  }
  if (p.deadMaster.hostname !== dm.hostname || p.deadMaster.port !== dm.port) {
    log.warning(
      `Ignoring a failover progress record of another dead master (${p.deadMaster.hostname}:${p.deadMaster.port} → ${p.newMaster?.name ?? '?'}, ${p.updatedAt}).`,
    );
    return undefined;
  }
  if (
    p.newMaster &&
    opts.newMaster &&
    opts.newMaster.host !== p.newMaster.hostname &&
    opts.newMaster.host !== p.newMaster.ip
  ) {
    throw new FailoverAbort(
      `An interrupted failover of ${serverName(dm)} already opened ${p.newMaster.name} as the new master; refusing to promote ${opts.newMaster.host} as well. Re-run without --new_master_host to finish it.`,
    );
  }
  return p;
}

function replicatesFromAddress(r: ServerState, m: { hostname: string; ip: string; port: number }): boolean {
  const rs = r.replica;
  return !!rs && (rs.masterHost === m.hostname || rs.masterHost === m.ip) && rs.masterPort === m.port;
}

/**
 * Wait until a replica's SQL thread has applied what it can of its relay logs, then stop it.
 * A relay log that ends inside a transaction (the I/O thread stopped, or the master died,
 * with a transaction on the wire) never lets exec reach read: the SQL thread waits for the
 * rest forever. So the wait ends as soon as the SQL thread says it has read all its relay
 * log; what it did not apply is recovered from the relay logs anyway (the exec→read piece).
 */
async function drainRelayLogs(s: ServerState, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastExec = '';
  let stillSince = Date.now();
  for (let i = 0; ; i++) {
    const st = await refreshReplica(s);
    if (!st) throw new Error('no longer a replica');
    if (!st.sqlRunning) {
      if (st.lastSqlErrno !== 0)
        throw new Error(`SQL thread stopped with error ${st.lastSqlErrno}: ${st.lastSqlError}`);
      break;
    }
    const { read, exec } = st.positions;
    if (read.file === exec.file && read.pos === exec.pos) break;
    const execNow = `${exec.file}:${exec.pos}`;
    if (execNow !== lastExec) {
      lastExec = execNow;
      stillSince = Date.now();
    }
    // Only the server's own "read all relay log" says the SQL thread has nothing left: a
    // big transaction being applied, or one blocked on a lock held on the replica, leaves
    // exec unchanged too, and stopping it then would wait for that transaction anyway.
    const idle = /read all relay log/i.test(st.sqlState);
    if (!st.ioRunning && idle && Date.now() - stillSince > 300) break;
    if (Date.now() > deadline || i > 100_000) break;
    await sleep(50);
  }
  await s.conn!.query(s.conn!.dialect.stopReplica);
  await refreshReplica(s);
}

async function recoverServer(
  opts: FailoverOptions,
  s: ServerState,
  latest: { state: ServerState; relay: RelayLogSet } | undefined,
  master: DeadMasterBinlogs | undefined,
  workdir: string,
  stamp: string,
  role: ServerOutcome['role'],
): Promise<ServerOutcome> {
  const { log } = opts;
  const t0 = Date.now();
  try {
    await drainRelayLogs(s, opts.relayApplyTimeoutMs ?? 60_000);
    const plan = await planRecovery({
      target: { positions: s.replica!.positions, relayLogs: await relayLogSetOf(opts, s) },
      latest: latest ? { positions: latest.state.replica!.positions, relayLogs: latest.relay } : undefined,
      master,
    });
    for (const n of plan.notes) log.info(`${s.name}: ${n}`);
    if (plan.pieces.length === 0) {
      log.info(`${s.name}: This host has the latest relay log events, nothing to apply.`);
      return { server: s.name, role, status: 'ok', message: 'This host has the latest relay log events.' };
    }
    // What the SQL thread applied while draining counts as executed too.
    if (s.gtid) await readMariadbGtids(s);
    const executed = executedGtids(s) ?? MariadbGtidList.EMPTY;
    const result: RecoveryResult = await applyRecoveryPlan(plan, addressOf(s.config), {
      workdir,
      settingsStore: opts.state?.settings,
      name: `relay_from_read_to_latest_${s.config.hostname}_${s.config.port}_${stamp}`,
      executed: { mariadb: executed },
      apply: { sqlLogBin: s.config.disableLogBin ? false : undefined, log: (l) => log.debug(`${s.name}: ${l}`) },
    });
    if (result.concat.incompleteTail) {
      log.warning(
        `${s.name}: the last transaction (${result.concat.incompleteTail.gtid ?? `at ${result.concat.incompleteTail.file}:${result.concat.incompleteTail.offset}`}) was never completed on the master; it was not applied.`,
      );
    }
    log.info(
      `${s.name}: Applying ${result.concat.transactions} transaction(s) (${result.concat.bytes} bytes) succeeded.`,
    );
    return {
      server: s.name,
      role,
      status: 'ok',
      message: 'OK: Applying all logs succeeded.',
      diff: {
        pieces: plan.pieces.map((p) => p.kind),
        transactions: result.concat.transactions,
        skippedGtids: result.concat.skipped.length,
        bytes: result.concat.bytes,
        applyMs: Date.now() - t0,
      },
    };
  } catch (err) {
    log.error(`${s.name}: Applying diffs failed: ${(err as Error).message}`);
    return { server: s.name, role, status: 'failed', message: `ERROR: ${(err as Error).message}` };
  }
}

/**
 * MySQL GTID recovery of the new master (MHA's recover_master_gtid_internal, with every wait
 * bounded): the latest slave applies what it received; a new master that is not the latest
 * replicates from it by auto-position until it has executed everything the latest has; then
 * the dead master's saved binlog tail, if any, is applied with the GTIDs it already executed
 * skipped.
 */
async function recoverByGtidReplication(
  opts: FailoverOptions,
  newMaster: ServerState,
  latest: ServerState,
  master: DeadMasterBinlogs | undefined,
  workdir: string,
  stamp: string,
  timeoutSec: number,
): Promise<ServerOutcome> {
  const { log } = opts;
  const t0 = Date.now();
  try {
    // The latest slave's I/O thread is stopped: what it retrieved is all it will ever have.
    await waitGtidsExecuted(latest, latest.replica!.retrievedGtidSet, timeoutSec);
    await latest.conn!.query(latest.conn!.dialect.stopReplica);
    await readMysqlGtids(latest);
    if (newMaster !== latest) {
      if (!latest.logBin || latest.logSlaveUpdates === false)
        throw new Error(
          `the latest slave ${latest.name} does not write what it replicates to its binlog (log_bin / log_slave_updates off), so ${newMaster.name} cannot catch up from it; promote ${latest.name} instead (--new_master_host).`,
        );
      const c = newMaster.conn!;
      log.info(
        `Waiting until ${newMaster.name} has executed ${latest.mysqlGtid!.executed} by replicating from the latest slave ${latest.name}..`,
      );
      await changeMasterAndStart(newMaster, {
        host: latest.config.ip ?? latest.config.hostname,
        port: latest.config.port,
        user: latest.config.replUser ?? newMaster.config.replUser ?? 'repl',
        password: latest.config.replPassword?.reveal() ?? newMaster.config.replPassword?.reveal() ?? '',
        gtid: 'auto',
      });
      await waitGtidsExecuted(newMaster, latest.mysqlGtid!.executed, timeoutSec);
      await c.query(c.dialect.stopReplica);
    } else {
      await newMaster.conn!.query(newMaster.conn!.dialect.stopReplica);
    }
    await readMysqlGtids(newMaster);
    let applied: ServerOutcome['diff'];
    if (master) {
      const result = await applyRecoveryPlan(
        {
          pieces: [
            {
              kind: 'master-tail',
              events: binlogTail({ access: master.access, dir: master.dir, files: master.files, startPos: 4 }),
            },
          ],
          notes: [],
        },
        addressOf(newMaster.config),
        {
          workdir,
          settingsStore: opts.state?.settings,
          name: `saved_master_binlog_apply_${newMaster.config.hostname}_${newMaster.config.port}_${stamp}`,
          executed: { mysql: MysqlGtidSet.parse(newMaster.mysqlGtid!.executed) },
          apply: { log: (l) => log.debug(`${newMaster.name}: ${l}`) },
        },
      );
      applied = {
        pieces: ['master-tail'],
        transactions: result.concat.transactions,
        skippedGtids: result.concat.skipped.length,
        bytes: result.concat.bytes,
        applyMs: Date.now() - t0,
      };
      log.info(`${newMaster.name}: Applied ${result.concat.transactions} transaction(s) of the dead master's binlog.`);
    }
    return {
      server: newMaster.name,
      role: 'new master',
      status: 'ok',
      message: 'OK: Applying all logs succeeded.',
      diff: applied,
    };
  } catch (err) {
    log.error(`${newMaster.name}: GTID recovery failed: ${(err as Error).message}`);
    return {
      server: newMaster.name,
      role: 'new master',
      status: 'failed',
      message: `ERROR: ${(err as Error).message}`,
    };
  }
}

function writeFailoverReport(log: ManagerLog, report: FailoverReport): string {
  const subject = `${report.app}: MySQL Master failover ${report.deadMaster}${report.newMaster ? ` to ${report.newMaster}` : ''} ${report.status === 'failed' ? 'failed' : 'succeeded'}`;
  log.raw(`\n----- Failover Report -----\n\n${subject}\n\n${report.lines.join('\n')}\n`);
  const total = report.phases.reduce((a, p) => a + p.ms, 0);
  log.info(
    `Failover phases: ${report.phases.map((p) => `${p.phase.replace(/^Phase /, '')} ${p.ms} ms`).join('; ')}; total ${total} ms.`,
  );
  return subject;
}
