/** Small bounded-waiting and networking helpers of the trials. */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitFor(
  what: string,
  ms: number,
  cond: () => boolean | Promise<boolean>,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1_000_000; i++) {
    if (await cond()) return;
    if (Date.now() > deadline) break;
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

/** Reads a growing log file from where the last call stopped. */
export class LogTail {
  private offset = 0;
  text = '';

  constructor(readonly path: string) {}

  /** New text since the last call (also appended to `text`). */
  poll(): string {
    if (!existsSync(this.path)) return '';
    const size = statSync(this.path).size;
    if (size <= this.offset) return '';
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const s = buf.toString('utf8');
      this.text += s;
      return s;
    } finally {
      closeSync(fd);
    }
  }

  includes(s: string): boolean {
    this.poll();
    return this.text.includes(s);
  }
}

/**
 * A port on an address that accepts connections and never answers: a host that is down
 * behind a firewall that completes handshakes, or a frozen network stack. close() drops
 * everything it accepted.
 */
export class SilentPort {
  private constructor(
    private readonly server: Server,
    private readonly held: Set<Socket>,
  ) {}

  static async listen(host: string, port: number): Promise<SilentPort> {
    const held = new Set<Socket>();
    const server = createServer((s) => {
      s.on('error', () => {});
      held.add(s);
      s.on('close', () => held.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new SilentPort(server, held);
  }

  async close(): Promise<void> {
    for (const s of this.held) s.destroy();
    this.held.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Whether a process exists (EPERM still means it does). */
export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
