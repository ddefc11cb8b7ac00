import { spawn } from 'node:child_process';
import { shQuote } from '../remote/ssh-host.js';
import type { ManagerLog } from './log.js';

export interface HookResult {
  code: number;
  output: string;
}

/**
 * Run an MHA hook script (`master_ip_failover_script`, `shutdown_script`, …) with MHA's
 * `--key=value` arguments. Passwords MHA put on the command line travel in the
 * environment instead (MHA_ORIG_MASTER_PASSWORD, MHA_NEW_MASTER_PASSWORD), so they never
 * show in `ps`; the argument is still passed, as `xxx`, for scripts that expect it.
 */
export async function runHook(
  log: ManagerLog,
  script: string,
  args: Record<string, string | number | boolean | undefined>,
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HookResult> {
  const words: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined || v === false) continue;
    words.push(v === true ? `--${k}` : `--${k}=${v}`);
  }
  const command = `${script} ${words.map(shQuote).join(' ')}`;
  log.info(`Executing ${command}`);
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (output.trim()) log.raw(output.trimEnd());
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, output: err.message });
    });
  });
}
