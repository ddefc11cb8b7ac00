/**
 * `BINLOG '<base64>'` statements, the form in which mysqlbinlog hands row events to a
 * server: the server decodes the base64 back into events and applies them. A session
 * first needs the format description (so the server knows post-header lengths and
 * checksums), then each table map together with its rows events.
 */
export function binlogStatement(events: Buffer[]): string {
  const b64 = Buffer.concat(events).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return `BINLOG '\n${lines.join('\n')}\n'`;
}
