import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runMha } from './cli-run.js';
import { materializeFixtureDir } from './fixture-dirs.js';

const MARIA = 'fixtures/external/mariadb-poc/domain_id_0/mariadb-repl-bin.000009';

describe('mha binlog sql', () => {
  const master = materializeFixtureDir('mariadb-10.11/master');
  afterAll(() => master.cleanup());

  it('statements with their session context and GTIDs', async () => {
    const r = await runMha(['binlog', 'sql', MARIA]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# at mariadb-repl-bin\.000009:4\nSET @@session\.pseudo_slave_mode=1;\n/);
    expect(r.stdout).toContain(
      '@@session.gtid_domain_id=0, @@session.server_id=10, @@session.gtid_seq_no=292194;\n# at mariadb-repl-bin.000009:391\nSET TIMESTAMP=1767178324;\n',
    );
    expect(r.stdout).toContain(
      "ALTER USER 'sbtest-repl'@'%' IDENTIFIED BY 'MariaDB11!' WITH MAX_USER_CONNECTIONS 1000000000;\n",
    );
    expect(r.stdout).toContain(
      "# at mariadb-repl-bin.000009:761\nSET TIMESTAMP=1767178324;\nGRANT SELECT,UPDATE,DELETE ON `mysql`.`global_priv` TO 'mariadb.sys'@'localhost';\n",
    );
  });

  it('row events as BINLOG statements inside their transaction, across a log set', async () => {
    const r = await runMha(['binlog', 'sql', master.dir]);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/gtid_seq_no=\d+;/g)).toHaveLength(60);
    expect(r.stdout).toContain('@@session.gtid_seq_no=30;\nSTART TRANSACTION;\n');
    expect(r.stdout).toMatch(
      /# at mariadb-bin\.000002:554\n# Q> INSERT INTO fx\.t_row \(id, val, amount, created\) VALUES \(10, 'ten', 10\.10, '2024-02-29 12:34:56\.789'\)\nBINLOG '\n[A-Za-z0-9+/=\n]+';\n/,
    );
    expect(r.stdout).toContain('# at mariadb-bin.000002:1226\nCOMMIT;\n');
    expect(r.stdout).not.toContain('ROLLBACK;\n# incomplete');
  });

  it('--no-gtids, --no-preamble, --sql-log-bin; standard input', async () => {
    const r = await runMha(['binlog', 'sql', '--no-gtids', '--no-preamble', '--sql-log-bin', 'off', '-'], {
      stdin: readFileSync(MARIA),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# at <stdin>:4\nSET @@session\.sql_log_bin=0;\n/);
    expect(r.stdout).not.toContain('gtid_seq_no');
    expect(r.stdout).not.toContain('pseudo_slave_mode');
    expect(r.stdout).toContain("GRANT ALL PRIVILEGES ON `sbtest-repl`.* TO 'sbtest-repl'@'%';\n");
  });

  it('--stop-position: an incomplete last transaction is rolled back', async () => {
    const r = await runMha(['binlog', 'sql', '--stop-position', '1226', `${master.dir}/mariadb-bin.000002`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/# incomplete transaction at the end of the input\nROLLBACK;\n/);
    expect(r.stdout).not.toContain('COMMIT;');
  });

  it('bad input exits 2, usage errors 1', async () => {
    expect((await runMha(['binlog', 'sql', 'package.json'])).code).toBe(2);
    expect((await runMha(['binlog', 'sql', 'no/such/file'])).code).toBe(2);
    expect((await runMha(['binlog', 'sql', '--sql-log-bin', 'maybe', MARIA])).code).toBe(1);
  });

  it('is listed in the binlog help with the exit codes', async () => {
    const h = await runMha(['binlog', '--help']);
    expect(h.code).toBe(0);
    for (const c of ['inspect', 'stats', 'find', 'diff', 'sql']) expect(h.stdout).toMatch(new RegExp(`\\n {2}${c} `));
    expect(h.stdout).toMatch(/Exit codes:[\s\S]*3 {2}not found/);
  });
});
