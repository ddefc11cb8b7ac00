import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

export interface XidData {
  /** Transaction id the storage engines prepared/committed (u64). */
  xid: bigint;
}

registerDecoder(EventType.XID, (body): XidData => ({ xid: body.u64() }));
