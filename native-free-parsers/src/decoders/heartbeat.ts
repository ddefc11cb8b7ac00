import { EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** HEARTBEAT_LOG_EVENT_V2 field types (`OTW_HB_*` in MySQL). */
const HB_END = 0;
const HB_LOG_FILENAME = 1;
const HB_LOG_POSITION = 2;

/**
 * Heartbeats exist only in replication streams: the source's current binlog file (and,
 * for v2, position — v1 has it in the header's log_pos).
 */
export interface HeartbeatData {
  version: 1 | 2;
  logFile: string;
  /** v2 only: 64-bit position in the source binlog. */
  position?: number;
}

registerDecoder(EventType.HEARTBEAT, (body): HeartbeatData => ({ version: 1, logFile: body.restString() }));

/** v2: TLV fields (type packed-int, length packed-int, value) up to a type-0 end mark or the end of the body. */
registerDecoder(EventType.HEARTBEAT_V2, (body): HeartbeatData => {
  const out: HeartbeatData = { version: 2, logFile: '' };
  while (body.remaining > 0) {
    const type = body.packed();
    if (type === HB_END) break;
    const len = body.packed();
    body.need(len, 'heartbeat field');
    const end = body.pos + len;
    if (type === HB_LOG_FILENAME) {
      out.logFile = body.str(len);
    } else if (type === HB_LOG_POSITION) {
      const saved = body.end;
      body.end = end;
      try {
        out.position = body.packed();
      } finally {
        body.end = saved;
      }
      if (body.pos !== end)
        throw new EventDecodeError(`heartbeat position field of ${len} bytes holds a shorter integer`);
    }
    // Unknown field types are skipped by length.
    body.pos = end;
  }
  return out;
});
