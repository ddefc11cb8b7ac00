/**
 * Failover timing benchmark: 3 MariaDB servers with sshd, a write load, SIGKILL to the
 * master, the manager failing over by itself — repeated per scenario and ping_interval.
 * Prints the median time from the kill to "declared dead", "new master writable" and "all
 * replicas repointed".
 *
 * Scenarios (--scenarios, comma-separated; default `demo`):
 * - demo: the demo's — the non-candidate replica's I/O thread stopped a few seconds before the kill;
 * - nothing: no replica lags, nothing to apply (the failover's fixed cost);
 * - lagging-candidate: the candidate_master's I/O thread stopped until it is --lag-mb
 *   (default 80) MB of master binlog behind, then the kill — the new master first applies
 *   those MB from the other replica's relay logs (read over SSH), the walkthrough's scenario.
 *
 *   npx tsx scripts/bench-failover.ts [--runs N] [--pings 1,3] [--scenarios demo,nothing,lagging-candidate] [--lag-mb 80]
 *   (as root; several minutes)
 */
import type { FailoverReport } from '../src/manager/failover.js';
import { runManager } from '../src/manager/manager.js';
import { waitIoStopped } from '../test/engine/recovery-helpers.js';
import { startCluster } from '../test/lab/cluster-lab.js';
import { LOAD_DDL, LoadGenerator } from '../test/lab/load-generator.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : Number.NaN;
};

type Scenario = 'demo' | 'nothing' | 'lagging-candidate';

interface Run {
  detected: number;
  writable: number;
  repointed: number;
  lost: number;
  identical: boolean;
  appliedBytes: number;
  /** The new master's own diff: bytes and the time its recovery took. */
  newMasterDiff?: { bytes: number; ms: number };
  newMaster?: string;
}

async function once(pingInterval: number, scenario: Scenario, lagMb: number): Promise<Run> {
  const c = await startCluster({
    perServer: [[], ['candidate_master=1'], []],
    serverDefault: [`ping_interval=${pingInterval}`],
  });
  const controller = new AbortController();
  try {
    for (const s of LOAD_DDL) await c.lab.query('db1', s);
    const load = new LoadGenerator({
      host: c.hosts[0],
      port: 3306,
      connections: scenario === 'lagging-candidate' ? 4 : 3,
      rowsPerTransaction: 3,
      payloadBytes: scenario === 'lagging-candidate' ? 1500 : undefined,
    });
    await load.start();
    await sleep(1500);
    if (scenario === 'demo') await waitIoStopped(c.lab, c.lab.instance('db3'));
    if (scenario === 'lagging-candidate') await waitIoStopped(c.lab, c.lab.instance('db2'));
    const lagFrom = await c.lab.masterStatus('db1');
    const lagStart = Date.now();
    const reports: FailoverReport[] = [];
    const manager = runManager({
      confFile: c.confFile,
      globalConf: null,
      exitAfterFailover: true,
      signal: controller.signal,
      onFailover: (r) => reports.push(r),
    });
    await sleep(2000 + pingInterval * 1000);
    if (scenario === 'lagging-candidate') {
      // The manager is monitoring; the kill comes when the candidate is lagMb behind.
      for (;;) {
        const now = await c.lab.masterStatus('db1');
        if (now.file !== lagFrom.file || now.pos - lagFrom.pos >= lagMb * 1024 * 1024) break;
        if (Date.now() - lagStart > 300_000) throw new Error('the load did not write enough binlog in 5 minutes');
        await sleep(50);
      }
      process.stderr.write(
        `  candidate ${lagMb} MiB of master binlog behind after ${((Date.now() - lagStart) / 1000).toFixed(1)} s of load\n`,
      );
    }
    await c.lab.killInstance('db1');
    const killedAt = Date.now();
    await load.ended(10_000);
    const code = await Promise.race([manager, sleep(180_000).then(() => -1)]);
    const r = reports[0];
    if (code !== 0 || !r) throw new Error(`failover failed (exit ${code})`);
    const end = (prefix: string) => {
      const p = r.phases.find((x) => x.phase.startsWith(prefix));
      return p ? new Date(p.startedAt).getTime() + p.ms - killedAt : Number.NaN;
    };
    const sums = await Promise.all(
      ['db2', 'db3'].map(async (db) =>
        String((await c.lab.query(db, 'CHECKSUM TABLE app.orders EXTENDED'))[0].Checksum),
      ),
    );
    const present = new Set((await c.lab.query('db2', 'SELECT id FROM app.orders')).map((x) => Number(x.id)));
    const nm = r.servers.find((x) => x.role === 'new master');
    return {
      newMaster: r.newMaster,
      newMasterDiff: nm?.diff ? { bytes: nm.diff.bytes, ms: nm.diff.applyMs ?? Number.NaN } : undefined,
      detected: new Date(r.detection!.detectedAt).getTime() - killedAt,
      writable: end('Phase 3.5'),
      repointed: end('Phase 4'),
      lost: [...load.stats.acknowledged].filter((id) => !present.has(id)).length,
      identical: sums[0] === sums[1],
      appliedBytes: r.servers.reduce((a, s) => a + (s.diff?.bytes ?? 0), 0),
    };
  } finally {
    controller.abort();
    await c.close();
  }
}

async function main(): Promise<void> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const runs = Number(arg('runs') ?? 5);
  const pings = (arg('pings') ?? '1,3').split(',').map(Number);
  const scenarios = (arg('scenarios') ?? 'demo').split(',') as Scenario[];
  const lagMb = Number(arg('lag-mb') ?? 80);
  const lines: string[] = [];
  for (const scenario of scenarios) {
    for (const ping of pings) {
      const results: Run[] = [];
      for (let k = 0; k < runs; k++) {
        const r = await once(ping, scenario, lagMb);
        results.push(r);
        const nm = r.newMasterDiff
          ? `; new master ${r.newMaster} applied ${(r.newMasterDiff.bytes / 1e6).toFixed(1)} MB in ${(r.newMasterDiff.ms / 1000).toFixed(2)} s`
          : `; new master ${r.newMaster}`;
        process.stderr.write(
          `${scenario} ping_interval=${ping} run ${k + 1}: dead after ${r.detected} ms, writable ${r.writable} ms, repointed ${r.repointed} ms, lost ${r.lost}, identical ${r.identical}, ${r.appliedBytes} bytes applied${nm}\n`,
        );
      }
      const nmBytes = median(results.map((r) => r.newMasterDiff?.bytes ?? 0));
      lines.push(
        `| ${scenario} | ${ping} | ${runs} | ${median(results.map((r) => r.detected)) / 1000} s | ${median(results.map((r) => r.writable)) / 1000} s | ${median(results.map((r) => r.repointed)) / 1000} s | ${nmBytes ? `${(nmBytes / 1e6).toFixed(1)} MB` : '—'} | ${results.reduce((a, r) => a + r.lost, 0)} | ${results.every((r) => r.identical) ? 'yes' : 'NO'} |`,
      );
    }
  }
  process.stdout.write(
    `| scenario | ping_interval | runs | median kill→declared dead | median kill→new master writable | median kill→all replicas repointed | new master's diff (median) | acknowledged commits lost (all runs) | survivors identical |\n|---|---|---|---|---|---|---|---|---|\n${lines.join('\n')}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
