import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** MariaDB: the oldest binlog file XA crash recovery may still need. */
export interface BinlogCheckpointData {
  binlogFile: string;
}

registerDecoder(
  EventType.MARIADB_BINLOG_CHECKPOINT,
  (body): BinlogCheckpointData => ({
    binlogFile: body.str(body.u32()),
  }),
);
