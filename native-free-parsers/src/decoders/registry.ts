import type { Cursor } from '../cursor.js';
import type { FormatDescription } from '../format-description.js';

/** What a decoder may look at besides the body bytes. */
export interface DecodeContext {
  /** The format description in force for this event. */
  fd: FormatDescription;
  /** GA type code (after any pre-GA renumbering). */
  typeCode: number;
  /** Common-header flags. */
  flags: number;
  /** Common-header server id (MariaDB GTIDs take their server part from it). */
  serverId: number;
  /** Post-header length the FDE gives for this type (0 where the FDE lies, e.g. MySQL payloads). */
  postHeaderLength: number;
  /** Rows events: the table map in force for the event's table id (set by the parser). */
  tableMap?: object;
  /** Where the event is, for errors raised after decoding (rows events decode their rows lazily). */
  file?: string;
  offset?: number;
}

/**
 * A body decoder: the cursor spans the event from the end of the common header to the
 * start of the checksum trailer. It returns a plain, JSON-friendly object (bigint for u64).
 */
export type EventDecoder = (body: Cursor, ctx: DecodeContext) => object;

const decoders = new Map<number, EventDecoder>();

export function registerDecoder(typeCodes: number | number[], decoder: EventDecoder): void {
  for (const t of Array.isArray(typeCodes) ? typeCodes : [typeCodes]) decoders.set(t, decoder);
}

export function decoderFor(typeCode: number): EventDecoder | undefined {
  return decoders.get(typeCode);
}
