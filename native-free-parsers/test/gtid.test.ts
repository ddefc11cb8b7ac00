import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatMariadbGtid,
  GtidSetParseError,
  MAX_GNO,
  MariadbGtidList,
  MysqlGtidSet,
  parseMariadbGtid,
} from '../src/gtid/index.js';

const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const B = '8a94f357-aab4-11df-86ab-c80aa9429562';
const parse = MysqlGtidSet.parse;

describe('MysqlGtidSet text form', () => {
  it('round-trips a real-looking set and lowercases UUIDs', () => {
    const s = parse('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18, 3E11FA47-71CA-11E1-9E33-C80AA9429562:23');
    expect(s.toString()).toBe(`${A}:1-5:11-18:23`);
    expect(parse(s.toString()).equals(s)).toBe(true);
  });

  it("parses MySQL's multi-line output and can reproduce it", () => {
    const shown = `${A}:1-77,\n${B}:1-1023:1025-2000`;
    const s = parse(shown);
    expect(s.toString(',\n')).toBe(shown);
    expect(s.toString()).toBe(`${A}:1-77,${B}:1-1023:1025-2000`);
  });

  it('sorts sids and tolerates whitespace and empty entries', () => {
    expect(parse(` ${B}:3 , ,${A} : 1 - 2 ,`).toString()).toBe(`${A}:1-2,${B}:3`);
    expect(parse('').isEmpty()).toBe(true);
    expect(parse(' , ').toString()).toBe('');
    expect(parse(A).isEmpty()).toBe(true);
  });

  it('accepts UUIDs without dashes', () => {
    expect(parse(`${A.replaceAll('-', '')}:1`).toString()).toBe(`${A}:1`);
  });

  it('merges adjacent and overlapping intervals', () => {
    expect(parse(`${A}:1-5:6-10`).toString()).toBe(`${A}:1-10`);
    expect(parse(`${A}:7-9:1-8:20:12`).toString()).toBe(`${A}:1-9:12:20`);
    expect(parse(`${A}:1-3,${A}:4`).toString()).toBe(`${A}:1-4`);
  });

  it('handles tags: sticky until the next tag, lowercased, untagged first', () => {
    const s = parse(`${A}:1-3:Tag1:4-6:tag2:7,${A}:tag1:7`);
    expect(s.toString()).toBe(`${A}:1-3:tag1:4-7:tag2:7`);
    expect(s.containsGtid(A, 5n, 'TAG1')).toBe(true);
    expect(s.containsGtid(A, 5n)).toBe(false);
    expect(s.count()).toBe(3n + 4n + 1n);
    expect(parse(`${B}:_x:1-5,${A}:z:1`).toString()).toBe(`${A}:z:1,${B}:_x:1-5`);
    expect(parse(`${A}:t`).isEmpty()).toBe(true);
  });

  it('accepts the GNO limits', () => {
    expect(parse(`${A}:1-${MAX_GNO}`).count()).toBe(MAX_GNO);
  });

  it.each([
    ['not-a-uuid:1', 'not-a-uuid'],
    [`${A}:0`, '0'],
    [`${A}:5-3`, '5-3'],
    [`${A}:1-`, `${A}:1-`],
    [`${A}:`, `${A}:`],
    [`${A}:1x`, `${A}:1x`],
    [`${A}:${MAX_GNO + 1n}`, `${MAX_GNO + 1n}`],
    [`${A}:9tag:1`, `${A}:9tag:1`],
    [`${A}:bad-tag:1`, 'bad-tag'],
    [`${A}:${'t'.repeat(33)}:1`, 't'.repeat(33)],
    [`${A}:1 ${B}:2`, `${A}:1 ${B}:2`],
  ])('rejects %j naming %j', (text, fragment) => {
    expect(() => parse(text)).toThrow(GtidSetParseError);
    try {
      parse(text);
    } catch (e) {
      expect((e as GtidSetParseError).fragment).toBe(fragment);
      expect((e as Error).message).toContain(fragment);
    }
  });
});

describe('MysqlGtidSet operations', () => {
  const x = parse(`${A}:1-10:20-30,${B}:1-5:t:1-3`);

  it('contains / containsGtid', () => {
    expect(x.contains(parse(`${A}:2-9:25`))).toBe(true);
    expect(x.contains(parse(`${A}:2-11`))).toBe(false);
    expect(x.contains(parse(`${B}:t:3`))).toBe(true);
    expect(x.contains(parse(`${B}:u:3`))).toBe(false);
    expect(x.contains(MysqlGtidSet.EMPTY)).toBe(true);
    expect(MysqlGtidSet.EMPTY.contains(x)).toBe(false);
    expect(x.containsGtid(A.toUpperCase(), 20n)).toBe(true);
    expect(x.containsGtid(A, 15n)).toBe(false);
  });

  it('union / subtract / intersect', () => {
    const y = parse(`${A}:5-25,${B}:t:3-4`);
    expect(x.union(y).toString()).toBe(`${A}:1-30,${B}:1-5:t:1-4`);
    expect(x.subtract(y).toString()).toBe(`${A}:1-4:26-30,${B}:1-5:t:1-2`);
    expect(y.subtract(x).toString()).toBe(`${A}:11-19,${B}:t:4`);
    expect(x.intersect(y).toString()).toBe(`${A}:5-10:20-25,${B}:t:3`);
    expect(x.subtract(x).isEmpty()).toBe(true);
  });

  it('add returns a new set and leaves the original alone', () => {
    const a = parse(`${A}:1-3`);
    const b = a.add(A, 4n).add(B, 1n, 'T');
    expect(b.toString()).toBe(`${A}:1-4,${B}:t:1`);
    expect(a.toString()).toBe(`${A}:1-3`);
    expect(MysqlGtidSet.of(A, 7n).toString()).toBe(`${A}:7`);
    expect(() => a.add(A, 0n)).toThrow(GtidSetParseError);
  });

  it('fromIntervals reads half-open binary intervals', () => {
    const s = MysqlGtidSet.fromIntervals(A, undefined, [
      [1n, 6n],
      [6n, 8n],
      [10n, 11n],
    ]);
    expect(s.toString()).toBe(`${A}:1-7:10`);
    expect(MysqlGtidSet.fromIntervals(A, 'tg', [[1n, 2n ** 63n - 1n]]).count()).toBe(MAX_GNO);
    expect(() => MysqlGtidSet.fromIntervals(A, undefined, [[5n, 5n]])).toThrow(GtidSetParseError);
    expect(() => MysqlGtidSet.fromIntervals(A, undefined, [[0n, 2n]])).toThrow(GtidSetParseError);
  });

  it('exposes entries and intervals', () => {
    expect(x.entries().map((e) => [e.sid, e.tag, e.intervals])).toEqual([
      [
        A,
        '',
        [
          [1n, 10n],
          [20n, 30n],
        ],
      ],
      [B, '', [[1n, 5n]]],
      [B, 't', [[1n, 3n]]],
    ]);
    expect(x.intervals(B, 't')).toEqual([[1n, 3n]]);
    expect(x.intervals(B, 'zz')).toEqual([]);
  });
});

describe('MysqlGtidSet properties', () => {
  const piece = fc.record({
    sid: fc.constantFrom(A, B),
    tag: fc.constantFrom('', 'x', 'Y'),
    start: fc.integer({ min: 1, max: 30 }),
    len: fc.integer({ min: 0, max: 6 }),
  });
  const arbSet = fc.array(piece, { maxLength: 8 }).map((pieces) => {
    const naive = new Set<string>();
    for (const p of pieces) for (let g = p.start; g <= p.start + p.len; g++) naive.add(key(p.sid, p.tag, g));
    const text = pieces
      .map((p) => `${p.sid.toUpperCase()}${p.tag ? `:${p.tag}` : ''}:${p.start}-${p.start + p.len}`)
      .join(',\n');
    return { set: parse(text), naive };
  });

  function key(sid: string, tag: string, gno: number | bigint): string {
    return `${sid}|${tag.toLowerCase()}|${gno}`;
  }
  function expand(s: MysqlGtidSet): Set<string> {
    const out = new Set<string>();
    for (const e of s.entries())
      for (const [a, b] of e.intervals) for (let g = a; g <= b; g++) out.add(key(e.sid, e.tag, g));
    return out;
  }
  const sorted = (s: Set<string>) => [...s].sort();

  it('parses like a naive set and round-trips through toString', () => {
    fc.assert(
      fc.property(arbSet, ({ set, naive }) => {
        expect(sorted(expand(set))).toEqual(sorted(naive));
        expect(set.count()).toBe(BigInt(naive.size));
        expect(parse(set.toString()).equals(set)).toBe(true);
        expect(parse(set.toString(',\n')).toString()).toBe(set.toString());
      }),
    );
  });

  it('union, subtract, intersect and contains match set semantics', () => {
    fc.assert(
      fc.property(arbSet, arbSet, (x, y) => {
        const union = new Set([...x.naive, ...y.naive]);
        const minus = new Set([...x.naive].filter((k) => !y.naive.has(k)));
        const both = new Set([...x.naive].filter((k) => y.naive.has(k)));
        expect(sorted(expand(x.set.union(y.set)))).toEqual(sorted(union));
        expect(sorted(expand(x.set.subtract(y.set)))).toEqual(sorted(minus));
        expect(sorted(expand(x.set.intersect(y.set)))).toEqual(sorted(both));
        expect(x.set.contains(y.set)).toBe([...y.naive].every((k) => x.naive.has(k)));
        expect(x.set.union(y.set).equals(y.set.union(x.set))).toBe(true);
      }),
    );
  });
});

describe('MariaDB GTIDs', () => {
  it('parses and formats single GTIDs', () => {
    expect(parseMariadbGtid(' 0-1-5 ')).toEqual({ domain: 0, server: 1, seq: 5n });
    expect(formatMariadbGtid({ domain: 4294967295, server: 2, seq: 2n ** 64n - 1n })).toBe(
      '4294967295-2-18446744073709551615',
    );
    for (const bad of ['0-1', '0-1-x', '-1-1-1', '4294967296-1-1', `0-1-${2n ** 64n}`, '0-1-5,1-1-1']) {
      expect(() => parseMariadbGtid(bad), bad).toThrow(GtidSetParseError);
    }
  });

  it('round-trips lists sorted by domain', () => {
    const l = MariadbGtidList.parse('1-2-5, 0-1-100');
    expect(l.toString()).toBe('0-1-100,1-2-5');
    expect(MariadbGtidList.parse(l.toString()).equals(l)).toBe(true);
    expect(l.get(1)).toEqual({ domain: 1, server: 2, seq: 5n });
    expect(l.get(7)).toBeUndefined();
    expect(MariadbGtidList.parse('').isEmpty()).toBe(true);
    expect(() => MariadbGtidList.parse('0-1-1,,x')).toThrow(GtidSetParseError);
  });

  it('keeps the last entry per domain, as in gtid_binlog_state', () => {
    expect(MariadbGtidList.parse('0-2-50,0-1-100,1-1-3').toString()).toBe('0-1-100,1-1-3');
  });

  it('withGtid replaces the domain entry', () => {
    const l = MariadbGtidList.parse('0-1-100');
    expect(l.withGtid({ domain: 0, server: 3, seq: 101n }).toString()).toBe('0-3-101');
    expect(l.withGtid({ domain: 2, server: 1, seq: 1n }).toString()).toBe('0-1-100,2-1-1');
    expect(l.toString()).toBe('0-1-100');
  });

  it('contains compares seq per domain, ignoring server ids', () => {
    const l = MariadbGtidList.parse('0-1-100,1-2-5');
    expect(l.contains(parseMariadbGtid('0-9-100'))).toBe(true);
    expect(l.contains(parseMariadbGtid('0-1-101'))).toBe(false);
    expect(l.contains(parseMariadbGtid('2-1-1'))).toBe(false);
    expect(l.contains(MariadbGtidList.parse('0-3-50,1-2-5'))).toBe(true);
    expect(l.contains(MariadbGtidList.parse('0-3-50,2-1-1'))).toBe(false);
    expect(l.contains(MariadbGtidList.EMPTY)).toBe(true);
  });

  it('union takes the per-domain maximum', () => {
    const a = MariadbGtidList.parse('0-1-100,1-2-5');
    const b = MariadbGtidList.parse('0-2-90,1-3-7,2-1-1');
    expect(a.union(b).toString()).toBe('0-1-100,1-3-7,2-1-1');
    expect(a.union(MariadbGtidList.parse('0-5-100')).get(0)?.server).toBe(1);
  });

  it('missingFrom and isAhead', () => {
    const master = MariadbGtidList.parse('0-1-100,1-2-5,2-1-9');
    const replica = MariadbGtidList.parse('0-1-90,1-2-5');
    expect(master.missingFrom(replica)).toEqual([
      { domain: 0, server: 1, fromExclusive: 90n, toInclusive: 100n },
      { domain: 2, server: 1, fromExclusive: 0n, toInclusive: 9n },
    ]);
    expect(replica.missingFrom(master)).toEqual([]);
    expect(master.isAhead(replica)).toBe(true);
    expect(replica.isAhead(master)).toBe(false);
    expect(master.isAhead(master)).toBe(false);
    const diverged = MariadbGtidList.parse('0-1-101');
    expect(diverged.isAhead(master) || master.isAhead(diverged)).toBe(false);
  });

  it('union and contains agree (property)', () => {
    const arbList = fc
      .array(
        fc.record({
          domain: fc.integer({ min: 0, max: 3 }),
          server: fc.integer({ min: 1, max: 3 }),
          seq: fc.bigInt({ min: 1n, max: 20n }),
        }),
        { maxLength: 6 },
      )
      .map((gs) => MariadbGtidList.from(gs));
    fc.assert(
      fc.property(arbList, arbList, (a, b) => {
        const u = a.union(b);
        expect(u.contains(a) && u.contains(b)).toBe(true);
        expect(MariadbGtidList.parse(u.toString()).equals(u)).toBe(true);
        expect(a.missingFrom(b).length === 0).toBe(b.contains(a));
      }),
    );
  });
});
