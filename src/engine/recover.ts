import { once } from 'node:events';
import { createWriteStream, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import {
  type BinlogEvent,
  EventType,
  MariadbGtidList,
  readEvents,
  readFileEvents,
  TransactionTracker,
} from '@mha-ts/native-free-parsers';
import { ServerConnection } from '../mysql/server-connection.js';
import { type ApplyOptions, type ApplySummary, type ApplyTarget, applyEvents } from './apply.js';
import { applyEventsFast, type FastApplyOptions } from './apply-fast.js';
import type { SettingsRecordStore } from './apply-settings.js';
import { type ConcatReport, concatenatePieces, type ExecutedGtids } from './concatenate.js';
import type { RecoveryPlan } from './recovery-plan.js';

export { type RestoredSettings, restorePendingSettings, settingsStateFile } from './apply-settings.js';

/**
 * A MariaDB server records a GTID only when the statement is binlogged: a transaction
 * that was not (a temporary-table statement in a row-format session, sql_log_bin=0)
 * would look unapplied and be applied again by the next recovery. What was applied is
 * therefore also recorded in gtid_slave_pos, as the SQL thread would have done.
 */
async function recordAppliedGtids(target: ApplyTarget, concat: ConcatReport): Promise<void> {
  const applied = concat.written.mariadb;
  if (!applied || applied.isEmpty()) return;
  const server = await ServerConnection.open({ ...target, port: target.port ?? 3306 });
  try {
    if (server.version.flavor !== 'mariadb') return;
    const row = await server.one<{ p: string }>('SELECT @@GLOBAL.gtid_slave_pos AS p');
    const merged = MariadbGtidList.parse(String(row?.p ?? '')).union(applied);
    await server.query('SET GLOBAL gtid_slave_pos = ?', [merged.toString()]);
  } finally {
    await server.close();
  }
}

export interface RecoveryResult {
  /** The one binlog the pieces were joined into (kept for the operator). */
  diffFile: string;
  concat: ConcatReport;
  /** Undefined when there was nothing to apply. */
  apply: ApplySummary | undefined;
}

export interface RecoveryOptions {
  /** Where the joined diff is kept and (fast path, without `settingsStore`) the target's changed settings are recorded. */
  workdir: string;
  /**
   * Fast path: where the target's changed settings are recorded instead of the workdir —
   * with manager HA the cluster's shared store (FailoverState.settings), so that a manager
   * taking over from one killed mid-apply finds the record.
   */
  settingsStore?: SettingsRecordStore;
  /** File name of the joined diff, without `.binlog`. */
  name: string;
  /** What the target already executed: those transactions are left out. */
  executed?: ExecutedGtids;
  /**
   * 'fast' (default): multi-statement packets under relaxed durability, applying while
   * the pieces are still being read (apply-fast.ts). 'plain': join the pieces into the
   * file first, then one statement per round trip with the server's own settings (apply.ts).
   */
  mode?: 'fast' | 'plain';
  apply?: ApplyOptions & Omit<FastApplyOptions, 'stateDir' | 'settingsStore'>;
}

/**
 * Join a recovery plan's pieces into one binlog file in `workdir` and apply it to the
 * target up to its last complete transaction: the whole of MHA's generate → send →
 * apply_diff_relay_logs path, on our own parser and renderer.
 *
 * Re-running it after an interruption (the target's mariadbd or the manager killed
 * mid-apply) is safe: every transaction carries its GTID, the target's executed GTIDs
 * (`executed`) leave out what it already committed, and settings an interrupted fast
 * apply left changed are restored first (apply-settings.ts).
 */
export async function applyRecoveryPlan(
  plan: RecoveryPlan,
  target: ApplyTarget,
  opts: RecoveryOptions,
): Promise<RecoveryResult> {
  // The diff holds row data: readable by the manager's user only, like its other state files.
  await fsp.mkdir(opts.workdir, { recursive: true, mode: 0o700 });
  const diffFile = join(opts.workdir, `${opts.name}.binlog`);
  if ((opts.mode ?? 'fast') === 'fast') return applyStreaming(plan, target, opts, diffFile);
  const out = createWriteStream(diffFile, { mode: 0o600 });
  let concat: ConcatReport;
  try {
    concat = await concatenatePieces(
      plan.pieces,
      async (chunk) => {
        if (!out.write(chunk)) await once(out, 'drain');
      },
      { executed: opts.executed },
    );
  } finally {
    out.end();
    await once(out, 'close');
  }
  if (concat.bytes === 0 || concat.transactions === 0) return { diffFile, concat, apply: undefined };
  const apply = await applyEvents(target, readFileEvents(diffFile, { stopOffset: concat.completeBytes }), opts.apply);
  await recordAppliedGtids(target, concat);
  return { diffFile, concat, apply };
}

/**
 * The fast path: the pieces are joined (and written to the diff file) while the joined
 * bytes are parsed and applied, so reading the relay logs — often over SSH — overlaps
 * with the target's work. Only complete transactions reach the target: events are held
 * back from a transaction's first event to its last, and a transaction the input ends
 * inside is never sent (the file path's `completeBytes`).
 */
async function applyStreaming(
  plan: RecoveryPlan,
  target: ApplyTarget,
  opts: RecoveryOptions,
  diffFile: string,
): Promise<RecoveryResult> {
  const out = createWriteStream(diffFile, { mode: 0o600 });
  const queue = new ChunkQueue(32 * 1024 * 1024);
  let wrote = 0;
  const joined = (async () => {
    try {
      const report = await concatenatePieces(
        plan.pieces,
        async (chunk) => {
          wrote += chunk.length;
          const fileReady = out.write(chunk) ? undefined : once(out, 'drain');
          await queue.push(chunk);
          if (fileReady) await fileReady;
        },
        { executed: opts.executed },
      );
      queue.end();
      return report;
    } catch (err) {
      queue.fail(err);
      throw err;
    } finally {
      out.end();
      await once(out, 'close');
    }
  })();
  joined.catch(() => {}); // observed below
  let apply: ApplySummary | undefined;
  try {
    const events = completeTransactions(readEvents(queue, { file: basename(diffFile), verifyChecksum: false }));
    const first = await peek(events);
    if (first.done) {
      const concat = await joined;
      return { diffFile, concat, apply: undefined };
    }
    apply = await applyEventsFast(target, first.events, {
      ...opts.apply,
      settingsStore: opts.settingsStore,
      stateDir: opts.workdir,
    });
  } catch (err) {
    queue.cancel(new Error('the apply stopped'));
    await joined.catch(() => {});
    throw err;
  }
  const concat = await joined;
  if (wrote === 0 || concat.transactions === 0) return { diffFile, concat, apply: undefined };
  await recordAppliedGtids(target, concat);
  return { diffFile, concat, apply };
}

/** Waits for the first event that is part of a complete transaction (nothing to apply: done). */
async function peek(
  events: AsyncGenerator<BinlogEvent>,
): Promise<{ done: true } | { done: false; events: AsyncGenerator<BinlogEvent> }> {
  const head: BinlogEvent[] = [];
  for (;;) {
    const r = await events.next();
    if (r.done) return { done: true };
    head.push(r.value);
    // The joined binlog starts with its format description; wait for a data event.
    if (head.length > 1 || r.value.typeCode !== EventType.FORMAT_DESCRIPTION) break;
  }
  return {
    done: false,
    events: (async function* () {
      yield* head;
      yield* events;
    })(),
  };
}

/** Events of complete transactions only: a transaction is released at its last event, an unfinished one never. */
export async function* completeTransactions(events: AsyncIterable<BinlogEvent>): AsyncGenerator<BinlogEvent> {
  const tracker = new TransactionTracker();
  let held: BinlogEvent[] = [];
  for await (const e of events) {
    const role = tracker.observe(e);
    if (role === 'begin') {
      // A transaction that never ended before the next began: as the file path would apply it.
      if (held.length) yield* held;
      held = [e];
      continue;
    }
    if (held.length) {
      held.push(e);
      if (role === 'end' || role === 'single') {
        const done = held;
        held = [];
        yield* done;
      }
      continue;
    }
    yield e;
  }
}

/** Bytes from the joining to the parser, at most `limit` buffered; the producer waits, or fails once cancelled. */
class ChunkQueue implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private error: unknown;
  private cancelled: Error | undefined;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  constructor(private readonly limit: number) {}

  async push(chunk: Buffer): Promise<void> {
    if (this.cancelled) throw this.cancelled;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.wake('reader');
    while (this.bytes > this.limit && !this.cancelled) {
      await new Promise<void>((r) => {
        this.wakeWriter = r;
      });
    }
    if (this.cancelled) throw this.cancelled;
  }

  end(): void {
    this.ended = true;
    this.wake('reader');
  }

  fail(err: unknown): void {
    this.error = err ?? new Error('reading the diff failed');
    this.ended = true;
    this.wake('reader');
  }

  cancel(reason: Error): void {
    this.cancelled = reason;
    this.chunks = [];
    this.bytes = 0;
    this.wake('writer');
  }

  private wake(who: 'reader' | 'writer'): void {
    const w = who === 'reader' ? this.wakeReader : this.wakeWriter;
    if (who === 'reader') this.wakeReader = undefined;
    else this.wakeWriter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const c = this.chunks.shift();
      if (c) {
        this.bytes -= c.length;
        if (this.bytes <= this.limit) this.wake('writer');
        yield c;
        continue;
      }
      if (this.error !== undefined) throw this.error;
      if (this.ended || this.cancelled) return;
      await new Promise<void>((r) => {
        this.wakeReader = r;
      });
    }
  }
}
