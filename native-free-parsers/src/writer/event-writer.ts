import { crc32 } from '../crc32.js';
import { CHECKSUM_LENGTH, EventFlag, EventType, HEADER_LENGTH } from '../event-types.js';
import { ChecksumAlgorithm } from '../format-description.js';

/** Header fields that can be changed when an event is rewritten. */
export interface HeaderPatch {
  timestamp?: number;
  serverId?: number;
  /** New header log_pos (end position in the file being written). */
  logPos?: number;
  flags?: number;
}

/**
 * Compute and store the CRC32 trailer of an event in place. `hasChecksum` says whether
 * the event carries one (by its format description). An FDE's CRC is computed as if
 * BINLOG_IN_USE were clear — the server's own rule.
 */
export function writeChecksum(event: Buffer): void {
  const end = event.length - CHECKSUM_LENGTH;
  let crc: number;
  const flags = event.readUInt16LE(17);
  if (event[4] === EventType.FORMAT_DESCRIPTION && flags & EventFlag.BINLOG_IN_USE) {
    const patched = Buffer.from([event[17] & ~EventFlag.BINLOG_IN_USE, event[18]]);
    crc = crc32(event.subarray(19, end), crc32(patched, crc32(event.subarray(0, 17))));
  } else {
    crc = crc32(event.subarray(0, end));
  }
  event.writeUInt32LE(crc, end);
}

/**
 * A copy of `raw` with header fields changed and its checksum recomputed (when it has
 * one). The body is untouched, so the result is byte-exact apart from the patch.
 */
export function rewriteEvent(raw: Buffer, patch: HeaderPatch, hasChecksum: boolean): Buffer {
  const out = Buffer.from(raw);
  if (patch.timestamp !== undefined) out.writeUInt32LE(patch.timestamp >>> 0, 0);
  if (patch.serverId !== undefined) out.writeUInt32LE(patch.serverId >>> 0, 5);
  if (patch.logPos !== undefined) out.writeUInt32LE(patch.logPos >>> 0, 13);
  if (patch.flags !== undefined) out.writeUInt16LE(patch.flags & 0xffff, 17);
  if (hasChecksum) writeChecksum(out);
  return out;
}

/**
 * Assemble an event from its parts: the header is filled in (size included), and a CRC32
 * trailer is appended when `checksum` is true.
 */
export function buildEvent(
  type: number,
  body: Buffer,
  opts: { timestamp?: number; serverId?: number; logPos?: number; flags?: number; checksum?: boolean } = {},
): Buffer {
  const cs = opts.checksum ? CHECKSUM_LENGTH : 0;
  const out = Buffer.alloc(HEADER_LENGTH + body.length + cs);
  out.writeUInt32LE((opts.timestamp ?? 0) >>> 0, 0);
  out[4] = type;
  out.writeUInt32LE((opts.serverId ?? 0) >>> 0, 5);
  out.writeUInt32LE(out.length, 9);
  out.writeUInt32LE((opts.logPos ?? 0) >>> 0, 13);
  out.writeUInt16LE(opts.flags ?? 0, 17);
  body.copy(out, HEADER_LENGTH);
  if (cs) writeChecksum(out);
  return out;
}

/**
 * A format description event re-targeted for a new file: BINLOG_IN_USE cleared (the
 * written file is complete), optionally a different checksum algorithm. Only valid for
 * checksum-aware FDEs (MySQL ≥ 5.6.1, MariaDB ≥ 5.3), which carry the algorithm byte.
 */
export function retargetFormatDescription(
  raw: Buffer,
  opts: { checksumAlgorithm?: number; logPos?: number; clearInUse?: boolean } = {},
): Buffer {
  const out = Buffer.from(raw);
  if (opts.clearInUse ?? true) out.writeUInt16LE(out.readUInt16LE(17) & ~EventFlag.BINLOG_IN_USE, 17);
  if (opts.logPos !== undefined) out.writeUInt32LE(opts.logPos >>> 0, 13);
  const algOffset = out.length - CHECKSUM_LENGTH - 1;
  if (opts.checksumAlgorithm !== undefined) {
    if (opts.checksumAlgorithm !== ChecksumAlgorithm.OFF && opts.checksumAlgorithm !== ChecksumAlgorithm.CRC32) {
      throw new Error(`checksum algorithm ${opts.checksumAlgorithm} cannot be written`);
    }
    out[algOffset] = opts.checksumAlgorithm;
  }
  writeChecksum(out);
  return out;
}
