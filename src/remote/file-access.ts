import { createReadStream, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * What the log engine needs from a host's filesystem. The engine runs on the manager and
 * reads logs through this interface: locally for this machine, over SSH for the others
 * (src/remote/ssh-file-access.ts), so database hosts need nothing but sshd.
 */
export interface FileAccess {
  /** Where the files are (for messages): "local" or "ssh root@db1:22". */
  readonly description: string;
  /** Names (not paths) of the entries of a directory. */
  list(dir: string): Promise<string[]>;
  /** Size in bytes, or null when the file does not exist. */
  size(path: string): Promise<number | null>;
  /** Stream bytes [start, end) of a file (end exclusive; to EOF when omitted). */
  stream(path: string, start?: number, end?: number): Readable;
  /** Read up to `length` bytes at `position` (fewer at EOF). */
  read(path: string, position: number, length: number): Promise<Buffer>;
  readText(path: string): Promise<string>;
  /** True when the path exists (a file or a directory). */
  exists(path: string): Promise<boolean>;
  /** Copies the whole file to a path on this machine (replacing it). */
  copyTo(path: string, localPath: string): Promise<void>;
  /** Releases what the access holds (an SSH connection); a no-op locally. */
  close?(): Promise<void>;
}

export class LocalFileAccess implements FileAccess {
  readonly description = 'local';

  async list(dir: string): Promise<string[]> {
    return fsp.readdir(dir);
  }

  async size(path: string): Promise<number | null> {
    try {
      return (await fsp.stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  stream(path: string, start = 0, end?: number): Readable {
    return createReadStream(path, {
      start,
      end: end === undefined ? undefined : end - 1,
      highWaterMark: 1 << 20,
    });
  }

  async read(path: string, position: number, length: number): Promise<Buffer> {
    const fh = await fsp.open(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async readText(path: string): Promise<string> {
    return fsp.readFile(path, 'utf8');
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fsp.stat(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async copyTo(path: string, localPath: string): Promise<void> {
    await fsp.copyFile(path, localPath);
  }

  async close(): Promise<void> {}
}

export const joinPath = join;
export const baseName = basename;
