import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMha } from './cli-run.js';
import { materializeFixtureDir } from './fixture-dirs.js';

const MARIA = 'fixtures/external/mariadb-poc/domain_id_0/mariadb-repl-bin.000009';
const RELAY = 'fixtures/external/rust_mysql_common/rpl_unfiltered_hidden_gcol.000001';
const COMPRESSED = 'fixtures/external/mysql-binlog-connector-java/mysql-bin.compressed';

const jsonLines = (s: string) =>
  s
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('mha binlog inspect', () => {
  it('lists events like mysqlbinlog', async () => {
    const r = await runMha(['binlog', 'inspect', MARIA]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('# at 4\n');
    expect(r.stdout).toMatch(/server id 10 {2}end_log_pos 256 {2}FORMAT_DESCRIPTION\tserver v 11\.8\.5-MariaDB/);
    expect(r.stdout).toMatch(/# at 912\n#\d{6} \d\d:\d\d:\d\d server id 10 {2}end_log_pos 935 {2}STOP/);
  });

  it('--json gives one object per event with the stable fields', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', MARIA]);
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout);
    expect(events.map((e) => e.pos)).toEqual([4, 256, 299, 349, 391, 546, 588, 719, 761, 912]);
    for (const e of events) {
      for (const k of [
        'file',
        'pos',
        'end_log_pos',
        'type',
        'type_code',
        'server_id',
        'timestamp',
        'length',
        'flags',
        'data',
      ]) {
        expect(e).toHaveProperty(k);
      }
      expect(e.file).toBe(MARIA);
    }
    expect(events[3].type).toBe('MARIADB_GTID');
    expect(events[3].type_code).toBe(162);
    expect(events[3].end_log_pos).toBe(391);
  });

  it('--header-only leaves bodies alone', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', '--header-only', MARIA]);
    const events = jsonLines(r.stdout);
    expect(events).toHaveLength(10);
    expect(events.every((e) => e.data === undefined)).toBe(true);
  });

  it('--start-position / --stop-position select by event offset', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', '--start-position', '349', '--stop-position', '719', MARIA]);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout).map((e) => e.pos)).toEqual([349, 391, 546, 588]);
  });

  it('reads standard input with "-"', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', '-'], { stdin: readFileSync(MARIA) });
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout);
    expect(events).toHaveLength(10);
    expect(events[0].file).toBe('<stdin>');
  });

  it('unwraps MySQL 8 compressed transactions', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', COMPRESSED]);
    const events = jsonLines(r.stdout);
    const inner = events.filter((e) => e.payload_index !== undefined);
    expect(inner.map((e) => e.type)).toEqual(['QUERY', 'TABLE_MAP', 'UPDATE_ROWS', 'XID']);
    expect(inner.every((e) => e.pos === 236 && e.end_log_pos === 0)).toBe(true);
  });

  it('--relay maps relayed events to master coordinates', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', '--relay', RELAY]);
    const events = jsonLines(r.stdout);
    const xid = events.find((e) => e.type === 'XID');
    expect(xid).toMatchObject({ written_by: 'master', master_file: 'master-bin.000001', master_end_pos: 837 });
    expect(events[0]).toMatchObject({ type: 'FORMAT_DESCRIPTION', written_by: 'replica' });
    expect(events.at(-1)).toMatchObject({ type: 'STOP', written_by: 'replica' });
  });

  it('a file that is not a binlog: one line on stderr, exit 2', async () => {
    const r = await runMha(['binlog', 'inspect', 'package.json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/package\.json at offset 0: not a binlog/);
  });

  it('a missing file: exit 2; a truncated file: exit 2 naming the offset', async () => {
    expect((await runMha(['binlog', 'inspect', 'no/such/file'])).code).toBe(2);
    const t = await runMha(['binlog', 'inspect', 'fixtures/external/rust_mysql_common/binlog_truncated_event.000001']);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/at offset 4: input ends inside an event/);
  });

  it('usage errors exit 1; --help documents the exit codes', async () => {
    expect((await runMha(['binlog', 'inspect', '--bogus', MARIA])).code).toBe(1);
    const h = await runMha(['binlog', 'inspect', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Exit codes:[\s\S]*2 {2}bad input/);
  });
});

describe('mha binlog inspect: log sets, rows and filters', () => {
  const master = materializeFixtureDir('mariadb-10.11/master');
  const replica = materializeFixtureDir('mariadb-10.11/replica');
  const series = mkdtempSync(join(tmpdir(), 'mha-series-'));
  afterAll(() => {
    master.cleanup();
    replica.cleanup();
    rmSync(series, { recursive: true, force: true });
  });
  const gtidsOf = (events: { type: string; data: { gtid: string } }[]) =>
    events.filter((e) => e.type === 'MARIADB_GTID').map((e) => e.data.gtid);

  it('a directory is read as its log series, in order, across files', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', master.dir]);
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout);
    const files = [...new Set(events.map((e) => e.file.replace(/^.*\//, '')))];
    expect(files).toEqual([
      'mariadb-bin.000001',
      'mariadb-bin.000002',
      'mariadb-bin.000003',
      'mariadb-bin.000004',
      'mariadb-bin.000005',
    ]);
    const gtids = gtidsOf(events);
    expect(gtids).toHaveLength(60);
    expect(gtids[0]).toBe('0-1-1');
    expect(gtids.at(-1)).toBe('0-1-60');
  });

  it('numeric order of suffixes, never string order: x.999999 before x.1000000 (directory, index, glob)', async () => {
    copyFileSync(join(master.dir, 'mariadb-bin.000001'), join(series, 'x.999999'));
    copyFileSync(join(master.dir, 'mariadb-bin.000002'), join(series, 'x.1000000'));
    const order = (stdout: string) => [...new Set(jsonLines(stdout).map((e) => e.file.replace(/^.*\//, '')))];
    const dir = await runMha(['binlog', 'inspect', '--json', '--header-only', series]);
    expect(dir.code).toBe(0);
    expect(order(dir.stdout)).toEqual(['x.999999', 'x.1000000']);
    // An index naming them in string order, and a shell glob's string order.
    writeFileSync(join(series, 'x.index'), './x.1000000\n./x.999999\n');
    const index = await runMha(['binlog', 'inspect', '--json', '--header-only', join(series, 'x.index')]);
    expect(order(index.stdout)).toEqual(['x.999999', 'x.1000000']);
    const glob = await runMha([
      'binlog',
      'inspect',
      '--json',
      '--header-only',
      join(series, 'x.1000000'),
      join(series, 'x.999999'),
    ]);
    expect(order(glob.stdout)).toEqual(['x.999999', 'x.1000000']);
    // The GTIDs follow: file x.999999 holds 0-1-1..29, x.1000000 0-1-30...
    const full = await runMha(['binlog', 'inspect', '--json', series]);
    const gtids = gtidsOf(jsonLines(full.stdout));
    expect(gtids.slice(28, 31)).toEqual(['0-1-29', '0-1-30', '0-1-31']);
  });

  it('--relay over a relay-log set keeps the master file across relay files', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', '--relay', join(replica.dir, 'relay-bin.index')]);
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout);
    // relay-bin.000003 never names its master file: it continues relay-bin.000002's.
    const intvar = events.find((e) => e.file.endsWith('relay-bin.000003') && e.type === 'INTVAR');
    expect(intvar).toMatchObject({ written_by: 'master', master_file: 'mariadb-bin.000001', master_end_pos: 3866 });
  });

  it('--verbose prints the row images under rows events', async () => {
    const r = await runMha(['binlog', 'inspect', '-v', join(master.dir, 'mariadb-bin.000002')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'WRITE_ROWS_V1\ttable_id 24 (fx.t_row) flags STMT_END_F\n# Note: no SIGNEDNESS metadata: integer columns are decoded as signed\n',
    );
    expect(r.stdout).toContain(
      "### INSERT INTO `fx`.`t_row`\n### SET\n###   @1=10\n###   @2='ten'\n###   @3=10.10\n###   @4='2024-02-29 12:34:56.789'\n",
    );
    expect(r.stdout).toContain('### DELETE FROM `fx`.`t_row`\n### WHERE\n###   @1=2\n');
    const plain = await runMha(['binlog', 'inspect', join(master.dir, 'mariadb-bin.000002')]);
    expect(plain.stdout).not.toContain('###');
  });

  it('--gtid selects whole transactions', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', '--gtid', '0-1-30', master.dir]);
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout);
    expect(events.map((e) => `${e.type}@${e.pos}`)).toEqual([
      'MARIADB_GTID@389',
      'MARIADB_ANNOTATE_ROWS@431',
      'TABLE_MAP@554',
      'WRITE_ROWS_V1@608',
      'MARIADB_ANNOTATE_ROWS@663',
      'TABLE_MAP@754',
      'UPDATE_ROWS_V1@808',
      'MARIADB_ANNOTATE_ROWS@879',
      'TABLE_MAP@935',
      'DELETE_ROWS_V1@989',
      'MARIADB_ANNOTATE_ROWS@1037',
      'TABLE_MAP@1119',
      'WRITE_ROWS_V1@1173',
      'XID@1226',
    ]);
    expect(events.every((e) => e.file.endsWith('mariadb-bin.000002'))).toBe(true);
    const range = await runMha(['binlog', 'inspect', '--json', '--gtid', '0-1-58..60,0-*-2', master.dir]);
    expect(gtidsOf(jsonLines(range.stdout))).toEqual(['0-1-2', '0-1-58', '0-1-59', '0-1-60']);
    const other = await runMha(['binlog', 'inspect', '--json', '--gtid', '0-7-30', master.dir]);
    expect(other.stdout).toBe('');
  });

  it('--gtid takes MySQL GTID sets', async () => {
    const file = 'fixtures/external/percona-binlog-server/data_80045_gtid';
    const r = await runMha(['binlog', 'inspect', '--json', '--gtid', '396e294c-1ca4-11f1-9ae7-00155da79c6b:2:5', file]);
    expect(r.code).toBe(0);
    const gtids = jsonLines(r.stdout)
      .filter((e) => e.type === 'GTID')
      .map((e) => e.data.gtid);
    expect(gtids).toEqual(['396e294c-1ca4-11f1-9ae7-00155da79c6b:2', '396e294c-1ca4-11f1-9ae7-00155da79c6b:5']);
  });

  it('--table and --database select the transactions that touch them', async () => {
    const r = await runMha(['binlog', 'inspect', '--json', '--table', 'fx.t_row', master.dir]);
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout);
    expect(gtidsOf(events)).toEqual(['0-1-24', '0-1-25', '0-1-26', '0-1-27', '0-1-28', '0-1-30', '0-1-53']);
    expect(events.some((e) => e.type === 'FORMAT_DESCRIPTION' || e.type === 'ROTATE')).toBe(false);
    const bare = await runMha(['binlog', 'inspect', '--json', '--table', 't_row', master.dir]);
    expect(bare.stdout).toBe(r.stdout);
    const db = await runMha(['binlog', 'inspect', '--json', '--database', 'fx', master.dir]);
    expect(gtidsOf(jsonLines(db.stdout))).toHaveLength(23);
    expect((await runMha(['binlog', 'inspect', '--database', 'nosuch', master.dir])).stdout).not.toContain('# at');
  });

  it('--type, --server-id and the datetime window select events', async () => {
    const types = await runMha([
      'binlog',
      'inspect',
      '--json',
      '--type',
      'xid,MARIADB_GTID',
      join(master.dir, 'mariadb-bin.000002'),
    ]);
    expect(new Set(jsonLines(types.stdout).map((e) => e.type))).toEqual(new Set(['XID', 'MARIADB_GTID']));
    const own = await runMha([
      'binlog',
      'inspect',
      '--json',
      '--server-id',
      '2',
      join(replica.dir, 'relay-bin.000002'),
    ]);
    expect(jsonLines(own.stdout).map((e) => `${e.type}@${e.pos}`)).toEqual(['FORMAT_DESCRIPTION@4', 'ROTATE@4135']);
    const window = ['--start-datetime', '2022-03-04 15:10:41', '--stop-datetime', '2022-03-04 15:10:48'];
    const w = await runMha(['binlog', 'inspect', '--json', ...window, COMPRESSED]);
    expect(jsonLines(w.stdout).map((e) => e.type)).toEqual([
      'ANONYMOUS_GTID',
      'TRANSACTION_PAYLOAD',
      'QUERY',
      'TABLE_MAP',
      'UPDATE_ROWS',
      'XID',
    ]);
    const zoned = await runMha([
      'binlog',
      'inspect',
      '--json',
      '--start-datetime',
      '2022-03-04T17:10:41+02:00',
      '--stop-datetime',
      '2022-03-04 15:10:48Z',
      COMPRESSED,
    ]);
    expect(zoned.stdout).toBe(w.stdout);
  });

  it('bad filter arguments are usage errors (exit 1)', async () => {
    expect((await runMha(['binlog', 'inspect', '--type', 'NO_SUCH_TYPE', MARIA])).code).toBe(1);
    expect((await runMha(['binlog', 'inspect', '--gtid', 'zzz', MARIA])).code).toBe(1);
    expect((await runMha(['binlog', 'inspect', '--start-datetime', 'yesterday', MARIA])).code).toBe(1);
    expect((await runMha(['binlog', 'inspect', '--header-only', '--table', 't', MARIA])).code).toBe(1);
    expect((await runMha(['binlog', 'inspect', '-', MARIA])).code).toBe(1);
  });

  it('a directory without logs, or an index naming missing files: exit 2', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'mha-empty-'));
    try {
      expect((await runMha(['binlog', 'inspect', empty])).code).toBe(2);
      writeFileSync(join(empty, 'y.index'), './y.000001\n');
      const r = await runMha(['binlog', 'inspect', join(empty, 'y.index')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/y\.000001: cannot read/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
