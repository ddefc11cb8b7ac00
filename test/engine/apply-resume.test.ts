/**
 * An interrupted fast recovery is resumed by running it again: the target's mariadbd
 * killed mid-apply (SIGKILL, then restarted), the manager's apply killed mid-apply (a child
 * process, SIGKILL), the apply aborted. Each time the re-run must end with CHECKSUM TABLE
 * equal to the source's, every transaction applied exactly once (the target's binlogs hold
 * each GTID once), and the target's settings back to what they were.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventType, type MariadbGtidData, readFileEvents } from '@mha-ts/native-free-parsers';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApplyError, type ApplyTarget } from '../../src/engine/apply.js';
import { applyEventsFast } from '../../src/engine/apply-fast.js';
import { restorePendingSettings, settingsStateFile } from '../../src/engine/apply-settings.js';
import { parseIndexFile } from '../../src/engine/log-files.js';
import { applyRecoveryPlan } from '../../src/engine/recover.js';
import type { RecoveryPlan } from '../../src/engine/recovery-plan.js';
import { type LabInstance, type MariaDbLab, mariadbAvailable, startLab } from '../lab/mariadb-lab.js';
import { executedOf } from './recovery-helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TABLES = ['rs.t1', 'rs.t2'];
const ROWS = 4000;
const DIFF_BYTES = 20 * 1024 * 1024;
const SETTINGS = ['innodb_flush_log_at_trx_commit', 'sync_binlog', 'max_allowed_packet'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rnd = (n: number) => 1 + Math.floor(Math.random() * n);
const text = (n: number) =>
  Array.from({ length: n }, () => String.fromCharCode(97 + ((Math.random() * 26) | 0))).join('');

async function workload(conn: Connection, worker: number, done: () => boolean): Promise<void> {
  let nextId = 1_000_000 * (worker + 1);
  for (let i = 0; !done(); i++) {
    const t = TABLES[i % TABLES.length];
    try {
      await conn.query('BEGIN');
      // Not idempotent: applied twice, k differs.
      await conn.query(`UPDATE ${t} SET k = k + 1 WHERE id = ?`, [rnd(ROWS)]);
      await conn.query(`UPDATE ${t} SET c = ? WHERE id = ?`, [text(100), rnd(ROWS)]);
      await conn.query(`INSERT INTO ${t} (id, k, c, pad) VALUES (?, ?, ?, ?)`, [nextId++, i, text(100), text(50)]);
      if (i % 7 === 0) await conn.query(`DELETE FROM ${t} WHERE id = ?`, [nextId - 3]);
      await conn.query('COMMIT');
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => {});
      if ((err as { code?: string }).code !== 'ER_LOCK_DEADLOCK') throw err;
    }
  }
}

describe.skipIf(!mariadbAvailable())('resuming an interrupted fast recovery (real MariaDB 10.11)', () => {
  let lab: MariaDbLab;
  let source: LabInstance;
  let tgt: LabInstance;
  let baseFile: string;
  let diffFile: string;
  let diffGtids: string[];
  let reference: Record<string, string>;
  let originalSettings: Record<string, string>;
  let workdir: string;
  const target = (): ApplyTarget => ({ host: tgt.host, port: tgt.port, user: 'root', password: lab.rootPassword });
  const plan = (): RecoveryPlan => ({ pieces: [{ kind: 'binlog', events: readFileEvents(diffFile) }], notes: [] });
  const settingsOf = async () => {
    const rows = await lab.query(
      tgt,
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${SETTINGS.map((s) => `'${s}'`).join(', ')})`,
    );
    return Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
  };
  const checksumsOf = async (inst: LabInstance) => {
    const out: Record<string, string> = {};
    for (const t of TABLES) out[t] = String((await lab.query(inst, `CHECKSUM TABLE ${t} EXTENDED`))[0].Checksum);
    return out;
  };
  const seqOf = (pos: string) => Math.max(0, ...pos.split(',').map((g) => Number(g.split('-')[2] ?? 0)));
  const lastSeq = () => seqOf(diffGtids[diffGtids.length - 1]);
  /** GTIDs in the target's binlogs, in order (a torn event at the very end after a crash is ignored). */
  const loggedGtids = async (): Promise<string[]> => {
    const files = parseIndexFile(readFileSync(join(tgt.datadir, 'mariadb-bin.index'), 'utf8'));
    const out: string[] = [];
    for (const f of files) {
      try {
        for await (const e of readFileEvents(join(tgt.datadir, f.split('/').pop()!))) {
          if (e.typeCode === EventType.MARIADB_GTID) out.push((e.data as MariadbGtidData).gtid);
        }
      } catch (err) {
        if (f !== files[files.length - 1] && !/truncated/i.test((err as Error).message)) throw err;
      }
    }
    return out;
  };
  /** Resolves once the target's applied GTIDs pass `seq` (polled on a connection of its own). */
  const progressPast = async (seq: number, timeoutMs = 60_000): Promise<number> => {
    const c = await lab.connect(tgt);
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [rows] = await c.query('SELECT @@gtid_binlog_pos AS p');
        const now = seqOf(String((rows as { p: string }[])[0].p));
        if (now > seq) return now;
        if (Date.now() > deadline) throw new Error(`target did not pass GTID seq ${seq} (at ${now})`);
        await sleep(5);
      }
    } finally {
      c.destroy();
    }
  };
  /** The common end of every scenario: equal data, each GTID once, settings back, no state file. */
  const expectResumedCorrectly = async () => {
    expect(await checksumsOf(tgt)).toEqual(reference);
    const logged = await loggedGtids();
    expect(logged.length).toBe(new Set(logged).size);
    expect(logged.slice(-diffGtids.length)).toEqual(diffGtids);
    expect(await settingsOf()).toEqual(originalSettings);
    expect(existsSync(settingsStateFile(workdir, { ...target(), port: tgt.port }))).toBe(false);
  };

  beforeAll(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'mha-resume-work-'));
    lab = await startLab([
      {
        name: 'source',
        binlogFormat: 'ROW',
        extraCnf: ['sync_binlog=0', 'innodb_flush_log_at_trx_commit=0', 'innodb_buffer_pool_size=128M'],
      },
      // A durable replica, as in production.
      { name: 'target', binlogFormat: 'ROW', extraCnf: ['sync_binlog=1', 'innodb_flush_log_at_trx_commit=1'] },
    ]);
    [source, tgt] = lab.instances;
    originalSettings = await settingsOf();
    baseFile = (await lab.masterStatus(source)).file;
    const setup = await lab.connect(source);
    await setup.query('CREATE DATABASE rs');
    for (const t of TABLES) {
      await setup.query(
        `CREATE TABLE ${t} (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY (k)) ENGINE=InnoDB`,
      );
      for (let from = 1; from <= ROWS; from += 500) {
        const rows = Array.from({ length: 500 }, (_, i) => [from + i, from + i, text(100), text(50)]);
        await setup.query(`INSERT INTO ${t} VALUES ?`, [rows]);
      }
    }
    await setup.end();
    await lab.query(source, 'FLUSH BINARY LOGS');
    diffFile = (await lab.masterStatus(source)).file;
    let finished = false;
    const conns = await Promise.all([0, 1, 2].map(() => lab.connect(source)));
    const poll = (async () => {
      while (!finished) {
        await sleep(100);
        if ((await lab.masterStatus(source)).pos >= DIFF_BYTES) finished = true;
      }
    })();
    await Promise.all([poll, ...conns.map((c, w) => workload(c, w, () => finished))]);
    await Promise.all(conns.map((c) => c.end()));
    await lab.query(source, 'FLUSH BINARY LOGS');
    reference = await checksumsOf(source);
    baseFile = join(source.datadir, baseFile);
    diffFile = join(source.datadir, diffFile);
    diffGtids = [];
    for await (const e of readFileEvents(diffFile)) {
      if (e.typeCode === EventType.MARIADB_GTID) diffGtids.push((e.data as MariadbGtidData).gtid);
    }
    console.log(`diff: ${diffGtids.length} transactions, ${readFileSync(diffFile).length} bytes`);
  }, 300_000);

  afterAll(async () => {
    await lab?.close();
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    // The target holds the base data and nothing of the diff.
    await lab.query(tgt, 'DROP DATABASE IF EXISTS rs');
    await lab.query(tgt, 'RESET MASTER');
    await lab.query(tgt, "SET GLOBAL gtid_slave_pos = ''");
    await applyEventsFast(target(), readFileEvents(baseFile));
    expect(await settingsOf()).toEqual(originalSettings);
  }, 120_000);

  it("the target's mariadbd killed (SIGKILL) mid-apply, restarted: the re-run applies the rest, each transaction once", {
    timeout: 300_000,
  }, async () => {
    const first = applyRecoveryPlan(plan(), target(), {
      workdir,
      name: 'killed-target-1',
      executed: { mariadb: await executedOf(lab, tgt) },
    });
    first.catch(() => {});
    const at = await progressPast(seqOf(diffGtids[0]) + diffGtids.length / 5);
    await lab.killInstance(tgt);
    const err = await first.catch((e) => e);
    expect(err).toBeInstanceOf(ApplyError);
    // The settings could not be restored on a dead server: they are recorded.
    expect(existsSync(settingsStateFile(workdir, { ...target(), port: tgt.port }))).toBe(true);

    await lab.startInstance(tgt);
    const executed = await executedOf(lab, tgt);
    const done = seqOf(executed.toString());
    console.log(`killed at seq ≥ ${at}; after crash recovery the target has executed up to ${done} of ${lastSeq()}`);
    expect(done).toBeGreaterThanOrEqual(at);
    expect(done).toBeLessThan(lastSeq());

    const second = await applyRecoveryPlan(plan(), target(), {
      workdir,
      name: 'killed-target-2',
      executed: { mariadb: executed },
    });
    expect(second.concat.skipped.length + second.concat.transactions).toBe(diffGtids.length);
    expect(second.concat.skipped.length).toBeGreaterThan(0);
    expect(second.apply?.transactions).toBe(second.concat.transactions);
    await expectResumedCorrectly();
  });

  it("the manager's apply killed (SIGKILL of its process) mid-apply: restorePendingSettings at the next start, the re-run completes", {
    timeout: 300_000,
  }, async () => {
    const executed = await executedOf(lab, tgt);
    const script = [
      `import { MariadbGtidList, readFileEvents } from '@mha-ts/native-free-parsers';`,
      `import { applyRecoveryPlan } from ${JSON.stringify(join(ROOT, 'src/engine/recover.ts'))};`,
      'const a = JSON.parse(process.env.APPLY_ARGS);',
      "const plan = { pieces: [{ kind: 'binlog', events: readFileEvents(a.diffFile) }], notes: [] };",
      'await applyRecoveryPlan(plan, a.target, { workdir: a.workdir, name: a.name, executed: { mariadb: MariadbGtidList.parse(a.executed) } });',
      "process.stdout.write('finished\\n');",
    ].join('\n');
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: ROOT,
        env: {
          ...process.env,
          TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.test.json'),
          APPLY_ARGS: JSON.stringify({
            diffFile,
            target: target(),
            workdir,
            name: 'killed-manager-1',
            executed: executed.toString(),
          }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout?.on('data', (d) => {
        output += d;
      });
      child.stderr?.on('data', (d) => {
        output += d;
      });
      const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
      const at = await progressPast(seqOf(diffGtids[0]) + diffGtids.length / 5, 120_000);
      child.kill('SIGKILL');
      expect(await exited).toBeNull();
      expect(output).not.toContain('finished');
      const done = seqOf((await executedOf(lab, tgt)).toString());
      console.log(`manager killed at seq ≥ ${at}; the target has executed up to ${done} of ${lastSeq()}`);
      expect(done).toBeLessThan(lastSeq());
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    // Left behind: the relaxed settings, and the record of them.
    const relaxed = await settingsOf();
    expect(relaxed.innodb_flush_log_at_trx_commit).toBe('2');
    expect(relaxed.sync_binlog).toBe('0');
    expect(Number(relaxed.max_allowed_packet)).toBe(1024 * 1024 * 1024);
    expect(existsSync(settingsStateFile(workdir, { ...target(), port: tgt.port }))).toBe(true);

    // The manager's next start.
    const restored = await restorePendingSettings(workdir, (t) =>
      t.host === tgt.host && t.port === tgt.port ? { ...target(), port: tgt.port } : undefined,
    );
    expect(restored.map((r) => r.error)).toEqual([undefined]);
    expect(await settingsOf()).toEqual(originalSettings);

    const second = await applyRecoveryPlan(plan(), target(), {
      workdir,
      name: 'killed-manager-2',
      executed: { mariadb: await executedOf(lab, tgt) },
    });
    expect(second.concat.skipped.length + second.concat.transactions).toBe(diffGtids.length);
    await expectResumedCorrectly();
  });

  it('the apply aborted mid-way (signal): settings restored at once, the re-run completes', {
    timeout: 300_000,
  }, async () => {
    const abort = new AbortController();
    const first = applyRecoveryPlan(plan(), target(), {
      workdir,
      name: 'aborted-1',
      executed: { mariadb: await executedOf(lab, tgt) },
      apply: { signal: abort.signal },
    });
    first.catch(() => {});
    await progressPast(seqOf(diffGtids[0]) + diffGtids.length / 5);
    abort.abort();
    const err = await first.catch((e) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).reason).toBe('aborted');
    expect(await settingsOf()).toEqual(originalSettings);
    expect(existsSync(settingsStateFile(workdir, { ...target(), port: tgt.port }))).toBe(false);
    const second = await applyRecoveryPlan(plan(), target(), {
      workdir,
      name: 'aborted-2',
      executed: { mariadb: await executedOf(lab, tgt) },
    });
    expect(second.concat.skipped.length).toBeGreaterThan(0);
    await expectResumedCorrectly();
  });
});
