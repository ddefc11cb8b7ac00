/**
 * MariaDB GTID positions: `domain-server-seq` lists such as `0-1-100,1-2-5`
 * (@@gtid_slave_pos, @@gtid_binlog_pos, @@gtid_current_pos, GTID_LIST events).
 *
 * Unlike MySQL there are no sets of transactions: within a replication domain events are
 * ordered by sequence number, so a position is one GTID per domain and "has applied X" means
 * "X.seq <= my seq in X.domain". The server id only records who wrote the event.
 */
import { GtidSetParseError } from './mysql-gtid-set.js';

export interface MariadbGtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: bigint;
}

/** Transactions of one domain that one position has and another lacks: seq in (fromExclusive, toInclusive]. */
export interface MariadbSeqRange {
  readonly domain: number;
  /** Server id of the newer position's GTID in this domain. */
  readonly server: number;
  readonly fromExclusive: bigint;
  readonly toInclusive: bigint;
}

const U32_MAX = 0xffff_ffff;
const U64_MAX = 2n ** 64n - 1n;
const GTID_RE = /^(\d+)-(\d+)-(\d+)$/;

export function parseMariadbGtid(text: string): MariadbGtid {
  const t = text.trim();
  const m = GTID_RE.exec(t);
  if (!m) throw new GtidSetParseError(t, 'expected domain-server-seq');
  const domain = Number(m[1]);
  const server = Number(m[2]);
  const seq = BigInt(m[3]);
  if (domain > U32_MAX || server > U32_MAX) throw new GtidSetParseError(t, 'domain and server id must fit in 32 bits');
  if (seq > U64_MAX) throw new GtidSetParseError(t, 'sequence number must fit in 64 bits');
  return { domain, server, seq };
}

export function formatMariadbGtid(g: MariadbGtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}

/** An immutable MariaDB GTID position: at most one GTID per domain. */
export class MariadbGtidList {
  static readonly EMPTY = new MariadbGtidList(new Map());

  private readonly byDomain: ReadonlyMap<number, MariadbGtid>;

  private constructor(byDomain: ReadonlyMap<number, MariadbGtid>) {
    this.byDomain = byDomain;
  }

  /**
   * Parses a comma-separated list (whitespace allowed, empty text is the empty position).
   * When a domain appears more than once, as in @@gtid_binlog_state or a GTID_LIST event,
   * the last entry wins: MariaDB writes each domain's most recent GTID last, so this yields
   * the corresponding @@gtid_binlog_pos.
   */
  static parse(text: string): MariadbGtidList {
    return MariadbGtidList.from(
      text
        .split(',')
        .filter((part) => part.trim() !== '')
        .map(parseMariadbGtid),
    );
  }

  /** Builds a position from GTIDs in log order; later GTIDs replace earlier ones of their domain. */
  static from(gtids: Iterable<MariadbGtid>): MariadbGtidList {
    const map = new Map<number, MariadbGtid>();
    for (const { domain, server, seq } of gtids) map.set(domain, { domain, server, seq });
    return new MariadbGtidList(map);
  }

  get(domain: number): MariadbGtid | undefined {
    return this.byDomain.get(domain);
  }

  /** GTIDs sorted by domain. */
  gtids(): MariadbGtid[] {
    return [...this.byDomain.values()].sort((a, b) => a.domain - b.domain);
  }

  get size(): number {
    return this.byDomain.size;
  }

  isEmpty(): boolean {
    return this.byDomain.size === 0;
  }

  /**
   * The position after applying `gtid`: it replaces its domain's entry even if its seq is
   * lower, as MariaDB does for the last event applied (seqs only go up under
   * gtid_strict_mode). Use `union` for a per-domain maximum.
   */
  withGtid(gtid: MariadbGtid): MariadbGtidList {
    return MariadbGtidList.from([...this.byDomain.values(), gtid]);
  }

  /**
   * Whether this position has applied `x`: per domain, seq <= this list's seq, regardless of
   * server id. A domain this list lacks counts as seq 0.
   */
  contains(x: MariadbGtid | MariadbGtidList): boolean {
    const gtids = x instanceof MariadbGtidList ? x.gtids() : [x];
    return gtids.every((g) => g.seq <= this.seqOf(g.domain));
  }

  /** Per-domain maximum seq; on a tie this list's entry (and server id) is kept. */
  union(other: MariadbGtidList): MariadbGtidList {
    const map = new Map(this.byDomain);
    for (const g of other.byDomain.values()) {
      if (g.seq > this.seqOf(g.domain)) map.set(g.domain, g);
    }
    return new MariadbGtidList(map);
  }

  /**
   * MariaDB's analogue of a set difference `this − base`: for each domain where this
   * position is further than `base`, the range (baseSeq, thisSeq] — the transactions a server
   * at `base` still needs to reach this position. Sorted by domain; empty when `base`
   * contains this position.
   */
  missingFrom(base: MariadbGtidList): MariadbSeqRange[] {
    return this.gtids()
      .filter((g) => g.seq > base.seqOf(g.domain))
      .map((g) => ({ domain: g.domain, server: g.server, fromExclusive: base.seqOf(g.domain), toInclusive: g.seq }));
  }

  /**
   * Strictly ahead: this contains `other` and has something `other` lacks. Two positions
   * that are each ahead in a different domain are incomparable — neither is ahead.
   */
  isAhead(other: MariadbGtidList): boolean {
    return this.contains(other) && !other.contains(this);
  }

  /** Same GTIDs per domain, server ids included. */
  equals(other: MariadbGtidList): boolean {
    return this.toString() === other.toString();
  }

  /** `0-1-100,1-2-5`: sorted by domain, as MariaDB prints it. */
  toString(): string {
    return this.gtids().map(formatMariadbGtid).join(',');
  }

  private seqOf(domain: number): bigint {
    return this.byDomain.get(domain)?.seq ?? 0n;
  }
}
