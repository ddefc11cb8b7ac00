import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** STOP, IGNORABLE and SLAVE carry nothing a reader needs (IGNORABLE's body, if any, is meant to be skipped). */
export type EmptyData = Record<string, never>;

registerDecoder([EventType.STOP, EventType.IGNORABLE, EventType.SLAVE], (): EmptyData => ({}));
