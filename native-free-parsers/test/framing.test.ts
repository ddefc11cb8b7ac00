import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  type BinlogEvent,
  BinlogFormatError,
  BinlogParser,
  EventFramer,
  parseBuffer,
  readEvents,
  readFileEvents,
} from '../src/index.js';
import { allLogFixtures } from './fixture-files.js';

const byName = (n: string) => {
  const f = allLogFixtures().find((x) => x.name === n);
  if (!f) throw new Error(`fixture ${n} missing`);
  return f;
};

const signature = (events: BinlogEvent[]) =>
  events.map((e) => `${e.offset}/${e.payloadIndex}/${e.type}/${e.length}/${e.raw.toString('base64')}`);

function parseChunks(chunks: Buffer[]): BinlogEvent[] {
  const p = new BinlogParser({ file: 'chunks' });
  const out: BinlogEvent[] = [];
  for (const c of chunks) p.push(c, (e) => out.push(e));
  p.end();
  return out;
}

describe('framing is independent of chunking', () => {
  const small = byName('external/rust_mysql_common/json.binlog.000001').bytes();
  const whole = signature(parseBuffer(small));

  it('two chunks, split at every possible boundary', () => {
    for (let k = 0; k <= small.length; k++) {
      expect(signature(parseChunks([small.subarray(0, k), small.subarray(k)])), `split at ${k}`).toEqual(whole);
    }
  });

  it('one byte at a time, and three-way splits', () => {
    const bytes = Array.from({ length: small.length }, (_, i) => small.subarray(i, i + 1));
    expect(signature(parseChunks(bytes))).toEqual(whole);
    for (let k = 1; k < small.length; k += 37) {
      for (let j = k; j < small.length; j += 53) {
        expect(signature(parseChunks([small.subarray(0, k), small.subarray(k, j), small.subarray(j)]))).toEqual(whole);
      }
    }
  });

  it('compressed transaction payloads survive every split', () => {
    const buf = byName('external/mysql-binlog-connector-rust/mysql-bin.000057').bytes();
    const ref = signature(parseBuffer(buf));
    expect(ref.some((s) => s.includes('/0/'))).toBe(true);
    for (let k = 0; k <= buf.length; k++) {
      expect(signature(parseChunks([buf.subarray(0, k), buf.subarray(k)]))).toEqual(ref);
    }
  });

  it('reads from a Readable stream and an async iterable alike', async () => {
    const fromStream: BinlogEvent[] = [];
    for await (const e of readEvents(Readable.from([small.subarray(0, 100), small.subarray(100)]))) fromStream.push(e);
    expect(signature(fromStream)).toEqual(whole);
    async function* gen() {
      for (let i = 0; i < small.length; i += 7) yield new Uint8Array(small.subarray(i, i + 7));
    }
    const fromGen: BinlogEvent[] = [];
    for await (const e of readEvents(gen())) fromGen.push(e);
    expect(signature(fromGen)).toEqual(whole);
  });
});

describe('large events', () => {
  it('frames a 40 MiB event fed in 64 KiB chunks, holding only views until it is complete', () => {
    const size = 40 * 1024 * 1024;
    const ev = Buffer.alloc(size);
    ev.writeUInt32LE(0, 0);
    ev[4] = 250; // undocumented type: must come out raw
    ev.writeUInt32LE(7, 5);
    ev.writeUInt32LE(size, 9);
    const stream = Buffer.concat([Buffer.from([0xfe, 0x62, 0x69, 0x6e]), ev]);
    const framer = new EventFramer();
    const frames: [number, number][] = [];
    for (let i = 0; i < stream.length; i += 65536) {
      framer.push(stream.subarray(i, i + 65536), (f, off) => frames.push([off, f.length]));
    }
    framer.end();
    expect(frames).toEqual([[4, size]]);
  });
});

describe('starting mid-file', () => {
  it('reads from a start offset once the format description is known', async () => {
    const f = byName('external/percona-binlog-server/data_80045_gtid/binlog.000001');
    const all = parseBuffer(f.bytes());
    const from = all[5].offset;
    const tail: BinlogEvent[] = [];
    for await (const e of readFileEvents(f.path, { startOffset: from })) tail.push(e);
    expect(signature(tail)).toEqual(signature(all.filter((e) => e.offset >= from)));
    const head: BinlogEvent[] = [];
    for await (const e of readFileEvents(f.path, { stopOffset: from })) head.push(e);
    expect(signature(head)).toEqual(signature(all.filter((e) => e.offset < from)));
  });

  it('refuses a start offset without a format description', () => {
    expect(() => new BinlogParser({ startOffset: 100 })).toThrow(/formatDescription/);
  });
});

describe('bad input gives the typed error, never a hang or another exception', () => {
  const small = byName('external/rust_mysql_common/binlog-invisible-columns.000001').bytes();
  const decodeAll = (buf: Buffer) => {
    const events = parseBuffer(buf, { file: 'x' });
    for (const e of events) void e.data;
    return events;
  };

  it('non-binlog input is refused at offset 0', () => {
    for (const junk of [Buffer.from('hello world, not a binlog'), Buffer.alloc(0), Buffer.from([0xfe, 0x62])]) {
      expect(() => parseBuffer(junk)).toThrow(BinlogFormatError);
    }
  });

  it('truncation at every offset', () => {
    const full = parseBuffer(small).length;
    for (let k = 0; k < small.length; k++) {
      try {
        const events = decodeAll(small.subarray(0, k));
        expect(events.length).toBeLessThan(full);
      } catch (err) {
        expect(err, `cut at ${k}`).toBeInstanceOf(BinlogFormatError);
        expect((err as BinlogFormatError).reason).toMatch(/truncated|bad-magic/);
      }
    }
  });

  it('thousands of random byte flips', () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const files = [
      small,
      byName('external/mysql-binlog-connector-rust/mysql-bin.000057').bytes(),
      byName('external/rust_mysql_common/mariadb-bin.000001').bytes(),
      byName('external/rust_mysql_common/ver_5_1_23.001').bytes(),
    ];
    let failures = 0;
    for (let i = 0; i < 4000; i++) {
      const src = files[i % files.length];
      const buf = Buffer.from(src);
      const flips = 1 + (rnd() % 3);
      for (let j = 0; j < flips; j++) buf[rnd() % buf.length] ^= 1 << (rnd() % 8);
      for (const verifyChecksum of [true, false]) {
        try {
          const events = parseBuffer(buf, { file: 'fuzz', verifyChecksum });
          for (const e of events) void e.data;
        } catch (err) {
          if (!(err instanceof BinlogFormatError)) throw new Error(`flip run ${i}: ${(err as Error).stack}`);
          failures++;
        }
      }
    }
    // With checksums on, nearly every flip must be caught.
    expect(failures).toBeGreaterThan(3000);
  });
});
