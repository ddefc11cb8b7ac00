/**
 * One SSH connection to one database host (ssh2): commands, streamed command output and
 * an SFTP session, all multiplexed on a single connection, every call bounded by a
 * timeout, and the host's key checked against an OpenSSH known_hosts file.
 *
 * Timeouts and remote processes: closing a channel does not stop a command that is not
 * writing (`sleep`, a stuck `dd`), and the SSH "signal" request is refused by OpenSSH for
 * root sessions ("session signalling requires privilege separation", since root logins run
 * without post-auth privilege separation). So every command is prefixed with a `printf` of
 * the login shell's PID to stderr (taken off again before anyone sees stderr); sshd makes
 * that shell a session leader, and a command that times out, or whose stream is destroyed,
 * is killed with `pkill -KILL -s PID` (or `kill -KILL -- -PID`) over a second channel: the
 * command and everything it started. The signal request is sent as well, for non-root
 * users. This assumes a POSIX-compatible login shell (sh, bash, dash, ksh, zsh).
 *
 * Channels: OpenSSH allows 10 sessions per connection (MaxSessions); calls beyond
 * `maxChannels` (default 8, plus one for SFTP) wait for a free one, inside their timeout.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type {
  AgentAuthMethod,
  AuthMethod,
  Client,
  ClientChannel,
  ConnectConfig,
  ParsedKey,
  PublicKeyAuthMethod,
  SFTPWrapper,
} from 'ssh2';
import ssh2 from 'ssh2';

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new';
export type RemoteStage = 'connect' | 'auth' | 'hostkey' | 'exec' | 'timeout';

export interface RemoteErrorDetails {
  host: string;
  port: number;
  user: string;
  stage: RemoteStage;
  message: string;
  /** The connection attempt ran out of time (stage 'connect'). */
  timedOut?: boolean;
  /** A command's exit code, when it ran and failed. */
  exitCode?: number | null;
  /** The signal that ended a command, e.g. 'SIGKILL'. */
  signal?: string;
  /** The tail of a failed command's stderr. */
  stderr?: string;
  /** `ENOENT` when a file or directory does not exist, like node:fs errors. */
  code?: string;
  cause?: unknown;
}

/**
 * Everything that goes wrong talking to a host. `stage` says where: reaching sshd
 * (connect), logging in (auth), trusting it (hostkey), running a command (exec), or a
 * command / transfer that ran out of time (timeout).
 */
export class RemoteError extends Error {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly stage: RemoteStage;
  readonly timedOut: boolean;
  readonly exitCode: number | null | undefined;
  readonly signal: string | undefined;
  readonly stderr: string | undefined;
  readonly code: string | undefined;

  constructor(d: RemoteErrorDetails) {
    super(`ssh ${d.user}@${d.host}:${d.port} (${d.stage}): ${d.message}`, d.cause ? { cause: d.cause } : undefined);
    this.name = 'RemoteError';
    this.host = d.host;
    this.port = d.port;
    this.user = d.user;
    this.stage = d.stage;
    this.timedOut = d.timedOut ?? d.stage === 'timeout';
    this.exitCode = d.exitCode;
    this.signal = d.signal;
    this.stderr = d.stderr;
    this.code = d.code;
  }
}

/** Quotes one word for a POSIX shell: safe characters as they are, anything else in single quotes. */
export function shQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted: `shCommand(['cat', '--', path])`. */
export function shCommand(words: readonly string[]): string {
  return words.map(shQuote).join(' ');
}

// ---------------------------------------------------------------------------
// known_hosts
// ---------------------------------------------------------------------------

/** The name OpenSSH files a host under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type named inside an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, …). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return len > 0 && len < 64 && blob.length >= 4 + len ? blob.toString('latin1', 4, 4 + len) : 'unknown';
}

/** `SHA256:…` as `ssh-keygen -lf` prints it. */
export function hostKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export interface KnownHostsEntry {
  /** The file it is from, when known. */
  file?: string;
  /** 1-based line number in the file. */
  line: number;
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written (patterns, or a hashed `|1|salt|hash`). */
  hosts: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'match'; entry: KnownHostsEntry }
  | { status: 'unknown' }
  | { status: 'changed'; entries: KnownHostsEntry[] }
  | { status: 'revoked'; entry: KnownHostsEntry };

function wildcardMatch(pattern: string, text: string): boolean {
  // OpenSSH's match_pattern: `*` any run, `?` one character, case-insensitive for host names.
  const re = new RegExp(
    `^${pattern
      .toLowerCase()
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return re.test(text.toLowerCase());
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const want = Buffer.from(hash, 'base64');
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (wildcardMatch(p.slice(1), name)) return false;
    } else if (wildcardMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** The entries of an OpenSSH known_hosts file (plain and hashed host fields, markers). */
export class KnownHosts {
  constructor(
    readonly entries: readonly KnownHostsEntry[],
    readonly file?: string,
  ) {}

  static parse(text: string, file?: string): KnownHosts {
    const entries: KnownHostsEntry[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (!line || line.startsWith('#')) continue;
      const fields = line.split(/\s+/);
      let marker: KnownHostsEntry['marker'];
      if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
        marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
        fields.shift();
      }
      if (fields.length < 3) continue;
      const key = Buffer.from(fields[2], 'base64');
      if (key.length === 0) continue;
      entries.push({ file, line: i + 1, marker, hosts: fields[0], keyType: fields[1], key });
    }
    return new KnownHosts(entries, file);
  }

  /** The entries of several files, in order; a missing file is an empty one (every host unknown). */
  static async load(files: string | readonly string[]): Promise<KnownHosts> {
    const list = typeof files === 'string' ? [files] : files;
    const entries: KnownHostsEntry[] = [];
    for (const file of list) {
      try {
        entries.push(...KnownHosts.parse(await readFile(file, 'utf8'), file).entries);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return new KnownHosts(entries, list[0]);
  }

  /** Entries (not @cert-authority, which this client does not use) that name this host and port. */
  entriesFor(host: string, port: number): KnownHostsEntry[] {
    const name = knownHostsName(host, port);
    return this.entries.filter((e) => e.marker !== 'cert-authority' && hostFieldMatches(e.hosts, name));
  }

  /**
   * What the file says about `key` for this host. Stricter than OpenSSH in one case: a host
   * known only by keys of other types is "changed", not "unknown" (the client prefers the
   * known types in negotiation, so the server no longer offering them is a change).
   */
  check(host: string, port: number, key: Buffer): HostKeyVerdict {
    const entries = this.entriesFor(host, port);
    const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
    if (revoked) return { status: 'revoked', entry: revoked };
    const plain = entries.filter((e) => e.marker === undefined);
    const match = plain.find((e) => e.key.equals(key));
    if (match) return { status: 'match', entry: match };
    return plain.length > 0 ? { status: 'changed', entries: plain } : { status: 'unknown' };
  }

  /** Key types on file for this host, for host-key algorithm preference. */
  keyTypesFor(host: string, port: number): string[] {
    return [
      ...new Set(
        this.entriesFor(host, port)
          .filter((e) => e.marker === undefined)
          .map((e) => e.keyType),
      ),
    ];
  }
}

/** A known_hosts line for a host key, plain or hashed (`|1|salt|hash`, as `HashKnownHosts yes` writes). */
export function knownHostsLine(host: string, port: number, key: Buffer, opts: { hash?: boolean } = {}): string {
  const name = knownHostsName(host, port);
  let field = name;
  if (opts.hash) {
    const salt = randomBytes(20);
    field = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  }
  return `${field} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** Host-key algorithms ssh2 supports, by key type. */
const ALGORITHMS_FOR_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/** accept-new appends: serialized per file within this process so lines never interleave. */
const appendQueues = new Map<string, Promise<void>>();
function appendLine(file: string, line: string): Promise<void> {
  const prev = appendQueues.get(file) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => appendFile(file, `${line}\n`, { mode: 0o600 }));
  appendQueues.set(file, next);
  return next;
}

// ---------------------------------------------------------------------------
// The connection
// ---------------------------------------------------------------------------

export interface SshConnectOptions {
  /** The host's name: known_hosts entries are looked up under it (and messages use it). */
  host: string;
  /** Address to connect to when not `host` itself (MHA's ssh_ip); the host key is still checked under `host`. */
  address?: string;
  /** Default 22. */
  port?: number;
  /** Default: the user running the manager. */
  user?: string;
  /**
   * Private keys (OpenSSH or PEM format), tried in order. Default: those of
   * ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exist. A listed file that cannot be read is an error.
   */
  identityFiles?: string[];
  /** Passphrase for encrypted identity files. */
  passphrase?: string;
  /** ssh-agent socket to try after the identity files; default none (the manager usually runs unattended). */
  agent?: string;
  /** Default ~/.ssh/known_hosts. Several files are read in order; accept-new appends to the first. */
  knownHostsFile?: string | readonly string[];
  /**
   * `yes` (default): the host's key must be on file. `accept-new`: an unknown host's key is
   * appended to the file; a changed key is refused. `no`: any key is accepted (a changed
   * one with a warning) — only for labs.
   */
  strictHostKeyChecking?: StrictHostKeyChecking;
  /** accept-new writes hashed host names (HashKnownHosts yes). Default false. */
  hashKnownHosts?: boolean;
  /** Bound on TCP connect + handshake + authentication. Default 10 s. */
  connectTimeoutMs?: number;
  /** SSH-level keepalives: the connection is dropped after countMax unanswered ones. Default 5 s × 3. */
  keepalive?: { intervalMs: number; countMax?: number } | false;
  /** Default overall timeout of exec(). Default 120 s. */
  execTimeoutMs?: number;
  /** Default idle timeout (no output) of exec() and execStream(). Default 60 s. */
  idleTimeoutMs?: number;
  /** Concurrent command channels on this connection (SFTP uses one more). Default 8. */
  maxChannels?: number;
  /**
   * Prefix commands with a report of their session's PID so that timed-out commands can be
   * killed (see the module comment). Default true; turn off for a login shell that is not
   * POSIX-compatible, at the cost of timed-out commands possibly running on.
   */
  trackRemotePids?: boolean;
  /** Warnings worth logging: a key accepted under `no`, a key added under `accept-new`. */
  onWarning?: (message: string) => void;
}

export interface ExecOptions {
  /** Whole-command bound, including waiting for a channel. 0 = none. Default: the host's execTimeoutMs. */
  timeoutMs?: number;
  /** Bound on silence (no stdout or stderr). 0 = none. Default: the host's idleTimeoutMs. */
  idleTimeoutMs?: number;
  /** Bytes written to the command's stdin; by default stdin is closed at once. */
  stdin?: Buffer | string;
  /** Larger output is an error (the command is killed). Default 64 MiB. */
  maxOutputBytes?: number;
  /** @internal the kill command itself is not tracked */
  untracked?: boolean;
}

export interface ExecResult {
  /** Exit status, or null when the command died by a signal. */
  code: number | null;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

export interface ExecBufferResult extends Omit<ExecResult, 'stdout'> {
  stdout: Buffer;
}

export interface ExecStreamOptions {
  /** Bound on silence while the consumer wants data (not while it applies backpressure). 0 = none. */
  idleTimeoutMs?: number;
  highWaterMark?: number;
  /** Replaces the error a failed command produces (e.g. to name the file being read). */
  mapError?: (err: RemoteError) => Error;
}

const STDERR_KEEP = 16 * 1024;
const PID_MARK = 'mha-ts-session-pid:';

/** The command as sent: first the login shell reports its PID (a session leader) on stderr. */
function withPidReport(command: string): string {
  return `printf '${PID_MARK}%s\\n' "$$" >&2; ${command}`;
}

/** A command's stderr: keeps the tail, and takes the PID report off its first line. */
class StderrCapture {
  pid: number | undefined;
  private head: Buffer | undefined;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(expectPid: boolean) {
    this.head = expectPid ? Buffer.alloc(0) : undefined;
  }

  push(d: Buffer): void {
    if (this.head) {
      const h = this.head.length ? Buffer.concat([this.head, d]) : d;
      const nl = h.indexOf(10);
      if (nl < 0 && h.length < 64) {
        this.head = h;
        return;
      }
      this.head = undefined;
      const first = nl >= 0 ? h.toString('latin1', 0, nl) : '';
      if (first.startsWith(PID_MARK)) {
        const pid = Number(first.slice(PID_MARK.length));
        if (Number.isInteger(pid) && pid > 1) this.pid = pid;
        d = h.subarray(nl + 1);
      } else d = h;
      if (d.length === 0) return;
    }
    this.bytes += d.length;
    this.chunks.push(d);
    while (this.bytes > STDERR_KEEP * 2 && this.chunks.length > 1) this.bytes -= (this.chunks.shift() as Buffer).length;
  }

  text(): string {
    return tailText(this.head ? [...this.chunks, this.head] : this.chunks);
  }
}

/** A counting semaphore whose waiters can give up. */
class ChannelSlots {
  private free: number;
  private readonly waiters: { grant: () => void; signal?: AbortSignal }[] = [];

  constructor(n: number) {
    this.free = n;
  }

  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.free++;
        this.dispatch();
      };
      if (this.free > 0) {
        this.free--;
        return resolve(release);
      }
      const waiter = {
        signal,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private dispatch(): void {
    while (this.free > 0 && this.waiters.length > 0) {
      const w = this.waiters.shift();
      if (!w || w.signal?.aborted) continue;
      this.free--;
      w.grant();
    }
  }
}

function defaultIdentityFiles(): string[] {
  const dir = join(homedir(), '.ssh');
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(dir, f)).filter((f) => existsSync(f));
}

function tailText(chunks: Buffer[]): string {
  return Buffer.concat(chunks).toString('utf8').slice(-4000).trim();
}

function describeExit(code: number | null | undefined, signal: string | undefined): string {
  if (signal) return `killed by ${signal}`;
  if (code === undefined) return 'no exit status (connection lost?)';
  return `exit status ${code}`;
}

/** A connected SSH session to one host. Create with {@link SshHost.connect}; close() when done. */
export class SshHost {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  private closedFlag = false;
  private closeReason: string | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private readonly slots: ChannelSlots;

  private constructor(
    private readonly client: Client,
    private readonly opts: Required<Pick<SshConnectOptions, 'execTimeoutMs' | 'idleTimeoutMs'>> & SshConnectOptions,
    target: { host: string; port: number; user: string },
  ) {
    this.host = target.host;
    this.port = target.port;
    this.user = target.user;
    this.slots = new ChannelSlots(opts.maxChannels ?? 8);
    client.on('error', (e: Error) => {
      this.closeReason ??= e.message;
    });
    client.on('close', () => {
      this.closedFlag = true;
      this.closeReason ??= 'connection closed';
      this.sftpSession = undefined;
    });
  }

  /** `root@db1:22`, for messages. */
  get label(): string {
    return `${this.user}@${this.host}:${this.port}`;
  }

  /** True once the connection is gone (closed, or dropped by the network or keepalives). */
  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Opens the connection: TCP, handshake with host-key verification, public-key login; all
   * within connectTimeoutMs. Fails with a RemoteError whose stage says which step failed.
   */
  static async connect(options: SshConnectOptions): Promise<SshHost> {
    const host = options.host;
    const port = options.port ?? 22;
    const user = options.user ?? userInfo().username;
    const strict = options.strictHostKeyChecking ?? 'yes';
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const knownHostsFiles =
      options.knownHostsFile === undefined
        ? [join(homedir(), '.ssh', 'known_hosts')]
        : typeof options.knownHostsFile === 'string'
          ? [options.knownHostsFile]
          : [...options.knownHostsFile];
    if (knownHostsFiles.length === 0) knownHostsFiles.push(join(homedir(), '.ssh', 'known_hosts'));
    const knownHostsFile = knownHostsFiles[0];
    const where = (e: KnownHostsEntry) => `${e.file ?? knownHostsFile} line ${e.line}`;
    const fail = (stage: RemoteStage, message: string, extra: Partial<RemoteErrorDetails> = {}) =>
      new RemoteError({ host, port, user, stage, message, ...extra });

    const explicitKeys = options.identityFiles !== undefined;
    const keyFiles = options.identityFiles ?? defaultIdentityFiles();
    const keys: { file: string; key: ParsedKey }[] = [];
    for (const file of keyFiles) {
      let text: Buffer;
      try {
        text = readFileSync(file);
      } catch (e) {
        if (!explicitKeys) continue;
        throw fail('auth', `cannot read identity file ${file}: ${(e as Error).message}`);
      }
      const parsed = ssh2.utils.parseKey(text, options.passphrase);
      const key = Array.isArray(parsed) ? parsed[0] : parsed;
      if (key instanceof Error || !key) {
        throw fail('auth', `identity file ${file} is not a usable private key: ${(key as Error)?.message ?? 'empty'}`);
      }
      if (!key.isPrivateKey()) throw fail('auth', `identity file ${file} holds a public key, not a private key`);
      keys.push({ file, key });
    }
    if (keys.length === 0 && !options.agent) {
      throw fail('auth', `no identity file to log in with (tried ${keyFiles.join(', ') || '~/.ssh/id_*'})`);
    }

    // Under `no` the file only serves a warning: unreadable is as good as empty.
    const known =
      strict === 'no'
        ? await KnownHosts.load(knownHostsFiles).catch(() => undefined)
        : await KnownHosts.load(knownHostsFiles).catch((e: Error) => {
            throw fail('hostkey', `cannot read ${knownHostsFiles.join(', ')}: ${e.message}`, { cause: e });
          });
    const knownTypes = known?.keyTypesFor(host, port) ?? [];
    const preferred = knownTypes.flatMap((t) => ALGORITHMS_FOR_KEY_TYPE[t] ?? []);

    let hostKeyProblem: string | undefined;
    let acceptedNewKey: Buffer | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const type = keyTypeOf(key);
      const fp = hostKeyFingerprint(key);
      const name = knownHostsName(host, port);
      if (strict === 'no') {
        const verdict = known?.check(host, port, key);
        if (verdict?.status === 'changed')
          options.onWarning?.(
            `${name}: host key ${type} ${fp} differs from known_hosts; accepted (StrictHostKeyChecking=no)`,
          );
        return true;
      }
      const verdict = (known as KnownHosts).check(host, port, key);
      switch (verdict.status) {
        case 'match':
          return true;
        case 'revoked':
          hostKeyProblem = `the host key ${type} ${fp} is marked @revoked in ${where(verdict.entry)}`;
          return false;
        case 'changed':
          hostKeyProblem =
            `the host key of ${name} changed: it offered ${type} ${fp}, but ${verdict.entries.map(where).join(', ')} ` +
            `holds a different key. The host was reinstalled, ` +
            `or the connection is being intercepted; if the change is expected, remove the old key with ` +
            `\`ssh-keygen -R '${name}' -f ${verdict.entries[0].file ?? knownHostsFile}\` and connect again`;
          return false;
        case 'unknown':
          if (strict === 'accept-new') {
            acceptedNewKey = key;
            return true;
          }
          hostKeyProblem =
            `${name} is not in ${knownHostsFiles.join(', ')} (it offered ${type} ${fp}). Add it after checking the ` +
            `fingerprint, e.g. \`ssh-keyscan -p ${port} ${host} >> ${knownHostsFile}\`, or use ` +
            `StrictHostKeyChecking=accept-new`;
          return false;
      }
    };

    const keepalive = options.keepalive === undefined ? { intervalMs: 5_000, countMax: 3 } : options.keepalive;
    const authHandler: AuthMethod[] = keys.map(
      (k): PublicKeyAuthMethod => ({ type: 'publickey', username: user, key: k.key }),
    );
    if (options.agent) authHandler.push({ type: 'agent', username: user, agent: options.agent } as AgentAuthMethod);
    const config: ConnectConfig = {
      host: options.address ?? host,
      port,
      username: user,
      readyTimeout: connectTimeoutMs,
      keepaliveInterval: keepalive ? keepalive.intervalMs : 0,
      keepaliveCountMax: keepalive ? (keepalive.countMax ?? 3) : 0,
      hostVerifier,
      authHandler,
    };
    if (preferred.length > 0) config.algorithms = { serverHostKey: { remove: preferred, prepend: preferred } as never };

    const client = new ssh2.Client();
    const sshHost = new SshHost(
      client,
      {
        ...options,
        execTimeoutMs: options.execTimeoutMs ?? 120_000,
        idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      },
      { host, port, user },
    );
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: RemoteError) => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        client.removeListener('ready', onReady);
        client.removeListener('error', onError);
        client.removeListener('close', onClose);
        if (err) {
          client.destroy();
          reject(err);
        } else resolve();
      };
      const onReady = () => settle();
      const onError = (e: Error & { level?: string; code?: string }) => {
        if (hostKeyProblem) return settle(fail('hostkey', hostKeyProblem, { cause: e }));
        switch (e.level) {
          case 'client-authentication':
            return settle(
              fail(
                'auth',
                `${user} was not let in with ${keys.map((k) => k.file).join(', ') || 'the agent'}: ` +
                  `${e.message}. Is the public key in ~${user}/.ssh/authorized_keys on ${host}?`,
                { cause: e },
              ),
            );
          case 'client-timeout':
            return settle(
              fail('connect', `no SSH session within ${connectTimeoutMs} ms (host down, or firewalled?)`, {
                timedOut: true,
                cause: e,
              }),
            );
          case 'client-dns':
            return settle(fail('connect', `cannot resolve ${host}: ${e.message}`, { cause: e }));
          default: {
            const why =
              e.code === 'ECONNREFUSED'
                ? `connection refused: nothing listens on ${options.address ?? host}:${port} (is sshd running?)`
                : e.message;
            return settle(fail('connect', why, { cause: e }));
          }
        }
      };
      const onClose = () => {
        if (hostKeyProblem) settle(fail('hostkey', hostKeyProblem));
        else settle(fail('connect', 'the server closed the connection during the handshake'));
      };
      // ssh2's readyTimeout starts after DNS; this one bounds everything.
      const guard = setTimeout(
        () =>
          settle(
            fail('connect', `no SSH session within ${connectTimeoutMs} ms (host down, or firewalled?)`, {
              timedOut: true,
            }),
          ),
        connectTimeoutMs + 1_000,
      );
      client.on('ready', onReady);
      client.on('error', onError);
      client.on('close', onClose);
      try {
        client.connect(config);
      } catch (e) {
        settle(fail('connect', (e as Error).message, { cause: e }));
      }
    });
    if (acceptedNewKey) {
      const line = knownHostsLine(host, port, acceptedNewKey, { hash: options.hashKnownHosts });
      try {
        await appendLine(knownHostsFile, line);
      } catch (e) {
        client.destroy();
        throw fail('hostkey', `cannot record the new host key in ${knownHostsFile}: ${(e as Error).message}`);
      }
      options.onWarning?.(
        `${knownHostsName(host, port)}: new host key ${keyTypeOf(acceptedNewKey)} ${hostKeyFingerprint(acceptedNewKey)} added to ${knownHostsFile}`,
      );
    }
    return sshHost;
  }

  private error(stage: RemoteStage, message: string, extra: Partial<RemoteErrorDetails> = {}): RemoteError {
    return new RemoteError({ host: this.host, port: this.port, user: this.user, stage, message, ...extra });
  }

  private assertOpen(): void {
    if (this.closedFlag) throw this.error('connect', `the connection is closed (${this.closeReason})`);
  }

  /**
   * Opens an exec channel once a slot is free; the release function must be called when it
   * closes. An abort while waiting rejects at once; a channel that opens later is killed.
   */
  private async openExec(
    command: string,
    signal?: AbortSignal,
    untracked = false,
  ): Promise<{ ch: ClientChannel; release: () => void; stderr: StderrCapture }> {
    this.assertOpen();
    const track = this.opts.trackRemotePids !== false && !untracked;
    const sent = track ? withPidReport(command) : command;
    const release = await this.slots.acquire(signal);
    try {
      this.assertOpen();
    } catch (e) {
      release();
      throw e;
    }
    return new Promise((resolve, reject) => {
      let gaveUp = false;
      const onAbort = () => {
        gaveUp = true;
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.client.exec(sent, (err, ch) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) {
            release();
            if (!gaveUp) reject(this.error('exec', `cannot start \`${command}\`: ${err.message}`, { cause: err }));
          } else if (gaveUp) {
            killChannel(ch);
            ch.once('close', release);
            ch.resume();
          } else resolve({ ch, release, stderr: new StderrCapture(track) });
        });
      } catch (e) {
        signal?.removeEventListener('abort', onAbort);
        release();
        reject(this.error('exec', `cannot start \`${command}\`: ${(e as Error).message}`, { cause: e }));
      }
    });
  }

  /** Runs a command; resolves with its exit status and output whatever the status (check `code`). */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.execBuffer(command, opts);
    return { ...r, stdout: r.stdout.toString('utf8') };
  }

  /** exec() with stdout as bytes. */
  async execBuffer(command: string, opts: ExecOptions = {}): Promise<ExecBufferResult> {
    const timeoutMs = opts.timeoutMs ?? this.opts.execTimeoutMs;
    const idleMs = opts.idleTimeoutMs ?? this.opts.idleTimeoutMs;
    const maxOutput = opts.maxOutputBytes ?? 64 * 1024 * 1024;
    const abort = new AbortController();
    let overall: NodeJS.Timeout | undefined;
    const timeoutError = (what: string) => this.error('timeout', `\`${command}\` ${what}; the command was killed`);
    if (timeoutMs > 0) {
      overall = setTimeout(() => abort.abort(timeoutError(`did not finish within ${timeoutMs} ms`)), timeoutMs);
    }
    try {
      const { ch, release, stderr } = await this.openExec(command, abort.signal, opts.untracked);
      return await new Promise<ExecBufferResult>((resolve, reject) => {
        const out: Buffer[] = [];
        let outBytes = 0;
        let idle: NodeJS.Timeout | undefined;
        let code: number | null | undefined;
        let sig: string | undefined;
        let done = false;
        const finish = (e?: Error) => {
          if (done) return;
          done = true;
          clearTimeout(idle);
          abort.signal.removeEventListener('abort', onAbort);
          if (e) {
            killChannel(ch);
            release();
            // Answer once the command is gone, so callers never race a still-running command.
            this.killSession(stderr.pid).then(() => reject(e));
          } else {
            release();
            resolve({ code: code ?? null, signal: sig, stdout: Buffer.concat(out), stderr: stderr.text() });
          }
        };
        const armIdle = () => {
          if (idleMs <= 0) return;
          clearTimeout(idle);
          idle = setTimeout(() => finish(timeoutError(`wrote nothing for ${idleMs} ms`)), idleMs);
        };
        const onAbort = () => finish(abort.signal.reason as Error);
        abort.signal.addEventListener('abort', onAbort, { once: true });
        ch.on('data', (d: Buffer) => {
          armIdle();
          outBytes += d.length;
          if (outBytes > maxOutput) {
            finish(this.error('exec', `\`${command}\` wrote more than ${maxOutput} bytes; the command was killed`));
            return;
          }
          out.push(d);
        });
        ch.stderr.on('data', (d: Buffer) => {
          armIdle();
          stderr.push(d);
        });
        ch.on('exit', (c: number | null, s?: string) => {
          code = c;
          sig = s;
        });
        ch.on('close', (c?: number | null, s?: string) => {
          if (code === undefined && c !== undefined) {
            code = c;
            sig = s;
          }
          if (code === undefined && sig === undefined) {
            finish(this.error('exec', `\`${command}\` ended without an exit status (connection lost?)`));
          } else finish();
        });
        ch.on('error', (e: Error) => finish(this.error('exec', `\`${command}\`: ${e.message}`, { cause: e })));
        armIdle();
        if (opts.stdin !== undefined) ch.end(opts.stdin);
        else ch.end();
      });
    } finally {
      clearTimeout(overall);
    }
  }

  /** exec() that rejects unless the command exits 0; resolves with its stdout. */
  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) {
      throw this.error(
        'exec',
        `\`${command}\` failed (${describeExit(r.code, r.signal)})${r.stderr ? `: ${r.stderr}` : ''}`,
        {
          exitCode: r.code,
          signal: r.signal,
          stderr: r.stderr,
        },
      );
    }
    return r.stdout;
  }

  /**
   * A command's stdout as a stream, with backpressure down to the SSH window. The stream
   * errors (RemoteError stage 'exec', with stderr) when the command exits non-zero, and
   * (stage 'timeout') after idleTimeoutMs without data while it is being read. Destroying
   * the stream kills the command.
   */
  execStream(command: string, opts: ExecStreamOptions = {}): Readable {
    return SshHost.execStreamVia(() => Promise.resolve(this), command, opts);
  }

  /**
   * execStream() on a connection that may not be open yet: the stream is returned at once
   * and `getHost` is awaited when it is first read (connection errors arrive as its error).
   */
  static execStreamVia(getHost: () => Promise<SshHost>, command: string, opts: ExecStreamOptions = {}): Readable {
    return new ExecReadable(getHost, command, {
      idleTimeoutMs: opts.idleTimeoutMs,
      highWaterMark: opts.highWaterMark ?? 1 << 20,
      mapError: opts.mapError,
    });
  }

  /** @internal default idle timeout for streams */
  get defaultIdleTimeoutMs(): number {
    return this.opts.idleTimeoutMs;
  }

  /** @internal for ExecReadable */
  openExecChannel(
    command: string,
    signal?: AbortSignal,
  ): Promise<{ ch: ClientChannel; release: () => void; stderr: StderrCapture }> {
    return this.openExec(command, signal);
  }

  /** @internal for ExecReadable */
  makeError(stage: RemoteStage, message: string, extra: Partial<RemoteErrorDetails> = {}): RemoteError {
    return this.error(stage, message, extra);
  }

  /**
   * Kills every process of a remote session (a command this host started, by the PID its
   * login shell reported). Bounded; never throws: failing to kill is not worth failing for.
   */
  async killSession(pid: number | undefined): Promise<void> {
    if (pid === undefined || this.closedFlag) return;
    const cmd = `pkill -KILL -s ${pid} 2>/dev/null || kill -KILL -- -${pid} 2>/dev/null; true`;
    await this.execBuffer(cmd, { timeoutMs: 10_000, idleTimeoutMs: 0, untracked: true }).catch(() => undefined);
  }

  /**
   * The connection's SFTP session (opened on first use, reopened after dropSftp()). Calls
   * on it are not bounded by themselves: use {@link withTimeout}.
   */
  sftp(): Promise<SFTPWrapper> {
    this.assertOpen();
    if (!this.sftpSession) {
      const session = new Promise<SFTPWrapper>((resolve, reject) => {
        this.client.sftp((err, sftp) => {
          if (err) {
            reject(this.error('exec', `cannot start the sftp subsystem: ${err.message}`, { cause: err }));
            return;
          }
          sftp.on('close', () => {
            if (this.sftpSession === session) this.sftpSession = undefined;
          });
          sftp.on('error', () => undefined);
          resolve(sftp);
        });
      });
      session.catch(() => {
        if (this.sftpSession === session) this.sftpSession = undefined;
      });
      this.sftpSession = session;
    }
    return this.sftpSession;
  }

  /** Ends the SFTP session (e.g. after a timed-out request, whose late answer must not be trusted). */
  dropSftp(): void {
    const s = this.sftpSession;
    this.sftpSession = undefined;
    s?.then(
      (sftp) => sftp.end(),
      () => undefined,
    );
  }

  /**
   * Runs `fn` with the SFTP session, bounded by timeoutMs; on timeout the session is
   * dropped (outstanding requests fail) and a RemoteError stage 'timeout' is thrown.
   */
  async withSftp<T>(what: string, timeoutMs: number, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.dropSftp();
          reject(this.error('timeout', `sftp ${what} did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
      }
    });
    try {
      return await Promise.race([this.sftp().then(fn), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection (running commands are cut off). Idempotent. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, 2_000);
      this.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.end();
    });
    this.closedFlag = true;
  }
}

/** ssh2 internals used to send a signal request after our EOF (see killChannel). */
interface ChannelInternals {
  outgoing?: { id: number; state: string };
  _client?: { _protocol?: { signal(id: number, signal: string): void } };
}

/**
 * Kills the command behind a channel, then closes it. ssh2's Channel.signal() sends
 * nothing once the channel's stdin is ended (which exec does at once), although SSH allows
 * channel requests after EOF; so the request goes through ssh2's protocol object, with
 * the public method as the fallback should those internals change.
 */
function killChannel(ch: ClientChannel): void {
  try {
    const c = ch as unknown as ChannelInternals;
    const protocol = c._client?._protocol;
    if (c.outgoing && protocol && typeof protocol.signal === 'function') {
      if (c.outgoing.state === 'open' || c.outgoing.state === 'eof') protocol.signal(c.outgoing.id, 'KILL');
    } else {
      ch.signal('KILL');
    }
  } catch {
    // the channel is already closing
  }
  try {
    ch.close();
  } catch {
    // already closed
  }
}

/** The stdout of one remote command, pulled at the consumer's pace. */
class ExecReadable extends Readable {
  private host: SshHost | undefined;
  private ch: ClientChannel | undefined;
  private release: (() => void) | undefined;
  private readonly abort = new AbortController();
  private idle: NodeJS.Timeout | undefined;
  private idleTimeoutMs = 0;
  private wanting = false;
  private stdoutEnded = false;
  private exitCode: number | null | undefined;
  private exitSignal: string | undefined;
  private channelClosed = false;
  private stderr: StderrCapture | undefined;
  private finished = false;

  constructor(
    private readonly getHost: () => Promise<SshHost>,
    private readonly command: string,
    private readonly opts: { idleTimeoutMs?: number; highWaterMark: number; mapError?: (e: RemoteError) => Error },
  ) {
    super({ highWaterMark: opts.highWaterMark });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.wanting = true;
    this.getHost()
      .then((host) => {
        this.host = host;
        this.idleTimeoutMs = this.opts.idleTimeoutMs ?? host.defaultIdleTimeoutMs;
        this.armIdle();
        return host.openExecChannel(this.command, this.abort.signal);
      })
      .then(
        ({ ch, release, stderr }) => {
          this.ch = ch;
          this.release = release;
          this.stderr = stderr;
          this.wire(ch);
          callback();
        },
        (e: Error) => {
          clearTimeout(this.idle);
          callback(this.mapped(e));
        },
      );
  }

  private mapped(e: Error): Error {
    return e instanceof RemoteError && this.opts.mapError ? this.opts.mapError(e) : e;
  }

  private armIdle(): void {
    clearTimeout(this.idle);
    const host = this.host;
    if (!host || this.idleTimeoutMs <= 0 || !this.wanting || this.finished) return;
    this.idle = setTimeout(() => {
      const err = host.makeError(
        'timeout',
        `\`${this.command}\` sent nothing for ${this.idleTimeoutMs} ms; the command was killed`,
      );
      this.abort.abort(err);
      this.destroy(this.mapped(err));
    }, this.idleTimeoutMs);
  }

  private wire(ch: ClientChannel): void {
    ch.on('data', (chunk: Buffer) => {
      this.armIdle();
      if (!this.push(chunk)) {
        this.wanting = false;
        clearTimeout(this.idle);
        ch.pause();
      }
    });
    ch.on('end', () => {
      this.stdoutEnded = true;
      this.maybeFinish();
    });
    ch.stderr.on('data', (d: Buffer) => {
      this.armIdle();
      this.stderr?.push(d);
    });
    ch.on('exit', (code: number | null, signal?: string) => {
      this.exitCode = code;
      this.exitSignal = signal;
      this.maybeFinish();
    });
    ch.on('close', () => {
      this.channelClosed = true;
      this.release?.();
      this.maybeFinish();
    });
    ch.on('error', (e: Error) => {
      const host = this.host as SshHost;
      this.destroy(this.mapped(host.makeError('exec', `\`${this.command}\`: ${e.message}`, { cause: e })));
    });
    ch.end();
  }

  private maybeFinish(): void {
    if (this.finished || this.destroyed || !this.stdoutEnded) return;
    const haveStatus = this.exitCode !== undefined || this.exitSignal !== undefined;
    if (!haveStatus && !this.channelClosed) return;
    this.finished = true;
    clearTimeout(this.idle);
    if (this.exitCode === 0) {
      this.push(null);
      return;
    }
    const stderr = this.stderr?.text() ?? '';
    const err = (this.host as SshHost).makeError(
      'exec',
      `\`${this.command}\` failed (${describeExit(this.exitCode, this.exitSignal)})${stderr ? `: ${stderr}` : ''}`,
      { exitCode: this.exitCode ?? null, signal: this.exitSignal, stderr },
    );
    this.destroy(this.mapped(err));
  }

  override _read(): void {
    this.wanting = true;
    this.armIdle();
    this.ch?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idle);
    this.finished = true;
    if (!this.abort.signal.aborted) this.abort.abort(error ?? new Error('stream destroyed'));
    const ch = this.ch;
    if (ch && !this.channelClosed) {
      killChannel(ch);
      if (this.exitCode === undefined && this.exitSignal === undefined) void this.host?.killSession(this.stderr?.pid);
      // The slot frees when the channel's close arrives; do not wait for it here.
      ch.once('close', () => this.release?.());
      ch.resume();
    }
    callback(error);
  }
}
