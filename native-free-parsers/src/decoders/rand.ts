import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** The two seeds of the session's RAND() generator before the statement ran. */
export interface RandData {
  seed1: bigint;
  seed2: bigint;
}

registerDecoder(EventType.RAND, (body): RandData => ({ seed1: body.u64(), seed2: body.u64() }));
