/**
 * `mha manager --config-dir DIR`: one process, one supervisor per `*.cnf` in DIR, the API
 * server, and the directory watcher that turns added / changed / removed files into
 * started / restarted / stopped supervisors. Shutdown stops the monitors, lets running
 * failovers finish, then closes the API.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { startApiServer } from './api-server.js';
import { ClusterSupervisor, type SupervisorOptions } from './cluster-supervisor.js';
import { type ClusterFile, ConfigDirWatcher, type DirChanges } from './config-dir-watcher.js';
import type { SecretSet } from './logger.js';
import { DaemonMetrics } from './metrics.js';

export interface DaemonOptions {
  configDir: string;
  globalConf?: string | null;
  listen: { host: string; port: number };
  token?: string;
  log: Logger;
  secrets: SecretSet;
  rescanIntervalMs?: number;
  topologyIntervalMs?: number;
  retryMs?: number;
  /** Passed to every cluster's supervisor (manager HA's runner and guard store). */
  run?: SupervisorOptions['run'];
  guardFor?: SupervisorOptions['guardFor'];
}

export class Daemon {
  readonly metrics = new DaemonMetrics();
  private readonly clusters = new Map<string, ClusterSupervisor>();
  /** Stops of removed clusters still waiting for a failover to end; shutdown waits for them. */
  private readonly leaving = new Set<Promise<void>>();
  private watcher?: ConfigDirWatcher;
  private api?: FastifyInstance;
  private readonly startedAt = new Date().toISOString();
  private shuttingDown?: Promise<void>;

  constructor(private readonly opts: DaemonOptions) {
    opts.secrets.add(opts.token);
  }

  get address(): string {
    return `http://${this.opts.listen.host}:${this.opts.listen.port}`;
  }

  supervisors(): ClusterSupervisor[] {
    return [...this.clusters.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    this.api = await startApiServer({
      host: this.opts.listen.host,
      port: this.opts.listen.port,
      token: this.opts.token,
      metrics: this.metrics,
      clusters: () => this.supervisors(),
      daemonInfo: () => ({
        pid: process.pid,
        startedAt: this.startedAt,
        configDir: this.opts.configDir,
        clusters: this.clusters.size,
      }),
    });
    // Monitors start only once the API is up: a port already taken stops the daemon before
    // it touches any server.
    this.watcher = new ConfigDirWatcher({
      dir: this.opts.configDir,
      rescanIntervalMs: this.opts.rescanIntervalMs,
      onChanges: async (c) => this.apply(c),
      onError: (e) => log.error({ err: e }, `configuration directory ${this.opts.configDir}`),
    });
    await this.watcher.start();
    log.info(
      {
        configDir: this.opts.configDir,
        clusters: this.supervisors().map((c) => c.name),
        api: this.address,
        auth: !!this.opts.token,
      },
      'daemon started',
    );
  }

  private supervisorFor(f: ClusterFile): ClusterSupervisor {
    return new ClusterSupervisor({
      name: f.name,
      confFile: f.path,
      globalConf: this.opts.globalConf,
      log: this.opts.log.child({ cluster: f.name }),
      metrics: this.metrics,
      secrets: this.opts.secrets,
      retryMs: this.opts.retryMs,
      topologyIntervalMs: this.opts.topologyIntervalMs,
      run: this.opts.run,
      guardFor: this.opts.guardFor,
    });
  }

  /** Never waits on a failover: restarts and stops queue behind it inside each supervisor. */
  private async apply(changes: DirChanges): Promise<void> {
    if (this.shuttingDown) return;
    const { log } = this.opts;
    for (const f of changes.removed) {
      const s = this.clusters.get(f.name);
      if (!s) continue;
      this.clusters.delete(f.name);
      log.info({ cluster: f.name, file: f.path }, 'configuration removed: stopping its monitor');
      const p = s.stop().then(() => s.dispose());
      this.leaving.add(p);
      p.finally(() => this.leaving.delete(p));
    }
    for (const f of changes.added) {
      if (this.clusters.has(f.name)) continue;
      log.info({ cluster: f.name, file: f.path }, 'configuration added: starting its monitor');
      const s = this.supervisorFor(f);
      this.clusters.set(f.name, s);
      void s.start();
    }
    for (const f of changes.changed) {
      const s = this.clusters.get(f.name);
      if (!s) continue;
      log.info(
        { cluster: f.name, file: f.path, afterFailover: s.inFailover },
        s.inFailover
          ? 'configuration changed: its monitor restarts once the running failover is finished'
          : 'configuration changed: restarting its monitor',
      );
      void s.restart();
    }
  }

  /** SIGHUP: look at the directory now. */
  async reload(): Promise<void> {
    this.opts.log.info('reload requested: rescanning the configuration directory');
    await this.watcher?.rescan();
  }

  shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      const { log } = this.opts;
      const running = this.supervisors()
        .filter((s) => s.inFailover)
        .map((s) => s.name);
      log.info({ waitingForFailovers: running }, 'shutting down');
      this.watcher?.close();
      await Promise.all([...this.supervisors().map((s) => s.stop()), ...this.leaving]);
      await this.api?.close();
      log.info('daemon stopped');
    })();
    return this.shuttingDown;
  }
}
