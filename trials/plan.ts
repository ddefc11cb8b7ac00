/**
 * What one trial does, drawn from its seed before anything starts: topology, binlog
 * format, relay/binlog file sizes, workload mix, lag pattern per replica, kill moment and
 * kind of death. A plan is plain data — printed with a failing trial, it says exactly
 * what to rerun (`npm run trials -- --seed S --only K`).
 *
 * Reproducible means: the same choices and timings. The interleaving of concurrent
 * sessions and the exact byte the master dies at still depend on the machine.
 */
import { deriveSeed, Rng } from './rng.js';

/**
 * - failover: the master dies (see DeathKind), the manager fails over;
 * - crash: the same, with the manager process SIGKILLed in a phase and rerun;
 * - partition: the manager's route to a live master is cut (replicas still reach it): no failover;
 * - isolate: the master is cut from everyone (manager and replicas) but keeps running and
 *   taking writes: failover, with the old master fenced by the power switch first.
 */
export type TrialKind = 'failover' | 'crash' | 'partition' | 'isolate';

/**
 * - sigkill: mysqld SIGKILLed, host reachable over SSH (its binlog is readable);
 * - host-down-refused: mysqld SIGKILLed, no sshd on the host (connections refused);
 * - host-down-silent: mysqld SIGKILLed, then the host's ports 22 and 3306 accept and never answer;
 * - freeze: mysqld SIGSTOPped (alive, unresponsive; sshd answers, its binlog is readable).
 */
export type DeathKind = 'sigkill' | 'host-down-refused' | 'host-down-silent' | 'freeze';

/**
 * - io-stopped: STOP SLAVE IO_THREAD at `atMs` (the replica stops receiving);
 * - sql-stopped: STOP SLAVE SQL_THREAD at `atMs` (receives, does not apply);
 * - sql-blocked: a session on the replica holds a row lock the SQL thread needs, from
 *   `atMs` until `releaseAfterKillMs` after the kill: the SQL thread waits inside a transaction.
 */
export interface LagPattern {
  kind: 'none' | 'io-stopped' | 'sql-stopped' | 'sql-blocked';
  atMs: number;
  releaseAfterKillMs?: number;
}

export interface WorkloadPlan {
  sessions: number;
  /** Weights of the operations each session draws from. */
  weights: { small: number; autocommit: number; big: number; ddl: number; update: number };
  /** Rows per small transaction (range). */
  smallRows: [number, number];
  /** Rows per big transaction (range) and payload bytes per row. */
  bigRows: [number, number];
  payloadBytes: [number, number];
  /** Insert one row over 16 MB (its own transaction) this long after the start, if set. */
  hugeRowAtMs?: number;
  /** A big transaction started this long before the kill, so the master dies in it or just after. */
  bigAtKillOffsetMs?: number;
  /** Pause between transactions per session (range, ms). */
  thinkMs: [number, number];
}

export interface TrialPlan {
  index: number;
  seed: number;
  kind: TrialKind;
  replicas: number;
  binlogFormat: 'ROW' | 'STATEMENT' | 'MIXED';
  maxRelayLogSize?: number;
  maxBinlogSize?: number;
  workload: WorkloadPlan;
  lag: LagPattern[];
  /** ms after the workload started (the manager already monitoring). */
  killAtMs: number;
  death: DeathKind;
  /** The test's power switch as shutdown_script (kills the master's mysqld). */
  shutdownScript: boolean;
  /** Replica index (1-based server index - 1) marked candidate_master=1, if any. */
  candidate?: number;
  /** crash: the manager is SIGKILLed when its log shows this phase banner, plus `crashDelayMs`. */
  crashPhase?: string;
  crashDelayMs?: number;
  /** partition: the manager's route to the master is cut this long. */
  partitionMs?: number;
}

export const CRASH_PHASES = [
  'Phase 2: Dead Master Shutdown Phase',
  "Phase 3.2: Saving Dead Master's Binlog Phase",
  'Phase 3.5: Master Log Apply Phase',
  'Phase 4: Slaves Recovery Phase',
  'Phase 5: New master cleanup phase',
] as const;

export function planTrial(
  runSeed: number,
  index: number,
  kinds: Readonly<Record<TrialKind, number>> = { failover: 7, crash: 2, partition: 1, isolate: 1 },
): TrialPlan {
  const seed = deriveSeed(runSeed, index);
  const r = new Rng(seed);
  const kind = r.weighted(kinds);
  const replicas = r.chance(0.35) ? 3 : 2;
  const binlogFormat = r.weighted({ ROW: 5, STATEMENT: 3, MIXED: 2 } as const);
  const smallRelay = r.chance(0.6);
  const maxRelayLogSize = smallRelay ? r.pick([8192, 16384, 32768, 65536]) : undefined;
  const maxBinlogSize = r.chance(0.4) ? r.pick([65536, 131072, 262144]) : undefined;
  const killAtMs = r.int(2500, 9000);
  const workload: WorkloadPlan = {
    sessions: r.int(1, 3),
    weights: {
      small: r.int(4, 10),
      autocommit: r.int(0, 3),
      big: r.chance(0.7) ? r.int(1, 2) : 0,
      ddl: r.chance(0.6) ? 1 : 0,
      update: r.int(0, 3),
    },
    smallRows: [1, r.int(2, 8)],
    bigRows: [r.int(50, 200), r.int(200, 600)],
    payloadBytes: [r.int(20, 200), r.int(200, 800)],
    hugeRowAtMs: r.chance(0.2) ? r.int(500, Math.max(600, killAtMs - 500)) : undefined,
    bigAtKillOffsetMs: r.chance(0.4) ? r.int(0, 1500) : undefined,
    thinkMs: [0, r.pick([0, 5, 20, 50])],
  };
  const lag: LagPattern[] = [];
  for (let i = 0; i < replicas; i++) {
    const k = r.weighted({ none: 4, 'io-stopped': 3, 'sql-stopped': 2, 'sql-blocked': 2 } as const);
    lag.push({
      kind: k,
      atMs: r.int(0, Math.max(0, killAtMs - 300)),
      releaseAfterKillMs: k === 'sql-blocked' ? r.int(0, 25_000) : undefined,
    });
  }
  const death = r.weighted({ sigkill: 5, 'host-down-refused': 2, 'host-down-silent': 2, freeze: 2 } as const);
  const plan: TrialPlan = {
    index,
    seed,
    kind,
    replicas,
    binlogFormat,
    maxRelayLogSize,
    maxBinlogSize,
    workload,
    lag,
    killAtMs,
    death,
    // A frozen master must be fenced by someone: the power switch.
    shutdownScript: death === 'freeze' || r.chance(0.4),
    candidate: r.chance(0.3) ? r.int(1, replicas) : undefined,
  };
  if (kind === 'crash') {
    // The manager runs as its own process and is killed in a phase; the master dies by
    // SIGKILL with its host reachable, so "nothing lost" is checkable against its binlog.
    plan.death = 'sigkill';
    plan.shutdownScript = r.chance(0.5);
    plan.crashPhase = r.pick(CRASH_PHASES);
    plan.crashDelayMs = r.pick([0, 0, 50, 200, 500]);
    // A lagging candidate makes Phase 3.5 apply a real diff.
    if (plan.lag.every((l) => l.kind === 'none')) plan.lag[0] = { kind: 'io-stopped', atMs: r.int(0, killAtMs - 300) };
  }
  if (kind === 'partition') {
    plan.partitionMs = r.int(8000, 25_000);
    plan.lag = plan.lag.map(() => ({ kind: 'none', atMs: 0 }));
  }
  if (kind === 'isolate') {
    // Replicas must see the master vanish to vote: no stopped I/O threads; the power
    // switch is what fences a master nobody can reach.
    plan.death = 'host-down-silent';
    plan.shutdownScript = true;
    plan.lag = plan.lag.map((l) => (l.kind === 'io-stopped' ? { kind: 'none', atMs: 0 } : l));
  }
  return plan;
}

/** One line: what the trial does, for the per-trial output. */
export function describePlan(p: TrialPlan): string {
  const lag = p.lag
    .map((l, i) => (l.kind === 'none' ? undefined : `db${i + 2}:${l.kind}`))
    .filter(Boolean)
    .join(',');
  const w = p.workload;
  const parts = [
    p.kind,
    `${p.replicas + 1} servers`,
    p.binlogFormat.toLowerCase(),
    p.maxRelayLogSize ? `relay ${p.maxRelayLogSize / 1024}K` : undefined,
    p.maxBinlogSize ? `binlog ${p.maxBinlogSize / 1024}K` : undefined,
    `${w.sessions} sess`,
    w.weights.big ? 'big-txn' : undefined,
    w.weights.ddl ? 'ddl' : undefined,
    w.hugeRowAtMs !== undefined ? '16MB+row' : undefined,
    lag ? `lag ${lag}` : undefined,
    p.kind === 'partition'
      ? `partition ${(p.partitionMs! / 1000).toFixed(0)}s`
      : p.kind === 'isolate'
        ? `master cut from everyone @${p.killAtMs}ms`
        : `${p.death} @${p.killAtMs}ms`,
    p.shutdownScript && p.kind !== 'partition' ? 'power-switch' : undefined,
    p.candidate !== undefined ? `candidate db${p.candidate + 1}` : undefined,
    p.crashPhase ? `crash in ${p.crashPhase.replace(/:.*/, '')}+${p.crashDelayMs}ms` : undefined,
  ];
  return parts.filter(Boolean).join(', ');
}
