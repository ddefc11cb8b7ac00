import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplyError, type ApplyTarget, applyEvents, eventsOfFiles } from '../../src/engine/apply.js';
import { FIXTURE_ROOT, materializeFixtureDir } from '../fixture-dirs.js';
import { type LabInstance, type MariaDbLab, mariadbAvailable, startLab } from '../lab/mariadb-lab.js';

const manifest = JSON.parse(readFileSync(join(FIXTURE_ROOT, 'mariadb-10.11/manifest.json'), 'utf8')) as {
  checksumTable: { master: Record<string, string | null> };
  finalMasterStatus: { file: string; pos: number };
  variables: { master: { gtid_binlog_pos: string } };
  bigRow: { bytes: number };
};

const fx = materializeFixtureDir('mariadb-10.11/master');
afterAll(() => fx.cleanup());
const binlog = (n: number) => join(fx.dir, `mariadb-bin.00000${n}`);
const ALL = [1, 2, 3, 4, 5].map(binlog);

describe('applyEvents dry run (writeSqlScript)', () => {
  it('renders every recorded binlog as SQL text without a server', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    // dryRun never connects: the target is an unroutable documentation address.
    const summary = await applyEvents({ host: '192.0.2.1', user: 'nobody' }, eventsOfFiles(ALL), {
      dryRun: out,
      connectTimeoutMs: 1,
    });
    out.end();
    const text = Buffer.concat(chunks).toString('utf8');

    const statementLines = text.split('\n').filter((l) => !l.startsWith('#') && l.endsWith(';'));
    expect(summary.statements).toBe(280);
    expect(statementLines).toHaveLength(summary.statements);
    expect(summary.transactions).toBe(60);
    expect(summary.bytes).toBeGreaterThan(manifest.bigRow.bytes * (4 / 3));

    expect(text.startsWith('# at mariadb-bin.000001:4\nSET @@session.pseudo_slave_mode=1;\n')).toBe(true);
    expect(text).toContain('SET TIMESTAMP=1795568173;\nSET @@session.pseudo_thread_id=8;\n');
    // The CREATE TRIGGER event carries microseconds (Q_HRNOW).
    expect(text).toContain('SET TIMESTAMP=1795568173.311324;\nCREATE DEFINER=`root`@`%` TRIGGER fx.trg_t_trg_ai');
    expect(text).toContain(
      "# at mariadb-bin.000004:543\n# Q> INSERT INTO fx.t_big (id, payload) VALUES (1, REPEAT('mha-ts fixture big row. ', 700000))\nBINLOG '\n",
    );
    expect(text).toContain('SET @@session.gtid_seq_no=60;\nSTART TRANSACTION;\n');
    expect(text.endsWith('# at mariadb-bin.000005:2740\nCOMMIT;\n')).toBe(true);
    expect(summary.lastCommittedPosition).toMatchObject({ file: 'mariadb-bin.000005', pos: 2771, gtid: '0-1-60' });
  });
});

// Real servers: skipped, not failed, where MariaDB is not installed.
describe.skipIf(!mariadbAvailable())('applyEvents on a real MariaDB 10.11', () => {
  let lab: MariaDbLab | undefined;
  let fresh: LabInstance;
  let dup: LabInstance;
  const target = (inst: LabInstance): ApplyTarget => ({
    host: inst.host,
    port: inst.port,
    user: 'root',
    password: lab!.rootPassword,
  });
  const globalPacket = async (inst: LabInstance) =>
    Number((await lab!.query(inst, 'SELECT @@global.max_allowed_packet AS p'))[0].p);

  beforeAll(async () => {
    lab = await startLab([{ name: 'fresh' }, { name: 'dup' }]);
    [fresh, dup] = lab.instances;
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('applies every recorded master binlog in one session: all tables match the master', async () => {
    const packetBefore = await globalPacket(fresh);
    const log: string[] = [];
    const summary = await applyEvents(target(fresh), eventsOfFiles(ALL), { log: (l) => log.push(l) });
    console.log(
      `applied ${ALL.length} binlogs: ${summary.statements} statements, ${summary.transactions} transactions, ` +
        `${summary.bytes} bytes in ${summary.durationMs} ms`,
    );

    expect(summary.statements).toBe(280);
    expect(summary.transactions).toBe(60);
    expect(summary.incompleteTransactionRolledBack).toBe(false);
    expect(summary.lastCommittedPosition).toMatchObject({
      file: 'mariadb-bin.000005',
      pos: manifest.finalMasterStatus.pos,
    });
    // max_allowed_packet was raised for the 16.8 MB row and put back.
    expect(summary.maxAllowedPacketRestoredTo).toBe(packetBefore);
    expect(await globalPacket(fresh)).toBe(packetBefore);
    expect(log.join('\n')).not.toMatch(/password/i);

    const tables = Object.keys(manifest.checksumTable.master);
    expect(tables.length).toBeGreaterThanOrEqual(10);
    for (const t of tables) {
      const [schema, name] = t.split('.');
      const row = (await lab!.query(fresh, `CHECKSUM TABLE \`${schema}\`.\`${name}\` EXTENDED`))[0];
      expect({ table: t, checksum: row.Checksum == null ? null : String(row.Checksum) }).toEqual({
        table: t,
        checksum: manifest.checksumTable.master[t],
      });
    }
    // GTIDs preserved: the target logged the master's own GTIDs.
    expect((await lab!.query(fresh, 'SELECT @@gtid_binlog_pos AS p'))[0].p).toBe(
      manifest.variables.master.gtid_binlog_pos,
    );
    expect((await lab!.query(fresh, 'SELECT LENGTH(payload) AS n FROM fx.t_big WHERE id = 1'))[0].n).toBe(
      manifest.bigRow.bytes,
    );
  });

  it('stops at the first failing statement with an ApplyError naming the event and the server error', async () => {
    await applyEvents(target(dup), eventsOfFiles([binlog(1), binlog(2)]), { maxAllowedPacket: 0 });
    const packetBefore = await globalPacket(dup);

    // The same binlog again, without GTID skipping: its first row already exists.
    const err = await applyEvents(target(dup), eventsOfFiles([binlog(2)]), { maxAllowedPacket: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(ApplyError);
    const e = err as ApplyError;
    expect(e.reason).toBe('server-error');
    expect(e.file).toBe('mariadb-bin.000002');
    expect(e.offset).toBe(554); // TABLE_MAP + WRITE_ROWS of the first transaction (GTID 0-1-30)
    expect(e.gtid).toBe('0-1-30');
    expect(e.serverError?.code).toBe(1062);
    expect(e.serverError?.sqlMessage).toMatch(/Duplicate entry '10'/);
    expect(e.message).toContain('mariadb-bin.000002:554');
    expect(e.appliedCount).toBeGreaterThan(0);
    expect(e.lastCommittedPosition).toBeUndefined();
    expect(e.lastAppliedPosition).toMatchObject({ file: 'mariadb-bin.000002', pos: 431, gtid: '0-1-30' });
    expect(await globalPacket(dup)).toBe(packetBefore);
    // Nothing of the failed transaction was committed.
    expect((await lab!.query(dup, 'SELECT COUNT(*) AS n FROM fx.t_row WHERE id = 10'))[0].n).toBe(1);
  });

  it('round-trips statement-format session context: latin1 bytes, time zone, user variables, temp tables', async () => {
    // Recorded on `dup` into a binlog of its own, then applied to `fresh`.
    await lab!.query(dup, 'FLUSH BINARY LOGS');
    const file = String((await lab!.query(dup, 'SHOW MASTER STATUS'))[0].File);
    const src = await lab!.connect(dup, { charset: 'LATIN1_SWEDISH_CI' });
    try {
      for (const sql of [
        'SET SESSION binlog_format=STATEMENT',
        'CREATE DATABASE rt',
        'CREATE TABLE rt.t (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(32) CHARACTER SET latin1, ' +
          'u VARCHAR(32) CHARACTER SET utf8mb4, d DOUBLE, ts DATETIME, note VARCHAR(64)) ENGINE=InnoDB',
        "INSERT INTO rt.t (s, note) VALUES ('café', 'latin1 literal?')",
        "SET @v = 'crème', @d = 0.1e0, @i = -7",
        'INSERT INTO rt.t (s, d, note) VALUES (@v, @d, CONCAT(@i))',
        "SET time_zone = '+05:00'",
        'INSERT INTO rt.t (ts, note) VALUES (FROM_UNIXTIME(1700000000), @@time_zone)',
        'SET @@session.auto_increment_increment = 5',
        "INSERT INTO rt.t (u, d) VALUES (CONVERT(_latin1'naïve' USING utf8mb4), RAND(3))",
        "SET sql_mode = ''",
        "INSERT INTO rt.t (note) VALUES ('a string that is far too long for the sixty-four character column, truncated')",
        'CREATE TEMPORARY TABLE rt.tmp (a INT)',
        'INSERT INTO rt.tmp VALUES (41), (42)',
        'BEGIN',
        'INSERT INTO rt.t (d, note) SELECT SUM(a), "from temp" FROM rt.tmp',
        'COMMIT',
        'DROP TEMPORARY TABLE rt.tmp',
      ]) {
        await src.query(sql);
      }
    } finally {
      await src.end();
    }
    // Another session, in utf8mb4: its statements' bytes are UTF-8, not latin1.
    const utf8 = await lab!.connect(dup, { charset: 'UTF8MB4_GENERAL_CI' });
    try {
      await utf8.query('SET SESSION binlog_format=STATEMENT');
      await utf8.query("INSERT INTO rt.t (u, note) VALUES ('äöü € 😀', 'utf8mb4 literal')");
      await utf8.query("SET @w = 'ünï'");
      await utf8.query("INSERT INTO rt.t (u, note) VALUES (@w, 'utf8mb4 variable')");
    } finally {
      await utf8.end();
    }
    await lab!.query(dup, 'FLUSH BINARY LOGS');

    const summary = await applyEvents(target(fresh), eventsOfFiles([join(dup.datadir, file)]), { maxAllowedPacket: 0 });
    expect(summary.statements).toBeGreaterThan(20);
    const sum = async (inst: LabInstance) =>
      String((await lab!.query(inst, 'CHECKSUM TABLE rt.t EXTENDED'))[0].Checksum);
    expect(await sum(fresh)).toBe(await sum(dup));
    const rows = await lab!.query(fresh, 'SELECT id, HEX(s) AS s, u, d, ts, note FROM rt.t ORDER BY id');
    expect(rows.map((r) => r.s)).toContain('636166E9');
    expect(rows.map((r) => r.u)).toEqual(expect.arrayContaining(['äöü € 😀', 'ünï']));
    expect(rows.find((r) => r.note === 'from temp')?.d).toBe(83);
  });

  it('applies the replica relay logs (interleaved format descriptions, I/O thread restart) to the same result', async () => {
    const relay = materializeFixtureDir('mariadb-10.11/replica');
    try {
      await lab!.query(dup, 'DROP DATABASE IF EXISTS fx');
      await lab!.query(dup, 'RESET MASTER');
      const files = readFileSync(join(relay.dir, 'relay-bin.index'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => join(relay.dir, l.split('/').pop()!));
      const summary = await applyEvents(target(dup), eventsOfFiles(files));
      expect(summary.transactions).toBe(60);
      // Relay-log coordinates, with the master's position alongside.
      expect(summary.lastCommittedPosition).toMatchObject({
        file: 'relay-bin.000017',
        endLogPos: manifest.finalMasterStatus.pos,
        gtid: '0-1-60',
      });
      for (const [t, expected] of Object.entries(manifest.checksumTable.master)) {
        const row = (await lab!.query(dup, `CHECKSUM TABLE ${t} EXTENDED`))[0];
        expect({ table: t, checksum: String(row.Checksum) }).toEqual({ table: t, checksum: expected });
      }
    } finally {
      relay.cleanup();
    }
  });
});
