import { decompress as zstdDecompress } from 'fzstd';
import { Cursor, EventDecodeError } from './cursor.js';
import { registerDecoder } from './decoders/registry.js';
import { BinlogFormatError } from './errors.js';
import type { BinlogEvent } from './event.js';
import { EventType, HEADER_LENGTH } from './event-types.js';

export const PayloadCompression = { ZSTD: 0, NONE: 255 } as const;

export interface TransactionPayloadHeader {
  compression: 'zstd' | 'none' | `unknown(${number})`;
  compressionType: number;
  payloadSize: number;
  uncompressedSize: number;
  /** Offset of the compressed bytes inside the event. */
  payloadStart: number;
}

/**
 * MySQL 8.0.20+ TRANSACTION_PAYLOAD: TLV fields (type, length, packed value) up to a
 * type-0 end mark, then the compressed transaction. There is no post-header, whatever
 * the FDE says.
 */
function readHeader(body: Cursor): TransactionPayloadHeader {
  let compressionType: number = PayloadCompression.NONE;
  let payloadSize = -1;
  let uncompressedSize = 0;
  for (let guard = 0; guard < 64; guard++) {
    const type = body.packed();
    if (type === 0) break;
    const len = body.packed();
    const end = body.pos + len;
    body.need(len, 'payload header field');
    if (type === 1) payloadSize = body.packed();
    else if (type === 2) compressionType = body.packed();
    else if (type === 3) uncompressedSize = body.packed();
    body.pos = end;
  }
  if (payloadSize < 0) payloadSize = body.remaining;
  const compression =
    compressionType === PayloadCompression.ZSTD
      ? 'zstd'
      : compressionType === PayloadCompression.NONE
        ? 'none'
        : (`unknown(${compressionType})` as const);
  return { compression, compressionType, payloadSize, uncompressedSize, payloadStart: body.pos };
}

registerDecoder(EventType.TRANSACTION_PAYLOAD, (body) => readHeader(body));

/**
 * The complete events inside a payload event (log_pos 0, no checksums). Framing errors
 * name the payload event's file and offset.
 */
export function unwrapTransactionPayload(event: BinlogEvent): Buffer[] {
  const fail = (message: string) =>
    new BinlogFormatError({
      file: event.file,
      offset: event.offset,
      eventType: event.type,
      reason: 'bad-event',
      message,
    });
  const end = event.raw.length - event.checksumLength;
  let header: TransactionPayloadHeader;
  try {
    header = readHeader(new Cursor(event.raw, HEADER_LENGTH, end));
  } catch (err) {
    if (err instanceof EventDecodeError) throw fail(err.message);
    throw err;
  }
  const compressed = event.raw.subarray(header.payloadStart, Math.min(end, header.payloadStart + header.payloadSize));
  let bytes: Buffer;
  if (header.compressionType === PayloadCompression.NONE) {
    bytes = compressed;
  } else if (header.compressionType === PayloadCompression.ZSTD) {
    try {
      const out = zstdDecompress(compressed);
      bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      throw fail(`zstd payload does not decompress: ${(err as Error).message}`);
    }
  } else {
    throw fail(`unknown payload compression type ${header.compressionType}`);
  }
  if (header.uncompressedSize && bytes.length !== header.uncompressedSize) {
    throw fail(`payload decompressed to ${bytes.length} bytes, header says ${header.uncompressedSize}`);
  }
  const frames: Buffer[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (bytes.length - i < HEADER_LENGTH) throw fail(`payload ends inside an event header at +${i}`);
    const size = bytes.readUInt32LE(i + 9);
    if (size < HEADER_LENGTH || i + size > bytes.length) throw fail(`inner event at +${i} has impossible size ${size}`);
    frames.push(bytes.subarray(i, i + size));
    i += size;
  }
  return frames;
}
