import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyRecoveryPlan } from '../../src/engine/recover.js';
import { planRecovery } from '../../src/engine/recovery-plan.js';
import {
  type InstanceOptions,
  type LabInstance,
  type MariaDbLab,
  mariadbAvailable,
  startLab,
} from '../lab/mariadb-lab.js';
import {
  binlogsOf,
  checksums,
  drainAndStop,
  executedOf,
  positionsOf,
  relayLogsOf,
  waitIoStopped,
} from './recovery-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mha-recovery-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const target = (_lab: MariaDbLab, inst: LabInstance) => ({
  host: inst.host,
  port: inst.port,
  user: 'root',
  password: '',
});

async function threeServers(extra: Partial<InstanceOptions> = {}): Promise<MariaDbLab> {
  const common: InstanceOptions = {
    logSlaveUpdates: true,
    binlogFormat: 'ROW',
    maxAllowedPacket: '64M',
    ...extra,
  };
  const lab = await startLab([
    { name: 'master', serverId: 1, ...common },
    { name: 'latest', serverId: 2, ...common },
    { name: 'target', serverId: 3, ...common },
  ]);
  await lab.setupReplication('master', 'latest');
  await lab.setupReplication('master', 'target');
  return lab;
}

const TYPES_DDL = `CREATE TABLE app.types (
  id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dec1 DECIMAL(20,6), dec2 DECIMAL(5,0),
  dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(2) NULL, yr YEAR,
  b BIT(13), e ENUM('a','b','c'), st SET('x','y','z'),
  vc VARCHAR(300) CHARACTER SET utf8mb4, c CHAR(40) CHARACTER SET utf8mb4, vb VARBINARY(20),
  tx TEXT, bl BLOB, lb LONGBLOB, js JSON)`;

async function typesRow(lab: MariaDbLab, inst: string, i: number) {
  await lab.query(
    inst,
    `INSERT INTO app.types (ti,tu,si,mi,bi,bu,f,d,dec1,dec2,dt,tm,dtm,ts,yr,b,e,st,vc,c,vb,tx,bl,lb,js) VALUES
     (?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?, b'1010101010101',?,?,?,?,?,?,?,?,?)`,
    [
      -100 + i,
      200,
      -32000 + i,
      16000000,
      '-9223372036854775807',
      '18446744073709551615',
      1.5 * i,
      Math.PI * i,
      `${i}123.456789`,
      -i,
      '2024-02-29',
      `-${i}:01:02.345`,
      '1999-12-31 23:59:59.999999',
      '2038-01-19 03:14:07.99',
      2000 + i,
      ['a', 'b', 'c'][i % 3],
      'x,z',
      `héllo ${'€'.repeat(i)}`,
      `chär${i}`,
      Buffer.from([0, 1, 2, i]),
      'text '.repeat(i + 1),
      Buffer.alloc(300, i),
      Buffer.alloc(1000 + i, 7),
      JSON.stringify({ i, a: [1, 'x', null, true], o: { k: 1.5 } }),
    ],
  );
}

describe.skipIf(!mariadbAvailable())(
  'recovery on real MariaDB replicas (engine only: find, diff, concatenate, apply)',
  () => {
    it("I/O thread stopped on the target, master killed: the latest replica's relay logs bring it level — rows, statement context, every column type, a row over 16 MB; applying twice changes nothing", async () => {
      const lab = await threeServers();
      try {
        await lab.query('master', 'CREATE DATABASE app');
        await lab.query('master', 'CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64), n INT)');
        await lab.query('master', TYPES_DDL);
        await lab.query('master', 'CREATE TABLE app.big (id INT PRIMARY KEY, payload LONGBLOB)');
        for (let i = 0; i < 20; i++)
          await lab.query('master', 'INSERT INTO app.t (v, n) VALUES (?, ?)', [`before ${i}`, i]);
        await lab.waitForReplicaCatchUp('target', 'master', 30_000);
        await waitIoStopped(lab, lab.instance('target'));

        // What only the latest replica will receive: row events of every kind…
        for (let i = 0; i < 4; i++) await typesRow(lab, 'master', i);
        await lab.query('master', 'BEGIN');
        for (let i = 0; i < 50; i++)
          await lab.query('master', 'INSERT INTO app.t (v, n) VALUES (?, ?)', [`trx ${i}`, i]);
        await lab.query('master', 'UPDATE app.t SET n = n * 2 WHERE id % 3 = 0');
        await lab.query('master', 'DELETE FROM app.t WHERE id % 7 = 0');
        await lab.query('master', 'COMMIT');
        await lab.query('master', 'INSERT INTO app.big VALUES (1, ?)', [Buffer.alloc(17 * 1024 * 1024, 'z')]);
        // …and statements that only replay correctly with their session context.
        const stmt = [
          'USE app',
          "SET SESSION binlog_format='STATEMENT'",
          "SET SESSION time_zone='+05:30'",
          "SET SESSION sql_mode='NO_ZERO_DATE,ANSI_QUOTES'",
          'CREATE TEMPORARY TABLE tmp_ctx (k INT, ts DATETIME)',
          'INSERT INTO tmp_ctx VALUES (1, NOW()), (2, FROM_UNIXTIME(1700000000))',
          "SET @u := 41, @s := _utf8mb4 'ünïcode' COLLATE utf8mb4_bin",
          'INSERT INTO app.t (v, n) SELECT CONCAT(@s, k, ts), @u + k FROM tmp_ctx',
          "INSERT INTO app.t (v, n) VALUES (CONCAT('rand ', FLOOR(RAND(7) * 1000)), LAST_INSERT_ID())",
          "INSERT INTO app.t (v, n) VALUES ('lid', LAST_INSERT_ID(99))",
          'INSERT INTO "t" ("v", "n") VALUES (\'ansi quotes\', 1)',
          'DROP TEMPORARY TABLE tmp_ctx',
          "SET SESSION binlog_format='ROW'",
        ];
        for (const s of stmt) await lab.query('master', s);
        await lab.waitForReplicaCatchUp('latest', 'master', 60_000);
        await lab.killInstance('master');

        const latest = lab.instance('latest');
        const tgt = lab.instance('target');
        await drainAndStop(lab, latest);
        await drainAndStop(lab, tgt);
        const tables = ['app.t', 'app.types', 'app.big'];
        const want = await checksums(lab, latest, tables);
        expect(await checksums(lab, tgt, tables)).not.toEqual(want);

        const plan = await planRecovery({
          target: { positions: await positionsOf(lab, tgt), relayLogs: relayLogsOf(tgt) },
          latest: { positions: await positionsOf(lab, latest), relayLogs: relayLogsOf(latest) },
        });
        expect(plan.pieces.map((p) => p.kind)).toEqual(['read-to-latest']);
        const first = await applyRecoveryPlan(plan, target(lab, tgt), {
          workdir: work,
          name: 's1',
          executed: { mariadb: await executedOf(lab, tgt) },
        });
        expect(first.concat.incompleteTail).toBeNull();
        expect(first.concat.transactions).toBeGreaterThanOrEqual(10);
        expect(first.apply?.transactions).toBe(first.concat.transactions);
        expect(await checksums(lab, tgt, tables)).toEqual(want);
        const [gtids] = await lab.query(tgt, 'SELECT @@gtid_binlog_pos AS p');
        const [latestGtids] = await lab.query(latest, 'SELECT @@gtid_binlog_pos AS p');
        expect(String(gtids.p)).toContain(
          String(latestGtids.p)
            .split(',')
            .find((g) => g.startsWith('0-1-')),
        );

        // The same diff again: every transaction is already executed, nothing changes.
        const again = await planRecovery({
          target: { positions: await positionsOf(lab, tgt), relayLogs: relayLogsOf(tgt) },
          latest: { positions: await positionsOf(lab, latest), relayLogs: relayLogsOf(latest) },
        });
        const second = await applyRecoveryPlan(again, target(lab, tgt), {
          workdir: work,
          name: 's1-again',
          executed: { mariadb: await executedOf(lab, tgt) },
        });
        expect(second.concat.transactions).toBe(0);
        expect(second.concat.skipped.length).toBe(first.concat.transactions);
        expect(second.apply).toBeUndefined();
        expect(await checksums(lab, tgt, tables)).toEqual(want);
      } finally {
        await lab.close();
      }
    });

    it('small max_binlog_size and max_relay_log_size: the diff crosses master binlogs and relay files, with a transaction spanning two relay files', async () => {
      const lab = await threeServers({ maxBinlogSize: 4096, maxRelayLogSize: 4096 });
      try {
        await lab.query('master', 'CREATE DATABASE app');
        await lab.query('master', 'CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200), n INT)');
        await lab.waitForReplicaCatchUp('target', 'master', 30_000);
        await waitIoStopped(lab, lab.instance('target'));
        for (let k = 0; k < 12; k++) {
          await lab.query('master', 'BEGIN');
          // ~9 KB per transaction: more than a relay file holds.
          for (let i = 0; i < 40; i++)
            await lab.query('master', 'INSERT INTO app.t (v, n) VALUES (?, ?)', ['x'.repeat(200), k]);
          await lab.query('master', 'COMMIT');
        }
        await lab.waitForReplicaCatchUp('latest', 'master', 60_000);
        await lab.killInstance('master');
        const latest = lab.instance('latest');
        const tgt = lab.instance('target');
        await drainAndStop(lab, latest);
        await drainAndStop(lab, tgt);
        const relay = relayLogsOf(latest);
        expect(relay.files.length).toBeGreaterThan(10);
        const plan = await planRecovery({
          target: { positions: await positionsOf(lab, tgt), relayLogs: relayLogsOf(tgt) },
          latest: { positions: await positionsOf(lab, latest), relayLogs: relay },
        });
        const r = await applyRecoveryPlan(plan, target(lab, tgt), {
          workdir: work,
          name: 's2',
          executed: { mariadb: await executedOf(lab, tgt) },
        });
        expect(r.concat.transactions).toBe(12);
        expect(await checksums(lab, tgt, ['app.t'])).toEqual(await checksums(lab, latest, ['app.t']));
      } finally {
        await lab.close();
      }
    });

    it('exec→read: the target received a large transaction but its SQL thread never applied it; the rest comes from the latest replica', async () => {
      const lab = await threeServers({ maxRelayLogSize: 8192 });
      try {
        await lab.query('master', 'CREATE DATABASE app');
        await lab.query('master', 'CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200), n INT)');
        await lab.waitForReplicaCatchUp('target', 'master', 30_000);
        await lab.query('target', 'STOP SLAVE SQL_THREAD');
        await lab.query('master', 'BEGIN');
        for (let i = 0; i < 300; i++)
          await lab.query('master', 'INSERT INTO app.t (v, n) VALUES (?, ?)', ['big trx', i]);
        await lab.query('master', 'COMMIT');
        await lab.waitForReplicaCatchUp('latest', 'master', 30_000);
        // The target's I/O thread got the large transaction; stop it before the next ones.
        for (let i = 0; i < 500; i++) {
          const s = await lab.slaveStatus('target');
          const m = await lab.masterStatus('master');
          if (s?.Master_Log_File === m.file && Number(s?.Read_Master_Log_Pos) === m.pos) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        await waitIoStopped(lab, lab.instance('target'));
        for (let i = 0; i < 30; i++) await lab.query('master', 'UPDATE app.t SET n = n + 1 WHERE id = ?', [i + 1]);
        await lab.waitForReplicaCatchUp('latest', 'master', 30_000);
        await lab.killInstance('master');
        const latest = lab.instance('latest');
        const tgt = lab.instance('target');
        await drainAndStop(lab, latest);
        const positions = await positionsOf(lab, tgt);
        expect(positions.exec).not.toEqual(positions.read);
        await lab.query(tgt, 'STOP SLAVE');
        const plan = await planRecovery({
          target: { positions, relayLogs: relayLogsOf(tgt) },
          latest: { positions: await positionsOf(lab, latest), relayLogs: relayLogsOf(latest) },
        });
        expect(plan.pieces.map((p) => p.kind)).toEqual(['exec-to-read', 'read-to-latest']);
        const r = await applyRecoveryPlan(plan, target(lab, tgt), {
          workdir: work,
          name: 's3',
          executed: { mariadb: await executedOf(lab, tgt) },
        });
        expect(r.concat.transactions).toBe(31);
        expect(await checksums(lab, tgt, ['app.t'])).toEqual(await checksums(lab, latest, ['app.t']));
      } finally {
        await lab.close();
      }
    });

    it("the dead master's binlog tail — events no replica received — is applied to the new master, then everything to the other replica", async () => {
      const lab = await threeServers({ maxBinlogSize: 8192 });
      try {
        await lab.query('master', 'CREATE DATABASE app');
        await lab.query('master', 'CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200), n INT)');
        for (let i = 0; i < 10; i++) await lab.query('master', 'INSERT INTO app.t (v, n) VALUES (?, ?)', ['base', i]);
        await lab.waitForReplicaCatchUp('latest', 'master', 30_000);
        await lab.waitForReplicaCatchUp('target', 'master', 30_000);
        await waitIoStopped(lab, lab.instance('target'));
        for (let i = 0; i < 40; i++)
          await lab.query('master', 'INSERT INTO app.t (v, n) VALUES (?, ?)', ['latest has it', i]);
        await lab.waitForReplicaCatchUp('latest', 'master', 30_000);
        await waitIoStopped(lab, lab.instance('latest'));
        for (let i = 0; i < 60; i++)
          await lab.query('master', 'INSERT INTO app.t (v, n) VALUES (?, ?)', ['only the master', i]);
        const want = await checksums(lab, lab.instance('master'), ['app.t']);
        const masterInst = lab.instance('master');
        await lab.killInstance(masterInst);

        const latest = lab.instance('latest');
        const tgt = lab.instance('target');
        await drainAndStop(lab, latest);
        await drainAndStop(lab, tgt);
        const latestPositions = await positionsOf(lab, latest);
        const master = binlogsOf(masterInst);
        const toNew = await planRecovery({
          target: { positions: latestPositions, relayLogs: relayLogsOf(latest) },
          master: { ...master, files: master.files },
        });
        expect(toNew.pieces.map((p) => p.kind)).toEqual(['master-tail']);
        const r1 = await applyRecoveryPlan(toNew, target(lab, latest), {
          workdir: work,
          name: 's4-new-master',
          executed: { mariadb: await executedOf(lab, latest) },
        });
        expect(r1.concat.transactions).toBe(60);
        expect(await checksums(lab, latest, ['app.t'])).toEqual(want);

        const toOther = await planRecovery({
          target: { positions: await positionsOf(lab, tgt), relayLogs: relayLogsOf(tgt) },
          latest: { positions: latestPositions, relayLogs: relayLogsOf(latest) },
          master,
        });
        expect(toOther.pieces.map((p) => p.kind)).toEqual(['read-to-latest', 'master-tail']);
        const r2 = await applyRecoveryPlan(toOther, target(lab, tgt), {
          workdir: work,
          name: 's4-other',
          executed: { mariadb: await executedOf(lab, tgt) },
        });
        expect(r2.concat.transactions).toBe(100);
        expect(await checksums(lab, tgt, ['app.t'])).toEqual(want);
      } finally {
        await lab.close();
      }
    });
  },
);
