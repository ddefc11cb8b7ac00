import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  type BinlogEvent,
  EventType,
  MariadbGtidList,
  MysqlGtidSet,
  type RelayEventOrigin,
  RelayLogTracker,
  TransactionTracker,
} from '@mha-ts/native-free-parsers';
import { type Command, Option } from 'commander';
import { concatenatePieces } from '../engine/concatenate.js';
import { compareLogFileNames } from '../engine/log-files.js';
import { formatEventText } from './binlog-inspect.js';
import { CliError, ExitCode } from './exit-codes.js';
import {
  createProgress,
  expandLogArgs,
  type LogInput,
  LogKindDetector,
  type ProgressReporter,
  readLogSet,
} from './log-set.js';

export type MatchMode = 'auto' | 'gtid' | 'position';

export interface DiffOptions {
  base: string[];
  ahead: string[];
  match?: MatchMode;
  output?: string;
  json?: boolean;
  verbose?: number;
  verifyChecksum?: boolean;
}

/** A master coordinate: for relay logs the master's file and end position, for binlogs their own. */
export interface Coord {
  file: string;
  pos: number;
}

const compareCoord = (a: Coord, b: Coord) => compareLogFileNames(a.file, b.file) || a.pos - b.pos;
const fmtCoord = (c: Coord | null) => (c ? `${c.file}:${c.pos}` : 'none');

/** What the base log set holds: its GTIDs and the master position it reaches. */
export interface BaseSummary {
  files: number;
  kind: 'binlog' | 'relay' | 'mixed';
  mariadb: MariadbGtidList;
  mysql: MysqlGtidSet;
  /** The base has MariaDB / MySQL GTIDs (events or GTID lists), so GTIDs can be compared. */
  carriesMariadb: boolean;
  carriesMysql: boolean;
  /** End (master coordinates) of the last complete transaction; null when there is none or it is unknown. */
  position: Coord | null;
  /** The base's coordinates could not be told (a relay log read without the rotate naming its master file). */
  positionUnknown: boolean;
}

/** One transaction of the ahead set that the base lacks. */
export interface MissingTransaction {
  file: string;
  start: number;
  end: number;
  gtid: string | null;
  /** Master coordinates of its last event. */
  master_file: string | null;
  master_end_pos: number | null;
  events: number;
  bytes: number;
  matched_by: 'gtid' | 'position';
}

interface TxEvent {
  e: BinlogEvent;
  origin: RelayEventOrigin | undefined;
  file: string;
}

/** Follows a log set: transaction roles, relay/binlog kind and master coordinates of each event. */
class LogFollower {
  readonly tx = new TransactionTracker();
  readonly relay = new RelayLogTracker();
  private detector = new LogKindDetector();
  private fileName = '';
  relayFiles = 0;
  binlogFiles = 0;
  /** What the relay tracker said of the last event (also for binlogs, where it is only a hint). */
  lastRelayOrigin: RelayEventOrigin = { writtenBy: 'replica', masterFile: null, masterEndPos: null };
  /** Binlog: end of the last top-level event. */
  private topEnd = 0;

  startFile(input: LogInput): void {
    this.finishFile();
    this.detector = new LogKindDetector();
    this.relay.startRelayFile();
    this.fileName = basename(input.path ?? input.name);
  }

  finishFile(): void {
    if (!this.fileName) return;
    if (this.detector.relay) this.relayFiles++;
    else if (this.detector.sawData) this.binlogFiles++;
    this.fileName = '';
  }

  get isRelay(): boolean {
    return this.detector.relay;
  }

  /** Observe an event: its relay origin (when a relay log) and its master coordinate (null when unknown). */
  observe(e: BinlogEvent): { origin: RelayEventOrigin | undefined; coord: Coord | null } {
    this.detector.observe(e);
    const origin = this.relay.observe(e);
    this.lastRelayOrigin = origin;
    if (!e.inPayload) this.topEnd = e.offset + e.length;
    if (this.detector.relay) {
      const coord =
        origin.masterFile !== null && origin.masterEndPos !== null
          ? { file: origin.masterFile, pos: origin.masterEndPos }
          : null;
      return { origin, coord };
    }
    return { origin: undefined, coord: { file: this.fileName, pos: this.topEnd } };
  }

  get kind(): BaseSummary['kind'] {
    return this.relayFiles && this.binlogFiles ? 'mixed' : this.relayFiles ? 'relay' : 'binlog';
  }
}

function gtidOf(e: BinlogEvent | undefined): {
  text: string;
  mariadb?: { domain: number; server: number; seq: bigint };
  mysql?: { sid: string; gno: bigint; tag: string };
} | null {
  if (!e) return null;
  if (e.typeCode === EventType.MARIADB_GTID) {
    const d = e.data as { gtid: string; domain: number; serverId: number; seq: bigint };
    return { text: d.gtid, mariadb: { domain: d.domain, server: d.serverId, seq: d.seq } };
  }
  if (e.typeCode === EventType.GTID || e.typeCode === EventType.GTID_TAGGED) {
    const d = e.data as { gtid: string; sid: string; gno: bigint; tag?: string };
    return { text: d.gtid, mysql: { sid: d.sid, gno: d.gno, tag: d.tag ?? '' } };
  }
  return null;
}

/** Read the base set: GTIDs (from GTID lists and complete transactions) and the master position reached. */
export async function summarizeBase(
  inputs: LogInput[],
  opts: { verifyChecksum?: boolean; progress?: ProgressReporter },
): Promise<BaseSummary> {
  const f = new LogFollower();
  let mariadb = MariadbGtidList.EMPTY;
  let mysql = MysqlGtidSet.EMPTY;
  let carriesMariadb = false;
  let carriesMysql = false;
  let position: Coord | null = null;
  let positionUnknown = false;
  let openGtid: ReturnType<typeof gtidOf> = null;
  for await (const { input, fileStart, events } of readLogSet(inputs, {
    verifyChecksum: opts.verifyChecksum,
    progress: opts.progress,
  })) {
    if (fileStart) {
      f.startFile(input);
      continue;
    }
    for (const e of events) {
      const { coord } = f.observe(e);
      const t = e.typeCode;
      if (t === EventType.MARIADB_GTID_LIST) {
        const list = MariadbGtidList.parse((e.data as { gtidList: string }).gtidList);
        if (!list.isEmpty()) carriesMariadb = true;
        mariadb = mariadb.union(list);
      } else if (t === EventType.PREVIOUS_GTIDS) {
        const set = MysqlGtidSet.parse((e.data as { gtidSet: string }).gtidSet);
        if (!set.isEmpty()) carriesMysql = true;
        mysql = mysql.union(set);
      }
      const role = f.tx.observe(e);
      if (role === 'begin' || role === 'single') {
        openGtid = role === 'begin' && f.tx.gtidEvent === e ? gtidOf(e) : null;
        if (openGtid?.mariadb) carriesMariadb = true;
        if (openGtid?.mysql) carriesMysql = true;
      }
      if (role === 'end' || role === 'single') {
        if (openGtid?.mariadb) mariadb = mariadb.union(MariadbGtidList.from([openGtid.mariadb]));
        if (openGtid?.mysql) mysql = mysql.add(openGtid.mysql.sid, openGtid.mysql.gno, openGtid.mysql.tag || undefined);
        openGtid = null;
        if (coord === null) positionUnknown = true;
        else if (position === null || compareCoord(coord, position) > 0) position = coord;
      }
    }
  }
  f.finishFile();
  return {
    files: inputs.length,
    kind: f.kind,
    mariadb,
    mysql,
    carriesMariadb,
    carriesMysql,
    position,
    positionUnknown,
  };
}

export interface DiffResult {
  match: string;
  base: {
    files: number;
    kind: string;
    gtids: { mariadb: string; mysql: string };
    position: Coord | null;
  };
  ahead: { files: number; kind: string };
  missing: { transactions: number; events: number; bytes: number };
  transactions: MissingTransaction[];
  /** A transaction of the ahead set the input ends inside (never committed there): left out. */
  incomplete: { file: string; start: number; gtid: string | null } | null;
  /** Transactions the ahead set holds twice (a relay log re-fetched after a restart): the copy left out. */
  duplicates: number;
  output?: { file: string; bytes: number; transactions: number };
}

/**
 * The transactions of the ahead set the base lacks, complete ones only, in log order.
 * By GTID when the transaction has one and the base carries GTIDs of that flavour; else by
 * master position: what starts after the end of the base's last complete transaction.
 */
async function* missingTransactions(
  inputs: LogInput[],
  base: BaseSummary,
  opts: { match: MatchMode; verifyChecksum?: boolean; progress?: ProgressReporter },
  state: {
    incomplete: DiffResult['incomplete'];
    duplicates: number;
    lastFde: BinlogEvent | undefined;
    kind: string;
    methods: Set<string>;
  },
): AsyncGenerator<{ info: MissingTransaction; events: TxEvent[]; fde: BinlogEvent | undefined }> {
  const f = new LogFollower();
  let current: { info: MissingTransaction; events: TxEvent[]; fde: BinlogEvent | undefined } | null = null;
  let open: { file: string; start: number; gtid: string | null } | null = null;
  const taken = new Set<string>();
  let masterFde: BinlogEvent | undefined;
  let masterFdeIsMaster = false;
  let file = '';
  for await (const { input, fileStart, events } of readLogSet(inputs, {
    verifyChecksum: opts.verifyChecksum,
    progress: opts.progress,
  })) {
    if (fileStart) {
      f.startFile(input);
      file = input.name;
      continue;
    }
    for (const e of events) {
      const { origin, coord } = f.observe(e);
      if (e.typeCode === EventType.FORMAT_DESCRIPTION && !e.inPayload) {
        // The format description the following master events were written with: in relay
        // logs the master's (not the replica's own at offset 4, once a master one was seen).
        const byMaster = f.lastRelayOrigin.writtenBy === 'master';
        if (byMaster || !masterFdeIsMaster) {
          masterFde = e;
          masterFdeIsMaster = byMaster;
        }
      }
      const role = f.tx.observe(e);
      if (role === 'begin' || role === 'single') {
        const g = role === 'begin' && f.tx.gtidEvent === e ? gtidOf(e) : null;
        open = { file, start: e.offset, gtid: g?.text ?? null };
        current = null;
        const by = decide(g, coord, e);
        if (by.missing && !(g && taken.has(g.text))) {
          current = {
            info: {
              file,
              start: e.offset,
              end: e.offset,
              gtid: g?.text ?? null,
              master_file: null,
              master_end_pos: null,
              events: 0,
              bytes: 0,
              matched_by: by.method,
            },
            events: [],
            fde: masterFde,
          };
        } else if (by.missing) {
          state.duplicates++;
        }
      }
      const inside = role !== 'outside' || (f.tx.inTransaction && e.typeCode === EventType.TRANSACTION_PAYLOAD);
      if (current && inside) {
        current.events.push({ e, origin, file });
        current.info.events++;
        if (!e.inPayload) {
          current.info.bytes += e.length;
          current.info.end = e.offset + e.length;
        }
        if (coord) {
          current.info.master_file = coord.file;
          current.info.master_end_pos = coord.pos;
        }
      }
      if (role === 'end' || role === 'single') {
        open = null;
        if (current) {
          if (current.info.gtid) taken.add(current.info.gtid);
          state.methods.add(current.info.matched_by);
          yield current;
          current = null;
        }
      }
    }
  }
  f.finishFile();
  state.kind = f.kind;
  state.lastFde = masterFde;
  state.incomplete = open && current ? open : null;

  function decide(
    g: ReturnType<typeof gtidOf>,
    coord: Coord | null,
    e: BinlogEvent,
  ): { missing: boolean; method: 'gtid' | 'position' } {
    const mode = opts.match;
    if (mode !== 'position' && g) {
      if (g.mariadb && (base.carriesMariadb || mode === 'gtid'))
        return { missing: !base.mariadb.contains(g.mariadb), method: 'gtid' };
      if (g.mysql && (base.carriesMysql || mode === 'gtid')) {
        return {
          missing: !base.mysql.containsGtid(g.mysql.sid, g.mysql.gno, g.mysql.tag || undefined),
          method: 'gtid',
        };
      }
    }
    if (mode === 'gtid') {
      throw new CliError(
        `${file} at ${e.offset}: a transaction without a GTID; use --match position or auto`,
        ExitCode.BAD_INPUT,
      );
    }
    if (base.positionUnknown) {
      throw new CliError(
        'base: cannot tell the master file of its relay logs (no rotate event names it); include the earlier relay log files',
        ExitCode.BAD_INPUT,
      );
    }
    if (coord === null) {
      throw new CliError(
        `${file} at ${e.offset}: cannot tell the master file of this relay log; include the earlier relay log files`,
        ExitCode.BAD_INPUT,
      );
    }
    return { missing: base.position === null || compareCoord(coord, base.position) > 0, method: 'position' };
  }
}

export async function diff(opts: DiffOptions, out: NodeJS.WritableStream): Promise<DiffResult> {
  const match = opts.match ?? 'auto';
  if (!['auto', 'gtid', 'position'].includes(match))
    throw new CliError('--match must be auto, gtid or position', ExitCode.USAGE);
  if ([...opts.base, ...opts.ahead].includes('-'))
    throw new CliError('binlog diff reads files, not standard input', ExitCode.USAGE);
  const baseInputs = await expandLogArgs(opts.base);
  const aheadInputs = await expandLogArgs(opts.ahead);
  const progress = await createProgress([...baseInputs, ...aheadInputs], {
    json: opts.json,
    streamsToStdout: !opts.output,
  });
  const state = {
    incomplete: null as DiffResult['incomplete'],
    duplicates: 0,
    lastFde: undefined as BinlogEvent | undefined,
    kind: 'binlog',
    methods: new Set<string>(),
  };
  const result: DiffResult = {
    match: 'none',
    base: { files: baseInputs.length, kind: 'binlog', gtids: { mariadb: '', mysql: '' }, position: null },
    ahead: { files: aheadInputs.length, kind: 'binlog' },
    missing: { transactions: 0, events: 0, bytes: 0 },
    transactions: [],
    incomplete: null,
    duplicates: 0,
  };
  try {
    const base = await summarizeBase(baseInputs, { verifyChecksum: opts.verifyChecksum, progress });
    // Progress continues over the ahead set.
    const baseBytes = baseInputs.reduce((n, i) => n + (i.size ?? 0), 0);
    const aheadProgress: ProgressReporter | undefined = progress && {
      update: (n) => progress.update(baseBytes + n),
      stop: () => progress.stop(),
    };
    result.base = {
      files: base.files,
      kind: base.kind,
      gtids: { mariadb: base.mariadb.toString(), mysql: base.mysql.toString() },
      position: base.position,
    };
    const txs = missingTransactions(
      aheadInputs,
      base,
      { match, verifyChecksum: opts.verifyChecksum, progress: aheadProgress },
      state,
    );
    const record = (tx: { info: MissingTransaction }) => {
      result.transactions.push(tx.info);
      result.missing.transactions++;
      result.missing.events += tx.info.events;
      result.missing.bytes += tx.info.bytes;
    };
    if (opts.output) {
      result.output = await writeBinlog(opts.output, txs, state, record);
    } else {
      let lastFile = '';
      for await (const tx of txs) {
        record(tx);
        if (opts.json) continue;
        let chunk = '';
        for (const { e, origin, file } of tx.events) {
          if (file !== lastFile) {
            chunk += `# file ${file}\n`;
            lastFile = file;
          }
          chunk += formatEventText(e, { verbose: opts.verbose, origin });
        }
        if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
      }
    }
  } finally {
    progress?.stop();
  }
  result.ahead.kind = state.kind;
  result.incomplete = state.incomplete;
  result.duplicates = state.duplicates;
  result.match = state.methods.size === 0 ? 'none' : [...state.methods].sort().join('+');
  return result;
}

async function writeBinlog(
  path: string,
  txs: AsyncIterable<{ info: MissingTransaction; events: TxEvent[]; fde: BinlogEvent | undefined }>,
  state: { lastFde: BinlogEvent | undefined },
  record: (tx: { info: MissingTransaction }) => void,
): Promise<{ file: string; bytes: number; transactions: number }> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'w');
  } catch (err) {
    throw new CliError(
      `${path}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      ExitCode.FAILED,
    );
  }
  try {
    async function* events(): AsyncGenerator<BinlogEvent> {
      let started = false;
      for await (const tx of txs) {
        record(tx);
        if (!started && tx.fde) {
          started = true;
          yield tx.fde;
        }
        for (const { e } of tx.events) yield e;
      }
      // Nothing missing: still a valid (empty) binlog.
      if (!started && state.lastFde) yield state.lastFde;
    }
    const report = await concatenatePieces([{ kind: 'binlog', events: events() }], async (chunk) => {
      await fh.write(chunk);
    });
    if (report.completeBytes < report.bytes) await fh.truncate(report.completeBytes);
    return { file: path, bytes: report.completeBytes, transactions: report.transactions };
  } finally {
    await fh.close();
  }
}

export function formatDiffSummary(r: DiffResult): string {
  const lines = [
    `# base: ${r.base.files} ${r.base.kind} file(s); gtids ${r.base.gtids.mariadb || r.base.gtids.mysql || 'none'}; master position ${fmtCoord(r.base.position)}`,
    `# ahead: ${r.ahead.files} ${r.ahead.kind} file(s)`,
    `# missing from base: ${r.missing.transactions} transaction(s), ${r.missing.events} events, ${r.missing.bytes} bytes${r.match !== 'none' ? ` (matched by ${r.match})` : ''}`,
  ];
  if (r.transactions.length) {
    const first = r.transactions[0];
    const last = r.transactions[r.transactions.length - 1];
    const g = (t: MissingTransaction) => (t.gtid ? ` ${t.gtid}` : '');
    lines.push(`# first: ${first.file}:${first.start}${g(first)}; last: ${last.file}:${last.start}${g(last)}`);
  }
  if (r.incomplete) {
    lines.push(
      `# left out: the ahead logs end inside a transaction at ${r.incomplete.file}:${r.incomplete.start}${r.incomplete.gtid ? ` (${r.incomplete.gtid})` : ''}`,
    );
  }
  if (r.duplicates) lines.push(`# left out: ${r.duplicates} repeated copies of transactions`);
  if (r.output)
    lines.push(`# wrote ${r.output.file}: ${r.output.transactions} transaction(s), ${r.output.bytes} bytes`);
  return `${lines.join('\n')}\n`;
}

/** `mha binlog diff`. */
export function defineDiffCommand(parent: Command): Command {
  return parent
    .command('diff')
    .description(
      'the transactions the --ahead logs hold and the --base logs lack: by GTID when both carry them, else by master file and position',
    )
    .requiredOption('--base <logs...>', 'the logs of the server that lags (files, a directory or an index file)')
    .requiredOption('--ahead <logs...>', 'the logs that may hold more (files, a directory or an index file)')
    .addOption(
      new Option('--match <how>', 'match transactions by gtid, by master position, or auto (gtid when both carry them)')
        .choices(['auto', 'gtid', 'position'])
        .default('auto'),
    )
    .option('--output <file>', 'write the missing transactions as one binlog file (single format description)')
    .option('--json', 'one JSON object: counts, base position and GTIDs, and each missing transaction')
    .option('-v, --verbose', 'listing: show row images under rows events', (_v, n: number) => n + 1, 0)
    .addOption(new Option('--no-verify-checksum', 'do not verify CRC32 checksums'))
    .action(async (opts: DiffOptions) => {
      const r = await diff(opts, process.stdout);
      if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else process.stdout.write(formatDiffSummary(r));
    });
}
