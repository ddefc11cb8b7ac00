/**
 * Defects the reliability harness found in the manager, each reduced to a focused test on
 * real servers; each failed before its fix (they were `it.fails` until then).
 * docs/reliability.md lists them with the fix.
 *
 * Addresses 127.0.0.121–123 and .125–126: no other suite uses them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type ServerConfig } from '../../src/manager/config/index.js';
import { runDeadMasterFailover } from '../../src/manager/failover.js';
import { FailoverGuard } from '../../src/manager/failover-guard.js';
import { ManagerLog } from '../../src/manager/log.js';
import { hostAccessConfig } from '../../src/manager/manager.js';
import { monitorMaster } from '../../src/manager/monitor.js';
import { StatusFile } from '../../src/manager/status-file.js';
import { LocalFileAccess } from '../../src/remote/file-access.js';
import { HostAccessPool } from '../../src/remote/hosts.js';
import { SlowLink } from '../../trials/slow-link.js';
import { StatementTrap } from '../../trials/statement-trap.js';
import { bounded, LogTail, sleep, waitFor } from '../../trials/util.js';
import { type ClusterLab, type ClusterOptions, startCluster } from '../lab/cluster-lab.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    await Promise.resolve()
      .then(cleanups.pop()!)
      .catch(() => {});
  }
});

async function cluster(opts: ClusterOptions): Promise<ClusterLab> {
  const c = await startCluster({ keep: !!process.env.KEEP_LAB, ...opts });
  cleanups.push(() => c.close());
  return c;
}

function managerParts(c: ClusterLab) {
  const config = loadConfig({ appFile: c.confFile, globalFile: null });
  mkdirSync(config.app.managerWorkdir, { recursive: true });
  const log = new ManagerLog(config.app.managerLog);
  const pool = new HostAccessPool();
  cleanups.push(() => pool.closeAll());
  const accessFor = (s: ServerConfig) => pool.accessFor(hostAccessConfig(s));
  return { config, log, accessFor, status: new StatusFile(config.app.managerWorkdir, config.app.name) };
}

/*
 * Every trial found the manager's state files (app1.failover.report.json,
 * app1.master_status.health, app1.failover.error / .complete) created 0644: readable by
 * every local user. They hold topology, positions and the CHANGE MASTER statement; the
 * issue's security review asks for 0600. The saved binlog is already 0600.
 */
describe('defects found by the reliability harness, no servers needed (regression tests: each failed before its fix)', () => {
  it('the manager creates its state files 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mha-modes-'));
    try {
      const conf = join(dir, 'app1.cnf');
      // Servers on addresses nothing listens on: the failover stops in Phase 1 and still writes its report.
      writeFileSync(
        conf,
        [
          '[server default]',
          'user=root',
          'password=x',
          `manager_workdir=${join(dir, 'work')}`,
          `manager_log=${join(dir, 'manager.log')}`,
          '[server1]',
          'hostname=127.0.0.127',
          '[server2]',
          'hostname=127.0.0.128',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      const config = loadConfig({ appFile: conf, globalFile: null });
      const work = config.app.managerWorkdir;
      mkdirSync(work, { recursive: true });
      await new FailoverGuard(work, 'app1').markError();
      await new StatusFile(work, 'app1').set('PING_OK', '127.0.0.127');
      const report = await runDeadMasterFailover({
        config,
        deadMaster: config.servers[0],
        log: new ManagerLog(config.app.managerLog),
        accessFor: () => new LocalFileAccess(),
      });
      expect(report.exitCode).toBe(1);
      const modes = readdirSync(work).map((f) => `${f} ${(statSync(join(work, f)).mode & 0o777).toString(8)}`);
      expect(modes.length).toBeGreaterThanOrEqual(3);
      for (const m of modes) expect(m).toMatch(/ 600$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const lab = describe.skipIf(!mariadbAvailable() || !sshdAvailable());

lab('defects found by the reliability harness (regression tests: each failed before its fix)', () => {
  /*
   * Trials 1 and 3 of `npm run trials -- --seed 7`: every replica's SQL thread a few
   * binlog files behind — with max_binlog_size=128K/256K, a few hundred KB — and the
   * failover stops with "None of existing slaves matches as a new master … too far
   * behind", leaving the cluster without a master. src/manager/failover.ts
   * delayedTooMuch() counts files ("allow one rotation") where its own comment means
   * ~100 MB of binlog.
   */
  it('check_repl_delay: replicas a few small binlog files behind are not "too far behind"', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster({ firstOctet: 121, instance: { maxBinlogSize: 65536 } });
    await c.lab.query('db1', 'CREATE DATABASE app');
    await c.lab.query('db1', 'CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(2000))');
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    // A backup's FLUSH TABLES WITH READ LOCK on each replica holds its SQL thread (the
    // I/O thread goes on receiving) until the failover has chosen its new master.
    const locks = [];
    for (const r of ['db2', 'db3']) {
      const conn = await c.lab.connect(r);
      cleanups.push(() => conn.destroy());
      await conn.query('FLUSH TABLES WITH READ LOCK');
      locks.push(conn);
    }
    // ~400 KB of binlog: six or seven 64 KB files, far below 100 MB.
    for (let i = 1; i <= 200; i++) await c.lab.query('db1', 'INSERT INTO app.t VALUES (?, ?)', [i, 'x'.repeat(2000)]);
    const target = await c.lab.masterStatus('db1');
    for (const r of ['db2', 'db3']) {
      await waitFor(`${r} received everything`, 30_000, async () => {
        const s = await c.lab.slaveStatus(r);
        return s?.Master_Log_File === target.file && Number(s?.Read_Master_Log_Pos) === target.pos;
      });
    }
    await c.lab.killInstance('db1');
    const m = managerParts(c);
    const failover = runDeadMasterFailover({ ...m, deadMaster: m.config.servers[0], relayApplyTimeoutMs: 2000 });
    const tail = new LogTail(c.managerLog);
    await waitFor(
      'the failover chooses a new master',
      60_000,
      () => tail.includes('* Phase 3.4') || tail.includes('Failover phases'),
    );
    for (const l of locks) await l.query('UNLOCK TABLES');
    const report = await failover;
    const log = readFileSync(c.managerLog, 'utf8');
    expect(log).not.toContain('SQL Thread delays too much');
    expect(report.exitCode, report.error).toBe(0);
    for (const r of ['db2', 'db3']) {
      const [row] = await c.lab.query(r, 'SELECT COUNT(*) AS n FROM app.t');
      expect(Number(row.n)).toBe(200);
    }
  });

  /*
   * Trials 3 and 5 of seed 2026, 11, 16 and 17 of seed 2027 took 61–66 s in Phase 3.5 or
   * 4 (failover up to 131 s): a replica whose relay log ends inside a transaction (its
   * I/O thread stopped, or the master died, while the transaction was on the wire) has
   * Exec_Master_Log_Pos < Read_Master_Log_Pos for good — the SQL thread waits for the
   * rest of the transaction — and drainRelayLogs() in src/manager/failover.ts waits for
   * exec == read until its 60 s bound, for each such server, although the SQL thread is
   * idle ("Slave has read all relay log; waiting for more updates").
   */
  it('a replica whose relay log ends inside a transaction does not hold the failover for 60 s', {
    timeout: 240_000,
  }, async () => {
    // db2 replicates through a slow link, so its I/O thread can be stopped inside a big transaction.
    const c = await cluster({ firstOctet: 121, perServer: [['ip=127.0.0.124', 'ssh_ip=127.0.0.121'], [], []] });
    const link = await SlowLink.start({ listenHost: '127.0.0.124', targetHost: c.hosts[0], port: 3306, pauseMs: 20 });
    cleanups.push(() => link.close());
    await c.lab.query('db1', 'CREATE DATABASE app');
    await c.lab.query('db1', 'CREATE TABLE app.t (id INT PRIMARY KEY, v MEDIUMTEXT)');
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    const from = await c.lab.masterStatus('db1');
    const { user, password } = c.lab.replicationUser;
    await c.lab.query('db2', 'STOP SLAVE');
    await c.lab.query(
      'db2',
      "CHANGE MASTER TO MASTER_HOST='127.0.0.124', MASTER_PORT=3306, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_LOG_FILE=?, MASTER_LOG_POS=?, MASTER_USE_GTID=no",
      [user, password, from.file, from.pos],
    );
    await c.lab.query('db2', 'START SLAVE');
    await sleep(1000);
    const conn = await c.lab.connect('db1');
    await conn.query('BEGIN');
    for (let i = 0; i < 200; i++) await conn.query('INSERT INTO app.t VALUES (?, ?)', [i, 'x'.repeat(20_000)]);
    await conn.query('COMMIT');
    await conn.end();
    await sleep(300);
    await c.lab.query('db2', 'STOP SLAVE IO_THREAD');
    await sleep(1500);
    const st = await c.lab.slaveStatus('db2');
    expect(Number(st?.Exec_Master_Log_Pos)).toBeLessThan(Number(st?.Read_Master_Log_Pos)); // the relay log ends mid-transaction
    await c.lab.waitForReplicaCatchUp('db3', 'db1');
    await c.lab.killInstance('db1');
    const m = managerParts(c);
    const report = await runDeadMasterFailover({ ...m, deadMaster: m.config.servers[0] });
    expect(report.exitCode, report.error).toBe(0);
    const slowest = [...report.phases].sort((a, b) => b.ms - a.ms)[0];
    expect(slowest.ms, `${slowest.phase} took ${slowest.ms} ms`).toBeLessThan(20_000);
  });

  /*
   * Every trial's in-process manager printed "MaxListenersExceededWarning: Possible
   * EventTarget memory leak detected. 11 abort listeners added to [AbortSignal]":
   * src/manager/monitor.ts sleep() adds an 'abort' listener per ping and never removes it
   * when the timer fires, so a manager monitoring for days holds one listener (and its
   * closure) per ping — ~29,000 a day at ping_interval=3.
   */
  it('monitor: waiting between pings leaves no listener behind on the abort signal', {
    timeout: 120_000,
  }, async () => {
    const c = await cluster({ firstOctet: 125, replicas: 1 });
    const m = managerParts(c);
    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    const monitor = monitorMaster({ ...m, master: m.config.servers[0], signal: stop.signal });
    monitor.catch(() => {});
    await waitFor('the monitor pings', 30_000, () =>
      readFileSync(c.managerLog, 'utf8').includes("Ping(SELECT) succeeded, waiting until MySQL doesn't respond.."),
    );
    await sleep(6000); // six pings at ping_interval=1
    const listeners = getEventListeners(stop.signal, 'abort').length;
    stop.abort();
    await bounded(
      monitor.catch(() => undefined),
      30_000,
      'the monitor stops',
    );
    expect(listeners).toBeLessThanOrEqual(2);
  });

  /*
   * Found with the crash below: after a failover that left a replica behind, the manual
   * failover (masterha_master_switch --master_state=dead) promoted that replica although
   * the first failover's new master was alive and writable — two writable masters.
   * Phase 1 of src/manager/failover.ts drops alive servers that are not replicas
   * (`if (!s.replica) return false;`) instead of refusing to fail over while another
   * configured server already acts as a master.
   */
  it('a dead-master failover refuses while another configured server is an alive, writable non-replica', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster({ firstOctet: 121 });
    await c.lab.query('db1', 'CREATE DATABASE app');
    await c.lab.query('db1', 'CREATE TABLE app.t (id INT PRIMARY KEY)');
    await c.lab.query('db1', 'INSERT INTO app.t VALUES (1), (2), (3)');
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    await c.lab.killInstance('db1');
    // What a previous, partly completed failover leaves: db2 promoted and open.
    await c.lab.query('db2', 'STOP SLAVE');
    await c.lab.query('db2', 'RESET SLAVE ALL');
    await c.lab.query('db2', 'SET GLOBAL read_only=0');
    const m = managerParts(c);
    const report = await runDeadMasterFailover({ ...m, deadMaster: m.config.servers[0], ignoreLastFailover: true });
    const writable: string[] = [];
    for (const r of ['db2', 'db3']) {
      const [row] = await c.lab.query(r, 'SELECT @@global.read_only AS ro');
      if (Number(row.ro) === 0) writable.push(r);
    }
    expect(writable, `failover ${report.status}, new master ${report.newMaster}`).toEqual(['db2']);
    expect(report.exitCode).toBe(1);
    expect(report.stoppedIn).toBe('Phase 1: Configuration Check Phase');
  });

  /*
   * Trial 20 of `npm run trials -- --seed 2027`: the manager was SIGKILLed in Phase 4
   * between `RESET SLAVE` and `CHANGE MASTER` on a replica (repoint() in
   * src/manager/failover.ts). RESET SLAVE had deleted that replica's relay logs and
   * coordinates; the restarted manager saw it "replicating from the dead master at :4",
   * could not recover it (exit 10) and left it orphaned, and masterha_master_switch then
   * refused because the other replica already replicated from the new master. The repoint
   * no longer runs RESET SLAVE, and the failover records its progress before the first
   * repoint; here a proxy on the manager's route to db3 kills the manager right after
   * CHANGE MASTER executed there (db3 repointed but not started): the restarted manager
   * must finish the failover with the same new master.
   */
  describe('a manager killed in Phase 4 right after it repointed a replica (formerly: after RESET SLAVE)', () => {
    const outcome: { db3?: Record<string, unknown>; same?: boolean; writable: string[]; steps: string[] } = {
      steps: [],
      writable: [],
    };
    const built = existsSync(join(REPO, 'dist/src/cli/manager-tools/masterha-manager.js'));

    it.skipIf(!built)(
      'the crash happens at that point, and the operator reruns the failover',
      {
        timeout: 400_000,
      },
      async () => {
        const c = await cluster({
          firstOctet: 121,
          perServer: [[], ['candidate_master=1'], ['ip=127.0.0.124', 'ssh_ip=127.0.0.123']],
        });
        await c.lab.query('db1', 'CREATE DATABASE app');
        await c.lab.query('db1', 'CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(100))');
        for (let i = 1; i <= 100; i++) await c.lab.query('db1', 'INSERT INTO app.t VALUES (?, ?)', [i, `row ${i}`]);
        for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
        let manager: ChildProcess | undefined;
        const trap = await StatementTrap.start({
          listenHost: '127.0.0.124',
          targetHost: c.hosts[2],
          port: 3306,
          // RESET SLAVE is gone from the repoint; the remaining crash point between the
          // old coordinates and a running replica is right after CHANGE MASTER.
          pattern: /^CHANGE MASTER/i,
          onExecuted: () => manager?.kill('SIGKILL'),
        });
        cleanups.push(() => trap.close());
        const run = (tool: string, args: string[]) => {
          const child = spawn(process.execPath, [join(REPO, 'bin', tool), `--conf=${c.confFile}`, ...args], {
            cwd: REPO,
            stdio: 'ignore',
          });
          cleanups.push(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          });
          const exit = new Promise<number>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 137 : 1))));
          return { child, exit };
        };
        const log = new LogTail(c.managerLog);
        const first = run('masterha_manager', ['--exit_after_failover']);
        manager = first.child;
        await waitFor('the manager pings the master', 60_000, () =>
          log.includes("Ping(SELECT) succeeded, waiting until MySQL doesn't respond.."),
        );
        await c.lab.killInstance('db1');
        expect(await bounded(first.exit, 180_000, 'the first manager')).toBe(137);
        expect(trap.fired, trap.seen.join('\n')).toBe(true);
        expect(log.includes('* Phase 4: Slaves Recovery Phase..')).toBe(true);

        // The runbook: restart the manager with --ignore_last_failover…
        const from = log.text.length;
        const second = run('masterha_manager', ['--ignore_last_failover', '--exit_after_failover']);
        let code: number | undefined;
        void second.exit.then((x) => {
          code = x;
        });
        await waitFor('the restarted manager settles', 240_000, () => {
          log.poll();
          return code !== undefined || log.text.slice(from).includes('Ping(SELECT) succeeded');
        });
        if (code === undefined) {
          second.child.kill('SIGTERM');
          code = await bounded(second.exit, 30_000, 'the restarted manager stops');
        }
        outcome.steps.push(`restarted manager exit ${code}`);
        // …and, when that leaves a replica behind, the manual failover.
        const s3 = await c.lab.slaveStatus('db3');
        if (s3?.Master_Host !== c.hosts[1] || s3.Slave_SQL_Running !== 'Yes') {
          const sw = run('masterha_master_switch', [
            '--master_state=dead',
            `--dead_master_host=${c.hosts[0]}`,
            '--ignore_last_failover',
            '--interactive=0',
          ]);
          outcome.steps.push(`masterha_master_switch exit ${await bounded(sw.exit, 240_000, 'master_switch')}`);
        }
        outcome.db3 = await c.lab.slaveStatus('db3');
        for (const r of ['db2', 'db3']) {
          const [row] = await c.lab.query(r, 'SELECT @@global.read_only AS ro');
          if (Number(row.ro) === 0) outcome.writable.push(r);
        }
        await c.lab.query('db2', 'INSERT INTO app.t VALUES (1000, "after")').catch(() => {});
        await sleep(2000);
        const [a] = await c.lab.query('db2', 'CHECKSUM TABLE app.t EXTENDED');
        const [b] = await c.lab.query('db3', 'CHECKSUM TABLE app.t EXTENDED');
        outcome.same = a.Checksum === b.Checksum;
        console.info(
          `[repoint crash] ${outcome.steps.join('; ')}; db3 replicates from ${outcome.db3?.Master_Host}; writable: ${outcome.writable.join(', ')}`,
        );
      },
    );

    it('afterwards exactly one server is writable', () => {
      expect(outcome.writable, outcome.steps.join('; ')).toEqual(['db2']);
    });

    it('afterwards db3 replicates from the new master and holds the same data', () => {
      expect(outcome.db3?.Master_Host, outcome.steps.join('; ')).toBe('127.0.0.122');
      expect(outcome.db3?.Slave_IO_Running).toBe('Yes');
      expect(outcome.db3?.Slave_SQL_Running).toBe('Yes');
      expect(outcome.same).toBe(true);
    });
  });
});
