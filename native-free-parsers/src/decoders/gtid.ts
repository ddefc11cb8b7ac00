import { type Cursor, EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** A MySQL GTID event: GTID (33), ANONYMOUS_GTID (34) or GTID_TAGGED (42). */
export interface GtidData {
  /** `uuid:gno`, `uuid:tag:gno` (tagged), or `ANONYMOUS`. */
  gtid: string;
  /** Source UUID, lowercase with dashes (all zeros for anonymous transactions). */
  sid: string;
  gno: bigint;
  /** GTID tag (MySQL 8.3+), '' when untagged. */
  tag: string;
  /** gtid_flags: bit 0 = MAY_HAVE_SBR. */
  flags: number;
  /** Logical clock (5.7+). */
  lastCommitted: bigint | undefined;
  sequenceNumber: bigint | undefined;
  /** Commit time on the immediate source, µs since the epoch (8.0.1+). */
  immediateCommitTimestamp: bigint | undefined;
  /** Commit time on the originating server; equals the immediate one when not written separately. */
  originalCommitTimestamp: bigint | undefined;
  /** Bytes of the whole transaction including this event (8.0.2+). */
  transactionLength: number | undefined;
  /** e.g. 80045 (8.0.14+). */
  immediateServerVersion: number | undefined;
  /** Equals immediateServerVersion when not written separately. */
  originalServerVersion: number | undefined;
  /** Binlog group-commit ticket (8.0.33+), when set. */
  commitGroupTicket: bigint | undefined;
}

/** Lowercase, dashed UUID from 16 bytes. */
export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const LOGICAL_TIMESTAMP_TYPECODE = 2;
const COMMIT_TS_LENGTH = 7;
const COMMIT_TS_ORIGINAL_BIT = 1n << 55n;
const SERVER_VERSION_ORIGINAL_BIT = 0x80000000;

function readUintLE7(c: Cursor): bigint {
  const b = c.bytes(COMMIT_TS_LENGTH);
  return BigInt(b.readUIntLE(0, 6)) | (BigInt(b[6]) << 48n);
}

function blank(): Omit<GtidData, 'gtid' | 'sid' | 'gno' | 'tag' | 'flags'> {
  return {
    lastCommitted: undefined,
    sequenceNumber: undefined,
    immediateCommitTimestamp: undefined,
    originalCommitTimestamp: undefined,
    transactionLength: undefined,
    immediateServerVersion: undefined,
    originalServerVersion: undefined,
    commitGroupTicket: undefined,
  };
}

/**
 * GTID / ANONYMOUS_GTID (`control_events.h`): flags, sid, gno — the 25 bytes of 5.6 —
 * then, each only if the event is long enough, the logical clock (5.7), commit
 * timestamps (8.0.1), transaction length (8.0.2), server versions (8.0.14) and the
 * group-commit ticket (8.0.33).
 */
function decodeUntagged(body: Cursor, anonymous: boolean): GtidData {
  const flags = body.u8();
  const sidBytes = body.bytes(16);
  const gno = body.i64();
  const sid = formatUuid(sidBytes);
  const out: GtidData = {
    gtid: anonymous ? 'ANONYMOUS' : `${sid}:${gno}`,
    sid,
    gno,
    tag: '',
    flags,
    ...blank(),
  };
  if (body.remaining === 0) return out;
  // MySQL reads everything below only behind the logical-timestamp type code.
  if (body.u8() !== LOGICAL_TIMESTAMP_TYPECODE) return out;
  out.lastCommitted = body.i64();
  out.sequenceNumber = body.i64();
  if (body.remaining >= COMMIT_TS_LENGTH) {
    let immediate = readUintLE7(body);
    let original = immediate;
    if (immediate & COMMIT_TS_ORIGINAL_BIT) {
      immediate &= ~COMMIT_TS_ORIGINAL_BIT;
      original = readUintLE7(body);
    }
    out.immediateCommitTimestamp = immediate;
    out.originalCommitTimestamp = original;
    if (body.remaining > 0) out.transactionLength = body.packed();
    if (body.remaining >= 4) {
      let immediateVersion = body.u32();
      let originalVersion = immediateVersion;
      if (immediateVersion & SERVER_VERSION_ORIGINAL_BIT) {
        immediateVersion = (immediateVersion & ~SERVER_VERSION_ORIGINAL_BIT) >>> 0;
        originalVersion = body.u32();
      }
      out.immediateServerVersion = immediateVersion;
      out.originalServerVersion = originalVersion;
      if (body.remaining >= 8) out.commitGroupTicket = body.u64();
    }
  }
  return out;
}

registerDecoder(EventType.GTID, (body): GtidData => decodeUntagged(body, false));
registerDecoder(EventType.ANONYMOUS_GTID, (body): GtidData => decodeUntagged(body, true));

// ---- mysql::serialization (MySQL 8.3+, libs/mysql/serialization) ----

/**
 * Variable-length unsigned integer of `mysql::serialization`: the number of trailing one
 * bits of the first byte + 1 is the byte count (1–9); the value follows that bit
 * pattern and its zero terminator (9 bytes: the 8 bytes after the first, verbatim).
 */
export function readVarlenUnsigned(c: Cursor): bigint {
  const first = c.u8();
  let n = 1;
  while (n <= 8 && first & (1 << (n - 1))) n++;
  if (n === 1) return BigInt(first >> 1);
  c.need(n - 1, 'variable-length integer');
  let rest = 0n;
  for (let i = n - 2; i >= 0; i--) rest = (rest << 8n) | BigInt(c.buf[c.pos + i]);
  c.pos += n - 1;
  if (n === 9) return rest;
  return BigInt(first >> n) | (rest << BigInt(8 - n));
}

/** Signed variant: the low bit is the sign, the rest is x (x ≥ 0) or -(x + 1). */
export function readVarlenSigned(c: Cursor): bigint {
  const u = readVarlenUnsigned(c);
  return u & 1n ? -(u >> 1n) - 1n : u >> 1n;
}

function varlenMax(c: Cursor, max: bigint, what: string): bigint {
  const at = c.pos;
  const v = readVarlenUnsigned(c);
  if (v > max) throw new EventDecodeError(`${what} ${v} at +${at} does not fit its field`);
  return v;
}

/** String field: varlen length, then the bytes. */
export function readVarlenString(c: Cursor, maxLength: number, what: string): string {
  const len = Number(varlenMax(c, BigInt(maxLength), `${what} length`));
  return c.str(len);
}

const U8 = 0xffn;
const U32 = 0xffff_ffffn;
const U64 = 0xffff_ffff_ffff_ffffn;
/** mysql::gtid::tag_max_length */
export const GTID_TAG_MAX_LENGTH = 32;
/** Gtid_event::define_fields(): ids 0–11. */
const LAST_KNOWN_FIELD_ID = 11;

function toNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new EventDecodeError(`${what} ${v} too large`);
  return Number(v);
}

/**
 * GTID_TAGGED_LOG_EVENT: one `mysql::serialization` message — format version, then
 * (message size, last non-ignorable field id, and `field id, value` pairs). Field ids
 * follow `Gtid_event::define_fields()`; an optional field that was not written is simply
 * absent (its id skipped).
 */
registerDecoder(EventType.GTID_TAGGED, (body): GtidData => {
  const start = body.pos;
  varlenMax(body, U8, 'serialization format version');
  // The size covers the whole message, from the version byte on (verified on 9.6.0).
  const size = toNumber(readVarlenUnsigned(body), 'GTID_TAGGED message size');
  const end = start + size;
  if (end < body.pos + 1 || end > body.end) {
    throw new EventDecodeError(`GTID_TAGGED message size ${size} does not fit the ${body.end - start}-byte event body`);
  }
  const lastNonIgnorable = readVarlenUnsigned(body);
  if (lastNonIgnorable > BigInt(LAST_KNOWN_FIELD_ID + 1)) {
    throw new EventDecodeError(
      `GTID_TAGGED has non-ignorable field ${lastNonIgnorable - 1n} this decoder does not know`,
    );
  }
  const saved = body.end;
  body.end = end;
  let flags = 0;
  let sid: string | undefined;
  let gno: bigint | undefined;
  let tag = '';
  const rest = blank();
  let next = 0;
  try {
    while (body.pos < end) {
      const idAt = body.pos;
      const id = readVarlenUnsigned(body);
      if (id > BigInt(LAST_KNOWN_FIELD_ID)) break; // newer, ignorable fields: skip to the end
      if (Number(id) < next) throw new EventDecodeError(`GTID_TAGGED field id ${id} at +${idAt} out of order`);
      next = Number(id) + 1;
      switch (Number(id)) {
        case 0:
          flags = Number(varlenMax(body, U8, 'gtid_flags'));
          break;
        case 1: {
          const b = Buffer.alloc(16);
          for (let i = 0; i < 16; i++) b[i] = Number(varlenMax(body, U8, 'uuid byte'));
          sid = formatUuid(b);
          break;
        }
        case 2:
          gno = readVarlenSigned(body);
          break;
        case 3:
          tag = readVarlenString(body, GTID_TAG_MAX_LENGTH, 'tag');
          break;
        case 4:
          rest.lastCommitted = readVarlenSigned(body);
          break;
        case 5:
          rest.sequenceNumber = readVarlenSigned(body);
          break;
        case 6:
          rest.immediateCommitTimestamp = varlenMax(body, U64, 'immediate_commit_timestamp');
          break;
        case 7:
          rest.originalCommitTimestamp = varlenMax(body, U64, 'original_commit_timestamp');
          break;
        case 8:
          rest.transactionLength = toNumber(varlenMax(body, U64, 'transaction_length'), 'transaction_length');
          break;
        case 9:
          rest.immediateServerVersion = Number(varlenMax(body, U32, 'immediate_server_version'));
          break;
        case 10:
          rest.originalServerVersion = Number(varlenMax(body, U32, 'original_server_version'));
          break;
        case 11:
          rest.commitGroupTicket = varlenMax(body, U64, 'commit_group_ticket');
          break;
      }
    }
  } finally {
    body.end = saved;
  }
  body.pos = end;
  if (sid === undefined || gno === undefined) throw new EventDecodeError('GTID_TAGGED lacks the uuid or gno field');
  // Missing optional fields take the values MySQL's Field_missing_functor gives them.
  if (rest.originalCommitTimestamp === undefined) rest.originalCommitTimestamp = rest.immediateCommitTimestamp;
  if (rest.originalServerVersion === undefined) rest.originalServerVersion = rest.immediateServerVersion;
  return { gtid: tag ? `${sid}:${tag}:${gno}` : `${sid}:${gno}`, sid, gno, tag, flags, ...rest };
});
