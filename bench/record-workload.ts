/**
 * Records a real binlog for the benchmark: starts one MariaDB server with the test lab
 * (test/lab/mariadb-lab.ts), prepares sysbench-like tables, then runs a sysbench
 * oltp_write_only-like mix from several connections until the binlog of the run reaches
 * the requested size, and copies that binlog file out.
 *
 * Row format, binlog_row_image=FULL, CRC32 checksums, annotate rows on (MariaDB 10.11
 * defaults). Each transaction: UPDATE of an indexed column, UPDATE of a char(120), DELETE
 * and re-INSERT of one row; every 10th transaction also updates 10 rows by range and
 * every 50th inserts and deletes a batch of 20 rows (multi-row rows events).
 *
 * Usage (from the repo root, after tsc -b; tsx loads the lab's TypeScript):
 *   node --import tsx dist/bench/record-workload.js OUT_FILE [TARGET_MB] [CONNECTIONS]
 * Writes OUT_FILE and OUT_FILE.json (server version, settings, counts, timings).
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connection } from 'mysql2/promise';
import { repoRoot } from './paths.js';
import { createTableSql, type LoopCounters, oltpLoop, type SbTables, tableRows } from './sysbench-like.js';

/** The parts of the lab this script uses (imported at run time: the lab is TypeScript under test/). */
interface LabInstanceLike {
  datadir: string;
}
interface LabLike {
  instances: LabInstanceLike[];
  query(inst: LabInstanceLike, sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  connect(inst: LabInstanceLike): Promise<Connection>;
  close(): Promise<void>;
}
interface LabModule {
  startLab(instances: Record<string, unknown>[], opts?: Record<string, unknown>): Promise<LabLike>;
}

const TABLES = 4;
const TABLE_ROWS = 10_000;
const SHAPE: SbTables = { tables: TABLES, rowsPerTable: TABLE_ROWS };

/** sysbench's c and pad values: groups of 11 random digits joined by '-'. */
async function prepare(conn: Connection): Promise<void> {
  await conn.query('CREATE DATABASE IF NOT EXISTS sbtest');
  await conn.query('USE sbtest');
  for (let t = 1; t <= TABLES; t++) {
    await conn.query(createTableSql(t));
    for (let start = 1; start <= TABLE_ROWS; start += 1000) {
      await conn.query(`INSERT INTO sbtest${t} (id, k, c, pad) VALUES ?`, [tableRows(SHAPE, start, 1000)]);
    }
  }
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: record-workload.js OUT_FILE [TARGET_MB] [CONNECTIONS]');
  const targetBytes = Number(process.argv[3] ?? 48) * 1024 * 1024;
  const connections = Number(process.argv[4] ?? 4);
  const labPath = join(repoRoot, 'test', 'lab', 'mariadb-lab.ts');
  const { startLab } = (await import(pathToFileURL(labPath).href)) as LabModule;
  const serverSettings = {
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
  };
  const started = Date.now();
  const lab = await startLab([serverSettings]);
  try {
    const inst = lab.instances[0];
    const version = String((await lab.query(inst, 'SELECT VERSION() AS v'))[0].v);
    const setup = await lab.connect(inst);
    await prepare(setup);
    // The run starts in a fresh binlog file; prepare's bulk inserts stay in the previous one.
    await setup.query('FLUSH BINARY LOGS');
    const [status] = await setup.query('SHOW MASTER STATUS');
    const runFile = String((status as Record<string, unknown>[])[0].File);
    const counters: LoopCounters = { transactions: 0, statements: 0, deadlocks: 0 };
    let size = 0;
    let finished = false;
    const runStart = Date.now();
    const poll = (async () => {
      while (!finished) {
        await new Promise((r) => setTimeout(r, 250));
        const [rows] = await setup.query('SHOW MASTER STATUS');
        const st = (rows as Record<string, unknown>[])[0];
        if (st.File !== runFile) throw new Error(`binlog rotated to ${st.File} during the run`);
        size = Number(st.Position);
        if (size >= targetBytes) finished = true;
      }
    })();
    const conns = await Promise.all(Array.from({ length: connections }, () => lab.connect(inst)));
    await Promise.all([
      poll,
      ...conns.map((c, w) => oltpLoop(c, { ...SHAPE, batchIdBase: 1_000_000 }, w, () => finished, counters)),
    ]);
    const runMs = Date.now() - runStart;
    await Promise.all(conns.map((c) => c.end()));
    await setup.query('FLUSH BINARY LOGS'); // closes the run file: a complete, clean binlog
    await setup.end();
    await copyFile(join(inst.datadir, runFile), out);
    const meta = {
      recordedAt: new Date().toISOString(),
      server: version,
      settings: serverSettings,
      workload: {
        tables: TABLES,
        rowsPerTable: TABLE_ROWS,
        connections,
        mix: 'BEGIN; UPDATE k=k+1 by id; UPDATE c by id; DELETE by id; INSERT; [every 10th: UPDATE k by 10-id range]; [every 50th: INSERT 20 rows, DELETE them]; COMMIT',
        ...counters,
      },
      binlogFile: runFile,
      bytes: size,
      runSeconds: runMs / 1000,
      totalSeconds: (Date.now() - started) / 1000,
    };
    await writeFile(`${out}.json`, `${JSON.stringify(meta, null, 2)}\n`);
    console.log(JSON.stringify(meta));
  } finally {
    await lab.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
