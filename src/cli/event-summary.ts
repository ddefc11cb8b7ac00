import { type BinlogEvent, EventType, ROWS_EVENT_TYPES } from '@mha-ts/native-free-parsers';
import { toJsonValue } from './json-value.js';

type Data = Record<string, unknown>;

const clip = (s: string, n = 200) => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};

/** One human line describing an event, in the spirit of mysqlbinlog's listing. */
export function summarizeEvent(e: BinlogEvent): string {
  const t = e.typeCode;
  if (!e.known) return `${e.length - 19} bytes${e.flags & 0x80 ? ' (ignorable)' : ''}`;
  const d = e.data as Data;
  switch (t) {
    case EventType.FORMAT_DESCRIPTION:
      return `server v ${d.serverVersion}, binlog v ${d.binlogVersion}, checksum ${d.checksumAlgorithm}`;
    case EventType.ROTATE:
      return `${d.nextFile}:${d.position}`;
    case EventType.QUERY:
    case EventType.EXECUTE_LOAD_QUERY:
    case EventType.MARIADB_QUERY_COMPRESSED:
      return `${d.database ? `[${d.database}] ` : ''}${clip(String(d.sql ?? ''))}`;
    case EventType.XID:
      return `COMMIT /* xid=${d.xid} */`;
    case EventType.TABLE_MAP:
      return `table_id ${d.tableId} (${d.database}.${d.table})`;
    case EventType.GTID:
    case EventType.ANONYMOUS_GTID:
    case EventType.GTID_TAGGED:
    case EventType.MARIADB_GTID:
      return `GTID ${d.gtid}`;
    case EventType.PREVIOUS_GTIDS:
      return `[${d.gtidSet ?? ''}]`;
    case EventType.MARIADB_GTID_LIST:
      return `[${d.gtidList ?? ''}]`;
    case EventType.ROWS_QUERY:
    case EventType.MARIADB_ANNOTATE_ROWS:
      return clip(String(d.sql ?? d.query ?? ''));
  }
  if (ROWS_EVENT_TYPES.has(t)) {
    return `table_id ${d.tableId}${d.table ? ` (${d.table})` : ''}${d.stmtEnd ? ' flags STMT_END_F' : ''}`;
  }
  return clip(JSON.stringify(toJsonValue(d)), 160);
}
