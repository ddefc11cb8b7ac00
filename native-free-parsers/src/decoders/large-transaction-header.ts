import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** MySQL large-transaction optimisation: where the transaction's terminating event is; the rest is padding. */
export interface LargeTransactionHeaderData {
  version: number;
  /** Offset in this file of the transaction's terminating event (u64). */
  terminatingEventOffset: bigint;
  terminatingEventType: number;
  /** Filler bytes after the fixed fields (contents ignored). */
  paddingLength: number;
}

registerDecoder(
  EventType.LARGE_TRANSACTION_HEADER,
  (body): LargeTransactionHeaderData => ({
    version: body.u8(),
    terminatingEventOffset: body.u64(),
    terminatingEventType: body.u8(),
    paddingLength: body.rest().length,
  }),
);
