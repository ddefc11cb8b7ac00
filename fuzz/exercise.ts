/**
 * Feed one input to the parser and touch everything a consumer can: every event's header
 * fields and decoded body, rows events' rows (with JSON binary, temporal, decimal values)
 * in their JSON and text forms, and the transaction and relay-log trackers. The outcome
 * is a valid parse, the typed BinlogFormatError, or a finding.
 */
import {
  type BinlogEvent,
  BinlogFormatError,
  BinlogParser,
  RelayLogTracker,
  RowsEventData,
  TransactionTracker,
} from '@mha-ts/native-free-parsers';
import type { FuzzInput } from './mutate.js';

export type Outcome =
  | { kind: 'ok'; events: number }
  | { kind: 'typed'; reason: string }
  /** A BinlogFormatError that wraps a non-parser exception (a decoder's TypeError, RangeError…). */
  | { kind: 'masked'; reason: string; message: string }
  /** Anything else escaping: the finding the fuzzer is for. */
  | { kind: 'crash'; name: string; message: string; stack: string };

const replacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

function touch(e: BinlogEvent, headerOnly: boolean, tx: TransactionTracker, relay: RelayLogTracker): void {
  void e.type;
  void e.endLogPos;
  void e.flags;
  void e.serverId;
  void e.timestamp;
  void e.nextOffset;
  if (headerOnly) return;
  const data = e.data;
  if (data instanceof RowsEventData) {
    // Rows decode lazily: ask for them, and for both rendered forms.
    void data.rows;
    JSON.stringify(data.toJSON(), replacer);
    data.toText();
  } else {
    JSON.stringify(data, replacer);
  }
  tx.observe(e);
  relay.observe(e);
}

export function exercise(input: FuzzInput): Outcome {
  const parser = new BinlogParser({
    file: 'fuzz',
    verifyChecksum: input.verifyChecksum,
    headerOnly: input.headerOnly,
  });
  const tx = new TransactionTracker();
  const relay = new RelayLogTracker();
  let events = 0;
  const sink = (e: BinlogEvent) => {
    events++;
    touch(e, input.headerOnly, tx, relay);
  };
  try {
    let p = 0;
    for (const n of input.chunks) {
      parser.push(input.bytes.subarray(p, p + n), sink);
      p += n;
    }
    parser.end();
    return { kind: 'ok', events };
  } catch (err) {
    return classify(err);
  }
}

export function classify(err: unknown): Outcome {
  if (err instanceof BinlogFormatError) {
    if (err.detail.startsWith('decoder failed:')) return { kind: 'masked', reason: err.reason, message: err.detail };
    return { kind: 'typed', reason: err.reason };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { kind: 'crash', name: e.name, message: e.message, stack: e.stack ?? '' };
}
