/**
 * The fuzzer's seeds: every committed binlog / relay-log fixture, with its events'
 * boundaries (so mutations can target one event, splice events of different files, and
 * recompute CRC32 trailers so damage reaches the decoders instead of stopping at the
 * checksum).
 */
import { parseBuffer } from '@mha-ts/native-free-parsers';
import { allLogFixtures } from '../native-free-parsers/test/fixture-files.js';

export interface CorpusEvent {
  offset: number;
  length: number;
  type: number;
}

export interface CorpusFile {
  name: string;
  bytes: Buffer;
  /** Top-level events (payload-inner ones excluded); the first is the format description. */
  events: CorpusEvent[];
  /** Bytes of CRC trailer per event (0 or 4), from the format description. */
  checksumLength: number;
}

export function loadCorpus(): CorpusFile[] {
  const out: CorpusFile[] = [];
  for (const f of allLogFixtures()) {
    const bytes = f.bytes();
    let events: CorpusEvent[];
    let checksumLength = 0;
    try {
      const parsed = parseBuffer(bytes, { file: f.name, verifyChecksum: false, headerOnly: true });
      events = parsed
        .filter((e) => !e.inPayload)
        .map((e) => ({ offset: e.offset, length: e.length, type: e.typeCode }));
      checksumLength = parsed[0]?.fd.checksumLength ?? 0;
    } catch {
      continue; // the deliberately broken fixtures (the mutations make plenty of those)
    }
    if (events.length === 0) continue;
    out.push({ name: f.name, bytes, events, checksumLength });
  }
  return out;
}
