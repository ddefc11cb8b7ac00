import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMha } from './cli-run.js';
import { materializeFixtureDir } from './fixture-dirs.js';

describe('mha binlog find', () => {
  const replica = materializeFixtureDir('mariadb-10.11/replica');
  afterAll(() => replica.cleanup());
  const find = (...args: string[]) => runMha(['binlog', 'find', '--relay-log-dir', replica.dir, ...args]);

  it('found: the relay file and offset where the events after the master position start', async () => {
    const r = await find('--master-file', 'mariadb-bin.000002', '--master-pos', '1257');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^found: the events after master position mariadb-bin\.000002:1257 start at relay-bin\.000006:1558\n\(scan, \d+ bytes read\)\n$/,
    );
    const j = await find('--master-file', 'mariadb-bin.000002', '--master-pos', '1257', '--json');
    const o = JSON.parse(j.stdout);
    expect(o).toMatchObject({ status: 'found', relay_file: 'relay-bin.000006', offset: 1558, method: 'scan' });
    expect(o.bytes_read).toBeGreaterThan(0);
    expect(o.relay_files).toHaveLength(17);
    // What is there is what follows 1257 on the master: the GTID of 0-1-31.
    const at = await runMha([
      'binlog',
      'inspect',
      '--json',
      '--start-position',
      '1558',
      join(replica.dir, 'relay-bin.000006'),
    ]);
    const first = JSON.parse(at.stdout.split('\n')[0]);
    expect(first).toMatchObject({ type: 'MARIADB_GTID', end_log_pos: 1299, data: { gtid: '0-1-31' } });
  });

  it('fast path with --latest-file/--latest-pos reads only the tail', async () => {
    const r = await find(
      '--master-file',
      'mariadb-bin.000005',
      '--master-pos',
      '1709',
      '--latest-file',
      'mariadb-bin.000005',
      '--latest-pos',
      '2771',
      '--json',
    );
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o).toMatchObject({ status: 'found', relay_file: 'relay-bin.000017', offset: 1632, method: 'fast' });
    expect(o.bytes_read).toBe(2694 - 1632);
  });

  it('has-all: exit 0 and a distinct status', async () => {
    const r = await find('--master-file', 'mariadb-bin.000005', '--master-pos', '2771');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^has-all: the relay logs hold nothing after master position mariadb-bin\.000005:2771/);
    const j = JSON.parse((await find('--master-file', 'mariadb-bin.000005', '--master-pos', '2771', '--json')).stdout);
    expect(j).toMatchObject({ status: 'has-all', relay_file: null, offset: null });
  });

  it('not present: exit 3', async () => {
    const r = await find('--master-file', 'mariadb-bin.000009', '--master-pos', '4');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^not present: no relay log holds master position mariadb-bin\.000009:4/);
    expect(r.stderr).toBe('');
    const j = await find('--master-file', 'mariadb-bin.000002', '--master-pos', '1258', '--json');
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toMatchObject({ status: 'not-present', relay_file: null });
  });

  it('choosing the relay series: --relay-log-base, relay-log.index, the one "relay" series', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mha-relay-'));
    try {
      for (const n of ['000016', '000017'])
        copyFileSync(join(replica.dir, `relay-bin.${n}`), join(dir, `relay-bin.${n}`));
      copyFileSync(join(replica.dir, 'relay-bin.000017'), join(dir, 'mysqld-bin.000001'));
      const args = [
        'binlog',
        'find',
        '--relay-log-dir',
        dir,
        '--master-file',
        'mariadb-bin.000005',
        '--master-pos',
        '1709',
        '--json',
      ];
      const auto = JSON.parse((await runMha(args)).stdout);
      expect(auto).toMatchObject({ status: 'found', relay_file: 'relay-bin.000017', offset: 1632 });
      expect(auto.relay_files).toEqual(['relay-bin.000016', 'relay-bin.000017']);
      const other = JSON.parse((await runMha([...args, '--relay-log-base', 'mysqld-bin'])).stdout);
      expect(other).toMatchObject({ status: 'found', relay_file: 'mysqld-bin.000001', offset: 1632 });
      writeFileSync(join(dir, 'relay-log.index'), './relay-bin.000017\n');
      expect(JSON.parse((await runMha(args)).stdout).relay_files).toEqual(['relay-bin.000017']);
      writeFileSync(join(dir, 'relay-log.index'), './relay-bin.000018\n');
      expect((await runMha(args)).code).toBe(2);
      rmSync(join(dir, 'relay-log.index'));
      copyFileSync(join(replica.dir, 'relay-bin.000017'), join(dir, 'other-relay.000001'));
      const ambiguous = await runMha(args);
      expect(ambiguous.code).toBe(1);
      expect(ambiguous.stderr).toMatch(/several log series .*--relay-log-base/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('usage errors exit 1; a missing directory exits 2', async () => {
    expect((await find('--master-file', 'mariadb-bin.000005')).code).toBe(1);
    expect((await find('--master-file', 'x', '--master-pos', 'abc')).code).toBe(1);
    expect((await find('--master-file', 'x', '--master-pos', '4', '--latest-file', 'x')).code).toBe(1);
    const missing = await runMha([
      'binlog',
      'find',
      '--relay-log-dir',
      '/no/such/dir',
      '--master-file',
      'x',
      '--master-pos',
      '4',
    ]);
    expect(missing.code).toBe(2);
    const h = await runMha(['binlog', 'find', '--help']);
    expect(h.stdout).toMatch(/3 {2}not found/);
  });
});
