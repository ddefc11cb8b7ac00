/**
 * A real OpenSSH server on loopback, for tests of src/remote/.
 *
 * Each lab has its own directory (config, ed25519 host key, pid file, client key,
 * authorized_keys, known_hosts) and runs `/usr/sbin/sshd -D -e -f CONFIG` as a child
 * process listening only on the loopback addresses it is given (127.0.0.21 by default)
 * on a free port. Like test/lab/mariadb-lab.ts it stops what it started by PID — never
 * by name — on close(), on process exit and on SIGINT/SIGTERM, and a detached watchdog
 * kills the server if the Node process dies without running its handlers.
 *
 * Facts this module relies on (OpenSSH 9.2, Debian 12):
 * - sshd needs /run/sshd (its privilege-separation directory) and an absolute path to
 *   itself, since it re-executes itself for every connection;
 * - `StrictModes no` because the keys live under /tmp; `UsePAM no` so root can log in
 *   with a key without a PAM stack; sftp must be declared (`Subsystem sftp internal-sftp`)
 *   since the lab's config does not include the system one;
 * - a connection's session processes are children of the listener, and survive it when
 *   only the listener is killed: stop() kills the whole tree, collected before any kill.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const SSHD_PATH = '/usr/sbin/sshd';

export interface SshdLabOptions {
  /** Loopback addresses to listen on, all on the same port; the first is `host`. Default ['127.0.0.21']. */
  addresses?: string[];
  /** Port; by default a free one is chosen (port 22 works too on an address nothing else uses). */
  port?: number;
  /** Keep the directory after stop() (for post-mortems); the server is stopped regardless. */
  keep?: boolean;
  /** Raw sshd_config lines, placed first so they override the lab's defaults (sshd keeps a keyword's first value). */
  extraConfig?: string[];
  /** Bound on waiting for the server to answer with its banner. Default 15 s. */
  startTimeoutMs?: number;
  /**
   * Network namespace to run sshd in (`ip netns exec NETNS sshd …`); `addresses` are then
   * addresses inside it, the port defaults to 22, and readiness is read from sshd's own
   * "Server listening on …" lines since this process cannot connect into the namespace.
   */
  netns?: string;
  /** More public keys (`ssh-ed25519 AAAA…` lines) allowed to log in, e.g. one client key shared by several labs. */
  authorizedKeys?: string[];
}

export interface SshdLab {
  /** First listen address. */
  readonly host: string;
  readonly addresses: readonly string[];
  readonly port: number;
  readonly user: 'root';
  /** Private key (OpenSSH format, no passphrase) whose public half is in authorized_keys. */
  readonly identityFile: string;
  /** known_hosts with the host key for every address, as `[addr]:port` (or `addr` on port 22). */
  readonly knownHostsFile: string;
  /** The host key's public line: `ssh-ed25519 AAAA…`. */
  readonly hostPublicKey: string;
  /** The lab directory: config, keys, logs. */
  readonly dir: string;
  /** PID of the listening sshd, undefined once stopped. */
  readonly pid: number | undefined;
  /** The last lines sshd wrote to stderr (-e), for failure messages. */
  logTail(): string;
  /** Stops the listener and every session process under it, then removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export class SshdLabError extends Error {
  constructor(message: string, log?: string) {
    super(log ? `${message}\n--- sshd log ---\n${log}` : message);
    this.name = 'SshdLabError';
  }
}

/** True when the tests can start sshd here; they skip rather than fail without it. */
export function sshdAvailable(): boolean {
  return existsSync(SSHD_PATH) && existsSync('/usr/bin/ssh-keygen') && process.getuid?.() === 0;
}

/** Labs with live processes, so exit/signal handlers can stop them even when a test crashes. */
const live = new Set<SshdLabImpl>();
let handlersInstalled = false;

function onExit(): void {
  for (const lab of live) {
    lab.killSync();
    if (!lab.keep) rmSync(lab.dir, { recursive: true, force: true });
  }
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

/** Resolves with the first bytes the server sends, or rejects; bounded by timeoutMs. */
function readBanner(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolveBanner, reject) => {
    const sock = netConnect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no banner'));
    }, timeoutMs);
    sock.once('data', (d) => {
      clearTimeout(timer);
      sock.destroy();
      resolveBanner(d.toString('latin1'));
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    });
  });
}

/** PID → parent PID for every process, from /proc. */
function parentMap(): Map<number, number> {
  const map = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      map.set(Number(name), Number(rest[1]));
    } catch {
      // the process exited while we looked
    }
  }
  return map;
}

/** The PIDs of every process under `root` (not including it). */
export function descendantsOf(root: number): number[] {
  const parents = parentMap();
  const out: number[] = [];
  let frontier = [root];
  for (let depth = 0; depth < 64 && frontier.length > 0; depth++) {
    const next: number[] = [];
    for (const [pid, ppid] of parents) if (frontier.includes(ppid)) next.push(pid);
    out.push(...next);
    frontier = next;
  }
  return out;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills the listener if the Node process dies without its handlers; polls the parent at most maxSeconds. */
const WATCHDOG = [
  'parent="$1"; pid="$2"; maxs="$3"; i=0',
  'while [ "$i" -lt "$maxs" ] && kill -0 "$parent" 2>/dev/null; do sleep 1; i=$((i+1)); done',
  'kill -0 "$parent" 2>/dev/null && exit 0',
  'kill -KILL "$pid" 2>/dev/null',
  'if [ -n "$4" ]; then sleep 1; rm -rf -- "$4"; fi',
].join('\n');

class SshdLabImpl implements SshdLab {
  readonly user = 'root' as const;
  child: ChildProcess | undefined;
  watchdog: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  log = '';
  stopped = false;
  netns: string | undefined;

  constructor(
    readonly dir: string,
    readonly addresses: readonly string[],
    public port: number,
    readonly identityFile: string,
    readonly knownHostsFile: string,
    readonly hostPublicKey: string,
    readonly keep: boolean,
  ) {}

  get host(): string {
    return this.addresses[0];
  }

  get pid(): number | undefined {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  logTail(): string {
    return this.log.slice(-4000);
  }

  start(configPath: string, netns?: string): void {
    installHandlers();
    live.add(this);
    this.netns = netns;
    const sshdArgs = [SSHD_PATH, '-D', '-e', '-f', configPath];
    // `ip netns exec` execs sshd in place: the child's PID is the listener's.
    const child =
      netns === undefined
        ? spawn(SSHD_PATH, sshdArgs.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn('ip', ['netns', 'exec', netns, ...sshdArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.log = (this.log + s).slice(-20_000);
    });
    this.exited = new Promise<void>((r) => {
      child.once('exit', () => r());
      child.once('error', () => r());
    });
    if (child.pid !== undefined && !this.keep) {
      this.watchdog = spawn(
        'sh',
        ['-c', WATCHDOG, 'sshd-lab-watchdog', String(process.pid), String(child.pid), '21600', this.dir],
        {
          detached: true,
          stdio: 'ignore',
        },
      );
      this.watchdog.unref();
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (let i = 0; i < Math.ceil(timeoutMs / 50) + 1 && Date.now() <= deadline; i++) {
      if (this.pid === undefined)
        throw new SshdLabError(`sshd exited during startup (${this.child?.exitCode})`, this.logTail());
      if (this.netns !== undefined) {
        if (this.addresses.every((a) => this.log.includes(`Server listening on ${a} port ${this.port}.`))) return;
        last = 'no "Server listening" line yet';
        await sleep(50);
        continue;
      }
      const banners = await Promise.allSettled(this.addresses.map((a) => readBanner(a, this.port, 1000)));
      if (banners.every((b) => b.status === 'fulfilled' && b.value.startsWith('SSH-2.0-'))) return;
      last = banners.map((b) => (b.status === 'rejected' ? String((b.reason as Error).message) : b.value)).join('; ');
      await sleep(50);
    }
    throw new SshdLabError(
      `sshd did not answer on ${this.addresses.join(', ')} port ${this.port}: ${last}`,
      this.logTail(),
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const pid = this.pid;
    if (pid !== undefined) {
      const tree = descendantsOf(pid);
      this.child?.kill('SIGTERM');
      for (const p of tree) killQuietly(p, 'SIGTERM');
      const exited = await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)]);
      if (!exited) this.child?.kill('SIGKILL');
      await Promise.race([this.exited, sleep(5000)]);
      for (let i = 0; i < 50 && tree.some(alive); i++) await sleep(20);
      for (const p of tree) if (alive(p)) killQuietly(p, 'SIGKILL');
    }
    this.killSync();
    live.delete(this);
    if (live.size === 0) uninstallHandlers();
    if (!this.keep) await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Synchronous last resort (exit handlers): SIGKILL the listener, its sessions and the watchdog. */
  killSync(): void {
    const pid = this.pid;
    if (pid !== undefined) {
      const tree = descendantsOf(pid);
      killQuietly(pid, 'SIGKILL');
      for (const p of tree) killQuietly(p, 'SIGKILL');
    }
    if (this.watchdog?.pid !== undefined) {
      killQuietly(this.watchdog.pid, 'SIGKILL');
      this.watchdog = undefined;
    }
  }
}

async function keygen(path: string, comment: string): Promise<string> {
  await execFileAsync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], {
    timeout: 30_000,
  });
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

/** The known_hosts name OpenSSH uses for a host and port. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * Starts sshd on loopback with a fresh host key and client key. Call stop() when done
 * (an afterAll); a failed start stops whatever it started before rethrowing.
 */
export async function startSshd(opts: SshdLabOptions = {}): Promise<SshdLab> {
  // A chosen free port can be taken between the probe and sshd's bind: retry, boundedly.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      const clash = e instanceof SshdLabError && /Address already in use|Cannot bind any address/.test(e.message);
      if (!(opts.port === undefined && clash && attempt < 3)) throw e;
    }
  }
}

async function startOnce(opts: SshdLabOptions): Promise<SshdLab> {
  const addresses = opts.addresses ?? ['127.0.0.21'];
  const dir = await mkdtemp(join(tmpdir(), 'mha-sshd-'));
  await chmod(dir, 0o700);
  let lab: SshdLabImpl | undefined;
  try {
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    const identityFile = join(dir, 'id_ed25519');
    const [hostPub, clientPub] = await Promise.all([
      keygen(hostKey, 'sshd-lab host'),
      keygen(identityFile, 'sshd-lab client'),
    ]);
    const hostPublicKey = hostPub.split(/\s+/).slice(0, 2).join(' ');
    await writeFile(join(dir, 'authorized_keys'), `${[clientPub, ...(opts.authorizedKeys ?? [])].join('\n')}\n`, {
      mode: 0o600,
    });
    const knownHostsFile = join(dir, 'known_hosts');
    const configPath = join(dir, 'sshd_config');
    const port = opts.port ?? (opts.netns !== undefined ? 22 : await freePort(addresses[0]));
    await writeFile(knownHostsFile, addresses.map((a) => `${knownHostsName(a, port)} ${hostPublicKey}\n`).join(''), {
      mode: 0o600,
    });
    // sshd keeps the first value of a keyword: the caller's lines go first so they win.
    const config = [
      ...(opts.extraConfig ?? []),
      ...addresses.map((a) => `ListenAddress ${a}:${port}`),
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin yes',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'UseDNS no',
      'PrintMotd no',
      'PrintLastLog no',
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'LogLevel VERBOSE',
      // The client multiplexes channels on one connection: allow more than the default 10.
      'MaxSessions 64',
      'MaxStartups 100:30:200',
      'Subsystem sftp internal-sftp',
    ].join('\n');
    await writeFile(configPath, `${config}\n`, { mode: 0o600 });
    lab = new SshdLabImpl(dir, addresses, port, identityFile, knownHostsFile, hostPublicKey, opts.keep ?? false);
    lab.start(configPath, opts.netns);
    await lab.waitReady(opts.startTimeoutMs ?? 15_000);
    return lab;
  } catch (e) {
    if (lab) await lab.stop().catch(() => undefined);
    else await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
