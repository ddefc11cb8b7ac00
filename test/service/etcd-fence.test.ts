/**
 * Leadership, fencing and the failover records on a real three-member etcd cluster
 * (test/lab/etcd-lab.ts, client ports 23795–23797): what the manager-HA scenarios in
 * etcd-ha.test.ts rely on, checked without database servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedOut } from '../../src/manager/failover-state.js';
import { EtcdCoordinator, type Leadership } from '../../src/service/coordination/etcd-coordinator.js';
import { EtcdFailoverState } from '../../src/service/coordination/etcd-failover-state.js';
import { type EtcdLab, etcdAvailable, startEtcdCluster } from '../lab/etcd-lab.js';

let etcd: EtcdLab | undefined;
const coordinators: EtcdCoordinator[] = [];
const leaderships: Leadership[] = [];
let appCounter = 0;

function coordinator(identity: string, ttlSec = 3): EtcdCoordinator {
  const c = new EtcdCoordinator({ endpoints: etcd!.endpoints, ttlSec, identity, prefix: '/mha-fence-test' });
  coordinators.push(c);
  return c;
}

async function lead(c: EtcdCoordinator, app: string): Promise<Leadership> {
  const l = await c.campaign(app, AbortSignal.timeout(30_000));
  leaderships.push(l);
  return l;
}

const nextApp = () => `app${++appCounter}`;

/** A member that is not the raft leader (etcd's JSON gateway: /v3/maintenance/status). */
async function raftFollower(): Promise<string> {
  for (const m of etcd!.members) {
    const res = await fetch(`http://${m.host}:${m.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}' });
    const st = (await res.json()) as { header: { member_id: string }; leader: string };
    if (st.header.member_id !== st.leader) return m.name;
  }
  throw new Error('no etcd follower found');
}

describe.skipIf(!etcdAvailable())('etcd leadership and fencing (three-member etcd on loopback)', () => {
  beforeAll(async () => {
    etcd = await startEtcdCluster({ basePort: 23795 });
  });
  afterAll(async () => {
    for (const l of leaderships) await l.resign().catch(() => {});
    for (const c of coordinators) c.close();
    await etcd?.close();
  });

  it('one leader at a time; its token is the leader key create revision; a resignation hands over at once', async () => {
    const app = nextApp();
    const a = coordinator('manager-a');
    const b = coordinator('manager-b');
    const la = await lead(a, app);
    const info = await a.leader(app);
    expect(info).toEqual({ identity: 'manager-a', lease: la.lease, token: la.token });
    await la.fence('SET GLOBAL read_only=0');

    const controller = new AbortController();
    let bLeads = false;
    const pending = b.campaign(app, controller.signal).then((l) => {
      bLeads = true;
      leaderships.push(l);
      return l;
    });
    // Well past a TTL while A keeps its lease alive: B must not lead.
    await new Promise((r) => setTimeout(r, 4500));
    expect(bLeads).toBe(false);
    await la.fence('still leading');
    const t0 = Date.now();
    await la.resign();
    const lb = await pending;
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(BigInt(lb.token)).toBeGreaterThan(BigInt(la.token));
    expect(la.signal.aborted).toBe(true);
    await expect(la.fence('CHANGE MASTER TO …')).rejects.toBeInstanceOf(FencedOut);
    await lb.fence('CHANGE MASTER TO …');
  });

  it('a stale token is refused by etcd: the old leader cannot act nor write the failover records', async () => {
    const app = nextApp();
    const a = coordinator('manager-a');
    const b = coordinator('manager-b');
    const la = await lead(a, app);
    const stateA = new EtcdFailoverState(la);
    await stateA.guard.markError();

    // The lease disappears behind A's back (as when etcd expired it while A was paused):
    // B takes over; A has not noticed yet (its next keepalive is up to TTL/3 away).
    await b.client.leaseClient.leaseRevoke({ ID: la.lease });
    const lb = await lead(b, app);
    const stateB = new EtcdFailoverState(lb);

    const refused = await la.fence('STOP SLAVE').then(
      () => 'acted',
      (e) => e,
    );
    expect(refused).toBeInstanceOf(FencedOut);
    expect(String(refused)).toMatch(/stale|lost/);
    const progress = {
      app,
      deadMaster: { hostname: 'db1', ip: '127.0.0.1', port: 3306 },
      newMaster: { name: 'db2(127.0.0.2:3306)', hostname: 'db2', ip: '127.0.0.2', port: 3306 },
      newMasterPosition: { file: 'mysql-bin.000002', pos: 1234 },
      phase: 'Phase 4',
      repointed: [],
      updatedAt: new Date().toISOString(),
    };
    await expect(stateA.progress.save(progress)).rejects.toBeInstanceOf(FencedOut);
    await expect(stateA.saveReport({ startedAt: 'x' })).rejects.toBeInstanceOf(FencedOut);
    expect(await stateB.progress.load()).toBeUndefined();

    // The new leader sees what the old one recorded while it led, and writes its own.
    expect(await stateB.guard.refusal({ ignoreLastFailover: false, lastFailoverMinute: 480 })).toMatch(
      /Failover error flag \/mha-fence-test\/app\d+\/failover\/error exists in etcd/,
    );
    await stateB.progress.save(progress);
    expect(await stateB.progress.load()).toEqual(progress);
    await stateB.guard.clear();
    await stateB.guard.markComplete();
    expect(await stateB.guard.refusal({ ignoreLastFailover: false, lastFailoverMinute: 480 })).toMatch(
      /too early to do failover again/,
    );
    expect(await stateB.guard.refusal({ ignoreLastFailover: true, lastFailoverMinute: 480 })).toBeUndefined();
    expect(await stateB.guard.refusal({ ignoreLastFailover: false, lastFailoverMinute: 480 })).toBeUndefined();
    await stateB.progress.clear();
    expect(await stateB.progress.load()).toBeUndefined();
  });

  it('cut off from etcd, a leader stops by itself before its lease can expire, and refuses locally', async () => {
    const app = nextApp();
    const a = coordinator('manager-a', 3);
    const la = await lead(a, app);
    await la.fence('warm-up');
    const frozenAt = performance.now();
    etcd!.freeze(true);
    try {
      await new Promise<void>((resolve) => {
        if (la.signal.aborted) resolve();
        la.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      const stoppedAfter = performance.now() - frozenAt;
      // etcd cannot expire the lease earlier than TTL (3 s) after its last keepalive,
      // which was no earlier than TTL/3 before the freeze.
      expect(stoppedAfter).toBeLessThan(3000);
      expect(la.lost).toMatch(/no answered lease keepalive/);
      const t = performance.now();
      await expect(la.fence('SET GLOBAL read_only=0')).rejects.toBeInstanceOf(FencedOut);
      expect(performance.now() - t).toBeLessThan(50);
    } finally {
      etcd!.freeze(false);
    }
  });

  it('an etcd member of three dies (not the raft leader): the leader keeps its lead and may act', async () => {
    const app = nextApp();
    const a = coordinator('manager-a', 5);
    const la = await lead(a, app);
    // A raft leader's death stops etcd for an election (up to a few seconds here), which a
    // manager cannot tell from a partition: it may then hand over. A follower's must not matter.
    const follower = await raftFollower();
    await etcd!.stopMember(follower);
    try {
      // Three TTLs: every keepalive and check must find a live member.
      for (let i = 0; i < 30; i++) {
        await la.fence(`action ${i}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(la.lost).toBeUndefined();
      expect(la.signal.aborted).toBe(false);
    } finally {
      await etcd!.startMember(follower);
    }
  });

  it('a leader that dies without resigning is replaced once its lease expires (about one TTL)', async () => {
    const app = nextApp();
    // 3 s: etcd raises shorter TTLs to 1.5 election timeouts (here 2.25 s).
    const a = new EtcdCoordinator({
      endpoints: etcd!.endpoints,
      ttlSec: 3,
      identity: 'dies',
      prefix: '/mha-fence-test',
    });
    const la = await a.campaign(app);
    // Stop its keepalives without touching etcd: as if the process was killed.
    (la as unknown as { stopTimers(): void }).stopTimers();
    a.close();
    const b = coordinator('manager-b', 3);
    const t0 = Date.now();
    const lb = await lead(b, app);
    const took = Date.now() - t0;
    expect(took).toBeLessThan(3000 + 1500);
    await lb.fence('take over');
  });
});
