import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { fileSettingsStore, type SettingsRecordStore } from '../engine/apply-settings.js';
import { FailoverGuard } from './failover-guard.js';

/**
 * What a failover must leave behind for whoever runs next — the same manager restarted, an
 * operator's rerun, or (with manager HA) another manager that took over the cluster. Files in
 * the manager's workdir by default; the etcd store keeps the same records in etcd.
 */
export interface FailoverState {
  readonly guard: GuardStore;
  readonly progress: ProgressStore;
  /** Keep the report of a finished (or stopped) failover. */
  saveReport(report: object): Promise<void>;
  /**
   * Where a fast apply records the settings it relaxed on a target until it restores them
   * (apply-settings.ts), and where a manager's start looks for what a killed one left. It
   * must be shared wherever the next manager may run. Absent: the workdir's files.
   */
  readonly settings?: SettingsRecordStore;
}

/** MHA's last-failover rule (see FailoverGuard). */
export interface GuardStore {
  refusal(opts: { ignoreLastFailover: boolean; lastFailoverMinute: number; now?: Date }): Promise<string | undefined>;
  clear(): Promise<void>;
  markComplete(): Promise<void>;
  markError(): Promise<void>;
  /**
   * Is the error flag set (a failover started and did not finish)? A progress record counts
   * only while it is: an operator who cleared the flag has taken the cluster over by hand.
   * Stores without it are taken as flagged.
   */
  errorFlagged?(): Promise<boolean>;
}

/**
 * Progress of a failover, recorded from Phase 2 on: a rerun then knows a failover was under
 * way (the replicas' SQL threads were stopped on purpose, diffs may be partly applied), and
 * once a new master was chosen, repoints the replicas still pointing at the dead master to
 * that same new master instead of choosing another one.
 */
export interface FailoverProgress {
  app: string;
  deadMaster: { hostname: string; ip: string; port: number };
  /** Chosen (and recorded) once the new master is recovered, before it is opened. */
  newMaster?: { name: string; hostname: string; ip: string; port: number };
  /** Where the replicas start replicating from the new master. */
  newMasterPosition?: { file: string; pos: number; gtid?: string };
  phase: string;
  /** Replicas repointed so far (server names). */
  repointed: string[];
  /** Set when the failover stopped on an error (rather than its manager dying). */
  error?: string;
  updatedAt: string;
}

export interface ProgressStore {
  load(): Promise<FailoverProgress | undefined>;
  save(progress: FailoverProgress): Promise<void>;
  clear(): Promise<void>;
}

/**
 * Called before every statement or command that changes a server during a failover or a
 * switch; throws when this manager may no longer act (with etcd: its lease is gone or its
 * fencing token is stale). Without HA it never throws.
 */
export type Fence = (action: string) => Promise<void>;

export class FencedOut extends Error {
  constructor(action: string, why: string) {
    super(`Not acting (${action}): ${why}`);
    this.name = 'FencedOut';
  }
}

export const noFence: Fence = async () => {};

let tmpCounter = 0;

async function writePrivate(file: string, text: string): Promise<void> {
  // Written whole then renamed, so a crash never leaves half a record.
  const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}

class FileProgressStore implements ProgressStore {
  constructor(readonly file: string) {}

  async load(): Promise<FailoverProgress | undefined> {
    if (!existsSync(this.file)) return undefined;
    try {
      return JSON.parse(await fsp.readFile(this.file, 'utf8')) as FailoverProgress;
    } catch (err) {
      throw new Error(`${this.file}: unreadable failover progress record (${(err as Error).message})`);
    }
  }

  async save(progress: FailoverProgress): Promise<void> {
    await writePrivate(this.file, `${JSON.stringify(progress, null, 2)}\n`);
  }

  async clear(): Promise<void> {
    await fsp.rm(this.file, { force: true });
  }
}

/**
 * The workdir files: `<app>.failover.complete|error`, `<app>.failover.progress.json`,
 * `<app>.failover.report.json`, and `apply-settings.<host>_<port>.json`.
 */
export function fileFailoverState(workdir: string, app: string): FailoverState {
  return {
    guard: new FailoverGuard(workdir, app),
    progress: new FileProgressStore(join(workdir, `${app}.failover.progress.json`)),
    saveReport: (report) =>
      writePrivate(join(workdir, `${app}.failover.report.json`), `${JSON.stringify(report, null, 2)}\n`),
    settings: fileSettingsStore(workdir),
  };
}
