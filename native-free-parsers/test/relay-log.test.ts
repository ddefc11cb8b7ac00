import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { EventFlag, EventType, parseBuffer, RelayLogTracker } from '../src/index.js';
import { FIXTURES } from './fixture-files.js';

const DIR = join(FIXTURES, 'mariadb-10.11');
const read = (p: string) => {
  try {
    return readFileSync(p);
  } catch {
    return gunzipSync(readFileSync(`${p}.gz`));
  }
};
const indexOf = (p: string) =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^.*\//, ''));

describe('relay logs recorded from a MariaDB 10.11 replica', () => {
  const masterFiles = indexOf(join(DIR, 'master/mariadb-bin.index'));
  // master file → end_log_pos → raw event bytes
  const master = new Map<string, Map<number, Buffer>>();
  for (const f of masterFiles) {
    const byEnd = new Map<number, Buffer>();
    for (const e of parseBuffer(read(join(DIR, 'master', f)), { file: f })) byEnd.set(e.endLogPos, e.raw);
    master.set(f, byEnd);
  }
  const relayFiles = indexOf(join(DIR, 'replica/relay-bin.index'));

  it('maps every relayed event to the byte-identical event at that master file and position', () => {
    const tracker = new RelayLogTracker();
    let matched = 0;
    let replicaWritten = 0;
    const seenTypes = new Set<string>();
    for (const rf of relayFiles) {
      tracker.startRelayFile();
      for (const e of parseBuffer(read(join(DIR, 'replica', rf)), { file: rf })) {
        const o = tracker.observe(e);
        if (o.writtenBy === 'replica') {
          expect(e.serverId, `${rf}@${e.offset}`).toBe(2);
          replicaWritten++;
          continue;
        }
        const fake = e.typeCode === EventType.ROTATE && (e.endLogPos === 0 || e.flags & EventFlag.ARTIFICIAL);
        if (fake || e.typeCode === EventType.FORMAT_DESCRIPTION) continue;
        const original = master.get(o.masterFile ?? '')?.get(o.masterEndPos ?? -1);
        expect(original, `${rf}@${e.offset} ${e.type} → ${o.masterFile}:${o.masterEndPos}`).toBeDefined();
        expect(original!.equals(e.raw), `${rf}@${e.offset} bytes`).toBe(true);
        seenTypes.add(e.type);
        matched++;
      }
    }
    expect(matched).toBeGreaterThan(200);
    expect(replicaWritten).toBeGreaterThanOrEqual(relayFiles.length);
    expect(seenTypes).toContain('WRITE_ROWS_V1');
    expect(seenTypes).toContain('ROTATE');
  });

  it('every master event reached the relay logs (the replica was caught up)', () => {
    const tracker = new RelayLogTracker();
    const relayed = new Set<string>();
    for (const rf of relayFiles) {
      tracker.startRelayFile();
      for (const e of parseBuffer(read(join(DIR, 'replica', rf)))) {
        const o = tracker.observe(e);
        if (o.writtenBy === 'master') relayed.add(`${o.masterFile}:${o.masterEndPos}`);
      }
    }
    for (const [f, byEnd] of master) {
      for (const [end, raw] of byEnd) {
        // The master's own header events are not sent as such (the replica writes its own).
        if (
          [EventType.FORMAT_DESCRIPTION, EventType.MARIADB_GTID_LIST, EventType.MARIADB_BINLOG_CHECKPOINT].includes(
            raw[4] as 15,
          )
        )
          continue;
        expect(relayed.has(`${f}:${end}`), `${f}:${end} type ${raw[4]}`).toBe(true);
      }
    }
  });
});
