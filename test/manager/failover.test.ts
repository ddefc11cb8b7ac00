import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FailoverReport } from '../../src/manager/failover.js';
import { FailoverGuard } from '../../src/manager/failover-guard.js';
import { runManager } from '../../src/manager/manager.js';
import { waitIoStopped } from '../engine/recovery-helpers.js';
import { type ClusterLab, startCluster } from '../lab/cluster-lab.js';
import { LOAD_DDL, LoadGenerator } from '../lab/load-generator.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';

let cluster: ClusterLab | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function checksum(c: ClusterLab, db: string): Promise<string> {
  const [row] = await c.lab.query(db, 'CHECKSUM TABLE app.orders EXTENDED');
  return String(row.Checksum);
}

async function writable(c: ClusterLab, db: string): Promise<boolean> {
  const [row] = await c.lab.query(db, 'SELECT @@global.read_only AS ro');
  return Number(row.ro) === 0;
}

async function idsOn(c: ClusterLab, db: string): Promise<Set<number>> {
  const rows = await c.lab.query(db, 'SELECT id FROM app.orders');
  return new Set(rows.map((r) => Number(r.id)));
}

describe.skipIf(!mariadbAvailable() || !sshdAvailable())(
  'dead-master failover on real MariaDB servers and sshd',
  () => {
    it('master killed under load while the candidate lags: the manager fails over by itself; survivors identical, no acknowledged commit lost, one writable server', {
      timeout: 240_000,
    }, async () => {
      const reportDir = mkdtempSync(join(tmpdir(), 'mha-report-'));
      const reportScript = join(reportDir, 'report.sh');
      writeFileSync(reportScript, `#!/bin/sh\nprintf '%s\\n' "$@" > ${reportDir}/called\n`, { mode: 0o755 });
      cluster = await startCluster({
        perServer: [[], ['candidate_master=1'], []],
        serverDefault: [`report_script=${reportScript}`],
        keep: !!process.env.KEEP_LAB,
      });
      const c = cluster;
      for (const s of LOAD_DDL) await c.lab.query('db1', s);
      const load = new LoadGenerator({ host: c.hosts[0], port: 3306, connections: 3, rowsPerTransaction: 3 });
      await load.start();
      await new Promise((r) => setTimeout(r, 1500));
      // The candidate falls behind for a while, then catches up partly.
      await waitIoStopped(c.lab, c.lab.instance('db2'));
      await new Promise((r) => setTimeout(r, 1500));
      await c.lab.query('db2', 'START SLAVE IO_THREAD');
      await waitIoStopped(c.lab, c.lab.instance('db3'));
      await new Promise((r) => setTimeout(r, 800));

      const controller = new AbortController();
      const reports: FailoverReport[] = [];
      const manager = runManager({
        confFile: c.confFile,
        globalConf: null,
        exitAfterFailover: true,
        signal: controller.signal,
        onFailover: (r) => reports.push(r),
      });
      await new Promise((r) => setTimeout(r, 2500));
      await c.lab.killInstance('db1');
      const killedAt = Date.now();
      await load.ended(15_000);
      const code = await Promise.race([
        manager,
        new Promise<number>((r) =>
          setTimeout(() => {
            controller.abort();
            r(-1);
          }, 120_000),
        ),
      ]);
      const log = readFileSync(c.managerLog, 'utf8');
      expect(code, log.slice(-4000)).toBe(0);
      const report = reports[0];
      expect(report.newMaster).toBe('127.0.0.12(127.0.0.12:3306)');
      expect(log).toContain('Master failover to 127.0.0.12(127.0.0.12:3306) completed successfully.');
      expect(log).toMatch(
        /All other slaves should start replication from here\. Statement should be: CHANGE MASTER TO MASTER_HOST='127\.0\.0\.12'.*MASTER_PASSWORD='xxx';/,
      );
      expect(log).toContain('----- Failover Report -----');
      expect(log).not.toContain(c.lab.replicationUser.password);
      expect(new Date(report.finishedAt).getTime() - killedAt).toBeLessThan(60_000);

      // Survivors identical, everything the master acknowledged is there.
      expect(await checksum(c, 'db3')).toBe(await checksum(c, 'db2'));
      const present = await idsOn(c, 'db2');
      const lost = [...load.stats.acknowledged].filter((id) => !present.has(id));
      expect(load.stats.acknowledged.size).toBeGreaterThan(50);
      expect(lost).toEqual([]);
      // Exactly one writable server, and the other one replicates from it.
      expect(await writable(c, 'db2')).toBe(true);
      expect(await writable(c, 'db3')).toBe(false);
      const [st] = await c.lab.query('db3', 'SHOW SLAVE STATUS');
      expect(st.Master_Host).toBe('127.0.0.12');
      expect(st.Slave_IO_Running).toBe('Yes');
      expect(st.Slave_SQL_Running).toBe('Yes');
      await c.lab.query('db2', 'INSERT INTO app.orders VALUES (99999999, 0, "after failover", 1, NOW(6))');
      await c.lab.waitForReplicaCatchUp('db3', 'db2', 30_000);
      expect(await checksum(c, 'db3')).toBe(await checksum(c, 'db2'));
      // The dead master's binlog was saved over SSH; the last failover is remembered.
      // The dead master's host was reachable over SSH, so its binlog was read (it may hold nothing new).
      expect(JSON.stringify(report.savedMasterBinlog)).toMatch(/"bytes"|no events after the latest replica position/);
      // report_script ran with MHA's arguments.
      const called = readFileSync(join(reportDir, 'called'), 'utf8');
      expect(called).toContain('--orig_master_host=127.0.0.11');
      expect(called).toContain('--new_master_host=127.0.0.12');
      expect(called).toContain(
        '--subject=app1: MySQL Master failover 127.0.0.11(127.0.0.11:3306) to 127.0.0.12(127.0.0.12:3306) succeeded',
      );
      rmSync(reportDir, { recursive: true, force: true });
      const guard = new FailoverGuard(c.workdir, 'app1');
      expect(await guard.refusal({ ignoreLastFailover: false, lastFailoverMinute: 480 })).toMatch(
        /too early to do failover again/,
      );
    });
  },
);
