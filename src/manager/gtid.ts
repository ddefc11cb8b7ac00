/**
 * GTID decisions for failover and switchover, for MariaDB (domain-server-seq positions,
 * MASTER_USE_GTID) and MySQL (uuid:interval sets, auto-position): is the topology
 * replicating by GTID, which replica is the most advanced, which GTIDs are errant, and the
 * bounded waits and repoints that keep every replica on GTID replication.
 *
 * Errant transactions — GTIDs a replica executed that its master's stream never had
 * (writes made directly on a replica) — are the classic GTID failover trap: promoted, such a
 * replica makes every other replica fetch (MySQL) or trip over (MariaDB, one sequence per
 * domain) transactions the old master never wrote; MHA never checked (manager#50).
 */
import { MariadbGtidList, MysqlGtidSet, parseMariadbGtid } from '@mha-ts/native-free-parsers';
import { waitForGtids } from '../mysql/replication-sql.js';
import type { ServerState } from './topology.js';

/** How the replicas of a master replicate. */
export type GtidReplication = 'mariadb' | 'mysql' | 'none';

/** What to do with a replica that has errant transactions (`--errant_transactions`). */
export type ErrantPolicy = 'refuse' | 'exclude' | 'ignore';

export function parseErrantPolicy(v: string | undefined): ErrantPolicy {
  const p = (v ?? 'refuse').toLowerCase();
  if (p === 'refuse' || p === 'exclude' || p === 'ignore') return p;
  throw new Error(`--errant_transactions must be refuse, exclude or ignore (got "${v}")`);
}

export interface ErrantFinding {
  server: string;
  /** The errant GTIDs: MariaDB `domain-server-seq` entries of @@gtid_binlog_state, MySQL a GTID set. */
  gtids: string;
}

/** Does this replica replicate by GTID (MariaDB MASTER_USE_GTID≠no, MySQL auto-position with gtid_mode=ON)? */
export function replicatesByGtid(s: ServerState): boolean {
  const r = s.replica;
  if (!r) return false;
  if (s.conn?.dialect.gtidKind === 'mariadb' || s.gtid) return /^(slave_pos|current_pos)$/i.test(r.usingGtid);
  return r.autoPosition && /^ON$/i.test(s.mysqlGtid?.mode ?? '');
}

/**
 * GTID replication for a failover or switch only when every replica uses it: a single
 * file/position replica makes the whole operation file/position based (as MHA), and is named.
 */
export function gtidReplicationOf(replicas: ServerState[]): { mode: GtidReplication; fileBased: ServerState[] } {
  const fileBased = replicas.filter((r) => !replicatesByGtid(r));
  if (replicas.length === 0 || fileBased.length > 0) return { mode: 'none', fileBased };
  return { mode: replicas[0].gtid ? 'mariadb' : 'mysql', fileBased };
}

/** The MASTER_USE_GTID mode a MariaDB replica used (slave_pos unless it said current_pos). */
export function mariadbUseGtid(s: ServerState): 'slave_pos' | 'current_pos' {
  return /^current_pos$/i.test(s.replica?.usingGtid ?? '') ? 'current_pos' : 'slave_pos';
}

const parseList = (t: string | undefined) => MariadbGtidList.parse(t ?? '');

/**
 * MariaDB: how far a replica got in its master's stream — what its SQL thread applied
 * (gtid_slave_pos) or its I/O thread received (Gtid_IO_Pos). Its own binlog position is left
 * out on purpose: it also holds local (errant) writes.
 */
export function mariadbStream(s: ServerState): MariadbGtidList {
  return parseList(s.gtid?.slavePos).union(parseList(s.replica?.gtidIoPos));
}

/** MariaDB: what a replica applied from its master's stream. */
export function mariadbApplied(s: ServerState): MariadbGtidList {
  return parseList(s.gtid?.slavePos);
}

export function mysqlExecuted(s: ServerState): MysqlGtidSet {
  return MysqlGtidSet.parse(s.mysqlGtid?.executed ?? '');
}

/** MySQL: everything a replica has, executed or only received into its relay logs. */
export function mysqlReceived(s: ServerState): MysqlGtidSet {
  return mysqlExecuted(s).union(MysqlGtidSet.parse(s.replica?.retrievedGtidSet ?? ''));
}

/** A replica's received position as text (for logs and reports). */
export function receivedText(s: ServerState, mode: GtidReplication): string {
  return mode === 'mariadb' ? mariadbStream(s).toString() : mysqlReceived(s).toString();
}

export class GtidDivergence extends Error {}

/**
 * Replicas ordered most advanced first by the GTIDs they received, and the group tied for
 * first. With one master every replica holds a prefix of the same stream, so the positions
 * are totally ordered; two that are each ahead of the other have diverged, which no
 * automatic choice can fix.
 */
export function orderByGtid(
  replicas: ServerState[],
  mode: Exclude<GtidReplication, 'none'>,
): { sorted: ServerState[]; latest: ServerState[] } {
  const pos = new Map<ServerState, MariadbGtidList | MysqlGtidSet>(
    replicas.map((r) => [r, mode === 'mariadb' ? mariadbStream(r) : mysqlReceived(r)]),
  );
  const has = (a: ServerState, b: ServerState): boolean => {
    const pa = pos.get(a)!;
    const pb = pos.get(b)!;
    return pa instanceof MariadbGtidList ? pa.contains(pb as MariadbGtidList) : pa.contains(pb as MysqlGtidSet);
  };
  for (let i = 0; i < replicas.length; i++) {
    for (let j = i + 1; j < replicas.length; j++) {
      const [a, b] = [replicas[i], replicas[j]];
      if (!has(a, b) && !has(b, a)) {
        throw new GtidDivergence(
          `GTID positions of ${a.name} (${pos.get(a)}) and ${b.name} (${pos.get(b)}) have diverged: neither contains the other.`,
        );
      }
    }
  }
  const sorted = [...replicas].sort((a, b) => (has(a, b) ? (has(b, a) ? 0 : -1) : 1));
  const latest = sorted.filter((r) => has(r, sorted[0]));
  return { sorted, latest };
}

interface MariadbCoverage {
  /** Highest seq seen per `domain-server`. */
  bySource: Map<string, bigint>;
}

function coverMariadb(cov: MariadbCoverage, text: string | undefined): void {
  for (const part of (text ?? '').split(',')) {
    if (part.trim() === '') continue;
    const g = parseMariadbGtid(part);
    const key = `${g.domain}-${g.server}`;
    if ((cov.bySource.get(key) ?? -1n) < g.seq) cov.bySource.set(key, g.seq);
  }
}

/**
 * MariaDB errant transactions of `target`: entries of its @@gtid_binlog_state (the last GTID
 * per domain and server id in its binlogs) that no other server's binlog state or
 * replication position, and not its own replication position, reaches — a write made on the
 * target itself (its server id, or a domain nobody else has). Needs log_bin on the target;
 * history written under a former master is recognised when another server keeps it in its
 * binlog state (log_slave_updates), otherwise it is reported too.
 */
export function mariadbErrant(target: ServerState, others: ServerState[]): string[] {
  const cov: MariadbCoverage = { bySource: new Map() };
  coverMariadb(cov, target.gtid?.slavePos);
  coverMariadb(cov, target.replica?.gtidIoPos);
  for (const o of others) {
    coverMariadb(cov, o.gtidBinlogState);
    coverMariadb(cov, o.gtid?.binlogPos);
    coverMariadb(cov, o.gtid?.slavePos);
    coverMariadb(cov, o.replica?.gtidIoPos);
  }
  const errant: string[] = [];
  for (const part of (target.gtidBinlogState ?? '').split(',')) {
    if (part.trim() === '') continue;
    const g = parseMariadbGtid(part);
    if (g.seq > (cov.bySource.get(`${g.domain}-${g.server}`) ?? 0n)) errant.push(`${g.domain}-${g.server}-${g.seq}`);
  }
  return errant;
}

function withoutSid(set: MysqlGtidSet, sid: string): MysqlGtidSet {
  const keep = set
    .entries()
    .filter((e) => e.sid !== sid.toLowerCase())
    .map(
      (e) =>
        `${e.sid}${e.tag ? `:${e.tag}` : ''}:${e.intervals.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(':')}`,
    );
  return MysqlGtidSet.parse(keep.join(','));
}

/**
 * MySQL errant transactions of `target`: executed GTIDs that neither its master (the
 * master's uuid, and what the replica retrieved from it) nor any other server has.
 */
export function mysqlErrant(target: ServerState, others: ServerState[], masterUuid?: string): MysqlGtidSet {
  let errant = mysqlExecuted(target).subtract(MysqlGtidSet.parse(target.replica?.retrievedGtidSet ?? ''));
  for (const o of others) errant = errant.subtract(mysqlReceived(o));
  const uuid = masterUuid || target.replica?.masterUuid;
  if (uuid) errant = withoutSid(errant, uuid);
  return errant;
}

/** Errant transactions of every `candidates` server, against `reference` servers (plus each other). */
export function findErrantTransactions(
  candidates: ServerState[],
  reference: ServerState[],
  mode: Exclude<GtidReplication, 'none'>,
  masterUuid?: string,
): ErrantFinding[] {
  const out: ErrantFinding[] = [];
  for (const c of candidates) {
    const others = [...reference, ...candidates].filter((o) => o !== c);
    if (mode === 'mariadb') {
      const e = mariadbErrant(c, others);
      if (e.length) out.push({ server: c.name, gtids: e.join(',') });
    } else {
      const e = mysqlErrant(c, others, masterUuid);
      if (!e.isEmpty()) out.push({ server: c.name, gtids: e.toString() });
    }
  }
  return out;
}

/** The position/set a server has executed, in the form its GTID wait function takes. */
export function executedText(s: ServerState, mode: Exclude<GtidReplication, 'none'>): string {
  return mode === 'mariadb' ? (s.gtid?.binlogPos ?? '') : (s.mysqlGtid?.executed ?? '');
}

export class GtidWaitError extends Error {}

/** Wait (bounded) until `s` executed `gtids`; throws with what happened otherwise. */
export async function waitGtidsExecuted(s: ServerState, gtids: string, timeoutSec: number): Promise<void> {
  if (gtids === '') return;
  const outcome = await waitForGtids(s.conn!, gtids, timeoutSec);
  if (outcome === 'timeout')
    throw new GtidWaitError(`${s.name} did not execute ${gtids} within ${timeoutSec} s (timeout).`);
  if (outcome === 'not-replicating')
    throw new GtidWaitError(`${s.name}: waiting for ${gtids} failed: replication SQL thread is not running.`);
}
