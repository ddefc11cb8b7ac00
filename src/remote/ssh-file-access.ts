/**
 * FileAccess over SSH: the manager reads a database host's binlogs and relay logs with
 * nothing but sshd on that host.
 *
 * Two ways to move bytes, each where it is cheaper:
 * - large or open-ended ranges stream the stdout of a command over an exec channel
 *   (`cat`, or GNU `dd` with byte-exact skip/count): several times faster than ssh2's SFTP
 *   read stream, which keeps a single request in flight;
 * - small reads (read(), readText(), stream() of a range up to `smallRangeBytes`) use the
 *   connection's SFTP session with pipelined requests: no process to start on the host,
 *   where an exec costs a whole session set-up (fork, login shell) per call.
 * Listings and sizes use SFTP too, whole-file copies SFTP `fastGet` (parallel requests).
 *
 * Missing files behave like node:fs: size() is null, exists() false, and list(), read(),
 * readText(), copyTo() and stream() fail with `code === 'ENOENT'` and a message naming
 * the host and the path.
 */
import { userInfo } from 'node:os';
import { Readable } from 'node:stream';
import type { SFTPWrapper, Stats } from 'ssh2';
import type { FileAccess } from './file-access.js';
import { RemoteError, type SshConnectOptions, SshHost, shQuote } from './ssh-host.js';

/** SFTP status code for "no such file". */
const SFTP_NO_SUCH_FILE = 2;
const MIB = 1 << 20;

export interface SshFileAccessOptions {
  /** Bound on one list / size / small read. Default 60 s. */
  opTimeoutMs?: number;
  /** Bound on silence of a stream or a copy (no bytes while the consumer wants them). Default 60 s. */
  idleTimeoutMs?: number;
  /**
   * How stream() moves bytes: `exec` (a `cat`/`dd` command's stdout), `sftp` (pipelined
   * SFTP reads), or `auto` (default): SFTP for ranges up to smallRangeBytes, exec otherwise.
   */
  streamMethod?: 'auto' | 'exec' | 'sftp';
  /** Default 4 MiB. */
  smallRangeBytes?: number;
}

/** The shell command that writes bytes [start, end) of `path` to stdout. */
export function rangeCommand(path: string, start = 0, end?: number): string {
  if (start === 0 && end === undefined) return `cat -- ${shQuote(path)}`;
  // GNU dd: skip/count in bytes while reading 1 MiB blocks; exits non-zero on a missing file
  // (a `tail -c +N | head -c M` pipeline would report head's status instead).
  const count = end === undefined ? '' : ` count=${Math.max(0, end - start)}`;
  return `dd ${shQuote(`if=${path}`)} bs=1M iflag=skip_bytes,count_bytes skip=${start}${count} status=none`;
}

function isMissing(e: unknown): boolean {
  if (e instanceof RemoteError) return e.code === 'ENOENT' || /No such file or directory/.test(e.stderr ?? '');
  return (e as { code?: unknown })?.code === SFTP_NO_SUCH_FILE;
}

export class SshFileAccess implements FileAccess {
  readonly description: string;
  private hostPromise: Promise<SshHost> | undefined;
  private readonly owned: boolean;
  private readonly opTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly streamMethod: 'auto' | 'exec' | 'sftp';
  private readonly smallRangeBytes: number;

  /**
   * Over an open connection, or over one this object opens on first use (and reopens
   * after it drops) from connect options; close() closes only a connection it opened.
   */
  constructor(
    private readonly target: SshHost | SshConnectOptions,
    opts: SshFileAccessOptions = {},
  ) {
    this.owned = !(target instanceof SshHost);
    if (target instanceof SshHost) this.hostPromise = Promise.resolve(target);
    const t = target instanceof SshHost ? target : { ...target, port: target.port ?? 22 };
    this.description = `ssh ${t.user ?? userInfo().username}@${t.host}:${t.port}`;
    this.opTimeoutMs = opts.opTimeoutMs ?? 60_000;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.streamMethod = opts.streamMethod ?? 'auto';
    this.smallRangeBytes = opts.smallRangeBytes ?? 4 * MIB;
  }

  /** The connection, opened (or reopened) when needed. */
  async host(): Promise<SshHost> {
    // Concurrent callers that find the connection gone share one reconnection.
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = this.hostPromise;
      if (!current) break;
      const h = await current.catch(() => undefined);
      if (h && !h.closed) return h;
      if (!this.owned) return current;
      if (this.hostPromise === current || this.hostPromise === undefined) break;
    }
    const p = SshHost.connect(this.target as SshConnectOptions);
    this.hostPromise = p;
    p.catch(() => {
      if (this.hostPromise === p) this.hostPromise = undefined;
    });
    return p;
  }

  private notFound(
    host: { host: string; port: number; user: string },
    what: string,
    path: string,
    cause?: unknown,
  ): RemoteError {
    return new RemoteError({
      host: host.host,
      port: host.port,
      user: host.user,
      stage: 'exec',
      message: `${what} ${path}: no such file or directory`,
      code: 'ENOENT',
      cause,
    });
  }

  /** Runs an SFTP request (callback style) with the operation timeout. */
  private async sftpCall<T>(what: string, fn: (sftp: SFTPWrapper, cb: (err: Error | undefined, v: T) => void) => void) {
    const host = await this.host();
    return {
      host,
      value: await host.withSftp(
        what,
        this.opTimeoutMs,
        (sftp) =>
          new Promise<T>((resolve, reject) => {
            fn(sftp, (err, v) => (err ? reject(err) : resolve(v)));
          }),
      ),
    };
  }

  async list(dir: string): Promise<string[]> {
    const host = await this.host();
    try {
      const { value } = await this.sftpCall<{ filename: string }[]>(`readdir ${dir}`, (sftp, cb) =>
        sftp.readdir(dir, (err, list) => cb(err, list)),
      );
      return value.map((e) => e.filename).filter((n) => n !== '.' && n !== '..');
    } catch (e) {
      if (isMissing(e)) throw this.notFound(host, 'cannot list', dir, e);
      throw this.wrap(host, `cannot list ${dir}`, e);
    }
  }

  async size(path: string): Promise<number | null> {
    const st = await this.stat(path);
    return st ? st.size : null;
  }

  async exists(path: string): Promise<boolean> {
    return (await this.stat(path)) !== null;
  }

  /** SFTP stat (follows symlinks); null when the path does not exist. */
  async stat(path: string): Promise<Stats | null> {
    const host = await this.host();
    try {
      const { value } = await this.sftpCall<Stats>(`stat ${path}`, (sftp, cb) => sftp.stat(path, cb));
      return value;
    } catch (e) {
      if (isMissing(e)) return null;
      throw this.wrap(host, `cannot stat ${path}`, e);
    }
  }

  stream(path: string, start = 0, end?: number): Readable {
    if (this.streamMethod === 'sftp') return this.sftpStream(path, start, end);
    if (this.streamMethod === 'exec') return this.execStream(path, start, end);
    if (end !== undefined) {
      return end - start <= this.smallRangeBytes
        ? this.sftpStream(path, start, end)
        : this.execStream(path, start, end);
    }
    // To EOF: the size (one SFTP round trip) decides. A file that grows meanwhile is read
    // to its new end either way.
    return new DeferredStream(async () => {
      const size = await this.size(path);
      return size === null || size - start <= this.smallRangeBytes
        ? this.sftpStream(path, start, end)
        : this.execStream(path, start, end);
    });
  }

  private sftpStream(path: string, start: number, end: number | undefined): Readable {
    return new SftpRangeStream(
      () => this.host(),
      path,
      start,
      end,
      this.idleTimeoutMs,
      (e, what) =>
        isMissing(e) ? this.notFound(e, 'cannot read', path, e) : this.wrap(e, `cannot read ${path}: ${what}`, e),
    );
  }

  private execStream(path: string, start: number, end: number | undefined): Readable {
    return SshHost.execStreamVia(() => this.host(), rangeCommand(path, start, end), {
      idleTimeoutMs: this.idleTimeoutMs,
      mapError: (e) => this.readError(e, path),
    });
  }

  async read(path: string, position: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    const host = await this.host();
    try {
      return await host.withSftp(`read ${path}`, this.opTimeoutMs, (sftp) => sftpRead(sftp, path, position, length));
    } catch (e) {
      if (isMissing(e)) throw this.notFound(host, 'cannot read', path, e);
      throw this.wrap(host, `cannot read ${path}`, e);
    }
  }

  async readText(path: string): Promise<string> {
    const host = await this.host();
    try {
      const buf = await host.withSftp(`read ${path}`, this.opTimeoutMs, (sftp) => sftpRead(sftp, path, 0, Infinity));
      return buf.toString('utf8');
    } catch (e) {
      if (isMissing(e)) throw this.notFound(host, 'cannot read', path, e);
      throw this.wrap(host, `cannot read ${path}`, e);
    }
  }

  /**
   * Copies a whole file to a local path over SFTP with parallel requests. Bounded by the
   * idle timeout (no progress), not by a total time, since files can be large.
   */
  async copyTo(path: string, localPath: string): Promise<void> {
    const host = await this.host();
    const sftp = await host.sftp();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const arm = () => {
      clearTimeout(timer);
      if (this.idleTimeoutMs <= 0) return;
      timer = setTimeout(() => {
        timedOut = true;
        host.dropSftp();
      }, this.idleTimeoutMs);
    };
    try {
      arm();
      await new Promise<void>((resolve, reject) => {
        sftp.fastGet(path, localPath, { concurrency: 64, chunkSize: 32 * 1024, step: () => arm() }, (err) =>
          err ? reject(err) : resolve(),
        );
      });
    } catch (e) {
      if (timedOut) {
        throw new RemoteError({
          host: host.host,
          port: host.port,
          user: host.user,
          stage: 'timeout',
          message: `copying ${path} to ${localPath}: no progress for ${this.idleTimeoutMs} ms`,
          cause: e,
        });
      }
      if (isMissing(e)) throw this.notFound(host, 'cannot copy', path, e);
      throw this.wrap(host, `cannot copy ${path} to ${localPath}`, e);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection when this object opened it. */
  async close(): Promise<void> {
    if (!this.owned || !this.hostPromise) return;
    const p = this.hostPromise;
    this.hostPromise = undefined;
    const h = await p.catch(() => undefined);
    await h?.close();
  }

  private readError(e: RemoteError, path: string): Error {
    if (isMissing(e)) return this.notFound(e, 'cannot read', path, e);
    if (e.stage !== 'exec') return e;
    return new RemoteError({
      host: e.host,
      port: e.port,
      user: e.user,
      stage: 'exec',
      message: `cannot read ${path}: ${e.stderr || e.message}`,
      exitCode: e.exitCode,
      signal: e.signal,
      stderr: e.stderr,
      cause: e,
    });
  }

  private wrap(host: { host: string; port: number; user: string }, what: string, e: unknown): Error {
    if (e instanceof RemoteError) return e;
    return new RemoteError({
      host: host.host,
      port: host.port,
      user: host.user,
      stage: 'exec',
      message: `${what}: ${(e as Error).message}`,
      cause: e,
    });
  }
}

const SFTP_CHUNK = 64 * 1024;
const SFTP_DEPTH = 32;

function sftpOpen(sftp: SFTPWrapper, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => sftp.open(path, 'r', (err, handle) => (err ? reject(err) : resolve(handle))));
}

function sftpClose(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
  return new Promise((resolve) => sftp.close(handle, () => resolve()));
}

/** One read request: up to `length` bytes at `position` (0 bytes at EOF). */
function sftpReadAt(sftp: SFTPWrapper, handle: Buffer, position: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.allocUnsafe(length);
    sftp.read(handle, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(buf.subarray(0, n))));
  });
}

/** Up to `length` bytes at `position` (fewer at EOF), with up to SFTP_DEPTH requests in flight. */
async function sftpRead(sftp: SFTPWrapper, path: string, position: number, length: number): Promise<Buffer> {
  const handle = await sftpOpen(sftp, path);
  try {
    const parts: Buffer[] = [];
    const stop = position + length; // Infinity: to EOF
    let pos = position;
    let eof = false;
    while (!eof && pos < stop) {
      const sizes: number[] = [];
      const batch: Promise<Buffer>[] = [];
      for (let p = pos; batch.length < SFTP_DEPTH && p < stop; p += sizes[sizes.length - 1]) {
        sizes.push(Math.min(SFTP_CHUNK, stop - p));
        batch.push(sftpReadAt(sftp, handle, p, sizes[sizes.length - 1]));
      }
      const got = await Promise.all(batch);
      for (let i = 0; i < got.length; i++) {
        if (got[i].length === 0) {
          eof = true;
          break;
        }
        parts.push(got[i]);
        pos += got[i].length;
        if (got[i].length < sizes[i]) {
          // Short read: EOF when a later request came back empty, else re-request from pos.
          eof = got.slice(i + 1).some((g) => g.length === 0);
          break;
        }
      }
    }
    return Buffer.concat(parts);
  } finally {
    await sftpClose(sftp, handle);
  }
}

/**
 * Bytes [start, end) of a file as a stream of pipelined SFTP reads, in order, with
 * backpressure (no request is issued while the consumer's buffer is full).
 */
class SftpRangeStream extends Readable {
  private sftp: SFTPWrapper | undefined;
  private handle: Buffer | undefined;
  private host: SshHost | undefined;
  /** Requests in flight, oldest first. */
  private readonly inflight: { position: number; length: number; data: Promise<Buffer> }[] = [];
  private next: number;
  private pumping = false;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly getHost: () => Promise<SshHost>,
    private readonly path: string,
    start: number,
    private readonly end: number | undefined,
    private readonly idleTimeoutMs: number,
    private readonly mapError: (e: RemoteError, what: string) => Error,
  ) {
    super({ highWaterMark: MIB });
    this.next = start;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    (async () => {
      const host = await this.getHost();
      this.host = host;
      this.sftp = await host.sftp();
      this.handle = await sftpOpen(this.sftp, this.path);
    })().then(
      () => callback(),
      (e: Error) => callback(this.toError(e)),
    );
  }

  private toError(e: unknown): Error {
    if (e instanceof RemoteError && e.stage !== 'exec') return e;
    const h = this.host;
    const remote =
      e instanceof RemoteError
        ? e
        : new RemoteError({
            host: h?.host ?? '?',
            port: h?.port ?? 0,
            user: h?.user ?? '?',
            stage: 'exec',
            message: (e as Error).message,
            code: isMissing(e) ? 'ENOENT' : undefined,
            cause: e,
          });
    return this.mapError(remote, (e as Error).message);
  }

  private fill(): void {
    const sftp = this.sftp as SFTPWrapper;
    const handle = this.handle as Buffer;
    while (this.inflight.length < SFTP_DEPTH && (this.end === undefined || this.next < this.end)) {
      const length = this.end === undefined ? SFTP_CHUNK : Math.min(SFTP_CHUNK, this.end - this.next);
      const position = this.next;
      const data = sftpReadAt(sftp, handle, position, length);
      data.catch(() => undefined);
      this.inflight.push({ position, length, data });
      this.next += length;
    }
  }

  override _read(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.pump().then(
      () => {
        this.pumping = false;
      },
      (e) => {
        this.pumping = false;
        this.destroy(this.toError(e));
      },
    );
  }

  private armIdle(): void {
    clearTimeout(this.idle);
    if (this.idleTimeoutMs <= 0 || !this.host) return;
    const host = this.host;
    this.idle = setTimeout(() => {
      host.dropSftp();
      this.destroy(host.makeError('timeout', `sftp read of ${this.path} sent nothing for ${this.idleTimeoutMs} ms`));
    }, this.idleTimeoutMs);
  }

  private async pump(): Promise<void> {
    for (;;) {
      if (this.destroyed) return;
      this.fill();
      const head = this.inflight[0];
      if (!head) {
        this.push(null);
        return;
      }
      this.armIdle();
      const data = await head.data.finally(() => clearTimeout(this.idle));
      if (this.destroyed) return;
      this.inflight.shift();
      if (data.length === 0) {
        // EOF: later requests are past it too.
        this.inflight.length = 0;
        this.push(null);
        return;
      }
      if (data.length < head.length) {
        // A short read: re-read the rest before anything later (requests are re-issued in order).
        this.inflight.length = 0;
        this.next = head.position + data.length;
      }
      if (!this.push(data)) return;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idle);
    this.inflight.length = 0;
    if (this.sftp && this.handle) {
      const sftp = this.sftp;
      const handle = this.handle;
      this.handle = undefined;
      sftpClose(sftp, handle).catch(() => undefined);
    }
    callback(error);
  }
}

/** A stream handed out at once whose source is chosen asynchronously; chunks are relayed as they are. */
class DeferredStream extends Readable {
  private inner: Readable | undefined;

  constructor(private readonly open: () => Promise<Readable>) {
    super({ highWaterMark: MIB });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.open().then(
      (inner) => {
        this.inner = inner;
        inner.on('data', (chunk: Buffer) => {
          if (!this.push(chunk)) inner.pause();
        });
        inner.once('end', () => this.push(null));
        inner.once('error', (e) => this.destroy(e));
        inner.pause();
        callback();
      },
      (e: Error) => callback(e),
    );
  }

  override _read(): void {
    this.inner?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.inner && !this.inner.destroyed) this.inner.destroy();
    callback(error);
  }
}
