/**
 * Hosts on a private L2 segment, built from Linux network namespaces, for tests of the
 * traffic hooks (hooks/): a virtual IP has to move between machines that answer ARP, and
 * a client on the same segment has to follow it.
 *
 * `NetnsNetwork` makes one namespace per "host" (`<id>-<role>`, e.g. `mh4242a-db1`), each
 * with an `eth0` whose veth peer sits on a bridge inside a namespace of its own
 * (`<id>-br`). Addresses (10.200.0.0/24 by default) exist only inside these namespaces:
 * nothing is added to the root namespace, and no traffic leaves them. Everything is torn
 * down by close(), by process exit/signal handlers, and — if the Node process is killed
 * outright — by a detached watchdog: processes still running in our namespaces are killed
 * (they are ours by construction: only this lab starts things there), then the
 * namespaces are deleted. Nothing outside our namespaces is ever touched.
 *
 * `startNetnsCluster` puts a replication cluster on such a network: a real mariadbd and
 * sshd in every database namespace (test/lab/mariadb-lab.ts and test/lab/sshd-lab.ts with
 * their `netns` option), a manager namespace where the manager and the hooks run, a
 * client namespace for the application, and optionally a proxy namespace for HAProxy.
 *
 * Facts it relies on (Debian 12, kernel namespaces as root): `ip netns exec NS CMD` execs
 * CMD in place (its PID is CMD's), unix sockets on the file system are reachable from
 * every namespace, and `ip netns pids NS` lists the processes inside a namespace.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type InstanceOptions, type MariaDbLab, startLab } from './mariadb-lab.js';
import { type SshdLab, startSshd } from './sshd-lab.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** True when namespaces can be made here (root, iproute2, a bridge-capable kernel). */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/ip')) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Networks with namespaces still present, for the exit handlers. */
const liveNetworks = new Set<NetnsNetwork>();
let handlersInstalled = false;

function onExit(): void {
  for (const n of liveNetworks) n.destroySync();
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  uninstallHandlers();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
}

/** Kills what runs in the namespaces listed in $2 and deletes them once the parent ($1) is gone; bounded by $3 s. */
const WATCHDOG = [
  'parent="$1"; list="$2"; maxs="$3"; i=0',
  'while [ "$i" -lt "$maxs" ] && kill -0 "$parent" 2>/dev/null; do sleep 1; i=$((i+1)); done',
  'kill -0 "$parent" 2>/dev/null && exit 0',
  'for ns in $(cat "$list" 2>/dev/null); do for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; done',
  'sleep 1',
  'for ns in $(cat "$list" 2>/dev/null); do ip netns del "$ns" 2>/dev/null; done',
  'rm -f -- "$list"',
].join('\n');

let counter = 0;

export interface NetnsNetworkOptions {
  /** First three octets of the segment (default 10.200.0). */
  subnet?: string;
  /** Start of every namespace name (default `mh`), so suites sharing a machine never touch each other's. */
  prefix?: string;
}

/** A bridge in its own namespace and one namespace per host plugged into it. */
export class NetnsNetwork {
  readonly id: string;
  readonly subnet: string;
  readonly bridgeNs: string;
  /** Every namespace this network created, bridge first. */
  readonly namespaces: string[] = [];
  private readonly roles = new Map<string, { ns: string; address: string }>();
  private readonly children = new Set<ChildProcess>();
  private readonly listFile: string;
  private watchdog: ChildProcess | undefined;
  private closed = false;

  private constructor(opts: NetnsNetworkOptions) {
    counter++;
    this.id = `${opts.prefix ?? 'mh'}${process.pid}${String.fromCharCode(96 + (counter % 26 || 26))}`;
    this.subnet = opts.subnet ?? '10.200.0';
    this.bridgeNs = `${this.id}-br`;
    this.listFile = join(tmpdir(), `netns-lab-${this.id}.list`);
  }

  static async create(opts: NetnsNetworkOptions = {}): Promise<NetnsNetwork> {
    const net = new NetnsNetwork(opts);
    installHandlers();
    liveNetworks.add(net);
    net.startWatchdog();
    try {
      await net.addNamespace(net.bridgeNs);
      await net.ip(['-n', net.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
      // No STP and no forwarding delay: a port forwards as soon as it is up.
      await net.ip([
        '-n',
        net.bridgeNs,
        'link',
        'set',
        'br0',
        'type',
        'bridge',
        'stp_state',
        '0',
        'forward_delay',
        '0',
      ]);
      await net.ip(['-n', net.bridgeNs, 'link', 'set', 'br0', 'up']);
      return net;
    } catch (e) {
      await net.close();
      throw e;
    }
  }

  /** Namespace name of a host role (`db1`, `mgr`, …). */
  ns(role: string): string {
    const r = this.roles.get(role);
    if (!r) throw new Error(`no host ${role} on network ${this.id}`);
    return r.ns;
  }

  address(role: string): string {
    const r = this.roles.get(role);
    if (!r) throw new Error(`no host ${role} on network ${this.id}`);
    return r.address;
  }

  /** Host roles in creation order. */
  get hostRoles(): string[] {
    return [...this.roles.keys()];
  }

  /** A host: namespace `<id>-<role>`, `lo` and `eth0` up, `eth0` on the bridge with `<subnet>.<octet>/24`. */
  async addHost(role: string, octet: number): Promise<string> {
    if (!/^[a-z][a-z0-9]{0,9}$/.test(role)) throw new Error(`host role ${role}: use up to 10 lowercase letters/digits`);
    if (this.roles.has(role)) throw new Error(`duplicate host role ${role}`);
    const ns = `${this.id}-${role}`;
    const address = `${this.subnet}.${octet}`;
    await this.addNamespace(ns);
    this.roles.set(role, { ns, address });
    // Both ends are created inside our namespaces: the root namespace never sees them.
    await this.ip([
      '-n',
      this.bridgeNs,
      'link',
      'add',
      `v-${role}`,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ]);
    await this.ip(['-n', this.bridgeNs, 'link', 'set', `v-${role}`, 'master', 'br0', 'up']);
    await this.ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await this.ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await this.ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    return ns;
  }

  /** Runs a command inside a host's namespace (bounded); never throws on a non-zero exit. */
  async run(role: string, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    return runCommand('ip', ['netns', 'exec', this.ns(role), ...argv], opts);
  }

  /** Starts a long-running process inside a host's namespace; it is killed by close(). */
  spawn(
    role: string,
    argv: string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdio?: 'pipe' | 'ignore' } = {},
  ): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns(role), ...argv], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: opts.stdio === 'ignore' ? 'ignore' : ['pipe', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** The MAC address of a host's eth0, lower case. */
  async mac(role: string): Promise<string> {
    const r = await runCommand('ip', ['-n', this.ns(role), '-o', 'link', 'show', 'eth0']);
    const m = /link\/ether ([0-9a-f:]{17})/.exec(r.stdout);
    if (!m) throw new Error(`no MAC on ${role}: ${r.stdout}${r.stderr}`);
    return m[1];
  }

  /**
   * Roles whose namespace has `addr` configured on an interface that is up (a host whose
   * interface is down — powered off — holds nothing).
   */
  async holders(addr: string): Promise<string[]> {
    const out: string[] = [];
    for (const role of this.hostRoles) {
      const r = await runCommand('ip', ['-n', this.ns(role), '-o', '-4', 'addr', 'show', 'to', `${addr}/32`, 'up']);
      if (r.stdout.trim() !== '') out.push(role);
    }
    return out;
  }

  /** Cuts a host off the segment (a pulled cable: the host's own interface stays up) or plugs it back. */
  async setLink(role: string, up: boolean): Promise<void> {
    await this.ip(['-n', this.bridgeNs, 'link', 'set', `v-${role}`, up ? 'up' : 'down']);
  }

  /** Kills every process still inside one of our namespaces (all of them started by this lab or its users). */
  async killAllInside(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (let round = 0; round < 3; round++) {
      let found = false;
      for (const ns of this.namespaces) {
        const r = await runCommand('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
        for (const p of r.stdout.split(/\s+/).filter(Boolean)) {
          found = true;
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      if (!found) return;
      await sleep(200);
    }
  }

  /** Kills what is left inside our namespaces and deletes them. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.killAllInside();
    for (const ns of [...this.namespaces].reverse()) {
      await runCommand('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
    }
    this.namespaces.length = 0;
    this.stopWatchdog();
    rmSync(this.listFile, { force: true });
    liveNetworks.delete(this);
    if (liveNetworks.size === 0) uninstallHandlers();
  }

  /** Exit-handler path. */
  destroySync(): void {
    for (const c of this.children) {
      try {
        c.kill('SIGKILL');
      } catch {
        // gone
      }
    }
    for (const ns of [...this.namespaces].reverse()) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000 });
        for (const p of pids.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            // gone
          }
        }
      } catch {
        // namespace already gone
      }
    }
    for (const ns of [...this.namespaces].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5_000 });
      } catch {
        // best effort
      }
    }
    this.namespaces.length = 0;
    this.stopWatchdog();
    rmSync(this.listFile, { force: true });
  }

  private async addNamespace(ns: string): Promise<void> {
    await this.ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    writeFileSync(this.listFile, `${this.namespaces.join('\n')}\n`);
  }

  private async ip(args: string[]): Promise<void> {
    const r = await runCommand('ip', args, { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  }

  private startWatchdog(): void {
    writeFileSync(this.listFile, '');
    this.watchdog = spawn('sh', ['-c', WATCHDOG, 'netns-lab-watchdog', String(process.pid), this.listFile, '21600'], {
      detached: true,
      stdio: 'ignore',
    });
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog?.pid !== undefined) {
      try {
        process.kill(this.watchdog.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.watchdog = undefined;
  }
}

export async function runCommand(
  file: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolveRun) => {
    const child = execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? Number(err.code) : 1) : 0;
        resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

// ---------------------------------------------------------------------------------------
// A replication cluster on a namespace network
// ---------------------------------------------------------------------------------------

export interface NetnsClusterOptions {
  /** Replicas besides the master (default 2): hosts db1 (master), db2, db3 … at .11, .12, … */
  replicas?: number;
  /** Extra app1.cnf lines for [server default] and per server (index 0 = master). */
  serverDefault?: string[];
  perServer?: string[][];
  /** Add a `proxy` host (.50) for HAProxy. */
  proxy?: boolean;
  instance?: Partial<InstanceOptions>;
  /** Namespace name prefix and subnet of the network (defaults: NetnsNetwork's). */
  network?: NetnsNetworkOptions;
  keep?: boolean;
}

export interface ClientEvent {
  t: number;
  ok: boolean;
  /** server_id that acknowledged (ok) */
  sid?: number;
  /** the row's key (ok) */
  seq?: number;
  /** error code / message (failure) */
  err?: string;
}

/** An application session loop in the client namespace: one autocommit INSERT at a time, reconnecting on error. */
export interface ClientProcess {
  readonly events: ClientEvent[];
  /** Stops the client and resolves when it has exited (bounded). */
  stop(): Promise<void>;
  /** Resolves once `n` writes succeeded (bounded by timeoutMs; false on timeout). */
  waitForWrites(n: number, timeoutMs: number, sid?: number): Promise<boolean>;
}

export interface ManagerProcess {
  readonly child: ChildProcess;
  /** Exit code and the failover report the manager produced (undefined if none). */
  done: Promise<{ code: number; report: unknown; output: string }>;
  stop(): void;
}

export interface NetnsCluster {
  net: NetnsNetwork;
  lab: MariaDbLab;
  sshds: SshdLab[];
  dir: string;
  confFile: string;
  workdir: string;
  managerLog: string;
  /** Database host roles (db1 = first master) and their addresses. */
  dbRoles: string[];
  hosts: string[];
  identityFile: string;
  knownHostsFile: string;
  /** ssh_options for app1.cnf and the hook configs. */
  sshOptions: string;
  rootPassword: string;
  appUser: { user: string; password: string };
  /** server_id of a database role (db1 → 1). */
  serverId(role: string): number;
  startManager(extraEnv?: Record<string, string>): ManagerProcess;
  /** The online switch (src/manager/switchover.ts) to `newHost`, run in the manager namespace. */
  runSwitch(newHost: string): Promise<{ code: number; report: unknown; output: string }>;
  startClient(host: string, port: number): ClientProcess;
  close(): Promise<void>;
}

const MAIN = join(REPO_ROOT, 'test/hooks/netns-main.ts');

/** Environment for `node --import tsx` helpers: the test tsconfig maps the workspace package to its sources. */
function tsxEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.test.json'), ...extra };
}

export async function startNetnsCluster(opts: NetnsClusterOptions = {}): Promise<NetnsCluster> {
  const n = 1 + (opts.replicas ?? 2);
  const net = await NetnsNetwork.create(opts.network);
  const dir = mkdtempSync(join(tmpdir(), 'mha-netns-'));
  await chmod(dir, 0o711);
  let lab: MariaDbLab | undefined;
  const sshds: SshdLab[] = [];
  const rootPassword = 'root-netns-pass';
  const appUser = { user: 'app', password: 'app-netns-pass' };
  try {
    const dbRoles = Array.from({ length: n }, (_, i) => `db${i + 1}`);
    await net.addHost('mgr', 2);
    await net.addHost('client', 5);
    for (let i = 0; i < n; i++) await net.addHost(dbRoles[i], 11 + i);
    if (opts.proxy) await net.addHost('proxy', 50);
    const hosts = dbRoles.map((r) => net.address(r));

    // One client key for the manager, accepted by every host's sshd.
    const identityFile = join(dir, 'id_ed25519');
    await execFileAsync(
      '/usr/bin/ssh-keygen',
      ['-q', '-t', 'ed25519', '-N', '', '-C', 'netns-lab', '-f', identityFile],
      {
        timeout: 30_000,
      },
    );
    const clientPub = (await readFile(`${identityFile}.pub`, 'utf8')).trim();

    const common: InstanceOptions = {
      logSlaveUpdates: true,
      binlogFormat: 'ROW',
      port: 3306,
      ...opts.instance,
      // Every address of the host's namespace, as on a real server: a VIP that arrives
      // later must reach mysqld too (the later line wins over the lab's bind-address).
      extraCnf: ['bind-address=0.0.0.0', ...(opts.instance?.extraCnf ?? [])],
    };
    const [labResult, ...sshResults] = await Promise.allSettled([
      startLab(
        dbRoles.map((role, i) => ({ ...common, name: role, host: hosts[i], serverId: i + 1, netns: net.ns(role) })),
        { baseDir: join(dir, 'servers'), keep: opts.keep, rootPassword },
      ),
      ...dbRoles.map((role, i) =>
        startSshd({ addresses: [hosts[i]], port: 22, netns: net.ns(role), authorizedKeys: [clientPub] }),
      ),
    ]);
    for (const r of sshResults) if (r.status === 'fulfilled') sshds.push(r.value);
    if (labResult.status === 'fulfilled') lab = labResult.value;
    const failed = [labResult, ...sshResults].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    const l = lab!;

    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, sshds.map((s) => readFileSync(s.knownHostsFile, 'utf8')).join(''), { mode: 0o600 });
    const sshOptions = `-i ${identityFile} -o UserKnownHostsFile=${knownHostsFile} -o StrictHostKeyChecking=yes -o ConnectTimeout=3`;

    for (let i = 1; i < n; i++) {
      await l.setupReplication(dbRoles[0], dbRoles[i]);
      await l.query(dbRoles[i], 'SET GLOBAL read_only=1');
    }
    // The application's account: no SUPER, so read_only really stops it.
    await l.query(dbRoles[0], 'CREATE DATABASE IF NOT EXISTS app');
    await l.query(
      dbRoles[0],
      'CREATE TABLE IF NOT EXISTS app.writes (seq BIGINT PRIMARY KEY, client_ms BIGINT NOT NULL, server_id INT NOT NULL)',
    );
    await l.query(dbRoles[0], "CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [appUser.user, appUser.password]);
    await l.query(dbRoles[0], "GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO ?@'%'", [appUser.user]);
    for (let i = 1; i < n; i++) await l.waitForReplicaCatchUp(dbRoles[i], dbRoles[0], 60_000);

    const workdir = join(dir, 'work');
    const managerLog = join(dir, 'manager.log');
    const lines = [
      '# Written by test/lab/netns-lab.ts; an ordinary MHA app1.cnf.',
      '[server default]',
      'user=root',
      `password=${rootPassword}`,
      `repl_user=${l.replicationUser.user}`,
      `repl_password=${l.replicationUser.password}`,
      'ssh_user=root',
      `ssh_options=${sshOptions}`,
      `manager_workdir=${workdir}`,
      `manager_log=${managerLog}`,
      `remote_workdir=${join(dir, 'remote')}`,
      'ping_interval=1',
      ...(opts.serverDefault ?? []),
      '',
    ];
    dbRoles.forEach((role, i) => {
      lines.push(
        `[server${i + 1}]`,
        `hostname=${hosts[i]}`,
        'port=3306',
        `master_binlog_dir=${l.instance(role).datadir}`,
        ...(opts.perServer?.[i] ?? []),
        '',
      );
    });
    const confFile = join(dir, 'app1.cnf');
    writeFileSync(confFile, lines.join('\n'), { mode: 0o600 });

    const cluster: NetnsCluster = {
      net,
      lab: l,
      sshds,
      dir,
      confFile,
      workdir,
      managerLog,
      dbRoles,
      hosts,
      identityFile,
      knownHostsFile,
      sshOptions,
      rootPassword,
      appUser,
      serverId: (role) => dbRoles.indexOf(role) + 1,
      startManager: (extraEnv = {}) =>
        startManagerProcess(net, ['manager', confFile, join(dir, 'report.json')], join(dir, 'report.json'), extraEnv),
      runSwitch: (newHost) =>
        startManagerProcess(net, ['switch', confFile, join(dir, 'switch.json'), newHost], join(dir, 'switch.json'), {})
          .done,
      startClient: (host, port) => startClientProcess(net, host, port, appUser),
      async close() {
        await Promise.allSettled([l.close({ keep: opts.keep }), ...sshds.map((s) => s.stop())]);
        await net.close();
        if (!opts.keep) rmSync(dir, { recursive: true, force: true });
      },
    };
    return cluster;
  } catch (err) {
    await Promise.allSettled([lab?.close(), ...sshds.map((s) => s.stop())]);
    await net.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function startManagerProcess(
  net: NetnsNetwork,
  args: string[],
  reportFile: string,
  extraEnv: Record<string, string>,
): ManagerProcess {
  rmSync(reportFile, { force: true });
  const child = net.spawn('mgr', [process.execPath, '--import', 'tsx', MAIN, ...args], {
    env: tsxEnv(extraEnv),
    cwd: REPO_ROOT,
  });
  let output = '';
  child.stdout?.on('data', (c) => {
    output = (output + c).slice(-200_000);
  });
  child.stderr?.on('data', (c) => {
    output = (output + c).slice(-200_000);
  });
  const done = new Promise<{ code: number; report: unknown; output: string }>((r) => {
    child.once('exit', (code, signal) => {
      let report: unknown;
      try {
        report = JSON.parse(readFileSync(reportFile, 'utf8'));
      } catch {
        report = undefined;
      }
      r({ code: code ?? (signal ? 128 : 1), report, output });
    });
  });
  return {
    child,
    done,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

function startClientProcess(
  net: NetnsNetwork,
  host: string,
  port: number,
  user: { user: string; password: string },
): ClientProcess {
  const child = net.spawn('client', [process.execPath, '--import', 'tsx', MAIN, 'client', host, String(port)], {
    env: tsxEnv({ CLIENT_USER: user.user, CLIENT_PASSWORD: user.password }),
    cwd: REPO_ROOT,
  });
  const events: ClientEvent[] = [];
  let buf = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const words = line.split(' ');
      if (words[0] === 'S')
        events.push({ t: Number(words[1]), ok: true, sid: Number(words[2]), seq: Number(words[3]) });
      else if (words[0] === 'F') events.push({ t: Number(words[1]), ok: false, err: words.slice(2).join(' ') });
      i = buf.indexOf('\n');
    }
  });
  let stderr = '';
  child.stderr?.on('data', (c) => {
    stderr = (stderr + c).slice(-10_000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    events,
    async stop() {
      child.stdin?.end();
      const ok = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!ok) child.kill('SIGKILL');
      await Promise.race([exited, sleep(5_000)]);
    },
    async waitForWrites(count: number, timeoutMs: number, sid?: number) {
      const start = events.length;
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const n = events.slice(start).filter((e) => e.ok && (sid === undefined || e.sid === sid)).length;
        if (n >= count) return true;
        if (child.exitCode !== null) throw new Error(`client exited (${child.exitCode}): ${stderr}`);
        await sleep(50);
      }
      return false;
    },
  };
}

export interface WriteBlock {
  /** The last write the old master acknowledged and the first the new master did. */
  lastOld: ClientEvent;
  firstNew: ClientEvent;
  /** firstNew.t - lastOld.t: how long the application could not write (negative: both took writes at once). */
  windowMs: number;
  /** Writes acknowledged by any server other than the new one after firstNew (must be 0). */
  strayAfter: number;
  /** Failed attempts inside the window. */
  failedAttempts: number;
  /** The errors the client saw inside the window, each with how often. */
  errors: Record<string, number>;
}

/** The client-side write-block window of a move from server oldSid to newSid. */
export function writeBlock(events: ClientEvent[], oldSid: number, newSid: number): WriteBlock {
  const oks = events.filter((e) => e.ok);
  const olds = oks.filter((e) => e.sid === oldSid);
  const firstNew = oks.find((e) => e.sid === newSid);
  if (olds.length === 0 || !firstNew) {
    throw new Error(
      `no acknowledged write by ${olds.length === 0 ? `the old master (server_id ${oldSid})` : `the new master (server_id ${newSid})`}; ` +
        `${oks.length} acknowledged in all by ${[...new Set(oks.map((e) => e.sid))].join(', ')}`,
    );
  }
  const lastOld = olds[olds.length - 1];
  const inWindow = events.filter((e) => !e.ok && e.t >= lastOld.t && e.t <= firstNew.t);
  const errors: Record<string, number> = {};
  for (const e of inWindow) {
    const key = (e.err ?? '').slice(0, 80);
    errors[key] = (errors[key] ?? 0) + 1;
  }
  return {
    lastOld,
    firstNew,
    windowMs: firstNew.t - lastOld.t,
    strayAfter: oks.filter((e) => e.t >= firstNew.t && e.sid !== newSid).length,
    failedAttempts: inWindow.length,
    errors,
  };
}

/**
 * Watches a VIP for the whole test: which namespaces have it configured on an interface
 * that is up (every ~25 ms, from here) and which MACs answer an ARP request for it from the client namespace (one
 * probe every ~200 ms, each collecting every reply for 150 ms). `violations()` lists the
 * moments two hosts had it, or two MACs answered the same request.
 */
export class VipWatcher {
  private arp: ChildProcess | undefined;
  private readonly samples: { t: number; holders: string[] }[] = [];
  private readonly probes: { t: number; macs: string[] }[] = [];
  private running = true;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly net: NetnsNetwork,
    private readonly vip: string,
  ) {}

  start(): void {
    const roles = this.net.hostRoles;
    this.loop = (async () => {
      const deadline = Date.now() + 15 * 60_000;
      while (this.running && Date.now() < deadline) {
        const t = Date.now();
        const holders: string[] = [];
        const rs = await Promise.all(
          roles.map((role) =>
            runCommand('ip', ['-n', this.net.ns(role), '-o', '-4', 'addr', 'show', 'to', `${this.vip}/32`, 'up'], {
              timeoutMs: 5_000,
            }),
          ),
        );
        rs.forEach((r, i) => {
          if (r.stdout.trim() !== '') holders.push(roles[i]);
        });
        this.samples.push({ t, holders });
        await sleep(25);
      }
    })();
    // One probe per iteration; `timeout -s INT` makes arping print what it got and exit.
    const script = [
      'end=$(( $(date +%s) + 900 ))',
      'while [ "$(date +%s)" -lt "$end" ]; do',
      '  t=$(date +%s%3N)',
      `  out=$(timeout -s INT 0.15 arping -c 1 -I eth0 ${this.vip} 2>&1)`,
      '  macs=$(printf "%s\\n" "$out" | sed -n "s/.*reply from .* \\[\\([0-9A-Fa-f:]*\\)\\].*/\\1/p" | tr "\\n" " ")',
      '  echo "P $t $macs"',
      '  sleep 0.05',
      'done',
    ].join('\n');
    this.arp = this.net.spawn('client', ['bash', '-c', script]);
    let buf = '';
    this.arp.stdout?.setEncoding('utf8');
    this.arp.stdout?.on('data', (c: string) => {
      buf += c;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const parts = buf.slice(0, i).trim().split(/\s+/);
        buf = buf.slice(i + 1);
        if (parts[0] === 'P')
          this.probes.push({ t: Number(parts[1]), macs: parts.slice(2).map((m) => m.toLowerCase()) });
        i = buf.indexOf('\n');
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.arp?.kill('SIGKILL');
    await this.loop;
  }

  /** Probes answered, and by how many distinct MACs. */
  get arpProbes(): { t: number; macs: string[] }[] {
    return this.probes;
  }

  get addressSamples(): { t: number; holders: string[] }[] {
    return this.samples;
  }

  violations(): string[] {
    const out: string[] = [];
    for (const s of this.samples)
      if (s.holders.length > 1)
        out.push(`${new Date(s.t).toISOString()}: VIP configured on ${s.holders.join(' and ')}`);
    for (const p of this.probes) {
      const distinct = [...new Set(p.macs)];
      if (distinct.length > 1)
        out.push(`${new Date(p.t).toISOString()}: one ARP request answered by ${distinct.join(' and ')}`);
    }
    return out;
  }

  /** MACs that answered ARP, in order of first appearance. */
  answeringMacs(): string[] {
    const seen: string[] = [];
    for (const p of this.probes) for (const m of p.macs) if (!seen.includes(m)) seen.push(m);
    return seen;
  }
}
