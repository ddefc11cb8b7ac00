/**
 * Online (planned) master switch on real MariaDB servers, loopback only: 127.0.0.81–83
 * (other test files use .11–.13, .41–.45, .61–.69, the GTID failover test .86–.88).
 *
 * Under a sustained write load from an application user (no SUPER / READ ONLY ADMIN) that
 * follows the writable server: errors only inside the write-block window, nothing
 * acknowledged lost, every server identical afterwards, the old master replicating from
 * the new one. Refusals leave the cluster untouched; a failure inside the window rolls back.
 *
 * Every test stops what it starts (afterEach) and every wait is bounded.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { masterSwitchTool } from '../../src/cli/manager-tools/masterha-master-switch.js';
import { loadConfig } from '../../src/manager/config/index.js';
import { ManagerLog } from '../../src/manager/log.js';
import { runOnlineSwitch, type SwitchoverOptions, type SwitchoverReport } from '../../src/manager/switchover.js';
import { type ClusterLab, type ClusterOptions, startCluster } from '../lab/cluster-lab.js';
import { LOAD_DDL } from '../lab/load-generator.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import { dropLabSessions, FollowingLoad } from '../lab/switch-load.js';

const FIRST = 81;
const host = (i: number) => `127.0.0.${FIRST + i}`;
const name = (i: number) => `${host(i)}(${host(i)}:3306)`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    const c = cleanups.pop()!;
    await Promise.resolve()
      .then(c)
      .catch(() => {});
  }
});

async function cluster(opts: ClusterOptions = {}): Promise<ClusterLab> {
  const c = await startCluster({ firstOctet: FIRST, keep: !!process.env.KEEP_LAB, ...opts });
  cleanups.push(() => c.close());
  for (const s of LOAD_DDL) await c.lab.query('db1', s);
  await c.lab.query('db1', "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pass'");
  await c.lab.query('db1', "GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO 'app'@'%'");
  for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
  return c;
}

/** Replicas of db1 switched to MariaDB GTID replication (MASTER_USE_GTID=slave_pos). */
async function useGtid(c: ClusterLab): Promise<void> {
  for (const r of ['db2', 'db3']) {
    await c.lab.query(r, 'STOP SLAVE');
    await c.lab.query(r, 'CHANGE MASTER TO MASTER_USE_GTID=slave_pos');
    await c.lab.query(r, 'START SLAVE');
  }
  for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
}

function switchOpts(c: ClusterLab, extra: Partial<SwitchoverOptions> = {}): SwitchoverOptions {
  const config = loadConfig({ appFile: c.confFile, globalFile: null });
  mkdirSync(config.app.managerWorkdir, { recursive: true });
  return { config, log: new ManagerLog(c.managerLog), ...extra };
}

async function checksum(c: ClusterLab, db: string): Promise<string> {
  const [row] = await c.lab.query(db, 'CHECKSUM TABLE app.orders EXTENDED');
  return String(row.Checksum);
}

async function readOnly(c: ClusterLab, db: string): Promise<number> {
  const [row] = await c.lab.query(db, 'SELECT @@global.read_only AS ro');
  return Number(row.ro);
}

async function idsOn(c: ClusterLab, db: string): Promise<Set<number>> {
  const rows = await c.lab.query(db, 'SELECT id FROM app.orders');
  return new Set(rows.map((r) => Number(r.id)));
}

/** Replication of `db` from `master` (index), both threads running. */
async function expectReplicating(c: ClusterLab, db: string, master: number, gtid?: string): Promise<void> {
  const [st] = await c.lab.query(db, 'SHOW SLAVE STATUS');
  expect(st?.Master_Host, `${db} master`).toBe(host(master));
  expect(st.Slave_IO_Running, `${db} IO`).toBe('Yes');
  expect(st.Slave_SQL_Running, `${db} SQL`).toBe('Yes');
  if (gtid) expect(st.Using_Gtid, `${db} Using_Gtid`).toBe(gtid);
}

/** The switch under load, and everything the issue asks of it. */
async function switchUnderLoad(
  c: ClusterLab,
  extra: Partial<SwitchoverOptions>,
): Promise<{ report: SwitchoverReport; load: FollowingLoad }> {
  // Paced a little, so single-threaded replicas keep up on a busy 2-core machine.
  const load = new FollowingLoad({ hosts: c.hosts, user: 'app', password: 'app-pass', connections: 4, pauseMs: 1 });
  cleanups.push(() => load.stop());
  await load.start();
  await sleep(1500);
  const report = await runOnlineSwitch(switchOpts(c, { newMaster: { host: host(1) }, ...extra }));
  await sleep(1000);
  await load.stop();
  dropLabSessions(c.lab);
  const log = readFileSync(c.managerLog, 'utf8');
  expect(report.exitCode, `${report.error}\n${log.slice(-3000)}`).toBe(0);
  expect(log).toContain(`Switching master to ${name(1)} completed successfully.`);
  expect(log).toMatch(/Writes were blocked for [\d.]+ ms/);
  expect(log).not.toContain(c.lab.replicationUser.password);
  const wb = report.writeBlock!;
  expect(wb.ms).toBeGreaterThan(0);
  // Errors only inside the window (a little slack for the client's own event-loop delay).
  const outside = load.failures.filter((f) => f.at < wb.startEpochMs || f.at > wb.endEpochMs! + 100);
  expect(outside, JSON.stringify({ wb, outside })).toEqual([]);
  expect(load.failures.length).toBeGreaterThan(0);
  // The load went on on the new master.
  expect(load.commits.some((x) => x.host === host(1) && x.at > wb.endEpochMs!)).toBe(true);
  // Nothing acknowledged is lost.
  const present = await idsOn(c, 'db2');
  expect([...load.acknowledged].filter((id) => !present.has(id))).toEqual([]);
  expect(load.acknowledged.size).toBeGreaterThan(100);
  // One writable server.
  expect(await readOnly(c, 'db2')).toBe(0);
  expect(await readOnly(c, 'db1')).toBe(1);
  expect(await readOnly(c, 'db3')).toBe(1);
  const json = JSON.parse(readFileSync(join(c.workdir, 'app1.switch.report.json'), 'utf8')) as SwitchoverReport;
  expect(json.writeBlock?.ms).toBe(wb.ms);
  const cw = load.clientWindow(wb.startEpochMs - 1, host(1));
  console.log(
    `write-block window (${extra.writeBlock ?? 'ftwrl'}, gtid=${report.gtidMode}): tool ${wb.ms} ms [${wb.steps
      .map((s) => `${s.step} ${s.ms}`)
      .join(
        ', ',
      )}], clients ${cw.ms} ms, ${load.failures.length} rejected writes, ${load.acknowledged.size} acknowledged rows`,
  );
  return { report, load };
}

describe.skipIf(!mariadbAvailable() || !sshdAvailable())('online master switch on real MariaDB servers', () => {
  it('under sustained writes (FLUSH TABLES WITH READ LOCK): errors only inside the window, nothing lost, all identical, old master replicating from the new one', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster({ perServer: [[], ['candidate_master=1'], []] });
    const { report } = await switchUnderLoad(c, { origMasterIsNewSlave: true });
    expect(report.gtidMode).toBe('none');
    expect(report.changeMasterStatement).toMatch(
      /^CHANGE MASTER TO MASTER_HOST='127\.0\.0\.82', MASTER_PORT=3306, MASTER_LOG_FILE='mariadb-bin\.\d+', MASTER_LOG_POS=\d+, MASTER_USER='repl', MASTER_PASSWORD='xxx';$/,
    );
    expect(report.leakedToOrigMaster).toBeUndefined();
    await expectReplicating(c, 'db1', 1, 'No');
    await expectReplicating(c, 'db3', 1, 'No');
    await c.lab.query('db2', "INSERT INTO app.orders VALUES (99999999, 0, 'after switch', 1, NOW(6))");
    await c.lab.waitForReplicaCatchUp('db1', 'db2');
    await c.lab.waitForReplicaCatchUp('db3', 'db2');
    const sum = await checksum(c, 'db2');
    expect(await checksum(c, 'db1')).toBe(sum);
    expect(await checksum(c, 'db3')).toBe(sum);
  });

  it('MariaDB GTID topology, writers killed instead of locked, a privileged (root) writer too: every replica stays on MASTER_USE_GTID', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster();
    await useGtid(c);
    const root = new FollowingLoad({ hosts: c.hosts, user: 'root', connections: 1, pauseMs: 5, idBase: 50_000_000 });
    cleanups.push(() => root.stop());
    await root.start();
    const { report } = await switchUnderLoad(c, { origMasterIsNewSlave: true, writeBlock: 'kill' });
    await root.stop();
    expect(report.gtidMode).toBe('mariadb');
    // The privileged writer is not stopped by read_only: its session was killed, inside the window.
    const wb = report.writeBlock!;
    expect(root.failures.length).toBeGreaterThan(0);
    expect(root.failures.filter((f) => f.at < wb.startEpochMs || f.at > wb.endEpochMs! + 100)).toEqual([]);
    expect(report.killedConnections).toBeGreaterThan(0);
    expect(report.changeMasterStatement).toBe(
      "CHANGE MASTER TO MASTER_HOST='127.0.0.82', MASTER_PORT=3306, MASTER_USE_GTID=slave_pos, MASTER_USER='repl', MASTER_PASSWORD='xxx';",
    );
    expect(report.leakedToOrigMaster).toBeUndefined();
    const present = await idsOn(c, 'db2');
    expect([...root.acknowledged].filter((id) => !present.has(id))).toEqual([]);
    await expectReplicating(c, 'db1', 1, 'Slave_Pos');
    await expectReplicating(c, 'db3', 1, 'Slave_Pos');
    await c.lab.query('db2', "INSERT INTO app.orders VALUES (99999999, 0, 'after switch', 1, NOW(6))");
    await c.lab.waitForReplicaCatchUp('db1', 'db2');
    await c.lab.waitForReplicaCatchUp('db3', 'db2');
    const sum = await checksum(c, 'db2');
    expect(await checksum(c, 'db1')).toBe(sum);
    expect(await checksum(c, 'db3')).toBe(sum);
  });

  it('refused, cluster untouched: a replica lags beyond the limit; a long update runs on the master; --check_only', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster({ perServer: [[], ['candidate_master=1'], []] });
    const untouched = async () => {
      expect(await readOnly(c, 'db1')).toBe(0);
      expect(await readOnly(c, 'db2')).toBe(1);
      expect(await readOnly(c, 'db3')).toBe(1);
      await expectReplicating(c, 'db2', 0);
      await expectReplicating(c, 'db3', 0);
      const [st] = await c.lab.query('db1', 'SHOW SLAVE STATUS');
      expect(st).toBeUndefined();
    };
    // 1. db3's SQL thread is held up (a read lock on the replica) while the master writes.
    const blocker = await c.lab.connect('db3');
    cleanups.push(() => blocker.destroy());
    await blocker.query('FLUSH TABLES WITH READ LOCK');
    for (let i = 0; i < 35; i++) {
      await c.lab.query('db1', 'INSERT INTO app.orders VALUES (?, 0, ?, 1, NOW(6))', [i + 1, 'lag']);
      await sleep(100);
    }
    const lagged = await runOnlineSwitch(switchOpts(c, { reportFile: null }));
    expect(lagged.exitCode).toBe(1);
    expect(lagged.error).toMatch(
      /Replication delay on 127\.0\.0\.83\(127\.0\.0\.83:3306\) is \d+ sec, more than 1 sec/,
    );
    expect(lagged.writeBlock).toBeUndefined();
    expect(lagged.rolledBack).toBeUndefined();
    await blocker.query('UNLOCK TABLES');
    await c.lab.waitForReplicaCatchUp('db3', 'db1');
    await untouched();

    // 2. A long update on the master.
    const updater = await c.lab.connect('db1');
    cleanups.push(() => updater.destroy());
    const running = updater.query('UPDATE app.orders SET amount = amount + SLEEP(4) WHERE id = 1').catch(() => {});
    await sleep(2500);
    const busy = await runOnlineSwitch(switchOpts(c, { reportFile: null, runningUpdatesLimitSec: 1 }));
    expect(busy.exitCode).toBe(1);
    expect(busy.error).toMatch(
      /We should not start online master switch when one of connections are running long updates on the current master/,
    );
    await running;
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    await untouched();

    // 3. A manager monitors the master (it holds MHA's monitor lock).
    const monitor = await c.lab.connect('db1');
    cleanups.push(() => monitor.destroy());
    await monitor.query("SELECT GET_LOCK('MHA_Master_High_Availability_Monitor', 0)");
    const monitored = await runOnlineSwitch(switchOpts(c, { reportFile: null }));
    expect(monitored.exitCode).toBe(1);
    expect(monitored.error).toMatch(/MHA Monitor runs on the current master/);
    monitor.destroy();
    await untouched();

    // 4. --check_only through the MHA command: checks pass, nothing changes.
    const out: string[] = [];
    const code = await masterSwitchTool(
      {
        conf: c.confFile,
        global_conf: '/nonexistent/masterha_default.cnf',
        master_state: 'alive',
        new_master_host: host(1),
        check_only: true,
        interactive: 0,
      },
      { out: (l) => out.push(l), warn: (l) => out.push(l) },
    );
    expect(code, out.join('\n')).toBe(0);
    await untouched();
  });

  it('a failure inside the window rolls back: the old master writable again, nothing lost, replication as before', {
    timeout: 240_000,
  }, async () => {
    const dir = join(process.env.TMPDIR ?? '/tmp', `mha-switch-hook-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const hook = join(dir, 'online_change.sh');
    // Moving writes to the new master fails; giving them back to the old one works.
    writeFileSync(
      hook,
      `#!/bin/sh\necho "$@" >> ${dir}/calls\ncase "$*" in *--command=start*--new_master_host=${host(1)}*) exit 1;; esac\nexit 0\n`,
      { mode: 0o755 },
    );
    cleanups.push(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
    const c = await cluster({ serverDefault: [`master_ip_online_change_script=${hook}`] });
    const load = new FollowingLoad({ hosts: c.hosts, user: 'app', password: 'app-pass', connections: 4 });
    cleanups.push(() => load.stop());
    await load.start();
    await sleep(1000);
    const report = await runOnlineSwitch(switchOpts(c, { newMaster: { host: host(1) } }));
    await sleep(1000);
    await load.stop();
    dropLabSessions(c.lab);
    expect(report.exitCode).toBe(1);
    expect(report.error).toMatch(/master_ip_online_change_script --command=start failed with exit code 1/);
    expect(report.rolledBack?.complete, JSON.stringify(report.rolledBack)).toBe(true);
    const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
    expect(calls[0]).toMatch(/--command=stop .*--new_master_host=127\.0\.0\.82/);
    expect(calls[1]).toMatch(/--command=start .*--new_master_host=127\.0\.0\.82/);
    expect(calls[2]).toMatch(/--command=start .*--new_master_host=127\.0\.0\.81/);
    // Writes went on on the old master after the rollback, and nothing acknowledged is lost.
    expect(load.commits.some((x) => x.host === host(0) && x.at > report.writeBlock!.startEpochMs + 1)).toBe(true);
    expect(load.commits.some((x) => x.host !== host(0))).toBe(false);
    expect(await readOnly(c, 'db1')).toBe(0);
    expect(await readOnly(c, 'db2')).toBe(1);
    await expectReplicating(c, 'db2', 0);
    await expectReplicating(c, 'db3', 0);
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    const present = await idsOn(c, 'db1');
    expect([...load.acknowledged].filter((id) => !present.has(id))).toEqual([]);
    const sum = await checksum(c, 'db1');
    expect(await checksum(c, 'db2')).toBe(sum);
    expect(await checksum(c, 'db3')).toBe(sum);
    expect(existsSync(join(c.workdir, 'app1.switch.report.json'))).toBe(true);
  });
});
