import { type Cursor, EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { formatUuid, GTID_TAG_MAX_LENGTH, readVarlenString } from './gtid.js';
import { registerDecoder } from './registry.js';

/** One (uuid, tag) of an encoded GTID set, with half-open intervals as stored. */
export interface EncodedGtidSetEntry {
  sid: string;
  /** '' when untagged. */
  tag: string;
  /** [start, endExclusive) pairs. */
  intervals: [bigint, bigint][];
}

export interface PreviousGtidsData {
  /** Whether the set uses the MySQL 8.3+ tagged encoding. */
  tagged: boolean;
  sids: EncodedGtidSetEntry[];
  /** MySQL text form with closed intervals: `uuid:1-5:7,uuid2:tag:1-3`. */
  gtidSet: string;
}

const UUID_BYTES = 16;
const INTERVAL_BYTES = 16;
const FORMAT_UNTAGGED = 0;
const FORMAT_TAGGED = 1;

/**
 * `Gtid_set::encode` format (PREVIOUS_GTIDS body, TRANSACTION_CONTEXT snapshot): a u64
 * whose top byte is the format — 0: the count is the low 56 bits; 1 (8.3+): the count
 * is bits 8–55 and every entry has a varlen tag after its UUID — then per entry the
 * UUID, [tag], an interval count u64 and that many (start u64, end u64) half-open pairs.
 */
export function decodeEncodedGtidSet(c: Cursor): Omit<PreviousGtidsData, 'gtidSet'> {
  const word = c.u64();
  const format = Number(word >> 56n);
  let count: bigint;
  if (format === FORMAT_UNTAGGED) count = word;
  else if (format === FORMAT_TAGGED) count = (word >> 8n) & 0xffff_ffff_ffffn;
  else throw new EventDecodeError(`GTID set encoding format ${format} is unknown`);
  const tagged = format === FORMAT_TAGGED;
  const minEntry = UUID_BYTES + (tagged ? 1 : 0) + 8;
  if (count * BigInt(minEntry) > BigInt(c.remaining)) {
    throw new EventDecodeError(`GTID set of ${count} sids cannot fit in ${c.remaining} bytes`);
  }
  const sids: EncodedGtidSetEntry[] = [];
  for (let i = 0n; i < count; i++) {
    const sid = formatUuid(c.bytes(UUID_BYTES));
    const tag = tagged ? readVarlenString(c, GTID_TAG_MAX_LENGTH, 'GTID tag') : '';
    const n = c.u64();
    if (n * BigInt(INTERVAL_BYTES) > BigInt(c.remaining)) {
      throw new EventDecodeError(`GTID set entry with ${n} intervals cannot fit in ${c.remaining} bytes`);
    }
    const intervals: [bigint, bigint][] = [];
    for (let j = 0n; j < n; j++) intervals.push([c.i64(), c.i64()]);
    sids.push({ sid, tag, intervals });
  }
  return { tagged, sids };
}

/** Text form in entry order; consecutive entries of one UUID share it (`uuid:1-13:tag:1-2`). */
export function formatEncodedGtidSet(sids: readonly EncodedGtidSetEntry[]): string {
  const parts: string[] = [];
  let current: string | undefined;
  for (const { sid, tag, intervals } of sids) {
    if (intervals.length === 0) continue;
    if (sid !== current) {
      parts.push(sid);
      current = sid;
    }
    const text = intervals.map(([s, e]) => (e - 1n === s ? `${s}` : `${s}-${e - 1n}`)).join(':');
    parts[parts.length - 1] += tag ? `:${tag}:${text}` : `:${text}`;
  }
  return parts.join(',');
}

registerDecoder(EventType.PREVIOUS_GTIDS, (body): PreviousGtidsData => {
  const set = decodeEncodedGtidSet(body);
  return { ...set, gtidSet: formatEncodedGtidSet(set.sids) };
});
