/**
 * The MHA node tools in bin/ (save_binary_logs, apply_diff_relay_logs, filter_mysqlbinlog,
 * purge_relay_logs) and their `mha` spellings, run as processes (build first: npx tsc -b)
 * on the recorded MariaDB 10.11 fixtures and on real lab servers.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BinlogEvent, EventType, parseBuffer } from '../native-free-parsers/src/index.js';
import { filterMysqlbinlogText } from '../src/cli/node-tools/filter-mysqlbinlog.js';
import { parseMhaArgs, shellWords, UsageError } from '../src/cli/node-tools/options.js';
import { parseIndexFile } from '../src/engine/log-files.js';
import { ROOT, type RunResult, runMha } from './cli-run.js';
import { FIXTURE_ROOT, materializeFixtureDir } from './fixture-dirs.js';
import { type LabInstance, type MariaDbLab, mariadbAvailable, startLab } from './lab/mariadb-lab.js';
import { type SshdLab, sshdAvailable, startSshd } from './lab/sshd-lab.js';

/** Run bin/<tool> with node, bounded in time. */
function runTool(
  tool: string,
  args: string[],
  opts: { stdin?: Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number; wrap?: string[] } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const cmd = [...(opts.wrap ?? []), process.execPath, join(ROOT, 'bin', tool), ...args];
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd: ROOT,
      env: { ...process.env, MHA_PASSWORD: undefined, MHA_SLAVE_PASSWORD: undefined, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${tool} ${args.join(' ')} timed out`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString(),
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? Buffer.alloc(0));
  });
}

const manifest = JSON.parse(readFileSync(join(FIXTURE_ROOT, 'mariadb-10.11/manifest.json'), 'utf8')) as {
  checksumTable: { master: Record<string, string> };
  finalMasterStatus: { file: string; pos: number };
  variables: { master: { gtid_binlog_pos: string } };
};

const master = materializeFixtureDir('mariadb-10.11/master');
const relay = materializeFixtureDir('mariadb-10.11/replica');
const work = mkdtempSync(join(tmpdir(), 'mha-nt-'));
afterAll(() => {
  master.cleanup();
  relay.cleanup();
  rmSync(work, { recursive: true, force: true });
});
const masterFiles = parseIndexFile(readFileSync(join(master.dir, 'mariadb-bin.index'), 'utf8'));
const relayInfo = join(relay.dir, 'relay-log.info');

const gtidsOf = (events: BinlogEvent[]) =>
  events.filter((e) => e.typeCode === EventType.MARIADB_GTID).map((e) => (e.data as { gtid: string }).gtid);
/** The master's GTIDs after (file, pos), in order. */
function masterGtidsAfter(file: string, pos: number): string[] {
  const out: string[] = [];
  for (const f of masterFiles.slice(masterFiles.indexOf(file))) {
    for (const e of parseBuffer(readFileSync(join(master.dir, f)))) {
      if (f === file && e.offset < pos) continue;
      if (e.typeCode === EventType.MARIADB_GTID) out.push((e.data as { gtid: string }).gtid);
    }
  }
  return out;
}
/** mariadb-binlog writes LOAD DATA files to a directory; a private one, as /tmp is shared. */
function loadDir(): string {
  const d = join(work, 'local-load');
  mkdirSync(d, { recursive: true });
  return d;
}
function mariadbBinlogAccepts(path: string): void {
  execFileSync('mariadb-binlog', ['--no-defaults', `--local-load=${loadDir()}`, '--verify-binlog-checksum', path], {
    stdio: 'pipe',
    maxBuffer: 1 << 30,
  });
}

describe('MHA option syntax', () => {
  const specs = [
    { name: 'start_file', kind: 'string' as const, help: '' },
    { name: 'start_pos', kind: 'int' as const, help: '' },
    { name: 'slave_pass', kind: 'string' as const, help: '', secret: true },
    { name: 'debug', kind: 'flag' as const, help: '' },
  ];
  it('accepts --a=b, --a b, -a=b, unique prefixes, kebab-case and any case', () => {
    const { opts } = parseMhaArgs(['--start_file=x.000001', '-start-pos', '4', '--DEBUG', '--slave_p=s'], specs);
    expect(opts).toEqual({ start_file: 'x.000001', start_pos: 4, debug: true, slave_pass: 's' });
  });
  it('rejects unknown, ambiguous, valueless and non-integer options without echoing secrets', () => {
    expect(() => parseMhaArgs(['--nope=1'], specs)).toThrow(UsageError);
    expect(() => parseMhaArgs(['--s=1'], specs)).toThrow(/ambiguous/);
    expect(() => parseMhaArgs(['--start_pos'], specs)).toThrow(/requires an argument/);
    expect(() => parseMhaArgs(['--start_pos=abc'], specs)).toThrow(/number expected/);
    expect(() => parseMhaArgs(['--debug=1'], specs)).toThrow(/does not take/);
  });
  it.skipIf(!existsSync('/proc/self/cmdline'))(
    'an argv password is replaced in the process title (ps, /proc)',
    async () => {
      // A server that accepts and never answers keeps the tool waiting in its connect.
      const server = createServer(() => {});
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as { port: number }).port;
      const child = spawn(process.execPath, [
        join(ROOT, 'bin', 'purge_relay_logs'),
        '--host=127.0.0.1',
        `--port=${port}`,
        '--password',
        'Argv-Pa55word',
      ]);
      let stderr = '';
      child.stderr.on('data', (c) => {
        stderr += c;
      });
      try {
        for (let i = 0; i < 100 && !stderr.includes('WARNING'); i++) await new Promise((r) => setTimeout(r, 50));
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        expect(cmdline).toContain('purge_relay_logs --host=127.0.0.1');
        expect(cmdline).toContain('--password xxx');
        expect(cmdline).not.toContain('Argv-Pa55word');
        expect(stderr).toContain('WARNING: --password puts the password on the command line');
        expect(stderr).not.toContain('Argv-Pa55word');
      } finally {
        child.kill('SIGKILL');
        server.close();
      }
    },
  );

  it('splits ssh_options like a shell', () => {
    expect(shellWords(`-i /k/id -o "UserKnownHostsFile=/a b/kh" -o 'X=y z'`)).toEqual([
      '-i',
      '/k/id',
      '-o',
      'UserKnownHostsFile=/a b/kh',
      '-o',
      'X=y z',
    ]);
  });
});

describe('save_binary_logs', () => {
  it('saves from a position across binlog rotations: one valid binlog with exactly the later events (exit 0)', async () => {
    const out = join(work, 'save1', 'saved.binlog');
    const r = await runTool('save_binary_logs', [
      '--command=save',
      '--start_file=mariadb-bin.000002',
      '--start_pos=389',
      `--binlog_dir=/nonexistent,${master.dir}`,
      `--output_file=${out}`,
      '--manager_version=0.58',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      ` Concat binary/relay logs from mariadb-bin.000002 pos 389 to mariadb-bin.000005 EOF into ${out} ..`,
    );
    expect(r.stdout).toContain(' Concat succeeded.\n');
    const events = parseBuffer(readFileSync(out));
    expect(events.filter((e) => e.typeCode === EventType.FORMAT_DESCRIPTION)).toHaveLength(1);
    expect(events.filter((e) => e.typeCode === EventType.ROTATE)).toHaveLength(0);
    expect(gtidsOf(events)).toEqual(masterGtidsAfter('mariadb-bin.000002', 389));
    expect(gtidsOf(events)).toHaveLength(31);
    mariadbBinlogAccepts(out);
  });

  it('exit 10 and "Event not exists." when nothing follows the position; no file is left', async () => {
    const out = join(work, 'save-end.binlog');
    const r = await runTool('save_binary_logs', [
      '--command=save',
      `--start_file=${manifest.finalMasterStatus.file}`,
      `--start_pos=${manifest.finalMasterStatus.pos}`,
      `--binlog_dir=${master.dir}`,
      `--output_file=${out}`,
    ]);
    expect(r.code).toBe(10);
    expect(r.stdout).toMatch(/has no effective data events\.\nEvent not exists\.\n$/);
    expect(existsSync(out)).toBe(false);
  });

  it('exit 1 with "Failed to save binary log: …" for a position inside an event or a missing file', async () => {
    const bad = await runTool('save_binary_logs', [
      '--command=save',
      '--start_file=mariadb-bin.000002',
      '--start_pos=390',
      `--binlog_dir=${master.dir}`,
      `--output_file=${join(work, 'bad.binlog')}`,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Failed to save binary log: .*mariadb-bin\.000002 at offset 390/);
    expect(existsSync(join(work, 'bad.binlog'))).toBe(false);

    // A hole in the numbering is an error, never skipped.
    const holey = join(work, 'holey');
    mkdirSync(holey);
    for (const f of ['mariadb-bin.000001', 'mariadb-bin.000002', 'mariadb-bin.000005']) {
      copyFileSync(join(master.dir, f), join(holey, f));
    }
    const gap = await runTool('save_binary_logs', [
      '--command=save',
      '--start_file=mariadb-bin.000002',
      '--start_pos=4',
      `--binlog_dir=${holey}`,
      `--output_file=${join(work, 'gap.binlog')}`,
    ]);
    expect(gap.code).toBe(1);
    expect(gap.stderr).toContain(`Failed to save binary log: Target file ${holey}/mariadb-bin.000003 not found!`);
  });

  it('orders files by number, not by string: .999999 comes before .1000000', async () => {
    const dir = join(work, 'rollover');
    mkdirSync(dir);
    copyFileSync(join(master.dir, 'mariadb-bin.000001'), join(dir, 'mysql-bin.999999'));
    copyFileSync(join(master.dir, 'mariadb-bin.000002'), join(dir, 'mysql-bin.1000000'));
    const out = join(work, 'rollover.binlog');
    const r = await runTool('save_binary_logs', [
      '--command=save',
      '--start_file=mysql-bin.999999',
      '--start_pos=4',
      `--binlog_dir=${dir}`,
      `--output_file=${out}`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('from mysql-bin.999999 pos 4 to mysql-bin.1000000 EOF');
    const gtids = gtidsOf(parseBuffer(readFileSync(out)));
    expect(gtids[0]).toBe('0-1-1');
    expect(gtids).toEqual(Array.from({ length: 46 }, (_, i) => `0-1-${i + 1}`));
    const test = await runTool('save_binary_logs', [
      '--command=test',
      '--start_pos=4',
      '--binlog_prefix=mysql-bin',
      `--binlog_dir=${dir}`,
      `--output_file=${join(work, 'test-out')}`,
    ]);
    expect(test.stdout).toContain(`  Binlog found at ${dir}, up to mysql-bin.1000000\n`);
  });

  it('test mode: "Binlog found at …" or MHA\'s "Binlog not found from …" message', async () => {
    const ok = await runTool('save_binary_logs', [
      '--command=test',
      '--start_file=mariadb-bin.000001',
      '--start_pos=4',
      `--binlog_dir=${master.dir}`,
      `--output_file=${join(work, 'test-dir', 'save_binary_logs_test')}`,
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(
      `  Creating ${join(work, 'test-dir')} if not exists..    ok.\n` +
        '  Checking output directory is accessible or not..\n   ok.\n' +
        `  Binlog found at ${master.dir}, up to mariadb-bin.000005\n`,
    );
    expect(existsSync(join(work, 'test-dir', 'save_binary_logs_test'))).toBe(false);
    const bad = await runTool('save_binary_logs', [
      '--command=test',
      '--start_file=mariadb-bin.000001',
      '--start_pos=4',
      '--binlog_dir=/var/lib/nothing-here,/tmp/nor-here',
      `--output_file=${join(work, 'x')}`,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'Failed to save binary log: Binlog not found from /var/lib/nothing-here,/tmp/nor-here! If you got this error at MHA Manager, please set "master_binlog_dir=/path/to/binlog_directory_of_the_master" correctly in the MHA Manager\'s configuration file and try again.\n',
    );
  });

  it("--relay_log_info: a replica's relay logs from a position, its own events left out", async () => {
    const out = join(work, 'exec-to-read.binlog');
    const r = await runTool('save_binary_logs', [
      '--command=save',
      '--start_file=relay-bin.000009',
      '--start_pos=3594',
      `--relay_log_info=${relayInfo}`,
      `--output_file=${out}`,
    ]);
    expect(r.code).toBe(0);
    const events = parseBuffer(readFileSync(out));
    expect(new Set(events.map((e) => e.serverId))).toEqual(new Set([1]));
    expect(gtidsOf(events)).toEqual(masterGtidsAfter('mariadb-bin.000003', 3293));
    mariadbBinlogAccepts(out);
    // Relay logs given as --binlog_dir (MHA does this for relay_log_info_repository=TABLE) are recognised.
    const asBinlogDir = join(work, 'exec-to-read-2.binlog');
    const r2 = await runTool('save_binary_logs', [
      '--command=save',
      '--start_file=relay-bin.000009',
      '--start_pos=3594',
      `--binlog_dir=${relay.dir}`,
      `--output_file=${asBinlogDir}`,
    ]);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toContain('relay-bin.000009 is a relay log: reading it as one');
    expect(readFileSync(asBinlogDir).equals(readFileSync(out))).toBe(true);
  });

  it('--help documents the exit codes; --version is what the MHA manager parses', async () => {
    const h = await runTool('save_binary_logs', ['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*\n {2}10 .*Event not exists/);
    const v = await runTool('save_binary_logs', ['--version']);
    expect(v.stdout).toMatch(/^save_binary_logs version 0\.58 /);
    const u = await runTool('save_binary_logs', ['--no-such-option']);
    expect(u.code).toBe(1);
  });

  it('mha binlog save: the same with kebab-case options', async () => {
    const out = join(work, 'modern.binlog');
    const r = await runMha([
      'binlog',
      'save',
      '--start-file',
      'mariadb-bin.000002',
      '--start-pos',
      '389',
      '--binlog-dir',
      master.dir,
      '--output-file',
      out,
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(work, 'save1', 'saved.binlog')))).toBe(true);
    const end = await runMha([
      'binlog',
      'save',
      '--start-file',
      'mariadb-bin.000005',
      '--start-pos',
      '2771',
      '--binlog-dir',
      master.dir,
      '--output-file',
      out,
    ]);
    expect(end.code).toBe(10);
    expect(end.stdout).toContain('Event not exists.');
    expect(end.stderr).toMatch(/^mha: error: Event not exists/);
  });
});

describe('apply_diff_relay_logs find / generate on recorded relay logs', () => {
  const base = ['--relay_log_info', relayInfo, '--server_id=2', `--workdir=${work}`];
  const latest = ['--latest_mlf=mariadb-bin.000005', '--latest_rmlp=2771'];

  it('find: "Target relay log FOUND!" with the relay file and offset (exit 0)', async () => {
    const r = await runTool('apply_diff_relay_logs', [
      '--command=find',
      ...base,
      ...latest,
      '--target_mlf=mariadb-bin.000003',
      '--target_rmlp=3293',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `    Opening ${relayInfo} ... ok.\n` +
        `    Relay log found at ${relay.dir}, up to relay-bin.000017\n` +
        ' Target relay log file/position found. start_file:relay-bin.000009, start_pos:3594.\n' +
        'Target relay log FOUND!\n',
    );
  });

  it('find: the fast path inside the newest relay file', async () => {
    const last = parseBuffer(readFileSync(join(master.dir, 'mariadb-bin.000005')));
    const xid = last.filter((e) => e.typeCode === EventType.XID).at(-2)!;
    const r = await runTool('apply_diff_relay_logs', [
      '--command=find',
      ...base,
      ...latest,
      '--target_mlf=mariadb-bin.000005',
      `--target_rmlp=${xid.endLogPos}`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(' Fast relay log position search succeeded.\n');
    expect(r.stdout).toMatch(/start_file:relay-bin\.000017, start_pos:\d+\.\nTarget relay log FOUND!\n$/);
  });

  it('find: "Target slave has received all relay logs." (exit 0) and not found (exit 10)', async () => {
    const all = await runTool('apply_diff_relay_logs', [
      '--command=find',
      ...base,
      ...latest,
      '--target_mlf=mariadb-bin.000005',
      '--target_rmlp=2771',
    ]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/\nTarget slave has received all relay logs\.\n$/);

    const none = await runTool('apply_diff_relay_logs', [
      '--command=find',
      '--relay_dir',
      relay.dir,
      '--current_relay_log=relay-bin.000017',
      '--target_mlf=mariadb-bin.000003',
      '--target_rmlp=3294',
    ]);
    expect(none.code).toBe(10);
    expect(none.stdout).toContain(
      ' Target relay log position NOT FOUND: no relay log holds master position mariadb-bin.000003:3294',
    );
    expect(none.stderr).toMatch(/do not hold mariadb-bin\.000003:3294\. Maybe some logs were purged\.\n$/);
  });

  it('generate: writes the diff ("Generating diff relay log succeeded. Saved at X .")', async () => {
    const out = join(work, 'gen', 'diff.binlog');
    const r = await runTool('apply_diff_relay_logs', [
      '--command=generate',
      ...base,
      ...latest,
      '--target_mlf=mariadb-bin.000003',
      '--target_rmlp=3293',
      `--diff_file_readtolatest=${out}`,
      '--timestamp=20261125000000',
      '--handle_raw_binlog=1',
      '--disable_log_bin=0',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      / Concat succeeded\.\n Generating diff relay log succeeded\. Saved at .*diff\.binlog \.\n$/,
    );
    expect(r.stdout).toContain(` Generating diff relay log succeeded. Saved at ${out} .`);
    const events = parseBuffer(readFileSync(out));
    expect(gtidsOf(events)).toEqual(masterGtidsAfter('mariadb-bin.000003', 3293));
    mariadbBinlogAccepts(out);
    // save_binary_logs --relay_log_info from the same relay position gives the same bytes.
    expect(readFileSync(out).equals(readFileSync(join(work, 'exec-to-read.binlog')))).toBe(true);

    const all = await runTool('apply_diff_relay_logs', [
      '--command=generate',
      ...base,
      ...latest,
      '--target_mlf=mariadb-bin.000005',
      '--target_rmlp=2771',
      `--diff_file_readtolatest=${join(work, 'gen', 'none.binlog')}`,
    ]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/Target slave has received all relay logs\.\n$/);
    expect(existsSync(join(work, 'gen', 'none.binlog'))).toBe(false);
  });

  it("bad invocations exit 1 with MHA's messages", async () => {
    const cmd = await runTool('apply_diff_relay_logs', ['--command=frobnicate']);
    expect(cmd.code).toBe(1);
    expect(cmd.stderr).toContain(
      'Invalid command frobnicate. Either [test|find|generate|generate_and_send|apply] command must be set.',
    );
    const where = await runTool('apply_diff_relay_logs', [
      '--command=find',
      '--target_mlf=x.000001',
      '--target_rmlp=4',
    ]);
    expect(where.code).toBe(1);
    expect(where.stderr).toContain(
      'Either (--relay_dir=s, --current_relay_log=s) or (--relay_log_info=s) must be set.',
    );
    const files = await runTool('apply_diff_relay_logs', ['--command=apply', '--apply_files=/nonexistent/x.binlog']);
    expect(files.code).toBe(1);
    expect(files.stderr).toContain('ERROR: /nonexistent/x.binlog not found!');
    const help = await runTool('apply_diff_relay_logs', ['--help']);
    expect(help.stdout).toMatch(/ {2}10 .*Relay_Log_Not_Found[\s\S]*22 .*Applying_SQL_File_Failed/);
    expect(help.stdout).toContain('MHA_SLAVE_PASSWORD');
  });

  it('apply --no_apply: joins the files, drops an incomplete last transaction, writes the SQL', async () => {
    // Cut the dead master's last binlog just before its final COMMIT, as a crash would.
    const buf = readFileSync(join(master.dir, 'mariadb-bin.000005'));
    const events = parseBuffer(buf);
    const xid = events.filter((e) => e.typeCode === EventType.XID).at(-1)!;
    const cut = join(work, 'cut', 'mariadb-bin.000005');
    mkdirSync(join(work, 'cut'), { recursive: true });
    writeFileSync(cut, buf.subarray(0, xid.offset + 5));
    const lastGtid = gtidsOf(events).at(-1)!;
    const r = await runTool('apply_diff_relay_logs', [
      '--command=apply',
      `--apply_files=${join(master.dir, 'mariadb-bin.000003')},${cut}`,
      `--workdir=${join(work, 'noapply')}`,
      '--timestamp=1',
      '--no_apply',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`The last transaction (GTID ${lastGtid}, starting at`);
    expect(r.stdout).toContain('is incomplete: it was never committed on the master and is not applied.');
    const sql = readFileSync(join(work, 'noapply', 'relay_log_apply_for_127.0.0.1_3306_1.sql'), 'utf8');
    const seq = lastGtid.split('-')[2];
    expect(sql).toContain(`gtid_seq_no=${Number(seq) - 1};`);
    expect(sql).not.toContain(`gtid_seq_no=${seq};`);
    expect(existsSync(join(work, 'noapply', 'total_binlog_for_127.0.0.1_3306.1.binlog'))).toBe(true);
  });
});

describe('filter_mysqlbinlog on real mariadb-binlog output', () => {
  const text = (file: string) =>
    execFileSync('mariadb-binlog', ['--no-defaults', `--local-load=${loadDir()}`, join(master.dir, file)], {
      maxBuffer: 1 << 30,
    }).toString('latin1');

  it('removes the ROLLBACK + BINLOG after a startup format description and the tail ROLLBACK; nothing else', async () => {
    const input = text('mariadb-bin.000001');
    expect(input).toMatch(/at startup\nROLLBACK\/\*!\*\/;\nBINLOG '\n/);
    const r = await runTool('filter_mysqlbinlog', [], { stdin: Buffer.from(input, 'latin1') });
    expect(r.code).toBe(0);
    const lines = input.split('\n');
    const start = lines.indexOf('ROLLBACK/*!*/;');
    const end = lines.findIndex((l, i) => i > start && l.startsWith('# at '));
    const expected = [
      ...lines.slice(0, start),
      '# ROLLBACK and BINLOG events generated by start_event were trimmed.',
      ...lines.slice(end),
    ]
      .join('\n')
      .replace(
        '# End of log file\nROLLBACK /* added by mysqlbinlog */;\n/*!50003 SET COMPLETION_TYPE=@OLD_COMPLETION_TYPE*/;\n',
        '# End of log file\n# Tail ROLLBACK event generated by mysqlbinlog was trimmed.\n',
      );
    expect(r.stdout).toBe(expected);
    expect(r.stdout).not.toContain('ROLLBACK /* added by mysqlbinlog */');
    expect(r.stdout.endsWith('/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=0*/;\n')).toBe(true);
  });

  it("keeps real ROLLBACK statements and a non-startup format description's BINLOG block", async () => {
    const input = text('mariadb-bin.000002');
    const rollbacks = (s: string) => s.split('\n').filter((l) => l === 'ROLLBACK').length;
    expect(rollbacks(input)).toBeGreaterThan(0);
    const r = await runTool('filter_mysqlbinlog', [], { stdin: Buffer.from(input, 'latin1') });
    expect(rollbacks(r.stdout)).toBe(rollbacks(input));
    expect(r.stdout).not.toContain('start_event were trimmed');
    expect(r.stdout.split("BINLOG '").length).toBe(input.split("BINLOG '").length);
    expect(r.stdout).toContain('# Tail ROLLBACK event generated by mysqlbinlog was trimmed.');
  });

  it('a tail that is not at the end of the input is kept; bytes pass through unchanged', async () => {
    const two = text('mariadb-bin.000002') + text('mariadb-bin.000003');
    const out = await filterMysqlbinlogText(two);
    expect(out.split('ROLLBACK /* added by mysqlbinlog */;').length).toBe(2);
    const binary = Buffer.from([...Buffer.from("INSERT INTO t VALUES ('"), 0xe9, 0xff, 0x00, ...Buffer.from("')\n")]);
    const r = await runTool('filter_mysqlbinlog', [], { stdin: binary });
    expect(Buffer.from(r.stdout, 'latin1').equals(binary)).toBe(true);
  });
});

describe.skipIf(!sshdAvailable())('apply_diff_relay_logs generate_and_send (real sshd, system scp)', () => {
  let sshd: SshdLab | undefined;
  const remote = join(tmpdir(), `mha-nt-remote-${process.pid}`);
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(remote, { recursive: true, force: true });
  });

  it('generates the diff and copies it to the same path on the receiving host, md5-checked', async () => {
    // The "remote" host is this machine: the tool runs in its own mount namespace with a private
    // tmpfs on the diff's directory, so sshd (outside) receives a copy and does not overwrite the original.
    const out = join(remote, 'diff_from_latest.binlog');
    mkdirSync(remote, { recursive: true });
    const script = `mount -t tmpfs mha-nt ${remote} && exec "$@"`;
    const r = await runTool(
      'apply_diff_relay_logs',
      [
        '--command=generate_and_send',
        '--relay_log_info',
        relayInfo,
        '--latest_mlf=mariadb-bin.000005',
        '--latest_rmlp=2771',
        '--target_mlf=mariadb-bin.000003',
        '--target_rmlp=3293',
        `--diff_file_readtolatest=${out}`,
        `--workdir=${work}`,
        `--scp_user=${sshd!.user}`,
        `--scp_host=${sshd!.host}`,
        `--scp_port=${sshd!.port}`,
        `--ssh_options=-i ${sshd!.identityFile} -o UserKnownHostsFile=${sshd!.knownHostsFile} -o StrictHostKeyChecking=yes`,
      ],
      { wrap: ['unshare', '-m', 'sh', '-c', script, 'sh'] },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(` Generating diff relay log succeeded. Saved at ${out} .`);
    expect(r.stdout).toMatch(
      new RegExp(` scp .*:${out} to root@${sshd!.host.replace(/\./g, '\\.')}\\(${sshd!.port}\\) succeeded\\.\n$`),
    );
    expect(readFileSync(out).equals(readFileSync(join(work, 'gen', 'diff.binlog')))).toBe(true);
  });
});

// Real servers: skipped, not failed, where MariaDB is not installed.
describe.skipIf(!mariadbAvailable())('node tools against real MariaDB servers', () => {
  const PW = 'N0de-T00ls-s3cret!';
  let lab: MariaDbLab | undefined;
  let primary: LabInstance;
  let replica: LabInstance;
  let fresh: LabInstance;
  let broken: LabInstance;
  const noSecret = (r: RunResult) => {
    expect(r.stdout).not.toContain(PW);
    expect(r.stderr).not.toContain(PW);
  };

  beforeAll(async () => {
    lab = await startLab(
      [
        { name: 'primary', maxBinlogSize: 4096 },
        { name: 'replica', maxRelayLogSize: 4096 },
        { name: 'fresh', maxAllowedPacket: '64M' },
        { name: 'broken' },
      ],
      { rootPassword: PW },
    );
    [primary, replica, fresh, broken] = lab.instances;
    await lab.setupReplication(primary, replica, { useGtid: false });
    await lab.query(primary, 'CREATE DATABASE p');
    await lab.query(primary, 'CREATE TABLE p.t (id INT PRIMARY KEY, v VARCHAR(200))');
    for (let i = 0; i < 60; i++) await lab.query(primary, 'INSERT INTO p.t VALUES (?, REPEAT(?, 150))', [i, 'x']);
    await lab.waitForReplicaCatchUp(replica, primary);
  });
  afterAll(async () => {
    await lab?.close();
  });

  const relayIndex = () =>
    parseIndexFile(readFileSync(join(replica.datadir, 'relay-bin.index'), 'utf8')).filter(Boolean);

  it('purge_relay_logs: applied relay logs removed (hard links made), relay_log_purge back to 0, replication running', async () => {
    const before = relayIndex();
    expect(before.length).toBeGreaterThanOrEqual(4);
    const workdir = join(lab!.baseDir, 'purge-work');
    const r = await runTool(
      'purge_relay_logs',
      ['--user=root', '--host=127.0.0.1', `--port=${replica.port}`, `--workdir=${workdir}`],
      { env: { MHA_PASSWORD: PW } },
    );
    noSecret(r);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d: purge_relay_logs script started\.\n/);
    expect(r.stdout).toContain(` Found relay_log.info: ${join(replica.datadir, 'relay-log.info')}\n`);
    expect(r.stdout).toMatch(/ Hard links made for \d+ unused relay log file\(s\)/);
    expect(r.stdout).toMatch(/: All relay log purging operations succeeded\.\n$/);
    const after = relayIndex();
    expect(after.length).toBeLessThanOrEqual(2);
    for (const f of before.filter((x) => !after.includes(x))) expect(existsSync(join(replica.datadir, f))).toBe(false);
    expect(readdirSync(workdir)).toEqual([]);
    expect(String((await lab!.query(replica, 'SELECT @@global.relay_log_purge AS p'))[0].p)).toBe('0');
    const st = await lab!.slaveStatus(replica);
    expect([st?.Slave_IO_Running, st?.Slave_SQL_Running]).toEqual(['Yes', 'Yes']);
    await lab!.query(primary, 'INSERT INTO p.t VALUES (1000, "after purge")');
    await lab!.waitForReplicaCatchUp(replica, primary);
    expect((await lab!.query(replica, 'SELECT v FROM p.t WHERE id = 1000'))[0].v).toBe('after purge');
  });

  it('purge_relay_logs: relay_log_purge=1 exits 0 unless --disable_relay_log_purge; --password warns; host must be local', async () => {
    await lab!.query(replica, 'SET GLOBAL relay_log_purge=1');
    const skip = await runTool('purge_relay_logs', [`--port=${replica.port}`], { env: { MHA_PASSWORD: PW } });
    expect(skip.code).toBe(0);
    expect(skip.stdout).toMatch(/ relay_log_purge is enabled\. Exit\.\n$/);

    const compat = await runTool('purge_relay_logs', [
      `--port=${replica.port}`,
      `--password=${PW}`,
      '--disable_relay_log_purge',
      `--workdir=${join(lab!.baseDir, 'purge-work')}`,
    ]);
    noSecret(compat);
    expect(compat.code).toBe(0);
    expect(compat.stderr).toMatch(/^WARNING: --password puts the password on the command line.*MHA_PASSWORD/);
    expect(compat.stdout).toContain(' relay_log_purge is enabled. Disabling..\n');
    expect(String((await lab!.query(replica, 'SELECT @@global.relay_log_purge AS p'))[0].p)).toBe('0');

    const remote = await runTool('purge_relay_logs', ['--host=192.0.2.1', `--port=${replica.port}`]);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toContain('--host(192.0.2.1) must be local address (localhost, 127.0.0.1, etc)!');

    const modern = await runMha(
      ['relay', 'purge', '--port', String(replica.port), '--workdir', join(lab!.baseDir, 'pw')],
      {
        env: { MHA_PASSWORD: PW },
      },
    );
    noSecret(modern);
    expect(modern.code).toBe(0);
    expect(modern.stdout).toContain('All relay log purging operations succeeded.');
  });

  it('apply_diff_relay_logs --command=test on a replica', async () => {
    const r = await runTool(
      'apply_diff_relay_logs',
      [
        '--command=test',
        `--relay_log_info=${join(replica.datadir, 'relay-log.info')}`,
        `--relay_dir=${replica.datadir}`,
        '--slave_host=127.0.0.1',
        `--slave_port=${replica.port}`,
        '--slave_user=root',
        `--workdir=${join(lab!.baseDir, 'adr')}`,
        '--target_version=10.11.0',
      ],
      { env: { MHA_SLAVE_PASSWORD: PW } },
    );
    noSecret(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  Checking slave recovery environment settings..\n');
    expect(r.stdout).toContain('super_read_only is defined and turned on.. not present or turned off, ignoring.');
    expect(r.stdout).toMatch(/ {4}Testing mysql connection and privileges\.\.\n {5}done\.\n/);
    expect(r.stdout).toMatch(/ {4}Testing relay log parsing \(relay-bin\.\d+\)\.\.\n {5}done\.\n$/);
    expect((await lab!.query(replica, "SHOW TABLES FROM mysql LIKE 'apply_diff%'")).length).toBe(0);
  });

  it('apply: the saved master binlog, joined with an overlapping piece, reproduces the master (CHECKSUM TABLE)', async () => {
    // Piece 1: binlogs 1–2 only; piece 2: from binlog 2 on — its first transactions repeat piece 1's.
    const firstTwo = join(work, 'first-two');
    mkdirSync(firstTwo, { recursive: true });
    for (const f of masterFiles.slice(0, 2)) copyFileSync(join(master.dir, f), join(firstTwo, f));
    const piece1 = join(work, 'apply', 'piece1.binlog');
    const piece2 = join(work, 'apply', 'piece2.binlog');
    for (const [dir, file, out] of [
      [firstTwo, 'mariadb-bin.000001', piece1],
      [master.dir, 'mariadb-bin.000002', piece2],
    ]) {
      const s = await runTool('save_binary_logs', [
        '--command=save',
        `--start_file=${file}`,
        '--start_pos=4',
        `--binlog_dir=${dir}`,
        `--output_file=${out}`,
      ]);
      expect(s.code).toBe(0);
    }
    const args = [
      '--command=apply',
      '--slave_host=127.0.0.1',
      `--slave_port=${fresh.port}`,
      '--slave_user=root',
      `--apply_files=${piece1},${piece2}`,
      `--workdir=${join(work, 'apply')}`,
      '--target_version=10.11.0',
      '--handle_raw_binlog=1',
      '--disable_log_bin=0',
    ];
    const r = await runTool('apply_diff_relay_logs', [...args, '--timestamp=1'], {
      env: { MHA_SLAVE_PASSWORD: PW },
      timeoutMs: 120_000,
    });
    noSecret(r);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  Skipped 17 transaction(s) repeated in the apply files (GTIDs 0-1-30 .. 0-1-46).\n');
    expect(r.stdout).not.toContain('already executed');
    expect(r.stdout).toContain(
      `Applying differential binary/relay log files ${piece1},${piece2} on 127.0.0.1:${fresh.port}. This may take long time...`,
    );
    expect(r.stdout).toMatch(/Applying log files succeeded\.\n$/);
    const checksums = async () => {
      const out: Record<string, string> = {};
      for (const t of Object.keys(manifest.checksumTable.master)) {
        const row = (await lab!.query(fresh, `CHECKSUM TABLE ${t} EXTENDED`))[0];
        out[t] = String(row.Checksum);
      }
      return out;
    };
    expect(await checksums()).toEqual(manifest.checksumTable.master);
    expect((await lab!.query(fresh, 'SELECT @@gtid_binlog_pos AS p'))[0].p).toBe(
      manifest.variables.master.gtid_binlog_pos,
    );

    // Again: everything is already executed (by GTID), so nothing changes.
    const again = await runTool('apply_diff_relay_logs', [...args, '--timestamp=2'], {
      env: { MHA_SLAVE_PASSWORD: PW },
    });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      /Skipped 60 transaction\(s\) 127\.0\.0\.1:\d+ already executed \(GTIDs 0-1-1 \.\. 0-1-60\)/,
    );
    expect(await checksums()).toEqual(manifest.checksumTable.master);
  });

  it('apply failure: "FATAL: applying log files failed …" with the event, GTID and server error (exit 22)', async () => {
    await lab!.query(broken, 'SET SESSION sql_log_bin=0');
    await lab!.query(broken, 'CREATE DATABASE fx');
    await lab!.query(broken, 'SET SESSION sql_log_bin=1');
    const saved = join(work, 'apply', 'piece1.binlog');
    const r = await runMha(
      [
        'binlog',
        'apply',
        saved,
        '--host',
        '127.0.0.1',
        '--port',
        String(broken.port),
        '--workdir',
        join(work, 'broken'),
      ],
      { env: { MHA_SLAVE_PASSWORD: PW } },
    );
    noSecret(r);
    expect(r.code).toBe(22);
    expect(r.stdout).toMatch(
      /FATAL: applying log files failed at .*total_binlog_for_127\.0\.0\.1_\d+\.\d+\.binlog:\d+ \(GTID 0-1-1, transaction from .*piece1\.binlog:\d+\): ER_DB_CREATE_EXISTS \(1007\): Can't create database 'fx'; database exists\n/,
    );
    expect(r.stdout).toContain('  Failing statement: CREATE DATABASE fx');
    expect(r.stderr).toBe('mha: error: applying log files failed\n');
  });

  it('apply --disable-log-bin: applied with sql_log_bin=0, nothing reaches the target binlog', async () => {
    await lab!.query(broken, 'SET SESSION sql_log_bin=0');
    await lab!.query(broken, 'DROP DATABASE fx');
    await lab!.query(broken, 'SET SESSION sql_log_bin=1');
    const before = await lab!.masterStatus(broken);
    const piece1 = join(work, 'apply', 'piece1.binlog');
    const r = await runMha(
      [
        'binlog',
        'apply',
        piece1,
        '--host',
        '127.0.0.1',
        '--port',
        String(broken.port),
        '--disable-log-bin',
        '--workdir',
        join(work, 'nolog'),
      ],
      { env: { MHA_SLAVE_PASSWORD: PW } },
    );
    noSecret(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Applying log files succeeded\.\n$/);
    expect(await lab!.masterStatus(broken)).toEqual(before);
    expect(Number((await lab!.query(broken, 'SELECT COUNT(*) AS n FROM fx.t_row'))[0].n)).toBeGreaterThan(0);
  });
});
