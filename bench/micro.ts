/**
 * Per-operation micro benchmarks with benchmark.js (statistically sampled, many cycles):
 * the hot-path pieces the file benchmark is made of, measured on real events.
 *
 *   node dist/bench/micro.js FILE [--fast]
 *
 * FILE is a binlog (the benchmark's input); its first MiB after the format description is
 * the material. Prints a JSON array of { name, hz, rme, samples, mbPerSec? } on the last
 * line (run.js renders it), and a human-readable line per benchmark on stderr.
 *
 * Why benchmark.js only here: it times a synchronous function over many cycles in one
 * process, which is right for an operation of micro- to milliseconds, but not for a whole
 * file read: that must include I/O, GC over hundreds of MB and the process's peak RSS, so
 * the file table is timed with wall clocks in a child process per contender (run.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import * as zlib from 'node:zlib';
import {
  BinlogEvent,
  BinlogParser,
  EventType,
  parseBuffer,
  ROWS_EVENT_TYPES,
  type RowsEventData,
} from '@mha-ts/native-free-parsers';
import Benchmark from 'benchmark';

export interface MicroResult {
  name: string;
  /** Operations per second. */
  hz: number;
  /** Relative margin of error, percent. */
  rme: number;
  samples: number;
  /** For operations over a byte range: throughput in MB/s (10^6 bytes). */
  mbPerSec?: number;
  /** Work done per operation, e.g. "1 MiB, 2143 events". */
  unit: string;
}

function readHead(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function main(): void {
  const file = process.argv[2];
  const fast = process.argv.includes('--fast');
  if (!file) throw new Error('usage: micro.js FILE [--fast]');
  const head = readHead(file, (1 << 20) + (64 << 10));
  // Whole events only: frame the head and cut at the last complete event within 1 MiB + FDE.
  const all: BinlogEvent[] = [];
  const p = new BinlogParser({ headerOnly: true });
  p.push(head, (e) => all.push(e));
  const last = all.filter((e) => e.offset + e.length <= 1 << 20).at(-1)!;
  const mib = head.subarray(0, last.offset + last.length);
  const mibEvents = all.filter((e) => e.offset + e.length <= mib.length).length;

  // One TABLE_MAP and one UPDATE_ROWS (or any rows event) with its table map, decoded for real.
  const decoded = parseBuffer(mib);
  const tableMapEvent = decoded.find((e) => e.typeCode === EventType.TABLE_MAP)!;
  const rowsEvent =
    decoded.find((e) => e.typeCode === EventType.UPDATE_ROWS || e.typeCode === EventType.UPDATE_ROWS_V1) ??
    decoded.find((e) => ROWS_EVENT_TYPES.has(e.typeCode) && e.tableMap !== undefined)!;
  // Table maps are decoded by the parser on the way; make sure the row decoder is compiled too.
  void (rowsEvent.data as RowsEventData).rows;

  const results: MicroResult[] = [];
  const suite = new Benchmark.Suite();
  const opts: Benchmark.Options = fast
    ? { maxTime: 0.05, minSamples: 2, initCount: 1 }
    : { maxTime: 2, minSamples: 20 };
  let sink = 0;
  const byteOps = new Map<string, number>();
  const units = new Map<string, string>();
  const add = (name: string, unit: string, bytes: number | null, fn: () => void) => {
    if (bytes !== null) byteOps.set(name, bytes);
    units.set(name, unit);
    suite.add(name, fn, opts);
  };

  add('frame 1 MiB, header-only (BinlogParser.push)', `1 MiB, ${mibEvents} events`, mib.length, () => {
    const parser = new BinlogParser({ headerOnly: true });
    parser.push(mib, (e) => {
      sink += e.endLogPos;
    });
  });
  add('frame 1 MiB + verify CRC32 (no body decode)', `1 MiB, ${mibEvents} events`, mib.length, () => {
    const parser = new BinlogParser({ verifyChecksum: true });
    parser.push(mib, (e) => {
      sink += e.length;
    });
  });
  add('zlib.crc32 over 1 MiB (native floor of CRC checks)', '1 MiB', mib.length, () => {
    sink += (zlib as unknown as { crc32(b: Buffer): number }).crc32(mib);
  });
  add('decode one TABLE_MAP event', `${tableMapEvent.length} B`, null, () => {
    const e = new BinlogEvent(tableMapEvent.raw, tableMapEvent.offset, tableMapEvent.typeCode, tableMapEvent.fd);
    sink += Object.keys(e.data).length;
  });
  const rowsData = rowsEvent.data as RowsEventData;
  add(
    `decode one ${rowsEvent.type} event + read every value`,
    `${rowsEvent.length} B, ${rowsData.rows.length} row(s)`,
    null,
    () => {
      const e = new BinlogEvent(rowsEvent.raw, rowsEvent.offset, rowsEvent.typeCode, rowsEvent.fd);
      e.tableMap = rowsEvent.tableMap;
      const d = e.data as RowsEventData;
      for (const change of d.rows) {
        for (const img of [change.before, change.after]) {
          if (!img) continue;
          for (const k in img) {
            const v = img[k];
            sink += typeof v === 'string' ? v.length : 1;
          }
        }
      }
    },
  );

  suite.on('cycle', (ev: Benchmark.Event) => {
    const b = ev.target as unknown as Benchmark & { name: string };
    const bytes = byteOps.get(b.name);
    const r: MicroResult = {
      name: b.name,
      hz: b.hz,
      rme: b.stats.rme,
      samples: b.stats.sample.length,
      unit: units.get(b.name) ?? '',
      ...(bytes !== undefined ? { mbPerSec: (b.hz * bytes) / 1e6 } : {}),
    };
    results.push(r);
    process.stderr.write(`${String(b)}\n`);
  });
  suite.run({ async: false });
  if (sink === 0.5) process.stderr.write('impossible\n');
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main();
