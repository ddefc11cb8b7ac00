/**
 * Server dialects: which statements each server version gets, chosen from its VERSION()
 * string — and the statements that really reach the mysql2 boundary, recorded by fake
 * servers (test/mysql/fake-mysql.ts) that reject the syntax their version lacks.
 *
 * Verified against real servers elsewhere: MariaDB 10.11 only (test/manager/*). Every MySQL
 * version here (5.6, 5.7, 8.0.21/22/23/26, 8.2, 8.4, 9.x) is verified only at this fake
 * boundary: statement choice and order, not server behaviour.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/manager/config/index.js';
import { ManagerLog } from '../../src/manager/log.js';
import { runOnlineSwitch } from '../../src/manager/switchover.js';
import { inspectServer } from '../../src/manager/topology.js';
import {
  changeSourceStatement,
  gtidWaitStatement,
  interpretWait,
  positionWaitStatement,
  readOnlyStatements,
} from '../../src/mysql/replication-sql.js';
import { ServerConnection } from '../../src/mysql/server-connection.js';
import { parseServerVersion, replicationDialect } from '../../src/mysql/server-version.js';
import { fakeNetwork } from './fake-mysql.js';

vi.mock('mysql2/promise', async (importOriginal) => {
  const real = await importOriginal<typeof import('mysql2/promise')>();
  const { fakeNetwork: net } = await import('./fake-mysql.js');
  const createConnection = ((opts: { host?: string }) =>
    net.has(opts.host) ? net.connect(opts) : real.createConnection(opts as never)) as typeof real.createConnection;
  return { ...real, createConnection, default: { ...real, createConnection } };
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  fakeNetwork.reset();
});

const d = (v: string) => replicationDialect(parseServerVersion(v));

describe('dialect chosen from the version string', () => {
  const table: Array<[string, Partial<ReturnType<typeof d>>]> = [
    [
      '10.11.19-MariaDB-0+deb12u1-log',
      {
        flavor: 'mariadb',
        showReplicaStatus: 'SHOW SLAVE STATUS',
        changeSource: 'CHANGE MASTER TO',
        sourceOption: 'MASTER',
        showBinaryLogStatus: 'SHOW MASTER STATUS',
        positionWaitFunction: 'MASTER_POS_WAIT',
        gtidWaitFunction: 'MASTER_GTID_WAIT',
        gtidKind: 'mariadb',
        superReadOnly: false,
        resetReplicaAll: 'RESET SLAVE ALL',
      },
    ],
    [
      '11.4.3-MariaDB',
      { flavor: 'mariadb', showReplicaStatus: 'SHOW SLAVE STATUS', gtidKind: 'mariadb', superReadOnly: false },
    ],
    [
      '10.3.39-MariaDB-0ubuntu0.20.04.2',
      { flavor: 'mariadb', changeSource: 'CHANGE MASTER TO', stopReplica: 'STOP SLAVE' },
    ],
    ['5.5.5-10.6.12-MariaDB', { flavor: 'mariadb', gtidWaitFunction: 'MASTER_GTID_WAIT' }],
    ['5.5.62-log', { flavor: 'mysql', gtidKind: 'none', superReadOnly: false, showReplicaStatus: 'SHOW SLAVE STATUS' }],
    [
      '5.6.51-log',
      {
        flavor: 'mysql',
        gtidKind: 'mysql',
        superReadOnly: false,
        gtidWaitFunction: 'WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS',
      },
    ],
    [
      '5.7.44-log',
      {
        flavor: 'mysql',
        showReplicaStatus: 'SHOW SLAVE STATUS',
        startReplica: 'START SLAVE',
        changeSource: 'CHANGE MASTER TO',
        sourceOption: 'MASTER',
        showBinaryLogStatus: 'SHOW MASTER STATUS',
        positionWaitFunction: 'MASTER_POS_WAIT',
        gtidWaitFunction: 'WAIT_FOR_EXECUTED_GTID_SET',
        gtidKind: 'mysql',
        superReadOnly: true,
      },
    ],
    ['8.0.21', { showReplicaStatus: 'SHOW SLAVE STATUS', stopReplica: 'STOP SLAVE', changeSource: 'CHANGE MASTER TO' }],
    [
      '8.0.22',
      {
        showReplicaStatus: 'SHOW REPLICA STATUS',
        stopReplica: 'STOP REPLICA',
        startReplica: 'START REPLICA',
        resetReplica: 'RESET REPLICA',
        showReplicas: 'SHOW REPLICAS',
        changeSource: 'CHANGE MASTER TO',
        sourceOption: 'MASTER',
      },
    ],
    [
      '8.0.23',
      { changeSource: 'CHANGE REPLICATION SOURCE TO', sourceOption: 'SOURCE', positionWaitFunction: 'MASTER_POS_WAIT' },
    ],
    ['8.0.36-28', { positionWaitFunction: 'SOURCE_POS_WAIT', showBinaryLogStatus: 'SHOW MASTER STATUS' }],
    ['8.2.0', { showBinaryLogStatus: 'SHOW BINARY LOG STATUS', resetBinaryLogs: 'RESET BINARY LOGS AND GTIDS' }],
    [
      '8.4.3',
      {
        showReplicaStatus: 'SHOW REPLICA STATUS',
        changeSource: 'CHANGE REPLICATION SOURCE TO',
        showBinaryLogStatus: 'SHOW BINARY LOG STATUS',
        resetReplicaAll: 'RESET REPLICA ALL',
        positionWaitFunction: 'SOURCE_POS_WAIT',
        gtidWaitFunction: 'WAIT_FOR_EXECUTED_GTID_SET',
        superReadOnly: true,
      },
    ],
    [
      '9.1.0',
      {
        showReplicaStatus: 'SHOW REPLICA STATUS',
        changeSource: 'CHANGE REPLICATION SOURCE TO',
        sourceOption: 'SOURCE',
      },
    ],
  ];
  it.each(table)('%s', (version, expected) => {
    expect(d(version)).toMatchObject(expected);
  });
});

describe('replication statements by dialect', () => {
  const spec = { host: 'db2', port: 3306, user: 'repl', password: "p'w" };
  it('CHANGE MASTER / CHANGE REPLICATION SOURCE, file/position and GTID, password never displayed', () => {
    const maria = changeSourceStatement(d('10.11.19-MariaDB-0+deb12u1-log'), {
      ...spec,
      position: { file: 'mariadb-bin.000002', pos: 1234 },
    });
    expect(maria.sql).toBe(
      'CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_LOG_FILE=?, MASTER_LOG_POS=?, MASTER_USE_GTID=no, MASTER_USER=?, MASTER_PASSWORD=?',
    );
    expect(maria.params).toEqual(['db2', 3306, 'mariadb-bin.000002', 1234, 'repl', "p'w"]);
    expect(maria.display).toBe(
      "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_LOG_FILE='mariadb-bin.000002', MASTER_LOG_POS=1234, MASTER_USE_GTID=no, MASTER_USER='repl', MASTER_PASSWORD='xxx';",
    );
    expect(changeSourceStatement(d('11.4.3-MariaDB'), { ...spec, gtid: 'slave_pos' }).display).toBe(
      "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_USE_GTID=slave_pos, MASTER_USER='repl', MASTER_PASSWORD='xxx';",
    );
    expect(() => changeSourceStatement(d('11.4.3-MariaDB'), { ...spec, gtid: 'auto' })).toThrow(/no auto-position/);
    expect(changeSourceStatement(d('5.7.44-log'), { ...spec, gtid: 'auto' }).sql).toBe(
      'CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_AUTO_POSITION=1, MASTER_USER=?, MASTER_PASSWORD=?',
    );
    expect(changeSourceStatement(d('8.0.21'), { ...spec, position: { file: 'binlog.000003', pos: 4 } }).sql).toBe(
      'CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_LOG_FILE=?, MASTER_LOG_POS=?, MASTER_AUTO_POSITION=0, MASTER_USER=?, MASTER_PASSWORD=?',
    );
    expect(changeSourceStatement(d('8.0.23'), { ...spec, gtid: 'auto' }).sql).toBe(
      'CHANGE REPLICATION SOURCE TO SOURCE_HOST=?, SOURCE_PORT=?, SOURCE_AUTO_POSITION=1, SOURCE_USER=?, SOURCE_PASSWORD=?',
    );
    expect(changeSourceStatement(d('8.4.3'), { ...spec, position: { file: 'binlog.000003', pos: 157 } }).display).toBe(
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2', SOURCE_PORT=3306, SOURCE_LOG_FILE='binlog.000003', SOURCE_LOG_POS=157, SOURCE_AUTO_POSITION=0, SOURCE_USER='repl', SOURCE_PASSWORD='xxx';",
    );
    expect(changeSourceStatement(d('5.5.62'), { ...spec, position: { file: 'b.1', pos: 4 } }).sql).not.toMatch(
      /AUTO_POSITION|USE_GTID/,
    );
  });

  it('waits always carry a timeout; results mean reached / timeout / not replicating', () => {
    expect(positionWaitStatement(d('8.0.21'), { file: 'b.000001', pos: 99 }, 2.5)).toMatchObject({
      sql: 'SELECT MASTER_POS_WAIT(?, ?, ?) AS r',
      params: ['b.000001', 99, 3],
    });
    expect(positionWaitStatement(d('8.4.3'), { file: 'b.000001', pos: 99 }, 10).sql).toBe(
      'SELECT SOURCE_POS_WAIT(?, ?, ?) AS r',
    );
    expect(gtidWaitStatement(d('10.11.19-MariaDB-0+deb12u1-log'), '0-1-5', 0.25).params).toEqual(['0-1-5', 0.25]);
    expect(gtidWaitStatement(d('8.4.3'), 'uuid:1-5', 0.25)).toMatchObject({
      sql: 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r',
      params: ['uuid:1-5', 1],
    });
    expect(interpretWait('MASTER_POS_WAIT', 0)).toBe('reached');
    expect(interpretWait('MASTER_POS_WAIT', '12')).toBe('reached');
    expect(interpretWait('SOURCE_POS_WAIT', -1)).toBe('timeout');
    expect(interpretWait('MASTER_POS_WAIT', null)).toBe('not-replicating');
    expect(interpretWait('MASTER_GTID_WAIT', -1)).toBe('timeout');
    expect(interpretWait('WAIT_FOR_EXECUTED_GTID_SET', 1)).toBe('timeout');
    expect(interpretWait('WAIT_FOR_EXECUTED_GTID_SET', 0)).toBe('reached');
  });

  it('write blocking: super_read_only where it exists (MySQL ≥ 5.7.8), read_only elsewhere', () => {
    expect(readOnlyStatements(d('8.4.3'), true)).toEqual(['SET GLOBAL super_read_only=1']);
    expect(readOnlyStatements(d('5.7.44-log'), true)).toEqual(['SET GLOBAL super_read_only=1']);
    expect(readOnlyStatements(d('5.6.51-log'), true)).toEqual(['SET GLOBAL read_only=1']);
    expect(readOnlyStatements(d('10.11.19-MariaDB-0+deb12u1-log'), true)).toEqual(['SET GLOBAL read_only=1']);
    expect(readOnlyStatements(d('8.4.3'), false)).toEqual(['SET GLOBAL read_only=0']);
  });
});

describe('at the mysql2 boundary (fake servers)', () => {
  const U = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
  const versions: Array<[string, string, string]> = [
    ['10.11.19-MariaDB-0+deb12u1-log', 'SHOW SLAVE STATUS', 'SHOW MASTER STATUS'],
    ['5.7.44-log', 'SHOW SLAVE STATUS', 'SHOW MASTER STATUS'],
    ['8.0.21', 'SHOW SLAVE STATUS', 'SHOW MASTER STATUS'],
    ['8.0.22', 'SHOW REPLICA STATUS', 'SHOW MASTER STATUS'],
    ['8.4.3', 'SHOW REPLICA STATUS', 'SHOW BINARY LOG STATUS'],
    ['9.1.0', 'SHOW REPLICA STATUS', 'SHOW BINARY LOG STATUS'],
  ];
  it.each(versions)('discovery of a %s replica issues %s and %s, and reads its columns', async (version, rs, ms) => {
    const maria = /MariaDB/.test(version);
    fakeNetwork.add({ host: '10.98.0.1', version, serverId: 1, executed: maria ? '0-1-10' : `${U}:1-10` });
    fakeNetwork.add({
      host: '10.98.0.2',
      version,
      serverId: 2,
      executed: maria ? '0-1-9' : `${U}:1-9`,
      readOnly: true,
      replica: {
        sourceHost: '10.98.0.1',
        autoPosition: !maria,
        useGtid: maria ? 'Slave_Pos' : undefined,
        secondsBehind: 3,
      },
    });
    const config = {
      hostname: '10.98.0.2',
      port: 3306,
      user: 'mha',
      password: { reveal: () => 'pw' },
    } as unknown as Parameters<typeof inspectServer>[0];
    const s = await inspectServer(config);
    await s.conn?.close();
    expect(s.error).toBeUndefined();
    const q = fakeNetwork.get('10.98.0.2')!.statements();
    expect(q).toContain(rs);
    expect(q).toContain(ms);
    expect(s.replica).toMatchObject({ masterHost: '10.98.0.1', masterPort: 3306, ioRunning: true, sqlRunning: true });
    expect(s.replica?.secondsBehindMaster).toBe(3);
    expect(s.logSlaveUpdates).toBe(true);
    if (maria) {
      expect(s.replica?.usingGtid).toBe('Slave_Pos');
      expect(s.gtid?.binlogPos).toBe('0-1-10');
    } else {
      expect(s.replica?.autoPosition).toBe(true);
      expect(s.mysqlGtid).toMatchObject({ mode: 'ON', executed: `${U}:1-10` });
    }
  });

  it('the fake itself rejects what a version lacks (so the tests above prove the choice)', async () => {
    fakeNetwork.add({ host: '10.98.0.9', version: '8.4.3', serverId: 9 });
    fakeNetwork.add({ host: '10.98.0.8', version: '8.0.21', serverId: 8 });
    const c84 = await ServerConnection.open({ host: '10.98.0.9', port: 3306, user: 'x' });
    const c80 = await ServerConnection.open({ host: '10.98.0.8', port: 3306, user: 'x' });
    await expect(c84.query('SHOW SLAVE STATUS')).rejects.toThrow(/error in your SQL syntax/);
    await expect(c84.query('SHOW MASTER STATUS')).rejects.toThrow(/error in your SQL syntax/);
    await expect(c80.query('SHOW REPLICA STATUS')).rejects.toThrow(/error in your SQL syntax/);
    expect(await c84.replicaStatus()).toBeUndefined();
    expect(await c80.replicaStatus()).toBeUndefined();
  });

  function fakeCluster(version: string, gtid: boolean) {
    const dir = mkdtempSync(join(tmpdir(), 'mha-dialect-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const conf = join(dir, 'app1.cnf');
    writeFileSync(
      conf,
      [
        '[server default]',
        'user=mha',
        'password=pw',
        'repl_user=repl',
        'repl_password=rpw',
        `manager_workdir=${join(dir, 'work')}`,
        '[server1]',
        'hostname=10.97.0.1',
        '[server2]',
        'hostname=10.97.0.2',
        '[server3]',
        'hostname=10.97.0.3',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const common = { version, gtidMode: gtid ? ('ON' as const) : ('OFF' as const), executed: `${U}:1-50` };
    fakeNetwork.add({ host: '10.97.0.1', serverId: 1, uuid: U, ...common });
    for (const i of [2, 3]) {
      fakeNetwork.add({
        host: `10.97.0.${i}`,
        serverId: i,
        readOnly: true,
        ...common,
        replica: { sourceHost: '10.97.0.1', sourceUuid: U, autoPosition: gtid },
      });
    }
    return { config: loadConfig({ appFile: conf, globalFile: null }), log: new ManagerLog(join(dir, 'switch.log')) };
  }

  it('online switch on MySQL 8.4 with auto-position: super_read_only, FTWRL, WAIT_FOR_EXECUTED_GTID_SET, SOURCE_AUTO_POSITION everywhere', async () => {
    const { config, log } = fakeCluster('8.4.3', true);
    const report = await runOnlineSwitch({
      config,
      log,
      newMaster: { host: '10.97.0.2' },
      origMasterIsNewSlave: true,
      reportFile: null,
    });
    expect(report.exitCode, report.error).toBe(0);
    expect(report.gtidMode).toBe('mysql');
    const orig = fakeNetwork.get('10.97.0.1')!.statements();
    const nm = fakeNetwork.get('10.97.0.2')!.statements();
    const other = fakeNetwork.get('10.97.0.3')!.statements();
    const inOrder = (list: string[], first: string, ...rest: (string | RegExp)[]) => {
      let i = list.indexOf(first);
      expect(i, `${first} in ${list.join(' | ')}`).toBeGreaterThanOrEqual(0);
      for (const r of rest) {
        const j = list.findIndex((x, k) => k > i && (typeof r === 'string' ? x === r : r.test(x)));
        expect(j, `${r} after ${list[i]} in ${list.join(' | ')}`).toBeGreaterThan(i);
        i = j;
      }
    };
    inOrder(
      orig,
      'FLUSH NO_WRITE_TO_BINLOG TABLES',
      'SET GLOBAL super_read_only=1',
      'FLUSH TABLES WITH READ LOCK',
      'SHOW BINARY LOG STATUS',
      'UNLOCK TABLES',
      /^CHANGE REPLICATION SOURCE TO SOURCE_HOST='10\.97\.0\.2', SOURCE_PORT=3306, SOURCE_AUTO_POSITION=1, SOURCE_USER='repl', SOURCE_PASSWORD='rpw'$/,
      'START REPLICA',
    );
    inOrder(
      nm,
      'SHOW REPLICA STATUS',
      /^SELECT WAIT_FOR_EXECUTED_GTID_SET\('.*:1-50', \d+\) AS r$/,
      'STOP REPLICA',
      'SET GLOBAL read_only=0',
      'RESET REPLICA ALL',
    );
    inOrder(other, 'STOP REPLICA', /SOURCE_AUTO_POSITION=1/, 'START REPLICA');
    expect(fakeNetwork.get('10.97.0.1')!.replica).toMatchObject({ sourceHost: '10.97.0.2', autoPosition: true });
    expect(fakeNetwork.get('10.97.0.1')!.superReadOnly).toBe(true);
    expect(fakeNetwork.get('10.97.0.2')!.readOnly).toBe(false);
  });

  it('online switch on MySQL 5.7 by file/position: MASTER_POS_WAIT, CHANGE MASTER TO … MASTER_AUTO_POSITION=0', async () => {
    const { config, log } = fakeCluster('5.7.44-log', false);
    const report = await runOnlineSwitch({ config, log, newMaster: { host: '10.97.0.2' }, reportFile: null });
    expect(report.exitCode, report.error).toBe(0);
    expect(report.gtidMode).toBe('none');
    const nm = fakeNetwork.get('10.97.0.2')!.statements();
    const other = fakeNetwork.get('10.97.0.3')!.statements();
    expect(nm.some((q) => /^SELECT MASTER_POS_WAIT\('binlog\.000001', \d+, \d+\) AS r$/.test(q))).toBe(true);
    expect(nm).toContain('STOP SLAVE');
    expect(nm).toContain('RESET SLAVE ALL');
    expect(
      other.some((q) =>
        /^CHANGE MASTER TO MASTER_HOST='10\.97\.0\.2', MASTER_PORT=3306, MASTER_LOG_FILE='binlog\.000001', MASTER_LOG_POS=\d+, MASTER_AUTO_POSITION=0, MASTER_USER='repl', MASTER_PASSWORD='rpw'$/.test(
          q,
        ),
      ),
    ).toBe(true);
    expect(fakeNetwork.get('10.97.0.1')!.statements()).toContain('SET GLOBAL super_read_only=1');
    expect(report.changeMasterStatement).toMatch(
      /^CHANGE MASTER TO MASTER_HOST='10\.97\.0\.2', MASTER_PORT=3306, MASTER_LOG_FILE='binlog\.000001', MASTER_LOG_POS=\d+, MASTER_USER='repl', MASTER_PASSWORD='xxx';$/,
    );
  });
});
