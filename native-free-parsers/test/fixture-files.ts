import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export interface Fixture {
  /** Path relative to fixtures/. */
  name: string;
  path: string;
  bytes: () => Buffer;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const isLog = (p: string) =>
  !/\.(md|json|info|index|txt|ts|mjs|sh)$/.test(p) && !/(^|\/)(master\.info|relay-log\.info)$/.test(p);

/** Every binlog / relay-log fixture committed to the repository (.gz ones decompressed on read). */
export function allLogFixtures(): Fixture[] {
  return walk(FIXTURES)
    .filter(isLog)
    .sort()
    .map((path) => ({
      name: relative(FIXTURES, path),
      path,
      bytes: () => (path.endsWith('.gz') ? gunzipSync(readFileSync(path)) : readFileSync(path)),
    }));
}

/** Files that are broken on purpose, and how they must fail. */
export const ODD_FIXTURES: Record<string, { reason: string; offset?: number; live?: boolean }> = {
  'external/rust_mysql_common/binlog_truncated_event.000001': { reason: 'truncated', offset: 4 },
  'external/rust_mysql_common/binlog_truncated_prev_gtid_event.000001': {
    reason: 'truncated',
    offset: 120,
    live: true,
  },
  // Rewritten by the MyFlash tool, which does not recompute CRCs.
  'external/MyFlash/binlog_output_base.flashback': { reason: 'checksum-mismatch', offset: 120 },
};

/** Events that frame and verify but whose body is damaged on purpose: decoding them must fail cleanly. */
export const DAMAGED_EVENTS: Record<string, number[]> = {
  // mysql-test's deliberately corrupt relay log: a QUERY whose post-header holds statement text.
  'external/rust_mysql_common/corrupt-relay-bin.000624': [91204],
};
