import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventType, parseBuffer, RelayLogTracker } from '../../native-free-parsers/src/index.js';
import { logFilesOf, parseIndexFile } from '../../src/engine/log-files.js';
import { findRelayLogPosition } from '../../src/engine/relay-position-finder.js';
import { LocalFileAccess } from '../../src/remote/file-access.js';
import { materializeFixtureDir } from '../fixture-dirs.js';

const master = materializeFixtureDir('mariadb-10.11/master');
const relay = materializeFixtureDir('mariadb-10.11/replica');
afterAll(() => {
  master.cleanup();
  relay.cleanup();
});

const access = new LocalFileAccess();
const masterFiles = parseIndexFile(readFileSync(join(master.dir, 'mariadb-bin.index'), 'utf8'));
const relayFiles = parseIndexFile(readFileSync(join(relay.dir, 'relay-bin.index'), 'utf8'));
const HEADER_TYPES = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.ROTATE,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.STOP,
]);

/** Master data events in order: "file:end" keys. */
const masterOrder: string[] = [];
for (const f of masterFiles) {
  for (const e of parseBuffer(readFileSync(join(master.dir, f)))) {
    if (!HEADER_TYPES.has(e.typeCode)) masterOrder.push(`${f}:${e.endLogPos}`);
  }
}
const last = masterOrder.at(-1)!.split(':');
const latest = { file: last[0], pos: Number(last[1]) };

/** Every relay event once, in order, with the master event it stands for. */
const relayEvents: { file: string; offset: number; key: string | null }[] = [];
{
  const tracker = new RelayLogTracker();
  for (const rf of relayFiles) {
    tracker.startRelayFile();
    for (const e of parseBuffer(readFileSync(join(relay.dir, rf)))) {
      const o = tracker.observe(e);
      const data = o.writtenBy === 'master' && !HEADER_TYPES.has(e.typeCode);
      relayEvents.push({ file: rf, offset: e.offset, key: data ? `${o.masterFile}:${o.masterEndPos}` : null });
    }
  }
}

/** The master data events found in the relay logs from (file, offset) on. */
function relayDataFrom(file: string, offset: number): string[] {
  const fileIndex = relayFiles.indexOf(file);
  const start = relayEvents.findIndex((e) => {
    const fi = relayFiles.indexOf(e.file);
    return fi > fileIndex || (fi === fileIndex && e.offset >= offset);
  });
  return relayEvents.slice(start < 0 ? relayEvents.length : start).flatMap((e) => (e.key ? [e.key] : []));
}

describe('relay-log position lookup on recorded MariaDB relay logs', () => {
  it('the index lists files in numeric order', () => {
    expect(logFilesOf(relayFiles.slice().reverse(), 'relay-bin')).toEqual(relayFiles);
  });

  it('for every master position, what follows it in the relay logs is exactly what follows it on the master', async () => {
    let scans = 0;
    for (let i = 0; i < masterOrder.length - 1; i++) {
      const [file, pos] = masterOrder[i].split(':');
      const target = { file, pos: Number(pos) };
      const r = await findRelayLogPosition({ access, relayDir: relay.dir, relayFiles, target });
      expect(r.status, masterOrder[i]).toBe('found');
      if (r.status !== 'found') continue;
      scans++;
      expect(relayDataFrom(r.relayFile, r.offset), masterOrder[i]).toEqual(masterOrder.slice(i + 1));
    }
    expect(scans).toBeGreaterThan(100);
  });

  it('the last position: the target already has everything', async () => {
    const r = await findRelayLogPosition({ access, relayDir: relay.dir, relayFiles, target: latest });
    expect(r.status).toBe('has-all');
    const fast = await findRelayLogPosition({ access, relayDir: relay.dir, relayFiles, target: latest, latest });
    expect(fast.status).toBe('has-all');
    expect(fast.bytesRead).toBe(0);
  });

  it('fast path: a target inside the last relay file is found reading only the tail', async () => {
    const inLast = masterOrder.filter((k) => k.startsWith(`${latest.file}:`));
    const [file, pos] = inLast[inLast.length - 3].split(':');
    const r = await findRelayLogPosition({
      access,
      relayDir: relay.dir,
      relayFiles,
      target: { file, pos: Number(pos) },
      latest,
    });
    expect(r).toMatchObject({ status: 'found', method: 'fast', relayFile: relayFiles.at(-1) });
    if (r.status === 'found') {
      expect(relayDataFrom(r.relayFile, r.offset)).toEqual(inLast.slice(-2));
      expect(r.bytesRead).toBeLessThan(1000);
    }
  });

  it('a position no relay log holds is "not found", distinct from "has everything"', async () => {
    for (const target of [
      { file: 'mariadb-bin.000001', pos: 5 },
      { file: 'mariadb-bin.000009', pos: 400 },
    ]) {
      const r = await findRelayLogPosition({ access, relayDir: relay.dir, relayFiles, target });
      expect(r.status).toBe('not-found');
    }
    const purged = await findRelayLogPosition({
      access,
      relayDir: relay.dir,
      relayFiles: relayFiles.slice(5),
      target: { file: masterOrder[0].split(':')[0], pos: Number(masterOrder[0].split(':')[1]) },
    });
    expect(purged.status).toBe('not-found');
  });
});
