import {
  type BinlogEvent,
  BinlogParser,
  EventType,
  type RelayEventOrigin,
  RelayLogTracker,
} from '@mha-ts/native-free-parsers';
import type { FileAccess } from '../remote/file-access.js';

/** A position in a master's binlog: the file and the offset just after an event. */
export interface MasterPosition {
  file: string;
  pos: number;
}

export type RelayFindResult =
  | {
      status: 'found';
      /** Relay file (base name) and offset where the events after the target position begin. */
      relayFile: string;
      offset: number;
      method: 'fast' | 'scan';
      bytesRead: number;
    }
  | { status: 'has-all'; reason: string; bytesRead: number }
  | { status: 'not-found'; reason: string; bytesRead: number };

export interface RelayFindRequest {
  access: FileAccess;
  relayDir: string;
  /** Relay files, base names, oldest first (numeric order). */
  relayFiles: string[];
  /** The master position the lagging server has reached (its Master_Log_File / Read_Master_Log_Pos). */
  target: MasterPosition;
  /** The master position this replica has read up to, when known: enables the fast path. */
  latest?: MasterPosition;
}

/** Events that carry no transaction data: nothing to apply when only these follow. */
const NON_DATA = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.ROTATE,
  EventType.STOP,
  EventType.PREVIOUS_GTIDS,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.HEARTBEAT,
  EventType.HEARTBEAT_V2,
]);

interface Candidate {
  /** Offset just after the event that ends at the target position. */
  after: number;
  /** The master file, or null when it is inherited from the previous relay file. */
  masterFile: string | null;
}

interface FileScan {
  candidates: Candidate[];
  /** Master file in force at the end of the file (null if never announced in it). */
  finalMasterFile: string | null;
  /** Offset of the last data event (-1 when the file holds none): all "is there data after X" needs. */
  lastDataOffset: number;
  size: number;
}

const join = (dir: string, name: string) => (dir.endsWith('/') ? dir + name : `${dir}/${name}`);

/**
 * Where, in a replica's relay logs, the events after master position `target` begin.
 * This is how the data one replica has and another lacks is located (MHA's
 * apply_diff_relay_logs --command=find), done on our own parser instead of mysqlbinlog.
 */
export async function findRelayLogPosition(req: RelayFindRequest): Promise<RelayFindResult> {
  const { access, relayDir, relayFiles, target } = req;
  let bytesRead = 0;
  if (relayFiles.length === 0) return { status: 'not-found', reason: 'no relay log files', bytesRead };

  if (req.latest && req.latest.file === target.file) {
    if (req.latest.pos === target.pos) {
      return { status: 'has-all', reason: `target is at ${fmt(target)}, as far as this replica has read`, bytesRead };
    }
    if (req.latest.pos > target.pos) {
      const fast = await tryFastPath(req);
      bytesRead += fast.bytesRead;
      if (fast.offset !== null) {
        return { status: 'found', relayFile: relayFiles.at(-1)!, offset: fast.offset, method: 'fast', bytesRead };
      }
    }
  }

  // Newest to oldest: the target is usually recent.
  let pending: { index: number; candidate: Candidate } | null = null;
  const hasData: boolean[] = new Array(relayFiles.length).fill(false);
  const lastDataOffset = new Map<number, number>();
  for (let i = relayFiles.length - 1; i >= 0; i--) {
    const scan = await scanRelayFile(access, join(relayDir, relayFiles[i]), target);
    bytesRead += scan.size;
    hasData[i] = scan.lastDataOffset >= 0;
    lastDataOffset.set(i, scan.lastDataOffset);
    if (pending && scan.finalMasterFile !== null) {
      // The newer file's events before its first rotate continue this file's master file.
      if (scan.finalMasterFile === target.file) {
        const own = scan.candidates.find((c) => c.masterFile === target.file);
        if (!own) return found(pending.index, pending.candidate.after);
      } else {
        pending = null;
      }
    }
    const known = scan.candidates.find((c) => c.masterFile === target.file);
    if (known) return found(i, known.after);
    const unknown = scan.candidates.find((c) => c.masterFile === null);
    if (unknown && !pending) pending = { index: i, candidate: unknown };
  }
  if (pending) {
    return {
      status: 'not-found',
      reason: `${fmt(target)} may be in ${relayFiles[pending.index]}, but no relay log says which master file it belongs to`,
      bytesRead,
    };
  }
  return {
    status: 'not-found',
    reason: `no relay log holds master position ${fmt(target)} (relay logs ${relayFiles[0]}..${relayFiles.at(-1)}; purged or never received)`,
    bytesRead,
  };

  function found(index: number, after: number): RelayFindResult {
    const tailHasData = hasData.slice(index + 1).some(Boolean) || fileHasDataAfter(index, after);
    if (!tailHasData) {
      return { status: 'has-all', reason: `nothing after ${fmt(target)} in the relay logs`, bytesRead };
    }
    return { status: 'found', relayFile: relayFiles[index], offset: after, method: 'scan', bytesRead };
  }

  function fileHasDataAfter(index: number, after: number): boolean {
    return (lastDataOffset.get(index) ?? -1) >= after;
  }
}

async function scanRelayFile(access: FileAccess, path: string, target: MasterPosition): Promise<FileScan> {
  const tracker = new RelayLogTracker();
  const candidates: Candidate[] = [];
  let lastDataOffset = -1;
  let size = 0;
  await forEachHeader(
    access,
    path,
    (e, origin) => {
      size = e.offset + e.length;
      if (origin.writtenBy !== 'master') return;
      if (!NON_DATA.has(e.typeCode)) lastDataOffset = e.offset;
      if (origin.masterEndPos === target.pos) {
        candidates.push({ after: e.offset + e.length, masterFile: origin.masterFile });
      }
    },
    tracker,
  );
  return { candidates, finalMasterFile: tracker.masterFile, lastDataOffset, size };
}

async function forEachHeader(
  access: FileAccess,
  path: string,
  fn: (e: BinlogEvent, origin: RelayEventOrigin) => void,
  tracker: RelayLogTracker,
): Promise<void> {
  const parser = new BinlogParser({ file: path, headerOnly: true });
  const sink = (e: BinlogEvent) => fn(e, tracker.observe(e));
  for await (const chunk of access.stream(path)) parser.push(chunk as Buffer, sink);
  parser.end();
}

/**
 * Inside the last relay file, master events are byte-identical to the master's, so the
 * target sits `latest − target` bytes before the end — if nothing else was written in
 * between. Checked by reading only that tail: every event must continue the previous
 * one's master position exactly, up to `latest`.
 */
async function tryFastPath(req: RelayFindRequest): Promise<{ offset: number | null; bytesRead: number }> {
  const { access, relayDir, relayFiles, target } = req;
  const latest = req.latest!;
  const path = join(relayDir, relayFiles.at(-1)!);
  const size = await access.size(path);
  if (size === null) return { offset: null, bytesRead: 0 };
  const offset = size - (latest.pos - target.pos);
  if (offset < 4) return { offset: null, bytesRead: 0 };
  let bytesRead = 0;
  const parser = new BinlogParser({ file: path, headerOnly: true, startOffset: offset, formatDescription: FAKE_FD });
  let expectEnd = target.pos;
  let ok = true;
  let last = target.pos;
  try {
    for await (const chunk of access.stream(path, offset)) {
      bytesRead += (chunk as Buffer).length;
      parser.push(chunk as Buffer, (e) => {
        if (!ok) return;
        if (
          e.endLogPos !== expectEnd + e.length ||
          e.typeCode === EventType.ROTATE ||
          e.typeCode === EventType.FORMAT_DESCRIPTION
        ) {
          ok = false;
          return;
        }
        expectEnd = e.endLogPos;
        last = e.endLogPos;
      });
      if (!ok) break;
    }
    if (ok) parser.end();
  } catch {
    ok = false;
  }
  return { offset: ok && last === latest.pos ? offset : null, bytesRead };
}

/** Header-only framing needs no real format description: only sizes are read. */
const FAKE_FD = {
  binlogVersion: 4,
  serverVersion: '',
  versionSplit: [0, 0, 0] as [number, number, number],
  isMariaDB: false,
  createTimestamp: 0,
  commonHeaderLength: 19,
  postHeaderLengths: new Uint8Array(0),
  rawPostHeaderLengths: new Uint8Array(0),
  checksumAlgorithm: null,
  checksumLength: 0,
  typeMap: null,
};

function fmt(p: MasterPosition): string {
  return `${p.file}:${p.pos}`;
}
