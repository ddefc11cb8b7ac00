/**
 * Write-block window of the online switch under load: three MariaDB servers (127.0.0.91–93,
 * sshd for the lab's app1.cnf), an application load from a separate process (so its event
 * loop and the manager's do not slow each other down), and repeated planned switches
 * between db1 and db2 with --orig_master_is_new_slave, so each run starts from a healthy
 * topology. Per run: the manager's window (read_only=1 on the old master → read_only=0 on
 * the new one) with its steps, and the clients' window (first rejected write → first write
 * accepted by the new master). At the end: nothing acknowledged lost, all servers identical.
 *
 *   npx tsx scripts/bench-switchover.ts [--runs 15] [--write-block ftwrl|kill|read_only] [--gtid]
 *                                       [--connections 4] [--pause-ms 0] [--parallel-replication N] [--json FILE]
 *   --pause-ms: pause between each session's transactions (0 = as fast as the master takes them,
 *   which on 2 cores is faster than a single-threaded replica applies them: the new master's
 *   backlog, not the switch, then decides the window). --parallel-replication N: replicas run
 *   slave_parallel_threads=N (optimistic), which lets them keep up with that load.
 *   (as root, like the test lab; about 3 s per run plus ~10 s of set-up)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/manager/config/index.js';
import { ManagerLog } from '../src/manager/log.js';
import { runOnlineSwitch, type SwitchoverReport, type WriteBlockMode } from '../src/manager/switchover.js';
import { type ClusterLab, startCluster } from '../test/lab/cluster-lab.js';
import { LOAD_DDL } from '../test/lab/load-generator.js';
import { dropLabSessions, FollowingLoad } from '../test/lab/switch-load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const arg = (name: string, dflt?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const flag = (name: string) => process.argv.includes(`--${name}`);
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
};
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Child mode: run the load until stdin closes, then print its record as JSON. */
async function loadChild(): Promise<void> {
  const hosts = String(arg('hosts')).split(',');
  const load = new FollowingLoad({
    hosts,
    user: 'app',
    password: 'app-pass',
    connections: Number(arg('connections', '4')),
    pauseMs: Number(arg('pause-ms', '0')),
  });
  await load.start();
  process.stdout.write('started\n');
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.stdin.resume();
  });
  await load.stop();
  process.stdout.write(
    `${JSON.stringify({ acknowledged: [...load.acknowledged], failures: load.failures, commits: load.commits })}\n`,
  );
}

interface LoadRecord {
  acknowledged: number[];
  failures: { at: number; host: string; message: string }[];
  commits: { at: number; host: string }[];
}

function startLoadChild(
  hosts: string[],
  connections: number,
  pauseMs: number,
): { child: ChildProcess; done: Promise<LoadRecord> } {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      '--load-child',
      '--hosts',
      hosts.join(','),
      '--connections',
      String(connections),
      '--pause-ms',
      String(pauseMs),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  const done = new Promise<LoadRecord>((resolve, reject) => {
    child.on('close', () => {
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as LoadRecord);
      } catch {
        reject(new Error(`load child ended without a record: ${out.slice(-500)}`));
      }
    });
  });
  return { child, done };
}

async function waitStarted(child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += d;
      if (seen.includes('started')) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    const t = setInterval(() => {
      if (Date.now() > deadline) {
        clearInterval(t);
        reject(new Error('load did not start'));
      }
    }, 200);
    child.on('close', () => reject(new Error('load child exited')));
  });
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '15'));
  const writeBlock = arg('write-block', 'ftwrl') as WriteBlockMode;
  const gtid = flag('gtid');
  const connections = Number(arg('connections', '4'));
  const pauseMs = Number(arg('pause-ms', '0'));
  let c: ClusterLab | undefined;
  let loadChildProc: ChildProcess | undefined;
  try {
    const parallel = Number(arg('parallel-replication', '0'));
    c = await startCluster({
      firstOctet: 91,
      ...(parallel > 0
        ? { instance: { extraCnf: [`slave_parallel_threads=${parallel}`, 'slave_parallel_mode=optimistic'] } }
        : {}),
    });
    for (const s of LOAD_DDL) await c.lab.query('db1', s);
    await c.lab.query('db1', "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pass'");
    await c.lab.query('db1', "GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO 'app'@'%'");
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1');
    if (gtid) {
      for (const r of ['db2', 'db3']) {
        await c.lab.query(r, 'STOP SLAVE');
        await c.lab.query(r, 'CHANGE MASTER TO MASTER_USE_GTID=slave_pos');
        await c.lab.query(r, 'START SLAVE');
      }
    }
    const config = loadConfig({ appFile: c.confFile, globalFile: null });
    mkdirSync(config.app.managerWorkdir, { recursive: true });
    const log = new ManagerLog(c.managerLog);
    const { child, done } = startLoadChild(c.hosts, connections, pauseMs);
    loadChildProc = child;
    await waitStarted(child);
    const reports: SwitchoverReport[] = [];
    const failedSwitches: string[] = [];
    /** Every write block, rolled-back ones included (they end when the orig master is writable again). */
    const windows: { start: number; end: number }[] = [];
    let master = 0;
    for (let i = 0; i < runs; i++) {
      await sleep(1500);
      const target = master === 0 ? 1 : 0;
      const report = await runOnlineSwitch({
        config: loadConfig({ appFile: c.confFile, globalFile: null }),
        log,
        newMaster: { host: c.hosts[target] },
        origMasterIsNewSlave: true,
        writeBlock,
        reportFile: null,
      });
      if (report.writeBlock) {
        windows.push({
          start: report.writeBlock.startEpochMs,
          end: report.writeBlock.endEpochMs ?? Date.parse(report.finishedAt),
        });
      }
      if (report.exitCode !== 0) {
        failedSwitches.push(`run ${i + 1}: ${report.error}`);
        process.stderr.write(
          `run ${i + 1}/${runs}: FAILED (${report.rolledBack?.complete ? 'rolled back' : 'not rolled back'}): ${report.error}\n`,
        );
        dropLabSessions(c.lab);
        continue;
      }
      reports.push(report);
      dropLabSessions(c.lab);
      master = target;
      process.stderr.write(
        `run ${i + 1}/${runs}: ${report.writeBlock?.ms} ms [${report.writeBlock?.steps.map((s) => `${s.step} ${s.ms}`).join(', ')}]\n`,
      );
    }
    await sleep(1000);
    child.stdin!.end();
    const rec = await done;
    loadChildProc = undefined;
    // Client windows: per switch, first rejected write after its start → first commit on its new master.
    const clientMs: number[] = [];
    for (const r of reports) {
      const wb = r.writeBlock!;
      const newHost = r.newMaster!.replace(/\(.*$/, '');
      const first = rec.failures.filter((f) => f.at >= wb.startEpochMs).sort((a, b) => a.at - b.at)[0];
      const firstOk = first
        ? rec.commits.filter((x) => x.host === newHost && x.at >= first.at).sort((a, b) => a.at - b.at)[0]
        : undefined;
      if (first && firstOk) clientMs.push(firstOk.at - first.at);
    }
    const outside = rec.failures.filter((f) => !windows.some((w) => f.at >= w.start && f.at <= w.end + 100));
    // Nothing acknowledged lost, everything identical.
    const masterDb = `db${master + 1}`;
    for (const db of ['db1', 'db2', 'db3'])
      if (db !== masterDb) await c.lab.waitForReplicaCatchUp(db, masterDb, 60_000);
    const present = new Set(
      (
        await c.lab.connect(masterDb).then(async (conn) => {
          try {
            const [rows] = await conn.query('SELECT id FROM app.orders');
            return rows as { id: number }[];
          } finally {
            conn.destroy();
          }
        })
      ).map((r) => Number(r.id)),
    );
    const lost = rec.acknowledged.filter((id) => !present.has(id));
    const sums: string[] = [];
    for (const db of ['db1', 'db2', 'db3']) {
      const conn = await c.lab.connect(db);
      const [rows] = await conn.query('CHECKSUM TABLE app.orders EXTENDED');
      conn.destroy();
      sums.push(String((rows as { Checksum: unknown }[])[0].Checksum));
    }
    const toolMs = reports.map((r) => r.writeBlock!.ms!);
    const stepNames = [...new Set(reports.flatMap((r) => r.writeBlock!.steps.map((s) => s.step)))];
    const stepMedians = stepNames.map((n) => ({
      step: n,
      median: r1(
        quantile(
          reports.flatMap((r) => r.writeBlock!.steps.filter((s) => s.step === n).map((s) => s.ms)),
          0.5,
        ),
      ),
    }));
    const summary = {
      date: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model}, load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
      command: `npx tsx scripts/bench-switchover.ts ${process.argv.slice(2).join(' ')}`.trim(),
      runs,
      writeBlock,
      gtid,
      connections,
      pauseMs,
      parallelReplication: Number(arg('parallel-replication', '0')),
      transactionsPerSec: r1(rec.commits.length / ((rec.commits.at(-1)!.at - rec.commits[0].at) / 1000)),
      toolWindowMs: {
        median: r1(quantile(toolMs, 0.5)),
        p90: r1(quantile(toolMs, 0.9)),
        min: r1(Math.min(...toolMs)),
        max: r1(Math.max(...toolMs)),
        all: toolMs,
      },
      clientWindowMs: {
        median: r1(quantile(clientMs, 0.5)),
        p90: r1(quantile(clientMs, 0.9)),
        min: r1(Math.min(...clientMs)),
        max: r1(Math.max(...clientMs)),
        all: clientMs.map(r1),
      },
      stepMedians,
      failedSwitches,
      acknowledgedRows: rec.acknowledged.length,
      rejectedWrites: rec.failures.length,
      rejectedOutsideWindows: outside.length,
      lostAcknowledged: lost.length,
      identical: sums.every((s) => s === sums[0]),
    };
    const json = arg('json');
    if (json) writeFileSync(json, `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    if (lost.length > 0 || !summary.identical || outside.length > 0) process.exitCode = 1;
  } finally {
    loadChildProc?.kill('SIGKILL');
    await c?.close();
  }
}

if (flag('load-child')) await loadChild();
else await main();
