import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplyError, type ApplyTarget, eventsOfFiles } from '../../src/engine/apply.js';
import { applyEventsFast } from '../../src/engine/apply-fast.js';
import { restorePendingSettings, settingsStateFile, TargetSettings } from '../../src/engine/apply-settings.js';
import { FIXTURE_ROOT, materializeFixtureDir } from '../fixture-dirs.js';
import { type LabInstance, type MariaDbLab, mariadbAvailable, startLab } from '../lab/mariadb-lab.js';

const manifest = JSON.parse(readFileSync(join(FIXTURE_ROOT, 'mariadb-10.11/manifest.json'), 'utf8')) as {
  checksumTable: { master: Record<string, string | null> };
  finalMasterStatus: { file: string; pos: number };
  variables: { master: { gtid_binlog_pos: string } };
  bigRow: { bytes: number };
};

const fx = materializeFixtureDir('mariadb-10.11/master');
const binlog = (n: number) => join(fx.dir, `mariadb-bin.00000${n}`);
const ALL = [1, 2, 3, 4, 5].map(binlog);

const SETTINGS = [
  'innodb_flush_log_at_trx_commit',
  'sync_binlog',
  'max_allowed_packet',
  'innodb_log_file_buffering',
] as const;

// Real servers: skipped, not failed, where MariaDB is not installed.
describe.skipIf(!mariadbAvailable())('the fast apply path on a real MariaDB 10.11', () => {
  let lab: MariaDbLab | undefined;
  let fresh: LabInstance;
  let dup: LabInstance;
  const stateDir = mkdtempSync(join(tmpdir(), 'mha-apply-state-'));
  const target = (inst: LabInstance): ApplyTarget => ({
    host: inst.host,
    port: inst.port,
    user: 'root',
    password: lab!.rootPassword,
  });
  const settingsOf = async (inst: LabInstance) => {
    const rows = await lab!.query(
      inst,
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${SETTINGS.map((s) => `'${s}'`).join(', ')})`,
    );
    return Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
  };
  const stateFiles = () => readdirSync(stateDir).filter((f) => f.startsWith('apply-settings.'));
  /** The settings restored after a run: innodb_log_file_buffering may stay ON until a restart (see apply-settings.ts). */
  const restoredFrom = (before: Record<string, string>) => ({
    ...before,
    innodb_log_file_buffering: expect.stringMatching(before.innodb_log_file_buffering === 'ON' ? /^ON$/ : /^(ON|OFF)$/),
  });

  beforeAll(async () => {
    // Durable servers, as a production replica is: the run relaxes and restores both.
    const durable = { extraCnf: ['sync_binlog=1', 'innodb_flush_log_at_trx_commit=1'] };
    lab = await startLab([
      { name: 'fresh', ...durable },
      { name: 'dup', ...durable },
    ]);
    [fresh, dup] = lab.instances;
  }, 180_000);
  afterAll(async () => {
    await lab?.close();
    fx.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('applies every recorded master binlog in multi-statement packets: all tables match, GTIDs kept, settings restored', {
    timeout: 180_000,
  }, async () => {
    const before = await settingsOf(fresh);
    expect(before.innodb_flush_log_at_trx_commit).toBe('1');
    expect(before.sync_binlog).toBe('1');
    const log: string[] = [];
    const summary = await applyEventsFast(target(fresh), eventsOfFiles(ALL), {
      stateDir,
      log: (l) => log.push(l),
    });
    console.log(
      `fast: ${summary.statements} statements in ${summary.batches} packets, ${summary.transactions} transactions, ${summary.durationMs} ms`,
    );
    // The plain path's 280 statements (apply.test.ts), less the rows statements of a
    // transaction joined into one BINLOG statement and repeated SET TIMESTAMPs, in far
    // fewer round trips.
    expect(summary.mode).toBe('fast');
    expect(summary.statements).toBeGreaterThan(200);
    expect(summary.statements).toBeLessThanOrEqual(280);
    expect(summary.transactions).toBe(60);
    expect(summary.batches).toBeLessThan(summary.statements / 4);
    expect(summary.incompleteTransactionRolledBack).toBe(false);
    expect(summary.lastCommittedPosition).toMatchObject({
      file: 'mariadb-bin.000005',
      pos: manifest.finalMasterStatus.pos,
    });
    // Relaxed for the run, then restored — durably flushed, no state left behind.
    expect(summary.settingsRestored).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
    expect(log.join('\n')).toMatch(/changed for the run: .*innodb_flush_log_at_trx_commit=2/);
    expect(log.join('\n')).toMatch(/redo log and binlog flushed to disk/);
    expect(await settingsOf(fresh)).toEqual(restoredFrom(before));
    expect(stateFiles()).toEqual([]);
    expect(log.join('\n')).not.toMatch(/password/i);

    for (const [t, expected] of Object.entries(manifest.checksumTable.master)) {
      const [schema, name] = t.split('.');
      const row = (await lab!.query(fresh, `CHECKSUM TABLE \`${schema}\`.\`${name}\` EXTENDED`))[0];
      expect({ table: t, checksum: row.Checksum == null ? null : String(row.Checksum) }).toEqual({
        table: t,
        checksum: expected,
      });
    }
    // GTIDs preserved, and nothing of the target's own logged (the durable flush is not binlogged).
    expect((await lab!.query(fresh, 'SELECT @@gtid_binlog_pos AS p'))[0].p).toBe(
      manifest.variables.master.gtid_binlog_pos,
    );
    expect((await lab!.query(fresh, 'SELECT LENGTH(payload) AS n FROM fx.t_big WHERE id = 1'))[0].n).toBe(
      manifest.bigRow.bytes,
    );
  });

  it('a failing statement in the middle of a packet: the ApplyError names it exactly, nothing after it runs, settings restored', {
    timeout: 120_000,
  }, async () => {
    await applyEventsFast(target(dup), eventsOfFiles([binlog(1), binlog(2)]), { stateDir });
    const before = await settingsOf(dup);
    const gtidBefore = (await lab!.query(dup, 'SELECT @@gtid_binlog_pos AS p'))[0].p;
    // The same binlog again, without GTID skipping: its first row already exists.
    const err = await applyEventsFast(target(dup), eventsOfFiles([binlog(2)]), { stateDir }).catch((e) => e);
    expect(err).toBeInstanceOf(ApplyError);
    const e = err as ApplyError;
    expect(e.reason).toBe('server-error');
    expect(e.file).toBe('mariadb-bin.000002');
    expect(e.offset).toBe(554); // TABLE_MAP + WRITE_ROWS of the first transaction (GTID 0-1-30)
    expect(e.gtid).toBe('0-1-30');
    expect(e.serverError?.code).toBe(1062);
    expect(e.serverError?.sqlMessage).toMatch(/Duplicate entry '10'/);
    expect(e.lastCommittedPosition).toBeUndefined();
    expect(e.lastAppliedPosition).toMatchObject({ file: 'mariadb-bin.000002', pos: 431, gtid: '0-1-30' });
    // Nothing of the failed transaction, nor of the packet after it, was committed.
    expect((await lab!.query(dup, 'SELECT @@gtid_binlog_pos AS p'))[0].p).toBe(gtidBefore);
    expect((await lab!.query(dup, 'SELECT COUNT(*) AS n FROM fx.t_row WHERE id = 10'))[0].n).toBe(1);
    expect(await settingsOf(dup)).toEqual(restoredFrom(before));
    expect(stateFiles()).toEqual([]);
  });

  it('statement-format context, trailing comments and errors the source had too, across packet boundaries', {
    timeout: 120_000,
  }, async () => {
    await lab!.query(dup, 'FLUSH BINARY LOGS');
    const file = String((await lab!.query(dup, 'SHOW MASTER STATUS'))[0].File);
    const src = await lab!.connect(dup, { charset: 'LATIN1_SWEDISH_CI' });
    try {
      for (const sql of [
        'SET SESSION binlog_format=STATEMENT',
        'CREATE DATABASE ctx',
        'CREATE TABLE ctx.t (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(32) CHARACTER SET latin1, ' +
          'u VARCHAR(32) CHARACTER SET utf8mb4, d DOUBLE, ts DATETIME, note VARCHAR(200)) ENGINE=InnoDB',
        'CREATE TABLE ctx.m (id INT PRIMARY KEY) ENGINE=MyISAM',
        "INSERT INTO ctx.t (s, note) VALUES ('café', 'latin1 literal') -- a trailing comment",
        "INSERT INTO ctx.t (note) VALUES ('after a -- comment') # and a hash comment",
        "SET @v = 'crème', @d = 0.1e0, @i = -7",
        'INSERT INTO ctx.t (s, d, note) VALUES (@v, @d, CONCAT(@i))',
        "SET time_zone = '+05:00'",
        'INSERT INTO ctx.t (ts, note) VALUES (FROM_UNIXTIME(1700000000), @@time_zone)',
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
        "INSERT INTO ctx.t (note) VALUES ('back\\slash kept')",
        "SET sql_mode = ''",
        'INSERT INTO ctx.m VALUES (1)',
        // Fails half way on the source (MyISAM keeps the 2): logged with error 1062.
        'INSERT INTO ctx.m VALUES (2), (1), (3)',
        "INSERT INTO ctx.t (note) VALUES ('after the failed statement')",
        'BEGIN',
        'UPDATE ctx.t SET d = IFNULL(d, 0) + 1',
        'INSERT INTO ctx.t (note) SELECT CONCAT("count ", COUNT(*)) FROM ctx.m',
        'COMMIT',
      ]) {
        await src.query(sql).catch((err: { errno?: number }) => {
          if (err.errno !== 1062) throw err;
        });
      }
    } finally {
      await src.end();
    }
    await lab!.query(dup, 'FLUSH BINARY LOGS');
    // The comments are in the log: a `;` after them on the same line would be commented out.
    const logged = readFileSync(join(dup.datadir, file)).toString('latin1');
    expect(logged).toContain("'latin1 literal') -- a trailing comment");
    expect(logged).toContain('# and a hash comment');

    // Tiny packets: the expected error and the comments fall in the middle of packets and at their edges.
    for (const batchStatements of [3, 4000]) {
      await lab!.query(fresh, 'DROP DATABASE IF EXISTS ctx');
      const summary = await applyEventsFast(target(fresh), eventsOfFiles([join(dup.datadir, file)]), {
        stateDir,
        batchStatements,
      });
      expect(summary.expectedErrors).toBe(1);
      for (const t of ['ctx.t', 'ctx.m']) {
        const sum = async (inst: LabInstance) =>
          String((await lab!.query(inst, `CHECKSUM TABLE ${t} EXTENDED`))[0].Checksum);
        expect({ batchStatements, t, sum: await sum(fresh) }).toEqual({ batchStatements, t, sum: await sum(dup) });
      }
    }
    const notes = (await lab!.query(fresh, 'SELECT note FROM ctx.t ORDER BY id')).map((r) => r.note);
    expect(notes).toEqual(
      expect.arrayContaining([
        'latin1 literal',
        'after a -- comment',
        'back\\slash kept',
        'after the failed statement',
      ]),
    );
  });

  it('settings left changed by a killed run are restored at the next start, and the next apply to that server restores them first', {
    timeout: 120_000,
  }, async () => {
    const before = await settingsOf(fresh);
    const login = { ...target(fresh), port: fresh.port };
    // A run that changes the settings and never gets to restore them (its process died).
    const abandoned = await TargetSettings.change(
      login,
      { relaxDurability: true, maxAllowedPacket: 1 << 30 },
      { stateDir },
    );
    expect(abandoned.changed).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });
    expect(existsSync(settingsStateFile(stateDir, login))).toBe(true);
    const relaxed = await settingsOf(fresh);
    expect(relaxed.innodb_flush_log_at_trx_commit).toBe('2');
    expect(relaxed.innodb_log_file_buffering).toBe('ON');
    expect(Number(relaxed.max_allowed_packet)).toBe(1 << 30);
    // The state file holds what to restore, and no password.
    expect(readFileSync(settingsStateFile(stateDir, login), 'utf8')).not.toContain('password');

    // Another run to the same server: it restores the originals first, so it never takes
    // the relaxed values for the server's own.
    const second = await applyEventsFast(target(fresh), eventsOfFiles([binlog(1)]), {
      stateDir,
      maxAllowedPacket: 0,
    }).catch((e) => e);
    expect(second).toBeInstanceOf(ApplyError); // binlog 1 was applied by the first test
    expect(await settingsOf(fresh)).toEqual(restoredFrom(before));
    expect(stateFiles()).toEqual([]);

    // The manager's start: restorePendingSettings.
    await TargetSettings.change(login, { relaxDurability: true, maxAllowedPacket: 1 << 30 }, { stateDir });
    expect((await settingsOf(fresh)).sync_binlog).toBe('0');
    const lines: string[] = [];
    const restored = await restorePendingSettings(
      stateDir,
      (t) => (t.host === fresh.host && t.port === fresh.port ? login : undefined),
      (l) => lines.push(l),
    );
    expect(restored).toHaveLength(1);
    expect(restored[0].error).toBeUndefined();
    expect(lines.join('\n')).toContain('left changed by an interrupted apply');
    expect(await settingsOf(fresh)).toEqual(restoredFrom(before));
    expect(stateFiles()).toEqual([]);
    expect(await restorePendingSettings(stateDir, () => login)).toEqual([]);
  });
});
