/**
 * Global settings an apply changes on its target — max_allowed_packet raised, and for the
 * fast path durability relaxed (innodb_flush_log_at_trx_commit=2, sync_binlog=0) — and
 * their restoration, which must happen whatever becomes of the run:
 *
 * - Before the first SET GLOBAL, the original values are recorded in a
 *   {@link SettingsRecordStore}: by default a small state file
 *   (`apply-settings.<host>_<port>.json` in the manager's workdir, written and fsynced
 *   before the change); with manager HA, etcd, so that the manager that takes over the
 *   cluster finds what a dead one left. A normal end or a failure restores them and removes
 *   the record; a manager that died mid-apply leaves the record, and
 *   {@link restorePendingSettings} (at the next start of a manager using that store) or the
 *   next apply to the same target restores them.
 * - A record found when a target is about to be changed keeps its originals: the values
 *   the target has then are the relaxed ones the dead run set, and taking them for the
 *   target's own would leave it non-durable for good after the "restore".
 * - Restoring makes everything applied durable before returning, whatever the server's
 *   own configuration: innodb_flush_log_at_trx_commit=1, then
 *   `FLUSH NO_WRITE_TO_BINLOG ENGINE LOGS` (fdatasyncs the InnoDB redo log; without
 *   NO_WRITE_TO_BINLOG the FLUSH itself would be binlogged, with a GTID of the target's
 *   own), then `FLUSH BINARY LOGS` when the binlog is on (closing the current binlog
 *   fdatasyncs it, whatever sync_binlog says, and logs no GTID; the target continues in a
 *   new binlog file), then the original values. Checked with strace on MariaDB 10.11:
 *   FLUSH ENGINE LOGS does not sync the binlog, and sync_binlog=1 alone syncs nothing
 *   until the next commit.
 * - Relaxed durability is safe against a crash of mariadbd or of the manager: with
 *   innodb_flush_log_at_trx_commit=2 and sync_binlog=0 every commit still reaches the
 *   operating system (redo log and binlog), so the server's crash recovery keeps InnoDB
 *   and the binlog (and with it gtid_binlog_pos) consistent and a re-run skips exactly
 *   what was committed. Never 0 for InnoDB: its redo would then lag the binlog. It is not
 *   safe against an operating-system crash or power loss of the target *during* the
 *   apply; the target must then be rebuilt (as any replica that runs with these
 *   settings). `durability: 'keep'` leaves the settings alone.
 * - innodb_log_file_buffering=ON (MariaDB ≥ 10.8) is part of the relaxation: with it
 *   OFF (the default where O_DIRECT works) every commit's redo write goes to the device
 *   even at innodb_flush_log_at_trx_commit=2 — half the fast path's speed here. MariaDB
 *   10.11 cannot switch it back OFF at run time: it stays ON until the server restarts,
 *   which costs no durability (at innodb_flush_log_at_trx_commit=1 every commit still
 *   fdatasyncs ib_logfile0 — checked with strace); the restore logs it.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ServerConnection } from '../mysql/server-connection.js';

/** What a target is, without its password (the state file never holds one). */
export interface SettingsTarget {
  host: string;
  port: number;
  socketPath?: string;
  user: string;
}

export interface ConnectableTarget extends SettingsTarget {
  password?: string;
}

export type SettingName =
  | 'innodb_flush_log_at_trx_commit'
  | 'sync_binlog'
  | 'max_allowed_packet'
  /** MariaDB ≥ 10.8: OFF writes the redo log with O_DIRECT, a device write per commit even at =2. */
  | 'innodb_log_file_buffering';
export type SettingValues = Partial<Record<SettingName, number>>;
const RESTORABLE: ReadonlySet<string> = new Set<SettingName>([
  'innodb_flush_log_at_trx_commit',
  'sync_binlog',
  'max_allowed_packet',
  'innodb_log_file_buffering',
]);

/** The state file's content. */
export interface PendingSettings {
  format: 'mha-ts/apply-settings/1';
  target: SettingsTarget;
  /** Values before the run changed them: what restoring sets. */
  original: SettingValues;
  /** Values the run set. */
  changed: SettingValues;
  /** Durability was relaxed: restoring must make the applied data durable. */
  relaxed: boolean;
  since: string;
  pid: number;
}

export interface SettingsChangeRequest {
  /** Relax durability for the run (innodb_flush_log_at_trx_commit=2, sync_binlog=0). */
  relaxDurability: boolean;
  /** Raise max_allowed_packet to at least this (0: leave it). */
  maxAllowedPacket: number;
}

const FORMAT = 'mha-ts/apply-settings/1';
const FILE_PREFIX = 'apply-settings.';
const FILE_SUFFIX = '.json';

/** A record as listed: unreadable ones are listed too, so that they are reported rather than ignored. */
export interface StoredSettings {
  key: string;
  record?: PendingSettings;
  /** Why the record could not be read. */
  unreadable?: string;
}

/**
 * Where the records of changed settings live, one per target ({@link settingsRecordKey}).
 * Every save and remove is durable before it returns: a record must outlive the manager
 * that wrote it.
 */
export interface SettingsRecordStore {
  list(): Promise<StoredSettings[]>;
  /** Throws when a record exists but cannot be read. */
  load(key: string): Promise<PendingSettings | undefined>;
  save(key: string, record: PendingSettings): Promise<void>;
  remove(key: string): Promise<void>;
  /** Where a record is (a file, an etcd key), for messages. */
  where(key: string): string;
}

/** The record key of a target: its socket path or `<host>_<port>`, in characters safe in a file name. */
export function settingsRecordKey(target: SettingsTarget): string {
  const where = target.socketPath ? target.socketPath : `${target.host}_${target.port}`;
  return where.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The state file of a target in `stateDir`. */
export function settingsStateFile(stateDir: string, target: SettingsTarget): string {
  return join(stateDir, `${FILE_PREFIX}${settingsRecordKey(target)}${FILE_SUFFIX}`);
}

/** A stored record's text, checked to be one (`where` names it in the error). */
export function parsePendingSettings(text: string, where: string): PendingSettings {
  let p: PendingSettings;
  try {
    p = JSON.parse(text) as PendingSettings;
  } catch (err) {
    throw new Error(`${where}: unreadable apply settings record (${(err as Error).message})`);
  }
  if (p?.format !== FORMAT || typeof p.target !== 'object' || typeof p.original !== 'object')
    throw new Error(`${where}: not an mha-ts apply settings record`);
  return p;
}

/** Records as files `apply-settings.<key>.json` in a directory (the manager's workdir). */
export class FileSettingsRecordStore implements SettingsRecordStore {
  constructor(readonly dir: string) {}

  where(key: string): string {
    return join(this.dir, `${FILE_PREFIX}${key}${FILE_SUFFIX}`);
  }

  async list(): Promise<StoredSettings[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: StoredSettings[] = [];
    for (const name of names.filter((n) => n.startsWith(FILE_PREFIX) && n.endsWith(FILE_SUFFIX)).sort()) {
      const key = name.slice(FILE_PREFIX.length, -FILE_SUFFIX.length);
      try {
        const record = await this.load(key);
        if (record) out.push({ key, record });
      } catch (err) {
        out.push({ key, unreadable: (err as Error).message });
      }
    }
    return out;
  }

  async load(key: string): Promise<PendingSettings | undefined> {
    const file = this.where(key);
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parsePendingSettings(text, file);
  }

  async save(key: string, record: PendingSettings): Promise<void> {
    await writeDurably(this.where(key), `${JSON.stringify(record, null, 2)}\n`);
  }

  async remove(key: string): Promise<void> {
    await removeDurably(this.where(key));
  }
}

/** The default store: state files in `stateDir`. */
export function fileSettingsStore(stateDir: string): FileSettingsRecordStore {
  return new FileSettingsRecordStore(stateDir);
}

/** Write-then-rename with fsyncs: the file is either the old or the new content, and on disk. */
async function writeDurably(file: string, content: string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  await syncDir(file);
}

async function removeDurably(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
  await syncDir(file);
}

async function syncDir(file: string): Promise<void> {
  const dir = await fsp.open(join(file, '..'), 'r').catch(() => undefined);
  if (!dir) return;
  try {
    await dir.sync();
  } catch {
    // some filesystems refuse fsync on directories
  } finally {
    await dir.close();
  }
}

/** Current global values; a variable the server does not have is absent. ON/OFF as 1/0. */
async function readValues(server: ServerConnection, names: SettingName[]): Promise<SettingValues> {
  const rows = await server.query<{ Variable_name: string; Value: string }>(
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${names.map((n) => `'${n}'`).join(', ')})`,
  );
  const out: SettingValues = {};
  for (const r of rows) {
    const v = String(r.Value).toUpperCase();
    const n = v === 'ON' ? 1 : v === 'OFF' ? 0 : Number(v);
    if (Number.isFinite(n)) out[r.Variable_name.toLowerCase() as SettingName] = n;
  }
  return out;
}

/**
 * Put the originals back and make what was applied durable. `record.relaxed`: force the
 * redo log and the binlog to disk first (see the module comment).
 */
async function restoreOn(server: ServerConnection, record: PendingSettings): Promise<string[]> {
  if (record.relaxed) {
    await server.query('SET GLOBAL innodb_flush_log_at_trx_commit=1');
    await server.query('FLUSH NO_WRITE_TO_BINLOG ENGINE LOGS');
    const logBin = await server.one<{ b: unknown }>('SELECT @@GLOBAL.log_bin AS b');
    if (Number(logBin?.b) === 1) await server.query('FLUSH BINARY LOGS');
  }
  for (const [name, value] of Object.entries(record.original) as [SettingName, number | undefined][]) {
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    // The name comes from a file and goes into the statement's text: only the names this module writes.
    if (!RESTORABLE.has(name)) continue;
    await server.query(`SET GLOBAL ${name}=${value}`);
  }
  // MariaDB 10.11 accepts innodb_log_file_buffering=OFF at run time but keeps buffering
  // until the next restart (the O_DIRECT reopen happens only at startup). Durability does
  // not depend on it: innodb_flush_log_at_trx_commit=1 fdatasyncs ib_logfile0 either way.
  const notes: string[] = [];
  if (record.original.innodb_log_file_buffering === 0) {
    const now = await readValues(server, ['innodb_log_file_buffering']);
    if (now.innodb_log_file_buffering === 1)
      notes.push(
        'innodb_log_file_buffering stays ON until the server restarts (MariaDB does not switch it back at run time; commits stay durable)',
      );
  }
  return notes;
}

/** Options of {@link TargetSettings.change}. */
export interface SettingsChangeOptions {
  /** Where the change is recorded; wins over `stateDir`. */
  store?: SettingsRecordStore;
  /** The file store of this directory (the manager's workdir), when no `store` is given. */
  stateDir?: string;
  log?: (line: string) => void;
  connectTimeoutMs?: number;
}

/** A target's changed settings, restored by {@link restore}. */
export class TargetSettings {
  private constructor(
    private readonly target: ConnectableTarget,
    private readonly store: SettingsRecordStore | undefined,
    private record: PendingSettings | undefined,
    private readonly log: (line: string) => void,
  ) {}

  /** Settings changed for the run (empty when nothing had to change). */
  get changed(): SettingValues {
    return this.record?.changed ?? {};
  }

  get original(): SettingValues {
    return this.record?.original ?? {};
  }

  /**
   * Restore what an earlier run left (a record in the store), then change what `want`
   * asks for — recording it first, with the earlier record's originals where it had one.
   * Without a store durability is never relaxed (there would be no record to restore it
   * from); max_allowed_packet is still raised.
   */
  static async change(
    target: ConnectableTarget,
    want: SettingsChangeRequest,
    opts: SettingsChangeOptions = {},
  ): Promise<TargetSettings> {
    const log = opts.log ?? (() => {});
    const store = opts.store ?? (opts.stateDir ? fileSettingsStore(opts.stateDir) : undefined);
    const key = settingsRecordKey(target);
    const server = await ServerConnection.open(target, { connectTimeoutMs: opts.connectTimeoutMs ?? 10_000 });
    try {
      const pending = store ? await store.load(key) : undefined;
      if (pending) {
        log(
          `an earlier apply left settings changed (${describe(pending.changed)}; originals ${describe(pending.original)}, recorded in ${store!.where(key)} since ${pending.since}): restoring them first`,
        );
        // The record stays until the new one replaces it: a crash in between must still find it.
        await restoreOn(server, pending);
      }
      const mariadb = server.version.flavor === 'mariadb';
      const names: SettingName[] = [
        'max_allowed_packet',
        'innodb_flush_log_at_trx_commit',
        'sync_binlog',
        'innodb_log_file_buffering',
      ];
      const current = await readValues(server, names);
      const changed: SettingValues = {};
      const relax = want.relaxDurability && store !== undefined;
      if (relax) {
        if (!pending) {
          // Not proof of a lost record (many replicas run like this), but the one sign left
          // if a record was lost: these values become what the run restores.
          const found = relaxedDurability(current, mariadb);
          if (found)
            log(
              `${target.host}:${target.port} already runs with ${found} and no earlier apply recorded changing it: recorded as its own settings, restored as found`,
            );
        }
        // 2, never 0: the redo log must reach the OS at every commit (see the module comment).
        if (current.innodb_flush_log_at_trx_commit !== undefined && current.innodb_flush_log_at_trx_commit !== 2)
          changed.innodb_flush_log_at_trx_commit = 2;
        // MySQL: sync_binlog is left alone (its binlog rotation is not checked to sync the old file).
        if (mariadb && current.sync_binlog !== undefined && current.sync_binlog !== 0) changed.sync_binlog = 0;
        // Through the page cache like the binlog: a commit's redo write no longer waits for the device.
        if (current.innodb_log_file_buffering === 0) changed.innodb_log_file_buffering = 1;
      }
      if (want.maxAllowedPacket > 0 && (current.max_allowed_packet ?? 0) < want.maxAllowedPacket)
        changed.max_allowed_packet = want.maxAllowedPacket;
      const keys = Object.keys(changed) as SettingName[];
      if (keys.length === 0 && !relax) {
        // The earlier record's settings were restored above and nothing changes now.
        if (pending) await store!.remove(key);
        return new TargetSettings(target, store, undefined, log);
      }
      const original: SettingValues = {};
      for (const k of keys) original[k] = current[k];
      if (relax) {
        // Restoring passes through =1 (the durable flush): record both originals.
        if (current.innodb_flush_log_at_trx_commit !== undefined)
          original.innodb_flush_log_at_trx_commit = current.innodb_flush_log_at_trx_commit;
        if (mariadb && current.sync_binlog !== undefined) original.sync_binlog = current.sync_binlog;
      }
      // Whatever the target shows now, the earlier record knew its own values: they win.
      if (pending) Object.assign(original, restorableValues(pending.original));
      const record: PendingSettings = {
        format: FORMAT,
        target: { host: target.host, port: target.port, user: target.user },
        original,
        changed,
        relaxed: relax,
        since: new Date().toISOString(),
        pid: process.pid,
      };
      if (target.socketPath) record.target.socketPath = target.socketPath;
      if (store) await store.save(key, record);
      const settings = new TargetSettings(target, store, record, log);
      try {
        for (const k of keys) await server.query(`SET GLOBAL ${k}=${Number(changed[k])}`);
      } catch (err) {
        await settings.restore().catch(() => {});
        throw err;
      }
      if (keys.length) log(`changed for the run: ${describe(changed)} (was ${describe(original)})`);
      return settings;
    } finally {
      await server.close();
    }
  }

  /** Put the originals back, durably flush, forget the record. Idempotent. */
  async restore(): Promise<SettingValues> {
    const record = this.record;
    if (!record) return {};
    const server = await ServerConnection.open(this.target, { connectTimeoutMs: 10_000 });
    let notes: string[];
    try {
      notes = await restoreOn(server, record);
    } finally {
      await server.close();
    }
    if (this.store) await this.store.remove(settingsRecordKey(this.target));
    this.record = undefined;
    this.log(
      `restored ${describe(record.original) || 'settings'}${record.relaxed ? '; redo log and binlog flushed to disk' : ''}`,
    );
    for (const n of notes) this.log(n);
    return record.original;
  }
}

/** Durability weaker than the durable settings (flush at every commit, sync_binlog ≥ 1), described; else undefined. */
function relaxedDurability(v: SettingValues, mariadb: boolean): string | undefined {
  const weak: string[] = [];
  if (v.innodb_flush_log_at_trx_commit !== undefined && v.innodb_flush_log_at_trx_commit !== 1)
    weak.push(`innodb_flush_log_at_trx_commit=${v.innodb_flush_log_at_trx_commit}`);
  if (mariadb && v.sync_binlog === 0) weak.push('sync_binlog=0');
  return weak.length ? weak.join(', ') : undefined;
}

/** The values of a record that restoring would set (the record may come from another manager). */
function restorableValues(v: SettingValues): SettingValues {
  const out: SettingValues = {};
  for (const [name, value] of Object.entries(v) as [SettingName, number | undefined][]) {
    if (RESTORABLE.has(name) && typeof value === 'number' && Number.isFinite(value)) out[name] = value;
  }
  return out;
}

function describe(v: SettingValues): string {
  return Object.entries(v)
    .map(([k, x]) => `${k}=${x}`)
    .join(', ');
}

export interface RestoredSettings {
  /** Where the record was (a state file, an etcd key). */
  file: string;
  target: SettingsTarget;
  restored?: SettingValues;
  error?: string;
}

export interface RestorePendingOptions {
  /**
   * Asked before each restore changes a server (manager HA: the leadership's fence); a
   * refusal leaves that record for the manager that leads.
   */
  beforeRestore?: (action: string) => Promise<void>;
}

/**
 * At a manager's start: restore every target's settings that an apply changed and could
 * not restore (the manager was killed, or the target was unreachable). `from` is the
 * store the applies recorded in, or a directory of state files. `credentials` gives the
 * login for a recorded target (the record holds no password); targets it does not know
 * are left for later and reported.
 */
export async function restorePendingSettings(
  from: string | SettingsRecordStore,
  credentials: (target: SettingsTarget) => ConnectableTarget | undefined,
  log: (line: string) => void = () => {},
  opts: RestorePendingOptions = {},
): Promise<RestoredSettings[]> {
  const store = typeof from === 'string' ? fileSettingsStore(from) : from;
  const out: RestoredSettings[] = [];
  for (const { key, record, unreadable } of await store.list()) {
    const where = store.where(key);
    try {
      if (!record) throw new Error(unreadable ?? 'unreadable record');
      const login = credentials(record.target);
      if (!login) throw new Error('no credentials for this server in the configuration');
      await opts.beforeRestore?.(
        `restore the settings of ${record.target.host}:${record.target.port} left by an interrupted apply`,
      );
      const server = await ServerConnection.open(login, { connectTimeoutMs: 10_000 });
      try {
        for (const n of await restoreOn(server, record)) log(`${record.target.host}:${record.target.port}: ${n}`);
      } finally {
        await server.close();
      }
      await store.remove(key);
      log(
        `${record.target.host}:${record.target.port}: restored ${describe(record.original)} left changed by an interrupted apply (since ${record.since}, recorded in ${where})`,
      );
      out.push({ file: where, target: record.target, restored: record.original });
    } catch (err) {
      const msg = (err as Error).message;
      log(`${where}: could not restore the settings it records: ${msg}`);
      out.push({ file: where, target: record?.target ?? { host: '', port: 0, user: '' }, error: msg });
    }
  }
  return out;
}
