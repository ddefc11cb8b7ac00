/**
 * Builds the benchmark inputs from recorded binlogs:
 *
 * - `synthesizeBinlog`: a large binlog made by replaying the transactions of recorded
 *   files, in order, over and over, through `BinlogFileWriter` (header log_pos and CRC32
 *   recomputed for the new file, MariaDB GTID sequence numbers renumbered so they keep
 *   increasing). The result is a valid binlog that `mariadb-binlog
 *   --verify-binlog-checksum` reads to the end.
 * - `buildRelaySet`: a replica's relay logs for a master that wrote the synthesized file
 *   several times as consecutive binlog files: the replica's format description and
 *   rotates, the master's fake rotate, real rotates and format descriptions, and the
 *   master's events byte for byte (their end_log_pos are master positions), rotated at
 *   `maxRelayBytes` like max_relay_log_size does (also in the middle of a transaction).
 */
import {
  closeSync,
  createReadStream,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  BinlogFileWriter,
  BinlogParser,
  buildEvent,
  CHECKSUM_LENGTH,
  decodeFormatDescription,
  EventFlag,
  EventType,
  HEADER_LENGTH,
  parseBuffer,
  rewriteEvent,
} from '@mha-ts/native-free-parsers';

/** Events a file starts with and that a replay must not repeat. */
const FILE_HEADER = new Set<number>([
  EventType.FORMAT_DESCRIPTION,
  EventType.ROTATE,
  EventType.STOP,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.PREVIOUS_GTIDS,
]);

/** A buffered append-only file writer (the writer hands us one small buffer per event). */
class FileSink {
  private readonly fd: number;
  private pieces: Buffer[] = [];
  private pending = 0;
  written = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write = (b: Buffer): void => {
    this.pieces.push(b);
    this.pending += b.length;
    this.written += b.length;
    if (this.pending >= 8 << 20) this.flush();
  };
  flush(): void {
    if (this.pending === 0) return;
    writeSync(this.fd, Buffer.concat(this.pieces, this.pending));
    this.pieces = [];
    this.pending = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export function readMaybeGzipped(path: string): Buffer {
  const buf = readFileSync(path);
  return path.endsWith('.gz') ? gunzipSync(buf) : buf;
}

export interface SynthesisResult {
  path: string;
  bytes: number;
  events: number;
  transactions: number;
  /** How many times the recorded transactions were replayed. */
  passes: number;
  sourceBytes: number;
  sourceTransactions: number;
}

/**
 * Replays the transactions of `sources` (binlog files, .gz allowed; same server, same
 * checksum setting) into `outPath` until it holds at least `targetBytes`.
 */
export function synthesizeBinlog(sources: string[], outPath: string, targetBytes: number): SynthesisResult {
  let fde: Buffer | undefined;
  let sourceChecksum = 0;
  const header: Buffer[] = [];
  /** Each transaction: the raw events from its GTID up to the next GTID. */
  const units: Buffer[][] = [];
  let sourceBytes = 0;
  for (const src of sources) {
    const buf = readMaybeGzipped(src);
    sourceBytes += buf.length;
    let current: Buffer[] | null = null;
    for (const e of parseBuffer(buf, { file: src, headerOnly: true })) {
      const t = e.typeCode;
      if (t === EventType.FORMAT_DESCRIPTION) {
        if (!fde) {
          fde = Buffer.from(e.raw);
          sourceChecksum = e.fd.checksumLength;
        }
        continue;
      }
      if (FILE_HEADER.has(t)) {
        if (units.length === 0 && current === null && t !== EventType.ROTATE && t !== EventType.STOP) {
          header.push(Buffer.from(e.raw));
        }
        current = null;
        continue;
      }
      if (t === EventType.MARIADB_GTID || t === EventType.GTID || t === EventType.ANONYMOUS_GTID || current === null) {
        current = [];
        units.push(current);
      }
      current.push(Buffer.from(e.raw));
    }
  }
  if (!fde || units.length === 0) throw new Error(`no transactions in ${sources.join(', ')}`);

  const sink = new FileSink(outPath);
  const writer = new BinlogFileWriter(sink.write);
  let events = 0;
  let transactions = 0;
  let passes = 0;
  let seq = 0n;
  try {
    writer.begin(fde);
    events++;
    for (const h of header) {
      writer.append(h, sourceChecksum);
      events++;
    }
    while (writer.position < targetBytes) {
      passes++;
      for (const unit of units) {
        for (const raw of unit) {
          if (raw[4] === EventType.MARIADB_GTID) {
            // MariaDB GTID body starts with seq_no (u64): keep the GTIDs of the replay increasing.
            const copy = Buffer.from(raw);
            copy.writeBigUInt64LE(++seq, HEADER_LENGTH);
            writer.append(copy, sourceChecksum);
          } else {
            writer.append(raw, sourceChecksum);
          }
          events++;
        }
        transactions++;
        if (writer.position >= targetBytes) break;
      }
    }
  } finally {
    sink.close();
  }
  return {
    path: outPath,
    bytes: statSync(outPath).size,
    events,
    transactions,
    passes,
    sourceBytes,
    sourceTransactions: units.length,
  };
}

export interface RelaySetResult {
  dir: string;
  files: string[];
  /** Per relay file: whether it names a master binlog (fake or real master rotate). */
  namesMasterFile: boolean[];
  totalBytes: number;
  /** Master binlog names relayed, in order, each with its size (its final master position). */
  masterFiles: { name: string; size: number }[];
  /** Master positions just after an XID event (a committed transaction), same in every master file, ascending. */
  commitPositions: number[];
  serverIds: { master: number; replica: number };
}

export interface RelaySetOptions {
  /** Binlog whose content the master writes as each of its files (a synthesized file). */
  masterBinlog: string;
  outDir: string;
  /** How many consecutive master binlog files (each a copy of masterBinlog). */
  masterFileCount: number;
  /** max_relay_log_size: a relay file is rotated after the first event that reaches it. */
  maxRelayBytes: number;
  replicaServerId?: number;
  masterBaseName?: string;
  relayBaseName?: string;
}

const u64Name = (pos: number, name: string): Buffer => {
  const b = Buffer.alloc(8 + Buffer.byteLength(name));
  b.writeBigUInt64LE(BigInt(pos), 0);
  b.write(name, 8, 'latin1');
  return b;
};

const seqName = (base: string, n: number): string => `${base}.${String(n).padStart(6, '0')}`;

/**
 * Writes the relay logs a replica would hold after reading `masterFileCount` master
 * binlogs of `masterBinlog`'s content from position 4 of the first one.
 */
export async function buildRelaySet(opts: RelaySetOptions): Promise<RelaySetResult> {
  const masterBase = opts.masterBaseName ?? 'mariadb-bin';
  const relayBase = opts.relayBaseName ?? 'relay-bin';
  const replicaId = opts.replicaServerId ?? 2;
  const masterSize = statSync(opts.masterBinlog).size;

  // The master's FDE (its own bytes; relayed verbatim) and its server id.
  const head = Buffer.alloc(4096);
  const fd0 = openSync(opts.masterBinlog, 'r');
  const n = readSync(fd0, head, 0, head.length, 0);
  closeSync(fd0);
  const fdeLen = head.readUInt32LE(4 + 9);
  if (n < 4 + fdeLen || head[4 + 4] !== EventType.FORMAT_DESCRIPTION) {
    throw new Error(`${opts.masterBinlog}: no format description`);
  }
  const masterFde = Buffer.from(head.subarray(4, 4 + fdeLen));
  const fdInfo = decodeFormatDescription(masterFde);
  const checksum = fdInfo.checksumLength === CHECKSUM_LENGTH;
  const masterId = masterFde.readUInt32LE(5);
  const ts = masterFde.readUInt32LE(0);

  // The replica's own FDE: same server version, its server id, LOG_EVENT_RELAY_LOG_F.
  const replicaFde = (() => {
    const b = Buffer.from(masterFde);
    b.writeUInt32LE(replicaId, 5);
    b.writeUInt16LE((b.readUInt16LE(17) & ~EventFlag.BINLOG_IN_USE) | EventFlag.RELAY_LOG, 17);
    return rewriteEvent(b, { logPos: 4 + b.length }, checksum);
  })();
  // The master's FDE as repeated at the top of a continued relay file: end_log_pos 0.
  const continuedMasterFde = rewriteEvent(masterFde, { logPos: 0 }, checksum);

  const files: string[] = [];
  const namesMasterFile: boolean[] = [];
  let relayNo = 0;
  let out: FileSink | null = null;
  let pos = 0;
  const put = (b: Buffer) => {
    out!.write(b);
    pos += b.length;
  };
  const openRelay = (continued: boolean) => {
    relayNo++;
    const name = seqName(relayBase, relayNo);
    files.push(name);
    namesMasterFile.push(false);
    out = new FileSink(join(opts.outDir, name));
    pos = 0;
    put(Buffer.from([0xfe, 0x62, 0x69, 0x6e]));
    put(replicaFde);
    if (continued) put(continuedMasterFde);
  };
  const rotateRelay = () => {
    const next = seqName(relayBase, relayNo + 1);
    const body = u64Name(4, next);
    const len = HEADER_LENGTH + body.length + (checksum ? CHECKSUM_LENGTH : 0);
    put(buildEvent(EventType.ROTATE, body, { timestamp: ts, serverId: replicaId, logPos: pos + len, checksum }));
    out!.close();
    openRelay(true);
  };

  const commitPositions: number[] = [];
  const masterFiles: { name: string; size: number }[] = [];
  openRelay(false);
  for (let m = 1; m <= opts.masterFileCount; m++) {
    const masterName = seqName(masterBase, m);
    if (m === 1) {
      // The fake rotate the master sends when the dump starts: ARTIFICIAL, log_pos 0, timestamp 0.
      put(
        buildEvent(EventType.ROTATE, u64Name(4, masterName), {
          timestamp: 0,
          serverId: masterId,
          logPos: 0,
          flags: EventFlag.ARTIFICIAL,
          checksum,
        }),
      );
      namesMasterFile[namesMasterFile.length - 1] = true;
    }
    const parser = new BinlogParser({ file: opts.masterBinlog, headerOnly: true });
    const sink = (e: { raw: Buffer; typeCode: number; endLogPos: number }) => {
      put(e.raw);
      if (m === 1 && e.typeCode === EventType.XID) {
        commitPositions.push(e.endLogPos);
      }
      if (pos >= opts.maxRelayBytes) rotateRelay();
    };
    const stream = createReadStream(opts.masterBinlog, { highWaterMark: 1 << 20 });
    for await (const chunk of stream) parser.push(chunk as Buffer, sink);
    parser.end();
    masterFiles.push({ name: masterName, size: masterSize });
    if (m < opts.masterFileCount) {
      // The master's rotate at the end of its file, relayed like any master event.
      const body = u64Name(4, seqName(masterBase, m + 1));
      const len = HEADER_LENGTH + body.length + (checksum ? CHECKSUM_LENGTH : 0);
      put(
        buildEvent(EventType.ROTATE, body, { timestamp: ts, serverId: masterId, logPos: masterSize + len, checksum }),
      );
      namesMasterFile[namesMasterFile.length - 1] = true;
      if (pos >= opts.maxRelayBytes) rotateRelay();
    }
  }
  (out as FileSink | null)?.close();
  writeFileSync(join(opts.outDir, `${relayBase}.index`), `${files.map((f) => `./${f}`).join('\n')}\n`);
  let totalBytes = 0;
  for (const f of files) totalBytes += statSync(join(opts.outDir, f)).size;
  return {
    dir: opts.outDir,
    files,
    namesMasterFile,
    totalBytes,
    masterFiles,
    commitPositions,
    serverIds: { master: masterId, replica: replicaId },
  };
}
