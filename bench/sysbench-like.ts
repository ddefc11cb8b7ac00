/**
 * The sysbench-like write mix both benchmark recorders use (bench/record-workload.ts for the
 * parser benchmark's binlog, bench/apply-workload.ts for the apply benchmark's diffs): tables
 * shaped like sysbench's sbtest, and an oltp_write_only-like transaction loop.
 */
import type { Connection } from 'mysql2/promise';

export interface SbTables {
  tables: number;
  rowsPerTable: number;
}

export interface LoopCounters {
  transactions: number;
  statements: number;
  deadlocks: number;
}

/** sysbench's c/pad values: groups of 11 digits joined by '-'. */
function sbString(groups: number): string {
  const parts: string[] = [];
  for (let g = 0; g < groups; g++) {
    let s = '';
    for (let i = 0; i < 11; i++) s += String.fromCharCode(48 + ((Math.random() * 10) | 0));
    parts.push(s);
  }
  return parts.join('-');
}
export const cValue = () => sbString(10); // 119 characters, char(120)
export const padValue = () => sbString(5); // 59 characters, char(60)
export const rnd = (n: number) => 1 + Math.floor(Math.random() * n);

export function createTableSql(t: number): string {
  return (
    `CREATE TABLE sbtest${t} (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0, ` +
    `c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_${t} (k)) ENGINE=InnoDB`
  );
}

/** Rows [start, start + count) of a table, within its size. */
export function tableRows(shape: SbTables, start: number, count: number): unknown[][] {
  const rows: unknown[][] = [];
  for (let id = start; id < start + count && id <= shape.rowsPerTable; id++)
    rows.push([id, rnd(shape.rowsPerTable), cValue(), padValue()]);
  return rows;
}

/**
 * oltp_write_only-like: per transaction two UPDATEs, a DELETE and its re-INSERT; every 10th
 * a range UPDATE, every 50th a 20-row batch inserted and deleted again (ids above the table
 * size, disjoint per worker from `batchIdBase`). Deadlocks and lock timeouts are counted and
 * the loop goes on.
 */
export async function oltpLoop(
  conn: Connection,
  shape: SbTables & { batchIdBase: number },
  worker: number,
  done: () => boolean,
  c: LoopCounters,
): Promise<void> {
  const { tables, rowsPerTable: n } = shape;
  await conn.query('USE sbtest');
  let i = 0;
  let batchId = shape.batchIdBase * (worker + 1);
  while (!done()) {
    i++;
    const t = rnd(tables);
    const id = rnd(n);
    try {
      await conn.query('BEGIN');
      await conn.query(`UPDATE sbtest${t} SET k=k+1 WHERE id=?`, [rnd(n)]);
      await conn.query(`UPDATE sbtest${t} SET c=? WHERE id=?`, [cValue(), rnd(n)]);
      await conn.query(`DELETE FROM sbtest${t} WHERE id=?`, [id]);
      await conn.query(`INSERT INTO sbtest${t} (id, k, c, pad) VALUES (?, ?, ?, ?)`, [
        id,
        rnd(n),
        cValue(),
        padValue(),
      ]);
      c.statements += 4;
      if (i % 10 === 0) {
        const from = rnd(n - 10);
        await conn.query(`UPDATE sbtest${t} SET k=k+1 WHERE id BETWEEN ? AND ?`, [from, from + 9]);
        c.statements++;
      }
      if (i % 50 === 0) {
        const rows: unknown[][] = [];
        for (let r = 0; r < 20; r++) rows.push([batchId + r, rnd(n), cValue(), padValue()]);
        await conn.query(`INSERT INTO sbtest${t} (id, k, c, pad) VALUES ?`, [rows]);
        await conn.query(`DELETE FROM sbtest${t} WHERE id BETWEEN ? AND ?`, [batchId, batchId + 19]);
        batchId += 20;
        c.statements += 2;
      }
      await conn.query('COMMIT');
      c.transactions++;
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => {});
      const code = (err as { code?: string }).code;
      if (code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT') c.deadlocks++;
      else throw err;
    }
  }
}
