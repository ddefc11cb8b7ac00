/**
 * One randomized trial on a fresh lab: MariaDB servers and sshd on their own loopback
 * addresses, the workload, the lag pattern, the death of the master, the manager doing
 * the failover (in-process, or as its own process killed mid-failover and rerun), then the
 * verdict from the servers. See plan.ts for what is drawn and verify.ts for the checks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import type { FailoverReport } from '../src/manager/failover.js';
import { runManager } from '../src/manager/manager.js';
import { type ClusterLab, startCluster } from '../test/lab/cluster-lab.js';
import { TcpProxy } from '../test/lab/tcp-proxy.js';
import { comparePositions, type MasterPosition, readBinlogGroups, txnsUpTo } from './binlog-truth.js';
import type { TrialPlan } from './plan.js';
import { alive, bounded, LogTail, SilentPort, sleep, waitFor } from './util.js';
import {
  checkInvariants,
  checkPresent,
  compareSurvivors,
  type ServerSnapshot,
  snapshot,
  type Violation,
} from './verify.js';
import { Workload } from './workload.js';

export interface TrialOptions {
  /** Last octet of the master's address; replicas follow, the proxy sits at +8. Use ≥ 101. */
  firstOctet: number;
  /** Keep the lab's directory (logs, binlogs, relay logs, manager log) when a trial fails. */
  keepOnFailure: boolean;
  /** Keep every trial's lab directory (debugging). */
  keepAlways?: boolean;
  /** Repository root, for bin/masterha_manager (crash trials run the built manager). */
  repoDir: string;
  /** Progress lines (debugging); the per-trial line is the runner's. */
  progress?: (line: string) => void;
}

export interface TrialResult {
  plan: TrialPlan;
  passed: boolean;
  violations: Violation[];
  ms: number;
  detectMs?: number;
  failoverMs?: number;
  issued: number;
  acked: number;
  /** Transactions that had to survive (acknowledged or received, see the checks). */
  required: number;
  /** The master's binlog could be read by the manager (its host reachable over SSH). */
  binlogReadable: boolean;
  /** Acknowledged commits no survivor has, where the binlog was unreadable (async replication's window). */
  ackedNeverReplicated: number;
  newMaster?: string;
  /** crash trials: who completed the failover after the crash. */
  resumedBy?: string;
  /** partition trials: the manager failed over although the master was alive. */
  falseFailover?: boolean;
  keptDir?: string;
  note?: string;
  /** The failover's longest phase, e.g. "3.5 Master Log Apply 61.9s". */
  slowestPhase?: string;
  /** Files of the manager's workdir readable by group or others (state files should be 0600). */
  looseFiles?: string[];
}

const db = (i: number) => `db${i + 1}`;

/** The test's power switch: kills the master's mysqld (by the PID the lab started, checked) as cutting its power would. */
function writePowerSwitch(c: ClusterLab, pid: number): string {
  const path = join(c.dir, 'power_switch');
  const cnf = c.lab.instance('db1').cnfPath;
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      '# shutdown_script for the trials: --command=stopssh|stop; kills the master mysqld (pid checked against its my.cnf).',
      'cmd=""',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
      'for a in "$@"; do case "$a" in --command=*) cmd="${a#--command=}";; esac; done',
      `echo "$(date +%s.%N) $*" >> '${join(c.dir, 'power.log')}'`,
      `if [ -r /proc/${pid}/cmdline ] && tr '\\0' ' ' < /proc/${pid}/cmdline | grep -q -- '${cnf}'; then kill -9 ${pid}; fi`,
      'if [ "$cmd" = stopssh ]; then exit 10; fi',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return path;
}

function addToServerDefault(c: ClusterLab, lines: string[]): void {
  const text = readFileSync(c.confFile, 'utf8');
  writeFileSync(c.confFile, text.replace('ping_interval=1', ['ping_interval=1', ...lines].join('\n')), {
    mode: 0o600,
  });
}

/** `host(host:3306)` → server index. */
function indexOfName(c: ClusterLab, name: string | undefined): number | undefined {
  if (!name) return undefined;
  const host = name.replace(/\(.*$/, '');
  const i = c.hosts.indexOf(host);
  return i >= 0 ? i : undefined;
}

interface Running {
  c: ClusterLab;
  plan: TrialPlan;
  opts: TrialOptions;
  log: LogTail;
  workload?: Workload;
  cleanups: (() => Promise<unknown> | unknown)[];
  /** Sessions holding row locks on a replica (sql-blocked), by replica index. */
  locks: Map<number, Connection[]>;
  masterPid?: number;
  killedAt?: number;
  /** Highest master position any replica had read when the master died. */
  receivedMax?: MasterPosition;
  /** Passwords that must never show in a process's arguments, the manager log or its files. */
  secrets: string[];
  /** Processes seen with a secret in their arguments. */
  exposed: string[];
  /** The master's address as the replicas use it (the proxy's in isolate trials). */
  masterAsSeen: string;
  proxy?: TcpProxy;
  notes: string[];
}

export async function runTrial(plan: TrialPlan, opts: TrialOptions): Promise<TrialResult> {
  const t0 = Date.now();
  const hostDown = plan.death.startsWith('host-down');
  const proxyHost = `127.0.0.${opts.firstOctet + 8}`;
  const perServer = Array.from({ length: plan.replicas + 1 }, (_, i) =>
    i === plan.candidate ? ['candidate_master=1'] : [],
  );
  // The manager (partition) or everyone (isolate) reaches the master through a proxy the trial can cut.
  if (plan.kind === 'partition' || plan.kind === 'isolate') perServer[0] = [`ip=${proxyHost}`];
  const c = await startCluster({
    replicas: plan.replicas,
    firstOctet: opts.firstOctet,
    instance: {
      binlogFormat: plan.binlogFormat,
      ...(plan.maxRelayLogSize ? { maxRelayLogSize: plan.maxRelayLogSize } : {}),
      ...(plan.maxBinlogSize ? { maxBinlogSize: plan.maxBinlogSize } : {}),
      // A frozen master is noticed by its replicas after slave_net_timeout: keep it short.
      extraCnf: ['slave_net_timeout=8', 'binlog_annotate_row_events=ON'],
    },
    perServer,
    noSshd: hostDown && plan.kind !== 'isolate' ? [0] : [],
    // A real password, so the trial can look for it where it must never be.
    rootPassword: `Trial-${plan.seed.toString(36)}-pw`,
  });
  const run: Running = {
    c,
    plan,
    opts,
    log: new LogTail(c.managerLog),
    cleanups: [],
    locks: new Map(),
    notes: [],
    masterAsSeen: plan.kind === 'isolate' ? proxyHost : c.hosts[0],
    secrets: [c.lab.rootPassword, c.lab.replicationUser.password],
    exposed: [],
  };
  const result: TrialResult = {
    plan,
    passed: false,
    violations: [],
    ms: 0,
    issued: 0,
    acked: 0,
    required: 0,
    binlogReadable: !hostDown,
    ackedNeverReplicated: 0,
  };
  try {
    run.masterPid = c.lab.instance('db1').pid;
    if (plan.shutdownScript && plan.kind !== 'partition') {
      addToServerDefault(c, [`shutdown_script=${writePowerSwitch(c, run.masterPid!)}`]);
    }
    const setup = await c.lab.connect('db1');
    await Workload.prepare(setup);
    await setup.end();
    for (let i = 1; i <= plan.replicas; i++) await c.lab.waitForReplicaCatchUp(db(i), 'db1', 60_000);
    if (plan.kind === 'isolate') await replicateThroughProxy(run, proxyHost);
    if (plan.kind === 'partition') await partitionTrial(run, result);
    else await failoverTrial(run, result);
  } catch (err) {
    result.violations.push({ kind: 'harness', message: (err as Error).stack ?? String(err) });
  } finally {
    await run.workload?.stop(2000).catch(() => {});
    for (const l of [...run.locks.values()].flat()) l.destroy();
    while (run.cleanups.length > 0) {
      await Promise.resolve()
        .then(run.cleanups.pop()!)
        .catch(() => {});
    }
    // A frozen master must not outlive the trial.
    if (alive(c.lab.instance('db1').pid)) {
      try {
        process.kill(c.lab.instance('db1').pid!, 'SIGCONT');
      } catch {
        // gone meanwhile
      }
      await c.lab.killInstance('db1').catch(() => {});
    }
    checkSecrets(run, result);
    const stats = run.workload?.stats;
    result.issued = stats?.txns.size ?? 0;
    result.acked = run.workload?.acked.length ?? 0;
    result.passed = result.violations.length === 0;
    result.ms = Date.now() - t0;
    if (run.notes.length) result.note = run.notes.join('; ');
    if ((!result.passed && opts.keepOnFailure) || opts.keepAlways) {
      writeFileSync(
        join(c.dir, 'trial.json'),
        `${JSON.stringify({ plan, violations: result.violations, notes: run.notes }, null, 2)}\n`,
      );
      await Promise.allSettled([c.lab.close({ keep: true }), c.sshd.stop()]);
      result.keptDir = c.dir;
    } else {
      await c.close();
    }
  }
  return result;
}

/** Every process's arguments, sampled until `done`: none may carry a password. */
async function watchArguments(run: Running, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (!done() && Date.now() < deadline) {
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let cmd: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ');
      } catch {
        continue; // gone
      }
      if (run.secrets.some((x) => x && cmd.includes(x)) && run.exposed.length < 10) {
        let redacted = cmd;
        for (const x of run.secrets) if (x) redacted = redacted.replaceAll(x, '<password>');
        run.exposed.push(`pid ${pid}: ${redacted.slice(0, 200)}`);
      }
    }
    await sleep(100);
  }
}

/** No password in process arguments, in the manager log or in the manager's files; which files are not 0600. */
function checkSecrets(run: Running, result: TrialResult): void {
  for (const e of run.exposed) result.violations.push({ kind: 'secret', message: `password in arguments of ${e}` });
  const files = [run.c.managerLog];
  if (existsSync(run.c.workdir)) files.push(...readdirSync(run.c.workdir).map((f) => join(run.c.workdir, f)));
  const loose: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    const st = statSync(f);
    if (!st.isFile()) continue;
    if (f !== run.c.managerLog && (st.mode & 0o077) !== 0)
      loose.push(`${f.replace(/^.*\//, '')} ${(st.mode & 0o777).toString(8)}`);
    const bytes = readFileSync(f);
    for (const x of run.secrets) {
      if (x && bytes.includes(x)) result.violations.push({ kind: 'secret', message: `a password in ${f}` });
    }
  }
  if (loose.length > 0) result.looseFiles = loose;
}

/** isolate trials: the replicas replicate through the proxy, so cutting it cuts the master from everyone. */
async function replicateThroughProxy(run: Running, proxyHost: string): Promise<void> {
  const { c, plan } = run;
  run.proxy = await TcpProxy.start({
    listenHost: proxyHost,
    listenPort: 3306,
    targetHost: c.hosts[0],
    targetPort: 3306,
  });
  const proxy = run.proxy;
  run.cleanups.push(() => proxy.close());
  const { user, password } = c.lab.replicationUser;
  for (let i = 1; i <= plan.replicas; i++) {
    await c.lab.query(db(i), 'STOP SLAVE');
    const s = await c.lab.slaveStatus(db(i));
    await c.lab.query(
      db(i),
      'CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=3306, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_CONNECT_RETRY=1, MASTER_LOG_FILE=?, MASTER_LOG_POS=?, MASTER_USE_GTID=no',
      [proxyHost, user, password, s?.Relay_Master_Log_File, Number(s?.Exec_Master_Log_Pos)],
    );
    await c.lab.query(db(i), 'START SLAVE');
  }
  for (let i = 1; i <= plan.replicas; i++) {
    await waitFor(`${db(i)} replicates through the proxy`, 30_000, async () => {
      const s = await c.lab.slaveStatus(db(i));
      return s?.Slave_IO_Running === 'Yes' && s.Slave_SQL_Running === 'Yes';
    });
  }
}

/** The lag pattern: each replica's action at its moment. */
function scheduleLag(run: Running, started: number): void {
  run.plan.lag.forEach((l, k) => {
    if (l.kind === 'none') return;
    const name = db(k + 1);
    const timer = setTimeout(
      () => {
        void (async () => {
          if (l.kind === 'io-stopped') await run.c.lab.query(name, 'STOP SLAVE IO_THREAD');
          else if (l.kind === 'sql-stopped') await run.c.lab.query(name, 'STOP SLAVE SQL_THREAD');
          else {
            // Hold the row the SQL thread updates at the end of session 1's transactions:
            // it waits inside a transaction, its earlier statements executed.
            const conn = await run.c.lab.connect(name);
            conn.on('error', () => {});
            run.locks.set(k + 1, [...(run.locks.get(k + 1) ?? []), conn]);
            await conn.query('BEGIN');
            await conn.query('SELECT n FROM app.counters WHERE session = 1 FOR UPDATE');
          }
        })().catch((e: Error) => run.notes.push(`lag on ${name}: ${e.message}`));
      },
      Math.max(0, started + l.atMs - Date.now()),
    );
    run.cleanups.push(() => clearTimeout(timer));
  });
}

function scheduleLockRelease(run: Running): void {
  run.plan.lag.forEach((l, k) => {
    if (l.kind !== 'sql-blocked') return;
    const timer = setTimeout(() => {
      for (const conn of run.locks.get(k + 1) ?? []) conn.query('ROLLBACK').catch(() => {});
    }, l.releaseAfterKillMs ?? 0);
    run.cleanups.push(() => clearTimeout(timer));
  });
}

/** Kill the master the plan's way; returns once it is dead (or frozen). */
async function killMaster(run: Running): Promise<void> {
  const { c, plan } = run;
  if (plan.kind === 'isolate') {
    // Nobody reaches the master any more (MySQL through the proxy, SSH at the proxy's
    // address never answers); it keeps running and taking its local clients' writes.
    run.killedAt = Date.now();
    run.proxy!.blackhole();
    const ssh = await SilentPort.listen(run.masterAsSeen, 22);
    run.cleanups.push(() => ssh.close());
    return;
  }
  run.killedAt = Date.now();
  if (plan.death === 'freeze') {
    process.kill(run.masterPid!, 'SIGSTOP');
  } else {
    await c.lab.killInstance('db1');
  }
  if (plan.death === 'host-down-silent') {
    const ports = await Promise.all([SilentPort.listen(c.hosts[0], 3306), SilentPort.listen(c.hosts[0], 22)]);
    for (const p of ports) run.cleanups.push(() => p.close());
  }
}

/** Until the manager froze the replicas (Phase 3.1), remember the highest position any replica read. */
async function watchReceived(run: Running, done: () => boolean): Promise<void> {
  const { c, plan } = run;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline && !done()) {
    for (let i = 1; i <= plan.replicas; i++) {
      const s = await c.lab.slaveStatus(db(i)).catch(() => undefined);
      if (!s || s.Master_Host !== run.masterAsSeen) continue;
      const p = { file: String(s.Master_Log_File), pos: Number(s.Read_Master_Log_Pos) };
      if (!run.receivedMax || comparePositions(p, run.receivedMax) > 0) run.receivedMax = p;
    }
    if (run.log.includes('Phase 3.1: Getting Latest Slaves Phase')) return;
    await sleep(150);
  }
}

async function startWorkload(run: Running): Promise<number> {
  const { c, plan } = run;
  run.workload = new Workload({
    host: c.hosts[0],
    port: 3306,
    password: c.lab.rootPassword,
    plan: plan.workload,
    seed: plan.seed,
  });
  await run.workload.start();
  const started = Date.now();
  scheduleLag(run, started);
  if (plan.workload.bigAtKillOffsetMs !== undefined) {
    const t = setTimeout(() => run.workload?.bigNow(), Math.max(0, plan.killAtMs - plan.workload.bigAtKillOffsetMs));
    run.cleanups.push(() => clearTimeout(t));
  }
  return started;
}

async function failoverTrial(run: Running, result: TrialResult): Promise<void> {
  const { c, plan } = run;
  const reports: FailoverReport[] = [];
  let managerDone = false;
  let managerCode: number | undefined;
  let child: ChildProcess | undefined;
  const stop = new AbortController();
  run.cleanups.push(() => stop.abort());
  let manager: Promise<number>;
  if (plan.kind === 'crash') {
    child = spawnManager(run, ['--exit_after_failover']);
    manager = exitOf(child);
  } else {
    manager = runManager({
      confFile: c.confFile,
      globalConf: null,
      exitAfterFailover: true,
      signal: stop.signal,
      onFailover: (r) => reports.push(r),
    });
  }
  manager = manager.then((code) => {
    managerDone = true;
    managerCode = code;
    return code;
  });
  let trialDone = false;
  const sampling = watchArguments(run, () => trialDone);
  run.cleanups.push(() => {
    trialDone = true;
    return sampling;
  });
  await waitFor('the manager pings the master', 60_000, () => {
    if (managerDone) throw new Error(`manager exited ${managerCode} before monitoring: ${run.log.text.slice(-2000)}`);
    return run.log.includes("Ping(SELECT) succeeded, waiting until MySQL doesn't respond..");
  });
  const started = await startWorkload(run);
  await sleep(Math.max(0, started + plan.killAtMs - Date.now()));
  await killMaster(run);
  scheduleLockRelease(run);
  const watching = watchReceived(run, () => managerDone);
  const fencing = plan.kind === 'isolate' ? watchFencing(run, () => managerDone) : undefined;

  if (plan.kind === 'crash') {
    await crashAndResume(run, result, child!, manager, () => managerDone);
  } else {
    await bounded(manager, 300_000, 'the manager fails over').catch((e: Error) => {
      stop.abort();
      throw e;
    });
    const report = reports[0];
    if (managerCode !== 0 || !report || report.exitCode !== 0) {
      result.violations.push({
        kind: 'manager',
        message: `manager exit ${managerCode}; failover ${report?.status ?? 'not run'}: ${report?.error ?? run.log.text.slice(-1500)}`,
      });
    }
    if (report?.detection) result.detectMs = new Date(report.detection.detectedAt).getTime() - run.killedAt!;
    if (report) result.failoverMs = new Date(report.finishedAt).getTime() - new Date(report.startedAt).getTime();
    const slow = [...(report?.phases ?? [])].sort((a, b) => b.ms - a.ms)[0];
    if (slow)
      result.slowestPhase = `${slow.phase.replace(/^Phase /, '').replace(/ Phase$/, '')} ${(slow.ms / 1000).toFixed(1)}s`;
    result.newMaster = report?.newMaster;
  }
  await watching;
  const order = await fencing;
  if (order?.openedAt !== undefined && !(order.fencedAt !== undefined && order.fencedAt <= order.openedAt)) {
    result.violations.push({
      kind: 'writable',
      message: `a new master took writes at +${order.openedAt - run.killedAt!} ms while the old one was ${order.fencedAt === undefined ? 'never fenced' : `fenced only at +${order.fencedAt - run.killedAt!} ms`}`,
    });
  }
  await run.workload?.stop(2000);
  await verifyAfterFailover(run, result, indexOfName(c, result.newMaster));
}

/** When the old master's mysqld died (fenced) and when a replica first became writable. */
async function watchFencing(run: Running, done: () => boolean): Promise<{ fencedAt?: number; openedAt?: number }> {
  const { c, plan } = run;
  const out: { fencedAt?: number; openedAt?: number } = {};
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline && !done() && out.openedAt === undefined) {
    if (out.fencedAt === undefined && !alive(run.masterPid)) out.fencedAt = Date.now();
    for (let i = 1; i <= plan.replicas && out.openedAt === undefined; i++) {
      const [row] = await c.lab.query(db(i), 'SELECT @@global.read_only AS ro').catch(() => [{ ro: 1 }]);
      if (Number(row.ro) === 0) out.openedAt = Date.now();
    }
    await sleep(50);
  }
  if (out.fencedAt === undefined && !alive(run.masterPid)) out.fencedAt = Date.now();
  return out;
}

function spawnManager(run: Running, extra: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    [join(run.opts.repoDir, 'bin/masterha_manager'), `--conf=${run.c.confFile}`, ...extra],
    { cwd: run.opts.repoDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal === null && out.trim()) run.notes.push(`manager output: ${out.trim().slice(-300)}`);
  });
  run.cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? 137);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function readReport(c: ClusterLab): FailoverReport | undefined {
  const p = join(c.workdir, 'app1.failover.report.json');
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as FailoverReport;
  } catch {
    return undefined;
  }
}

/**
 * Kill the manager process when its log shows the plan's phase, then do what an operator
 * does: rerun the manager with --ignore_last_failover; if it cannot go on, the manual
 * dead-master failover (masterha_master_switch --master_state=dead). Records who finished.
 */
async function crashAndResume(
  run: Running,
  result: TrialResult,
  child: ChildProcess,
  manager: Promise<number>,
  done: () => boolean,
): Promise<void> {
  const { c, plan } = run;
  const banner = `* ${plan.crashPhase}..`;
  let crashed = false;
  await waitFor(
    `the manager reaches "${plan.crashPhase}"`,
    300_000,
    () => {
      if (done()) return true;
      return run.log.includes(banner);
    },
    10,
  );
  if (!done()) {
    if (plan.crashDelayMs) await sleep(plan.crashDelayMs);
    if (!done()) {
      child.kill('SIGKILL');
      crashed = true;
    }
  }
  const code = await bounded(manager, 300_000, 'the manager ends');
  if (!crashed) {
    run.notes.push(`the failover ended (exit ${code}) before the crash point`);
    result.resumedBy = 'not crashed';
    if (code !== 0)
      result.violations.push({ kind: 'manager', message: `manager exit ${code}: ${run.log.text.slice(-1500)}` });
    const report = readReport(c);
    result.newMaster = report?.newMaster;
    return;
  }
  const before = readReport(c);
  const logAt = run.log.text.length;
  // 1. The restarted manager, as MHA's runbook says.
  const second = spawnManager(run, ['--ignore_last_failover', '--exit_after_failover']);
  const secondExit = exitOf(second);
  let secondCode: number | undefined;
  void secondExit.then((x) => {
    secondCode = x;
  });
  // It either fails over (and exits), fails, or finds a healthy master and monitors it.
  await waitFor('the restarted manager settles', 300_000, () => {
    if (secondCode !== undefined) return true;
    run.log.poll();
    return run.log.text.slice(logAt).includes("Ping(SELECT) succeeded, waiting until MySQL doesn't respond..");
  });
  if (secondCode === undefined) {
    // Monitoring a live master: the first run had finished the important part.
    await sleep(1000);
    if (secondCode === undefined) {
      second.kill('SIGTERM');
      await bounded(secondExit, 30_000, 'the restarted manager stops');
    }
    result.resumedBy = 'restarted manager found the new master alive';
    const after = readReport(c);
    result.newMaster = after?.newMaster ?? before?.newMaster;
    return;
  }
  const after = readReport(c);
  if (secondCode === 0 && after && after.startedAt !== before?.startedAt && after.exitCode === 0) {
    result.resumedBy = 'restarted manager';
    result.newMaster = after.newMaster;
    return;
  }
  run.notes.push(
    `restarted manager exit ${secondCode}: ${
      run.log.text
        .slice(logAt)
        .split('\n')
        .filter((l) => /\[error\]/i.test(l))
        .slice(-2)
        .join(' | ')
        .slice(0, 400) || 'no error line'
    }`,
  );
  // 2. The manual failover.
  const sw = spawn(
    process.execPath,
    [
      join(run.opts.repoDir, 'bin/masterha_master_switch'),
      '--master_state=dead',
      `--conf=${c.confFile}`,
      `--dead_master_host=${c.hosts[0]}`,
      '--dead_master_port=3306',
      '--ignore_last_failover',
      '--interactive=0',
    ],
    { cwd: run.opts.repoDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  run.cleanups.push(() => {
    if (sw.exitCode === null && sw.signalCode === null) sw.kill('SIGKILL');
  });
  const swCode = await bounded(exitOf(sw), 300_000, 'masterha_master_switch');
  const manual = readReport(c);
  if (swCode === 0 && manual?.exitCode === 0) {
    result.resumedBy = 'masterha_master_switch';
    result.newMaster = manual.newMaster;
    return;
  }
  result.resumedBy = 'not resumed';
  result.newMaster = manual?.newMaster ?? after?.newMaster ?? before?.newMaster;
  result.violations.push({
    kind: 'manager',
    message: `after a crash in ${plan.crashPhase}: restarted manager exit ${secondCode}, masterha_master_switch exit ${swCode}: ${manual?.error ?? after?.error ?? ''}`,
  });
}

async function verifyAfterFailover(run: Running, result: TrialResult, nm: number | undefined): Promise<void> {
  const { c, plan } = run;
  const survivors = Array.from({ length: plan.replicas }, (_, k) => k + 1);
  // What had to survive, from the master's binlog read by mariadb-binlog.
  const groups = await readBinlogGroups(c.lab.instance('db1').datadir);
  const inBinlog = txnsUpTo(groups);
  const received = run.receivedMax ? txnsUpTo(groups, run.receivedMax) : new Set<number>();
  const acked = (run.workload?.acked ?? []).map((t) => t.txn);
  const notInBinlog = acked.filter((t) => !inBinlog.has(t));
  if (notInBinlog.length > 0) {
    result.violations.push({
      kind: 'harness',
      message: `acknowledged but not in the master's binlog (checker or server?): ${notInBinlog.slice(0, 5).join(',')}`,
    });
  }
  const required = result.binlogReadable ? inBinlog : received;
  result.required = required.size;
  const ackedRequired = acked.filter((t) => required.has(t));
  result.ackedNeverReplicated = result.binlogReadable ? 0 : acked.filter((t) => !required.has(t)).length;

  // Exactly one writable server, among the survivors and an old master that came back.
  const writable: string[] = [];
  for (const i of survivors) {
    const [row] = await c.lab.query(db(i), 'SELECT @@global.read_only AS ro');
    if (Number(row.ro) === 0) writable.push(db(i));
  }
  const oldPid = c.lab.instance('db1').pid;
  if (alive(oldPid)) {
    // Still there (frozen, or never fenced): let it run and see whether it takes writes.
    process.kill(oldPid!, 'SIGCONT');
    const ro = await bounded(
      c.lab.query('db1', 'SELECT @@global.read_only AS ro'),
      10_000,
      'the old master answers after SIGCONT',
    ).catch(() => undefined);
    if (ro && Number(ro[0].ro) === 0) writable.push('db1 (old master, resumed)');
    await c.lab.killInstance('db1');
  }
  if (nm === undefined) {
    result.violations.push({ kind: 'manager', message: 'no new master' });
    return;
  }
  if (writable.length !== 1 || writable[0] !== db(nm)) {
    result.violations.push({
      kind: 'writable',
      message: `writable: ${writable.join(', ') || 'none'} (new master ${db(nm)})`,
    });
  }
  // Everyone replicates from the new master and has caught up.
  for (const i of survivors.filter((s) => s !== nm)) {
    const s = await c.lab.slaveStatus(db(i));
    if (!s || s.Master_Host !== c.hosts[nm] || s.Slave_IO_Running !== 'Yes' || s.Slave_SQL_Running !== 'Yes') {
      result.violations.push({
        kind: 'replication',
        message: `${db(i)}: ${s ? `replicates from ${s.Master_Host} IO=${s.Slave_IO_Running} SQL=${s.Slave_SQL_Running} ${s.Last_SQL_Error || s.Last_IO_Error || ''}` : 'not a replica'}`,
      });
      continue;
    }
    await c.lab.waitForReplicaCatchUp(db(i), db(nm), 60_000).catch((e: Error) => {
      result.violations.push({ kind: 'replication', message: e.message });
    });
  }
  const issued = run.workload?.stats.txns ?? new Map();
  const snaps: ServerSnapshot[] = [];
  for (const i of survivors) snaps.push(await snapshot(db(i), (sql, p) => c.lab.query(db(i), sql, p)));
  result.violations.push(...compareSurvivors(snaps));
  for (const s of snaps) {
    result.violations.push(...checkInvariants(s, issued));
    result.violations.push(...checkPresent(s, ackedRequired, 'lost-acked'));
    result.violations.push(
      ...checkPresent(
        s,
        [...required].filter((t) => !ackedRequired.includes(t)),
        'lost-received',
      ),
    );
  }
  // And the new master replicates what it takes now.
  await c.lab.query(db(nm), 'CREATE TABLE app.after_failover (id INT PRIMARY KEY)');
  await c.lab.query(db(nm), 'INSERT INTO app.after_failover VALUES (1)');
  for (const i of survivors.filter((s) => s !== nm)) {
    await c.lab.waitForReplicaCatchUp(db(i), db(nm), 60_000).catch((e: Error) => {
      result.violations.push({ kind: 'replication', message: `after the failover: ${e.message}` });
    });
    const rows = await c.lab.query(db(i), 'SELECT COUNT(*) AS n FROM app.after_failover').catch(() => [{ n: 0 }]);
    if (Number(rows[0].n) !== 1) {
      result.violations.push({ kind: 'replication', message: `${db(i)} did not replicate a write on the new master` });
    }
  }
}

/**
 * The manager reaches the master through a proxy; the route is cut while the replicas
 * still replicate from it. No failover may start; after the route heals, monitoring goes on.
 */
async function partitionTrial(run: Running, result: TrialResult): Promise<void> {
  const { c, plan } = run;
  const proxy = await TcpProxy.start({
    listenHost: `127.0.0.${run.opts.firstOctet + 8}`,
    listenPort: 3306,
    targetHost: c.hosts[0],
    targetPort: 3306,
  });
  run.cleanups.push(() => proxy.close());
  const stop = new AbortController();
  run.cleanups.push(() => stop.abort());
  const reports: FailoverReport[] = [];
  let exit: number | undefined;
  const manager = runManager({
    confFile: c.confFile,
    globalConf: null,
    signal: stop.signal,
    onFailover: (r) => reports.push(r),
  }).then((x) => {
    exit = x;
    return x;
  });
  await waitFor('the manager pings the master through the proxy', 60_000, () => {
    if (exit !== undefined) throw new Error(`manager exited ${exit}: ${run.log.text.slice(-2000)}`);
    return run.log.includes("Ping(SELECT) succeeded, waiting until MySQL doesn't respond..");
  });
  await startWorkload(run);
  await sleep(plan.killAtMs);
  proxy.blackhole();
  const cutAt = Date.now();
  while (Date.now() - cutAt < plan.partitionMs!) {
    if (exit !== undefined || run.log.includes('Starting master failover.')) break;
    await sleep(250);
  }
  proxy.restore();
  const healedAt = run.log.text.length;
  await waitFor('the manager pings the master again', 90_000, () => {
    if (exit !== undefined || run.log.includes('Starting master failover.')) return true;
    return run.log.text.slice(healedAt).includes('Ping(SELECT) succeeded');
  }).catch((e: Error) => run.notes.push(e.message));
  const failedOver = reports.length > 0 || run.log.text.includes('Starting master failover.');
  result.falseFailover = failedOver;
  if (failedOver) {
    result.violations.push({
      kind: 'false-failover',
      message: `failover during a ${plan.partitionMs} ms partition between manager and a live master`,
    });
  }
  if (exit !== undefined && !failedOver) {
    result.violations.push({ kind: 'manager', message: `manager exited ${exit} during the partition` });
  }
  stop.abort();
  await bounded(manager, 30_000, 'the manager stops');
  await run.workload?.stop(2000);
  // Nothing moved: the master takes writes, the replicas follow it and hold the same data.
  const writable: string[] = [];
  for (let i = 0; i <= plan.replicas; i++) {
    const [row] = await c.lab.query(db(i), 'SELECT @@global.read_only AS ro');
    if (Number(row.ro) === 0) writable.push(db(i));
  }
  if (writable.join() !== 'db1') {
    result.violations.push({ kind: 'writable', message: `writable: ${writable.join(', ') || 'none'}` });
  }
  for (let i = 1; i <= plan.replicas; i++) {
    await c.lab.waitForReplicaCatchUp(db(i), 'db1', 60_000).catch((e: Error) => {
      result.violations.push({ kind: 'replication', message: e.message });
    });
  }
  const issued = run.workload?.stats.txns ?? new Map();
  const snaps: ServerSnapshot[] = [];
  for (let i = 0; i <= plan.replicas; i++) snaps.push(await snapshot(db(i), (sql, p) => c.lab.query(db(i), sql, p)));
  result.violations.push(...compareSurvivors(snaps));
  const acked = (run.workload?.acked ?? []).map((t) => t.txn);
  result.required = acked.length;
  for (const s of snaps) {
    result.violations.push(...checkInvariants(s, issued));
    result.violations.push(...checkPresent(s, acked, 'lost-acked'));
  }
  result.newMaster = undefined;
}
