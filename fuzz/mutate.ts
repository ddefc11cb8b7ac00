/**
 * Mutations of binlog bytes: byte and bit flips, truncations, splices of events from
 * different files, event-header damage (length, type), duplicated / dropped / inserted
 * ranges, and — so that damage gets past the CRC32 check and reaches the decoders — the
 * trailers recomputed afterwards. Also how the bytes are fed: in random chunk sizes, with
 * or without checksum verification, header-only or fully decoded.
 *
 * Input i of seed s is a pure function of (s, i): a finding is replayed from those two
 * numbers alone.
 */
import { crc32 } from '@mha-ts/native-free-parsers';
import { deriveSeed, Rng } from '../trials/rng.js';
import type { CorpusFile } from './corpus.js';

export interface FuzzInput {
  bytes: Buffer;
  /** Chunk sizes the bytes are pushed in (sum = bytes.length). */
  chunks: number[];
  verifyChecksum: boolean;
  headerOnly: boolean;
  /** What was done, for the finding's description. */
  ops: string[];
}

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
/** Inputs stay small: many inputs per second matter more than long ones. */
const WINDOW_BYTES = 96 * 1024;

/** A contiguous run of events of `f` after its format description, at most WINDOW_BYTES. */
function window(r: Rng, f: CorpusFile): Buffer {
  const fde = f.events[0];
  const head = f.bytes.subarray(0, fde.offset + fde.length);
  if (f.events.length < 2) return Buffer.from(head);
  const start = r.chance(0.3) ? 1 : r.int(1, f.events.length - 1);
  let end = start;
  let size = 0;
  const want = r.chance(0.5) ? r.int(1, 8) : r.int(1, 200);
  while (end < f.events.length && end - start < want && size + f.events[end].length <= WINDOW_BYTES) {
    size += f.events[end].length;
    end++;
  }
  if (end === start) return Buffer.from(head);
  const a = f.events[start].offset;
  const b = f.events[end - 1].offset + f.events[end - 1].length;
  return Buffer.concat([head, f.bytes.subarray(a, b)]);
}

/** Event boundaries of `buf` by its header length fields (stops at the first impossible one). */
function frames(buf: Buffer): { start: number; length: number }[] {
  const out: { start: number; length: number }[] = [];
  let p = 4;
  while (p + 19 <= buf.length && out.length < 100_000) {
    const len = buf.readUInt32LE(p + 9);
    if (len < 19 || p + len > buf.length) break;
    out.push({ start: p, length: len });
    p += len;
  }
  return out;
}

/** Recompute every CRC32 trailer (checksummed logs), the FDE's with its in-use flag cleared. */
function fixChecksums(buf: Buffer, checksumLength: number): void {
  if (checksumLength === 0) return;
  for (const { start, length } of frames(buf)) {
    if (length < 19 + 4) continue;
    const end = start + length - 4;
    let c: number;
    if (buf[start + 4] === 15) {
      const patched = Buffer.from(buf.subarray(start, end));
      patched[17] &= ~0x01;
      c = crc32(patched);
    } else {
      c = crc32(buf.subarray(start, end));
    }
    buf.writeUInt32LE(c >>> 0, end);
  }
}

function flipBytes(r: Rng, buf: Buffer, from = 0, to = buf.length): string {
  if (to <= from) return 'flip(none)';
  const n = r.chance(0.7) ? r.int(1, 3) : r.int(4, 32);
  for (let i = 0; i < n; i++) {
    const p = r.int(from, to - 1);
    if (r.chance(0.5)) buf[p] ^= 1 << r.int(0, 7);
    else buf[p] = r.pick([0, 0xff, 0x7f, 0x80, 0xfe, 0xfc, 0xfd, 0xfb, r.int(0, 255)]);
  }
  return `flip(${n} in ${from}..${to})`;
}

/** Offsets inside the body of a random event (after the 19-byte header, before the trailer). */
function randomEventBody(r: Rng, buf: Buffer, checksumLength: number): [number, number] | undefined {
  const fs = frames(buf).filter((f) => f.length > 19 + checksumLength);
  if (fs.length === 0) return undefined;
  // Prefer the interesting decoders: rows, table maps, queries, GTIDs, payloads.
  const interesting = fs.filter((f) =>
    [
      2, 4, 15, 19, 23, 24, 25, 30, 31, 32, 33, 35, 39, 40, 160, 161, 162, 163, 166, 167, 168, 169, 170, 171, 172,
    ].includes(buf[f.start + 4]),
  );
  const f = interesting.length > 0 && r.chance(0.8) ? r.pick(interesting) : r.pick(fs);
  return [f.start + 19, f.start + f.length - checksumLength];
}

export function makeInput(corpus: CorpusFile[], seed: number, index: number): FuzzInput {
  const r = new Rng(deriveSeed(seed, index));
  const f = r.pick(corpus);
  const ops: string[] = [`base ${f.name}`];
  let buf = window(r, f);
  let cs = f.checksumLength;
  const rounds = r.chance(0.6) ? 1 : r.int(2, 4);
  let fix = r.chance(0.5);
  for (let k = 0; k < rounds; k++) {
    const op = r.weighted({
      body: 6,
      flip: 3,
      truncate: 2,
      splice: 3,
      header: 2,
      dup: 1,
      drop: 1,
      insert: 1,
      none: 1,
    } as const);
    switch (op) {
      case 'body': {
        const range = randomEventBody(r, buf, cs);
        if (range) ops.push(`body-${flipBytes(r, buf, range[0], range[1])}`);
        break;
      }
      case 'flip':
        ops.push(flipBytes(r, buf, r.chance(0.8) ? 4 : 0));
        break;
      case 'truncate': {
        const at = r.int(0, buf.length);
        buf = buf.subarray(0, at);
        ops.push(`truncate(${at})`);
        break;
      }
      case 'splice': {
        // Events of another file after this one's: foreign table ids, checksum settings, formats.
        const g = r.pick(corpus);
        const other = window(r, g);
        const fde = g.events[0];
        const tail = other.subarray(fde.offset + fde.length);
        const keepFde = r.chance(0.3);
        buf = Buffer.concat([buf, keepFde ? other.subarray(4) : tail]);
        if (keepFde) cs = g.checksumLength;
        ops.push(`splice(${g.name}${keepFde ? ' with its FDE' : ''})`);
        break;
      }
      case 'header': {
        const fs = frames(buf);
        if (fs.length === 0) break;
        const fr = r.pick(fs);
        const field = r.pick(['length', 'type', 'flags', 'log_pos'] as const);
        if (field === 'length') {
          const v = r.pick([
            0,
            1,
            18,
            19,
            20,
            fr.length - 1,
            fr.length + 1,
            fr.length + r.int(2, 100),
            0xffffffff,
            r.int(0, 1 << 20),
          ]);
          buf.writeUInt32LE(v >>> 0, fr.start + 9);
        } else if (field === 'type') buf[fr.start + 4] = r.int(0, 255);
        else if (field === 'flags') buf.writeUInt16LE(r.int(0, 0xffff), fr.start + 17);
        else buf.writeUInt32LE(r.int(0, 0xffffffff) >>> 0, fr.start + 13);
        ops.push(`header.${field}@${fr.start}`);
        break;
      }
      case 'dup': {
        const fs = frames(buf);
        if (fs.length === 0) break;
        const fr = r.pick(fs);
        const ev = buf.subarray(fr.start, fr.start + fr.length);
        buf = Buffer.concat([buf.subarray(0, fr.start + fr.length), ev, buf.subarray(fr.start + fr.length)]);
        ops.push(`dup@${fr.start}`);
        break;
      }
      case 'drop': {
        const fs = frames(buf).slice(1);
        if (fs.length === 0) break;
        const fr = r.pick(fs);
        buf = Buffer.concat([buf.subarray(0, fr.start), buf.subarray(fr.start + fr.length)]);
        ops.push(`drop@${fr.start}`);
        break;
      }
      case 'insert': {
        const at = r.int(0, buf.length);
        const junk = r.bytes(r.int(1, 64));
        buf = Buffer.concat([buf.subarray(0, at), junk, buf.subarray(at)]);
        fix = fix && r.chance(0.5);
        ops.push(`insert(${junk.length}@${at})`);
        break;
      }
      case 'none':
        break;
    }
  }
  buf = Buffer.from(buf); // own the bytes (windows are views of the corpus)
  if (fix) {
    fixChecksums(buf, cs);
    ops.push('crc-fixed');
  }
  if (r.chance(0.02)) {
    buf = Buffer.concat([MAGIC, r.bytes(r.int(0, 512))]);
    ops.push('random');
  }
  const verifyChecksum = fix ? r.chance(0.8) : r.chance(0.4);
  const headerOnly = r.chance(0.1);
  const chunks: number[] = [];
  if (r.chance(0.5)) chunks.push(buf.length);
  else {
    let left = buf.length;
    while (left > 0) {
      const n = Math.min(left, r.chance(0.5) ? r.int(1, 32) : r.int(1, 8192));
      chunks.push(n);
      left -= n;
    }
  }
  if (!verifyChecksum) ops.push('no-verify');
  if (headerOnly) ops.push('header-only');
  if (chunks.length > 1) ops.push(`${chunks.length} chunks`);
  return { bytes: buf, chunks, verifyChecksum, headerOnly, ops };
}
