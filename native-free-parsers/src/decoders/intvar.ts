import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

export const IntvarType = { INVALID_INT: 0, LAST_INSERT_ID: 1, INSERT_ID: 2 } as const;

export interface IntvarData {
  /** 1 LAST_INSERT_ID, 2 INSERT_ID (0 is MySQL's INVALID_INT_EVENT). */
  type: number;
  typeName: string;
  value: bigint;
}

const names: Record<number, string> = { 0: 'INVALID_INT', 1: 'LAST_INSERT_ID', 2: 'INSERT_ID' };

registerDecoder(EventType.INTVAR, (body): IntvarData => {
  const type = body.u8();
  return { type, typeName: names[type] ?? `UNKNOWN_${type}`, value: body.u64() };
});
