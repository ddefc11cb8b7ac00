/**
 * A cluster's replication topology read live from its servers (read only: discovery
 * queries, then every connection closed), in the JSON shape the API and the page use.
 * Reads are coalesced and briefly cached so a dashboard polling every second, a Prometheus
 * scrape and an operator's `mha status` do not each open sessions on every server.
 */
import type { Config, ServerConfig } from '../manager/config/index.js';
import { closeAll, inspectServer, replicatesFrom, type ServerState, serverName } from '../manager/topology.js';

export interface ServerView {
  name: string;
  host: string;
  port: number;
  alive: boolean;
  error?: string;
  role: 'master' | 'replica' | 'dead' | 'unknown';
  /** `name` of the server it replicates from, when that is a configured server. */
  parent?: string;
  serverId?: number;
  version?: string;
  readOnly?: boolean;
  candidateMaster: boolean;
  noMaster: boolean;
  binlog?: { file: string; pos: number };
  gtid?: { binlogPos: string; slavePos: string; currentPos: string };
  mysqlGtidExecuted?: string;
  replication?: {
    masterHost: string;
    masterPort: number;
    ioRunning: boolean;
    ioState: string;
    sqlRunning: boolean;
    secondsBehindMaster: number | null;
    lastIoErrno: number;
    lastSqlErrno: number;
    lastSqlError: string;
    read: { file: string; pos: number };
    exec: { file: string; pos: number };
    usingGtid: string;
    gtidIoPos: string;
    retrievedGtidSet: string;
    executedGtidSet: string;
  };
}

export interface TopologyView {
  cluster: string;
  readAt: string;
  readMs: number;
  /** `name` of the master: the server the others replicate from. */
  master?: string;
  servers: ServerView[];
}

/** The master among live states: replicated from by someone, else the one alive non-replica. */
function masterOf(config: Config, states: ServerState[]): ServerConfig | undefined {
  const pointed = config.servers.filter((c) => states.some((s) => s.alive && replicatesFrom(s, c)));
  const live = pointed.filter(
    (c) => states.find((s) => s.config === c)?.alive && !states.find((s) => s.config === c)?.replica,
  );
  if (live.length === 1) return live[0];
  const loners = states.filter((s) => s.alive && !s.replica);
  return loners.length === 1 ? loners[0].config : undefined;
}

export function viewOf(cluster: string, config: Config, states: ServerState[], readMs: number): TopologyView {
  const master = masterOf(config, states);
  const servers = states.map((s): ServerView => {
    const parentCfg = s.replica ? config.servers.find((c) => c !== s.config && replicatesFrom(s, c)) : undefined;
    const r = s.replica;
    return {
      name: s.name,
      host: s.config.hostname,
      port: s.config.port,
      alive: s.alive,
      error: s.error,
      role: !s.alive ? 'dead' : s.config === master ? 'master' : r ? 'replica' : 'unknown',
      parent: parentCfg ? serverName(parentCfg) : undefined,
      serverId: s.serverId,
      version: s.version,
      readOnly: s.readOnly,
      candidateMaster: s.config.candidateMaster,
      noMaster: s.config.noMaster,
      binlog: s.binlog,
      gtid: s.gtid,
      mysqlGtidExecuted: s.mysqlGtid?.executed,
      replication: r
        ? {
            masterHost: r.masterHost,
            masterPort: r.masterPort,
            ioRunning: r.ioRunning,
            ioState: r.ioState,
            sqlRunning: r.sqlRunning,
            secondsBehindMaster: r.secondsBehindMaster,
            lastIoErrno: r.lastIoErrno,
            lastSqlErrno: r.lastSqlErrno,
            lastSqlError: r.lastSqlError,
            read: r.positions.read,
            exec: r.positions.exec,
            usingGtid: r.usingGtid,
            gtidIoPos: r.gtidIoPos,
            retrievedGtidSet: r.retrievedGtidSet,
            executedGtidSet: r.executedGtidSet,
          }
        : undefined,
    };
  });
  return {
    cluster,
    readAt: new Date().toISOString(),
    readMs,
    master: master ? serverName(master) : undefined,
    servers,
  };
}

export async function readTopology(cluster: string, config: Config, connectTimeoutMs = 2000): Promise<TopologyView> {
  const t0 = Date.now();
  const states = await Promise.all(
    config.servers.map((s) =>
      inspectServer(s, { connectTimeoutMs }).catch(
        (e: Error): ServerState => ({ config: s, name: serverName(s), alive: false, error: e.message }),
      ),
    ),
  );
  try {
    return viewOf(cluster, config, states, Date.now() - t0);
  } finally {
    await closeAll(states);
  }
}

/** readTopology with one read in flight at a time and a short cache. */
export class TopologyReader {
  private last?: TopologyView;
  private lastAt = 0;
  private inflight?: Promise<TopologyView>;

  constructor(
    private readonly cluster: string,
    private readonly config: () => Config | undefined,
    private readonly onRead?: (view: TopologyView) => void,
  ) {}

  get cached(): TopologyView | undefined {
    return this.last;
  }

  async read(maxAgeMs = 1000): Promise<TopologyView | undefined> {
    if (this.last && Date.now() - this.lastAt <= maxAgeMs) return this.last;
    if (this.inflight) return this.inflight;
    const config = this.config();
    if (!config) return undefined;
    this.inflight = readTopology(this.cluster, config)
      .then((v) => {
        this.last = v;
        this.lastAt = Date.now();
        this.onRead?.(v);
        return v;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}
