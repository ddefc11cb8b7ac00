/**
 * The one-command demo: a master and two replicas of MariaDB on 127.0.0.11–13 with sshd,
 * a write load, one replica lagging, the master killed with SIGKILL under load, the
 * mha-ts manager failing over by itself — then a verdict on data and timings.
 *
 *   npm run demo            (as root on Debian 12: installs what is missing first)
 */
import { readFileSync } from 'node:fs';
import type { FailoverReport } from '../src/manager/failover.js';
import { runManager } from '../src/manager/manager.js';
import { waitIoStopped } from '../test/engine/recovery-helpers.js';
import { type ClusterLab, startCluster } from '../test/lab/cluster-lab.js';
import { LOAD_DDL, LoadGenerator } from '../test/lab/load-generator.js';

const say = (s = '') => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say('The demo starts MariaDB servers and sshd on loopback addresses: run it as root.');
    return 1;
  }
  say(
    'mha-ts demo: master 127.0.0.11, replicas 127.0.0.12 (candidate_master) and 127.0.0.13, sshd on each, ping_interval=1',
  );
  let cluster: ClusterLab | undefined;
  const controller = new AbortController();
  try {
    cluster = await startCluster({ perServer: [[], ['candidate_master=1'], []] });
    const c = cluster;
    say(`  servers up; configuration ${c.confFile}, manager log ${c.managerLog}`);
    for (const s of LOAD_DDL) await c.lab.query('db1', s);
    const load = new LoadGenerator({ host: c.hosts[0], port: 3306, connections: 3, rowsPerTransaction: 3 });
    await load.start();
    say('  write load running (3 sessions, 3-row transactions, every acknowledged commit recorded)');
    await sleep(2000);
    await waitIoStopped(c.lab, c.lab.instance('db3'));
    say('  127.0.0.13: replication I/O thread stopped — it will lag behind');

    const reports: FailoverReport[] = [];
    const manager = runManager({
      confFile: c.confFile,
      globalConf: null,
      exitAfterFailover: true,
      signal: controller.signal,
      onFailover: (r) => reports.push(r),
    });
    await sleep(3000);
    const before = load.stats.acknowledged.size;
    await c.lab.killInstance('db1');
    const killedAt = Date.now();
    say(`  SIGKILL to the master's mariadbd after ${before} acknowledged rows`);
    await load.ended(10_000);
    const code = await Promise.race([
      manager,
      sleep(180_000).then(() => {
        controller.abort();
        return -1;
      }),
    ]);
    const report = reports[0];
    if (code !== 0 || !report) {
      say(`FAILOVER DID NOT COMPLETE (manager exit ${code}). Last lines of the manager log:`);
      say(readFileSync(c.managerLog, 'utf8').split('\n').slice(-30).join('\n'));
      return 1;
    }
    const newMaster = report.newMaster ?? '?';
    const survivors = ['db2', 'db3'];
    const sums = await Promise.all(
      survivors.map(async (db) => String((await c.lab.query(db, 'CHECKSUM TABLE app.orders EXTENDED'))[0].Checksum)),
    );
    const nmDb = newMaster.startsWith('127.0.0.12') ? 'db2' : 'db3';
    const present = new Set((await c.lab.query(nmDb, 'SELECT id FROM app.orders')).map((r) => Number(r.id)));
    const acked = [...load.stats.acknowledged];
    const lost = acked.filter((id) => !present.has(id));
    const writable = [];
    for (const db of survivors) {
      if (Number((await c.lab.query(db, 'SELECT @@read_only AS ro'))[0].ro) === 0) writable.push(db);
    }
    const phaseEnd = (prefix: string) => {
      const p = report.phases.find((x) => x.phase.startsWith(prefix));
      return p ? new Date(p.startedAt).getTime() + p.ms - killedAt : Number.NaN;
    };
    const detected = report.detection ? new Date(report.detection.detectedAt).getTime() - killedAt : Number.NaN;
    say('');
    say('Verdict');
    say(`  new master:                  ${newMaster}`);
    say(
      `  survivors identical:         ${sums[0] === sums[1] ? 'yes' : 'NO'} (CHECKSUM TABLE app.orders: ${sums.join(' / ')})`,
    );
    say(`  acknowledged commits lost:   ${lost.length} of ${acked.length}`);
    say(
      `  writable servers:            ${writable.length} (${writable.map((d) => (d === 'db2' ? '127.0.0.12' : '127.0.0.13')).join(', ')})`,
    );
    say('Timings from the kill');
    say(`  master declared dead:        ${secs(detected)}`);
    say(`  dead master fenced:          ${secs(phaseEnd('Phase 2'))}`);
    say(`  new master writable:         ${secs(phaseEnd('Phase 3.5'))}`);
    say(`  all replicas repointed:      ${secs(phaseEnd('Phase 4'))}`);
    say(`  failover finished:           ${secs(new Date(report.finishedAt).getTime() - killedAt)}`);
    for (const s of report.servers) {
      if (s.diff)
        say(
          `  ${s.server}: applied ${s.diff.transactions} transaction(s), ${s.diff.bytes} bytes (${s.diff.pieces.join(' + ')})`,
        );
    }
    say(`Report: ${c.workdir}/app1.failover.report.json (removed with the lab at exit)`);
    const ok = sums[0] === sums[1] && lost.length === 0 && writable.length === 1;
    say(ok ? '\nOK: zero lost transactions, survivors identical, one writable master.' : '\nFAILED: see above.');
    return ok ? 0 : 1;
  } finally {
    controller.abort();
    await cluster?.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
