import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export const FIXTURE_ROOT = fileURLToPath(new URL('../fixtures/', import.meta.url));

/**
 * A temporary copy of a recorded fixture directory with its .gz files decompressed, as
 * the server wrote them. Call the returned cleanup when done.
 */
export function materializeFixtureDir(rel: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mha-fx-'));
  cpSync(join(FIXTURE_ROOT, rel), dir, { recursive: true });
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.gz')) {
      writeFileSync(join(dir, f.slice(0, -3)), gunzipSync(readFileSync(join(dir, f))));
      rmSync(join(dir, f));
    }
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
