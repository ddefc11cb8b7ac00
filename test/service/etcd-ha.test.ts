/**
 * Manager HA on real parts: a three-member etcd cluster on loopback (client ports
 * 23790–23792), the three-server MariaDB lab on 127.0.0.141–.143 with sshd, and managers
 * as separate processes (`mha manager --conf=…`, each with its own log and workdir, as on
 * its own host), killed with SIGKILL.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverReport } from '../../src/manager/failover.js';
import { EtcdCoordinator } from '../../src/service/coordination/etcd-coordinator.js';
import { lastFailoverReport } from '../../src/service/coordination/etcd-failover-state.js';
import { waitIoStopped } from '../engine/recovery-helpers.js';
import { type ClusterLab, startCluster } from '../lab/cluster-lab.js';
import { type EtcdLab, etcdAvailable, startEtcdCluster } from '../lab/etcd-lab.js';
import { LOAD_DDL, LoadGenerator } from '../lab/load-generator.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import {
  LEADING,
  logOffsets,
  type ManagerProcess,
  MONITORING,
  managerConf,
  startManager,
  waitForLine,
} from './etcd-ha-helpers.js';

const TTL = 5;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let etcd: EtcdLab | undefined;
let cluster: ClusterLab | undefined;
const managers: ManagerProcess[] = [];
const coordinators: EtcdCoordinator[] = [];

function haLines(prefix: string): string[] {
  return [`etcd_endpoints=${etcd!.endpoints.join(',')}`, `etcd_prefix=${prefix}`, `manager_lease_ttl=${TTL}`];
}

function start(name: string, prefix: string, daemonPort?: number): ManagerProcess {
  const paths = managerConf(cluster!.confFile, join(cluster!.dir, prefix.replace(/\W/g, '')), name, haLines(prefix));
  const m = startManager(name, paths, daemonPort ? { daemon: { port: daemonPort } } : {});
  managers.push(m);
  return m;
}

async function writable(db: string): Promise<boolean> {
  const [row] = await cluster!.lab.query(db, 'SELECT @@global.read_only AS ro');
  return Number(row.ro) === 0;
}

async function checksum(db: string): Promise<string> {
  const [row] = await cluster!.lab.query(db, 'CHECKSUM TABLE app.orders EXTENDED');
  return String(row.Checksum);
}

describe.skipIf(!etcdAvailable() || !mariadbAvailable() || !sshdAvailable())(
  'manager HA on etcd: managers as processes, MariaDB lab on 127.0.0.141–.143',
  () => {
    beforeAll(async () => {
      [etcd, cluster] = await Promise.all([
        startEtcdCluster({ basePort: 23790 }),
        startCluster({ firstOctet: 141, perServer: [[], ['candidate_master=1'], []], keep: !!process.env.KEEP_LAB }),
      ]);
    }, 180_000);

    afterAll(async () => {
      await Promise.allSettled(managers.map((m) => m.kill()));
      for (const c of coordinators) c.close();
      await Promise.allSettled([cluster?.close(), etcd?.close()]);
    }, 120_000);

    it('the leading manager is SIGKILLed: another leads and monitors within the lease time', {
      timeout: 180_000,
    }, async () => {
      const prefix = '/mha-ha-kill';
      const ms = [start('m1', prefix), start('m2', prefix), start('m3', prefix)];
      const first = await waitForLine(ms, LEADING, 60_000);
      const leader = first.manager;
      await waitForLine([leader], MONITORING, 60_000);
      // Every manager is up and waiting before the leader dies.
      for (const m of ms.filter((x) => x !== leader))
        await waitForLine([m], /Manager HA: waiting to lead app1/, 60_000);
      await sleep(1500);
      for (const m of ms.filter((x) => x !== leader)) expect(m.log()).not.toMatch(LEADING);

      const from = logOffsets(ms);
      const killedAt = Date.now();
      await leader.kill('SIGKILL');
      const others = ms.filter((x) => x !== leader);
      const next = await waitForLine(others, LEADING, (TTL + 10) * 1000, from);
      const monitoring = await waitForLine([next.manager], MONITORING, 30_000, from);
      const tookLead = next.seenAt - killedAt;
      const tookMonitor = monitoring.seenAt - killedAt;
      process.stdout.write(
        `[etcd-ha] take-over after SIGKILL of the leader: leading after ${tookLead} ms, monitoring after ${tookMonitor} ms (lease TTL ${TTL} s)\n`,
      );
      // The lease expires TTL after its last keepalive, which was at most TTL/3 before the kill.
      expect(tookLead).toBeLessThan(TTL * 1000 + 1500);
      expect(tookMonitor).toBeLessThan(TTL * 1000 + 5000);
      // Exactly one of the survivors took over; nothing was failed over.
      const third = others.find((x) => x !== next.manager)!;
      expect(third.log().slice(from.get(third.name))).not.toMatch(LEADING);
      for (const m of ms) expect(m.log()).not.toContain('Starting master failover');
      expect(await writable('db1')).toBe(true);
      const c = new EtcdCoordinator({ endpoints: etcd!.endpoints, prefix });
      coordinators.push(c);
      const info = await c.leader('app1');
      expect(next.line).toContain(`fencing token ${info?.token}.`);
      await Promise.all(ms.map((m) => m.kill('SIGTERM')));
    });

    it('two daemons (mha manager --config-dir) on the same cluster: one leads; SIGKILLed, the other takes over and its API shows the cluster monitored', {
      timeout: 180_000,
    }, async () => {
      const prefix = '/mha-ha-daemon';
      const d1 = start('d1', prefix, 19761);
      const first = await waitForLine([d1], LEADING, 60_000);
      await waitForLine([d1], MONITORING, 60_000);
      const d2 = start('d2', prefix, 19762);
      await waitForLine([d2], /Manager HA: waiting to lead app1/, 60_000);
      await sleep(1500);
      expect(d2.log()).not.toMatch(LEADING);
      type View = { master?: string; state?: string; leadership?: { leading: boolean; token?: string } };
      const cluster1 = (await (await fetch('http://127.0.0.1:19761/api/clusters/app1')).json()) as View;
      expect(cluster1.master).toBe('127.0.0.141(127.0.0.141:3306)');
      expect(cluster1.leadership).toMatchObject({ leading: true });
      const standby = (await (await fetch('http://127.0.0.1:19762/api/clusters/app1')).json()) as View;
      expect(standby.leadership?.leading ?? false).toBe(false);
      expect(first.line).toMatch(/fencing token \d+/);

      const from = logOffsets([d2]);
      const killedAt = Date.now();
      await d1.kill('SIGKILL');
      const next = await waitForLine([d2], LEADING, (TTL + 10) * 1000, from);
      const monitoring = await waitForLine([d2], MONITORING, 30_000, from);
      process.stdout.write(
        `[etcd-ha] daemon take-over after SIGKILL: leading after ${next.seenAt - killedAt} ms, monitoring after ${monitoring.seenAt - killedAt} ms\n`,
      );
      expect(next.seenAt - killedAt).toBeLessThan(TTL * 1000 + 1500);
      let view: View = {};
      for (let i = 0; i < 50 && view.state !== 'monitoring'; i++) {
        view = (await (await fetch('http://127.0.0.1:19762/api/clusters/app1')).json()) as typeof view;
        if (view.state !== 'monitoring') await sleep(200);
      }
      expect(view).toMatchObject({
        state: 'monitoring',
        master: '127.0.0.141(127.0.0.141:3306)',
        leadership: { leading: true },
      });
      await d2.kill('SIGTERM');
      expect(await writable('db1')).toBe(true);
    });

    it('the leading manager is SIGKILLed during a failover, after the new master opened: the new leader finishes it once, nothing lost, one writable server', {
      timeout: 300_000,
    }, async () => {
      const c = cluster!;
      const prefix = '/mha-ha-midfailover';
      for (const s of LOAD_DDL) await c.lab.query('db1', s);
      const ms = [start('m1', prefix), start('m2', prefix)];
      const first = await waitForLine(ms, LEADING, 60_000);
      const leader = first.manager;
      const follower = ms.find((x) => x !== leader)!;
      await waitForLine([leader], MONITORING, 60_000);
      await waitForLine([follower], /Manager HA: waiting to lead app1/, 60_000);

      const load = new LoadGenerator({ host: c.hosts[0], port: 3306, connections: 3, rowsPerTransaction: 3 });
      await load.start();
      await sleep(1500);
      // db3 falls behind, so Phase 4 has a diff to apply to it: time to kill the leader there.
      await waitIoStopped(c.lab, c.lab.instance('db3'));
      await sleep(3000);
      const from = logOffsets(ms);
      await c.lab.killInstance('db1');
      await load.ended(15_000);

      const phase4 = await waitForLine([leader], /\* Phase 4: Slaves Recovery Phase/, 90_000, from);
      await leader.kill('SIGKILL');
      const killedAt = Date.now();
      const leaderLog = leader.log();
      expect(leaderLog).toMatch(/Setting read_only=0 on 127\.0\.0\.142/);
      expect(leaderLog).not.toContain('completed successfully');
      process.stdout.write(`[etcd-ha] leader killed ${killedAt - phase4.seenAt} ms after its Phase 4 banner\n`);

      const took = await waitForLine([follower], LEADING, (TTL + 10) * 1000, from);
      const done = await waitForLine([follower], /Master failover to .* completed successfully\./, 120_000, from);
      process.stdout.write(
        `[etcd-ha] the new leader led after ${took.seenAt - killedAt} ms and finished the failover after ${done.seenAt - killedAt} ms\n`,
      );
      const followerLog = follower.log().slice(from.get(follower.name));
      expect(followerLog).toMatch(/was interrupted in Phase 4: Slaves Recovery Phase/);
      expect(done.line).toContain('127.0.0.142(127.0.0.142:3306)');
      // Once: one completion in all logs, one report in etcd, by the new leader, resuming.
      const completions = ms.flatMap(
        (m) => m.log().match(/- \[info\] Master failover to .* completed successfully\./g) ?? [],
      );
      expect(completions).toHaveLength(1);
      const coord = new EtcdCoordinator({ endpoints: etcd!.endpoints, prefix });
      coordinators.push(coord);
      // The report is kept right after the completion line is logged.
      let report: FailoverReport | undefined;
      for (let i = 0; i < 100 && !report; i++) {
        report = (await lastFailoverReport(coord, 'app1')) as FailoverReport | undefined;
        if (!report) await sleep(100);
      }
      if (!report) throw new Error('no failover report in etcd');
      expect(report.exitCode, JSON.stringify(report).slice(0, 2000)).toBe(0);
      expect(report.resumed?.newMaster).toBe('127.0.0.142(127.0.0.142:3306)');
      expect(report.resumed?.repointedBefore).toEqual([]);
      const local = JSON.parse(readFileSync(join(follower.workdir, 'app1.failover.report.json'), 'utf8'));
      expect(local.startedAt).toBe(report.startedAt);

      // Nothing lost, survivors identical, exactly one writable server.
      const present = new Set((await c.lab.query('db2', 'SELECT id FROM app.orders')).map((r) => Number(r.id)));
      const lost = [...load.stats.acknowledged].filter((id) => !present.has(id));
      expect(load.stats.acknowledged.size).toBeGreaterThan(50);
      expect(lost).toEqual([]);
      expect(await checksum('db3')).toBe(await checksum('db2'));
      expect(await writable('db2')).toBe(true);
      expect(await writable('db3')).toBe(false);
      const [st] = await c.lab.query('db3', 'SHOW SLAVE STATUS');
      expect(st.Master_Host).toBe('127.0.0.142');
      expect(st.Slave_IO_Running).toBe('Yes');
      expect(st.Slave_SQL_Running).toBe('Yes');
      await c.lab.query('db2', 'INSERT INTO app.orders VALUES (99999999, 0, "after failover", 1, NOW(6))');
      await c.lab.waitForReplicaCatchUp('db3', 'db2', 30_000);
      expect(await checksum('db3')).toBe(await checksum('db2'));
      // The failover is over: no progress left for a third manager to "resume".
      const progress = await coord.client.get(coord.key('app1', 'failover', 'progress')).string();
      expect(progress).toBeNull();
    });
  },
);
