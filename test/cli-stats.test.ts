import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MHA, ROOT, runMha } from './cli-run.js';
import { materializeFixtureDir } from './fixture-dirs.js';

const MARIA = 'fixtures/external/mariadb-poc/domain_id_0/mariadb-repl-bin.000009';
const COMPRESSED = 'fixtures/external/mysql-binlog-connector-java/mysql-bin.compressed';
const MYSQL_GTID = 'fixtures/external/percona-binlog-server/data_80045_gtid';

describe('mha binlog stats', () => {
  const master = materializeFixtureDir('mariadb-10.11/master');
  afterAll(() => master.cleanup());

  it('--json: types, tables, operations, transactions, time span and GTIDs of a MariaDB master', async () => {
    const r = await runMha(['binlog', 'stats', '--json', '--top', '3', master.dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const s = JSON.parse(r.stdout);
    expect(s.files.map((f: { file: string }) => f.file.replace(/^.*\//, ''))).toEqual([
      'mariadb-bin.000001',
      'mariadb-bin.000002',
      'mariadb-bin.000003',
      'mariadb-bin.000004',
      'mariadb-bin.000005',
    ]);
    expect(s.events).toBe(262);
    expect(s.bytes).toBe(8255 + 5816 + 5420 + 16800713 + 2771 - 5 * 4);
    expect(s.types.WRITE_ROWS_V1).toEqual({ events: 15, bytes: 16801581 });
    expect(s.types.MARIADB_GTID.events).toBe(60);
    expect(s.tables['fx.t_big']).toMatchObject({ events: 2, inserts: 2, updates: 0, deletes: 0, rows_decoded: true });
    expect(s.tables['fx.t_row']).toMatchObject({ events: 9, inserts: 7, updates: 5, deletes: 3 });
    expect(s.operations.rows).toEqual({
      insert: { events: 15, bytes: 16801581, rows: 21 },
      update: { events: 6, bytes: 1482, rows: 12 },
      delete: { events: 6, bytes: 540, rows: 10 },
    });
    expect(s.operations.statements['CREATE TABLE'].events).toBe(12);
    expect(s.operations.statements['CREATE TRIGGER'].events).toBe(1);
    expect(s.transactions.count).toBe(60);
    expect(s.transactions.incomplete).toBeNull();
    expect(s.transactions.largest).toHaveLength(3);
    expect(s.transactions.largest[0]).toMatchObject({
      start: 389,
      end: 16800664,
      bytes: 16800275,
      gtid: '0-1-51',
      events: 5,
    });
    expect(s.transactions.largest[0].file).toMatch(/mariadb-bin\.000004$/);
    const hist = s.transactions.size_histogram as { max_bytes: number; count: number }[];
    expect(hist.reduce((n, h) => n + h.count, 0)).toBe(60);
    expect(hist.at(-1)).toEqual({ max_bytes: 2 ** 25, count: 1 });
    expect(s.gtids.mariadb).toEqual([{ domain: 0, server: 1, first: '0-1-1', last: '0-1-60', count: 60 }]);
    expect(s.time.first).toBe(s.time.last);
    expect(new Date(s.time.first * 1000).toISOString()).toBe('2026-11-25T00:56:13.000Z');
  });

  it('text: the same figures, readable', async () => {
    const r = await runMha(['binlog', 'stats', '--top', '2', master.dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^files {9}5: \S+mariadb-bin\.000001 … \S+mariadb-bin\.000005\n/);
    expect(r.stdout).toContain('transactions  60 (16 MiB)\n');
    expect(r.stdout).toContain('gtids         0-1-1 .. 0-1-60 (60)\n');
    expect(r.stdout).toMatch(/\n {2}WRITE_ROWS_V1 +15 +16801581\n/);
    expect(r.stdout).toMatch(/\n {2}insert rows +15 +21 +16801581\n/);
    expect(r.stdout).toMatch(/\n {2}fx\.t_row +9 +617 +7 +5 +3\n/);
    expect(r.stdout).toMatch(
      /largest transactions\n +bytes +events +start +end +gtid +file\n {2}16800275 +5 +389 +16800664 +0-1-51 +\S+mariadb-bin\.000004\n/,
    );
    expect(r.stdout).toMatch(/≤ 32 MiB +1 +#\n/);
  });

  it('MySQL: GTID set, anonymous transactions, compressed payloads', async () => {
    const g = JSON.parse((await runMha(['binlog', 'stats', '--json', MYSQL_GTID])).stdout);
    expect(g.gtids.mysql).toBe('396e294c-1ca4-11f1-9ae7-00155da79c6b:1-6');
    expect(g.gtids.mysql_count).toBe(6);
    expect(g.transactions.count).toBe(6);
    expect(g.tables['test.t1']).toBeDefined();
    const c = JSON.parse((await runMha(['binlog', 'stats', '--json', COMPRESSED])).stdout);
    expect(c.gtids.anonymous).toBe(1);
    expect(c.transactions.count).toBe(1);
    // One transaction: its on-disk bytes, the payload event included, inner events not twice.
    expect(c.transactions.largest[0]).toMatchObject({ start: 157, end: 724, bytes: 567 });
    expect(c.tables['demo.movies']).toMatchObject({ events: 1, updates: 1 });
    expect(c.time).toEqual({ first: 1646406606, last: 1646406648, seconds: 42 });
  });

  it('reads standard input', async () => {
    const r = await runMha(['binlog', 'stats', '--json', '-'], { stdin: readFileSync(MARIA) });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.files).toEqual([{ file: '<stdin>', bytes: null }]);
    expect(s.transactions.count).toBe(3);
    expect(s.gtids.mariadb).toEqual([{ domain: 0, server: 10, first: '0-10-292194', last: '0-10-292196', count: 3 }]);
    expect(s.operations.statements.GRANT.events).toBe(2);
  });

  it('bad input: exit 2 with one line on stderr', async () => {
    const r = await runMha(['binlog', 'stats', 'package.json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await runMha(['binlog', 'stats', 'no/such/file'])).code).toBe(2);
    const t = await runMha(['binlog', 'stats', 'fixtures/external/rust_mysql_common/binlog_truncated_event.000001']);
    expect(t.code).toBe(2);
    expect((await runMha(['binlog', 'stats', '--top', '0', MARIA])).code).toBe(1);
  });
});

describe('progress bar', () => {
  const master = materializeFixtureDir('mariadb-10.11/master');
  afterAll(() => master.cleanup());
  const big = () => join(master.dir, 'mariadb-bin.000004');

  it('nothing on stderr when stderr is not a terminal, even for a large input', async () => {
    for (const args of [
      ['binlog', 'stats', big()],
      ['binlog', 'inspect', big()],
      ['binlog', 'diff', '--base', join(master.dir, 'mariadb-bin.000001'), '--ahead', master.dir],
    ]) {
      const r = await runMha(args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
    }
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  /** Run mha with a pseudo-terminal as stderr (stdout to /dev/null) and return what the terminal got. */
  const onTty = (args: string[]) => {
    const cmd = `'${process.execPath}' '${MHA}' ${args.map((a) => `'${a}'`).join(' ')} >/dev/null`;
    const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    return r.stdout;
  };

  it.skipIf(!hasScript)('a bar on a terminal for inputs over 4 MiB, none with --json or for small inputs', () => {
    expect(onTty(['binlog', 'stats', big()])).toMatch(/reading logs \[.*\] \d+% \| [\d.]+\/16\.0 MiB/);
    expect(onTty(['binlog', 'stats', '--json', big()])).not.toMatch(/reading logs/);
    expect(onTty(['binlog', 'stats', join(master.dir, 'mariadb-bin.000001')])).not.toMatch(/reading logs/);
  });
});
