/**
 * The recorded diff for the apply benchmark (bench/apply.ts): one MariaDB server of the
 * test lab, sysbench-like tables, then the same write mix as bench/record-workload.ts
 * from several connections, once in row format and once in statement format, each run in
 * its own binlog file:
 *
 *   base.binlog  the tables and their rows (the replicas' starting data)
 *   row.binlog   the row-format run (≥ rowMiB)
 *   stmt.binlog  the statement-format run (≥ stmtMiB), starting where the row run ended
 *
 * The files and a JSON description (sizes, transactions, CHECKSUM TABLE after each run)
 * are kept in bench/.cache/apply/ and reused while the parameters do not change.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connection } from 'mysql2/promise';
import { cacheDir, MiB, repoRoot } from './paths.js';
import { createTableSql, type LoopCounters, oltpLoop, type SbTables, tableRows } from './sysbench-like.js';

/**
 * The parts of the test lab (test/lab/mariadb-lab.ts) the apply benchmark uses. The lab is
 * TypeScript under test/, outside the build: it is imported at run time (tsx).
 */
export interface LabInstanceLike {
  name: string;
  host: string;
  port: number;
  datadir: string;
  pid: number | undefined;
  errorLog: string;
}
export interface LabLike {
  instances: LabInstanceLike[];
  rootPassword: string;
  instance(name: string): LabInstanceLike;
  query(inst: LabInstanceLike | string, sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  connect(inst: LabInstanceLike | string): Promise<Connection>;
  masterStatus(inst: LabInstanceLike | string): Promise<{ file: string; pos: number }>;
  close(): Promise<void>;
}
type MariaDbLab = LabLike;
export interface LabInstanceOptions {
  name?: string;
  binlogFormat?: 'ROW' | 'STATEMENT' | 'MIXED';
  binlogChecksum?: 'CRC32' | 'NONE';
  maxBinlogSize?: number | string;
  logSlaveUpdates?: boolean;
  extraCnf?: string[];
}

/** startLab from test/lab/mariadb-lab.ts. */
export async function startLab(instances: LabInstanceOptions[]): Promise<LabLike> {
  const mod = (await import(pathToFileURL(join(repoRoot, 'test', 'lab', 'mariadb-lab.ts')).href)) as {
    startLab(instances: LabInstanceOptions[]): Promise<LabLike>;
  };
  return mod.startLab(instances);
}

export const TABLES = 4;
export const TABLE_ROWS = 25_000;
const SHAPE: SbTables = { tables: TABLES, rowsPerTable: TABLE_ROWS };
export const TABLE_NAMES = Array.from({ length: TABLES }, (_, i) => `sbtest.sbtest${i + 1}`);

export interface RecordedDiff {
  file: string;
  bytes: number;
  transactions: number;
  /** CHECKSUM TABLE … EXTENDED of every table after the run. */
  checksums: Record<string, string>;
}

export interface ApplyWorkload {
  dir: string;
  server: string;
  base: RecordedDiff;
  row: RecordedDiff;
  stmt: RecordedDiff;
  params: { rowMiB: number; stmtMiB: number; connections: number; tables: number; rowsPerTable: number };
  recordedAt: string;
  recordSeconds: number;
}

async function prepare(conn: Connection): Promise<number> {
  await conn.query('CREATE DATABASE IF NOT EXISTS sbtest');
  await conn.query('USE sbtest');
  let trx = 1;
  for (let t = 1; t <= TABLES; t++) {
    await conn.query(createTableSql(t));
    trx++;
    for (let start = 1; start <= TABLE_ROWS; start += 500) {
      await conn.query(`INSERT INTO sbtest${t} (id, k, c, pad) VALUES ?`, [tableRows(SHAPE, start, 500)]);
      trx++;
    }
  }
  return trx;
}

async function checksums(lab: MariaDbLab): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLE_NAMES) out[t] = String((await lab.query('source', `CHECKSUM TABLE ${t} EXTENDED`))[0].Checksum);
  return out;
}

async function currentFile(lab: MariaDbLab): Promise<{ file: string; pos: number }> {
  return lab.masterStatus('source');
}

/** One run of the mix in the current binlog file until it holds `bytes`; returns the file and the transactions. */
async function run(
  lab: MariaDbLab,
  format: 'ROW' | 'STATEMENT',
  bytes: number,
  connections: number,
): Promise<{ file: string; size: number; trx: number }> {
  const { file } = await currentFile(lab);
  const count: LoopCounters = { transactions: 0, statements: 0, deadlocks: 0 };
  let finished = false;
  const conns = await Promise.all(Array.from({ length: connections }, () => lab.connect('source')));
  for (const c of conns) await c.query(`SET SESSION binlog_format=${format}`);
  let size = 0;
  const poll = (async () => {
    while (!finished) {
      await new Promise((r) => setTimeout(r, 200));
      const st = await currentFile(lab);
      if (st.file !== file) throw new Error(`binlog rotated to ${st.file} during the run`);
      size = st.pos;
      if (size >= bytes) finished = true;
    }
  })();
  await Promise.all([
    poll,
    ...conns.map((c, w) => oltpLoop(c, { ...SHAPE, batchIdBase: 10_000_000 }, w, () => finished, count)),
  ]);
  await Promise.all(conns.map((c) => c.end()));
  await lab.query('source', 'FLUSH BINARY LOGS');
  return { file, size, trx: count.transactions };
}

/** The cached workload for these parameters, recorded first when missing. */
export async function applyWorkload(
  params: { rowMiB: number; stmtMiB: number; connections?: number },
  log: (line: string) => void = () => {},
): Promise<ApplyWorkload> {
  const p = { connections: 4, ...params, tables: TABLES, rowsPerTable: TABLE_ROWS };
  const dir = join(cacheDir, 'apply', `row${p.rowMiB}-stmt${p.stmtMiB}-c${p.connections}-t${TABLES}x${TABLE_ROWS}`);
  const metaFile = join(dir, 'workload.json');
  if (existsSync(metaFile)) {
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as ApplyWorkload;
    if ([meta.base, meta.row, meta.stmt].every((d) => existsSync(d.file))) return meta;
  }
  await mkdir(dir, { recursive: true });
  log(`recording the workload into ${dir} (row ${p.rowMiB} MiB, statement ${p.stmtMiB} MiB)`);
  const t0 = Date.now();
  const lab = await startLab([
    {
      name: 'source',
      binlogFormat: 'ROW',
      binlogChecksum: 'CRC32',
      maxBinlogSize: '1G',
      extraCnf: [
        'binlog_row_image=FULL',
        'binlog_annotate_row_events=ON',
        'sync_binlog=0',
        'innodb_flush_log_at_trx_commit=0',
        'innodb_buffer_pool_size=256M',
      ],
    },
  ]);
  try {
    const inst = lab.instance('source');
    const server = String((await lab.query(inst, 'SELECT VERSION() AS v'))[0].v);
    const setup = await lab.connect(inst);
    const baseFile = (await currentFile(lab)).file;
    const baseTrx = await prepare(setup);
    await setup.end();
    await lab.query(inst, 'FLUSH BINARY LOGS');
    const baseSums = await checksums(lab);
    const row = await run(lab, 'ROW', p.rowMiB * MiB, p.connections);
    const rowSums = await checksums(lab);
    log(`  row run: ${row.size} bytes, ${row.trx} transactions`);
    const stmt = await run(lab, 'STATEMENT', p.stmtMiB * MiB, p.connections);
    const stmtSums = await checksums(lab);
    log(`  statement run: ${stmt.size} bytes, ${stmt.trx} transactions`);
    const keep = async (name: string, file: string, trx: number, sums: Record<string, string>) => {
      const to = join(dir, `${name}.binlog`);
      await copyFile(join(inst.datadir, file), to);
      const { size } = await stat(to);
      return { file: to, bytes: size, transactions: trx, checksums: sums };
    };
    const meta: ApplyWorkload = {
      dir,
      server,
      base: await keep('base', baseFile, baseTrx, baseSums),
      row: await keep('row', row.file, row.trx, rowSums),
      stmt: await keep('stmt', stmt.file, stmt.trx, stmtSums),
      params: p,
      recordedAt: new Date().toISOString(),
      recordSeconds: (Date.now() - t0) / 1000,
    };
    await writeFile(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
    return meta;
  } finally {
    await lab.close();
  }
}
