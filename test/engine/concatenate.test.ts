import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BinlogEvent,
  EventType,
  MariadbGtidList,
  parseBuffer,
  TransactionTracker,
} from '../../native-free-parsers/src/index.js';
import { concatenatePieces } from '../../src/engine/concatenate.js';
import { parseIndexFile } from '../../src/engine/log-files.js';
import { binlogTail, relayTail } from '../../src/engine/log-sources.js';
import { findRelayLogPosition } from '../../src/engine/relay-position-finder.js';
import { LocalFileAccess } from '../../src/remote/file-access.js';
import { materializeFixtureDir } from '../fixture-dirs.js';
import { listWithMariadbBinlog, runMariadbBinlog } from '../mariadb-binlog-listing.js';

const master = materializeFixtureDir('mariadb-10.11/master');
const relay = materializeFixtureDir('mariadb-10.11/replica');
afterAll(() => {
  master.cleanup();
  relay.cleanup();
});
const access = new LocalFileAccess();
const masterFiles = parseIndexFile(readFileSync(join(master.dir, 'mariadb-bin.index'), 'utf8'));
const relayFiles = parseIndexFile(readFileSync(join(relay.dir, 'relay-bin.index'), 'utf8'));
const ROWS = new Set<number>([EventType.WRITE_ROWS_V1, EventType.UPDATE_ROWS_V1, EventType.DELETE_ROWS_V1]);
const HEADER = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.ROTATE,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.STOP,
]);

interface Ev {
  file: string;
  e: BinlogEvent;
}
const masterEvents: Ev[] = masterFiles.flatMap((f) =>
  parseBuffer(readFileSync(join(master.dir, f)), { file: f }).map((e) => ({ file: f, e })),
);
const dataAfter = (i: number) => masterEvents.slice(i + 1).filter((x) => !HEADER.has(x.e.typeCode));
/** Event bodies without the header's log_pos and the CRC (both are rewritten in a new file). */
const bodyKey = (e: BinlogEvent) =>
  Buffer.concat([e.raw.subarray(0, 13), e.raw.subarray(17, e.raw.length - e.checksumLength)]).toString('base64');

async function toFile(pieces: Parameters<typeof concatenatePieces>[0], executed?: MariadbGtidList) {
  const chunks: Buffer[] = [];
  const report = await concatenatePieces(pieces, (c) => void chunks.push(c), { executed: { mariadb: executed } });
  const bytes = Buffer.concat(chunks);
  return { report, bytes };
}

describe('transaction boundaries', () => {
  it('every MariaDB transaction opens at its GTID and closes', () => {
    const t = new TransactionTracker();
    let begins = 0;
    let ends = 0;
    for (const { e } of masterEvents) {
      const role = t.observe(e);
      if (e.typeCode === EventType.MARIADB_GTID) expect(role).toBe('begin');
      if (role === 'begin') begins++;
      if (role === 'end') ends++;
    }
    expect(begins).toBe(masterEvents.filter((x) => x.e.typeCode === EventType.MARIADB_GTID).length);
    expect(ends).toBe(begins);
    expect(t.inTransaction).toBe(false);
  });
});

describe('saving a dead master binlog tail (MHA save_binary_logs)', () => {
  it('from any transaction boundary, across rotations: one valid binlog holding exactly the later events', async () => {
    const starts = masterEvents
      .map((x, i) => ({ ...x, i }))
      .filter((x) => x.e.typeCode === EventType.MARIADB_GTID && x.i > 0)
      .filter((_, k) => k % 7 === 0);
    expect(starts.length).toBeGreaterThan(5);
    for (const s of starts) {
      const prev = masterEvents[s.i - 1];
      const startPos = prev.file === s.file ? s.e.offset : 4;
      const files = masterFiles.slice(masterFiles.indexOf(s.file));
      const { report, bytes } = await toFile([
        { kind: 'master-tail', events: binlogTail({ access, dir: master.dir, files, startPos }) },
      ]);
      const out = parseBuffer(bytes, { file: 'saved' });
      expect(out.filter((e) => e.typeCode === EventType.FORMAT_DESCRIPTION)).toHaveLength(1);
      expect(out.slice(1).map(bodyKey)).toEqual(dataAfter(s.i - 1).map((x) => bodyKey(x.e)));
      for (const e of out) expect(e.endLogPos).toBe(e.offset + e.length);
      expect(report.completeBytes).toBe(bytes.length);
      expect(report.incompleteTail).toBeNull();
    }
  });

  it('mariadb-binlog accepts the saved file and lists the same events', async () => {
    const { bytes } = await toFile([
      { kind: 'master-tail', events: binlogTail({ access, dir: master.dir, files: masterFiles, startPos: 4 }) },
    ]);
    const path = join(master.dir, 'saved.binlog');
    writeFileSync(path, bytes);
    runMariadbBinlog(['--verify-binlog-checksum', path]);
    const theirs = listWithMariadbBinlog(path);
    const ours = parseBuffer(bytes);
    expect(theirs.map((x) => x.offset)).toEqual(ours.map((e) => e.offset));
  });

  it('a tail that ends mid-transaction is reported and lies beyond completeBytes', async () => {
    const last = masterFiles.at(-1)!;
    const buf = readFileSync(join(master.dir, last));
    const events = parseBuffer(buf);
    const xid = events.filter((e) => e.typeCode === EventType.XID).at(-1)!;
    // Cut the file just before that commit, as a crash would.
    const cut = join(master.dir, 'cut');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(cut, { recursive: true });
    writeFileSync(join(cut, last), buf.subarray(0, xid.offset + 5));
    const { report, bytes } = await toFile([
      { kind: 'master-tail', events: binlogTail({ access, dir: cut, files: [last], startPos: 4 }) },
    ]);
    expect(report.incompleteTail).not.toBeNull();
    expect(report.incompleteTail?.gtid).toMatch(/^0-1-\d+$/);
    expect(report.completeBytes).toBeLessThan(bytes.length);
    const complete = parseBuffer(bytes.subarray(0, report.completeBytes));
    expect(complete.at(-1)?.typeCode).not.toBe(EventType.MARIADB_GTID);
  });
});

describe('relay-log diff and concatenation', () => {
  it('read→latest from relay logs equals the master events after the target', async () => {
    const idx = masterEvents.findIndex((x, i) => i > 40 && x.e.typeCode === EventType.XID);
    const target = { file: masterEvents[idx].file, pos: masterEvents[idx].e.endLogPos };
    const found = await findRelayLogPosition({ access, relayDir: relay.dir, relayFiles, target });
    expect(found.status).toBe('found');
    if (found.status !== 'found') return;
    const files = relayFiles.slice(relayFiles.indexOf(found.relayFile));
    const { bytes, report } = await toFile([
      { kind: 'read-to-latest', events: relayTail({ access, dir: relay.dir, files, offset: found.offset }) },
    ]);
    const out = parseBuffer(bytes);
    expect(out.slice(1).map(bodyKey)).toEqual(dataAfter(idx).map((x) => bodyKey(x.e)));
    expect(report.incompleteTail).toBeNull();
  });

  it('a transaction split between two pieces is joined whole', async () => {
    const file = masterFiles[1];
    const events = parseBuffer(readFileSync(join(master.dir, file)), { file });
    const fde = events[0];
    const cut = events.findIndex((e, i) => i > 10 && ROWS.has(e.typeCode));
    async function* piece(list: BinlogEvent[]) {
      yield* list;
    }
    const whole = await toFile([{ kind: 'binlog', events: piece(events) }]);
    const split = await toFile([
      { kind: 'exec-to-read', events: piece(events.slice(0, cut)) },
      { kind: 'read-to-latest', events: piece([fde, ...events.slice(cut)]) },
    ]);
    expect(split.bytes.equals(whole.bytes)).toBe(true);
    expect(split.report.transactions).toBe(whole.report.transactions);
    expect(split.report.incompleteTail).toBeNull();
  });

  it('GTIDs the target executed, or an earlier piece holds, are skipped: applying twice changes nothing', async () => {
    const idx = masterEvents.findIndex((x, i) => i > 60 && x.e.typeCode === EventType.XID);
    const target = { file: masterEvents[idx].file, pos: masterEvents[idx].e.endLogPos };
    const found = await findRelayLogPosition({ access, relayDir: relay.dir, relayFiles, target });
    if (found.status !== 'found') throw new Error(found.status);
    const files = relayFiles.slice(relayFiles.indexOf(found.relayFile));
    const relayPiece = () => relayTail({ access, dir: relay.dir, files, offset: found.offset });
    const masterPiece = () =>
      binlogTail({
        access,
        dir: master.dir,
        files: masterFiles.slice(masterFiles.indexOf(target.file)),
        startPos: target.pos,
      });
    const once = await toFile([{ kind: 'read-to-latest', events: relayPiece() }]);
    const twice = await toFile([
      { kind: 'read-to-latest', events: relayPiece() },
      { kind: 'master-tail', events: masterPiece() },
    ]);
    expect(twice.bytes.equals(once.bytes)).toBe(true);
    expect(twice.report.skipped.length).toBe(once.report.transactions);
    // A target that already executed everything gets an empty diff.
    let executed = MariadbGtidList.EMPTY;
    for (const e of parseBuffer(once.bytes)) {
      if (e.typeCode === EventType.MARIADB_GTID) {
        const d = e.data as { domain: number; serverId: number; seq: bigint };
        executed = executed.union(MariadbGtidList.from([{ domain: d.domain, server: d.serverId, seq: d.seq }]));
      }
    }
    const none = await toFile([{ kind: 'master-tail', events: masterPiece() }], executed);
    expect(none.report.transactions).toBe(0);
    expect(parseBuffer(none.bytes)).toHaveLength(1);
  });
});
