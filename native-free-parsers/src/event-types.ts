/**
 * Event type codes of binlog format v4, MySQL and MariaDB.
 * A code only means something together with the format description that precedes it
 * (see FormatDescription.typeMap for the pre-GA 5.1 renumbering).
 */
export const EventType = {
  UNKNOWN: 0,
  START_V3: 1,
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  INTVAR: 5,
  LOAD: 6,
  SLAVE: 7,
  CREATE_FILE: 8,
  APPEND_BLOCK: 9,
  EXEC_LOAD: 10,
  DELETE_FILE: 11,
  NEW_LOAD: 12,
  RAND: 13,
  USER_VAR: 14,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  BEGIN_LOAD_QUERY: 17,
  EXECUTE_LOAD_QUERY: 18,
  TABLE_MAP: 19,
  PRE_GA_WRITE_ROWS: 20,
  PRE_GA_UPDATE_ROWS: 21,
  PRE_GA_DELETE_ROWS: 22,
  WRITE_ROWS_V1: 23,
  UPDATE_ROWS_V1: 24,
  DELETE_ROWS_V1: 25,
  INCIDENT: 26,
  HEARTBEAT: 27,
  IGNORABLE: 28,
  ROWS_QUERY: 29,
  WRITE_ROWS: 30,
  UPDATE_ROWS: 31,
  DELETE_ROWS: 32,
  GTID: 33,
  ANONYMOUS_GTID: 34,
  PREVIOUS_GTIDS: 35,
  TRANSACTION_CONTEXT: 36,
  VIEW_CHANGE: 37,
  XA_PREPARE: 38,
  PARTIAL_UPDATE_ROWS: 39,
  TRANSACTION_PAYLOAD: 40,
  HEARTBEAT_V2: 41,
  GTID_TAGGED: 42,
  LARGE_TRANSACTION_HEADER: 43,
  MARIADB_ANNOTATE_ROWS: 160,
  MARIADB_BINLOG_CHECKPOINT: 161,
  MARIADB_GTID: 162,
  MARIADB_GTID_LIST: 163,
  MARIADB_START_ENCRYPTION: 164,
  MARIADB_QUERY_COMPRESSED: 165,
  MARIADB_WRITE_ROWS_COMPRESSED_V1: 166,
  MARIADB_UPDATE_ROWS_COMPRESSED_V1: 167,
  MARIADB_DELETE_ROWS_COMPRESSED_V1: 168,
  MARIADB_WRITE_ROWS_COMPRESSED: 169,
  MARIADB_UPDATE_ROWS_COMPRESSED: 170,
  MARIADB_DELETE_ROWS_COMPRESSED: 171,
} as const;

export type EventTypeName = keyof typeof EventType;

const names: string[] = [];
for (const [name, code] of Object.entries(EventType)) names[code] = name;

/** Name for a type code; codes nobody documented come out as `UNKNOWN_<code>`. */
export function eventTypeName(code: number): string {
  return names[code] ?? `UNKNOWN_${code}`;
}

/** Common-header flags (16 bits at offset 17). */
export const EventFlag = {
  BINLOG_IN_USE: 0x0001,
  FORCED_ROTATE: 0x0002,
  THREAD_SPECIFIC: 0x0004,
  SUPPRESS_USE: 0x0008,
  UPDATE_TABLE_MAP_VERSION: 0x0010,
  ARTIFICIAL: 0x0020,
  RELAY_LOG: 0x0040,
  IGNORABLE: 0x0080,
  NO_FILTER: 0x0100,
  MTS_ISOLATE: 0x0200,
  SKIP_REPLICATION: 0x8000,
} as const;

export const ROWS_EVENT_TYPES: ReadonlySet<number> = new Set([
  EventType.PRE_GA_WRITE_ROWS,
  EventType.PRE_GA_UPDATE_ROWS,
  EventType.PRE_GA_DELETE_ROWS,
  EventType.WRITE_ROWS_V1,
  EventType.UPDATE_ROWS_V1,
  EventType.DELETE_ROWS_V1,
  EventType.WRITE_ROWS,
  EventType.UPDATE_ROWS,
  EventType.DELETE_ROWS,
  EventType.PARTIAL_UPDATE_ROWS,
  EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1,
  EventType.MARIADB_WRITE_ROWS_COMPRESSED,
  EventType.MARIADB_UPDATE_ROWS_COMPRESSED,
  EventType.MARIADB_DELETE_ROWS_COMPRESSED,
]);

export const HEADER_LENGTH = 19;
export const CHECKSUM_LENGTH = 4;
export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
/** MySQL's max_binlog_event size is 1 GiB; allow the header and row framing on top of that. */
export const MAX_EVENT_SIZE = 1024 * 1024 * 1024 + 64 * 1024;
