/**
 * Which clusters a configuration directory describes: every `*.cnf` file in it (not hidden,
 * not the global defaults file), by name = base name without `.cnf`, with a content hash so
 * a rewrite that changes nothing is no change. fs.watch gives quick notice; a periodic
 * rescan is the backstop for what fs.watch misses (network file systems, editors that
 * rename, a directory replaced under us).
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, promises as fsp, watch } from 'node:fs';
import { basename, join } from 'node:path';

export interface ClusterFile {
  name: string;
  path: string;
  hash: string;
}

export interface DirChanges {
  added: ClusterFile[];
  changed: ClusterFile[];
  removed: ClusterFile[];
}

/** Files in DIR that are not clusters: MHA's global defaults may sit next to the apps. */
const NOT_A_CLUSTER = new Set(['masterha_default.cnf']);

export async function scanConfigDir(dir: string): Promise<Map<string, ClusterFile>> {
  const out = new Map<string, ClusterFile>();
  const names = (await fsp.readdir(dir)).filter(
    (f) => f.endsWith('.cnf') && !f.startsWith('.') && !NOT_A_CLUSTER.has(f),
  );
  names.sort();
  for (const f of names) {
    const path = join(dir, f);
    try {
      const st = await fsp.stat(path);
      if (!st.isFile()) continue;
      const hash = createHash('sha256')
        .update(await fsp.readFile(path))
        .digest('hex');
      out.set(basename(f, '.cnf'), { name: basename(f, '.cnf'), path, hash });
    } catch {
      // Removed between readdir and read: the next scan says so.
    }
  }
  return out;
}

export function diffScans(before: Map<string, ClusterFile>, after: Map<string, ClusterFile>): DirChanges {
  const changes: DirChanges = { added: [], changed: [], removed: [] };
  for (const [name, f] of after) {
    const old = before.get(name);
    if (!old) changes.added.push(f);
    else if (old.hash !== f.hash) changes.changed.push(f);
  }
  for (const [name, f] of before) if (!after.has(name)) changes.removed.push(f);
  return changes;
}

export interface WatcherOptions {
  dir: string;
  /** Backstop rescan; default 10 s. */
  rescanIntervalMs?: number;
  /** Quiet time after a file event before scanning (editors write in several steps). */
  debounceMs?: number;
  onChanges: (changes: DirChanges) => Promise<void>;
  onError?: (err: Error) => void;
}

export class ConfigDirWatcher {
  private known = new Map<string, ClusterFile>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private scanning: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: WatcherOptions) {}

  get files(): ClusterFile[] {
    return [...this.known.values()];
  }

  async start(): Promise<void> {
    await this.rescan();
    try {
      this.watcher = watch(this.opts.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (e) => this.opts.onError?.(e));
    } catch (e) {
      this.opts.onError?.(e as Error);
    }
    this.timer = setInterval(() => this.rescan().catch(() => {}), this.opts.rescanIntervalMs ?? 10_000);
    this.timer.unref();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.rescan().catch(() => {}), this.opts.debounceMs ?? 200);
  }

  /** Scan now (SIGHUP, the timer, a file event); scans never overlap. */
  rescan(): Promise<void> {
    const next = this.scanning.then(async () => {
      if (this.closed) return;
      let now: Map<string, ClusterFile>;
      try {
        now = await scanConfigDir(this.opts.dir);
      } catch (e) {
        this.opts.onError?.(e as Error);
        return;
      }
      const changes = diffScans(this.known, now);
      this.known = now;
      if (changes.added.length + changes.changed.length + changes.removed.length > 0) {
        await this.opts.onChanges(changes);
      }
    });
    this.scanning = next.catch(() => {});
    return next;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
