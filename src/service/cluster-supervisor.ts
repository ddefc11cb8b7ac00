/**
 * One cluster inside the daemon: runs the MHA manager loop (runManager) for one `.cnf`
 * file, restarts it when it stops for a reason that may pass (configuration error, master
 * not found), and keeps a live snapshot — monitor state, master, pings, failovers and
 * their reports — for the API, the page and the metrics. Operator actions (planned
 * switch, acknowledging a failover guard) go through here so they never race the monitor.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Config, loadConfig } from '../manager/config/index.js';
import type { FailoverReport } from '../manager/failover.js';
import { FailoverGuard } from '../manager/failover-guard.js';
import { ManagerLog } from '../manager/log.js';
import { type ManagerOptions, runManager } from '../manager/manager.js';
import { Status, type StatusName } from '../manager/status-file.js';
import { runOnlineSwitch, type SwitchoverReport } from '../manager/switchover.js';
import { serverName } from '../manager/topology.js';
import type { SecretSet } from './logger.js';
import { parseManagerLine } from './logger.js';
import type { DaemonMetrics } from './metrics.js';
import { TopologyReader, type TopologyView } from './topology-reader.js';

export type SupervisorState =
  | 'starting'
  | 'monitoring'
  | 'failover'
  | 'failover-error'
  | 'switching'
  | 'retrying'
  | 'stopped';

export interface FailoverSummary {
  startedAt: string;
  finishedAt: string;
  deadMaster: string;
  newMaster?: string;
  status: FailoverReport['status'];
  exitCode: number;
  totalMs: number;
  error?: string;
}

export interface ClusterSnapshot {
  name: string;
  confFile: string;
  state: SupervisorState;
  status?: { name: StatusName; code: number; masterHost: string; since: string; updatedAt: string };
  master?: string;
  replicas: string[];
  lastPing?: { ok: boolean; latencyMs: number; at: string };
  pings: { ok: number; failed: number };
  failoverStartedAt?: string;
  failovers: FailoverSummary[];
  lastSwitch?: { startedAt: string; status: string; origMaster?: string; newMaster?: string; writeBlockMs?: number };
  lastError?: string;
  startedAt: string;
  monitorRuns: number;
  /** With manager HA on etcd: whether this daemon leads the cluster (only the leader acts). */
  leadership?: { leading: boolean; identity: string; token?: string; since: string; reason?: string };
}

export class ConflictError extends Error {}

export interface SupervisorOptions {
  name: string;
  confFile: string;
  globalConf?: string | null;
  log: Logger;
  metrics: DaemonMetrics;
  secrets: SecretSet;
  /** First wait before the manager is started again after it stopped (doubles up to 60 s). */
  retryMs?: number;
  /** Background topology refresh (replica lag metrics); 0: off. */
  topologyIntervalMs?: number;
  /**
   * What runs one cluster's manager (default runManager). Manager HA plugs in its
   * leadership-aware runner here; the callbacks the supervisor passes must reach runManager.
   */
  run?: (opts: ManagerOptions) => Promise<number>;
  /** Where the failover guard lives (default: the workdir's flag files; etcd with manager HA). */
  guardFor?: (config: Config) => { clear(): Promise<void>; files?: string[] };
}

const MAX_REPORTS = 20;

const summaryOf = (r: FailoverReport): FailoverSummary => ({
  startedAt: r.startedAt,
  finishedAt: r.finishedAt,
  deadMaster: r.deadMaster,
  newMaster: r.newMaster,
  status: r.status,
  exitCode: r.exitCode,
  totalMs: r.phases.reduce((a, p) => a + p.ms, 0),
  error: r.error,
});

/** Resolves after ms, or at once when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class ClusterSupervisor {
  readonly name: string;
  readonly confFile: string;
  private readonly log: Logger;
  private config?: Config;
  private state: SupervisorState = 'stopped';
  private status?: ClusterSnapshot['status'];
  private master?: string;
  private replicas: string[] = [];
  private lastPing?: ClusterSnapshot['lastPing'];
  private readonly pings = { ok: 0, failed: 0 };
  private failoverStartedAt?: string;
  private readonly reports: FailoverReport[] = [];
  private lastSwitch?: ClusterSnapshot['lastSwitch'];
  private lastError?: string;
  private readonly startedAt = new Date().toISOString();
  private monitorRuns = 0;
  private leadership?: ClusterSnapshot['leadership'];
  private controller?: AbortController;
  private loopDone?: Promise<void>;
  /** Serialises start/stop/switch/ack so two operator actions never interleave. */
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  readonly topology: TopologyReader;

  constructor(private readonly opts: SupervisorOptions) {
    this.name = opts.name;
    this.confFile = opts.confFile;
    this.log = opts.log;
    opts.metrics.addCluster(this.name);
    this.topology = new TopologyReader(
      this.name,
      () => this.config,
      (v) => this.recordTopology(v),
    );
  }

  /** A failover is running right now (a restart waits for it). */
  get inFailover(): boolean {
    return this.failoverStartedAt !== undefined;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => {});
    return p;
  }

  start(): Promise<void> {
    return this.serial(async () => this.startLoop());
  }

  /** Stop monitoring; a failover in progress is finished first (runManager does not abort one). */
  stop(): Promise<void> {
    return this.serial(async () => {
      await this.stopLoop();
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
    });
  }

  /** The configuration file changed, or an operator asked: start over between failovers. */
  restart(): Promise<void> {
    return this.serial(async () => {
      await this.stopLoop();
      this.startLoop();
    });
  }

  private startLoop(): void {
    if (this.loopDone) return;
    const controller = new AbortController();
    this.controller = controller;
    this.loopDone = this.loop(controller.signal).catch((err: Error) => {
      this.lastError = err.message;
      this.log.error({ err }, 'cluster supervisor stopped on an unexpected error');
    });
    const every = this.opts.topologyIntervalMs ?? 5000;
    if (every > 0 && !this.timer) {
      this.timer = setInterval(() => {
        this.topology.read(0).catch((e: Error) => this.log.debug(`topology read failed: ${e.message}`));
      }, every);
      this.timer.unref();
    }
  }

  private async stopLoop(): Promise<void> {
    const done = this.loopDone;
    if (!done) return;
    if (this.inFailover) this.log.info('waiting for the running failover to finish before stopping the monitor');
    this.controller?.abort();
    await done;
    this.loopDone = undefined;
    this.controller = undefined;
    this.state = 'stopped';
  }

  private loadConfig(): Config {
    const config = loadConfig({ appFile: this.confFile, globalFile: this.opts.globalConf });
    for (const s of config.servers) {
      this.opts.secrets.add(s.password.reveal());
      this.opts.secrets.add(s.replPassword?.reveal());
    }
    this.config = config;
    return config;
  }

  private loadLastReport(config: Config): void {
    const file = join(config.app.managerWorkdir, `${config.app.name}.failover.report.json`);
    if (!existsSync(file)) return;
    try {
      const r = JSON.parse(readFileSync(file, 'utf8')) as FailoverReport;
      if (!this.reports.some((x) => x.startedAt === r.startedAt)) this.addReport(r);
    } catch (e) {
      this.log.warn(`cannot read ${file}: ${(e as Error).message}`);
    }
  }

  private addReport(r: FailoverReport): void {
    // Reports carry server output; whatever a secret may have slipped into goes masked.
    const masked = JSON.parse(this.opts.secrets.mask(JSON.stringify(r))) as FailoverReport;
    this.reports.unshift(masked);
    this.reports.splice(MAX_REPORTS);
  }

  private echo = (line: string): void => {
    const { level, msg } = parseManagerLine(line);
    this.log[level](msg);
  };

  private async loop(signal: AbortSignal): Promise<void> {
    let retry = this.opts.retryMs ?? 5000;
    while (!signal.aborted) {
      this.state = 'starting';
      let config: Config;
      try {
        config = this.loadConfig();
      } catch (e) {
        this.lastError = (e as Error).message;
        this.log.error(`configuration error: ${this.lastError}`);
        this.state = 'retrying';
        // A broken file is fixed by editing it, which restarts us; retrying is a backstop.
        await pause(60_000, signal);
        continue;
      }
      if (this.reports.length === 0) this.loadLastReport(config);
      this.monitorRuns++;
      this.log.info({ confFile: this.confFile, servers: config.servers.length }, 'starting the monitor');
      const code = await (this.opts.run ?? runManager)({
        confFile: this.confFile,
        globalConf: this.opts.globalConf,
        signal,
        echo: this.echo,
        onStatus: (s, host) => this.onStatus(s, host),
        onPing: (ok, ms) => this.onPing(ok, ms),
        onMasterFound: (m, states) => {
          this.master = serverName(m);
          this.replicas = states.filter((s) => s.config !== m).map((s) => s.name);
          this.state = 'monitoring';
          this.lastError = undefined;
          retry = this.opts.retryMs ?? 5000;
          this.log.info({ master: this.master, replicas: this.replicas }, 'monitoring the master');
        },
        onFailover: (r) => this.onFailover(r),
      }).catch((e: Error) => {
        this.lastError = e.message;
        this.log.error(`manager stopped: ${e.message}`);
        return 1;
      });
      this.failoverStartedAt = undefined;
      if (signal.aborted) break;
      if (this.status?.name === 'FAILOVER_ERROR') {
        // MHA's rule: after a failed failover nothing happens until an operator looks (ack).
        this.state = 'failover-error';
        this.log.error('failover failed: monitoring stays stopped until the failover guard is acknowledged');
        await pause(2 ** 31 - 1, signal);
        break;
      }
      this.state = 'retrying';
      this.log.warn(`manager exited with code ${code}; starting it again in ${Math.round(retry / 1000)} s`);
      await pause(retry, signal);
      retry = Math.min(retry * 2, 60_000);
    }
  }

  private onStatus(name: StatusName, masterHost: string): void {
    const now = new Date().toISOString();
    if (this.status?.name !== name) {
      this.status = { name, code: Status[name], masterHost, since: now, updatedAt: now };
      this.opts.metrics.setStatus(this.name, Status[name]);
      if (name === 'FAILOVER_RUNNING') {
        this.failoverStartedAt = now;
        this.state = 'failover';
        this.log.warn({ deadMaster: this.master }, 'failover started');
      }
    } else {
      this.status.updatedAt = now;
      this.status.masterHost = masterHost;
    }
  }

  private onPing(ok: boolean, latencyMs: number): void {
    this.lastPing = { ok, latencyMs, at: new Date().toISOString() };
    if (ok) this.pings.ok++;
    else this.pings.failed++;
    this.opts.metrics.observePing(this.name, ok, latencyMs);
  }

  private onFailover(r: FailoverReport): void {
    this.failoverStartedAt = undefined;
    this.addReport(r);
    this.opts.metrics.observeFailover(this.name, r);
    if (r.newMaster && r.exitCode !== 1) this.master = r.newMaster;
    this.state = r.exitCode === 1 ? 'failover-error' : 'monitoring';
    this.log.warn(
      { deadMaster: r.deadMaster, newMaster: r.newMaster, status: r.status, totalMs: summaryOf(r).totalMs },
      'failover finished',
    );
  }

  private recordTopology(v: TopologyView): void {
    for (const s of v.servers) {
      const r = s.replication;
      this.opts.metrics.setReplica(
        this.name,
        s.name,
        r ? { lag: r.secondsBehindMaster, ioRunning: r.ioRunning, sqlRunning: r.sqlRunning } : undefined,
      );
    }
  }

  snapshot(): ClusterSnapshot {
    return {
      name: this.name,
      confFile: this.confFile,
      state: this.state,
      status: this.status ? { ...this.status } : undefined,
      master: this.master,
      replicas: [...this.replicas],
      lastPing: this.lastPing,
      pings: { ...this.pings },
      failoverStartedAt: this.failoverStartedAt,
      failovers: this.reports.map(summaryOf),
      lastSwitch: this.lastSwitch,
      lastError: this.lastError ? this.opts.secrets.mask(this.lastError) : undefined,
      startedAt: this.startedAt,
      monitorRuns: this.monitorRuns,
      leadership: this.leadership ? { ...this.leadership } : undefined,
    };
  }

  /** Manager HA told us this daemon now leads the cluster, or no longer does. */
  setLeadership(e: { leading: boolean; identity: string; token?: string; reason?: string }): void {
    this.leadership = {
      leading: e.leading,
      identity: e.identity,
      token: e.token,
      reason: e.reason,
      since: new Date().toISOString(),
    };
  }

  failoverReports(): FailoverReport[] {
    return [...this.reports];
  }

  /**
   * Planned switch: the monitor steps aside (its advisory lock would make the switch refuse),
   * runOnlineSwitch runs with the cluster's manager log, and monitoring resumes on whatever
   * master the switch left.
   */
  switchover(req: {
    newMaster?: { host: string; port?: number };
    origMasterIsNewSlave?: boolean;
  }): Promise<SwitchoverReport> {
    if (this.inFailover) return Promise.reject(new ConflictError('a failover is running'));
    if (this.state === 'switching') return Promise.reject(new ConflictError('a switch is already running'));
    return this.serial(async () => {
      if (this.inFailover) throw new ConflictError('a failover is running');
      await this.stopLoop();
      this.state = 'switching';
      const startedAt = new Date().toISOString();
      try {
        const config = this.loadConfig();
        const log = new ManagerLog(
          config.app.managerLog,
          config.app.logLevel === 'debug' ? 'debug' : 'info',
          this.echo,
        );
        for (const s of config.servers) {
          log.addSecret(s.password.reveal());
          log.addSecret(s.replPassword?.reveal());
        }
        this.log.info({ newMaster: req.newMaster }, 'planned switch requested');
        const report = await runOnlineSwitch({
          config,
          log,
          newMaster: req.newMaster,
          origMasterIsNewSlave: req.origMasterIsNewSlave,
        });
        this.opts.metrics.observeSwitch(this.name, report);
        this.lastSwitch = {
          startedAt,
          status: report.status,
          origMaster: report.origMaster,
          newMaster: report.newMaster,
          writeBlockMs: report.writeBlock?.ms,
        };
        this.log.info({ ...this.lastSwitch }, 'planned switch finished');
        return JSON.parse(this.opts.secrets.mask(JSON.stringify(report))) as SwitchoverReport;
      } finally {
        this.state = 'stopped';
        this.startLoop();
      }
    });
  }

  /** Remove the failover guard's flag files so a new failover may happen; monitoring restarts. */
  acknowledge(): Promise<{ removed: string[] }> {
    return this.serial(async () => {
      const config = this.config ?? this.loadConfig();
      const files = new FailoverGuard(config.app.managerWorkdir, config.app.name);
      const guard = this.opts.guardFor?.(config) ?? {
        clear: () => files.clear(),
        files: [files.errorFile, files.completeFile],
      };
      const removed = (guard.files ?? []).filter((f) => existsSync(f));
      await guard.clear();
      this.log.info({ removed }, 'failover guard acknowledged');
      if (this.state === 'failover-error' || this.state === 'retrying') {
        await this.stopLoop();
        this.status = undefined;
        this.startLoop();
      }
      return { removed };
    });
  }

  /** Everything this cluster put into the metrics goes (the file was removed). */
  dispose(): void {
    this.opts.metrics.removeCluster(this.name);
  }
}
