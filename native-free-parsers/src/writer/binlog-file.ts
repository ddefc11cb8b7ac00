import { writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { decodeFormatDescription } from '../format-description.js';
import { BinlogFileWriter } from './binlog-file-writer.js';

/** An event to append: whole bytes, or bytes with the trailer length of the log they came from. */
export type FileEvent = Buffer | { raw: Buffer; checksumLength: number };

/**
 * The bytes of a binlog file: magic, `fdeRaw` (BINLOG_IN_USE cleared), then `events` with
 * header log_pos recomputed for their place in the file and CRC32 trailers recomputed to
 * the file's checksum algorithm. A Buffer event is taken to carry the trailer `fdeRaw`
 * announces (what encodeEvent with that format description produces); BinlogEvents say
 * their own (0 for events from a TRANSACTION_PAYLOAD).
 */
export function buildBinlogFile(fdeRaw: Buffer, events: Iterable<FileEvent>): Buffer {
  const parts: Buffer[] = [];
  const w = new BinlogFileWriter((b) => parts.push(b));
  w.begin(fdeRaw);
  const cs = decodeFormatDescription(fdeRaw).checksumLength;
  for (const ev of events) {
    if (Buffer.isBuffer(ev)) w.append(ev, cs);
    else w.append(ev.raw, ev.checksumLength);
  }
  return Buffer.concat(parts);
}

/** buildBinlogFile written to `path`; resolves to the file size. */
export async function writeBinlogFile(path: string, fdeRaw: Buffer, events: Iterable<FileEvent>): Promise<number> {
  const bytes = buildBinlogFile(fdeRaw, events);
  await writeFile(path, bytes);
  return bytes.length;
}

/** Synchronous writeBinlogFile. */
export function writeBinlogFileSync(path: string, fdeRaw: Buffer, events: Iterable<FileEvent>): number {
  const bytes = buildBinlogFile(fdeRaw, events);
  writeFileSync(path, bytes);
  return bytes.length;
}
