import { existsSync, promises as fsp, utimesSync } from 'node:fs';
import { join } from 'node:path';

/** MHA's monitor states (lib/MHA/ManagerConst.pm): masterha_check_status exits with the number. */
export const Status = {
  PING_OK: 0,
  NOT_RUNNING: 2,
  PARTIALLY_RUNNING: 3,
  INITIALIZING_MONITOR: 10,
  PING_FAILING: 20,
  PING_FAILED: 21,
  RETRYING_MONITOR: 30,
  CONFIG_ERROR: 31,
  TIMESTAMP_OLD: 32,
  FAILOVER_RUNNING: 50,
  FAILOVER_ERROR: 51,
} as const;
export type StatusName = keyof typeof Status;

/** `<workdir>/<app>.master_status.health`: `pid<TAB>code:NAME<TAB>master:<host>`. */
export class StatusFile {
  readonly path: string;
  private last: StatusName | undefined;

  constructor(
    workdir: string,
    app: string,
    /** Told every state written (the daemon's live view; same-state heartbeats too). */
    private readonly onSet?: (name: StatusName, masterHost: string) => void,
  ) {
    this.path = join(workdir, `${app}.master_status.health`);
  }

  async set(name: StatusName, masterHost: string): Promise<void> {
    this.onSet?.(name, masterHost);
    if (name === this.last && existsSync(this.path)) {
      // Same state: only the mtime says the monitor is alive (check_status's TIMESTAMP_OLD).
      const now = new Date();
      utimesSync(this.path, now, now);
      return;
    }
    this.last = name;
    await fsp.writeFile(this.path, `${process.pid}\t${Status[name]}:${name}\tmaster:${masterHost}`, { mode: 0o600 });
  }

  async remove(): Promise<void> {
    this.last = undefined;
    await fsp.rm(this.path, { force: true });
  }

  static async read(
    path: string,
  ): Promise<{ pid: number; code: number; name: string; master: string; mtime: Date } | undefined> {
    try {
      const [text, st] = await Promise.all([fsp.readFile(path, 'utf8'), fsp.stat(path)]);
      const m = /^(\d+)\t(\d+):(\w+)\tmaster:(.*)$/.exec(text.trim());
      if (!m) return undefined;
      return { pid: Number(m[1]), code: Number(m[2]), name: m[3], master: m[4], mtime: st.mtime };
    } catch {
      return undefined;
    }
  }
}
