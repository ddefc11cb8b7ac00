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
 * MySQL 8.0.22 renamed SHOW SLAVE STATUS and friends, and 8.4 removed the old names;
 * MariaDB keeps both spellings. The statements a server understands, by version.
 */
export function replicationDialect(v: ServerVersion): {
  showReplicaStatus: string;
  stopReplica: string;
  startReplica: string;
  resetReplicaAll: string;
  changeSource: string;
  showBinaryLogStatus: string;
} {
  const modern = v.flavor !== 'mariadb' && versionAtLeast(v, 8, 0, 22);
  const noMasterStatus = v.flavor !== 'mariadb' && versionAtLeast(v, 8, 2);
  return {
    showReplicaStatus: modern ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS',
    stopReplica: modern ? 'STOP REPLICA' : 'STOP SLAVE',
    startReplica: modern ? 'START REPLICA' : 'START SLAVE',
    resetReplicaAll: modern ? 'RESET REPLICA ALL' : 'RESET SLAVE ALL',
    changeSource: modern && versionAtLeast(v, 8, 0, 23) ? 'CHANGE REPLICATION SOURCE TO' : 'CHANGE MASTER TO',
    showBinaryLogStatus: noMasterStatus ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS',
  };
}
