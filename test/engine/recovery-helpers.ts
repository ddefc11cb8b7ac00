import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MariadbGtidList } from '@mha-ts/native-free-parsers';
import { parseIndexFile } from '../../src/engine/log-files.js';
import type { DeadMasterBinlogs, RelayLogSet, ReplicaPositions } from '../../src/engine/recovery-plan.js';
import { LocalFileAccess } from '../../src/remote/file-access.js';
import type { LabInstance, MariaDbLab } from '../lab/mariadb-lab.js';

const access = new LocalFileAccess();

export async function positionsOf(lab: MariaDbLab, inst: LabInstance): Promise<ReplicaPositions> {
  const s = await lab.slaveStatus(inst);
  if (!s) throw new Error(`${inst.name} is not a replica`);
  return {
    read: { file: String(s.Master_Log_File), pos: Number(s.Read_Master_Log_Pos) },
    exec: { file: String(s.Relay_Master_Log_File), pos: Number(s.Exec_Master_Log_Pos) },
    relayFile: String(s.Relay_Log_File),
    relayPos: Number(s.Relay_Log_Pos),
  };
}

export function relayLogsOf(inst: LabInstance): RelayLogSet {
  const files = parseIndexFile(readFileSync(join(inst.datadir, 'relay-bin.index'), 'utf8'));
  return { access, dir: inst.datadir, files };
}

export function binlogsOf(inst: LabInstance): DeadMasterBinlogs {
  const files = parseIndexFile(readFileSync(join(inst.datadir, 'mariadb-bin.index'), 'utf8'));
  return { access, dir: inst.datadir, files };
}

/** What a MariaDB server has executed, as GTIDs: its own binlog and what its SQL thread applied. */
export async function executedOf(lab: MariaDbLab, inst: LabInstance): Promise<MariadbGtidList> {
  const [row] = await lab.query(inst, 'SELECT @@gtid_slave_pos AS s, @@gtid_binlog_pos AS b');
  return MariadbGtidList.parse(String(row.s ?? '')).union(MariadbGtidList.parse(String(row.b ?? '')));
}

export async function checksums(lab: MariaDbLab, inst: LabInstance, tables: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables) {
    const [row] = await lab.query(inst, `CHECKSUM TABLE ${t} EXTENDED`);
    out[t] = String(row.Checksum);
  }
  return out;
}

/** Wait until the SQL thread has applied everything the I/O thread wrote, then stop replication. */
export async function drainAndStop(lab: MariaDbLab, inst: LabInstance, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 3000; i++) {
    const s = await lab.slaveStatus(inst);
    if (!s) throw new Error(`${inst.name}: not a replica`);
    if (s.Slave_SQL_Running !== 'Yes' && s.Last_SQL_Errno && Number(s.Last_SQL_Errno) !== 0) {
      throw new Error(`${inst.name}: SQL thread error ${s.Last_SQL_Errno}: ${s.Last_SQL_Error}`);
    }
    if (
      s.Relay_Master_Log_File === s.Master_Log_File &&
      Number(s.Exec_Master_Log_Pos) === Number(s.Read_Master_Log_Pos)
    )
      break;
    if (Date.now() > deadline) throw new Error(`${inst.name}: SQL thread did not catch up in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await lab.query(inst, 'STOP SLAVE');
}

export async function waitIoStopped(lab: MariaDbLab, inst: LabInstance): Promise<void> {
  await lab.query(inst, 'STOP SLAVE IO_THREAD');
  for (let i = 0; i < 500; i++) {
    const s = await lab.slaveStatus(inst);
    if (s?.Slave_IO_Running === 'No') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${inst.name}: I/O thread did not stop`);
}
