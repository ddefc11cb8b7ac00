import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBuffer } from '../native-free-parsers/src/index.js';
import { runMha } from './cli-run.js';
import { materializeFixtureDir } from './fixture-dirs.js';

const PERCONA = 'fixtures/external/percona-binlog-server';
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `0-1-${from + i}`);

describe('mha binlog diff', () => {
  const master = materializeFixtureDir('mariadb-10.11/master');
  const replica = materializeFixtureDir('mariadb-10.11/replica');
  const replicaBinlog = materializeFixtureDir('mariadb-10.11/replica-binlog');
  const out = mkdtempSync(join(tmpdir(), 'mha-diff-'));
  afterAll(() => {
    master.cleanup();
    replica.cleanup();
    replicaBinlog.cleanup();
    rmSync(out, { recursive: true, force: true });
  });
  const m = (n: number) => join(master.dir, `mariadb-bin.00000${n}`);
  const relayUpTo = (n: number) =>
    Array.from({ length: n }, (_, i) => join(replica.dir, `relay-bin.${String(i + 1).padStart(6, '0')}`));

  it('by GTID: what the master has beyond its first three binlogs (listing + summary)', async () => {
    const r = await runMha(['binlog', 'diff', '--base', m(1), m(2), m(3), '--ahead', master.dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^# file \S+mariadb-bin\.000004\n# at 389\n#\d{6} [\d:]{8} server id 1 {2}end_log_pos 431 {2}MARIADB_GTID\tGTID 0-1-51\n/,
    );
    expect(r.stdout).not.toContain('GTID 0-1-50\n');
    expect(r.stdout).toContain('# base: 3 binlog file(s); gtids 0-1-50; master position mariadb-bin.000003:5371\n');
    expect(r.stdout).toContain('# missing from base: 10 transaction(s), 43 events, 16802657 bytes (matched by gtid)\n');
    const j = JSON.parse(
      (await runMha(['binlog', 'diff', '--json', '--base', m(1), m(2), m(3), '--ahead', master.dir])).stdout,
    );
    expect(j.match).toBe('gtid');
    expect(j.transactions.map((t: { gtid: string }) => t.gtid)).toEqual(range(51, 60));
    expect(j.transactions[0]).toMatchObject({
      start: 389,
      end: 16800664,
      master_file: 'mariadb-bin.000004',
      bytes: 16800275,
    });
    expect(j.base).toMatchObject({
      kind: 'binlog',
      gtids: { mariadb: '0-1-50' },
      position: { file: 'mariadb-bin.000003', pos: 5371 },
    });
  });

  it("a replica's relay logs against the master: by GTID and by master position agree", async () => {
    const base = relayUpTo(10);
    const gtid = JSON.parse(
      (await runMha(['binlog', 'diff', '--json', '--base', ...base, '--ahead', master.dir])).stdout,
    );
    const pos = JSON.parse(
      (await runMha(['binlog', 'diff', '--json', '--match', 'position', '--base', ...base, '--ahead', master.dir]))
        .stdout,
    );
    expect(gtid.base.kind).toBe('relay');
    expect(pos.match).toBe('position');
    expect(pos.base.position).toEqual({ file: 'mariadb-bin.000003', pos: 5371 });
    expect(pos.transactions.map((t: { gtid: string }) => t.gtid)).toEqual(range(51, 60));
    expect(pos.transactions.map((t: { start: number }) => t.start)).toEqual(
      gtid.transactions.map((t: { start: number }) => t.start),
    );
    // Relay logs on both sides: master coordinates are compared.
    const rr = JSON.parse(
      (
        await runMha([
          'binlog',
          'diff',
          '--json',
          '--match',
          'position',
          '--base',
          ...relayUpTo(6),
          '--ahead',
          replica.dir,
        ])
      ).stdout,
    );
    expect(rr.ahead.kind).toBe('relay');
    expect(rr.base.position).toEqual({ file: 'mariadb-bin.000002', pos: 3886 });
    const first = rr.transactions[0];
    expect(first).toMatchObject({
      gtid: '0-1-40',
      start: 508,
      master_file: 'mariadb-bin.000002',
      master_end_pos: 4115,
    });
    expect(first.file).toMatch(/relay-bin\.000007$/);
    expect(rr.transactions.map((t: { gtid: string }) => t.gtid)).toEqual(range(40, 60));
  });

  it('nothing missing: the replica has all the master wrote', async () => {
    const r = await runMha(['binlog', 'diff', '--json', '--base', replicaBinlog.dir, '--ahead', master.dir]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.missing).toEqual({ transactions: 0, events: 0, bytes: 0 });
    expect(j.match).toBe('none');
  });

  it('MySQL: by GTID set, and by position for logs without GTIDs', async () => {
    const g = JSON.parse(
      (
        await runMha([
          'binlog',
          'diff',
          '--json',
          '--base',
          `${PERCONA}/data_80045_gtid/binlog.000001`,
          '--ahead',
          `${PERCONA}/data_80045_gtid`,
        ])
      ).stdout,
    );
    expect(g.match).toBe('gtid');
    expect(g.base.gtids.mysql).toBe('396e294c-1ca4-11f1-9ae7-00155da79c6b:1-4');
    expect(g.transactions.map((t: { gtid: string }) => t.gtid)).toEqual([
      '396e294c-1ca4-11f1-9ae7-00155da79c6b:5',
      '396e294c-1ca4-11f1-9ae7-00155da79c6b:6',
    ]);
    const p = JSON.parse(
      (
        await runMha([
          'binlog',
          'diff',
          '--json',
          '--base',
          `${PERCONA}/data_80045_position/binlog.000001`,
          '--ahead',
          `${PERCONA}/data_80045_position`,
        ])
      ).stdout,
    );
    expect(p.match).toBe('position');
    expect(p.base.position).toEqual({ file: 'binlog.000001', pos: 1472 });
    expect(p.transactions.map((t: { start: number; gtid: string }) => [t.start, t.gtid])).toEqual(
      [
        [157, 'ANONYMOUS'],
        [489, 'ANONYMOUS'],
      ].map(([s]) => [s, null]),
    );
    // --match gtid on logs without GTIDs is refused.
    const refused = await runMha([
      'binlog',
      'diff',
      '--match',
      'gtid',
      '--base',
      `${PERCONA}/data_80045_position/binlog.000001`,
      '--ahead',
      `${PERCONA}/data_80045_position`,
    ]);
    expect(refused.code).toBe(2);
  });

  it('--output writes the missing transactions as one binlog file', async () => {
    const file = join(out, 'missing.bin');
    const r = await runMha(['binlog', 'diff', '--base', ...relayUpTo(10), '--ahead', replica.dir, '--output', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('# at ');
    expect(r.stdout).toMatch(/# wrote \S+missing\.bin: 10 transaction\(s\), 16802913 bytes\n/);
    const events = parseBuffer(readFileSync(file));
    expect(events.filter((e) => e.type === 'FORMAT_DESCRIPTION')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'MARIADB_GTID').map((e) => (e.data as { gtid: string }).gtid)).toEqual(
      range(51, 60),
    );
    expect(events.some((e) => e.type === 'ROTATE' || e.type === 'MARIADB_GTID_LIST')).toBe(false);
    // Positions are those of the new file, as the server would have written them.
    expect(events.every((e) => e.endLogPos === e.offset + e.length)).toBe(true);
    const hasTool = spawnSync('mariadb-binlog', ['--version']).status === 0;
    if (hasTool) {
      const t = spawnSync('mariadb-binlog', [file], { encoding: 'utf8', maxBuffer: 256 << 20 });
      expect(t.status).toBe(0);
      expect(t.stdout.match(/GTID 0-1-\d+/g)).toEqual(range(51, 60).map((g) => `GTID ${g}`));
    }
    // Nothing missing: still a valid, empty binlog.
    const empty = join(out, 'empty.bin');
    const e = await runMha([
      'binlog',
      'diff',
      '--json',
      '--base',
      master.dir,
      '--ahead',
      master.dir,
      '--output',
      empty,
    ]);
    expect(JSON.parse(e.stdout).output).toMatchObject({ transactions: 0 });
    expect(parseBuffer(readFileSync(empty)).map((x) => x.type)).toEqual(['FORMAT_DESCRIPTION']);
  });

  it('usage and input errors', async () => {
    expect((await runMha(['binlog', 'diff', '--base', master.dir])).code).toBe(1);
    expect((await runMha(['binlog', 'diff', '--base', '-', '--ahead', master.dir])).code).toBe(1);
    expect((await runMha(['binlog', 'diff', '--match', 'maybe', '--base', m(1), '--ahead', m(2)])).code).toBe(1);
    expect((await runMha(['binlog', 'diff', '--base', 'package.json', '--ahead', m(2)])).code).toBe(2);
    // A relay log read without the one that names its master file: position unknown.
    const r = await runMha([
      'binlog',
      'diff',
      '--match',
      'position',
      '--base',
      join(replica.dir, 'relay-bin.000003'),
      '--ahead',
      master.dir,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot tell the master file/);
  });
});
