/**
 * Where the benchmark keeps its inputs and outputs. Everything large lives under
 * bench/.cache/ (git-ignored); results go to bench/results/.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whether this runs from bench/*.ts (tsx) or dist/bench/*.js. */
export const repoRoot = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/bench → ../..; bench → ..
  return here.endsWith(join('dist', 'bench')) ? resolve(here, '..', '..') : resolve(here, '..');
})();

export const benchDir = join(repoRoot, 'bench');
export const cacheDir = join(benchDir, '.cache');
export const resultsDir = join(benchDir, 'results');
export const distBenchDir = join(repoRoot, 'dist', 'bench');
export const fixturesMaster = join(repoRoot, 'fixtures', 'mariadb-10.11', 'master');

export const MiB = 1024 * 1024;
