import { Cursor, EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { decodeEncodedGtidSet, formatEncodedGtidSet } from './previous-gtids.js';
import { registerDecoder } from './registry.js';

/** Group Replication: the certification context of a transaction (not written to binlog files). */
export interface TransactionContextData {
  serverUuid: string;
  threadId: number;
  gtidSpecified: boolean;
  /** The encoded snapshot version (a GTID set in PREVIOUS_GTIDS encoding), raw. */
  snapshotVersion: Buffer;
  /** snapshotVersion as GTID-set text, when it decodes as one. */
  snapshotGtidSet?: string;
  /** Write-set item hashes (text). */
  writeSet: string[];
  readSet: string[];
}

/** Post-header: uuid_len u8, thread_id u32, gtid_specified u8, snapshot_len u32, write_set_n u32, read_set_n u32. */
const POST_HEADER = 18;
const ITEM_LEN_BYTES = 2;

function readSet(body: Cursor, n: number, what: string): string[] {
  if (n * ITEM_LEN_BYTES > body.remaining) {
    throw new EventDecodeError(`TRANSACTION_CONTEXT ${what} of ${n} items cannot fit in ${body.remaining} bytes`);
  }
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(body.str(body.u16()));
  return out;
}

registerDecoder(EventType.TRANSACTION_CONTEXT, (body, ctx): TransactionContextData => {
  const start = body.pos;
  const uuidLen = body.u8();
  const threadId = body.u32();
  const gtidSpecified = body.u8() !== 0;
  const snapshotLen = body.u32();
  const writeSetN = body.u32();
  const readSetN = body.u32();
  body.skip(start + Math.max(POST_HEADER, ctx.postHeaderLength) - body.pos);
  const serverUuid = body.str(uuidLen);
  const snapshotVersion = body.bytes(snapshotLen);
  const writeSet = readSet(body, writeSetN, 'write set');
  const readSetItems = readSet(body, readSetN, 'read set');
  const out: TransactionContextData = {
    serverUuid,
    threadId,
    gtidSpecified,
    snapshotVersion,
    writeSet,
    readSet: readSetItems,
  };
  if (snapshotLen >= 8) {
    try {
      const c = new Cursor(snapshotVersion);
      const set = decodeEncodedGtidSet(c);
      if (c.remaining === 0) out.snapshotGtidSet = formatEncodedGtidSet(set.sids);
    } catch (err) {
      if (!(err instanceof EventDecodeError)) throw err;
    }
  }
  return out;
});
