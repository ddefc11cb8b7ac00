import { Cursor, EventDecodeError } from './cursor.js';
import { CHECKSUM_LENGTH, EventType, HEADER_LENGTH } from './event-types.js';

export const ChecksumAlgorithm = { OFF: 0, CRC32: 1, UNDEF: 255 } as const;

/** Parsed FORMAT_DESCRIPTION_EVENT: how to read every event until the next one. */
export interface FormatDescription {
  binlogVersion: number;
  serverVersion: string;
  /** [major, minor, patch] from the leading digits of serverVersion. */
  versionSplit: [number, number, number];
  isMariaDB: boolean;
  createTimestamp: number;
  commonHeaderLength: number;
  /** post_header_len[type - 1], indexed by GA type code (see typeMap). */
  postHeaderLengths: Uint8Array;
  /** The table exactly as the server wrote it (for re-encoding). */
  rawPostHeaderLengths: Uint8Array;
  /** 0 OFF, 1 CRC32, 255 UNDEF, or null when the server predates checksums (< 5.6.1). */
  checksumAlgorithm: number | null;
  /** Bytes at the end of every later event that are a checksum (0 or 4). */
  checksumLength: number;
  /**
   * Type-code renumbering for pre-GA 5.1 dev-tree servers (null otherwise): the file's
   * code → the GA code.
   */
  typeMap: Uint8Array | null;
}

/** Post-header length the format description gives for `type` (0 if unknown). */
export function postHeaderLength(fd: FormatDescription, type: number): number {
  // MySQL 8.0.20+ advertises 40 for TRANSACTION_PAYLOAD, but the event has no post-header.
  if (type === EventType.TRANSACTION_PAYLOAD && !fd.isMariaDB) return 0;
  return type >= 1 && type <= fd.postHeaderLengths.length ? fd.postHeaderLengths[type - 1] : 0;
}

function splitVersion(v: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

/**
 * Decode an FDE from the whole event bytes. Whether a checksum trailer exists is told by
 * the length, not the version (the FDE always carries alg byte + CRC on checksum-aware
 * servers, even with binlog_checksum=NONE).
 */
export function decodeFormatDescription(event: Buffer): FormatDescription {
  const c = new Cursor(event, HEADER_LENGTH);
  const binlogVersion = c.u16();
  if (binlogVersion !== 4) {
    throw new EventDecodeError(`binlog format version ${binlogVersion} is not supported (only v4, MySQL 5.0+/MariaDB)`);
  }
  const rawVersion = c.bytes(50);
  const nul = rawVersion.indexOf(0);
  const serverVersion = rawVersion.toString('latin1', 0, nul < 0 ? 50 : nul);
  const createTimestamp = c.u32();
  const commonHeaderLength = c.u8();
  if (commonHeaderLength < HEADER_LENGTH) {
    throw new EventDecodeError(`common header length ${commonHeaderLength} is below 19`);
  }
  const tableStart = c.pos;
  let n = event.length - tableStart;
  // Tell the alg byte + CRC apart from the table: post_header_len[FDE-1] says how long
  // the FDE's own post-header is; what lies beyond it is 0 or 5 bytes.
  let checksumAlgorithm: number | null = null;
  if (n >= EventType.FORMAT_DESCRIPTION) {
    const fdePost = event[tableStart + EventType.FORMAT_DESCRIPTION - 1];
    const bodyLen = event.length - HEADER_LENGTH;
    const extra = bodyLen - fdePost;
    if (extra === 1 + CHECKSUM_LENGTH) {
      n -= 1 + CHECKSUM_LENGTH;
      checksumAlgorithm = event[tableStart + n];
    } else if (extra !== 0) {
      // Unusual: trust the version split instead (MySQL's own rule).
      const [a, b, d] = splitVersion(serverVersion);
      const aware = /mariadb/i.test(serverVersion) ? a > 5 || (a === 5 && b >= 3) : a * 10000 + b * 100 + d >= 50601;
      if (aware && n >= 1 + CHECKSUM_LENGTH) {
        n -= 1 + CHECKSUM_LENGTH;
        checksumAlgorithm = event[tableStart + n];
      }
    }
  }
  const postHeaderLengths = new Uint8Array(event.subarray(tableStart, tableStart + n));
  const versionSplit = splitVersion(serverVersion);
  const fd: FormatDescription = {
    binlogVersion,
    serverVersion,
    versionSplit,
    isMariaDB: /mariadb/i.test(serverVersion),
    createTimestamp,
    commonHeaderLength,
    postHeaderLengths,
    rawPostHeaderLengths: postHeaderLengths,
    checksumAlgorithm,
    checksumLength: checksumAlgorithm === ChecksumAlgorithm.CRC32 ? CHECKSUM_LENGTH : 0,
    typeMap: null,
  };
  fd.typeMap = preGaTypeMap(fd);
  if (fd.typeMap) {
    const ga = new Uint8Array(Math.max(postHeaderLengths.length, EventType.DELETE_ROWS_V1));
    ga.set(postHeaderLengths);
    for (let code = 16; code <= 22; code++) ga[fd.typeMap[code] - 1] = postHeaderLengths[code - 1];
    fd.postHeaderLengths = ga;
  }
  return fd;
}

/**
 * Pre-GA 5.1 trees (WL#2325) numbered table-map and rows events 16–19 and moved XID and
 * the load-query events to 20–22; their post-header table gives them away (6-byte
 * post-headers at 16–19, 0/4/26 at 20–22).
 */
function preGaTypeMap(fd: FormatDescription): Uint8Array | null {
  const p = fd.postHeaderLengths;
  if (p.length < 22) return null;
  const at = (t: number) => p[t - 1];
  if (at(16) === 6 && at(17) === 6 && at(18) === 6 && at(19) === 6 && at(20) === 0 && at(21) === 4 && at(22) === 26) {
    const m = new Uint8Array(256);
    for (let i = 0; i < 256; i++) m[i] = i;
    m[16] = EventType.TABLE_MAP;
    m[17] = EventType.PRE_GA_WRITE_ROWS;
    m[18] = EventType.PRE_GA_UPDATE_ROWS;
    m[19] = EventType.PRE_GA_DELETE_ROWS;
    m[20] = EventType.XID;
    m[21] = EventType.BEGIN_LOAD_QUERY;
    m[22] = EventType.EXECUTE_LOAD_QUERY;
    return m;
  }
  return null;
}
