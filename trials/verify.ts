/**
 * The verdict of a trial, from the servers themselves: survivors identical, nothing lost
 * that had to survive, nothing half-applied or applied twice, exactly one writable server.
 */
import type { Connection } from 'mysql2/promise';
import type { TxnRecord } from './workload.js';

export type ViolationKind =
  | 'manager'
  | 'divergent'
  | 'lost-acked'
  | 'lost-received'
  | 'atomicity'
  | 'double-apply'
  | 'invented'
  | 'writable'
  | 'replication'
  | 'false-failover'
  | 'secret'
  | 'harness';

export interface Violation {
  kind: ViolationKind;
  message: string;
}

export interface ServerSnapshot {
  name: string;
  readOnly: boolean;
  tables: Record<string, string>;
  txlog: Map<number, { session: number; rows: number; inc: number }>;
  ordersByTxn: Map<number, number>;
  counters: Map<number, number>;
}

type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

export function querier(c: Connection): Query {
  return async (sql, params) => {
    const [rows] = await c.query(sql, params);
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  };
}

export async function snapshot(name: string, q: Query): Promise<ServerSnapshot> {
  const [ro] = await q('SELECT @@global.read_only AS ro');
  const tables: Record<string, string> = {};
  const names = await q(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'app' ORDER BY table_name",
  );
  for (const { t } of names) {
    const [row] = await q(`CHECKSUM TABLE app.\`${String(t)}\` EXTENDED`);
    tables[String(t)] = String(row.Checksum);
  }
  const txlog = new Map<number, { session: number; rows: number; inc: number }>();
  for (const r of await q('SELECT txn, session, `rows` AS n, inc FROM app.txlog')) {
    txlog.set(Number(r.txn), { session: Number(r.session), rows: Number(r.n), inc: Number(r.inc) });
  }
  const ordersByTxn = new Map<number, number>();
  for (const r of await q('SELECT txn, COUNT(*) AS c FROM app.orders GROUP BY txn')) {
    ordersByTxn.set(Number(r.txn), Number(r.c));
  }
  const counters = new Map<number, number>();
  for (const r of await q('SELECT session, n FROM app.counters')) counters.set(Number(r.session), Number(r.n));
  return { name, readOnly: Number(ro.ro) === 1, tables, txlog, ordersByTxn, counters };
}

/** Survivors identical: same tables, same CHECKSUM TABLE … EXTENDED. */
export function compareSurvivors(snaps: ServerSnapshot[]): Violation[] {
  const out: Violation[] = [];
  const [first, ...rest] = snaps;
  for (const s of rest) {
    const a = JSON.stringify(first.tables);
    const b = JSON.stringify(s.tables);
    if (a !== b) {
      const diff = Object.keys({ ...first.tables, ...s.tables })
        .filter((t) => first.tables[t] !== s.tables[t])
        .map((t) => `${t}: ${first.tables[t] ?? 'absent'} vs ${s.tables[t] ?? 'absent'}`);
      out.push({ kind: 'divergent', message: `${first.name} and ${s.name} differ: ${diff.join('; ')}` });
    }
  }
  return out;
}

/** Every transaction on `s` is whole and counted once. */
export function checkInvariants(s: ServerSnapshot, issued: Map<number, TxnRecord>): Violation[] {
  const out: Violation[] = [];
  const incomplete: string[] = [];
  for (const [txn, t] of s.txlog) {
    const got = s.ordersByTxn.get(txn) ?? 0;
    if (got !== t.rows) incomplete.push(`txn ${txn}: ${got}/${t.rows} rows`);
  }
  for (const txn of s.ordersByTxn.keys()) if (!s.txlog.has(txn)) incomplete.push(`orders of txn ${txn} without txlog`);
  if (incomplete.length > 0) {
    out.push({ kind: 'atomicity', message: `${s.name}: ${incomplete.slice(0, 5).join(', ')} (${incomplete.length})` });
  }
  const perSession = new Map<number, number>();
  for (const t of s.txlog.values()) if (t.inc) perSession.set(t.session, (perSession.get(t.session) ?? 0) + 1);
  for (const [session, n] of s.counters) {
    const expected = perSession.get(session) ?? 0;
    if (n !== expected) {
      out.push({
        kind: n > expected ? 'double-apply' : 'atomicity',
        message: `${s.name}: counter of session ${session} is ${n}, its transactions ${expected}`,
      });
    }
  }
  const invented = [...s.txlog.keys()].filter((t) => !issued.has(t));
  if (invented.length > 0) {
    out.push({ kind: 'invented', message: `${s.name}: transactions never issued: ${invented.slice(0, 5).join(',')}` });
  }
  return out;
}

/** `required` transactions all present on `s`. */
export function checkPresent(
  s: ServerSnapshot,
  required: Iterable<number>,
  kind: 'lost-acked' | 'lost-received',
): Violation[] {
  const missing = [...required].filter((t) => !s.txlog.has(t)).sort((a, b) => a - b);
  if (missing.length === 0) return [];
  return [
    {
      kind,
      message: `${s.name} lacks ${missing.length} transaction(s) ${kind === 'lost-acked' ? 'the master acknowledged' : 'a survivor had received'}: ${missing.slice(0, 8).join(',')}${missing.length > 8 ? ',…' : ''}`,
    },
  ];
}
