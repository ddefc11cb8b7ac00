/**
 * Fake MySQL / MariaDB servers at the mysql2 boundary, for what cannot run here (no MySQL
 * server package, no Docker): a test replaces `mysql2/promise`'s createConnection for the
 * fake hosts (vi.mock) and the code under test talks to these objects instead of sockets.
 *
 * Each fake records every statement it receives (values interpolated) and answers the
 * statements mha-ts issues — server status, replica status in the version's column names,
 * GTID variables, CHANGE MASTER / CHANGE REPLICATION SOURCE, START/STOP/RESET, waits,
 * read_only, locks. It rejects with ER_PARSE_ERROR (1064) the syntax its version does not
 * have: MySQL 8.4+ the SLAVE/MASTER spellings it removed, MySQL before 8.0.22 the REPLICA
 * spellings, before 8.0.23 CHANGE REPLICATION SOURCE, before 8.0.26 SOURCE_POS_WAIT, before
 * 8.2 SHOW BINARY LOG STATUS, MariaDB the MySQL-only statements and variables. Anything it
 * does not know fails too, so a test sees every statement that reaches the boundary.
 *
 * Replication is modelled at GTID granularity: a running I/O thread retrieves whatever its
 * (alive) source has executed, a running SQL thread executes what was retrieved, instantly,
 * each time the server receives a statement. `stuck` freezes the SQL thread.
 * What it does NOT prove: real server timing, locking, error texts, or that the server
 * accepts every option value — only the statements and the order in which they are sent.
 */
import { EventEmitter } from 'node:events';
import { MariadbGtidList, MysqlGtidSet } from '@mha-ts/native-free-parsers';
import { parseServerVersion, type ServerVersion, versionAtLeast } from '../../src/mysql/server-version.js';

export interface FakeReplicaInit {
  sourceHost: string;
  sourcePort?: number;
  sourceUuid?: string;
  autoPosition?: boolean;
  /** MariaDB: MASTER_USE_GTID. */
  useGtid?: 'No' | 'Slave_Pos' | 'Current_Pos';
  retrieved?: string;
  io?: boolean;
  sql?: boolean;
  secondsBehind?: number;
}

export interface FakeServerInit {
  host: string;
  port?: number;
  version: string;
  serverId: number;
  uuid?: string;
  /** MySQL gtid_executed, or MariaDB gtid_binlog_pos (slave_pos = binlog_pos unless given). */
  executed?: string;
  slavePos?: string;
  gtidMode?: 'ON' | 'OFF';
  readOnly?: boolean;
  logBin?: boolean;
  logSlaveUpdates?: boolean;
  dead?: boolean;
  replica?: FakeReplicaInit;
}

interface Recorded {
  sql: string;
  values: unknown[] | undefined;
  text: string;
}

export class FakeMysqlError extends Error {
  constructor(
    message: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'FakeMysqlError';
  }
}

const parseError = (sql: string) =>
  new FakeMysqlError(
    `You have an error in your SQL syntax; check the manual for the right syntax to use near '${sql.slice(0, 40)}'`,
    1064,
    'ER_PARSE_ERROR',
  );

function interpolate(sql: string, values: unknown[] | undefined): string {
  if (!values) return sql;
  let i = 0;
  return sql.replace(/\?/g, () => {
    const v = values[i++];
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    if (v === null || v === undefined) return 'NULL';
    return `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  });
}

export class FakeServer {
  readonly host: string;
  readonly port: number;
  readonly version: ServerVersion;
  readonly serverId: number;
  readonly uuid: string;
  readonly mariadb: boolean;
  /** MySQL: gtid_executed. MariaDB: the binlog position (gtid_binlog_pos). */
  executed: MysqlGtidSet;
  mariadbBinlog: MariadbGtidList;
  mariadbSlavePos: MariadbGtidList;
  gtidMode: string;
  readOnly: boolean;
  superReadOnly = false;
  logBin: boolean;
  logSlaveUpdates: boolean;
  dead: boolean;
  stuck = false;
  globalLock = false;
  replica:
    | {
        sourceHost: string;
        sourcePort: number;
        sourceUuid: string;
        autoPosition: boolean;
        useGtid: string;
        retrieved: MysqlGtidSet;
        mariadbIo: MariadbGtidList;
        io: boolean;
        sql: boolean;
        secondsBehind: number;
      }
    | undefined;
  readonly recorded: Recorded[] = [];
  private nextThread = 100;

  constructor(
    private readonly net: FakeNetwork,
    init: FakeServerInit,
  ) {
    this.host = init.host;
    this.port = init.port ?? 3306;
    this.version = parseServerVersion(init.version);
    this.mariadb = this.version.flavor === 'mariadb';
    this.serverId = init.serverId;
    this.uuid = init.uuid ?? `00000000-0000-0000-0000-${String(init.serverId).padStart(12, '0')}`;
    this.executed = this.mariadb ? MysqlGtidSet.EMPTY : MysqlGtidSet.parse(init.executed ?? '');
    this.mariadbBinlog = this.mariadb ? MariadbGtidList.parse(init.executed ?? '') : MariadbGtidList.EMPTY;
    this.mariadbSlavePos = this.mariadb
      ? MariadbGtidList.parse(init.slavePos ?? init.executed ?? '')
      : MariadbGtidList.EMPTY;
    this.gtidMode = init.gtidMode ?? 'ON';
    this.readOnly = init.readOnly ?? false;
    this.logBin = init.logBin ?? true;
    this.logSlaveUpdates = init.logSlaveUpdates ?? true;
    this.dead = init.dead ?? false;
    if (init.replica) {
      this.replica = {
        sourceHost: init.replica.sourceHost,
        sourcePort: init.replica.sourcePort ?? 3306,
        sourceUuid: init.replica.sourceUuid ?? '',
        autoPosition: init.replica.autoPosition ?? false,
        useGtid: init.replica.useGtid ?? 'No',
        retrieved: this.mariadb ? MysqlGtidSet.EMPTY : MysqlGtidSet.parse(init.replica.retrieved ?? ''),
        mariadbIo: this.mariadb ? MariadbGtidList.parse(init.replica.retrieved ?? '') : MariadbGtidList.EMPTY,
        io: init.replica.io ?? true,
        sql: init.replica.sql ?? true,
        secondsBehind: init.replica.secondsBehind ?? 0,
      };
    }
  }

  /** Every statement received, values interpolated, in order. */
  statements(): string[] {
    return this.recorded.map((r) => r.text);
  }

  newThreadId(): number {
    return this.nextThread++;
  }

  private atLeast(major: number, minor = 0, patch = 0): boolean {
    return !this.mariadb && versionAtLeast(this.version, major, minor, patch);
  }

  /** Replication progress: the I/O thread fetches from a live source, the SQL thread applies. */
  tick(): void {
    const r = this.replica;
    if (!r) return;
    const src = this.net.get(r.sourceHost);
    if (r.io && src && !src.dead) {
      if (this.mariadb) r.mariadbIo = r.mariadbIo.union(src.mariadbBinlog);
      else r.retrieved = r.retrieved.union(src.executed);
    }
    if (r.sql && !this.stuck) {
      if (this.mariadb) {
        this.mariadbSlavePos = this.mariadbSlavePos.union(r.mariadbIo);
        if (this.logSlaveUpdates) this.mariadbBinlog = this.mariadbBinlog.union(r.mariadbIo);
      } else {
        this.executed = this.executed.union(r.retrieved);
      }
    }
  }

  private checkSyntax(sql: string): void {
    const s = sql.toUpperCase();
    if (this.mariadb) {
      if (
        /CHANGE REPLICATION SOURCE|\bSOURCE_\w+|SHOW BINARY LOG STATUS|WAIT_FOR_EXECUTED_GTID_SET|SUPER_READ_ONLY|MASTER_AUTO_POSITION|GTID_EXECUTED|GTID_MODE\b/.test(
          s,
        )
      )
        throw parseError(sql);
      return;
    }
    if (this.atLeast(8, 4)) {
      if (
        /SHOW SLAVE STATUS|SHOW MASTER STATUS|CHANGE MASTER|START SLAVE|STOP SLAVE|RESET SLAVE|RESET MASTER|SHOW SLAVE HOSTS|MASTER_AUTO_POSITION|MASTER_HOST|WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS|MASTER_USE_GTID|GTID_BINLOG_POS|GTID_SLAVE_POS/.test(
          s,
        )
      )
        throw parseError(sql);
    }
    if (!this.atLeast(8, 0, 22) && /SHOW REPLICA STATUS|START REPLICA|STOP REPLICA|RESET REPLICA|SHOW REPLICAS/.test(s))
      throw parseError(sql);
    if (!this.atLeast(8, 0, 23) && /CHANGE REPLICATION SOURCE|SOURCE_HOST/.test(s)) throw parseError(sql);
    if (!this.atLeast(8, 0, 26) && /SOURCE_POS_WAIT/.test(s)) throw parseError(sql);
    if (!this.atLeast(8, 2) && /SHOW BINARY LOG STATUS|RESET BINARY LOGS AND GTIDS/.test(s)) throw parseError(sql);
    if (!this.atLeast(5, 7, 8) && /SUPER_READ_ONLY/.test(s))
      throw new FakeMysqlError("Unknown system variable 'super_read_only'", 1193, 'ER_UNKNOWN_SYSTEM_VARIABLE');
    if (/MASTER_USE_GTID|GTID_BINLOG_POS|GTID_SLAVE_POS|MASTER_GTID_WAIT/.test(s)) throw parseError(sql);
  }

  private variable(name: string): unknown {
    const n = name.toLowerCase();
    const vars: Record<string, unknown> = {
      server_id: this.serverId,
      log_bin: this.logBin ? 1 : 0,
      read_only: this.readOnly ? 1 : 0,
      super_read_only: this.superReadOnly ? 1 : 0,
      relay_log_purge: 0,
      datadir: '/var/lib/mysql/',
      relay_log_index: '/var/lib/mysql/relay-bin.index',
      relay_log_basename: '/var/lib/mysql/relay-bin',
      server_uuid: this.uuid,
      gtid_mode: this.gtidMode,
      gtid_executed: this.executed.toString(),
      gtid_binlog_pos: this.mariadbBinlog.toString(),
      gtid_slave_pos: this.mariadbSlavePos.toString(),
      gtid_current_pos: this.mariadbBinlog.union(this.mariadbSlavePos).toString(),
      gtid_binlog_state: this.mariadbBinlog.toString(),
      sql_mode: 'STRICT_TRANS_TABLES',
    };
    if (!(n in vars)) throw new FakeMysqlError(`Unknown system variable '${name}'`, 1193, 'ER_UNKNOWN_SYSTEM_VARIABLE');
    return vars[n];
  }

  private binlogPosition(): number {
    const n = this.mariadb
      ? this.mariadbBinlog.gtids().reduce((a, g) => a + Number(g.seq), 0)
      : Number(this.executed.count());
    return 4 + 100 * n;
  }

  private replicaRow(): Record<string, unknown> | undefined {
    const r = this.replica;
    if (!r) return undefined;
    const modern = this.atLeast(8, 0, 22);
    const read = 4 + 100 * (this.mariadb ? 0 : Number(r.retrieved.count()));
    const exec = 4 + 100 * (this.mariadb ? 0 : Number(this.executed.count()));
    const src = modern ? 'Source' : 'Master';
    const rep = modern ? 'Replica' : 'Slave';
    const row: Record<string, unknown> = {
      [`${src}_Host`]: r.sourceHost,
      [`${src}_Port`]: r.sourcePort,
      [`${rep}_IO_Running`]: r.io ? 'Yes' : 'No',
      [`${rep}_SQL_Running`]: r.sql ? 'Yes' : 'No',
      [`${src}_Log_File`]: 'binlog.000001',
      [`Read_${src}_Log_Pos`]: read,
      [`Relay_${src}_Log_File`]: 'binlog.000001',
      [`Exec_${src}_Log_Pos`]: exec,
      Relay_Log_File: 'relay-bin.000002',
      Relay_Log_Pos: 4,
      Last_SQL_Errno: 0,
      Last_SQL_Error: '',
      Last_IO_Errno: 0,
      [`Seconds_Behind_${src}`]: r.sql ? r.secondsBehind : null,
      [`${src}_Server_Id`]: this.net.get(r.sourceHost)?.serverId ?? 0,
    };
    if (this.mariadb) {
      row.Using_Gtid = r.useGtid;
      row.Gtid_IO_Pos = r.mariadbIo.toString();
    } else {
      row[`${src}_UUID`] = r.sourceUuid || this.net.get(r.sourceHost)?.uuid || '';
      row.Retrieved_Gtid_Set = r.retrieved.toString();
      row.Executed_Gtid_Set = this.executed.toString();
      row.Auto_Position = r.autoPosition ? 1 : 0;
    }
    return row;
  }

  /** Answer one statement like the server would (rows for SELECT/SHOW, [] otherwise). */
  handle(sql: string, values: unknown[] | undefined, threadId: number): Array<Record<string, unknown>> {
    const text = interpolate(sql, values);
    this.recorded.push({ sql, values, text });
    this.checkSyntax(text);
    this.tick();
    const t = text.trim();
    let m: RegExpExecArray | null;
    if (/^SELECT VERSION\(\) AS v$/i.test(t)) return [{ v: this.version.text }];
    if (/^SELECT 1$/i.test(t)) return [{ 1: 1 }];
    m = /^SELECT (GET_LOCK|RELEASE_LOCK)\(/i.exec(t);
    if (m) {
      const cols = [...t.matchAll(/(GET_LOCK|RELEASE_LOCK)\([^)]*\)(?: AS (\w+))?/gi)];
      return [Object.fromEntries(cols.map((c, i) => [c[2] ?? `c${i}`, 1]))];
    }
    m = /^SELECT (WAIT_FOR_EXECUTED_GTID_SET|MASTER_GTID_WAIT)\('([^']*)', ([\d.]+)\) AS r$/i.exec(t);
    if (m) {
      if (this.mariadb) return [{ r: this.mariadbSlavePos.contains(MariadbGtidList.parse(m[2])) ? 0 : -1 }];
      return [{ r: this.executed.contains(MysqlGtidSet.parse(m[2])) ? 0 : 1 }];
    }
    m = /^SELECT (SOURCE_POS_WAIT|MASTER_POS_WAIT)\('([^']*)', (\d+), (\d+)\) AS r$/i.exec(t);
    if (m) {
      if (!this.replica?.sql) return [{ r: null }];
      return [{ r: 4 + 100 * Number(this.executed.count()) >= Number(m[3]) || this.mariadb ? 0 : -1 }];
    }
    if (/^SELECT /i.test(t) && /@@/.test(t) && !/\bFROM\b/i.test(t)) {
      const row: Record<string, unknown> = {};
      for (const part of t.slice(7).split(/,\s*/)) {
        const x = /^(?:@@(?:global\.)?(\w+)|(VERSION\(\)))(?: AS (\w+))?$/i.exec(part.trim());
        if (!x)
          throw new FakeMysqlError(`fake server: unsupported select item "${part}" in: ${t}`, 1064, 'ER_PARSE_ERROR');
        row[x[3] ?? part.trim()] = x[2] ? this.version.text : this.variable(x[1]);
      }
      return [row];
    }
    if (/^SHOW GLOBAL VARIABLES LIKE 'log\\_%\\_updates'$/i.test(t)) {
      const name = this.atLeast(8, 0, 26) ? 'log_replica_updates' : 'log_slave_updates';
      return [{ Variable_name: name, Value: this.logSlaveUpdates ? 'ON' : 'OFF' }];
    }
    if (/^SHOW (MASTER|BINARY LOG) STATUS$/i.test(t)) {
      if (!this.logBin) return [];
      const row: Record<string, unknown> = {
        File: 'binlog.000001',
        Position: this.binlogPosition(),
        Binlog_Do_DB: '',
        Binlog_Ignore_DB: '',
      };
      if (!this.mariadb) row.Executed_Gtid_Set = this.executed.toString();
      return [row];
    }
    if (/^SHOW (SLAVE|REPLICA) STATUS$/i.test(t)) {
      const row = this.replicaRow();
      return row ? [row] : [];
    }
    if (/^SHOW FULL PROCESSLIST$/i.test(t)) {
      return [{ Id: threadId, User: 'mha', Command: 'Query', Time: 0, State: 'init', Info: 'SHOW FULL PROCESSLIST' }];
    }
    if (/INFORMATION_SCHEMA\.INNODB_TRX/i.test(t)) return [];
    m = /^(STOP|START) (SLAVE|REPLICA)(?: (IO_THREAD|SQL_THREAD))?$/i.exec(t);
    if (m) {
      const r = this.replica;
      if (!r) {
        if (m[1].toUpperCase() === 'START') throw new FakeMysqlError('Replica is not configured', 1200, 'ER_BAD_SLAVE');
        return [];
      }
      const on = m[1].toUpperCase() === 'START';
      if (!m[3] || m[3].toUpperCase() === 'IO_THREAD') r.io = on;
      if (!m[3] || m[3].toUpperCase() === 'SQL_THREAD') r.sql = on;
      this.tick();
      return [];
    }
    m = /^RESET (SLAVE|REPLICA)( ALL)?$/i.exec(t);
    if (m) {
      if (this.replica?.io || this.replica?.sql)
        throw new FakeMysqlError(
          'This operation cannot be performed with a running replica',
          3021,
          'ER_REPLICA_CHANNEL_MUST_STOP',
        );
      if (m[2]) this.replica = undefined;
      else if (this.replica) {
        this.replica.retrieved = MysqlGtidSet.EMPTY;
        this.replica.mariadbIo = MariadbGtidList.EMPTY;
      }
      return [];
    }
    m = /^(CHANGE MASTER TO|CHANGE REPLICATION SOURCE TO) (.*)$/i.exec(t);
    if (m) {
      if (this.replica?.io || this.replica?.sql)
        throw new FakeMysqlError(
          'This operation cannot be performed with a running replica',
          3021,
          'ER_REPLICA_CHANNEL_MUST_STOP',
        );
      const opts = new Map<string, string>();
      for (const o of m[2].matchAll(/(\w+)=('(?:[^'\\]|\\.)*'|\w+)/g))
        opts.set(o[1].toUpperCase(), o[2].replace(/^'|'$/g, ''));
      const get = (k: string) => opts.get(`MASTER_${k}`) ?? opts.get(`SOURCE_${k}`);
      const host = get('HOST');
      if (!host) throw new FakeMysqlError('fake server: CHANGE without HOST', 1064, 'ER_PARSE_ERROR');
      if (get('AUTO_POSITION') === '1' && get('LOG_FILE'))
        throw new FakeMysqlError('AUTO_POSITION with a file/position', 1777, 'ER_BAD_SLAVE_AUTO_POSITION');
      this.replica = {
        sourceHost: host,
        sourcePort: Number(get('PORT') ?? 3306),
        sourceUuid: '',
        autoPosition: get('AUTO_POSITION') === '1',
        useGtid: opts.get('MASTER_USE_GTID') ? (opts.get('MASTER_USE_GTID') === 'no' ? 'No' : 'Slave_Pos') : 'No',
        retrieved: MysqlGtidSet.EMPTY,
        mariadbIo: MariadbGtidList.EMPTY,
        io: false,
        sql: false,
        secondsBehind: 0,
      };
      return [];
    }
    m = /^SET GLOBAL (super_read_only|read_only)\s*=\s*(\d)$/i.exec(t);
    if (m) {
      const on = m[2] === '1';
      if (m[1].toLowerCase() === 'super_read_only') {
        this.superReadOnly = on;
        if (on) this.readOnly = true;
      } else {
        this.readOnly = on;
        if (!on) this.superReadOnly = false;
      }
      return [];
    }
    if (/^SET GLOBAL gtid_slave_pos = /i.test(t)) {
      this.mariadbSlavePos = MariadbGtidList.parse(/'([^']*)'/.exec(t)?.[1] ?? '');
      return [];
    }
    if (/^SET SESSION lock_wait_timeout=\d+$/i.test(t)) return [];
    if (/^SET GLOBAL relay_log_purge=[01]$/i.test(t)) return [];
    if (/^FLUSH NO_WRITE_TO_BINLOG TABLES$/i.test(t)) return [];
    if (/^FLUSH TABLES WITH READ LOCK$/i.test(t)) {
      this.globalLock = true;
      return [];
    }
    if (/^UNLOCK TABLES$/i.test(t)) {
      this.globalLock = false;
      return [];
    }
    if (/^KILL \d+$/i.test(t)) return [];
    throw new FakeMysqlError(`fake server: unsupported statement: ${t}`, 1064, 'ER_PARSE_ERROR');
  }
}

/** What mysql2/promise's createConnection resolves to, as far as mha-ts uses it. */
export class FakeConnection extends EventEmitter {
  readonly threadId: number;
  private closed = false;

  constructor(private readonly server: FakeServer) {
    super();
    this.threadId = server.newThreadId();
  }

  async query(
    arg: string | { sql: string; values?: unknown[]; timeout?: number },
    values?: unknown[],
  ): Promise<[unknown, unknown[]]> {
    if (this.closed)
      throw new FakeMysqlError("Can't add new command when connection is in closed state", 0, 'PROTOCOL');
    const sql = typeof arg === 'string' ? arg : arg.sql;
    const vals = typeof arg === 'string' ? values : (arg.values ?? values);
    if (this.server.dead)
      throw new FakeMysqlError('Connection lost: The server closed the connection.', 0, 'PROTOCOL_CONNECTION_LOST');
    await Promise.resolve();
    return [this.server.handle(sql, vals, this.threadId), []];
  }

  async end(): Promise<void> {
    this.closed = true;
  }

  destroy(): void {
    this.closed = true;
  }
}

export class FakeNetwork {
  private readonly servers = new Map<string, FakeServer>();

  add(init: FakeServerInit): FakeServer {
    const s = new FakeServer(this, init);
    this.servers.set(init.host, s);
    return s;
  }

  has(host: string | undefined): boolean {
    return host !== undefined && this.servers.has(host);
  }

  get(host: string): FakeServer | undefined {
    return this.servers.get(host);
  }

  async connect(opts: { host?: string }): Promise<FakeConnection> {
    const s = this.servers.get(opts.host ?? '');
    await Promise.resolve();
    if (!s || s.dead) {
      throw Object.assign(new Error(`connect ECONNREFUSED ${opts.host}:3306`), { code: 'ECONNREFUSED', errno: -111 });
    }
    return new FakeConnection(s);
  }

  reset(): void {
    this.servers.clear();
  }
}

/** One network per test process; tests reset it between cases. */
export const fakeNetwork = new FakeNetwork();
