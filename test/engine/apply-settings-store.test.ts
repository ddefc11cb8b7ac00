/**
 * Where the records of relaxed settings live (SettingsRecordStore: the workdir's state files
 * by default), and the rule that a record found when a target is about to be changed keeps
 * its originals — against a real MariaDB 10.11 on 127.0.0.181. The etcd store is tested in
 * test/service/etcd-settings-store.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectableTarget,
  FileSettingsRecordStore,
  fileSettingsStore,
  type PendingSettings,
  restorePendingSettings,
  type SettingsRecordStore,
  type StoredSettings,
  settingsRecordKey,
  settingsStateFile,
  TargetSettings,
} from '../../src/engine/apply-settings.js';
import { type FailoverState, fileFailoverState } from '../../src/manager/failover-state.js';
import { runManager } from '../../src/manager/manager.js';
import { type LabInstance, type MariaDbLab, mariadbAvailable, startLab } from '../lab/mariadb-lab.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mha-settings-store-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const record = (host: string, port: number, original: PendingSettings['original']): PendingSettings => ({
  format: 'mha-ts/apply-settings/1',
  target: { host, port, user: 'root' },
  original,
  changed: { innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 },
  relaxed: true,
  since: new Date().toISOString(),
  pid: process.pid,
});

/** A store that is neither a file nor etcd: what restorePendingSettings and TargetSettings rely on is the interface. */
class MemoryStore implements SettingsRecordStore {
  readonly records = new Map<string, string>();
  where(key: string): string {
    return `memory:${key}`;
  }
  async list(): Promise<StoredSettings[]> {
    return [...this.records.keys()].sort().map((key) => ({ key, record: JSON.parse(this.records.get(key)!) }));
  }
  async load(key: string): Promise<PendingSettings | undefined> {
    const v = this.records.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as PendingSettings);
  }
  async save(key: string, r: PendingSettings): Promise<void> {
    this.records.set(key, JSON.stringify(r));
  }
  async remove(key: string): Promise<void> {
    this.records.delete(key);
  }
}

describe('the file store of settings records', () => {
  it('keeps the state file name and format, 0600, written whole (no temporary file left)', async () => {
    const dir = tempDir();
    const store = fileSettingsStore(dir);
    const target = { host: '127.0.0.181', port: 3306, user: 'root' };
    const key = settingsRecordKey(target);
    expect(key).toBe('127.0.0.181_3306');
    expect(store.where(key)).toBe(settingsStateFile(dir, target));
    expect(store.where(key)).toBe(join(dir, 'apply-settings.127.0.0.181_3306.json'));
    expect(settingsRecordKey({ ...target, socketPath: '/run/my sql/x.sock' })).toBe('_run_my_sql_x.sock');

    expect(await store.list()).toEqual([]);
    expect(await store.load(key)).toBeUndefined();
    const r = record(target.host, target.port, { innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
    await store.save(key, r);
    expect(statSync(store.where(key)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['apply-settings.127.0.0.181_3306.json']);
    expect(await store.load(key)).toEqual(r);
    const again = { ...r, original: { innodb_flush_log_at_trx_commit: 0 } };
    await store.save(key, again);
    expect(await store.list()).toEqual([{ key, record: again }]);
    await store.remove(key);
    await store.remove(key);
    expect(await store.list()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('lists only its own records, unreadable ones too (reported, not skipped); a missing directory holds none', async () => {
    const dir = tempDir();
    const store = fileSettingsStore(dir);
    await store.save('b_1', record('b', 1, { sync_binlog: 1 }));
    await store.save('a_1', record('a', 1, { sync_binlog: 1 }));
    writeFileSync(join(dir, 'apply-settings.c_1.json'), '{"format":"something else"}');
    writeFileSync(join(dir, 'apply-settings.d_1.json'), '{ torn');
    writeFileSync(join(dir, 'apply-settings.a_1.json.1234abcd.tmp'), '{ torn');
    writeFileSync(join(dir, 'app1.failover.progress.json'), '{}');
    const listed = await store.list();
    expect(listed.map((e) => e.key)).toEqual(['a_1', 'b_1', 'c_1', 'd_1']);
    expect(listed[0].record?.target.host).toBe('a');
    expect(listed[2].unreadable).toMatch(/not an mha-ts apply settings record/);
    expect(listed[3].unreadable).toMatch(/unreadable apply settings record/);
    await expect(store.load('d_1')).rejects.toThrow(/apply-settings\.d_1\.json/);
    expect(await fileSettingsStore(join(dir, 'absent')).list()).toEqual([]);

    // restorePendingSettings reports each record it cannot restore and leaves it.
    const lines: string[] = [];
    const out = await restorePendingSettings(
      dir,
      () => undefined,
      (l) => lines.push(l),
    );
    expect(out.map((o) => o.error)).toEqual([
      'no credentials for this server in the configuration',
      'no credentials for this server in the configuration',
      expect.stringMatching(/not an mha-ts apply settings record/),
      expect.stringMatching(/unreadable apply settings record/),
    ]);
    expect(out[0].file).toBe(join(dir, 'apply-settings.a_1.json'));
    expect(lines).toHaveLength(4);
    expect((await store.list()).length).toBe(4);
  });

  it("the workdir's FailoverState records settings in the workdir's files", () => {
    const dir = tempDir();
    const state = fileFailoverState(dir, 'app1');
    expect(state.settings).toBeInstanceOf(FileSettingsRecordStore);
    expect((state.settings as FileSettingsRecordStore).dir).toBe(dir);
  });
});

describe.skipIf(!mariadbAvailable())('settings records and a real MariaDB 10.11 (127.0.0.181)', () => {
  let lab: MariaDbLab;
  let db: LabInstance;
  const login = (): ConnectableTarget => ({ host: db.host, port: db.port, user: 'root', password: lab.rootPassword });
  const want = { relaxDurability: true, maxAllowedPacket: 1 << 30 };
  const settingsOf = async () => {
    const rows = await lab.query(
      db,
      "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('innodb_flush_log_at_trx_commit', 'sync_binlog', 'max_allowed_packet')",
    );
    return Object.fromEntries(rows.map((r) => [String(r.Variable_name), Number(r.Value)]));
  };
  let durable: Record<string, number>;

  beforeAll(async () => {
    lab = await startLab([
      { name: 'store', host: '127.0.0.181', extraCnf: ['sync_binlog=1', 'innodb_flush_log_at_trx_commit=1'] },
    ]);
    [db] = lab.instances;
    durable = await settingsOf();
    expect(durable).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
  }, 180_000);
  afterAll(async () => {
    await lab?.close();
  });

  it('a record found when a target is about to be relaxed keeps its originals, and stays until the new one replaces it', {
    timeout: 60_000,
  }, async () => {
    const store = new MemoryStore();
    const key = settingsRecordKey(login());
    // A manager killed mid-apply: settings relaxed, the record left behind.
    await TargetSettings.change(login(), want, { store });
    expect(await settingsOf()).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });
    const left = await store.load(key);
    expect(left?.original).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });

    // Its store saw no remove between the restore and the new record: count the calls.
    const calls: string[] = [];
    const watched: SettingsRecordStore = {
      where: (k) => store.where(k),
      list: () => store.list(),
      load: (k) => store.load(k),
      save: async (k, r) => {
        calls.push(`save ${JSON.stringify(r.original)}`);
        await store.save(k, r);
      },
      remove: async (k) => {
        calls.push('remove');
        await store.remove(k);
      },
    };
    const lines: string[] = [];
    const next = await TargetSettings.change(login(), want, { store: watched, log: (l) => lines.push(l) });
    expect(lines[0]).toMatch(
      /an earlier apply left settings changed .*originals innodb_flush_log_at_trx_commit=1, sync_binlog=1.*memory:127\.0\.0\.181_/,
    );
    expect(lines.join('\n')).not.toMatch(/already runs with/);
    expect(next.original).toMatchObject({
      innodb_flush_log_at_trx_commit: 1,
      sync_binlog: 1,
      max_allowed_packet: durable.max_allowed_packet,
    });
    expect(calls).toEqual([expect.stringMatching(/^save .*"innodb_flush_log_at_trx_commit":1.*"sync_binlog":1/)]);
    expect((await store.load(key))?.original).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
    expect(await settingsOf()).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });

    await next.restore();
    expect(await settingsOf()).toEqual(durable);
    expect(await store.list()).toEqual([]);
  });

  it("without the shared record (another manager's workdir), the relaxed values found are logged, then restored as found; the real record restores the originals", {
    timeout: 60_000,
  }, async () => {
    const workdirA = tempDir();
    const workdirB = tempDir();
    // Manager A relaxes the target and dies; its record is in A's workdir only.
    await TargetSettings.change(login(), want, { stateDir: workdirA });
    // Manager B (another host) applies with its own workdir: nothing recorded there.
    const lines: string[] = [];
    const b = await TargetSettings.change(login(), want, { stateDir: workdirB, log: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(
      new RegExp(
        `${db.host}:${db.port} already runs with innodb_flush_log_at_trx_commit=2, sync_binlog=0 and no earlier apply recorded changing it`,
      ),
    );
    expect(b.original).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });
    await b.restore();
    expect(await settingsOf()).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });
    expect(readdirSync(workdirB)).toEqual([]);
    // A's record, once found (its store), puts the durable originals back.
    const restored = await restorePendingSettings(fileSettingsStore(workdirA), () => login());
    expect(restored).toMatchObject([
      { file: settingsStateFile(workdirA, login()), restored: { innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 } },
    ]);
    expect(await settingsOf()).toEqual(durable);
    expect(readdirSync(workdirA)).toEqual([]);
  });

  it('a durable target relaxed with no record logs nothing about relaxed values', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const s = await TargetSettings.change(login(), want, { stateDir: dir, log: (l) => lines.push(l) });
    expect(lines.join('\n')).not.toMatch(/already runs with|earlier apply/);
    expect(readdirSync(dir)).toEqual([`apply-settings.${settingsRecordKey(login())}.json`]);
    await s.restore();
    expect(await settingsOf()).toEqual(durable);
  });

  it('restorePendingSettings on any store; a refused restore (not leading) leaves the record and the server alone', {
    timeout: 60_000,
  }, async () => {
    const store = new MemoryStore();
    await TargetSettings.change(login(), want, { store });
    const refused = await restorePendingSettings(store, () => login(), undefined, {
      beforeRestore: async (action) => {
        throw new Error(`Not acting (${action}): not the leader`);
      },
    });
    expect(refused).toHaveLength(1);
    expect(refused[0].error).toMatch(
      /Not acting \(restore the settings of 127\.0\.0\.181:\d+ left by an interrupted apply\)/,
    );
    expect(await settingsOf()).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });
    expect(store.records.size).toBe(1);

    const actions: string[] = [];
    const lines: string[] = [];
    const done = await restorePendingSettings(
      store,
      () => login(),
      (l) => lines.push(l),
      {
        beforeRestore: async (a) => {
          actions.push(a);
        },
      },
    );
    expect(actions).toHaveLength(1);
    expect(done).toMatchObject([{ file: `memory:${settingsRecordKey(login())}`, restored: { sync_binlog: 1 } }]);
    expect(lines.join('\n')).toContain('left changed by an interrupted apply');
    expect(await settingsOf()).toEqual(durable);
    expect(store.records.size).toBe(0);
  });

  it("a manager's start restores from its state's store (the shared one with HA), and what this host's workdir still holds", {
    timeout: 60_000,
  }, async () => {
    const workdir = tempDir();
    const conf = join(tempDir(), 'app1.cnf');
    writeFileSync(
      conf,
      [
        '[server default]',
        'user=root',
        `password=${lab.rootPassword}`,
        `manager_workdir=${workdir}`,
        `manager_log=${join(workdir, 'manager.log')}`,
        '[server1]',
        `hostname=${db.host}`,
        `port=${db.port}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    // A dead leader's record in the shared store, and an older one in this host's workdir.
    const shared = new MemoryStore();
    const key = settingsRecordKey(login());
    await TargetSettings.change(login(), want, { store: shared });
    const left = await shared.load(key);
    expect(left?.original).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
    await fileSettingsStore(workdir).save(key, { ...left!, since: '2026-01-01T00:00:00.000Z' });
    const state: FailoverState = { ...fileFailoverState(workdir, 'app1'), settings: shared };
    const actions: string[] = [];
    const controller = new AbortController();
    const code = await runManager({
      confFile: conf,
      globalConf: null,
      state,
      fence: async (a) => {
        actions.push(a);
      },
      signal: controller.signal,
      // Stop as soon as monitoring would begin: the restore came before.
      onMasterFound: () => controller.abort(),
    });
    expect(code).toBe(1);
    expect(shared.records.size).toBe(0);
    expect(readdirSync(workdir).filter((f) => f.startsWith('apply-settings.'))).toEqual([]);
    expect(actions.filter((a) => /^restore the settings of/.test(a))).toHaveLength(2);
    const logText = readFileSync(join(workdir, 'manager.log'), 'utf8');
    expect(logText).toContain(`recorded in memory:${key}`);
    expect(logText).toContain(`recorded in ${settingsStateFile(workdir, login())}`);
    expect(await settingsOf()).toEqual(durable);
  });
});
