import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One event as mariadb-binlog lists it. */
export interface ListedEvent {
  offset: number;
  serverId: number;
  endLogPos: number;
  type: string;
}

/** mariadb-binlog's event descriptions → our type names. */
const NAMES: [RegExp, string][] = [
  [/^Start: binlog v 4/, 'FORMAT_DESCRIPTION'],
  [/^Gtid list/, 'MARIADB_GTID_LIST'],
  [/^Binlog checkpoint/, 'MARIADB_BINLOG_CHECKPOINT'],
  [/^GTID /, 'MARIADB_GTID'],
  [/^Query/, 'QUERY'],
  [/^XID = X'/, 'XA_PREPARE'],
  [/^Xid/, 'XID'],
  [/^Rotate/, 'ROTATE'],
  [/^Stop/, 'STOP'],
  [/^Table_map:/, 'TABLE_MAP'],
  [/^Write_rows(_v1)?:/, 'WRITE_ROWS_V1'],
  [/^Update_rows(_v1)?:/, 'UPDATE_ROWS_V1'],
  [/^Delete_rows(_v1)?:/, 'DELETE_ROWS_V1'],
  [/^Write_compressed_rows/, 'MARIADB_WRITE_ROWS_COMPRESSED_V1'],
  [/^Update_compressed_rows/, 'MARIADB_UPDATE_ROWS_COMPRESSED_V1'],
  [/^Delete_compressed_rows/, 'MARIADB_DELETE_ROWS_COMPRESSED_V1'],
  [/^Annotate_rows:/, 'MARIADB_ANNOTATE_ROWS'],
  [/^Intvar/, 'INTVAR'],
  [/^User_var/, 'USER_VAR'],
  [/^Rand/, 'RAND'],
  [/^Begin_load_query/, 'BEGIN_LOAD_QUERY'],
  // mariadb-binlog 10.11 prints Begin_load_query events with an empty description.
  [/^$/, 'BEGIN_LOAD_QUERY'],
  [/^Append_block/, 'APPEND_BLOCK'],
  [/^Execute_load_query/, 'EXECUTE_LOAD_QUERY'],
  [/^Delete_file/, 'DELETE_FILE'],
  [/^Incident/, 'INCIDENT'],
  [/^XA PREPARE/, 'XA_PREPARE'],
];

export function mariadbBinlogAvailable(): boolean {
  try {
    execFileSync('mariadb-binlog', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Run mariadb-binlog with its LOAD DATA scratch files in a private directory: by default
 * it writes them to /tmp under fixed names and fails when another run left one there.
 */
export function runMariadbBinlog(args: string[]): string {
  const scratch = mkdtempSync(join(tmpdir(), 'mha-mbl-'));
  try {
    return execFileSync('mariadb-binlog', ['--no-defaults', `--local-load=${scratch}`, ...args], {
      encoding: 'latin1',
      maxBuffer: 1 << 30,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Run mariadb-binlog on a file and collect (offset, server id, end_log_pos, type) per event. */
export function listWithMariadbBinlog(file: string): ListedEvent[] {
  const text = runMariadbBinlog(['--base64-output=decode-rows', file]);
  const out: ListedEvent[] = [];
  // mariadb-binlog prints "# at" for an annotate/table-map pair before both headers, so
  // offsets queue up and each header line takes the oldest.
  const pending: number[] = [];
  for (const line of text.split('\n')) {
    const at = /^# at (\d+)$/.exec(line);
    if (at) {
      pending.push(Number(at[1]));
      continue;
    }
    const head = /^#\d{6} +\d+:\d\d:\d\d server id (\d+) +end_log_pos (\d+)(?: CRC32 0x[0-9a-f]+)?\s+(.*)$/.exec(line);
    if (!head || pending.length === 0) continue;
    const desc = head[3];
    const name = NAMES.find(([re]) => re.test(desc))?.[1] ?? `?${desc.split(/\s/)[0]}`;
    out.push({ offset: pending.shift()!, serverId: Number(head[1]), endLogPos: Number(head[2]), type: name });
  }
  return out;
}
