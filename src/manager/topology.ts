import { readFileSync } from 'node:fs';
import { MariadbGtidList } from '@mha-ts/native-free-parsers';
import { compareLogFileNames, parseIndexFile } from '../engine/log-files.js';
import type { ReplicaPositions } from '../engine/recovery-plan.js';
import { ServerConnection, type ServerError } from '../mysql/server-connection.js';
import type { ServerConfig } from './config/index.js';

/** MySQL errors that mean "alive but refusing us", never "dead" (MHA's ALIVE_ERROR_CODES). */
export const ALIVE_ERROR_CODES = new Set([1040, 1042, 1043, 1044, 1045, 1129, 1130, 1203, 1226, 1251, 1275]);

export interface ReplicaStatus {
  masterHost: string;
  masterPort: number;
  ioRunning: boolean;
  /** Slave_IO_Running as the server says it: Yes, No, Connecting, Preparing. */
  ioState: string;
  sqlRunning: boolean;
  lastSqlErrno: number;
  lastSqlError: string;
  lastIoErrno: number;
  positions: ReplicaPositions;
  /** MariaDB: MASTER_USE_GTID mode ('No', 'Slave_Pos', 'Current_Pos'). */
  usingGtid: string;
  secondsBehindMaster: number | null;
}

/** One configured server as discovery found it. */
export interface ServerState {
  config: ServerConfig;
  /** `host(ip:port)`, MHA's way of naming a server in logs. */
  name: string;
  alive: boolean;
  /** Why it counts as dead (or why discovery could not finish). */
  error?: string;
  conn?: ServerConnection;
  serverId?: number;
  version?: string;
  logBin?: boolean;
  readOnly?: boolean;
  relayLogPurge?: boolean;
  datadir?: string;
  relayLogIndex?: string;
  binlog?: { file: string; pos: number };
  replica?: ReplicaStatus;
  gtid?: { binlogPos: string; slavePos: string; currentPos: string };
}

export function serverName(c: ServerConfig): string {
  return `${c.hostname}(${c.ip ?? c.hostname}:${c.port})`;
}

export function addressOf(c: ServerConfig): { host: string; port: number; user: string; password: string } {
  return { host: c.ip ?? c.hostname, port: c.port, user: c.user, password: c.password.reveal() };
}

const yes = (v: unknown) => String(v).toLowerCase() === 'yes';

function readReplicaStatus(row: Record<string, unknown>): ReplicaStatus {
  return {
    masterHost: String(row.Master_Host ?? row.Source_Host ?? ''),
    masterPort: Number(row.Master_Port ?? row.Source_Port ?? 0),
    ioRunning: yes(row.Slave_IO_Running ?? row.Replica_IO_Running),
    ioState: String(row.Slave_IO_Running ?? row.Replica_IO_Running ?? ''),
    sqlRunning: yes(row.Slave_SQL_Running ?? row.Replica_SQL_Running),
    lastSqlErrno: Number(row.Last_SQL_Errno ?? 0),
    lastSqlError: String(row.Last_SQL_Error ?? ''),
    lastIoErrno: Number(row.Last_IO_Errno ?? 0),
    positions: {
      read: {
        file: String(row.Master_Log_File ?? row.Source_Log_File ?? ''),
        pos: Number(row.Read_Master_Log_Pos ?? row.Read_Source_Log_Pos ?? 0),
      },
      exec: {
        file: String(row.Relay_Master_Log_File ?? row.Relay_Source_Log_File ?? ''),
        pos: Number(row.Exec_Master_Log_Pos ?? row.Exec_Source_Log_Pos ?? 0),
      },
      relayFile: String(row.Relay_Log_File ?? '').replace(/^.*\//, ''),
      relayPos: Number(row.Relay_Log_Pos ?? 0),
    },
    usingGtid: String(row.Using_Gtid ?? 'No'),
    secondsBehindMaster:
      row.Seconds_Behind_Master === null || row.Seconds_Behind_Master === undefined
        ? null
        : Number(row.Seconds_Behind_Master),
  };
}

/** Connect to one server and read what failover decisions need. Never throws: a dead server is a state. */
export async function inspectServer(
  config: ServerConfig,
  opts: { connectTimeoutMs?: number } = {},
): Promise<ServerState> {
  const state: ServerState = { config, name: serverName(config), alive: false };
  let conn: ServerConnection | undefined;
  try {
    conn = await ServerConnection.open(addressOf(config), {
      connectTimeoutMs: opts.connectTimeoutMs ?? 4000,
      queryTimeoutMs: 10_000,
    });
  } catch (err) {
    const e = err as ServerError;
    if (e.errno !== undefined && ALIVE_ERROR_CODES.has(e.errno)) {
      throw new Error(`${state.name}: ${e.message}, but this is not a MySQL crash. Check MySQL server settings.`);
    }
    state.error = e.message;
    return state;
  }
  try {
    state.conn = conn;
    state.alive = true;
    const [v] = await conn.query(
      'SELECT @@global.server_id AS sid, VERSION() AS v, @@global.log_bin AS lb, @@global.read_only AS ro, @@global.relay_log_purge AS rp, @@global.datadir AS dd, @@global.relay_log_index AS rli, @@global.relay_log_basename AS rlb',
    );
    state.serverId = Number(v.sid);
    state.version = String(v.v);
    state.logBin = Number(v.lb) === 1;
    state.readOnly = Number(v.ro) === 1;
    state.relayLogPurge = Number(v.rp) === 1;
    state.datadir = String(v.dd);
    const rli = v.rli ? String(v.rli) : `${String(v.rlb ?? '')}.index`;
    state.relayLogIndex = rli.startsWith('/') ? rli : `${state.datadir.replace(/\/$/, '')}/${rli}`;
    if (state.logBin) {
      const ms = await conn.one(conn.dialect.showBinaryLogStatus);
      if (ms) state.binlog = { file: String(ms.File), pos: Number(ms.Position) };
    }
    const rs = await conn.replicaStatus();
    if (rs && String(rs.Master_Host ?? rs.Source_Host ?? '') !== '') state.replica = readReplicaStatus(rs);
    if (conn.version.flavor === 'mariadb') {
      const [g] = await conn.query('SELECT @@gtid_binlog_pos AS b, @@gtid_slave_pos AS s, @@gtid_current_pos AS c');
      state.gtid = { binlogPos: String(g.b ?? ''), slavePos: String(g.s ?? ''), currentPos: String(g.c ?? '') };
    }
  } catch (err) {
    state.error = (err as Error).message;
  }
  return state;
}

/** Re-read a replica's status on an open connection. */
export async function refreshReplica(state: ServerState): Promise<ReplicaStatus | undefined> {
  const rs = await state.conn?.replicaStatus();
  state.replica = rs && String(rs.Master_Host ?? rs.Source_Host ?? '') !== '' ? readReplicaStatus(rs) : undefined;
  return state.replica;
}

/** Does this replica replicate from that server (by host name or IP, and port)? */
export function replicatesFrom(replica: ServerState, master: ServerConfig): boolean {
  const r = replica.replica;
  if (!r) return false;
  return (
    (r.masterHost === master.hostname || r.masterHost === (master.ip ?? master.hostname)) &&
    r.masterPort === master.port
  );
}

/** Master positions compared numerically by file suffix (never as strings: .999999 < .1000000). */
export function compareMasterPositions(a: { file: string; pos: number }, b: { file: string; pos: number }): number {
  const byFile = compareLogFileNames(a.file, b.file);
  return byFile !== 0 ? byFile : a.pos - b.pos;
}

/** The relay-log files of a replica, from its index file (read through the given reader). */
export function relayFilesFromIndex(text: string): string[] {
  return parseIndexFile(text);
}

/** What a MariaDB server has executed (its binlog and what its SQL thread applied). */
export function executedGtids(state: ServerState): MariadbGtidList | undefined {
  if (!state.gtid) return undefined;
  return MariadbGtidList.parse(state.gtid.slavePos)
    .union(MariadbGtidList.parse(state.gtid.binlogPos))
    .union(MariadbGtidList.parse(state.gtid.currentPos));
}

export function readLocalIndex(path: string): string[] {
  return parseIndexFile(readFileSync(path, 'utf8'));
}

export async function closeAll(states: ServerState[]): Promise<void> {
  await Promise.allSettled(states.map((s) => s.conn?.close()));
}
