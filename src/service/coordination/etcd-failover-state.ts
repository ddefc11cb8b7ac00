import {
  type PendingSettings,
  parsePendingSettings,
  type SettingsRecordStore,
  type StoredSettings,
} from '../../engine/apply-settings.js';
import {
  type FailoverProgress,
  type FailoverState,
  FencedOut,
  type GuardStore,
  type ProgressStore,
} from '../../manager/failover-state.js';
import type { EtcdCoordinator, Leadership } from './etcd-coordinator.js';

/**
 * The failover records of one application in etcd, under `<prefix>/<app>/failover/`:
 * `complete` and `error` (MHA's last-failover flag files: an ISO time), `progress` (JSON,
 * see FailoverProgress), `report` (the last report) and `reports/<startedAt>` (all of them);
 * and under `<prefix>/<app>/apply-settings/<host>_<port>` the settings a fast apply relaxed
 * on a target until it restores them (JSON, see PendingSettings).
 * Every write is one transaction that also compares the leader key's lease and create
 * revision with ours, so a manager that lost its leadership cannot write any more: its
 * write fails and it is told it was fenced out.
 */
export class EtcdFailoverState implements FailoverState {
  readonly guard: GuardStore;
  readonly progress: ProgressStore;
  readonly settings: SettingsRecordStore;

  constructor(
    private readonly leadership: Leadership,
    /** Reports are also kept here (the manager's workdir) for operators on this host; best effort. */
    private readonly localReport?: (report: object) => Promise<void>,
  ) {
    this.guard = new EtcdGuard(this);
    this.progress = new EtcdProgress(this);
    this.settings = new EtcdSettingsRecords(this);
  }

  get coordinator(): EtcdCoordinator {
    return this.leadership.coordinator;
  }

  get app(): string {
    return this.leadership.app;
  }

  key(...parts: string[]): string {
    return this.coordinator.key(this.leadership.app, 'failover', ...parts);
  }

  /** Read as the leader, through raft: the last write of the previous leader is always seen. */
  async get(name: string): Promise<string | undefined> {
    const kvs = await this.range(`read ${this.key(name)}`, this.key(name));
    return kvs[0]?.value.toString();
  }

  /** Keys from `key` (exclusive end `rangeEnd`, else `key` alone), read as the leader like {@link get}. */
  async range(what: string, key: string, rangeEnd?: Buffer): Promise<{ key: Buffer; value: Buffer }[]> {
    this.leadership.checkLocal(what);
    const c = this.coordinator;
    const limit = Math.max(1, Math.min(this.leadership.remainingMs(), c.callTimeoutMs * 2));
    const res = await this.leadership
      .txnAsLeader(what, [{ request_range: { key: Buffer.from(key), range_end: rangeEnd } }], limit)
      .catch((err: Error) => {
        throw new FencedOut(what, `cannot read from etcd: ${err.message}`);
      });
    if (!res.succeeded)
      throw new FencedOut(what, `fencing token ${this.leadership.token} is stale: another manager leads`);
    return res.responses[0]?.response_range?.kvs ?? [];
  }

  /** Puts and deletes of `failover/` records in one transaction, applied only while we lead. */
  async write(what: string, puts: Record<string, string>, deletes: string[] = []): Promise<void> {
    await this.writeKeys(
      what,
      Object.fromEntries(Object.entries(puts).map(([k, v]) => [this.key(k), v])),
      deletes.map((k) => this.key(k)),
    );
  }

  /** Puts and deletes of whole etcd keys in one transaction, applied only while we lead. */
  async writeKeys(what: string, puts: Record<string, string>, deletes: string[] = []): Promise<void> {
    this.leadership.checkLocal(what);
    const c = this.coordinator;
    const limit = Math.max(1, Math.min(this.leadership.remainingMs(), c.callTimeoutMs));
    let succeeded: boolean;
    try {
      const res = await this.leadership.txnAsLeader(
        what,
        [
          ...Object.entries(puts).map(([k, v]) => ({
            request_put: { key: Buffer.from(k), value: Buffer.from(v) },
          })),
          ...deletes.map((k) => ({ request_delete_range: { key: Buffer.from(k) } })),
        ],
        limit,
      );
      succeeded = res.succeeded;
    } catch (err) {
      throw new FencedOut(what, `cannot write to etcd: ${(err as Error).message}`);
    }
    if (!succeeded) throw new FencedOut(what, `fencing token ${this.leadership.token} is stale: another manager leads`);
  }

  async saveReport(report: object): Promise<void> {
    const text = JSON.stringify(report, null, 2);
    const started = (report as { startedAt?: unknown }).startedAt;
    const id = typeof started === 'string' && started ? started : new Date().toISOString();
    try {
      await this.localReport?.(report);
    } catch {
      // The etcd copy is the one that counts.
    }
    await this.write('save failover report', { report: text, [`reports/${id}`]: text });
  }
}

class EtcdGuard implements GuardStore {
  constructor(private readonly state: EtcdFailoverState) {}

  async refusal(opts: {
    ignoreLastFailover: boolean;
    lastFailoverMinute: number;
    now?: Date;
  }): Promise<string | undefined> {
    if (opts.ignoreLastFailover) {
      await this.clear();
      return undefined;
    }
    const s = this.state;
    const errorAt = await s.get('error');
    if (errorAt !== undefined) {
      return `Failover error flag ${s.key('error')} exists in etcd (set ${errorAt}). This means the last failover failed. Check error logs for detail, fix problems, delete that key (or run the manager once with --ignore_last_failover), and restart this script.`;
    }
    const completeAt = await s.get('complete');
    if (completeAt !== undefined) {
      const at = new Date(completeAt);
      const now = opts.now ?? new Date();
      if (Number.isFinite(at.getTime()) && now.getTime() - at.getTime() < opts.lastFailoverMinute * 60_000) {
        return `Last failover was done at ${completeAt} (${s.key('complete')} in etcd). Current time is too early to do failover again. If you want to do failover, delete that key and run this script again.`;
      }
      await s.write('expire last-failover record', {}, ['complete']);
    }
    return undefined;
  }

  async clear(): Promise<void> {
    await this.state.write('clear failover guard', {}, ['complete', 'error']);
  }

  async markComplete(): Promise<void> {
    await this.state.write('mark failover complete', { complete: new Date().toISOString() });
  }

  async markError(): Promise<void> {
    await this.state.write('mark failover error', { error: new Date().toISOString() });
  }
}

class EtcdProgress implements ProgressStore {
  constructor(private readonly state: EtcdFailoverState) {}

  async load(): Promise<FailoverProgress | undefined> {
    const text = await this.state.get('progress');
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as FailoverProgress;
    } catch (err) {
      throw new Error(`${this.state.key('progress')}: unreadable failover progress record (${(err as Error).message})`);
    }
  }

  async save(progress: FailoverProgress): Promise<void> {
    await this.state.write('record failover progress', { progress: JSON.stringify(progress) });
  }

  async clear(): Promise<void> {
    await this.state.write('clear failover progress', {}, ['progress']);
  }
}

/**
 * The apply-settings records of the application, shared by its managers: the one that
 * takes over from a manager killed mid-apply restores the settings it relaxed, and keeps
 * the originals it recorded. Written with the same fencing as the failover records: a
 * manager that lost its lead can neither record nor forget a target's settings.
 */
class EtcdSettingsRecords implements SettingsRecordStore {
  constructor(private readonly state: EtcdFailoverState) {}

  private get dir(): string {
    const s = this.state;
    return s.coordinator.key(s.app, 'apply-settings');
  }

  where(key: string): string {
    return `${this.dir}/${key}`;
  }

  async list(): Promise<StoredSettings[]> {
    const prefix = `${this.dir}/`;
    const kvs = await this.state.range(`list ${prefix}`, prefix, prefixEnd(Buffer.from(prefix)));
    return kvs
      .map((kv): StoredSettings => {
        const name = kv.key.toString();
        const key = name.slice(prefix.length);
        try {
          return { key, record: parsePendingSettings(kv.value.toString(), name) };
        } catch (err) {
          return { key, unreadable: (err as Error).message };
        }
      })
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async load(key: string): Promise<PendingSettings | undefined> {
    const where = this.where(key);
    const kvs = await this.state.range(`read ${where}`, where);
    const v = kvs[0]?.value.toString();
    return v === undefined ? undefined : parsePendingSettings(v, where);
  }

  async save(key: string, record: PendingSettings): Promise<void> {
    await this.state.writeKeys(`record the settings changed on ${key}`, { [this.where(key)]: JSON.stringify(record) });
  }

  async remove(key: string): Promise<void> {
    await this.state.writeKeys(`forget the settings restored on ${key}`, {}, [this.where(key)]);
  }
}

/** The range end that covers every key starting with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Operator's acknowledgement of a failed or recent failover (no leadership needed). */
export async function clearFailoverGuard(coordinator: EtcdCoordinator, app: string): Promise<void> {
  const keys = ['complete', 'error'].map((k) => Buffer.from(coordinator.key(app, 'failover', k)));
  await coordinator.client.kv.txn(
    { compare: [], success: keys.map((key) => ({ request_delete_range: { key } })), failure: [] },
    coordinator.deadline(coordinator.callTimeoutMs * 2),
  );
}

/** The last failover report of an application kept in etcd, if any. */
export async function lastFailoverReport(coordinator: EtcdCoordinator, app: string): Promise<object | undefined> {
  const res = await coordinator.client.kv.range(
    { key: Buffer.from(coordinator.key(app, 'failover', 'report')) },
    coordinator.deadline(coordinator.callTimeoutMs * 2),
  );
  const v = res.kvs[0]?.value.toString();
  return v === undefined ? undefined : (JSON.parse(v) as object);
}
