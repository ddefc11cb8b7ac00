/**
 * The daemon and its API from the command line: `mha manager --config-dir DIR` runs the
 * daemon; `mha status` (without --conf), `mha switch --cluster`, `mha ack` talk to it.
 */
import { existsSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command, CommanderError } from 'commander';
import { ApiClient, ApiError, DEFAULT_LISTEN } from '../service/api-client.js';
import { parseHostPort } from '../service/api-server.js';
import { daemonHa } from '../service/coordination/daemon-ha.js';
import { Daemon } from '../service/daemon.js';
import { createDaemonLogger, SecretSet } from '../service/logger.js';
import { resolveToken, TokenError } from '../service/token.js';
import type { TopologyView } from '../service/topology-reader.js';
import { CliError, ExitCode } from './exit-codes.js';

export function wantsDaemon(args: string[]): boolean {
  return args.some((a) => /^--config[-_]dir(=|$)/.test(a));
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a number of seconds: ${v}`);
  return n;
}

/** `mha manager --config-dir DIR`: runs until SIGTERM / SIGINT; SIGHUP rescans DIR. */
export async function runDaemonMain(args: string[]): Promise<number> {
  const cmd = new Command('mha manager')
    .description(
      'Run the manager as a daemon for every cluster described by DIR/*.cnf (MHA application files): ' +
        'one monitor per file, added / changed / removed files picked up without a restart, ' +
        'a JSON status API, Prometheus metrics at /metrics and a topology page at /. ' +
        'SIGTERM stops (running failovers finish first); SIGHUP rescans DIR now.',
    )
    .requiredOption('--config-dir <DIR>', 'directory of <cluster>.cnf files')
    .option(
      '--global-conf <FILE>',
      'global defaults for every cluster (default: /etc/masterha_default.cnf when it exists)',
    )
    .option('--listen <HOST:PORT>', 'API address', DEFAULT_LISTEN)
    .option('--token-file <FILE>', 'bearer token the API requires (file mode 0600); also MHA_API_TOKEN')
    .option('--log-file <FILE>', 'JSON log lines go here instead of stdout')
    .option('--log-level <LEVEL>', 'debug, info, warn, error', 'info')
    .option('--rescan-interval <SEC>', 'rescan DIR this often besides watching it', seconds, 10)
    .option(
      '--topology-interval <SEC>',
      "read every cluster's replication state this often (replica lag metrics)",
      seconds,
      5,
    )
    .option('--retry-interval <SEC>', 'first wait before restarting a monitor that stopped', seconds, 5)
    .option(
      '--etcd <ENDPOINTS>',
      'manager HA: comma-separated etcd endpoints for every cluster (else each file may set etcd_endpoints)',
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    cmd.parse(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : ExitCode.USAGE;
    throw e;
  }
  const o = cmd.opts<{
    configDir: string;
    globalConf?: string;
    listen: string;
    tokenFile?: string;
    logFile?: string;
    logLevel: string;
    rescanInterval: number;
    topologyInterval: number;
    retryInterval: number;
    etcd?: string;
  }>();
  let token: string | undefined;
  try {
    token = resolveToken(o.tokenFile);
  } catch (e) {
    if (e instanceof TokenError) throw new CliError(e.message, ExitCode.USAGE);
    throw e;
  }
  if (!existsSync(o.configDir) || !statSync(o.configDir).isDirectory()) {
    throw new CliError(`--config-dir ${o.configDir} is not a directory`, ExitCode.USAGE);
  }
  const m = /^(.+):(\d+)$/.exec(o.listen);
  if (!m) throw new CliError(`--listen must be HOST:PORT, not ${o.listen}`, ExitCode.USAGE);
  const listen = { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  const secrets = new SecretSet();
  secrets.add(token);
  const log = createDaemonLogger({ file: o.logFile, level: o.logLevel, secrets });
  if (!token && !(listen.host === 'localhost' || listen.host.startsWith('127.') || listen.host === '::1')) {
    log.warn(
      { listen: o.listen },
      'the API listens beyond loopback without a token: anyone who reaches it can switch masters',
    );
  }
  if (isIP(listen.host) === 0 && listen.host !== 'localhost') {
    throw new CliError(`--listen needs an IP address (or localhost), not ${listen.host}`, ExitCode.USAGE);
  }
  const ha = daemonHa({
    etcdEndpoints: o.etcd?.split(',').filter((e) => e.trim() !== ''),
    onEvent: (msg) => log.warn(msg),
    onLeadership: (e) => {
      log.info(e, e.leading ? 'leading the cluster (etcd)' : 'no longer leading the cluster (etcd)');
      daemon
        .supervisors()
        .find((c) => c.name === e.app)
        ?.setLeadership(e);
    },
  });
  const daemon = new Daemon({
    run: ha.run,
    guardFor: ha.guardFor,
    configDir: o.configDir,
    globalConf: o.globalConf ?? undefined,
    listen,
    token,
    log,
    secrets,
    rescanIntervalMs: o.rescanInterval * 1000,
    topologyIntervalMs: o.topologyInterval * 1000,
    retryMs: o.retryInterval * 1000,
  });
  let stopRequested!: () => void;
  const stopped = new Promise<void>((r) => {
    stopRequested = r;
  });
  const onStop = (sig: string) => {
    log.info({ signal: sig }, 'stop requested');
    stopRequested();
  };
  const onTerm = () => onStop('SIGTERM');
  const onInt = () => onStop('SIGINT');
  const onHup = () => {
    daemon.reload().catch((e: Error) => log.error(`reload failed: ${e.message}`));
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  try {
    try {
      await daemon.start();
    } catch (e) {
      log.error({ err: e }, 'daemon failed to start');
      await daemon.shutdown().catch(() => {});
      throw new CliError(`cannot start: ${(e as Error).message}`, ExitCode.FAILED);
    }
    await stopped;
    await daemon.shutdown();
  } finally {
    ha.close();
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
    log.flush();
    // A stray socket (a server that never answered a close) must not keep a stopped daemon alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  }
  return 0;
}

export interface ApiOptions {
  url?: string;
  tokenFile?: string;
}

function client(o: ApiOptions): ApiClient {
  try {
    return new ApiClient({ url: o.url, tokenFile: o.tokenFile });
  } catch (e) {
    throw new CliError((e as Error).message, ExitCode.USAGE);
  }
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError) {
      throw new CliError(e.message, e.kind === 'not-found' ? ExitCode.NOT_FOUND : ExitCode.FAILED);
    }
    throw e;
  }
}

interface StatusCluster {
  name: string;
  state: string;
  status?: { name: string; code: number };
  master?: string;
  lastPing?: { ok: boolean; latencyMs: number };
  failovers: Array<{ startedAt: string; deadMaster: string; newMaster?: string; status: string; totalMs: number }>;
  lastError?: string;
  topology?: TopologyView | { error: string };
}

const pos = (p?: { file: string; pos: number }) => (p?.file ? `${p.file}:${p.pos}` : '-');

export function renderStatusText(data: {
  daemon: { pid: number; configDir: string };
  clusters: StatusCluster[];
}): string {
  const out: string[] = [
    `daemon pid ${data.daemon.pid}, ${data.clusters.length} cluster(s) from ${data.daemon.configDir}`,
  ];
  for (const c of data.clusters) {
    const ping = c.lastPing ? `ping ${c.lastPing.ok ? `${c.lastPing.latencyMs} ms` : 'FAILED'}` : 'ping -';
    out.push(
      '',
      `${c.name}: ${c.state}${c.status ? ` (${c.status.name})` : ''}, master ${c.master ?? '?'}, ${ping}, ${c.failovers.length} failover(s)`,
    );
    if (c.lastError) out.push(`  last error: ${c.lastError}`);
    const topo = c.topology;
    if (topo && 'servers' in topo) {
      for (const s of topo.servers) {
        const r = s.replication;
        if (!s.alive) out.push(`  ${s.name}  DEAD${s.error ? ` (${s.error})` : ''}`);
        else if (!r)
          out.push(
            `  ${s.name}  ${s.role}  read_only=${s.readOnly ? 1 : 0}  binlog ${pos(s.binlog)}${s.gtid?.currentPos ? `  gtid ${s.gtid.currentPos}` : ''}`,
          );
        else
          out.push(
            `  ${s.name}  ${s.role} of ${s.parent ?? `${r.masterHost}:${r.masterPort}`}  IO ${r.ioState} SQL ${r.sqlRunning ? 'Yes' : 'No'}  lag ${r.secondsBehindMaster ?? 'NULL'}  read ${pos(r.read)} exec ${pos(r.exec)}${s.gtid?.currentPos ? `  gtid ${s.gtid.currentPos}` : ''}`,
          );
      }
    } else if (topo && 'error' in topo) out.push(`  topology: ${topo.error}`);
    for (const f of c.failovers.slice(0, 3)) {
      out.push(`  failover ${f.startedAt}: ${f.deadMaster} -> ${f.newMaster ?? '-'} ${f.status} (${f.totalMs} ms)`);
    }
  }
  return `${out.join('\n')}\n`;
}

export async function statusViaApi(o: ApiOptions & { json?: boolean; cluster?: string }): Promise<void> {
  const c = client(o);
  const data = await call(() =>
    c.get<{ daemon: { pid: number; configDir: string }; clusters: StatusCluster[] }>('/api/status'),
  );
  if (o.cluster) {
    data.clusters = data.clusters.filter((x) => x.name === o.cluster);
    if (data.clusters.length === 0) throw new CliError(`unknown cluster: ${o.cluster}`, ExitCode.NOT_FOUND);
  }
  process.stdout.write(o.json ? `${JSON.stringify(data, null, 2)}\n` : renderStatusText(data));
}

export async function switchViaApi(
  o: ApiOptions & { cluster: string; newMaster?: string; origMasterIsNewSlave?: boolean; json?: boolean },
): Promise<void> {
  if (o.newMaster) {
    try {
      parseHostPort(o.newMaster);
    } catch (e) {
      throw new CliError((e as Error).message, ExitCode.USAGE);
    }
  }
  const c = client(o);
  const report = await call(() =>
    c
      .post<{
        status: string;
        exitCode: number;
        origMaster?: string;
        newMaster?: string;
        writeBlock?: { ms?: number };
        error?: string;
      }>(`/api/clusters/${encodeURIComponent(o.cluster)}/switch`, {
        newMaster: o.newMaster,
        origMasterIsNewSlave: o.origMasterIsNewSlave === true,
      })
      .catch((e: ApiError) => {
        // A failed switch still answers with its report: show it rather than the HTTP status.
        if (e instanceof ApiError && e.status === 500 && (e.body as { status?: string })?.status)
          return e.body as never;
        throw e;
      }),
  );
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(
      `${o.cluster}: switch ${report.origMaster ?? '?'} -> ${report.newMaster ?? '?'}: ${report.status}` +
        `${report.writeBlock?.ms !== undefined ? `, writes blocked ${report.writeBlock.ms} ms` : ''}` +
        `${report.error ? ` (${report.error})` : ''}\n`,
    );
  }
  if (report.exitCode !== 0) throw new CliError('', report.exitCode);
}

export async function ackViaApi(o: ApiOptions & { cluster: string; json?: boolean }): Promise<void> {
  const c = client(o);
  const r = await call(() =>
    c.post<{ cluster: string; removed: string[] }>(`/api/clusters/${encodeURIComponent(o.cluster)}/ack`, {}),
  );
  if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else
    process.stdout.write(
      r.removed.length > 0
        ? `${r.cluster}: failover guard acknowledged; removed ${r.removed.join(', ')}\n`
        : `${r.cluster}: no failover guard was set; nothing to remove\n`,
    );
}

export function registerAckCommand(program: Command): void {
  program
    .command('ack')
    .description('acknowledge a failover guard through the daemon (removes <app>.failover.error / .failover.complete)')
    .requiredOption('--cluster <NAME>', 'cluster name (its .cnf file name without .cnf)')
    .option('--url <URL>', `daemon API (default: MHA_API_URL or http://${DEFAULT_LISTEN})`)
    .option('--token-file <FILE>', 'bearer token file (mode 0600); also MHA_API_TOKEN')
    .option('--json', 'print the answer as JSON')
    .action(async (o: { cluster: string; url?: string; tokenFile?: string; json?: boolean }) => {
      await ackViaApi(o);
    });
}
