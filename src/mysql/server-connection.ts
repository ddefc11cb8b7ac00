import { type Connection, type ConnectionOptions, createConnection } from 'mysql2/promise';
import {
  parseServerVersion,
  type ReplicationDialect,
  replicationDialect,
  type ServerVersion,
} from './server-version.js';

/** Where a server is and how to log in. The password is never logged or put on argv. */
export interface ServerAddress {
  host: string;
  port: number;
  user: string;
  password?: string;
  socketPath?: string;
}

export class ServerError extends Error {
  readonly host: string;
  readonly port: number;
  readonly code: string | undefined;
  readonly errno: number | undefined;
  constructor(addr: ServerAddress, message: string, cause?: { code?: string; errno?: number }) {
    super(`${addr.host}:${addr.port}: ${message}`);
    this.name = 'ServerError';
    this.host = addr.host;
    this.port = addr.port;
    this.code = cause?.code;
    this.errno = cause?.errno;
  }
}

export type Row = Record<string, unknown>;

export interface ConnectOptions {
  connectTimeoutMs?: number;
  /** Default bound for each query; individual calls may pass their own. */
  queryTimeoutMs?: number;
  multipleStatements?: boolean;
}

/**
 * One mysql2 connection with a timeout on every call, and the server's version and
 * replication dialect learned at connect time.
 */
export class ServerConnection {
  readonly addr: ServerAddress;
  readonly conn: Connection;
  readonly version: ServerVersion;
  readonly dialect: ReplicationDialect;
  private readonly queryTimeoutMs: number;

  private constructor(addr: ServerAddress, conn: Connection, version: ServerVersion, queryTimeoutMs: number) {
    this.addr = addr;
    this.conn = conn;
    this.version = version;
    this.dialect = replicationDialect(version);
    this.queryTimeoutMs = queryTimeoutMs;
  }

  static async open(addr: ServerAddress, opts: ConnectOptions = {}): Promise<ServerConnection> {
    const options: ConnectionOptions = {
      host: addr.host,
      port: addr.port,
      user: addr.user,
      password: addr.password ?? '',
      socketPath: addr.socketPath,
      connectTimeout: opts.connectTimeoutMs ?? 5000,
      multipleStatements: opts.multipleStatements ?? false,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      charset: 'utf8mb4',
    };
    let conn: Connection;
    try {
      conn = await createConnection(options);
    } catch (err) {
      const e = err as { code?: string; errno?: number; message: string };
      throw new ServerError(addr, `cannot connect: ${e.message}`, e);
    }
    conn.on('error', () => {});
    try {
      const timeout = opts.queryTimeoutMs ?? 10_000;
      const [rows] = await conn.query({ sql: 'SELECT VERSION() AS v, @@sql_mode AS m', timeout });
      const version = parseServerVersion(String((rows as Row[])[0].v));
      // mysql2 inlines parameters client-side with backslash escapes; under NO_BACKSLASH_ESCAPES
      // the server would read `\'` in a name or password as the end of the string. This session
      // never runs the binlog's own statements, so dropping the mode changes nothing else.
      const modes = String((rows as Row[])[0].m ?? '').split(',');
      if (modes.includes('NO_BACKSLASH_ESCAPES')) {
        const kept = modes.filter((m) => m !== 'NO_BACKSLASH_ESCAPES' && /^[A-Z_]+$/.test(m)).join(',');
        await conn.query({ sql: `SET SESSION sql_mode='${kept}'`, timeout });
      }
      return new ServerConnection(addr, conn, version, opts.queryTimeoutMs ?? 10_000);
    } catch (err) {
      conn.destroy();
      throw err instanceof ServerError ? err : new ServerError(addr, (err as Error).message, err as { code?: string });
    }
  }

  async query<T extends Row = Row>(sql: string, params?: unknown[], timeoutMs?: number): Promise<T[]> {
    try {
      const [rows] = await this.conn.query({ sql, values: params, timeout: timeoutMs ?? this.queryTimeoutMs });
      return rows as T[];
    } catch (err) {
      const e = err as { code?: string; errno?: number; message: string };
      throw new ServerError(this.addr, `${this.withoutSecrets(e.message, sql, params)} (in: ${sql.slice(0, 120)})`, e);
    }
  }

  /**
   * A syntax error quotes the statement "near '…'" with the parameters inlined: a password
   * given as a parameter would reach the logs, escaped so that masking the password as
   * configured misses it.
   */
  private withoutSecrets(message: string, sql: string, params: unknown[] | undefined): string {
    if (!params?.length) return message;
    let out = message;
    const before = sql.split('?');
    for (let i = 0; i < params.length && i < before.length - 1; i++) {
      const v = params[i];
      if (typeof v !== 'string' || v === '') continue;
      if (!/(PASSWORD\s*=|IDENTIFIED\s+BY|PASSWORD\s*\()\s*$/i.test(before[i])) continue;
      for (const form of [this.conn.escape(v).slice(1, -1), v]) out = out.split(form).join('xxx');
      // The quoted piece may end inside the password (the server cuts it short): drop it whole.
      out = out.replace(/near '[\s\S]*' at line (\d+)/, 'near (withheld: the statement holds a password) at line $1');
    }
    return out;
  }

  /** This session's id on the server (CONNECTION_ID()), to leave it out of processlist checks and kills. */
  get connectionId(): number {
    return Number(this.conn.threadId);
  }

  async one<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T | undefined> {
    return (await this.query<T>(sql, params))[0];
  }

  async variable(name: string): Promise<string | undefined> {
    const row = await this.one<{ Value: string }>('SHOW GLOBAL VARIABLES LIKE ?', [name]);
    return row?.Value;
  }

  async replicaStatus(): Promise<Row | undefined> {
    return this.one(this.dialect.showReplicaStatus);
  }

  async close(): Promise<void> {
    try {
      await this.conn.end();
    } catch {
      this.conn.destroy();
    }
  }
}
