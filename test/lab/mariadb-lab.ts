/**
 * A laboratory of real MariaDB servers on loopback, for integration tests and
 * fixture recording.
 *
 * Each instance gets its own directory (datadir, socket, pid file, error log,
 * tmpdir, secure_file_priv dir) so several servers can run side by side
 * without touching the system's /var/lib/mysql. Every process the lab starts
 * is tracked by PID and stopped by PID — never by name — because other labs
 * (and other engineers' tests) may run mariadbd on the same machine.
 *
 * Facts this module relies on (MariaDB 10.11, Debian 12):
 * - mariadbd refuses to run as root, so when we are root it runs with
 *   `--user=mysql` and everything it writes must belong to `mysql`;
 * - MariaDB ≥ 10.10 makes CHANGE MASTER default to MASTER_USE_GTID=slave_pos,
 *   so file/position replication must say MASTER_USE_GTID=no;
 * - the lab's own bootstrap statements (accounts) run with sql_log_bin=0 so
 *   that the binary logs hold only what the caller did.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type Connection, type ConnectionOptions, createConnection } from 'mysql2/promise';

const execFileAsync = promisify(execFile);

/** One result row as mysql2 returns it for the text protocol. */
export type Row = Record<string, unknown>;

/** A binlog coordinate; files compare by their numeric suffix. */
export interface BinlogPosition {
  file: string;
  pos: number;
}

/** Per-instance server settings; each maps to one my.cnf line so tests can reproduce a topology exactly. */
export interface InstanceOptions {
  /** Directory name and lookup key; defaults to `db<N>`. */
  name?: string;
  /** Bind address; distinct loopback addresses (127.0.0.11, …) make instances look like separate hosts. */
  host?: string;
  /** TCP port; by default a free one is chosen by binding port 0. */
  port?: number;
  /** Defaults to the instance's 1-based index in the lab. */
  serverId?: number;
  /** Binlog basename, or false for no binary log. Default `mariadb-bin`. */
  logBin?: string | false;
  logSlaveUpdates?: boolean;
  /** Relay log basename. Default `relay-bin`. */
  relayLog?: string;
  /** Default false: tests and fixtures need the relay logs to survive after they are applied. */
  relayLogPurge?: boolean;
  binlogFormat?: 'ROW' | 'STATEMENT' | 'MIXED';
  binlogChecksum?: 'CRC32' | 'NONE';
  /** Bytes or a size with suffix (`64K`); small values force rotations. */
  maxBinlogSize?: number | string;
  maxRelayLogSize?: number | string;
  gtidDomainId?: number;
  /** Applied to both max_allowed_packet and slave_max_allowed_packet when set. */
  maxAllowedPacket?: number | string;
  /** Keep replication stopped after a restart, e.g. to inspect a replica before it catches up. */
  skipSlaveStart?: boolean;
  /** Raw lines appended to the [mariadbd] section, for anything not listed above. */
  extraCnf?: string[];
  /**
   * Network namespace to run mariadbd in (`ip netns exec NETNS mariadbd …`, as root). `host`
   * is then an address inside that namespace, `port` defaults to 3306, and the lab talks
   * to the server over its unix socket, which every namespace shares with the file system.
   */
  netns?: string;
}

export interface LabOptions {
  /** Parent of all instance directories; default a fresh directory under os.tmpdir(). */
  baseDir?: string;
  /** Keep the base directory after close() (for post-mortems); processes are stopped regardless. */
  keep?: boolean;
  /** Password for root (all hosts). Default empty; it is only ever sent over the protocol, never on argv. */
  rootPassword?: string;
  /** Account created on every instance so any of them can become a primary. */
  replUser?: string;
  replPassword?: string;
  /** Bound on waiting for a server to accept connections. Default 30 s. */
  startTimeoutMs?: number;
  /** Bound on a clean shutdown before SIGKILL. Default 30 s. */
  stopTimeoutMs?: number;
  mariadbdPath?: string;
  installDbPath?: string;
}

/** A started (or stopped) server; paths are absolute so tests can read files directly. */
export interface LabInstance {
  readonly name: string;
  readonly host: string;
  port: number;
  readonly serverId: number;
  readonly dir: string;
  readonly datadir: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly errorLog: string;
  readonly tmpdir: string;
  /** secure_file_priv: the only place LOAD DATA INFILE / SELECT … INTO OUTFILE may use. */
  readonly secureFileDir: string;
  readonly cnfPath: string;
  readonly options: Readonly<InstanceOptions>;
  /** PID of the running mariadbd, undefined when stopped. */
  pid: number | undefined;
}

/** Errors carry the instance and the error-log tail, because "server did not start" is useless without them. */
export class MariaDbLabError extends Error {
  constructor(
    message: string,
    readonly instance?: string,
    readonly errorLogTail?: string,
  ) {
    super(errorLogTail ? `${message}\n--- error log tail (${instance}) ---\n${errorLogTail}` : message);
    this.name = 'MariaDbLabError';
  }
}

const MYSQL_USER = 'mysql';
const INNODB_LOG_FILE_SIZE = '8M'; // install-db and the server must agree, or startup resizes the redo log
const POLL_MS = 100;

interface InstanceState {
  inst: LabInstance;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  stderrTail: string;
  admin: Connection | undefined;
  portWasChosen: boolean;
}

/** Labs with live processes, so exit/signal handlers can stop them even when a test crashes. */
const liveLabs = new Set<MariaDbLab>();
let handlersInstalled = false;

function onProcessExit(): void {
  for (const lab of liveLabs) {
    lab.killAllSync();
    try {
      lab.removeBaseDirSync();
    } catch {
      // best effort while the process is exiting
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  onProcessExit();
  removeProcessHandlers();
  // Re-raise so the default action (terminate) happens when nobody else handles the signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installProcessHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onProcessExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function removeProcessHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.removeListener('exit', onProcessExit);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** For tests that must prove a server is gone; EPERM still means the PID exists. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function findBinary(candidates: string[]): string {
  for (const c of candidates) if (existsSync(c)) return c;
  return candidates[candidates.length - 1];
}

async function tail(file: string, bytes = 4000): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '';
  }
}

function binlogIndex(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  return m ? Number(m[1]) : 0;
}

/** Orders two binlog coordinates; negative when a is before b. */
export function compareBinlogPositions(a: BinlogPosition, b: BinlogPosition): number {
  const byFile = binlogIndex(a.file) - binlogIndex(b.file);
  return byFile !== 0 ? byFile : a.pos - b.pos;
}

/** mariadbd resolves `--user=mysql` only after reading the datadir path, so every ancestor must be traversable. */
function assertTraversableByMysql(dir: string): void {
  if (!isRoot()) return;
  let d = resolve(dir);
  for (let i = 0; i < 64; i++) {
    const st = statSync(d);
    if ((st.mode & 0o001) === 0) {
      throw new MariaDbLabError(
        `${d} is not searchable by other users, so mariadbd (running as ${MYSQL_USER}) cannot reach ${dir}; ` +
          'choose a baseDir under /tmp or chmod o+x that directory',
      );
    }
    const parent = dirname(d);
    if (parent === d) return;
    d = parent;
  }
}

function cnfValue(v: number | string): string {
  return String(v);
}

/** Builds my.cnf; kept as a function so the fixture recorder can write the exact text into its manifest. */
function renderCnf(inst: LabInstance): string {
  const o = inst.options;
  const lines = [
    '[mariadbd]',
    `datadir=${inst.datadir}`,
    `socket=${inst.socket}`,
    `pid-file=${inst.pidFile}`,
    `log-error=${inst.errorLog}`,
    `tmpdir=${inst.tmpdir}`,
    `secure-file-priv=${inst.secureFileDir}`,
    `bind-address=${inst.host}`,
    `port=${inst.port}`,
    'skip-name-resolve',
    'performance_schema=OFF',
    `innodb_log_file_size=${INNODB_LOG_FILE_SIZE}`,
    'innodb_buffer_pool_size=64M',
    `server_id=${inst.serverId}`,
  ];
  if (o.logBin === false) lines.push('skip-log-bin');
  else lines.push(`log_bin=${o.logBin ?? 'mariadb-bin'}`);
  if (o.logSlaveUpdates !== undefined) lines.push(`log_slave_updates=${o.logSlaveUpdates ? 'ON' : 'OFF'}`);
  lines.push(`relay_log=${o.relayLog ?? 'relay-bin'}`);
  lines.push(`relay_log_purge=${o.relayLogPurge ? 1 : 0}`);
  if (o.binlogFormat) lines.push(`binlog_format=${o.binlogFormat}`);
  if (o.binlogChecksum) lines.push(`binlog_checksum=${o.binlogChecksum}`);
  if (o.maxBinlogSize !== undefined) lines.push(`max_binlog_size=${cnfValue(o.maxBinlogSize)}`);
  if (o.maxRelayLogSize !== undefined) lines.push(`max_relay_log_size=${cnfValue(o.maxRelayLogSize)}`);
  if (o.gtidDomainId !== undefined) lines.push(`gtid_domain_id=${o.gtidDomainId}`);
  if (o.maxAllowedPacket !== undefined) {
    lines.push(`max_allowed_packet=${cnfValue(o.maxAllowedPacket)}`);
    lines.push(`slave_max_allowed_packet=${cnfValue(o.maxAllowedPacket)}`);
  }
  if (o.skipSlaveStart) lines.push('skip-slave-start');
  for (const l of o.extraCnf ?? []) lines.push(l);
  return `${lines.join('\n')}\n`;
}

/**
 * Kills the servers if the Node process dies without running its handlers
 * (vitest SIGKILLs a hung worker), and removes a base dir the lab created itself.
 * It polls the parent at most `maxSeconds`.
 */
function watchdogScript(): string {
  return [
    'parent="$1"; pids="$2"; maxs="$3"; i=0',
    'while [ "$i" -lt "$maxs" ] && kill -0 "$parent" 2>/dev/null; do sleep 1; i=$((i+1)); done',
    'kill -0 "$parent" 2>/dev/null && exit 0',
    'for p in $(cat "$pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done',
    'if [ -n "$4" ]; then sleep 1; rm -rf -- "$4"; fi',
  ].join('\n');
}

/** A set of mariadbd processes started and owned by this process. Create with {@link startLab}. */
export class MariaDbLab {
  readonly baseDir: string;
  private readonly opts: Required<
    Pick<LabOptions, 'rootPassword' | 'replUser' | 'replPassword' | 'startTimeoutMs' | 'stopTimeoutMs'>
  > &
    LabOptions;
  private readonly states = new Map<string, InstanceState>();
  private readonly mariadbd: string;
  private readonly installDb: string;
  private readonly pidsFile: string;
  private watchdog: ChildProcess | undefined;
  private closed = false;

  private constructor(
    baseDir: string,
    opts: LabOptions,
    private readonly ownsBaseDir: boolean,
  ) {
    this.baseDir = baseDir;
    this.opts = {
      rootPassword: '',
      replUser: 'repl',
      replPassword: 'repl-lab-pass',
      startTimeoutMs: 30_000,
      stopTimeoutMs: 30_000,
      ...opts,
    };
    this.mariadbd = opts.mariadbdPath ?? findBinary(['/usr/sbin/mariadbd', '/usr/bin/mariadbd', 'mariadbd']);
    this.installDb = opts.installDbPath ?? findBinary(['/usr/bin/mariadb-install-db', 'mariadb-install-db']);
    this.pidsFile = join(baseDir, 'lab-pids');
  }

  /** @internal use startLab() */
  static async create(opts: LabOptions = {}): Promise<MariaDbLab> {
    let baseDir: string;
    if (opts.baseDir) {
      baseDir = resolve(opts.baseDir);
      await mkdir(baseDir, { recursive: true });
    } else {
      baseDir = await mkdtemp(join(tmpdir(), 'mha-lab-'));
    }
    await chmod(baseDir, 0o755);
    assertTraversableByMysql(baseDir);
    return new MariaDbLab(baseDir, opts, !opts.baseDir);
  }

  /** Replication account present on every instance; CHANGE MASTER uses it. */
  get replicationUser(): { user: string; password: string } {
    return { user: this.opts.replUser, password: this.opts.replPassword };
  }

  get rootPassword(): string {
    return this.opts.rootPassword;
  }

  /** Instances in creation order. */
  get instances(): LabInstance[] {
    return [...this.states.values()].map((s) => s.inst);
  }

  instance(name: string): LabInstance {
    const s = this.states.get(name);
    if (!s) throw new MariaDbLabError(`no instance named ${name} in lab ${this.baseDir}`);
    return s.inst;
  }

  /** Creates the datadir, writes my.cnf and starts the server; instances start in parallel when awaited together. */
  async addInstance(options: InstanceOptions = {}): Promise<LabInstance> {
    if (this.closed) throw new MariaDbLabError('lab is closed');
    const index = this.states.size + 1;
    const name = options.name ?? `db${index}`;
    if (this.states.has(name)) throw new MariaDbLabError(`duplicate instance name ${name}`);
    const host = options.host ?? '127.0.0.1';
    const dir = join(this.baseDir, name);
    const inst: LabInstance = {
      name,
      host,
      port: options.port ?? 0,
      serverId: options.serverId ?? index,
      dir,
      datadir: join(dir, 'data'),
      socket: join(dir, 'mariadbd.sock'),
      pidFile: join(dir, 'mariadbd.pid'),
      errorLog: join(dir, 'error.log'),
      tmpdir: join(dir, 'tmp'),
      secureFileDir: join(dir, 'files'),
      cnfPath: join(dir, 'my.cnf'),
      options: { ...options },
      pid: undefined,
    };
    if (inst.socket.length > 100) {
      throw new MariaDbLabError(
        `socket path ${inst.socket} is longer than a unix socket allows; use a shorter baseDir`,
      );
    }
    const state: InstanceState = {
      inst,
      child: undefined,
      exited: undefined,
      stderrTail: '',
      admin: undefined,
      portWasChosen: options.port === undefined && options.netns === undefined,
    };
    if (options.netns !== undefined && options.port === undefined) inst.port = 3306;
    this.states.set(name, state);

    for (const d of [dir, inst.tmpdir, inst.secureFileDir]) await mkdir(d, { recursive: true });
    await this.chownToMysql(dir);
    try {
      await execFileAsync(
        this.installDb,
        [
          '--no-defaults',
          `--datadir=${inst.datadir}`,
          ...(isRoot() ? [`--user=${MYSQL_USER}`] : []),
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          `--innodb-log-file-size=${INNODB_LOG_FILE_SIZE}`,
          // A private tmpdir: bootstraps running in parallel in a shared /tmp collide on temporary-table names.
          `--tmpdir=${inst.tmpdir}`,
        ],
        { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
      );
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new MariaDbLabError(
        `mariadb-install-db failed for ${name}: ${err.message}`,
        name,
        `${err.stdout ?? ''}${err.stderr ?? ''}`.slice(-4000),
      );
    }
    await this.chownToMysql(dir);

    for (let attempt = 1; ; attempt++) {
      if (state.portWasChosen) inst.port = await freePort(host);
      await writeFile(inst.cnfPath, renderCnf(inst), { mode: 0o644 });
      try {
        await this.startInstance(inst);
        break;
      } catch (e) {
        const log = await tail(inst.errorLog);
        const portClash = /Address already in use|Do you already have another server running on port/.test(log);
        if (!(state.portWasChosen && portClash && attempt < 3)) throw e;
      }
    }
    await this.bootstrapAccounts(inst);
    return inst;
  }

  /** Text of an instance's my.cnf, for manifests and debugging. */
  cnfText(instance: LabInstance | string): string {
    return readFileSync(this.state(instance).inst.cnfPath, 'utf8');
  }

  /** Starts a stopped instance with its existing datadir and my.cnf (e.g. to bring a "dead" master back). */
  async startInstance(instance: LabInstance | string): Promise<void> {
    const state = this.state(instance);
    const inst = state.inst;
    if (state.child && state.child.exitCode === null && state.child.signalCode === null) return;
    installProcessHandlers();
    liveLabs.add(this);
    this.ensureWatchdog();
    const serverArgs = [`--defaults-file=${inst.cnfPath}`, ...(isRoot() ? [`--user=${MYSQL_USER}`] : [])];
    // `ip netns exec` execs mariadbd in place, so the child's PID is the server's.
    const netns = inst.options.netns;
    const child = spawn(
      netns === undefined ? this.mariadbd : 'ip',
      netns === undefined ? serverArgs : ['netns', 'exec', netns, this.mariadbd, ...serverArgs],
      {
        detached: false,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    state.child = child;
    state.stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      state.stderrTail = (state.stderrTail + chunk).slice(-4000);
    });
    state.exited = new Promise<void>((r) => {
      child.once('exit', () => {
        if (inst.pid === child.pid) inst.pid = undefined;
        this.writePidsFile();
        r();
      });
      child.once('error', () => r());
    });
    inst.pid = child.pid;
    this.writePidsFile();
    if (child.pid === undefined) {
      await state.exited;
      throw new MariaDbLabError(`could not spawn ${this.mariadbd}`, inst.name, state.stderrTail);
    }
    await this.waitUntilAccepting(state);
  }

  /** Clean shutdown: SIGTERM, and SIGKILL if the server has not exited within stopTimeoutMs. */
  async stopInstance(instance: LabInstance | string, timeoutMs = this.opts.stopTimeoutMs): Promise<void> {
    const state = this.state(instance);
    await this.dropAdmin(state);
    const child = state.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (await this.waitExit(state, timeoutMs)) return;
    child.kill('SIGKILL');
    if (!(await this.waitExit(state, 10_000))) {
      throw new MariaDbLabError(`mariadbd pid ${child.pid} survived SIGKILL`, state.inst.name);
    }
  }

  /** Crash simulation: SIGKILL, no shutdown, so binlogs and InnoDB are left exactly as a dead master leaves them. */
  async killInstance(instance: LabInstance | string): Promise<void> {
    const state = this.state(instance);
    const child = state.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      if (!(await this.waitExit(state, 10_000))) {
        throw new MariaDbLabError(`mariadbd pid ${child.pid} survived SIGKILL`, state.inst.name);
      }
    }
    await this.dropAdmin(state);
  }

  /**
   * Runs one statement on a shared per-instance root connection over TCP.
   * Session variables persist on that connection; use connect() for a private session.
   * Params use mysql2's client-side escaping, so they also work in CHANGE MASTER and SET.
   */
  async query(instance: LabInstance | string, sql: string, params?: unknown[]): Promise<Row[]> {
    const state = this.state(instance);
    if (!state.admin) state.admin = await this.connect(state.inst);
    try {
      const [result] = await state.admin.query(sql, params);
      return Array.isArray(result) ? (result as Row[]) : [];
    } catch (e) {
      if ((e as { fatal?: boolean }).fatal) await this.dropAdmin(state);
      throw e;
    }
  }

  /** A new root connection over TCP that the caller owns and must end(). */
  async connect(instance: LabInstance | string, extra: Partial<ConnectionOptions> = {}): Promise<Connection> {
    const inst = this.state(instance).inst;
    return createConnection({
      ...(inst.options.netns === undefined ? { host: inst.host, port: inst.port } : { socketPath: inst.socket }),
      user: 'root',
      password: this.opts.rootPassword,
      connectTimeout: 5_000,
      ...extra,
    });
  }

  /**
   * Points replica at primary and starts replication. File/position mode starts at
   * `from` or at the primary's current SHOW MASTER STATUS; slave_pos mode sets
   * gtid_slave_pos to `gtidSlavePos` or the primary's gtid_binlog_pos. Resolves once
   * both replica threads run, and fails with Last_IO_Error/Last_SQL_Error otherwise.
   */
  async setupReplication(
    primary: LabInstance | string,
    replica: LabInstance | string,
    opts: {
      useGtid?: false | 'slave_pos';
      from?: BinlogPosition;
      gtidSlavePos?: string;
      connectRetrySeconds?: number;
      timeoutMs?: number;
    } = {},
  ): Promise<void> {
    const p = this.state(primary).inst;
    const r = this.state(replica).inst;
    const { user, password } = this.replicationUser;
    await this.query(r, 'STOP SLAVE');
    const common = 'MASTER_HOST=?, MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_CONNECT_RETRY=?';
    const commonParams = [p.host, p.port, user, password, opts.connectRetrySeconds ?? 1];
    if (opts.useGtid === 'slave_pos') {
      const gtid =
        opts.gtidSlavePos ?? String((await this.query(p, 'SELECT @@GLOBAL.gtid_binlog_pos AS g'))[0]?.g ?? '');
      await this.query(r, 'SET GLOBAL gtid_slave_pos = ?', [gtid]);
      await this.query(r, `CHANGE MASTER TO ${common}, MASTER_USE_GTID=slave_pos`, commonParams);
    } else {
      const from = opts.from ?? (await this.masterStatus(p));
      await this.query(r, `CHANGE MASTER TO ${common}, MASTER_LOG_FILE=?, MASTER_LOG_POS=?, MASTER_USE_GTID=no`, [
        ...commonParams,
        from.file,
        from.pos,
      ]);
    }
    await this.query(r, 'START SLAVE');
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < Math.ceil(timeoutMs / POLL_MS) + 1; i++) {
      const st = await this.slaveStatus(r);
      if (!st) throw new MariaDbLabError(`${r.name}: SHOW SLAVE STATUS is empty after START SLAVE`, r.name);
      if (st.Slave_IO_Running === 'Yes' && st.Slave_SQL_Running === 'Yes') return;
      if (st.Last_IO_Error || st.Last_SQL_Error) {
        throw new MariaDbLabError(
          `${r.name}: replication from ${p.name} failed: IO=${st.Last_IO_Error} SQL=${st.Last_SQL_Error}`,
          r.name,
        );
      }
      if (Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
    throw new MariaDbLabError(`${r.name}: replica threads not running after ${timeoutMs} ms`, r.name);
  }

  /** Primary's current write position (SHOW MASTER STATUS). */
  async masterStatus(instance: LabInstance | string): Promise<BinlogPosition> {
    const row = (await this.query(instance, 'SHOW MASTER STATUS'))[0];
    if (!row) throw new MariaDbLabError(`${this.state(instance).inst.name}: binary log is off`);
    return { file: String(row.File), pos: Number(row.Position) };
  }

  async slaveStatus(instance: LabInstance | string): Promise<Row | undefined> {
    return (await this.query(instance, 'SHOW SLAVE STATUS'))[0];
  }

  /**
   * Waits until the replica's SQL thread has executed everything the primary had
   * written when the call began. Compares master coordinates, so it works in GTID
   * mode too; fails early on a replication error rather than timing out.
   */
  async waitForReplicaCatchUp(
    replica: LabInstance | string,
    primary: LabInstance | string,
    timeoutMs = 30_000,
  ): Promise<void> {
    const r = this.state(replica).inst;
    const target = await this.masterStatus(primary);
    const deadline = Date.now() + timeoutMs;
    let last: Row | undefined;
    for (let i = 0; i < Math.ceil(timeoutMs / POLL_MS) + 1; i++) {
      last = await this.slaveStatus(r);
      if (!last) throw new MariaDbLabError(`${r.name} is not a replica`, r.name);
      const executed = { file: String(last.Relay_Master_Log_File), pos: Number(last.Exec_Master_Log_Pos) };
      if (compareBinlogPositions(executed, target) >= 0) return;
      if (last.Last_SQL_Error || (last.Slave_SQL_Running !== 'Yes' && last.Slave_IO_Running !== 'Yes')) {
        throw new MariaDbLabError(
          `${r.name} stopped before reaching ${target.file}:${target.pos}: ` +
            `IO=${last.Slave_IO_Running} ${last.Last_IO_Error} SQL=${last.Slave_SQL_Running} ${last.Last_SQL_Error}`,
          r.name,
        );
      }
      if (Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
    throw new MariaDbLabError(
      `${r.name} did not reach ${target.file}:${target.pos} within ${timeoutMs} ms ` +
        `(at ${last?.Relay_Master_Log_File}:${last?.Exec_Master_Log_Pos})`,
      r.name,
    );
  }

  /**
   * Stops every process this lab started (clean shutdown, then SIGKILL) and removes
   * the base directory unless keep is set. Safe to call twice; never leaves a server
   * running even when a shutdown step fails.
   */
  async close(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const errors: unknown[] = [];
    await Promise.all(
      [...this.states.values()].map((s) =>
        this.stopInstance(s.inst).catch((e) => {
          errors.push(e);
        }),
      ),
    );
    this.killAllSync();
    liveLabs.delete(this);
    if (liveLabs.size === 0) removeProcessHandlers();
    if (!(opts.keep ?? this.opts.keep)) {
      await rm(this.baseDir, { recursive: true, force: true, maxRetries: 3 });
    }
    if (errors.length > 0) throw errors[0];
  }

  /** Synchronous last resort for exit handlers: SIGKILL every live server and the watchdog. */
  killAllSync(): void {
    for (const s of this.states.values()) {
      const pid = s.child?.pid;
      if (pid !== undefined && s.child?.exitCode === null && s.child?.signalCode === null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (this.watchdog?.pid !== undefined) {
      try {
        process.kill(this.watchdog.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      this.watchdog = undefined;
    }
  }

  /** Exit-handler path: the servers are already SIGKILLed, so a directory we created ourselves can go. */
  removeBaseDirSync(): void {
    if (this.ownsBaseDir && !this.opts.keep) rmSync(this.baseDir, { recursive: true, force: true });
  }

  private state(instance: LabInstance | string): InstanceState {
    const name = typeof instance === 'string' ? instance : instance.name;
    const s = this.states.get(name);
    if (!s) throw new MariaDbLabError(`no instance named ${name} in lab ${this.baseDir}`);
    return s;
  }

  private async chownToMysql(dir: string): Promise<void> {
    if (!isRoot()) return;
    await execFileAsync('chown', ['-R', `${MYSQL_USER}:${MYSQL_USER}`, dir], { timeout: 60_000 });
  }

  private writePidsFile(): void {
    const pids = [...this.states.values()].map((s) => s.inst.pid).filter((p): p is number => p !== undefined);
    try {
      writeFileSync(this.pidsFile, `${pids.join('\n')}\n`);
    } catch {
      // the base dir may already be gone during close()
    }
  }

  private ensureWatchdog(): void {
    if (this.watchdog && this.watchdog.exitCode === null) return;
    const maxSeconds = 6 * 3600;
    this.watchdog = spawn(
      'sh',
      [
        '-c',
        watchdogScript(),
        'mha-lab-watchdog',
        String(process.pid),
        this.pidsFile,
        String(maxSeconds),
        this.ownsBaseDir && !this.opts.keep ? this.baseDir : '',
      ],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    this.watchdog.unref();
  }

  private async waitExit(state: InstanceState, timeoutMs: number): Promise<boolean> {
    if (!state.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), timeoutMs);
    });
    const ok = await Promise.race([state.exited.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return ok;
  }

  private async waitUntilAccepting(state: InstanceState): Promise<void> {
    const inst = state.inst;
    const timeoutMs = this.opts.startTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (let i = 0; i < Math.ceil(timeoutMs / POLL_MS) + 1; i++) {
      const child = state.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        throw new MariaDbLabError(
          `mariadbd for ${inst.name} exited during startup (code ${child?.exitCode}, signal ${child?.signalCode})`,
          inst.name,
          (await tail(inst.errorLog)) || state.stderrTail,
        );
      }
      try {
        // The socket accepts root with the install-time empty password until bootstrapAccounts runs.
        const c = await createConnection({
          socketPath: inst.socket,
          user: 'root',
          password: '',
          connectTimeout: 2_000,
        });
        await c.end();
        return;
      } catch (e) {
        lastError = (e as Error).message;
        // Restarts after bootstrap: root has the lab password, so "access denied" means the server is up.
        if (/Access denied/.test(lastError)) return;
      }
      if (Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
    const pid = state.child?.pid;
    await this.stopInstance(inst, 5_000).catch(() => undefined);
    throw new MariaDbLabError(
      `mariadbd for ${inst.name} (pid ${pid}) did not accept connections within ${timeoutMs} ms: ${lastError}`,
      inst.name,
      (await tail(inst.errorLog)) || state.stderrTail,
    );
  }

  /** Accounts are created with sql_log_bin=0 so the binlogs start with the caller's first statement. */
  private async bootstrapAccounts(inst: LabInstance): Promise<void> {
    const c = await createConnection({ socketPath: inst.socket, user: 'root', password: '', connectTimeout: 5_000 });
    try {
      await c.query('SET SESSION sql_log_bin = 0');
      const pw = this.opts.rootPassword;
      await c.query("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ?", [pw]);
      await c.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION");
      // Host-specific root rows (127.0.0.1, ::1, the hostname) would win over '%' with an empty password;
      // removing them leaves root@localhost for the socket and root@'%' for TCP on any loopback address.
      await c.query("ALTER USER 'root'@'localhost' IDENTIFIED BY ?", [pw]);
      await c.query("DELETE FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '%')");
      await c.query('FLUSH PRIVILEGES');
      const { user, password } = this.replicationUser;
      await c.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [user, password]);
      await c.query("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ?@'%'", [user]);
    } finally {
      await c.end();
    }
  }

  private async dropAdmin(state: InstanceState): Promise<void> {
    const c = state.admin;
    state.admin = undefined;
    if (!c) return;
    try {
      c.destroy();
    } catch {
      // connection already dead
    }
  }
}

/**
 * Starts a lab with the given instances (in parallel). If any instance fails to
 * start, everything already started is stopped before the error is rethrown.
 */
export async function startLab(instances: InstanceOptions[], opts: LabOptions = {}): Promise<MariaDbLab> {
  const lab = await MariaDbLab.create(opts);
  try {
    // Names and server ids are assigned in declaration order, before the parallel starts.
    const named = instances.map((o, i) => ({ ...o, name: o.name ?? `db${i + 1}`, serverId: o.serverId ?? i + 1 }));
    const results = await Promise.allSettled(named.map((o) => lab.addInstance(o)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return lab;
  } catch (e) {
    await lab.close().catch(() => undefined);
    throw e;
  }
}

/** True when this machine can run the lab; tests use it to skip rather than fail where MariaDB is absent. */
export function mariadbAvailable(): boolean {
  return (
    ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'].some((p) => existsSync(p)) && existsSync('/usr/bin/mariadb-install-db')
  );
}
