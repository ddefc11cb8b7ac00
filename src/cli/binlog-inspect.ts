import { createReadStream } from 'node:fs';
import {
  type BinlogEvent,
  BinlogFormatError,
  type ByteSource,
  RelayLogTracker,
  readEventBatches,
  readFileEventBatches,
} from '@mha-ts/native-free-parsers';
import { summarizeEvent } from './event-summary.js';
import { CliError, ExitCode } from './exit-codes.js';
import { toJsonValue } from './json-value.js';

export interface InspectOptions {
  json?: boolean;
  headerOnly?: boolean;
  startPosition?: number;
  stopPosition?: number;
  verifyChecksum?: boolean;
  relay?: boolean;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** mysqlbinlog prints the local time as yymmdd hh:mm:ss; we print UTC and say so. */
function formatTimestamp(ts: number): string {
  const d = new Date(ts * 1000);
  return `${pad2(d.getUTCFullYear() % 100)}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

/** The stable JSON form of an event (field names are a contract with scripts). */
export function eventToJson(file: string, e: BinlogEvent, withData: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = {
    file,
    pos: e.offset,
    end_log_pos: e.endLogPos,
    type: e.type,
    type_code: e.typeCode,
    server_id: e.serverId,
    timestamp: e.timestamp,
    length: e.length,
    flags: e.flags,
  };
  if (e.inPayload) o.payload_index = e.payloadIndex;
  if (withData) o.data = toJsonValue(e.data);
  return o;
}

export async function inspect(files: string[], opts: InspectOptions, out: NodeJS.WritableStream): Promise<void> {
  const write = (s: string) => out.write(s);
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    const first = i === 0;
    const last = i === files.length - 1;
    const startPosition = first ? opts.startPosition : undefined;
    const stopPosition = last ? opts.stopPosition : undefined;
    const parserOpts = { headerOnly: opts.headerOnly, verifyChecksum: opts.verifyChecksum };
    let batches: AsyncIterable<BinlogEvent[]>;
    if (file === '-') {
      if (startPosition && startPosition > 4)
        throw new CliError('--start-position cannot be used with stdin', ExitCode.USAGE);
      batches = readEventBatches(process.stdin as ByteSource, { ...parserOpts, file: '<stdin>' });
    } else {
      await assertReadable(file);
      batches = readFileEventBatches(file, { ...parserOpts, startOffset: startPosition, stopOffset: stopPosition });
    }
    const tracker = opts.relay ? new RelayLogTracker() : undefined;
    const name = file === '-' ? '<stdin>' : file;
    if (!opts.json) write(`# file ${name}\n`);
    try {
      for await (const batch of batches) {
        let chunk = '';
        for (const e of batch) {
          if (file === '-' && stopPosition !== undefined && !e.inPayload && e.offset >= stopPosition) break;
          const origin = tracker?.observe(e);
          if (opts.json) {
            const o = eventToJson(name, e, !opts.headerOnly);
            if (origin) {
              o.written_by = origin.writtenBy;
              o.master_file = origin.masterFile;
              o.master_end_pos = origin.masterEndPos;
            }
            chunk += `${JSON.stringify(o)}\n`;
          } else {
            const where = e.inPayload ? `# at ${e.offset} [payload event ${e.payloadIndex}]` : `# at ${e.offset}`;
            const summary = opts.headerOnly ? '' : `\t${summarizeEvent(e)}`;
            const master = origin
              ? `  master ${origin.masterFile ?? '?'}:${origin.masterEndPos ?? '?'}${origin.writtenBy === 'replica' ? ' (replica)' : ''}`
              : '';
            chunk += `${where}\n#${formatTimestamp(e.timestamp)} server id ${e.serverId}  end_log_pos ${e.endLogPos}  ${e.type}${master}${summary}\n`;
          }
        }
        if (chunk && !write(chunk)) await new Promise((r) => out.once('drain', r));
      }
    } catch (err) {
      if (err instanceof BinlogFormatError) throw new CliError(err.message, ExitCode.BAD_INPUT);
      throw err;
    }
  }
}

async function assertReadable(file: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createReadStream(file, { start: 0, end: 0 });
    s.on('error', (err: NodeJS.ErrnoException) =>
      reject(new CliError(`${file}: cannot read (${err.code ?? err.message})`, ExitCode.BAD_INPUT)),
    );
    s.on('open', () => {
      s.destroy();
      resolve();
    });
  });
}
