import type { RotateData } from './decoders/rotate.js';
import type { BinlogEvent } from './event.js';
import { EventFlag, EventType } from './event-types.js';

/** Where a relay-log event came from and which master position it stands for. */
export interface RelayEventOrigin {
  /**
   * 'replica' for events the replica wrote about its own relay file (its format
   * description, its rotate to the next relay file, STOP, its own GTID bookkeeping);
   * 'master' for everything received from the master, including the fake rotate.
   */
  writtenBy: 'replica' | 'master';
  /** Master binlog file this event belongs to (null before the first master rotate). */
  masterFile: string | null;
  /**
   * Master position just after this event (the event's end_log_pos; for a fake rotate, the
   * position it announces). null for replica-written events before any master position.
   */
  masterEndPos: number | null;
}

/**
 * Follows a relay log and maps each event to master coordinates. A relay log interleaves
 * the replica's own bookkeeping with verbatim master events whose end_log_pos is a master
 * offset; which master file they belong to is only told by rotate events (the fake one the
 * master sends when a dump starts, the real one when the master switches files).
 *
 * Feed every event of the relay files in order, across files; call `startRelayFile`
 * before the first event of each file when they are read separately.
 */
export class RelayLogTracker {
  private replicaServerId: number | null = null;
  private expectReplicaFde = true;
  masterFile: string | null = null;
  /** Last master end position seen (the master position up to which this relay data reaches). */
  masterPos: number | null = null;

  constructor(init: { masterFile?: string | null; masterPos?: number | null; replicaServerId?: number } = {}) {
    this.masterFile = init.masterFile ?? null;
    this.masterPos = init.masterPos ?? null;
    this.replicaServerId = init.replicaServerId ?? null;
  }

  /** The next event is the first of a relay file (its own format description). */
  startRelayFile(): void {
    this.expectReplicaFde = true;
  }

  /** The replica's server id, learned from the first relay format description. */
  get replicaId(): number | null {
    return this.replicaServerId;
  }

  observe(event: BinlogEvent): RelayEventOrigin {
    const type = event.typeCode;
    const flags = event.flags;
    if (event.inPayload) {
      return { writtenBy: 'master', masterFile: this.masterFile, masterEndPos: this.masterPos };
    }
    if (type === EventType.FORMAT_DESCRIPTION && (this.expectReplicaFde || event.offset === 4)) {
      this.expectReplicaFde = false;
      this.replicaServerId = event.serverId;
      return this.replica();
    }
    this.expectReplicaFde = false;
    if (flags & EventFlag.RELAY_LOG) return this.replica();
    if (type === EventType.ROTATE) return this.rotate(event, event.data as RotateData);
    const own = event.serverId === this.replicaServerId;
    if (
      own &&
      (type === EventType.STOP ||
        type === EventType.MARIADB_GTID_LIST ||
        type === EventType.MARIADB_BINLOG_CHECKPOINT ||
        type === EventType.PREVIOUS_GTIDS)
    ) {
      return this.replica();
    }
    const end = event.endLogPos;
    if (end > 0) this.masterPos = end;
    return { writtenBy: 'master', masterFile: this.masterFile, masterEndPos: end > 0 ? end : this.masterPos };
  }

  private replica(): RelayEventOrigin {
    return { writtenBy: 'replica', masterFile: this.masterFile, masterEndPos: this.masterPos };
  }

  private rotate(event: BinlogEvent, r: RotateData): RelayEventOrigin {
    const artificial = (event.flags & EventFlag.ARTIFICIAL) !== 0 || event.endLogPos === 0;
    if (artificial) {
      // The master announcing where the following events come from.
      this.masterFile = r.nextFile;
      this.masterPos = r.position;
      return { writtenBy: 'master', masterFile: this.masterFile, masterEndPos: this.masterPos };
    }
    if (event.serverId === this.replicaServerId) {
      // The replica closing this relay file; master coordinates carry over.
      this.expectReplicaFde = true;
      return this.replica();
    }
    // The master switched binlog files: this event ends the old one.
    const origin: RelayEventOrigin = {
      writtenBy: 'master',
      masterFile: this.masterFile,
      masterEndPos: event.endLogPos,
    };
    this.masterFile = r.nextFile;
    this.masterPos = r.position;
    return origin;
  }
}
