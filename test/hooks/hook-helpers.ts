/**
 * Helpers shared by the hook tests: run a shipped hook (hooks/…) inside the manager's
 * namespace the way the manager does (`/bin/sh -c "SCRIPT --key=value …"`), and write
 * hook config files.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NetnsNetwork, REPO_ROOT, type RunResult } from '../lab/netns-lab.js';

export const HOOKS_DIR = join(REPO_ROOT, 'hooks');

export function hookPath(name: 'mha-vip' | 'mha-keepalived' | 'mha-haproxy'): string {
  return join(HOOKS_DIR, name);
}

export function writeHookConfig(file: string, settings: Record<string, string | number>): string {
  const lines = ['# written by the hook tests', ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`)];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

export interface HookRun extends RunResult {
  ms: number;
}

/** Runs a hook in the manager namespace with MHA-style arguments; bounded. */
export async function runHookIn(
  net: NetnsNetwork,
  script: string,
  args: Record<string, string | number | boolean | undefined>,
  env: Record<string, string> = {},
  role = 'mgr',
): Promise<HookRun> {
  const words: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined || v === false) continue;
    words.push(v === true ? `--${k}` : `--${k}=${v}`);
  }
  const t0 = Date.now();
  const r = await net.run(role, ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), script, ...words], {
    timeoutMs: 120_000,
  });
  return { ...r, stdout: r.stdout + r.stderr, ms: Date.now() - t0 };
}
