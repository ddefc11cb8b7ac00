/** Why a log could not be read. Stable strings: scripts and tests match on them. */
export type BinlogErrorReason =
  | 'bad-magic'
  | 'bad-length'
  | 'checksum-mismatch'
  | 'truncated'
  | 'bad-event'
  | 'encrypted'
  | 'unsupported-format';

export interface BinlogErrorDetails {
  file?: string | undefined;
  offset: number;
  eventType?: string | undefined;
  reason: BinlogErrorReason;
  message: string;
}

/**
 * The log at `file`:`offset` is not what the format says it must be. Every failure of
 * the parser is this type (or its subclass), so callers need one catch.
 */
export class BinlogFormatError extends Error {
  readonly file: string | undefined;
  readonly offset: number;
  readonly eventType: string | undefined;
  readonly reason: BinlogErrorReason;
  readonly detail: string;

  constructor(d: BinlogErrorDetails) {
    const where = `${d.file ?? '<stream>'} at offset ${d.offset}${d.eventType ? ` (${d.eventType})` : ''}`;
    super(`${where}: ${d.message}`);
    this.name = 'BinlogFormatError';
    this.file = d.file;
    this.offset = d.offset;
    this.eventType = d.eventType;
    this.reason = d.reason;
    this.detail = d.message;
  }
}

/**
 * The input ended inside an event. `live` says the file's format description still
 * carries LOG_EVENT_BINLOG_IN_USE_F: the server was writing it (an open relay log, a
 * binlog being copied), so the tail is a partial write rather than damage.
 */
export class BinlogTruncatedError extends BinlogFormatError {
  readonly live: boolean;
  /** Bytes of the incomplete event that were present. */
  readonly partialBytes: number;
  /** Bytes the event header announced (0 when the header itself was cut). */
  readonly expectedBytes: number;

  constructor(d: Omit<BinlogErrorDetails, 'reason'> & { live: boolean; partialBytes: number; expectedBytes: number }) {
    super({ ...d, reason: 'truncated' });
    this.name = 'BinlogTruncatedError';
    this.live = d.live;
    this.partialBytes = d.partialBytes;
    this.expectedBytes = d.expectedBytes;
  }
}
