/**
 * GTID failover.
 *
 * MariaDB (real servers on 127.0.0.86–88 with sshd, loopback only): replicas replicating with
 * MASTER_USE_GTID=slave_pos; the walkthrough's dead-master scenario (one replica lagging,
 * SIGKILL to the master under load) ends with identical survivors still on GTID replication
 * and nothing acknowledged lost; an errant transaction on a replica is found and reported
 * before anything is promoted, and `exclude` fails over without it.
 *
 * MySQL GTID (auto-position) cannot run here: the same failover runs against fake MySQL 8.4
 * servers at the mysql2 boundary (test/mysql/fake-mysql.ts), which reject the syntax 8.4
 * removed and apply auto-position replication instantly; the decisions (most advanced
 * replica by GTID set, errant GTIDs) are unit-tested over MysqlGtidSet / MariadbGtidList.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/manager/config/index.js';
import { runDeadMasterFailover } from '../../src/manager/failover.js';
import {
  findErrantTransactions,
  GtidDivergence,
  mariadbErrant,
  mysqlErrant,
  orderByGtid,
} from '../../src/manager/gtid.js';
import { ManagerLog } from '../../src/manager/log.js';
import { hostAccessConfig } from '../../src/manager/manager.js';
import type { ServerState } from '../../src/manager/topology.js';
import type { FileAccess } from '../../src/remote/file-access.js';
import { HostAccessPool } from '../../src/remote/hosts.js';
import { waitIoStopped } from '../engine/recovery-helpers.js';
import { type ClusterLab, startCluster } from '../lab/cluster-lab.js';
import { LOAD_DDL, LoadGenerator } from '../lab/load-generator.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import { fakeNetwork } from '../mysql/fake-mysql.js';

vi.mock('mysql2/promise', async (importOriginal) => {
  const real = await importOriginal<typeof import('mysql2/promise')>();
  const { fakeNetwork: net } = await import('../mysql/fake-mysql.js');
  const createConnection = ((opts: { host?: string }) =>
    net.has(opts.host) ? net.connect(opts) : real.createConnection(opts as never)) as typeof real.createConnection;
  return { ...real, createConnection, default: { ...real, createConnection } };
});

const FIRST = 86;
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
  fakeNetwork.reset();
});

async function gtidCluster(perServer?: string[][], noSshd?: number[]): Promise<ClusterLab> {
  const c = await startCluster({ firstOctet: FIRST, keep: !!process.env.KEEP_LAB, perServer, noSshd });
  cleanups.push(() => c.close());
  for (const s of LOAD_DDL) await c.lab.query('db1', s);
  for (const r of ['db2', 'db3']) {
    await c.lab.waitForReplicaCatchUp(r, 'db1');
    await c.lab.query(r, 'STOP SLAVE');
    await c.lab.query(r, 'CHANGE MASTER TO MASTER_USE_GTID=slave_pos');
    await c.lab.query(r, 'START SLAVE');
  }
  for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
  return c;
}

function failoverWith(c: ClusterLab) {
  const config = loadConfig({ appFile: c.confFile, globalFile: null });
  mkdirSync(config.app.managerWorkdir, { recursive: true });
  const log = new ManagerLog(c.managerLog);
  const pool = new HostAccessPool();
  cleanups.push(() => pool.closeAll());
  return (extra: Partial<Parameters<typeof runDeadMasterFailover>[0]> = {}) =>
    runDeadMasterFailover({
      config,
      deadMaster: config.servers[0],
      log,
      accessFor: (s) => pool.accessFor(hostAccessConfig(s)),
      ...extra,
    });
}

async function checksum(c: ClusterLab, db: string): Promise<string> {
  const [row] = await c.lab.query(db, 'CHECKSUM TABLE app.orders EXTENDED');
  return String(row.Checksum);
}

describe.skipIf(!mariadbAvailable() || !sshdAvailable())('MariaDB GTID failover on real servers', () => {
  it('dead master under load, one replica lagging: survivors identical, still MASTER_USE_GTID=slave_pos, nothing lost', {
    timeout: 240_000,
  }, async () => {
    const c = await gtidCluster([[], ['candidate_master=1'], []]);
    const load = new LoadGenerator({ host: c.hosts[0], port: 3306, connections: 3, rowsPerTransaction: 3 });
    cleanups.push(() => load.stop());
    await load.start();
    await sleep(1500);
    // The candidate falls behind for a while, then catches up partly; the other stops reading.
    await waitIoStopped(c.lab, c.lab.instance('db2'));
    await sleep(1500);
    await c.lab.query('db2', 'START SLAVE IO_THREAD');
    await waitIoStopped(c.lab, c.lab.instance('db3'));
    await sleep(800);
    await c.lab.killInstance('db1');
    const killedAt = Date.now();
    await load.ended(15_000);
    const report = await failoverWith(c)();
    const log = readFileSync(c.managerLog, 'utf8');
    expect(report.exitCode, `${report.error}\n${log.slice(-4000)}`).toBe(0);
    expect(report.gtidMode).toBe('mariadb');
    expect(report.newMaster).toBe(name(1));
    expect(report.errantTransactions).toEqual([]);
    expect(log).toContain('GTID failover mode = 1 (mariadb)');
    expect(log).toContain('Starting GTID based failover.');
    expect(log).toMatch(/The latest GTID position on all slaves is 0-1-\d+/);
    expect(report.changeMasterStatement).toBe(
      `CHANGE MASTER TO MASTER_HOST='${host(1)}', MASTER_PORT=3306, MASTER_USE_GTID=slave_pos, MASTER_USER='repl', MASTER_PASSWORD='xxx';`,
    );
    const total = new Date(report.finishedAt).getTime() - killedAt;
    console.log(
      `MariaDB GTID failover: ${total} ms from SIGKILL to report (${report.phases.map((p) => `${p.phase.replace(/^Phase /, '')} ${p.ms}`).join('; ')})`,
    );
    expect(total).toBeLessThan(60_000);
    // Survivors identical, everything acknowledged present, still GTID replication.
    const rows = await c.lab.query('db2', 'SELECT id FROM app.orders');
    const present = new Set(rows.map((r) => Number(r.id)));
    expect(load.stats.acknowledged.size).toBeGreaterThan(50);
    expect([...load.stats.acknowledged].filter((id) => !present.has(id))).toEqual([]);
    expect(await checksum(c, 'db3')).toBe(await checksum(c, 'db2'));
    const [st] = await c.lab.query('db3', 'SHOW SLAVE STATUS');
    expect(st.Master_Host).toBe(host(1));
    expect(st.Using_Gtid).toBe('Slave_Pos');
    expect(st.Slave_IO_Running).toBe('Yes');
    expect(st.Slave_SQL_Running).toBe('Yes');
    const [g2] = await c.lab.query('db2', 'SELECT @@gtid_binlog_pos AS b');
    const [g3] = await c.lab.query('db3', 'SELECT @@gtid_slave_pos AS s');
    expect(String(g3.s)).toBe(String(g2.b));
    // New writes flow by GTID.
    await c.lab.query('db2', "INSERT INTO app.orders VALUES (99999999, 0, 'after failover', 1, NOW(6))");
    await c.lab.waitForReplicaCatchUp('db3', 'db2');
    expect(await checksum(c, 'db3')).toBe(await checksum(c, 'db2'));
    const [g2b] = await c.lab.query('db2', 'SELECT @@gtid_binlog_pos AS b');
    expect(String(g2b.b)).toMatch(/^0-2-\d+$/);
  });

  it("dead master's host unreachable: its binlog tail comes from a [binlog1] server; acknowledged commits no replica received are recovered", {
    timeout: 240_000,
  }, async () => {
    const c = await gtidCluster(undefined, [0]);
    const load = new LoadGenerator({ host: c.hosts[0], port: 3306, connections: 3, rowsPerTransaction: 3 });
    cleanups.push(() => load.stop());
    await load.start();
    await sleep(1000);
    // Neither replica reads any more: what the master commits from now on exists only in its binlog.
    await waitIoStopped(c.lab, c.lab.instance('db2'));
    await waitIoStopped(c.lab, c.lab.instance('db3'));
    const before = load.stats.acknowledged.size;
    await sleep(700);
    await c.lab.killInstance('db1');
    await load.ended(15_000);
    expect(load.stats.acknowledged.size).toBeGreaterThan(before);
    // A binlog server: a copy of the master's binlog files on another host (db3's, which has sshd).
    const copy = mkdtempSync(join(tmpdir(), 'mha-binlog-server-'));
    cleanups.push(() => rmSync(copy, { recursive: true, force: true }));
    const datadir = c.lab.instance('db1').datadir;
    for (const f of (await import('node:fs')).readdirSync(datadir).filter((n) => n.startsWith('mariadb-bin.'))) {
      (await import('node:fs')).copyFileSync(join(datadir, f), join(copy, f));
    }
    writeFileSync(
      c.confFile,
      `${readFileSync(c.confFile, 'utf8')}\n[binlog1]\nhostname=${host(2)}\nmaster_binlog_dir=${copy}\n`,
    );
    const report = await failoverWith(c)();
    const log = readFileSync(c.managerLog, 'utf8');
    expect(report.exitCode, `${report.error}\n${log.slice(-3000)}`).toBe(0);
    expect(log).toContain('Dead Master is not SSH reachable.');
    expect(log).toContain(`Saving the dead master's binlog from the binlog server ${host(2)}..`);
    expect(JSON.stringify(report.savedMasterBinlog)).toMatch(/"bytes":\d+/);
    const rows = await c.lab.query('db2', 'SELECT id FROM app.orders');
    const present = new Set(rows.map((r) => Number(r.id)));
    expect([...load.stats.acknowledged].filter((id) => !present.has(id))).toEqual([]);
    expect(await checksum(c, 'db3')).toBe(await checksum(c, 'db2'));
    const [nm, replica] = report.newMaster === name(1) ? ['db2', 'db3'] : ['db3', 'db2'];
    const [st] = await c.lab.query(replica, 'SHOW SLAVE STATUS');
    expect(st.Using_Gtid).toBe('Slave_Pos');
    expect(st.Master_Host).toBe(nm === 'db2' ? host(1) : host(2));
  });

  it('an errant transaction on a replica is reported before promotion: refused (nothing changed), then excluded', {
    timeout: 240_000,
  }, async () => {
    const c = await gtidCluster();
    for (let i = 1; i <= 20; i++)
      await c.lab.query('db1', 'INSERT INTO app.orders VALUES (?, 1, ?, 1, NOW(6))', [i, 'x']);
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    // Written on db3 itself (root ignores read_only): a GTID of server 3 the master never had.
    await c.lab.query('db3', "INSERT INTO app.orders VALUES (5000, 3, 'errant', 1, NOW(6))");
    const [errantPos] = await c.lab.query('db3', 'SELECT @@gtid_binlog_pos AS b');
    expect(String(errantPos.b)).toMatch(/^0-3-\d+$/);
    await c.lab.killInstance('db1');
    const failover = failoverWith(c);

    const refused = await failover();
    expect(refused.exitCode).toBe(1);
    expect(refused.errantTransactions).toEqual([{ server: name(2), gtids: String(errantPos.b), action: 'refused' }]);
    expect(refused.error).toMatch(
      /Errant transactions found on 127\.0\.0\.88\(127\.0\.0\.88:3306\); refusing to fail over/,
    );
    expect(refused.newMaster).toBeUndefined();
    expect(refused.stoppedIn).toBe('Phase 1: Configuration Check Phase');
    const log = readFileSync(c.managerLog, 'utf8');
    expect(log).toContain(`Errant transactions on ${name(2)}: ${errantPos.b}`);
    for (const db of ['db2', 'db3']) {
      const [ro] = await c.lab.query(db, 'SELECT @@global.read_only AS ro');
      expect(Number(ro.ro)).toBe(1);
      const [st] = await c.lab.query(db, 'SHOW SLAVE STATUS');
      expect(st.Master_Host).toBe(host(0));
      expect(st.Using_Gtid).toBe('Slave_Pos');
    }

    const excluded = await failover({ errantTransactions: 'exclude' });
    expect(excluded.exitCode, excluded.error).toBe(10);
    expect(excluded.newMaster).toBe(name(1));
    expect(excluded.servers.find((s) => s.server === name(2))?.message).toMatch(/excluded \(errant transactions/);
    const [ro2] = await c.lab.query('db2', 'SELECT @@global.read_only AS ro');
    expect(Number(ro2.ro)).toBe(0);
    const [st3] = await c.lab.query('db3', 'SHOW SLAVE STATUS');
    expect(st3.Master_Host).toBe(host(0));
  });
});

// ---------------------------------------------------------------------------------------
// Decisions, without servers.

function mariadbState(
  n: string,
  serverId: number,
  g: { slavePos?: string; binlogPos?: string; binlogState?: string; ioPos?: string },
): ServerState {
  return {
    config: {} as ServerState['config'],
    name: n,
    alive: true,
    serverId,
    gtid: { slavePos: g.slavePos ?? '', binlogPos: g.binlogPos ?? '', currentPos: '' },
    gtidBinlogState: g.binlogState ?? g.binlogPos ?? '',
    replica: {
      usingGtid: 'Slave_Pos',
      gtidIoPos: g.ioPos ?? '',
      retrievedGtidSet: '',
      masterUuid: '',
    } as ServerState['replica'],
  };
}

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const U2 = '4e11fa47-71ca-11e1-9e33-c80aa9429562';
const U3 = '5e11fa47-71ca-11e1-9e33-c80aa9429562';

function mysqlState(n: string, executed: string, retrieved = '', masterUuid = U1): ServerState {
  return {
    config: {} as ServerState['config'],
    name: n,
    alive: true,
    mysqlGtid: { mode: 'ON', executed, uuid: '' },
    replica: {
      autoPosition: true,
      retrievedGtidSet: retrieved,
      masterUuid,
      usingGtid: 'No',
      gtidIoPos: '',
    } as ServerState['replica'],
  };
}

describe('GTID decisions', () => {
  it('MariaDB: the most advanced replica by received GTIDs per domain; diverged positions are refused', () => {
    const a = mariadbState('a', 2, { slavePos: '0-1-100,1-5-7', ioPos: '0-1-105,1-5-7' });
    const b = mariadbState('b', 3, { slavePos: '0-1-110,1-5-9' });
    const c = mariadbState('c', 4, { slavePos: '0-1-90', ioPos: '0-1-121,1-5-9' });
    const { sorted, latest } = orderByGtid([a, b, c], 'mariadb');
    expect(latest.map((s) => s.name)).toEqual(['c']);
    expect(sorted.map((s) => s.name)).toEqual(['c', 'b', 'a']);
    const d = mariadbState('d', 5, { slavePos: '0-1-130,1-5-1' });
    expect(() => orderByGtid([c, d], 'mariadb')).toThrow(GtidDivergence);
  });

  it('MariaDB errant transactions: own server id beyond what anyone replicated, a new domain; history and the latest replica are not errant', () => {
    const latest = mariadbState('latest', 2, { slavePos: '0-1-105', binlogState: '0-1-105' });
    const other = mariadbState('other', 3, { slavePos: '0-1-100', binlogState: '0-1-100' });
    expect(mariadbErrant(latest, [other])).toEqual([]);
    // A local write while lagging, later hidden in gtid_binlog_pos by the master's next GTIDs.
    const hidden = mariadbState('hidden', 4, {
      slavePos: '0-1-100',
      binlogPos: '0-1-100',
      binlogState: '0-4-91,0-1-100',
    });
    expect(mariadbErrant(hidden, [latest, other])).toEqual(['0-4-91']);
    const domain = mariadbState('domain', 3, { slavePos: '0-1-100', binlogState: '0-1-100,7-3-2' });
    expect(mariadbErrant(domain, [latest])).toEqual(['7-3-2']);
    // Written by server 4 when it was the master: others keep it in their binlog state.
    const formerMaster = mariadbState('former', 4, { slavePos: '0-1-100', binlogState: '0-4-50,0-1-100' });
    const withHistory = mariadbState('h', 3, { slavePos: '0-1-100', binlogState: '0-4-50,0-1-100' });
    expect(mariadbErrant(formerMaster, [withHistory])).toEqual([]);
  });

  it('MySQL: the most advanced replica by GTID sets (executed ∪ retrieved); errant = executed that neither the master uuid nor any other server has', () => {
    const a = mysqlState('a', `${U1}:1-100`, `${U1}:90-110`);
    const b = mysqlState('b', `${U1}:1-105`);
    const c = mysqlState('c', `${U1}:1-108,${U3}:1-2`, `${U1}:100-108`);
    const { latest } = orderByGtid([a, b], 'mysql');
    expect(latest.map((s) => s.name)).toEqual(['a']);
    expect(mysqlErrant(c, [a, b]).toString()).toBe(`${U3}:1-2`);
    // The latest replica's extra master GTIDs are not errant.
    expect(mysqlErrant(a, [b]).isEmpty()).toBe(true);
    // Old history from another former master that everybody has is not errant.
    const d = mysqlState('d', `${U1}:1-100,${U2}:1-30`);
    const e = mysqlState('e', `${U1}:1-90,${U2}:1-30`);
    expect(mysqlErrant(d, [e]).isEmpty()).toBe(true);
    expect(findErrantTransactions([c, a, b], [], 'mysql')).toEqual([{ server: 'c', gtids: `${U3}:1-2` }]);
  });
});

// ---------------------------------------------------------------------------------------
// MySQL 8.4 GTID failover at the mysql2 boundary.

function fakeTopology(opts: { errantOnC?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mha-fake-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'app1.cnf');
  writeFileSync(
    conf,
    [
      '[server default]',
      'user=mha',
      'password=secret-pw',
      'repl_user=repl',
      'repl_password=repl-pw',
      `manager_workdir=${join(dir, 'work')}`,
      `manager_log=${join(dir, 'manager.log')}`,
      '[server1]',
      'hostname=10.99.0.1',
      '[server2]',
      'hostname=10.99.0.2',
      'candidate_master=1',
      '[server3]',
      'hostname=10.99.0.3',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const v = '8.4.3';
  fakeNetwork.add({ host: '10.99.0.1', version: v, serverId: 1, uuid: U1, executed: `${U1}:1-120`, dead: true });
  // The candidate lags (executed 1-100, received up to 110); server3 received everything.
  fakeNetwork.add({
    host: '10.99.0.2',
    version: v,
    serverId: 2,
    uuid: U2,
    executed: `${U1}:1-100`,
    readOnly: true,
    replica: { sourceHost: '10.99.0.1', sourceUuid: U1, autoPosition: true, retrieved: `${U1}:1-110` },
  });
  fakeNetwork.add({
    host: '10.99.0.3',
    version: v,
    serverId: 3,
    uuid: U3,
    executed: opts.errantOnC ? `${U1}:1-118,${U3}:1` : `${U1}:1-118`,
    readOnly: true,
    replica: { sourceHost: '10.99.0.1', sourceUuid: U1, autoPosition: true, retrieved: `${U1}:1-120` },
  });
  const config = loadConfig({ appFile: conf, globalFile: null });
  const log = new ManagerLog(join(dir, 'manager.log'));
  const noFiles = {} as FileAccess;
  return {
    dir,
    run: (extra: Partial<Parameters<typeof runDeadMasterFailover>[0]> = {}) =>
      runDeadMasterFailover({
        config,
        deadMaster: config.servers[0],
        log,
        accessFor: () => noFiles,
        sshReachable: false,
        ...extra,
      }),
    logText: () => readFileSync(join(dir, 'manager.log'), 'utf8'),
  };
}

describe('MySQL 8.4 GTID failover at a fake mysql2 boundary (no MySQL server here)', () => {
  it('new master catches up from the most advanced replica by auto-position, every replica ends on SOURCE_AUTO_POSITION=1, nothing in the 8.4-removed syntax', async () => {
    const t = fakeTopology();
    const report = await t.run();
    expect(report.exitCode, `${report.error}\n${t.logText().slice(-3000)}`).toBe(0);
    expect(report.gtidMode).toBe('mysql');
    expect(report.newMaster).toBe('10.99.0.2(10.99.0.2:3306)');
    expect(report.latestGtid).toBe(`${U1}:1-120`);
    expect(report.changeMasterStatement).toBe(
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.99.0.2', SOURCE_PORT=3306, SOURCE_AUTO_POSITION=1, SOURCE_USER='repl', SOURCE_PASSWORD='xxx';",
    );
    const s2 = fakeNetwork.get('10.99.0.2')!;
    const s3 = fakeNetwork.get('10.99.0.3')!;
    // Both survivors executed everything the most advanced one had received.
    expect(s2.executed.toString()).toBe(`${U1}:1-120`);
    expect(s3.executed.toString()).toBe(`${U1}:1-120`);
    expect(s2.readOnly).toBe(false);
    expect(s3.readOnly).toBe(true);
    expect(s2.replica).toBeUndefined();
    expect(s3.replica).toMatchObject({ sourceHost: '10.99.0.2', autoPosition: true, io: true, sql: true });
    const q2 = s2.statements();
    // The candidate: catch up from 10.99.0.3 by auto-position (bounded wait), stop, open.
    const i = q2.findIndex((q) => q.startsWith("CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.99.0.3'"));
    expect(i).toBeGreaterThan(0);
    expect(q2[i]).toBe(
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.99.0.3', SOURCE_PORT=3306, SOURCE_AUTO_POSITION=1, SOURCE_USER='repl', SOURCE_PASSWORD='repl-pw'",
    );
    expect(q2.slice(i + 1)).toEqual(
      expect.arrayContaining([
        'START REPLICA',
        `SELECT WAIT_FOR_EXECUTED_GTID_SET('${U1}:1-120', 60) AS r`,
        'STOP REPLICA',
        'SHOW BINARY LOG STATUS',
        'SET GLOBAL read_only=0',
        'RESET REPLICA ALL',
      ]),
    );
    expect(q2.indexOf('SET GLOBAL read_only=0')).toBeGreaterThan(
      q2.indexOf(`SELECT WAIT_FOR_EXECUTED_GTID_SET('${U1}:1-120', 60) AS r`),
    );
    const q3 = s3.statements();
    expect(q3).toContain(`SELECT WAIT_FOR_EXECUTED_GTID_SET('${U1}:1-120', 60) AS r`);
    expect(q3).toContain(
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.99.0.2', SOURCE_PORT=3306, SOURCE_AUTO_POSITION=1, SOURCE_USER='repl', SOURCE_PASSWORD='repl-pw'",
    );
    for (const q of [...q2, ...q3]) expect(q).not.toMatch(/\b(SLAVE|MASTER_|CHANGE MASTER|SHOW MASTER STATUS)\b/);
    expect(t.logText()).not.toContain('repl-pw');
  });

  it('errant transactions on a MySQL replica refuse the failover before anything is changed', async () => {
    const t = fakeTopology({ errantOnC: true });
    const report = await t.run();
    expect(report.exitCode).toBe(1);
    expect(report.errantTransactions).toEqual([
      { server: '10.99.0.3(10.99.0.3:3306)', gtids: `${U3}:1`, action: 'refused' },
    ]);
    for (const h of ['10.99.0.2', '10.99.0.3']) {
      const qs = fakeNetwork.get(h)!.statements();
      expect(qs.filter((q) => /^(STOP|START|CHANGE|RESET|SET GLOBAL)/.test(q))).toEqual([]);
    }
  });

  it('every GTID wait is bounded: a new master that cannot catch up stops the failover with a timeout', async () => {
    const t = fakeTopology();
    fakeNetwork.get('10.99.0.3')!.stuck = true; // its SQL thread never applies what it received
    const report = await t.run({ gtidWaitTimeoutSec: 2 });
    expect(report.exitCode).toBe(1);
    expect(report.error).toMatch(/did not execute .* within 2 s \(timeout\)/);
    expect(fakeNetwork.get('10.99.0.2')!.readOnly).toBe(true);
  });
});
