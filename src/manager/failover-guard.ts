import { existsSync, promises as fsp, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * MHA's last-failover rule: `<workdir>/<app>.failover.complete` younger than
 * last_failover_minute refuses a new failover (ping-pong protection), and a leftover
 * `<app>.failover.error` refuses until an operator looks.
 */
export class FailoverGuard {
  readonly completeFile: string;
  readonly errorFile: string;

  constructor(workdir: string, app: string) {
    this.completeFile = join(workdir, `${app}.failover.complete`);
    this.errorFile = join(workdir, `${app}.failover.error`);
  }

  /** Why a failover must not start now, or undefined. Old complete files are removed. */
  async refusal(opts: {
    ignoreLastFailover: boolean;
    lastFailoverMinute: number;
    now?: Date;
  }): Promise<string | undefined> {
    if (opts.ignoreLastFailover) {
      await this.clear();
      return undefined;
    }
    if (existsSync(this.errorFile)) {
      return `Failover error flag file ${this.errorFile} exists. This means the last failover failed. Check error logs for detail, fix problems, remove ${this.errorFile}, and restart this script.`;
    }
    if (existsSync(this.completeFile)) {
      const mtime = statSync(this.completeFile).mtime;
      const now = opts.now ?? new Date();
      if (now.getTime() - mtime.getTime() < opts.lastFailoverMinute * 60_000) {
        return `Last failover was done at ${fmt(mtime)}. Current time is too early to do failover again. If you want to do failover, manually remove ${this.completeFile} and run this script again.`;
      }
      await fsp.rm(this.completeFile, { force: true });
    }
    return undefined;
  }

  async clear(): Promise<void> {
    await fsp.rm(this.completeFile, { force: true });
    await fsp.rm(this.errorFile, { force: true });
  }

  async markComplete(): Promise<void> {
    await fsp.writeFile(this.completeFile, '', { mode: 0o600 });
  }

  async errorFlagged(): Promise<boolean> {
    return existsSync(this.errorFile);
  }

  async markError(): Promise<void> {
    await fsp.writeFile(this.errorFile, '', { mode: 0o600 });
  }
}

const p2 = (n: number) => String(n).padStart(2, '0');
function fmt(d: Date): string {
  return `${d.getFullYear()}/${p2(d.getMonth() + 1)}/${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}
