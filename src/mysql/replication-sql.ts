/**
 * Replication statements in each server's dialect: CHANGE MASTER / CHANGE REPLICATION
 * SOURCE, position and GTID waits with a timeout, read_only switches. Pure functions of the
 * dialect (testable without a server), plus thin helpers that run them on a connection.
 */
import type { ServerConnection } from './server-connection.js';
import type { ReplicationDialect } from './server-version.js';

export interface ChangeSourceSpec {
  host: string;
  port: number;
  user: string;
  password: string;
  /** File/position replication from this master position. */
  position?: { file: string; pos: number };
  /**
   * GTID replication: MariaDB `MASTER_USE_GTID=slave_pos|current_pos`, MySQL auto-position
   * (`auto`). Ignored when `position` is given.
   */
  gtid?: 'slave_pos' | 'current_pos' | 'auto';
  connectRetrySec?: number;
}

export interface Statement {
  sql: string;
  params: unknown[];
  /** For logs: values inlined, the password as `xxx` (MHA's "Statement should be" form). */
  display: string;
}

/**
 * A string literal for statements shown to people (logs, reports), which they may paste into a
 * client: quotes, backslashes and control characters escaped. Executed statements use
 * parameters instead.
 */
export function sqlString(s: string): string {
  return `'${s.replace(/[\\'\0\n\r\x1a]/g, (c) => SQL_ESCAPES[c] ?? c)}'`;
}
const SQL_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\x1a': '\\Z',
};
const quote = sqlString;

/**
 * MHA's "All other slaves should start replication from here. Statement should be: …" for
 * file/position replication (host, port, file, position, user; the password as `xxx`), with
 * every value escaped: a user or host name with a quote must not turn the line operators paste
 * into a different statement.
 */
export function mhaChangeSourceDisplay(
  d: ReplicationDialect,
  spec: { host: string; port: number; file: string; pos: number; user: string },
): string {
  const p = d.sourceOption;
  return (
    `${d.changeSource} ${p}_HOST=${quote(spec.host)}, ${p}_PORT=${spec.port}, ${p}_LOG_FILE=${quote(spec.file)}, ` +
    `${p}_LOG_POS=${spec.pos}, ${p}_USER=${quote(spec.user)}, ${p}_PASSWORD='xxx';`
  );
}

/**
 * CHANGE MASTER TO / CHANGE REPLICATION SOURCE TO, options in MHA's order (host, port,
 * position or GTID mode, user, password). File/position on MariaDB says MASTER_USE_GTID=no
 * (10.10+ would otherwise switch to slave_pos); on MySQL ≥ 5.6.5 it says AUTO_POSITION=0
 * (a replica that used auto-position refuses a file/position otherwise).
 */
export function changeSourceStatement(d: ReplicationDialect, spec: ChangeSourceSpec): Statement {
  const p = d.sourceOption;
  const parts: Array<[string, unknown, string]> = [
    [`${p}_HOST`, spec.host, quote(spec.host)],
    [`${p}_PORT`, spec.port, String(spec.port)],
  ];
  const raw: string[] = [];
  if (spec.position) {
    parts.push([`${p}_LOG_FILE`, spec.position.file, quote(spec.position.file)]);
    parts.push([`${p}_LOG_POS`, spec.position.pos, String(spec.position.pos)]);
    if (d.gtidKind === 'mariadb') raw.push('MASTER_USE_GTID=no');
    else if (d.gtidKind === 'mysql') raw.push(`${p}_AUTO_POSITION=0`);
  } else if (spec.gtid) {
    if (d.gtidKind === 'mariadb') {
      if (spec.gtid === 'auto') throw new Error('MariaDB has no auto-position: use slave_pos or current_pos');
      raw.push(`MASTER_USE_GTID=${spec.gtid}`);
    } else if (d.gtidKind === 'mysql') {
      raw.push(`${p}_AUTO_POSITION=1`);
    } else {
      throw new Error('this server has no GTIDs');
    }
  } else {
    throw new Error('CHANGE MASTER needs a position or a GTID mode');
  }
  const tail: Array<[string, unknown, string]> = [
    [`${p}_USER`, spec.user, quote(spec.user)],
    [`${p}_PASSWORD`, spec.password, "'xxx'"],
  ];
  if (spec.connectRetrySec !== undefined)
    tail.push([`${p}_CONNECT_RETRY`, spec.connectRetrySec, String(spec.connectRetrySec)]);
  const sqlParts = [...parts.map(([k]) => `${k}=?`), ...raw, ...tail.map(([k]) => `${k}=?`)];
  const shown = [...parts.map(([k, , s]) => `${k}=${s}`), ...raw, ...tail.map(([k, , s]) => `${k}=${s}`)];
  return {
    sql: `${d.changeSource} ${sqlParts.join(', ')}`,
    params: [...parts.map(([, v]) => v), ...tail.map(([, v]) => v)],
    display: `${d.changeSource} ${shown.join(', ')};`,
  };
}

/** SELECT MASTER_POS_WAIT / SOURCE_POS_WAIT(file, pos, timeout) AS r. */
export function positionWaitStatement(
  d: ReplicationDialect,
  pos: { file: string; pos: number },
  timeoutSec: number,
): Statement {
  // Whole seconds: MySQL documents an integer timeout here.
  const t = Math.max(1, Math.ceil(timeoutSec));
  return {
    sql: `SELECT ${d.positionWaitFunction}(?, ?, ?) AS r`,
    params: [pos.file, pos.pos, t],
    display: `SELECT ${d.positionWaitFunction}(${quote(pos.file)}, ${pos.pos}, ${t})`,
  };
}

/** SELECT MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET(gtids, timeout) AS r. */
export function gtidWaitStatement(d: ReplicationDialect, gtids: string, timeoutSec: number): Statement {
  // MariaDB takes fractional seconds (microsecond precision); MySQL is given whole seconds.
  const t =
    d.gtidKind === 'mariadb'
      ? Math.max(0.001, Math.round(timeoutSec * 1000) / 1000)
      : Math.max(1, Math.ceil(timeoutSec));
  return {
    sql: `SELECT ${d.gtidWaitFunction}(?, ?) AS r`,
    params: [gtids, t],
    display: `SELECT ${d.gtidWaitFunction}(${quote(gtids)}, ${t})`,
  };
}

export type WaitOutcome = 'reached' | 'timeout' | 'not-replicating';

/**
 * What a wait function's result means. MASTER/SOURCE_POS_WAIT: events waited (≥ 0), -1 on
 * timeout, NULL when the SQL thread is not running. MASTER_GTID_WAIT: 0 or -1.
 * WAIT_FOR_EXECUTED_GTID_SET: 0 or 1 (timeout). WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS: like POS_WAIT.
 */
export function interpretWait(fn: string, value: unknown): WaitOutcome {
  if (value === null || value === undefined) return 'not-replicating';
  const n = Number(value);
  if (fn === 'WAIT_FOR_EXECUTED_GTID_SET') return n === 0 ? 'reached' : 'timeout';
  return n === -1 ? 'timeout' : 'reached';
}

/** Statements that make a server reject writes: MySQL ≥ 5.7.8 super_read_only (SUPER users too), else read_only. */
export function readOnlyStatements(d: ReplicationDialect, on: boolean): string[] {
  if (on) return d.superReadOnly ? ['SET GLOBAL super_read_only=1'] : ['SET GLOBAL read_only=1'];
  // read_only=0 also clears super_read_only.
  return ['SET GLOBAL read_only=0'];
}

/** Run a wait statement with a client-side bound a little longer than the server-side timeout. */
export async function waitUntil(conn: ServerConnection, st: Statement, timeoutSec: number): Promise<WaitOutcome> {
  const fn = /SELECT (\w+)\(/.exec(st.sql)?.[1] ?? '';
  const [row] = await conn.query<{ r: unknown }>(st.sql, st.params, Math.ceil(timeoutSec * 1000) + 5000);
  return interpretWait(fn, row?.r);
}

/** Wait until the SQL thread has executed up to a master position (bounded). */
export function waitForPosition(
  conn: ServerConnection,
  pos: { file: string; pos: number },
  timeoutSec: number,
): Promise<WaitOutcome> {
  return waitUntil(conn, positionWaitStatement(conn.dialect, pos, timeoutSec), timeoutSec);
}

/** Wait until a GTID position (MariaDB) / set (MySQL) is executed (bounded). */
export function waitForGtids(conn: ServerConnection, gtids: string, timeoutSec: number): Promise<WaitOutcome> {
  return waitUntil(conn, gtidWaitStatement(conn.dialect, gtids, timeoutSec), timeoutSec);
}
