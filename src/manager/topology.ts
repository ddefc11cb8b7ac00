import { readFileSync } from 'node:fs';
import { MariadbGtidList } from '@mha-ts/native-free-parsers';
import { compareLogFileNames, parseIndexFile } from '../engine/log-files.js';
import type { ReplicaPositions } from '../engine/recovery-plan.js';
import { type ChangeSourceSpec, changeSourceStatement, type Statement } from '../mysql/replication-sql.js';
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
  /** MariaDB: GTID position of the last event the I/O thread received (Gtid_IO_Pos). */
  gtidIoPos: string;
  /** MySQL: auto-position (Auto_Position = 1). */
  autoPosition: boolean;
  /** MySQL: Retrieved_Gtid_Set / Executed_Gtid_Set. */
  retrievedGtidSet: string;
  executedGtidSet: string;
  /** The master's server_id (and MySQL: server_uuid) as the replica last saw it. */
  masterServerId: number | undefined;
  masterUuid: string;
  secondsBehindMaster: number | null;
  /** Slave_SQL_Running_State: what the SQL thread is doing ("…has read all relay log…"). */
  sqlState: string;
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
  /** MariaDB @@gtid_binlog_state: the last GTID of every (domain, server id) in its binlogs. */
  gtidBinlogState?: string;
  /** MySQL: @@gtid_mode, @@gtid_executed, @@server_uuid. */
  mysqlGtid?: { mode: string; executed: string; uuid: string };
  /** log_slave_updates / log_replica_updates: what it replicates goes into its own binlog. */
  logSlaveUpdates?: boolean;
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
    gtidIoPos: String(row.Gtid_IO_Pos ?? ''),
    autoPosition: Number(row.Auto_Position ?? 0) === 1,
    retrievedGtidSet: String(row.Retrieved_Gtid_Set ?? '').replace(/\s+/g, ''),
    executedGtidSet: String(row.Executed_Gtid_Set ?? '').replace(/\s+/g, ''),
    masterServerId:
      (row.Master_Server_Id ?? row.Source_Server_Id) ? Number(row.Master_Server_Id ?? row.Source_Server_Id) : undefined,
    masterUuid: String(row.Master_UUID ?? row.Source_UUID ?? ''),
    sqlState: String(row.Slave_SQL_Running_State ?? row.Replica_SQL_Running_State ?? ''),
    secondsBehindMaster:
      (row.Seconds_Behind_Master ?? row.Seconds_Behind_Source ?? null) === null
        ? null
        : Number(row.Seconds_Behind_Master ?? row.Seconds_Behind_Source),
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
    const lsu = await conn.query<{ Variable_name: string; Value: string }>(
      "SHOW GLOBAL VARIABLES LIKE 'log\\_%\\_updates'",
    );
    const lsuRow = lsu.find((r) => /^log_(slave|replica)_updates$/i.test(r.Variable_name));
    if (lsuRow) state.logSlaveUpdates = /^(on|1)$/i.test(String(lsuRow.Value));
    if (conn.dialect.gtidKind === 'mariadb') {
      await readMariadbGtids(state);
    } else if (conn.dialect.gtidKind === 'mysql') {
      await readMysqlGtids(state);
    }
  } catch (err) {
    state.error = (err as Error).message;
  }
  return state;
}

/** Re-read a MariaDB server's GTID positions (binlog, slave, current, binlog state). */
export async function readMariadbGtids(state: ServerState): Promise<void> {
  const [g] = await state.conn!.query(
    'SELECT @@global.gtid_binlog_pos AS b, @@global.gtid_slave_pos AS s, @@global.gtid_current_pos AS c, @@global.gtid_binlog_state AS st',
  );
  state.gtid = { binlogPos: String(g.b ?? ''), slavePos: String(g.s ?? ''), currentPos: String(g.c ?? '') };
  state.gtidBinlogState = String(g.st ?? '');
}

/** Re-read a MySQL server's GTID mode, executed set and uuid. */
export async function readMysqlGtids(state: ServerState): Promise<void> {
  const [g] = await state.conn!.query(
    'SELECT @@global.gtid_mode AS m, @@global.gtid_executed AS e, @@global.server_uuid AS u',
  );
  state.mysqlGtid = {
    mode: String(g.m ?? 'OFF'),
    executed: String(g.e ?? '').replace(/\s+/g, ''),
    uuid: String(g.u ?? ''),
  };
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

/**
 * Point a replica at a (new) master and start it: STOP, CHANGE MASTER in the server's dialect
 * (relay logs go; MariaDB keeps gtid_slave_pos), relay_log_purge=0 again if it was (CHANGE
 * MASTER re-enables it), START; then wait, bounded, until both threads run —
 * failing early when the SQL thread stops with an error.
 */
export async function changeMasterAndStart(
  r: ServerState,
  spec: ChangeSourceSpec,
  opts: { timeoutMs?: number } = {},
): Promise<Statement> {
  const c = r.conn!;
  await c.query(c.dialect.stopReplica);
  // No RESET SLAVE first: CHANGE MASTER to a new host drops the relay logs itself, and a
  // manager killed between the two would leave a replica with neither its old coordinates
  // (for a rerun to recover it) nor the new ones.
  const st = changeSourceStatement(c.dialect, spec);
  await c.query(st.sql, st.params);
  if (r.relayLogPurge === false) await c.query('SET GLOBAL relay_log_purge=0');
  await c.query(c.dialect.startReplica);
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const s = await refreshReplica(r);
    if (s?.ioRunning && s.sqlRunning) return st;
    if (s && !s.sqlRunning && s.lastSqlErrno !== 0)
      throw new Error(`SQL thread error ${s.lastSqlErrno}: ${s.lastSqlError}`);
    if (s && s.lastIoErrno !== 0 && !s.ioRunning && s.ioState !== 'Connecting')
      throw new Error(`I/O thread error ${s.lastIoErrno}`);
    if (Date.now() > deadline)
      throw new Error(`replication threads did not start within ${Math.round((opts.timeoutMs ?? 10_000) / 1000)} s`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

export async function closeAll(states: ServerState[]): Promise<void> {
  await Promise.allSettled(states.map((s) => s.conn?.close()));
}
