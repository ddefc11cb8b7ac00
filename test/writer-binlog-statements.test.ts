/**
 * The writer against a real server: the recorded MariaDB 10.11 row workload
 * (fixtures/rows-mariadb-10.11: every column type, FULL/NO_LOG metadata, MINIMAL and
 * NOBLOB images, compressed rows events, old-format "hires" temporal columns) is
 * re-applied to a fresh MariaDB through BINLOG statements built by the writer — every
 * TABLE_MAP and rows event encoded again from its decoded values, grouped with
 * binlogStatementsFor, sent over mysql2. No mysql client, no mysqlbinlog. After each
 * file, CHECKSUM TABLE of every table equals the source server's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  applyColumnOverrides,
  type BinlogEvent,
  BinlogParser,
  binlogStatementsFor,
  type ColumnOverride,
  EventType,
  isRowsStatementEvent,
  reencodeEvent,
  type StatementEventLike,
  type TableMapData,
} from '@mha-ts/native-free-parsers';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MariaDbLab, mariadbAvailable, startLab } from './lab/mariadb-lab.js';

const DIR = fileURLToPath(new URL('../fixtures/rows-mariadb-10.11/', import.meta.url));

interface Manifest {
  server: string;
  setupChecksums: Record<string, number>;
  tables: { name: string; create: string; globals?: Record<string, string> }[];
  files: { file: string; what: string; checksumsAfter: Record<string, number> }[];
}
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as Manifest;

/**
 * Fractional-seconds precision of old-format ("hires") temporal columns, which the binlog
 * does not carry: read from the recorded CREATE TABLE (`time(3) /* mariadb-5.3 *\/`).
 */
function hiresOverrides(create: string): Record<number, ColumnOverride> {
  const out: Record<number, ColumnOverride> = {};
  const columns = create.split('\n').filter((l) => /^\s+`/.test(l));
  columns.forEach((line, i) => {
    const m = /^\s+`[^`]+` (?:time|datetime|timestamp)\((\d)\) \/\* mariadb-5\.3 \*\//.exec(line);
    if (m) out[i + 1] = { fsp: Number(m[1]) };
  });
  return out;
}
const OVERRIDES = new Map(
  manifest.tables.map((t) => [t.name, hiresOverrides(t.create)] as const).filter(([, o]) => Object.keys(o).length > 0),
);

/** The file's events; table maps of hires tables completed from the recorded schema. */
function readFile(file: string): BinlogEvent[] {
  const parser = new BinlogParser({ file });
  const events: BinlogEvent[] = [];
  parser.push(readFileSync(join(DIR, file)), (e) => {
    if (e.typeCode === EventType.TABLE_MAP) {
      const map = e.data as TableMapData;
      const o = OVERRIDES.get(`${map.database}.${map.table}`);
      if (o && !map.notes.includes('columns completed from an external schema')) applyColumnOverrides(map, o);
    }
    events.push(e);
  });
  parser.end();
  return events;
}

/**
 * The statements for one file, from events the writer encoded again: the format
 * description and every TABLE_MAP and rows event are rebuilt from their decoded data
 * (rows from their decoded values); the original bytes are not used.
 */
function statementsFor(events: BinlogEvent[]): { sql: string[]; reencoded: number; identical: number } {
  let reencoded = 0;
  let identical = 0;
  const rebuilt: StatementEventLike[] = [];
  for (const e of events) {
    if (e.typeCode !== EventType.FORMAT_DESCRIPTION && !isRowsStatementEvent(e.typeCode)) continue;
    const raw = reencodeEvent(e);
    reencoded++;
    if (raw.equals(e.raw)) identical++;
    rebuilt.push({ raw, typeCode: e.typeCode, fd: e.fd });
  }
  return { sql: binlogStatementsFor(rebuilt).map((s) => s.sql), reencoded, identical };
}

describe.skipIf(!mariadbAvailable())('BINLOG statements from re-encoded events on a real MariaDB 10.11', () => {
  let lab: MariaDbLab | undefined;
  let conn: Connection;
  const created = new Set<string>();

  const checksums = async (): Promise<Record<string, number>> => {
    const [rows] = await conn.query(`CHECKSUM TABLE ${[...created].sort().join(', ')}`);
    return Object.fromEntries(
      (rows as { Table: string; Checksum: number }[]).map((r) => [r.Table, Number(r.Checksum)]),
    );
  };

  beforeAll(async () => {
    lab = await startLab([{ name: 'target' }]);
    conn = await lab.connect('target');
    await conn.query('CREATE DATABASE rt');
    await conn.query('USE rt');
    // The tables as the source had them (created directly: the binlogs hold rows only).
    for (const t of manifest.tables) {
      const globals = Object.entries(t.globals ?? {});
      const saved: [string, unknown][] = [];
      for (const [k, v] of globals) {
        const [[row]] = (await conn.query(`SELECT @@GLOBAL.${k} AS v`)) as unknown as [{ v: unknown }[]];
        saved.push([k, row.v]);
        await conn.query(`SET GLOBAL ${k} = ${v}`);
      }
      try {
        await conn.query(t.create);
      } finally {
        for (const [k, v] of saved) await conn.query(`SET GLOBAL ${k} = ?`, [v]);
      }
      created.add(t.name);
    }
  });

  afterAll(async () => {
    await conn?.end().catch(() => undefined);
    await lab?.close();
  });

  it('starts from the source state before the workload', async () => {
    const sums = await checksums();
    for (const [table, sum] of Object.entries(manifest.setupChecksums)) expect(sums[table], table).toBe(sum);
  });

  // In recording order: each file's rows continue from the state the previous ones left.
  for (const f of manifest.files) {
    it(`${f.file}: ${f.what}`, async () => {
      const events = readFile(f.file);
      const { sql, reencoded, identical } = statementsFor(events);
      expect(sql.length).toBeGreaterThan(1);
      expect(sql[0]).toMatch(/^BINLOG '/);
      for (const s of sql) await conn.query(s);
      const sums = await checksums();
      for (const [table, sum] of Object.entries(f.checksumsAfter)) expect(sums[table], `${f.file}: ${table}`).toBe(sum);
      console.log(
        `${f.file}: ${sql.length} BINLOG statements from ${reencoded} re-encoded events (${identical} byte-identical to the source); CHECKSUM TABLE matches for ${Object.keys(f.checksumsAfter).join(', ')}`,
      );
    });
  }
});
