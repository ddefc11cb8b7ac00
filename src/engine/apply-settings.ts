/**
 * Global settings an apply changes on its target — max_allowed_packet raised, and for the
 * fast path durability relaxed (innodb_flush_log_at_trx_commit=2, sync_binlog=0) — and
 * their restoration, which must happen whatever becomes of the run:
 *
 * - Before the first SET GLOBAL, the original values are written to a small state file
 *   (`apply-settings.<host>_<port>.json` in the manager's workdir, written and fsynced
 *   before the change). A normal end or a failure restores them and removes the file; a
 *   manager that died mid-apply leaves the file, and {@link restorePendingSettings} (at
 *   the manager's next start) or the next apply to the same target restores them.
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

/** The state file of a target in `stateDir`. */
export function settingsStateFile(stateDir: string, target: SettingsTarget): string {
  const where = target.socketPath ? target.socketPath : `${target.host}_${target.port}`;
  return join(stateDir, `${FILE_PREFIX}${where.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

async function readPending(file: string): Promise<PendingSettings | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const p = JSON.parse(text) as PendingSettings;
  if (p.format !== FORMAT) throw new Error(`${file}: not an mha-ts apply settings file`);
  return p;
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

/** A target's changed settings, restored by {@link restore}. */
export class TargetSettings {
  private constructor(
    private readonly target: ConnectableTarget,
    private readonly file: string | undefined,
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
   * Restore what an earlier run left (state file present), then change what `want`
   * asks for — recording it first. Without `stateDir` durability is never relaxed (there
   * would be no record to restore it from); max_allowed_packet is still raised.
   */
  static async change(
    target: ConnectableTarget,
    want: SettingsChangeRequest,
    opts: { stateDir?: string; log?: (line: string) => void; connectTimeoutMs?: number } = {},
  ): Promise<TargetSettings> {
    const log = opts.log ?? (() => {});
    const file = opts.stateDir ? settingsStateFile(opts.stateDir, target) : undefined;
    const server = await ServerConnection.open(target, { connectTimeoutMs: opts.connectTimeoutMs ?? 10_000 });
    try {
      if (file) {
        const pending = await readPending(file);
        if (pending) {
          log(`an earlier apply left settings changed (${describe(pending.changed)}): restoring them first`);
          await restoreOn(server, pending);
          await removeDurably(file);
        }
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
      const relax = want.relaxDurability && file !== undefined;
      if (relax) {
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
      if (keys.length === 0 && !relax) return new TargetSettings(target, file, undefined, log);
      const original: SettingValues = {};
      for (const k of keys) original[k] = current[k];
      if (relax) {
        // Restoring passes through =1 (the durable flush): record both originals.
        if (current.innodb_flush_log_at_trx_commit !== undefined)
          original.innodb_flush_log_at_trx_commit = current.innodb_flush_log_at_trx_commit;
        if (mariadb && current.sync_binlog !== undefined) original.sync_binlog = current.sync_binlog;
      }
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
      if (file) await writeDurably(file, `${JSON.stringify(record, null, 2)}\n`);
      const settings = new TargetSettings(target, file, record, log);
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
    if (this.file) await removeDurably(this.file);
    this.record = undefined;
    this.log(
      `restored ${describe(record.original) || 'settings'}${record.relaxed ? '; redo log and binlog flushed to disk' : ''}`,
    );
    for (const n of notes) this.log(n);
    return record.original;
  }
}

function describe(v: SettingValues): string {
  return Object.entries(v)
    .map(([k, x]) => `${k}=${x}`)
    .join(', ');
}

export interface RestoredSettings {
  file: string;
  target: SettingsTarget;
  restored?: SettingValues;
  error?: string;
}

/**
 * At a manager's start: restore every target's settings that an apply changed and could
 * not restore (the manager was killed, or the target was unreachable). `credentials`
 * gives the login for a recorded target (the state file holds no password); targets it
 * does not know are left for later and reported.
 */
export async function restorePendingSettings(
  stateDir: string,
  credentials: (target: SettingsTarget) => ConnectableTarget | undefined,
  log: (line: string) => void = () => {},
): Promise<RestoredSettings[]> {
  let names: string[];
  try {
    names = await fsp.readdir(stateDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: RestoredSettings[] = [];
  for (const name of names.filter((n) => n.startsWith(FILE_PREFIX) && n.endsWith('.json')).sort()) {
    const file = join(stateDir, name);
    let record: PendingSettings | undefined;
    try {
      record = await readPending(file);
      if (!record) continue;
      const login = credentials(record.target);
      if (!login) throw new Error('no credentials for this server in the configuration');
      const server = await ServerConnection.open(login, { connectTimeoutMs: 10_000 });
      try {
        for (const n of await restoreOn(server, record)) log(`${record.target.host}:${record.target.port}: ${n}`);
      } finally {
        await server.close();
      }
      await removeDurably(file);
      log(
        `${record.target.host}:${record.target.port}: restored ${describe(record.original)} left changed by an interrupted apply (since ${record.since})`,
      );
      out.push({ file, target: record.target, restored: record.original });
    } catch (err) {
      const msg = (err as Error).message;
      log(`${file}: could not restore the settings it records: ${msg}`);
      out.push({ file, target: record?.target ?? { host: '', port: 0, user: '' }, error: msg });
    }
  }
  return out;
}
