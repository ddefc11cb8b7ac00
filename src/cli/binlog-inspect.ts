import {
  type BinlogEvent,
  EventType,
  MysqlGtidSet,
  parseMariadbGtid,
  type RelayEventOrigin,
  RelayLogTracker,
  ROWS_EVENT_TYPES,
  type RowsEventData,
  TransactionTracker,
} from '@mha-ts/native-free-parsers';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { summarizeEvent } from './event-summary.js';
import { CliError, ExitCode } from './exit-codes.js';
import { toJsonValue } from './json-value.js';
import { collectList, createProgress, expandLogArgs, nonNegativeInt, readLogSet } from './log-set.js';

export interface InspectOptions {
  json?: boolean;
  headerOnly?: boolean;
  startPosition?: number;
  stopPosition?: number;
  verifyChecksum?: boolean;
  relay?: boolean;
  /** 1: row images under rows events; 2: also column types. */
  verbose?: number;
  /** Seconds since the epoch: events with timestamp >= start and < stop. */
  startDatetime?: number;
  stopDatetime?: number;
  serverId?: number[];
  database?: string[];
  table?: string[];
  type?: string[];
  gtid?: string;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** mysqlbinlog prints the local time as yymmdd hh:mm:ss; we print UTC and say so. */
export function formatTimestamp(ts: number): string {
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

/** The listing lines of one event (`# at POS` and the header line; with `verbose`, the row images). */
export function formatEventText(
  e: BinlogEvent,
  opts: { headerOnly?: boolean; verbose?: number; origin?: RelayEventOrigin },
): string {
  const where = e.inPayload ? `# at ${e.offset} [payload event ${e.payloadIndex}]` : `# at ${e.offset}`;
  const summary = opts.headerOnly ? '' : `\t${summarizeEvent(e)}`;
  const origin = opts.origin;
  const master = origin
    ? `  master ${origin.masterFile ?? '?'}:${origin.masterEndPos ?? '?'}${origin.writtenBy === 'replica' ? ' (replica)' : ''}`
    : '';
  let text = `${where}\n#${formatTimestamp(e.timestamp)} server id ${e.serverId}  end_log_pos ${e.endLogPos}  ${e.type}${master}${summary}\n`;
  if (opts.verbose && !opts.headerOnly && ROWS_EVENT_TYPES.has(e.typeCode)) text += rowsText(e, opts.verbose);
  return text;
}

function rowsText(e: BinlogEvent, verbose: number): string {
  try {
    const text = (e.data as RowsEventData).toText({ verbose });
    return text ? `${text}\n` : '';
  } catch (err) {
    return `### (rows not decoded: ${(err as Error).message})\n`;
  }
}

// ---------------------------------------------------------------------------------------
// Filters

/** "YYYY-MM-DD[ T]HH:MM[:SS]" in UTC, or with an explicit zone (Z, +hh:mm). */
export function parseDatetime(v: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?)?\s*(Z|[+-]\d\d:?\d\d)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected "YYYY-MM-DD HH:MM:SS" (UTC unless a zone such as +02:00 is given)');
  const [, y, mo, d, h = '0', mi = '0', s = '0', zone] = m;
  let ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  if (zone && zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d\d):?(\d\d)$/.exec(zone)!;
    ms -= (z[1] === '-' ? -1 : 1) * (+z[2] * 60 + +z[3]) * 60_000;
  }
  if (Number.isNaN(ms)) throw new InvalidArgumentError('not a valid date');
  return Math.floor(ms / 1000);
}

/** Event type names (QUERY, WRITE_ROWS, …; case-insensitive) or numeric codes. */
export function parseEventTypes(names: string[]): Set<number> {
  const codes = new Set<number>();
  const table = EventType as Record<string, number>;
  for (const n of names) {
    const up = n.toUpperCase();
    const code = /^\d+$/.test(n) ? Number(n) : (table[up] ?? (/^UNKNOWN_(\d+)$/.exec(up) ? Number(up.slice(8)) : NaN));
    if (!Number.isInteger(code) || code < 0 || code > 255) {
      throw new CliError(
        `--type: unknown event type "${n}" (names as listed by inspect, e.g. QUERY, XID, TABLE_MAP, WRITE_ROWS_V1, MARIADB_GTID)`,
        ExitCode.USAGE,
      );
    }
    codes.add(code);
  }
  return codes;
}

interface MariadbGtidItem {
  domain: number;
  server: number | null;
  from: bigint;
  to: bigint;
}

/**
 * Which transactions `--gtid` selects: MySQL GTID set syntax (`uuid:1-5:7,uuid2:3`) and/or
 * MariaDB GTIDs (`0-1-5`, a range `0-1-5..9`, `*` for any server id: `0-*-5..9`).
 */
export class GtidSelection {
  private readonly mysql: MysqlGtidSet | null;
  private readonly mariadb: MariadbGtidItem[];

  constructor(text: string) {
    const mysqlParts: string[] = [];
    this.mariadb = [];
    for (const raw of text.split(',')) {
      const item = raw.trim();
      if (!item) continue;
      if (item.includes(':')) {
        mysqlParts.push(item);
        continue;
      }
      const m = /^(\d+)-(\d+|\*)-(\d+)(?:\.\.(\d+))?$/.exec(item);
      if (!m)
        throw new CliError(
          `--gtid: "${item}" is neither a MySQL GTID set nor a MariaDB GTID (D-S-N, D-S-N..M)`,
          ExitCode.USAGE,
        );
      const server = m[2] === '*' ? null : Number(m[2]);
      const g = parseMariadbGtid(`${m[1]}-${server ?? 0}-${m[3]}`);
      const to = m[4] === undefined ? g.seq : BigInt(m[4]);
      this.mariadb.push({ domain: g.domain, server, from: g.seq, to });
    }
    try {
      this.mysql = mysqlParts.length ? MysqlGtidSet.parse(mysqlParts.join(',')) : null;
    } catch (err) {
      throw new CliError(`--gtid: ${(err as Error).message}`, ExitCode.USAGE);
    }
  }

  /** Whether the transaction opened by this GTID event is selected. */
  matches(gtidEvent: BinlogEvent | undefined): boolean {
    if (!gtidEvent) return false;
    const t = gtidEvent.typeCode;
    if (t === EventType.MARIADB_GTID) {
      const d = gtidEvent.data as { domain: number; serverId: number; seq: bigint };
      return this.mariadb.some(
        (i) =>
          i.domain === d.domain && (i.server === null || i.server === d.serverId) && d.seq >= i.from && d.seq <= i.to,
      );
    }
    if ((t === EventType.GTID || t === EventType.GTID_TAGGED) && this.mysql) {
      const d = gtidEvent.data as { sid: string; gno: bigint; tag?: string };
      return this.mysql.containsGtid(d.sid, d.gno, d.tag || undefined);
    }
    return false;
  }
}

export interface EventFilterSpec {
  startTime?: number;
  stopTime?: number;
  serverIds?: Set<number>;
  types?: Set<number>;
  databases?: Set<string>;
  /** "db.table" or "table" (any database). */
  tables?: string[];
  gtids?: GtidSelection;
}

/**
 * Selects events for a listing. Header filters (time, server id, type) apply per event;
 * content filters (database, table, GTID) select whole transactions — a transaction is
 * kept when its GTID is selected and one of its events touches a selected database/table
 * — and then leave out the events outside transactions (format descriptions, rotates).
 */
export class EventFilter {
  private readonly tracker = new TransactionTracker();
  private readonly byTransaction: boolean;
  private decided: boolean | undefined;
  private pending: BinlogEvent[] = [];

  constructor(private readonly spec: EventFilterSpec) {
    this.byTransaction = !!(spec.databases?.size || spec.tables?.length || spec.gtids);
  }

  /** Whether any filter is set. */
  get active(): boolean {
    const s = this.spec;
    return (
      this.byTransaction ||
      s.startTime !== undefined ||
      s.stopTime !== undefined ||
      !!s.serverIds?.size ||
      !!s.types?.size
    );
  }

  /** Feed events in log order; returns those to show (possibly held-back events of the same transaction). */
  push(e: BinlogEvent): BinlogEvent[] {
    if (!this.byTransaction) return this.headerMatch(e) ? [e] : [];
    const role = this.tracker.observe(e);
    if (role === 'begin' || role === 'single') {
      this.pending = [];
      this.decided = undefined;
      if (this.spec.gtids && !this.spec.gtids.matches(role === 'begin' ? this.tracker.gtidEvent : undefined)) {
        this.decided = false;
      } else if (!this.spec.databases?.size && !this.spec.tables?.length) {
        this.decided = true;
      }
    } else if (role === 'outside' && !this.tracker.inTransaction) {
      return [];
    }
    let out: BinlogEvent[] = [];
    if (this.decided === undefined) {
      this.pending.push(e);
      if (this.contentMatch(e)) {
        this.decided = true;
        out = this.pending.filter((x) => this.headerMatch(x));
        this.pending = [];
      }
    } else if (this.decided) {
      out = this.headerMatch(e) ? [e] : [];
    }
    if (role === 'end' || role === 'single') {
      this.decided = undefined;
      this.pending = [];
    }
    return out;
  }

  private headerMatch(e: BinlogEvent): boolean {
    const s = this.spec;
    if (s.startTime !== undefined && e.timestamp < s.startTime) return false;
    if (s.stopTime !== undefined && e.timestamp >= s.stopTime) return false;
    if (s.serverIds?.size && !s.serverIds.has(e.serverId)) return false;
    if (s.types?.size && !s.types.has(e.typeCode)) return false;
    return true;
  }

  private contentMatch(e: BinlogEvent): boolean {
    const t = e.typeCode;
    let db: string | undefined;
    let table: string | undefined;
    if (t === EventType.TABLE_MAP) {
      const d = e.data as { database: string; table: string };
      db = d.database;
      table = d.table;
    } else if (
      t === EventType.QUERY ||
      t === EventType.MARIADB_QUERY_COMPRESSED ||
      t === EventType.EXECUTE_LOAD_QUERY
    ) {
      db = (e.data as { database?: string }).database || undefined;
    } else {
      return false;
    }
    const s = this.spec;
    if (s.databases?.size && (db === undefined || !s.databases.has(db))) return false;
    if (s.tables?.length) {
      if (table === undefined) return false;
      return s.tables.some((x) => (x.includes('.') ? x === `${db}.${table}` : x === table));
    }
    return true;
  }
}

/** The filter described by inspect's options (usage errors for combinations that cannot work). */
export function filterSpecOf(opts: InspectOptions): EventFilterSpec {
  const spec: EventFilterSpec = {
    startTime: opts.startDatetime,
    stopTime: opts.stopDatetime,
    serverIds: opts.serverId?.length ? new Set(opts.serverId) : undefined,
    types: opts.type?.length ? parseEventTypes(opts.type) : undefined,
    databases: opts.database?.length ? new Set(opts.database) : undefined,
    tables: opts.table?.length ? opts.table : undefined,
    gtids: opts.gtid !== undefined ? new GtidSelection(opts.gtid) : undefined,
  };
  if (opts.headerOnly && (spec.databases || spec.tables || spec.gtids || opts.verbose)) {
    throw new CliError(
      '--header-only cannot be combined with --database, --table, --gtid or --verbose',
      ExitCode.USAGE,
    );
  }
  return spec;
}

// ---------------------------------------------------------------------------------------

export async function inspect(args: string[], opts: InspectOptions, out: NodeJS.WritableStream): Promise<void> {
  const filter = new EventFilter(filterSpecOf(opts));
  const inputs = await expandLogArgs(args);
  const progress = await createProgress(inputs, { json: opts.json, streamsToStdout: true });
  const tracker = opts.relay ? new RelayLogTracker() : undefined;
  const origins = new WeakMap<BinlogEvent, RelayEventOrigin>();
  // "# file NAME" heads the events of each file (only files with events shown, when filtering).
  let headed: string | undefined;
  try {
    for await (const { input, fileStart, events } of readLogSet(inputs, {
      headerOnly: opts.headerOnly,
      verifyChecksum: opts.verifyChecksum,
      startPosition: opts.startPosition,
      stopPosition: opts.stopPosition,
      progress,
    })) {
      if (fileStart) {
        tracker?.startRelayFile();
        if (!opts.json && !filter.active) {
          out.write(`# file ${input.name}\n`);
          headed = input.name;
        }
        continue;
      }
      let chunk = '';
      for (const ev of events) {
        // Events a filter holds back come out later: remember where each stood.
        if (tracker) origins.set(ev, tracker.observe(ev));
        const shown = filter.active ? filter.push(ev) : [ev];
        for (const e of shown) {
          const origin = tracker ? origins.get(e) : undefined;
          // A held-back event may come from the previous file.
          const file = e.file ?? input.name;
          if (opts.json) {
            const o = eventToJson(file, e, !opts.headerOnly);
            if (origin) {
              o.written_by = origin.writtenBy;
              o.master_file = origin.masterFile;
              o.master_end_pos = origin.masterEndPos;
            }
            chunk += `${JSON.stringify(o)}\n`;
          } else {
            if (file !== headed) {
              chunk += `# file ${file}\n`;
              headed = file;
            }
            chunk += formatEventText(e, { headerOnly: opts.headerOnly, verbose: opts.verbose, origin });
          }
        }
      }
      if (chunk && !out.write(chunk)) await new Promise((r) => out.once('drain', r));
    }
  } finally {
    progress?.stop();
  }
}

/** `mha binlog inspect`. */
export function defineInspectCommand(parent: Command): Command {
  return parent
    .command('inspect')
    .description(
      'list the events of binlog or relay-log files in order: position, time (UTC), server id, end_log_pos, type and a summary',
    )
    .argument(
      '<logs...>',
      'binlog or relay-log files, a directory or an index file (NAME.index): read in numeric order of suffixes; "-" reads standard input',
    )
    .option(
      '--json',
      'one JSON object per event and line (fields: file, pos, end_log_pos, type, type_code, server_id, timestamp, length, flags, data)',
    )
    .option('-v, --verbose', 'show row images under rows events (-vv: with column types)', (_v, n: number) => n + 1, 0)
    .option('--header-only', 'read only the 19-byte event headers (fastest; no checksum check, no decoding)')
    .option('--start-position <n>', 'first file: start reading at this offset (an event boundary)', nonNegativeInt)
    .option(
      '--stop-position <n>',
      'last file: stop at the first event starting at or after this offset',
      nonNegativeInt,
    )
    .option(
      '--start-datetime <time>',
      'events at or after this time ("YYYY-MM-DD HH:MM:SS", UTC unless a zone is given)',
      parseDatetime,
    )
    .option('--stop-datetime <time>', 'events before this time', parseDatetime)
    .option(
      '--server-id <ids>',
      'events written by these server ids (repeatable, comma-separated)',
      (v: string, p: number[] | undefined) => [...(p ?? []), ...collectList(v, []).map(nonNegativeInt)],
    )
    .option('--type <types>', 'events of these types (QUERY, TABLE_MAP, WRITE_ROWS_V1, …; repeatable)', collectList)
    .option(
      '--database <names>',
      'transactions touching these databases (default database of statements, table maps)',
      collectList,
    )
    .option(
      '--table <names>',
      'transactions touching these tables (db.table or table; by their table maps)',
      collectList,
    )
    .option(
      '--gtid <set>',
      'only these transactions: MySQL GTID set (uuid:1-5) or MariaDB GTIDs (0-1-5, 0-1-5..9, 0-*-5)',
    )
    .option('--relay', 'relay logs: show the master file and position each event stands for, and who wrote it')
    .addOption(new Option('--no-verify-checksum', 'do not verify CRC32 checksums (they are verified by default)'))
    .action(async (files: string[], opts: InspectOptions) => {
      await inspect(files, opts, process.stdout);
    });
}
