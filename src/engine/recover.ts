import { once } from 'node:events';
import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MariadbGtidList, readFileEvents } from '@mha-ts/native-free-parsers';
import { ServerConnection } from '../mysql/server-connection.js';
import { type ApplyOptions, type ApplySummary, type ApplyTarget, applyEvents } from './apply.js';
import { type ConcatReport, concatenatePieces, type ExecutedGtids } from './concatenate.js';
import type { RecoveryPlan } from './recovery-plan.js';

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

/**
 * Join a recovery plan's pieces into one binlog file in `workdir` and apply it to the
 * target up to its last complete transaction: the whole of MHA's generate → send →
 * apply_diff_relay_logs path, on our own parser and renderer.
 */
export async function applyRecoveryPlan(
  plan: RecoveryPlan,
  target: ApplyTarget,
  opts: { workdir: string; name: string; executed?: ExecutedGtids; apply?: ApplyOptions },
): Promise<RecoveryResult> {
  await fsp.mkdir(opts.workdir, { recursive: true });
  const diffFile = join(opts.workdir, `${opts.name}.binlog`);
  const out = createWriteStream(diffFile);
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
