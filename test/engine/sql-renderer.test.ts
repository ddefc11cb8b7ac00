import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// Through the package name (vitest aliases it to the sources), so the events have the
// same type as the ones src/engine is compiled against.
import { type BinlogEvent, buildEvent, EventFlag, EventType, parseBuffer } from '@mha-ts/native-free-parsers';
import { afterAll, describe, expect, it } from 'vitest';
import {
  formatStatement,
  type RenderedStatement,
  renderEvents,
  SqlRenderError,
  SqlRenderer,
} from '../../src/engine/sql-renderer.js';
import { FIXTURE_ROOT, materializeFixtureDir } from '../fixture-dirs.js';

const FILE1 = join(FIXTURE_ROOT, 'mariadb-10.11/master/mariadb-bin.000001');
/** The fixture master's format description (MariaDB 10.11, CRC32). */
const FDE = readFileSync(FILE1).subarray(4, 256);
const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const TS = 1_700_000_000;

interface QueryOpts {
  sql: string | Buffer;
  db?: string;
  threadId?: number;
  flags?: number;
  errorCode?: number;
  flags2?: number;
  sqlMode?: bigint;
  charset?: [number, number, number];
  timeZone?: string;
  lcTimeNames?: number;
  charsetDatabase?: number;
  hrnow?: number;
  autoInc?: [number, number];
}

function query(o: QueryOpts): Buffer {
  const status: Buffer[] = [];
  const u8 = (n: number) => Buffer.from([n]);
  const u16 = (n: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    return b;
  };
  if (o.flags2 !== undefined) {
    const b = Buffer.alloc(5);
    b[0] = 0;
    b.writeUInt32LE(o.flags2 >>> 0, 1);
    status.push(b);
  }
  if (o.sqlMode !== undefined) {
    const b = Buffer.alloc(9);
    b[0] = 1;
    b.writeBigUInt64LE(o.sqlMode, 1);
    status.push(b);
  }
  if (o.autoInc) status.push(u8(3), u16(o.autoInc[0]), u16(o.autoInc[1]));
  if (o.charset) status.push(u8(4), u16(o.charset[0]), u16(o.charset[1]), u16(o.charset[2]));
  if (o.timeZone !== undefined) status.push(u8(5), u8(o.timeZone.length), Buffer.from(o.timeZone));
  if (o.lcTimeNames !== undefined) status.push(u8(7), u16(o.lcTimeNames));
  if (o.charsetDatabase !== undefined) status.push(u8(8), u16(o.charsetDatabase));
  if (o.hrnow !== undefined) {
    const b = Buffer.alloc(4);
    b[0] = 128;
    b.writeUIntLE(o.hrnow, 1, 3);
    status.push(b);
  }
  const vars = Buffer.concat(status);
  const db = Buffer.from(o.db ?? '');
  const head = Buffer.alloc(13);
  head.writeUInt32LE(o.threadId ?? 10, 0);
  head.writeUInt32LE(0, 4);
  head[8] = db.length;
  head.writeUInt16LE(o.errorCode ?? 0, 9);
  head.writeUInt16LE(vars.length, 11);
  const sql = typeof o.sql === 'string' ? Buffer.from(o.sql) : o.sql;
  return buildEvent(EventType.QUERY, Buffer.concat([head, vars, db, Buffer.from([0]), sql]), {
    timestamp: TS,
    serverId: 1,
    flags: o.flags ?? 0,
    checksum: true,
  });
}

function intvar(type: number, value: bigint): Buffer {
  const b = Buffer.alloc(9);
  b[0] = type;
  b.writeBigUInt64LE(value, 1);
  return buildEvent(EventType.INTVAR, b, { timestamp: TS, serverId: 1, checksum: true });
}

function rand(seed1: bigint, seed2: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(seed1, 0);
  b.writeBigUInt64LE(seed2, 8);
  return buildEvent(EventType.RAND, b, { timestamp: TS, serverId: 1, checksum: true });
}

/** USER_VAR: null when value is null; flags byte (UNSIGNED = 1) appended when given. */
function userVar(name: string, type: number, charset: number, value: Buffer | null, flags?: number): Buffer {
  const n = Buffer.from(name);
  const parts: Buffer[] = [];
  const len = Buffer.alloc(4);
  len.writeUInt32LE(n.length);
  parts.push(len, n);
  if (value === null) {
    parts.push(Buffer.from([1]));
  } else {
    const h = Buffer.alloc(10);
    h[0] = 0;
    h[1] = type;
    h.writeUInt32LE(charset, 2);
    h.writeUInt32LE(value.length, 6);
    parts.push(h, value);
    if (flags !== undefined) parts.push(Buffer.from([flags]));
  }
  return buildEvent(EventType.USER_VAR, Buffer.concat(parts), { timestamp: TS, serverId: 1, checksum: true });
}

function xid(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return buildEvent(EventType.XID, b, { timestamp: TS, serverId: 1, checksum: true });
}

function events(...bodies: Buffer[]): BinlogEvent[] {
  return parseBuffer(Buffer.concat([MAGIC, FDE, ...bodies]), { file: '/logs/test-bin.000001' });
}

function render(...bodies: Buffer[]): RenderedStatement[] {
  return [...renderEvents(events(...bodies), { preamble: false })];
}

const sqls = (sts: RenderedStatement[]) => sts.map((s) => s.sql);

function le(n: number | bigint, bytes: number, signed = false): Buffer {
  const b = Buffer.alloc(8);
  if (signed) b.writeBigInt64LE(BigInt(n));
  else b.writeBigUInt64LE(BigInt(n));
  return b.subarray(0, bytes);
}

describe('SqlRenderer on hand-built events', () => {
  it('renders user variables of every type with introducers, collations and signedness', () => {
    const dbl = Buffer.alloc(8);
    dbl.writeDoubleLE(0.1);
    // DECIMAL(5,2) 123.45: precision, scale, then the binary decimal.
    const dec = Buffer.from([5, 2, 0x80, 0x7b, 0x2d]);
    const out = sqls(
      render(
        userVar('s', 0, 224, Buffer.from('héllo')),
        userVar('l', 0, 8, Buffer.from([0x63, 0x61, 0x66, 0xe9])),
        userVar('b', 0, 63, Buffer.from([0x00, 0xff])),
        userVar('i', 2, 63, le(-5, 8, true), 0),
        userVar('u', 2, 63, le(18446744073709551615n, 8), 1),
        userVar('r', 1, 63, dbl, 0),
        userVar('d', 4, 63, dec, 0),
        userVar('n', 0, 0, null),
        userVar('we`ird', 2, 63, le(1, 8), 0),
      ),
    );
    expect(out).toEqual([
      "SET @`s`:=_utf8mb4 X'68c3a96c6c6f' COLLATE `utf8mb4_unicode_ci`",
      "SET @`l`:=_latin1 X'636166e9' COLLATE `latin1_swedish_ci`",
      "SET @`b`:=_binary X'00ff' COLLATE `binary`",
      'SET @`i`:=-5',
      'SET @`u`:=18446744073709551615',
      'SET @`r`:=1e-1',
      'SET @`d`:=123.45',
      'SET @`n`:=NULL',
      'SET @`we``ird`:=1',
    ]);
  });

  it('fails on a user variable whose collation it cannot name', () => {
    expect(() => render(userVar('x', 0, 4000, Buffer.from('a')))).toThrow(SqlRenderError);
    expect(() => render(userVar('x', 0, 4000, Buffer.from('a')))).toThrow(/test-bin\.000001:\d+ .*collation id 4000/);
  });

  it('renders RAND seeds and INTVAR as mysqlbinlog does', () => {
    expect(sqls(render(rand(907638697n, 982585820n), intvar(2, 1000n), intvar(1, 4n)))).toEqual([
      'SET @@RAND_SEED1=907638697, @@RAND_SEED2=982585820',
      'SET INSERT_ID=1000',
      'SET LAST_INSERT_ID=4',
    ]);
  });

  it('emits session context only when it changes', () => {
    const base = { flags2: 1 << 24, sqlMode: 1411383304n, charset: [224, 224, 8] as [number, number, number] };
    const out = render(
      query({ ...base, sql: 'INSERT INTO t VALUES (1)', db: 'fx', timeZone: '+00:00' }),
      query({ ...base, sql: 'INSERT INTO t VALUES (2)', db: 'fx', timeZone: '+00:00' }),
      query({ ...base, sql: 'INSERT INTO t VALUES (3)', db: 'fx', timeZone: '+02:00', hrnow: 5 }),
      query({ ...base, sql: 'INSERT INTO t VALUES (4)', db: 'fx' }),
      query({
        ...base,
        flags2: (1 << 24) | (1 << 26),
        sqlMode: 0n,
        sql: 'INSERT INTO u VALUES (5)',
        db: 'other',
        lcTimeNames: 4,
        charsetDatabase: 8,
        charset: [8, 8, 8],
      }),
    );
    expect(sqls(out)).toEqual([
      'USE `fx`',
      `SET TIMESTAMP=${TS}`,
      'SET @@session.pseudo_thread_id=10',
      'SET @@session.foreign_key_checks=1, @@session.sql_auto_is_null=0, @@session.unique_checks=1, @@session.autocommit=1, ' +
        '@@session.check_constraint_checks=1, @@session.sql_if_exists=0, @@session.explicit_defaults_for_timestamp=1, ' +
        '@@session.system_versioning_insert_history=0',
      'SET @@session.sql_mode=1411383304',
      'SET @@session.auto_increment_increment=1, @@session.auto_increment_offset=1',
      'SET @@session.character_set_client=utf8mb4, @@session.collation_connection=224, @@session.collation_server=8',
      "SET @@session.time_zone='+00:00'",
      'SET @@session.lc_time_names=0',
      'SET @@session.collation_database=DEFAULT',
      'INSERT INTO t VALUES (1)',
      `SET TIMESTAMP=${TS}`,
      'INSERT INTO t VALUES (2)',
      `SET TIMESTAMP=${TS}.000005`,
      "SET @@session.time_zone='+02:00'",
      'INSERT INTO t VALUES (3)',
      `SET TIMESTAMP=${TS}`,
      'INSERT INTO t VALUES (4)',
      'USE `other`',
      `SET TIMESTAMP=${TS}`,
      'SET @@session.foreign_key_checks=0',
      'SET @@session.sql_mode=0',
      'SET @@session.character_set_client=latin1, @@session.collation_connection=8, @@session.collation_server=8',
      'SET @@session.lc_time_names=4',
      'SET @@session.collation_database=8',
      'INSERT INTO u VALUES (5)',
    ]);
    // Statements outside a transaction each complete one.
    expect(out.filter((s) => s.endsTransaction).map((s) => s.sql)).toHaveLength(5);
  });

  it('sets pseudo_thread_id again only for thread-specific statements of another thread', () => {
    const out = sqls(
      render(
        query({ sql: 'CREATE TEMPORARY TABLE tt (a INT)', threadId: 7, flags: EventFlag.THREAD_SPECIFIC }),
        query({ sql: 'INSERT INTO t VALUES (1)', threadId: 8 }),
        query({ sql: 'INSERT INTO tt VALUES (1)', threadId: 9, flags: EventFlag.THREAD_SPECIFIC }),
      ),
    ).filter((s) => s.includes('pseudo_thread_id'));
    expect(out).toEqual(['SET @@session.pseudo_thread_id=7', 'SET @@session.pseudo_thread_id=9']);
  });

  it('keeps the exact bytes of a statement that is not UTF-8', () => {
    const latin1 = Buffer.concat([Buffer.from("INSERT INTO t VALUES ('caf"), Buffer.from([0xe9]), Buffer.from("')")]);
    const st = render(query({ sql: latin1, charset: [8, 8, 8] })).find((s) => s.kind === 'query')!;
    expect(st.sqlBytes).toEqual(latin1);
    const ascii = render(query({ sql: 'SELECT 1' })).find((s) => s.kind === 'query')!;
    expect(ascii.sqlBytes).toBeUndefined();
  });

  it('tracks BEGIN … COMMIT, passes a source error along and rolls back an unfinished transaction', () => {
    const out = render(
      query({ sql: 'BEGIN' }),
      query({ sql: 'INSERT INTO t VALUES (1)', errorCode: 1062 }),
      xid(5n),
      query({ sql: 'BEGIN' }),
      query({ sql: 'INSERT INTO t VALUES (2)' }),
    );
    const stmts = out.filter((s) => s.kind !== 'context');
    expect(stmts.map((s) => [s.sql, s.endsTransaction])).toEqual([
      ['BEGIN', false],
      ['INSERT INTO t VALUES (1)', false],
      ['COMMIT', true],
      ['BEGIN', false],
      ['INSERT INTO t VALUES (2)', false],
      ['ROLLBACK', false],
    ]);
    expect(stmts[1].expectedErrorCode).toBe(1062);
    expect(stmts.at(-1)?.kind).toBe('rollback');
  });

  it('starts the session with the preamble and sql_log_bin when asked', () => {
    const out = [...renderEvents(events(query({ sql: 'SELECT 1' })), { sqlLogBin: false })];
    expect(sqls(out).slice(0, 4)).toEqual([
      'SET @@session.pseudo_slave_mode=1',
      'SET @@session.max_delayed_threads=0',
      'SET @@session.completion_type=0',
      'SET @@session.sql_log_bin=0',
    ]);
  });
});

describe('SqlRenderer on the recorded MariaDB 10.11 binlogs', () => {
  const fx = materializeFixtureDir('mariadb-10.11/master');
  afterAll(() => fx.cleanup());
  const manifest = JSON.parse(readFileSync(join(FIXTURE_ROOT, 'mariadb-10.11/manifest.json'), 'utf8'));
  const file = (n: number) => join(fx.dir, `mariadb-bin.00000${n}`);
  const eventsOf = (n: number) => parseBuffer(readFileSync(file(n)), { file: file(n) });

  it('renders GTIDs, transactions, XA and row events like mariadb-binlog', () => {
    const out = [...renderEvents([...eventsOf(1), ...eventsOf(2)])];
    const text = out.map((s, i) => formatStatement(s, out[i - 1])).join('');
    expect(text).toContain(
      '# at mariadb-bin.000001:330\nSET @@session.skip_parallel_replication=0, @@session.gtid_domain_id=0, ' +
        '@@session.server_id=1, @@session.gtid_seq_no=1;\n',
    );
    expect(text).toContain('SET @@session.gtid_seq_no=13;\nSTART TRANSACTION;\n');
    expect(text).toContain('SET @@RAND_SEED1=907638697, @@RAND_SEED2=982585820;\n');
    expect(text).toContain("SET @`who`:=_utf8mb4 X'7661722d75736572' COLLATE `utf8mb4_unicode_ci`;\n");
    expect(text).toContain("XA START X'66782d78612d31',X'',1;\n");
    expect(text).toContain("XA PREPARE X'66782d78612d31',X'',1;\n");
    expect(text).toContain("XA ROLLBACK X'66782d78612d32',X'',1");
    // One format description, before the first BINLOG with rows.
    const formats = out.filter((s) => s.kind === 'format');
    expect(formats).toHaveLength(1);
    expect(formats[0].event).toMatchObject({ file: 'mariadb-bin.000001', offset: 4 });
    // Trigger step in ROW format: two table maps and two rows events in one BINLOG statement.
    const trg = out.find((s) => s.kind === 'rows' && s.event.file === 'mariadb-bin.000002' && s.event.offset === 5542)!;
    expect(trg.event.end).toBe(5736);
    expect(trg.comments).toEqual(['Q> INSERT INTO fx.t_trg VALUES (3, 30)']);
    const b64 = trg.sql.slice("BINLOG '\n".length, -2).replace(/\n/g, '');
    expect(Buffer.from(b64, 'base64')).toEqual(readFileSync(file(2)).subarray(5542, 5736));
  });

  it('rebuilds LOAD DATA as LOCAL INFILE with the logged file content', () => {
    const load = [...renderEvents(eventsOf(2))].find((s) => s.kind === 'load')!;
    expect(load.sql).toMatch(
      /^LOAD DATA LOCAL INFILE 'mha-load-mariadb-bin\.000002-4659-1' INTO TABLE `fx`\.`t_load` FIELDS TERMINATED BY ','/,
    );
    expect(load.localInfile?.toString()).toBe(manifest.loadDataFile.content);
    expect(load.event.gtid).toBe('0-1-43');
  });

  it('rolls back a transaction cut by the end of the input, and does not cut one across files', () => {
    const evs = eventsOf(1);
    const cut = evs.findIndex((e) => e.offset === 4449); // inside GTID 0-1-16
    const r = new SqlRenderer();
    for (const e of evs.slice(0, cut + 1)) r.push(e);
    expect(r.inTransaction).toBe(true);
    expect(r.finish().map((s) => s.sql)).toEqual(['ROLLBACK']);

    // Files 1 → 2: the second file's format description (not a restart) keeps the session going.
    const both = [...renderEvents([...evs, ...eventsOf(2)])];
    expect(both.filter((s) => s.kind === 'rollback')).toHaveLength(0);
  });
});
