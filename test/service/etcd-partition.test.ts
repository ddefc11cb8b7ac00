/**
 * Manager HA under a partition, in network namespaces (as root): the MariaDB servers (with
 * sshd), the three etcd members and two managers each on a "host" of their own, on a
 * private segment (10.241.0.0/24, inside the test's namespaces only). The leading manager
 * is cut off from etcd alone — blackhole routes to the etcd members in its namespace — so
 * it still sees the servers, sees the master die, and would fail over if it were not
 * fenced. The loopback lab cannot be used here: a namespace cannot reach the root
 * namespace's 127.0.0.0/8.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdLab, etcdAvailable, startEtcdCluster } from '../lab/etcd-lab.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { type NetnsCluster, netnsAvailable, startNetnsCluster } from '../lab/netns-lab.js';
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
const ETCD_OCTETS = [31, 32, 33];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let cluster: NetnsCluster | undefined;
let etcd: EtcdLab | undefined;
const managers: ManagerProcess[] = [];

describe.skipIf(!netnsAvailable() || !etcdAvailable() || !mariadbAvailable() || !sshdAvailable())(
  'manager HA on etcd: the leading manager partitioned from etcd (network namespaces)',
  () => {
    beforeAll(async () => {
      cluster = await startNetnsCluster({
        perServer: [[], ['candidate_master=1'], []],
        network: { prefix: 'me', subnet: '10.241.0' },
        keep: !!process.env.KEEP_LAB,
      });
      const net = cluster.net;
      await net.addHost('mgr2', 3);
      for (const [i, octet] of ETCD_OCTETS.entries()) await net.addHost(`etcd${i + 1}`, octet);
      etcd = await startEtcdCluster({
        members: ETCD_OCTETS.map((_octet, i) => ({
          name: `etcd${i + 1}`,
          host: net.address(`etcd${i + 1}`),
          clientPort: 23790,
          peerPort: 23800,
          netns: net.ns(`etcd${i + 1}`),
        })),
      });
    }, 240_000);

    afterAll(async () => {
      await Promise.allSettled(managers.map((m) => m.kill()));
      await etcd?.close();
      await cluster?.close();
    }, 120_000);

    it('master killed while the leader is cut off from etcd: exactly one failover, by the manager holding the lease', {
      timeout: 240_000,
    }, async () => {
      const c = cluster!;
      const net = c.net;
      const ha = [`etcd_endpoints=${etcd!.endpoints.join(',')}`, `manager_lease_ttl=${TTL}`];
      const m1 = startManager('m1', managerConf(c.confFile, c.dir, 'm1', ha), { netns: net.ns('mgr') });
      managers.push(m1);
      await waitForLine([m1], LEADING, 90_000);
      await waitForLine([m1], MONITORING, 60_000);
      const m2 = startManager('m2', managerConf(c.confFile, c.dir, 'm2', ha), { netns: net.ns('mgr2') });
      managers.push(m2);
      await waitForLine([m2], /Manager HA: waiting to lead app1/, 90_000);
      await c.lab.query('db1', 'CREATE DATABASE IF NOT EXISTS ha');
      await c.lab.query('db1', 'CREATE TABLE ha.t (id INT PRIMARY KEY)');
      await c.lab.query('db1', 'INSERT INTO ha.t VALUES (1), (2), (3)');
      await sleep(1500);
      expect(m2.log()).not.toMatch(LEADING);

      // m1 loses etcd (only etcd), then at once the master dies: m1 still sees the servers,
      // and its lease is still valid for a few seconds in etcd's eyes.
      const from = logOffsets([m1, m2]);
      for (const octet of ETCD_OCTETS) {
        execFileSync('ip', ['-n', net.ns('mgr'), 'route', 'add', 'blackhole', `10.241.0.${octet}/32`], {
          timeout: 10_000,
        });
      }
      const cutAt = Date.now();
      await c.lab.killInstance('db1');
      const killedAt = Date.now();

      const lost = await waitForLine([m1], /lost the lead of app1|Not acting/, 30_000, from);
      const led = await waitForLine([m2], LEADING, (TTL + 15) * 1000, from);
      const done = await waitForLine([m2], /- \[info\] Master failover to .* completed successfully\./, 120_000, from);
      process.stdout.write(
        `[etcd-partition] m1 stopped acting ${lost.seenAt - cutAt} ms after the cut; m2 led ${led.seenAt - cutAt} ms after it; failover done ${done.seenAt - killedAt} ms after the master's death\n`,
      );
      expect(done.line).toContain('10.241.0.12(10.241.0.12:3306)');
      // Never both: m1 stopped before m2 started.
      expect(lost.seenAt).toBeLessThanOrEqual(led.seenAt);

      // m1 changed nothing: no fencing of the dead master, no new master, no repointing.
      await sleep(2000);
      const m1Log = m1.log().slice(from.get('m1'));
      // Usually m1 saw the master die before its lease ran out and started a failover,
      // which stopped before any change: etcd unreachable, then its lease gone.
      process.stdout.write(
        `[etcd-partition] m1 ${/Starting master failover/.test(m1Log) ? 'started a failover and stopped before changing anything' : 'stepped down before it saw the master die'}: ${m1Log
          .split('\n')
          .filter((l) => /Not acting|lost the lead|etcd/.test(l))
          .slice(0, 4)
          .join(' | ')}\n`,
      );
      expect(m1Log).not.toMatch(/Dead Master Shutdown Phase completed|Setting read_only=0|completed successfully/);
      expect(m1Log).not.toMatch(/Resetting slave info|Slave started, replicating from/);
      expect(m2.log().match(/- \[info\] Master failover to .* completed successfully\./g)).toHaveLength(1);

      // One writable server, the other replicating from it, nothing lost.
      const ro = async (db: string) => Number((await c.lab.query(db, 'SELECT @@global.read_only AS ro'))[0].ro);
      expect(await ro('db2')).toBe(0);
      expect(await ro('db3')).toBe(1);
      const [st] = await c.lab.query('db3', 'SHOW SLAVE STATUS');
      expect(st.Master_Host).toBe('10.241.0.12');
      expect(st.Slave_SQL_Running).toBe('Yes');
      for (const db of ['db2', 'db3']) {
        const rows = await c.lab.query(db, 'SELECT COUNT(*) AS n FROM ha.t');
        expect(Number(rows[0].n)).toBe(3);
      }
      // m1 keeps trying to lead but cannot while cut off; it neither exited nor acted.
      expect(m1.running()).toBe(true);
    });
  },
);
