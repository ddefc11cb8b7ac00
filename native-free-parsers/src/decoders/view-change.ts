import { EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** Group Replication view change: membership changed; carries the certification database. */
export interface ViewChangeData {
  viewId: string;
  seqNumber: bigint;
  /** Certification info: write-set key → GTID-set text. */
  certificationInfo: { key: string; value: string }[];
  /** Bytes after the certification info that this decoder does not know (absent when none). */
  extra?: Buffer;
}

const VIEW_ID_LENGTH = 40;
/** key_len u16 + value_len u32 */
const MIN_ENTRY = 6;

registerDecoder(EventType.VIEW_CHANGE, (body, ctx): ViewChangeData => {
  const start = body.pos;
  const raw = body.bytes(VIEW_ID_LENGTH);
  const nul = raw.indexOf(0);
  const viewId = raw.toString('utf8', 0, nul < 0 ? VIEW_ID_LENGTH : nul);
  const seqNumber = body.u64();
  const n = body.u32();
  body.skip(start + Math.max(VIEW_ID_LENGTH + 12, ctx.postHeaderLength) - body.pos);
  if (n * MIN_ENTRY > body.remaining) {
    throw new EventDecodeError(`VIEW_CHANGE certification info of ${n} entries cannot fit in ${body.remaining} bytes`);
  }
  const certificationInfo: { key: string; value: string }[] = [];
  for (let i = 0; i < n; i++) {
    const key = body.str(body.u16());
    certificationInfo.push({ key, value: body.str(body.u32()) });
  }
  const out: ViewChangeData = { viewId, seqNumber, certificationInfo };
  if (body.remaining > 0) out.extra = body.rest();
  return out;
});
