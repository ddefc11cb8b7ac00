import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runMha } from './cli-run.js';

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
      for (const k of ['file', 'pos', 'end_log_pos', 'type', 'type_code', 'server_id', 'timestamp', 'length', 'flags', 'data']) {
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
