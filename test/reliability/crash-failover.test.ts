/**
 * Crashes during a failover (issue 9, part 3), on real servers:
 * - the new master's mariadbd SIGKILLed while the failover applies its diff: restarted, a
 *   rerun finishes the failover, every transaction applied exactly once;
 * - the manager process SIGKILLed at the start of each phase (the trials' crash kind with
 *   the phase forced): the restarted manager finishes the failover, nothing lost.
 *
 * Addresses 127.0.0.171–174 (proxy .179): no other suite uses them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type ServerConfig } from '../../src/manager/config/index.js';
import { runDeadMasterFailover } from '../../src/manager/failover.js';
import { ManagerLog } from '../../src/manager/log.js';
import { hostAccessConfig } from '../../src/manager/manager.js';
import { HostAccessPool } from '../../src/remote/hosts.js';
import { CRASH_PHASES, describePlan, planTrial } from '../../trials/plan.js';
import { trialLine } from '../../trials/run.js';
import { runTrial } from '../../trials/trial.js';
import { sleep } from '../../trials/util.js';
import { startCluster } from '../lab/cluster-lab.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIRST = 171;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    await Promise.resolve()
      .then(cleanups.pop()!)
      .catch(() => {});
  }
});

const lab = describe.skipIf(!mariadbAvailable() || !sshdAvailable());

lab('crashes during a failover (real MariaDB servers and sshd)', () => {
  it("the new master's mariadbd killed mid-apply: restarted, the rerun applies the rest, each transaction once", {
    timeout: 300_000,
  }, async () => {
    const c = await startCluster({ firstOctet: FIRST, perServer: [[], ['candidate_master=1'], []] });
    cleanups.push(() => c.close());
    await c.lab.query('db1', 'CREATE DATABASE app');
    await c.lab.query('db1', 'CREATE TABLE app.t (id INT PRIMARY KEY, pad LONGBLOB)');
    await c.lab.query('db1', 'CREATE TABLE app.counter (id INT PRIMARY KEY, n INT NOT NULL)');
    await c.lab.query('db1', 'INSERT INTO app.counter VALUES (1, 0)');
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    // The candidate lags: everything after this is the diff the failover must apply to it.
    await c.lab.query('db2', 'STOP SLAVE IO_THREAD');
    const TXNS = 2500;
    const conn = await c.lab.connect('db1');
    try {
      for (let i = 1; i <= TXNS; i++) {
        await conn.query('BEGIN');
        await conn.query('INSERT INTO app.t VALUES (?, REPEAT(?, 8000))', [i, String.fromCharCode(97 + (i % 26))]);
        await conn.query('UPDATE app.counter SET n = n + 1 WHERE id = 1');
        await conn.query('COMMIT');
      }
    } finally {
      await conn.end();
    }
    await c.lab.waitForReplicaCatchUp('db3', 'db1');
    const [before] = await c.lab.query('db2', 'SELECT n FROM app.counter');
    await c.lab.killInstance('db1');

    const config = loadConfig({ appFile: c.confFile, globalFile: null });
    mkdirSync(config.app.managerWorkdir, { recursive: true });
    const log = new ManagerLog(config.app.managerLog);
    const pool = new HostAccessPool();
    cleanups.push(() => pool.closeAll());
    const accessFor = (s: ServerConfig) => pool.accessFor(hostAccessConfig(s));
    const failover = (ignoreLastFailover: boolean) =>
      runDeadMasterFailover({ config, deadMaster: config.servers[0], log, accessFor, ignoreLastFailover });

    // Kill db2 once it has committed part of the diff (the counter moved, not to the end).
    const watcher = await c.lab.connect('db2');
    let killedAt = -1;
    const killer = (async () => {
      const until = Date.now() + 120_000;
      while (Date.now() < until) {
        const [rows] = await watcher.query('SELECT n FROM app.counter');
        const n = Number((rows as { n: number }[])[0].n);
        if (n >= Number(before.n) + 100) {
          killedAt = n;
          await c.lab.killInstance('db2');
          return;
        }
        await sleep(10);
      }
    })().catch(() => {});
    const first = await failover(false);
    await killer;
    await watcher.end().catch(() => {});
    expect(killedAt, 'db2 was killed mid-apply').toBeGreaterThan(Number(before.n));
    expect(killedAt).toBeLessThan(Number(before.n) + TXNS);
    expect(first.exitCode).toBe(1);
    expect(first.stoppedIn).toMatch(/Phase 3\.5/);

    await c.lab.startInstance('db2');
    const second = await failover(true);
    expect(second.exitCode, `${second.error}\n${second.lines.join('\n')}`).toBe(0);
    expect(second.newMaster).toContain(c.hosts[1]);
    // Every transaction exactly once: the counter equals the number of rows, on both survivors.
    for (const r of ['db2', 'db3']) {
      const [row] = await c.lab.query(r, 'SELECT n, (SELECT COUNT(*) FROM app.t) AS rows_ FROM app.counter');
      expect(Number(row.n), r).toBe(TXNS);
      expect(Number(row.rows_), r).toBe(TXNS);
    }
    const sums = [];
    for (const r of ['db2', 'db3']) {
      const rows = await c.lab.query(r, 'CHECKSUM TABLE app.t, app.counter EXTENDED');
      sums.push(rows.map((x) => String(x.Checksum)).join(','));
    }
    expect(sums[0]).toBe(sums[1]);
    const writable = [];
    for (const r of ['db2', 'db3']) {
      const [row] = await c.lab.query(r, 'SELECT @@global.read_only AS ro');
      if (Number(row.ro) === 0) writable.push(r);
    }
    expect(writable).toEqual(['db2']);
    console.info(
      `[new master killed mid-apply] killed at counter ${killedAt} of ${TXNS} (started at ${before.n}); rerun applied ${second.servers[0]?.diff?.transactions ?? 0} transaction(s), skipped ${second.servers[0]?.diff?.skippedGtids ?? 0} already applied`,
    );
  });

  describe.skipIf(!existsSync(`${REPO}dist/src/cli/manager-tools/masterha-manager.js`))(
    'the manager process killed as each phase starts; the restarted manager finishes the failover',
    () => {
      for (const [i, phase] of CRASH_PHASES.entries()) {
        it(phase, { timeout: 300_000 }, async () => {
          const plan = planTrial(20261126, 10 + i, { failover: 0, crash: 1, partition: 0, isolate: 0 });
          plan.crashPhase = phase;
          plan.crashDelayMs = 0;
          const r = await runTrial(plan, { firstOctet: FIRST, keepOnFailure: !!process.env.KEEP_LAB, repoDir: REPO });
          console.info(trialLine(r));
          const why = r.violations.map((v) => `${v.kind}: ${v.message}`).join('\n');
          expect(r.passed, `${describePlan(plan)}\n${why}${r.keptDir ? `\nkept: ${r.keptDir}` : ''}`).toBe(true);
        });
      }
    },
  );
});
