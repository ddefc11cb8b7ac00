/** What relay-log.info (or MySQL's mysql.slave_relay_log_info) says about the applier. */
export interface RelayLogInfo {
  /** Relay file the SQL thread is in (as written: may carry a ./ or a directory). */
  relayLogFile: string;
  relayLogPos: number;
  /** The master coordinates of the same point (Relay_Master_Log_File / Exec_Master_Log_Pos). */
  masterLogFile: string;
  masterLogPos: number;
}

/**
 * Both file formats: MySQL ≥ 5.6 and MariaDB ≥ 10.0 start with the number of lines that
 * follow; older servers wrote four bare lines. Servers rewrite the file in place without
 * truncating it, so lines beyond the count are leftovers and are ignored.
 */
export function parseRelayLogInfo(text: string, source = 'relay-log.info'): RelayLogInfo {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  let fields: string[];
  if (/^\d+$/.test(lines[0] ?? '') && lines.length >= 5 && !/^\d+$/.test(lines[1] ?? '')) {
    const count = Number(lines[0]);
    fields = lines.slice(1, Math.max(count, 5));
  } else {
    fields = lines.slice(0, 4);
  }
  const [relayLogFile, relayPos, masterLogFile, masterPos] = fields;
  const relayLogPos = Number(relayPos);
  const masterLogPos = Number(masterPos);
  if (!relayLogFile || !Number.isSafeInteger(relayLogPos) || !masterLogFile || !Number.isSafeInteger(masterLogPos)) {
    throw new Error(`${source}: not a relay-log.info (expected relay file, position, master file, position)`);
  }
  return { relayLogFile, relayLogPos, masterLogFile, masterLogPos };
}

/** The same from a mysql.slave_relay_log_info row (MySQL's TABLE repository). */
export function relayLogInfoFromRow(row: Record<string, unknown>): RelayLogInfo {
  return {
    relayLogFile: String(row.Relay_log_name),
    relayLogPos: Number(row.Relay_log_pos),
    masterLogFile: String(row.Master_log_name),
    masterLogPos: Number(row.Master_log_pos),
  };
}

/** The base name of a relay file as relay-log.info writes it (`./relay-bin.000017`). */
export function relayBaseName(path: string): string {
  return path.replace(/^.*\//, '');
}
