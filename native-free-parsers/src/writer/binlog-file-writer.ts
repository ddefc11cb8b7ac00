import { CHECKSUM_LENGTH, EventType } from '../event-types.js';
import { decodeFormatDescription, type FormatDescription } from '../format-description.js';
import { retargetFormatDescription, rewriteEvent } from './event-writer.js';

/**
 * Writes a valid binlog file to any sink: the magic number, one format description, then
 * events whose header log_pos is recomputed for their new place in the file (so tools
 * that follow positions — the server, mysqlbinlog — accept it) and whose checksums are
 * recomputed to the output file's algorithm.
 */
export class BinlogFileWriter {
  private pos = 0;
  private fd: FormatDescription | undefined;
  private readonly write: (b: Buffer) => void;

  constructor(write: (b: Buffer) => void) {
    this.write = write;
  }

  /** Bytes written so far (the offset of the next event). */
  get position(): number {
    return this.pos;
  }

  get formatDescription(): FormatDescription | undefined {
    return this.fd;
  }

  /** Start the file: magic plus `fdeRaw` (with BINLOG_IN_USE cleared). */
  begin(fdeRaw: Buffer): void {
    if (this.pos !== 0) throw new Error('BinlogFileWriter.begin called twice');
    this.write(Buffer.from([0xfe, 0x62, 0x69, 0x6e]));
    this.pos = 4;
    this.fd = decodeFormatDescription(fdeRaw);
    const fde =
      this.fd.checksumAlgorithm === null
        ? fdeRaw
        : retargetFormatDescription(fdeRaw, { logPos: this.pos + fdeRaw.length });
    this.write(fde);
    this.pos += fde.length;
  }

  /**
   * Append an event read from a log whose format description had `sourceChecksumLength`
   * trailer bytes (0 or 4; 0 for events from inside a transaction payload). The trailer is
   * adapted to this file's algorithm.
   */
  append(raw: Buffer, sourceChecksumLength: number): void {
    const fd = this.fd;
    if (!fd) throw new Error('BinlogFileWriter.append before begin');
    if (raw[4] === EventType.FORMAT_DESCRIPTION) throw new Error('a binlog file holds one format description');
    const body = raw.subarray(0, raw.length - sourceChecksumLength);
    const cs = fd.checksumLength;
    const out = Buffer.alloc(body.length + cs);
    body.copy(out);
    out.writeUInt32LE(out.length, 9);
    const ev = rewriteEvent(out, { logPos: this.pos + out.length }, cs === CHECKSUM_LENGTH);
    this.write(ev);
    this.pos += ev.length;
  }
}
