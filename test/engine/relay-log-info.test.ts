import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRelayLogInfo, relayBaseName, relayLogInfoFromRow } from '../../src/engine/relay-log-info.js';

describe('relay-log.info', () => {
  it('reads the file a real MariaDB 10.11 replica wrote (line count, leftovers after it)', () => {
    const info = parseRelayLogInfo(readFileSync('fixtures/mariadb-10.11/replica/relay-log.info', 'utf8'));
    expect(info).toEqual({
      relayLogFile: './relay-bin.000017',
      relayLogPos: 2694,
      masterLogFile: 'mariadb-bin.000005',
      masterLogPos: 2771,
    });
    expect(relayBaseName(info.relayLogFile)).toBe('relay-bin.000017');
  });

  it('reads MySQL 5.7/8.0 files with more lines, and pre-5.6 files without a count', () => {
    expect(parseRelayLogInfo('7\n./mysql-relay-bin.000016\n940\nmysql-bin.000008\n3613\n0\n0\n1\n')).toMatchObject({
      relayLogFile: './mysql-relay-bin.000016',
      relayLogPos: 940,
      masterLogPos: 3613,
    });
    expect(parseRelayLogInfo('./relay.000003\n251\nmysql-bin.000001\n98\n')).toMatchObject({
      relayLogFile: './relay.000003',
      masterLogFile: 'mysql-bin.000001',
    });
  });

  it('reads a mysql.slave_relay_log_info row, and refuses garbage', () => {
    expect(
      relayLogInfoFromRow({
        Relay_log_name: './r.000002',
        Relay_log_pos: '4',
        Master_log_name: 'b.000001',
        Master_log_pos: 120,
      }),
    ).toEqual({ relayLogFile: './r.000002', relayLogPos: 4, masterLogFile: 'b.000001', masterLogPos: 120 });
    expect(() => parseRelayLogInfo('hello')).toThrow(/not a relay-log.info/);
  });
});
