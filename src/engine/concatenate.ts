import {
  type BinlogEvent,
  BinlogFileWriter,
  EventType,
  MariadbGtidList,
  MysqlGtidSet,
  TransactionTracker,
} from '@mha-ts/native-free-parsers';

/** One piece of what a server lacks, in application order. */
export interface DiffPiece {
  /** 'exec-to-read': the target's own received-but-unapplied relay tail; 'read-to-latest': from the latest replica's relay logs; 'master-tail': saved from the dead master's binlog. */
  kind: 'exec-to-read' | 'read-to-latest' | 'master-tail' | 'binlog';
  /** Events starting with a FORMAT_DESCRIPTION (see binlogTail / relayTail). */
  events: AsyncIterable<BinlogEvent>;
}

export interface ExecutedGtids {
  mariadb?: MariadbGtidList;
  mysql?: MysqlGtidSet;
}

export interface ConcatReport {
  /** Bytes of the binlog written, including a trailing incomplete transaction (see completeBytes). */
  bytes: number;
  /** Where the last complete transaction (or non-transactional event) ends: apply up to here. */
  completeBytes: number;
  transactions: number;
  /** GTIDs of transactions left out because the target already executed them. */
  skipped: string[];
  /** The stream ended inside a transaction (never committed on the master): its GTID or first offset. */
  incompleteTail: { piece: DiffPiece['kind']; file: string | undefined; offset: number; gtid?: string } | null;
  pieces: { kind: DiffPiece['kind']; events: number }[];
  /** GTIDs of the complete transactions written (what the target will have executed after applying them). */
  written: ExecutedGtids;
}

export type ByteSink = (chunk: Buffer) => void | Promise<void>;

const FLUSH_BYTES = 4 << 20;

function gtidOf(e: BinlogEvent | undefined):
  | {
      text: string;
      mariadb?: { domain: number; server: number; seq: bigint };
      mysql?: { sid: string; gno: bigint; tag: string };
    }
  | undefined {
  if (!e) return undefined;
  if (e.typeCode === EventType.MARIADB_GTID) {
    const d = e.data as { gtid: string; domain: number; serverId: number; seq: bigint };
    return { text: d.gtid, mariadb: { domain: d.domain, server: d.serverId, seq: d.seq } };
  }
  if (e.typeCode === EventType.GTID || e.typeCode === EventType.GTID_TAGGED) {
    const d = e.data as { gtid: string; sid: string; gno: bigint; tag?: string };
    return { text: d.gtid, mysql: { sid: d.sid, gno: d.gno, tag: d.tag ?? '' } };
  }
  return undefined;
}

function alreadyExecuted(g: ReturnType<typeof gtidOf>, executed: ExecutedGtids): boolean {
  if (!g) return false;
  if (g.mariadb && executed.mariadb) return executed.mariadb.contains(g.mariadb);
  if (g.mysql && executed.mysql) return executed.mysql.containsGtid(g.mysql.sid, g.mysql.gno, g.mysql.tag || undefined);
  return false;
}

/** Remember a GTID as executed, so a later piece that repeats it is skipped too. */
function markExecuted(g: ReturnType<typeof gtidOf>, executed: ExecutedGtids): void {
  if (g?.mariadb)
    executed.mariadb = (executed.mariadb ?? MariadbGtidList.EMPTY).union(MariadbGtidList.from([g.mariadb]));
  if (g?.mysql)
    executed.mysql = (executed.mysql ?? MysqlGtidSet.EMPTY).add(g.mysql.sid, g.mysql.gno, g.mysql.tag || undefined);
}

/**
 * Join diff pieces into one binlog with a single format description, so that no piece
 * boundary can split or roll back a transaction (MHA's reason for raw concatenation).
 * Transactions the target already executed (by GTID), or that an earlier piece already
 * holds, are left out, so applying twice is harmless; a transaction still open when the input ends is reported (and lies beyond
 * `completeBytes`), never silently applied.
 */
export async function concatenatePieces(
  pieces: DiffPiece[],
  sink: ByteSink,
  opts: { executed?: ExecutedGtids } = {},
): Promise<ConcatReport> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const writer = new BinlogFileWriter((b) => {
    pending.push(b);
    pendingBytes += b.length;
  });
  const flush = async () => {
    if (pending.length === 0) return;
    const out = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await sink(out);
  };
  const tracker = new TransactionTracker();
  const report: ConcatReport = {
    bytes: 0,
    completeBytes: 0,
    transactions: 0,
    skipped: [],
    incompleteTail: null,
    pieces: [],
    written: {},
  };
  let currentGtid: ReturnType<typeof gtidOf>;
  const executed: ExecutedGtids = { ...opts.executed };
  let skipping = false;
  let openedAt: { piece: DiffPiece['kind']; file: string | undefined; offset: number; gtid?: string } | null = null;

  for (const piece of pieces) {
    const stat = { kind: piece.kind, events: 0 };
    report.pieces.push(stat);
    for await (const e of piece.events) {
      if (e.typeCode === EventType.FORMAT_DESCRIPTION && !e.inPayload) {
        if (writer.position === 0) {
          writer.begin(e.raw);
          report.completeBytes = writer.position;
        }
        continue;
      }
      if (writer.position === 0) throw new Error(`diff piece ${piece.kind} does not start with a format description`);
      const role = tracker.observe(e);
      if (role === 'begin' || role === 'single') {
        const g = gtidOf(tracker.gtidEvent && role === 'begin' ? e : undefined);
        skipping = alreadyExecuted(g, executed);
        if (skipping && g) report.skipped.push(g.text);
        else markExecuted(g, executed);
        openedAt = { piece: piece.kind, file: e.file, offset: e.offset, gtid: g?.text };
        currentGtid = g;
      }
      if (!skipping && !e.inPayload) {
        writer.append(e.raw, e.checksumLength);
        stat.events++;
      }
      if (role === 'end' || role === 'single') {
        if (!skipping) {
          report.transactions++;
          markExecuted(currentGtid, report.written);
        }
        currentGtid = undefined;
        skipping = false;
        openedAt = null;
        report.completeBytes = writer.position;
      } else if (role === 'outside' && !tracker.inTransaction) {
        report.completeBytes = writer.position;
      }
      if (pendingBytes >= FLUSH_BYTES) await flush();
    }
  }
  await flush();
  report.bytes = writer.position;
  if (tracker.inTransaction && openedAt) report.incompleteTail = openedAt;
  return report;
}
