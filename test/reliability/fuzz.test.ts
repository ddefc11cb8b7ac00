/**
 * A short run of the parser and configuration fuzzer (the long runs are `npm run fuzz`),
 * and the inputs it found that once crashed, hung or ran out of memory: each must now end
 * in a valid parse or the typed BinlogFormatError, quickly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../../fuzz/driver.js';
import { exercise } from '../../fuzz/exercise.js';

const FINDINGS = fileURLToPath(new URL('./fuzz-findings/', import.meta.url));

describe('parser fuzzing', () => {
  it('a short seeded run: every input parses or fails with the typed error; no hang, no memory growth', {
    timeout: 120_000,
  }, async () => {
    const s = await runFuzz({ seed: 20261125, seconds: 8, perInputMs: 10_000 });
    const findings = s.findings.map((f) => `${f.kind} ${f.target} ${s.seed}:${f.index} ${f.message}`);
    expect(s.crashes, findings.join('\n')).toBe(0);
    expect(s.hangs, findings.join('\n')).toBe(0);
    expect(s.oom, findings.join('\n')).toBe(0);
    expect(s.inputs).toBeGreaterThan(2000);
    expect(s.configInputs).toBeGreaterThan(100);
    // Nothing accumulates across inputs: the worker's heap stays small.
    expect(s.heapMb.max).toBeLessThan(256);
    console.info(
      `[fuzz] ${s.inputs} inputs in ${s.seconds} s (${s.perSecond}/s), ${s.masked} typed errors wrapping a decoder exception`,
    );
  });

  describe('inputs the fuzzer found (test/reliability/fuzz-findings/)', () => {
    const files = readdirSync(FINDINGS).filter((f) => f.endsWith('.binlog'));
    it('has them', () => {
      expect(files.length).toBeGreaterThanOrEqual(3);
    });
    for (const f of files) {
      it(f, () => {
        const bytes = readFileSync(join(FINDINGS, f));
        for (const verifyChecksum of [false, true]) {
          for (const chunks of [[bytes.length], Array.from({ length: bytes.length }, () => 1)]) {
            const t = Date.now();
            const out = exercise({ bytes, chunks, verifyChecksum, headerOnly: false, ops: [] });
            expect(out.kind === 'ok' || out.kind === 'typed', JSON.stringify(out)).toBe(true);
            expect(Date.now() - t).toBeLessThan(5000);
          }
        }
      });
    }
  });
});
