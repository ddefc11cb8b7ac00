import { EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

export interface MariadbGtidListEntry {
  domain: number;
  server: number;
  seq: bigint;
}

/** MariaDB GTID_LIST: the binlog state (last GTID per domain and server) at the start of the file. */
export interface MariadbGtidListData {
  count: number;
  /** High 4 bits of the count word (fake events: 1 UNTIL_REACHED, 2 IGN_GTIDS). */
  flags: number;
  gtids: MariadbGtidListEntry[];
  /** `domain-server-seq,...` in event order. */
  gtidList: string;
}

const ENTRY_BYTES = 16;

registerDecoder(EventType.MARIADB_GTID_LIST, (body): MariadbGtidListData => {
  const word = body.u32();
  const count = word & 0x0fffffff;
  const flags = word >>> 28;
  if (count * ENTRY_BYTES > body.remaining) {
    throw new EventDecodeError(
      `GTID_LIST of ${count} entries needs ${count * ENTRY_BYTES} bytes, ${body.remaining} left`,
    );
  }
  const gtids: MariadbGtidListEntry[] = [];
  for (let i = 0; i < count; i++) gtids.push({ domain: body.u32(), server: body.u32(), seq: body.u64() });
  return { count, flags, gtids, gtidList: gtids.map((g) => `${g.domain}-${g.server}-${g.seq}`).join(',') };
});
