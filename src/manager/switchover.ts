/**
 * Planned (online) master switch — MHA's `masterha_master_switch --master_state=alive`
 * (MHA::MasterRotate), with the write-block window kept short and measured, every wait
 * bounded, and a rollback for any failure before the new master opens.
 *
 * Phase 1 (nothing changes): every server alive; one current master, every other server
 * replicating from it; no MHA monitor or failover running (advisory locks, held until the
 * end); replication running and no further behind than the limit; no long update on the
 * master and no long query on the new master; the new master eligible (log-bin, not
 * no_master; GTID: log_slave_updates, no errant transactions). `--check_only` stops here.
 *
 * Phase 2 (the write-block window): master_ip_online_change_script --command=stop;
 * read_only=1 on the orig master (super_read_only on MySQL ≥ 5.7.8); then, by
 * `writeBlock`:
 *  - `ftwrl` (default, MHA's way): FLUSH TABLES WITH READ LOCK, held until every replica is
 *    switched. Stops users that read_only does not stop (SUPER / READ ONLY ADMIN) — they wait
 *    instead of failing — and waits itself for statements already running (bounded by
 *    lock_wait_timeout). Sessions still waiting on it when the new master is open, and
 *    sessions with uncommitted changes, are killed before UNLOCK TABLES: their writes would
 *    otherwise land on the old master after the switch.
 *  - `kill`: no global lock; every client session on the orig master is killed instead
 *    (uncommitted work rolls back, clients reconnect). Nothing stalls behind a long
 *    statement, but a privileged client that reconnects at once can still write; the
 *    binlog position is re-checked before the new master opens (and it catches up again if
 *    it moved).
 *  - `read_only` (`--skip_lock_all_tables`): read_only alone; privileged writers are only
 *    detected (position re-check), not stopped.
 * Then the orig master's binlog position (and GTIDs) is read, the new master waits until it
 * executed exactly that (MASTER_GTID_WAIT / MASTER_POS_WAIT with a timeout), stops
 * replicating, master_ip_online_change_script --command=start, read_only=0: writes go on.
 *
 * After that the other replicas are repointed in parallel (GTID: MASTER_USE_GTID /
 * auto-position, never file/position), the orig master is unlocked and, with
 * `--orig_master_is_new_slave`, replicates from the new master; Phase 5 resets the new
 * master's replica settings. Any failure before read_only=0 on the new master rolls back:
 * its replication restarts, the orig master is unlocked and writable again, and the stop
 * script is undone with --command=start for the orig master.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FAILOVER_LOCK } from '../engine/relay-purge.js';
import {
  type ChangeSourceSpec,
  changeSourceStatement,
  mhaChangeSourceDisplay,
  readOnlyStatements,
  type WaitOutcome,
  waitForGtids,
  waitForPosition,
} from '../mysql/replication-sql.js';
import { ServerConnection } from '../mysql/server-connection.js';
import type { Config } from './config/index.js';
import { type Fence, noFence } from './failover-state.js';
import {
  type ErrantFinding,
  type ErrantPolicy,
  findErrantTransactions,
  type GtidReplication,
  gtidReplicationOf,
  mariadbUseGtid,
  replicatesByGtid,
} from './gtid.js';
import { runHook } from './hooks.js';
import type { ManagerLog } from './log.js';
import { MONITOR_LOCK } from './monitor.js';
import {
  addressOf,
  changeMasterAndStart,
  closeAll,
  compareMasterPositions,
  executedGtids,
  inspectServer,
  readMariadbGtids,
  refreshReplica,
  replicatesFrom,
  type ServerState,
} from './topology.js';

export type WriteBlockMode = 'ftwrl' | 'kill' | 'read_only';

export interface SwitchoverOptions {
  config: Config;
  log: ManagerLog;
  /** Promote this replica; default: chosen like MHA (candidate_master first, config order). */
  newMaster?: { host: string; port?: number };
  origMasterIsNewSlave?: boolean;
  checkOnly?: boolean;
  /** Refuse when an update on the orig master has run longer than this, and (unless secondsBehindMaster) when a replica lags more. MHA default 1. */
  runningUpdatesLimitSec?: number;
  /** Refuse when a query on the new master has run this long. MHA default 10. */
  runningSecondsLimitSec?: number;
  /** Replication delay limit; default: runningUpdatesLimitSec (MHA's check). */
  secondsBehindMaster?: number;
  /** FLUSH NO_WRITE_TO_BINLOG TABLES on the orig master before the window (default on). */
  flushTables?: boolean;
  writeBlock?: WriteBlockMode;
  /** Bound on the new master's catch-up inside the window; default 10 s. */
  catchUpTimeoutSec?: number;
  /** lock_wait_timeout for read_only / FLUSH TABLES WITH READ LOCK on the orig master; default 3 s. */
  lockWaitTimeoutSec?: number;
  /**
   * Before blocking writes, wait (at most this long) until the new master keeps up: it
   * reaches a freshly read master position within `preSyncTargetMs`. The catch-up inside
   * the window is then only what was committed in the last moments. Default 10 s; 0: off.
   */
  preSyncTimeoutSec?: number;
  preSyncTargetMs?: number;
  /** Bound on each other replica's catch-up and restart; default 60 s. */
  replicaTimeoutSec?: number;
  errantTransactions?: ErrantPolicy;
  /** Where the JSON report goes; default `<manager_workdir>/<app>.switch.report.json`, null: none. */
  reportFile?: string | null;
  /** Asked before the switch changes a server (manager HA: the leadership's fencing check). */
  fence?: Fence;
}

export interface SwitchStep {
  step: string;
  ms: number;
}

export interface SwitchoverReport {
  app: string;
  origMaster?: string;
  newMaster?: string;
  status: 'succeeded' | 'partially failed' | 'failed' | 'checked';
  exitCode: 0 | 10 | 1;
  checkOnly: boolean;
  startedAt: string;
  finishedAt: string;
  gtidMode?: GtidReplication;
  writeBlockMode: WriteBlockMode;
  /** Writes on the orig master blocked → writes on the new master allowed (this process's clock). */
  writeBlock?: {
    startedAt: string;
    endedAt?: string;
    ms?: number;
    /** epoch ms with sub-ms precision, for callers that compare with their own clocks. */
    startEpochMs: number;
    endEpochMs?: number;
    steps: SwitchStep[];
  };
  origMasterPosition?: { file: string; pos: number; gtid?: string };
  newMasterPosition?: { file: string; pos: number; gtid?: string };
  changeMasterStatement?: string;
  killedConnections: number;
  /** GTIDs that reached the orig master after it was blocked (should be none). */
  leakedToOrigMaster?: string;
  errantTransactions?: ErrantFinding[];
  servers: Array<{
    server: string;
    role: 'new master' | 'replica' | 'orig master';
    status: 'ok' | 'failed';
    message: string;
  }>;
  rolledBack?: { steps: string[]; complete: boolean };
  phases: SwitchStep[];
  error?: string;
  lines: string[];
}

export class SwitchAbort extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

interface ProcessRow {
  Id: unknown;
  User: unknown;
  Command: unknown;
  Time: unknown;
  State: unknown;
  Info: unknown;
}

const REPLICATION_COMMANDS = /^(binlog dump|binlog dump gtid|daemon|slave_|connect$|register slave)/i;
const SYSTEM_USERS = new Set(['system user', 'event_scheduler']);

/** MHA's get_running_update_threads: non-SELECT/SHOW statements running at least `minSec`. */
async function longUpdates(s: ServerState, minSec: number): Promise<ProcessRow[]> {
  const rows = await s.conn!.query<ProcessRow & Record<string, unknown>>('SHOW FULL PROCESSLIST');
  return rows.filter(
    (r) =>
      Number(r.Id) !== s.conn!.connectionId &&
      !SYSTEM_USERS.has(String(r.User)) &&
      !REPLICATION_COMMANDS.test(String(r.Command)) &&
      !/^(sleep|connect)$/i.test(String(r.Command)) &&
      r.Info !== null &&
      !/^\s*(select|show)\b/i.test(String(r.Info)) &&
      Number(r.Time) >= minSec,
  );
}

/** MHA's get_running_threads: any statement running at least `minSec`. */
async function longQueries(s: ServerState, minSec: number): Promise<ProcessRow[]> {
  const rows = await s.conn!.query<ProcessRow & Record<string, unknown>>('SHOW FULL PROCESSLIST');
  return rows.filter(
    (r) =>
      Number(r.Id) !== s.conn!.connectionId &&
      !SYSTEM_USERS.has(String(r.User)) &&
      !REPLICATION_COMMANDS.test(String(r.Command)) &&
      !/^(sleep|connect|killed)$/i.test(String(r.Command)) &&
      Number(r.Time) >= minSec,
  );
}

const threadLine = (r: ProcessRow) =>
  `{'Id' => ${r.Id}, 'User' => '${r.User}', 'Command' => '${r.Command}', 'Time' => ${r.Time}, 'State' => '${r.State ?? ''}', 'Info' => '${String(r.Info ?? '').slice(0, 200)}'}`;

/**
 * Kill client sessions on the orig master: `all` (every client but us and the replication
 * threads) or `writers` (sessions waiting on the read lock, and sessions holding
 * uncommitted changes). Returns how many were killed.
 */
async function killSessions(conn: ServerConnection, which: 'all' | 'writers'): Promise<number> {
  const rows = await conn.query<ProcessRow & Record<string, unknown>>('SHOW FULL PROCESSLIST');
  let ids = rows
    .filter(
      (r) =>
        Number(r.Id) !== conn.connectionId &&
        !SYSTEM_USERS.has(String(r.User)) &&
        !REPLICATION_COMMANDS.test(String(r.Command)) &&
        !/^killed$/i.test(String(r.Command)),
    )
    .map((r) => ({ id: Number(r.Id), state: String(r.State ?? '') }));
  if (which === 'writers') {
    const trx = await conn
      .query<{ t: unknown }>(
        'SELECT trx_mysql_thread_id AS t FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0 OR trx_rows_locked > 0',
      )
      .catch(() => [] as { t: unknown }[]);
    const withChanges = new Set(trx.map((t) => Number(t.t)));
    ids = ids.filter((r) => /waiting for (backup|global read|commit) lock/i.test(r.state) || withChanges.has(r.id));
  }
  let killed = 0;
  await Promise.all(
    ids.map(async ({ id }) => {
      try {
        await conn.query(`KILL ${id}`);
        killed++;
      } catch {
        // already gone
      }
    }),
  );
  return killed;
}

interface MasterPosition {
  file: string;
  pos: number;
  gtid?: string;
}

async function readMasterPosition(s: ServerState, gtidKind: string): Promise<MasterPosition> {
  const c = s.conn!;
  const ms = await c.one(c.dialect.showBinaryLogStatus);
  if (!ms) throw new SwitchAbort(`${s.name}: binary logging is off (SHOW MASTER STATUS is empty).`);
  const pos: MasterPosition = { file: String(ms.File), pos: Number(ms.Position) };
  if (gtidKind === 'mariadb') {
    const g = await c.one<{ g: unknown }>('SELECT @@global.gtid_binlog_pos AS g');
    pos.gtid = String(g?.g ?? '');
  } else if (gtidKind === 'mysql') {
    pos.gtid = String(ms.Executed_Gtid_Set ?? '').replace(/\s+/g, '');
  }
  return pos;
}

const samePosition = (a: MasterPosition, b: MasterPosition) =>
  a.file === b.file && a.pos === b.pos && (a.gtid ?? '') === (b.gtid ?? '');

/**
 * Wait until the new master keeps up with the orig master while writes still go on: read
 * the orig master's position, wait until the new master executed it, and repeat until
 * that took no longer than the target (or the bound is reached — then the switch simply
 * starts with a longer catch-up, still bounded by the catch-up timeout).
 */
async function preSync(
  om: ServerState,
  nm: ServerState,
  gtidMode: GtidReplication,
  gtidKind: string,
  opts: SwitchoverOptions,
  log: ManagerLog,
): Promise<void> {
  const bound = (opts.preSyncTimeoutSec ?? 10) * 1000;
  if (bound <= 0) return;
  const targetMs = opts.preSyncTargetMs ?? 20;
  const start = now();
  let last = Number.NaN;
  for (let i = 0; now() - start < bound; i++) {
    const pos = await readMasterPosition(om, gtidKind);
    const t = now();
    const left = Math.max(0.5, (bound - (t - start)) / 1000);
    const outcome =
      gtidMode !== 'none' && pos.gtid
        ? await waitForGtids(nm.conn!, pos.gtid, left)
        : await waitForPosition(nm.conn!, pos, left);
    const previous = last;
    last = now() - t;
    if (outcome !== 'reached') break;
    if (last <= targetMs) {
      log.info(
        `${nm.name} keeps up with the orig master (caught up with its position in ${r1(last)} ms, ${i + 1} round(s)).`,
      );
      return;
    }
    // Not getting closer: it applies more slowly than the master commits, and waiting only
    // lets the backlog grow. Block now; the catch-up inside the window is still bounded.
    if (i > 0 && last >= previous * 0.8) break;
  }
  log.warning(
    `${nm.name} does not keep up with the orig master (last catch-up took ${r1(last)} ms, target ${targetMs} ms): it applies more slowly than the master commits, so writes stay blocked until it has applied its backlog (at most --catchup_timeout).`,
  );
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** Online master switch. Never throws: the outcome, timings and any rollback are in the report. */
export async function runOnlineSwitch(opts: SwitchoverOptions): Promise<SwitchoverReport> {
  const { config, log } = opts;
  const app = config.app.name;
  const writeBlockMode = opts.writeBlock ?? 'ftwrl';
  const report: SwitchoverReport = {
    app,
    status: 'failed',
    exitCode: 1,
    checkOnly: opts.checkOnly ?? false,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    writeBlockMode,
    killedConnections: 0,
    servers: [],
    phases: [],
    lines: [],
  };
  for (const s of config.servers) {
    log.addSecret(s.password.reveal());
    log.addSecret(s.replPassword?.reveal());
  }
  const updatesLimit = opts.runningUpdatesLimitSec ?? 1;
  const lagLimit = opts.secondsBehindMaster ?? updatesLimit;
  const catchUpSec = opts.catchUpTimeoutSec ?? 10;
  const lockWaitSec = opts.lockWaitTimeoutSec ?? 3;
  const replicaSec = opts.replicaTimeoutSec ?? 60;

  let servers: ServerState[] = [];
  let orig: ServerState | undefined;
  let newMaster: ServerState | undefined;
  // What has been done, for the rollback.
  let stopScriptRan = false;
  let origBlocked = false;
  let origReadOnlyBefore = false;
  let ftwrlHeld = false;
  let newMasterStopped = false;
  let newMasterOpened = false;
  let phaseStart = Date.now();
  let phaseName = '';
  const phase = (name: string, banner = true) => {
    if (phaseName) report.phases.push({ step: phaseName, ms: Date.now() - phaseStart });
    phaseName = name;
    phaseStart = Date.now();
    if (name && banner) log.info(`* ${name}..`);
  };
  const hookArgs = (o: ServerState, n: ServerState) => ({
    orig_master_host: o.config.hostname,
    orig_master_ip: o.config.ip ?? o.config.hostname,
    orig_master_port: o.config.port,
    orig_master_user: o.config.user,
    new_master_host: n.config.hostname,
    new_master_ip: n.config.ip ?? n.config.hostname,
    new_master_port: n.config.port,
    new_master_user: n.config.user,
    orig_master_ssh_user: o.config.ssh.user,
    new_master_ssh_user: n.config.ssh.user,
    orig_master_is_new_slave: opts.origMasterIsNewSlave ?? false,
    orig_master_password: 'xxx',
    new_master_password: 'xxx',
  });
  const hookEnv = (o: ServerState, n: ServerState) => ({
    MHA_ORIG_MASTER_PASSWORD: o.config.password.reveal(),
    MHA_NEW_MASTER_PASSWORD: n.config.password.reveal(),
  });

  try {
    log.info('MHA::MasterRotate version 0.58 (mha-ts).');
    log.info('Starting online master switch..');
    phase('Phase 1: Configuration Check Phase');
    servers = await Promise.all(config.servers.map((s) => inspectServer(s)));
    const dead = servers.filter((s) => !s.alive);
    if (dead.length > 0) {
      throw new SwitchAbort(
        `Switching master should not be started if one or more servers is down. Dead Servers: ${dead.map((d) => `${d.name}${d.error ? ` (${d.error})` : ''}`).join(', ')}`,
      );
    }
    // The current master: the one server that replicates from no configured server.
    const tops = servers.filter((s) => !servers.some((o) => o !== s && replicatesFrom(s, o.config)));
    if (tops.length !== 1) {
      throw new SwitchAbort(
        `Failed to get current master. Maybe replication is misconfigured or configuration file is broken? (candidates: ${tops.map((t) => t.name).join(', ') || 'none'})`,
      );
    }
    orig = tops[0];
    const om = orig;
    const replicas = servers.filter((s) => s !== om);
    for (const r of replicas) {
      if (!replicatesFrom(r, om.config)) {
        throw new SwitchAbort(
          `Slave ${r.name} replicates from ${r.replica?.masterHost}:${r.replica?.masterPort}, not from the current master ${om.name} (multi-tier switch is not supported).`,
        );
      }
    }
    report.origMaster = om.name;
    origReadOnlyBefore = om.readOnly ?? false;
    log.info(`Current Alive Master: ${om.name}`);
    log.info('Alive Slaves:');
    for (const r of replicas) {
      log.info(`  ${r.name}  Version=${r.version} log-bin:${r.logBin ? 'enabled' : 'disabled'}`);
      log.info(`    Replicating from ${r.replica!.masterHost}(${r.replica!.masterHost}:${r.replica!.masterPort})`);
      if (r.config.candidateMaster) log.info('    Primary candidate for the new Master (candidate_master is set)');
      if (r.config.noMaster) log.info('    Not candidate for the new Master (no_master is set)');
      if (replicatesByGtid(r)) log.info('    GTID ON');
    }
    log.info('Checking MHA is not monitoring or doing failover..');
    const ml = await om.conn!.one<{ l: unknown }>('SELECT GET_LOCK(?, 0) AS l', [MONITOR_LOCK]);
    if (Number(ml?.l) !== 1) {
      throw new SwitchAbort(
        'Getting advisory lock failed on the current master. MHA Monitor runs on the current master. Stop MHA Manager/Monitor and try again.',
      );
    }
    for (const r of replicas) {
      const fl = await r.conn!.one<{ l: unknown }>('SELECT GET_LOCK(?, 0) AS l', [FAILOVER_LOCK]);
      if (Number(fl?.l) !== 1) {
        throw new SwitchAbort(
          `Getting advisory lock failed on ${r.config.hostname}. Maybe failover script or purge_relay_logs script is running on the same slave?`,
        );
      }
    }
    for (const r of replicas) {
      const st = r.replica!;
      if (!st.ioRunning) throw new SwitchAbort(`Slave IO thread is not running on ${r.name} (${st.ioState}).`);
      if (!st.sqlRunning)
        throw new SwitchAbort(
          `Slave SQL thread is not running on ${r.name}${st.lastSqlError ? `: ${st.lastSqlError}` : ''}.`,
        );
      if (st.secondsBehindMaster === null || st.secondsBehindMaster > lagLimit) {
        throw new SwitchAbort(
          `Replication delay on ${r.name} is ${st.secondsBehindMaster ?? 'unknown'} sec, more than ${lagLimit} sec. Switching master is refused; wait until it has caught up.`,
        );
      }
      log.info(`Checking replication health on ${r.name}.. ok.`);
    }
    const updates = await longUpdates(om, updatesLimit + 1);
    if (updates.length > 0) {
      for (const t of updates.slice(0, 10)) log.info(threadLine(t));
      throw new SwitchAbort(
        `We should not start online master switch when one of connections are running long updates on the current master(${om.name}). Currently ${updates.length} update thread(s) are running.`,
      );
    }

    const { mode: gtidMode, fileBased } = gtidReplicationOf(replicas);
    report.gtidMode = gtidMode;
    if (gtidMode === 'none' && replicas.some(replicatesByGtid)) {
      log.warning(
        `Not every slave replicates by GTID (${fileBased.map((r) => r.name).join(', ')}): switching by file/position.`,
      );
    }
    log.info(`GTID switch mode = ${gtidMode === 'none' ? 0 : 1}${gtidMode === 'none' ? '' : ` (${gtidMode})`}`);
    const errant =
      gtidMode === 'none' ? [] : findErrantTransactions(replicas, [om], gtidMode, om.mysqlGtid?.uuid || undefined);
    report.errantTransactions = errant;
    for (const f of errant)
      log.warning(`Errant transactions on ${f.server}: ${f.gtids} (the current master never had them).`);

    // The new master.
    const policy = opts.errantTransactions ?? 'refuse';
    const why = (r: ServerState): string | undefined =>
      r.config.noMaster
        ? 'no_master is set'
        : !r.logBin
          ? 'log-bin is not set'
          : gtidMode !== 'none' && r.logSlaveUpdates === false
            ? 'log_slave_updates is off (GTID slaves could not find their position in its binlog)'
            : policy !== 'ignore' && errant.some((f) => f.server === r.name)
              ? 'it has errant transactions'
              : undefined;
    if (opts.newMaster) {
      const want = opts.newMaster;
      newMaster = replicas.find(
        (r) =>
          (r.config.hostname === want.host || r.config.ip === want.host) &&
          (want.port === undefined || r.config.port === want.port),
      );
      if (!newMaster) throw new SwitchAbort(`${want.host}:${want.port ?? 3306} is not an alive slave of ${om.name}.`);
    } else {
      newMaster =
        replicas.find((r) => r.config.candidateMaster && !why(r)) ?? replicas.find((r) => !why(r)) ?? replicas[0];
    }
    const nm = newMaster;
    report.newMaster = nm.name;
    log.raw(
      `From:\n${om.name} (current master)\n${replicas.map((r) => ` +--${r.name}`).join('\n')}\n\nTo:\n${nm.name} (new master)\n${[
        ...replicas.filter((r) => r !== nm),
        ...(opts.origMasterIsNewSlave ? [om] : []),
      ]
        .map((r) => ` +--${r.name}`)
        .join('\n')}`,
    );
    log.info(`Checking whether ${nm.name} is ok for the new master..`);
    const bad = why(nm);
    if (bad) {
      if (bad === 'it has errant transactions') {
        throw new SwitchAbort(
          `Server ${nm.name} has errant transactions (${errant.find((f) => f.server === nm.name)?.gtids}): the current master never had them. Switching is refused (--errant_transactions=${policy}); remove them or choose another new master.`,
        );
      }
      throw new SwitchAbort(`Server ${nm.name} is not correctly configured to be new master! (${bad})`);
    }
    log.info(' ok.');
    const busy = await longQueries(nm, opts.runningSecondsLimitSec ?? 10);
    if (busy.length > 0) {
      for (const t of busy.slice(0, 10)) log.info(threadLine(t));
      throw new SwitchAbort(
        `We should not start online master switch when one of connections are running long queries on the new master(${nm.name}). Currently ${busy.length} thread(s) are running.`,
      );
    }
    // Everything the window needs is prepared here, so the window only runs statements.
    const repl = nm.config.replUser ?? om.config.replUser ?? 'repl';
    const replPassword = nm.config.replPassword?.reveal() ?? om.config.replPassword?.reveal() ?? '';
    const useIp = replicas.some(
      (r) => om.config.ip && om.config.ip !== om.config.hostname && r.replica!.masterHost === om.config.ip,
    );
    const newMasterHost = useIp ? (nm.config.ip ?? nm.config.hostname) : nm.config.hostname;
    const gtidKind = om.conn!.dialect.gtidKind;
    // Closing tables now makes FLUSH TABLES WITH READ LOCK quick inside the window; after
    // the checks, so a long statement is reported rather than waited for.
    if (!opts.checkOnly && (opts.flushTables ?? true)) {
      log.info('Executing FLUSH NO_WRITE_TO_BINLOG TABLES. This may take long time..');
      await om.conn!.query('SET SESSION lock_wait_timeout=30');
      await om.conn!.query('FLUSH NO_WRITE_TO_BINLOG TABLES', [], 60_000);
      log.info(' ok.');
    } else if (!opts.checkOnly) {
      log.info('Skipping executing FLUSH NO_WRITE_TO_BINLOG TABLES.');
    }
    await om.conn!.query(`SET SESSION lock_wait_timeout=${Math.max(1, Math.round(lockWaitSec))}`);
    log.info('** Phase 1: Configuration Check Phase completed.');
    if (opts.checkOnly) {
      log.info('--check_only is set. Exit.');
      report.status = 'checked';
      report.exitCode = 0;
      return report;
    }

    // ---- Phase 2: reject updates on the orig master ------------------------------------
    phase('Phase 2: Rejecting updates Phase');
    // Checked once before the write-block window, not inside it: the window stays short and a
    // deposed manager never starts one.
    await (opts.fence ?? noFence)('Phase 2: block writes on the orig master and promote the new one');
    await preSync(om, nm, gtidMode, gtidKind, opts, log);
    if (!config.app.masterIpOnlineChangeScript) {
      log.warning('master_ip_online_change_script is not defined. Skipping disabling writes on the current master.');
    }
    const steps: SwitchStep[] = [];
    const t0 = now();
    let tStep = t0;
    const step = (name: string) => {
      const t = now();
      steps.push({ step: name, ms: Math.round((t - tStep) * 10) / 10 });
      tStep = t;
    };
    report.writeBlock = { startedAt: new Date(t0).toISOString(), startEpochMs: t0, steps };
    if (config.app.masterIpOnlineChangeScript) {
      log.info('Executing master ip online change script to disable write on the current master:');
      stopScriptRan = true;
      const r = await runHook(
        log,
        config.app.masterIpOnlineChangeScript,
        { command: 'stop', ...hookArgs(om, nm) },
        { env: hookEnv(om, nm), timeoutMs: 30_000 },
      );
      if (r.code === 10) log.warning('Proceeding.');
      else if (r.code !== 0)
        throw new SwitchAbort(`master_ip_online_change_script --command=stop failed with exit code ${r.code}.`);
      else log.info(' ok.');
      step('master_ip_online_change_script --command=stop');
    }
    for (const sql of readOnlyStatements(om.conn!.dialect, true)) await om.conn!.query(sql);
    origBlocked = true;
    step('read_only=1');
    if (writeBlockMode === 'ftwrl') {
      log.info('Locking all tables on the orig master to reject updates from everybody (including root):');
      log.info('Executing FLUSH TABLES WITH READ LOCK..');
      await om.conn!.query('FLUSH TABLES WITH READ LOCK', [], (lockWaitSec + 5) * 1000);
      ftwrlHeld = true;
      step('FLUSH TABLES WITH READ LOCK');
    } else if (writeBlockMode === 'kill') {
      report.killedConnections += await killSessions(om.conn!, 'all');
      step('kill client sessions');
      log.info(`Killed ${report.killedConnections} client session(s) on the orig master.`);
    } else {
      log.info('Skipping locking all tables.');
    }
    let target = await readMasterPosition(om, gtidKind);
    step('read orig master position');
    log.info(`Orig master binlog:pos is ${target.file}:${target.pos}.${target.gtid ? ` GTID: ${target.gtid}` : ''}`);

    // ---- switch: the new master catches up (bounded), stops replicating, opens ---------
    const deadline = now() + catchUpSec * 1000;
    log.info(` Waiting to execute all relay logs on ${nm.name}..`);
    for (let round = 0; ; round++) {
      const left = Math.max(0.1, (deadline - now()) / 1000);
      const outcome: WaitOutcome =
        gtidMode !== 'none' && target.gtid
          ? await waitForGtids(nm.conn!, target.gtid, Math.round(left * 1000) / 1000)
          : await waitForPosition(nm.conn!, target, Math.round(left * 1000) / 1000);
      if (outcome === 'timeout')
        throw new SwitchAbort(
          `${nm.name} did not catch up with the orig master (${target.file}:${target.pos}) within ${catchUpSec} s.`,
        );
      if (outcome === 'not-replicating')
        throw new SwitchAbort(
          `${nm.name}: waiting for ${target.file}:${target.pos} failed: replication is not running.`,
        );
      step(round === 0 ? 'new master caught up' : `new master caught up (round ${round + 1})`);
      await nm.conn!.query(nm.conn!.dialect.stopReplica);
      newMasterStopped = true;
      step('stop replication on the new master');
      if (writeBlockMode === 'ftwrl') break;
      // Without the global lock a privileged client may have written meanwhile.
      const again = await readMasterPosition(om, gtidKind);
      if (samePosition(again, target)) break;
      log.warning(
        `The orig master's binlog moved from ${target.file}:${target.pos} to ${again.file}:${again.pos} after writes were blocked (a client with SUPER / READ ONLY ADMIN?); catching up again.`,
      );
      if (now() > deadline || round > 50)
        throw new SwitchAbort('The orig master kept writing after it was blocked; switching is refused.');
      await nm.conn!.query(nm.conn!.dialect.startReplica);
      newMasterStopped = false;
      target = again;
    }
    report.origMasterPosition = target;
    // It must have executed exactly the orig master's position.
    const nmStatus = await refreshReplica(nm);
    if (gtidMode === 'none' && nmStatus) {
      const exec = nmStatus.positions.exec;
      if (compareMasterPositions(exec, target) < 0)
        throw new SwitchAbort(
          `${nm.name} executed up to ${exec.file}:${exec.pos}, not the orig master's ${target.file}:${target.pos}.`,
        );
    }
    const newPos = await readMasterPosition(nm, gtidKind);
    step('read new master position');
    report.newMasterPosition = newPos;
    const sourceSpec = (r: ServerState): ChangeSourceSpec => ({
      host: newMasterHost,
      port: nm.config.port,
      user: repl,
      password: replPassword,
      ...(gtidMode === 'none'
        ? { position: { file: newPos.file, pos: newPos.pos } }
        : { gtid: gtidMode === 'mysql' ? ('auto' as const) : mariadbUseGtid(r) }),
    });
    const d = nm.conn!.dialect;
    report.changeMasterStatement =
      gtidMode === 'none'
        ? mhaChangeSourceDisplay(d, {
            host: newMasterHost,
            port: nm.config.port,
            file: newPos.file,
            pos: newPos.pos,
            user: repl,
          })
        : changeSourceStatement(d, sourceSpec(nm)).display;
    if (config.app.masterIpOnlineChangeScript) {
      log.info('Executing master ip online change script to allow write on the new master:');
      const r = await runHook(
        log,
        config.app.masterIpOnlineChangeScript,
        { command: 'start', ...hookArgs(om, nm) },
        { env: hookEnv(om, nm), timeoutMs: 30_000 },
      );
      if (r.code === 10) log.warning('Proceeding.');
      else if (r.code !== 0)
        throw new SwitchAbort(`master_ip_online_change_script --command=start failed with exit code ${r.code}.`);
      else log.info(' ok.');
      step('master_ip_online_change_script --command=start');
    }
    for (const sql of readOnlyStatements(nm.conn!.dialect, false)) await nm.conn!.query(sql);
    newMasterOpened = true;
    step('read_only=0 on the new master');
    const t1 = now();
    report.writeBlock.endEpochMs = t1;
    report.writeBlock.endedAt = new Date(t1).toISOString();
    report.writeBlock.ms = Math.round((t1 - t0) * 10) / 10;
    log.info(`Setting read_only=0 on ${nm.name}..`);
    log.info(
      `Writes were blocked for ${report.writeBlock.ms} ms (${steps.map((s) => `${s.step} ${s.ms} ms`).join(', ')}).`,
    );
    log.info(
      ` All other slaves should start replication from here. Statement should be: ${report.changeMasterStatement}`,
    );
    report.servers.push({ server: nm.name, role: 'new master', status: 'ok', message: 'Writable.' });

    // ---- after the switch: nothing can be rolled back any more -------------------------
    phase('Switching slaves', false);
    await (opts.fence ?? noFence)('repoint the other replicas');
    if (writeBlockMode === 'ftwrl') {
      // Writers stuck on the read lock must not commit on the old master after UNLOCK.
      report.killedConnections += await killSessions(om.conn!, 'writers');
    }
    log.info('* Switching slaves in parallel..');
    const others = replicas.filter((r) => r !== nm);
    const results = await Promise.all(
      others.map(async (r) => {
        try {
          if (gtidMode === 'none') {
            // File/position: stop exactly at the orig master's last position first.
            const w = await waitForPosition(r.conn!, target, replicaSec);
            if (w !== 'reached') throw new Error(`MASTER_POS_WAIT(${target.file}:${target.pos}) ${w}`);
          }
          await changeMasterAndStart(r, sourceSpec(r), { timeoutMs: replicaSec * 1000 });
          log.info(`-- Slave switch on host ${r.name} succeeded.`);
          return {
            server: r.name,
            role: 'replica' as const,
            status: 'ok' as const,
            message: `Replicating from ${nm.name}.`,
          };
        } catch (err) {
          log.error(`-- Switching slave on host ${r.name} failed: ${(err as Error).message}`);
          return {
            server: r.name,
            role: 'replica' as const,
            status: 'failed' as const,
            message: (err as Error).message,
          };
        }
      }),
    );
    report.servers.push(...results);
    let failed = results.filter((r) => r.status !== 'ok').length;
    if (writeBlockMode === 'ftwrl') {
      // Once unlocked, a client with SUPER / READ ONLY ADMIN could write here again: every
      // client session still connected to the old master goes first.
      report.killedConnections += await killSessions(om.conn!, 'all');
      log.info('Unlocking all tables on the orig master:');
      await om.conn!.query('UNLOCK TABLES');
      ftwrlHeld = false;
    } else if (writeBlockMode === 'kill') {
      report.killedConnections += await killSessions(om.conn!, 'all');
    }
    // Did anything reach the orig master after it was blocked?
    const after = await readMasterPosition(om, gtidKind);
    if (!samePosition(after, target)) {
      report.leakedToOrigMaster = `${target.file}:${target.pos} -> ${after.file}:${after.pos}${after.gtid ? ` (GTID ${target.gtid} -> ${after.gtid})` : ''}`;
      log.error(
        `The orig master ${om.name} accepted writes after the switch point: ${report.leakedToOrigMaster}. They are not on the new master; a client with SUPER / READ ONLY ADMIN kept writing there. Check them before using ${om.name} again.`,
      );
      failed++;
    }
    if (opts.origMasterIsNewSlave) {
      log.info('Starting orig master as a new slave..');
      try {
        if (gtidMode === 'mariadb') {
          // Its own writes are in its binlog, not in gtid_slave_pos: start from everything it has.
          await readMariadbGtids(om);
          await om.conn!.query('SET GLOBAL gtid_slave_pos = ?', [executedGtids(om)!.toString()]);
        }
        const spec = sourceSpec(om);
        if (gtidMode === 'mariadb') spec.gtid = 'slave_pos';
        await changeMasterAndStart(om, spec, { timeoutMs: replicaSec * 1000 });
        report.servers.push({
          server: om.name,
          role: 'orig master',
          status: 'ok',
          message: `Replicating from ${nm.name}.`,
        });
        log.info(' ok.');
      } catch (err) {
        failed++;
        log.error(` Failed! ${(err as Error).message}`);
        report.servers.push({
          server: om.name,
          role: 'orig master',
          status: 'failed',
          message: (err as Error).message,
        });
      }
    }
    if (failed === 0) log.info('All new slave servers switched successfully.');
    phase('Phase 5: New master cleanup phase');
    if (nm.config.skipResetSlave) {
      log.info('Skipping RESET SLAVE on the new master.');
    } else {
      await nm.conn!.query(nm.conn!.dialect.resetReplicaAll);
      log.info(` ${nm.name}: Resetting slave info succeeded.`);
    }
    phase('');
    report.exitCode = failed === 0 ? 0 : 10;
    report.status = failed === 0 ? 'succeeded' : 'partially failed';
    const final =
      failed === 0
        ? `Switching master to ${nm.name} completed successfully.`
        : `Switching master to ${nm.name} done, but switching slaves partially failed.`;
    if (failed === 0) log.info(final);
    else log.error(final);
    report.lines.push(final);
  } catch (err) {
    const stoppedIn = phaseName;
    phase('');
    const msg = (err as Error).message;
    log.error(`Got ERROR: ${msg}`);
    report.error = msg;
    report.lines.push(msg);
    if (stoppedIn) report.lines.push(`Stopped in ${stoppedIn}.`);
    if (orig && newMaster && !newMasterOpened && (stopScriptRan || origBlocked || newMasterStopped)) {
      report.rolledBack = await rollback(opts, orig, newMaster, {
        stopScriptRan,
        origBlocked,
        origReadOnlyBefore,
        ftwrlHeld,
        newMasterStopped,
        hookArgs,
        hookEnv,
      });
    } else if (newMasterOpened) {
      log.error(
        `The new master ${newMaster?.name} is already writable; the switch cannot be rolled back. Finish it by hand (see above).`,
      );
    }
    report.exitCode = 1;
    report.status = 'failed';
  } finally {
    for (const s of servers) {
      await s.conn?.query('SELECT RELEASE_LOCK(?), RELEASE_LOCK(?)', [FAILOVER_LOCK, MONITOR_LOCK]).catch(() => {});
    }
    await closeAll(servers);
    report.finishedAt = new Date().toISOString();
    const file =
      opts.reportFile === undefined ? join(config.app.managerWorkdir, `${app}.switch.report.json`) : opts.reportFile;
    if (file) {
      await fsp
        .mkdir(config.app.managerWorkdir, { recursive: true, mode: 0o700 })
        .then(() => fsp.writeFile(file, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 }))
        .catch(() => {});
    }
  }
  return report;
}

/**
 * Undo a switch that stopped before the new master opened: restart the new master's
 * replication (it still points at the orig master and is still read_only), unlock the orig
 * master and make it writable again, undo the stop script. Nothing was written anywhere
 * else, so nothing is lost.
 */
async function rollback(
  opts: SwitchoverOptions,
  orig: ServerState,
  nm: ServerState,
  done: {
    stopScriptRan: boolean;
    origBlocked: boolean;
    origReadOnlyBefore: boolean;
    ftwrlHeld: boolean;
    newMasterStopped: boolean;
    hookArgs: (o: ServerState, n: ServerState) => Record<string, string | number | boolean>;
    hookEnv: (o: ServerState, n: ServerState) => Record<string, string>;
  },
): Promise<{ steps: string[]; complete: boolean }> {
  const { log, config } = opts;
  const steps: string[] = [];
  let complete = true;
  log.info('Rolling back: the new master was never opened, so the orig master takes writes again.');
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      steps.push(what);
      log.info(`  ${what}: ok.`);
    } catch (err) {
      complete = false;
      steps.push(`${what}: FAILED (${(err as Error).message})`);
      log.error(`  ${what} failed: ${(err as Error).message}`);
    }
  };
  // A broken session (the error may have been a lost connection) gets a fresh one.
  const fresh = async (s: ServerState): Promise<ServerConnection> => {
    try {
      await s.conn!.query('SELECT 1', [], 3000);
      return s.conn!;
    } catch {
      const c = await ServerConnection.open(addressOf(s.config), { connectTimeoutMs: 3000 });
      s.conn = c;
      return c;
    }
  };
  if (done.newMasterStopped) {
    await attempt(`restart replication on ${nm.name}`, async () => {
      const c = await fresh(nm);
      await c.query(c.dialect.startReplica);
    });
  }
  if (done.ftwrlHeld) {
    await attempt(`UNLOCK TABLES on ${orig.name}`, async () => {
      // UNLOCK only works in the session that locked; if that session is gone, so is the lock.
      await orig.conn!.query('UNLOCK TABLES', [], 5000);
    });
  }
  if (done.origBlocked && !done.origReadOnlyBefore) {
    await attempt(`read_only=0 on ${orig.name}`, async () => {
      const c = await fresh(orig);
      for (const sql of readOnlyStatements(c.dialect, false)) await c.query(sql);
    });
  }
  if (done.stopScriptRan && config.app.masterIpOnlineChangeScript) {
    await attempt('master_ip_online_change_script --command=start for the orig master', async () => {
      const r = await runHook(
        log,
        config.app.masterIpOnlineChangeScript!,
        { command: 'start', ...done.hookArgs(nm, orig), orig_master_is_new_slave: false },
        { env: done.hookEnv(nm, orig), timeoutMs: 30_000 },
      );
      if (r.code !== 0 && r.code !== 10) throw new Error(`exit code ${r.code}`);
    });
  }
  if (complete) log.info(`Rolled back: ${orig.name} is the master and writable again; nothing was switched.`);
  else log.error(`Rollback incomplete (${steps.filter((s) => s.includes('FAILED')).join('; ')}). Check ${orig.name}.`);
  return { steps, complete };
}

// for tests and benchmarks
export const __test = { killSessions, longUpdates, longQueries, sleep };
