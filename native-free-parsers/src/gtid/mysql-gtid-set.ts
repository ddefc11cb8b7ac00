/**
 * MySQL GTID sets (`@@gtid_executed`, `@@gtid_purged`, PREVIOUS_GTIDS events), including the
 * tagged GTIDs of MySQL 8.3+ (`uuid:tag:1-5`).
 *
 * Sets are immutable: every operation returns a new set. Internally intervals are closed
 * `[start, end]` pairs, kept sorted and merged, so structurally equal sets are equal sets.
 */

/** A closed GNO interval `[start, end]`, as in the text form `start-end`. */
export type GtidInterval = readonly [start: bigint, end: bigint];

/** One (uuid, tag) of a set; `tag` is '' for untagged GTIDs. */
export interface GtidSetEntry {
  readonly sid: string;
  readonly tag: string;
  readonly intervals: readonly GtidInterval[];
}

/**
 * MySQL's GNO_END is INT64_MAX and is exclusive, so the largest usable GNO is 2^63 - 2;
 * PREVIOUS_GTIDS events may carry 2^63 - 1 as an exclusive end.
 */
export const MAX_GNO = 2n ** 63n - 2n;

export class GtidSetParseError extends Error {
  /** The part of the input (or the argument) that was rejected. */
  readonly fragment: string;

  constructor(fragment: string, why: string) {
    super(`Malformed GTID set near '${fragment}': ${why}`);
    this.name = 'GtidSetParseError';
    this.fragment = fragment;
  }
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const TAG_RE = /^[a-z_][a-z0-9_]{0,31}$/i;
const INTERVAL_RE = /^(\d+)(?:\s*-\s*(\d+))?$/;

/** Lowercase, dashed UUID; accepts the 32-hex-digit form MySQL also accepts. */
function normalizeSid(sid: string): string {
  const s = sid.trim();
  if (!UUID_RE.test(s)) throw new GtidSetParseError(s, 'expected a UUID');
  const hex = s.replaceAll('-', '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function normalizeTag(tag: string | undefined): string {
  if (tag === undefined || tag === '') return '';
  if (!TAG_RE.test(tag)) throw new GtidSetParseError(tag, 'expected a tag ([a-z_][a-z0-9_]{0,31})');
  return tag.toLowerCase();
}

function checkInterval(start: bigint, end: bigint, fragment: string): GtidInterval {
  if (start < 1n || end > MAX_GNO) throw new GtidSetParseError(fragment, `GNOs must be in 1..${MAX_GNO}`);
  // MySQL silently drops a reversed interval; here it is more likely a typo worth reporting.
  if (end < start) throw new GtidSetParseError(fragment, 'interval end is before its start');
  return [start, end];
}

// ---- sorted, merged interval lists ----

function normalize(list: GtidInterval[]): GtidInterval[] {
  const sorted = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    // Adjacent intervals merge too: 1-5:6-10 is 1-10.
    if (last && s <= last[1] + 1n) {
      if (e > last[1]) last[1] = e;
    } else {
      out.push([s, e]);
    }
  }
  return out;
}

// Math.max/min reject bigint.
function bigMax(x: bigint, y: bigint): bigint {
  if (x > y) return x;
  return y;
}

function bigMin(x: bigint, y: bigint): bigint {
  if (x < y) return x;
  return y;
}

function intersectIntervals(a: readonly GtidInterval[], b: readonly GtidInterval[]): GtidInterval[] {
  const out: GtidInterval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = bigMax(a[i][0], b[j][0]);
    const hi = bigMin(a[i][1], b[j][1]);
    if (lo <= hi) out.push([lo, hi]);
    if (a[i][1] < b[j][1]) i++;
    else j++;
  }
  return out;
}

function subtractIntervals(a: readonly GtidInterval[], b: readonly GtidInterval[]): GtidInterval[] {
  const out: GtidInterval[] = [];
  let j = 0;
  for (const [start, end] of a) {
    let s = start;
    while (j < b.length && b[j][1] < s) j++;
    // Later intervals of `a` start beyond this one's end, so b[j..] stays relevant for them.
    for (let k = j; k < b.length && b[k][0] <= end && s <= end; k++) {
      if (b[k][0] > s) out.push([s, b[k][0] - 1n]);
      s = b[k][1] + 1n;
    }
    if (s <= end) out.push([s, end]);
  }
  return out;
}

type Tags = ReadonlyMap<string, readonly GtidInterval[]>;
type Sids = ReadonlyMap<string, Tags>;

export class MysqlGtidSet {
  static readonly EMPTY = new MysqlGtidSet(new Map());

  /** sid -> tag ('' = untagged) -> non-empty sorted merged intervals. No empty entries. */
  private readonly sids: Sids;

  private constructor(sids: Sids) {
    this.sids = sids;
  }

  /**
   * Parses MySQL's text form. Whitespace (including the newlines of MySQL's `,\n`) is allowed
   * around separators, empty entries between commas are skipped, and a sid or tag may repeat.
   */
  static parse(text: string): MysqlGtidSet {
    const b = new Builder();
    for (const entry of text.split(',')) {
      if (entry.trim() === '') continue;
      const [sidText, ...items] = entry.split(':');
      const sid = normalizeSid(sidText);
      let tag = '';
      for (const raw of items) {
        const item = raw.trim();
        const m = INTERVAL_RE.exec(item);
        if (m) {
          const start = BigInt(m[1]);
          b.add(sid, tag, [checkInterval(start, m[2] === undefined ? start : BigInt(m[2]), item)]);
        } else if (/^\d/.test(item) || item === '') {
          throw new GtidSetParseError(entry.trim(), `bad interval '${item}'`);
        } else {
          tag = normalizeTag(item);
        }
      }
    }
    return MysqlGtidSet.build(b);
  }

  /**
   * Builds a set from the half-open `[startInclusive, endExclusive)` intervals of a binary
   * PREVIOUS_GTIDS / gtid_executed encoding, e.g. `[[1n, 6n]]` is `sid:1-5`.
   */
  static fromIntervals(
    sid: string,
    tag: string | undefined,
    intervals: Iterable<readonly [startInclusive: bigint, endExclusive: bigint]>,
  ): MysqlGtidSet {
    const b = new Builder();
    const s = normalizeSid(sid);
    const t = normalizeTag(tag);
    for (const [start, endExclusive] of intervals) {
      const fragment = `[${start}, ${endExclusive})`;
      if (endExclusive <= start) throw new GtidSetParseError(fragment, 'empty or reversed interval');
      b.add(s, t, [checkInterval(start, endExclusive - 1n, fragment)]);
    }
    return MysqlGtidSet.build(b);
  }

  /** A one-GTID set; `MysqlGtidSet.EMPTY.add(...)` is the same thing. */
  static of(sid: string, gno: bigint, tag?: string): MysqlGtidSet {
    return MysqlGtidSet.EMPTY.add(sid, gno, tag);
  }

  add(sid: string, gno: bigint, tag?: string): MysqlGtidSet {
    const s = normalizeSid(sid);
    const t = normalizeTag(tag);
    const b = new Builder(this.sids);
    b.add(s, t, [checkInterval(gno, gno, String(gno))]);
    return MysqlGtidSet.build(b);
  }

  containsGtid(sid: string, gno: bigint, tag?: string): boolean {
    const list = this.sids.get(normalizeSid(sid))?.get(normalizeTag(tag)) ?? [];
    return list.some(([s, e]) => s <= gno && gno <= e);
  }

  /** Whether every GTID of `other` is in this set. */
  contains(other: MysqlGtidSet): boolean {
    return other.subtract(this).isEmpty();
  }

  union(other: MysqlGtidSet): MysqlGtidSet {
    const b = new Builder(this.sids);
    for (const e of other.entries()) b.add(e.sid, e.tag, e.intervals);
    return MysqlGtidSet.build(b);
  }

  subtract(other: MysqlGtidSet): MysqlGtidSet {
    return this.combine(other, subtractIntervals);
  }

  intersect(other: MysqlGtidSet): MysqlGtidSet {
    return this.combine(other, intersectIntervals);
  }

  isEmpty(): boolean {
    return this.sids.size === 0;
  }

  equals(other: MysqlGtidSet): boolean {
    return this.toString() === other.toString();
  }

  /** Number of GTIDs in the set. */
  count(): bigint {
    let n = 0n;
    for (const e of this.entries()) for (const [s, t] of e.intervals) n += t - s + 1n;
    return n;
  }

  /** Closed intervals of one (sid, tag), empty when absent. */
  intervals(sid: string, tag?: string): readonly GtidInterval[] {
    return this.sids.get(normalizeSid(sid))?.get(normalizeTag(tag)) ?? [];
  }

  /** Entries in canonical order: sids sorted, untagged first, then tags sorted. */
  entries(): GtidSetEntry[] {
    const out: GtidSetEntry[] = [];
    for (const sid of [...this.sids.keys()].sort()) {
      const tags = this.sids.get(sid)!;
      for (const tag of [...tags.keys()].sort()) out.push({ sid, tag, intervals: tags.get(tag)! });
    }
    return out;
  }

  /**
   * Canonical text: `uuid:1-5:11:tag:1-3,uuid2:7`. The separator between sids defaults to
   * `,` (usable in SQL); pass `',\n'` to reproduce what MySQL prints.
   */
  toString(sidSeparator = ','): string {
    const parts: string[] = [];
    let current = '';
    for (const { sid, tag, intervals } of this.entries()) {
      if (sid !== current) {
        parts.push(sid);
        current = sid;
      }
      const gnos = intervals.map(([s, e]) => (s === e ? `${s}` : `${s}-${e}`)).join(':');
      parts[parts.length - 1] += tag === '' ? `:${gnos}` : `:${tag}:${gnos}`;
    }
    return parts.join(sidSeparator);
  }

  private static build(b: Builder): MysqlGtidSet {
    for (const tags of b.sids.values()) for (const [tag, list] of tags) tags.set(tag, normalize(list));
    return new MysqlGtidSet(b.sids);
  }

  /** Applies `op` per (sid, tag) of this set against the same (sid, tag) of `other`. */
  private combine(
    other: MysqlGtidSet,
    op: (a: readonly GtidInterval[], b: readonly GtidInterval[]) => GtidInterval[],
  ): MysqlGtidSet {
    const b = new Builder();
    for (const e of this.entries()) b.add(e.sid, e.tag, op(e.intervals, other.intervals(e.sid, e.tag)));
    return MysqlGtidSet.build(b);
  }
}

/**
 * Mutable accumulator behind the immutable set; takes already-normalised sids and tags and
 * sorts/merges once at the end, so parsing a set with many holes stays O(n log n).
 */
class Builder {
  readonly sids = new Map<string, Map<string, GtidInterval[]>>();

  constructor(from?: Sids) {
    if (from) for (const [sid, tags] of from) for (const [tag, list] of tags) this.add(sid, tag, list);
  }

  add(sid: string, tag: string, intervals: readonly GtidInterval[]): void {
    if (intervals.length === 0) return;
    const tags = this.sids.get(sid) ?? new Map<string, GtidInterval[]>();
    this.sids.set(sid, tags);
    const list = tags.get(tag) ?? [];
    tags.set(tag, list);
    // A loop, not push(...intervals): spreading a large set's intervals can overflow the stack.
    for (const iv of intervals) list.push(iv);
  }
}
