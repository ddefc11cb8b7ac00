/**
 * The apply-settings records in etcd (EtcdFailoverState.settings): a manager that leads
 * relaxes a target's durability for a fast apply and is killed; the manager that takes over
 * the cluster — another coordinator, as on another host — finds the record and restores the
 * target's own settings, or keeps the recorded originals when it applies again. A real
 * three-member etcd (test/lab/etcd-lab.ts; client ports 23793, 23794, 23798, peers +10: no
 * clash with etcd-ha.test.ts and etcd-fence.test.ts) and a durable MariaDB 10.11 on
 * 127.0.0.182.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectableTarget,
  restorePendingSettings,
  settingsRecordKey,
  TargetSettings,
} from '../../src/engine/apply-settings.js';
import { FencedOut } from '../../src/manager/failover-state.js';
import { EtcdCoordinator, type Leadership } from '../../src/service/coordination/etcd-coordinator.js';
import { EtcdFailoverState } from '../../src/service/coordination/etcd-failover-state.js';
import { type EtcdLab, etcdAvailable, startEtcdCluster } from '../lab/etcd-lab.js';
import { type LabInstance, type MariaDbLab, mariadbAvailable, startLab } from '../lab/mariadb-lab.js';

const PREFIX = '/mha-settings-test';
let etcd: EtcdLab | undefined;
let lab: MariaDbLab | undefined;
let db: LabInstance;
const coordinators: EtcdCoordinator[] = [];
const leaderships: Leadership[] = [];
let appCounter = 0;
const nextApp = () => `app${++appCounter}`;

function coordinator(identity: string): EtcdCoordinator {
  const c = new EtcdCoordinator({ endpoints: etcd!.endpoints, ttlSec: 3, identity, prefix: PREFIX });
  coordinators.push(c);
  return c;
}

async function lead(c: EtcdCoordinator, app: string): Promise<Leadership> {
  const l = await c.campaign(app, AbortSignal.timeout(30_000));
  leaderships.push(l);
  return l;
}

/** A's lease disappears as when A was SIGKILLed (etcd expired it); B leads once it is gone. */
async function killLeaderAndTakeOver(la: Leadership, b: EtcdCoordinator, app: string): Promise<Leadership> {
  (la as unknown as { stopTimers(): void }).stopTimers();
  await b.client.leaseClient.leaseRevoke({ ID: la.lease });
  return lead(b, app);
}

const login = (): ConnectableTarget => ({ host: db.host, port: db.port, user: 'root', password: lab!.rootPassword });
const want = { relaxDurability: true, maxAllowedPacket: 1 << 30 };
async function settingsOf(): Promise<Record<string, number>> {
  const rows = await lab!.query(
    db,
    "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('innodb_flush_log_at_trx_commit', 'sync_binlog', 'max_allowed_packet')",
  );
  return Object.fromEntries(rows.map((r) => [String(r.Variable_name), Number(r.Value)]));
}

describe.skipIf(!etcdAvailable() || !mariadbAvailable())('apply-settings records in etcd, across managers', () => {
  let durable: Record<string, number>;

  beforeAll(async () => {
    [etcd, lab] = await Promise.all([
      startEtcdCluster({
        members: [23793, 23794, 23798].map((clientPort, i) => ({
          name: `etcd${i + 1}`,
          host: '127.0.0.1',
          clientPort,
          peerPort: clientPort + 10,
        })),
      }),
      startLab([
        { name: 'target', host: '127.0.0.182', extraCnf: ['sync_binlog=1', 'innodb_flush_log_at_trx_commit=1'] },
      ]),
    ]);
    [db] = lab.instances;
    durable = await settingsOf();
    expect(durable).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
  }, 180_000);

  afterAll(async () => {
    for (const l of leaderships) await l.resign().catch(() => {});
    for (const c of coordinators) c.close();
    await Promise.allSettled([etcd?.close(), lab?.close()]);
  });

  it('a record saved by one leader is listed and restored by the next one; the old leader can no longer touch it', {
    timeout: 60_000,
  }, async () => {
    const app = nextApp();
    const a = coordinator('manager-a');
    const b = coordinator('manager-b');
    const la = await lead(a, app);
    const stateA = new EtcdFailoverState(la);
    const key = settingsRecordKey(login());

    // A relaxes the target for a fast apply, then is killed before restoring it.
    await TargetSettings.change(login(), want, { store: stateA.settings });
    expect(await settingsOf()).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });
    const etcdKey = `${PREFIX}/${app}/apply-settings/${key}`;
    expect(stateA.settings!.where(key)).toBe(etcdKey);
    const stored = await b.client.get(etcdKey).string();
    expect(JSON.parse(stored!)).toMatchObject({
      target: { host: db.host, port: db.port, user: 'root' },
      original: { innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 },
      relaxed: true,
    });
    expect(stored).not.toContain('password');

    const lb = await killLeaderAndTakeOver(la, b, app);
    const stateB = new EtcdFailoverState(lb);

    // Fenced: the dead leader's state may neither read, forget nor rewrite the record.
    await expect(stateA.settings!.list()).rejects.toBeInstanceOf(FencedOut);
    await expect(stateA.settings!.remove(key)).rejects.toBeInstanceOf(FencedOut);
    const forged = JSON.parse(stored!);
    forged.original = { innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 };
    await expect(stateA.settings!.save(key, forged)).rejects.toBeInstanceOf(FencedOut);

    // The new leader — the start of its runManager — lists and restores it.
    const listed = await stateB.settings!.list();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      key,
      record: { original: { innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 } },
    });
    const lines: string[] = [];
    const fenced: string[] = [];
    const restored = await restorePendingSettings(
      stateB.settings!,
      (t) => (t.host === db.host && t.port === db.port ? login() : undefined),
      (l) => lines.push(l),
      {
        beforeRestore: async (action) => {
          fenced.push(action);
          await lb.fence(action);
        },
      },
    );
    expect(restored).toMatchObject([
      { file: etcdKey, restored: { innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 } },
    ]);
    expect(restored[0].error).toBeUndefined();
    expect(fenced).toHaveLength(1);
    expect(lines.join('\n')).toContain('left changed by an interrupted apply');
    expect(await settingsOf()).toEqual(durable);
    expect(await stateB.settings!.list()).toEqual([]);
    expect(await b.client.get(etcdKey).string()).toBeNull();
  });

  it('the next leader applying again to the same target keeps the originals the dead one recorded', {
    timeout: 60_000,
  }, async () => {
    const app = nextApp();
    const a = coordinator('manager-a2');
    const b = coordinator('manager-b2');
    const la = await lead(a, app);
    await TargetSettings.change(login(), want, { store: new EtcdFailoverState(la).settings });
    expect(await settingsOf()).toMatchObject({ innodb_flush_log_at_trx_commit: 2, sync_binlog: 0 });

    const lb = await killLeaderAndTakeOver(la, b, app);
    const stateB = new EtcdFailoverState(lb);
    // The resumed failover's fast apply to the same target (no restore at start in between).
    const lines: string[] = [];
    const again = await TargetSettings.change(login(), want, { store: stateB.settings, log: (l) => lines.push(l) });
    expect(lines[0]).toMatch(/an earlier apply left settings changed/);
    expect(again.original).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
    const [entry] = await stateB.settings!.list();
    expect(entry.record?.original).toMatchObject({ innodb_flush_log_at_trx_commit: 1, sync_binlog: 1 });
    expect(entry.record?.pid).toBe(process.pid);
    await again.restore();
    expect(await settingsOf()).toEqual(durable);
    expect(await stateB.settings!.list()).toEqual([]);
  });
});
