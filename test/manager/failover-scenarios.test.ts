/**
 * Dead-master failover scenarios on real MariaDB servers and a real sshd, loopback only
 * (127.0.0.61–64, proxy on 127.0.0.69, so they never collide with failover.test.ts on
 * 127.0.0.11–13): the dead master's host unreachable over SSH, a partition between the
 * manager and a live master, candidate_master / no_master, the last-failover guard and
 * --ignore_last_failover, and failing master_ip_failover_script hooks.
 *
 * Every test stops what it starts (afterEach) and every wait is bounded.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Config, loadConfig, type ServerConfig } from '../../src/manager/config/index.js';
import { type FailoverReport, runDeadMasterFailover } from '../../src/manager/failover.js';
import { FailoverGuard } from '../../src/manager/failover-guard.js';
import { ManagerLog } from '../../src/manager/log.js';
import { hostAccessConfig, runManager } from '../../src/manager/manager.js';
import { type MasterDeath, monitorMaster } from '../../src/manager/monitor.js';
import { StatusFile } from '../../src/manager/status-file.js';
import { HostAccessPool } from '../../src/remote/hosts.js';
import { waitIoStopped } from '../engine/recovery-helpers.js';
import { type ClusterLab, type ClusterOptions, startCluster } from '../lab/cluster-lab.js';
import { LOAD_DDL, LoadGenerator } from '../lab/load-generator.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import { TcpProxy } from '../lab/tcp-proxy.js';

const FIRST = 61;
const PROXY_HOST = '127.0.0.69';
const host = (i: number) => `127.0.0.${FIRST + i}`;
const name = (i: number) => `${host(i)}(${host(i)}:3306)`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything a test started, stopped in afterEach whatever happened. */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    const c = cleanups.pop()!;
    await Promise.resolve()
      .then(c)
      .catch(() => {});
  }
});

async function cluster(opts: ClusterOptions): Promise<ClusterLab> {
  const c = await startCluster({ firstOctet: FIRST, keep: !!process.env.KEEP_LAB, ...opts });
  cleanups.push(() => c.close());
  return c;
}

/** What runManager builds, for tests that drive the monitor and the failover themselves. */
function harness(c: ClusterLab) {
  const config: Config = loadConfig({ appFile: c.confFile, globalFile: null });
  mkdirSync(config.app.managerWorkdir, { recursive: true });
  const log = new ManagerLog(config.app.managerLog);
  for (const s of config.servers) {
    log.addSecret(s.password.reveal());
    log.addSecret(s.replPassword?.reveal());
  }
  const pool = new HostAccessPool();
  cleanups.push(() => pool.closeAll());
  const accessFor = (s: ServerConfig) => pool.accessFor(hostAccessConfig(s));
  const status = new StatusFile(config.app.managerWorkdir, config.app.name);
  const master = config.servers[0];
  const failover = (extra: Partial<Parameters<typeof runDeadMasterFailover>[0]> = {}) =>
    runDeadMasterFailover({ config, deadMaster: master, log, accessFor, ...extra });
  return { config, log, pool, accessFor, status, master, failover };
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(what: string, ms: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000; i++) {
    if (await cond()) return;
    if (Date.now() > deadline) break;
    await sleep(200);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

const db = (i: number) => `db${i + 1}`;

async function checksum(c: ClusterLab, i: number): Promise<string> {
  const [row] = await c.lab.query(db(i), 'CHECKSUM TABLE app.orders EXTENDED');
  return String(row.Checksum);
}

async function readOnly(c: ClusterLab, i: number): Promise<boolean> {
  const [row] = await c.lab.query(db(i), 'SELECT @@global.read_only AS ro');
  return Number(row.ro) === 1;
}

async function idsOn(c: ClusterLab, i: number): Promise<Set<number>> {
  const rows = await c.lab.query(db(i), 'SELECT id FROM app.orders');
  return new Set(rows.map((r) => Number(r.id)));
}

/** Wait until a replica's SQL thread has applied all it received (its I/O thread may be down). */
async function drained(c: ClusterLab, i: number): Promise<void> {
  await waitFor(`${db(i)} applies its relay logs`, 60_000, async () => {
    const s = await c.lab.slaveStatus(db(i));
    if (!s) throw new Error(`${db(i)} is not a replica`);
    if (Number(s.Last_SQL_Errno) !== 0) throw new Error(`${db(i)}: ${s.Last_SQL_Error}`);
    return s.Relay_Master_Log_File === s.Master_Log_File && s.Exec_Master_Log_Pos === s.Read_Master_Log_Pos;
  });
}

/** Union of the rows every replica holds once it has applied everything it received. */
async function receivedByReplicas(c: ClusterLab, replicas: number[]): Promise<Set<number>> {
  const all = new Set<number>();
  for (const i of replicas) {
    await drained(c, i);
    for (const id of await idsOn(c, i)) all.add(id);
  }
  return all;
}

async function startLoad(c: ClusterLab, password = ''): Promise<LoadGenerator> {
  for (const s of LOAD_DDL) await c.lab.query('db1', s);
  const load = new LoadGenerator({ host: c.hosts[0], port: 3306, password, connections: 2, rowsPerTransaction: 3 });
  await load.start();
  cleanups.push(() => load.stop());
  return load;
}

/** After a successful failover: every survivor identical, holding `mustHave`; exactly one writable. */
async function expectRecovered(
  c: ClusterLab,
  survivors: number[],
  newMaster: number,
  mustHave: Set<number>,
): Promise<void> {
  const sums = await Promise.all(survivors.map((i) => checksum(c, i)));
  expect(new Set(sums).size, `checksums ${sums.join(' ')}`).toBe(1);
  for (const i of survivors) {
    const ids = await idsOn(c, i);
    const missing = [...mustHave].filter((id) => !ids.has(id));
    expect(missing, `${db(i)} lacks rows a replica had received`).toEqual([]);
  }
  const writable = [];
  for (const i of survivors) if (!(await readOnly(c, i))) writable.push(i);
  expect(writable).toEqual([newMaster]);
  for (const i of survivors.filter((s) => s !== newMaster)) {
    const [st] = await c.lab.query(db(i), 'SHOW SLAVE STATUS');
    expect(st.Master_Host).toBe(host(newMaster));
    expect(st.Slave_IO_Running).toBe('Yes');
    expect(st.Slave_SQL_Running).toBe('Yes');
  }
  // And replication from the new master works.
  await c.lab.query(db(newMaster), 'INSERT INTO app.orders VALUES (99999999, 0, "after failover", 1, NOW(6))');
  for (const i of survivors.filter((s) => s !== newMaster)) {
    await c.lab.waitForReplicaCatchUp(db(i), db(newMaster), 30_000);
    expect(await checksum(c, i)).toBe(await checksum(c, newMaster));
  }
}

function expectReportFile(c: ClusterLab, report: FailoverReport): void {
  const onDisk = JSON.parse(readFileSync(join(c.workdir, 'app1.failover.report.json'), 'utf8')) as FailoverReport;
  expect(onDisk.startedAt).toBe(report.startedAt);
  expect(onDisk.phases.length).toBeGreaterThan(0);
  for (const p of onDisk.phases) {
    expect(p.phase).toMatch(/^Phase /);
    expect(typeof p.ms).toBe('number');
  }
  if (onDisk.exitCode !== 1 || onDisk.stoppedIn?.startsWith('Phase 3.5')) {
    expect(onDisk.latestPosition?.file).toMatch(/^mariadb-bin\.\d+$/);
    expect(Object.keys(onDisk.replicaPositions ?? {}).length).toBeGreaterThan(0);
  }
  if (onDisk.exitCode === 0) {
    expect(onDisk.newMasterPosition?.pos).toBeGreaterThan(0);
    expect(onDisk.changeMasterStatement).toMatch(/^CHANGE MASTER TO .*MASTER_PASSWORD='xxx';$/);
  }
}

function expectNoSecrets(c: ClusterLab, secrets: string[]): void {
  const text = readFileSync(c.managerLog, 'utf8');
  for (const s of secrets.filter((x) => x !== '')) expect(text.includes(s), `secret in ${c.managerLog}`).toBe(false);
}

/** A master_ip_failover_script that records its calls (and the password it got) and fails on `failOn`. */
function hookScript(
  c: ClusterLab,
  failOn: string[],
): { path: string; calls: () => string; setFailOn(f: string[]): void } {
  const path = join(c.dir, 'master_ip_failover');
  const callsFile = join(c.dir, 'hook-calls.log');
  const write = (f: string[]) => {
    const cases = f.map((cmd) => `  *" --command=${cmd} "*) echo "failing on ${cmd}"; exit 1;;`).join('\n');
    writeFileSync(
      path,
      `#!/bin/sh\necho "$* env_password=\${MHA_NEW_MASTER_PASSWORD:-}" >> '${callsFile}'\ncase " $* " in\n${cases}\n  *) ;;\nesac\nexit 0\n`,
    );
    chmodSync(path, 0o755);
  };
  write(failOn);
  return {
    path,
    calls: () => (existsSync(callsFile) ? readFileSync(callsFile, 'utf8') : ''),
    setFailOn: write,
  };
}

const lab = describe.skipIf(!mariadbAvailable() || !sshdAvailable());

lab('failover scenarios on real MariaDB servers and sshd', () => {
  it.each([
    ['refused', 'no sshd listens on the master address'],
    ['silent', 'the master address accepts SSH connections and never answers'],
  ])(
    "dead master's host unreachable over SSH (%s: %s): failover completes without its binlog; survivors identical, nothing a replica received lost",
    { timeout: 240_000 },
    async (mode) => {
      const rootPassword = 'Root-Secret-61';
      const c = await cluster({ noSshd: [0], rootPassword });
      if (mode === 'silent') {
        const held = new Set<Socket>();
        const hole: Server = createServer((s) => {
          s.on('error', () => {});
          held.add(s);
        });
        await new Promise<void>((resolve, reject) => {
          hole.once('error', reject);
          hole.listen(22, c.hosts[0], () => resolve());
        });
        cleanups.push(
          () =>
            new Promise<void>((resolve) => {
              for (const s of held) s.destroy();
              hole.close(() => resolve());
            }),
        );
      }
      const h = harness(c);
      const load = await startLoad(c, rootPassword);
      await sleep(1500);
      await waitIoStopped(c.lab, c.lab.instance('db3')); // db3 lags
      await sleep(1500);

      const stop = new AbortController();
      cleanups.push(() => stop.abort());
      const monitor = monitorMaster({ ...h, signal: stop.signal });
      monitor.catch(() => {});
      await waitFor('monitor pings the master', 30_000, () =>
        readFileSync(c.managerLog, 'utf8').includes("Ping(SELECT) succeeded, waiting until MySQL doesn't respond.."),
      );
      await c.lab.killInstance('db1');
      const killedAt = Date.now();
      await load.ended(15_000);
      const death: MasterDeath = await bounded(monitor, 90_000, 'monitor notices the dead master');
      expect(death.sshReachable).toBe(false);
      const detectMs = Date.now() - killedAt;

      const received = await receivedByReplicas(c, [1, 2]);
      expect(received.size).toBeGreaterThan(30);
      const report = await h.failover({ sshReachable: death.sshReachable, detection: death });
      const log = readFileSync(c.managerLog, 'utf8');
      expect(report.exitCode, `${report.error}\n${log.slice(-4000)}`).toBe(0);
      expect(report.newMaster).toBe(name(1)); // the latest replica
      expect(log).toContain('HealthCheck: SSH to 127.0.0.61 is NOT reachable.');
      expect(log).toContain("Dead Master is not SSH reachable. Could not save it's binlogs.");
      expect(report.savedMasterBinlog).toEqual({ skipped: 'dead master not reachable over SSH' });
      expect(report.lines.join('\n')).toContain('Could not save');
      const db3 = report.servers.find((s) => s.server === name(2));
      expect(db3?.diff?.pieces).toContain('read-to-latest');
      await expectRecovered(c, [1, 2], 1, received);
      expectReportFile(c, report);
      expectNoSecrets(c, [rootPassword, c.lab.replicationUser.password]);
      const lostAcked = [...load.stats.acknowledged].filter((id) => !received.has(id)).length;
      console.info(
        `[ssh ${mode}] detection ${detectMs} ms, failover ${new Date(report.finishedAt).getTime() - new Date(report.startedAt).getTime()} ms; ${load.stats.acknowledged.size} acknowledged, ${lostAcked} never reached a replica (async replication, binlog unreadable)`,
      );
    },
  );

  it('manager cut off from a live master by a partition: the replicas still see it, no failover; monitoring resumes when the route heals', {
    timeout: 240_000,
  }, async () => {
    // The manager reaches server1 through the proxy (ip=), the replicas replicate from
    // its real address (hostname=) — discovery matches them by hostname.
    const c = await cluster({ perServer: [[`ip=${PROXY_HOST}`], [], []] });
    const proxy = await TcpProxy.start({
      listenHost: PROXY_HOST,
      listenPort: 3306,
      targetHost: c.hosts[0],
      targetPort: 3306,
    });
    cleanups.push(() => proxy.close());
    for (const s of LOAD_DDL) await c.lab.query('db1', s);
    // A light application load straight to the master: it is alive and replicating.
    let ticking = true;
    let nextId = 1;
    const ticker = (async () => {
      for (let i = 0; ticking && i < 2000; i++) {
        await c.lab.query('db1', 'INSERT INTO app.orders VALUES (?, 1, "tick", 1, NOW(6))', [nextId++]).catch(() => {});
        await sleep(150);
      }
    })();
    cleanups.push(() => {
      ticking = false;
      return ticker;
    });

    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    const reports: FailoverReport[] = [];
    let exit: number | undefined;
    const manager = runManager({
      confFile: c.confFile,
      globalConf: null,
      signal: stop.signal,
      onFailover: (r) => reports.push(r),
    }).then((code) => {
      exit = code;
      return code;
    });
    const logText = () => (existsSync(c.managerLog) ? readFileSync(c.managerLog, 'utf8') : '');
    await waitFor('manager pings the master through the proxy', 30_000, () =>
      logText().includes("Ping(SELECT) succeeded, waiting until MySQL doesn't respond.."),
    );
    expect(logText()).toContain(`Current Alive Master: 127.0.0.61(${PROXY_HOST}:3306)`);
    await sleep(2000);

    proxy.blackhole();
    const cutAt = Date.now();
    // 18 s of partition at ping_interval=1: several failure streaks, each confirmed "alive".
    while (Date.now() - cutAt < 18_000) {
      expect(exit, logText().slice(-3000)).toBeUndefined();
      expect(logText()).not.toContain('Starting master failover.');
      await sleep(500);
    }
    const during = logText();
    // The replicas are asked from the second failed ping on; they still see the master.
    expect(during).toContain('Connection failed 2 time(s)..');
    expect(during).toMatch(/is unreachable from here but alive: .*I\/O thread still connected to the master/);
    expect(during).not.toContain('Master is down!');
    expect(reports).toEqual([]);
    expect(await readOnly(c, 0)).toBe(false);
    for (const i of [1, 2]) {
      expect(await readOnly(c, i)).toBe(true);
      const [st] = await c.lab.query(db(i), 'SHOW SLAVE STATUS');
      expect(st.Slave_IO_Running).toBe('Yes');
      expect(st.Master_Host).toBe(c.hosts[0]);
    }
    const [st] = await c.lab.query('db1', 'SELECT COUNT(*) AS n FROM app.orders');
    expect(Number(st.n)).toBeGreaterThan(0);

    // Heal. The monitor's last session through the proxy was cut off and still holds the
    // monitor lock on the master; the manager must get going again anyway.
    const before = logText().length;
    proxy.restore();
    await waitFor('manager pings the master again', 60_000, () => {
      if (exit !== undefined) throw new Error(`manager exited ${exit}: ${logText().slice(-3000)}`);
      return logText().slice(before).includes('Ping(SELECT) succeeded');
    });
    await sleep(3000);
    expect(exit, logText().slice(-3000)).toBeUndefined();
    const status = readFileSync(join(c.workdir, 'app1.master_status.health'), 'utf8');
    expect(status).toContain('0:PING_OK');
    expect(reports).toEqual([]);

    // A short partition (shorter than the monitor session's wait_timeout): on reconnect
    // the cut-off session still holds the monitor lock — it is ours, not another manager's.
    const before2 = logText().length;
    proxy.blackhole();
    await sleep(3500);
    proxy.restore();
    await waitFor('manager pings the master after the short partition', 60_000, () => {
      if (exit !== undefined) throw new Error(`manager exited ${exit}: ${logText().slice(-3000)}`);
      return logText().slice(before2).includes('Ping(SELECT) succeeded');
    });
    expect(logText().slice(before2)).toContain("The monitor lock is still held by this monitor's previous session");
    expect(logText().slice(before2)).not.toContain('Starting master failover.');
    console.info(
      `[partition] ${
        logText()
          .split('\n')
          .filter((l) => l.includes('unreachable from here but alive')).length
      } confirmation(s) said alive; stale sessions through the proxy: ${proxy.staleUpstreams()}`,
    );

    stop.abort();
    expect(await bounded(manager, 30_000, 'manager stops')).toBe(1);
    expect(logText()).toContain('Got terminate signal. Exit.');
    expectNoSecrets(c, [c.lab.replicationUser.password]);
  });

  it('candidate_master is chosen though it is not the latest; the latest replica gives it what it lacks', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster({ perServer: [[], ['candidate_master=1'], []] });
    const h = harness(c);
    const load = await startLoad(c);
    await sleep(1000);
    await waitIoStopped(c.lab, c.lab.instance('db2')); // the candidate lags
    await sleep(2000);
    await c.lab.killInstance('db1');
    await load.ended(15_000);
    const received = await receivedByReplicas(c, [1, 2]);
    const report = await h.failover();
    expect(report.exitCode, `${report.error}\n${readFileSync(c.managerLog, 'utf8').slice(-4000)}`).toBe(0);
    expect(report.newMaster).toBe(name(1));
    const latest = report.replicaPositions?.[name(2)]?.read;
    const cand = report.replicaPositions?.[name(1)]?.read;
    expect(latest && cand && (latest.file > cand.file || latest.pos > cand.pos)).toBe(true);
    const nm = report.servers.find((s) => s.role === 'new master');
    expect(nm?.diff?.pieces).toContain('read-to-latest');
    expect(nm?.diff?.transactions).toBeGreaterThan(0);
    // The master's binlog was readable over SSH: every acknowledged commit survives.
    const all = new Set([...received, ...load.stats.acknowledged]);
    await expectRecovered(c, [1, 2], 1, all);
    expectReportFile(c, report);
  });

  it('no_master is honoured: the latest replica marked no_master is never chosen', { timeout: 240_000 }, async () => {
    const c = await cluster({ replicas: 3, perServer: [[], [], ['no_master=1'], []] });
    const h = harness(c);
    const load = await startLoad(c);
    await sleep(1000);
    await waitIoStopped(c.lab, c.lab.instance('db2'));
    await sleep(1000);
    await waitIoStopped(c.lab, c.lab.instance('db4'));
    await sleep(1000);
    await c.lab.killInstance('db1');
    await load.ended(15_000);
    const received = await receivedByReplicas(c, [1, 2, 3]);
    const report = await h.failover();
    const log = readFileSync(c.managerLog, 'utf8');
    expect(report.exitCode, `${report.error}\n${log.slice(-4000)}`).toBe(0);
    expect(log).toContain(`${name(2)} cannot be the new master: no_master is set.`);
    const positions = report.replicaPositions!;
    const latest = Object.entries(positions).sort(([, a], [, b]) =>
      a.read.file === b.read.file ? b.read.pos - a.read.pos : b.read.file.localeCompare(a.read.file),
    )[0][0];
    expect(latest).toBe(name(2)); // db3 is the latest…
    expect(report.newMaster).not.toBe(name(2)); // …and is not chosen
    // MHA's order: no latest non-bad replica → the first alive one in config order.
    expect(report.newMaster).toBe(name(1));
    await expectRecovered(c, [1, 2, 3], 1, new Set([...received, ...load.stats.acknowledged]));
  });

  it('a recent failover refuses the next one (.failover.complete); --ignore_last_failover overrides it', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster({});
    for (const s of LOAD_DDL) await c.lab.query('db1', s);
    for (let i = 1; i <= 50; i++) await c.lab.query('db1', 'INSERT INTO app.orders VALUES (?, 1, "x", 1, NOW(6))', [i]);
    await c.lab.waitForReplicaCatchUp('db2', 'db1');
    await c.lab.waitForReplicaCatchUp('db3', 'db1');
    mkdirSync(c.workdir, { recursive: true });
    const guard = new FailoverGuard(c.workdir, 'app1');
    await guard.markComplete(); // "the last failover finished just now"

    const run = async (ignoreLastFailover: boolean) => {
      const stop = new AbortController();
      cleanups.push(() => stop.abort());
      const reports: FailoverReport[] = [];
      const p = runManager({
        confFile: c.confFile,
        globalConf: null,
        exitAfterFailover: true,
        ignoreLastFailover,
        signal: stop.signal,
        onFailover: (r) => reports.push(r),
      });
      const code = await bounded(p, 120_000, 'manager run').catch((e) => {
        stop.abort();
        throw e;
      });
      return { code, report: reports[0] };
    };
    const logText = () => readFileSync(c.managerLog, 'utf8');
    const starting = run(false);
    await waitFor('manager pings the master', 30_000, () =>
      existsSync(c.managerLog) ? logText().includes('Ping(SELECT) succeeded') : false,
    );
    await c.lab.killInstance('db1');
    const first = await starting;
    expect(first.code).toBe(1);
    expect(first.report.stoppedIn).toBe('Phase 1: Configuration Check Phase');
    expect(first.report.error).toMatch(/Current time is too early to do failover again/);
    expect(logText()).toMatch(/Last failover was done at .* too early to do failover again/);
    // Refused in Phase 1: nothing touched, the guard still guards, no error flag.
    expect(existsSync(guard.completeFile)).toBe(true);
    expect(existsSync(guard.errorFile)).toBe(false);
    for (const i of [1, 2]) {
      expect(await readOnly(c, i)).toBe(true);
      const [st] = await c.lab.query(db(i), 'SHOW SLAVE STATUS');
      expect(st.Master_Host).toBe(c.hosts[0]);
      expect(st.Slave_SQL_Running).toBe('Yes');
      expect(Number(st.Last_SQL_Errno)).toBe(0);
    }
    expect(await guard.refusal({ ignoreLastFailover: false, lastFailoverMinute: 480 })).toMatch(/too early/);

    const second = await run(true);
    expect(second.code, logText().slice(-4000)).toBe(0);
    expect(second.report.newMaster).toBe(name(1));
    expect(existsSync(guard.completeFile)).toBe(true);
    expect(existsSync(guard.errorFile)).toBe(false);
    await expectRecovered(c, [1, 2], 1, await idsOn(c, 2));
    expectReportFile(c, second.report);
    expectNoSecrets(c, [c.lab.replicationUser.password]);
  });

  it('master_ip_failover_script failing on stop: stops in Phase 2, nothing opened, replicas intact, error flag set; resumable', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster({});
    const hook = hookScript(c, ['stop', 'stopssh']);
    // The script is configured in [server default], as operators do.
    writeFileSync(
      c.confFile,
      readFileSync(c.confFile, 'utf8').replace(
        'ping_interval=1',
        `ping_interval=1\nmaster_ip_failover_script=${hook.path}`,
      ),
    );
    const h = harness(c);
    expect(h.config.app.masterIpFailoverScript).toBe(hook.path);
    const load = await startLoad(c);
    await sleep(1200);
    await waitIoStopped(c.lab, c.lab.instance('db3'));
    await sleep(1200);
    await c.lab.killInstance('db1');
    await load.ended(15_000);
    const received = await receivedByReplicas(c, [1, 2]);
    const guard = new FailoverGuard(c.workdir, 'app1');

    const report = await h.failover();
    expect(report.exitCode).toBe(1);
    expect(report.stoppedIn).toBe('Phase 2: Dead Master Shutdown Phase');
    expect(report.error).toMatch(/master_ip_failover_script exit 1/);
    expect(report.lines).toContain('Stopped in Phase 2: Dead Master Shutdown Phase.');
    expect(report.newMaster).toBeUndefined();
    expect(hook.calls()).toMatch(/--command=stopssh/);
    expect(hook.calls()).not.toMatch(/--command=start/);
    expect(existsSync(guard.errorFile)).toBe(true);
    for (const i of [1, 2]) {
      expect(await readOnly(c, i)).toBe(true);
      const [st] = await c.lab.query(db(i), 'SHOW SLAVE STATUS');
      expect(st.Master_Host).toBe(c.hosts[0]);
      expect(st.Slave_SQL_Running).toBe('Yes');
      expect(Number(st.Last_SQL_Errno)).toBe(0);
    }
    expectReportFile(c, report);
    // The error flag refuses an automatic re-run…
    const refused = await h.failover();
    expect(refused.exitCode).toBe(1);
    expect(refused.error).toMatch(/Failover error flag file .* exists/);
    expect(existsSync(guard.errorFile)).toBe(true);
    // …and once the operator fixed the script, --ignore_last_failover resumes.
    hook.setFailOn([]);
    const resumed = await h.failover({ ignoreLastFailover: true });
    expect(resumed.exitCode, `${resumed.error}\n${readFileSync(c.managerLog, 'utf8').slice(-4000)}`).toBe(0);
    expect(existsSync(guard.errorFile)).toBe(false);
    await expectRecovered(c, [1, 2], 1, new Set([...received, ...load.stats.acknowledged]));
  });

  it('master_ip_failover_script failing on start: stops after recovering the new master, which stays read_only; resumable', {
    timeout: 240_000,
  }, async () => {
    const rootPassword = 'Root-Secret-62';
    // The new master (candidate) lags, so Phase 3.5 really applies a diff to it before the hook.
    const c = await cluster({ rootPassword, perServer: [[], ['candidate_master=1'], []] });
    const hook = hookScript(c, ['start']);
    writeFileSync(
      c.confFile,
      readFileSync(c.confFile, 'utf8').replace(
        'ping_interval=1',
        `ping_interval=1\nmaster_ip_failover_script=${hook.path}`,
      ),
    );
    const h = harness(c);
    const load = await startLoad(c, rootPassword);
    await sleep(1200);
    await waitIoStopped(c.lab, c.lab.instance('db2'));
    await sleep(1200);
    await c.lab.killInstance('db1');
    await load.ended(15_000);
    const received = await receivedByReplicas(c, [1, 2]);
    const guard = new FailoverGuard(c.workdir, 'app1');

    const report = await h.failover();
    expect(report.exitCode).toBe(1);
    expect(report.stoppedIn).toBe('Phase 3.5: Master Log Apply Phase');
    expect(report.error).toMatch(/master_ip_failover_script --command=start failed with exit code 1/);
    expect(report.newMaster).toBe(name(1));
    const applied = report.servers.find((s) => s.role === 'new master')?.diff;
    expect(applied?.transactions).toBeGreaterThan(0);
    expect(report.lines.join('\n')).toMatch(/was recovered .* but is still read_only/);
    expect(existsSync(guard.errorFile)).toBe(true);
    const calls = hook.calls();
    expect(calls).toMatch(/--command=stopssh/);
    expect(calls).toMatch(/--command=start .*--new_master_host=127\.0\.0\.62 .*--new_master_password=xxx/);
    expect(calls).toContain(`env_password=${rootPassword}`); // the password travels in the environment
    // The start hook runs before read_only=0: nothing was opened.
    for (const i of [1, 2]) expect(await readOnly(c, i)).toBe(true);
    const [st] = await c.lab.query('db3', 'SHOW SLAVE STATUS');
    expect(Number(st.Last_SQL_Errno)).toBe(0);
    expectReportFile(c, report);
    expectNoSecrets(c, [rootPassword, c.lab.replicationUser.password]);

    hook.setFailOn([]);
    const resumed = await h.failover({ ignoreLastFailover: true });
    expect(resumed.exitCode, `${resumed.error}\n${readFileSync(c.managerLog, 'utf8').slice(-4000)}`).toBe(0);
    expect(resumed.newMaster).toBe(name(1));
    // What the first run applied to the new master is recognised by its GTIDs, not applied twice.
    const again = resumed.servers.find((s) => s.role === 'new master')?.diff;
    expect(again?.skippedGtids ?? 0).toBeGreaterThanOrEqual(applied!.transactions);
    await expectRecovered(c, [1, 2], 1, new Set([...received, ...load.stats.acknowledged]));
    expectNoSecrets(c, [rootPassword, c.lab.replicationUser.password]);
  });
});
