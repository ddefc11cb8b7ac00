import { EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** MySQL/MariaDB XID_DATASIZE: gtrid + bqual never exceed 128 bytes (each at most 64). */
const XID_DATA_MAX = 128;
const XID_PART_MAX = 64;

/** An XA transaction id. */
export interface XaXid {
  formatId: number;
  /** Global transaction id, hex. */
  gtrid: string;
  /** Branch qualifier, hex. */
  bqual: string;
  /** gtrid as text when it is printable ASCII/UTF-8 (otherwise absent). */
  gtridText?: string;
  bqualText?: string;
  /** As MySQL prints it in `XA ... ` statements: `X'..',X'..',formatId`. */
  xid: string;
}

function printable(b: Buffer): string | undefined {
  const s = b.toString('utf8');
  // Round-trips (valid UTF-8) and has no control characters.
  if (!Buffer.from(s, 'utf8').equals(b) || /[\u0000-\u001f\u007f]/.test(s)) return undefined;
  return s;
}

/** Builds the id from its parts (shared with the MariaDB GTID event's XA fields). */
export function makeXid(formatId: number, gtrid: Buffer, bqual: Buffer): XaXid {
  if (gtrid.length > XID_PART_MAX || bqual.length > XID_PART_MAX) {
    throw new EventDecodeError(`XA xid parts of ${gtrid.length}/${bqual.length} bytes exceed ${XID_PART_MAX}`);
  }
  const g = gtrid.toString('hex');
  const b = bqual.toString('hex');
  const out: XaXid = { formatId, gtrid: g, bqual: b, xid: `X'${g}',X'${b}',${formatId}` };
  const gt = printable(gtrid);
  if (gt !== undefined) out.gtridText = gt;
  const bt = printable(bqual);
  if (bt !== undefined) out.bqualText = bt;
  return out;
}

export interface XaPrepareData extends XaXid {
  /** XA COMMIT ... ONE PHASE (the transaction commits here rather than being prepared). */
  onePhase: boolean;
}

registerDecoder(EventType.XA_PREPARE, (body): XaPrepareData => {
  const onePhase = body.u8() !== 0;
  const formatId = body.i32();
  const gtridLen = body.u32();
  const bqualLen = body.u32();
  if (gtridLen + bqualLen > XID_DATA_MAX) {
    throw new EventDecodeError(`XA_PREPARE xid of ${gtridLen}+${bqualLen} bytes exceeds ${XID_DATA_MAX}`);
  }
  const gtrid = body.bytes(gtridLen);
  const bqual = body.bytes(bqualLen);
  return { onePhase, ...makeXid(formatId, gtrid, bqual) };
});
