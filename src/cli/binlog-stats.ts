import {
  type BinlogEvent,
  EventType,
  MysqlGtidSet,
  ROWS_EVENT_TYPES,
  type RowsEventData,
  TransactionTracker,
} from '@mha-ts/native-free-parsers';
import { type Command, Option } from 'commander';
import { createProgress, expandLogArgs, type LogInput, positiveInt, readLogSet } from './log-set.js';

export interface StatsOptions {
  json?: boolean;
  top?: number;
  verifyChecksum?: boolean;
}

interface Count {
  events: number;
  bytes: number;
}

interface TableStats extends Count {
  inserts: number;
  updates: number;
  deletes: number;
  /** Rows events whose rows could not be decoded (counted as events only). */
  undecoded: number;
}

interface TransactionInfo {
  file: string;
  start: number;
  end: number;
  bytes: number;
  events: number;
  gtid: string | null;
  timestamp: number;
}

interface MariadbRange {
  domain: number;
  server: number;
  first: bigint;
  last: bigint;
  count: number;
}

/** Everything `mha binlog stats` reports, in its JSON form. */
export interface LogStats {
  files: { file: string; bytes: number | null }[];
  events: number;
  bytes: number;
  time: { first: number | null; last: number | null; seconds: number | null };
  types: Record<string, Count>;
  tables: Record<string, TableStats & { rows_decoded: boolean }>;
  operations: {
    rows: Record<'insert' | 'update' | 'delete', Count & { rows: number }>;
    statements: Record<string, Count>;
  };
  transactions: {
    count: number;
    bytes: number;
    /** Transactions by size: `max_bytes` is a power of two, each bucket (max_bytes/2, max_bytes]. */
    size_histogram: { max_bytes: number; count: number }[];
    largest: TransactionInfo[];
    /** The input ended inside a transaction (its start). */
    incomplete: { file: string; start: number; gtid: string | null } | null;
  };
  gtids: {
    mariadb: { domain: number; server: number; first: string; last: string; count: number }[];
    mysql: string;
    mysql_count: number;
    anonymous: number;
  };
}

const STATEMENT_EVENTS = new Set<number>([
  EventType.QUERY,
  EventType.MARIADB_QUERY_COMPRESSED,
  EventType.EXECUTE_LOAD_QUERY,
]);
const TWO_WORD_VERBS = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'XA', 'LOCK', 'UNLOCK', 'LOAD']);

/** INSERT, UPDATE, CREATE TABLE, DROP DATABASE, … (comments and the definer clause skipped). */
export function statementVerb(sql: string): string {
  const s = sql
    .replace(/\/\*(?!!)[\s\S]*?\*\//g, ' ')
    .replace(/^\s*(?:--|#)[^\n]*\n/gm, ' ')
    .replace(/\bDEFINER\s*=\s*(?:`[^`]*`|'[^']*'|"[^"]*"|[^\s@]+)(?:\s*@\s*(?:`[^`]*`|'[^']*'|"[^"]*"|\S+))?/gi, ' ')
    .trim();
  const words = s.split(/[\s(;`]+/).filter(Boolean);
  if (words.length === 0) return '(empty)';
  const first = words[0].toUpperCase();
  if (!TWO_WORD_VERBS.has(first) || words.length < 2) return first;
  let i = 1;
  // CREATE [OR REPLACE] [DEFINER=…] [TEMPORARY|UNIQUE|…] TABLE
  while (
    i < words.length - 1 &&
    /^(OR|REPLACE|SQL|SECURITY|DEFINER|INVOKER|TEMPORARY|UNIQUE|FULLTEXT|SPATIAL|ONLINE|OFFLINE|IGNORE|ALGORITHM=.*|AGGREGATE)$/i.test(
      words[i],
    )
  )
    i++;
  return `${first} ${words[i].toUpperCase()}`;
}

/** Accumulates the statistics of a log set, event by event. */
export class StatsCollector {
  private readonly tracker = new TransactionTracker();
  private readonly types = new Map<string, Count>();
  private readonly tables = new Map<string, TableStats>();
  private readonly rowsOps = {
    insert: { events: 0, bytes: 0, rows: 0 },
    update: { events: 0, bytes: 0, rows: 0 },
    delete: { events: 0, bytes: 0, rows: 0 },
  };
  private readonly statements = new Map<string, Count>();
  private readonly histogram = new Map<number, number>();
  private largest: TransactionInfo[] = [];
  private readonly mariadb = new Map<string, MariadbRange>();
  private mysql = MysqlGtidSet.EMPTY;
  private mysqlCount = 0;
  private anonymous = 0;
  private events = 0;
  private bytes = 0;
  private first: number | null = null;
  private last: number | null = null;
  private txCount = 0;
  private txBytes = 0;
  private open: TransactionInfo | null = null;

  constructor(private readonly top: number) {}

  observe(file: string, e: BinlogEvent): void {
    const onDisk = e.inPayload ? 0 : e.length;
    this.events++;
    this.bytes += onDisk;
    const type = e.type;
    const t = this.types.get(type) ?? { events: 0, bytes: 0 };
    t.events++;
    t.bytes += e.length;
    this.types.set(type, t);
    const ts = e.timestamp;
    if (ts > 0) {
      if (this.first === null || ts < this.first) this.first = ts;
      if (this.last === null || ts > this.last) this.last = ts;
    }
    const code = e.typeCode;
    if (ROWS_EVENT_TYPES.has(code)) this.rowsEvent(e);
    else if (STATEMENT_EVENTS.has(code)) {
      const verb = statementVerb(String((e.data as { sql?: string }).sql ?? ''));
      const s = this.statements.get(verb) ?? { events: 0, bytes: 0 };
      s.events++;
      s.bytes += e.length;
      this.statements.set(verb, s);
    } else if (code === EventType.MARIADB_GTID) {
      const d = e.data as { domain: number; serverId: number; seq: bigint };
      const key = `${d.domain}-${d.serverId}`;
      const r = this.mariadb.get(key);
      if (!r) this.mariadb.set(key, { domain: d.domain, server: d.serverId, first: d.seq, last: d.seq, count: 1 });
      else {
        if (d.seq < r.first) r.first = d.seq;
        if (d.seq > r.last) r.last = d.seq;
        r.count++;
      }
    } else if (code === EventType.GTID || code === EventType.GTID_TAGGED) {
      const d = e.data as { sid: string; gno: bigint; tag?: string };
      this.mysql = this.mysql.add(d.sid, d.gno, d.tag || undefined);
      this.mysqlCount++;
    } else if (code === EventType.ANONYMOUS_GTID) {
      this.anonymous++;
    }
    this.transaction(file, e, onDisk);
  }

  private rowsEvent(e: BinlogEvent): void {
    const d = e.data as RowsEventData;
    const name = d.table ?? `(table id ${d.tableId}, no table map)`;
    const t = this.tables.get(name) ?? { events: 0, bytes: 0, inserts: 0, updates: 0, deletes: 0, undecoded: 0 };
    t.events++;
    t.bytes += e.length;
    this.tables.set(name, t);
    const op = this.rowsOps[d.kind];
    op.events++;
    op.bytes += e.length;
    let rows: number;
    try {
      rows = d.rows.length;
    } catch {
      t.undecoded++;
      return;
    }
    op.rows += rows;
    if (d.kind === 'insert') t.inserts += rows;
    else if (d.kind === 'update') t.updates += rows;
    else t.deletes += rows;
  }

  private transaction(file: string, e: BinlogEvent, onDisk: number): void {
    const role = this.tracker.observe(e);
    if (role === 'begin' || role === 'single') {
      const g = this.tracker.gtidEvent;
      this.open = {
        file,
        start: e.offset,
        end: e.offset,
        bytes: 0,
        events: 0,
        gtid: role === 'begin' && g === e ? (e.data as { gtid: string }).gtid : null,
        timestamp: e.timestamp,
      };
    }
    const tx = this.open;
    if (!tx) return;
    if (role === 'outside' && !this.tracker.inTransaction) return;
    tx.events++;
    tx.bytes += onDisk;
    if (!e.inPayload) tx.end = e.offset + e.length;
    if (role === 'end' || role === 'single') {
      this.open = null;
      this.txCount++;
      this.txBytes += tx.bytes;
      const bucket = tx.bytes <= 1 ? 1 : 2 ** Math.ceil(Math.log2(tx.bytes));
      this.histogram.set(bucket, (this.histogram.get(bucket) ?? 0) + 1);
      if (this.top > 0 && (this.largest.length < this.top || tx.bytes > this.largest[this.largest.length - 1].bytes)) {
        this.largest.push(tx);
        this.largest.sort((a, b) => b.bytes - a.bytes);
        if (this.largest.length > this.top) this.largest.length = this.top;
      }
    }
  }

  result(files: LogInput[]): LogStats {
    const byBytes = <T extends Count>(m: Map<string, T>) =>
      Object.fromEntries([...m.entries()].sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1)));
    const buckets = [...this.histogram.keys()].sort((a, b) => a - b);
    const histogram: { max_bytes: number; count: number }[] = [];
    if (buckets.length) {
      for (let b = buckets[0]; b <= buckets[buckets.length - 1]; b *= 2) {
        histogram.push({ max_bytes: b, count: this.histogram.get(b) ?? 0 });
      }
    }
    const tables = Object.fromEntries(
      [...this.tables.entries()]
        .sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1))
        .map(([k, v]) => [k, { ...v, rows_decoded: v.undecoded === 0 }]),
    );
    const open = this.open;
    return {
      files: files.map((f) => ({ file: f.name, bytes: f.size })),
      events: this.events,
      bytes: this.bytes,
      time: {
        first: this.first,
        last: this.last,
        seconds: this.first !== null && this.last !== null ? this.last - this.first : null,
      },
      types: byBytes(this.types),
      tables,
      operations: { rows: this.rowsOps, statements: byBytes(this.statements) },
      transactions: {
        count: this.txCount,
        bytes: this.txBytes,
        size_histogram: histogram,
        largest: this.largest,
        incomplete: open ? { file: open.file, start: open.start, gtid: open.gtid } : null,
      },
      gtids: {
        mariadb: [...this.mariadb.values()]
          .sort((a, b) => a.domain - b.domain || a.server - b.server)
          .map((r) => ({
            domain: r.domain,
            server: r.server,
            first: `${r.domain}-${r.server}-${r.first}`,
            last: `${r.domain}-${r.server}-${r.last}`,
            count: r.count,
          })),
        mysql: this.mysql.toString(),
        mysql_count: this.mysqlCount,
        anonymous: this.anonymous,
      },
    };
  }
}

export async function collectStats(args: string[], opts: StatsOptions): Promise<LogStats> {
  const inputs = await expandLogArgs(args);
  const progress = await createProgress(inputs, { json: opts.json });
  const stats = new StatsCollector(opts.top ?? 10);
  try {
    for await (const { input, events } of readLogSet(inputs, { verifyChecksum: opts.verifyChecksum, progress })) {
      for (const e of events) stats.observe(input.name, e);
    }
  } finally {
    progress?.stop();
  }
  return stats.result(inputs);
}

// ---------------------------------------------------------------------------------------
// Text form

const iso = (ts: number) => new Date(ts * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC');

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** Rows as aligned columns: numbers to the right, text to the left. */
function table(rows: (string | number)[][], leftColumns: number[] = [0]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map((r) =>
      r
        .map((v, c) => (leftColumns.includes(c) ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .map((l) => `  ${l}`)
    .join('\n');
}

export function formatStatsText(s: LogStats): string {
  const out: string[] = [];
  const names = s.files.map((f) => f.file);
  out.push(
    `files         ${names.length === 1 ? names[0] : `${names.length}: ${names[0]} … ${names[names.length - 1]}`}`,
  );
  out.push(`events        ${s.events} (${formatBytes(s.bytes)})`);
  if (s.time.first !== null && s.time.last !== null) {
    out.push(`time          ${iso(s.time.first)} → ${iso(s.time.last)} (${s.time.seconds} s)`);
  }
  const tx = s.transactions;
  out.push(
    `transactions  ${tx.count} (${formatBytes(tx.bytes)})${tx.incomplete ? `, and one incomplete at ${tx.incomplete.file}:${tx.incomplete.start}` : ''}`,
  );
  const gtidLines: string[] = [];
  for (const r of s.gtids.mariadb) {
    gtidLines.push(`${r.first}${r.count > 1 ? ` .. ${r.last}` : ''} (${r.count})`);
  }
  if (s.gtids.mysql) gtidLines.push(`${s.gtids.mysql} (${s.gtids.mysql_count})`);
  if (s.gtids.anonymous) gtidLines.push(`anonymous (${s.gtids.anonymous})`);
  if (gtidLines.length) out.push(`gtids         ${gtidLines.join('\n              ')}`);

  out.push('', 'event types');
  out.push(table([['type', 'events', 'bytes'], ...Object.entries(s.types).map(([k, v]) => [k, v.events, v.bytes])]));

  const ops = s.operations;
  const opRows: (string | number)[][] = [['operation', 'events', 'rows', 'bytes']];
  for (const k of ['insert', 'update', 'delete'] as const) {
    if (ops.rows[k].events) opRows.push([`${k} rows`, ops.rows[k].events, ops.rows[k].rows, ops.rows[k].bytes]);
  }
  for (const [k, v] of Object.entries(ops.statements)) opRows.push([`statement ${k}`, v.events, '', v.bytes]);
  if (opRows.length > 1) out.push('', 'operations', table(opRows));

  const tableEntries = Object.entries(s.tables);
  if (tableEntries.length) {
    out.push('', 'tables (rows events)');
    out.push(
      table([
        ['table', 'events', 'bytes', 'inserted', 'updated', 'deleted'],
        ...tableEntries.map(([k, v]) => [
          `${k}${v.rows_decoded ? '' : ` (${v.undecoded} events not decoded)`}`,
          v.events,
          v.bytes,
          v.inserts,
          v.updates,
          v.deletes,
        ]),
      ]),
    );
  }

  if (tx.size_histogram.length) {
    out.push('', 'transaction sizes');
    const max = Math.max(...tx.size_histogram.map((h) => h.count));
    const rows: (string | number)[][] = [];
    tx.size_histogram.forEach((h, i, all) => {
      // Runs of empty buckets collapse into one "…" line.
      if (h.count === 0 && i > 0 && all[i - 1].count === 0) return;
      if (h.count === 0 && i + 1 < all.length && all[i + 1].count === 0) {
        rows.push(['…', 0, '']);
        return;
      }
      rows.push([
        `≤ ${formatBytes(h.max_bytes)}`,
        h.count,
        '#'.repeat(h.count === 0 ? 0 : Math.max(1, Math.round((h.count / max) * 40))),
      ]);
    });
    out.push(table(rows, [0, 2]));
  }
  if (tx.largest.length) {
    out.push('', `largest transactions`);
    out.push(
      table(
        [
          ['bytes', 'events', 'start', 'end', 'gtid', 'file'],
          ...tx.largest.map((t) => [t.bytes, t.events, t.start, t.end, t.gtid ?? '', t.file]),
        ],
        [4, 5],
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

/** `mha binlog stats`. */
export function defineStatsCommand(parent: Command): Command {
  return parent
    .command('stats')
    .description(
      'summarise logs: events and bytes per type, table and operation; transactions and their sizes; time span; GTIDs',
    )
    .argument('<logs...>', 'binlog or relay-log files, a directory or an index file; "-" reads standard input')
    .option('--json', 'one JSON object (see the README for its fields)')
    .option('--top <n>', 'how many of the largest transactions to list', positiveInt, 10)
    .addOption(new Option('--no-verify-checksum', 'do not verify CRC32 checksums'))
    .action(async (files: string[], opts: StatsOptions) => {
      const s = await collectStats(files, opts);
      const text = opts.json
        ? `${JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`
        : formatStatsText(s);
      process.stdout.write(text);
    });
}
