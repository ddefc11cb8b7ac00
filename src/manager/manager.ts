import { existsSync, promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { FileSettingsRecordStore, fileSettingsStore, restorePendingSettings } from '../engine/apply-settings.js';
import { HostAccessPool } from '../remote/hosts.js';
import { type Config, deleteBlock, loadConfig, type ServerConfig } from './config/index.js';
import { type FailoverReport, runDeadMasterFailover } from './failover.js';
import type { FailoverState, Fence } from './failover-state.js';
import { fileFailoverState } from './failover-state.js';
import { ManagerLog } from './log.js';
import { type MasterDeath, MonitorError, monitorMaster } from './monitor.js';
import { OldMasterFences } from './old-master-fence.js';
import { StatusFile, type StatusName } from './status-file.js';
import { closeAll, inspectServer, replicatesFrom, type ServerState, serverName } from './topology.js';

export interface ManagerOptions {
  confFile: string;
  globalConf?: string | null;
  ignoreLastFailover?: boolean;
  lastFailoverMinute?: number;
  removeDeadMasterConf?: boolean;
  /** MHA's behaviour: stop after one failover (default: keep monitoring the new master). */
  exitAfterFailover?: boolean;
  skipSaveMasterBinlog?: boolean;
  signal?: AbortSignal;
  /** Lines of the manager log are also given here (the demo prints them). */
  echo?: (line: string) => void;
  /** Called after every failover with its report. */
  onFailover?: (report: FailoverReport) => void;
  /** Guard, progress and reports (default: files in the workdir; etcd with manager HA). */
  state?: FailoverState;
  /** Asked before every change to a server (manager HA: the leadership's fencing check). */
  fence?: Fence;
  /** The daemon's live view: every monitor state written to the status file. */
  onStatus?: (status: StatusName, masterHost: string) => void;
  /** Every ping of the master: outcome and duration. */
  onPing?: (ok: boolean, latencyMs: number) => void;
  /** The master found at the start of each monitoring round, and what discovery saw. */
  onMasterFound?: (master: ServerConfig, states: ServerState[]) => void;
}

export function hostAccessConfig(s: ServerConfig) {
  return {
    host: s.ssh.host,
    ip: s.ssh.ip,
    port: s.ssh.port,
    user: s.ssh.user,
    connectionTimeoutSec: s.ssh.connectionTimeoutSec,
    options: s.ssh.options,
  };
}

/** The master of the configured servers: the one the replicas replicate from. */
export function findMaster(config: Config, states: ServerState[]): ServerConfig {
  const aliveMasters = states.filter((s) => s.alive && !s.replica);
  const pointed = config.servers.filter((c) => states.some((s) => s.alive && replicatesFrom(s, c)));
  const candidates = pointed.length > 0 ? pointed : aliveMasters.map((s) => s.config);
  if (candidates.length !== 1) {
    throw new MonitorError(
      candidates.length === 0
        ? 'No master found: no server is replicated from, and none is a non-replica.'
        : `More than one master found: ${candidates.map(serverName).join(', ')}.`,
    );
  }
  return candidates[0];
}

/**
 * masterha_manager: monitor the master, fail over when it dies, and (unlike MHA) go on
 * monitoring the new master. Returns the exit code.
 */
export async function runManager(opts: ManagerOptions): Promise<number> {
  let config = loadConfig({ appFile: opts.confFile, globalFile: opts.globalConf });
  const log = new ManagerLog(config.app.managerLog, config.app.logLevel === 'debug' ? 'debug' : 'info', opts.echo);
  for (const s of config.servers) {
    log.addSecret(s.password.reveal());
    log.addSecret(s.replPassword?.reveal());
  }
  for (const w of config.warnings) log.warning(w.message);
  await fsp.mkdir(config.app.managerWorkdir, { recursive: true, mode: 0o700 });
  const state = opts.state ?? fileFailoverState(config.app.managerWorkdir, config.app.name);
  const status = new StatusFile(config.app.managerWorkdir, config.app.name, opts.onStatus);
  if (existsSync(status.path)) {
    log.warning(
      `${status.path} already exists. You might have killed manager with SIGKILL(-9), may run two or more monitoring process for the same application, or use the same working directory. Check for details, and consider setting --workdir separately.`,
    );
  }
  const pool = new HostAccessPool();
  const accessFor = (s: ServerConfig) => pool.accessFor(hostAccessConfig(s));
  const oldMasters = new OldMasterFences(log, { signal: opts.signal, beforeAction: opts.fence });
  try {
    // An apply this manager's predecessor was killed in may have left a server with relaxed
    // durability: put it back before anything else. With manager HA the predecessor may have
    // run on another host, so its record is in the shared store, and this runs again each
    // time this manager gains the lead.
    await restoreSettingsLeftChanged(config, state, log, opts.fence);
    for (;;) {
      log.info('MHA::MasterMonitor version 0.58 (mha-ts).');
      await status.set('INITIALIZING_MONITOR', '');
      // A failover interrupted after it opened a new master is finished before anything
      // else: the topology is half old, half new, and no master can be "found" in it.
      // (Only while the error flag says so: an operator who cleared it has handled it.)
      const pending = (await (state.guard.errorFlagged?.() ?? true)) ? await state.progress.load() : undefined;
      const pendingMaster =
        pending &&
        !pending.error &&
        config.servers.find((s) => s.hostname === pending.deadMaster.hostname && s.port === pending.deadMaster.port);
      let master: ServerConfig;
      let death: Omit<MasterDeath, 'sshReachable'> & { sshReachable?: boolean };
      if (pending && pendingMaster) {
        log.warning(
          `A failover of ${serverName(pendingMaster)} to ${pending.newMaster?.name ?? 'a new master not yet chosen'} was interrupted in ${pending.phase} (${pending.updatedAt}); finishing it.`,
        );
        master = pendingMaster;
        const now = new Date();
        death = { firstFailureAt: now, detectedAt: now, evidence: ['resuming an interrupted failover'] };
      } else {
        const states = await Promise.all(config.servers.map((s) => inspectServer(s)));
        try {
          master = findMaster(config, states);
        } finally {
          await closeAll(states);
        }
        logTopology(log, master, states);
        opts.onMasterFound?.(master, states);
        death = await monitorMaster({
          config,
          master,
          log,
          status,
          accessFor,
          signal: opts.signal,
          onPing: opts.onPing,
        });
        log.info('Master is down!');
      }
      await status.set('FAILOVER_RUNNING', master.hostname);
      const report = await runDeadMasterFailover({
        config,
        deadMaster: master,
        log,
        accessFor,
        sshReachable: death.sshReachable,
        ignoreLastFailover: opts.ignoreLastFailover,
        lastFailoverMinute: opts.lastFailoverMinute,
        skipSaveMasterBinlog: opts.skipSaveMasterBinlog,
        detection: death,
        state,
        fence: opts.fence,
      });
      opts.onFailover?.(report);
      if (report.exitCode === 1) {
        await status.set('FAILOVER_ERROR', master.hostname);
        return 1;
      }
      if (opts.removeDeadMasterConf && report.exitCode === 0) {
        const r = deleteBlock(opts.confFile, master.id);
        log.info(r.message);
      }
      oldMasters.afterFailover(master, report, opts.exitAfterFailover);
      if (opts.exitAfterFailover) {
        await status.remove();
        return report.exitCode;
      }
      // Keep watching: the new master is now the one to monitor.
      config = loadConfig({ appFile: opts.confFile, globalFile: opts.globalConf });
      if (!opts.removeDeadMasterConf) {
        config = { ...config, servers: config.servers.filter((s) => s.id !== master.id) };
      }
      await pool.closeAll();
    }
  } catch (err) {
    if (opts.signal?.aborted) {
      log.info('Got terminate signal. Exit.');
      await status.remove();
      return 1;
    }
    log.error((err as Error).message);
    await status.set('CONFIG_ERROR', '').catch(() => {});
    return 1;
  } finally {
    await oldMasters.stop();
    await pool.closeAll();
  }
}

async function restoreSettingsLeftChanged(
  config: Config,
  state: FailoverState,
  log: ManagerLog,
  fence: Fence | undefined,
): Promise<void> {
  const workdir = config.app.managerWorkdir;
  const stores = [state.settings ?? fileSettingsStore(workdir)];
  // A run of this host without the shared store (before manager HA was set up) recorded here.
  const shared = stores[0];
  if (!(shared instanceof FileSettingsRecordStore && resolve(shared.dir) === resolve(workdir)))
    stores.push(fileSettingsStore(workdir));
  for (const store of stores) {
    await restorePendingSettings(
      store,
      (t) => {
        const s = config.servers.find((x) => (x.ip ?? x.hostname) === t.host && x.port === t.port);
        return s && { host: t.host, port: t.port, user: s.user, password: s.password.reveal() };
      },
      (line) => log.warning(line),
      { beforeRestore: fence },
    );
  }
}

function logTopology(log: ManagerLog, master: ServerConfig, states: ServerState[]): void {
  const replicas = states.filter((s) => s.config !== master);
  log.info(`Current Alive Master: ${serverName(master)}`);
  log.info('Alive Slaves:');
  for (const r of replicas.filter((s) => s.alive)) {
    log.info(`  ${r.name}  Version=${r.version} log-bin:${r.logBin ? 'enabled' : 'disabled'}`);
    if (r.replica)
      log.info(`    Replicating from ${r.replica.masterHost}(${r.replica.masterHost}:${r.replica.masterPort})`);
    if (r.config.candidateMaster) log.info('    Primary candidate for the new Master (candidate_master is set)');
    if (r.config.noMaster) log.info('    Not candidate for the new Master (no_master is set)');
    if (r.relayLogPurge) log.warning(`relay_log_purge=0 is not set on slave ${r.name}.`);
  }
  log.raw(`${serverName(master)} (current master)\n${replicas.map((r) => ` +--${r.name}`).join('\n')}\n`);
}
