import { EventDecodeError } from '../cursor.js';
import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';
import { makeXid, type XaXid } from './xa-prepare.js';

/** Gtid_log_event flags2 (MariaDB `log_event.h`). */
export const MariadbGtidFlag = {
  STANDALONE: 1,
  GROUP_COMMIT_ID: 2,
  TRANSACTIONAL: 4,
  ALLOW_PARALLEL: 8,
  WAITED: 16,
  DDL: 32,
  PREPARED_XA: 64,
  COMPLETED_XA: 128,
} as const;

/** Gtid_log_event flags_extra (MariaDB 10.5+; THREAD_ID in 11.x). */
export const MariadbGtidExtraFlag = {
  MULTI_ENGINE: 0x01,
  START_ALTER: 0x02,
  COMMIT_ALTER: 0x04,
  ROLLBACK_ALTER: 0x08,
  THREAD_ID: 0x10,
} as const;

export interface MariadbGtidData {
  /** `domain-server-seq`, server from the event header. */
  gtid: string;
  domain: number;
  serverId: number;
  seq: bigint;
  flags: number;
  /** No COMMIT/XID follows: DDL or a non-transactional statement. */
  standalone: boolean;
  groupCommit: boolean;
  transactional: boolean;
  allowParallel: boolean;
  waited: boolean;
  ddl: boolean;
  preparedXa: boolean;
  completedXa: boolean;
  /** Group-commit id (FL_GROUP_COMMIT_ID). */
  commitId?: bigint;
  /** XA id (FL_PREPARED_XA / FL_COMPLETED_XA). */
  xid?: XaXid;
  /** flags_extra byte, when the event has one (a zero pad byte reads as 0). */
  flagsExtra?: number;
  /** Number of additional engines in a multi-engine transaction. */
  extraEngines?: number;
  /** COMMIT/ROLLBACK ALTER: seq_no of the START ALTER. */
  startAlterSeqNo?: bigint;
  /** MariaDB 11.x: id of the connection that ran the transaction (as in its QUERY events). */
  threadId?: number;
  /** Bytes left after everything the flags announce, unless they are all zero padding. */
  extra?: Buffer;
}

registerDecoder(EventType.MARIADB_GTID, (body, ctx): MariadbGtidData => {
  const seq = body.u64();
  const domain = body.u32();
  const flags = body.u8();
  const serverId = ctx.serverId;
  const has = (f: number) => (flags & f) !== 0;
  const out: MariadbGtidData = {
    gtid: `${domain}-${serverId}-${seq}`,
    domain,
    serverId,
    seq,
    flags,
    standalone: has(MariadbGtidFlag.STANDALONE),
    groupCommit: has(MariadbGtidFlag.GROUP_COMMIT_ID),
    transactional: has(MariadbGtidFlag.TRANSACTIONAL),
    allowParallel: has(MariadbGtidFlag.ALLOW_PARALLEL),
    waited: has(MariadbGtidFlag.WAITED),
    ddl: has(MariadbGtidFlag.DDL),
    preparedXa: has(MariadbGtidFlag.PREPARED_XA),
    completedXa: has(MariadbGtidFlag.COMPLETED_XA),
  };
  if (out.groupCommit) out.commitId = body.u64();
  if (out.preparedXa || out.completedXa) {
    const formatId = body.i32();
    const gtridLen = body.u8();
    const bqualLen = body.u8();
    if (gtridLen + bqualLen > 128) {
      throw new EventDecodeError(`MariaDB GTID xid of ${gtridLen}+${bqualLen} bytes exceeds 128`);
    }
    out.xid = makeXid(formatId, body.bytes(gtridLen), body.bytes(bqualLen));
  }
  // What follows is parsed by flags, never by size: older servers pad the event to 19
  // bytes with zeros, which reads as flags_extra = 0.
  if (body.remaining > 0) {
    const fx = body.u8();
    out.flagsExtra = fx;
    if (fx & MariadbGtidExtraFlag.MULTI_ENGINE) out.extraEngines = body.u8();
    if (fx & (MariadbGtidExtraFlag.COMMIT_ALTER | MariadbGtidExtraFlag.ROLLBACK_ALTER)) {
      out.startAlterSeqNo = body.u64();
    }
    if (fx & MariadbGtidExtraFlag.THREAD_ID) out.threadId = body.u32();
    const rest = body.rest();
    if (rest.some((b) => b !== 0)) out.extra = rest;
  }
  return out;
});
