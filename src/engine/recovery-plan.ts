import type { FileAccess } from '../remote/file-access.js';
import type { DiffPiece } from './concatenate.js';
import { binlogTail, relayTail } from './log-sources.js';
import { findRelayLogPosition, type MasterPosition } from './relay-position-finder.js';

/** A replica's relay logs, wherever they are. */
export interface RelayLogSet {
  access: FileAccess;
  dir: string;
  /** Relay file base names, numeric order. */
  files: string[];
}

/** What SHOW SLAVE STATUS says about a replica's two threads. */
export interface ReplicaPositions {
  /** I/O thread: how far it has read the master's binlog (Master_Log_File / Read_Master_Log_Pos). */
  read: MasterPosition;
  /** SQL thread: how far it has applied, in master coordinates (Relay_Master_Log_File / Exec_Master_Log_Pos). */
  exec: MasterPosition;
  /** SQL thread, in relay coordinates (Relay_Log_File / Relay_Log_Pos). */
  relayFile: string;
  relayPos: number;
}

export interface DeadMasterBinlogs {
  access: FileAccess;
  dir: string;
  /** The master's binlog files from the start file on, numeric order. */
  files: string[];
  /**
   * The files were already cut at the latest replica's position (a saved tail, as
   * save_binary_logs writes it): read them whole instead of from that position.
   */
  savedFrom?: MasterPosition;
}

export interface RecoveryPlan {
  pieces: DiffPiece[];
  /** What each piece covers, for logs and reports. */
  notes: string[];
}

export class RecoveryPlanError extends Error {}

const samePosition = (a: MasterPosition, b: MasterPosition) => a.file === b.file && a.pos === b.pos;

/**
 * The pieces a lagging replica needs to catch up with the latest one and with the dead
 * master, in the order they must be applied (MHA §3.10): what it received but did not
 * apply (its own relay logs, exec→read), what only the latest replica received (the
 * latest's relay logs, read→latest), and what only the dead master's binlog still holds.
 */
export async function planRecovery(opts: {
  target: { positions: ReplicaPositions; relayLogs: RelayLogSet };
  /** The most advanced replica (omit when the target is the most advanced). */
  latest?: { positions: ReplicaPositions; relayLogs: RelayLogSet };
  /** The dead master's binlogs, when its host is reachable. */
  master?: DeadMasterBinlogs;
}): Promise<RecoveryPlan> {
  const { target, latest, master } = opts;
  const pieces: DiffPiece[] = [];
  const notes: string[] = [];
  const t = target.positions;

  if (!samePosition(t.exec, t.read)) {
    const files = target.relayLogs.files.slice(target.relayLogs.files.indexOf(t.relayFile));
    if (files.length === 0)
      throw new RecoveryPlanError(`relay log ${t.relayFile} of the target is not in its relay log set`);
    pieces.push({
      kind: 'exec-to-read',
      events: relayTail({ access: target.relayLogs.access, dir: target.relayLogs.dir, files, offset: t.relayPos }),
    });
    notes.push(`exec→read: own relay logs from ${t.relayFile}:${t.relayPos} (master ${fmt(t.exec)} → ${fmt(t.read)})`);
  }

  let masterFrom = t.read;
  if (latest && !samePosition(latest.positions.read, t.read)) {
    const found = await findRelayLogPosition({
      access: latest.relayLogs.access,
      relayDir: latest.relayLogs.dir,
      relayFiles: latest.relayLogs.files,
      target: t.read,
      latest: latest.positions.read,
    });
    if (found.status === 'not-found') {
      throw new RecoveryPlanError(
        `the latest replica's relay logs do not reach back to ${fmt(t.read)}: ${found.reason}`,
      );
    }
    if (found.status === 'found') {
      const files = latest.relayLogs.files.slice(latest.relayLogs.files.indexOf(found.relayFile));
      pieces.push({
        kind: 'read-to-latest',
        events: relayTail({ access: latest.relayLogs.access, dir: latest.relayLogs.dir, files, offset: found.offset }),
      });
      notes.push(
        `read→latest: latest's relay logs from ${found.relayFile}:${found.offset} (${found.method}, ${found.bytesRead} bytes read to find it)`,
      );
    }
    masterFrom = latest.positions.read;
  }

  if (master?.savedFrom) {
    if (master.savedFrom.file !== masterFrom.file || master.savedFrom.pos !== masterFrom.pos) {
      throw new RecoveryPlanError(
        `the saved master binlog starts at ${fmt(master.savedFrom)}, not at ${fmt(masterFrom)}`,
      );
    }
    pieces.push({
      kind: 'master-tail',
      events: binlogTail({ access: master.access, dir: master.dir, files: master.files, startPos: 4 }),
    });
    notes.push(`master tail: dead master's binlog from ${fmt(masterFrom)} (saved copy)`);
  } else if (master) {
    const start = master.files.indexOf(masterFrom.file);
    if (start < 0) throw new RecoveryPlanError(`the dead master's binlog ${masterFrom.file} is not available`);
    pieces.push({
      kind: 'master-tail',
      events: binlogTail({
        access: master.access,
        dir: master.dir,
        files: master.files.slice(start),
        startPos: masterFrom.pos,
      }),
    });
    notes.push(`master tail: dead master's binlog from ${fmt(masterFrom)}`);
  }
  return { pieces, notes };
}

function fmt(p: MasterPosition): string {
  return `${p.file}:${p.pos}`;
}
