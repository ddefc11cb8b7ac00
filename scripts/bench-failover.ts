/**
 * Failover timing benchmark: the demo's scenario (3 MariaDB servers with sshd, a write
 * load, one replica lagging, SIGKILL to the master) repeated, with ping_interval=1 and
 * with MHA's default ping_interval=3. Prints the median time from the kill to "new master
 * writable" and to "all replicas repointed", per setting.
 *
 *   npx tsx scripts/bench-failover.ts [--runs N]      (as root; several minutes)
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

interface Run {
  detected: number;
  writable: number;
  repointed: number;
  lost: number;
  identical: boolean;
  appliedBytes: number;
}

async function once(pingInterval: number): Promise<Run> {
  const c = await startCluster({
    perServer: [[], ['candidate_master=1'], []],
    serverDefault: [`ping_interval=${pingInterval}`],
  });
  const controller = new AbortController();
  try {
    for (const s of LOAD_DDL) await c.lab.query('db1', s);
    const load = new LoadGenerator({ host: c.hosts[0], port: 3306, connections: 3, rowsPerTransaction: 3 });
    await load.start();
    await sleep(1500);
    await waitIoStopped(c.lab, c.lab.instance('db3'));
    const reports: FailoverReport[] = [];
    const manager = runManager({
      confFile: c.confFile,
      globalConf: null,
      exitAfterFailover: true,
      signal: controller.signal,
      onFailover: (r) => reports.push(r),
    });
    await sleep(2000 + pingInterval * 1000);
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
    return {
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
  const i = process.argv.indexOf('--runs');
  const runs = i > 0 ? Number(process.argv[i + 1]) : 5;
  const lines: string[] = [];
  for (const ping of [1, 3]) {
    const results: Run[] = [];
    for (let k = 0; k < runs; k++) {
      const r = await once(ping);
      results.push(r);
      process.stderr.write(
        `ping_interval=${ping} run ${k + 1}: dead after ${r.detected} ms, writable ${r.writable} ms, repointed ${r.repointed} ms, lost ${r.lost}, identical ${r.identical}, ${r.appliedBytes} bytes applied\n`,
      );
    }
    lines.push(
      `| ${ping} | ${runs} | ${median(results.map((r) => r.detected)) / 1000} s | ${median(results.map((r) => r.writable)) / 1000} s | ${median(results.map((r) => r.repointed)) / 1000} s | ${results.reduce((a, r) => a + r.lost, 0)} | ${results.every((r) => r.identical) ? 'yes' : 'NO'} |`,
    );
  }
  process.stdout.write(
    `| ping_interval | runs | median kill→declared dead | median kill→new master writable | median kill→all replicas repointed | acknowledged commits lost (all runs) | survivors identical |\n|---|---|---|---|---|---|---|\n${lines.join('\n')}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
