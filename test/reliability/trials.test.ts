/**
 * A handful of the randomized trials (trials/), seeded so CI runs the same ones every
 * time: failovers on real MariaDB servers and sshd with a random workload, lag and death;
 * the manager killed mid-failover and rerun; a partition between manager and master. The
 * long runs are `npm run trials -- --runs N --seed S`.
 *
 * Addresses 127.0.0.111–114 (proxy .119): no other suite uses them, nor `npm run trials`
 * (.101+ by default).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readBinlogGroups, txnsUpTo } from '../../trials/binlog-truth.js';
import { describePlan, planTrial, type TrialKind } from '../../trials/plan.js';
import { trialLine } from '../../trials/run.js';
import { runTrial } from '../../trials/trial.js';
import { checkInvariants, checkPresent, compareSurvivors, type ServerSnapshot } from '../../trials/verify.js';
import type { TxnRecord } from '../../trials/workload.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIRST = 111;
const only = (k: TrialKind): Record<TrialKind, number> => ({ failover: 0, crash: 0, partition: 0, isolate: 0, [k]: 1 });

async function trial(seed: number, index: number, kind: TrialKind) {
  const plan = planTrial(seed, index, only(kind));
  const r = await runTrial(plan, { firstOctet: FIRST, keepOnFailure: !!process.env.KEEP_LAB, repoDir: REPO });
  console.info(trialLine(r));
  const why = r.violations.map((v) => `${v.kind}: ${v.message}`).join('\n');
  return { r, why: `${describePlan(plan)}\n${why}${r.keptDir ? `\nkept: ${r.keptDir}` : ''}` };
}

describe('trial plans', () => {
  it('are a pure function of (seed, index)', () => {
    for (let i = 1; i <= 50; i++) expect(planTrial(42, i)).toEqual(planTrial(42, i));
    expect(planTrial(42, 1)).not.toEqual(planTrial(43, 1));
    const kinds = new Set(Array.from({ length: 200 }, (_, i) => planTrial(7, i).kind));
    expect(kinds).toEqual(new Set(['failover', 'crash', 'partition', 'isolate']));
    const deaths = new Set(Array.from({ length: 200 }, (_, i) => planTrial(7, i).death));
    expect(deaths.size).toBe(4);
  });
});

describe('the checker catches what it must', () => {
  const snap = (name: string, over: Partial<ServerSnapshot> = {}): ServerSnapshot => ({
    name,
    readOnly: true,
    tables: { orders: '1', txlog: '2' },
    txlog: new Map([
      [1, { session: 1, rows: 2, inc: 1 }],
      [2, { session: 1, rows: 0, inc: 0 }],
    ]),
    ordersByTxn: new Map([[1, 2]]),
    counters: new Map([[1, 1]]),
    ...over,
  });
  const issued = new Map<number, TxnRecord>([
    [1, { txn: 1, session: 1, kind: 'small', rows: 2, acked: true }],
    [2, { txn: 2, session: 1, kind: 'autocommit', rows: 0, acked: true }],
  ]);

  it('a consistent server passes', () => {
    expect(checkInvariants(snap('a'), issued)).toEqual([]);
    expect(checkPresent(snap('a'), [1, 2], 'lost-acked')).toEqual([]);
    expect(compareSurvivors([snap('a'), snap('b')])).toEqual([]);
  });

  it('lost, half-applied, twice-applied, invented and divergent data are violations', () => {
    expect(checkPresent(snap('a'), [1, 2, 3], 'lost-acked')[0].kind).toBe('lost-acked');
    expect(checkInvariants(snap('a', { ordersByTxn: new Map([[1, 1]]) }), issued)[0].kind).toBe('atomicity');
    expect(checkInvariants(snap('a', { counters: new Map([[1, 2]]) }), issued)[0].kind).toBe('double-apply');
    const invented = snap('a');
    invented.txlog.set(9, { session: 1, rows: 0, inc: 0 });
    expect(checkInvariants(invented, issued).map((v) => v.kind)).toContain('invented');
    expect(compareSurvivors([snap('a'), snap('b', { tables: { orders: '1', txlog: '3' } })])[0].kind).toBe('divergent');
  });

  it('reads transaction groups from a binlog with mariadb-binlog, not with the code under test', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mha-truth-'));
    try {
      const src = fileURLToPath(new URL('../../fixtures/mariadb-10.11/master/', import.meta.url));
      const files = ['mariadb-bin.000001', 'mariadb-bin.000002', 'mariadb-bin.000003'];
      for (const f of files) copyFileSync(join(src, f), join(dir, f));
      writeFileSync(join(dir, 'mariadb-bin.index'), files.map((f) => `./${f}\n`).join(''));
      const groups = await readBinlogGroups(dir);
      expect(groups.map((g) => g.gtid)).toEqual(Array.from({ length: 50 }, (_, i) => `0-1-${i + 1}`));
      // The four XA groups of the fixture end with XA PREPARE / COMMIT / ROLLBACK, which the
      // checker does not treat as commits (the workload uses no XA).
      expect(groups.filter((g) => !g.complete).map((g) => g.gtid)).toEqual(['0-1-34', '0-1-35', '0-1-36', '0-1-37']);
      expect(txnsUpTo(groups).size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const lab = describe.skipIf(!mariadbAvailable() || !sshdAvailable());

lab('randomized trials on real servers (seeded)', () => {
  it('failover trial: dead master, random workload and lag; survivors identical, nothing lost, one writable', {
    timeout: 420_000,
  }, async () => {
    const { r, why } = await trial(20261125, 1, 'failover');
    expect(r.passed, why).toBe(true);
    expect(r.acked).toBeGreaterThan(0);
  });

  it('failover trial with the master host unreachable or frozen', { timeout: 420_000 }, async () => {
    const { r, why } = await trial(20261125, 4, 'failover');
    expect(r.passed, why).toBe(true);
  });

  it.skipIf(!existsSync(`${REPO}dist/src/cli/manager-tools/masterha-manager.js`))(
    'the manager process killed mid-failover; rerun with --ignore_last_failover completes it',
    { timeout: 600_000 },
    async () => {
      const { r, why } = await trial(20261125, 3, 'crash');
      expect(r.passed, why).toBe(true);
      expect(r.resumedBy).toBeDefined();
    },
  );

  it('partition between the manager and a live master: no failover', { timeout: 420_000 }, async () => {
    const { r, why } = await trial(20261125, 2, 'partition');
    expect(r.passed, why).toBe(true);
    expect(r.falseFailover).toBe(false);
  });
});
