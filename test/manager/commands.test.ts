/**
 * The MHA manager tools (bin/masterha_check_repl, _check_ssh, _check_status, _stop,
 * _conf_host, _secondary_check, _master_monitor, and their `mha` spellings) run as
 * processes against one real cluster: three MariaDB servers on 127.0.0.41-43 (apart from the other
 * cluster tests, which use .11-.13) and sshd on
 * the same addresses. The tools are the built ones (`npx tsc -b` first).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runManager } from '../../src/manager/manager.js';
import { type ClusterLab, startCluster } from '../lab/cluster-lab.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { type SshdLab, sshdAvailable, startSshd } from '../lab/sshd-lab.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'Mha-Secr3t-pw!';
const WRONG = 'Wr0ng-Secr3t-pw';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Every output seen, to prove no password ever shows. */
const outputs: string[] = [];

function assertNoSecrets(text: string, extra: string[] = []): void {
  for (const s of [SECRET, WRONG, 'repl-lab-pass', ...extra]) expect(text).not.toContain(s);
}

/** Run bin/<tool> (or bin/mha) as a process; bounded in time. */
function run(tool: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', tool), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${tool} ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      outputs.push(stdout, stderr);
      assertNoSecrets(stdout + stderr);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe.skipIf(!mariadbAvailable() || !sshdAvailable())('MHA manager commands on a real cluster', () => {
  let c: ClusterLab;
  let conf: string;
  let confDir: string;
  let statusFile: string;
  let sshOptions: string;

  /** A copy of the working configuration with some text replaced, as its own app1.cnf. */
  function variant(name: string, edit: (text: string) => string): string {
    const dir = join(confDir, name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'app1.cnf');
    writeFileSync(file, edit(readFileSync(conf, 'utf8')), { mode: 0o600 });
    return file;
  }

  beforeAll(async () => {
    // A root password, so that "never printed" means something.
    c = await startCluster({ rootPassword: SECRET, firstOctet: 41, keep: !!process.env.KEEP_LAB });
    confDir = join(c.dir, 'confs');
    mkdirSync(confDir, { recursive: true });
    mkdirSync(c.workdir, { recursive: true });
    conf = join(confDir, 'app1.cnf');
    const text = readFileSync(c.confFile, 'utf8');
    expect(text).toContain(`user=root\npassword=${SECRET}\n`);
    writeFileSync(conf, text, { mode: 0o600 });
    statusFile = join(c.workdir, 'app1.master_status.health');
    sshOptions = `-i ${c.sshd.identityFile} -o UserKnownHostsFile=${c.sshd.knownHostsFile} -o StrictHostKeyChecking=yes`;
  }, 180_000);

  afterAll(async () => {
    await c?.close();
    for (const o of outputs) assertNoSecrets(o);
  });

  it('masterha_check_repl: a healthy cluster is OK (exit 0), log on stderr, verdict on stdout', async () => {
    const r = await run('masterha_check_repl', [`--conf=${conf}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('\nMySQL Replication Health is OK.\n');
    for (const line of [
      '[info] MHA::MasterMonitor version 0.58',
      '[info] Current Alive Master: 127.0.0.41(127.0.0.41:3306)',
      '[info]   127.0.0.42(127.0.0.42:3306)  Version=',
      '[info]     Replicating from 127.0.0.41(127.0.0.41:3306)',
      '[info] All SSH connection tests passed successfully.',
      '[info]   Binlog found at ',
      '[info] Slaves settings check done.',
      '127.0.0.41(127.0.0.41:3306) (current master)\n +--127.0.0.42(127.0.0.42:3306)\n +--127.0.0.43(127.0.0.43:3306)\n',
      '[info] Checking replication health on 127.0.0.43..',
      '[warning] master_ip_failover_script is not defined.',
    ]) {
      expect(r.stderr).toContain(line);
    }
    expect(r.stderr).toMatch(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} - \[info\] /m);

    const modern = await run('mha', ['check-repl', '--conf', conf, '--skip-check-ssh']);
    expect(modern.code, modern.stderr).toBe(0);
    expect(modern.stdout).toContain('MySQL Replication Health is OK.');
    expect(modern.stderr).not.toContain('Starting SSH connection tests');
  });

  it('masterha_check_repl: a failing status hook makes it NOT OK', async () => {
    const hook = join(confDir, 'ip-hook.sh');
    writeFileSync(hook, '#!/bin/sh\necho "hook called: $*"\ncase "$*" in *--command=status*) exit 1;; esac\nexit 0\n', {
      mode: 0o700,
    });
    const file = variant('hook', (t) =>
      t.replace('[server default]\n', `[server default]\nmaster_ip_failover_script=${hook}\n`),
    );
    const r = await run('masterha_check_repl', [`--conf=${file}`, '--skip_check_ssh']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('\nMySQL Replication Health is NOT OK!\n');
    expect(r.stderr).toContain('hook called: --command=status --ssh_user=root --orig_master_host=127.0.0.41');
    expect(r.stderr).toContain('Failed to get master_ip_failover_script status with return code 1:0.');
  });

  it('masterha_check_repl: a wrong password is NOT OK (exit 1) and is never printed', async () => {
    const file = variant('wrong-password', (t) => t.replace(`password=${SECRET}`, `password=${WRONG}`));
    const r = await run('masterha_check_repl', [`--conf=${file}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('\nMySQL Replication Health is NOT OK!\n');
    expect(r.stderr).toMatch(/Access denied for user 'root'/);
    expect(r.stderr).toContain('but this is not a MySQL crash. Check MySQL server settings.');
    expect(r.stderr).toContain('Error happened on monitoring servers.');
  });

  it('masterha_check_repl: stopped replication and a replica whose SQL thread died on an error are NOT OK', async () => {
    await c.lab.query('db3', 'STOP SLAVE');
    try {
      const r = await run('masterha_check_repl', [`--conf=${conf}`, '--skip_check_ssh']);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('MySQL Replication Health is NOT OK!');
      expect(r.stderr).toContain('[error] Slave IO thread is not running on 127.0.0.43(127.0.0.43:3306)');
    } finally {
      await c.lab.query('db3', 'START SLAVE');
    }

    // A row only db3 has: the master's insert of the same key stops db3's SQL thread (error 1062).
    await c.lab.query('db1', 'CREATE DATABASE conflict_db');
    await c.lab.query('db1', 'CREATE TABLE conflict_db.t (id INT PRIMARY KEY)');
    await c.lab.waitForReplicaCatchUp('db3', 'db1');
    await c.lab.query('db3', 'SET SESSION sql_log_bin=0');
    await c.lab.query('db3', 'INSERT INTO conflict_db.t VALUES (1)');
    await c.lab.query('db3', 'SET SESSION sql_log_bin=1');
    await c.lab.query('db1', 'INSERT INTO conflict_db.t VALUES (1)');
    await waitFor(
      'db3 SQL error',
      async () => Number((await c.lab.slaveStatus('db3'))?.Last_SQL_Errno) > 0 || undefined,
    );
    try {
      const r = await run('masterha_check_repl', [`--conf=${conf}`, '--skip_check_ssh']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Failed Slaves:');
      expect(r.stderr).toContain('Replication on 127.0.0.43(127.0.0.43:3306) fails! Check server settings.');
      expect(r.stdout).toContain('MySQL Replication Health is NOT OK!');
    } finally {
      await c.lab.query('db3', 'STOP SLAVE');
      await c.lab.query('db3', 'SET GLOBAL sql_slave_skip_counter=1');
      await c.lab.query('db3', 'START SLAVE');
      await c.lab.query('db1', 'DROP DATABASE conflict_db');
      await c.lab.waitForReplicaCatchUp('db3', 'db1');
      await c.lab.waitForReplicaCatchUp('db2', 'db1');
    }
    const again = await run('masterha_check_repl', [`--conf=${conf}`, '--skip_check_ssh']);
    expect(again.code, again.stderr).toBe(0);
  });

  it('masterha_check_ssh: OK (exit 0, also --mesh and `mha check-ssh`); a host whose sshd does not answer fails (exit 1)', async () => {
    const ok = await run('masterha_check_ssh', [`--conf=${conf}`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('[info] Starting SSH connection tests..');
    expect(ok.stderr).toMatch(/\[debug\] {2}Connecting via SSH from \S+ to root@127\.0\.0\.43\(127\.0\.0\.43:22\)\.\./);
    expect(ok.stderr).toContain('[info] All SSH connection tests passed successfully.');

    const mesh = await run('mha', ['check-ssh', '--conf', conf, '--mesh']);
    expect(mesh.code, mesh.stderr).toBe(0);
    expect(mesh.stderr).toContain(
      'Connecting via SSH from root@127.0.0.41(127.0.0.41:22) to root@127.0.0.43(127.0.0.43:22)..',
    );
    expect(mesh.stderr).toContain('All SSH connection tests passed successfully.');

    const closed = variant('closed-ssh', (t) =>
      t.replace('[server3]\nhostname=127.0.0.43\n', '[server3]\nhostname=127.0.0.43\nssh_port=2\n'),
    );
    const bad = await run('masterha_check_ssh', [`--conf=${closed}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[error\] SSH connection from \S+ to root@127\.0\.0\.43\(127\.0\.0\.43:2\) failed!/);
    expect(bad.stderr).toContain('SSH Configuration Check Failed!');
    expect(bad.stderr).not.toContain('All SSH connection tests passed successfully.');

    const noConf = await run('masterha_check_ssh', []);
    expect(noConf.code).toBe(1);
    expect(noConf.stdout).toBe('--conf=<server_config_file> must be set.\n');
  });

  it('masterha_check_status: NOT_RUNNING without a status file or with a dead pid; TIMESTAMP_OLD; FAILOVER_RUNNING stops masterha_stop', async () => {
    rmSync(statusFile, { force: true });
    const none = await run('masterha_check_status', [`--conf=${conf}`]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('app1 is stopped(2:NOT_RUNNING).\n');
    const notRunning = await run('masterha_stop', [`--conf=${conf}`]);
    expect(notRunning.code).toBe(0);
    expect(notRunning.stdout).toBe('MHA Manager is not running on app1(2:NOT_RUNNING).\n');

    const gone = spawnSync('true');
    expect(gone.pid).toBeGreaterThan(0);
    expect(pidAlive(gone.pid)).toBe(false);
    writeFileSync(statusFile, `${gone.pid}\t0:PING_OK\tmaster:127.0.0.41`);
    const stale = await run('masterha_check_status', [`--conf=${conf}`]);
    expect(stale.code).toBe(2);
    expect(stale.stdout).toBe('app1 is stopped(2:NOT_RUNNING).\n');

    // Alive pid (this test process), file last touched a minute ago.
    writeFileSync(statusFile, `${process.pid}\t0:PING_OK\tmaster:127.0.0.41`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(statusFile, old, old);
    const hung = await run('masterha_check_status', [`--conf=${conf}`]);
    expect(hung.code).toBe(32);
    expect(hung.stdout).toContain(
      'app1 is running, but master_ping.health is too old(32:TIMESTAMP_OLD). Maybe process hangs? master:127.0.0.41\n',
    );
    const json = await run('mha', ['status', '--conf', conf, '--json']);
    expect(json.code).toBe(32);
    expect(JSON.parse(json.stdout)).toMatchObject({
      app: 'app1',
      pid: process.pid,
      status_code: 32,
      status: 'TIMESTAMP_OLD',
      master: '127.0.0.41',
      running: true,
    });

    writeFileSync(statusFile, `${process.pid}\t50:FAILOVER_RUNNING\tmaster:127.0.0.41`);
    const failing = await run('masterha_check_status', [`--conf=${conf}`]);
    expect(failing.code).toBe(50);
    expect(failing.stdout).toBe(
      `app1 master is down and failover is running(50:FAILOVER_RUNNING). master:127.0.0.41\nCheck ${c.managerLog} for details.\n`,
    );
    const refused = await run('masterha_stop', [`--conf=${conf}`]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('Currently Failover is running on app1. Should not stop.\n');
    expect(pidAlive(process.pid)).toBe(true);
    rmSync(statusFile, { force: true });
  });

  it('masterha_check_status: PING_OK while a manager monitors (the status file is touched on every ping)', async () => {
    const controller = new AbortController();
    const manager = runManager({ confFile: conf, globalConf: null, signal: controller.signal });
    try {
      const ok = await waitFor('PING_OK', async () => {
        const r = await run('masterha_check_status', [`--conf=${conf}`, '--ping_limit=3']);
        return r.code === 0 ? r : undefined;
      });
      expect(ok.stdout).toBe(`app1 (pid:${process.pid}) is running(0:PING_OK), master:127.0.0.41\n`);
      // Longer than the ping limit: still fresh, because each ping touches the file.
      await sleep(4500);
      const later = await run('mha', ['status', '--conf', conf, '--ping-limit', '3']);
      expect(later.code, later.stdout).toBe(0);
    } finally {
      controller.abort();
      expect(await manager).toBe(1);
    }
    expect(existsSync(statusFile)).toBe(false);
    expect(readFileSync(c.managerLog, 'utf8')).toContain('Got terminate signal. Exit.');
  });

  it('masterha_stop stops a running masterha_manager process, which removes its status file', async () => {
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [join(ROOT, 'bin', 'masterha_manager'), `--conf=${conf}`], {
        cwd: ROOT,
        stdio: 'ignore',
      });
      const pid = child.pid as number;
      const exited = new Promise<number | null>((r) => child?.once('exit', (code) => r(code)));
      await waitFor('manager PING_OK', async () => {
        const r = await run('masterha_check_status', [`--conf=${conf}`]);
        return r.code === 0 && r.stdout.includes(`(pid:${pid})`) ? true : undefined;
      });
      const stop = await run('masterha_stop', [`--conf=${conf}`]);
      expect(stop.code, stop.stdout + stop.stderr).toBe(0);
      expect(stop.stdout).toBe('Stopped app1 successfully.\n');
      expect(await exited).toBe(1);
      expect(pidAlive(pid)).toBe(false);
      expect(existsSync(statusFile)).toBe(false);
      const status = await run('masterha_check_status', [`--conf=${conf}`]);
      expect(status.code).toBe(2);
    } finally {
      if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('masterha_conf_host adds and deletes a block, keeping comments and every other line', async () => {
    const file = variant('conf-host', (t) => t);
    const before = readFileSync(file, 'utf8');
    const add = await run('masterha_conf_host', [
      '--command=add',
      `--conf=${file}`,
      '--hostname=127.0.0.44',
      '--block=4',
      '--params=port=3306;candidate_master=1',
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe(`Wrote server4 entry to ${file} .\n`);
    const added = readFileSync(file, 'utf8');
    expect(added.startsWith(before)).toBe(true);
    expect(added).toContain('# Written by the test cluster lab');
    expect(added).toMatch(/\[server4\]\nhostname=127\.0\.0\.44\nport=3306\ncandidate_master=1\n/);

    const twice = await run('masterha_conf_host', [
      '--command=add',
      `--conf=${file}`,
      '--hostname=127.0.0.44',
      '--block=server4',
    ]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain(`Entry server4 already exists on ${file} .`);
    const badParam = await run('mha', [
      'conf-host',
      '--command',
      'add',
      '--conf',
      file,
      '--hostname',
      'h5',
      '--params',
      'no_such_param=1',
    ]);
    expect(badParam.code).toBe(1);
    expect(badParam.stderr).toContain('no_such_param');

    const del = await run('masterha_conf_host', ['--command=delete', `--conf=${file}`, '--block=server4']);
    expect(del.code).toBe(0);
    expect(del.stdout).toBe(`Deleted server4 entry from ${file} .\n`);
    expect(readFileSync(file, 'utf8')).toBe(before);
    const missing = await run('mha', ['conf-host', '--command', 'remove', '--conf', file, '--hostname', '127.0.0.44']);
    expect(missing.code).toBe(0);
    expect(missing.stdout).toBe(`Entry server_127.0.0.44 not found from ${file} .\n`);
    const noFile = await run('masterha_conf_host', [
      '--command=delete',
      `--conf=${join(confDir, 'nope.cnf')}`,
      '--block=x',
    ]);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toContain('does not exist!');
  });

  it('masterha_secondary_check: master reachable → 3 (also with an INSERT), secondary sshd down → 2', async () => {
    const master = ['--master_host=127.0.0.41', '--master_ip=127.0.0.41', '--master_port=3306'];
    const up = await run('masterha_secondary_check', [
      '-s',
      '127.0.0.42',
      '-s',
      '127.0.0.43',
      ...master,
      `--options=${sshOptions}`,
    ]);
    expect(up.code, up.stderr).toBe(3);
    expect(up.stdout).toBe('Master is reachable from 127.0.0.42!\n');

    const insert = await run(
      'masterha_secondary_check',
      ['--secondary_host=127.0.0.43', ...master, '--master_user=root', '--ping_type=INSERT', `--options=${sshOptions}`],
      { env: { MHA_MASTER_PASSWORD: SECRET } },
    );
    expect(insert.code, insert.stdout + insert.stderr).toBe(3);
    const [row] = await c.lab.query('db1', 'SELECT COUNT(*) AS n FROM infra.chk_masterha');
    expect(Number(row.n)).toBe(1);
    const refused = await run(
      'masterha_secondary_check',
      ['-s', '127.0.0.43', ...master, '--master_user=root', '--ping_type=INSERT', `--options=${sshOptions}`],
      { env: { MHA_MASTER_PASSWORD: WRONG } },
    );
    expect(refused.code).toBe(0);
    expect(refused.stdout).toBe(
      'Monitoring server 127.0.0.43 is reachable, Master is not writable from 127.0.0.43. OK.\n',
    );

    let lab: SshdLab | undefined;
    try {
      lab = await startSshd({ addresses: ['127.0.0.45'] });
      const opts = [
        `--port=${lab.port}`,
        `--options=-i ${lab.identityFile} -o UserKnownHostsFile=${lab.knownHostsFile}`,
        '--timeout=3',
      ];
      const via = await run('masterha_secondary_check', ['-s', '127.0.0.45', ...master, ...opts]);
      expect(via.code, via.stdout + via.stderr).toBe(3);
      await lab.stop();
      const down = await run('masterha_secondary_check', ['-s', '127.0.0.45', '-s', '127.0.0.42', ...master, ...opts]);
      expect(down.code).toBe(2);
      expect(down.stdout).toBe('Monitoring server 127.0.0.45 is NOT reachable!\n');
    } finally {
      await lab?.stop();
    }
    const usage = await run('masterha_secondary_check', ['-s', '127.0.0.42']);
    expect(usage.code).toBe(1);
  });

  it('masterha_master_monitor exits 20 when the master is killed; then masterha_secondary_check says down (0)', async () => {
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [join(ROOT, 'bin', 'masterha_master_monitor'), `--conf=${conf}`], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout?.on('data', (d) => {
        stdout += d;
      });
      const exited = new Promise<number | null>((r) => child?.once('exit', (code) => r(code)));
      await waitFor('monitor PING_OK', async () => {
        const r = await run('masterha_check_status', [`--conf=${conf}`]);
        return r.code === 0 ? true : undefined;
      });
      await c.lab.killInstance('db1');
      const code = await Promise.race([exited, sleep(60_000).then(() => 'timeout')]);
      expect(code, readFileSync(c.managerLog, 'utf8').slice(-3000)).toBe(20);
      expect(stdout).toBe('Master 127.0.0.41 is dead!\nIP Address: 127.0.0.41 Port: 3306\nSSH: reachable\n');
      assertNoSecrets(stdout);
      expect(existsSync(statusFile)).toBe(false);
    } finally {
      if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const down = await run('masterha_secondary_check', [
      '-s',
      '127.0.0.42',
      '-s',
      '127.0.0.43',
      '--master_host=127.0.0.41',
      `--options=${sshOptions}`,
    ]);
    expect(down.code).toBe(0);
    expect(down.stdout).toBe(
      'Monitoring server 127.0.0.42 is reachable, Master is not reachable from 127.0.0.42. OK.\n' +
        'Monitoring server 127.0.0.43 is reachable, Master is not reachable from 127.0.0.43. OK.\n',
    );
    assertNoSecrets(readFileSync(c.managerLog, 'utf8'));
  });
});
