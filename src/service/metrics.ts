/**
 * Prometheus metrics of the daemon (prom-client, a registry of its own so tests and
 * embedders never share series). Every series carries the cluster's name; a cluster removed
 * from the configuration directory takes its series with it.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FailoverReport } from '../manager/failover.js';
import type { SwitchoverReport } from '../manager/switchover.js';

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly ping: Histogram<'cluster'>;
  private readonly pingFailures: Counter<'cluster'>;
  private readonly monitorState: Gauge<'cluster'>;
  private readonly replicaLag: Gauge<'cluster' | 'server'>;
  private readonly replicaIo: Gauge<'cluster' | 'server'>;
  private readonly replicaSql: Gauge<'cluster' | 'server'>;
  private readonly failovers: Counter<'cluster' | 'status'>;
  private readonly failoverSeconds: Histogram<'cluster'>;
  private readonly phaseSeconds: Histogram<'cluster' | 'phase'>;
  private readonly switches: Counter<'cluster' | 'status'>;
  private readonly writeBlock: Histogram<'cluster'>;
  private readonly writeBlockLast: Gauge<'cluster'>;
  private readonly diffBytes: Counter<'cluster'>;
  private readonly diffTransactions: Counter<'cluster'>;
  private readonly applyRate: Gauge<'cluster' | 'server'>;
  private readonly parserRate: Gauge<'cluster'>;
  private readonly savedBinlogBytes: Counter<'cluster'>;
  /** Label sets per cluster, so removing a cluster removes exactly its series. */
  private readonly seen = new Map<string, Set<string>>();

  constructor() {
    const registers = [this.registry];
    this.ping = new Histogram({
      name: 'mha_ping_latency_seconds',
      help: "Duration of the monitor's ping of the master (connect included when a new session was needed)",
      labelNames: ['cluster'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.pingFailures = new Counter({
      name: 'mha_ping_failures_total',
      help: 'Pings of the master that failed',
      labelNames: ['cluster'],
      registers,
    });
    this.monitorState = new Gauge({
      name: 'mha_monitor_status_code',
      help: "The monitor's state as masterha_check_status numbers it (0 PING_OK, 10 INITIALIZING_MONITOR, 20 PING_FAILING, 21 PING_FAILED, 50 FAILOVER_RUNNING, 51 FAILOVER_ERROR, ...)",
      labelNames: ['cluster'],
      registers,
    });
    this.replicaLag = new Gauge({
      name: 'mha_replica_lag_seconds',
      help: 'Seconds_Behind_Master of each replica (absent while the SQL thread is stopped)',
      labelNames: ['cluster', 'server'],
      registers,
    });
    this.replicaIo = new Gauge({
      name: 'mha_replica_io_running',
      help: 'Slave_IO_Running = Yes (1) or not (0)',
      labelNames: ['cluster', 'server'],
      registers,
    });
    this.replicaSql = new Gauge({
      name: 'mha_replica_sql_running',
      help: 'Slave_SQL_Running = Yes (1) or not (0)',
      labelNames: ['cluster', 'server'],
      registers,
    });
    this.failovers = new Counter({
      name: 'mha_failovers_total',
      help: 'Dead-master failovers by outcome (succeeded, partially failed, failed)',
      labelNames: ['cluster', 'status'],
      registers,
    });
    this.failoverSeconds = new Histogram({
      name: 'mha_failover_duration_seconds',
      help: 'Whole dead-master failover, Phase 1 to the report',
      labelNames: ['cluster'],
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
    this.phaseSeconds = new Histogram({
      name: 'mha_failover_phase_duration_seconds',
      help: 'Duration of each failover phase (FailoverReport.phases)',
      labelNames: ['cluster', 'phase'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    });
    this.switches = new Counter({
      name: 'mha_switches_total',
      help: 'Planned switches started through the daemon, by outcome',
      labelNames: ['cluster', 'status'],
      registers,
    });
    this.writeBlock = new Histogram({
      name: 'mha_switch_write_block_seconds',
      help: 'Planned switch: writes blocked on the orig master until allowed on the new one (SwitchoverReport.writeBlock)',
      labelNames: ['cluster'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.writeBlockLast = new Gauge({
      name: 'mha_switch_last_write_block_seconds',
      help: 'Write-block window of the last planned switch',
      labelNames: ['cluster'],
      registers,
    });
    this.diffBytes = new Counter({
      name: 'mha_failover_diff_bytes_applied_total',
      help: 'Bytes of binlog/relay-log differences applied to servers during failovers (FailoverReport.servers[].diff.bytes)',
      labelNames: ['cluster'],
      registers,
    });
    this.diffTransactions = new Counter({
      name: 'mha_failover_diff_transactions_applied_total',
      help: 'Transactions of differences applied to servers during failovers',
      labelNames: ['cluster'],
      registers,
    });
    this.applyRate = new Gauge({
      name: 'mha_failover_apply_bytes_per_second',
      help: 'Apply rate of the last failover per server: diff bytes / apply time',
      labelNames: ['cluster', 'server'],
      registers,
    });
    this.parserRate = new Gauge({
      name: 'mha_failover_parser_bytes_per_second',
      help: 'Parser throughput of the last failover, DERIVED from diff bytes / apply time over every server (the report does not time parsing alone, so this includes execution on the server: a lower bound)',
      labelNames: ['cluster'],
      registers,
    });
    this.savedBinlogBytes = new Counter({
      name: 'mha_failover_saved_master_binlog_bytes_total',
      help: "Bytes of the dead master's binlog saved over SSH during failovers",
      labelNames: ['cluster'],
      registers,
    });
  }

  private note(cluster: string, key: string): void {
    const s = this.seen.get(cluster) ?? new Set<string>();
    this.seen.set(cluster, s);
    s.add(key);
  }

  /** Series exist from the start (zeros), so dashboards see a cluster before its first failure. */
  addCluster(cluster: string): void {
    this.pingFailures.inc({ cluster }, 0);
    this.failovers.inc({ cluster, status: 'succeeded' }, 0);
    this.diffBytes.inc({ cluster }, 0);
  }

  observePing(cluster: string, ok: boolean, latencyMs: number): void {
    if (ok) this.ping.observe({ cluster }, latencyMs / 1000);
    else this.pingFailures.inc({ cluster });
  }

  setStatus(cluster: string, code: number): void {
    this.monitorState.set({ cluster }, code);
  }

  setReplica(
    cluster: string,
    server: string,
    r: { lag: number | null; ioRunning: boolean; sqlRunning: boolean } | undefined,
  ): void {
    this.note(cluster, `r\0${server}`);
    if (!r) {
      this.replicaLag.remove({ cluster, server });
      this.replicaIo.remove({ cluster, server });
      this.replicaSql.remove({ cluster, server });
      return;
    }
    if (r.lag === null) this.replicaLag.remove({ cluster, server });
    else this.replicaLag.set({ cluster, server }, r.lag);
    this.replicaIo.set({ cluster, server }, r.ioRunning ? 1 : 0);
    this.replicaSql.set({ cluster, server }, r.sqlRunning ? 1 : 0);
  }

  observeFailover(cluster: string, report: FailoverReport): void {
    this.failovers.inc({ cluster, status: report.status });
    const total = report.phases.reduce((a, p) => a + p.ms, 0);
    this.failoverSeconds.observe({ cluster }, total / 1000);
    for (const p of report.phases) {
      this.note(cluster, `p\0${p.phase}`);
      this.phaseSeconds.observe({ cluster, phase: p.phase }, p.ms / 1000);
    }
    let bytes = 0;
    let ms = 0;
    for (const s of report.servers) {
      if (!s.diff) continue;
      this.diffBytes.inc({ cluster }, s.diff.bytes);
      this.diffTransactions.inc({ cluster }, s.diff.transactions);
      if (s.diff.applyMs !== undefined && s.diff.applyMs > 0) {
        this.note(cluster, `a\0${s.server}`);
        this.applyRate.set({ cluster, server: s.server }, (s.diff.bytes * 1000) / s.diff.applyMs);
        bytes += s.diff.bytes;
        ms += s.diff.applyMs;
      }
    }
    if (ms > 0) this.parserRate.set({ cluster }, (bytes * 1000) / ms);
    const saved = report.savedMasterBinlog;
    if (saved && 'bytes' in saved) this.savedBinlogBytes.inc({ cluster }, saved.bytes);
  }

  observeSwitch(cluster: string, report: SwitchoverReport): void {
    this.switches.inc({ cluster, status: report.status });
    if (report.writeBlock?.ms !== undefined) {
      this.writeBlock.observe({ cluster }, report.writeBlock.ms / 1000);
      this.writeBlockLast.set({ cluster }, report.writeBlock.ms / 1000);
    }
  }

  removeCluster(cluster: string): void {
    for (const m of [
      this.ping,
      this.pingFailures,
      this.monitorState,
      this.failoverSeconds,
      this.writeBlock,
      this.writeBlockLast,
      this.diffBytes,
      this.diffTransactions,
      this.parserRate,
      this.savedBinlogBytes,
    ]) {
      (m as Gauge<'cluster'>).remove({ cluster });
    }
    for (const status of ['succeeded', 'partially failed', 'failed', 'checked']) {
      this.failovers.remove({ cluster, status });
      this.switches.remove({ cluster, status });
    }
    for (const key of this.seen.get(cluster) ?? []) {
      const [kind, value] = key.split('\0');
      if (kind === 'r') {
        this.replicaLag.remove({ cluster, server: value });
        this.replicaIo.remove({ cluster, server: value });
        this.replicaSql.remove({ cluster, server: value });
      } else if (kind === 'p') this.phaseSeconds.remove({ cluster, phase: value });
      else if (kind === 'a') this.applyRate.remove({ cluster, server: value });
    }
    this.seen.delete(cluster);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
