/** A server's VERSION() string, understood (MariaDB's `10.11.19-MariaDB-0+deb12u1-log` included). */
export interface ServerVersion {
  text: string;
  major: number;
  minor: number;
  patch: number;
  flavor: 'mariadb' | 'mysql' | 'percona';
}

export function parseServerVersion(text: string): ServerVersion {
  // MariaDB 10.x once reported "5.5.5-10.x.y-MariaDB" over the wire; VERSION() does not.
  const t = text.replace(/^5\.5\.5-/, '');
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(t);
  if (!m) throw new Error(`unrecognised server version "${text}"`);
  const flavor = /mariadb/i.test(t) ? 'mariadb' : /percona/i.test(t) ? 'percona' : 'mysql';
  return { text, major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), flavor };
}

/** a ≥ b by (major, minor, patch). */
export function versionAtLeast(v: ServerVersion, major: number, minor = 0, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

/**
 * The statements and functions a server understands for replication, by version.
 *
 * - MariaDB (every 10.x/11.x): the MASTER/SLAVE spellings, `MASTER_USE_GTID`,
 *   `MASTER_GTID_WAIT`, no `super_read_only` (users with READ ONLY ADMIN ignore read_only).
 * - MySQL 5.7 – 8.0.21: the MASTER/SLAVE spellings, `MASTER_AUTO_POSITION`,
 *   `WAIT_FOR_EXECUTED_GTID_SET` (5.7.5+), `super_read_only` (5.7.8+).
 * - MySQL 8.0.22: SHOW REPLICA STATUS, START/STOP/RESET REPLICA, SHOW REPLICAS (output
 *   columns say Source/Replica).
 * - MySQL 8.0.23: CHANGE REPLICATION SOURCE TO with SOURCE_* options.
 * - MySQL 8.0.26: SOURCE_POS_WAIT (MASTER_POS_WAIT deprecated).
 * - MySQL 8.2: SHOW BINARY LOG STATUS, RESET BINARY LOGS AND GTIDS.
 * - MySQL 8.4 / 9.x: the old spellings are gone (CHANGE MASTER, SHOW SLAVE STATUS, SHOW MASTER
 *   STATUS, START/STOP SLAVE, RESET MASTER, MASTER_AUTO_POSITION, WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS).
 * Percona Server follows the MySQL version it is built on.
 */
export interface ReplicationDialect {
  flavor: ServerVersion['flavor'];
  showReplicaStatus: string;
  stopReplica: string;
  startReplica: string;
  resetReplica: string;
  resetReplicaAll: string;
  changeSource: string;
  /** Prefix of CHANGE … TO options: MASTER_HOST / SOURCE_HOST. */
  sourceOption: 'MASTER' | 'SOURCE';
  showBinaryLogStatus: string;
  showReplicas: string;
  resetBinaryLogs: string;
  /** Block until the SQL thread reached a master file/position (with a timeout). */
  positionWaitFunction: 'MASTER_POS_WAIT' | 'SOURCE_POS_WAIT';
  /** Block until a GTID position/set is executed (with a timeout). */
  gtidWaitFunction: 'MASTER_GTID_WAIT' | 'WAIT_FOR_EXECUTED_GTID_SET' | 'WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS';
  /** Which GTIDs this server has: MariaDB domain-server-seq positions, MySQL uuid sets, or none (MySQL < 5.6.5). */
  gtidKind: 'mariadb' | 'mysql' | 'none';
  /** `super_read_only` exists (MySQL ≥ 5.7.8): read_only for SUPER users too. */
  superReadOnly: boolean;
}

export function replicationDialect(v: ServerVersion): ReplicationDialect {
  const mysql = v.flavor !== 'mariadb';
  const modern = mysql && versionAtLeast(v, 8, 0, 22);
  const sourceSyntax = mysql && versionAtLeast(v, 8, 0, 23);
  const noMasterStatus = mysql && versionAtLeast(v, 8, 2);
  return {
    flavor: v.flavor,
    showReplicaStatus: modern ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS',
    stopReplica: modern ? 'STOP REPLICA' : 'STOP SLAVE',
    startReplica: modern ? 'START REPLICA' : 'START SLAVE',
    resetReplica: modern ? 'RESET REPLICA' : 'RESET SLAVE',
    resetReplicaAll: modern ? 'RESET REPLICA ALL' : 'RESET SLAVE ALL',
    changeSource: sourceSyntax ? 'CHANGE REPLICATION SOURCE TO' : 'CHANGE MASTER TO',
    sourceOption: sourceSyntax ? 'SOURCE' : 'MASTER',
    showBinaryLogStatus: noMasterStatus ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS',
    showReplicas: modern ? 'SHOW REPLICAS' : 'SHOW SLAVE HOSTS',
    resetBinaryLogs: noMasterStatus ? 'RESET BINARY LOGS AND GTIDS' : 'RESET MASTER',
    positionWaitFunction: mysql && versionAtLeast(v, 8, 0, 26) ? 'SOURCE_POS_WAIT' : 'MASTER_POS_WAIT',
    gtidWaitFunction: !mysql
      ? 'MASTER_GTID_WAIT'
      : versionAtLeast(v, 5, 7, 5)
        ? 'WAIT_FOR_EXECUTED_GTID_SET'
        : 'WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS',
    gtidKind: !mysql ? 'mariadb' : versionAtLeast(v, 5, 6, 5) ? 'mysql' : 'none',
    superReadOnly: mysql && versionAtLeast(v, 5, 7, 8),
  };
}
