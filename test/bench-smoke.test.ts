/**
 * The benchmark (bench/run.ts) in smoke mode: a ~5 MiB input synthesized from the
 * committed fixtures, one round of every contender, find on a small relay-log set and
 * fast micro benchmarks. Checks that it runs and prints its tables and ratios — the
 * numbers themselves are not asserted (timed tests would be flaky); targets are checked
 * by the full run (`npm run bench`, bench/RESULTS.md).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUN = join(ROOT, 'dist', 'bench', 'run.js');

function runSmoke(cacheDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, '--smoke', `--cache-dir=${cacheDir}`], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench smoke run timed out\n${stderr}`));
    }, 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Rows of the markdown table that follows `heading`, as arrays of cells. */
function table(report: string, heading: string): string[][] {
  const start = report.indexOf(heading);
  expect(start, `no "${heading}" in the report`).toBeGreaterThanOrEqual(0);
  const lines = report.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (let i = first; i < lines.length && lines[i].startsWith('|'); i++) {
    rows.push(
      lines[i]
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('benchmark smoke run (node dist/bench/run.js --smoke)', () => {
  let cacheDir: string;
  let result: { code: number; stdout: string; stderr: string };

  beforeAll(async () => {
    if (!existsSync(RUN))
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b'], { cwd: ROOT });
    cacheDir = mkdtempSync(join(tmpdir(), 'mha-bench-smoke-'));
    result = await runSmoke(cacheDir);
  }, 120_000);

  afterAll(() => {
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  it('exits 0', () => {
    expect(result.code, result.stderr).toBe(0);
  });

  it('prints the throughput table with every contender', () => {
    const rows = table(result.stdout, '## Throughput');
    expect(rows[0]).toEqual([
      'contender',
      'time (ms)',
      'wall (ms)',
      'MB/s',
      'events/s',
      '× raw read',
      'peak RSS (MB)',
      'runs: time (ms)',
    ]);
    const names = rows.slice(2).map((r) => r[0]);
    for (const want of [/^raw read: fs\.readSync/, /^raw read: readFileChunks/, /^header-only scan/, /^full decode/]) {
      expect(
        names.some((n) => want.test(n)),
        String(want),
      ).toBe(true);
    }
    for (const r of rows.slice(2)) {
      expect(Number(r[3]), `MB/s of ${r[0]}`).toBeGreaterThan(0);
    }
  });

  it('prints the ratios against the targets', () => {
    const rows = table(result.stdout, '## Ratios and targets');
    expect(rows[0]).toEqual(['ratio', 'value', 'target', 'result']);
    const byName = (re: RegExp) => rows.find((r) => re.test(r[0]));
    const header = byName(/^header-only scan ÷ raw read \(fs\.readSync/);
    expect(header?.[2]).toBe('≥ 0.80');
    expect(Number(header?.[1])).toBeGreaterThan(0);
    const decode = byName(/^full decode, CRC32 verified ÷ mariadb-binlog/);
    expect(decode?.[2]).toBe('≥ 2.00');
    const decodeNoCrc = byName(/^full decode, no CRC32 check .*÷ mariadb-binlog/);
    expect(decodeNoCrc?.[2]).toBe('≥ 2.00');
    const rss = byName(/^peak RSS/);
    expect(rss?.[2]).toBe('< 150 MB');
    expect(rss?.[1]).toMatch(/^\d+(\.\d+)? MB$/);
  });

  it('benches find on a relay-log set, reading no more than it needs', () => {
    const rows = table(result.stdout, '## find on a relay-log set');
    expect(rows[0]).toEqual([
      'case',
      'answer',
      'read (MB)',
      'needed (MB)',
      'total (MB)',
      'read ÷ total',
      'time (ms)',
      'peak RSS (MB)',
    ]);
    const cases = rows.slice(2);
    expect(cases.length).toBe(3);
    expect(cases[0][1]).toMatch(/\(fast\)$/);
    for (const c of cases) {
      expect(c[1]).toMatch(/^relay-bin\.\d+:\d+ \((fast|scan)\)$/);
      expect(Number(c[2]), c[0]).toBeLessThanOrEqual(Number(c[3]));
      expect(Number(c[2]), c[0]).toBeLessThan(Number(c[4]));
    }
  });

  it('prints the micro benchmarks and writes the report file', () => {
    expect(result.stdout).toContain('## Micro benchmarks (benchmark.js)');
    const written = readFileSync(join(cacheDir, 'smoke', 'latest.md'), 'utf8');
    expect(written).toBe(result.stdout);
  });
});
